//! Test set-up of the crate's unit tests, on the workspace's test kit (`jwh_testkit`): signing secrets, a signed
//! request as API Gateway (payload 1.0 or 2.0) or a Function URL hands it to Lambda (through the panic guard, as
//! `main.rs` wires it), and an [`Ingest`] whose SQS and S3 clients talk to an in-process stub.

use jwh_shared::family::Family;
use jwh_shared::signature::Verifier;
use jwh_testkit::stub::Stub;
use lambda_http::Request;

pub(crate) use jwh_testkit::events::HttpFormat as Format;
pub(crate) use jwh_testkit::fixtures::fixture;

use crate::guard::guard_request;
use crate::handler::Ingest;
use crate::secrets::SigningSecrets;

/// The endpoint's signing secret.
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The secret it replaced in a rotation.
pub(crate) const OLD_SECRET: &str = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhpcyBlbmRwb2ludA==";

/// Every [`Format`].
pub(crate) const FORMATS: [Format; 3] = Format::ALL;

/// A request as API Gateway (payload 1.0 or 2.0) or a Function URL hands it to Lambda, through the panic guard.
pub(crate) fn request(
    format: Format,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
    base64: bool,
) -> Request {
    guard_request(jwh_testkit::events::http_event(
        format, method, headers, body, base64,
    ))
    .into()
}

/// The headers Svix sends with `body`, signed with `secret`.
pub(crate) fn signed_headers(
    secret: &str,
    id: &str,
    ts: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    jwh_testkit::svix::headers(&[secret], id, ts, body)
}

/// An [`Ingest`] whose SQS and S3 clients talk to `aws`, verifying with `secrets`.
pub(crate) fn ingest(aws: &Stub, secrets: &[&str]) -> Ingest {
    let config = aws.sdk_config();
    Ingest {
        sqs: aws_sdk_sqs::Client::new(&config),
        s3: aws_sdk_s3::Client::new(&config),
        queue_urls: Family::ALL.map(|f| format!("https://sqs.local/q-{}", f.as_str())),
        payload_bucket: "bucket".into(),
        secrets: SigningSecrets::fixed(Verifier::from_strs(secrets).unwrap()),
        max_body_bytes: 1_000_000,
    }
}

/// AWS accepting every call (SQS takes every message).
pub(crate) fn aws_ok() -> Stub {
    Stub::ok()
}

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The status `ingest` answers `req` with.
pub(crate) async fn status(ingest: &Ingest, req: Request) -> u16 {
    ingest.handle(req).await.status().as_u16()
}
