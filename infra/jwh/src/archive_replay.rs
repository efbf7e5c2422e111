//! `jwh replay --archive`: re-runs a slice of history from the archive ([`jwh_shared::archive`]) through the same
//! queues and processors as live webhooks.
//!
//! A selection (families, event type, user, receive-time range) is read object by object, in key order (oldest
//! hour first), each delivery once (a retried delivery is archived once per attempt), and sent to the queue of the
//! family its body routes to today, with its original Svix id, timestamp and receive time and the
//! [`attr::REPLAY`] attribute, so that the processor stores it again although it processed that id before. Every
//! writer is versioned and idempotent, so a replay over records already there leaves them as they are, and a
//! replay after a fix rewrites what the fix changes.
//!
//! - Dry run: reads the selection and prints what would be sent, per event type and family, with an estimate.
//! - Rate limit: at most `rate` messages a second, so that live traffic keeps its share of the processors.
//! - Resumable: each archive object whose deliveries were all sent is recorded in a state file; a run with the
//!   same selection and state file skips them. Re-sending part of an object after an interruption is harmless.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use jwh_shared::archive::{self, ArchivedDelivery, ObjectInfo};
use jwh_shared::envelope::{ClaimCheck, MessageMeta, attr, inline_body};
use jwh_shared::events::peek_event_type;
use jwh_shared::family::Family;
use sha2::Digest as _;

use crate::queues::Queues;

/// SQS's largest `SendMessageBatch`: 10 messages, 1 MiB in all.
const BATCH_MESSAGES: usize = 10;
const BATCH_BYTES: usize = 1_048_576;

/// Which archived deliveries to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Families (as archived); empty for all.
    pub families: Vec<Family>,
    /// Event types starting with this.
    pub event_type: Option<String>,
    /// Deliveries naming this user.
    pub user: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received at or before.
    pub until: Option<DateTime<Utc>>,
    /// How long after its receipt a delivery may have been archived (a message that waited in a queue or a
    /// dead-letter queue is archived when a processor takes it): how far past `until` the objects are read.
    pub lag: chrono::Duration,
}

impl Selection {
    /// The families read.
    pub fn families(&self) -> Vec<Family> {
        if self.families.is_empty() {
            Family::ALL.to_vec()
        } else {
            self.families.clone()
        }
    }

    /// The keys of `family`'s objects that can hold the selection: (prefix, start after, end before). An object
    /// sits under the hour its first record reached Firehose, up to 15 minutes before its last: the range starts
    /// an hour before `since`.
    pub fn key_range(&self, family: Family) -> (String, Option<String>, Option<String>) {
        let start = self
            .since
            .map(|t| archive::hour_prefix(family, &(t - chrono::Duration::hours(1))));
        let end = self
            .until
            .map(|t| archive::hour_prefix(family, &(t + self.lag + chrono::Duration::hours(1))));
        (archive::family_prefix(family), start, end)
    }

    /// Whether a delivery is selected.
    pub fn selects(&self, d: &ArchivedDelivery) -> bool {
        let received = d.received_at_ms();
        (self.families.is_empty() || self.families.contains(&d.family))
            && self
                .event_type
                .as_deref()
                .is_none_or(|p| d.event_type.starts_with(p))
            && self
                .user
                .as_deref()
                .is_none_or(|u| d.user_id.as_deref() == Some(u))
            && self.since.is_none_or(|t| received >= t.timestamp_millis())
            && self.until.is_none_or(|t| received <= t.timestamp_millis())
    }

    /// The selection in one line: the state file's header, and (hashed) its default name.
    pub fn describe(&self) -> String {
        let families: Vec<&str> = self.families().iter().map(Family::as_str).collect();
        let time = |t: &Option<DateTime<Utc>>| t.map_or_else(|| "*".to_owned(), |t| t.to_rfc3339());
        format!(
            "families={} event_type={} user={} since={} until={}",
            families.join(","),
            self.event_type.as_deref().unwrap_or("*"),
            self.user.as_deref().unwrap_or("*"),
            time(&self.since),
            time(&self.until)
        )
    }

