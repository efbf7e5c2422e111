//! Fault injection: SQS, S3, Secrets Manager and DynamoDB failing, throttling or timing out behind a proxy in front
//! of moto ([`FaultProxy`]), and a processor process killed mid-batch.
//!
//! What must hold: the ingest function answers 5xx whenever a message is not safely kept, and every message it
//! acknowledged (2xx) is in SQS exactly once; a processor fails exactly the records a fault hit, and once the fault
//! clears, redelivery converges to the state of a run without faults (no record lost, none duplicated). Each test
//! prints the faults it injected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::envelope::MessageMeta;
use jwh_shared::family::Family;
use jwh_shared::processor::{Outcome, Processor};
use jwh_shared::signature::Verifier;
use jwh_shared::store::Store;
use lambda_http::Request;
use serde_json::Value;

use crate::fault_proxy::{DYNAMODB_WRITES, Fault, FaultProxy, Rule};
use crate::support::{self, all_fixtures, meta_for, sqs_event, sqs_record};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Each attempt of an SDK call through the proxy gives up after this long (far above any answer of moto, even with
/// the whole suite running beside it)...
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// ...and a held request is forwarded this much later.
const HOLD: Duration = Duration::from_secs(8);

/// SDK configuration for `endpoint` as the functions have it (standard retries, 3 attempts), with a short
/// backoff and a per-attempt timeout, so that a held request times out and the tests stay quick.
async fn config_for(endpoint: &str) -> SdkConfig {
    support::sdk_config_for(endpoint)
        .await
        .to_builder()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build()
}

fn signed(id: &str, body: Vec<u8>) -> Request {
    jwh_testkit::svix::request(&[SECRET], id, body)
}

/// The Svix ids of every message now in these queues (each message received once, kept invisible).
async fn enqueued_ids(config: &SdkConfig, queues: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for url in queues {
        for m in jwh_testkit::moto::receive_all(config, url, 600).await {
            let attrs = m.message_attributes.unwrap_or_default();
            ids.push(attrs["svix-id"].string_value().unwrap().to_owned());
        }
    }
    ids.sort();
    ids
}

/// A body over SQS's 1 MiB, so the ingest function stores it in S3 first (the claim check).
fn big_body(user: &str) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&support::fixture("daily.data.heartrate.created")).unwrap();
    let template = body["data"]["data"][0].clone();
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00+00:00").unwrap();
    body["user_id"] = user.into();
    body["data"]["user_id"] = user.into();
    body["data"]["data"] = (0..12_000)
        .map(|i| {
            let mut s = template.clone();
            s["timestamp"] = (start + chrono::Duration::seconds(10 * i))
                .to_rfc3339()
                .into();
            s
        })
        .collect();
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(bytes.len() > 1024 * 1024);
    bytes
}

