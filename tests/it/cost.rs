//! What one webhook costs in AWS requests, measured from the calls the code really makes against moto.
//!
//! An SDK interceptor ([`Meter`]) sits on every client the ingest handler and the processors use; it counts each
//! request by service and operation, sizes DynamoDB items by DynamoDB's rules and SQS payloads in SQS's 64 KiB
//! billing chunks, so the figures follow the code and not a reading of it.
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
//!
//! Each case sends one signed webhook through the real ingest handler (SQS and S3 on moto), then hands the
//! message it enqueued to its family's processor (DynamoDB and S3 on moto). Beside our figures, the naive design's
//! DynamoDB writes for the same event: one item per timeseries sample, sized the same way.
//!
//! `cargo test -p jwh-tests --test it cost -- --nocapture` prints the table; with `JWH_COST_OUT=<file>` the
//! measurements are also written as JSON, which `jwh-bench cost` prices (see BENCHMARKS.md, `make bench`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::operation::put_object::PutObjectInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::envelope::{ClaimCheck, MessageMeta};
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::signature::{Secret, Verifier, sign};
use jwh_shared::store::Store;
use lambda_http::Body;
use serde_json::{Value, json};

use crate::support::{self, fixture, sqs_event, sqs_record};
use jwh_testkit::fixtures::heartrate;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// SQS bills every 64 KiB of a request's payload as one request.
const SQS_CHUNK: usize = 64 * 1024;

/// DynamoDB's size of an item, as the store bounds its items by.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    jwh_shared::store::plan::item_size(item)
}

/// What the metered clients asked of AWS.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Requests by `Service.Operation`, retries included.
    requests: BTreeMap<String, u32>,
    /// DynamoDB item writes (PutItem, UpdateItem).
    writes: u32,
    /// DynamoDB GetItem calls answered.
    gets: u32,
    /// DynamoDB write units: 1 per started KiB of the item written.
    write_units: u32,
    /// DynamoDB read units: 1 per started 4 KiB read, at least 1; half for an eventually consistent read.
    read_units: f64,
    /// SQS billing chunks of the messages sent (64 KiB each, body and attributes).
    sqs_chunks: u32,
    /// Bytes put to S3.
    s3_put_bytes: u64,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        for (k, v) in &t.requests {
            *self.requests.entry(k.clone()).or_default() += v;
        }
        self.writes += t.writes;
        self.gets += t.gets;
        self.write_units += t.write_units;
        self.read_units += t.read_units;
        self.sqs_chunks += t.sqs_chunks;
        self.s3_put_bytes += t.s3_put_bytes;
    }

    fn total_requests(&self) -> u32 {
        self.requests.values().sum()
    }

    /// Requests by operation, per webhook of `webhooks`.
    fn requests_json(&self, webhooks: u32) -> Value {
        let per: BTreeMap<&str, f64> = self
            .requests
            .iter()
            .map(|(k, v)| (k.as_str(), f64::from(*v) / f64::from(webhooks)))
            .collect();
        json!(per)
    }
}

/// Whether a `GetItem` asked for a strongly consistent read, from its input to its output (one bag per call).
#[derive(Debug, Clone, Copy)]
struct ConsistentRead(bool);

impl Storable for ConsistentRead {
    type Storer = StoreReplace<Self>;
}

