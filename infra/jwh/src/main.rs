//! `jwh`: the developer and operations CLI of the Junction webhook receiver.
//!
//! This file holds the command line (clap), the dispatch, and the exit codes; each command's logic lives in its
//! own module as plain functions, tested there.

mod archive_replay;
mod backfill;
mod dlq;
mod exit;
mod inspect;
mod management;
mod query;
mod queues;
mod replay;
mod send;
mod sign;
mod stack_env;
mod users;
mod verify;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use jwh_shared::signature::DEFAULT_TOLERANCE_SECS;

use crate::exit::{CliError, Exit, read_body};
use crate::stack_env::StackEnv;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (signature valid, body is a Junction event, every delivery accepted, ...)
  1  the answer is no, or the work failed (invalid signature, not an event, a non-2xx response, an AWS error)
  2  usage error (bad or missing argument, unreadable file, missing setting)";

/// Developer and operations CLI for the Junction webhook receiver.
///
/// Signs, verifies and inspects Junction (Svix-delivered) webhooks, sends them to a receiver, and reads what the
/// receiver stored. Settings of the running local stack come from .dev/stack.env (written by `make dev`),
/// found in the current directory or a parent; environment variables override it.
#[derive(Debug, Parser)]
#[command(name = "jwh", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Sign(SignArgs),
    Verify(VerifyArgs),
    Inspect(InspectArgs),
    Send(SendArgs),
    Query(QueryArgs),
    #[command(
        subcommand,
        after_help = "Exit codes: see `jwh dlq list --help` and `jwh dlq redrive --help`."
    )]
    Dlq(DlqCommand),
    Replay(ReplayArgs),
    #[command(subcommand)]
    Backfill(backfill::BackfillCommand),
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// A user's data: `jwh users delete` removes everything the stack holds of one user.
    #[command(subcommand)]
    Users(users::UsersCommand),
}

/// Print the Svix headers Junction would send with a body.
///
/// Prints `svix-id: ...`, `svix-timestamp: ...` and `svix-signature: v1,...`, one per line. The signed content
/// is `{id}.{timestamp}.{body}` with the body byte for byte (a trailing newline counts).
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 printed; 2 usage error (malformed secret, unreadable file).")]
struct SignArgs {
    /// Endpoint signing secret (`whsec_...`).
    #[arg(long, env = "JWH_SECRET", hide_env_values = true)]
    secret: String,
    /// Message id (`svix-id`); a fresh `msg_...` when omitted.
    #[arg(long)]
    id: Option<String>,
    /// Unix seconds to sign with; now when omitted.
    #[arg(long, allow_negative_numbers = true)]
    timestamp: Option<i64>,
    /// Body file; stdin when omitted or `-`.
    file: Option<PathBuf>,
}

/// Check a delivery's signature as the receiver would.
///
/// Prints `valid`, or `invalid: <reason>` (malformed secret, malformed timestamp, too old, too new, no matching
/// signature). Secrets are never printed.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 valid; 1 invalid (the reason is printed); 2 usage error (missing flag, unreadable file)."
)]
struct VerifyArgs {
    /// Endpoint signing secret (`whsec_...`); repeat to accept any of several (rotation).
    #[arg(
        long = "secret",
        required = true,
        env = "JWH_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<String>,
    /// The `svix-id` header.
    #[arg(long)]
    id: String,
    /// The `svix-timestamp` header, as received.
    #[arg(long, allow_hyphen_values = true)]
    timestamp: String,
    /// The `svix-signature` header: space-separated `v1,<base64>` entries.
    #[arg(long)]
    signature: String,
    /// Unix seconds to verify at; the clock when omitted.
    #[arg(long, allow_negative_numbers = true)]
    now: Option<i64>,
    /// Seconds the timestamp may be from `--now`, either way.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE_SECS)]
    tolerance: u64,
    /// Body file; stdin when omitted or `-`.
    file: Option<PathBuf>,
}

