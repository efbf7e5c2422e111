//! The command line of `jwh webhooks` (clap): one argument struct per subcommand, the flags every subcommand
//! shares ([`ApiArgs`]), and the parsers of the values they take (event-type filters, durations, headers).

use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use jwh_shared::events::EventType;
use jwh_shared::family::Family;

use crate::management::{DEFAULT_BASE_URL, Environment};

const EXIT_CODES: &str = "Exit codes: 0 done; 1 Junction, AWS or the receiver refused or failed (the message says which and why); 2 usage error (missing org, team, environment or management key).";

/// Manage the team's Junction webhooks through the Org Management API.
///
/// The management key comes from --management-key-secret (a Secrets Manager ARN or name holding the key) or else
/// the JUNCTION_MANAGEMENT_KEY environment variable; it is never printed. Org, team and environment come from
/// the flags or JUNCTION_ORG_ID, JUNCTION_TEAM_ID and JUNCTION_ENVIRONMENT.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the team's webhook endpoints in the environment.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// Show one endpoint.
    #[command(after_help = EXIT_CODES)]
    Get(IdArgs),
    /// Create an endpoint, store its signing secret in the stack's secret first.
    #[command(after_help = EXIT_CODES)]
    Create(CreateArgs),
    /// Change an endpoint's URL, description, rate limit, event types, or pause it.
    #[command(after_help = EXIT_CODES)]
    Update(UpdateArgs),
    /// Delete an endpoint.
    #[command(after_help = EXIT_CODES)]
    Delete(IdArgs),
    /// Show an endpoint's custom headers, or replace them all with --set / --clear.
    #[command(after_help = EXIT_CODES)]
    Headers(HeadersArgs),
    /// Print an endpoint's current signing secret.
    #[command(after_help = EXIT_CODES)]
    Secret(IdArgs),
    // Its help is RotateArgs' doc comment.
    #[command(after_help = EXIT_CODES)]
    RotateSecret(RotateArgs),
}

/// Where the Org Management API is and which team's webhooks to manage.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Junction org id.
    #[arg(long, env = "JUNCTION_ORG_ID")]
    pub(super) org: String,
    /// Junction team id.
    #[arg(long, env = "JUNCTION_TEAM_ID")]
    pub(super) team: String,
    /// Junction environment.
    #[arg(long, env = "JUNCTION_ENVIRONMENT", value_enum)]
    pub(super) environment: Environment,
    /// Secrets Manager secret (ARN or name) holding the management key; else JUNCTION_MANAGEMENT_KEY.
    #[arg(long, env = "JUNCTION_MANAGEMENT_KEY_SECRET", value_name = "ARN")]
    pub(super) management_key_secret: Option<String>,
    /// Base URL of the Org Management API.
    #[arg(long, env = "JUNCTION_MANAGEMENT_API_URL", default_value = DEFAULT_BASE_URL)]
    pub(super) api_url: String,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) timeout: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(super) json: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// Commands on one endpoint.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Endpoint id (`ep_...`).
    pub(super) id: String,
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// Event types: by family, one by one, or all of them.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Deliver this family's event types (connections, backfills, summaries, timeseries, lab, catch-all);
    /// repeatable.
    #[arg(long = "family")]
    pub(super) families: Vec<Family>,
    /// Deliver this event type; repeatable, adds to --family.
    #[arg(long = "filter-type")]
    pub(super) filter_types: Vec<String>,
}

