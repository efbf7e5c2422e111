//! `jwh replay`: re-routes catch-all records whose bodies this code now understands.
//!
//! A message lands in the catch-all family when its event type was unknown (or its body unreadable) at ingest.
//! Once the code learns the type, `replay` sends the kept body to the family's queue with the message's original
//! Svix id, Svix timestamp and receive time ([`MessageMeta::to_sqs_attributes`]), so the processor stores it as
//! if it had been routed there in the first place; the catch-all record is left as it is.

use std::collections::BTreeMap;

use jwh_shared::envelope::{MessageMeta, SQS_MAX_MESSAGE_BYTES, inline_body};
use jwh_shared::events::{parse_event, peek_event_type};
use jwh_shared::family::Family;
use jwh_shared::query::StoredRecord;
use jwh_shared::store::time::parse_instant;
use serde_json::Value;

use crate::queues::Queues;

/// What to do with one catch-all record.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Send `body` to `meta.family`'s queue with `meta`'s attributes.
    Replay {
        /// The metadata to send with, the family now the body's.
        meta: MessageMeta,
        /// The body as kept.
        body: String,
    },
    /// Cannot be replayed, and why (body not kept, too large for SQS, a known type that still fails to parse).
    Skip {
        /// Svix message id.
        svix_id: String,
        /// Why.
        reason: String,
    },
    /// Still a catch-all message (unknown type, continuous query, not a Junction event).
    StillCatchAll,
    /// Does not match `--event-type`.
    NotSelected,
}

/// Decides what to do with a catch-all record; `prefix` selects by event type.
pub fn plan(record: &StoredRecord, prefix: Option<&str>) -> Plan {
    let svix_id = record
        .get_str("svix_id")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            record
                .sk
                .strip_prefix("MSG#")
                .unwrap_or(&record.sk)
                .to_owned()
        });
    let body = record.get_str("body");
    let event_type = body
        .and_then(|b| peek_event_type(b.as_bytes()).ok())
        .map(|t| t.as_str().into_owned())
        .or_else(|| record.get_str("event_type").map(str::to_owned));
    if let Some(prefix) = prefix
        && !event_type
            .as_deref()
            .unwrap_or_default()
            .starts_with(prefix)
    {
        return Plan::NotSelected;
    }
    let skip = |reason: &str| Plan::Skip {
        svix_id: svix_id.clone(),
        reason: reason.to_owned(),
    };
    let Some(body) = body else {
        return if record.attributes.contains_key("parts") {
            skip("body is over the SQS message size limit (kept in part items)")
        } else if record.attributes.contains_key("body_bytes") {
            skip("body is not UTF-8, so it cannot travel through SQS")
        } else {
            skip("no body in the record")
        };
    };
    let known = match peek_event_type(body.as_bytes()) {
        Ok(t) if t.family() != Family::CatchAll => t,
        _ => return Plan::StillCatchAll,
    };
    if let Err(e) = parse_event(body.as_bytes()) {
        return skip(&format!("still does not parse: {e}"));
    }
    let meta = MessageMeta {
        svix_id: svix_id.clone(),
        event_type: known.as_str().into_owned(),
        family: known.family(),
        svix_timestamp: record
            .attributes
            .get("svix_timestamp")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        received_at_ms: record
            .get_str("received_at")
            .and_then(parse_instant)
            .map_or(0, |t| t.timestamp_millis()),
    };
    if inline_body(body.as_bytes(), &meta).is_none() {
        return skip(
            if body.len() + meta.attributes_size() > SQS_MAX_MESSAGE_BYTES {
                "body is over the SQS message size limit"
            } else {
                "body holds characters SQS does not accept"
            },
        );
    }
    Plan::Replay {
        meta,
        body: body.to_owned(),
    }
}

