//! Test set-up, written once for every test, bench and harness of the workspace.
//!
//! - [`moto`]: one moto server per process, serialized like real DynamoDB (`infra/local/moto_server.py`), SDK
//!   configurations aimed at it, and fresh tables, queues and buckets.
//! - [`fixtures`]: Junction's example bodies (`shared/testdata/junction/fixtures/`).
//! - [`logs`]: what a tracing subscriber writes, captured in memory.
//! - [`svix`]: deliveries signed as Svix signs them.
//! - [`events`]: Lambda HTTP events (API Gateway payload 1.0 and 2.0, Function URL) from fixture files, parsed by
//!   `lambda_http`'s own deserializers; Lambda SQS events.
//! - [`receiver`]: a webhook receiver on loopback that verifies what senders deliver.
//! - [`stub`]: an HTTP client for the SDK that answers every call with a canned response, for unit tests and
//!   benches that must not touch the network.
//!
//! The SQS record a message becomes is [`jwh_shared::envelope::MessageMeta::to_lambda_record`]: production code
//! and tests share it.

pub mod events;
pub mod fixtures;
pub mod logs;
pub mod moto;
pub mod receiver;
pub mod stub;
pub mod svix;

/// The repository root.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}
