//! `jwh webhooks`: manage the team's Junction webhook endpoints through the Org Management API, connect a
//! deployed stack to Junction, and rotate an endpoint's signing secret without a window in which deliveries fail.
//!
//! # Connecting a stack
//!
//! `create --stack NAME` reads the stack's `WebhookUrl` and `WebhookSecretArn` outputs, generates the signing
//! secret itself, adds it to the stack's secret *first* and only then creates the endpoint with it, so the first
//! delivery already verifies. If Junction refuses the endpoint the secret list is put back as it was.
//!
//! # Rotating a secret
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

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;
use base64::Engine as _;
use clap::{ArgGroup, Args, Subcommand};
use jwh_shared::events::EventType;
use jwh_shared::family::Family;
use jwh_shared::signature::{Secret, sign};
use serde::Serialize;

use crate::exit::{CliError, Exit};
use crate::management::{
    ApiError, Client, DEFAULT_BASE_URL, Environment, ManagementKey, NewWebhook, Scope, Webhook,
    WebhookHeaders, WebhookPatch,
};
use crate::sign::{fresh_message_id, unix_now};
use crate::stack_env::{self, StackEnv};

/// Where the management key is read from when no Secrets Manager ARN is given.
pub const KEY_ENV: &str = "JUNCTION_MANAGEMENT_KEY";
/// The event type of the confirmation delivery (unknown to Junction, so the receiver keeps it in catch-all).
pub const CHECK_EVENT_TYPE: &str = "jwh.webhook.secret_rotation_check";
/// Prefix of the tag that records a pending rotation on the signing-secret secret.
pub const ROTATION_TAG_PREFIX: &str = "jwh-rotation/";

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
    org: String,
    /// Junction team id.
    #[arg(long, env = "JUNCTION_TEAM_ID")]
    team: String,
    /// Junction environment.
    #[arg(long, env = "JUNCTION_ENVIRONMENT", value_enum)]
    environment: Environment,
    /// Secrets Manager secret (ARN or name) holding the management key; else JUNCTION_MANAGEMENT_KEY.
    #[arg(long, env = "JUNCTION_MANAGEMENT_KEY_SECRET", value_name = "ARN")]
    management_key_secret: Option<String>,
    /// Base URL of the Org Management API.
    #[arg(long, env = "JUNCTION_MANAGEMENT_API_URL", default_value = DEFAULT_BASE_URL)]
    api_url: String,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    api: ApiArgs,
}

/// Commands on one endpoint.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Endpoint id (`ep_...`).
    id: String,
    #[command(flatten)]
    api: ApiArgs,
}

/// Event types: by family, one by one, or all of them.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Deliver this family's event types (connections, backfills, summaries, timeseries, lab, catch-all);
    /// repeatable.
    #[arg(long = "family")]
    families: Vec<Family>,
    /// Deliver this event type; repeatable, adds to --family.
    #[arg(long = "filter-type")]
    filter_types: Vec<String>,
}

