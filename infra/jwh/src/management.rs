//! Junction's Org Management API, its "Team Webhook" operations: list, get, create, patch and delete endpoints,
//! read and replace their custom headers, read and rotate their signing secret.
//!
//! Every call goes to `{base}/v1/org/{org_id}/team/{team_id}/{environment}/webhook...` with the management key in
//! the `X-Management-Key` header (the spec's only security scheme). The spec documents 422 (FastAPI's
//! `HTTPValidationError`) for each operation; 401 and 403 (key refused, key without access to the org) and 404
//! (unknown team or webhook) are what any call can also answer, and each becomes one [`ApiError`] with a message
//! that says what to check. The key is held in a [`ManagementKey`], whose `Debug` is redacted and which no error
//! message includes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The production server of the spec.
pub const DEFAULT_BASE_URL: &str = "https://api.management.junction.com";

/// A management key. Its `Debug` output is `ManagementKey(<redacted>)`; it is only ever written to the header.
#[derive(Clone)]
pub struct ManagementKey(String);

impl ManagementKey {
    /// A key as read from the environment or Secrets Manager, surrounding whitespace trimmed. `None` when blank or
    /// when it could not be a header value (control characters, non-ASCII).
    pub fn new(value: &str) -> Option<ManagementKey> {
        let value = value.trim();
        let usable = !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        usable.then(|| ManagementKey(value.to_owned()))
    }

    /// The key, for the header and for tests that check it never appears elsewhere.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ManagementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManagementKey(<redacted>)")
    }
}

/// A Junction environment (the spec's `Env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// Live users and data.
    Production,
    /// Test users and data.
    Sandbox,
}

impl Environment {
    /// The path segment.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
        }
    }
}

/// Which team's webhooks: org, team and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Org id (a UUID).
    pub org: String,
    /// Team id (a UUID).
    pub team: String,
    /// Environment.
    pub environment: Environment,
}

/// A webhook endpoint (the spec's `Webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Endpoint id (`ep_...`).
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Deliveries per second, when limited.
    #[serde(default)]
    pub rate_limit: Option<i64>,
    /// Where Junction delivers.
    pub url: String,
    /// Whether deliveries are paused.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Event types delivered; `None` means every event type.
    #[serde(default)]
    pub filter_types: Option<Vec<String>>,
    /// When created (RFC 3339).
    pub created_at: String,
    /// When last changed (RFC 3339).
    pub updated_at: String,
}

/// One page of webhooks (the spec's `WebhookListResponse`).
#[derive(Debug, Clone, Deserialize)]
struct WebhookList {
    data: Vec<Webhook>,
    next_cursor: Option<String>,
}

/// A new endpoint (the spec's `CreateWebhookBody`). `Debug` never shows the secret.
#[derive(Clone, Default, Serialize)]
pub struct NewWebhook {
    /// Where Junction should deliver.
    pub url: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Deliveries per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<i64>,
    /// Create it paused.
    pub disabled: bool,
    /// Event types to deliver; `None` for all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_types: Option<Vec<String>>,
    /// The signing secret to use; Junction picks one when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("description", &self.description)
            .field("rate_limit", &self.rate_limit)
            .field("disabled", &self.disabled)
            .field("filter_types", &self.filter_types)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A change to an endpoint (the spec's `PatchWebhookBody`): only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New rate limit; `Some(None)` removes the limit.
    pub rate_limit: Option<Option<i64>>,
    /// Pause or resume.
    pub disabled: Option<bool>,
    /// New event types; `Some(None)` delivers every event type.
    pub filter_types: Option<Option<Vec<String>>>,
}

impl WebhookPatch {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == WebhookPatch::default()
    }

    /// The request body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        if let Some(url) = &self.url {
            body.insert("url".into(), url.clone().into());
        }
        if let Some(description) = &self.description {
            body.insert("description".into(), description.clone().into());
        }
        if let Some(rate_limit) = self.rate_limit {
            body.insert("rate_limit".into(), rate_limit.into());
        }
        if let Some(disabled) = self.disabled {
            body.insert("disabled".into(), disabled.into());
        }
        if let Some(filter_types) = &self.filter_types {
            body.insert("filter_types".into(), filter_types.clone().into());
        }
        body.into()
    }
}

/// An endpoint's custom headers (the spec's `WebhookHeadersResponse`): the values Junction shows, and the names of
/// the sensitive headers whose values it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookHeaders {
    /// Header name to value.
    pub headers: BTreeMap<String, String>,
    /// Names of headers whose values are hidden.
    pub sensitive: Vec<String>,
}

