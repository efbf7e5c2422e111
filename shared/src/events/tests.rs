//! Parsing every fixture, leniency, errors, and `peek_event_type`.

use std::collections::BTreeSet;

use proptest::strategy::Strategy;
use serde_json::{Value, json};

use super::test_support::{fixture, fixture_json, fixtures};
use super::*;

const USER: &str = "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2";
const TEAM: &str = "6b74423d-0504-4470-9afb-477252ccf67a";
const CLIENT_USER: &str = "01HW3FSNVCHC3B2QB5N0ZAAAVG";

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn parse(value: &Value) -> Event {
    parse_event(&body(value)).unwrap()
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The family an event type's name says it belongs to, worked out independently of `EventType::family`.
fn family_by_name(name: &str) -> Family {
    let resource = name.split('.').nth(2).and_then(Resource::parse);
    if name.starts_with("provider.") {
        Family::Connections
    } else if name.starts_with("historical.data.") {
        Family::Backfills
    } else if name.starts_with("daily.data.") {
        match resource.unwrap().kind() {
            ResourceKind::Summary => Family::Summaries,
            ResourceKind::Timeseries(_) => Family::Timeseries,
        }
    } else if name.starts_with("labtest.") || name.starts_with("lab_report.") {
        Family::Lab
    } else {
        Family::CatchAll
    }
}

#[test]
fn there_is_one_fixture_per_known_event_type() {
    let names: BTreeSet<String> = fixtures().into_iter().map(|(name, _)| name).collect();
    let known: BTreeSet<String> = EventType::all_known()
        .map(|t| t.as_str().into_owned())
        .collect();
    assert_eq!(names.len(), 194);
    assert_eq!(names, known);
}

#[test]
fn every_fixture_parses_into_the_right_type_family_and_data() {
    for (name, bytes) in fixtures() {
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let event = parse_event(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let d = &json["data"];

        assert_eq!(event.event_type, EventType::parse(&name), "{name}");
        assert!(event.event_type.is_known(), "{name}");
        assert_eq!(
            event.event_type.as_str(),
            json["event_type"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(peek_event_type(&bytes).unwrap(), event.event_type, "{name}");
        assert_eq!(event.family(), family_by_name(&name), "{name}");
        let resource = name.split('.').nth(2).and_then(Resource::parse);
        let wearable = name.starts_with("daily.data.") || name.starts_with("historical.data.");
        assert_eq!(
            event.resource(),
            if wearable { resource } else { None },
            "{name}"
        );
        assert_eq!(event.raw, json, "{name}");
        assert_eq!(event.team_id.as_deref(), Some(TEAM), "{name}");
        let match_review = name.starts_with("labtest.match_review.");
        assert_eq!(
            event.user_id.as_deref(),
            (!match_review).then_some(USER),
            "{name}"
        );
        assert_eq!(
            event.client_user_id.as_deref(),
            (!match_review).then_some(CLIENT_USER),
            "{name}"
        );
        let user = || USER.to_owned();
        let keys = event.record_keys();

        match (&event.family(), &event.data) {
            (Family::Summaries, EventData::Summary(summary)) => {
                let resource = resource.unwrap();
                let id = if resource == Resource::WorkoutStream {
                    &d["workout_id"]
                } else {
                    &d["id"]
                };
                assert_eq!(Some(summary.id.clone()), string(id), "{name}");
                assert_eq!(summary.data, *d, "{name}");
                assert_eq!(summary.updated_at, string(&d["updated_at"]), "{name}");
                assert_eq!(summary.calendar_date, string(&d["calendar_date"]), "{name}");
                assert_eq!(
                    summary.source.provider,
                    string(&d["source"]["provider"]),
                    "{name}"
                );
                assert_eq!(
                    summary.source.source_type,
                    string(&d["source"]["type"]),
                    "{name}"
                );
                assert_eq!(
                    summary.updated_at.is_some(),
                    resource != Resource::WorkoutStream,
                    "{name}"
                );
                let has_time = !matches!(resource, Resource::Profile | Resource::WorkoutStream);
                assert_eq!(summary.start.is_some(), has_time, "{name}");
                assert_eq!(
                    keys,
                    [RecordKey::Summary {
                        user_id: user(),
                        resource,
                        id: summary.id.clone()
                    }]
                );
            }
            (Family::Timeseries, EventData::Timeseries(batch)) => {
                let resource = resource.unwrap();
                let samples = d["data"].as_array().unwrap();
                assert!(!samples.is_empty(), "{name}");
                assert_eq!(batch.samples.len(), samples.len(), "{name}");
                assert_eq!(keys.len(), samples.len(), "{name}");
                assert_eq!(
                    batch.source.provider,
                    string(&d["source"]["provider"]),
                    "{name}"
                );
                assert_eq!(
                    batch.source.source_type,
                    string(&d["source"]["type"]),
                    "{name}"
                );
                assert_eq!(
                    keys[0],
                    RecordKey::Sample {
                        user_id: user(),
                        resource,
                        series: Series::of(resource, &batch.source, samples[0]["type"].as_str()),
                        timestamp: samples[0]["timestamp"]
                            .as_str()
                            .or(samples[0]["start"].as_str())
                            .unwrap()
                            .to_owned(),
                    },
                    "{name}"
                );
                for (sample, json) in batch.samples.iter().zip(samples) {
                    assert_eq!(
                        Some(sample.timestamp.clone()),
                        string(&json["timestamp"]).or(string(&json["start"])),
                        "{name}"
                    );
                    assert_eq!(sample.unit, string(&json["unit"]), "{name}");
                    assert_eq!(
                        sample.timezone_offset,
                        json["timezone_offset"].as_i64(),
                        "{name}"
                    );
                    assert_eq!(sample.sample_type, string(&json["type"]), "{name}");
                    assert_eq!(sample.start, string(&json["start"]), "{name}");
                    assert_eq!(sample.end, string(&json["end"]), "{name}");
                    let shape = resource.kind().sample_shape().unwrap();
                    assert_eq!(
                        sample.start.is_some(),
                        shape != SampleShape::Discrete && shape != SampleShape::BloodPressure,
                        "{name}"
                    );
                    let expected = match shape {
                        SampleShape::BloodPressure => SampleValue::BloodPressure {
                            systolic: json["systolic"].as_f64().unwrap(),
                            diastolic: json["diastolic"].as_f64().unwrap(),
                        },
                        SampleShape::Note => SampleValue::Text(string(&json["value"]).unwrap()),
                        SampleShape::Discrete | SampleShape::Interval => {
                            SampleValue::Number(json["value"].as_f64().unwrap())
                        }
                    };
                    assert_eq!(sample.value, expected, "{name}");
                    // `extra` holds exactly the other non-null fields.
                    let typed = [
                        "timestamp",
                        "value",
                        "systolic",
                        "diastolic",
                        "start",
                        "end",
                        "unit",
                        "type",
                    ];
                    let expected_extra: serde_json::Map<String, Value> = json
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, v)| {
                            !v.is_null() && !typed.contains(&k.as_str()) && *k != "timezone_offset"
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    assert_eq!(sample.extra, expected_extra, "{name}");
                }
            }
            (Family::Backfills, EventData::HistoricalPull(pull)) => {
                assert_eq!(
                    Some(pull.provider.clone()),
                    string(&d["provider"]),
                    "{name}"
                );
                assert_eq!(pull.start_date, string(&d["start_date"]), "{name}");
                assert_eq!(pull.end_date, string(&d["end_date"]), "{name}");
                assert_eq!(pull.is_final, d["is_final"].as_bool(), "{name}");
                let resource = resource.unwrap();
                assert_eq!(
                    keys,
                    [RecordKey::Backfill {
                        user_id: user(),
                        provider: pull.provider.clone(),
                        resource
                    }]
                );
            }
            (Family::Connections, EventData::ProviderConnection(connection)) => {
                assert_eq!(name, "provider.connection.created");
                assert_eq!(
                    Some(connection.provider.clone()),
                    string(&d["provider"]["slug"])
                );
                assert_eq!(connection.external_user_id, string(&d["external_user_id"]));
                assert_eq!(
                    keys,
                    [RecordKey::Connection {
                        user_id: user(),
                        provider: "fitbit".into()
                    }]
                );
            }
            (Family::Connections, EventData::ProviderConnectionError(error)) => {
                assert_eq!(name, "provider.connection.error");
                assert_eq!(Some(error.provider.clone()), string(&d["provider"]));
                assert_eq!(error.error_type.as_deref(), Some("token_refresh_failed"));
                assert_eq!(error.error_details, string(&d["error_details"]));
                assert_eq!(error.message, string(&d["message"]));
                assert_eq!(
                    keys,
                    [RecordKey::Connection {
                        user_id: user(),
                        provider: "oura".into()
                    }]
                );
            }
            (Family::Connections, EventData::Device(device)) => {
                assert!(name.starts_with("provider.device."), "{name}");
                // Junction's id, which data records name in `source.device_id`; the provider's beside it.
                assert_eq!(Some(device.id.clone()), string(&d["id"]), "{name}");
                assert_eq!(device.provider_device_id, string(&d["device_id"]), "{name}");
                assert_eq!(device.provider, string(&d["provider"]), "{name}");
                assert_eq!(device.source_type, string(&d["source_type"]), "{name}");
                assert_eq!(
                    keys,
                    [RecordKey::Device {
                        user_id: user(),
                        device_id: string(&d["id"]).unwrap()
                    }]
                );
            }
            (Family::Lab, EventData::LabOrder(order)) => {
                assert!(name.starts_with("labtest.order."), "{name}");
                assert_eq!(Some(order.id.clone()), string(&d["id"]));
                // The detailed status of the order's last event, not the deprecated coarse one.
                assert_eq!(order.status, string(&d["last_event"]["status"]));
                assert_ne!(order.status, string(&d["status"]), "{name}");
                assert_eq!(order.updated_at, string(&d["updated_at"]));
                assert_eq!(
                    keys,
                    [RecordKey::LabOrder {
                        id: order.id.clone()
                    }]
                );
            }
            (Family::Lab, EventData::Appointment(appointment)) => {
                assert!(name.starts_with("labtest.appointment."), "{name}");
                assert_eq!(Some(appointment.id.clone()), string(&d["id"]));
                assert_eq!(appointment.order_id, string(&d["order_id"]));
                assert_eq!(appointment.status.as_deref(), Some("confirmed"));
                assert_eq!(appointment.event_status.as_deref(), Some("scheduled"));
                assert_eq!(
                    keys,
                    [RecordKey::Appointment {
                        id: appointment.id.clone()
                    }]
                );
            }
            (Family::Lab, EventData::CriticalResult(result)) => {
                assert_eq!(name, "labtest.result.critical");
                assert_eq!(Some(result.order_id.clone()), string(&d["order_id"]));
                assert_eq!(result.status.as_deref(), Some("final"));
                assert_eq!(result.updated_at, string(&d["updated_at"]));
                assert_eq!(
                    keys,
                    [RecordKey::CriticalResult {
                        order_id: result.order_id.clone(),
                        sample_id: string(&d["sample_id"]),
                    }]
                );
            }
            (Family::Lab, EventData::MatchReview(review)) => {
                assert!(match_review, "{name}");
                assert_eq!(Some(review.id.clone()), string(&d["id"]));
                assert_eq!(review.status.as_deref(), Some("matched"));
                assert_eq!(review.resolved_user_id, string(&d["resolved_user_id"]));
                assert_eq!(review.resolved_order_id, string(&d["resolved_order_id"]));
                assert_eq!(
                    keys,
                    [RecordKey::MatchReview {
                        id: review.id.clone()
                    }]
                );
            }
            (Family::Lab, EventData::ParsingJob(job)) => {
                assert!(name.starts_with("lab_report.parsing_job."), "{name}");
                assert_eq!(Some(job.id.clone()), string(&d["id"]));
                assert_eq!(job.status.as_deref(), Some("completed"));
                assert_eq!(keys, [RecordKey::ParsingJob { id: job.id.clone() }]);
            }
            (Family::CatchAll, EventData::ContinuousQuery(tables)) => {
                assert_eq!(name, "continuous_query.result_table.changed");
                assert_eq!(tables.len(), d.as_array().unwrap().len());
                assert_eq!(tables[0].query_id, string(&d[0]["query_id"]));
                assert_eq!(tables[0].query_slug.as_deref(), Some("sleep-analysis-v1"));
                assert_eq!(keys, [RecordKey::Message]);
            }
            (family, data) => panic!("{name}: family {family} with unexpected data {data:?}"),
        }
    }
}

#[test]
fn every_family_has_fixtures() {
    let mut counts = std::collections::BTreeMap::new();
    for (name, _) in fixtures() {
        *counts.entry(family_by_name(&name)).or_insert(0) += 1;
    }
    assert_eq!(counts[&Family::Connections], 4);
    assert_eq!(counts[&Family::Backfills], 60);
    assert_eq!(counts[&Family::Summaries], 20);
    assert_eq!(counts[&Family::Timeseries], 100);
    assert_eq!(counts[&Family::Lab], 9);
    assert_eq!(counts[&Family::CatchAll], 1);
}

// ---- Leniency ----

#[test]
fn extra_fields_anywhere_are_accepted_and_kept() {
    let mut json = fixture_json("daily.data.heartrate.created");
    json["new_top_level"] = json!({"nested": [1, 2]});
    json["data"]["new_in_data"] = json!("x");
    json["data"]["source"]["new_in_source"] = json!(true);
    json["data"]["data"][0]["new_in_sample"] = json!({"a": 1});
    json["data"]["data"][0]["also_null"] = Value::Null;
    let event = parse(&json);
    let EventData::Timeseries(batch) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(
        batch.samples[0].extra.get("new_in_sample"),
        Some(&json!({"a": 1}))
    );
    assert!(!batch.samples[0].extra.contains_key("also_null"));
    assert!(
        !batch.samples[0].extra.contains_key("id"),
        "null id dropped"
    );
    assert_eq!(event.raw["new_top_level"], json!({"nested": [1, 2]}));
}

#[test]
fn unknown_enum_values_are_kept_as_strings() {
    let mut json = fixture_json("daily.data.glucose.created");
    json["data"]["source"]["type"] = json!("implant");
    json["data"]["source"]["provider"] = json!("brand_new_provider");
    json["data"]["data"][0]["type"] = json!("interstitial");
    let event = parse(&json);
    let EventData::Timeseries(batch) = &event.data else {
        panic!()
    };
    assert_eq!(batch.source.source_type.as_deref(), Some("implant"));
    assert_eq!(
        batch.samples[0].sample_type.as_deref(),
        Some("interstitial")
    );
    let RecordKey::Sample { series, .. } = &event.record_keys()[0] else {
        panic!()
    };
    assert_eq!(
        (series.provider.as_str(), series.source_type.as_str()),
        ("brand_new_provider", "implant")
    );

    let mut json = fixture_json("provider.connection.error");
    json["data"]["error_type"] = json!("quota_exceeded");
    let EventData::ProviderConnectionError(error) = parse(&json).data else {
        panic!()
    };
    assert_eq!(error.error_type.as_deref(), Some("quota_exceeded"));

    let mut json = fixture_json("labtest.order.updated");
    json["data"]["last_event"]["status"] = json!("teleported");
    let EventData::LabOrder(order) = parse(&json).data else {
        panic!()
    };
    assert_eq!(order.status.as_deref(), Some("teleported"));
}

#[test]
fn numeric_ids_are_stringified() {
    let mut json = fixture_json("daily.data.sleep.updated");
    json["user_id"] = json!(42);
    json["data"]["id"] = json!(1234567890123_u64);
    let event = parse(&json);
    assert_eq!(event.user_id.as_deref(), Some("42"));
    assert_eq!(
        event.record_keys(),
        [RecordKey::Summary {
            user_id: "42".into(),
            resource: Resource::Sleep,
            id: "1234567890123".into()
        }]
    );

    for (name, field) in [
        ("labtest.order.created", "id"),
        ("labtest.appointment.updated", "id"),
        ("labtest.result.critical", "order_id"),
        ("labtest.match_review.created", "id"),
        ("lab_report.parsing_job.created", "id"),
        ("provider.device.created", "id"),
        ("daily.data.workout_stream.created", "workout_id"),
    ] {
        let mut json = fixture_json(name);
        json["data"][field] = json!(7);
        let keys = parse(&json).record_keys();
        let id = match &keys[0] {
            RecordKey::LabOrder { id }
            | RecordKey::Appointment { id }
            | RecordKey::CriticalResult { order_id: id, .. }
            | RecordKey::MatchReview { id }
            | RecordKey::ParsingJob { id }
            | RecordKey::Device { device_id: id, .. }
            | RecordKey::Summary { id, .. } => id,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(id, "7", "{name}");
    }

    let mut json = fixture_json("daily.data.steps.created");
    json["data"]["data"][0]["id"] = json!(99);
    let EventData::Timeseries(batch) = parse(&json).data else {
        panic!()
    };
    assert_eq!(batch.samples[0].extra["id"], json!(99));
}

#[test]
fn missing_optional_fields_are_fine() {
    let event = parse(&json!({
        "event_type": "daily.data.workouts.created",
        "user_id": USER,
        "data": {"id": "w1"},
    }));
    let EventData::Summary(summary) = &event.data else {
        panic!()
    };
    assert_eq!(summary.id, "w1");
    assert_eq!(summary.source, Source::default());
    assert_eq!(
        (&summary.updated_at, &summary.start, &summary.end),
        (&None, &None, &None)
    );
    assert_eq!((&event.client_user_id, &event.team_id), (&None, &None));

    // A bare sample, and a batch with no source: the key falls back to "unknown".
    let event = parse(&json!({
        "event_type": "daily.data.heartrate.created",
        "user_id": USER,
        "data": {"data": [{"timestamp": "2024-11-24T10:00:00+00:00"}]},
    }));
    let EventData::Timeseries(batch) = &event.data else {
        panic!()
    };
    let sample = &batch.samples[0];
    assert_eq!(sample.value, SampleValue::Missing);
    assert_eq!(
        (&sample.unit, &sample.timezone_offset, &sample.sample_type),
        (&None, &None, &None)
    );
    assert!(sample.extra.is_empty());
    assert_eq!(
        event.record_keys(),
        [RecordKey::Sample {
            user_id: USER.into(),
            resource: Resource::Heartrate,
            series: Series {
                provider: "unknown".into(),
                source_type: "unknown".into(),
                ..Series::default()
            },
            timestamp: "2024-11-24T10:00:00+00:00".into(),
        }]
    );

    // A batch without its samples list is a changed shape, not an empty batch: it fails (and is kept whole by
    // the processor).
    for data in [
        json!({}),
        json!({"data": null}),
        json!({"source": {"provider": "oura"}}),
    ] {
        let body = json!({"event_type": "daily.data.steps.updated", "user_id": USER, "data": data});
        let err = parse_event(body.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("data.data"), "{err}");
    }
    // An empty list is an empty batch: no keys.
    for data in [
        json!({"data": []}),
        json!({"data": [], "source": {"provider": "oura"}}),
    ] {
        let event = parse(
            &json!({"event_type": "daily.data.steps.updated", "user_id": USER, "data": data}),
        );
        let EventData::Timeseries(batch) = &event.data else {
            panic!()
        };
        assert!(batch.samples.is_empty());
        assert!(event.record_keys().is_empty());
    }

    let event = parse(
        &json!({"event_type": "historical.data.sleep.created", "user_id": USER,
        "data": {"provider": "oura"}}),
    );
    assert_eq!(
        event.data,
        EventData::HistoricalPull(HistoricalPull {
            provider: "oura".into(),
            start_date: None,
            end_date: None,
            is_final: None
        })
    );
}

#[test]
fn null_data_fields_read_as_absent() {
    let mut json = fixture_json("daily.data.activity.updated");
    for field in ["updated_at", "calendar_date", "date", "source"] {
        json["data"][field] = Value::Null;
    }
    let EventData::Summary(summary) = parse(&json).data else {
        panic!()
    };
    assert_eq!(
        (summary.updated_at, summary.calendar_date, summary.start),
        (None, None, None)
    );
    assert_eq!(summary.source, Source::default());

    let mut json = fixture_json("daily.data.calories_active.created");
    for field in ["value", "start", "end", "unit", "type", "timezone_offset"] {
        json["data"]["data"][0][field] = Value::Null;
    }
    let EventData::Timeseries(batch) = parse(&json).data else {
        panic!()
    };
    let sample = &batch.samples[0];
    assert_eq!(sample.value, SampleValue::Missing);
    assert_eq!(
        (&sample.start, &sample.end, &sample.unit),
        (&None, &None, &None)
    );
    assert!(sample.extra.is_empty(), "{:?}", sample.extra);
}

#[test]
fn sample_values_of_every_shape() {
    let sample = |sample: Value| {
        let event = parse(
            &json!({"event_type": "daily.data.blood_pressure.created", "user_id": USER, "data": {"data": [sample]}}),
        );
        let EventData::Timeseries(mut batch) = event.data else {
            panic!()
        };
        batch.samples.remove(0)
    };
    let t = "2024-01-01T00:00:00Z";
    assert_eq!(
        sample(json!({"timestamp": t, "value": 72})).value,
        SampleValue::Number(72.0)
    );
    assert_eq!(
        sample(json!({"timestamp": t, "value": 36.6})).value,
        SampleValue::Number(36.6)
    );
    assert_eq!(
        sample(json!({"timestamp": t, "value": "Slept badly"})).value,
        SampleValue::Text("Slept badly".into())
    );
    let bp = sample(json!({"timestamp": t, "systolic": 120, "diastolic": 80.5}));
    assert_eq!(
        bp.value,
        SampleValue::BloodPressure {
            systolic: 120.0,
            diastolic: 80.5
        }
    );
    assert!(bp.extra.is_empty());
    // Half a blood pressure: no value, but nothing lost.
    let half = sample(json!({"timestamp": t, "systolic": 120}));
    assert_eq!(half.value, SampleValue::Missing);
    assert_eq!(half.extra["systolic"], json!(120));
    // A value of an unexpected type is kept in `extra`.
    let odd =
        sample(json!({"timestamp": t, "value": [1, 2], "timezone_offset": "3600", "unit": 5}));
    assert_eq!(odd.value, SampleValue::Missing);
    assert_eq!(odd.extra["value"], json!([1, 2]));
    assert_eq!(odd.extra["timezone_offset"], json!("3600"));
    assert_eq!(odd.unit.as_deref(), Some("5"));
    assert_eq!(
        sample(json!({"timestamp": t, "timezone_offset": 3600.0})).timezone_offset,
        Some(3600)
    );
    assert_eq!(
        sample(json!({"timestamp": t, "timezone_offset": -18000})).timezone_offset,
        Some(-18000)
    );
}

#[test]
fn fallbacks_for_ids_sources_and_statuses() {
    // workout_stream without workout_id falls back to id.
    let mut json = fixture_json("daily.data.workout_stream.updated");
    json["data"].as_object_mut().unwrap().remove("workout_id");
    json["data"]["id"] = json!("ws-1");
    let EventData::Summary(summary) = parse(&json).data else {
        panic!()
    };
    assert_eq!(summary.id, "ws-1");

    // A device without device_id falls back to Junction's id.
    let mut json = fixture_json("provider.device.updated");
    json["data"]["device_id"] = Value::Null;
    let EventData::Device(device) = parse(&json).data else {
        panic!()
    };
    assert_eq!(device.id, "00000000-0000-0000-0000-000000000000");

    // The docs' example: a connection with only the deprecated `source`, and no top-level user_id.
    let event = parse(&json!({
        "event_type": "provider.connection.created",
        "data": {"source": {"slug": "freestyle_libre_ble", "name": "Freestyle Libre BLE"}, "user_id": USER},
    }));
    assert_eq!(event.user_id.as_deref(), Some(USER));
    assert_eq!(
        event.record_keys(),
        [RecordKey::Connection {
            user_id: USER.into(),
            provider: "freestyle_libre_ble".into()
        }]
    );

    // The docs' timeseries example: `source` has `slug` but no `provider`.
    let event = parse(&json!({
        "event_type": "daily.data.steps.created",
        "user_id": USER,
        "data": {"source": {"slug": "apple_health_kit"}, "source_id": 16,
                 "data": [{"timestamp": "2023-05-16T10:00:00+00:00", "type": null, "unit": "count", "value": 237}]},
    }));
    let RecordKey::Sample { series, .. } = &event.record_keys()[0] else {
        panic!()
    };
    assert_eq!(
        (series.provider.as_str(), series.source_type.as_str()),
        ("apple_health_kit", "unknown")
    );

    // Summaries with flat source_* fields only.
    let mut json = fixture_json("daily.data.sleep_cycle.created");
    json["data"].as_object_mut().unwrap().remove("source");
    let EventData::Summary(summary) = parse(&json).data else {
        panic!()
    };
    assert_eq!(summary.source.provider.as_deref(), Some("oura"));
    assert_eq!(summary.source.source_type.as_deref(), Some("ring"));
    assert_eq!(summary.start.as_deref(), Some("2022-01-01T00:00:00"));
    assert_eq!(summary.end.as_deref(), Some("2022-01-01T08:00:00"));

    // A lab order's status: last_event, then the last of events, then the deprecated top-level status.
    let mut json = fixture_json("labtest.order.created");
    let EventData::LabOrder(order) = parse(&json).data else {
        panic!()
    };
    assert_eq!(
        order.status.as_deref(),
        Some("collecting_sample.testkit.transit_customer")
    );
    json["data"].as_object_mut().unwrap().remove("last_event");
    json["data"]["events"].as_array_mut().unwrap().pop();
    let EventData::LabOrder(order) = parse(&json).data else {
        panic!()
    };
    assert_eq!(
        order.status.as_deref(),
        Some("received.testkit.requisition_created")
    );
    json["data"].as_object_mut().unwrap().remove("events");
    let EventData::LabOrder(order) = parse(&json).data else {
        panic!()
    };
    assert_eq!(order.status.as_deref(), Some("collecting_sample"));
}

#[test]
fn continuous_query_data_is_an_array() {
    let event = parse(&fixture_json("continuous_query.result_table.changed"));
    assert_eq!(event.user_id.as_deref(), Some(USER));
    for data in [
        json!(null),
        json!("x"),
        json!([]),
        json!([1, {"query_id": 5}]),
    ] {
        let event =
            parse(&json!({"event_type": "continuous_query.result_table.changed", "data": data}));
        assert_eq!(event.record_keys(), [RecordKey::Message]);
        if let Some(tables) = data.as_array() {
            let EventData::ContinuousQuery(parsed) = &event.data else {
                panic!()
            };
            assert_eq!(parsed.len(), tables.len());
        }
    }
    let event = parse(
        &json!({"event_type": "continuous_query.result_table.changed", "data": {"query_slug": "s"}}),
    );
    assert_eq!(
        event.data,
        EventData::ContinuousQuery(vec![ContinuousQueryResult {
            query_id: None,
            query_slug: Some("s".into())
        }])
    );
}

#[test]
fn unknown_event_types_are_catch_all_and_never_an_error() {
    for data in [
        json!({"anything": [1, 2, 3]}),
        json!([1]),
        json!("text"),
        Value::Null,
    ] {
        let json = json!({"event_type": "daily.data.teleportation.created", "data": data, "user_id": USER});
        let event = parse(&json);
        assert_eq!(
            event.event_type,
            EventType::Unknown("daily.data.teleportation.created".into())
        );
        assert_eq!(event.family(), Family::CatchAll);
        assert_eq!(event.resource(), None);
        assert_eq!(event.data, EventData::Unknown(data));
        assert_eq!(event.record_keys(), [RecordKey::Message]);
        assert_eq!(event.raw, json);
    }
    let event = parse(&json!({"event_type": "brand.new"}));
    assert_eq!(event.data, EventData::Unknown(Value::Null));
    assert_eq!(event.user_id, None);
    assert_eq!(
        peek_event_type(br#"{"event_type": "brand.new"}"#),
        Ok(EventType::Unknown("brand.new".into()))
    );
}

#[test]
fn match_reviews_have_no_user() {
    let event = parse(&fixture_json("labtest.match_review.updated"));
    assert_eq!(event.user_id, None);
    assert_eq!(event.client_user_id, None);
    assert_eq!(
        event.record_keys(),
        [RecordKey::MatchReview {
            id: "42aac399-5d40-537b-b4a8-bb172e66f576".into()
        }]
    );
}

// ---- Errors ----

/// A value that must never show up in an error message.
const SECRET: &str = "SECRET-HEALTH-VALUE";

fn parse_error(json: &Value) -> ParseError {
    let error = parse_event(&body(json)).unwrap_err();
    assert!(!error.to_string().contains(SECRET), "{error}");
    assert!(!format!("{error:?}").contains(SECRET), "{error:?}");
    error
}

fn missing(event_type: &str, field: &str) -> ParseError {
    ParseError::MissingField {
        event_type: EventType::parse(event_type),
        field: field.into(),
    }
}

/// A change to a fixture.
type Edit = fn(&mut Value);

#[test]
fn known_events_without_identifying_fields_are_errors_naming_the_field() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "daily.data.activity.created",
            |j| j["data"]["id"] = Value::Null,
            "data.id",
        ),
        (
            "daily.data.meal.updated",
            |j| j["data"]["id"] = json!(""),
            "data.id",
        ),
        (
            "daily.data.workout_stream.created",
            |j| j["data"]["workout_id"] = Value::Null,
            "data.workout_id",
        ),
        (
            "daily.data.heartrate.created",
            |j| j["data"]["data"][1]["timestamp"] = Value::Null,
            "data.data[1].timestamp",
        ),
        (
            "daily.data.note.created",
            |j| {
                j["data"]["data"][0]["timestamp"] = json!({});
                j["data"]["data"][0]["start"] = Value::Null;
            },
            "data.data[0].timestamp",
        ),
        (
            "daily.data.steps.created",
            |j| j["data"]["data"] = Value::Null,
            "data.data",
        ),
        (
            "daily.data.glucose.created",
            |j| {
                j["data"].as_object_mut().unwrap().remove("data");
            },
            "data.data",
        ),
        (
            "daily.data.sleep.created",
            |j| j["data"] = Value::Null,
            "data",
        ),
        (
            "historical.data.steps.created",
            |j| j["data"]["provider"] = Value::Null,
            "data.provider",
        ),
        (
            "provider.connection.created",
            |j| {
                j["data"]["provider"] = Value::Null;
                j["data"]["source"] = Value::Null;
            },
            "data.provider",
        ),
        (
            "provider.connection.error",
            |j| j["data"]["provider"] = json!(null),
            "data.provider",
        ),
        (
            "provider.device.created",
            |j| {
                j["data"]["device_id"] = Value::Null;
                j["data"]["id"] = Value::Null;
            },
            "data.id",
        ),
        (
            "labtest.order.created",
            |j| j["data"]["id"] = Value::Null,
            "data.id",
        ),
        (
            "labtest.appointment.created",
            |j| j["data"]["id"] = Value::Null,
            "data.id",
        ),
        (
            "labtest.result.critical",
            |j| j["data"]["order_id"] = Value::Null,
            "data.order_id",
        ),
        (
            "labtest.match_review.created",
            |j| j["data"]["id"] = Value::Null,
            "data.id",
        ),
        (
            "lab_report.parsing_job.updated",
            |j| j["data"]["id"] = Value::Null,
            "data.id",
        ),
        (
            "daily.data.body.created",
            |j| {
                j["user_id"] = Value::Null;
                j["data"]["user_id"] = Value::Null;
            },
            "user_id",
        ),
        (
            "daily.data.steps.created",
            |j| {
                j.as_object_mut().unwrap().remove("user_id");
                j["data"].as_object_mut().unwrap().remove("user_id");
            },
            "user_id",
        ),
    ];
    for (name, edit, field) in cases {
        let mut json = fixture_json(name);
        json["data"]["secret_field"] = json!(SECRET);
        json["client_user_id"] = json!(SECRET);
        edit(&mut json);
        let error = parse_error(&json);
        assert_eq!(error, missing(name, field), "{name}");
        let message = error.to_string();
        assert!(
            message.contains(name) && message.contains(field),
            "{message}"
        );
    }
    assert_eq!(
        missing("daily.data.heartrate.created", "data.data[1].timestamp").to_string(),
        "`daily.data.heartrate.created` event has no `data.data[1].timestamp`"
    );
}

#[test]
fn known_events_with_unreadable_structure_are_errors() {
    let wrong = |name: &str, field: &str, expected| ParseError::WrongType {
        event_type: EventType::parse(name),
        field: field.into(),
        expected,
    };
    let mut json = fixture_json("daily.data.sleep.created");
    json["data"] = json!([SECRET]);
    assert_eq!(
        parse_error(&json),
        wrong("daily.data.sleep.created", "data", "an object")
    );

    let mut json = fixture_json("daily.data.glucose.created");
    json["data"]["data"] = json!({"value": SECRET});
    assert_eq!(
        parse_error(&json),
        wrong("daily.data.glucose.created", "data.data", "an array")
    );

    let mut json = fixture_json("daily.data.glucose.created");
    json["data"]["data"][1] = json!(SECRET);
    let error = parse_error(&json);
    assert_eq!(
        error,
        wrong("daily.data.glucose.created", "data.data[1]", "an object")
    );
    assert_eq!(
        error.to_string(),
        "`data.data[1]` of a `daily.data.glucose.created` event is not an object"
    );
}

#[test]
fn bodies_that_are_not_events_are_errors_for_peek_and_parse() {
    // `None`: not JSON, at a position both must agree on.
    let cases: &[(&[u8], Option<ParseError>)] = &[
        (b"", None),
        (b"not json SECRET-HEALTH-VALUE", None),
        (b"{\"event_type\": \"daily.data.heartrate.created\"", None),
        (b"{\"event_type\": \"x\"} trailing", None),
        (b"{\"event_type\": \"x\", }", None),
        (
            b"[{\"event_type\": \"daily.data.heartrate.created\"}]",
            Some(ParseError::NotAnObject),
        ),
        (b"[]", Some(ParseError::NotAnObject)),
        (b"\"SECRET-HEALTH-VALUE\"", Some(ParseError::NotAnObject)),
        (b"42", Some(ParseError::NotAnObject)),
        (b"null", Some(ParseError::NotAnObject)),
        (b"{}", Some(ParseError::MissingEventType)),
        (
            b"{\"data\": {\"event_type\": \"daily.data.heartrate.created\"}}",
            Some(ParseError::MissingEventType),
        ),
        (b"{\"event_type\": 7}", Some(ParseError::EventTypeNotString)),
        (
            b"{\"event_type\": null}",
            Some(ParseError::EventTypeNotString),
        ),
        (
            b"{\"event_type\": true}",
            Some(ParseError::EventTypeNotString),
        ),
        (
            b"{\"event_type\": [\"daily.data.heartrate.created\"]}",
            Some(ParseError::EventTypeNotString),
        ),
        (
            b"{\"event_type\": {\"name\": \"SECRET-HEALTH-VALUE\"}}",
            Some(ParseError::EventTypeNotString),
        ),
    ];
    for (body, expected) in cases {
        let shown = String::from_utf8_lossy(body);
        let peeked = peek_event_type(body).unwrap_err();
        let parsed = parse_event(body).unwrap_err();
        assert_eq!(peeked, parsed, "{shown}");
        match expected {
            Some(expected) => assert_eq!(&peeked, expected, "{shown}"),
            None => assert!(
                matches!(peeked, ParseError::NotJson { line: 1, .. }),
                "{shown}: {peeked:?}"
            ),
        }
        assert!(!peeked.to_string().contains(SECRET));
    }
    assert_eq!(
        ParseError::NotJson { line: 3, column: 7 }.to_string(),
        "body is not valid JSON (line 3, column 7)"
    );
}

#[test]
fn peek_reads_only_event_type() {
    // event_type after a large, deeply nested data; escapes; duplicate keys (the last one wins, as in Value).
    let big = json!({"data": {"data": (0..5000).map(|i| json!({"timestamp": i, "value": [i, {"x": null}]}))
        .collect::<Vec<_>>()}, "event_type": "daily.data.heartrate.created"});
    assert_eq!(
        peek_event_type(&body(&big)),
        Ok(EventType::DailyDataCreated(Resource::Heartrate))
    );
    let escaped =
        br#"{"event\u005ftype": "daily\u002edata.note.updated", "user_id": "u", "data": {"data": []}}"#;
    assert_eq!(
        peek_event_type(escaped),
        Ok(EventType::DailyDataUpdated(Resource::Note))
    );
    assert_eq!(
        parse_event(escaped).unwrap().event_type,
        EventType::DailyDataUpdated(Resource::Note)
    );
    let twice = br#"{"event_type": 1, "event_type": "labtest.order.created", "data": {"id": "o"}}"#;
    assert_eq!(peek_event_type(twice), Ok(EventType::LabtestOrderCreated));
    assert_eq!(
        parse_event(twice).unwrap().event_type,
        EventType::LabtestOrderCreated
    );
    // Peek does not look at data, so a body parse_event rejects can still be routed.
    let bad_data = br#"{"event_type": "daily.data.sleep.created", "data": 5}"#;
    assert_eq!(
        peek_event_type(bad_data),
        Ok(EventType::DailyDataCreated(Resource::Sleep))
    );
    assert!(parse_event(bad_data).is_err());
    assert_eq!(
        peek_event_type(&fixture("labtest.match_review.updated")),
        Ok(EventType::LabtestMatchReviewUpdated)
    );
}

// ---- Properties ----

proptest::proptest! {
    #[test]
    fn any_event_type_string_round_trips(s in "\\PC{0,40}|(daily|historical)\\.data\\.[a-z_0-9]{0,30}\\.(created|updated)") {
        let event_type = EventType::parse(&s);
        proptest::prop_assert_eq!(event_type.as_str(), s.as_str());
        proptest::prop_assert_eq!(event_type.is_known(), EventType::all_known().any(|t| t == event_type));
    }

    #[test]
    fn peek_agrees_with_parse_on_any_envelope(
        event_type in proptest::option::of(proptest::prop_oneof![
            "[a-z_.]{0,20}".prop_map(Value::String),
            proptest::sample::select(EventType::all_known().map(|t| t.to_string()).collect::<Vec<_>>())
                .prop_map(Value::String),
            proptest::prelude::any::<i64>().prop_map(Value::from),
            proptest::prelude::Just(Value::Null),
        ]),
        data in proptest::prop_oneof![
            proptest::prelude::Just(Value::Null),
            proptest::prelude::Just(json!({})),
            proptest::prelude::Just(json!([])),
            proptest::prelude::Just(json!({"id": 1, "data": [{"timestamp": 0}], "provider": "p"})),
        ],
        user_id in proptest::option::of("[a-z0-9]{0,8}"),
    ) {
        let mut envelope = json!({"data": data});
        if let Some(event_type) = event_type {
            envelope["event_type"] = event_type;
        }
        if let Some(user_id) = user_id {
            envelope["user_id"] = Value::String(user_id);
        }
        let bytes = body(&envelope);
        let peeked = peek_event_type(&bytes);
        match parse_event(&bytes) {
            Ok(event) => proptest::prop_assert_eq!(peeked, Ok(event.event_type)),
            Err(error @ (ParseError::MissingField { .. } | ParseError::WrongType { .. })) => {
                let known = peeked.unwrap();
                proptest::prop_assert!(known.is_known(), "{error}");
            }
            Err(error) => proptest::prop_assert_eq!(peeked, Err(error)),
        }
    }
}

// ---- Hostile bodies: the parser never panics ----

/// Field names Junction's bodies use, so generated JSON reaches past the envelope checks.
const FIELD_NAMES: &[&str] = &[
    "event_type",
    "data",
    "user_id",
    "team_id",
    "client_user_id",
    "id",
    "workout_id",
    "order_id",
    "timestamp",
    "start",
    "end",
    "updated_at",
    "calendar_date",
    "provider",
    "slug",
    "source",
    "type",
    "device_id",
    "value",
    "unit",
    "status",
    "results",
    "sample_id",
];

/// Any JSON value, its object keys mostly Junction's field names and its strings sometimes event type names.
fn any_json() -> impl Strategy<Value = Value> {
    use proptest::prelude::{Just, any, prop_oneof};
    let known = || {
        proptest::sample::select(
            EventType::all_known()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
        )
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][0-2][0-9]:[0-5][0-9])?"
            .prop_map(Value::from),
        known().prop_map(Value::from),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(FIELD_NAMES).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The parser's contract on one body: no panic, and `peek_event_type` (the ingest path's router) agrees with
/// `parse_event` (the processors'): the same event type when the parser reads one, both refusing otherwise.
fn parser_holds_on(bytes: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
    let peeked = peek_event_type(bytes);
    match parse_event(bytes) {
        Ok(event) => {
            proptest::prop_assert_eq!(peeked, Ok(event.event_type.clone()));
            let _ = event.event_type.family();
        }
        Err(ParseError::MissingField { .. } | ParseError::WrongType { .. }) => {
            proptest::prop_assert!(peeked.is_ok_and(|t| t.is_known()));
        }
        // Both refuse it (the ingest path routes it to catch-all); for the same reason when the body is JSON.
        Err(error) => {
            proptest::prop_assert!(
                peeked.is_err(),
                "router read {:?}, parser refused: {}",
                peeked,
                error
            );
            if serde_json::from_slice::<Value>(bytes).is_ok() {
                proptest::prop_assert_eq!(peeked, Err(error));
            }
        }
    }
    Ok(())
}

/// Every fixture, read once for all the cases.
fn cached_fixtures() -> &'static [(String, Vec<u8>)] {
    static ALL: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    ALL.get_or_init(fixtures)
}

/// Replaces the value at a path chosen by `choices` (each picks a child of an object or array) with `new`.
fn replace_somewhere(value: &mut Value, choices: &[proptest::sample::Index], new: Value) {
    let Some((choice, rest)) = choices.split_first() else {
        *value = new;
        return;
    };
    match value {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(choice.index(m.len())).unwrap().clone();
            replace_somewhere(m.get_mut(&key).unwrap(), rest, new);
        }
        Value::Array(a) if !a.is_empty() => {
            let i = choice.index(a.len());
            replace_somewhere(&mut a[i], rest, new);
        }
        other => *other = new,
    }
}

