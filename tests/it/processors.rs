//! The processors against moto: every fixture stored and read back, redelivery, reordering, poison records and
//! injected failures.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use jwh_shared::envelope::{ClaimCheck, MessageMeta};
use jwh_shared::events::{EventType, Resource, ResourceKind};
use jwh_shared::family::Family;
use jwh_shared::processor::{Outcome, Processor};
use jwh_shared::store::Store;
use jwh_shared::store::time::canonicalize;
use serde_json::Value;

use crate::support::{self, all_fixtures, fixture, meta_for, sqs_event, sqs_record};

struct Env {
    config: SdkConfig,
    store: Store,
    bucket: String,
}

async fn env() -> Env {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let bucket = support::create_bucket(&config).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
    Env {
        config,
        store,
        bucket,
    }
}

impl Env {
    fn processor(&self, family: Family) -> Processor {
        Processor {
            family,
            store: self.store.clone(),
            s3: support::s3(&self.config),
            fetch: None,
            concurrency: 4,
            archive: None,
        }
    }

    /// Delivers one body to its family's processor; returns the failed message ids.
    async fn deliver(&self, svix_id: &str, body: &[u8]) -> Vec<String> {
        let meta = meta_for(svix_id, body);
        self.deliver_meta(&meta, body).await
    }

