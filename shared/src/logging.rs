//! Logging setup for every function: JSON lines under the function's `LoggingConfig`, as
//! `lambda_runtime::tracing::init_default_subscriber` does, with one difference: only this project's crates log
//! below INFO. The AWS SDK, hyper and the Lambda runtime log request and response bodies at TRACE (the SDK's
//! "read HTTP response body" carries whole DynamoDB items: sample values, lab results), so a function switched to
//! DEBUG or TRACE for troubleshooting must not pass their detail through. `RUST_LOG` directives still apply on
//! top, for whoever asks for them by name.
//!
//! A JSON line names its innermost span (`span`: the SQS message id and family in a processor, Lambda's request id
//! in the ingest function) but not the list of every enclosing span (`spans`), which repeated the same fields and
//! Lambda's request and trace ids on every line: CloudWatch Logs bills each byte.

use std::str::FromStr as _;

use lambda_runtime::tracing::Subscriber;
use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;
use lambda_runtime::tracing::subscriber::util::SubscriberInitExt as _;

/// The crates whose own log lines are written at the configured level; everything else stops at INFO.
pub const OWN_CRATES: [&str; 10] = [
    "jwh_shared",
    "jwh_ingest",
    "jwh_connections",
    "jwh_backfills",
    "jwh_summaries",
    "jwh_timeseries",
    "jwh_lab",
    "jwh_catch_all",
    "jwh_fetcher",
    "jwh",
];

/// The configured level: `AWS_LAMBDA_LOG_LEVEL` (set from `LoggingConfig.ApplicationLogLevel`), else `RUST_LOG`
/// when it is a bare level, else INFO.
pub fn configured_level() -> LevelFilter {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|v| LevelFilter::from_str(&v).ok())
        .unwrap_or(LevelFilter::INFO)
}

/// The filter for `level`: this project's crates at `level`, every other crate at most at INFO.
pub fn filter(level: LevelFilter) -> EnvFilter {
    let others = level.min(LevelFilter::INFO);
    let mut filter = EnvFilter::builder()
        .with_default_directive(others.into())
        .from_env_lossy();
    for krate in OWN_CRATES {
        if let Ok(d) = format!("{krate}={level}").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// The JSON subscriber the functions log with under `LoggingConfig.LogFormat: JSON`, writing to `writer` through
/// [`filter`]`(level)`: one object per line, its event's fields under `fields`, its innermost span under `span`.
pub fn json_subscriber<W>(writer: W, level: LevelFilter) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level))
        .with_writer(writer)
        .finish()
}

/// Installs the subscriber: [`json_subscriber`] on stdout when `AWS_LAMBDA_LOG_FORMAT=JSON` (the template's
/// `LoggingConfig`), text otherwise.
pub fn init() {
    let level = configured_level();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        json_subscriber(std::io::stdout, level).init();
    } else {
        lambda_runtime::tracing::subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_env_filter(filter(level))
            .init();
    }
}
