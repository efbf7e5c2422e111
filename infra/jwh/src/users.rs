//! `jwh users delete`: erasure of everything the stack holds of one user, through [`jwh_shared::erase`].

use clap::{Args, Subcommand};
use jwh_shared::erase::Erased;

use crate::exit::{CliError, Exit};
use crate::stack_env::{StackEnv, setting};
use crate::{block_on, store, table_name};

/// A user's data.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    Delete(DeleteArgs),
}

/// Remove everything the stack holds of a user: their records and samples, the catch-all bodies and claim-check
/// objects that name them, and (in the teams given) the lab match reviews resolved to them.
///
/// Idempotent and resumable: a run cut short is finished by running it again. Processed-message markers name no
/// user and stay, so an old delivery of theirs does not bring the data back.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 removed (possibly nothing); 1 a read or delete failed (run again to finish); 2 usage error."
)]
pub struct DeleteArgs {
    /// Junction user id.
    #[arg(long)]
    user: String,
    /// A team whose lab match reviews resolved to the user are removed too (repeatable).
    #[arg(long)]
    team: Vec<String>,
    /// DynamoDB table name.
    #[arg(long, env = "TABLE_NAME")]
    table: Option<String>,
    /// The payload bucket of claim-checked bodies (PAYLOAD_BUCKET, else .dev/stack.env); without one, S3 is not
    /// searched.
    #[arg(long)]
    payload_bucket: Option<String>,
    /// The archive bucket (ARCHIVE_BUCKET, else .dev/stack.env): the user's archived deliveries are removed from
    /// it, each archive object naming the user rewritten without them. Without one, the archive is not searched.
    #[arg(long)]
    archive_bucket: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a `jwh users` command.
pub fn run(command: UsersCommand) -> Result<Exit, CliError> {
    let stack = StackEnv::load()?;
    match command {
        UsersCommand::Delete(args) => {
            if args.user.trim().is_empty() {
                return Err(CliError::Usage("--user is empty".into()));
            }
            let table = table_name(args.table, stack.as_ref())?;
            let bucket = args
                .payload_bucket
                .or_else(|| setting("PAYLOAD_BUCKET", stack.as_ref()));
            let archive = args
                .archive_bucket
                .or_else(|| setting(jwh_shared::archive::BUCKET_ENV, stack.as_ref()))
                .filter(|b| !b.trim().is_empty());
            let erased = block_on(async {
                let store = store(table, stack.as_ref()).await;
                let config = crate::stack_env::sdk_config(stack.as_ref()).await;
                let s3 = jwh_shared::aws::s3_client(&config);
                store
                    .erase_user(
                        &args.user,
                        &args.team,
                        bucket.as_deref().map(|b| (&s3, b)),
                        archive.as_deref().map(|b| (&s3, b)),
                    )
                    .await
            })?
            .map_err(|e| CliError::Failed(format!("{e} (run again to finish)")))?;
            if args.json {
                crate::print_lines(&[&erased]);
            } else {
                print!("{}", report(&erased, bucket.is_some(), archive.is_some()));
            }
            Ok(Exit::Success)
        }
    }
}

/// The report, one line per kind of thing removed.
pub fn report(erased: &Erased, searched_s3: bool, searched_archive: bool) -> String {
    let mut out = String::new();
    for (kind, n) in &erased.records {
        out.push_str(&format!("{kind:<18} {n}\n"));
    }
    out.push_str(&format!("{:<18} {}\n", "catch_all", erased.catch_all));
    out.push_str(&format!(
        "{:<18} {}\n",
        "match_reviews", erased.match_reviews
    ));
    if searched_s3 {
        out.push_str(&format!("{:<18} {}\n", "payloads", erased.payloads));
    } else {
        out.push_str("payloads           not searched (no payload bucket)\n");
    }
    if searched_archive {
        out.push_str(&format!(
            "{:<18} {} (from {} archive objects, rewritten without them)\n",
            "archived", erased.archived, erased.archive_objects
        ));
    } else {
        out.push_str("archived           not searched (no archive bucket)\n");
    }
    out.push_str(&format!("{:<18} {}\n", "total", erased.total()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_each_kind_and_the_total() {
        let erased = Erased {
            records: [("summary".to_owned(), 3), ("timeseries".to_owned(), 5)].into(),
            catch_all: 1,
            match_reviews: 0,
            payloads: 2,
            archived: 4,
            archive_objects: 3,
        };
        let text = report(&erased, true, true);
        assert_eq!(
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>(),
            [
                "summary 3",
                "timeseries 5",
                "catch_all 1",
                "match_reviews 0",
                "payloads 2",
                "archived 4 (from 3 archive objects, rewritten without them)",
                "total 15"
            ]
        );
        assert!(report(&erased, false, true).contains("payloads           not searched"));
        assert!(report(&erased, true, false).contains("archived           not searched"));
    }
}