    async fn deliver_meta(&self, meta: &MessageMeta, body: &[u8]) -> Vec<String> {
        let record = sqs_record(
            &format!("m-{}", meta.svix_id),
            meta,
            std::str::from_utf8(body).unwrap(),
            None,
        );
        let response = self
            .processor(meta.family)
            .handle_batch(sqs_event(vec![record]))
            .await;
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

const USER: &str = "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2";
const TEAM: &str = "6b74423d-0504-4470-9afb-477252ccf67a";

#[tokio::test]
async fn every_fixture_is_stored_and_read_back() {
    let env = env().await;
    for (i, (event_type, body)) in all_fixtures().into_iter().enumerate() {
        let svix_id = format!("msg_fixture_{i}");
        let failures = env.deliver(&svix_id, &body).await;
        assert!(failures.is_empty(), "{event_type}: {failures:?}");
        let v = json(&body);
        let t = EventType::parse(&event_type);
        match (t.family(), t.resource()) {
            (Family::Summaries, Some(r)) => {
                let id = v["data"]["id"]
                    .as_str()
                    .or(v["data"]["workout_id"].as_str())
                    .unwrap();
                let stored = env.store.summaries(USER, r).await.unwrap();
                let rec = stored.iter().find(|s| s.get_str("record_id") == Some(id));
                let rec = rec.unwrap_or_else(|| panic!("{event_type}: summary {id} not stored"));
                assert_eq!(rec.attributes["data"], v["data"], "{event_type}");
                assert_eq!(rec.get_str("resource"), Some(r.as_str()));
            }
            (Family::Timeseries, Some(r)) => {
                assert!(matches!(r.kind(), ResourceKind::Timeseries(_)));
                let stored = env.store.samples(USER, r, None, None).await.unwrap();
                let sent = v["data"]["data"].as_array().unwrap();
                let provider = v["data"]["source"]["provider"].as_str().unwrap();
                let source_type = v["data"]["source"]["type"].as_str().unwrap();
                for s in sent {
                    let ts = canonicalize(s["timestamp"].as_str().unwrap()).unwrap();
                    let got = stored
                        .iter()
                        .find(|x| {
                            x.timestamp == ts
                                && x.provider == provider
                                && x.source_type == source_type
                        })
                        .unwrap_or_else(|| panic!("{event_type}: sample {ts} missing"));
                    // Exactly the sample as sent, minus its timestamp and null fields.
                    let mut want = s.as_object().unwrap().clone();
                    want.retain(|k, v| k != "timestamp" && !v.is_null());
                    assert_eq!(got.sample, Value::Object(want), "{event_type} {ts}");
                }
            }
            (Family::Backfills, Some(r)) => {
                let provider = v["data"]["provider"].as_str().unwrap();
                let recs = env
                    .store
                    .user_records_with_prefix(USER, &format!("BACKFILL#{provider}#{}", r.as_str()))
                    .await
                    .unwrap();
                assert_eq!(recs.len(), 1, "{event_type}");
                assert_eq!(
                    recs[0].get_str("start_date"),
                    canonicalize(v["data"]["start_date"].as_str().unwrap()).as_deref()
                );
                assert_eq!(
                    recs[0].get_str("end_date"),
                    canonicalize(v["data"]["end_date"].as_str().unwrap()).as_deref()
                );
            }
            (Family::Connections, _) => {
                let recs = env.store.user_records(USER).await.unwrap();
                let found = recs.iter().any(|r| r.get_str("svix_id") == Some(&svix_id));
                assert!(found, "{event_type}: no record from {svix_id}");
            }
            (Family::Lab, _) => {
                let id = v["data"]["id"]
                    .as_str()
                    .or(v["data"]["order_id"].as_str())
                    .unwrap();
                let recs = if event_type.starts_with("labtest.match_review") {
                    env.store.team_records(TEAM).await.unwrap()
                } else {
                    env.store
                        .user_records_with_prefix(USER, "LAB#")
                        .await
                        .unwrap()
                };
                // A critical result is the order's result for one laboratory sample.
                let state = recs.iter().find(|r| {
                    r.kind == "lab"
                        && (r.get_str("record_id") == Some(id) || r.get_str("order_id") == Some(id))
                        && r.get_str("svix_id") == Some(&svix_id)
                });
                assert!(state.is_some(), "{event_type}: lab record {id} missing");
                let history = recs
                    .iter()
                    .filter(|r| r.kind == "lab_event" && r.get_str("svix_id") == Some(&svix_id))
                    .count();
                assert_eq!(history, 1, "{event_type}");
            }
            (Family::CatchAll, _) => {
                let rec = env
                    .store
                    .catch_all_record(&svix_id)
                    .await
                    .unwrap()
                    .expect("kept");
                assert_eq!(
                    rec.get_str("body").map(str::as_bytes),
                    Some(body.as_slice())
                );
                assert_eq!(rec.get_str("event_type"), Some(event_type.as_str()));
            }
            (f, r) => panic!("{event_type}: unexpected family {f:?} / resource {r:?}"),
        }
    }
    // Connection state and history, device records.
    let conns = env
        .store
        .user_records_with_prefix(USER, "CONN#")
        .await
        .unwrap();
    let oura = conns
        .iter()
        .find(|r| r.kind == "connection" && r.get_str("provider") == Some("oura"))
        .unwrap();
    assert_eq!(oura.get_str("status"), Some("error"));
    assert_eq!(oura.get_str("error_type"), Some("token_refresh_failed"));
    let fitbit = conns
        .iter()
        .find(|r| r.kind == "connection" && r.get_str("provider") == Some("fitbit"))
        .unwrap();
    assert_eq!(fitbit.get_str("status"), Some("connected"));
    assert_eq!(
        conns
            .iter()
            .filter(|r| r.kind == "connection_event")
            .count(),
        2
    );
    let devices = env
        .store
        .user_records_with_prefix(USER, "DEVICE#")
        .await
        .unwrap();
    assert_eq!(devices.len(), 1, "created and updated are one device");
    // Keyed by Junction's id, the one samples name in `source.device_id`; the provider's id kept beside it.
    assert_eq!(devices[0].sk, "DEVICE#00000000-0000-0000-0000-000000000000");
    assert_eq!(
        devices[0].get_str("provider_device_id"),
        Some("F-31-A4C138BB9EF5")
    );
}

fn heartrate_body(samples: &[(String, f64)]) -> Vec<u8> {
    let data: Vec<Value> = samples
        .iter()
        .map(|(ts, v)| serde_json::json!({"id": null, "timezone_offset": 3600, "type": null, "unit": "bpm", "timestamp": ts, "value": v}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "event_type": "daily.data.heartrate.created",
        "data": {"source": {"provider": "apple_health_kit", "type": "watch"}, "data": data, "user_id": USER},
        "user_id": USER, "client_user_id": "c", "team_id": TEAM
    }))
    .unwrap()
}

#[tokio::test]
async fn redelivery_has_no_further_effect_even_concurrently() {
    let env = env().await;
    let first = heartrate_body(&[("2024-11-24T10:00:00+00:00".into(), 72.0)]);
    let later = heartrate_body(&[("2024-11-24T10:00:00+00:00".into(), 99.0)]);
    assert!(env.deliver("msg_a", &first).await.is_empty());
    assert!(env.deliver("msg_b", &later).await.is_empty());
    // msg_a again, twice and concurrently: it must not bring 72 back.
    let processor = env.processor(Family::Timeseries);
    let meta = meta_for("msg_a", &first);
    let records: Vec<_> = (0..3)
        .map(|i| {
            sqs_record(
                &format!("dup-{i}"),
                &meta,
                std::str::from_utf8(&first).unwrap(),
                None,
            )
        })
        .collect();
    let response = processor.handle_batch(sqs_event(records)).await;
    assert!(response.batch_item_failures.is_empty());
    let again = processor
        .handle_record(sqs_record(
            "dup-x",
            &meta,
            std::str::from_utf8(&first).unwrap(),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(again, Outcome::Duplicate);
    let samples = env
        .store
        .samples(USER, Resource::Heartrate, None, None)
        .await
        .unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].sample["value"], 99.0);
}

#[tokio::test]
async fn first_deliveries_racing_store_one_record() {
    let env = env().await;
    let body = fixture("daily.data.sleep.created");
    let meta = meta_for("msg_race", &body);
    let processor = env.processor(Family::Summaries);
    let text = std::str::from_utf8(&body).unwrap();
    let records: Vec<_> = (0..5)
        .map(|i| sqs_record(&format!("r{i}"), &meta, text, None))
        .collect();
    let response = processor.handle_batch(sqs_event(records)).await;
    assert!(response.batch_item_failures.is_empty());
    let stored = env.store.summaries(USER, Resource::Sleep).await.unwrap();
    assert_eq!(stored.len(), 1);
}

#[tokio::test]
async fn attempts_of_one_message_signed_at_different_times_write_one_history_entry() {
    // Svix signs each delivery attempt afresh, so two copies of a message can carry different timestamps; if they
    // are processed at the same moment, both pass the processed-marker check before either sets it.
    let env = env().await;
    for (event_type, family, prefix, kind) in [
        (
            "provider.connection.created",
            Family::Connections,
            "CONN#",
            "connection_event",
        ),
        ("labtest.order.created", Family::Lab, "LAB#", "lab_event"),
    ] {
        let body = fixture(event_type);
        let svix_id = format!("msg_attempts_{kind}");
        let first = meta_for(&svix_id, &body);
        let mut retry = first.clone();
        retry.svix_timestamp += 3_600;
        let text = std::str::from_utf8(&body).unwrap();
        let response = env
            .processor(family)
            .handle_batch(sqs_event(vec![
                sqs_record("a1", &first, text, None),
                sqs_record("a2", &retry, text, None),
            ]))
            .await;
        assert!(response.batch_item_failures.is_empty(), "{event_type}");
        let user = json(&body)["user_id"].as_str().unwrap_or(USER).to_owned();
        let history = env
            .store
            .user_records_with_prefix(&user, prefix)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == kind && r.get_str("svix_id") == Some(&svix_id))
            .count();
        assert_eq!(history, 1, "{event_type}");
    }
}