impl FilterArgs {
    /// The filter: `None` when neither flag was given (every event type).
    fn filter_types(&self) -> Option<Vec<String>> {
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
    url: Option<String>,
    /// Deployed stack: its WebhookUrl output is the URL, its WebhookSecretArn output receives the secret.
    #[arg(long)]
    stack: Option<String>,
    /// Secrets Manager secret (ARN or name) holding the receiver's JSON list of signing secrets; overrides the
    /// stack's output.
    #[arg(long, value_name = "ARN")]
    secret_arn: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Description shown in Junction's dashboard.
    #[arg(long)]
    description: Option<String>,
    /// Deliveries per second, at most.
    #[arg(long)]
    rate_limit: Option<i64>,
    /// Create the endpoint paused.
    #[arg(long)]
    disabled: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Endpoint id (`ep_...`).
    id: String,
    /// New receiver URL.
    #[arg(long, conflicts_with = "stack")]
    url: Option<String>,
    /// Take the new URL from this stack's WebhookUrl output.
    #[arg(long)]
    stack: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Deliver every event type (clears the filter).
    #[arg(long, conflicts_with_all = ["families", "filter_types"])]
    all_event_types: bool,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// New rate limit (deliveries per second).
    #[arg(long, conflicts_with = "no_rate_limit")]
    rate_limit: Option<i64>,
    /// Remove the rate limit.
    #[arg(long)]
    no_rate_limit: bool,
    /// Pause deliveries.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Resume deliveries.
    #[arg(long)]
    enable: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// `headers`.
#[derive(Debug, Args)]
pub struct HeadersArgs {
    /// Endpoint id (`ep_...`).
    id: String,
    /// Replace every custom header with these (`NAME=VALUE`, repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_header, conflicts_with = "clear")]
    set: Vec<(String, String)>,
    /// Remove every custom header.
    #[arg(long)]
    clear: bool,
    #[command(flatten)]
    api: ApiArgs,
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
    id: String,
    /// Deployed stack whose WebhookSecretArn output holds the receiver's secret list.
    #[arg(long)]
    stack: Option<String>,
    /// Secrets Manager secret (ARN or name) holding the receiver's JSON list of signing secrets.
    #[arg(long, value_name = "ARN")]
    secret_arn: Option<String>,
    /// Receiver URL for the confirmation delivery; the endpoint's URL at Junction when omitted.
    #[arg(long)]
    url: Option<String>,
    /// How long the old secret stays listed after the rotation (`24h`, `90m`, `30s`, `0`).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    grace: Duration,
    /// How long to retry the confirmation delivery while the receiver picks up the new secret.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    confirm_timeout: Duration,
    /// Skip the confirmation delivery.
    #[arg(long)]
    no_confirm: bool,
    /// After rotating, wait out the grace period and retire the old secret.
    #[arg(long, conflicts_with = "finish")]
    wait: bool,
    /// Retire the old secret of a rotation started earlier.
    #[arg(long)]
    finish: bool,
    /// With --finish: retire even before the grace period is over.
    #[arg(long, requires = "finish")]
    force: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// Runs a `jwh webhooks` command.
pub fn run(command: WebhooksCommand) -> Result<Exit, CliError> {
    let stack = StackEnv::load()?;
    match command {
        WebhooksCommand::List(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let hooks = api.list().map_err(failed)?;
            print!("{}", render_list(&hooks, args.api.json));
        }
        WebhooksCommand::Get(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let hook = api.get(&args.id).map_err(failed)?;
            print!("{}", render_one(&hook, args.api.json));
        }
        WebhooksCommand::Create(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            block_on(create(&api, &args, stack.as_ref()))??;
        }
        WebhooksCommand::Update(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let url = match (&args.url, &args.stack) {
                (Some(url), _) => Some(url.clone()),
                (None, Some(name)) => Some(
                    block_on(stack_target(name, stack.as_ref()))??
                        .url
                        .ok_or_else(|| no_output(name, "WebhookUrl"))?,
                ),
                (None, None) => None,
            };
            let patch = WebhookPatch {
                url,
                description: args.description.clone(),
                rate_limit: if args.no_rate_limit {
                    Some(None)
                } else {
                    args.rate_limit.map(Some)
                },
                disabled: (args.disable || args.enable).then_some(args.disable),
                filter_types: if args.all_event_types {
                    Some(None)
                } else {
                    args.filter.filter_types().map(Some)
                },
            };
            if patch.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: pass --url, --stack, --family, --filter-type, --all-event-types, --description, --rate-limit, --no-rate-limit, --disable or --enable".into(),
                ));
            }
            let hook = api.patch(&args.id, &patch).map_err(failed)?;
            print!("{}", render_one(&hook, args.api.json));
        }
        WebhooksCommand::Delete(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            api.delete(&args.id).map_err(failed)?;
            if args.api.json {
                println!("{}", serde_json::json!({ "deleted": args.id }));
            } else {
                println!("deleted {}", args.id);
            }
        }
        WebhooksCommand::Headers(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            if args.clear || !args.set.is_empty() {
                let headers: BTreeMap<String, String> = args.set.iter().cloned().collect();
                api.set_headers(&args.id, &headers).map_err(failed)?;
            }
            let headers = api.headers(&args.id).map_err(failed)?;
            print!("{}", render_headers(&headers, args.api.json));
        }
        WebhooksCommand::Secret(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let key = api.secret(&args.id).map_err(failed)?;
            if args.api.json {
                println!("{}", serde_json::json!({ "key": key }));
            } else {
                println!("{key}");
            }
        }
        WebhooksCommand::RotateSecret(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            return block_on(rotate(&api, &args, stack.as_ref()))?;
        }
    }
    Ok(Exit::Success)
}

