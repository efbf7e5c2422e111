//! CPU per request, each beside a baseline measured in the same run:
//!
//! - **route** and **parse** per family: what the ingest function reads of a body to route it
//!   (`peek_event_type` then the family) and what a processor reads (`parse_event`, the typed view), beside
//!   `serde_json::from_slice::<Value>` of the same bytes, the least any JSON receiver does;
//! - **ingest handler** in-process at 1 KiB, 100 KiB and 1 MiB (claim check): request in, verified, routed and
//!   handed to the SQS (and S3) client, whose HTTP client is an in-process stub (`jwh_testkit::stub`), beside a raw
//!   HMAC-SHA256 of the same body, the least any verifying receiver does;
//! - **processor batch**: ten summary events, and one 1,000-sample heart-rate batch, through
//!   `Processor::handle_batch` with DynamoDB and S3 stubbed the same way, beside parsing the same bodies as
//!   `serde_json::Value`.
//!
//! The stubs answer without I/O, so what is timed is our code plus the SDK's request building, serialisation,
//! signing and response parsing, which no caller of the SDK avoids. After Criterion's groups, an interleaved timed loop measures each
//! pair again and prints one ratio line per pair (best of rounds, so drift on this shared machine hits both alike).
//!
//! ```text
//! cargo bench -p jwh-bench --bench cpu
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::archive::ArchivedDelivery;
use jwh_shared::data_api::{grouped_page, served};
use jwh_shared::envelope::MessageMeta;
use jwh_shared::events::{Resource, parse_event, peek_event_type};
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::query::{StoredSample, expand_bucket, to_record};
use jwh_shared::resolve::Priority;
use jwh_shared::signature::Verifier;
use jwh_shared::store::Store;
use jwh_shared::store::plan::{Merge, Write, merge_bucket, plan};
use jwh_testkit::fixtures::fixture;
use jwh_testkit::stub::Stub;
use lambda_http::Request;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One fixture per family: what each processor is benchmarked on.
const FAMILY_FIXTURES: [(&str, &str); 6] = [
    ("connections", "provider.connection.created"),
    ("backfills", "historical.data.sleep.created"),
    ("summaries", "daily.data.sleep.created"),
    ("timeseries", "daily.data.heartrate.created"),
    ("lab", "labtest.order.updated"),
    ("catch-all", "continuous_query.result_table.changed"),
];

/// A compact heart-rate event of `n` samples, 5 s apart.
fn heartrate(n: i64) -> Vec<u8> {
    jwh_testkit::fixtures::heartrate(n, 5, 0)
}

/// A heart-rate event of about `len` bytes.
fn heartrate_of_size(len: usize) -> Vec<u8> {
    let per_sample = heartrate(2).len() - heartrate(1).len();
    let n = (len.saturating_sub(heartrate(0).len()) / per_sample).max(1);
    heartrate(n as i64)
}

// --- ingest ----------------------------------------------------------------------------------------------------

fn signed_request(body: &[u8]) -> Request {
    jwh_testkit::svix::request(&[SECRET], "msg_bench", body.to_vec())
}

fn ingest() -> Ingest {
    let config = Stub::ok().sdk_config();
    Ingest {
        sqs: aws_sdk_sqs::Client::new(&config),
        s3: aws_sdk_s3::Client::new(&config),
        queue_urls: Family::ALL.map(|f| format!("https://sqs.local/{}", f.as_str())),
        payload_bucket: "bucket".into(),
        secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
        max_body_bytes: 6_000_000,
    }
}

fn keyed_hmac() -> Hmac<Sha256> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    Hmac::<Sha256>::new_from_slice(&key).unwrap()
}

fn raw_hmac(keyed: &Hmac<Sha256>, body: &[u8]) {
    let mut mac = keyed.clone();
    mac.update(black_box(body));
    black_box(mac.finalize());
}

// --- processor -------------------------------------------------------------------------------------------------

fn processor(family: Family) -> Processor {
    let config = Stub::ok().sdk_config();
    Processor {
        family,
        store: Store::new(aws_sdk_dynamodb::Client::new(&config), "records", 7),
        s3: aws_sdk_s3::Client::new(&config),
        fetch: None,
        concurrency: 8,
        archive: None,
    }
}