#[tokio::test]
async fn a_retry_of_an_older_connection_message_never_overtakes_a_newer_one() {
    // A connection fails (message A), then is re-established (message B). A's delivery failed at first, so Svix
    // retries it an hour later, signed anew, after B was stored: the state must stay B's, since Junction gives these
    // events no time of their own and the attempt's timestamp is not when the message was created.
    use svix_ksuid::KsuidLike;
    let env = env().await;
    let id_at = |ms: i64| {
        format!(
            "msg_{}",
            svix_ksuid::KsuidMs::from_millis(Some(ms), None).to_base62()
        )
    };
    let created_ms = 1_732_000_000_000;
    let (older, newer) = (id_at(created_ms), id_at(created_ms + 60_000));
    let mut error = json(&fixture("provider.connection.error"));
    error["data"]["provider"] = "fitbit".into();
    let error = serde_json::to_vec(&error).unwrap();
    let connected = fixture("provider.connection.created");
    let processor = env.processor(Family::Connections);
    for (id, body, attempt_ts) in [
        (&newer, &connected, 1_732_000_060),
        (&older, &error, 1_732_003_600),
    ] {
        let mut meta = meta_for(id, body);
        meta.svix_timestamp = attempt_ts;
        let response = processor
            .handle_batch(sqs_event(vec![sqs_record(
                "c",
                &meta,
                std::str::from_utf8(body).unwrap(),
                None,
            )]))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    let conns = env
        .store
        .user_records_with_prefix(USER, "CONN#fitbit")
        .await
        .unwrap();
    let state = conns.iter().find(|r| r.kind == "connection").unwrap();
    assert_eq!(state.get_str("status"), Some("connected"));
    assert_eq!(state.get_str("svix_id"), Some(newer.as_str()));
    // Both events are in the history.
    assert_eq!(
        conns
            .iter()
            .filter(|r| r.kind == "connection_event")
            .count(),
        2
    );
}

fn sleep_version(updated_at: &str, score: i64) -> Vec<u8> {
    let mut v = json(&fixture("daily.data.sleep.updated"));
    v["data"]["updated_at"] = updated_at.into();
    v["data"]["score"] = score.into();
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn an_older_summary_never_replaces_a_newer_one() {
    let env = env().await;
    let newer = sleep_version("2024-11-25T10:00:00+00:00", 90);
    let older = sleep_version("2024-11-25T09:00:00+00:00", 40);
    // Updated before created: the newer version arrives first.
    assert!(env.deliver("msg_new", &newer).await.is_empty());
    let processor = env.processor(Family::Summaries);
    let meta = meta_for("msg_old", &older);
    let outcome = processor
        .handle_record(sqs_record(
            "m",
            &meta,
            std::str::from_utf8(&older).unwrap(),
            None,
        ))
        .await
        .unwrap();
    let Outcome::Stored(w) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((w.items, w.stale), (0, 1), "older version is stale");
    let stored = env.store.summaries(USER, Resource::Sleep).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].attributes["data"]["score"], 90);
    // A newer one still replaces it; the same instant written with another offset compares equal.
    let newest = sleep_version("2024-11-25T12:00:00+01:00", 95);
    assert!(env.deliver("msg_newest", &newest).await.is_empty());
    let stored = env.store.summaries(USER, Resource::Sleep).await.unwrap();
    assert_eq!(stored[0].attributes["data"]["score"], 95);
}

