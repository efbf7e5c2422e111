//! Instants as Junction sends them, and the one canonical form the store keys and compares them by.
//!
//! Junction sends RFC 3339 timestamps with various offsets and precisions (`2024-11-24T10:00:00+00:00`,
//! `2026-08-19T09:19:50.199367+00:00`), naive local date-times in a few lab fields, and calendar dates. The same
//! instant written two ways must be one key, so everything is normalised to UTC with microseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Parses a Junction timestamp: RFC 3339 with any offset, a naive date-time (taken as UTC), or a date (midnight UTC).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    // RFC 3339 requires the `T`; Junction's examples sometimes use a space.
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| Utc.from_utc_datetime(&n))
}

/// The canonical, fixed-width, lexicographically ordered form: `2024-11-24T10:00:00.000000Z`.
pub fn canonical(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// [`parse_instant`] then [`canonical`]; `None` when the text is not a timestamp.
pub fn canonicalize(s: &str) -> Option<String> {
    parse_instant(s).map(|dt| canonical(&dt))
}

/// Unix milliseconds as a canonical timestamp.
pub fn canonical_from_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|dt| canonical(&dt))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instant_written_many_ways_is_one_canonical_string() {
        let want = Some("2024-11-24T10:00:00.000000Z".to_string());
        for s in [
            "2024-11-24T10:00:00+00:00",
            "2024-11-24T10:00:00Z",
            "2024-11-24T11:00:00+01:00",
            "2024-11-24T10:00:00.000+00:00",
            "2024-11-24 10:00:00+00:00",
            "2024-11-24T10:00:00",
        ] {
            assert_eq!(canonicalize(s), want, "{s}");
        }
        assert_eq!(
            canonicalize("2026-08-19T09:19:50.199367+00:00").as_deref(),
            Some("2026-08-19T09:19:50.199367Z")
        );
        assert_eq!(
            canonicalize("2023-02-27").as_deref(),
            Some("2023-02-27T00:00:00.000000Z")
        );
        assert_eq!(canonicalize("yesterday"), None);
        assert_eq!(canonicalize(""), None);
    }

    #[test]
    fn canonical_strings_sort_like_instants() {
        let a = canonicalize("2024-11-24T10:00:00.5+00:00").unwrap();
        let b = canonicalize("2024-11-24T10:00:01+00:00").unwrap();
        let c = canonicalize("2024-11-24T09:30:00-01:00").unwrap();
        assert!(a < b && b < c);
    }
}
