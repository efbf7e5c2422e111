//! A fault-injecting HTTP proxy between the AWS SDK and moto: it forwards every request, except those a rule picks,
//! which it fails (an AWS error response with a chosen status and error type) or holds past the client's timeout
//! before forwarding (so the write still lands, late, as after a real timeout).
//!
//! Calls are told apart as the services tell them apart: the `x-amz-target` header of the JSON protocols
//! (DynamoDB, SQS, Secrets Manager), the method and path of S3 (`PUT /bucket/key` is `PutObject`). A rule can also
//! require a string in the request body (a user id, a Svix id), so it hits the records of one message only.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// DynamoDB's write operations.
pub const DYNAMODB_WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// What happens to a request a rule picks.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answered with this status and body, never forwarded.
    Error {
        /// HTTP status.
        status: u16,
        /// An AWS error body (JSON with `__type`, or S3's XML).
        body: &'static str,
    },
    /// Held this long, then forwarded: the client has given up by then, the service still applies it.
    Delay(Duration),
}

impl Fault {
    /// DynamoDB throttling, as DynamoDB answers it.
    pub fn dynamodb_throttle() -> Fault {
        Fault::Error {
            status: 400,
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected: throughput exceeded"}"#,
        }
    }

    /// A DynamoDB internal error (500).
    pub fn dynamodb_500() -> Fault {
        Fault::Error {
            status: 500,
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected: internal error"}"#,
        }
    }

    /// An SQS internal error (500).
    pub fn sqs_500() -> Fault {
        Fault::Error {
            status: 500,
            body: r#"{"__type":"com.amazonaws.sqs#InternalError","message":"injected: internal error"}"#,
        }
    }

    /// An S3 internal error (500).
    pub fn s3_500() -> Fault {
        Fault::Error {
            status: 500,
            body: "<Error><Code>InternalError</Code><Message>injected: internal error</Message></Error>",
        }
    }

    /// A Secrets Manager internal error (500).
    pub fn secrets_manager_500() -> Fault {
        Fault::Error {
            status: 500,
            body: r#"{"__type":"InternalServiceError","message":"injected: internal error"}"#,
        }
    }
}

/// Which requests a fault hits: the first `skip` matching requests pass, the next `times` get the fault.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Operation names (`PutItem`, `SendMessage`, `PutObject`, `GetSecretValue`, ...).
    pub operations: &'static [&'static str],
    /// A string the request path or body must contain.
    pub body_contains: Option<String>,
    /// Matching requests let through before the fault starts.
    pub skip: usize,
    /// Matching requests that get the fault (`usize::MAX`: until the rules are cleared).
    pub times: usize,
    /// The fault.
    pub fault: Fault,
}

impl Rule {
    /// Every request of these operations whose body contains `needle`, until cleared.
    pub fn always(operations: &'static [&'static str], needle: &str, fault: Fault) -> Rule {
        Rule {
            operations,
            body_contains: Some(needle.to_owned()),
            skip: 0,
            times: usize::MAX,
            fault,
        }
    }

    /// The next `times` requests of these operations whose body contains `needle`.
    pub fn times(
        operations: &'static [&'static str],
        needle: &str,
        times: usize,
        fault: Fault,
    ) -> Rule {
        Rule {
            times,
            ..Rule::always(operations, needle, fault)
        }
    }
}

#[derive(Debug, Default)]
struct State {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<String>>,
    injected: AtomicUsize,
    held: AtomicUsize,
}

/// A running proxy; it stops with the runtime that started it.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    url: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_owned(),
            ..State::default()
        });
        let serving = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { url, state }
    }

    /// The endpoint to give the SDK.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds a rule; rules are tried in the order added, the first that matches takes the request.
    pub fn add(&self, rule: Rule) {
        self.state.rules.lock().unwrap().push(rule);
    }

    /// Removes every rule: the service is healthy again.
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Faults injected so far.
    pub fn injected(&self) -> usize {
        self.state.injected.load(Ordering::SeqCst)
    }

    /// Requests of `operation` seen so far (faulted or not).
    pub fn calls(&self, operation: &str) -> usize {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == operation)
            .count()
    }

    /// Waits until every held request has been forwarded (its late write landed).
    pub async fn settle(&self) {
        while self.state.held.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The operation a request calls, as the service reads it.
fn operation(parts: &http::request::Parts) -> String {
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let object = parts.uri.path().trim_matches('/').contains('/');
    match (parts.method.as_str(), object) {
        ("PUT", true) => "PutObject".into(),
        ("GET", true) => "GetObject".into(),
        (method, _) => format!("{method} {}", parts.uri.path()),
    }
}

impl State {
    fn fault_for(&self, operation: &str, path: &str, body: &[u8]) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            r.times > 0
                && r.operations.contains(&operation)
                && r.body_contains.as_ref().is_none_or(|needle| {
                    path.contains(needle.as_str())
                        || body.windows(needle.len()).any(|w| w == needle.as_bytes())
                })
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.times -= 1;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(rule.fault.clone())
    }
}

type Answer = Response<Full<Bytes>>;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let op = operation(&parts);
    state.calls.lock().unwrap().push(op.clone());
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    match state.fault_for(&op, parts.uri.path(), &body) {
        None => Ok(forward(&state.upstream, parts, body).await),
        Some(Fault::Error { status, body }) => {
            let content_type = if body.starts_with('<') {
                "application/xml"
            } else {
                "application/x-amz-json-1.0"
            };
            Ok(Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap())
        }
        Some(Fault::Delay(delay)) => {
            // Forwarded from a task of its own: it goes on after the client hangs up, so the late write lands.
            state.held.fetch_add(1, Ordering::SeqCst);
            let held = state.clone();
            let late = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let answer = forward(&held.upstream, parts, body).await;
                held.held.fetch_sub(1, Ordering::SeqCst);
                answer
            });
            Ok(late.await.unwrap())
        }
    }
}

async fn forward(upstream: &str, parts: http::request::Parts, body: Bytes) -> Answer {
    let failed = |e: String| {
        Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: {e}"))))
            .unwrap()
    };
    let stream = match tokio::net::TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
    tokio::spawn(connection);
    let response = match sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    Response::from_parts(parts, Full::new(body))
}
