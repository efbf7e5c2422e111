//! Log hygiene: every log line the ingest function, the processors and the read API write while handling all 194
//! fixtures, reading every one back, forged requests and failures holds ids, types, outcomes and counts, never a secret, a signature, a body, a
//! sample value or a lab result. Run at TRACE through the functions' own filter
//! ([`jwh_shared::logging::filter`]), which keeps the AWS SDK's TRACE lines (they carry response bodies) out.
//!
//! A test binary of its own with one test: the subscriber is the process's global default, so no callsite's interest
//! can be cached by another test's thread before it is installed.

use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::data_api::endpoints::{Endpoint, endpoint, summary_path, timeseries_path};
use jwh_shared::events::Resource;
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::signature::{Secret, Verifier, sign};
use jwh_shared::store::Store;
use lambda_http::Body;

#[allow(dead_code, unused_imports)]
#[path = "../it/support.rs"]
mod support;

use support::{all_fixtures, meta_for, sqs_event, sqs_record};

use jwh_testkit::logs::Captured;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// String values of a JSON document that would identify health data if logged (long enough not to be an id
/// fragment or a common word), and every number in a sample or result.
fn sensitive_strings(body: &serde_json::Value, out: &mut Vec<String>) {
    match body {
        serde_json::Value::String(s) if s.len() >= 6 && s.contains(' ') => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| sensitive_strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| sensitive_strings(v, out)),
        _ => {}
    }
}

