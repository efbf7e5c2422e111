//! Retention: how long each kind of record is kept, enforced by DynamoDB's TTL on [`EXPIRES_AT`].
//!
//! A period per kind, in days, 0 keeping everything (the default); the template's `*RetentionDays` parameters set
//! them through `RETENTION_DAYS_*`. Every item written is stamped with its expiry ([`Retention::stamp`]), counted
//! from the time the record is about:
//!
//! | kind | items | counted from |
//! |---|---|---|
//! | samples | timeseries buckets, fetched workout streams | the bucket's start (the stream's fetch) |
//! | summaries | summaries | the summary's calendar date, else its message's receipt |
//! | history | connection events, lab status changes | the message's receipt |
//! | catch-all | catch-all records and their parts | the message's receipt |
//!
//! Current state (connections, devices, lab records, backfill status, match reviews) is kept while it is current.
//! DynamoDB deletes an expired item within a few days of its time, at no write cost; a read may still see it
//! until then. Items written before a period was set keep no expiry until they are written again: lowering a
//! period does not reach back.

use aws_sdk_dynamodb::types::AttributeValue;

use super::plan::Item;
use super::{BucketSpan, DAY, EXPIRES_AT, KIND, SK, keys};
use crate::aws::{ConfigError, env_or};
use crate::store::time::parse_instant;

/// Retention periods in days per record kind; 0 keeps the kind forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Timeseries buckets and fetched workout streams (`RETENTION_DAYS_SAMPLES`).
    pub samples: u32,
    /// Summaries (`RETENTION_DAYS_SUMMARIES`).
    pub summaries: u32,
    /// Connection and lab history entries (`RETENTION_DAYS_HISTORY`).
    pub history: u32,
    /// Catch-all records (`RETENTION_DAYS_CATCH_ALL`).
    pub catch_all: u32,
}

impl Retention {
    /// Keep everything.
    pub const KEEP: Retention = Retention {
        samples: 0,
        summaries: 0,
        history: 0,
        catch_all: 0,
    };

    /// The periods from `RETENTION_DAYS_SAMPLES`, `_SUMMARIES`, `_HISTORY` and `_CATCH_ALL` (unset: 0).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            samples: env_or("RETENTION_DAYS_SAMPLES", 0)?,
            summaries: env_or("RETENTION_DAYS_SUMMARIES", 0)?,
            history: env_or("RETENTION_DAYS_HISTORY", 0)?,
            catch_all: env_or("RETENTION_DAYS_CATCH_ALL", 0)?,
        })
    }

    /// The period that applies to a record kind, in days (0: keep).
    pub fn days_for(&self, kind: &str) -> u32 {
        match kind {
            "timeseries" | "workout_stream" => self.samples,
            "summary" => self.summaries,
            "connection_event" | "lab_event" => self.history,
            "catch_all" | "catch_all_part" => self.catch_all,
            _ => 0,
        }
    }

    /// When an item expires, Unix seconds; `None` to keep it.
    pub fn expires_at(&self, item: &Item) -> Option<i64> {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => Some(s.as_str()),
            _ => None,
        };
        let kind = text(KIND)?;
        let days = self.days_for(kind);
        if days == 0 {
            return None;
        }
        let from = match kind {
            "timeseries" => text(SK)
                .and_then(keys::parse_bucket)
                .and_then(|(_, start, _)| BucketSpan::start_of(&start)),
            // `day` is `SUM#{resource}#{date}#{id}`; the date has no `#`.
            "summary" => text(DAY)
                .and_then(|day| day.split('#').nth(2))
                .and_then(|date| parse_instant(&format!("{date}T00:00:00Z"))),
            _ => None,
        }
        .or_else(|| text("received_at").and_then(parse_instant))?;
        Some(from.timestamp() + i64::from(days) * 86_400)
    }

    /// Sets (or removes) an item's [`EXPIRES_AT`] by this policy.
    pub fn stamp(&self, item: &mut Item) {
        match self.expires_at(item) {
            Some(t) => {
                item.insert(EXPIRES_AT.into(), AttributeValue::N(t.to_string()));
            }
            None => {
                // A record kind this policy keeps: an expiry set by an older write (or policy) does not stay.
                if item
                    .get(KIND)
                    .is_some_and(|k| k.as_s().is_ok_and(|k| k != "marker"))
                {
                    item.remove(EXPIRES_AT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    const DAY_S: i64 = 86_400;

    #[test]
    fn each_kind_counts_from_its_own_time() {
        let r = Retention {
            samples: 30,
            summaries: 365,
            history: 90,
            catch_all: 7,
        };
        let received = ("received_at", "2026-12-02T10:00:00.000000Z");
        let received_s = parse_instant(received.1).unwrap().timestamp();
        let bucket = item(&[
            ("kind", "timeseries"),
            ("sk", "TS#heartrate#2024-11-24T10:15#oura#ring"),
            received,
        ]);
        assert_eq!(
            r.expires_at(&bucket),
            Some(parse_instant("2024-11-24T10:15:00Z").unwrap().timestamp() + 30 * DAY_S)
        );
        let summary = item(&[
            ("kind", "summary"),
            ("day", "SUM#sleep#2024-11-23#s1"),
            received,
        ]);
        assert_eq!(
            r.expires_at(&summary),
            Some(parse_instant("2024-11-23T00:00:00Z").unwrap().timestamp() + 365 * DAY_S)
        );
        let profile = item(&[("kind", "summary"), received]);
        assert_eq!(r.expires_at(&profile), Some(received_s + 365 * DAY_S));
        for (kind, days) in [
            ("connection_event", 90),
            ("lab_event", 90),
            ("catch_all", 7),
            ("catch_all_part", 7),
            ("workout_stream", 30),
        ] {
            assert_eq!(
                r.expires_at(&item(&[("kind", kind), received])),
                Some(received_s + days * DAY_S),
                "{kind}"
            );
        }
        for kept in ["connection", "device", "lab", "backfill"] {
            assert_eq!(
                r.expires_at(&item(&[("kind", kept), received])),
                None,
                "{kept}"
            );
        }
    }

    #[test]
    fn zero_keeps_and_stamping_clears_an_old_expiry_but_never_a_markers() {
        let mut summary = item(&[("kind", "summary"), ("received_at", "2026-12-02T10:00:00Z")]);
        summary.insert(EXPIRES_AT.into(), AttributeValue::N("1".into()));
        Retention::KEEP.stamp(&mut summary);
        assert!(!summary.contains_key(EXPIRES_AT));
        Retention {
            summaries: 1,
            ..Retention::KEEP
        }
        .stamp(&mut summary);
        assert!(matches!(
            summary.get(EXPIRES_AT),
            Some(AttributeValue::N(_))
        ));

        let mut marker = item(&[("kind", "marker")]);
        marker.insert(EXPIRES_AT.into(), AttributeValue::N("5".into()));
        Retention::KEEP.stamp(&mut marker);
        assert_eq!(marker.get(EXPIRES_AT), Some(&AttributeValue::N("5".into())));
    }
}
