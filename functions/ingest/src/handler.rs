//! The ingest handler: verify, route, enqueue, and answer 2xx only once the message is safely in SQS.
//!
//! Svix counts a 2xx within 15 s as delivered and never sends that message again, so every failure to keep a
//! message (SQS or S3 down, throttled) is a 5xx that makes Junction retry. A body with a valid signature is never
//! refused for its content: whatever does not parse goes to the catch-all family and is kept.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, StatusCode, header};
use jwh_shared::envelope::{ClaimCheck, MessageMeta, inline_body, store_claim_check};
use jwh_shared::events::{EventType, peek_event_type};
use jwh_shared::family::Family;
use jwh_shared::signature::{SignatureError, Verifier, WebhookHeaders, read_headers};
use lambda_http::{Body, Request, Response};
use tokio::sync::Mutex;

/// Lambda accepts 6 MB synchronous payloads; the base64 of a binary body is 4/3 of it. Default limit: just under.
pub const DEFAULT_MAX_BODY_BYTES: usize = 6_000_000;
/// Secrets are re-fetched after a failed verification at most this often.
pub const SECRET_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Secrets read longer ago than this are re-read before the next verification, failed or not, so that a secret
/// retired from the list stops being accepted by warm containers within this time.
pub const SECRET_MAX_AGE: Duration = Duration::from_secs(300);

/// Where the signing secrets come from.
#[derive(Debug)]
pub enum SecretSource {
    /// A Secrets Manager secret holding a JSON list of the active secrets (re-read for rotation).
    SecretsManager {
        /// Client, built once.
        client: aws_sdk_secretsmanager::Client,
        /// Secret ARN or name.
        secret_id: String,
    },
    /// Fixed secrets (`WEBHOOK_SECRET`, local runs and tests).
    Static,
}

/// The verifier over the current signing secrets, refreshed from the source after a verification failure (a
/// secret added by a rotation) and once it is older than [`SECRET_MAX_AGE`] (a secret retired by one).
#[derive(Debug)]
pub struct SigningSecrets {
    current: RwLock<Option<Arc<Verifier>>>,
    source: SecretSource,
    tolerance_secs: u64,
    last_fetch: Mutex<Option<Instant>>,
    refresh_interval: Duration,
    max_age: Duration,
}

impl SigningSecrets {
    /// Fixed secrets.
    pub fn fixed(verifier: Verifier) -> Self {
        Self {
            current: RwLock::new(Some(Arc::new(verifier))),
            source: SecretSource::Static,
            tolerance_secs: jwh_shared::signature::DEFAULT_TOLERANCE_SECS,
            last_fetch: Mutex::new(None),
            refresh_interval: SECRET_REFRESH_INTERVAL,
            max_age: SECRET_MAX_AGE,
        }
    }

