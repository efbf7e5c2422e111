//! The cost model: dollars per million webhooks, from the requests the code was measured to make.
//!
//! Input: the JSON `tests/it/cost.rs` writes (`JWH_COST_OUT`): per case, the AWS requests the ingest handler and
//! the processor made against moto, DynamoDB units, SQS chunks, and the naive design's DynamoDB writes; and,
//! when present, the cold-start harness's JSON (log bytes per invocation, init time). Prices come from
//! [`crate::prices`] only; everything else this model assumes is a named constant below, printed with the table.
//!
//! What is measured and what is assumed:
//! - measured: every AWS request our code makes per webhook (by operation), DynamoDB write and read units, SQS
//!   billing chunks, S3 calls, the naive design's write units, our log bytes per invocation, init time here.
//! - assumed: the mix of event types, monthly volume, how full SQS batches get, AWS call latencies in Lambda
//!   (they set billed duration), Lambda's own log lines, X-Ray's sampling, the cold-start share.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::prices;

mod capacity;

/// Memory of every function (template.yaml `Globals.Function.MemorySize`), GB.
pub const MEMORY_GB: f64 = 256.0 / 1024.0;
/// Webhooks per month; sets how full SQS batches get and how much X-Ray samples.
pub const WEBHOOKS_PER_MONTH: f64 = 10e6;
const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;
/// SQS event source mapping: `BatchSize` and `MaximumBatchingWindowInSeconds` (template.yaml).
pub const BATCH_SIZE: f64 = 10.0;
/// See [`BATCH_SIZE`].
pub const BATCHING_WINDOW_S: f64 = 2.0;
/// Records of a batch processed at once (`BATCH_CONCURRENCY` in template.yaml).
pub const BATCH_CONCURRENCY: f64 = 8.0;
/// In-region latency of one AWS call from Lambda, ms, by service (or `Service.Operation`): sets billed duration.
pub const LATENCY_MS: &[(&str, f64)] = &[
    ("SQS", 8.0),
    ("DynamoDB", 5.0),
    ("S3.PutObject", 30.0),
    ("S3.GetObject", 15.0),
    ("Firehose", 20.0),
];
/// Firehose streams of the archive (one per family) and their buffer interval (template.yaml): each writes at
/// least one S3 object per interval while it has traffic.
pub const ARCHIVE_STREAMS: f64 = 6.0;
/// See [`ARCHIVE_STREAMS`].
pub const FIREHOSE_BUFFER_S: f64 = 900.0;
/// Share of invocations that are cold starts (each bills its init phase).
pub const COLD_START_SHARE: f64 = 0.01;
/// CPU time at 256 MB is this many times CPU time here: Lambda gives a full vCPU at 1,769 MB and a share in
/// proportion below (a Graviton core taken as fast as this machine's). Applies to measured CPU (Criterion) and init.
pub const LAMBDA_CPU_FACTOR: f64 = 1769.0 / 256.0;
/// Lambda's own log lines per invocation in JSON format: `platform.start` (about 200 bytes) and
/// `platform.report` with metrics and the X-Ray trace header (about 400), as in AWS's documented examples.
/// Written only with `SystemLogLevel` INFO or DEBUG ([`Settings::platform_logs`]).
pub const PLATFORM_LOG_BYTES: f64 = 600.0;
/// One HTTP API access log line: template.yaml's `AccessLogSettings.Format` rendered with typical values
/// (a 16-character request id, an IPv4 address, `Svix-Webhooks/1.0`, status 200, two-digit latencies).
pub const ACCESS_LOG_BYTES: f64 = 320.0;
/// Our log bytes per invocation when the cold-start harness's figures are missing: ingest, processor record.
pub const DEFAULT_LOG_BYTES: (f64, f64) = (350.0, 400.0);
/// X-Ray's default sampling in Lambda (`Tracing: Active`): the first request each second, per function, and 5%
/// of the rest.
pub const XRAY_RESERVOIR_PER_S: f64 = 1.0;
/// See [`XRAY_RESERVOIR_PER_S`].
pub const XRAY_RATE: f64 = 0.05;

/// The stated mix: share of webhooks per measured case (all about 1 KiB; names as in tests/it/cost.rs).
pub const MIX: &[(&str, f64)] = &[
    ("provider.connection.created", 0.02),
    ("provider.device.created", 0.01),
    ("historical.data.sleep.created", 0.05),
    ("daily.data.sleep.created", 0.10),
    ("daily.data.activity.created", 0.10),
    ("daily.data.workouts.created", 0.07),
    ("heartrate stream, 1 KiB webhooks, 60 s samples", 0.60),
    ("labtest.order.updated", 0.03),
    ("continuous_query.result_table.changed", 0.01),
    ("unparseable body (catch-all)", 0.01),
];

/// The timeseries case of [`MIX`], and what it is swapped for in the sensitivity lines.
const MIX_TIMESERIES: &str = "heartrate stream, 1 KiB webhooks, 60 s samples";
const TIMESERIES_ALTERNATIVES: &[&str] = &[
    "heartrate, 1 KiB: 7 samples, fresh hour",
    "heartrate stream, 1 KiB webhooks, 5 s samples",
];