/// An SDK interceptor that tallies every request of the clients it is installed on.
#[derive(Debug, Default, Clone)]
struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "CostMeter"
    }

    // Not `read_before_execution`: a client's interceptors run that before the operation's configuration (and
    // with it the operation's name) is in the bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        let input = context.input();
        if let Some(get) = input.downcast_ref::<GetItemInput>() {
            cfg.interceptor_state()
                .store_put(ConsistentRead(get.consistent_read() == Some(true)));
        }
        let mut t = self.0.lock().unwrap();
        *t.requests.entry(operation).or_default() += 1;
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            t.writes += 1;
            let item = put.item().unwrap();
            t.write_units += item_size(item).div_ceil(1024) as u32;
            // A summary's entry in the keys-only by-day index: one unit when the item is new or changes day (every
            // case here writes a new one; a replacement on the same day costs the index nothing).
            if item.contains_key(jwh_shared::store::DAY) {
                t.write_units += 1;
            }
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            t.writes += 1;
            // An update is charged the item's size after it; its values are a lower bound for a new item.
            let size: usize = update
                .expression_attribute_values()
                .map(item_size)
                .unwrap_or(0)
                + update.key().map(item_size).unwrap_or(0);
            t.write_units += size.div_ceil(1024).max(1) as u32;
        } else if let Some(send) = input.downcast_ref::<SendMessageInput>() {
            // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
            let attributes: usize = send
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            k.len()
                                + v.data_type().len()
                                + v.string_value().map_or(0, str::len)
                                + v.binary_value().map_or(0, |b| b.as_ref().len())
                        })
                        .sum()
                })
                .unwrap_or(0);
            let payload = send.message_body().map_or(0, str::len) + attributes;
            t.sqs_chunks += payload.div_ceil(SQS_CHUNK).max(1) as u32;
        } else if let Some(put) = input.downcast_ref::<PutObjectInput>() {
            let size = put.body().size_hint();
            t.s3_put_bytes += size.1.unwrap_or(size.0);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error()
            && let Some(get) = output.downcast_ref::<GetItemOutput>()
        {
            let consistent = cfg.load::<ConsistentRead>().is_none_or(|c| c.0);
            let mut t = self.0.lock().unwrap();
            t.gets += 1;
            // One unit per started 4 KB strongly consistent, half that eventually consistent.
            let units = get.item().map(item_size).unwrap_or(0).div_ceil(4096).max(1) as f64;
            t.read_units += if consistent { units } else { units / 2.0 };
        }
        Ok(())
    }
}

/// Moto resources and a metered ingest handler; processors are made per case.
struct Bench {
    ingest: Ingest,
    ingest_meter: Meter,
    config: SdkConfig,
}

impl Bench {
    async fn new() -> Bench {
        let config = support::sdk_config().await;
        let mut queue_urls: [String; 6] = Default::default();
        for (slot, f) in queue_urls.iter_mut().zip(Family::ALL) {
            *slot = support::create_queue(&config, f.as_str()).await;
        }
        let meter = Meter::default();
        let ingest = Ingest {
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config)
                    .interceptor(meter.clone())
                    .build(),
            ),
            s3: s3_client(&config, &meter),
            queue_urls,
            payload_bucket: support::create_bucket(&config).await,
            secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
            max_body_bytes: 6_000_000,
        };
        Bench {
            ingest,
            ingest_meter: meter,
            config,
        }
    }

    /// A metered processor of `family` on a table of its own, so that every case starts from empty buckets.
    async fn processor(&self, family: Family, meter: &Meter) -> Processor {
        let table = support::create_table(&self.config).await;
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.config)
                .interceptor(meter.clone())
                .build(),
        );
        Processor {
            family,
            store: Store::new(ddb, table, 7),
            s3: s3_client(&self.config, meter),
            fetch: None,
            concurrency: 1,
            archive: None,
        }
    }

    /// Signs and ingests `body`, then hands what was enqueued to `processor`: the ingest's tally and the SQS
    /// record as the processor received it.
    async fn deliver(
        &self,
        svix_id: &str,
        body: &[u8],
        processor: &Processor,
    ) -> (Tally, aws_lambda_events::event::sqs::SqsMessage) {
        let now = chrono::Utc::now();
        let sig = sign(
            &Secret::parse(SECRET).unwrap(),
            svix_id,
            now.timestamp(),
            body,
        );
        let request = http::Request::builder()
            .method("POST")
            .uri("/webhooks/junction")
            .header("svix-id", svix_id)
            .header("svix-timestamp", now.timestamp().to_string())
            .header("svix-signature", sig)
            .body(Body::Binary(body.to_vec()))
            .unwrap();
        let accepted = self
            .ingest
            .accept(request, now.timestamp(), now.timestamp_millis())
            .await
            .unwrap_or_else(|(_, r)| panic!("{svix_id}: ingest refused: {r}"));
        assert_eq!(accepted.meta.family, processor.family, "{svix_id}");
        let ingest = self.ingest_meter.take();
        let claim = accepted
            .claim_checked
            .then(|| ClaimCheck::for_message(&self.ingest.payload_bucket, &accepted.meta));
        let queued_body = match &claim {
            Some(c) => c.placeholder_body(body.len()),
            None => String::from_utf8(body.to_vec()).unwrap(),
        };
        let record = sqs_record(
            &format!("m-{svix_id}"),
            &accepted.meta,
            &queued_body,
            claim.as_ref(),
        );
        let response = processor
            .handle_batch(sqs_event(vec![record.clone()]))
            .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{svix_id}: processing failed"
        );
        (ingest, record)
    }
}