#[tokio::test]
async fn sqs_and_s3_failing_at_ingest_give_a_5xx_and_every_acknowledged_message_is_in_sqs() {
    let direct = support::sdk_config().await;
    let proxy = FaultProxy::start(support::moto_endpoint()).await;
    let via_proxy = config_for(proxy.url()).await;
    let mut queues: [String; 6] = Default::default();
    for (slot, f) in queues.iter_mut().zip(Family::ALL) {
        *slot = support::create_queue(&direct, f.as_str()).await;
    }
    let bucket = support::create_bucket(&direct).await;
    let ingest = Ingest {
        sqs: aws_sdk_sqs::Client::new(&via_proxy),
        s3: support::s3(&via_proxy),
        queue_urls: queues.clone(),
        payload_bucket: bucket.clone(),
        secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
        max_body_bytes: 6_000_000,
    };

    // Every fixture once, plus three claim-checked bodies, each with its own Svix id.
    let mut deliveries: Vec<(String, Vec<u8>)> = all_fixtures()
        .into_iter()
        .enumerate()
        .map(|(i, (_, body))| (format!("msg_fault_in_{i:03}"), body))
        .collect();
    for name in ["s3_down", "s3_slow", "s3_blip"] {
        deliveries.push((format!("msg_fault_in_{name}"), big_body(name)));
    }
    // SQS down for every 20th message (all attempts), one SendMessage failing once (the SDK's retry absorbs it);
    // S3 down for one claim check, holding one past the client's timeout, failing once for the third (a
    // claim-check object's key holds the Svix id).
    let sqs_down: BTreeSet<String> = deliveries
        .iter()
        .step_by(20)
        .map(|(id, _)| id.clone())
        .collect();
    for id in &sqs_down {
        proxy.add(Rule::always(&["SendMessage"], id, Fault::sqs_500()));
    }
    proxy.add(Rule::times(
        &["SendMessage"],
        "msg_fault_in_007",
        1,
        Fault::sqs_500(),
    ));
    let claim = |name: &str| format!("msg_fault_in_{name}");
    proxy.add(Rule::always(
        &["PutObject"],
        &claim("s3_down"),
        Fault::s3_500(),
    ));
    proxy.add(Rule::always(
        &["PutObject"],
        &claim("s3_slow"),
        Fault::Delay(HOLD),
    ));
    proxy.add(Rule::times(
        &["PutObject"],
        &claim("s3_blip"),
        1,
        Fault::s3_500(),
    ));
    let mut refused = BTreeSet::new();
    let mut acknowledged = BTreeSet::new();
    for (id, body) in &deliveries {
        let status = ingest.handle(signed(id, body.clone())).await.status();
        match status.as_u16() {
            200 => acknowledged.insert(id.clone()),
            503 => refused.insert(id.clone()),
            other => panic!("{id}: unexpected status {other}"),
        };
    }
    let mut expected_refused = sqs_down.clone();
    expected_refused.extend([claim("s3_down"), claim("s3_slow")]);
    assert_eq!(refused, expected_refused);
    let injected = proxy.injected();
    // Persistent faults hit all three attempts; the two one-off faults were absorbed by a retry.
    assert_eq!(injected, 3 * expected_refused.len() + 2);
    // Acknowledged means in SQS: exactly the 2xx messages, each once; nothing of a refused one (the slow claim
    // check's object may land late in S3, but no message points at it).
    assert_eq!(
        enqueued_ids(&direct, &queues).await,
        acknowledged.iter().cloned().collect::<Vec<_>>()
    );

    // The faults clear; Junction retries what was refused.
    proxy.settle().await;
    proxy.clear();
    for (id, body) in deliveries.iter().filter(|(id, _)| refused.contains(id)) {
        assert_eq!(
            ingest.handle(signed(id, body.clone())).await.status(),
            200,
            "{id}"
        );
    }
    assert_eq!(
        enqueued_ids(&direct, &queues).await,
        refused.iter().cloned().collect::<Vec<_>>()
    );
    println!(
        "[faults] ingest: {} deliveries, {injected} faults injected (SQS 500, S3 500, S3 held past the timeout), \
         {} answered 503 and accepted on retry, {} acknowledged first time, 0 acknowledged messages missing",
        deliveries.len(),
        refused.len(),
        acknowledged.len()
    );
}

