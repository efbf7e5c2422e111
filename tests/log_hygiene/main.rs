//! Log hygiene: every log line the ingest function and the processors write while handling all 194 fixtures,
//! forged requests and failures holds ids, types, outcomes and counts, never a secret, a signature, a body, a
//! sample value or a lab result. Run at TRACE through the functions' own filter
//! ([`jwh_shared::logging::filter`]), which keeps the AWS SDK's TRACE lines (they carry response bodies) out.
//!
//! A test binary of its own with one test: the subscriber is the process's global default, so no callsite's interest
//! can be cached by another test's thread before it is installed.

use jwh_ingest::handler::{Ingest, SigningSecrets};
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
                payload_bucket: bucket,
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
        });
    }
    let logs = captured.text();
    let lines: Vec<&str> = logs.lines().collect();
    // One line per request (2 x 194) and per processed message (194 + 1 failure), at the least.
    assert!(lines.len() >= 2 * 194 + 195, "{} lines", lines.len());
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
