//! `jwh-bench`: the harness behind `make bench` (see BENCHMARKS.md).
//!
//! - `jwh-bench cold-start` starts each release bootstrap binary against a local Lambda Runtime API and prints
//!   binary sizes, init and first-response times, each beside the `jwh-bench-echo` baseline of the same run;
//! - `jwh-bench cost <measured.json>` prices what `tests/it/cost.rs` measured against moto.

/// Prints a line and keeps it for the command's summary file (`target/bench/<command>.txt`).
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        $crate::SUMMARY.lock().unwrap().push(line);
    }};
}

mod cold_start;
mod cost;
mod prices;

/// Every line the command printed with [`say!`].
static SUMMARY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Writes what the command printed next to its JSON figures, for `make bench`'s summary.
fn write_summary(path: &std::path::Path) {
    let text = SUMMARY.lock().unwrap().join("\n") + "\n";
    if let Err(e) = std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))
        .and_then(|()| std::fs::write(path, text))
    {
        eprintln!("jwh-bench: {}: {e}", path.display());
    }
}

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks of the Junction webhook receiver: cold start and cost model")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Binary sizes, and process start to first /next and first response against a local Runtime API.
    ColdStart {
        /// Starts per function (interleaved), after one unmeasured start each.
        #[arg(long, default_value_t = 25, env = "JWH_BENCH_RUNS")]
        runs: u32,
        /// Where the release binaries are.
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// `sam build`'s output, for the arm64 sizes.
        #[arg(long, default_value = ".aws-sam/build")]
        arm64_dir: PathBuf,
        /// Where the figures are written (read by `jwh-bench cost`).
        #[arg(long, default_value = "target/bench/cold-start.json")]
        out: PathBuf,
        /// Only these functions (by report name, e.g. `ingest`); the baseline always runs.
        #[arg(long)]
        only: Vec<String>,
        /// Extra environment for every process, `KEY=VALUE` (experiments).
        #[arg(long = "env", value_parser = parse_env)]
        extra_env: Vec<(String, String)>,
    },
    /// Dollars per million webhooks from the requests measured against moto.
    Cost {
        /// The measurements (`JWH_COST_OUT` of the cost test).
        #[arg(default_value = "target/bench/cost-measured.json")]
        measured: PathBuf,
        /// The cold-start figures (log bytes per invocation, init time).
        #[arg(long, default_value = "target/bench/cold-start.json")]
        cold_start: PathBuf,
        /// The CPU figures of the `cpu` bench (CPU per ingest request and per processor AWS call).
        #[arg(long, default_value = "target/bench/cpu.json")]
        cpu: PathBuf,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s}: expected KEY=VALUE"))
}

/// Largest binary size the issue allows, bytes.
const SIZE_LIMIT: u64 = 6_000_000;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::ColdStart {
            runs,
            bin_dir,
            arm64_dir,
            out,
            only,
            extra_env,
        } => {
            let functions: Vec<_> = cold_start::functions(&bin_dir)
                .into_iter()
                .enumerate()
                .filter(|(i, f)| *i == 0 || only.is_empty() || only.contains(&f.name))
                .map(|(_, f)| f)
                .collect();
            let mut bins: Vec<(String, PathBuf)> = Vec::new();
            for f in &functions {
                let name = f.binary.file_name().unwrap().to_string_lossy().into_owned();
                if !bins.iter().any(|(n, _)| *n == name) {
                    bins.push((name, f.binary.clone()));
                }
            }
            let sizes_ok = cold_start::sizes(&bins, &arm64_dir, SIZE_LIMIT);
            let result =
                cold_start::run(&functions, runs, &extra_env, &out).map(|ok| ok && sizes_ok);
            write_summary(&out.with_extension("txt"));
            result
        }
        Cmd::Cost {
            measured,
            cold_start,
            cpu,
        } => {
            let result = cost::run(&measured, cost::Observed::load(&cold_start, &cpu));
            write_summary(&measured.with_file_name("cost.txt"));
            result
        }
    };
    match result {
        // Missed targets are findings, reported in the output; only a failure to measure fails the command.
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwh-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