/// Describe a body: event type, family, resource, user and deduplication keys, as JSON.
///
/// For a timeseries batch, `keys` holds the key of the first sample only and `sample_count` the batch size;
/// otherwise `keys` holds every record key the event yields.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 a Junction event (known event type); 1 not one (not JSON, no event_type, unknown type, missing identifying field); 2 usage error."
)]
struct InspectArgs {
    /// Body file; stdin when omitted or `-`.
    file: Option<PathBuf>,
}

/// Sign and POST bodies to a receiver, as Junction would deliver them.
///
/// Each body gets a fresh `svix-id` (`msg_...`) unless --id is given, and is signed with the current timestamp
/// when sent. A directory means its *.json files, in name order. The URL and secret come from --url/--secret,
/// else JWH_URL/JWH_SECRET, else WEBHOOK_URL/WEBHOOK_SECRET in .dev/stack.env. Prints
/// `sent N, accepted N, rejected N` and one line per delivery that was not 2xx.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every delivery got a 2xx; 1 any did not (or the receiver was unreachable); 2 usage error (no URL or secret, unreadable file)."
)]
struct SendArgs {
    /// Receiver URL (http:// or https://).
    #[arg(long, env = "JWH_URL")]
    url: Option<String>,
    /// Endpoint signing secret (`whsec_...`).
    #[arg(long, env = "JWH_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Use this `svix-id` for every body instead of a fresh one per body.
    #[arg(long)]
    id: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Send each body this many times with the same `svix-id` (duplicate delivery).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    repeat: u32,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Body files or directories (`-` for stdin).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// Read stored records back as JSON lines.
///
/// With --user: every record of the user, timeseries hour buckets expanded into one sample per line; with
/// --resource, only that resource (samples for a timeseries resource, records for a summary resource).
/// --team reads a team's records (lab match reviews); --catch-all lists the catch-all records. The table comes
/// from --table, else TABLE_NAME, else .dev/stack.env; AWS settings from the environment (AWS_ENDPOINT_URL for a
/// local emulator), else the stack file's AWS_ENDPOINT_URL with dummy credentials.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["user", "team", "catch_all"])),
    after_help = "Exit codes: 0 read (possibly nothing); 1 the table could not be read; 2 usage error (no table name, bad time or resource)."
)]
struct QueryArgs {
    /// Junction user id.
    #[arg(long)]
    user: Option<String>,
    /// Team id: lab match reviews, which name no user.
    #[arg(long)]
    team: Option<String>,
    /// The catch-all records (unknown, unparseable and continuous-query messages).
    #[arg(long)]
    catch_all: bool,
    /// Only this resource (`heartrate`, `sleep`, ...); with --user only.
    #[arg(long, value_parser = query::parse_resource, requires = "user")]
    resource: Option<jwh_shared::events::Resource>,
    /// Only records of this kind (summary, timeseries, connection, connection_event, device, backfill, lab,
    /// lab_event, catch_all).
    #[arg(long)]
    kind: Option<String>,
    /// Samples (and summaries by start) at or after this time: RFC 3339, YYYY-MM-DD, or Unix seconds.
    #[arg(long, value_parser = query::parse_time)]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Samples (and summaries by start) at or before this time.
    #[arg(long, value_parser = query::parse_time)]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep only the highest-priority source's data: per instant and overlapping interval for samples, per
    /// calendar day for summaries (each line still names its source).
    #[arg(long)]
    resolve: bool,
    /// The source order for --resolve, instead of each resource's default: rules separated by commas, each a
    /// source type or `+`-joined `type:…`, `provider:…`, `device:…` (e.g. `provider:oura+type:ring,watch,phone`).
    #[arg(long, value_parser = query::parse_priority, requires = "resolve")]
    priority: Option<jwh_shared::resolve::Priority>,
    /// The deployment's per-resource orders, as the read API's DataPriority parameter takes them
    /// (`sleep=provider:oura+type:ring,watch;*=watch,phone`); --priority overrides them.
    #[arg(long, env = "DATA_PRIORITY", value_parser = jwh_shared::resolve::Priorities::parse, default_value = "")]
    priorities: jwh_shared::resolve::Priorities,
    /// With --resolve: also a total per local day of each additive resource (steps, calories, distance, …).
    #[arg(long, requires = "resolve")]
    daily_totals: bool,
    /// DynamoDB table name.
    #[arg(long, env = "TABLE_NAME")]
    table: Option<String>,
}