impl FilterArgs {
    /// The filter: `None` when neither flag was given (every event type).
    pub(super) fn filter_types(&self) -> Option<Vec<String>> {
        if self.families.is_empty() && self.filter_types.is_empty() {
            return None;
        }
        let mut out = event_types_of(&self.families);
        for t in &self.filter_types {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        Some(out)
    }
}

/// `create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["url", "stack"])))]
pub struct CreateArgs {
    /// Receiver URL; or take it from --stack.
    #[arg(long)]
    pub(super) url: Option<String>,
    /// Deployed stack: its WebhookUrl output is the URL, its WebhookSecretArn output receives the secret.
    #[arg(long)]
    pub(super) stack: Option<String>,
    /// Secrets Manager secret (ARN or name) holding the receiver's JSON list of signing secrets; overrides the
    /// stack's output.
    #[arg(long, value_name = "ARN")]
    pub(super) secret_arn: Option<String>,
    #[command(flatten)]
    pub(super) filter: FilterArgs,
    /// Description shown in Junction's dashboard.
    #[arg(long)]
    pub(super) description: Option<String>,
    /// Deliveries per second, at most.
    #[arg(long)]
    pub(super) rate_limit: Option<i64>,
    /// Create the endpoint paused.
    #[arg(long)]
    pub(super) disabled: bool,
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Endpoint id (`ep_...`).
    pub(super) id: String,
    /// New receiver URL.
    #[arg(long, conflicts_with = "stack")]
    pub(super) url: Option<String>,
    /// Take the new URL from this stack's WebhookUrl output.
    #[arg(long)]
    pub(super) stack: Option<String>,
    #[command(flatten)]
    pub(super) filter: FilterArgs,
    /// Deliver every event type (clears the filter).
    #[arg(long, conflicts_with_all = ["families", "filter_types"])]
    pub(super) all_event_types: bool,
    /// New description.
    #[arg(long)]
    pub(super) description: Option<String>,
    /// New rate limit (deliveries per second).
    #[arg(long, conflicts_with = "no_rate_limit")]
    pub(super) rate_limit: Option<i64>,
    /// Remove the rate limit.
    #[arg(long)]
    pub(super) no_rate_limit: bool,
    /// Pause deliveries.
    #[arg(long, conflicts_with = "enable")]
    pub(super) disable: bool,
    /// Resume deliveries.
    #[arg(long)]
    pub(super) enable: bool,
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// `headers`.
#[derive(Debug, Args)]
pub struct HeadersArgs {
    /// Endpoint id (`ep_...`).
    pub(super) id: String,
    /// Replace every custom header with these (`NAME=VALUE`, repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_header, conflicts_with = "clear")]
    pub(super) set: Vec<(String, String)>,
    /// Remove every custom header.
    #[arg(long)]
    pub(super) clear: bool,
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// Rotate an endpoint's signing secret with no window of failed deliveries.
///
/// Adds a new secret to the receiver's list in Secrets Manager, rotates at Junction to exactly that secret,
/// confirms that a delivery signed with it alone is accepted by the receiver, and records when the old secret may
/// be retired (--grace after now; Svix keeps signing with the old secret for 24 hours). Retire it with --wait
/// (sleeps through the grace period) or later with --finish.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["stack", "secret_arn"])))]
pub struct RotateArgs {
    /// Endpoint id (`ep_...`).
    pub(super) id: String,
    /// Deployed stack whose WebhookSecretArn output holds the receiver's secret list.
    #[arg(long)]
    pub(super) stack: Option<String>,
    /// Secrets Manager secret (ARN or name) holding the receiver's JSON list of signing secrets.
    #[arg(long, value_name = "ARN")]
    pub(super) secret_arn: Option<String>,
    /// Receiver URL for the confirmation delivery; the endpoint's URL at Junction when omitted.
    #[arg(long)]
    pub(super) url: Option<String>,
    /// How long the old secret stays listed after the rotation (`24h`, `90m`, `30s`, `0`).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub(super) grace: Duration,
    /// How long to retry the confirmation delivery while the receiver picks up the new secret.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub(super) confirm_timeout: Duration,
    /// Skip the confirmation delivery.
    #[arg(long)]
    pub(super) no_confirm: bool,
    /// After rotating, wait out the grace period and retire the old secret.
    #[arg(long, conflicts_with = "finish")]
    pub(super) wait: bool,
    /// Retire the old secret of a rotation started earlier.
    #[arg(long)]
    pub(super) finish: bool,
    /// With --finish: retire even before the grace period is over.
    #[arg(long, requires = "finish")]
    pub(super) force: bool,
    #[command(flatten)]
    pub(super) api: ApiArgs,
}

/// Every known event type of these families, in the order `EventType::all_known` gives them.
pub fn event_types_of(families: &[Family]) -> Vec<String> {
    EventType::all_known()
        .filter(|t| families.contains(&t.family()))
        .map(|t| t.as_str().into_owned())
        .collect()
}

/// `NAME=VALUE`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| "expected NAME=VALUE".to_owned())?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{name:?} is not a header name"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// `24h`, `90m`, `30s`, `2d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 24h, 90m, 30s)"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misuse_is_a_usage_error() {
        use clap::Parser as _;
        let scope = ["--org", "o", "--team", "t", "--environment", "sandbox"];
        for extra in [
            &["rotate-secret", "ep_1"][..],
            &["rotate-secret", "ep_1", "--stack", "s", "--secret-arn", "a"],
            &["rotate-secret", "ep_1", "--stack", "s", "--force"],
            &[
                "rotate-secret",
                "ep_1",
                "--stack",
                "s",
                "--finish",
                "--wait",
            ],
            &["rotate-secret", "ep_1", "--stack", "s", "--grace", "soon"],
            &["create"],
            &[
                "create",
                "--url",
                "https://r.example",
                "--family",
                "timeseries_x",
            ],
            &["update", "ep_1", "--all-event-types", "--family", "lab"],
            &["update", "ep_1", "--enable", "--disable"],
            &["headers", "ep_1", "--set", "no-value"],
            &["list", "--environment", "staging"],
        ] {
            let mut argv = vec!["jwh", "webhooks"];
            argv.extend_from_slice(extra);
            if !extra.contains(&"--environment") {
                argv.extend_from_slice(&scope);
            }
            let err = crate::Cli::try_parse_from(&argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{argv:?}: {err}");
        }
        let mut argv = vec![
            "jwh", "webhooks", "create", "--stack", "s", "--family", "lab",
        ];
        argv.extend_from_slice(&scope);
        assert!(crate::Cli::try_parse_from(&argv).is_ok());
    }

    #[test]
    fn families_map_to_their_event_types() {
        let lab = event_types_of(&[Family::Lab]);
        assert!(
            lab.iter()
                .all(|t| t.starts_with("labtest.") || t.starts_with("lab_report."))
        );
        assert!(lab.contains(&"labtest.order.created".to_owned()), "{lab:?}");
        let timeseries = event_types_of(&[Family::Timeseries]);
        assert!(timeseries.contains(&"daily.data.heartrate.created".to_owned()));
        assert!(!timeseries.contains(&"daily.data.sleep.created".to_owned()));
        let all = event_types_of(&Family::ALL);
        assert_eq!(all.len(), 194);
        let filter = FilterArgs {
            families: vec![Family::CatchAll],
            filter_types: vec!["provider.connection.created".into()],
        };
        assert_eq!(
            filter.filter_types().unwrap(),
            vec![
                "continuous_query.result_table.changed".to_owned(),
                "provider.connection.created".to_owned()
            ]
        );
        assert_eq!(
            FilterArgs {
                families: vec![],
                filter_types: vec![]
            }
            .filter_types(),
            None
        );
    }

    #[test]
    fn durations_and_headers_parse() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
        assert_eq!(
            parse_header("X-Env=prod=1"),
            Ok(("X-Env".to_owned(), "prod=1".to_owned()))
        );
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("bad name=x").is_err());
    }
}
