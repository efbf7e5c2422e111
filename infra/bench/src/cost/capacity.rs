//! The capacity model: how many webhooks a second the stack sustains at the template's defaults, for the stated
//! mix, from the same measured requests and CPU as the cost model.
//!
//! Each limit on the way is turned into webhooks of the mix per second: the HTTP API's throttle; the account's
//! Lambda concurrency left to the ingest function; each family's processor (`MaximumConcurrency` invocations, each
//! draining full batches at the batch time modelled from its measured requests and CPU, the archive's call beside
//! them); the busiest archive stream's records per second; the table's on-demand throughput. The smallest is the first bottleneck. One user's partition (DynamoDB's 1,000 write units a second
//! per partition) is a limit on one user's rate, not the stack's, and is printed apart.

use std::collections::BTreeMap;

use super::{
    BATCH_CONCURRENCY, BATCH_SIZE, Case, LAMBDA_CPU_FACTOR, MIX, Observed, latency_ms,
    sequential_ms,
};

/// template.yaml's `ApiThrottleRate` default: requests per second on every route of the HTTP API.
pub const API_THROTTLE_RATE: f64 = 100.0;
/// template.yaml's `{Family}MaxConcurrency` defaults (the fetcher's, `FetchMaxConcurrency`, under `fetch`).
pub const MAX_CONCURRENCY: &[(&str, &str, f64)] = &[
    ("connections", "ConnectionsMaxConcurrency", 2.0),
    ("backfills", "BackfillsMaxConcurrency", 2.0),
    ("summaries", "SummariesMaxConcurrency", 5.0),
    ("timeseries", "TimeseriesMaxConcurrency", 10.0),
    ("lab", "LabMaxConcurrency", 2.0),
    ("catch-all", "CatchAllMaxConcurrency", 2.0),
    ("fetch", "FetchMaxConcurrency", 2.0),
];
/// Lambda's default concurrency quota per account and region, shared by every function of the account.
/// <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>
pub const ACCOUNT_CONCURRENCY: f64 = 1000.0;
/// Concurrency the read side may take at once (the data API and erasure have no reserved concurrency; taken as
/// this many for the model).
pub const READ_SIDE_CONCURRENCY: f64 = 10.0;
/// DynamoDB on-demand: the default per-table throughput quota, write request units per second (an account
/// quota, raised through Service Quotas). A new on-demand table serves 4,000 at first and doubles its previous
/// peak as traffic grows.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>
pub const TABLE_WRITE_UNITS_PER_S: f64 = 40_000.0;
/// See [`TABLE_WRITE_UNITS_PER_S`]: what a newly created on-demand table serves before it has seen a peak.
pub const NEW_TABLE_WRITE_UNITS_PER_S: f64 = 4_000.0;
/// A Firehose stream's records per second, taken at the smaller regions' default (5,000 in the largest regions).
/// <https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html>
pub const FIREHOSE_RECORDS_PER_S: f64 = 1_000.0;
/// DynamoDB's throughput of one partition, write units per second: every record of one user is in one.
pub const PARTITION_WRITE_UNITS_PER_S: f64 = 1_000.0;
/// Write units of a webhook that land in the processed-message markers' partitions, not the user's.
const MARKER_WRITE_UNITS: f64 = 1.0;

/// One limit on the way, as webhooks of the mix per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// What limits.
    pub name: String,
    /// How it was worked out.
    pub how: String,
    /// Webhooks of the mix per second it lets through.
    pub webhooks_per_s: f64,
    /// The parameter (or quota) that raises it.
    pub raised_by: String,
}

/// A processor family's throughput per concurrent invocation, from its cases in the mix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drain {
    /// The family's share of the mix's webhooks.
    pub share: f64,
    /// Time of one full batch, ms.
    pub batch_ms: f64,
    /// Messages one invocation drains per second.
    pub per_invocation: f64,
}

/// What one invocation of each family's processor drains, from the mix's cases of that family: a full batch of
/// [`BATCH_SIZE`] records, [`BATCH_CONCURRENCY`] at a time, each waiting on its AWS calls one after another, and
/// their CPU (at the function's share of a vCPU) added up, plus the event source mapping's receive and delete.
pub fn drains(cases: &[Case], observed: &Observed) -> BTreeMap<String, Drain> {
    let mut families: BTreeMap<String, (f64, BTreeMap<String, f64>)> = BTreeMap::new();
    for (name, share) in MIX {
        let Some(case) = cases.iter().find(|c| c.name == *name) else {
            continue;
        };
        let (total, requests) = families.entry(case.family.clone()).or_default();
        *total += share;
        for (op, n) in &case.processor.requests {
            *requests.entry(op.clone()).or_default() += n * share;
        }
    }
    families
        .into_iter()
        .map(|(family, (share, weighted))| {
            let requests: BTreeMap<String, f64> = weighted
                .into_iter()
                .map(|(op, n)| (op, n / share))
                .collect();
            let calls: f64 = requests.values().sum();
            let record_cpu_ms = calls * observed.call_cpu_ms * LAMBDA_CPU_FACTOR;
            // The archive (on by default): its gzip CPU per delivery, and its Firehose call beside the records'.
            let batch_ms = BATCH_SIZE
                * (record_cpu_ms + observed.archive_cpu_ms * LAMBDA_CPU_FACTOR)
                + ((BATCH_SIZE / BATCH_CONCURRENCY).ceil() * sequential_ms(&requests))
                    .max(latency_ms("Firehose"))
                + 2.0 * latency_ms("SQS");
            let drain = Drain {
                share,
                batch_ms,
                per_invocation: BATCH_SIZE / batch_ms * 1000.0,
            };
            (family, drain)
        })
        .collect()
}