/// Inspect and redrive the families' dead-letter queues.
///
/// Queue URLs come from QUEUE_URL_<FAMILY> and DLQ_URL_<FAMILY> (e.g. DLQ_URL_CATCH_ALL), else .dev/stack.env.
#[derive(Debug, Subcommand)]
enum DlqCommand {
    List(DlqListArgs),
    Redrive(DlqRedriveArgs),
}

/// List what is in each family's dead-letter queue, without consuming it.
///
/// Per family: the DLQ URL, SQS's approximate message count, and each message's id, svix-id, event type and
/// receive count (never its body). Messages are peeked: received with a short visibility timeout, not deleted, and made visible again.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 listed; 1 a queue could not be read; 2 usage error (no DLQ URL configured)."
)]
struct DlqListArgs {
    /// Only this family (connections, backfills, summaries, timeseries, lab, catch-all).
    #[arg(long)]
    family: Option<jwh_shared::family::Family>,
    /// Messages to show per queue, at most.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max: u32,
}

/// Move messages from a family's dead-letter queue back to its queue.
///
/// Body and message attributes are kept; a message is deleted from the dead-letter queue only after it was
/// sent. Prints how many moved, and each that did not.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every message moved; 1 any did not; 2 usage error (no queue or DLQ URL configured)."
)]
struct DlqRedriveArgs {
    /// Only this family (connections, backfills, summaries, timeseries, lab, catch-all); all configured ones
    /// when omitted.
    #[arg(long)]
    family: Option<jwh_shared::family::Family>,
}

/// Re-run deliveries: from the archive (--archive), or catch-all records whose bodies now parse.
///
/// With --archive: reads the archive bucket (ARCHIVE_BUCKET, else .dev/stack.env) for the deliveries selected by
/// --family, --event-type, --user and a receive-time range (--since/--until, RFC 3339 or a date), each once, and
/// sends them through the same queues as live webhooks, to the family their body routes to today, with their
/// original Svix id, timestamp and receive time. The processors store them again even if they processed them
/// before (the writers are versioned: what a fix changes is rewritten, the rest stays as it is). Read --dry-run's
/// counts and estimate first. At most --rate messages a second; an interrupted run continues where it stopped when
/// run again with the same selection (the state file records the archive objects done).
///
/// Without --archive: catch-all records whose event type is now known are sent to their family's queue
/// (QUEUE_URL_<FAMILY>, else .dev/stack.env) with their original attributes; bodies the record did not keep, and
/// bodies over the SQS limit, are skipped with a note. Prints one line per message and the counts per family.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 done (skips are not failures); 1 the table or archive could not be read or a send failed (run again to finish); 2 usage error (no table or archive bucket, a bad time)."
)]
struct ReplayArgs {
    /// Replay from the archive of every verified delivery, not from the catch-all records.
    #[arg(long)]
    archive: bool,
    /// Only event types starting with this (`daily.data.`, `labtest.order`).
    #[arg(long)]
    event_type: Option<String>,
    /// Print what would be sent (with --archive: counts per event type and an estimate), send nothing.
    #[arg(long)]
    dry_run: bool,
    /// DynamoDB table name (catch-all replay).
    #[arg(long, env = "TABLE_NAME")]
    table: Option<String>,
    /// --archive: only this family, as archived (repeatable; connections, backfills, summaries, timeseries, lab,
    /// catch-all).
    #[arg(long, requires = "archive")]
    family: Vec<jwh_shared::family::Family>,
    /// --archive: only deliveries naming this Junction user.
    #[arg(long, requires = "archive")]
    user: Option<String>,
    /// --archive: only deliveries received at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, requires = "archive")]
    since: Option<String>,
    /// --archive: only deliveries received at or before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, requires = "archive")]
    until: Option<String>,
    /// --archive: messages per second at most, so that live webhooks keep their share of the processors.
    #[arg(long, default_value_t = 50.0, requires = "archive")]
    rate: f64,
    /// --archive: the state file of this replay (default: jwh-replay-<hash of the selection>.state here).
    #[arg(long, requires = "archive")]
    state: Option<PathBuf>,
    /// --archive: hours after its receipt that a delivery may have been archived (it waited in a queue).
    #[arg(long, default_value_t = 24, requires = "archive")]
    lag_hours: i64,
    /// --archive: the archive bucket (ARCHIVE_BUCKET, else .dev/stack.env).
    #[arg(long, requires = "archive")]
    bucket: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("jwh: {e}");
            e.exit().into()
        }
    }
}

