//! Delivery order does not matter, against moto with the real processors: any set of messages, delivered in any
//! order, with duplicates, late retries of old messages and concurrent processors on the same buckets, leaves the
//! table as applying each message once, in creation order, does. The rules themselves are tested as plain
//! functions in `shared/src/store/plan/tests.rs` (hundreds of cases); this checks the executor's conditions and
//! merges under real concurrency (a few dozen cases).

use aws_config::SdkConfig;
use jwh_shared::envelope::MessageMeta;
use jwh_shared::events::Resource;
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::support::{self, sqs_event, sqs_record};

const USER: &str = "order-user";

fn message_id(ms: i64, fill: u8) -> String {
    use svix_ksuid::KsuidLike;
    format!(
        "msg_{}",
        svix_ksuid::KsuidMs::from_millis(Some(1_732_000_000_000 + ms), Some(&[fill; 15]))
            .to_base62()
    )
}

/// One message: its body and creation time.
#[derive(Debug, Clone)]
struct Message {
    body: Value,
    created_ms: i64,
}

fn message() -> impl Strategy<Value = Message> {
    let at = prop_oneof![
        Just("2024-11-24T10:00:00+00:00"),
        Just("2024-11-24T10:00:05+00:00"),
        Just("2024-11-24T10:59:59.5+00:00"),
    ];
    let samples = proptest::collection::vec((at, 0..3usize, 40..200i64), 1..5);
    (0..4usize, samples, 0..40i64, 0..2usize).prop_map(|(kind, samples, t, id)| {
        let body = match kind {
            // Heart rate from two devices.
            0 | 1 => {
                let device = ["watch-a", "strap-b"][kind];
                let data: Vec<Value> = samples
                    .iter()
                    .map(|(at, _, v)| json!({"timestamp": at, "value": v, "unit": "bpm"}))
                    .collect();
                json!({"event_type": "daily.data.heartrate.created", "user_id": USER,
                       "data": {"source": {"provider": "garmin", "type": "watch", "device_id": device},
                                "data": data, "user_id": USER}})
            }
            // A lab panel: typed samples at one instant.
            2 => {
                let data: Vec<Value> = samples
                    .iter()
                    .map(|(at, kind, v)| {
                        let kind = ["ldl", "hdl", "total"][*kind];
                        json!({"timestamp": at, "type": kind, "value": v, "unit": "mg/dL"})
                    })
                    .collect();
                json!({"event_type": "daily.data.cholesterol.created", "user_id": USER,
                       "data": {"source": {"provider": "labcorp", "type": "lab"}, "data": data, "user_id": USER}})
            }
            // Steps intervals without `timestamp`, or a sleep summary.
            _ if id == 0 => {
                let data: Vec<Value> = samples
                    .iter()
                    .map(|(at, _, v)| {
                        json!({"start": at, "end": "2024-11-24T11:00:00+00:00", "value": v, "unit": "count"})
                    })
                    .collect();
                json!({"event_type": "daily.data.steps.created", "user_id": USER,
                       "data": {"source": {"provider": "oura", "type": "ring"}, "data": data, "user_id": USER}})
            }
            _ => json!({"event_type": "daily.data.sleep.updated", "user_id": USER,
                    "data": {"id": "sleep-1", "user_id": USER, "score": samples[0].2,
                             "updated_at": format!("2024-11-24T1{}:00:00+00:00", samples[0].1),
                             "source": {"provider": "oura", "type": "ring"}}}),
        };
        Message {
            body,
            created_ms: t * 7,
        }
    })
}

fn meta_of(message: &Message, index: usize, received_ms: i64) -> MessageMeta {
    let event_type = message.body["event_type"].as_str().unwrap();
    let family = if event_type.contains("sleep") {
        Family::Summaries
    } else {
        Family::Timeseries
    };
    MessageMeta {
        svix_id: message_id(message.created_ms, index as u8),
        event_type: event_type.into(),
        family,
        svix_timestamp: received_ms / 1000,
        received_at_ms: received_ms,
    }
}

fn processor(config: &SdkConfig, store: &Store, family: Family, concurrency: usize) -> Processor {
    Processor {
        family,
        store: store.clone(),
        s3: support::s3(config),
        fetch: None,
        concurrency,
        archive: None,
    }
}

/// Delivers messages as one SQS batch per family, processed concurrently.
async fn deliver(
    config: &SdkConfig,
    store: &Store,
    batch: &[(usize, MessageMeta, &Message)],
    concurrency: usize,
) {
    for family in [Family::Timeseries, Family::Summaries] {
        let records = batch
            .iter()
            .filter(|(_, m, _)| m.family == family)
            .enumerate()
            .map(|(n, (i, m, msg))| {
                sqs_record(&format!("r{n}-{i}"), m, &msg.body.to_string(), None)
            })
            .collect::<Vec<_>>();
        if records.is_empty() {
            continue;
        }
        let response = processor(config, store, family, concurrency)
            .handle_batch(sqs_event(records))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
}

/// What a reader sees: every sample with its series and version, and the sleep summary.
async fn state(store: &Store) -> Vec<Value> {
    let mut out = Vec::new();
    for resource in [Resource::Heartrate, Resource::Cholesterol, Resource::Steps] {
        for sample in store.samples(USER, resource, None, None).await.unwrap() {
            out.push(serde_json::to_value(&sample).unwrap());
        }
    }
    for record in store.summaries(USER, Resource::Sleep).await.unwrap() {
        out.push(json!([
            record.attributes["data"],
            record.attributes["version"]
        ]));
    }
    out
}

#[test]
fn any_delivery_order_with_concurrent_processors_ends_as_creation_order() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let config = rt.block_on(support::sdk_config());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(message(), 2..7),
        proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
        any::<proptest::sample::Index>(),
    );
    runner
        .run(&strategy, |(messages, repeats, split)| {
            rt.block_on(async {
                let expected_table = support::create_table(&config).await;
                let expected =
                    Store::new(aws_sdk_dynamodb::Client::new(&config), expected_table, 7);
                let mut ordered: Vec<(usize, &Message)> = messages.iter().enumerate().collect();
                ordered.sort_by_key(|(i, m)| {
                    jwh_shared::store::version::MessageVersion::of(&meta_of(m, *i, 0))
                });
                for (n, (i, m)) in ordered.iter().enumerate() {
                    let meta = meta_of(m, *i, 1_732_000_100_000 + n as i64);
                    deliver(&config, &expected, &[(*i, meta, m)], 1).await;
                }

                let table = support::create_table(&config).await;
                let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
                // Last to first, in two concurrent batches, then duplicates and retries of old messages, received
                // later, concurrently again.
                let mut deliveries: Vec<(usize, MessageMeta, &Message)> = messages
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, m)| (i, meta_of(m, i, 1_732_000_200_000), m))
                    .collect();
                let cut = split.index(deliveries.len() + 1);
                let later: Vec<_> = deliveries.split_off(cut);
                deliver(&config, &store, &deliveries, 8).await;
                let mut again = later;
                for r in &repeats {
                    let i = r.index(messages.len());
                    again.push((i, meta_of(&messages[i], i, 1_732_000_300_000), &messages[i]));
                }
                deliver(&config, &store, &again, 8).await;

                let (got, want) = (state(&store).await, state(&expected).await);
                prop_assert_eq!(got, want);
                Ok(())
            })
        })
        .unwrap();
}