    /// The default state file of this selection: `jwh-replay-<12 hex digits>.state`.
    pub fn default_state_file(&self) -> PathBuf {
        let digest = sha2::Sha256::digest(self.describe().as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        PathBuf::from(format!("jwh-replay-{hex}.state"))
    }
}

/// The S3 operations a replay needs, behind a port so its logic is tested in memory; errors are one line.
pub trait Objects {
    /// Objects under `prefix`, after `start_after` and before `end_before`, in key order.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        end_before: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, String>;
    /// An archive object's bytes.
    async fn get(&self, key: &str) -> Result<Vec<u8>, String>;
    /// Writes a claim-checked body (one too large for SQS) to the payload bucket.
    async fn put_claim(&self, claim: &ClaimCheck, body: Vec<u8>) -> Result<(), String>;
}

/// [`Objects`] over S3: the archive bucket, and the payload bucket of the claims.
#[derive(Debug, Clone)]
pub struct S3Objects {
    /// The client.
    pub s3: aws_sdk_s3::Client,
    /// The archive bucket.
    pub bucket: String,
}

impl Objects for S3Objects {
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        end_before: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, String> {
        archive::list_objects(&self.s3, &self.bucket, prefix, start_after, end_before)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        archive::read_object(&self.s3, &self.bucket, key)
            .await
            .map_err(|e| e.to_string())
    }