/// An SQS record as the event source mapping delivers what the ingest function enqueued.
fn sqs_record(svix_id: &str, body: &[u8]) -> SqsMessage {
    jwh_testkit::events::meta_for(svix_id, body).to_lambda_record(
        &format!("m-{svix_id}"),
        std::str::from_utf8(body).unwrap(),
        None,
    )
}

struct Batch {
    name: &'static str,
    processor: Processor,
    event: SqsEvent,
    bodies: Vec<Vec<u8>>,
}

fn batches() -> Vec<Batch> {
    // Ten summaries of five resources, as a summaries batch would hold.
    let summaries: Vec<Vec<u8>> = [
        "daily.data.sleep.created",
        "daily.data.activity.created",
        "daily.data.workouts.created",
        "daily.data.body.created",
        "daily.data.meal.created",
    ]
    .iter()
    .flat_map(|t| [fixture(t), fixture(t)])
    .collect();
    let heart = vec![heartrate(1000)];
    let event = |bodies: &[Vec<u8>]| -> SqsEvent {
        let records: Vec<SqsMessage> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| sqs_record(&format!("msg_{i}"), b))
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    };
    vec![
        Batch {
            name: "10 summary events",
            processor: processor(Family::Summaries),
            event: event(&summaries),
            bodies: summaries,
        },
        Batch {
            name: "1,000 heart-rate samples",
            processor: processor(Family::Timeseries),
            event: event(&heart),
            bodies: heart,
        },
    ]
}

fn parse_values(bodies: &[Vec<u8>]) {
    for b in bodies {
        black_box(serde_json::from_slice::<Value>(black_box(b)).unwrap());
    }
}

// --- Criterion -------------------------------------------------------------------------------------------------

