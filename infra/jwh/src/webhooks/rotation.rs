//! `jwh webhooks rotate-secret`: the rotation protocol, which replaces an endpoint's signing secret without a
//! window in which deliveries fail.
//!
//! The ingest function accepts any secret of the JSON list in Secrets Manager and re-reads the list after a
//! failed verification (at most once a minute per instance). Svix signs every delivery with both the old and the
//! new secret for 24 hours after a rotation. `rotate-secret` therefore:
//!
//! 1. reads the endpoint and its current (old) secret from Junction;
//! 2. generates the new secret and writes `[new, old, ...]` to Secrets Manager;
//! 3. rotates at Junction to that exact secret (`POST .../secret/rotate` with `key`), and reads it back;
//! 4. records in a tag of the secret (`jwh-rotation/<webhook id>`: a fingerprint of the old secret, never the
//!    secret, and the time it may be retired, `--grace` after now, 24 h by default);
//! 5. confirms: POSTs a test delivery signed with the new secret alone to the endpoint's URL, retrying a 401 for up
//!    to `--confirm-timeout` while ingest instances pick up the new list;
//! 6. with `--wait`, sleeps through the grace period and retires the old secret; otherwise
//!    `rotate-secret --finish` does that later, and refuses before the grace period is over (unless `--force`).
//!
//! At no point does the list lack a secret Junction signs with: the new one is listed before Junction uses it, and
//! the old one stays listed for as long as Svix still signs with it.

use std::time::Duration;

use jwh_shared::signature::{Secret, sign};
use serde::Serialize;

use super::args::RotateArgs;
use super::failed;
use super::secret_list::{SecretList, fingerprint, fresh_secret, with_secrets};
use super::stack::{no_output, stack_target};
use crate::exit::{CliError, Exit};
use crate::management::Client;
use crate::sign::{fresh_message_id, unix_now};
use crate::stack_env::{self, StackEnv};

/// The event type of the confirmation delivery (unknown to Junction, so the receiver keeps it in catch-all).
pub const CHECK_EVENT_TYPE: &str = "jwh.webhook.secret_rotation_check";
/// Prefix of the tag that records a pending rotation on the signing-secret secret.
pub const ROTATION_TAG_PREFIX: &str = "jwh-rotation/";

/// A rotation waiting for its old secret to be retired, as recorded in the secret's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRotation {
    /// Fingerprint of the old secret.
    pub retire: String,
    /// Unix seconds from which it may be retired.
    pub after: i64,
}

impl PendingRotation {
    /// The tag value: `retire=<fingerprint> after=<RFC 3339>`.
    pub fn to_tag(&self) -> String {
        format!("retire={} after={}", self.retire, rfc3339(self.after))
    }

    /// Parses a tag value written by [`PendingRotation::to_tag`].
    pub fn parse(value: &str) -> Option<PendingRotation> {
        let mut retire = None;
        let mut after = None;
        for part in value.split_whitespace() {
            match part.split_once('=') {
                Some(("retire", v)) => retire = Some(v.to_owned()),
                Some(("after", v)) => {
                    after = chrono::DateTime::parse_from_rfc3339(v)
                        .ok()
                        .map(|t| t.timestamp());
                }
                _ => {}
            }
        }
        Some(PendingRotation {
            retire: retire?,
            after: after?,
        })
    }
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What a rotation did, for `--json` and the tests.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// Endpoint id.
    pub webhook_id: String,
    /// The receiver's secret.
    pub secret_arn: String,
    /// Fingerprint of the secret Junction now signs with.
    pub new_secret: Option<String>,
    /// Fingerprint of the secret retired (or to be retired).
    pub old_secret: Option<String>,
    /// Secrets listed at the end.
    pub active_secrets: usize,
    /// When the old secret may be retired (RFC 3339), while it is still listed.
    pub retire_after: Option<String>,
    /// Confirmation deliveries sent (0 when skipped).
    pub confirm_attempts: u32,
    /// Whether the old secret was retired by this run.
    pub retired: bool,
}