/// The family the ingest handler routes `body` to.
fn family_of(body: &[u8]) -> Family {
    jwh_shared::events::peek_event_type(body).map_or(Family::CatchAll, |t| t.family())
}

fn s3_client(config: &SdkConfig, meter: &Meter) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .interceptor(meter.clone())
            .build(),
    )
}

/// The naive design's DynamoDB write units for a timeseries event: one item per sample (key, provenance and the
/// sample as sent), sized by the same rules; plus the processed-marker every design needs.
fn naive_write_units(body: &[u8], ours: &Tally) -> u32 {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(samples) = v.pointer("/data/data").and_then(Value::as_array) else {
        return ours.write_units;
    };
    let event_type = v["event_type"].as_str().unwrap_or_default();
    let resource = event_type.split('.').nth(2).unwrap_or_default();
    let provider = v
        .pointer("/data/source/provider")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let source_type = v
        .pointer("/data/source/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = v["user_id"].as_str().unwrap_or_default();
    let per_sample: u32 = samples
        .iter()
        .map(|sample| {
            let ts = sample["timestamp"].as_str().unwrap_or_default();
            let item = HashMap::from([
                ("pk".to_owned(), AttributeValue::S(format!("USER#{user}"))),
                (
                    "sk".to_owned(),
                    AttributeValue::S(format!("TS#{resource}#{ts}#{provider}#{source_type}")),
                ),
                ("kind".to_owned(), AttributeValue::S("sample".into())),
                ("svix_id".to_owned(), AttributeValue::S("msg_cost".into())),
                ("value".to_owned(), AttributeValue::S(sample.to_string())),
            ]);
            item_size(&item).div_ceil(1024) as u32
        })
        .sum();
    // The marker is the last write of every message, 1 unit.
    per_sample + 1
}

/// One priced case: a single webhook, or the mean over a stream of them.
struct Case {
    name: String,
    event_type: String,
    family: Family,
    webhooks: u32,
    body_bytes: usize,
    samples: u32,
    ingest: Tally,
    processor: Tally,
    naive_write_units: u32,
    archive: ArchiveBytes,
}

/// What the archive writes for a webhook of a case, by the archive's own encoder (`jwh_shared::archive`): the
/// Firehose record of one delivery alone, and of a batch of ten deliveries of it.
#[derive(Debug, Clone, Copy)]
struct ArchiveBytes {
    line: usize,
    single: usize,
    batch_of_10: usize,
}

impl ArchiveBytes {
    fn of(body: &[u8]) -> Self {
        use jwh_shared::archive::{ArchivedDelivery, encode};
        let meta = &MessageMeta {
            // A Svix id as long as Svix's: `msg_` and a 27-character KSUID.
            svix_id: "msg_2pJ0mYqkQsTDYWnxYJ5hPNqDWx8".into(),
            event_type: jwh_shared::events::peek_event_type(body)
                .map(|t| t.as_str().into_owned())
                .unwrap_or_default(),
            family: family_of(body),
            svix_timestamp: 1_764_670_000,
            received_at_ms: 1_764_670_000_123,
        };
        let one = ArchivedDelivery::new(meta, body);
        let line = serde_json::to_vec(&one).unwrap().len() + 1;
        let ten: Vec<ArchivedDelivery> = (0..10)
            .map(|i| {
                let meta = MessageMeta {
                    svix_id: format!("{}_{i}", meta.svix_id),
                    ..meta.clone()
                };
                ArchivedDelivery::new(&meta, body)
            })
            .collect();
        let size = |ds: &[ArchivedDelivery]| encode(ds).records.iter().map(Vec::len).sum::<usize>();
        ArchiveBytes {
            line,
            single: size(std::slice::from_ref(&one)),
            batch_of_10: size(&ten),
        }
    }
}

impl Case {
    fn per_webhook(&self, x: f64) -> f64 {
        x / f64::from(self.webhooks)
    }

    fn to_json(&self) -> Value {
        let n = f64::from(self.webhooks);
        json!({
            "name": self.name,
            "event_type": self.event_type,
            "family": self.family.as_str(),
            "webhooks": self.webhooks,
            "body_bytes": self.body_bytes,
            "samples_per_webhook": f64::from(self.samples) / n,
            "ingest": {
                "requests": self.ingest.requests_json(self.webhooks),
                "sqs_chunks": f64::from(self.ingest.sqs_chunks) / n,
                "s3_put_bytes": self.ingest.s3_put_bytes as f64 / n,
            },
            "processor": {
                "requests": self.processor.requests_json(self.webhooks),
                "write_units": f64::from(self.processor.write_units) / n,
                "read_units": self.processor.read_units / n,
                "items_written": f64::from(self.processor.writes) / n,
            },
            "naive": { "write_units": f64::from(self.naive_write_units) / n },
            "archive": {
                "line_bytes": self.archive.line,
                "record_bytes_single": self.archive.single,
                "record_bytes_batch_of_10": self.archive.batch_of_10,
            },
        })
    }

    fn print(&self) {
        let wcu = self.per_webhook(f64::from(self.processor.write_units));
        let per_sample = if self.samples > 0 {
            format!(
                "{:.3}",
                f64::from(self.processor.write_units) / f64::from(self.samples)
            )
        } else {
            "-".into()
        };
        let naive_per_sample = if self.samples > 0 {
            format!(
                "{:.3}",
                f64::from(self.naive_write_units) / f64::from(self.samples)
            )
        } else {
            "-".into()
        };
        println!(
            "{:<46} {:>7} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.2} {:>8} {:>8}",
            self.name,
            self.body_bytes,
            self.per_webhook(f64::from(self.ingest.total_requests())),
            self.per_webhook(f64::from(self.processor.total_requests())),
            wcu,
            self.per_webhook(f64::from(self.naive_write_units)),
            self.per_webhook(self.processor.read_units),
            per_sample,
            naive_per_sample,
        );
    }
}

fn samples_in(body: &[u8]) -> u32 {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    v.pointer("/data/data")
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u32)
}