    /// Secrets read from Secrets Manager; call [`SigningSecrets::refresh`] at init.
    pub fn from_secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        tolerance_secs: u64,
    ) -> Self {
        Self {
            current: RwLock::new(None),
            source: SecretSource::SecretsManager { client, secret_id },
            tolerance_secs,
            last_fetch: Mutex::new(None),
            refresh_interval: SECRET_REFRESH_INTERVAL,
            max_age: SECRET_MAX_AGE,
        }
    }

    /// The same source, re-read at most once per `interval` instead of [`SECRET_REFRESH_INTERVAL`] (tests that
    /// rotate secrets in seconds, not minutes).
    pub fn with_refresh_interval(self, interval: Duration) -> Self {
        Self {
            refresh_interval: interval,
            ..self
        }
    }

    /// The same source, re-read before verifying once the secrets are older than `max_age` instead of
    /// [`SECRET_MAX_AGE`] (tests that retire a secret in seconds).
    pub fn with_max_age(self, max_age: Duration) -> Self {
        Self { max_age, ..self }
    }

    /// Re-reads the secrets when they are older than the maximum age. A failure keeps the secrets already held
    /// (logged; read again after the maximum age, or sooner after a failed verification), so an unreachable Secrets Manager does not refuse genuine webhooks.
    async fn refresh_if_stale(&self) {
        if !matches!(self.source, SecretSource::SecretsManager { .. }) {
            return;
        }
        let stale = {
            let last = self.last_fetch.lock().await;
            last.is_some_and(|t| t.elapsed() >= self.max_age)
        };
        if stale && let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "signing secrets could not be re-read; keeping the current list");
        }
    }

    fn verifier(&self) -> Option<Arc<Verifier>> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-reads the secrets, unless they were read less than [`SECRET_REFRESH_INTERVAL`] (or the interval set
    /// with [`SigningSecrets::with_refresh_interval`]) ago. Returns whether a
    /// new verifier is in place.
    pub async fn refresh(&self) -> Result<bool, jwh_shared::secrets::SecretsError> {
        let SecretSource::SecretsManager { client, secret_id } = &self.source else {
            return Ok(false);
        };
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.refresh_interval) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let secrets = jwh_shared::secrets::fetch_signing_secrets(client, secret_id).await?;
        let verifier = Verifier::from_strs(&secrets)
            .map_err(|_| jwh_shared::secrets::SecretsError::Malformed)?
            .with_tolerance(self.tolerance_secs);
        let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Arc::new(verifier));
        Ok(true)
    }

    /// Verifies a request; on a signature mismatch, re-reads rotated secrets (rate-limited) and tries once more.
    pub async fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookHeaders, Rejection> {
        self.refresh_if_stale().await;
        let first = match self.verifier() {
            Some(v) => v.verify_at(headers, body, now_unix),
            None => Err(SignatureError::NoMatchingSignature),
        };
        match first {
            Err(SignatureError::NoMatchingSignature) => match self.refresh().await {
                Ok(true) => self
                    .verifier()
                    .ok_or(Rejection::SecretsUnavailable)?
                    .verify_at(headers, body, now_unix)
                    .map_err(Rejection::Signature),
                Ok(false) if self.verifier().is_none() => Err(Rejection::SecretsUnavailable),
                Ok(false) => Err(Rejection::Signature(SignatureError::NoMatchingSignature)),
                Err(e) => {
                    tracing::error!(error = %e, "signing secrets unavailable");
                    if self.verifier().is_none() {
                        Err(Rejection::SecretsUnavailable)
                    } else {
                        Err(Rejection::Signature(SignatureError::NoMatchingSignature))
                    }
                }
            },
            other => other.map_err(Rejection::Signature),
        }
    }
}

/// Why a request was not accepted; each maps to one status, once, in [`Rejection::status`].
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Not a POST.
    #[error("method not allowed")]
    Method,
    /// Body over the configured limit.
    #[error("body too large")]
    TooLarge,
    /// `isBase64Encoded` with a body that is not base64.
    #[error("body is not valid base64")]
    MalformedBase64,
    /// Host, path or query that do not form a URI.
    #[error("request URI is malformed")]
    MalformedUri,
    /// A signature or timestamp check failed (missing headers included).
    #[error("signature: {0}")]
    Signature(SignatureError),
    /// No signing secret could be loaded: a retryable server error.
    #[error("signing secrets unavailable")]
    SecretsUnavailable,
    /// SQS or S3 did not accept the message: Junction must retry.
    #[error("enqueue failed: {0}")]
    Enqueue(String),
}

impl Rejection {
    /// The HTTP status for this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Method => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::MalformedBase64 => StatusCode::BAD_REQUEST,
            Rejection::MalformedUri => StatusCode::BAD_REQUEST,
            Rejection::Signature(SignatureError::MissingHeader(_)) => StatusCode::BAD_REQUEST,
            Rejection::Signature(_) => StatusCode::UNAUTHORIZED,
            Rejection::SecretsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Enqueue(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A generic body: the reason goes to the log, not to the caller.
    fn public_message(&self) -> &'static str {
        match self.status() {
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload too large",
            StatusCode::BAD_REQUEST => "bad request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            _ => "temporarily unavailable",
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Rejection::Method => "method_not_allowed",
            Rejection::TooLarge => "too_large",
            Rejection::MalformedBase64 => "malformed_base64",
            Rejection::MalformedUri => "malformed_uri",
            Rejection::Signature(SignatureError::MissingHeader(_)) => "missing_headers",
            Rejection::Signature(_) => "unauthorized",
            Rejection::SecretsUnavailable => "secrets_unavailable",
            Rejection::Enqueue(_) => "enqueue_failed",
        }
    }
}

