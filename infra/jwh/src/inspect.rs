//! `jwh inspect`: what a body is, as the receiver reads it: event type, family, resource, user, and the
//! deduplication keys of the records it would store.

use jwh_shared::events::{Event, EventData, EventType, RecordKey, parse_event};
use serde::Serialize;

/// Reads `body` as a Junction event and describes it as pretty-printed JSON, or says why it is not one (not
/// JSON, no `event_type`, an unknown event type, a missing identifying field).
pub fn describe(body: &[u8]) -> Result<String, String> {
    let event = parse_event(body).map_err(|e| format!("not a Junction event: {e}"))?;
    if let EventType::Unknown(name) = &event.event_type {
        return Err(format!(
            "not a Junction event: unknown event type {:?}",
            name
        ));
    }
    Ok(describe_event(&event))
}

/// The description of a parsed event. A timeseries batch lists the key of its first sample only, with
/// `sample_count`; every other event lists all its keys.
pub fn describe_event(event: &Event) -> String {
    let keys = event.record_keys();
    let sample_count = match &event.data {
        EventData::Timeseries(batch) => Some(batch.samples.len()),
        _ => None,
    };
    let shown = if sample_count.is_some() {
        &keys[..keys.len().min(1)]
    } else {
        &keys[..]
    };
    let description = Description {
        event_type: event.event_type.as_str().into_owned(),
        family: event.family().as_str(),
        resource: event.resource().map(|r| r.as_str()),
        user_id: event.user_id.as_deref(),
        sample_count,
        keys: shown.iter().map(KeyView::from).collect(),
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string_pretty(&description).unwrap_or_default()
}

/// What `jwh inspect` prints, fields in this order.
#[derive(Serialize)]
struct Description<'a> {
    event_type: String,
    family: &'static str,
    resource: Option<&'static str>,
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_count: Option<usize>,
    keys: Vec<KeyView<'a>>,
}

/// A [`RecordKey`] as JSON: an object tagged with its `kind`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KeyView<'a> {
    Summary {
        user_id: &'a str,
        resource: &'static str,
        id: &'a str,
    },
    Sample {
        user_id: &'a str,
        resource: &'static str,
        provider: &'a str,
        source_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        app_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        device_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workout_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sport: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sample_type: Option<&'a str>,
        timestamp: &'a str,
    },
    Connection {
        user_id: &'a str,
        provider: &'a str,
    },
    Device {
        user_id: &'a str,
        device_id: &'a str,
    },
    Backfill {
        user_id: &'a str,
        provider: &'a str,
        resource: &'static str,
    },
    LabOrder {
        id: &'a str,
    },
    Appointment {
        id: &'a str,
    },
    CriticalResult {
        order_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        sample_id: Option<&'a str>,
    },
    MatchReview {
        id: &'a str,
    },
    ParsingJob {
        id: &'a str,
    },
    Message,
}