/// What a replay did (or would do, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One line per message replayed, skipped or failed.
    pub lines: Vec<String>,
    /// Messages sent (or to send), per family.
    pub replayed: BTreeMap<Family, usize>,
    /// Messages that cannot be replayed.
    pub skipped: usize,
    /// Messages that remain catch-all.
    pub still_catch_all: usize,
    /// Sends that failed (or families without a queue URL).
    pub failed: usize,
}

impl Report {
    /// The closing line: `replayed 3 (summaries 2, lab 1), skipped 1, still catch-all 5, failed 0`.
    pub fn summary(&self, dry_run: bool) -> String {
        let total: usize = self.replayed.values().sum();
        let per_family: Vec<String> = self
            .replayed
            .iter()
            .map(|(family, n)| format!("{family} {n}"))
            .collect();
        let per_family = if per_family.is_empty() {
            String::new()
        } else {
            format!(" ({})", per_family.join(", "))
        };
        format!(
            "{} {total}{per_family}, skipped {}, still catch-all {}, failed {}",
            if dry_run { "would replay" } else { "replayed" },
            self.skipped,
            self.still_catch_all,
            self.failed
        )
    }
}

/// Plans every record and, unless `dry_run`, sends the replayable ones to their family's queue.
pub async fn replay<Q: Queues>(
    queues: &Q,
    records: &[StoredRecord],
    prefix: Option<&str>,
    dry_run: bool,
    queue_url: impl Fn(Family) -> Option<String>,
) -> Report {
    let mut report = Report::default();
    for record in records {
        match plan(record, prefix) {
            Plan::NotSelected => {}
            Plan::StillCatchAll => report.still_catch_all += 1,
            Plan::Skip { svix_id, reason } => {
                report.skipped += 1;
                report.lines.push(format!("{svix_id}  skipped: {reason}"));
            }
            Plan::Replay { meta, body } => {
                let line = format!("{}  {} -> {}", meta.svix_id, meta.event_type, meta.family);
                if dry_run {
                    report.lines.push(format!("{line} (dry run)"));
                    *report.replayed.entry(meta.family).or_default() += 1;
                    continue;
                }
                let Some(url) = queue_url(meta.family) else {
                    report.failed += 1;
                    report.lines.push(format!(
                        "{line}  failed: no queue URL ({} not set)",
                        meta.family.env_var()
                    ));
                    continue;
                };
                match queues
                    .send(&url, &body, &meta.to_sqs_attributes(None))
                    .await
                {
                    Ok(()) => {
                        report.lines.push(line);
                        *report.replayed.entry(meta.family).or_default() += 1;
                    }
                    Err(e) => {
                        report.failed += 1;
                        report.lines.push(format!("{line}  failed: {e}"));
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use jwh_shared::envelope::attr;
    use serde_json::json;

    use super::*;
    use crate::queues::fake::FakeQueues;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn fixture(name: &str) -> String {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/junction/fixtures");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    /// A catch-all record as the store writes it (see `Store::put_catch_all`).
    fn record(svix_id: &str, attributes: Value) -> StoredRecord {
        let mut attrs = json!({
            "svix_id": svix_id, "received_at": "2024-11-24T10:00:00.123000Z", "svix_timestamp": 1_732_442_400,
            "family": "catch-all", "reason": "unknown event type",
        });
        attrs
            .as_object_mut()
            .unwrap()
            .extend(attributes.as_object().unwrap().clone());
        StoredRecord {
            kind: "catch_all".into(),
            pk: "CATCHALL".into(),
            sk: format!("MSG#{svix_id}"),
            attributes: attrs.as_object().unwrap().clone(),
        }
    }

    fn records() -> Vec<StoredRecord> {
        vec![
            record(
                "msg_sleep",
                json!({"body": fixture("daily.data.sleep.created.json")}),
            ),
            record(
                "msg_hr",
                json!({"body": fixture("daily.data.heartrate.created.json")}),
            ),
            record(
                "msg_new",
                json!({"body": "{\"event_type\":\"daily.data.new_thing.created\"}", "event_type": "daily.data.new_thing.created"}),
            ),
            record(
                "msg_cq",
                json!({"body": fixture("continuous_query.result_table.changed.json")}),
            ),
            record(
                "msg_broken",
                json!({"body": "{\"event_type\":\"daily.data.sleep.created\",\"user_id\":\"u\",\"data\":{}}"}),
            ),
            record(
                "msg_big",
                json!({"parts": 2, "event_type": "daily.data.sleep.created"}),
            ),
        ]
    }

    #[test]
    fn known_bodies_replay_with_their_original_metadata() {
        let Plan::Replay { meta, body } = plan(&records()[0], None) else {
            panic!("not replayed");
        };
        assert_eq!(
            meta,
            MessageMeta {
                svix_id: "msg_sleep".into(),
                event_type: "daily.data.sleep.created".into(),
                family: Family::Summaries,
                svix_timestamp: 1_732_442_400,
                received_at_ms: 1_732_442_400_123,
            }
        );
        assert_eq!(body, fixture("daily.data.sleep.created.json"));
    }

    #[test]
    fn replay_sends_to_each_family_and_reports() {
        let queues = FakeQueues::default();
        let url = |f: Family| Some(format!("http://sqs/{f}"));
        let report = block_on(replay(&queues, &records(), None, false, url));
        assert_eq!(
            report.summary(false),
            "replayed 2 (summaries 1, timeseries 1), skipped 2, still catch-all 2, failed 0"
        );
        assert_eq!(
            report.lines,
            [
                "msg_sleep  daily.data.sleep.created -> summaries",
                "msg_hr  daily.data.heartrate.created -> timeseries",
                "msg_broken  skipped: still does not parse: `daily.data.sleep.created` event has no `data.id`",
                "msg_big  skipped: body is over the SQS message size limit (kept in part items)",
            ]
        );
        let sent = queues.messages("http://sqs/timeseries");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body, fixture("daily.data.heartrate.created.json"));
        let attr_of = |name: &str| sent[0].attributes[name].string_value().unwrap().to_owned();
        assert_eq!(attr_of(attr::SVIX_ID), "msg_hr");
        assert_eq!(attr_of(attr::FAMILY), "timeseries");
        assert_eq!(attr_of(attr::EVENT_TYPE), "daily.data.heartrate.created");
        assert_eq!(attr_of(attr::SVIX_TIMESTAMP), "1732442400");
        assert_eq!(attr_of(attr::RECEIVED_AT), "1732442400123");
    }

    #[test]
    fn dry_run_and_prefix_send_nothing() {
        let queues = FakeQueues::default();
        let report = block_on(replay(
            &queues,
            &records(),
            Some("daily.data.sleep"),
            true,
            |_| None,
        ));
        assert_eq!(
            report.summary(true),
            "would replay 1 (summaries 1), skipped 2, still catch-all 0, failed 0"
        );
        assert!(queues.queues.lock().unwrap().is_empty());
    }

    #[test]
    fn missing_queue_url_and_oversized_bodies_are_reported() {
        let big = format!(
            "{{\"event_type\":\"labtest.order.created\",\"data\":{{\"id\":\"o\",\"pad\":\"{}\"}}}}",
            "x".repeat(SQS_MAX_MESSAGE_BYTES)
        );
        assert_eq!(
            plan(&record("msg_huge", json!({"body": big})), None),
            Plan::Skip {
                svix_id: "msg_huge".into(),
                reason: "body is over the SQS message size limit".into()
            }
        );
        let queues = FakeQueues::default();
        let report = block_on(replay(&queues, &records()[..1], None, false, |_| None));
        assert_eq!(report.failed, 1);
        assert_eq!(
            report.lines,
            [
                "msg_sleep  daily.data.sleep.created -> summaries  failed: no queue URL (QUEUE_URL_SUMMARIES not set)"
            ]
        );
    }
}
