//! `jwh backfill`: the backfill fetcher's progress, a run started by hand, and its dead letters.
//!
//! - `status --user U`: one line per (provider, resource) backfill record of the user: the window Junction
//!   announced, and what the fetcher did with it (chunks, pages, records, Data API calls, when it finished).
//! - `run --user U --provider P --resource R --from T --to T`: sends the window's first work item to the fetch
//!   queue (`QUEUE_URL_FETCH`, else `.dev/stack.env`), then follows the backfill record with a progress bar until
//!   the run finishes.
//! - `redrive`: moves the fetch dead-letter queue's work items (`DLQ_URL_FETCH`) back to the fetch queue, where
//!   each resumes the page it names.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use jwh_shared::events::Resource;
use jwh_shared::fetch::{DEFAULT_CHUNK_DAYS, FETCH_QUEUE_ENV, Progress, Task, WorkItem, chunks};
use jwh_shared::store::time::parse_instant;

use crate::exit::{CliError, Exit};
use crate::stack_env::{self, StackEnv, setting};
use crate::{block_on, query, queues, store, table_name};

/// The environment variable naming the fetch dead-letter queue.
pub const FETCH_DLQ_ENV: &str = "DLQ_URL_FETCH";

/// Follow and start historical backfills (the fetcher reading Junction's Data API).
#[derive(Debug, Subcommand)]
pub enum BackfillCommand {
    Status(StatusArgs),
    Run(RunArgs),
    Redrive(RedriveArgs),
}

/// Show a user's backfills: the announced window and the fetcher's progress, one line per provider and resource.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 shown (possibly none); 1 the table could not be read; 2 usage error."
)]
pub struct StatusArgs {
    /// Junction user id.
    #[arg(long)]
    user: String,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// DynamoDB table name.
    #[arg(long, env = "TABLE_NAME")]
    table: Option<String>,
}

/// Start a backfill by hand and follow it with a progress bar.
///
/// Sends the first work item of the window to the fetch queue (QUEUE_URL_FETCH, else .dev/stack.env); the fetcher
/// reads it page by page. With --no-wait, prints the run id and returns.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 started (and, unless --no-wait, finished); 1 a send or read failed, or --timeout passed; 2 usage error (no fetch queue, bad window)."
)]
pub struct RunArgs {
    /// Junction user id.
    #[arg(long)]
    user: String,
    /// Provider slug (`oura`, `garmin`, ...).
    #[arg(long)]
    provider: String,
    /// Resource, named as in event types (`sleep`, `heartrate`, `weight`, ...).
    #[arg(long, value_parser = query::parse_resource)]
    resource: Resource,
    /// Start of the window: RFC 3339, YYYY-MM-DD, or Unix seconds.
    #[arg(long, value_parser = query::parse_time)]
    from: chrono::DateTime<chrono::Utc>,
    /// End of the window, exclusive: RFC 3339 or Unix seconds, or YYYY-MM-DD for the end of that day.
    #[arg(long, value_parser = query::parse_end_time)]
    to: chrono::DateTime<chrono::Utc>,
    /// Days per chunk (one summary request, or one cursor walk, each).
    #[arg(long, default_value_t = DEFAULT_CHUNK_DAYS, value_parser = clap::value_parser!(u32).range(1..=3660))]
    chunk_days: u32,
    /// Return once the first work item is sent.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for the run to finish.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// DynamoDB table name.
    #[arg(long, env = "TABLE_NAME")]
    table: Option<String>,
}

/// Move the fetch dead-letter queue's work items back to the fetch queue (DLQ_URL_FETCH, QUEUE_URL_FETCH).
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every item moved; 1 any did not; 2 usage error (no queue URLs)."
)]
pub struct RedriveArgs {}

/// Runs a `jwh backfill` command.
pub fn run(command: BackfillCommand) -> Result<Exit, CliError> {
    let stack = StackEnv::load()?;
    match command {
        BackfillCommand::Status(args) => {
            let table = table_name(args.table, stack.as_ref())?;
            let backfills = block_on(async {
                store(table, stack.as_ref())
                    .await
                    .backfills_of(&args.user)
                    .await
            })?
            .map_err(|e| CliError::Failed(e.to_string()))?;
            if args.json {
                crate::print_lines(&backfills);
            } else if backfills.is_empty() {
                println!("no backfills for this user");
            } else {
                for p in &backfills {
                    println!("{}", status_line(p));
                }
            }
            Ok(Exit::Success)
        }
        BackfillCommand::Run(args) => start(args, stack.as_ref()),
        BackfillCommand::Redrive(RedriveArgs {}) => {
            let queue = fetch_queue_url(stack.as_ref())?;
            let dlq = setting(FETCH_DLQ_ENV, stack.as_ref()).ok_or_else(|| {
                CliError::Usage(format!(
                    "no {FETCH_DLQ_ENV}: the fetcher's dead-letter queue URL"
                ))
            })?;
            block_on(async {
                let sqs = queues::Sqs(aws_sdk_sqs::Client::new(
                    &stack_env::sdk_config(stack.as_ref()).await,
                ));
                let done = crate::dlq::redrive(&sqs, &dlq, &queue).await;
                println!("fetch: moved {}, failed {}", done.moved, done.failed.len());
                for (message_id, reason) in &done.failed {
                    println!("  {message_id}: {reason}");
                }
                if done.failed.is_empty() {
                    Exit::Success
                } else {
                    Exit::Failure
                }
            })
        }
    }
}