fn run(command: Command) -> Result<Exit, CliError> {
    match command {
        Command::Webhooks(command) => webhooks::run(command),
        Command::Backfill(command) => backfill::run(command),
        Command::Users(command) => users::run(command),
        Command::Sign(args) => {
            let secret = sign::parse_secret("--secret", &args.secret)?;
            let body = read_body(args.file.as_deref())?;
            let id = args.id.unwrap_or_else(sign::fresh_message_id);
            let timestamp = args.timestamp.unwrap_or_else(sign::unix_now);
            print!("{}", sign::header_lines(&secret, &id, timestamp, &body));
            Ok(Exit::Success)
        }
        Command::Verify(args) => {
            let body = read_body(args.file.as_deref())?;
            let delivery = verify::Delivery {
                id: &args.id,
                timestamp: &args.timestamp,
                signature: &args.signature,
                body: &body,
            };
            let now = args.now.unwrap_or_else(sign::unix_now);
            let (exit, line) = verify::run(&args.secrets, delivery, now, args.tolerance);
            println!("{line}");
            Ok(exit)
        }
        Command::Inspect(args) => {
            let body = read_body(args.file.as_deref())?;
            match inspect::describe(&body) {
                Ok(text) => {
                    println!("{text}");
                    Ok(Exit::Success)
                }
                Err(reason) => {
                    eprintln!("jwh: {reason}");
                    Ok(Exit::Failure)
                }
            }
        }
        Command::Send(args) => {
            let stack = StackEnv::load()?;
            let target = send::resolve_target(args.url, args.secret, stack.as_ref())?;
            let bodies = send::collect_bodies(&args.paths)?;
            let options = send::Options {
                concurrency: usize::from(args.concurrency),
                repeat: args.repeat as usize,
                id: args.id,
                timeout: Duration::from_secs(args.timeout),
            };
            let progress = send::progress_bar(bodies.len() * options.repeat);
            let sent = send::send_all(&target, &bodies, &options, &progress);
            progress.finish_and_clear();
            let (exit, summary) = send::summarize(&sent);
            print!("{summary}");
            Ok(exit)
        }
        Command::Query(args) => {
            let stack = StackEnv::load()?;
            let table = table_name(args.table, stack.as_ref())?;
            let target = match (args.user, args.team) {
                (Some(user), _) => query::Target::User(user),
                (None, Some(team)) => query::Target::Team(team),
                (None, None) => query::Target::CatchAll,
            };
            let filter = query::Filter {
                resource: args.resource,
                kind: args.kind,
                from: args.from,
                to: args.to,
                resolve: args.resolve.then_some(query::Resolve {
                    priority: args.priority,
                    priorities: args.priorities,
                    daily_totals: args.daily_totals,
                }),
            };
            let lines = block_on(async {
                let store = store(table, stack.as_ref()).await;
                query::fetch(&store, &target, &filter).await
            })??;
            print_lines(&lines);
            Ok(Exit::Success)
        }
        Command::Dlq(DlqCommand::List(args)) => {
            let stack = StackEnv::load()?;
            let families = dlq::families(args.family, stack.as_ref())?;
            block_on(async {
                let sqs = queues::Sqs(aws_sdk_sqs::Client::new(
                    &stack_env::sdk_config(stack.as_ref()).await,
                ));
                let mut exit = Exit::Success;
                for (family, url) in families {
                    let Some(url) = url else {
                        println!("{family}  ({} not set)", queues::dlq_env_var(family));
                        continue;
                    };
                    match dlq::peek(&sqs, &url, args.max as usize).await {
                        Ok(listing) => print!("{}", dlq::format_listing(family, &url, &listing)),
                        Err(e) => {
                            eprintln!("jwh: {family}: {e}");
                            exit = Exit::Failure;
                        }
                    }
                }
                exit
            })
        }
        Command::Dlq(DlqCommand::Redrive(args)) => {
            let stack = StackEnv::load()?;
            let families = dlq::families(args.family, stack.as_ref())?;
            let mut moves = Vec::new();
            for (family, dlq_url) in families {
                if let Some(dlq_url) = dlq_url {
                    moves.push((
                        family,
                        dlq_url,
                        dlq::redrive_target(family, stack.as_ref())?,
                    ));
                }
            }
            block_on(async {
                let sqs = queues::Sqs(aws_sdk_sqs::Client::new(
                    &stack_env::sdk_config(stack.as_ref()).await,
                ));
                let mut exit = Exit::Success;
                for (family, dlq_url, queue_url) in moves {
                    let done = dlq::redrive(&sqs, &dlq_url, &queue_url).await;
                    println!(
                        "{family}: moved {}, failed {}",
                        done.moved,
                        done.failed.len()
                    );
                    for (message_id, reason) in &done.failed {
                        println!("  {message_id}: {reason}");
                        exit = Exit::Failure;
                    }
                }
                exit
            })
        }
        Command::Replay(args) if args.archive => replay_archive(args),
        Command::Replay(args) => {
            let stack = StackEnv::load()?;
            let table = table_name(args.table, stack.as_ref())?;
            block_on(async {
                let store = store(table, stack.as_ref()).await;
                let records = store
                    .catch_all_records()
                    .await
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                let sqs = queues::Sqs(aws_sdk_sqs::Client::new(
                    &stack_env::sdk_config(stack.as_ref()).await,
                ));
                let report = replay::replay(
                    &sqs,
                    &records,
                    args.event_type.as_deref(),
                    args.dry_run,
                    |family| queues::queue_url(family, stack.as_ref()),
                )
                .await;
                for line in &report.lines {
                    println!("{line}");
                }
                println!("{}", report.summary(args.dry_run));
                Ok(if report.failed > 0 {
                    Exit::Failure
                } else {
                    Exit::Success
                })
            })?
        }
    }
}

