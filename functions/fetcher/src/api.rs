//! A small client of Junction's Data API: GET with the team API key, JSON back, and retries of throttled and
//! failing requests with backoff that honours `Retry-After`, within a budget that fits one Lambda invocation.
//!
//! Requests are blocking (`ureq`, rustls on ring: the TLS stack the AWS SDK already uses here) and run on Tokio's
//! blocking pool. Neither the key nor response bodies (health data) reach a log line or an error message.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Junction's Data API hosts, by region and environment (the spec's `servers`).
pub const BASE_URLS: [(&str, &str); 4] = [
    ("production-us", "https://api.us.junction.com"),
    ("production-eu", "https://api.eu.junction.com"),
    ("sandbox-us", "https://api.sandbox.us.junction.com"),
    ("sandbox-eu", "https://api.sandbox.eu.junction.com"),
];

/// The base URL of an environment name (`production-us`, `sandbox-eu`, ...).
pub fn base_url(environment: &str) -> Option<&'static str> {
    BASE_URLS
        .iter()
        .find(|(name, _)| *name == environment.trim().to_ascii_lowercase())
        .map(|(_, url)| *url)
}

/// The team API key; its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// Reads a Secrets Manager secret string: the key itself, a JSON string, or a JSON object with `api_key`.
    pub fn from_secret_string(value: &str) -> Option<Self> {
        let value = value.trim();
        let key = match serde_json::from_str::<Value>(value) {
            Ok(Value::String(s)) => s,
            Ok(Value::Object(o)) => o.get("api_key")?.as_str()?.to_owned(),
            _ => value.to_owned(),
        };
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_owned()))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff when the answer names no `Retry-After`; doubled per attempt.
    pub base_backoff: Duration,
    /// Longest backoff without `Retry-After`.
    pub max_backoff: Duration,
    /// Total time one request may spend waiting between attempts. A `Retry-After` beyond what is left fails the
    /// request at once: the work item goes back to SQS and is retried after the queue's visibility timeout.
    pub wait_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            wait_budget: Duration::from_secs(45),
        }
    }
}

/// A Data API request failed for good (within this invocation).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 429 or 5xx on every attempt, or a `Retry-After` longer than the wait budget.
    #[error("the Data API kept answering {status} after {attempts} attempt(s)")]
    Unavailable {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// The request could not be made or read (connection, TLS, timeout) on every attempt.
    #[error("the Data API could not be reached after {attempts} attempt(s) ({kind})")]
    Transport {
        /// What failed, without the URL (it holds a user id).
        kind: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A 4xx other than 429: the key, the user or the request is wrong; retrying will not help.
    #[error("the Data API refused the request with {0}")]
    Refused(u16),
    /// The body is not JSON.
    #[error("the Data API answered with a body that is not JSON")]
    NotJson,
}

/// A JSON answer and how many requests it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The body.
    pub body: Value,
    /// Requests made, the successful one included.
    pub calls: u32,
}

/// What a request that did not succeed (or could) tells the next attempt.
enum Attempt {
    Done(Value),
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        kind: String,
    },
    Fail(ApiError),
}

/// The Data API client, built once per container.
#[derive(Debug, Clone)]
pub struct DataApi {
    agent: ureq::Agent,
    base_url: String,
    key: ApiKey,
    retry: RetryPolicy,
}

/// Largest body read (a dense timeseries page is a few MB).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