fn fetch_queue_url(stack: Option<&StackEnv>) -> Result<String, CliError> {
    setting(FETCH_QUEUE_ENV, stack).ok_or_else(|| {
        CliError::Usage(format!(
            "the fetcher is not enabled: no {FETCH_QUEUE_ENV} (deploy with JunctionApiKeySecretArn, or start the \
             local stack with JUNCTION_API_KEY set)"
        ))
    })
}

/// The run id of a run started by hand: `manual-` and the Unix time in milliseconds.
pub fn manual_run_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("manual-{}", now.timestamp_millis())
}

fn start(args: RunArgs, stack: Option<&StackEnv>) -> Result<Exit, CliError> {
    let queue_url = fetch_queue_url(stack)?;
    let table = table_name(args.table, stack)?;
    let run = manual_run_id(chrono::Utc::now());
    let item = WorkItem::first_page(
        run.clone(),
        args.user.clone(),
        args.provider.clone(),
        args.resource,
        &args.from.to_rfc3339(),
        &args.to.to_rfc3339(),
        args.chunk_days,
    )
    .map_err(|e| CliError::Usage(format!("bad window: {e}")))?;
    let total = planned_chunks(&item);
    block_on(async {
        let config = stack_env::sdk_config(stack).await;
        let queue = jwh_shared::fetch::FetchQueue {
            sqs: aws_sdk_sqs::Client::new(&config),
            url: queue_url,
            chunk_days: args.chunk_days,
        };
        queue
            .send(&item)
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?;
        println!(
            "started run {run}: {total} chunk(s) of {} day(s)",
            args.chunk_days
        );
        if args.no_wait {
            return Ok(Exit::Success);
        }
        let store = store(table, stack).await;
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} chunks  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        loop {
            let progress = store
                .backfill_progress(&args.user, &args.provider, args.resource)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            if let Some(p) = progress.filter(|p| p.run.as_deref() == Some(run.as_str())) {
                bar.set_position(p.chunks_done);
                bar.set_message(format!(
                    "{} page(s), {} record(s), {} API call(s)",
                    p.pages_done, p.records, p.api_calls
                ));
                if p.is_finished() {
                    bar.finish_and_clear();
                    println!("{}", status_line(&p));
                    return Ok(Exit::Success);
                }
            }
            if Instant::now() >= deadline {
                bar.abandon();
                eprintln!("jwh: the run did not finish within {} s", args.timeout);
                return Ok(Exit::Failure);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })?
}

/// Chunks in a window run's first item.
fn planned_chunks(item: &WorkItem) -> u64 {
    match &item.task {
        Task::Page {
            from,
            to,
            chunk_days,
            ..
        } => match (parse_instant(from), parse_instant(to)) {
            (Some(from), Some(to)) => chunks(&from, &to, *chunk_days).len() as u64,
            _ => 0,
        },
        Task::Stream { .. } => 1,
    }
}

/// One line of `status`: provider, resource, state, window, and the fetcher's counts.
pub fn status_line(p: &Progress) -> String {
    let day = |t: &Option<String>| {
        t.as_deref()
            .map(|t| t.get(..10).unwrap_or(t).to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let window = format!(
        "{} to {}",
        day(&p.pull_start.clone().or(p.from.clone())),
        day(&p.pull_end.clone().or(p.to.clone()))
    );
    match p.status.as_deref() {
        None => format!(
            "{:<12} {:<20} not fetched  window {window}",
            p.provider, p.resource
        ),
        Some(status) => {
            let mut line = format!(
                "{:<12} {:<20} {status:<11}  window {window}  chunks {}/{}  pages {}  records {}  api calls {}",
                p.provider,
                p.resource,
                p.chunks_done,
                p.chunks,
                p.pages_done,
                p.records,
                p.api_calls
            );
            if let Some(at) = &p.finished_at {
                line.push_str(&format!("  finished {at}"));
            }
            if let Some(note) = &p.note {
                line.push_str(&format!("  ({note})"));
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_say_what_the_fetcher_did() {
        let mut p = Progress {
            user_id: "u".into(),
            provider: "oura".into(),
            resource: "sleep".into(),
            pull_start: Some("2024-05-29T00:00:00.000000Z".into()),
            pull_end: Some("2024-11-25T10:14:02.000000Z".into()),
            ..Progress::default()
        };
        assert_eq!(
            status_line(&p),
            "oura         sleep                not fetched  window 2024-05-29 to 2024-11-25"
        );
        p.status = Some("finished".into());
        p.run = Some("msg_1".into());
        (
            p.chunks,
            p.chunks_done,
            p.pages_done,
            p.records,
            p.api_calls,
        ) = (7, 7, 7, 180, 9);
        p.finished_at = Some("2026-01-01T00:00:00.000000Z".into());
        assert_eq!(
            status_line(&p),
            "oura         sleep                finished     window 2024-05-29 to 2024-11-25  chunks 7/7  pages 7  \
             records 180  api calls 9  finished 2026-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn a_manual_run_plans_its_chunks() {
        let now = parse_instant("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(manual_run_id(now), "manual-1767225600000");
        let item = WorkItem::first_page(
            "r",
            "u",
            "oura",
            Resource::Heartrate,
            "2024-01-01",
            "2024-03-01",
            30,
        )
        .unwrap();
        assert_eq!(planned_chunks(&item), 2);
    }
}