#[tokio::test]
async fn a_poison_record_fails_alone() {
    let env = env().await;
    let good = fixture("daily.data.activity.created");
    let meta = meta_for("msg_good", &good);
    let good_record = sqs_record("good", &meta, std::str::from_utf8(&good).unwrap(), None);
    // No svix-id attribute: the envelope cannot be read, on any retry.
    let mut poison = sqs_record(
        "poison",
        &meta_for("msg_p", &good),
        std::str::from_utf8(&good).unwrap(),
        None,
    );
    poison.message_attributes.remove("svix-id");
    // A claim check whose object does not exist.
    let claim = ClaimCheck {
        bucket: env.bucket.clone(),
        key: "payloads/summaries/missing".into(),
    };
    let lost = sqs_record("lost", &meta_for("msg_l", &good), "{}", Some(&claim));
    let response = env
        .processor(Family::Summaries)
        .handle_batch(sqs_event(vec![poison, good_record, lost]))
        .await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from(["poison".to_string(), "lost".to_string()])
    );
    assert_eq!(
        env.store
            .summaries(USER, Resource::Activity)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_unparseable_body_is_kept_in_catch_all_not_dropped() {
    let env = env().await;
    let body = br#"{"event_type":"daily.data.sleep.created","data":{"no_id":true}}"#;
    let failures = env.deliver("msg_bad", body).await;
    assert!(failures.is_empty());
    let rec = env
        .store
        .catch_all_record("msg_bad")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(rec.get_str("reason"), Some("unparseable"));
    assert_eq!(rec.get_str("body").map(str::as_bytes), Some(&body[..]));
}

/// A timeseries body whose samples list is missing is a changed shape, not zero samples: it is kept whole, so
/// that it can be replayed once the shape is understood.
#[tokio::test]
async fn a_timeseries_body_without_its_samples_list_is_kept_not_acknowledged_as_empty() {
    let env = env().await;
    let mut body = json(&fixture("daily.data.steps.created"));
    let samples = body["data"]
        .as_object_mut()
        .unwrap()
        .remove("data")
        .unwrap();
    body["data"]["samples"] = samples;
    let body = serde_json::to_vec(&body).unwrap();
    assert!(env.deliver("msg_reshaped", &body).await.is_empty());
    let rec = env
        .store
        .catch_all_record("msg_reshaped")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(rec.get_str("reason"), Some("unparseable"));
    assert_eq!(rec.get_str("body").map(str::as_bytes), Some(&body[..]));
}

/// The densest series devices send fit their buckets and read back whole: two 30 s ECGs at 512 Hz in one hour
/// (one hour bucket of them was over 400 KB, and its write failed on every retry), and an hour of 1 Hz steps.
#[tokio::test]
async fn the_densest_realistic_series_are_stored_and_read_back_whole() {
    use jwh_shared::store::plan::junction_text;
    let env = env().await;
    let store_batch = |resource: &str, samples: Vec<Value>, id: &str| {
        let body = serde_json::to_vec(&serde_json::json!({
            "event_type": format!("daily.data.{resource}.created"), "user_id": USER,
            "data": {"source": {"provider": "apple_health_kit", "type": "watch"}, "data": samples, "user_id": USER},
        }))
        .unwrap();
        let event = jwh_shared::events::parse_event(&body).unwrap();
        let meta = meta_for(id, &body);
        let store = env.store.clone();
        async move { store.write_event(&event, &meta).await.unwrap() }
    };
    for (i, from) in ["2024-11-24T10:05:00Z", "2024-11-24T10:41:00Z"]
        .iter()
        .enumerate()
    {
        let start = canonicalize(from)
            .and_then(|t| jwh_shared::store::time::parse_instant(&t))
            .unwrap();
        let samples: Vec<Value> = (0..30 * 512)
            .map(|k| {
                let at = start + chrono::Duration::microseconds(k * 1_000_000 / 512);
                serde_json::json!({"timestamp": junction_text(&at), "value": (k % 97) as f64 / 100.0 - 0.41,
                                   "unit": "mV", "type": "lead_1"})
            })
            .collect();
        let written = store_batch(
            "electrocardiogram_voltage",
            samples,
            &format!("msg_ecg_{i}"),
        )
        .await;
        assert_eq!(written.samples, 30 * 512);
        assert_eq!(written.items, 3, "three ten-second buckets");
    }
    let ecg = env
        .store
        .samples(USER, Resource::ElectrocardiogramVoltage, None, None)
        .await
        .unwrap();
    assert_eq!(ecg.len(), 2 * 30 * 512);
    assert_eq!(ecg[1].sample["value"], serde_json::json!(-0.4));
    assert_eq!(ecg[1].timestamp, "2024-11-24T10:05:00.001953Z");

    // The pure rules store a whole day of 1 Hz steps, calories and distance in 24 buckets of under 64 KB each
    // (`shared/src/store/plan/tests.rs`); here, an hour of them against moto.
    let hour = jwh_shared::store::time::parse_instant("2024-11-25T07:00:00Z").unwrap();
    let steps: Vec<Value> = (0..3600)
        .map(|k| {
            let start = hour + chrono::Duration::seconds(k);
            let end = start + chrono::Duration::seconds(1);
            serde_json::json!({"start": junction_text(&start), "end": junction_text(&end), "value": k % 3,
                               "unit": "count", "timezone_offset": 3600})
        })
        .collect();
    let written = store_batch("steps", steps.clone(), "msg_steps_hour").await;
    assert_eq!((written.items, written.samples), (1, 3600));
    let stored = env
        .store
        .samples(USER, Resource::Steps, None, None)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3600);
    assert_eq!(stored[1234].sample, steps[1234]);
}

