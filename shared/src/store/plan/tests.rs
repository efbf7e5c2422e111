//! The store's rules as plain functions: identity, ordering, sizes. A small in-memory table applies plans with
//! the conditions the executor sends (a version guard, a bucket merge), so that delivery orders can be compared.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::envelope::MessageMeta;
use crate::events::parse_event;
use crate::events::test_support::fixtures;
use crate::family::Family;

const USER: &str = "u1";

fn ksuid_id(ms: i64, fill: u8) -> String {
    use svix_ksuid::KsuidLike;
    format!(
        "msg_{}",
        svix_ksuid::KsuidMs::from_millis(Some(1_732_000_000_000 + ms), Some(&[fill; 15]))
            .to_base62()
    )
}

/// A message created `ms` after 2024-11-19T07:06:40Z (a KSUID id), received `delay_ms` later.
fn meta(ms: i64, fill: u8, event_type: &str, delay_ms: i64) -> MessageMeta {
    let created = 1_732_000_000_000 + ms;
    MessageMeta {
        svix_id: ksuid_id(ms, fill),
        event_type: event_type.into(),
        family: Family::Timeseries,
        svix_timestamp: (created + delay_ms) / 1000,
        received_at_ms: created + delay_ms,
    }
}

fn event(body: &Value) -> Event {
    parse_event(body.to_string().as_bytes()).unwrap()
}

fn timeseries(resource: &str, source: Value, samples: Value) -> Value {
    json!({"event_type": format!("daily.data.{resource}.created"), "user_id": USER,
           "data": {"source": source, "data": samples, "user_id": USER}})
}

/// A table: (pk, sk) -> item, with the executor's conditions.
#[derive(Default, Clone)]
struct Table(BTreeMap<(String, String), Item>);

fn key_of(item: &Item) -> (String, String) {
    let get = |k: &str| item[k].as_s().unwrap().clone();
    (get(PK), get(SK))
}

impl Table {
    fn apply(&mut self, write: &Write) {
        match write {
            Write::Put { item, version } => {
                let key = key_of(item);
                let admit = match (version, self.0.get(&key)) {
                    (Some(v), Some(stored)) => stored
                        .get(VERSION)
                        .and_then(|s| s.as_s().ok())
                        .is_none_or(|stored| stored <= v),
                    _ => true,
                };
                if admit {
                    self.0.insert(key, item.clone());
                }
            }
            Write::Update {
                pk,
                sk,
                set,
                version,
            } => {
                let entry = self.0.entry((pk.clone(), sk.clone())).or_insert_with(|| {
                    Item::from([
                        (PK.to_owned(), s(pk.clone())),
                        (SK.to_owned(), s(sk.clone())),
                    ])
                });
                let stored = entry.get(VERSION).and_then(|s| s.as_s().ok()).cloned();
                if stored.is_none_or(|stored| stored <= *version) {
                    for (k, v) in set {
                        entry.insert(k.clone(), v.clone());
                    }
                }
            }
            Write::Bucket(b) => {
                let key = (b.pk.clone(), b.sk.clone());
                match merge_bucket(self.0.get(&key), b) {
                    Merge::Put { item, .. } => {
                        self.0.insert(key, item);
                    }
                    Merge::Unchanged { .. } => {}
                    Merge::TooLarge { bytes } => panic!("bucket of {bytes} bytes"),
                }
            }
        }
    }

    fn store(&mut self, event: &Event, meta: &MessageMeta) {
        for write in plan(event, meta).unwrap() {
            self.apply(&write);
        }
    }

    /// What a reader sees: every sample (bucket, offset -> sample, version) and every other record without its
    /// receive time.
    fn state(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for ((pk, sk), item) in &self.0 {
            if sk.starts_with("TS#") {
                let bucket = read_bucket(item);
                for (offset, (value, version)) in bucket.samples {
                    let sample = decode_sample(&value, &bucket.shared).unwrap();
                    out.insert(
                        format!("{pk}/{sk}/{offset}"),
                        json!([sample, version.created_ms, version.tie]),
                    );
                }
            } else {
                let fields: BTreeMap<&str, String> = item
                    .iter()
                    .filter(|(k, _)| k.as_str() != "received_at")
                    .map(|(k, v)| (k.as_str(), format!("{v:?}")))
                    .collect();
                out.insert(format!("{pk}/{sk}"), json!(fields));
            }
        }
        out
    }