#[tokio::test]
async fn requests_and_write_units_per_webhook() {
    let bench = Bench::new().await;
    let singles: Vec<(&str, Vec<u8>)> = vec![
        (
            "provider.connection.created",
            fixture("provider.connection.created"),
        ),
        (
            "provider.device.created",
            fixture("provider.device.created"),
        ),
        (
            "historical.data.sleep.created",
            fixture("historical.data.sleep.created"),
        ),
        (
            "daily.data.sleep.created",
            fixture("daily.data.sleep.created"),
        ),
        (
            "daily.data.activity.created",
            fixture("daily.data.activity.created"),
        ),
        (
            "daily.data.workouts.created",
            fixture("daily.data.workouts.created"),
        ),
        (
            "daily.data.heartrate.created (fixture)",
            fixture("daily.data.heartrate.created"),
        ),
        (
            "daily.data.steps.created (fixture)",
            fixture("daily.data.steps.created"),
        ),
        (
            "heartrate, 1 KiB: 7 samples, fresh hour",
            heartrate(7, 5, 0),
        ),
        ("heartrate, 1000 samples at 5 s", heartrate(1000, 5, 0)),
        ("heartrate, 1000 samples at 60 s", heartrate(1000, 60, 0)),
        (
            "heartrate, 10000 samples (claim check)",
            heartrate(10_000, 5, 0),
        ),
        ("labtest.order.updated", fixture("labtest.order.updated")),
        (
            "continuous_query.result_table.changed",
            fixture("continuous_query.result_table.changed"),
        ),
        (
            "unparseable body (catch-all)",
            b"not json at all, but signed".to_vec(),
        ),
    ];
    let mut cases = Vec::new();
    for (i, (name, body)) in singles.into_iter().enumerate() {
        let svix_id = format!("msg_cost_{i}");
        let meter = Meter::default();
        let processor = bench.processor(family_of(&body), &meter).await;
        let (ingest, record) = bench.deliver(&svix_id, &body, &processor).await;
        let processed = meter.take();
        // Every event costs its marker write plus its records; a redelivery costs one read and nothing else.
        assert!(processed.writes >= 2, "{name}: record(s) and marker");
        processor.handle_batch(sqs_event(vec![record])).await;
        let again = meter.take();
        // (A claim-checked body is fetched from S3 before the duplicate check: the marker lives with the body.)
        assert_eq!(
            (again.requests.get("DynamoDB.GetItem"), again.write_units),
            (Some(&1), 0),
            "{name}: a duplicate is one read"
        );
        assert_eq!(
            again.total_requests(),
            1 + ingest.requests.get("S3.PutObject").copied().unwrap_or(0),
            "{name}: a duplicate costs nothing else"
        );
        let samples = samples_in(&body);
        let case = Case {
            name: name.to_owned(),
            event_type: jwh_shared::events::peek_event_type(&body)
                .map(|t| t.as_str().into_owned())
                .unwrap_or_default(),
            family: processor.family,
            webhooks: 1,
            body_bytes: body.len(),
            samples,
            naive_write_units: naive_write_units(&body, &processed),
            archive: ArchiveBytes::of(&body),
            ingest,
            processor: processed,
        };
        if samples >= 1000 {
            let per = f64::from(case.processor.write_units) / f64::from(samples);
            assert!(per <= 0.1, "{name}: {per} write units per sample");
        }
        cases.push(case);
    }

    // Streams: 1 KiB heart-rate webhooks (7 samples each) filling the same buckets, as a watch syncing all day would;
    // every write re-writes the whole bucket (a quarter hour for heart rate), so the bucket's size, not the
    // webhook's, sets the cost.
    for (name, seconds_apart, hours) in [
        ("heartrate stream, 1 KiB webhooks, 5 s samples", 5, 1),
        ("heartrate stream, 1 KiB webhooks, 60 s samples", 60, 2),
    ] {
        let per_webhook = 7;
        let webhooks = (hours * 3600 / seconds_apart / per_webhook) as u32;
        let meter = Meter::default();
        let processor = bench.processor(Family::Timeseries, &meter).await;
        let (mut ingest, mut proc_tally, mut naive, mut samples, mut bytes) =
            (Tally::default(), Tally::default(), 0, 0, 0);
        let first_body = heartrate(per_webhook, seconds_apart, 0);
        for w in 0..i64::from(webhooks) {
            let body = heartrate(per_webhook, seconds_apart, w * per_webhook * seconds_apart);
            let (t_ingest, _) = bench
                .deliver(
                    &format!("msg_stream_{seconds_apart}_{w}"),
                    &body,
                    &processor,
                )
                .await;
            let t = meter.take();
            ingest.add(&t_ingest);
            proc_tally.add(&t);
            naive += naive_write_units(&body, &t);
            samples += samples_in(&body);
            bytes += body.len();
        }
        cases.push(Case {
            name: name.to_owned(),
            event_type: "daily.data.heartrate.created".into(),
            family: Family::Timeseries,
            webhooks,
            body_bytes: bytes / webhooks as usize,
            samples,
            ingest,
            processor: proc_tally,
            naive_write_units: naive,
            archive: ArchiveBytes::of(&first_body),
        });
    }

    println!(
        "\nper webhook, measured against moto (in-req: ingest's AWS requests, pr-req: the processor's; \
         naiveW: the naive design's write units)"
    );
    println!(
        "{:<46} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "case", "bytes", "in-req", "pr-req", "WCU", "naiveW", "RCU", "WCU/smp", "naive/s"
    );
    for case in &cases {
        case.print();
    }

    if let Some(path) = std::env::var_os("JWH_COST_OUT") {
        let out = json!({
            "source": "tests/it/cost.rs against moto: SDK interceptor on every client",
            "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
        });
        // Relative to the repository root: cargo runs tests from the package's directory.
        let path = support::repo_root().join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap()).unwrap();
        println!("measurements written to {}", path.display());
    }
}