/// A sample whose instant is not a timestamp cannot be stored by the rules: its message is kept whole in the
/// catch-all records (and acknowledged), not retried into the dead-letter queue.
#[tokio::test]
async fn a_sample_without_a_readable_instant_keeps_its_message_whole() {
    let env = env().await;
    let body = serde_json::to_vec(&serde_json::json!({
        "event_type": "daily.data.glucose.created", "user_id": USER,
        "data": {"source": {"provider": "dexcom", "type": "automatic"},
                 "data": [{"timestamp": "yesterday-ish", "value": 5.4, "unit": "mmol/L"}], "user_id": USER},
    }))
    .unwrap();
    assert!(env.deliver("msg_unplannable", &body).await.is_empty());
    let rec = env
        .store
        .catch_all_record("msg_unplannable")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(rec.get_str("reason"), Some("unplannable"));
    assert_eq!(
        rec.get_str("body").map(|b| json(b.as_bytes())),
        Some(json(&body))
    );
}

/// A batch whose bucket would pass DynamoDB's item limit (samples no device sends: an hour of distinct notes at
/// 1 Hz) is kept whole in the catch-all records, not retried into the dead-letter queue.
#[tokio::test]
async fn a_bucket_past_the_item_limit_keeps_its_message_whole() {
    let env = env().await;
    let samples: Vec<Value> = (0..3600)
        .map(|i| {
            serde_json::json!({"timestamp": format!("2024-11-24T10:{:02}:{:02}+00:00", i / 60, i % 60),
                               "value": i, "unit": "mg/dL", "note": format!("{i}{}", "x".repeat(120))})
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "event_type": "daily.data.glucose.created", "user_id": USER,
        "data": {"source": {"provider": "dexcom", "type": "automatic"}, "data": samples, "user_id": USER},
    }))
    .unwrap();
    assert!(env.deliver("msg_too_large", &body).await.is_empty());
    let rec = env
        .store
        .catch_all_record("msg_too_large")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(rec.get_str("reason"), Some("bucket_too_large"));
    // Over the inline limit, the body is kept in parts: nothing is lost.
    assert!(body.len() > 350 * 1024);
    let kept = env.store.catch_all_body("msg_too_large").await.unwrap();
    assert_eq!(
        kept.map(|b| serde_json::from_str::<Value>(&b).unwrap()),
        Some(json(&body))
    );
    assert!(
        env.store
            .samples(USER, Resource::Glucose, None, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn dynamodb_unreachable_fails_every_record_for_retry() {
    let env = env().await;
    let dead = support::sdk_config_for("http://127.0.0.1:9").await;
    let processor = Processor {
        family: Family::Summaries,
        store: Store::new(aws_sdk_dynamodb::Client::new(&dead), "t", 7),
        s3: support::s3(&env.config),
        fetch: None,
        concurrency: 2,
        archive: None,
    };
    let body = fixture("daily.data.activity.created");
    let meta = meta_for("msg_x", &body);
    let text = std::str::from_utf8(&body).unwrap();
    let response = processor
        .handle_batch(sqs_event(vec![
            sqs_record("a", &meta, text, None),
            sqs_record("b", &meta, text, None),
        ]))
        .await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, BTreeSet::from(["a".to_string(), "b".to_string()]));
}

#[tokio::test]
async fn a_thousand_heart_rate_samples_round_trip_sample_for_sample() {
    let env = env().await;
    let start = chrono::DateTime::parse_from_rfc3339("2024-11-24T00:00:00+00:00").unwrap();
    let samples: Vec<(String, f64)> = (0..1000)
        .map(|i| {
            let t = start + chrono::Duration::seconds(i * 15);
            (t.to_rfc3339(), 60.0 + (i % 40) as f64)
        })
        .collect();
    let body = heartrate_body(&samples);
    let meta = meta_for("msg_hr", &body);
    let outcome = env
        .processor(Family::Timeseries)
        .handle_record(sqs_record(
            "hr",
            &meta,
            std::str::from_utf8(&body).unwrap(),
            None,
        ))
        .await
        .unwrap();
    let Outcome::Stored(w) = outcome else {
        panic!()
    };
    assert_eq!(w.samples, 1000);
    // 1000 samples at 15 s span 4h10m: 17 quarter-hour buckets, one write each.
    assert_eq!(w.items, 17);
    let stored = env
        .store
        .samples(USER, Resource::Heartrate, None, None)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1000);
    for ((ts, v), got) in samples.iter().zip(&stored) {
        assert_eq!(got.timestamp, canonicalize(ts).unwrap());
        assert_eq!(got.sample["value"].as_f64(), Some(*v));
        assert_eq!(got.sample["unit"], "bpm");
    }
    // A time range reads back exactly the samples within it.
    let from = chrono::DateTime::parse_from_rfc3339("2024-11-24T01:00:00+00:00")
        .unwrap()
        .to_utc();
    let to = chrono::DateTime::parse_from_rfc3339("2024-11-24T01:59:59+00:00")
        .unwrap()
        .to_utc();
    let hour = env
        .store
        .samples(USER, Resource::Heartrate, Some(from), Some(to))
        .await
        .unwrap();
    assert_eq!(hour.len(), 240);
}