#[test]
fn no_log_line_holds_a_secret_a_signature_or_health_data() {
    let captured = Captured::default();
    // The functions' own JSON subscriber and filter at its most verbose: this project's crates at TRACE.
    let subscriber = jwh_shared::logging::json_subscriber(
        captured.clone(),
        tracing_subscriber::filter::LevelFilter::TRACE,
    );
    let mut signatures = Vec::new();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber in this process");
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = support::sdk_config().await;
            let mut queues: [String; 6] = Default::default();
            for (slot, f) in queues.iter_mut().zip(Family::ALL) {
                *slot = support::create_queue(&config, f.as_str()).await;
            }
            let bucket = support::create_bucket(&config).await;
            let ingest = Ingest {
                sqs: aws_sdk_sqs::Client::new(&config),
                s3: support::s3(&config),
                queue_urls: queues,
                payload_bucket: bucket.clone(),
                secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
                max_body_bytes: 6_000_000,
            };
            let store = Store::new(
                aws_sdk_dynamodb::Client::new(&config),
                support::create_table(&config).await,
                7,
            );
            let secret = Secret::parse(SECRET).unwrap();
            let now = chrono::Utc::now().timestamp();
            for (i, (_, body)) in all_fixtures().into_iter().enumerate() {
                let id = format!("msg_log_{i}");
                let sig = sign(&secret, &id, now, &body);
                signatures.push(sig.clone());
                // Accepted, then tampered (401): both logged.
                for (b, want) in [(body.clone(), 200), (b"{\"tampered\":true}".to_vec(), 401)] {
                    let req = http::Request::builder()
                        .method("POST")
                        .header("svix-id", id.as_str())
                        .header("svix-timestamp", now.to_string())
                        .header("svix-signature", sig.as_str())
                        .body(Body::Binary(b))
                        .unwrap();
                    assert_eq!(ingest.handle(req).await.status(), want);
                }
                let meta = meta_for(&id, &body);
                let processor = Processor {
                    family: meta.family,
                    store: store.clone(),
                    s3: support::s3(&config),
                    fetch: None,
                    concurrency: 1,
                    archive: None,
                };
                let record = sqs_record("m", &meta, std::str::from_utf8(&body).unwrap(), None);
                let response = processor.handle_batch(sqs_event(vec![record])).await;
                assert!(response.batch_item_failures.is_empty());
            }
            // A failing store: its errors are logged too.
            let dead = support::sdk_config_for("http://127.0.0.1:9").await;
            let body = support::fixture("labtest.result.critical");
            let meta = meta_for("msg_log_fail", &body);
            let processor = Processor {
                family: meta.family,
                store: Store::new(aws_sdk_dynamodb::Client::new(&dead), "t", 7),
                s3: support::s3(&config),
                fetch: None,
                concurrency: 1,
                archive: None,
            };
            let response = processor
                .handle_batch(sqs_event(vec![sqs_record(
                    "f",
                    &meta,
                    std::str::from_utf8(&body).unwrap(),
                    None,
                )]))
                .await;
            assert_eq!(response.batch_item_failures.len(), 1);

            // Everything read back through the read API (resolved too), a bad request, a failing store, an erasure.
            let user = "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2";
            let mut paths = vec![
                format!("/data/v2/user/providers/{user}"),
                format!("/data/v2/user/{user}/device"),
                format!("/data/v2/introspect/historical_pull?user_id={user}"),
                format!("/data/v2/lab/{user}"),
                "/data/v2/catch_all".to_owned(),
            ];
            for resource in Resource::ALL {
                let path = match endpoint(*resource) {
                    Endpoint::Summary { name, .. } => summary_path(name, user),
                    Endpoint::Timeseries { name } => timeseries_path(name, user),
                    Endpoint::None => continue,
                };
                for resolve in ["false", "true"] {
                    paths.push(format!(
                        "/data{path}?start_date=2000-01-01&end_date=2030-01-01&resolve={resolve}"
                    ));
                }
            }
            let api = jwh_api::Api::new(
                store.clone(),
                Default::default(),
                "/data",
                support::s3(&config),
                Some(bucket.clone()),
            );
            let call = |method: &str, target: &str| {
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                serde_json::json!({"rawPath": path, "rawQueryString": query,
                                   "requestContext": {"http": {"method": method}}})
            };
            for path in &paths {
                let response = api.handle(&call("GET", path)).await;
                assert_eq!(response["statusCode"], 200, "{path}: {response}");
            }
            let bad = api
                .handle(&call(
                    "GET",
                    &format!("/data/v2/summary/sleep/{user}?start_date=John Doe"),
                ))
                .await;
            assert_eq!(bad["statusCode"], 400);
            let failing = jwh_api::Api::new(
                Store::new(aws_sdk_dynamodb::Client::new(&dead), "t", 7),
                Default::default(),
                "/data",
                support::s3(&config),
                None,
            );
            let response = failing
                .handle(&call(
                    "GET",
                    &format!("/data/v2/timeseries/{user}/heartrate/grouped?start_date=2024-01-01"),
                ))
                .await;
            assert_eq!(response["statusCode"], 503);
            let response = api
                .handle(&call("DELETE", &format!("/data/users/{user}")))
                .await;
            assert_eq!(response["statusCode"], 200, "{response}");
        });
    }
    let logs = captured.text();
    let lines: Vec<&str> = logs.lines().collect();
    // One line per request (2 x 194), per processed message (194 + 1 failure) and per read API request, at least.
    assert!(lines.len() >= 2 * 194 + 195 + 100, "{} lines", lines.len());
    let answered = lines.iter().filter(|l| l.contains("\"answered\"")).count();
    assert!(answered >= 100, "{answered} read API lines");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        assert!(v.get("fields").is_some(), "{line}");
    }
    assert!(
        !logs.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "the secret is logged"
    );
    for sig in &signatures {
        assert!(!logs.contains(&sig[3..]), "a signature is logged");
    }
    let mut sensitive = Vec::new();
    for (_, body) in all_fixtures() {
        sensitive_strings(&serde_json::from_slice(&body).unwrap(), &mut sensitive);
    }
    // Values Junction's examples carry for people and results: names, addresses, notes, test names.
    for known in [
        "John Doe",
        "123 Main St.",
        "Cholesterol test",
        "This is a note",
        "Please bring photo ID",
    ] {
        assert!(
            sensitive.iter().any(|s| s == known),
            "{known} is in the fixtures"
        );
    }
    for s in &sensitive {
        let line = lines.iter().find(|l| l.contains(s.as_str()));
        assert!(
            line.is_none(),
            "health data in the logs: {s}: {}",
            line.map(|l| &l[..l.len().min(400)]).unwrap_or("")
        );
    }
    for key in [
        "\"value\"",
        "\"systolic\"",
        "\"results\"",
        "\"timestamp\":\"2024",
        "\"data\":",
    ] {
        assert!(!logs.contains(key), "a body field in the logs: {key}");
    }
}