#[tokio::test]
async fn secrets_manager_failing_at_ingest_gives_a_5xx_never_an_acceptance() {
    let direct = support::sdk_config().await;
    let proxy = FaultProxy::start(support::moto_endpoint()).await;
    let via_proxy = config_for(proxy.url()).await;
    let queues: [String; 6] = {
        let mut q: [String; 6] = Default::default();
        for (slot, f) in q.iter_mut().zip(Family::ALL) {
            *slot = support::create_queue(&direct, f.as_str()).await;
        }
        q
    };
    let name = support::unique("webhook-secret");
    aws_sdk_secretsmanager::Client::new(&direct)
        .create_secret()
        .name(&name)
        .secret_string(format!(r#"["{SECRET}"]"#))
        .send()
        .await
        .unwrap();
    let ingest = |secrets: SigningSecrets| Ingest {
        sqs: aws_sdk_sqs::Client::new(&direct),
        s3: support::s3(&direct),
        queue_urls: queues.clone(),
        payload_bucket: "unused".into(),
        secrets,
        max_body_bytes: 6_000_000,
    };
    let secrets = || {
        SigningSecrets::from_secrets_manager(
            aws_sdk_secretsmanager::Client::new(&via_proxy),
            name.clone(),
            300,
        )
    };
    let body = support::fixture("daily.data.sleep.created");

    // A cold container while Secrets Manager fails: a genuine delivery is a 503 (Junction retries), not a 401.
    proxy.add(Rule {
        operations: &["GetSecretValue"],
        body_contains: None,
        skip: 0,
        times: usize::MAX,
        fault: Fault::secrets_manager_500(),
    });
    let cold = ingest(secrets());
    assert!(cold.secrets.refresh().await.is_err());
    assert_eq!(
        cold.handle(signed("msg_sm_cold", body.clone()))
            .await
            .status(),
        503
    );
    let injected = proxy.injected();
    assert_eq!(injected, 3, "the refresh at init, three attempts");
    assert!(enqueued_ids(&direct, &queues).await.is_empty());

    // A warm container keeps its secrets while Secrets Manager fails: genuine deliveries pass, forged ones are 401.
    proxy.clear();
    let warm = ingest(secrets());
    assert!(warm.secrets.refresh().await.unwrap());
    proxy.add(Rule {
        operations: &["GetSecretValue"],
        body_contains: None,
        skip: 0,
        times: usize::MAX,
        fault: Fault::secrets_manager_500(),
    });
    assert_eq!(
        warm.handle(signed("msg_sm_warm", body.clone()))
            .await
            .status(),
        200
    );
    let mut forged = signed("msg_sm_forged", body.clone());
    forged.headers_mut().insert(
        "svix-signature",
        http::HeaderValue::from_static("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    assert_eq!(warm.handle(forged).await.status(), 401);
    assert_eq!(
        enqueued_ids(&direct, &queues).await,
        vec!["msg_sm_warm".to_string()]
    );
    let injected = proxy.injected();
    println!(
        "[faults] ingest: {injected} Secrets Manager faults injected: cold start 503 (retried by Junction), \
         warm container unaffected, forged delivery still 401"
    );
}

// --- processors -----------------------------------------------------------------------------------------------

/// A fixture body with its user id replaced (envelope and `data`), so every write of it names that user.
fn with_user(body: &[u8], user: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["user_id"] = user.into();
    if v["data"].get("user_id").is_some() {
        v["data"]["user_id"] = user.into();
    }
    serde_json::to_vec(&v).unwrap()
}

/// One SQS message: its message id, Svix metadata, body.
type Message = (String, MessageMeta, Vec<u8>);

/// Every fixture of the families whose records are per user, each as the message of a user of its own
/// (`fault-user-NNN`), so that a rule can pick one message's writes by its user id.
fn per_user_messages(tag: &str) -> Vec<Message> {
    all_fixtures()
        .into_iter()
        .enumerate()
        .filter(|(_, (event_type, _))| {
            !event_type.starts_with("labtest.match_review") && !event_type.starts_with("continuous")
        })
        .map(|(i, (_, body))| {
            let body = with_user(&body, &format!("fault-user-{i:03}"));
            let meta = meta_for(&format!("msg_{tag}_{i:03}"), &body);
            (format!("m-{i:03}"), meta, body)
        })
        .filter(|(_, meta, _)| meta.family != Family::CatchAll)
        .collect()
}

/// The number of distinct hours a timeseries body's samples fall in (its hour buckets).
fn hours(body: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(body).unwrap();
    let hours: BTreeSet<String> = v["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let t = chrono::DateTime::parse_from_rfc3339(s["timestamp"].as_str().unwrap()).unwrap();
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H")
                .to_string()
        })
        .collect();
    hours.len()
}

fn user_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn processor(config: &SdkConfig, table: &str, family: Family) -> Processor {
    Processor {
        family,
        store: Store::new(aws_sdk_dynamodb::Client::new(config), table, 7),
        s3: support::s3(config),
        fetch: None,
        concurrency: 4,
        archive: None,
    }
}

/// Delivers the messages family by family in batches of 10, as the event source mapping would; returns the
/// message ids the processors reported failed.
async fn deliver(config: &SdkConfig, table: &str, messages: &[Message]) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    for family in Family::ALL {
        let mine: Vec<_> = messages
            .iter()
            .filter(|(_, m, _)| m.family == family)
            .collect();
        for batch in mine.chunks(10) {
            let records = batch
                .iter()
                .map(|(id, meta, body)| {
                    sqs_record(id, meta, std::str::from_utf8(body).unwrap(), None)
                })
                .collect();
            let response = processor(config, table, family)
                .handle_batch(sqs_event(records))
                .await;
            failed.extend(
                response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier),
            );
        }
    }
    failed
}

/// Every item of a table, minus what differs between two correct runs: a marker's expiry (the clock) and a
/// timeseries bucket's revision (how many writes it took, which retries change).
async fn table_state(config: &SdkConfig, table: &str) -> BTreeMap<(String, String), String> {
    let client = aws_sdk_dynamodb::Client::new(config);
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for mut item in page.items.unwrap_or_default() {
            let key = |k: &str| match item.get(k) {
                Some(AttributeValue::S(s)) => s.clone(),
                other => panic!("{k}: {other:?}"),
            };
            let key = (key("pk"), key("sk"));
            item.remove("rev");
            if key.0.starts_with("MSG#") {
                item.remove("expires_at");
            }
            assert!(
                out.insert(key, canonical(&AttributeValue::M(item)))
                    .is_none()
            );
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// An attribute value as text with map keys sorted (the SDK's maps are `HashMap`s, in no fixed order).
fn canonical(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let sorted: BTreeMap<_, _> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
            format!("{sorted:?}")
        }
        AttributeValue::L(l) => format!("{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => {
            let sorted: BTreeSet<_> = s.iter().collect();
            format!("{sorted:?}")
        }
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn dynamodb_throttling_timeouts_and_5xx_fail_only_the_affected_records_and_retries_converge()
{
    let direct = support::sdk_config().await;
    let messages = per_user_messages("ddb");
    // The run without faults.
    let clean = support::create_table(&direct).await;
    assert_eq!(deliver(&direct, &clean, &messages).await, BTreeSet::new());

    let proxy = FaultProxy::start(support::moto_endpoint()).await;
    let via_proxy = config_for(proxy.url()).await;
    let table = support::create_table(&direct).await;
    let first_of = |family: Family, nth: usize| {
        messages
            .iter()
            .filter(|(_, m, _)| m.family == family)
            .nth(nth)
            .unwrap()
    };
    let throttled = first_of(Family::Timeseries, 0);
    let erroring = first_of(Family::Summaries, 0);
    let timing_out = first_of(Family::Connections, 0);
    let blip = first_of(Family::Lab, 0);
    // A heart-rate-like batch spanning several hour buckets: several writes, the second of which is throttled.
    let throttled_later = messages
        .iter()
        .filter(|(_, m, _)| m.family == Family::Timeseries)
        .skip(1)
        .find(|(_, _, body)| hours(body) >= 2)
        .expect("a timeseries fixture spanning two hours");
    proxy.add(Rule::always(
        DYNAMODB_WRITES,
        &user_of(&throttled.2),
        Fault::dynamodb_throttle(),
    ));
    proxy.add(Rule::always(
        DYNAMODB_WRITES,
        &user_of(&erroring.2),
        Fault::dynamodb_500(),
    ));
    proxy.add(Rule::always(
        DYNAMODB_WRITES,
        &user_of(&timing_out.2),
        Fault::Delay(HOLD),
    ));
    // Throttled once only: the SDK's retry absorbs it.
    proxy.add(Rule::times(
        DYNAMODB_WRITES,
        &user_of(&blip.2),
        1,
        Fault::dynamodb_throttle(),
    ));
    // Throttled after its first write went through: a record that fails half-written.
    proxy.add(Rule {
        skip: 1,
        ..Rule::always(
            DYNAMODB_WRITES,
            &user_of(&throttled_later.2),
            Fault::dynamodb_throttle(),
        )
    });

    let failed = deliver(&via_proxy, &table, &messages).await;
    let expected: BTreeSet<String> = [throttled, erroring, timing_out, throttled_later]
        .iter()
        .map(|(id, _, _)| id.clone())
        .collect();
    assert_eq!(failed, expected);
    let injected = proxy.injected();
    // The failed records left no processed marker: SQS redelivers them and they are processed again.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&direct), &table, 7);
    for (id, meta, _) in &messages {
        let processed = store
            .is_processed(&meta.svix_id, meta.family)
            .await
            .unwrap();
        assert_eq!(processed, !failed.contains(id), "{id}");
    }

    // The faults clear; SQS redelivers the failed records (their late writes, if any, have landed).
    proxy.settle().await;
    proxy.clear();
    let redelivered: Vec<Message> = messages
        .iter()
        .filter(|(id, _, _)| failed.contains(id))
        .cloned()
        .collect();
    assert_eq!(
        deliver(&via_proxy, &table, &redelivered).await,
        BTreeSet::new()
    );
    // And a replay of everything changes nothing.
    assert_eq!(
        deliver(&via_proxy, &table, &messages).await,
        BTreeSet::new()
    );
    assert_eq!(
        table_state(&direct, &table).await,
        table_state(&direct, &clean).await
    );
    println!(
        "[faults] processors: {} records, {injected} DynamoDB faults injected (throttling, 500, held past the \
         timeout), {} records failed and converged on redelivery, state equal to the run without faults",
        messages.len(),
        failed.len()
    );
}

// --- a processor killed mid-batch -------------------------------------------------------------------------------

const CHILD_ENDPOINT: &str = "JWH_FAULTS_CHILD_ENDPOINT";
const CHILD_TABLE: &str = "JWH_FAULTS_CHILD_TABLE";

/// The messages of the killed batch: every timeseries and summary fixture, one batch per family.
fn kill_batch() -> Vec<Message> {
    per_user_messages("kill")
        .into_iter()
        .filter(|(_, m, _)| matches!(m.family, Family::Timeseries | Family::Summaries))
        .collect()
}

async fn deliver_whole(config: &SdkConfig, table: &str, messages: &[Message]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for family in [Family::Summaries, Family::Timeseries] {
        let p = processor(config, table, family);
        for (id, meta, body) in messages.iter().filter(|(_, m, _)| m.family == family) {
            let record = sqs_record(id, meta, std::str::from_utf8(body).unwrap(), None);
            outcomes.push(p.handle_record(record).await.expect(id));
        }
    }
    outcomes
}

/// Not a test on its own: the processor process that `a_processor_killed_mid_batch_...` starts and kills.
#[tokio::test]
#[ignore = "the child process of a_processor_killed_mid_batch_loses_and_duplicates_nothing"]
async fn killed_processor_child() {
    let (Ok(endpoint), Ok(table)) = (std::env::var(CHILD_ENDPOINT), std::env::var(CHILD_TABLE))
    else {
        return;
    };
    let config = config_for(&endpoint).await;
    // The whole batch, as one Lambda invocation per family would process it; killed long before the end.
    for family in [Family::Summaries, Family::Timeseries] {
        let records = kill_batch()
            .into_iter()
            .filter(|(_, m, _)| m.family == family)
            .map(|(id, meta, body)| {
                sqs_record(&id, &meta, std::str::from_utf8(&body).unwrap(), None)
            })
            .collect();
        processor(&config, &table, family)
            .handle_batch(sqs_event(records))
            .await;
    }
    panic!("the batch finished: the parent should have killed this process before");
}

/// Kills the child process if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_processor_killed_mid_batch_loses_and_duplicates_nothing() {
    let direct = support::sdk_config().await;
    let messages = kill_batch();
    let clean = support::create_table(&direct).await;
    deliver_whole(&direct, &clean, &messages).await;

    let table = support::create_table(&direct).await;
    let proxy = FaultProxy::start(support::moto_endpoint()).await;
    // Every write held 200 ms: the batch takes many seconds, the kill lands in its middle.
    proxy.add(Rule {
        operations: DYNAMODB_WRITES,
        body_contains: None,
        skip: 0,
        times: usize::MAX,
        fault: Fault::Delay(Duration::from_millis(200)),
    });
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "faults::killed_processor_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENDPOINT, proxy.url())
            .env(CHILD_TABLE, &table)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let writes = || {
        DYNAMODB_WRITES
            .iter()
            .map(|op| proxy.calls(op))
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while writes() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child made {} writes in 120 s",
            writes()
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the child ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.0.kill().unwrap(); // SIGKILL: no cleanup, no response to the event source
    child.0.wait().unwrap();
    let killed_after = writes();
    proxy.settle().await;
    proxy.clear();

    // Mid-batch: some messages were processed (marker written), not all.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&direct), &table, 7);
    let mut processed = 0;
    for (_, meta, _) in &messages {
        processed += usize::from(
            store
                .is_processed(&meta.svix_id, meta.family)
                .await
                .unwrap(),
        );
    }
    assert!(
        processed > 0 && processed < messages.len(),
        "{processed} of {} processed",
        messages.len()
    );

    // The invocation never answered, so SQS redelivers the whole batch after the visibility timeout.
    let outcomes = deliver_whole(&direct, &table, &messages).await;
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Duplicate))
        .count();
    assert_eq!(duplicates, processed);
    assert_eq!(
        table_state(&direct, &table).await,
        table_state(&direct, &clean).await
    );
    println!(
        "[faults] processor killed (SIGKILL) after {killed_after} writes, {processed} of {} messages processed; \
         redelivery: {duplicates} skipped as duplicates, the rest stored, state equal to the run without a kill",
        messages.len()
    );
}