impl DataApi {
    /// A client of `base_url` (no trailing slash needed) with `key`.
    pub fn new(base_url: &str, key: ApiKey, retry: RetryPolicy, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("jwh-fetcher/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        DataApi {
            agent,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            retry,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GETs `path` with `query`, retrying 429, 5xx and transport failures with backoff (honouring `Retry-After`)
    /// within the policy's attempts and wait budget.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ApiError> {
        let url = format!("{}{path}", self.base_url);
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let agent = self.agent.clone();
            let key = self.key.0.clone();
            let (u, q) = (url.clone(), query.clone());
            let attempt = tokio::task::spawn_blocking(move || once(&agent, &u, &q, &key))
                .await
                .unwrap_or_else(|_| Attempt::Retry {
                    status: None,
                    retry_after: None,
                    kind: "request task failed".into(),
                });
            let (status, retry_after, kind) = match attempt {
                Attempt::Done(body) => {
                    return Ok(Answer {
                        body,
                        calls: attempts,
                    });
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    status,
                    retry_after,
                    kind,
                } => (status, retry_after, kind),
            };
            let give_up = |attempts| match status {
                Some(status) => ApiError::Unavailable { status, attempts },
                None => ApiError::Transport {
                    kind: kind.clone(),
                    attempts,
                },
            };
            if attempts >= self.retry.max_attempts {
                return Err(give_up(attempts));
            }
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempts));
            let left = self.retry.wait_budget.saturating_sub(started.elapsed());
            if wait > left {
                tracing::warn!(
                    status,
                    wait_ms = wait.as_millis() as u64,
                    "Data API retry wait exceeds the invocation's budget"
                );
                return Err(give_up(attempts));
            }
            tracing::info!(
                status,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                "Data API request retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential backoff after `attempt` failed attempts, without `Retry-After`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        (self.retry.base_backoff * factor).min(self.retry.max_backoff)
    }
}

/// One request.
fn once(agent: &ureq::Agent, url: &str, query: &[(String, String)], key: &str) -> Attempt {
    let mut request = agent
        .get(url)
        .header("x-vital-api-key", key)
        .header("accept", "application/json");
    for (k, v) in query {
        request = request.query(k, v);
    }
    let mut response = match request.call() {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Retry {
                status: None,
                retry_after: None,
                kind: transport_kind(&e),
            };
        }
    };
    let status = response.status().as_u16();
    if status == 429 || status >= 500 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        return Attempt::Retry {
            status: Some(status),
            retry_after,
            kind: String::new(),
        };
    }
    if !(200..300).contains(&status) {
        return Attempt::Fail(ApiError::Refused(status));
    }
    let text = match response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
    {
        Ok(t) => t,
        Err(e) => {
            return Attempt::Retry {
                status: None,
                retry_after: None,
                kind: transport_kind(&e),
            };
        }
    };
    match serde_json::from_str(&text) {
        Ok(v) => Attempt::Done(v),
        Err(_) => Attempt::Fail(ApiError::NotJson),
    }
}

/// A transport error's kind, without the URL.
fn transport_kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::Io(io) => format!("i/o: {:?}", io.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::BodyExceedsLimit(_) => "body too large".into(),
        _ => "request failed".into(),
    }
}

/// `Retry-After`: delay-seconds, or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let got = parse_retry_after(&later).unwrap();
        assert!((118..=120).contains(&got.as_secs()), "{got:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn base_urls_are_the_specs_servers() {
        let spec: Value = serde_json::from_slice(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/testdata/junction/swagger.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let mut servers: Vec<&str> = spec["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["url"].as_str().unwrap())
            .collect();
        servers.sort();
        let mut ours: Vec<&str> = BASE_URLS.iter().map(|(_, u)| *u).collect();
        ours.sort();
        assert_eq!(ours, servers);
        assert_eq!(
            base_url("Sandbox-EU"),
            Some("https://api.sandbox.eu.junction.com")
        );
        assert_eq!(
            base_url("production-us"),
            Some("https://api.us.junction.com")
        );
        assert_eq!(base_url("staging"), None);
    }

    #[test]
    fn the_key_is_read_from_every_secret_form_and_never_shown() {
        for value in [
            "sk_test_1",
            " \"sk_test_1\" ",
            r#"{"api_key": "sk_test_1"}"#,
        ] {
            let key = ApiKey::from_secret_string(value).unwrap();
            assert_eq!(key.0, "sk_test_1");
            assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        }
        assert!(ApiKey::from_secret_string("  ").is_none());
        assert!(ApiKey::from_secret_string(r#"{"other": "x"}"#).is_none());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let api = DataApi::new(
            "http://127.0.0.1:1/",
            ApiKey::new("k"),
            RetryPolicy::default(),
            Duration::from_secs(1),
        );
        assert_eq!(api.base_url(), "http://127.0.0.1:1");
        let got: Vec<u64> = (1..=6).map(|a| api.backoff(a).as_millis() as u64).collect();
        assert_eq!(got, [500, 1000, 2000, 4000, 8000, 8000]);
    }
}
