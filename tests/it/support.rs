//! Test support of the integration tests: the workspace's test kit (`tests/kit`) under the names these tests use.

pub use jwh_testkit::events::{meta_for, sqs_event};
pub use jwh_testkit::fixtures::{all as all_fixtures, fixture};
pub use jwh_testkit::moto::{
    create_bucket, create_queue, create_table, endpoint as moto_endpoint, s3, sdk_config,
    sdk_config_for, unique,
};
pub use jwh_testkit::repo_root;

use aws_lambda_events::event::sqs::SqsMessage;
use jwh_shared::envelope::{ClaimCheck, MessageMeta};

/// A Lambda SQS record as the event source mapping delivers it, with the ingest function's attributes.
pub fn sqs_record(
    message_id: &str,
    meta: &MessageMeta,
    body: &str,
    claim: Option<&ClaimCheck>,
) -> SqsMessage {
    meta.to_lambda_record(message_id, body, claim)
}