#[tokio::test]
async fn samples_read_back_exactly_whatever_their_shape_and_later_writes_replace_earlier_ones() {
    let env = env().await;
    let body = |samples: Value| {
        serde_json::to_vec(&serde_json::json!({
            "event_type": "daily.data.heartrate.created",
            "data": {"source": {"provider": "garmin", "type": "watch"}, "data": samples, "user_id": USER},
            "user_id": USER, "client_user_id": "c", "team_id": TEAM
        }))
        .unwrap()
    };
    // The first write creates the quarter-hour bucket and its shared fields (unit, timezone_offset).
    let first = body(serde_json::json!([
        {"timestamp": "2024-11-24T10:15:00+00:00", "value": 70, "unit": "bpm", "timezone_offset": 3600, "id": null},
        {"timestamp": "2024-11-24T10:15:05+00:00", "value": 71.5, "unit": "bpm", "timezone_offset": 3600},
        {"timestamp": "2024-11-24T10:15:10+00:00", "value": 72, "unit": "bpm", "timezone_offset": 3600},
    ]));
    // A later webhook: another unit, a float with a zero fraction, an extra field, a new sample in another
    // quarter hour; and a replacement of 10:15:10.
    let later = serde_json::json!([
        {"timestamp": "2024-11-24T10:15:10+00:00", "value": 99, "unit": "bpm", "timezone_offset": 3600},
        {"timestamp": "2024-11-24T10:15:15+00:00", "value": 73, "unit": "count/min", "timezone_offset": 3600},
        {"timestamp": "2024-11-24T10:15:20+00:00", "value": 74.0, "unit": "bpm", "timezone_offset": 3600},
        {"timestamp": "2024-11-24T10:15:25+00:00", "value": 75, "unit": "bpm", "timezone_offset": 3600, "type": "manual"},
        {"timestamp": "2024-11-24T10:30:00.25+00:00", "value": 76, "unit": "bpm", "timezone_offset": 3600},
    ]);
    assert!(env.deliver("msg_shape_1", &first).await.is_empty());
    let second = meta_for("msg_shape_2", &body(later.clone()));
    assert!(
        env.deliver_meta(&second, &body(later.clone()))
            .await
            .is_empty()
    );
    let stored = env
        .store
        .samples(USER, Resource::Heartrate, None, None)
        .await
        .unwrap();
    let got: Vec<(&str, Value)> = stored
        .iter()
        .map(|s| (s.timestamp.as_str(), s.sample.clone()))
        .collect();
    let want = vec![
        (
            "2024-11-24T10:15:00.000000Z",
            serde_json::json!({"value": 70, "unit": "bpm", "timezone_offset": 3600}),
        ),
        (
            "2024-11-24T10:15:05.000000Z",
            serde_json::json!({"value": 71.5, "unit": "bpm", "timezone_offset": 3600}),
        ),
        (
            "2024-11-24T10:15:10.000000Z",
            serde_json::json!({"value": 99, "unit": "bpm", "timezone_offset": 3600}),
        ),
        (
            "2024-11-24T10:15:15.000000Z",
            serde_json::json!({"value": 73, "unit": "count/min", "timezone_offset": 3600}),
        ),
        (
            "2024-11-24T10:15:20.000000Z",
            serde_json::json!({"value": 74.0, "unit": "bpm", "timezone_offset": 3600}),
        ),
        (
            "2024-11-24T10:15:25.000000Z",
            serde_json::json!({"value": 75, "unit": "bpm", "timezone_offset": 3600, "type": "manual"}),
        ),
        (
            "2024-11-24T10:30:00.250000Z",
            serde_json::json!({"value": 76, "unit": "bpm", "timezone_offset": 3600}),
        ),
    ];
    assert_eq!(got, want);
    // 74.0 is kept as JSON, not as a number DynamoDB would give back as 74.
    assert!(stored[4].sample["value"].is_f64());
    // The same message again, past its processed-marker (two deliveries racing): nothing changes, nothing is
    // written.
    let again = body(later);
    let event = jwh_shared::events::parse_event(&again).unwrap();
    let w = env.store.write_event(&event, &second).await.unwrap();
    assert_eq!((w.items, w.samples, w.stale), (0, 5, 0));
    // The same samples under a new message id (a re-send): the values stay, their version moves to the newer
    // message, so that an older message with other values, arriving after it, cannot replace them.
    let resent = meta_for("msg_shape_3", &again);
    let w = env.store.write_event(&event, &resent).await.unwrap();
    assert_eq!((w.items, w.samples), (2, 5));
    let after = env
        .store
        .samples(USER, Resource::Heartrate, None, None)
        .await
        .unwrap();
    let values = |s: &[jwh_shared::query::StoredSample]| {
        s.iter().map(|s| s.sample.clone()).collect::<Vec<_>>()
    };
    assert_eq!(values(&after), values(&stored));
    assert!(after[2].message_created_at > stored[2].message_created_at);
    assert_eq!(after[0].message_created_at, stored[0].message_created_at);
}

