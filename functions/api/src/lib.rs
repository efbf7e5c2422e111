//! The read API's HTTP adapter: an API Gateway HTTP API event (payload format 2.0) in, its method, path below the
//! prefix and query out to [`jwh_shared::data_api`], the reply back as the gateway's response. Every route of the
//! prefix is `AWS_IAM`-authorized at the gateway (template.yaml), so the caller is already one of the deployer's
//! own signed principals when a request arrives here.
//!
//! The event is read as JSON, not through a typed request, so that nothing a caller sends can make the adapter
//! panic: a field that is missing or of another type is a 400 or 404, never a failed invocation. Logs name the
//! method, the status and the time taken, never the path (it holds user ids) or a body (health data).

use std::time::{Duration, Instant};

use jwh_shared::aws::{ConfigError, env_or, required_env};
use jwh_shared::data_api::{self, Reply, Settings};
use jwh_shared::resolve::Priorities;
use jwh_shared::store::Store;
use serde_json::{Value, json};

/// The prefix of the routes when `API_PREFIX` is unset.
pub const DEFAULT_PREFIX: &str = "/data";

/// How long an erasure may run before it answers 202 (API Gateway gives an integration 30 s).
pub const ERASE_WITHIN: Duration = Duration::from_secs(25);

/// A request as the read side needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Upper-case method.
    pub method: String,
    /// The path below the prefix, still percent-encoded (`/v2/summary/sleep/u1`).
    pub path: String,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
}

/// Reads an HTTP API (2.0) event; `None` when its path is not under `prefix`.
pub fn call_of(event: &Value, prefix: &str) -> Option<Call> {
    let method = event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let raw_path = event.get("rawPath").and_then(Value::as_str).unwrap_or("/");
    let below = raw_path.strip_prefix(prefix.trim_end_matches('/'))?;
    if !(below.is_empty() || below.starts_with('/')) {
        return None;
    }
    let query = event
        .get("rawQueryString")
        .and_then(Value::as_str)
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    Some(Call {
        method,
        path: below.to_owned(),
        query,
    })
}

/// The gateway's response for a reply: JSON, not cached (the copy changes with every webhook). Every field of the
/// 2.0 response is present (`cookies` and `multiValueHeaders` empty), as strict readers of it (cargo lambda's
/// function URL emulation) require.
pub fn response_of(reply: &Reply) -> Value {
    json!({
        "statusCode": reply.status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "multiValueHeaders": {},
        "body": reply.body.to_string(),
        "isBase64Encoded": false,
        "cookies": [],
    })
}

/// What the function holds for every request: the store, the deployment's settings, the payload bucket.
pub struct Api {
    store: Store,
    settings: Settings,
    prefix: String,
    s3: aws_sdk_s3::Client,
    bucket: Option<String>,
    archive: Option<String>,
}