impl<'a> From<&'a RecordKey> for KeyView<'a> {
    fn from(key: &'a RecordKey) -> Self {
        match key {
            RecordKey::Summary {
                user_id,
                resource,
                id,
            } => KeyView::Summary {
                user_id,
                resource: resource.as_str(),
                id,
            },
            RecordKey::Sample {
                user_id,
                resource,
                series,
                timestamp,
            } => KeyView::Sample {
                user_id,
                resource: resource.as_str(),
                provider: &series.provider,
                source_type: &series.source_type,
                app_id: series.app_id.as_deref(),
                device_id: series.device_id.as_deref(),
                workout_id: series.workout_id.as_deref(),
                sport: series.sport.as_deref(),
                sample_type: series.sample_type.as_deref(),
                timestamp,
            },
            RecordKey::Connection { user_id, provider } => {
                KeyView::Connection { user_id, provider }
            }
            RecordKey::Device { user_id, device_id } => KeyView::Device { user_id, device_id },
            RecordKey::Backfill {
                user_id,
                provider,
                resource,
            } => KeyView::Backfill {
                user_id,
                provider,
                resource: resource.as_str(),
            },
            RecordKey::LabOrder { id } => KeyView::LabOrder { id },
            RecordKey::Appointment { id } => KeyView::Appointment { id },
            RecordKey::CriticalResult {
                order_id,
                sample_id,
            } => KeyView::CriticalResult {
                order_id,
                sample_id: sample_id.as_deref(),
            },
            RecordKey::MatchReview { id } => KeyView::MatchReview { id },
            RecordKey::ParsingJob { id } => KeyView::ParsingJob { id },
            RecordKey::Message => KeyView::Message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;

    fn describe_json(body: &[u8]) -> Result<Value, String> {
        describe(body).map(|text| serde_json::from_str(&text).unwrap())
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixtures_dir().join(name)).unwrap()
    }

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/junction/fixtures")
    }

    #[test]
    fn timeseries_batch_shows_count_and_first_key() {
        let got = describe_json(&fixture("daily.data.heartrate.created.json")).unwrap();
        assert_eq!(
            got,
            json!({
                "event_type": "daily.data.heartrate.created",
                "family": "timeseries",
                "resource": "heartrate",
                "user_id": "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2",
                "sample_count": 2,
                "keys": [{
                    "kind": "sample", "user_id": "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2",
                    "resource": "heartrate", "provider": "apple_health_kit", "source_type": "watch",
                    "app_id": "com.apple.health", "timestamp": "2024-11-24T10:00:00+00:00",
                }],
            })
        );
    }

    #[test]
    fn fields_print_in_reading_order() {
        let text = describe(&fixture("provider.connection.created.json")).unwrap();
        let at = |field: &str| text.find(&format!("\"{field}\"")).unwrap();
        let order = [
            "event_type",
            "family",
            "resource",
            "user_id",
            "keys",
            "kind",
            "provider",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    }

    #[test]
    fn summary_shows_its_key() {
        let got = describe_json(&fixture("daily.data.sleep.created.json")).unwrap();
        assert_eq!(got["family"], "summaries");
        assert_eq!(got["resource"], "sleep");
        assert!(got.get("sample_count").is_none());
        assert_eq!(
            got["keys"],
            json!([{
                "kind": "summary", "user_id": "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2", "resource": "sleep",
                "id": "e2e0eb04-6641-4858-9de5-649efb41b346",
            }])
        );
    }

    #[test]
    fn every_fixture_is_an_event_with_keys() {
        let mut count = 0;
        for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
            let path = entry.unwrap().path();
            let got = describe_json(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(got["event_type"], name, "{}", path.display());
            assert!(got["family"].is_string());
            let keys = got["keys"].as_array().unwrap();
            let samples = got.get("sample_count").and_then(Value::as_u64);
            match samples {
                Some(0) => assert!(keys.is_empty(), "{name}"),
                _ => assert!(!keys.is_empty(), "{name}"),
            }
            count += 1;
        }
        assert_eq!(count, 194);
    }

    #[test]
    fn non_events_say_why() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"not json",
                "not a Junction event: body is not valid JSON (line 1, column 2)",
            ),
            (b"[1]", "not a Junction event: body is not a JSON object"),
            (b"{}", "not a Junction event: body has no `event_type`"),
            (
                br#"{"event_type":"daily.data.nope.created"}"#,
                r#"not a Junction event: unknown event type "daily.data.nope.created""#,
            ),
            (
                br#"{"event_type":"daily.data.sleep.created","user_id":"u","data":{}}"#,
                "not a Junction event: `daily.data.sleep.created` event has no `data.id`",
            ),
            (
                br#"{"event_type":"daily.data.sleep.created","data":{"id":"s"}}"#,
                "not a Junction event: `daily.data.sleep.created` event has no `user_id`",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(describe(body), Err(expected.to_owned()));
        }
    }
}
