//! moto for the tests: one server per test process, SDK configurations aimed at it, and fresh resources.
//!
//! The server is `infra/local/moto_server.py`: moto's own application with requests applied one at a time, so
//! that conditional writes are as atomic as in DynamoDB (see that file). It runs on a free loopback port with the
//! pinned venv's Python (`.tools/venv`, installed by `make tools`), or:
//! - `MOTO_ENDPOINT`: a server the caller started (nothing is launched);
//! - `MOTO_SERVER`: another server command taking `-H host -p port`, such as plain `moto_server` (the race test
//!   fails against that one, which is its point).
//!
//! A watchdog shell ends the server when the test process exits, so no process is left behind.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

/// The command that serves moto, as arguments before `-H host -p port`.
fn server_command() -> Vec<String> {
    if let Ok(server) = std::env::var("MOTO_SERVER") {
        return vec![server];
    }
    let venv = crate::repo_root().join(".tools/venv/bin");
    let python = ["python3", "python"]
        .iter()
        .map(|p| venv.join(p))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            // `make test` installs the venv first; a missing one is a broken set-up, not a reason to pass.
            panic!(
                "no Python in {}: run `make tools` (or set MOTO_ENDPOINT / MOTO_SERVER)",
                venv.display()
            )
        });
    let launcher: PathBuf = crate::repo_root().join("infra/local/moto_server.py");
    vec![python.display().to_string(), launcher.display().to_string()]
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a moto server of its own on a free port (ended with this process) and returns its endpoint.
pub fn start() -> String {
    let port = free_port();
    let command = server_command()
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "{command} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $m",
        parent = std::process::id()
    );
    // Never waited on: the watchdog ends moto, and itself, when this process exits.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start: {command}");
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

/// The moto endpoint of this process, starting the server on first use (or `MOTO_ENDPOINT`).
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| start()))
}

/// SDK configuration for this process's moto: fixed region and dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(endpoint()).await
}

/// SDK configuration for any endpoint (a fault-injecting proxy, an unreachable port).
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

/// A name no other test of this process uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a table with the store's key schema (`pk`, `sk`, and the `by_day` index of summaries) and returns its
/// name.
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
        .attribute_definitions(attr("day"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(jwh_shared::store::BY_DAY_INDEX)
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("day", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
    name
}

/// Creates a queue (1 MiB maximum message size) and returns its URL.
pub async fn create_queue(config: &SdkConfig, prefix: &str) -> String {
    aws_sdk_sqs::Client::new(config)
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

/// Every message now in the queue at `url`, with all its attributes, each received once and kept invisible for
/// `visibility_timeout` seconds (so a second call does not see it again).
pub async fn receive_all(
    config: &SdkConfig,
    url: &str,
    visibility_timeout: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .visibility_timeout(visibility_timeout)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}