/// The template parameters the bill depends on (template.yaml `Tracing`, `SystemLogLevel`, `ApiAccessLogs`,
/// `Ingress`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// `Tracing: Active`: X-Ray records Lambda's default sample.
    pub tracing_active: bool,
    /// `SystemLogLevel` INFO or DEBUG: Lambda writes [`PLATFORM_LOG_BYTES`] per invocation.
    pub platform_logs: bool,
    /// `ApiAccessLogs: "true"`: one [`ACCESS_LOG_BYTES`] line per request that passes the HTTP API.
    pub access_logs: bool,
    /// `Ingress: FunctionUrl`: webhooks reach the ingest function through its function URL, which bills nothing
    /// per request, and pass no HTTP API (so no access log line either).
    pub function_url: bool,
    /// How the archive is written (`Archive`).
    pub archive: ArchiveWriter,
}

/// How every delivery is archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveWriter {
    /// `Archive: Disabled`.
    Off,
    /// What the template does: each processor batch one gzip record on its family's Firehose stream.
    Firehose,
    /// The alternative priced beside it: each processor batch one S3 object (`PutObject`).
    S3PerBatch,
}

impl Settings {
    /// The template's defaults: tracing PassThrough, `SystemLogLevel` WARN, access logs on, the HTTP API.
    pub const DEFAULTS: Settings = Settings {
        tracing_active: false,
        platform_logs: false,
        access_logs: true,
        function_url: false,
        archive: ArchiveWriter::Firehose,
    };

    /// The template's defaults without the archive.
    pub const NO_ARCHIVE: Settings = Settings {
        archive: ArchiveWriter::Off,
        ..Settings::DEFAULTS
    };

    /// The cheapest configuration the template offers: a function URL (no API Gateway, no access log), no archive.
    pub const CHEAPEST: Settings = Settings {
        function_url: true,
        access_logs: false,
        archive: ArchiveWriter::Off,
        ..Settings::DEFAULTS
    };

    /// Each setting priced in the summary, with its name.
    pub const COMPARED: &[(&str, Settings)] = &[
        (
            "template defaults: Tracing PassThrough, SystemLogLevel WARN, access logs on, Ingress HttpApi, Archive on",
            Settings::DEFAULTS,
        ),
        (
            "template defaults with Archive Disabled",
            Settings::NO_ARCHIVE,
        ),
        (
            "template defaults, the archive written as one S3 object per batch (the alternative writer)",
            Settings {
                archive: ArchiveWriter::S3PerBatch,
                ..Settings::DEFAULTS
            },
        ),
        (
            "Tracing Active (the default before), SystemLogLevel WARN, access logs on, Ingress HttpApi",
            Settings {
                tracing_active: true,
                ..Settings::DEFAULTS
            },
        ),
        (
            "Tracing PassThrough, SystemLogLevel WARN, access logs off, Ingress HttpApi",
            Settings {
                access_logs: false,
                ..Settings::DEFAULTS
            },
        ),
        (
            "cheapest: Tracing PassThrough, SystemLogLevel WARN, Ingress FunctionUrl (no access log), Archive Disabled",
            Settings::CHEAPEST,
        ),
    ];
}

/// Targets of issue #16: all-in dollars per million webhooks of the stated mix, with the template's defaults.
pub const TARGET_DOLLARS_PER_MILLION: f64 = 3.00;
/// The same, with [`Settings::CHEAPEST`].
pub const TARGET_CHEAPEST_DOLLARS_PER_MILLION: f64 = 2.00;
/// The archive's cost per million webhooks of the mix at which it is on by default (issue "Archive and replay").
pub const TARGET_ARCHIVE_DOLLARS_PER_MILLION: f64 = 0.25;
/// Write units per timeseries sample, every case (1 KiB webhooks and large batches alike).
pub const TARGET_WCU_PER_SAMPLE: f64 = 0.15;

#[derive(Debug, Deserialize)]
struct Measured {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize, Clone)]
struct Case {
    name: String,
    family: String,
    body_bytes: f64,
    samples_per_webhook: f64,
    ingest: Ingest,
    processor: ProcessorCalls,
    naive: Naive,
    #[serde(default)]
    archive: Option<ArchiveMeasured>,
}

/// The archive's Firehose record for one webhook of the case alone and for a batch of ten (tests/it/cost.rs).
#[derive(Debug, Deserialize, Clone, Copy)]
struct ArchiveMeasured {
    record_bytes_single: f64,
    record_bytes_batch_of_10: f64,
}

impl ArchiveMeasured {
    /// Bytes of the record of a batch of `b` deliveries: the single record, and each further delivery at what it
    /// adds to a batch of ten.
    fn record_bytes(&self, b: f64) -> f64 {
        let each = (self.record_bytes_batch_of_10 - self.record_bytes_single) / 9.0;
        self.record_bytes_single + (b - 1.0).max(0.0) * each
    }
}

#[derive(Debug, Deserialize, Clone)]
struct Ingest {
    requests: BTreeMap<String, f64>,
    sqs_chunks: f64,
}

#[derive(Debug, Deserialize, Clone)]
struct ProcessorCalls {
    requests: BTreeMap<String, f64>,
    write_units: f64,
    read_units: f64,
}

#[derive(Debug, Deserialize, Clone)]
struct Naive {
    write_units: f64,
}