fn max_concurrency(family: &str) -> (&'static str, f64) {
    MAX_CONCURRENCY
        .iter()
        .find(|(f, _, _)| *f == family)
        .map_or(("", 2.0), |(_, p, n)| (*p, *n))
}

/// Every limit of the stack, smallest first: the first is the bottleneck.
pub fn limits(cases: &[Case], observed: &Observed) -> Vec<Limit> {
    let mut limits = vec![Limit {
        name: "HTTP API throttle".into(),
        how: format!("{API_THROTTLE_RATE:.0} requests/s on the webhook route (burst above it: ApiThrottleBurst)"),
        webhooks_per_s: API_THROTTLE_RATE,
        raised_by: "ApiThrottleRate (to the account's 10,000 requests/s per region), or Ingress=FunctionUrl".into(),
    }];

    // Ingest: the account's concurrency less what the processors and the read side may hold.
    let mix_mean = |f: &dyn Fn(&Case) -> f64| -> f64 {
        MIX.iter()
            .filter_map(|(name, share)| {
                cases.iter().find(|c| c.name == *name).map(|c| f(c) * share)
            })
            .sum()
    };
    let ingest_ms = observed.ingest_cpu_ms * LAMBDA_CPU_FACTOR
        + mix_mean(&|c| sequential_ms(&c.ingest.requests));
    let held: f64 = MAX_CONCURRENCY.iter().map(|(_, _, n)| n).sum::<f64>() + READ_SIDE_CONCURRENCY;
    let left = ACCOUNT_CONCURRENCY - held;
    limits.push(Limit {
        name: "Lambda concurrency (ingest)".into(),
        how: format!(
            "{left:.0} of the account's {ACCOUNT_CONCURRENCY:.0} left by the processors and read side, {ingest_ms:.1} ms a request"
        ),
        webhooks_per_s: left / ingest_ms * 1000.0,
        raised_by: "the account's Lambda concurrency quota (Service Quotas)".into(),
    });

    for (family, drain) in drains(cases, observed) {
        let (parameter, concurrency) = max_concurrency(&family);
        let family_rate = concurrency * drain.per_invocation;
        limits.push(Limit {
            name: format!("{family} processor"),
            how: format!(
                "{concurrency:.0} invocations x {:.0} messages/s (a batch of {BATCH_SIZE:.0} in {:.1} ms) = {family_rate:.0}/s, {:.0}% of the mix",
                drain.per_invocation,
                drain.batch_ms,
                drain.share * 100.0
            ),
            webhooks_per_s: family_rate / drain.share,
            raised_by: format!("{parameter} (2 to 1,000)"),
        });
    }

    // The archive: one Firehose record per batch on the family's stream; under load batches are full.
    if let Some((family, share)) = drains(cases, observed)
        .into_iter()
        .map(|(f, d)| (f, d.share))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        limits.push(Limit {
            name: format!("archive stream ({family})"),
            how: format!(
                "{FIREHOSE_RECORDS_PER_S:.0} records/s, one per batch of {BATCH_SIZE:.0}, {:.0}% of the mix on the busiest stream",
                share * 100.0
            ),
            webhooks_per_s: FIREHOSE_RECORDS_PER_S * BATCH_SIZE / share,
            raised_by: "the stream's throughput quota (a Firehose limit increase), or Archive=Disabled".into(),
        });
    }

    let write_units = mix_mean(&|c| c.processor.write_units);
    limits.push(Limit {
        name: "DynamoDB table (on-demand)".into(),
        how: format!(
            "{TABLE_WRITE_UNITS_PER_S:.0} write units/s, {write_units:.2} per webhook of the mix \
             ({:.0} webhooks/s on a new table's first {NEW_TABLE_WRITE_UNITS_PER_S:.0})",
            NEW_TABLE_WRITE_UNITS_PER_S / write_units
        ),
        webhooks_per_s: TABLE_WRITE_UNITS_PER_S / write_units,
        raised_by: "the table's on-demand throughput quota (Service Quotas), or warm throughput"
            .into(),
    });
    limits.sort_by(|a, b| a.webhooks_per_s.total_cmp(&b.webhooks_per_s));
    limits
}

/// One user's webhooks per second that their partition takes, per case with samples or records (the marker's
/// write unit is in another partition).
pub fn per_user(cases: &[Case]) -> Vec<(String, f64, f64)> {
    cases
        .iter()
        .filter(|c| !c.name.contains("(fixture)"))
        .map(|c| {
            let units = (c.processor.write_units - MARKER_WRITE_UNITS).max(1.0);
            (c.name.clone(), units, PARTITION_WRITE_UNITS_PER_S / units)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults above are the template's: a parameter whose default changes changes the model.
    #[test]
    fn the_model_uses_the_templates_defaults() {
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
        )
        .unwrap();
        // A parameter's block: its name at two spaces, then its properties at four, up to the next name.
        let default_of = |parameter: &str| -> f64 {
            let start = template
                .find(&format!("\n  {parameter}:\n"))
                .unwrap_or_else(|| panic!("{parameter} is not a parameter"));
            let line = template[start + 1..]
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with("    "))
                .find_map(|l| l.trim_start().strip_prefix("Default:"))
                .unwrap_or_else(|| panic!("{parameter} has no default"));
            line.trim().trim_matches('"').parse().unwrap()
        };
        assert_eq!(default_of("ApiThrottleRate"), API_THROTTLE_RATE);
        for (_, parameter, n) in MAX_CONCURRENCY {
            assert_eq!(default_of(parameter), *n, "{parameter}");
        }
    }
}