/// A week of sleep is read through the by-day index: exactly the summaries of those dates, whatever the number of
/// the user's other summaries; a summary whose date moves (same id, a newer version) moves with it.
#[tokio::test]
async fn summaries_are_read_by_date_through_the_index() {
    let env = env().await;
    let user = support::unique("by-day");
    let sleep = |id: &str, date: &str, score: i64, updated: &str| {
        serde_json::to_vec(&serde_json::json!({
            "event_type": "daily.data.sleep.updated", "user_id": user,
            "data": {"id": id, "user_id": user, "calendar_date": date, "score": score, "updated_at": updated,
                     "bedtime_start": format!("{date}T00:30:00+00:00"),
                     "source": {"provider": "oura", "type": "ring"}},
        }))
        .unwrap()
    };
    let store = |body: Vec<u8>, id: String| {
        let event = jwh_shared::events::parse_event(&body).unwrap();
        let meta = meta_for(&id, &body);
        let store = env.store.clone();
        async move { store.write_event(&event, &meta).await.unwrap() }
    };
    for day in 1..=30 {
        let date = format!("2024-11-{day:02}");
        store(
            sleep(&format!("s{day}"), &date, day, "2024-12-01T00:00:00+00:00"),
            format!("msg_d{day}"),
        )
        .await;
    }
    // Another resource's summaries stay out of the range.
    let activity = fixture("daily.data.activity.created");
    let text = String::from_utf8(activity).unwrap().replace(USER, &user);
    store(text.into_bytes(), "msg_activity".into()).await;

    let week = |from: &str, to: &str| {
        let store = env.store.clone();
        let user = user.clone();
        let (from, to) = (
            chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
            chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap(),
        );
        async move {
            store
                .summaries_between(&user, Resource::Sleep, from, to)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.get_str("record_id").unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        week("2024-11-10", "2024-11-16").await,
        ["s10", "s11", "s12", "s13", "s14", "s15", "s16"]
    );
    // s12 is re-dated (a newer version): it leaves its old day and joins its new one.
    store(
        sleep("s12", "2024-11-20", 99, "2024-12-02T00:00:00+00:00"),
        "msg_redated".into(),
    )
    .await;
    assert_eq!(
        week("2024-11-10", "2024-11-16").await,
        ["s10", "s11", "s13", "s14", "s15", "s16"]
    );
    assert_eq!(week("2024-11-20", "2024-11-20").await, ["s12", "s20"]);
    assert!(week("2024-10-01", "2024-10-31").await.is_empty());
}

/// Retention periods stamp every item of the kinds they name with its expiry, counted from the record's own time
/// (a bucket's start, a summary's date) or its message's receipt; current state and markers keep theirs.
#[tokio::test]
async fn retention_stamps_each_kind_it_names_and_leaves_current_state_alone() {
    use jwh_shared::store::retention::Retention;
    use jwh_shared::store::{BucketSpan, keys};

    let mut env = env().await;
    let retention = Retention {
        samples: 30,
        summaries: 365,
        history: 90,
        catch_all: 7,
    };
    env.store = env.store.clone().with_retention(retention);
    for (i, (_, body)) in all_fixtures().into_iter().enumerate() {
        assert!(env.deliver(&format!("msg_ret_{i}"), &body).await.is_empty());
    }
    let mut kinds: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut start = None;
    loop {
        let page = env
            .store
            .client()
            .scan()
            .table_name(env.store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let kind = text("kind");
            let expires = item
                .get("expires_at")
                .and_then(|v| v.as_n().ok())
                .map(|n| n.parse::<i64>().unwrap());
            let entry = kinds.entry(kind.clone()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(expires.is_some());
            let received =
                jwh_shared::store::time::parse_instant(&text("received_at")).map(|t| t.timestamp());
            let days = |d: i64| d * 86_400;
            match kind.as_str() {
                "timeseries" => {
                    let (_, label, _) = keys::parse_bucket(&text("sk")).unwrap();
                    let start = BucketSpan::start_of(&label).unwrap().timestamp();
                    assert_eq!(expires, Some(start + days(30)), "{}", text("sk"));
                }
                "summary" => assert!(expires.is_some(), "{}", text("sk")),
                "connection_event" | "lab_event" => {
                    assert_eq!(expires, received.map(|r| r + days(90)))
                }
                "catch_all" | "catch_all_part" => {
                    assert_eq!(expires, received.map(|r| r + days(7)))
                }
                "marker" => assert!(expires.is_some()),
                other => assert_eq!(expires, None, "{other} {}", text("sk")),
            }
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    for kind in [
        "timeseries",
        "summary",
        "connection_event",
        "lab_event",
        "catch_all",
        "connection",
        "device",
        "lab",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|(n, _)| *n > 0),
            "no {kind} stored: {kinds:?}"
        );
    }
}