/// What the other benchmarks measured that the cost model uses.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// CPU per ingest request (1 KiB, SQS stubbed) here, ms: the `cpu` bench.
    pub ingest_cpu_ms: f64,
    /// CPU per AWS call of a processor record here, ms: the `cpu` bench's ten-summary batch over its 30 calls.
    pub call_cpu_ms: f64,
    /// Our log bytes per ingest invocation.
    pub ingest_log_bytes: f64,
    /// Our log bytes per processed record.
    pub processor_log_bytes: f64,
    /// Median init time (spawn to first `/next`) of the ingest function here, ms.
    pub ingest_init_ms: f64,
    /// Median init time of a processor here, ms.
    pub processor_init_ms: f64,
    /// CPU to encode one delivery into the archive's batch record here, ms: the `cpu` bench.
    pub archive_cpu_ms: f64,
    /// Where these came from.
    pub source: &'static str,
    /// Where the CPU figures came from.
    pub cpu_source: &'static str,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            ingest_cpu_ms: 0.1,
            call_cpu_ms: 0.1,
            cpu_source: "defaults (no CPU figures found)",
            ingest_log_bytes: DEFAULT_LOG_BYTES.0,
            processor_log_bytes: DEFAULT_LOG_BYTES.1,
            ingest_init_ms: 10.0,
            processor_init_ms: 10.0,
            archive_cpu_ms: 0.05,
            source: "defaults (no cold-start figures found)",
        }
    }
}

impl Observed {
    /// Reads the cold-start harness's and the CPU bench's JSON, where they exist.
    pub fn load(cold_start: &Path, cpu: &Path) -> Observed {
        let mut observed = Observed::from_cold_start(cold_start);
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        };
        if let Some(v) = read(cpu) {
            let us = |prefix: &str| {
                v["ratios"].as_array().and_then(|rs| {
                    rs.iter()
                        .find(|r| r["label"].as_str().is_some_and(|l| l.starts_with(prefix)))
                        .and_then(|r| r["ours_us"].as_f64())
                })
            };
            if let (Some(ingest), Some(batch)) = (
                us("ingest handler 1 KiB"),
                us("processor batch, 10 summary events"),
            ) {
                observed.ingest_cpu_ms = ingest / 1000.0;
                // Ten records of three calls each (duplicate check, record, marker).
                observed.call_cpu_ms = batch / 1000.0 / 30.0;
                observed.cpu_source = "the cpu bench (target/bench/cpu.json)";
            }
            if let Some(archive) = us("archive record, 10 summary") {
                observed.archive_cpu_ms = archive / 1000.0 / 10.0;
            }
        }
        observed
    }

    fn from_cold_start(path: &Path) -> Observed {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Observed::default();
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Observed::default();
        };
        let get = |name: &str, field: &str| {
            v["functions"]
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["name"] == name))
                .and_then(|f| f[field].as_f64())
        };
        let d = Observed::default();
        Observed {
            ingest_cpu_ms: d.ingest_cpu_ms,
            call_cpu_ms: d.call_cpu_ms,
            cpu_source: d.cpu_source,
            ingest_log_bytes: get("ingest", "log_bytes_per_invocation")
                .unwrap_or(d.ingest_log_bytes),
            processor_log_bytes: get("summaries", "log_bytes_per_invocation")
                .unwrap_or(d.processor_log_bytes),
            ingest_init_ms: get("ingest", "init_ms_median").unwrap_or(d.ingest_init_ms),
            processor_init_ms: get("summaries", "init_ms_median").unwrap_or(d.processor_init_ms),
            archive_cpu_ms: d.archive_cpu_ms,
            source: "the cold-start harness (target/bench/cold-start.json)",
        }
    }
}

/// Dollars per webhook, by line.
#[derive(Debug, Default, Clone)]
struct Bill(BTreeMap<&'static str, f64>);

impl Bill {
    fn add(&mut self, line: &'static str, dollars: f64) {
        *self.0.entry(line).or_default() += dollars;
    }

    fn total(&self) -> f64 {
        self.0.values().sum()
    }

    fn total_without(&self, line: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| **k != line)
            .map(|(_, v)| v)
            .sum()
    }

    fn scaled(&self, by: f64) -> Bill {
        Bill(self.0.iter().map(|(k, v)| (*k, v * by)).collect())
    }

    fn plus(&mut self, other: &Bill) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }
}

const LINES: &[&str] = &[
    "API Gateway HTTP API",
    "Lambda requests",
    "Lambda duration",
    "Lambda init (cold starts)",
    "SQS",
    "DynamoDB writes",
    "DynamoDB reads",
    "S3",
    "Firehose",
    "CloudWatch Logs",
    "X-Ray traces",
    "Secrets Manager",
];
const XRAY: &str = "X-Ray traces";

fn latency_ms(operation: &str) -> f64 {
    let service = operation.split('.').next().unwrap_or_default();
    LATENCY_MS
        .iter()
        .find(|(k, _)| *k == operation)
        .or_else(|| LATENCY_MS.iter().find(|(k, _)| *k == service))
        .map_or(10.0, |(_, ms)| *ms)
}

/// Sum of latencies of calls made one after another.
fn sequential_ms(requests: &BTreeMap<String, f64>) -> f64 {
    requests.iter().map(|(op, n)| latency_ms(op) * n).sum()
}