fn failed(e: ApiError) -> CliError {
    CliError::Failed(e.to_string())
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// The API client, with the key from Secrets Manager or the environment.
fn connect(args: &ApiArgs, stack: Option<&StackEnv>) -> Result<Client, CliError> {
    let key = match &args.management_key_secret {
        Some(id) => block_on(async {
            let sm = aws_sdk_secretsmanager::Client::new(&stack_env::sdk_config(stack).await);
            read_management_key(&sm, id).await
        })??,
        None => std::env::var(KEY_ENV)
            .ok()
            .and_then(|v| ManagementKey::new(&v))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no management key: set {KEY_ENV} or pass --management-key-secret ARN"
                ))
            })?,
    };
    let scope = Scope {
        org: args.org.trim().to_owned(),
        team: args.team.trim().to_owned(),
        environment: args.environment,
    };
    Ok(Client::new(
        &args.api_url,
        key,
        scope,
        Duration::from_secs(args.timeout),
    ))
}

/// Reads the management key from a Secrets Manager secret: the plain string, or a JSON object's `key` /
/// `management_key` field, or a JSON string.
pub async fn read_management_key(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<ManagementKey, CliError> {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot read the management key from Secrets Manager secret {id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    let text = out.secret_string().unwrap_or_default();
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => ["key", "management_key"]
            .iter()
            .find_map(|f| o.get(*f).and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_default(),
        _ => text.to_owned(),
    };
    ManagementKey::new(&value).ok_or_else(|| {
        CliError::Failed(format!(
            "Secrets Manager secret {id} holds no management key (expected the key as plain text, or JSON with a \"key\" field)"
        ))
    })
}

/// Every known event type of these families, in the order `EventType::all_known` gives them.
pub fn event_types_of(families: &[Family]) -> Vec<String> {
    EventType::all_known()
        .filter(|t| families.contains(&t.family()))
        .map(|t| t.as_str().into_owned())
        .collect()
}

/// A fresh signing secret in Svix's form: `whsec_` and the base64 of 24 random bytes from the OS.
pub fn fresh_secret() -> Result<String, CliError> {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key)
        .map_err(|e| CliError::Failed(format!("no randomness from the OS: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// A short public name for a secret: 16 hex digits of an HMAC under it of a fixed message. It identifies a secret
/// in a tag or a log line without revealing it. `None` for a value that is not a signing secret.
pub fn fingerprint(secret: &str) -> Option<String> {
    let parsed = Secret::parse(secret).ok()?;
    let signature = sign(&parsed, "jwh-fingerprint", 0, b"");
    let mac = base64::engine::general_purpose::STANDARD
        .decode(signature.strip_prefix("v1,")?)
        .ok()?;
    Some(mac[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// The list with `added` in front, each entry once, and without entries that are not signing secrets (the
/// template's `whsec_REPLACE_ME` placeholder): the ingest function refuses a list holding one. Returns the list
/// and how many entries were dropped.
pub fn with_secrets(existing: &[String], added: &[&str]) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    for s in added
        .iter()
        .map(|s| (*s).to_owned())
        .chain(existing.iter().cloned())
    {
        if Secret::parse(&s).is_err() {
            dropped += 1;
        } else if !out.contains(&s) {
            out.push(s);
        }
    }
    (out, dropped)
}

/// The receiver's signing-secret list in Secrets Manager.
struct SecretList<'a> {
    sm: &'a aws_sdk_secretsmanager::Client,
    id: &'a str,
}

impl SecretList<'_> {
    fn error(&self, action: &str, e: impl std::error::Error) -> CliError {
        CliError::Failed(format!(
            "cannot {action} Secrets Manager secret {}: {}",
            self.id,
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    }

    /// The entries as stored (a placeholder included); empty when the secret has no value yet.
    async fn read(&self) -> Result<Vec<String>, CliError> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(self.id)
            .send()
            .await
            .map_err(|e| self.error("read", e))?;
        match out.secret_string() {
            None => Ok(Vec::new()),
            Some(text) => match jwh_shared::secrets::parse_secret_list(text) {
                Ok(list) => Ok(list),
                Err(jwh_shared::secrets::SecretsError::Empty) => Ok(Vec::new()),
                Err(e) => Err(CliError::Failed(format!("secret {}: {e}", self.id))),
            },
        }
    }

    async fn write(&self, list: &[String]) -> Result<(), CliError> {
        let text = serde_json::to_string(list).map_err(|e| CliError::Failed(e.to_string()))?;
        self.sm
            .put_secret_value()
            .secret_id(self.id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| self.error("write", e))?;
        Ok(())
    }

    async fn tags(&self) -> Result<BTreeMap<String, String>, CliError> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(self.id)
            .send()
            .await
            .map_err(|e| self.error("describe", e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    }

    async fn tag(&self, key: &str, value: &str) -> Result<(), CliError> {
        self.sm
            .tag_resource()
            .secret_id(self.id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| self.error("tag", e))?;
        Ok(())
    }

    async fn untag(&self, key: &str) -> Result<(), CliError> {
        self.sm
            .untag_resource()
            .secret_id(self.id)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| self.error("untag", e))?;
        Ok(())
    }
}

/// What a stack's outputs say about the receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackTarget {
    /// `WebhookUrl`.
    pub url: Option<String>,
    /// `WebhookSecretArn`.
    pub secret_arn: Option<String>,
}

async fn stack_target(name: &str, stack: Option<&StackEnv>) -> Result<StackTarget, CliError> {
    let cfn = aws_sdk_cloudformation::Client::new(&stack_env::sdk_config(stack).await);
    let out = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot read the outputs of stack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            ))
        })?;
    let outputs: BTreeMap<String, String> = out
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(StackTarget {
        url: outputs.get("WebhookUrl").cloned(),
        secret_arn: outputs.get("WebhookSecretArn").cloned(),
    })
}

fn no_output(stack: &str, output: &str) -> CliError {
    CliError::Failed(format!(
        "stack {stack} has no {output} output: is it this project's stack?"
    ))
}

async fn create(api: &Client, args: &CreateArgs, stack: Option<&StackEnv>) -> Result<(), CliError> {
    let target = match &args.stack {
        Some(name) => stack_target(name, stack).await?,
        None => StackTarget::default(),
    };
    let url = match (&args.url, &args.stack) {
        (Some(url), _) => url.clone(),
        (None, Some(name)) => target
            .url
            .clone()
            .ok_or_else(|| no_output(name, "WebhookUrl"))?,
        (None, None) => return Err(CliError::Usage("pass --url or --stack".into())),
    };
    let secret_arn = match (&args.secret_arn, &args.stack) {
        (Some(arn), _) => Some(arn.clone()),
        (None, Some(name)) => Some(
            target
                .secret_arn
                .clone()
                .ok_or_else(|| no_output(name, "WebhookSecretArn"))?,
        ),
        (None, None) => None,
    };
    let secret = fresh_secret()?;
    let new = NewWebhook {
        url,
        description: args.description.clone(),
        rate_limit: args.rate_limit,
        disabled: args.disabled,
        filter_types: args.filter.filter_types(),
        secret: Some(secret.clone()),
    };
    let config = stack_env::sdk_config(stack).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let Some(arn) = secret_arn else {
        let hook = api.create(&new).map_err(failed)?;
        print!("{}", render_one(&hook, args.api.json));
        eprintln!(
            "jwh: the signing secret was not stored anywhere (no --stack or --secret-arn); `jwh webhooks secret {}` prints it",
            hook.id
        );
        return Ok(());
    };
    let list = SecretList { sm: &sm, id: &arn };
    let before = list.read().await?;
    let (with_new, dropped) = with_secrets(&before, &[&secret]);
    list.write(&with_new).await?;
    let hook = match api.create(&new) {
        Ok(hook) => hook,
        Err(e) => {
            // Junction has no endpoint with this secret: put the list back as it was.
            let restored = list.write(&before).await;
            let note = match restored {
                Ok(()) => "the secret list was put back as it was".to_owned(),
                Err(r) => format!("and putting the secret list back failed too: {r}"),
            };
            return Err(CliError::Failed(format!("{e} ({note})")));
        }
    };
    // Junction could in principle ignore a secret it is given: list whatever it signs with.
    let actual = api.secret(&hook.id).map_err(failed)?;
    let mut stored = with_new;
    if actual != secret {
        let (corrected, _) = with_secrets(&before, &[&actual]);
        list.write(&corrected).await?;
        stored = corrected;
    }
    print!("{}", render_one(&hook, args.api.json));
    eprintln!(
        "jwh: signing secret {} stored in {arn} ({} active{})",
        fingerprint(&actual).unwrap_or_default(),
        stored.len(),
        if dropped > 0 {
            format!(", {dropped} placeholder entry removed")
        } else {
            String::new()
        }
    );
    Ok(())
}

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

async fn rotate(
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

/// A table of endpoints (id, disabled, event types, URL), or a JSON array.
pub fn render_list(hooks: &[Webhook], json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(hooks).unwrap_or_default());
    }
    let rows: Vec<[String; 4]> = hooks
        .iter()
        .map(|h| {
            [
                h.id.clone(),
                if h.disabled == Some(true) {
                    "disabled"
                } else {
                    "enabled"
                }
                .to_owned(),
                event_types_cell(h),
                h.url.clone(),
            ]
        })
        .collect();
    table(&["ID", "STATE", "EVENT TYPES", "URL"], &rows)
}

