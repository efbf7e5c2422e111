//! An HTTP client for the AWS SDK that answers every call in process, with a canned response chosen per call.
//!
//! For unit tests of what our code does with an SDK answer (a throttle past the retries, a missing queue) and for
//! CPU benches that must not wait on a network. It sits where the SDK's HTTP client sits, so the SDK still
//! serializes every request and parses every response as it would against AWS. Tests of how AWS itself behaves
//! run against moto instead ([`crate::moto`]).

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The operation: `x-amz-target` for JSON protocols (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`),
    /// else the method and path (`PUT /bucket/key` for S3).
    pub operation: String,
    /// The request body as text.
    pub body: String,
}

impl Call {
    /// Whether this is the operation named by its short name (`PutItem`, `SendMessage`) or its full one.
    pub fn is(&self, operation: &str) -> bool {
        self.operation == operation || self.operation.rsplit('.').next() == Some(operation)
    }
}

/// A canned answer: HTTP status and body.
pub type Answer = (u16, String);

type Answers = dyn Fn(&Call) -> Answer + Send + Sync;

/// The stub: answers each call with `answer(call)` and records it.
#[derive(Clone)]
pub struct Stub {
    answer: Arc<Answers>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl std::fmt::Debug for Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub")
            .field("calls", &self.calls.lock().unwrap().len())
            .finish()
    }
}

/// 200 with an empty JSON object: a success for every DynamoDB and SQS operation whose output fields are
/// optional (GetItem finding nothing, PutItem, UpdateItem, SendMessage) and for S3's PutObject.
pub fn ok() -> Answer {
    (200, "{}".into())
}

/// A JSON-protocol service error (DynamoDB, SQS): status 400 and the `__type` the SDK reads the code from.
pub fn json_error(code: &str, message: &str) -> Answer {
    (
        400,
        serde_json::json!({"__type": code, "message": message}).to_string(),
    )
}

impl Stub {
    /// A stub answering every call with `answer(call)`.
    pub fn new(answer: impl Fn(&Call) -> Answer + Send + Sync + 'static) -> Stub {
        Stub {
            answer: Arc::new(answer),
            calls: Arc::default(),
        }
    }

    /// A stub answering every call with [`ok`].
    pub fn ok() -> Stub {
        Stub::new(|_| ok())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// How many calls were `operation` (see [`Call::is`]).
    pub fn count(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.is(operation))
            .count()
    }

    /// An SDK configuration whose every client talks to this stub: fixed region and credentials, SDK retries off
    /// (a test of what happens once they are spent sees each failure once).
    pub fn sdk_config(&self) -> SdkConfig {
        let connector = SharedHttpConnector::new(self.clone());
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://stub.invalid")
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new(
                    "testing", "testing", None, None, "stub",
                ),
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .build()
    }
}

impl HttpConnector for Stub {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => format!("{} {}", request.method(), request.uri()),
        };
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let call = Call { operation, body };
        let (status, body) = (self.answer)(&call);
        self.calls.lock().unwrap().push(call);
        let response = HttpResponse::new(
            StatusCode::try_from(status).expect("an HTTP status"),
            SdkBody::from(body),
        );
        HttpConnectorFuture::ready(Ok(response))
    }
}