    async fn put_claim(&self, claim: &ClaimCheck, body: Vec<u8>) -> Result<(), String> {
        jwh_shared::envelope::store_claim_check(&self.s3, claim, body)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Objects fully replayed, kept in a file: a header line (the selection), then one key per line.
#[derive(Debug, Default)]
pub struct State {
    path: Option<PathBuf>,
    /// Keys of the objects done.
    pub done: BTreeSet<String>,
}

impl State {
    /// A state kept in memory only (dry runs, tests).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The state in `path` for `selection`: empty when the file does not exist, an error when it belongs to
    /// another selection.
    pub fn load(path: &Path, selection: &Selection) -> Result<Self, String> {
        let header = format!("# jwh replay --archive {}", selection.describe());
        let mut state = Self {
            path: Some(path.to_owned()),
            done: BTreeSet::new(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut lines = text.lines();
                if lines.next() != Some(header.as_str()) {
                    return Err(format!(
                        "{} is the state of another selection; pass another --state file or delete it",
                        path.display()
                    ));
                }
                state.done = lines
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(path, format!("{header}\n"))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
        Ok(state)
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn mark_done(&mut self, key: &str) -> Result<(), String> {
        self.done.insert(key.to_owned());
        if let Some(path) = &self.path {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            writeln!(file, "{key}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read and count, send nothing.
    pub dry_run: bool,
    /// Messages per second, at most.
    pub rate: f64,
    /// This replay's id, in every message's [`attr::REPLAY`] attribute and the processors' logs.
    pub run_id: String,
    /// The payload bucket, for a body too large for SQS (claim check); without one it is skipped.
    pub payload_bucket: Option<String>,
}

/// What a replay did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects in the selection's key range.
    pub objects: usize,
    /// Of those, done by an earlier run (state file).
    pub resumed: usize,
    /// Bytes of the objects read.
    pub bytes: u64,
    /// Deliveries read.
    pub read: usize,
    /// Deliveries read again (a retried delivery), skipped.
    pub duplicates: usize,
    /// Lines of the objects that were not a delivery.
    pub bad_lines: usize,
    /// Selected deliveries per event type.
    pub by_event_type: BTreeMap<String, usize>,
    /// Selected deliveries per family they route to today.
    pub by_family: BTreeMap<Family, usize>,
    /// Messages sent.
    pub sent: usize,
    /// Of those, through the claim check.
    pub claim_checked: usize,
    /// `svix id: why` of each delivery not sent (failed sends included).
    pub problems: Vec<String>,
    /// Sends or reads that failed (the run exits 1; run it again to finish).
    pub failed: usize,
}

impl Report {
    /// Deliveries selected.
    pub fn selected(&self) -> usize {
        self.by_family.values().sum()
    }

    /// The text printed at the end: counts per event type, then the totals; for a dry run, the estimate.
    pub fn render(&self, options: &Options) -> String {
        let mut out = String::new();
        for (event_type, n) in &self.by_event_type {
            out.push_str(&format!("{n:>8}  {event_type}\n"));
        }
        let families: Vec<String> = self
            .by_family
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        out.push_str(&format!(
            "{} {} of {} deliveries read ({}), from {} objects ({:.1} MB{}); {} duplicates skipped, {} bad lines\n",
            if options.dry_run { "would replay" } else { "selected" },
            self.selected(),
            self.read,
            if families.is_empty() { "none".to_owned() } else { families.join(", ") },
            self.objects - self.resumed,
            self.bytes as f64 / 1e6,
            if self.resumed > 0 {
                format!("; {} done by an earlier run", self.resumed)
            } else {
                String::new()
            },
            self.duplicates,
            self.bad_lines,
        ));
        if options.dry_run {
            let requests = self.selected().div_ceil(BATCH_MESSAGES);
            out.push_str(&format!(
                "estimate: {:.0} s at --rate {}; S3 {} GET (${:.4}), SQS {} SendMessageBatch (${:.4}); then each \
                 message is processed as a live webhook is (BENCHMARKS.md)\n",
                self.selected() as f64 / options.rate,
                options.rate,
                self.objects - self.resumed,
                (self.objects - self.resumed) as f64 * 0.0004 / 1000.0,
                requests,
                requests as f64 * 0.40 / 1e6,
            ));
        } else {
            out.push_str(&format!(
                "replayed {} ({} through the claim check), failed {}\n",
                self.sent, self.claim_checked, self.failed
            ));
        }
        out
    }
}

/// Spaces sends to `rate` messages a second.
struct Pace {
    started: Instant,
    sent: usize,
    rate: f64,
}

impl Pace {
    async fn wait(&mut self, messages: usize) {
        self.sent += messages;
        let due = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate);
        tokio::time::sleep_until(due.into()).await;
    }
}

/// One delivery ready to send: the family it routes to today, its body and attributes.
struct Outgoing {
    family: Family,
    body: String,
    attributes: HashMap<String, MessageAttributeValue>,
}

/// The metadata a delivery is re-sent with: as archived, the event type and family its body has today.
pub fn replay_meta(d: &ArchivedDelivery, body: &[u8]) -> MessageMeta {
    let mut meta = d.meta();
    if let Ok(t) = peek_event_type(body) {
        meta.event_type = t.as_str().into_owned();
        meta.family = t.family();
    } else {
        meta.family = Family::CatchAll;
    }
    meta
}

/// Replays the selection; `queue_url` names each family's queue.
pub async fn run<O: Objects, Q: Queues>(
    objects: &O,
    queues: &Q,
    selection: &Selection,
    options: &Options,
    state: &mut State,
    queue_url: impl Fn(Family) -> Option<String>,
    progress: &ProgressBar,
) -> Result<Report, String> {
    let mut listed: Vec<ObjectInfo> = Vec::new();
    for family in selection.families() {
        let (prefix, start, end) = selection.key_range(family);
        listed.extend(
            objects
                .list(&prefix, start.as_deref(), end.as_deref())
                .await
                .map_err(|e| format!("listing {prefix}: {e}"))?,
        );
    }
    let mut report = Report {
        objects: listed.len(),
        ..Report::default()
    };
    progress.set_length(listed.len() as u64);
    let mut seen = HashSet::new();
    let mut pace = Pace {
        started: Instant::now(),
        sent: 0,
        rate: options.rate.max(0.001),
    };
    for object in &listed {
        progress.inc(1);
        if state.done.contains(&object.key) {
            report.resumed += 1;
            continue;
        }
        let bytes = match objects.get(&object.key).await {
            Ok(b) => b,
            Err(e) => {
                report.failed += 1;
                report.problems.push(format!("{}: {e}", object.key));
                continue;
            }
        };
        report.bytes += bytes.len() as u64;
        let decoded = match archive::decode_object(&bytes) {
            Ok(d) => d,
            Err(e) => {
                report.failed += 1;
                report.problems.push(format!("{}: {e}", object.key));
                continue;
            }
        };
        report.bad_lines += decoded.bad_lines.len();
        let mut deliveries = decoded.deliveries;
        report.read += deliveries.len();
        let before = deliveries.len();
        archive::dedupe(&mut deliveries, &mut seen);
        report.duplicates += before - deliveries.len();
        let mut outgoing = Vec::new();
        for d in deliveries {
            if !selection.selects(&d) {
                continue;
            }
            let Some(body) = d.body_bytes() else {
                report.problems.push(format!("{}: no body", d.svix_id));
                continue;
            };
            let meta = replay_meta(&d, &body);
            *report
                .by_event_type
                .entry(if meta.event_type.is_empty() {
                    "(no event type)".to_owned()
                } else {
                    meta.event_type.clone()
                })
                .or_default() += 1;
            *report.by_family.entry(meta.family).or_default() += 1;
            if options.dry_run {
                continue;
            }
            match message(objects, &meta, body, options).await {
                Ok((message, claim_checked)) => {
                    report.claim_checked += usize::from(claim_checked);
                    outgoing.push(message);
                }
                Err(e) => {
                    report.failed += 1;
                    report.problems.push(format!("{}: {e}", d.svix_id));
                }
            }
        }
        if options.dry_run {
            continue;
        }
        let failed_before = report.failed;
        send(queues, outgoing, &queue_url, &mut pace, &mut report).await;
        progress.set_message(format!("{} sent", report.sent));
        if report.failed == failed_before {
            state.mark_done(&object.key)?;
        }
    }
    Ok(report)
}

/// A delivery as an SQS message: inline, or through the claim check when SQS cannot carry it.
async fn message<O: Objects>(
    objects: &O,
    meta: &MessageMeta,
    body: Vec<u8>,
    options: &Options,
) -> Result<(Outgoing, bool), String> {
    let (text, claim) = if inline_body(&body, meta).is_some() {
        (String::from_utf8(body).map_err(|e| e.to_string())?, None)
    } else {
        let Some(bucket) = &options.payload_bucket else {
            return Err(
                "too large for SQS, and no payload bucket (PAYLOAD_BUCKET) for its claim check"
                    .into(),
            );
        };
        let claim = ClaimCheck::for_message(bucket, meta);
        let size = body.len();
        objects.put_claim(&claim, body).await?;
        (claim.placeholder_body(size), Some(claim))
    };
    let mut attributes = meta.to_sqs_attributes(claim.as_ref());
    attributes.insert(
        attr::REPLAY.to_owned(),
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&options.run_id)
            .build()
            .map_err(|e| e.to_string())?,
    );
    Ok((
        Outgoing {
            family: meta.family,
            body: text,
            attributes,
        },
        claim.is_some(),
    ))
}

/// Sends an object's messages, family by family, in batches, at the pace.
async fn send<Q: Queues>(
    queues: &Q,
    outgoing: Vec<Outgoing>,
    queue_url: &impl Fn(Family) -> Option<String>,
    pace: &mut Pace,
    report: &mut Report,
) {
    let mut by_family: BTreeMap<Family, Vec<Outgoing>> = BTreeMap::new();
    for m in outgoing {
        by_family.entry(m.family).or_default().push(m);
    }
    for (family, messages) in by_family {
        let Some(url) = queue_url(family) else {
            report.failed += messages.len();
            report.problems.push(format!(
                "{} messages for {family}: no queue URL ({} not set)",
                messages.len(),
                family.env_var()
            ));
            continue;
        };
        let mut batch: Vec<(String, HashMap<String, MessageAttributeValue>)> = Vec::new();
        let mut bytes = 0;
        let mut iter = messages.into_iter().peekable();
        while let Some(m) = iter.next() {
            bytes += m.body.len() + 512;
            batch.push((m.body, m.attributes));
            let next_fits = iter
                .peek()
                .is_some_and(|n| bytes + n.body.len() + 512 <= BATCH_BYTES);
            if batch.len() == BATCH_MESSAGES || !next_fits {
                pace.wait(batch.len()).await;
                for (result, (_, attributes)) in queues
                    .send_batch(&url, &batch)
                    .await
                    .into_iter()
                    .zip(&batch)
                {
                    match result {
                        Ok(()) => report.sent += 1,
                        Err(e) => {
                            report.failed += 1;
                            let id = attributes
                                .get(attr::SVIX_ID)
                                .and_then(|a| a.string_value())
                                .unwrap_or_default();
                            report.problems.push(format!("{id}: {e}"));
                        }
                    }
                }
                batch.clear();
                bytes = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use jwh_shared::store::time::parse_instant;

    use super::*;
    use crate::queues::fake::FakeQueues;

    /// Objects in memory; listing and reading a key in `failing` fails.
    #[derive(Default)]
    struct FakeObjects {
        objects: BTreeMap<String, Vec<u8>>,
        claims: Mutex<Vec<String>>,
        gets: Mutex<usize>,
        failing: HashSet<String>,
    }

    impl Objects for FakeObjects {
        async fn list(
            &self,
            prefix: &str,
            start_after: Option<&str>,
            end_before: Option<&str>,
        ) -> Result<Vec<ObjectInfo>, String> {
            Ok(self
                .objects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .filter(|(k, _)| start_after.is_none_or(|s| k.as_str() > s))
                .filter(|(k, _)| end_before.is_none_or(|e| k.as_str() < e))
                .map(|(k, v)| ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                })
                .collect())
        }

        async fn get(&self, key: &str) -> Result<Vec<u8>, String> {
            *self.gets.lock().unwrap() += 1;
            if self.failing.contains(key) {
                return Err("S3 refused".into());
            }
            Ok(self.objects[key].clone())
        }

        async fn put_claim(&self, claim: &ClaimCheck, _body: Vec<u8>) -> Result<(), String> {
            self.claims.lock().unwrap().push(claim.uri());
            Ok(())
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    fn delivery(id: &str, event_type: &str, user: &str, received: &str) -> ArchivedDelivery {
        let body =
            format!(r#"{{"event_type":"{event_type}","user_id":"{user}","data":{{"id":"{id}"}}}}"#);
        let family = peek_event_type(body.as_bytes()).unwrap().family();
        ArchivedDelivery::new(
            &MessageMeta {
                svix_id: id.into(),
                event_type: event_type.into(),
                family,
                svix_timestamp: t(received).timestamp(),
                received_at_ms: t(received).timestamp_millis(),
            },
            body.as_bytes(),
        )
    }

    fn object(deliveries: &[ArchivedDelivery]) -> Vec<u8> {
        archive::encode(deliveries).records.concat()
    }

    /// Three hours of archive: summaries at 09 and 10 (a retried delivery archived twice), lab at 10.
    fn archive() -> FakeObjects {
        let mut objects = BTreeMap::new();
        objects.insert(
            "summaries/2026/12/02/09/a.jsonl.gz".into(),
            object(&[
                delivery(
                    "msg_1",
                    "daily.data.sleep.created",
                    "u1",
                    "2026-12-02T09:10:00Z",
                ),
                delivery(
                    "msg_2",
                    "daily.data.sleep.created",
                    "u2",
                    "2026-12-02T09:20:00Z",
                ),
            ]),
        );
        objects.insert(
            "summaries/2026/12/02/10/b.jsonl.gz".into(),
            object(&[
                delivery(
                    "msg_2",
                    "daily.data.sleep.created",
                    "u2",
                    "2026-12-02T09:20:00Z",
                ),
                delivery(
                    "msg_3",
                    "daily.data.activity.created",
                    "u1",
                    "2026-12-02T10:05:00Z",
                ),
            ]),
        );
        objects.insert(
            "lab/2026/12/02/10/c.jsonl.gz".into(),
            object(&[delivery(
                "msg_4",
                "labtest.order.created",
                "u1",
                "2026-12-02T10:30:00Z",
            )]),
        );
        FakeObjects {
            objects,
            ..FakeObjects::default()
        }
    }

    fn everything() -> Selection {
        Selection {
            families: vec![],
            event_type: None,
            user: None,
            since: None,
            until: None,
            lag: chrono::Duration::hours(24),
        }
    }

    fn options(dry_run: bool) -> Options {
        Options {
            dry_run,
            rate: 1000.0,
            run_id: "r1".into(),
            payload_bucket: None,
        }
    }

    fn url(f: Family) -> Option<String> {
        Some(format!("http://sqs/{f}"))
    }

    async fn replay(
        objects: &FakeObjects,
        queues: &FakeQueues,
        selection: &Selection,
        options: &Options,
        state: &mut State,
    ) -> Report {
        run(
            objects,
            queues,
            selection,
            options,
            state,
            url,
            &ProgressBar::hidden(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn everything_once_with_original_metadata_and_the_replay_mark() {
        let (objects, queues) = (archive(), FakeQueues::default());
        let report = replay(
            &objects,
            &queues,
            &everything(),
            &options(false),
            &mut State::in_memory(),
        )
        .await;
        assert_eq!(
            (report.objects, report.read, report.duplicates, report.sent),
            (3, 5, 1, 4)
        );
        let sent = queues.messages("http://sqs/summaries");
        let ids: Vec<&str> = sent
            .iter()
            .map(|m| m.attributes[attr::SVIX_ID].string_value().unwrap())
            .collect();
        assert_eq!(ids, ["msg_1", "msg_2", "msg_3"]);
        let m = &sent[0];
        assert_eq!(m.attributes[attr::REPLAY].string_value(), Some("r1"));
        assert_eq!(
            m.attributes[attr::RECEIVED_AT].string_value(),
            Some(
                t("2026-12-02T09:10:00Z")
                    .timestamp_millis()
                    .to_string()
                    .as_str()
            )
        );
        assert_eq!(
            m.body,
            delivery(
                "msg_1",
                "daily.data.sleep.created",
                "u1",
                "2026-12-02T09:10:00Z"
            )
            .body
            .unwrap()
        );
        assert_eq!(queues.messages("http://sqs/lab").len(), 1);
    }

    #[tokio::test]
    async fn a_selection_reads_only_its_key_range_and_sends_only_its_deliveries() {
        let (objects, queues) = (archive(), FakeQueues::default());
        let selection = Selection {
            families: vec![Family::Summaries],
            user: Some("u1".into()),
            since: Some(t("2026-12-02T10:00:00Z")),
            until: Some(t("2026-12-02T10:59:59Z")),
            ..everything()
        };
        let (prefix, start, end) = selection.key_range(Family::Summaries);
        assert_eq!(
            (prefix.as_str(), start.as_deref(), end.as_deref()),
            (
                "summaries/",
                Some("summaries/2026/12/02/09/"),
                Some("summaries/2026/12/03/11/")
            )
        );
        let report = replay(
            &objects,
            &queues,
            &selection,
            &options(false),
            &mut State::in_memory(),
        )
        .await;
        assert_eq!(report.sent, 1);
        assert_eq!(
            report.by_event_type,
            [("daily.data.activity.created".to_owned(), 1)].into()
        );
        assert!(queues.messages("http://sqs/lab").is_empty());

        let by_type = Selection {
            event_type: Some("daily.data.sleep".into()),
            ..everything()
        };
        let report = replay(
            &objects,
            &FakeQueues::default(),
            &by_type,
            &options(true),
            &mut State::in_memory(),
        )
        .await;
        assert_eq!(report.selected(), 2);
    }

    #[tokio::test]
    async fn a_dry_run_sends_nothing_and_estimates() {
        let (objects, queues) = (archive(), FakeQueues::default());
        let mut state = State::in_memory();
        let report = replay(&objects, &queues, &everything(), &options(true), &mut state).await;
        assert!(queues.queues.lock().unwrap().is_empty());
        assert!(state.done.is_empty());
        let text = report.render(&Options {
            rate: 2.0,
            ..options(true)
        });
        assert!(
            text.contains(
                "would replay 4 of 5 deliveries read (summaries 3, lab 1), from 3 objects"
            ),
            "{text}"
        );
        assert!(
            text.contains("estimate: 2 s at --rate 2; S3 3 GET"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_interrupted_replay_resumes_after_the_objects_it_finished() {
        let dir = std::env::temp_dir().join(format!("jwh-replay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let _ = std::fs::remove_file(&path);
        let mut objects = archive();
        objects
            .failing
            .insert("summaries/2026/12/02/09/a.jsonl.gz".into());
        let queues = FakeQueues::default();
        let mut state = State::load(&path, &everything()).unwrap();
        let first = replay(
            &objects,
            &queues,
            &everything(),
            &options(false),
            &mut state,
        )
        .await;
        // msg_2 is sent from the 10 o'clock object: its first copy, at 09, could not be read.
        assert_eq!((first.sent, first.failed), (3, 1));
        assert_eq!(state.done.len(), 2);

        // S3 answers again: a new run (state read back from the file) reads only the object that failed.
        objects.failing.clear();
        *objects.gets.lock().unwrap() = 0;
        let mut state = State::load(&path, &everything()).unwrap();
        let second = replay(
            &objects,
            &queues,
            &everything(),
            &options(false),
            &mut state,
        )
        .await;
        assert_eq!((second.resumed, second.sent, second.failed), (2, 2, 0));
        assert_eq!(*objects.gets.lock().unwrap(), 1);
        // msg_2 went twice, once in each run: at least once, as every delivery (the processors are idempotent).
        assert_eq!(queues.messages("http://sqs/summaries").len(), 4);

        let other = Selection {
            user: Some("u9".into()),
            ..everything()
        };
        assert!(
            State::load(&path, &other)
                .unwrap_err()
                .contains("another selection")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_rate_limit_spaces_the_sends() {
        let (objects, queues) = (archive(), FakeQueues::default());
        let started = Instant::now();
        let report = replay(
            &objects,
            &queues,
            &everything(),
            &Options {
                rate: 20.0,
                ..options(false)
            },
            &mut State::in_memory(),
        )
        .await;
        assert_eq!(report.sent, 4);
        // Four messages at 20 a second: the last batch is due at 200 ms at the earliest.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_type_known_today_routes_to_its_family_and_large_bodies_take_the_claim_check() {
        let unknown_then = {
            let mut d = delivery(
                "msg_5",
                "daily.data.sleep.created",
                "u1",
                "2026-12-02T11:00:00Z",
            );
            d.family = Family::CatchAll;
            d.event_type = String::new();
            d
        };
        let big = {
            let body = format!(
                r#"{{"event_type":"daily.data.sleep.created","user_id":"u1","data":{{"id":"big","pad":"{}"}}}}"#,
                "x".repeat(1_100_000)
            );
            let mut d = delivery(
                "msg_6",
                "daily.data.sleep.created",
                "u1",
                "2026-12-02T11:00:00Z",
            );
            d.body = Some(body);
            d
        };
        let mut objects = FakeObjects::default();
        objects.objects.insert(
            "catch-all/2026/12/02/11/d.jsonl.gz".into(),
            object(&[unknown_then, big]),
        );
        let queues = FakeQueues::default();
        let without_bucket = replay(
            &objects,
            &queues,
            &everything(),
            &options(false),
            &mut State::in_memory(),
        )
        .await;
        assert_eq!((without_bucket.sent, without_bucket.failed), (1, 1));
        assert!(
            without_bucket.problems[0].contains("no payload bucket"),
            "{:?}",
            without_bucket.problems
        );
        let with_bucket = Options {
            payload_bucket: Some("payloads".into()),
            ..options(false)
        };
        let report = replay(
            &objects,
            &queues,
            &everything(),
            &with_bucket,
            &mut State::in_memory(),
        )
        .await;
        assert_eq!(
            (report.sent, report.claim_checked, report.failed),
            (2, 1, 0)
        );
        let sent = queues.messages("http://sqs/summaries");
        assert_eq!(sent.len(), 3);
        assert_eq!(
            sent[0].attributes[attr::FAMILY].string_value(),
            Some("summaries")
        );
        assert!(sent[2].attributes.contains_key(attr::CLAIM_CHECK));
        assert_eq!(
            objects.claims.lock().unwrap().as_slice(),
            ["s3://payloads/payloads/summaries/msg_6"]
        );
    }
}