/// `jwh replay --archive`.
fn replay_archive(args: ReplayArgs) -> Result<Exit, CliError> {
    let stack = StackEnv::load()?;
    let bucket = args
        .bucket
        .or_else(|| stack_env::setting(jwh_shared::archive::BUCKET_ENV, stack.as_ref()))
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| {
            CliError::Usage(
                "no archive bucket: pass --bucket, set ARCHIVE_BUCKET (the stack's ArchiveBucketName output), or start the local stack"
                    .into(),
            )
        })?;
    let time = |flag: &str, value: Option<String>| -> Result<_, CliError> {
        value
            .map(|v| {
                jwh_shared::store::time::parse_instant(&v).ok_or_else(|| {
                    CliError::Usage(format!("--{flag} {v:?} is not a time (RFC 3339 or a date)"))
                })
            })
            .transpose()
    };
    if args.rate.is_nan() || args.rate <= 0.0 {
        return Err(CliError::Usage("--rate must be above 0".into()));
    }
    let selection = archive_replay::Selection {
        families: args.family,
        event_type: args.event_type,
        user: args.user,
        since: time("since", args.since)?,
        until: time("until", args.until)?,
        lag: chrono::Duration::hours(args.lag_hours.max(0)),
    };
    let options = archive_replay::Options {
        dry_run: args.dry_run,
        rate: args.rate,
        run_id: format!("replay-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
        payload_bucket: stack_env::setting("PAYLOAD_BUCKET", stack.as_ref()),
    };
    let mut state = if args.dry_run {
        archive_replay::State::in_memory()
    } else {
        let path = args.state.unwrap_or_else(|| selection.default_state_file());
        archive_replay::State::load(&path, &selection).map_err(CliError::Usage)?
    };
    if let Some(path) = state.path()
        && !state.done.is_empty()
    {
        eprintln!(
            "resuming: {} archive objects already replayed ({})",
            state.done.len(),
            path.display()
        );
    }
    let report = block_on(async {
        let config = stack_env::sdk_config(stack.as_ref()).await;
        let objects = archive_replay::S3Objects {
            s3: jwh_shared::aws::s3_client(&config),
            bucket,
        };
        let sqs = queues::Sqs(aws_sdk_sqs::Client::new(&config));
        let progress = send::progress_bar(0);
        let report = archive_replay::run(
            &objects,
            &sqs,
            &selection,
            &options,
            &mut state,
            |family| queues::queue_url(family, stack.as_ref()),
            &progress,
        )
        .await;
        progress.finish_and_clear();
        report
    })?
    .map_err(CliError::Failed)?;
    for problem in &report.problems {
        println!("{problem}");
    }
    print!("{}", report.render(&options));
    if let Some(path) = state.path() {
        println!(
            "state: {} ({} of {} objects done; delete it to replay them again)",
            path.display(),
            state.done.len(),
            report.objects
        );
    }
    Ok(if report.failed > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// The table from `--table` (or `TABLE_NAME`, which clap reads), else the stack file.
fn table_name(flag: Option<String>, stack: Option<&StackEnv>) -> Result<String, CliError> {
    flag.filter(|t| !t.trim().is_empty())
        .or_else(|| stack.and_then(|s| s.get("TABLE_NAME")).map(str::to_owned))
        .ok_or_else(|| {
            CliError::Usage(
                "no table name: pass --table, set TABLE_NAME, or start the local stack (make dev writes .dev/stack.env)"
                    .into(),
            )
        })
}

/// The store over `table`, with the local stack's AWS settings when they apply.
async fn store(table: String, stack: Option<&StackEnv>) -> jwh_shared::store::Store {
    let config = stack_env::sdk_config(stack).await;
    jwh_shared::store::Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
        jwh_shared::processor::DEFAULT_IDEMPOTENCY_TTL_DAYS,
    )
}

/// Runs AWS work on a small runtime; only the commands that talk to AWS start one.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// One compact JSON value per line; stops quietly when stdout is closed (`jwh query ... | head`).
fn print_lines<T: serde::Serialize>(lines: &[T]) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        let Ok(text) = serde_json::to_string(line) else {
            continue;
        };
        if writeln!(stdout, "{text}").is_err() {
            return;
        }
    }
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_2() {
        for argv in [
            &["jwh"][..],
            &[
                "jwh",
                "verify",
                "--secret",
                "s",
                "--id",
                "i",
                "--timestamp",
                "1",
            ],
            &[
                "jwh",
                "verify",
                "--secret",
                "s",
                "--id",
                "i",
                "--timestamp",
                "1",
                "--signature",
                "x",
                "--now",
                "soon",
            ],
            &["jwh", "send", "--concurrency", "0", "x.json"],
            &["jwh", "query", "--user", "u", "--team", "t"],
            &["jwh", "query", "--user", "u", "--resource", "nope"],
            &["jwh", "query", "--catch-all", "--from", "yesterday"],
            &["jwh", "bogus"],
            &["jwh", "dlq", "list", "--family", "catch_all"],
            &["jwh", "dlq"],
        ] {
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{argv:?}: {err}");
        }
    }
}