fn count(requests: &BTreeMap<String, f64>, operation: &str) -> f64 {
    requests.get(operation).copied().unwrap_or(0.0)
}

fn gb_seconds(ms: f64) -> f64 {
    // Lambda bills duration rounded up to the millisecond.
    ms.ceil() / 1000.0 * MEMORY_GB
}

fn xray_sampled_share(invocations_per_s: f64) -> f64 {
    if invocations_per_s <= 0.0 {
        return 0.0;
    }
    let recorded = invocations_per_s.min(XRAY_RESERVOIR_PER_S)
        + XRAY_RATE * (invocations_per_s - XRAY_RESERVOIR_PER_S).max(0.0);
    recorded / invocations_per_s
}

/// How the processors are invoked for one family: messages per batch, and the sampled share of invocations.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    batch: f64,
    xray_share: f64,
}

/// The model for one mix: per family, its share of webhooks and how its processor is invoked.
struct Model {
    families: BTreeMap<String, (f64, Delivery)>,
    observed: Observed,
    settings: Settings,
}

impl Model {
    /// Batch fill per family for the mix at [`WEBHOOKS_PER_MONTH`]: the window opens at the first message and
    /// collects what arrives within it (Poisson arrivals), up to the batch size.
    fn new(cases: &[Case], observed: Observed, settings: Settings) -> Model {
        let rate = WEBHOOKS_PER_MONTH / SECONDS_PER_MONTH;
        let mut shares: BTreeMap<String, f64> = BTreeMap::new();
        for (name, share) in MIX {
            if let Some(c) = cases.iter().find(|c| c.name == *name) {
                *shares.entry(c.family.clone()).or_default() += share;
            }
        }
        let families = shares
            .into_iter()
            .map(|(family, share)| {
                let messages_per_s = share * rate;
                let batch = (1.0 + messages_per_s * BATCHING_WINDOW_S).min(BATCH_SIZE);
                let delivery = Delivery {
                    batch,
                    xray_share: xray_sampled_share(messages_per_s / batch),
                };
                (family, (share, delivery))
            })
            .collect();
        Model {
            families,
            observed,
            settings,
        }
    }

    fn delivery(&self, family: &str) -> Delivery {
        self.families.get(family).map_or(
            Delivery {
                batch: 1.0,
                xray_share: 1.0,
            },
            |(_, d)| *d,
        )
    }

    /// What one webhook of `case` costs, our design.
    fn ours(&self, case: &Case) -> Bill {
        self.bill(case, self.delivery(&case.family), self.settings.archive)
    }

    /// The naive design for the same webhook: one item per sample, one processor invocation per message.
    fn naive(&self, case: &Case) -> Bill {
        let rate = WEBHOOKS_PER_MONTH / SECONDS_PER_MONTH;
        let share = self.families.get(&case.family).map_or(0.0, |(s, _)| *s);
        let one_per_message = Delivery {
            batch: 1.0,
            // Every message is an invocation of its family's processor; X-Ray's reservoir is per function.
            xray_share: xray_sampled_share(rate * share),
        };
        let mut naive = case.clone();
        if case.samples_per_webhook > 0.0 {
            // A PutItem per sample (BATCH_CONCURRENCY in flight, so latency counts once per round), the
            // duplicate check and the marker; no bucket to read.
            naive.processor.requests = BTreeMap::from([
                ("DynamoDB.GetItem".to_owned(), 1.0),
                (
                    "DynamoDB.PutItem".to_owned(),
                    1.0 + (case.samples_per_webhook / BATCH_CONCURRENCY).ceil(),
                ),
            ]);
            naive.processor.read_units = 1.0;
        }
        naive.processor.write_units = case.naive.write_units;
        self.bill(&naive, one_per_message, ArchiveWriter::Off)
    }

