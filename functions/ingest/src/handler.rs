//! The ingest handler: verify, route, enqueue, and answer 2xx only once the message is safely in SQS.
//!
//! Svix counts a 2xx within 15 s as delivered and never sends that message again, so every failure to keep a
//! message (SQS or S3 down, throttled) is a 5xx that makes Junction retry. A body with a valid signature is never
//! refused for its content: whatever does not parse goes to the catch-all family and is kept.

use std::time::Instant;

use http::{HeaderValue, Method, StatusCode, header};
use jwh_shared::envelope::{ClaimCheck, MessageMeta, inline_body, store_claim_check};
use jwh_shared::events::{EventType, peek_event_type};
use jwh_shared::family::Family;
use jwh_shared::signature::{SignatureError, Verifier, read_headers};
use lambda_http::{Body, Request, Response};

use crate::guard::{MALFORMED_BASE64_MARKER, MALFORMED_URI_MARKER};
// Re-exported at the paths they had before the guards and the secret store got modules of their own: the fuzz
// target, the benchmarks (infra/bench), jwh's tests and the integration tests import them from here.
pub use crate::guard::guard_request;
pub use crate::secrets::SigningSecrets;

/// Lambda accepts 6 MB synchronous payloads; the base64 of a binary body is 4/3 of it. Default limit: just under.
pub const DEFAULT_MAX_BODY_BYTES: usize = 6_000_000;

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

impl Ingest {
    /// Builds the function's dependencies from the environment: `QUEUE_URL_<FAMILY>` for every family,
    /// `PAYLOAD_BUCKET`, `WEBHOOK_SECRET_ARN` (Secrets Manager) or `WEBHOOK_SECRET` (comma-separated, local runs),
    /// `MAX_BODY_BYTES`, `SIGNATURE_TOLERANCE_SECS`. Secrets Manager is read here, at init, once.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        use jwh_shared::aws::{env_or, required_env};
        let config = jwh_shared::aws::lambda_config()?;
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

    use crate::test_support::{
        FORMATS, Format, OLD_SECRET, SECRET, aws_ok, fixture, ingest, now, request, signed_headers,
        status,
    };

    #[tokio::test]
    async fn a_valid_webhook_is_enqueued_in_every_payload_format() {
        let body = fixture("daily.data.sleep.created");
        for format in FORMATS {
            let aws = aws_ok();
            let ingest = ingest(&aws, &[SECRET]);
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
            assert_eq!(aws.count("SendMessage"), 1, "{format:?}");
        }
    }

    #[tokio::test]
    async fn forged_stale_future_and_incomplete_requests_are_refused_before_sqs() {
        let body = fixture("daily.data.heartrate.created");
        let text = std::str::from_utf8(&body).unwrap();
        for format in FORMATS {
            let aws = aws_ok();
            let ingest = ingest(&aws, &[SECRET]);
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
            assert_eq!(aws.count("SendMessage"), 0, "{format:?}: nothing enqueued");
        }
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_with_413() {
        let aws = aws_ok();
        let mut ingest = ingest(&aws, &[SECRET]);
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
        assert_eq!(aws.count("SendMessage"), 0);
    }

    #[tokio::test]
    async fn signed_bodies_that_are_not_known_events_go_to_catch_all() {
        for body in [
            &br#"{"event_type":"brand.new.event","data":{}}"#[..],
            b"this is not JSON",
            b"[1,2]",
        ] {
            let aws = aws_ok();
            let ingest = ingest(&aws, &[SECRET]);
            let req = request(
                Format::HttpApi,
                "POST",
                &signed_headers(SECRET, "m", now(), body),
                std::str::from_utf8(body).unwrap(),
                false,
            );
            let accepted = ingest.accept(req, now(), 1).await.unwrap();
            assert_eq!(accepted.meta.family, Family::CatchAll);
            assert_eq!(aws.count("SendMessage"), 1);
        }
    }

    #[tokio::test]
    async fn an_sqs_failure_is_a_5xx_so_that_junction_retries() {
        let aws = jwh_testkit::stub::Stub::new(|_| {
            jwh_testkit::stub::json_error("com.amazonaws.sqs#QueueDoesNotExist", "no such queue")
        });
        let ingest = ingest(&aws, &[SECRET]);
        let body = fixture("daily.data.sleep.created");
        let req = request(
            Format::HttpApi,
            "POST",
            &signed_headers(SECRET, "m", now(), &body),
            std::str::from_utf8(&body).unwrap(),
            false,
        );
        assert_eq!(status(&ingest, req).await, 503);
        assert_eq!(aws.count("SendMessage"), 1);
    }
}