/// What went wrong talking to the Org Management API. Messages never include the key or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: no key, or not a valid one.
    #[error(
        "Junction refused the management key (HTTP 401): check JUNCTION_MANAGEMENT_KEY or the secret named by --management-key-secret"
    )]
    Unauthorized,
    /// 403: the key is valid but may not manage this org or team.
    #[error("the management key may not manage org {org}, team {team} (HTTP 403)")]
    Forbidden {
        /// Org id asked for.
        org: String,
        /// Team id asked for.
        team: String,
    },
    /// 404: the team or the webhook does not exist.
    #[error("not found (HTTP 404): {what}")]
    NotFound {
        /// What was asked for.
        what: String,
    },
    /// 422: the request did not validate; one `field: message` per problem Junction listed.
    #[error("Junction rejected the request (HTTP 422): {0}")]
    Invalid(String),
    /// 429.
    #[error("Junction is rate limiting the management key (HTTP 429): try again shortly")]
    RateLimited,
    /// 5xx.
    #[error("the Org Management API failed (HTTP {0}): try again later")]
    Server(u16),
    /// Any other status.
    #[error("unexpected answer from the Org Management API (HTTP {status}){detail}")]
    Unexpected {
        /// The status.
        status: u16,
        /// `: <detail>` when the body had a string `detail`, else empty.
        detail: String,
    },
    /// No answer at all.
    #[error("cannot reach the Org Management API: {0}")]
    Transport(String),
    /// A 2xx whose body is not what the spec says.
    #[error("unexpected response body from the Org Management API: {0}")]
    Decode(String),
}