struct Inputs {
    families: Vec<(&'static str, Vec<u8>)>,
    ingest_bodies: Vec<(&'static str, Vec<u8>)>,
    batches: Vec<Batch>,
}

fn inputs() -> Inputs {
    Inputs {
        families: FAMILY_FIXTURES
            .iter()
            .map(|(family, t)| (*family, fixture(t)))
            .collect(),
        ingest_bodies: vec![
            ("1 KiB", heartrate_of_size(1 << 10)),
            ("100 KiB", heartrate_of_size(100 << 10)),
            ("1 MiB (claim check)", heartrate_of_size((1 << 20) + 4096)),
        ],
        batches: batches(),
    }
}

fn criterion_groups(c: &mut Criterion, rt: &tokio::runtime::Runtime, inputs: &Inputs) {
    let mut group = c.benchmark_group("route_and_parse");
    for (family, body) in &inputs.families {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("json_value_baseline", family), |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(body)).unwrap())
        });
        group.bench_function(BenchmarkId::new("route", family), |b| {
            b.iter(|| peek_event_type(black_box(body)).unwrap().family())
        });
        group.bench_function(BenchmarkId::new("parse", family), |b| {
            b.iter(|| parse_event(black_box(body)).unwrap())
        });
    }
    group.finish();

    let ingest = ingest();
    let keyed = keyed_hmac();
    let mut group = c.benchmark_group("ingest_handler");
    for (size, body) in &inputs.ingest_bodies {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("raw_hmac_baseline", size), |b| {
            b.iter(|| raw_hmac(&keyed, body))
        });
        group.bench_function(BenchmarkId::new("handle", size), |b| {
            b.iter_batched(
                || signed_request(body),
                |req| {
                    let response = rt.block_on(ingest.handle(black_box(req)));
                    assert_eq!(response.status(), 200);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("processor_batch");
    for batch in &inputs.batches {
        group.bench_function(BenchmarkId::new("json_value_baseline", batch.name), |b| {
            b.iter(|| parse_values(&batch.bodies))
        });
        group.bench_function(BenchmarkId::new("handle_batch", batch.name), |b| {
            b.iter_batched(
                || batch.event.clone(),
                |event| {
                    let response = rt.block_on(batch.processor.handle_batch(black_box(event)));
                    assert!(response.batch_item_failures.is_empty());
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

// --- ratio lines -----------------------------------------------------------------------------------------------

/// Time per call of `f`, over `n` calls whose inputs `setup` makes beforehand (not timed).
fn per_call<T>(n: usize, setup: impl Fn() -> T, f: impl Fn(T)) -> Duration {
    let inputs: Vec<T> = (0..n).map(|_| setup()).collect();
    let start = Instant::now();
    for input in inputs {
        f(input);
    }
    start.elapsed() / n as u32
}

/// The ratio lines of one run, also written as JSON for the cost model (`target/bench/cpu.json`) and as text for
/// `make bench`'s summary (`target/bench/cpu.txt`).
#[derive(Default)]
struct Ratios {
    figures: Vec<Value>,
    lines: Vec<String>,
}

impl Ratios {
    /// Best of interleaved rounds of `ours` and `baseline`, `n` calls each; prints and keeps the ratio.
    fn measure<T, U>(
        &mut self,
        label: &str,
        n: usize,
        ours: (impl Fn() -> T, impl Fn(T)),
        baseline: (impl Fn() -> U, impl Fn(U)),
    ) {
        let (mut a, mut b) = (Duration::MAX, Duration::MAX);
        for _ in 0..7 {
            a = a.min(per_call(n, &ours.0, &ours.1));
            b = b.min(per_call(n, &baseline.0, &baseline.1));
        }
        let r = a.as_secs_f64() / b.as_secs_f64();
        let line = format!("{label:<62} {r:>7.2}x  ({a:>9.2?} vs {b:>9.2?})");
        println!("{line}");
        self.lines.push(line);
        self.figures.push(json!({
            "label": label, "ratio": r,
            "ours_us": a.as_secs_f64() * 1e6, "baseline_us": b.as_secs_f64() * 1e6,
        }));
    }

    fn write(&self, header: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench/cpu.json");
        let json = serde_json::to_vec_pretty(&json!({ "ratios": self.figures })).unwrap();
        let text = format!("{header}\n{}\n", self.lines.join("\n"));
        let written = std::fs::create_dir_all(path.parent().unwrap())
            .and_then(|()| std::fs::write(&path, json))
            .and_then(|()| std::fs::write(path.with_extension("txt"), text));
        match written {
            Ok(()) => println!("figures written to {}", path.display()),
            Err(e) => eprintln!("{}: {e}", path.display()),
        }
    }
}

fn print_ratios(rt: &tokio::runtime::Runtime, inputs: &Inputs) {
    let header =
        "CPU per call, ours / baseline (best of 7 interleaved rounds; absolute times per call):";
    println!("\n{header}");
    let mut ratios = Ratios::default();
    for (family, body) in &inputs.families {
        let value = (|| (), |()| parse_values(std::slice::from_ref(body)));
        ratios.measure(
            &format!("route {family} ({} B) / serde_json::Value", body.len()),
            2000,
            (
                || (),
                |()| {
                    black_box(peek_event_type(black_box(body)).unwrap().family());
                },
            ),
            value,
        );
        ratios.measure(
            &format!("parse {family} ({} B) / serde_json::Value", body.len()),
            2000,
            (
                || (),
                |()| {
                    black_box(parse_event(black_box(body)).unwrap());
                },
            ),
            value,
        );
    }
    let ingest = ingest();
    let keyed = keyed_hmac();
    for (size, body) in &inputs.ingest_bodies {
        let n = ((8 << 20) / body.len()).clamp(8, 1000);
        ratios.measure(
            &format!("ingest handler {size} / raw HMAC-SHA256"),
            n,
            (
                || signed_request(body),
                |req| {
                    assert_eq!(rt.block_on(ingest.handle(req)).status(), 200);
                },
            ),
            (|| (), |()| raw_hmac(&keyed, body)),
        );
    }
    for batch in &inputs.batches {
        ratios.measure(
            &format!("processor batch, {} / serde_json::Value", batch.name),
            50,
            (
                || batch.event.clone(),
                |event| {
                    let response = rt.block_on(batch.processor.handle_batch(event));
                    assert!(response.batch_item_failures.is_empty());
                },
            ),
            (|| (), |()| parse_values(&batch.bodies)),
        );
    }
    // The archive: one processor batch of ten summary deliveries encoded as its Firehose record (JSON lines,
    // gzip), beside serializing the same lines without compression.
    if let Some(batch) = inputs.batches.iter().find(|b| b.name.contains("summary")) {
        let deliveries: Vec<ArchivedDelivery> = batch
            .bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let meta = MessageMeta {
                    svix_id: format!("msg_{i}"),
                    event_type: "daily.data.sleep.created".into(),
                    family: Family::Summaries,
                    svix_timestamp: 1_764_670_000,
                    received_at_ms: 1_764_670_000_000,
                };
                ArchivedDelivery::new(&meta, body)
            })
            .collect();
        ratios.measure(
            &format!("archive record, {} / JSON lines uncompressed", batch.name),
            200,
            (
                || (),
                |()| {
                    black_box(jwh_shared::archive::encode(black_box(&deliveries)));
                },
            ),
            (
                || (),
                |()| {
                    for d in &deliveries {
                        black_box(serde_json::to_vec(black_box(d)).unwrap());
                    }
                },
            ),
        );
    }
    // The read side: a grouped page of a day of 5 s heart rate from two sources, beside decoding the same items
    // into JSON text (what returning a plain Query's items would cost).
    let day = day_of_two_sources();
    let heart_rate = Priority::default_for(Resource::Heartrate);
    let plain = (
        || day.clone(),
        |items: Vec<_>| {
            let records: Vec<_> = items.into_iter().map(to_record).collect();
            black_box(serde_json::to_string(&records).unwrap());
        },
    );
    ratios.measure(
        &format!(
            "read API page, day of 5 s HR x 2 ({} items) / items to JSON",
            day.len()
        ),
        5,
        (
            || day.clone(),
            |items| {
                black_box(serve_page(items, None));
            },
        ),
        plain,
    );
    ratios.measure(
        "read API page, same day, resolve=true / items to JSON",
        5,
        (
            || day.clone(),
            |items| {
                black_box(serve_page(items, Some(&heart_rate)));
            },
        ),
        plain,
    );
    ratios.write(header);
}

/// The bucket items of a day of 5 s heart rate from a phone and a watch (24 hourly webhooks from each), as the
/// timeseries processor leaves them: what the read API's grouped window reads for that day.
fn day_of_two_sources()
-> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut buckets = std::collections::BTreeMap::new();
    let mut n = 0;
    for hour in 0..24 {
        for (provider, source) in [("apple_health_kit", "phone"), ("garmin", "watch")] {
            let data: Vec<Value> = (0..720)
                .map(|i| {
                    json!({"timestamp": format!("2024-11-24T{hour:02}:{:02}:{:02}+00:00", i * 5 / 60, i * 5 % 60),
                           "value": 60 + (i + hour) % 50, "unit": "bpm", "timezone_offset": 3600})
                })
                .collect();
            let body = json!({"event_type": "daily.data.heartrate.created", "user_id": "u",
                "data": {"user_id": "u", "source": {"provider": provider, "type": source}, "data": data}});
            n += 1;
            let meta = MessageMeta {
                svix_id: format!("msg_{n}"),
                event_type: "daily.data.heartrate.created".into(),
                family: Family::Timeseries,
                svix_timestamp: 1_732_406_400 + n,
                received_at_ms: (1_732_406_400 + n) * 1000,
            };
            let event = parse_event(body.to_string().as_bytes()).unwrap();
            for write in plan(&event, &meta).unwrap() {
                let Write::Bucket(bucket) = write else {
                    continue;
                };
                if let Merge::Put { item, .. } = merge_bucket(buckets.get(&bucket.sk), &bucket) {
                    buckets.insert(bucket.sk.clone(), item);
                }
            }
        }
    }
    buckets.into_values().collect()
}

/// What the read API does with a day's items beside the read: expand, resolve or not, order, and the first page's
/// body as text.
fn serve_page(
    items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    resolve: Option<&Priority>,
) -> usize {
    let raw: Vec<StoredSample> = items
        .into_iter()
        .map(to_record)
        .collect::<Vec<_>>()
        .iter()
        .flat_map(expand_bucket)
        .collect();
    let samples = served(&raw, None, resolve);
    grouped_page(&samples, 0, jwh_shared::data_api::MAX_PAGE)
        .to_string()
        .len()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inputs = inputs();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    criterion_groups(&mut criterion, &rt, &inputs);
    criterion.final_summary();

    // Under `cargo test --benches` Criterion runs each benchmark once; the ratio loop is for real runs only.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    if benchmarking {
        print_ratios(&rt, &inputs);
    }
}