/// One endpoint as `field  value` lines, or a JSON object.
pub fn render_one(hook: &Webhook, json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(hook).unwrap_or_default());
    }
    let rows = vec![
        ["id".to_owned(), hook.id.clone()],
        ["url".to_owned(), hook.url.clone()],
        [
            "state".to_owned(),
            if hook.disabled == Some(true) {
                "disabled"
            } else {
                "enabled"
            }
            .to_owned(),
        ],
        ["event types".to_owned(), event_types_cell(hook)],
        [
            "rate limit".to_owned(),
            hook.rate_limit
                .map_or_else(|| "none".to_owned(), |r| format!("{r}/s")),
        ],
        [
            "description".to_owned(),
            hook.description.clone().unwrap_or_default(),
        ],
        ["created".to_owned(), hook.created_at.clone()],
        ["updated".to_owned(), hook.updated_at.clone()],
    ];
    table(&["FIELD", "VALUE"], &rows)
}

/// The headers as `NAME  VALUE` rows (sensitive ones as `(hidden)`), or Junction's JSON.
pub fn render_headers(headers: &WebhookHeaders, json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(headers).unwrap_or_default());
    }
    let mut rows: Vec<[String; 2]> = headers
        .headers
        .iter()
        .map(|(k, v)| [k.clone(), v.clone()])
        .collect();
    rows.extend(
        headers
            .sensitive
            .iter()
            .map(|k| [k.clone(), "(hidden)".to_owned()]),
    );
    rows.sort();
    table(&["NAME", "VALUE"], &rows)
}