/// Runs `rotate-secret` (steps 1 to 6 above) or, with `--finish`, only its retirement of the old secret.
pub(super) async fn rotate(
    api: &Client,
    args: &RotateArgs,
    stack: Option<&StackEnv>,
) -> Result<Exit, CliError> {
    let arn = match (&args.secret_arn, &args.stack) {
        (Some(arn), _) => arn.clone(),
        (None, Some(name)) => stack_target(name, stack)
            .await?
            .secret_arn
            .ok_or_else(|| no_output(name, "WebhookSecretArn"))?,
        (None, None) => return Err(CliError::Usage("pass --stack or --secret-arn".into())),
    };
    let config = stack_env::sdk_config(stack).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let list = SecretList { sm: &sm, id: &arn };
    let tag_key = format!("{ROTATION_TAG_PREFIX}{}", args.id);
    let say = |line: String| {
        if !args.api.json {
            println!("{line}");
        }
    };
    let mut report = RotationReport {
        webhook_id: args.id.clone(),
        secret_arn: arn.clone(),
        new_secret: None,
        old_secret: None,
        active_secrets: 0,
        retire_after: None,
        confirm_attempts: 0,
        retired: false,
    };
    if !args.finish {
        if let Some(pending) = list.tags().await?.get(&tag_key) {
            return Err(CliError::Failed(format!(
                "a rotation of {} is already pending ({pending}): retire its old secret first with `jwh webhooks rotate-secret {} --finish`",
                args.id, args.id
            )));
        }
        let hook = api.get(&args.id).map_err(failed)?;
        let old = api.secret(&args.id).map_err(failed)?;
        let before = list.read().await?;
        let new = fresh_secret()?;
        let (listed, _) = with_secrets(&before, &[&new, &old]);
        list.write(&listed).await?;
        say(format!(
            "1/4 listed the new secret {} beside the old {} in {arn} ({} active)",
            fingerprint(&new).unwrap_or_default(),
            fingerprint(&old).unwrap_or_default(),
            listed.len()
        ));
        if let Err(e) = api.rotate_secret(&args.id, Some(&new)) {
            let restored = list.write(&before).await;
            let note = match restored {
                Ok(()) => {
                    "nothing changed at Junction; the secret list was put back as it was".to_owned()
                }
                Err(r) => format!("putting the secret list back failed too: {r}"),
            };
            return Err(CliError::Failed(format!("{e} ({note})")));
        }
        let current = api.secret(&args.id).map_err(failed)?;
        let mut active = listed.len();
        if current != new {
            let (corrected, _) = with_secrets(&listed, &[&current]);
            list.write(&corrected).await?;
            active = corrected.len();
        }
        let pending = PendingRotation {
            retire: fingerprint(&old).unwrap_or_default(),
            after: unix_now() + i64::try_from(args.grace.as_secs()).unwrap_or(i64::MAX / 2),
        };
        list.tag(&tag_key, &pending.to_tag()).await?;
        say(format!(
            "2/4 rotated at Junction: {} signs with {} (and with {} until Svix drops it)",
            args.id,
            fingerprint(&current).unwrap_or_default(),
            fingerprint(&old).unwrap_or_default()
        ));
        report.new_secret = fingerprint(&current);
        report.old_secret = fingerprint(&old);
        report.active_secrets = active;
        report.retire_after = Some(rfc3339(pending.after));
        if args.no_confirm {
            say("3/4 confirmation skipped (--no-confirm)".into());
        } else {
            let url = args.url.clone().unwrap_or(hook.url);
            let (attempts, outcome) =
                confirm_delivery(&url, &current, &args.id, args.confirm_timeout);
            report.confirm_attempts = attempts;
            match outcome {
                Ok(status) => say(format!(
                    "3/4 confirmed: a delivery signed with the new secret alone got HTTP {status} from {url} ({attempts} attempt{})",
                    if attempts == 1 { "" } else { "s" }
                )),
                Err(why) => {
                    return Err(CliError::Failed(format!(
                        "the receiver at {url} did not accept a delivery signed with the new secret: {why}. Junction signs with both secrets until the old one expires, so deliveries still verify; the old secret stays listed. Check the receiver, then `jwh webhooks rotate-secret {} --finish` once it accepts the new secret",
                        args.id
                    )));
                }
            }
        }
        if !args.wait {
            say(format!(
                "4/4 the old secret stays listed until {}; then run `jwh webhooks rotate-secret {} --finish`",
                rfc3339(pending.after),
                args.id
            ));
            if args.api.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            }
            return Ok(Exit::Success);
        }
        let wait = pending.after - unix_now();
        if wait > 0 {
            say(format!(
                "waiting {wait} s for the grace period to end ({})",
                rfc3339(pending.after)
            ));
            tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
        }
    }
    // Retire.
    let tags = list.tags().await?;
    let Some(pending) = tags.get(&tag_key).and_then(|v| PendingRotation::parse(v)) else {
        return Err(CliError::Failed(format!(
            "no rotation of {} is pending in {arn} (no {tag_key} tag): nothing to retire",
            args.id
        )));
    };
    let now = unix_now();
    if now < pending.after && !args.force {
        return Err(CliError::Failed(format!(
            "the old secret of {} may be retired from {} (Svix may still sign with it until then); run again after that, or pass --force",
            args.id,
            rfc3339(pending.after)
        )));
    }
    let current = api.secret(&args.id).map_err(failed)?;
    if fingerprint(&current).as_deref() == Some(pending.retire.as_str()) {
        return Err(CliError::Failed(format!(
            "refusing to retire {}: it is the secret Junction signs {} with now",
            pending.retire, args.id
        )));
    }
    let before = list.read().await?;
    let kept: Vec<String> = before
        .iter()
        .filter(|s| fingerprint(s).as_deref() != Some(pending.retire.as_str()))
        .cloned()
        .collect();
    let (kept, _) = with_secrets(&kept, &[&current]);
    list.write(&kept).await?;
    list.untag(&tag_key).await?;
    report.old_secret = Some(pending.retire.clone());
    report.new_secret = fingerprint(&current);
    report.active_secrets = kept.len();
    report.retired = true;
    say(format!(
        "retired the old secret {} from {arn} ({} active)",
        pending.retire,
        kept.len()
    ));
    if args.api.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    }
    Ok(Exit::Success)
}