    fn bill(&self, case: &Case, delivery: Delivery, archive: ArchiveWriter) -> Bill {
        let observed = &self.observed;
        let settings = self.settings;
        let platform_log_bytes = if settings.platform_logs {
            PLATFORM_LOG_BYTES
        } else {
            0.0
        };
        let access_log_bytes = if settings.access_logs && !settings.function_url {
            ACCESS_LOG_BYTES
        } else {
            0.0
        };
        let traced = if settings.tracing_active { 1.0 } else { 0.0 };
        let mut bill = Bill::default();
        // Front door and ingest.
        // A function URL bills nothing per request beyond the function's own invocation.
        let api_requests = if settings.function_url {
            0.0
        } else {
            (case.body_bytes / prices::HTTP_API_INCREMENT)
                .ceil()
                .max(1.0)
        };
        bill.add(
            "API Gateway HTTP API",
            api_requests * prices::HTTP_API_REQUEST,
        );
        bill.add("Lambda requests", prices::LAMBDA_REQUEST);
        let ingest_ms =
            observed.ingest_cpu_ms * LAMBDA_CPU_FACTOR + sequential_ms(&case.ingest.requests);
        bill.add(
            "Lambda duration",
            gb_seconds(ingest_ms) * prices::LAMBDA_GB_SECOND,
        );
        bill.add("SQS", case.ingest.sqs_chunks * prices::SQS_REQUEST);
        bill.add(
            "S3",
            count(&case.ingest.requests, "S3.PutObject") * prices::S3_PUT,
        );
        bill.add(
            "CloudWatch Logs",
            (access_log_bytes + platform_log_bytes + observed.ingest_log_bytes) / 1e9
                * prices::LOGS_INGESTED_GB,
        );
        let ingest_xray = xray_sampled_share(WEBHOOKS_PER_MONTH / SECONDS_PER_MONTH);
        bill.add("X-Ray traces", traced * ingest_xray * prices::XRAY_TRACE);

        // Processor: one invocation per batch; records of a batch wait on AWS BATCH_CONCURRENCY at a time, but
        // share the function's one fraction of a CPU.
        let b = delivery.batch;
        bill.add("Lambda requests", prices::LAMBDA_REQUEST / b);
        let calls: f64 = case.processor.requests.values().sum();
        let record_cpu_ms = calls * observed.call_cpu_ms * LAMBDA_CPU_FACTOR;
        // The archive's call runs beside the records' (futures::join): the batch waits for the longer.
        let (archive_cpu_ms, archive_wait_ms) = match archive {
            ArchiveWriter::Off => (0.0, 0.0),
            ArchiveWriter::Firehose => (
                observed.archive_cpu_ms * LAMBDA_CPU_FACTOR,
                latency_ms("Firehose"),
            ),
            ArchiveWriter::S3PerBatch => (
                observed.archive_cpu_ms * LAMBDA_CPU_FACTOR,
                latency_ms("S3.PutObject"),
            ),
        };
        let batch_ms = b * (record_cpu_ms + archive_cpu_ms)
            + ((b / BATCH_CONCURRENCY).ceil() * sequential_ms(&case.processor.requests))
                .max(archive_wait_ms);
        bill.add(
            "Lambda duration",
            gb_seconds(batch_ms) * prices::LAMBDA_GB_SECOND / b,
        );
        // The event source mapping's ReceiveMessage and DeleteMessageBatch, once per batch.
        bill.add("SQS", 2.0 * prices::SQS_REQUEST / b);
        match (archive, case.archive) {
            (ArchiveWriter::Firehose, Some(a)) => {
                let billed = (a.record_bytes(b) / prices::FIREHOSE_INCREMENT).ceil()
                    * prices::FIREHOSE_INCREMENT;
                bill.add("Firehose", billed / GIB * prices::FIREHOSE_GB / b);
                // Firehose's own PutObject, one per stream and buffer interval, shared by the month's webhooks.
                let objects = ARCHIVE_STREAMS * SECONDS_PER_MONTH / FIREHOSE_BUFFER_S;
                bill.add("S3", objects * prices::S3_PUT / WEBHOOKS_PER_MONTH);
            }
            (ArchiveWriter::S3PerBatch, Some(_)) => bill.add("S3", prices::S3_PUT / b),
            _ => {}
        }
        bill.add(
            "DynamoDB writes",
            case.processor.write_units * prices::DYNAMODB_WRU,
        );
        bill.add(
            "DynamoDB reads",
            case.processor.read_units * prices::DYNAMODB_RRU,
        );
        bill.add(
            "S3",
            count(&case.processor.requests, "S3.GetObject") * prices::S3_GET,
        );
        bill.add(
            "CloudWatch Logs",
            (platform_log_bytes / b + observed.processor_log_bytes) / 1e9
                * prices::LOGS_INGESTED_GB,
        );
        bill.add(
            "X-Ray traces",
            traced * delivery.xray_share / b * prices::XRAY_TRACE,
        );

        // Cold starts bill their init phase; the ingest function reads the signing secrets at each.
        let init_ms =
            (observed.ingest_init_ms + observed.processor_init_ms / b) * LAMBDA_CPU_FACTOR;
        bill.add(
            "Lambda init (cold starts)",
            COLD_START_SHARE * gb_seconds(init_ms) * prices::LAMBDA_GB_SECOND,
        );
        bill.add(
            "Secrets Manager",
            COLD_START_SHARE * prices::SECRETS_MANAGER_CALL,
        );
        bill
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn per_million(d: f64) -> f64 {
    d * 1e6
}

/// Prices the measured cases and prints the tables; returns whether the targets are met.
pub fn run(measured: &Path, observed: Observed) -> Result<bool, String> {
    let text = std::fs::read_to_string(measured).map_err(|e| {
        format!(
            "{}: {e} (run the cost test with JWH_COST_OUT)",
            measured.display()
        )
    })?;
    let measured: Measured =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", measured.display()))?;
    let cases = measured.cases;
    let model = Model::new(&cases, observed, Settings::DEFAULTS);
    say!(
        "\nCost model: dollars per million webhooks, us-east-1 list prices (infra/bench/src/prices.rs)"
    );
    say!(
        "assumptions: {:.0} M webhooks/month, 256 MB arm64, SQS batches of up to {BATCH_SIZE} in a {BATCHING_WINDOW_S} s \
         window, call latency {}, CPU {:.3} ms per ingest request and {:.3} ms per processor AWS call here (from {}) \
         x {LAMBDA_CPU_FACTOR:.1} at 256 MB, {:.0}% cold starts, X-Ray default sampling; log bytes and init from {}; \
         the template's defaults unless named (Tracing PassThrough, SystemLogLevel WARN, access logs on, Ingress HttpApi)",
        WEBHOOKS_PER_MONTH / 1e6,
        LATENCY_MS
            .iter()
            .map(|(k, v)| format!("{k} {v} ms"))
            .collect::<Vec<_>>()
            .join(", "),
        model.observed.ingest_cpu_ms,
        model.observed.call_cpu_ms,
        model.observed.cpu_source,
        COLD_START_SHARE * 100.0,
        model.observed.source,
    );
    for (family, (share, d)) in &model.families {
        say!(
            "  {family:<12} {:>4.0}% of webhooks, {:.2} messages per batch, {:.0}% of its invocations traced",
            share * 100.0,
            d.batch,
            d.xray_share * 100.0
        );
    }

    say!(
        "\nper case (one webhook of each; requests = AWS requests our code makes, per webhook)\n{:<48} {:>6} {:>5} {:>5} {:>7} {:>7} {:>8} {:>9} {:>9}",
        "case",
        "bytes",
        "reqs",
        "WCU",
        "WCU/smp",
        "naiveW",
        "naive/s",
        "$/M ours",
        "$/M naive"
    );
    for c in &cases {
        let ours = model.ours(c);
        let naive = model.naive(c);
        let requests: f64 =
            c.ingest.requests.values().sum::<f64>() + c.processor.requests.values().sum::<f64>();
        let per_sample = |w: f64| {
            if c.samples_per_webhook > 0.0 {
                format!("{:.3}", w / c.samples_per_webhook)
            } else {
                "-".into()
            }
        };
        say!(
            "{:<48} {:>6.0} {:>5.1} {:>5.1} {:>7} {:>7.1} {:>8} {:>9.2} {:>9.2}",
            c.name,
            c.body_bytes,
            requests,
            c.processor.write_units,
            per_sample(c.processor.write_units),
            c.naive.write_units,
            per_sample(c.naive.write_units),
            per_million(ours.total()),
            per_million(naive.total()),
        );
    }

    let mix_bill = |swap: Option<&str>| -> Result<(Bill, Bill), String> {
        let (mut ours_total, mut naive_total) = (Bill::default(), Bill::default());
        for (name, share) in MIX {
            let name = match swap {
                Some(alt) if *name == MIX_TIMESERIES => alt,
                _ => name,
            };
            let c = cases
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("the mix names {name:?}, which was not measured"))?;
            ours_total.plus(&model.ours(c).scaled(*share));
            naive_total.plus(&model.naive(c).scaled(*share));
        }
        Ok((ours_total, naive_total))
    };
    let (ours_total, naive_total) = mix_bill(None)?;
    say!("\nthe mix: {}", mix_description());
    say!(
        "{:<28} {:>12} {:>12}",
        "line ($ per million)",
        "ours",
        "naive"
    );
    for line in LINES {
        say!(
            "{line:<28} {:>12.3} {:>12.3}",
            per_million(ours_total.0.get(line).copied().unwrap_or(0.0)),
            per_million(naive_total.0.get(line).copied().unwrap_or(0.0)),
        );
    }
    let all_in = per_million(ours_total.total());
    let without_xray = per_million(ours_total.total_without(XRAY));
    say!(
        "{:<28} {:>12.3} {:>12.3}\n{:<28} {:>12.3} {:>12.3}",
        "all-in",
        all_in,
        per_million(naive_total.total()),
        "all-in without X-Ray",
        without_xray,
        per_million(naive_total.total_without(XRAY)),
    );
    say!(
        "ratio ours/naive: {:.2}x all-in, {:.2}x without X-Ray",
        ours_total.total() / naive_total.total(),
        ours_total.total_without(XRAY) / naive_total.total_without(XRAY)
    );
    for alt in TIMESERIES_ALTERNATIVES {
        let (o, n) = mix_bill(Some(alt))?;
        say!(
            "  with timeseries as \"{alt}\": ours {:.3}, naive {:.3} all-in ({:.3} / {:.3} without X-Ray)",
            per_million(o.total()),
            per_million(n.total()),
            per_million(o.total_without(XRAY)),
            per_million(n.total_without(XRAY)),
        );
    }
    say!("the mix under the template's cost parameters (ours / naive, all-in):");
    let mut cheapest = f64::NAN;
    let mut totals: Vec<(Settings, f64)> = Vec::new();
    for (name, settings) in Settings::COMPARED {
        let model = Model::new(&cases, observed, *settings);
        let (mut o, mut n) = (Bill::default(), Bill::default());
        for (case, share) in MIX {
            let c = cases
                .iter()
                .find(|c| c.name == *case)
                .ok_or("unmeasured case")?;
            o.plus(&model.ours(c).scaled(*share));
            n.plus(&model.naive(c).scaled(*share));
        }
        if *settings == Settings::CHEAPEST {
            cheapest = per_million(o.total());
        }
        totals.push((*settings, per_million(o.total())));
        say!(
            "  {:>7.3} / {:>7.3}  {name} (API Gateway {:.3}, CloudWatch Logs {:.3}, X-Ray {:.3})",
            per_million(o.total()),
            per_million(n.total()),
            per_million(o.0.get("API Gateway HTTP API").copied().unwrap_or(0.0)),
            per_million(o.0.get("CloudWatch Logs").copied().unwrap_or(0.0)),
            per_million(o.0.get(XRAY).copied().unwrap_or(0.0)),
        );
    }
    let total_of = |settings: Settings| {
        totals
            .iter()
            .find(|(s, _)| *s == settings)
            .map_or(f64::NAN, |(_, t)| *t)
    };
    let archive = total_of(Settings::DEFAULTS) - total_of(Settings::NO_ARCHIVE);
    let per_batch = total_of(Settings {
        archive: ArchiveWriter::S3PerBatch,
        ..Settings::DEFAULTS
    }) - total_of(Settings::NO_ARCHIVE);
    let stored_gib: f64 = MIX
        .iter()
        .filter_map(|(name, share)| {
            let c = cases.iter().find(|c| c.name == *name)?;
            let b = model.delivery(&c.family).batch;
            Some(share * c.archive?.record_bytes(b) / b)
        })
        .sum::<f64>()
        * 1e6
        / GIB;
    say!(
        "archive: {archive:.3} $/M through Firehose (target <= {TARGET_ARCHIVE_DOLLARS_PER_MILLION:.2}: {}), \
         {per_batch:.3} $/M as one S3 object per batch; {stored_gib:.3} GiB stored per million webhooks, \
         ${:.4} per month kept",
        if archive <= TARGET_ARCHIVE_DOLLARS_PER_MILLION {
            "met"
        } else {
            "MISSED"
        },
        stored_gib * prices::S3_STORAGE_GB_MONTH,
    );
    say!("fixed monthly, whatever the traffic:");
    for (what, dollars) in prices::FIXED_MONTHLY {
        say!("  ${dollars:.2}  {what}");
    }

    // Capacity.
    say!(
        "\ncapacity at the template's defaults, webhooks of the mix per second, smallest first (batch times from the \
         measured requests, the latencies and the CPU above)"
    );
    let limits = capacity::limits(&cases, &observed);
    for limit in &limits {
        say!(
            "  {:>9.0}/s  {:<30} {}; raised by {}",
            limit.webhooks_per_s,
            limit.name,
            limit.how,
            limit.raised_by
        );
    }
    if let Some(first) = limits.first() {
        say!(
            "first bottleneck: {} at {:.0} webhooks/s ({:.0} million a day)",
            first.name,
            first.webhooks_per_s,
            first.webhooks_per_s * 86_400.0 / 1e6
        );
    }
    say!(
        "one user's partition ({:.0} write units/s; the marker's unit is elsewhere):",
        capacity::PARTITION_WRITE_UNITS_PER_S
    );
    for (name, units, rate) in capacity::per_user(&cases) {
        say!("  {rate:>9.0}/s  {name} ({units:.1} write units each)");
    }

    // Targets.
    let mut met = true;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let by = |figure: f64, target: f64| {
        if figure <= target {
            String::new()
        } else {
            format!(", by ${:.2}", figure - target)
        }
    };
    let ok = all_in <= TARGET_DOLLARS_PER_MILLION;
    let ok_cheapest = cheapest <= TARGET_CHEAPEST_DOLLARS_PER_MILLION;
    met &= ok && ok_cheapest;
    say!(
        "\ntarget <= ${TARGET_DOLLARS_PER_MILLION:.2} per million 1 KiB webhooks all-in with the template's defaults: \
         ${all_in:.2} ({}{})",
        verdict(ok),
        by(all_in, TARGET_DOLLARS_PER_MILLION),
    );
    say!(
        "target <= ${TARGET_CHEAPEST_DOLLARS_PER_MILLION:.2} per million at the cheapest settings (Ingress FunctionUrl): \
         ${cheapest:.2} ({}{})",
        verdict(ok_cheapest),
        by(cheapest, TARGET_CHEAPEST_DOLLARS_PER_MILLION),
    );
    // The target is for streams and batches of samples; the fixtures' two samples per webhook are not one.
    for c in cases
        .iter()
        .filter(|c| c.samples_per_webhook > 0.0 && !c.name.contains("(fixture)"))
    {
        let per = c.processor.write_units / c.samples_per_webhook;
        let ok = per <= TARGET_WCU_PER_SAMPLE;
        met &= ok;
        say!(
            "target <= {TARGET_WCU_PER_SAMPLE} WCU per timeseries sample, {}: {per:.3} ({}{})",
            c.name,
            verdict(ok),
            if ok {
                String::new()
            } else {
                format!(", {:.1}x over", per / TARGET_WCU_PER_SAMPLE)
            }
        );
    }
    Ok(met)
}

fn mix_description() -> String {
    MIX.iter()
        .map(|(n, s)| format!("{:.0}% {n}", s * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_records_the_first_request_each_second_and_five_percent_of_the_rest() {
        assert_eq!(xray_sampled_share(0.5), 1.0);
        assert_eq!(xray_sampled_share(1.0), 1.0);
        assert!((xray_sampled_share(21.0) - 2.0 / 21.0).abs() < 1e-12);
        assert_eq!(xray_sampled_share(0.0), 0.0);
    }

    #[test]
    fn duration_is_billed_per_started_millisecond() {
        assert_eq!(gb_seconds(0.2), 0.001 * MEMORY_GB);
        assert_eq!(gb_seconds(8.0), 0.008 * MEMORY_GB);
    }

    #[test]
    fn call_latency_by_operation_then_by_service() {
        assert_eq!(latency_ms("S3.PutObject"), 30.0);
        assert_eq!(latency_ms("DynamoDB.GetItem"), 5.0);
        let calls = BTreeMap::from([
            ("DynamoDB.PutItem".to_owned(), 2.0),
            ("SQS.SendMessage".to_owned(), 1.0),
        ]);
        assert_eq!(sequential_ms(&calls), 18.0);
    }

    /// A 1,000-byte summary webhook: one SQS send at ingest, one PutItem of 1 unit in the processor.
    fn summary_case(archive: ArchiveMeasured) -> Case {
        Case {
            name: "c".into(),
            family: "summaries".into(),
            body_bytes: 1000.0,
            samples_per_webhook: 0.0,
            ingest: Ingest {
                requests: BTreeMap::from([("SQS.SendMessage".to_owned(), 1.0)]),
                sqs_chunks: 1.0,
            },
            processor: ProcessorCalls {
                requests: BTreeMap::from([("DynamoDB.PutItem".to_owned(), 1.0)]),
                write_units: 1.0,
                read_units: 0.0,
            },
            naive: Naive { write_units: 1.0 },
            archive: Some(archive),
        }
    }

    #[test]
    fn passthrough_bills_no_traces_warn_no_platform_lines_and_a_function_url_no_api() {
        let case = summary_case(ArchiveMeasured {
            record_bytes_single: 600.0,
            record_bytes_batch_of_10: 1500.0,
        });
        let bill = |settings| {
            Model::new(std::slice::from_ref(&case), Observed::default(), settings).ours(&case)
        };
        let logs = |b: &Bill| b.0["CloudWatch Logs"];
        let defaults = bill(Settings::DEFAULTS);
        assert_eq!(defaults.0[XRAY], 0.0);
        let active = bill(Settings {
            tracing_active: true,
            ..Settings::DEFAULTS
        });
        assert!(active.0[XRAY] > 0.0);
        assert_eq!(logs(&active), logs(&defaults));
        // The ingest invocation and one processor invocation (batch of 1: the case is not in the mix) each add
        // Lambda's platform lines at INFO; the access log adds its line per request.
        let info = bill(Settings {
            platform_logs: true,
            ..Settings::DEFAULTS
        });
        let bytes = (logs(&info) - logs(&defaults)) / prices::LOGS_INGESTED_GB * 1e9;
        assert!((bytes - 2.0 * PLATFORM_LOG_BYTES).abs() < 1e-6, "{bytes}");
        let no_access = bill(Settings {
            access_logs: false,
            ..Settings::DEFAULTS
        });
        let bytes = (logs(&defaults) - logs(&no_access)) / prices::LOGS_INGESTED_GB * 1e9;
        assert!((bytes - ACCESS_LOG_BYTES).abs() < 1e-6, "{bytes}");
        // A function URL: no HTTP API request and no access log line, whatever ApiAccessLogs says; the rest equal.
        let url = bill(Settings {
            function_url: true,
            ..Settings::DEFAULTS
        });
        assert!(defaults.0["API Gateway HTTP API"] > 0.0);
        assert_eq!(url.0["API Gateway HTTP API"], 0.0);
        assert_eq!(logs(&url), logs(&no_access));
        let api = prices::HTTP_API_REQUEST;
        assert!(
            (defaults.total()
                - url.total()
                - api
                - ACCESS_LOG_BYTES / 1e9 * prices::LOGS_INGESTED_GB)
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn the_archive_bills_firehose_by_5_kb_records_or_a_put_per_batch() {
        let a = ArchiveMeasured {
            record_bytes_single: 600.0,
            record_bytes_batch_of_10: 1500.0,
        };
        assert_eq!(a.record_bytes(1.0), 600.0);
        assert_eq!(a.record_bytes(10.0), 1500.0);
        assert_eq!(a.record_bytes(4.0), 900.0);
        let case = summary_case(a);
        let line = |settings: Settings, name: &str| {
            let bill =
                Model::new(std::slice::from_ref(&case), Observed::default(), settings).ours(&case);
            bill.0.get(name).copied().unwrap_or(0.0)
        };
        // A batch of one (the case is not in the mix): one 5 KiB record.
        let firehose = line(Settings::DEFAULTS, "Firehose");
        assert!(
            (firehose - 5.0 * 1024.0 / GIB * prices::FIREHOSE_GB).abs() < 1e-15,
            "{firehose}"
        );
        assert_eq!(line(Settings::NO_ARCHIVE, "Firehose"), 0.0);
        let s3_per_batch = Settings {
            archive: ArchiveWriter::S3PerBatch,
            ..Settings::DEFAULTS
        };
        let s3 = line(s3_per_batch, "S3") - line(Settings::NO_ARCHIVE, "S3");
        assert!((s3 - prices::S3_PUT).abs() < 1e-15, "{s3}");
        // The archive call runs beside the store's: a batch waits for the longer, here the archive's.
        let duration = |s| line(s, "Lambda duration");
        assert!(duration(Settings::DEFAULTS) > duration(Settings::NO_ARCHIVE));
        assert!(duration(s3_per_batch) > duration(Settings::DEFAULTS));
    }

    #[test]
    fn the_mix_adds_up_to_every_webhook() {
        let total: f64 = MIX.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(MIX.iter().any(|(n, _)| *n == MIX_TIMESERIES));
    }
}