#[test]
fn router_and_parser_both_refuse_malformed_json_even_for_different_reasons() {
    // Found by the proptest below: the router stops at the first value (a number: not an object), the parser
    // reads on and finds the rest is not JSON. Either way the body is refused, and the ingest path keeps it in
    // catch-all.
    let body = b"0\x0e";
    assert_eq!(peek_event_type(body), Err(ParseError::NotAnObject));
    assert!(matches!(parse_event(body), Err(ParseError::NotJson { .. })));
    assert_eq!(
        peek_event_type(body)
            .unwrap_or_else(|_| EventType::Unknown(String::new()))
            .family(),
        Family::CatchAll
    );
}

#[test]
fn a_bad_utf8_byte_in_a_skipped_value_is_refused_by_the_router_too() {
    // Found by the `parse_event` fuzz target: a fixture with one byte of a `data` string made invalid UTF-8. The
    // router skips `data` without reading it, so it used to route the body to its family while the parser refused
    // it as not JSON.
    let mut body = fixture("daily.data.steps.created");
    let at = body.windows(4).position(|w| w == b"4a29").unwrap() + 4;
    body[at] = 0xda;
    let parsed = parse_event(&body);
    assert!(
        matches!(parsed, Err(ParseError::NotJson { .. })),
        "{parsed:?}"
    );
    assert_eq!(peek_event_type(&body), parsed.map(|e| e.event_type));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(512))]

    #[test]
    fn the_parser_never_panics_on_any_json(value in any_json(), event_type in proptest::option::of(
        proptest::sample::select(EventType::all_known().map(|t| t.to_string()).collect::<Vec<_>>())
    )) {
        let mut value = value;
        // Half the time an envelope with a known event type around it, so the typed parsers see it too.
        if let Some(event_type) = event_type {
            value = json!({"event_type": event_type, "user_id": USER, "data": value});
        }
        parser_holds_on(&body(&value))?;
    }

    #[test]
    fn the_parser_never_panics_on_a_fixture_with_any_value_replaced(
        which in proptest::prelude::any::<proptest::sample::Index>(),
        path in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 1..6),
        new in any_json(),
    ) {
        let all = cached_fixtures();
        let (_, bytes) = &all[which.index(all.len())];
        let mut value: Value = serde_json::from_slice(bytes).unwrap();
        replace_somewhere(&mut value, &path, new);
        parser_holds_on(&body(&value))?;
    }

    #[test]
    fn the_parser_never_panics_on_any_bytes_or_a_cut_fixture(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        which in proptest::prelude::any::<proptest::sample::Index>(),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        parser_holds_on(&bytes)?;
        let all = cached_fixtures();
        let (_, fixture) = &all[which.index(all.len())];
        parser_holds_on(&fixture[..cut.index(fixture.len())])?;
    }
}