/// The ingest function's dependencies, built once per container.
#[derive(Debug)]
pub struct Ingest {
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// S3 client for claim checks.
    pub s3: aws_sdk_s3::Client,
    /// Queue URL per family, indexed like [`Family::ALL`].
    pub queue_urls: [String; 6],
    /// Claim-check bucket.
    pub payload_bucket: String,
    /// Signing secrets.
    pub secrets: SigningSecrets,
    /// Largest body accepted.
    pub max_body_bytes: usize,
}

/// What was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Metadata sent with the message.
    pub meta: MessageMeta,
    /// Whether the body went through the claim check.
    pub claim_checked: bool,
}

impl Ingest {
    fn queue_url(&self, family: Family) -> &str {
        let i = Family::ALL
            .iter()
            .position(|f| *f == family)
            .unwrap_or(Family::ALL.len() - 1);
        &self.queue_urls[i]
    }

    /// Handles one request: the response, and one log line with ids, outcome, status and duration.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let now = chrono::Utc::now();
        let result = self
            .accept(request, now.timestamp(), now.timestamp_millis())
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(a) => {
                tracing::info!(
                    svix_id = %a.meta.svix_id, event_type = %a.meta.event_type, family = a.meta.family.as_str(),
                    claim_checked = a.claim_checked, outcome = "accepted", status = 200, duration_ms = ms,
                    "webhook"
                );
                json_response(StatusCode::OK, r#"{"status":"accepted"}"#)
            }
            Err((svix_id, rejection)) => {
                let status = rejection.status();
                let svix_id = svix_id.unwrap_or_default();
                if status.is_server_error() {
                    tracing::error!(svix_id = %svix_id, outcome = rejection.outcome(), status = status.as_u16(), reason = %rejection, duration_ms = ms, "webhook");
                } else {
                    tracing::warn!(svix_id = %svix_id, outcome = rejection.outcome(), status = status.as_u16(), reason = %rejection, duration_ms = ms, "webhook");
                }
                let mut response = json_response(
                    status,
                    &format!(r#"{{"error":"{}"}}"#, rejection.public_message()),
                );
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("POST"));
                }
                response
            }
        }
    }

    /// Verifies and enqueues; on failure, the Svix id (when known) and why.
    pub async fn accept(
        &self,
        request: Request,
        now_unix: i64,
        now_ms: i64,
    ) -> Result<Accepted, (Option<String>, Rejection)> {
        let (parts, body) = request.into_parts();
        let svix_id = read_headers(&parts.headers)
            .ok()
            .map(|(id, _, _)| id.to_owned());
        let fail = |r: Rejection| (svix_id.clone(), r);
        if parts.method != Method::POST {
            return Err(fail(Rejection::Method));
        }
        if parts.headers.contains_key(MALFORMED_BASE64_MARKER) {
            return Err(fail(Rejection::MalformedBase64));
        }
        if parts.headers.contains_key(MALFORMED_URI_MARKER) {
            return Err(fail(Rejection::MalformedUri));
        }
        // Take the body by value: the bytes verified are the bytes enqueued, without a copy.
        let body: Vec<u8> = match body {
            Body::Text(s) => s.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        if body.len() > self.max_body_bytes {
            return Err(fail(Rejection::TooLarge));
        }
        let verified = self
            .secrets
            .verify(&parts.headers, &body, now_unix)
            .await
            .map_err(&fail)?;
        let event_type =
            peek_event_type(&body).unwrap_or_else(|_| EventType::Unknown(String::new()));
        let meta = MessageMeta {
            svix_id: verified.id,
            event_type: event_type.as_str().into_owned(),
            family: event_type.family(),
            svix_timestamp: verified.timestamp,
            received_at_ms: now_ms,
        };
        let claim_checked = self
            .enqueue(&meta, body)
            .await
            .map_err(|e| (Some(meta.svix_id.clone()), e))?;
        Ok(Accepted {
            meta,
            claim_checked,
        })
    }

    /// Sends the message to its family's queue: inline when it can travel in SQS, else through the claim check.
    async fn enqueue(&self, meta: &MessageMeta, body: Vec<u8>) -> Result<bool, Rejection> {
        let url = self.queue_url(meta.family);
        let (message_body, claim) = if inline_body(&body, meta).is_some() {
            // inline_body checked UTF-8 already; this is a move, not a copy.
            let text =
                String::from_utf8(body).map_err(|_| Rejection::Enqueue("body not UTF-8".into()))?;
            (text, None)
        } else {
            let claim = ClaimCheck::for_message(&self.payload_bucket, meta);
            let size = body.len();
            store_claim_check(&self.s3, &claim, body)
                .await
                .map_err(|e| Rejection::Enqueue(e.to_string()))?;
            (claim.placeholder_body(size), Some(claim))
        };
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(message_body)
            .set_message_attributes(Some(meta.to_sqs_attributes(claim.as_ref())))
            .send()
            .await
            .map_err(|e| {
                Rejection::Enqueue(format!(
                    "SQS: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(claim.is_some())
    }
}

fn json_response(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Header the runtime adapter sets (after removing any copy a caller sent) when `isBase64Encoded` is true but the
/// body is not base64, so the handler can answer 400 instead of the adapter panicking.
pub const MALFORMED_BASE64_MARKER: &str = "x-jwh-malformed-base64";

/// Guards the request before `lambda_http` turns it into an `http::Request`: `lambda_http` panics on an
/// `isBase64Encoded` body that is not base64, so such a body is dropped here and the request marked for a 400.
/// Any marker header a caller sent is removed first, so a caller cannot forge it.
pub fn guard_base64(
    mut request: lambda_http::request::LambdaRequest,
) -> lambda_http::request::LambdaRequest {
    use base64::Engine as _;
    use lambda_http::request::LambdaRequest;
    fn check(body: &mut Option<String>, is_base64: &mut bool) -> bool {
        let malformed = *is_base64
            && body
                .as_deref()
                .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err());
        if malformed {
            *body = None;
            *is_base64 = false;
        }
        malformed
    }
    let marker = || HeaderValue::from_static("1");
    match &mut request {
        LambdaRequest::ApiGatewayV1(r) => {
            r.headers.remove(MALFORMED_BASE64_MARKER);
            r.multi_value_headers.remove(MALFORMED_BASE64_MARKER);
            if check(&mut r.body, &mut r.is_base64_encoded) {
                r.headers.insert(MALFORMED_BASE64_MARKER, marker());
            }
        }
        LambdaRequest::ApiGatewayV2(r) => {
            r.headers.remove(MALFORMED_BASE64_MARKER);
            if check(&mut r.body, &mut r.is_base64_encoded) {
                r.headers.insert(MALFORMED_BASE64_MARKER, marker());
            }
        }
        _ => {}
    }
    request
}

/// Header the runtime adapter sets (after removing any copy a caller sent) when the request's host, path or query
/// would not make a URI, so the handler can answer 400 instead of `lambda_http` panicking.
pub const MALFORMED_URI_MARKER: &str = "x-jwh-malformed-uri";

/// Guards the request before `lambda_http` turns it into an `http::Request`, against the two kinds of input that
/// make that conversion panic: a base64 body that is not base64 ([`guard_base64`]), and a Host header (or request
/// context domain name), stage, path or query string that do not form a URL (`lambda_http` builds the URI with
/// `Url::parse(..).unwrap()`; the `ingest_request` fuzz target found a domain name that fails IDNA). API Gateway
/// should never send the latter, but the handler does not rely on it: the conversion is tried on a copy without
/// the body, and if it panics the URI parts are replaced by `/` on no host and the request is marked for a 400.
pub fn guard_request(
    request: lambda_http::request::LambdaRequest,
) -> lambda_http::request::LambdaRequest {
    use lambda_http::request::LambdaRequest;
    fn converts(probe: LambdaRequest) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _: http::Request<Body> = probe.into();
        }))
        .is_ok()
    }
    let mut request = guard_base64(request);
    let marker = || HeaderValue::from_static("1");
    match &mut request {
        LambdaRequest::ApiGatewayV1(r) => {
            r.headers.remove(MALFORMED_URI_MARKER);
            r.multi_value_headers.remove(MALFORMED_URI_MARKER);
            let mut probe = r.clone();
            probe.body = None;
            if !converts(LambdaRequest::ApiGatewayV1(probe)) {
                r.headers.remove(header::HOST);
                r.multi_value_headers.remove(header::HOST);
                r.request_context.domain_name = None;
                r.request_context.stage = None;
                r.path = Some("/".into());
                r.query_string_parameters = Default::default();
                r.multi_value_query_string_parameters = Default::default();
                r.headers.insert(MALFORMED_URI_MARKER, marker());
            }
        }
        LambdaRequest::ApiGatewayV2(r) => {
            r.headers.remove(MALFORMED_URI_MARKER);
            let mut probe = r.clone();
            probe.body = None;
            if !converts(LambdaRequest::ApiGatewayV2(probe)) {
                r.headers.remove(header::HOST);
                r.request_context.domain_name = None;
                r.request_context.stage = None;
                r.raw_path = Some("/".into());
                r.raw_query_string = None;
                r.headers.insert(MALFORMED_URI_MARKER, marker());
            }
        }
        _ => {}
    }
    request
}