/// POSTs a small test delivery signed with `secret` alone to `url`, as Svix would, until it gets a 2xx or
/// `timeout` passes. A 401 is retried: an ingest instance re-reads the secret list at most once a minute. Returns
/// the attempts made, and the accepted status or why it failed.
pub fn confirm_delivery(
    url: &str,
    secret: &str,
    webhook_id: &str,
    timeout: Duration,
) -> (u32, Result<u16, String>) {
    let Ok(parsed) = Secret::parse(secret) else {
        return (
            0,
            Err("Junction's secret is not a valid signing secret".into()),
        );
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("jwh/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let body = serde_json::json!({
        "event_type": CHECK_EVENT_TYPE,
        "data": { "webhook_id": webhook_id, "checked_at": rfc3339(unix_now()) },
    })
    .to_string();
    let deadline = std::time::Instant::now() + timeout;
    let mut attempts = 0;
    let mut pause = Duration::from_millis(250);
    loop {
        attempts += 1;
        let id = fresh_message_id();
        let timestamp = unix_now();
        let response = agent
            .post(url)
            .header("content-type", "application/json")
            .header("svix-id", &id)
            .header("svix-timestamp", timestamp.to_string())
            .header(
                "svix-signature",
                sign(&parsed, &id, timestamp, body.as_bytes()),
            )
            .send(body.as_bytes());
        let why = match response {
            Ok(r) if r.status().is_success() => return (attempts, Ok(r.status().as_u16())),
            Ok(r) => {
                let status = r.status().as_u16();
                if status != 401 && !(500..600).contains(&status) {
                    return (attempts, Err(format!("HTTP {status}")));
                }
                format!("HTTP {status}")
            }
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() + pause > deadline {
            return (
                attempts,
                Err(format!("{why} after {attempts} attempts in {timeout:?}")),
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rotation_round_trips_through_its_tag() {
        let p = PendingRotation {
            retire: "0123456789abcdef".into(),
            after: 1_764_500_000,
        };
        assert_eq!(
            p.to_tag(),
            "retire=0123456789abcdef after=2025-11-30T10:53:20Z"
        );
        assert_eq!(PendingRotation::parse(&p.to_tag()), Some(p));
        assert_eq!(PendingRotation::parse("retire=x"), None);
    }
}
