//! Test support: one moto server for the whole test binary, SDK clients pointed at it, and resource helpers.
//!
//! moto runs in server mode on a free loopback port (or at `MOTO_ENDPOINT` when the caller started one). A
//! watchdog shell ends the server when this test process exits, so no process is left behind.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The moto endpoint, starting the server on first use.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let moto = std::env::var("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".tools/venv/bin/moto_server"));
        assert!(
            moto.exists(),
            "moto_server not found at {}: run `make tools` (or set MOTO_SERVER / MOTO_ENDPOINT)",
            moto.display()
        );
        let script = format!(
            "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $m",
            moto.display(),
            parent = std::process::id()
        );
        // Never waited on: the watchdog outlives no one, it ends with this process.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// SDK configuration for moto: fixed region and dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(moto_endpoint()).await
}

/// SDK configuration for any endpoint (a fault-injecting one, an unreachable one).
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    jwh_shared::aws::config_loader()
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// An S3 client with path-style addressing (what moto needs).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a table with the store's key schema and returns its name.
pub async fn create_table(config: &SdkConfig) -> String {
    let name = unique("records");
    let client = aws_sdk_dynamodb::Client::new(config);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
    name
}

/// Creates a queue (1 MiB maximum message size) and returns its URL.
pub async fn create_queue(config: &SdkConfig, prefix: &str) -> String {
    let client = aws_sdk_sqs::Client::new(config);
    client
        .create_queue()
        .queue_name(unique(prefix))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1048576",
        )
        .send()
        .await
        .expect("create queue")
        .queue_url
        .unwrap()
}

/// Creates a bucket and returns its name.
pub async fn create_bucket(config: &SdkConfig) -> String {
    let name = unique("payloads");
    s3(config)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// The repo's copy of Junction's example bodies.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("shared/testdata/junction/fixtures")
}

/// One fixture body by event type.
pub fn fixture(event_type: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(format!("{event_type}.json"))).expect("fixture")
}

/// Every fixture: (event type, body), sorted by event type.
pub fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use jwh_shared::envelope::{ClaimCheck, MessageMeta};
use jwh_shared::events::peek_event_type;

/// Metadata as the ingest function would set it for `body`.
pub fn meta_for(svix_id: &str, body: &[u8]) -> MessageMeta {
    let t = peek_event_type(body).expect("fixture has an event type");
    MessageMeta {
        svix_id: svix_id.to_owned(),
        event_type: t.as_str().into_owned(),
        family: t.family(),
        svix_timestamp: 1_732_000_000,
        received_at_ms: 1_732_000_000_000,
    }
}

/// A Lambda SQS record as the event source mapping delivers it, with the ingest function's attributes.
pub fn sqs_record(
    message_id: &str,
    meta: &MessageMeta,
    body: &str,
    claim: Option<&ClaimCheck>,
) -> SqsMessage {
    let attrs: serde_json::Map<String, serde_json::Value> = meta
        .to_sqs_attributes(claim)
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::json!({"stringValue": v.string_value(), "dataType": v.data_type()}),
            )
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attrs,
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1"
    }))
    .unwrap()
}

/// A Lambda SQS event of these records.
pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}