impl Ingest {
    /// Builds the function's dependencies from the environment: `QUEUE_URL_<FAMILY>` for every family,
    /// `PAYLOAD_BUCKET`, `WEBHOOK_SECRET_ARN` (Secrets Manager) or `WEBHOOK_SECRET` (comma-separated, local runs),
    /// `MAX_BODY_BYTES`, `SIGNATURE_TOLERANCE_SECS`. Secrets Manager is read here, at init, once.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        use jwh_shared::aws::{env_or, required_env};
        let config = jwh_shared::aws::load_config().await;
        let mut queue_urls: [String; 6] = Default::default();
        for (slot, family) in queue_urls.iter_mut().zip(Family::ALL) {
            *slot = required_env(family.env_var())?;
        }
        let tolerance = env_or(
            "SIGNATURE_TOLERANCE_SECS",
            jwh_shared::signature::DEFAULT_TOLERANCE_SECS,
        )?;
        let secrets = match std::env::var("WEBHOOK_SECRET_ARN")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(arn) => {
                let s = SigningSecrets::from_secrets_manager(
                    aws_sdk_secretsmanager::Client::new(&config),
                    arn,
                    tolerance,
                );
                // A failure here is retried on the first request rather than failing every cold start.
                if let Err(e) = s.refresh().await {
                    tracing::error!(error = %e, "signing secrets unavailable at init");
                }
                s
            }
            None => {
                let list =
                    jwh_shared::secrets::parse_secret_list(&required_env("WEBHOOK_SECRET")?)?;
                SigningSecrets::fixed(Verifier::from_strs(&list)?.with_tolerance(tolerance))
            }
        };
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(&config),
            s3: jwh_shared::aws::s3_client(&config),
            queue_urls,
            payload_bucket: required_env("PAYLOAD_BUCKET")?,
            secrets,
            max_body_bytes: env_or("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use base64::Engine as _;
    use jwh_shared::signature::{Secret, sign};
    use lambda_http::request::LambdaRequest;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OLD_SECRET: &str = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhpcyBlbmRwb2ludA==";

    #[derive(Clone, Copy, Debug)]
    enum Format {
        HttpApi,
        RestApi,
        FunctionUrl,
    }
    const FORMATS: [Format; 3] = [Format::HttpApi, Format::RestApi, Format::FunctionUrl];

    /// A request as API Gateway (payload 1.0 or 2.0) or a Function URL hands it to Lambda.
    fn request(
        format: Format,
        method: &str,
        headers: &[(&str, String)],
        body: &str,
        base64: bool,
    ) -> Request {
        let h: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().into()))
            .collect();
        let mv: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
            .collect();
        let v2 = |route: &str, domain: &str| {
            serde_json::json!({
                "version": "2.0", "routeKey": route, "rawPath": "/webhooks/junction", "rawQueryString": "",
                "headers": h,
                "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": domain,
                    "domainPrefix": "api", "requestId": "req", "routeKey": route, "stage": "$default",
                    "time": "24/Nov/2024:10:00:00 +0000", "timeEpoch": 1732442400000u64,
                    "http": {"method": method, "path": "/webhooks/junction", "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.1", "userAgent": "Svix-Webhooks/1.0"}},
                "body": body, "isBase64Encoded": base64
            })
        };
        let event = match format {
            Format::HttpApi => v2(
                "POST /webhooks/junction",
                "api.execute-api.us-east-1.amazonaws.com",
            ),
            Format::FunctionUrl => v2("$default", "abc.lambda-url.us-east-1.on.aws"),
            Format::RestApi => serde_json::json!({
                "resource": "/webhooks/junction", "path": "/webhooks/junction", "httpMethod": method,
                "headers": h, "multiValueHeaders": mv, "queryStringParameters": null,
                "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
                "requestContext": {"accountId": "123456789012", "resourceId": "res", "stage": "prod",
                    "requestId": "req", "identity": {"sourceIp": "203.0.113.1"},
                    "resourcePath": "/webhooks/junction", "httpMethod": method, "apiId": "api"},
                "body": body, "isBase64Encoded": base64
            }),
        };
        let lambda: LambdaRequest = serde_json::from_value(event).expect("a Lambda HTTP event");
        guard_request(lambda).into()
    }

    fn signed_headers(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        let sig = sign(&Secret::parse(secret).unwrap(), id, ts, body);
        vec![
            ("content-type", "application/json".into()),
            ("svix-id", id.into()),
            ("svix-timestamp", ts.to_string()),
            ("svix-signature", sig),
        ]
    }

    fn ingest(rules: &[&Rule], secrets: &[&str]) -> Ingest {
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, rules);
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]);
        Ingest {
            sqs,
            s3,
            queue_urls: Family::ALL.map(|f| format!("https://sqs.local/q-{}", f.as_str())),
            payload_bucket: "bucket".into(),
            secrets: SigningSecrets::fixed(Verifier::from_strs(secrets).unwrap()),
            max_body_bytes: 1_000_000,
        }
    }

    fn ok_rule() -> Rule {
        mock!(aws_sdk_sqs::Client::send_message)
            .then_output(|| SendMessageOutput::builder().message_id("sqs-1").build())
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../shared/testdata/junction/fixtures/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    async fn status(ingest: &Ingest, req: Request) -> u16 {
        ingest.handle(req).await.status().as_u16()
    }

    #[tokio::test]
    async fn a_valid_webhook_is_enqueued_in_every_payload_format() {
        let body = fixture("daily.data.sleep.created");
        for format in FORMATS {
            let rule = ok_rule();
            let ingest = ingest(&[&rule], &[SECRET]);
            let headers = signed_headers(SECRET, "msg_1", now(), &body);
            let req = request(
                format,
                "POST",
                &headers,
                std::str::from_utf8(&body).unwrap(),
                false,
            );
            let accepted = ingest.accept(req, now(), 1).await.unwrap();
            assert_eq!(accepted.meta.family, Family::Summaries, "{format:?}");
            assert_eq!(accepted.meta.event_type, "daily.data.sleep.created");
            assert_eq!(accepted.meta.svix_id, "msg_1");
            assert!(!accepted.claim_checked);
            assert_eq!(rule.num_calls(), 1, "{format:?}");
        }
    }

    #[tokio::test]
    async fn forged_stale_future_and_incomplete_requests_are_refused_before_sqs() {
        let body = fixture("daily.data.heartrate.created");
        let text = std::str::from_utf8(&body).unwrap();
        for format in FORMATS {
            let rule = ok_rule();
            let ingest = ingest(&[&rule], &[SECRET]);
            let t = now();
            let tampered = text.replace("72", "73");
            let cases: Vec<(&str, Request, u16)> = vec![
                (
                    "tampered body",
                    request(
                        format,
                        "POST",
                        &signed_headers(SECRET, "m", t, &body),
                        &tampered,
                        false,
                    ),
                    401,
                ),
                (
                    "wrong secret",
                    request(
                        format,
                        "POST",
                        &signed_headers(OLD_SECRET, "m", t, &body),
                        text,
                        false,
                    ),
                    401,
                ),
                (
                    "stale",
                    request(
                        format,
                        "POST",
                        &signed_headers(SECRET, "m", t - 400, &body),
                        text,
                        false,
                    ),
                    401,
                ),
                (
                    "future",
                    request(
                        format,
                        "POST",
                        &signed_headers(SECRET, "m", t + 400, &body),
                        text,
                        false,
                    ),
                    401,
                ),
                ("no headers", request(format, "POST", &[], text, false), 400),
                (
                    "GET",
                    request(
                        format,
                        "GET",
                        &signed_headers(SECRET, "m", t, &body),
                        "",
                        false,
                    ),
                    405,
                ),
            ];
            for (name, req, want) in cases {
                let response = ingest.handle(req).await;
                assert_eq!(response.status().as_u16(), want, "{format:?} {name}");
                let Body::Text(text) = response.body() else {
                    panic!("{name}: body")
                };
                assert!(
                    !text.contains("signature") && !text.contains("timestamp"),
                    "{name}: generic body"
                );
                if want == 405 {
                    assert_eq!(response.headers()[header::ALLOW], "POST");
                }
            }
            assert_eq!(rule.num_calls(), 0, "{format:?}: nothing enqueued");
        }
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_with_413() {
        let rule = ok_rule();
        let mut ingest = ingest(&[&rule], &[SECRET]);
        ingest.max_body_bytes = 1024;
        let body = vec![b' '; 1025];
        let req = request(
            Format::HttpApi,
            "POST",
            &signed_headers(SECRET, "m", now(), &body),
            std::str::from_utf8(&body).unwrap(),
            false,
        );
        assert_eq!(status(&ingest, req).await, 413);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn base64_bodies_are_decoded_before_verification_and_malformed_ones_are_400() {
        let body = fixture("provider.connection.created");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
        for format in FORMATS {
            let rule = ok_rule();
            let ingest = ingest(&[&rule], &[SECRET]);
            let headers = signed_headers(SECRET, "m", now(), &body);
            assert_eq!(
                status(&ingest, request(format, "POST", &headers, &encoded, true)).await,
                200,
                "{format:?}"
            );
            assert_eq!(
                status(
                    &ingest,
                    request(format, "POST", &headers, "not base64!!", true)
                )
                .await,
                400,
                "{format:?}"
            );
            // A caller cannot forge the adapter's marker to get its request refused or accepted.
            let mut forged = headers.clone();
            forged.push((MALFORMED_BASE64_MARKER, "1".into()));
            assert_eq!(
                status(
                    &ingest,
                    request(
                        format,
                        "POST",
                        &forged,
                        std::str::from_utf8(&body).unwrap(),
                        false
                    )
                )
                .await,
                200
            );
            assert_eq!(rule.num_calls(), 2, "{format:?}");
        }
    }

    #[tokio::test]
    async fn signed_bodies_that_are_not_known_events_go_to_catch_all() {
        for body in [
            &br#"{"event_type":"brand.new.event","data":{}}"#[..],
            b"this is not JSON",
            b"[1,2]",
        ] {
            let rule = ok_rule();
            let ingest = ingest(&[&rule], &[SECRET]);
            let req = request(
                Format::HttpApi,
                "POST",
                &signed_headers(SECRET, "m", now(), body),
                std::str::from_utf8(body).unwrap(),
                false,
            );
            let accepted = ingest.accept(req, now(), 1).await.unwrap();
            assert_eq!(accepted.meta.family, Family::CatchAll);
            assert_eq!(rule.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn old_and_new_secrets_both_verify_during_a_rotation() {
        let body = fixture("labtest.order.created");
        let text = std::str::from_utf8(&body).unwrap();
        let rule = ok_rule();
        let ingest = ingest(&[&rule], &[SECRET, OLD_SECRET]);
        for secret in [SECRET, OLD_SECRET] {
            let req = request(
                Format::HttpApi,
                "POST",
                &signed_headers(secret, "m", now(), &body),
                text,
                false,
            );
            assert_eq!(status(&ingest, req).await, 200);
        }
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_sqs_failure_is_a_5xx_so_that_junction_retries() {
        let rule = mock!(aws_sdk_sqs::Client::send_message).then_error(|| {
            SendMessageError::QueueDoesNotExist(
                aws_sdk_sqs::types::error::QueueDoesNotExist::builder().build(),
            )
        });
        let ingest = ingest(&[&rule], &[SECRET]);
        let body = fixture("daily.data.sleep.created");
        let req = request(
            Format::HttpApi,
            "POST",
            &signed_headers(SECRET, "m", now(), &body),
            std::str::from_utf8(&body).unwrap(),
            false,
        );
        assert_eq!(status(&ingest, req).await, 503);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_host_that_is_not_a_url_is_a_400_not_a_panic() {
        // Found by the ingest_request fuzz target: lambda_http panicked (IdnaError) building the URI from this
        // domain name. A caller's marker header is not trusted either.
        let body = r#"{"event_type":"provider.connection.created"}"#;
        for (domain, host) in [
            ("exampl%.com", None),
            ("api.example.com", Some("bad host%")),
        ] {
            let mut headers =
                serde_json::json!({"content-type": "application/json", MALFORMED_URI_MARKER: "1"});
            if let Some(host) = host {
                headers["host"] = host.into();
            }
            let event = serde_json::json!({
                "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/junction", "rawQueryString": "",
                "headers": headers,
                "requestContext": {"accountId": "1", "apiId": "api", "domainName": domain, "domainPrefix": "api",
                    "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0,
                    "http": {"method": "POST", "path": "/webhooks/junction", "protocol": "HTTP/1.1",
                        "sourceIp": "192.0.2.1", "userAgent": "Svix-Webhooks/1.0"}},
                "body": body, "isBase64Encoded": false
            });
            let lambda: LambdaRequest = serde_json::from_value(event).unwrap();
            let request: Request = guard_request(lambda).into();
            assert!(
                request.headers().contains_key(MALFORMED_URI_MARKER),
                "{domain}"
            );
            let ingest = ingest(&[&ok_rule()], &[SECRET]);
            assert_eq!(status(&ingest, request).await, 400, "{domain}");
        }
        // A well-formed request passes untouched, even with a forged marker, which is removed.
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/junction", "rawQueryString": "a=1",
            "headers": {"host": "api.example.com", MALFORMED_URI_MARKER: "1"},
            "requestContext": {"accountId": "1", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "",
                "timeEpoch": 0, "http": {"method": "POST", "path": "/webhooks/junction", "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1", "userAgent": "Svix-Webhooks/1.0"}},
            "body": "{}", "isBase64Encoded": false
        });
        let request: Request = guard_request(serde_json::from_value(event).unwrap()).into();
        assert!(!request.headers().contains_key(MALFORMED_URI_MARKER));
        assert_eq!(
            request.uri().to_string(),
            "https://api.example.com/webhooks/junction?a=1"
        );
    }
}