/// A client for one org, team and environment. `Debug` shows the base URL and scope, never the key.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: ManagementKey,
    scope: Scope,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Page size asked for when listing (the spec's default).
const PAGE_SIZE: u32 = 50;

impl Client {
    /// A client for `scope` at `base` (no trailing slash needed).
    pub fn new(base: &str, key: ManagementKey, scope: Scope, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("jwh/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            key,
            scope,
        }
    }

    fn url(&self, rest: &str) -> String {
        format!(
            "{}/v1/org/{}/team/{}/{}/webhook{rest}",
            self.base,
            self.scope.org,
            self.scope.team,
            self.scope.environment.as_str()
        )
    }

    /// Every webhook of the team in this environment, following `next_cursor`.
    pub fn list(&self) -> Result<Vec<Webhook>, ApiError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}?limit={PAGE_SIZE}", self.url(""));
            if let Some(c) = &cursor {
                url.push_str("&next_cursor=");
                url.push_str(&percent_encode(c));
            }
            let page: WebhookList = self.call("GET", &url, None, "the team")?;
            all.extend(page.data);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// One webhook.
    pub fn get(&self, id: &str) -> Result<Webhook, ApiError> {
        self.call("GET", &self.webhook_url(id, ""), None, &what(id))
    }

    /// Creates a webhook.
    pub fn create(&self, new: &NewWebhook) -> Result<Webhook, ApiError> {
        let body = serde_json::to_value(new).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.call("POST", &self.url(""), Some(body), "the team")
    }

    /// Changes a webhook.
    pub fn patch(&self, id: &str, patch: &WebhookPatch) -> Result<Webhook, ApiError> {
        self.call(
            "PATCH",
            &self.webhook_url(id, ""),
            Some(patch.to_json()),
            &what(id),
        )
    }

    /// Deletes a webhook.
    pub fn delete(&self, id: &str) -> Result<(), ApiError> {
        self.call_no_content("DELETE", &self.webhook_url(id, ""), None, &what(id))
    }

    /// A webhook's custom headers.
    pub fn headers(&self, id: &str) -> Result<WebhookHeaders, ApiError> {
        self.call("GET", &self.webhook_url(id, "/headers"), None, &what(id))
    }

    /// Replaces every custom header of a webhook.
    pub fn set_headers(
        &self,
        id: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({ "headers": headers });
        self.call_no_content(
            "PUT",
            &self.webhook_url(id, "/headers"),
            Some(body),
            &what(id),
        )
    }

    /// A webhook's current signing secret (`whsec_...`).
    pub fn secret(&self, id: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct SecretResponse {
            key: String,
        }
        let out: SecretResponse =
            self.call("GET", &self.webhook_url(id, "/secret"), None, &what(id))?;
        Ok(out.key)
    }

    /// Rotates a webhook's signing secret to `key` (Junction picks one when `None`). Svix keeps signing with the
    /// previous secret as well for 24 hours.
    pub fn rotate_secret(&self, id: &str, key: Option<&str>) -> Result<(), ApiError> {
        let body = serde_json::json!({ "key": key });
        self.call_no_content(
            "POST",
            &self.webhook_url(id, "/secret/rotate"),
            Some(body),
            &what(id),
        )
    }

    fn webhook_url(&self, id: &str, rest: &str) -> String {
        self.url(&format!("/{}{rest}", percent_encode(id)))
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<T, ApiError> {
        let (status, text) = self.send(method, url, body)?;
        if !(200..300).contains(&status) {
            return Err(self.error(status, &text, what));
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode(e.to_string()))
    }

    fn call_no_content(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<(), ApiError> {
        let (status, text) = self.send(method, url, body)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(self.error(status, &text, what))
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, String), ApiError> {
        let key = self.key.expose();
        let result = match (method, body) {
            ("GET", _) => self.agent.get(url).header("X-Management-Key", key).call(),
            ("DELETE", _) => self
                .agent
                .delete(url)
                .header("X-Management-Key", key)
                .call(),
            (method, body) => {
                let builder = match method {
                    "POST" => self.agent.post(url),
                    "PUT" => self.agent.put(url),
                    _ => self.agent.patch(url),
                };
                builder
                    .header("X-Management-Key", key)
                    .header("content-type", "application/json")
                    .send(body.unwrap_or_default().to_string())
            }
        };
        let mut response = result.map_err(|e| ApiError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok((status, text))
    }

    fn error(&self, status: u16, body: &str, what: &str) -> ApiError {
        match status {
            401 => ApiError::Unauthorized,
            403 => ApiError::Forbidden {
                org: self.scope.org.clone(),
                team: self.scope.team.clone(),
            },
            404 => ApiError::NotFound {
                what: format!(
                    "{what} (org {}, team {}, {})",
                    self.scope.org,
                    self.scope.team,
                    self.scope.environment.as_str()
                ),
            },
            422 => ApiError::Invalid(validation_details(body)),
            429 => ApiError::RateLimited,
            500..=599 => ApiError::Server(status),
            _ => ApiError::Unexpected {
                status,
                detail: string_detail(body)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default(),
            },
        }
    }
}

fn what(id: &str) -> String {
    format!("webhook {id}")
}

/// `field: message; ...` from a FastAPI `HTTPValidationError`. Only `loc` and `msg` are used: `input` echoes what
/// was sent, which can be a signing secret.
pub fn validation_details(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return "no details given".into();
    };
    if let Some(text) = string_detail(body) {
        return text;
    }
    let Some(items) = value.get("detail").and_then(|d| d.as_array()) else {
        return "no details given".into();
    };
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let loc: Vec<String> = item
                .get("loc")
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .map(|p| match p {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let msg = item
                .get("msg")
                .and_then(|m| m.as_str())
                .unwrap_or("invalid");
            if loc.is_empty() {
                msg.to_owned()
            } else {
                format!("{}: {msg}", loc.join("."))
            }
        })
        .collect();
    if parts.is_empty() {
        "no details given".into()
    } else {
        parts.join("; ")
    }
}

/// The body's `detail` when it is a string (FastAPI's `HTTPException`), cut to one short line.
fn string_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = value.get("detail")?.as_str()?;
    let line: String = text.lines().next()?.chars().take(200).collect();
    Some(line)
}

/// Percent-encodes everything but unreserved characters, for ids and cursors in a URL.
fn percent_encode(s: &str) -> String {
    jwh_shared::data_api::endpoints::segment(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_redacted_and_validated() {
        let key = ManagementKey::new("  mk_live_abc \n").unwrap();
        assert_eq!(key.expose(), "mk_live_abc");
        assert_eq!(format!("{key:?}"), "ManagementKey(<redacted>)");
        assert!(ManagementKey::new("  ").is_none());
        assert!(ManagementKey::new("a\u{7}b").is_none());
        let scope = Scope {
            org: "o".into(),
            team: "t".into(),
            environment: Environment::Sandbox,
        };
        let client = Client::new("http://x/", key, scope, Duration::from_secs(1));
        let debug = format!("{client:?}");
        assert!(!debug.contains("mk_live_abc"), "{debug}");
        assert_eq!(
            client.url("/ep_1"),
            "http://x/v1/org/o/team/t/sandbox/webhook/ep_1"
        );
    }

    #[test]
    fn new_webhook_debug_hides_the_secret_and_body_skips_unset_fields() {
        let new = NewWebhook {
            url: "https://r.example/webhooks/junction".into(),
            secret: Some("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into()),
            ..NewWebhook::default()
        };
        assert!(!format!("{new:?}").contains("whsec_"));
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            serde_json::json!({
                "url": "https://r.example/webhooks/junction",
                "disabled": false,
                "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
            })
        );
    }

    #[test]
    fn patch_sends_only_what_changes_and_null_clears() {
        let patch = WebhookPatch {
            description: Some("d".into()),
            filter_types: Some(None),
            rate_limit: Some(Some(5)),
            ..WebhookPatch::default()
        };
        assert_eq!(
            patch.to_json(),
            serde_json::json!({"description": "d", "filter_types": null, "rate_limit": 5})
        );
        assert!(WebhookPatch::default().is_empty());
        assert!(!patch.is_empty());
    }

    #[test]
    fn validation_details_name_fields_never_inputs() {
        let body = r#"{"detail":[{"type":"value_error","loc":["body","key"],"msg":"Value error, bad secret",
            "input":"whsec_do_not_echo"},{"type":"missing","loc":["body","url"],"msg":"Field required"}]}"#;
        let text = validation_details(body);
        assert_eq!(
            text,
            "body.key: Value error, bad secret; body.url: Field required"
        );
        assert_eq!(
            validation_details(r#"{"detail":"Team not found"}"#),
            "Team not found"
        );
        assert_eq!(validation_details("<html>"), "no details given");
        assert_eq!(validation_details(r#"{"detail":[]}"#), "no details given");
    }

    #[test]
    fn ids_are_encoded_in_paths() {
        assert_eq!(percent_encode("ep_a-b.c~d"), "ep_a-b.c~d");
        assert_eq!(percent_encode("../x y"), "..%2Fx%20y");
    }
}