/// The spec deprecates an interval sample's `timestamp` ("the start time (inclusive) of the interval") and its own
/// examples omit it: such a sample is read at its `start`.
#[test]
fn an_interval_sample_without_timestamp_is_read_at_its_start() {
    let event = parse(&json!({
        "event_type": "daily.data.steps.created",
        "user_id": USER,
        "data": {"source": {"provider": "oura", "type": "ring"},
                 "data": [{"start": "2024-11-24T10:00:00+00:00", "end": "2024-11-24T10:01:00+00:00",
                           "value": 12, "unit": "count"}]},
    }));
    let EventData::Timeseries(batch) = &event.data else {
        panic!()
    };
    assert_eq!(batch.samples[0].timestamp, "2024-11-24T10:00:00+00:00");
    let RecordKey::Sample { timestamp, .. } = &event.record_keys()[0] else {
        panic!()
    };
    assert_eq!(timestamp, "2024-11-24T10:00:00+00:00");
}

/// Where the schemas tell samples apart that Junction's minimal key merges, the key keeps them apart: the sample
/// `type` of a lab panel, the device and the workout of the source.
#[test]
fn sample_keys_keep_apart_what_the_schemas_tell_apart() {
    let keys = |resource: &str, source: Value, samples: Value| {
        parse(
            &json!({"event_type": format!("daily.data.{resource}.created"), "user_id": USER,
                      "data": {"source": source, "data": samples}}),
        )
        .record_keys()
    };
    let at = "2024-11-24T10:00:00+00:00";
    let panel = keys(
        "cholesterol",
        json!({"provider": "lab", "type": "lab"}),
        json!([{"timestamp": at, "type": "ldl", "value": 1}, {"timestamp": at, "type": "hdl", "value": 2},
               {"timestamp": at, "type": "total", "value": 3}]),
    );
    assert_eq!(panel.iter().collect::<BTreeSet<_>>().len(), 3);
    // `stand_hour`'s type classifies the one reading of an hour: a correction replaces it.
    let stood = keys(
        "stand_hour",
        json!({"provider": "apple_health_kit", "type": "watch"}),
        json!([{"start": at, "end": "2024-11-24T11:00:00+00:00", "type": "stood", "value": 1},
               {"start": at, "end": "2024-11-24T11:00:00+00:00", "type": "idle", "value": 0}]),
    );
    assert_eq!(stood[0], stood[1]);
    let by_device: BTreeSet<RecordKey> = ["dev-a", "dev-b"]
        .iter()
        .flat_map(|device| {
            keys(
                "steps",
                json!({"provider": "apple_health_kit", "type": "watch", "device_id": device}),
                json!([{"start": at, "end": "2024-11-24T10:01:00+00:00", "value": 5}]),
            )
        })
        .collect();
    assert_eq!(by_device.len(), 2);
    let by_workout: BTreeSet<RecordKey> = ["w1", "w2"]
        .iter()
        .flat_map(|workout| {
            keys(
                "workout_distance",
                json!({"provider": "apple_health_kit", "type": "watch", "workout_id": workout, "sport": "running"}),
                json!([{"start": at, "end": "2024-11-24T10:01:00+00:00", "value": 100}]),
            )
        })
        .collect();
    assert_eq!(by_workout.len(), 2);
    let RecordKey::Sample { series, .. } = by_workout.first().unwrap() else {
        panic!()
    };
    assert_eq!(series.sport.as_deref(), Some("running"));
}
