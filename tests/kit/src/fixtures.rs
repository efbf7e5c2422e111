//! Junction's example bodies, one per event type, as the tests read them.

use std::path::PathBuf;

/// The repo's copy of Junction's example bodies.
pub fn dir() -> PathBuf {
    crate::repo_root().join("shared/testdata/junction/fixtures")
}

/// One fixture body by event type.
pub fn fixture(event_type: &str) -> Vec<u8> {
    let path = dir().join(format!("{event_type}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture: (event type, body), sorted by event type.
pub fn all() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A compact `daily.data.heartrate.created` body of `n` samples, `seconds_apart`, the first `start_offset` seconds
/// after 2024-11-24T00:00:00Z (user `u`, Apple HealthKit watch, values 60 to 109 bpm).
pub fn heartrate(n: i64, seconds_apart: i64, start_offset: i64) -> Vec<u8> {
    let start = chrono::DateTime::parse_from_rfc3339("2024-11-24T00:00:00+00:00").unwrap();
    let data: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let at = start + chrono::Duration::seconds(start_offset + i * seconds_apart);
            serde_json::json!({"id": null, "timezone_offset": 3600, "type": null, "unit": "bpm",
                "timestamp": at.to_rfc3339(), "value": 60 + i % 50})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "event_type": "daily.data.heartrate.created",
        "data": {"source": {"provider": "apple_health_kit", "type": "watch"}, "data": data, "user_id": "u"},
        "user_id": "u", "client_user_id": "c", "team_id": "t"
    }))
    .unwrap()
}