fn event_types_cell(hook: &Webhook) -> String {
    match &hook.filter_types {
        None => "all".to_owned(),
        Some(types) if types.len() <= 2 => types.join(","),
        Some(types) => format!("{} ({} more)", types[0], types.len() - 1),
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const B: &str = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhpcyBlbmRwb2ludA==";

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
    fn fresh_secrets_are_svix_shaped_and_distinct() {
        let a = fresh_secret().unwrap();
        let b = fresh_secret().unwrap();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(s.starts_with("whsec_"));
            assert_eq!(s.len(), "whsec_".len() + 32);
            assert!(Secret::parse(s).is_ok());
        }
    }

    #[test]
    fn fingerprints_are_stable_short_and_not_the_secret() {
        let fp = fingerprint(A).unwrap();
        assert_eq!(fp.len(), 16);
        assert_eq!(fingerprint(A), Some(fp.clone()));
        assert_ne!(fingerprint(B), Some(fp.clone()));
        assert!(!A.contains(&fp));
        assert_eq!(fingerprint("whsec_REPLACE_ME"), None);
    }

    #[test]
    fn secret_lists_put_the_new_first_keep_others_and_drop_the_placeholder() {
        let existing = vec!["whsec_REPLACE_ME".to_owned()];
        assert_eq!(with_secrets(&existing, &[A]), (vec![A.to_owned()], 1));
        let existing = vec![B.to_owned(), A.to_owned()];
        assert_eq!(
            with_secrets(&existing, &[A]),
            (vec![A.to_owned(), B.to_owned()], 0)
        );
        assert_eq!(
            with_secrets(&[], &[A, B]),
            (vec![A.to_owned(), B.to_owned()], 0)
        );
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

    #[test]
    fn tables_align_columns() {
        let hook = Webhook {
            id: "ep_1".into(),
            description: None,
            rate_limit: None,
            url: "https://r.example/w".into(),
            disabled: Some(true),
            filter_types: Some(vec!["a".into(), "b".into(), "c".into()]),
            created_at: "t0".into(),
            updated_at: "t1".into(),
        };
        assert_eq!(
            render_list(std::slice::from_ref(&hook), false),
            "ID    STATE     EVENT TYPES  URL\nep_1  disabled  a (2 more)   https://r.example/w\n"
        );
        let headers = WebhookHeaders {
            headers: [("X-Env".to_owned(), "prod".to_owned())].into(),
            sensitive: vec!["Authorization".into()],
        };
        assert_eq!(
            render_headers(&headers, false),
            "NAME           VALUE\nAuthorization  (hidden)\nX-Env          prod\n"
        );
    }
}