    fn samples(&self) -> Vec<(String, u64, Value)> {
        self.0
            .iter()
            .filter(|((_, sk), _)| sk.starts_with("TS#"))
            .flat_map(|((_, sk), item)| {
                let bucket = read_bucket(item);
                bucket
                    .samples
                    .into_iter()
                    .map(|(offset, (value, _))| {
                        (
                            sk.clone(),
                            offset,
                            decode_sample(&value, &bucket.shared).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

#[test]
fn every_fixture_plans_and_every_planned_item_fits() {
    for (name, body) in fixtures() {
        let event = parse_event(&body).unwrap();
        let meta = meta(0, 1, &name, 0);
        let writes = plan(&event, &meta).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!writes.is_empty(), "{name}");
        let mut table = Table::default();
        for write in &writes {
            table.apply(write);
        }
        for item in table.0.values() {
            assert!(item_size(item) < MAX_ITEM_BYTES, "{name}");
            // Every record carries its message's creation time: in its version, its own attribute, or its
            // samples' versions.
            let created = MessageVersion::of(&meta).created_at();
            let carries = item
                .get(VERSION)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|v| v.contains(&created))
                || item.get("message_created_at").and_then(|v| v.as_s().ok()) == Some(&created)
                || item
                    .get(BUCKET_OWNERS)
                    .and_then(|o| o.as_s().ok())
                    .and_then(|o| OwnerRuns::decode(o))
                    .is_some_and(|runs| runs.versions().all(|v| v.created_at() == created));
            assert!(carries, "{name}: {:?}", key_of(item));
        }
        if let EventData::Timeseries(batch) = &event.data {
            let stored = table.samples().len();
            let keys: BTreeSet<_> = event
                .record_keys()
                .into_iter()
                .map(|k| match k {
                    crate::events::RecordKey::Sample {
                        series, timestamp, ..
                    } => (series, canonicalize(&timestamp)),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                stored,
                keys.len(),
                "{name}: one stored sample per distinct key"
            );
            assert!(stored > 0 && stored <= batch.samples.len(), "{name}");
        }
    }
}

/// Point 1: a lab panel's samples share a timestamp and differ in `type`; each is kept.
#[test]
fn typed_samples_at_one_instant_are_all_kept() {
    let at = "2024-11-24T10:00:00+00:00";
    let panel = timeseries(
        "cholesterol",
        json!({"provider": "labcorp", "type": "lab"}),
        json!([{"timestamp": at, "type": "total", "value": 190, "unit": "mg/dL"},
               {"timestamp": at, "type": "ldl", "value": 110, "unit": "mg/dL"},
               {"timestamp": at, "type": "hdl", "value": 55, "unit": "mg/dL"}]),
    );
    let mut table = Table::default();
    table.store(&event(&panel), &meta(1_000, 1, "", 0));
    let mut got: Vec<(String, Value)> = table
        .samples()
        .into_iter()
        .map(|(sk, _, sample)| (sk, sample["value"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (
                "TS#cholesterol#2024-11-24T10#labcorp#lab#t=hdl".into(),
                json!(55)
            ),
            (
                "TS#cholesterol#2024-11-24T10#labcorp#lab#t=ldl".into(),
                json!(110)
            ),
            (
                "TS#cholesterol#2024-11-24T10#labcorp#lab#t=total".into(),
                json!(190)
            ),
        ]
    );
    // ECG leads alike; a classification (`stand_hour`) is replaced instead.
    let leads = timeseries(
        "electrocardiogram_voltage",
        json!({"provider": "apple_health_kit", "type": "watch"}),
        json!([{"timestamp": at, "type": "lead_1", "value": 0.1, "unit": "mV"},
               {"timestamp": at, "type": "lead_2", "value": 0.2, "unit": "mV"}]),
    );
    table.store(&event(&leads), &meta(2_000, 1, "", 0));
    let stand = |kind: &str, value: i64| {
        timeseries(
            "stand_hour",
            json!({"provider": "apple_health_kit", "type": "watch"}),
            json!([{"start": at, "end": "2024-11-24T11:00:00+00:00", "type": kind, "value": value}]),
        )
    };
    table.store(&event(&stand("idle", 0)), &meta(3_000, 1, "", 0));
    table.store(&event(&stand("stood", 1)), &meta(4_000, 1, "", 0));
    let samples = table.samples();
    assert_eq!(samples.len(), 3 + 2 + 1);
    let stand: Vec<_> = samples
        .iter()
        .filter(|(sk, ..)| sk.starts_with("TS#stand_hour"))
        .collect();
    assert_eq!(stand[0].2["type"], "stood");
}

/// Point 2: two devices (and two workouts) at one instant are two readings, and the source is kept.
#[test]
fn readings_of_two_devices_or_workouts_at_one_instant_are_both_kept() {
    let at = "2024-11-24T10:00:00+00:00";
    let mut table = Table::default();
    for (i, device) in ["watch-a", "ring-b"].iter().enumerate() {
        let body = timeseries(
            "steps",
            json!({"provider": "apple_health_kit", "type": "watch", "device_id": device, "app_id": "com.apple.health"}),
            json!([{"start": at, "end": "2024-11-24T10:01:00+00:00", "value": 10 + i, "unit": "count"}]),
        );
        table.store(&event(&body), &meta(1_000 + i as i64, 1, "", 0));
    }
    for (i, workout) in ["w-1", "w-2"].iter().enumerate() {
        let body = timeseries(
            "workout_distance",
            json!({"provider": "apple_health_kit", "type": "watch", "workout_id": workout, "sport": "running"}),
            json!([{"start": at, "end": "2024-11-24T10:01:00+00:00", "value": 100 + i, "unit": "m"}]),
        );
        table.store(&event(&body), &meta(2_000 + i as i64, 1, "", 0));
    }
    let keys: Vec<String> = table.samples().into_iter().map(|(sk, ..)| sk).collect();
    assert_eq!(
        keys,
        [
            "TS#steps#2024-11-24T10#apple_health_kit#watch#a=com.apple.health#d=ring-b",
            "TS#steps#2024-11-24T10#apple_health_kit#watch#a=com.apple.health#d=watch-a",
            "TS#workout_distance#2024-11-24T10#apple_health_kit#watch#w=w-1#sp=running",
            "TS#workout_distance#2024-11-24T10#apple_health_kit#watch#w=w-2#sp=running",
        ]
    );
    for key in &keys {
        let (resource, start, series) = keys::parse_bucket(key).unwrap();
        assert_eq!(&keys::bucket(resource, &start, &series), key);
    }
    // A part holding the separator survives the round trip.
    let series = Series {
        provider: "p#1".into(),
        source_type: "watch".into(),
        device_id: Some("d#=2".into()),
        ..Series::default()
    };
    let key = keys::bucket(Resource::Steps, "2024-11-24T10", &series);
    assert_eq!(
        keys::parse_bucket(&key),
        Some((Resource::Steps, "2024-11-24T10".into(), series))
    );
}

/// Point 3: a retry of an older message, arriving after a newer one, changes nothing; the reverse order ends the
/// same.
#[test]
fn an_older_message_never_replaces_a_newer_sample() {
    let body = |v: i64| {
        timeseries(
            "heartrate",
            json!({"provider": "garmin", "type": "watch"}),
            json!([{"timestamp": "2024-11-24T10:00:00+00:00", "value": v, "unit": "bpm"},
                   {"timestamp": "2024-11-24T10:00:05+00:00", "value": v + 1, "unit": "bpm"}]),
        )
    };
    let old = (event(&body(60)), meta(1_000, 9, "", 0));
    // The retry of the old message arrives a day later.
    let old_retry = (event(&body(60)), meta(1_000, 9, "", 86_400_000));
    let new = (event(&body(70)), meta(2_000, 1, "", 0));
    let mut forward = Table::default();
    forward.store(&old.0, &old.1);
    forward.store(&new.0, &new.1);
    let mut backward = Table::default();
    backward.store(&new.0, &new.1);
    backward.store(&old_retry.0, &old_retry.1);
    assert_eq!(forward.state(), backward.state());
    let values: Vec<Value> = backward
        .samples()
        .into_iter()
        .map(|(.., s)| s["value"].clone())
        .collect();
    assert_eq!(values, [json!(70), json!(71)]);
    let Write::Bucket(stale) = &plan(&old_retry.0, &old_retry.1).unwrap()[0] else {
        panic!()
    };
    let current = backward.0.values().next().unwrap();
    assert_eq!(
        merge_bucket(Some(current), stale),
        Merge::Unchanged { stale: 2 }
    );
}

/// Summaries: a newer `updated_at` wins; at one `updated_at`, the newer message.
#[test]
fn summaries_order_by_updated_at_then_by_message() {
    let sleep = |score: i64, updated: &str| {
        json!({"event_type": "daily.data.sleep.updated", "user_id": USER,
               "data": {"id": "s1", "user_id": USER, "score": score, "updated_at": updated,
                        "source": {"provider": "oura", "type": "ring"}}})
    };
    let a = (
        event(&sleep(1, "2024-11-24T10:00:00+00:00")),
        meta(5_000, 1, "", 0),
    );
    let b = (
        event(&sleep(2, "2024-11-24T11:00:00+00:00")),
        meta(4_000, 1, "", 0),
    );
    let c = (
        event(&sleep(3, "2024-11-24T11:00:00+00:00")),
        meta(6_000, 1, "", 0),
    );
    let score = |t: &Table| {
        let item = t.0.values().next().unwrap();
        serde_json::from_str::<Value>(item["data"].as_s().unwrap()).unwrap()["score"].clone()
    };
    for order in [[&a, &b, &c], [&c, &b, &a], [&b, &c, &a], [&a, &c, &b]] {
        let mut t = Table::default();
        for (e, m) in order {
            t.store(e, m);
        }
        assert_eq!(score(&t), json!(3));
    }
}

/// Point 7: workout-stream notices have no `updated_at`: the newer message wins, not the later arrival.
#[test]
fn workout_stream_notices_are_versioned_by_message_creation() {
    let notice = |message: &str| {
        json!({"event_type": "daily.data.workout_stream.created", "user_id": USER,
               "data": {"workout_id": "w1", "user_id": USER, "message": message, "source": {"provider": "strava"}}})
    };
    let newer = (event(&notice("newer")), meta(9_000, 1, "", 0));
    let older = (event(&notice("older")), meta(1_000, 1, "", 10_000));
    let mut t = Table::default();
    t.store(&newer.0, &newer.1);
    t.store(&older.0, &older.1);
    let item = t.0.values().next().unwrap();
    assert!(item["data"].as_s().unwrap().contains("newer"));
    // The stream is stored beside the notice, in items of its own, split below the item limit.
    let big: Vec<i64> = (0..200_000).collect();
    let stream = json!({"time": big, "heartrate": big});
    let writes = workout_stream(USER, "w1", "strava", &stream, &newer.1);
    assert!(writes.len() >= 2);
    let mut text = String::new();
    for w in &writes {
        let Write::Put { item, version } = w else {
            panic!()
        };
        assert!(version.is_some());
        assert!(item_size(item) < MAX_ITEM_BYTES);
        assert!(item[SK].as_s().unwrap().starts_with("WSTREAM#w1#"));
        text.push_str(item["stream"].as_s().unwrap());
    }
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), stream);
}

/// Point 7: a critical result is per laboratory sample; devices are keyed by Junction's id.
#[test]
fn critical_results_are_per_sample_and_devices_per_junction_id() {
    let result = |sample: &str| {
        json!({"event_type": "labtest.result.critical", "user_id": USER,
               "data": {"order_id": "o1", "sample_id": sample, "status": "final", "interpretation": "critical",
                        "updated_at": "2024-11-24T10:00:00+00:00", "user_id": USER}})
    };
    let mut t = Table::default();
    t.store(&event(&result("s-1")), &meta(1_000, 1, "", 0));
    t.store(&event(&result("s-2")), &meta(2_000, 1, "", 0));
    let states: Vec<&String> =
        t.0.keys()
            .map(|(_, sk)| sk)
            .filter(|sk| !sk.contains("#EVT#"))
            .collect();
    assert_eq!(
        states,
        ["LAB#CRITICAL_RESULT#o1#s-1", "LAB#CRITICAL_RESULT#o1#s-2"]
    );

    let device = json!({"event_type": "provider.device.created", "user_id": USER,
        "data": {"id": "9f1c", "device_id": "F-31-A4", "provider": "fitbit", "source_type": "scale", "user_id": USER}});
    let writes = plan(&event(&device), &meta(1_000, 1, "", 0)).unwrap();
    let Write::Put { item, .. } = &writes[0] else {
        panic!()
    };
    assert_eq!(item[SK].as_s().unwrap(), "DEVICE#9f1c");
    assert_eq!(item["provider_device_id"].as_s().unwrap(), "F-31-A4");
}

/// Point 4: an interval sample without `timestamp` is stored at its `start`, and read back as sent.
#[test]
fn interval_samples_are_stored_at_their_start_and_read_back_as_sent() {
    let sample = json!({"start": "2024-11-24T10:00:30+00:00", "end": "2024-11-24T10:01:30+00:00",
                        "value": 12, "unit": "count", "timezone_offset": 3600});
    let body = timeseries(
        "steps",
        json!({"provider": "oura", "type": "ring"}),
        json!([sample]),
    );
    let writes = plan(&event(&body), &meta(1_000, 1, "", 0)).unwrap();
    let Write::Bucket(b) = &writes[0] else {
        panic!()
    };
    assert_eq!(b.sk, "TS#steps#2024-11-24T10#oura#ring");
    let (offset, stored) = b.samples.iter().next().unwrap();
    assert_eq!(*offset, 30_000_000);
    assert_eq!(
        stored,
        &json!({"value": 12, "unit": "count", "timezone_offset": 3600, "~e": 60})
    );
    let instant = parse_instant("2024-11-24T10:00:30Z").unwrap();
    assert_eq!(expand_sample(stored.clone(), &instant), sample);
    // Bounds written otherwise (another offset, `Z`) are kept as sent.
    let odd =
        json!({"start": "2024-11-24T11:00:30+01:00", "end": "2024-11-24T10:01:30Z", "value": 1});
    assert_eq!(compact_sample(&odd, &instant), odd);
    // A sample whose instant is not a timestamp cannot be planned.
    let bad = timeseries(
        "steps",
        json!({"provider": "oura"}),
        json!([{"timestamp": "soon", "value": 1}]),
    );
    assert_eq!(
        plan(&event(&bad), &meta(1, 1, "", 0)),
        Err(PlanError::BadInstant(0))
    );
}

fn dense(resource: &str, samples: Vec<Value>, m: &MessageMeta) -> Vec<Write> {
    plan(
        &event(&timeseries(
            resource,
            json!({"provider": "apple_health_kit", "type": "watch"}),
            json!(samples),
        )),
        m,
    )
    .unwrap()
}

/// Point 6: the densest realistic inputs stay under DynamoDB's item limit: a day of 1 Hz steps and calories,
/// and two 30 s ECGs at 512 Hz in one hour (which made an hour bucket of over 400 KB).
#[test]
fn the_densest_realistic_series_fit_their_buckets() {
    let day = parse_instant("2024-11-24T00:00:00Z").unwrap();
    for (resource, value) in [("steps", json!(2)), ("calories_active", json!(0.08))] {
        let samples: Vec<Value> = (0..86_400)
            .map(|i| {
                let start = day + chrono::Duration::seconds(i);
                let end = start + chrono::Duration::seconds(1);
                json!({"start": junction_text(&start), "end": junction_text(&end),
                       "value": value, "unit": "count", "timezone_offset": 3600})
            })
            .collect();
        let mut table = Table::default();
        let writes = dense(resource, samples, &meta(1_000, 1, "", 0));
        assert_eq!(writes.len(), 24, "{resource}: one bucket an hour");
        for w in &writes {
            table.apply(w);
        }
        let largest = table.0.values().map(item_size).max().unwrap();
        assert!(largest < 64 * 1024, "{resource}: {largest} bytes");
        assert_eq!(table.samples().len(), 86_400);
    }
    let ecg = |from: &str| -> Vec<Value> {
        let start = parse_instant(from).unwrap();
        (0..30 * 512)
            .map(|i| {
                let at = start + chrono::Duration::microseconds(i * 1_000_000 / 512);
                json!({"timestamp": junction_text(&at), "value": (i % 97) as f64 / 100.0 - 0.41,
                       "unit": "mV", "type": "lead_1"})
            })
            .collect()
    };
    let mut table = Table::default();
    for (i, from) in ["2024-11-24T10:05:00Z", "2024-11-24T10:41:00Z"]
        .iter()
        .enumerate()
    {
        for w in dense(
            "electrocardiogram_voltage",
            ecg(from),
            &meta(1_000 + i as i64, 1, "", 0),
        ) {
            table.apply(&w);
        }
    }
    let largest = table.0.values().map(item_size).max().unwrap();
    assert!(largest < 100 * 1024, "ECG bucket of {largest} bytes");
    assert_eq!(table.samples().len(), 2 * 30 * 512);
    // What no device sends: a merge past the limit is refused, not attempted.
    let huge: Vec<Value> = (0..3600)
        .map(|i| {
            json!({"timestamp": format!("2024-11-24T10:{:02}:{:02}+00:00", i / 60, i % 60),
                   "value": i, "note": format!("{i}{}", "x".repeat(120))})
        })
        .collect();
    let writes = dense("glucose", huge, &meta(1, 1, "", 0));
    let Write::Bucket(b) = &writes[0] else {
        panic!()
    };
    assert!(matches!(merge_bucket(None, b), Merge::TooLarge { .. }));
}

/// A span divides the hour, and its labels sort in time and read back.
#[test]
fn spans_locate_instants_in_sortable_buckets() {
    let at = |span: BucketSpan, s: &str| span.locate(&parse_instant(s).unwrap());
    assert_eq!(
        at(BucketSpan::HOUR, "2024-11-24T10:59:59Z"),
        ("2024-11-24T10".into(), 3_599_000_000)
    );
    assert_eq!(
        at(BucketSpan::QUARTER_HOUR, "2024-11-24T10:59:59.25Z"),
        ("2024-11-24T10:45".into(), 899_250_000)
    );
    assert_eq!(
        at(BucketSpan::TEN_SECONDS, "2024-11-24T10:05:47.5Z"),
        ("2024-11-24T10:05:40".into(), 7_500_000)
    );
    for (label, span) in [
        ("2024-11-24T10", BucketSpan::HOUR),
        ("2024-11-24T10:45", BucketSpan::QUARTER_HOUR),
        ("2024-11-24T10:05:40", BucketSpan::TEN_SECONDS),
    ] {
        let start = BucketSpan::start_of(label).unwrap();
        assert_eq!(span.locate(&start), (label.to_owned(), 0));
        assert_eq!(3600 % span.seconds(), 0);
    }
    assert_eq!(BucketSpan::start_of("2024-11-24"), None);
    assert_eq!(sample_name(3_599_000_000), "s3599");
    assert_eq!(sample_name(7_500_000), "u7500000");
    for o in [0, 1, 999_999, 1_000_000, 3_599_999_999] {
        assert_eq!(sample_offset(&sample_name(o)), Some(o));
    }
    for name in ["svix_id", "s", "u", "s1x", "x1", "o", "d"] {
        assert_eq!(sample_offset(name), None, "{name}");
    }
}

#[test]
fn a_sample_is_a_number_only_when_that_reads_back_exactly() {
    let shared = json!({"unit": "bpm", "timezone_offset": 3600});
    let shared = shared.as_object().unwrap();
    let n = |text: &str| AttributeValue::N(text.into());
    for (sample, want) in [
        (
            json!({"value": 72, "unit": "bpm", "timezone_offset": 3600}),
            n("72"),
        ),
        (
            json!({"value": -0.12, "unit": "bpm", "timezone_offset": 3600}),
            n("-0.12"),
        ),
        // 72.0 would come back from DynamoDB as 72, an integer: kept as JSON.
        (
            json!({"value": 72.0, "unit": "bpm", "timezone_offset": 3600}),
            s(r#"{"value":72.0,"unit":"bpm","timezone_offset":3600}"#),
        ),
        (
            json!({"value": 1e-7, "unit": "bpm", "timezone_offset": 3600}),
            s(r#"{"value":1e-7,"unit":"bpm","timezone_offset":3600}"#),
        ),
        (
            json!({"value": 72, "unit": "count/min", "timezone_offset": 3600}),
            s(r#"{"value":72,"unit":"count/min","timezone_offset":3600}"#),
        ),
        (
            json!({"value": 72, "unit": "bpm"}),
            s(r#"{"value":72,"unit":"bpm"}"#),
        ),
        (
            json!({"systolic": 120, "diastolic": 80, "unit": "bpm", "timezone_offset": 3600}),
            s(r#"{"systolic":120,"diastolic":80,"unit":"bpm","timezone_offset":3600}"#),
        ),
    ] {
        let encoded = encode_sample(&sample, shared);
        assert_eq!(encoded, want, "{sample}");
        assert_eq!(decode_sample(&encoded, shared), Some(sample));
    }
    let two = [
        json!({"value": 1, "unit": "bpm", "tz": 1}),
        json!({"value": 2, "unit": "bpm", "tz": 2}),
    ];
    assert_eq!(Value::Object(shared_fields(&two)), json!({"unit": "bpm"}));
}

/// A generated message: samples of a few series at a few instants, or a summary.
#[derive(Debug, Clone)]
struct Generated {
    body: Value,
    created_ms: i64,
}

fn generated_message() -> impl Strategy<Value = Generated> {
    let instant = prop_oneof![
        Just("2024-11-24T10:00:00+00:00"),
        Just("2024-11-24T10:00:05+00:00"),
        Just("2024-11-24T10:14:59.5+00:00"),
        Just("2024-11-24T11:00:00+00:00"),
    ];
    let sample = (instant, 0..4usize, 0..3usize, 40..200i64, any::<bool>());
    let samples = proptest::collection::vec(sample, 1..6);
    let timeseries_message = (0..3usize, samples, 0..50i64).prop_map(|(device, samples, t)| {
        let devices = [json!(null), json!("dev-a"), json!("dev-b")];
        let (resource, typed) = if device == 0 {
            ("cholesterol", true)
        } else {
            ("heartrate", false)
        };
        let data: Vec<Value> = samples
            .into_iter()
            .map(|(at, kind, unit, v, interval)| {
                let unit = ["bpm", "mg/dL", "count"][unit];
                let mut s = json!({"timestamp": at, "value": v, "unit": unit});
                if typed {
                    let kind = ["ldl", "hdl", "total", "triglycerides"][kind];
                    s["type"] = json!(kind);
                }
                if interval {
                    s["start"] = json!(at);
                    s["end"] = json!("2024-11-24T12:00:00+00:00");
                }
                s
            })
            .collect();
        Generated {
            body: timeseries(
                resource,
                json!({"provider": "garmin", "type": "watch", "device_id": devices[device]}),
                json!(data),
            ),
            created_ms: t * 10,
        }
    });
    let summary_message =
        (0..2usize, 0..3i64, 0..100i64, 0..50i64).prop_map(|(id, updated, score, t)| Generated {
            body: json!({"event_type": "daily.data.sleep.updated", "user_id": USER,
                "data": {"id": format!("s{id}"), "user_id": USER, "score": score,
                         "updated_at": format!("2024-11-24T1{updated}:00:00+00:00"),
                         "source": {"provider": "oura", "type": "ring"}}}),
            created_ms: t * 10,
        });
    prop_oneof![3 => timeseries_message, 1 => summary_message]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the arrival order, with duplicates and retries of old messages received late, the table ends as
    /// if every message had been applied once, in the order of creation: typed samples at one instant, several
    /// devices, intervals and summaries.
    #[test]
    fn any_delivery_order_ends_as_creation_order(
        messages in proptest::collection::vec(generated_message(), 1..8),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 1..24),
    ) {
        let messages: Vec<(Event, MessageMeta)> = messages
            .iter()
            .enumerate()
            .map(|(i, g)| (event(&g.body), meta(g.created_ms, i as u8, "", 0)))
            .collect();
        let mut by_creation: Vec<&(Event, MessageMeta)> = messages.iter().collect();
        by_creation.sort_by_key(|(_, m)| MessageVersion::of(m));
        let mut expected = Table::default();
        for (e, m) in &by_creation {
            expected.store(e, m);
        }
        // Every message at least once, last to first, then the random deliveries (duplicates, late retries).
        let mut got = Table::default();
        let deliveries = (0..messages.len())
            .rev()
            .chain(order.iter().map(|i| i.index(messages.len())));
        for (n, i) in deliveries.enumerate() {
            let (e, m) = &messages[i];
            let mut attempt = m.clone();
            attempt.received_at_ms += 1_000 * n as i64;
            got.store(e, &attempt);
        }
        prop_assert_eq!(got.state(), expected.state());
    }
}

/// The store's documentation names, in its identity table, exactly the resources whose sample `type` is identity
/// (and those whose `type` only classifies): the table cannot drift from the rule.
#[test]
fn the_identity_table_in_the_store_docs_matches_the_rule() {
    let docs = include_str!("../mod.rs");
    let named = |row_start: &str| -> BTreeSet<String> {
        let line = docs
            .lines()
            .find(|l| l.starts_with(row_start))
            .unwrap_or_else(|| panic!("no line starting {row_start:?}"));
        line.split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| Resource::parse(name).is_some())
            .map(str::to_owned)
            .collect()
    };
    let identity: BTreeSet<String> = Resource::ALL
        .iter()
        .filter(|r| r.sample_type_is_identity())
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(named("//! | sample type |"), identity);
    let classifying: BTreeSet<String> = Resource::ALL
        .iter()
        .filter(|r| r.sample_type_classifies())
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(named("//! `stand_hour` and"), classifying);
}

#[test]
fn catch_all_records_spread_over_sixteen_partitions_each_message_whole_in_one() {
    use crate::store::{CATCH_ALL_PK, CATCH_ALL_SHARDS};
    let mut used = BTreeSet::new();
    for i in 0..2000 {
        let m = meta(i, (i % 251) as u8, "daily.data.new_thing.created", 0);
        // A body over the inline limit: the record and its parts share the message's partition.
        let body = vec![b'x'; CATCH_ALL_INLINE_MAX + 10];
        let writes = catch_all(&body, &m, "unknown_event_type");
        assert!(writes.len() >= 2);
        let pks: BTreeSet<String> = writes
            .iter()
            .map(|w| match w {
                Write::Put { item, .. } => item[PK].as_s().unwrap().clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(pks.len(), 1, "{pks:?}");
        let pk = pks.into_iter().next().unwrap();
        assert_eq!(pk, keys::catch_all(&m.svix_id), "the same every time");
        used.insert(pk);
    }
    // Every partition takes a share; the old one is only read.
    assert_eq!(used.len(), usize::from(CATCH_ALL_SHARDS));
    let read = keys::catch_all_partitions();
    assert!(used.iter().all(|pk| read.contains(pk)));
    assert!(read.contains(&CATCH_ALL_PK.to_owned()) && !used.contains(CATCH_ALL_PK));
}

/// Every record's document (`data`) reads back as the JSON Junction sent, whether it was stored compressed or as
/// text; summaries of every fixture are stored compressed, each smaller than its text and all together in less than
/// half of it.
#[test]
fn documents_read_back_as_sent_and_summaries_are_stored_compressed() {
    let mut compressed = 0;
    let (mut packed_bytes, mut text_bytes) = (0, 0);
    for (name, body) in fixtures() {
        let Ok(event) = parse_event(&body) else {
            continue;
        };
        let Ok(writes) = plan(&event, &meta(0, 1, &name, 0)) else {
            continue;
        };
        for write in &writes {
            let Write::Put { item, .. } = write else {
                continue;
            };
            let Some(stored) = item.get("data") else {
                continue;
            };
            let sent = &event.raw["data"];
            assert_eq!(decode_document(stored).as_ref(), Some(sent), "{name}");
            if item
                .get(KIND)
                .and_then(|k| k.as_s().ok())
                .map(String::as_str)
                == Some("summary")
            {
                let AttributeValue::B(packed) = stored else {
                    panic!("{name}: a summary's document is stored compressed");
                };
                let text = sent.to_string().len();
                assert!(
                    packed.as_ref().len() < text,
                    "{name}: {} of {text}",
                    packed.as_ref().len()
                );
                packed_bytes += packed.as_ref().len();
                text_bytes += text;
                compressed += 1;
            }
        }
    }
    assert!(compressed >= 20, "{compressed} summaries");
    assert!(
        packed_bytes * 2 < text_bytes,
        "{packed_bytes} of {text_bytes}"
    );
    // Text written before compression reads as it always did; bytes that are not DEFLATE read as nothing.
    assert_eq!(
        decode_document(&AttributeValue::S(r#"{"a":1}"#.into())),
        Some(json!({"a": 1}))
    );
    assert_eq!(
        decode_document(&AttributeValue::B(vec![0xff, 0x00, 0x13].into())),
        None
    );
    // A short document stays text; bytes DEFLATE cannot shorten are not compressed.
    assert!(matches!(document(&json!({"a": 1})), AttributeValue::S(_)));
    let mut x = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..400)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    assert_eq!(deflate_smaller(&noise), None);
    assert!(deflate_smaller(&[b'a'; 400]).is_some_and(|p| p.len() < 20));
    // The compressor is reset between documents: the same document twice compresses the same.
    let sleep = json!({"hypnogram": [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], "source": {"provider": "oura", "type": "ring"}, "note": "a note that repeats a note that repeats a note"});
    let (first, second) = (document(&sleep), document(&sleep));
    assert!(matches!(first, AttributeValue::B(_)));
    assert_eq!(first, second);
    assert_eq!(decode_document(&second), Some(sleep));
}