impl Api {
    /// Builds the clients once, from the function's environment: `TABLE_NAME`, `API_PREFIX` (default `/data`),
    /// `DATA_PRIORITY` ([`Priorities::parse`]; a deployment whose orders do not parse does not start), and
    /// `PAYLOAD_BUCKET` (for erasure's claim-check objects) and `ARCHIVE_BUCKET` (its archived deliveries).
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = jwh_shared::aws::lambda_config()?;
        let table = required_env("TABLE_NAME")?;
        let prefix: String = env_or("API_PREFIX", DEFAULT_PREFIX.to_owned())?;
        let priorities = Priorities::parse(&std::env::var("DATA_PRIORITY").unwrap_or_default())
            .map_err(|e| format!("{}: {e}", ConfigError::Invalid("DATA_PRIORITY")))?;
        Ok(Self::new(
            Store::new(aws_sdk_dynamodb::Client::new(&config), table, 1),
            Settings { priorities },
            prefix,
            jwh_shared::aws::s3_client(&config),
            std::env::var("PAYLOAD_BUCKET")
                .ok()
                .filter(|b| !b.is_empty()),
        )
        .with_archive(
            std::env::var(jwh_shared::archive::BUCKET_ENV)
                .ok()
                .filter(|b| !b.is_empty()),
        ))
    }

    /// The same API, erasure also removing a user's deliveries from the archive bucket when given.
    pub fn with_archive(mut self, bucket: Option<String>) -> Self {
        self.archive = bucket;
        self
    }

    /// An API over `store`; erasure removes claim-check objects from `payloads` when given.
    pub fn new(
        store: Store,
        settings: Settings,
        prefix: impl Into<String>,
        s3: aws_sdk_s3::Client,
        payloads: Option<String>,
    ) -> Self {
        Self {
            store,
            settings,
            prefix: prefix.into(),
            s3,
            bucket: payloads,
            archive: None,
        }
    }

    /// Answers one request.
    pub async fn reply(&self, call: &Call) -> Reply {
        match call.method.as_str() {
            // Boxed: each is a deep future of SDK calls, too deep for one inline state machine.
            "GET" => {
                Box::pin(data_api::handle(
                    &self.store,
                    &self.settings,
                    &call.path,
                    &call.query,
                ))
                .await
            }
            "DELETE" => {
                let payloads = self.bucket.as_deref().map(|b| (&self.s3, b));
                let archive = self.archive.as_deref().map(|b| (&self.s3, b));
                Box::pin(data_api::erase(
                    &self.store,
                    &call.path,
                    &call.query,
                    payloads,
                    archive,
                    ERASE_WITHIN,
                ))
                .await
            }
            _ => Reply {
                status: 405,
                body: json!({"detail": "Method Not Allowed"}),
            },
        }
    }

    /// Answers one gateway event.
    pub async fn handle(&self, event: &Value) -> Value {
        let started = Instant::now();
        let reply = match call_of(event, &self.prefix) {
            Some(call) => {
                let reply = self.reply(&call).await;
                tracing::info!(
                    method = call.method,
                    status = reply.status,
                    ms = started.elapsed().as_millis() as u64,
                    "answered"
                );
                reply
            }
            None => Reply {
                status: 404,
                body: json!({"detail": "Not Found"}),
            },
        };
        response_of(&reply)
    }
}

/// Runs the API on the Lambda runtime.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    jwh_shared::logging::init();
    let api = Api::from_env().await?;
    let api = &api;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            Ok::<_, lambda_runtime::Error>(api.handle(&event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, raw_path: &str, query: &str) -> Value {
        json!({
            "version": "2.0", "routeKey": "GET /data/{proxy+}", "rawPath": raw_path, "rawQueryString": query,
            "requestContext": {"http": {"method": method, "path": raw_path}},
        })
    }

    #[test]
    fn a_gateway_event_becomes_a_call_below_the_prefix() {
        let call = call_of(
            &event(
                "get",
                "/data/v2/summary/sleep/u%2F1",
                "start_date=2024-01-01&provider=oura%20ring&x",
            ),
            "/data",
        )
        .unwrap();
        assert_eq!(call.method, "GET");
        // Still encoded: the read side decodes each segment, so an encoded slash stays inside its segment.
        assert_eq!(call.path, "/v2/summary/sleep/u%2F1");
        assert_eq!(
            call.query,
            [
                ("start_date".to_owned(), "2024-01-01".to_owned()),
                ("provider".to_owned(), "oura ring".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            call_of(&event("GET", "/data/", ""), "/data/").unwrap().path,
            "/"
        );
    }

    #[test]
    fn paths_outside_the_prefix_and_odd_events_are_not_calls() {
        assert_eq!(call_of(&event("GET", "/database/v2", ""), "/data"), None);
        assert_eq!(
            call_of(&event("GET", "/webhooks/junction", ""), "/data"),
            None
        );
        // No method, no query: a GET of the path; no path at all: not under the prefix.
        let bare = call_of(&json!({"rawPath": "/data/v2/catch_all"}), "/data").unwrap();
        assert_eq!((bare.method.as_str(), bare.query.len()), ("GET", 0));
        assert_eq!(call_of(&json!({"rawPath": 7}), "/data"), None);
        assert_eq!(call_of(&json!(null), "/data"), None);
    }

    #[test]
    fn a_reply_becomes_a_json_response_that_is_not_cached() {
        let response = response_of(&Reply {
            status: 404,
            body: json!({"detail": "Not Found"}),
        });
        assert_eq!(response["statusCode"], 404);
        assert_eq!(response["headers"]["content-type"], "application/json");
        assert_eq!(response["headers"]["cache-control"], "no-store");
        assert_eq!(
            (&response["cookies"], &response["multiValueHeaders"]),
            (&json!([]), &json!({}))
        );
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["detail"], "Not Found");
    }
}
