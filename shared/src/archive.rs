//! The archive: every verified delivery kept raw in S3, so that any slice of history can be re-run.
//!
//! Once a webhook is acknowledged Svix never sends it again, and the records derived from it are only what the
//! processors made of it. The archive keeps the delivery itself: its body byte for byte, with the metadata the
//! ingest function verified ([`ArchivedDelivery`]). `jwh replay --archive` reads it back through the same queues.
//!
//! # Writer and layout
//!
//! Each processor archives the messages of its SQS batch while it stores them: one gzip member holding one JSON
//! line per delivery, put as one record on its family's Amazon Data Firehose stream ([`Archive::put`]). Firehose
//! bills ingested bytes in 5 KB steps per record and writes one S3 object per buffer (15 minutes or 128 MB), so a
//! batch costs a fraction of a cent per thousand where a `PutObject` per batch would cost $0.005 per thousand
//! batches (BENCHMARKS.md, "Archive"). A batch is only acknowledged once its archive record is accepted.
//!
//! Objects land under `{family}/YYYY/MM/DD/HH/` (UTC, Firehose's arrival hour), so a time range of one family is a
//! set of prefixes ([`hour_prefixes`]). An object is a concatenation of gzip members (one per batch), which is
//! itself a valid gzip file ([`decode_object`]). A delivery too large for a Firehose record (over 1,000 KiB
//! compressed) is written as an object of its own under the same prefix ([`large_object_key`]).
//!
//! Deliveries are at-least-once: a Svix retry or an SQS redelivery is archived again. Readers deduplicate by Svix
//! id ([`dedupe`]).

use std::collections::HashSet;
use std::io::{Read as _, Write as _};

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use base64::Engine as _;
use chrono::{DateTime, Duration, Timelike as _, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::ConfigError;
use crate::envelope::MessageMeta;
use crate::family::Family;
use crate::store::time::{canonical_from_millis, parse_instant};

/// Environment variable naming the archive bucket (where Firehose writes, and large deliveries go directly).
pub const BUCKET_ENV: &str = "ARCHIVE_BUCKET";
/// Largest Firehose record, bytes (1,000 KiB).
/// <https://docs.aws.amazon.com/firehose/latest/dev/limits.html>
pub const MAX_RECORD_BYTES: usize = 1_024_000;
/// Largest `PutRecordBatch` request: 500 records, 4 MB (taken as 4,000,000 bytes).
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 4_000_000;
/// Attempts at the records Firehose reports failed in a `PutRecordBatch` answer.
const PUT_ATTEMPTS: u32 = 3;
/// File extension of archive objects (Firehose's `FileExtension`, and the large objects written directly).
pub const EXTENSION: &str = ".jsonl.gz";
/// Largest decompressed archive object read back (a bound against a corrupt or hostile object).
const MAX_OBJECT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// One verified delivery as archived: one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedDelivery {
    /// Svix message id.
    pub svix_id: String,
    /// Verified Svix timestamp of the delivery attempt, Unix seconds.
    pub svix_timestamp: i64,
    /// Event type as routed (empty when the body did not say).
    #[serde(default)]
    pub event_type: String,
    /// Family the message was routed to.
    pub family: Family,
    /// The user the body names (`user_id`, top level or in `data`), when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When the ingest function received it (RFC 3339, UTC, as every stored `received_at`).
    pub received_at: String,
    /// The body as received, when it is UTF-8 (a JSON string keeps it byte for byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body as received, base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

impl ArchivedDelivery {
    /// The archive line of a message as a processor received it.
    pub fn new(meta: &MessageMeta, body: &[u8]) -> Self {
        let (body, body_base64) = match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(body)),
            ),
        };
        Self {
            svix_id: meta.svix_id.clone(),
            svix_timestamp: meta.svix_timestamp,
            event_type: meta.event_type.clone(),
            family: meta.family,
            user_id: user_of(body.as_deref().map_or(&[][..], str::as_bytes)),
            received_at: canonical_from_millis(meta.received_at_ms),
            body,
            body_base64,
        }
    }

    /// The body's bytes as received (`None` when neither form decodes).
    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        match (&self.body, &self.body_base64) {
            (Some(text), _) => Some(text.clone().into_bytes()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
            (None, None) => None,
        }
    }

    /// When it was received, Unix milliseconds (0 when the field does not parse).
    pub fn received_at_ms(&self) -> i64 {
        parse_instant(&self.received_at).map_or(0, |t| t.timestamp_millis())
    }

    /// The metadata the message travelled with.
    pub fn meta(&self) -> MessageMeta {
        MessageMeta {
            svix_id: self.svix_id.clone(),
            event_type: self.event_type.clone(),
            family: self.family,
            svix_timestamp: self.svix_timestamp,
            received_at_ms: self.received_at_ms(),
        }
    }
}

/// The user a Junction body names: `user_id` at the top level, else in `data`.
pub fn user_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        data: Option<DataUser>,
    }
    #[derive(Deserialize)]
    struct DataUser {
        #[serde(default)]
        user_id: Option<String>,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    envelope
        .user_id
        .or_else(|| envelope.data.and_then(|d| d.user_id))
        .filter(|u| !u.is_empty())
}

/// The deliveries of one batch, encoded: Firehose records (each one gzip member of whole lines, at most
/// [`MAX_RECORD_BYTES`]), and the deliveries too large for any record (each a gzip member of its own, to be
/// written as an object).
#[derive(Debug, Default)]
pub struct Encoded {
    /// Firehose records.
    pub records: Vec<Vec<u8>>,
    /// (Svix id, gzip member) of each delivery too large for a record.
    pub large: Vec<(String, Vec<u8>)>,
}

/// Encodes deliveries as gzip members of JSON lines, as few as fit [`MAX_RECORD_BYTES`].
pub fn encode(deliveries: &[ArchivedDelivery]) -> Encoded {
    let lines: Vec<Vec<u8>> = deliveries.iter().map(line).collect();
    let mut out = Encoded::default();
    encode_lines(deliveries, &lines, &mut out);
    out
}

fn line(delivery: &ArchivedDelivery) -> Vec<u8> {
    // Serializing a struct of strings and integers to a Vec cannot fail.
    let mut line = serde_json::to_vec(delivery).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Halves the batch until each half compresses into a record; a single delivery that does not is `large`.
fn encode_lines(deliveries: &[ArchivedDelivery], lines: &[Vec<u8>], out: &mut Encoded) {
    if lines.is_empty() {
        return;
    }
    let member = gzip(lines.iter().map(Vec::as_slice));
    if member.len() <= MAX_RECORD_BYTES {
        out.records.push(member);
    } else if lines.len() == 1 {
        out.large.push((deliveries[0].svix_id.clone(), member));
    } else {
        let mid = lines.len() / 2;
        encode_lines(&deliveries[..mid], &lines[..mid], out);
        encode_lines(&deliveries[mid..], &lines[mid..], out);
    }
}

/// One gzip member of the parts, in order.
pub fn gzip<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for part in parts {
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(part);
    }
    encoder.finish().unwrap_or_default()
}

/// What an archive object held: its deliveries, and the lines that were not one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The deliveries, in the object's order.
    pub deliveries: Vec<ArchivedDelivery>,
    /// Lines that did not parse as a delivery (kept as they are, never fatal).
    pub bad_lines: Vec<Vec<u8>>,
}

/// Reads an archive object: gzip (one member or several, concatenated) or plain JSON lines.
pub fn decode_object(bytes: &[u8]) -> Result<Decoded, ArchiveError> {
    let mut text = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_OBJECT_BYTES)
            .read_to_end(&mut text)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    } else {
        text.extend_from_slice(bytes);
    }
    let mut decoded = Decoded::default();
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<ArchivedDelivery>(line) {
            Ok(d) => decoded.deliveries.push(d),
            Err(_) => decoded.bad_lines.push(line.to_vec()),
        }
    }
    Ok(decoded)
}

/// An archive object holding `deliveries`, then `other_lines` as they were (one gzip member), as erasure
/// rewrites an object.
pub fn encode_object(deliveries: &[ArchivedDelivery], other_lines: &[Vec<u8>]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = deliveries.iter().map(line).collect();
    lines.extend(other_lines.iter().map(|l| [l.as_slice(), b"\n"].concat()));
    gzip(lines.iter().map(Vec::as_slice))
}

/// Keeps the first delivery of each Svix id (a retried message is archived once per delivery).
pub fn dedupe(deliveries: &mut Vec<ArchivedDelivery>, seen: &mut HashSet<String>) {
    deliveries.retain(|d| seen.insert(d.svix_id.clone()));
}

/// The prefix of one family's archive: `summaries/`.
pub fn family_prefix(family: Family) -> String {
    format!("{}/", family.as_str())
}

/// The prefix of one family's archive hour: `summaries/2026/12/02/10/`.
pub fn hour_prefix(family: Family, hour: &DateTime<Utc>) -> String {
    format!("{}{}/", family_prefix(family), hour.format("%Y/%m/%d/%H"))
}

/// The hour prefixes of one family from `from` to `to`, inclusive, oldest first.
pub fn hour_prefixes(family: Family, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut hour = from
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(from);
    let mut out = Vec::new();
    while hour <= to {
        out.push(hour_prefix(family, &hour));
        hour += Duration::hours(1);
    }
    out
}

/// The key of a delivery written as an object of its own (too large for a Firehose record).
pub fn large_object_key(family: Family, now: &DateTime<Utc>, svix_id: &str) -> String {
    format!(
        "{}large-{}-{}{EXTENSION}",
        hour_prefix(family, now),
        crate::envelope::key_safe(svix_id),
        now.timestamp_millis()
    )
}

/// The environment variable naming a family's Firehose stream: `ARCHIVE_STREAM_SUMMARIES`.
pub fn stream_env_var(family: Family) -> String {
    family
        .env_var()
        .replacen("QUEUE_URL_", "ARCHIVE_STREAM_", 1)
}

/// Archiving failed; the batch is not acknowledged, and SQS delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Firehose refused the request, or kept failing some of its records.
    #[error("Firehose: {0}")]
    Firehose(String),
    /// S3 refused a large delivery's object.
    #[error("S3: {0}")]
    S3(String),
    /// An archive object read back is not gzip or JSON lines.
    #[error("archive object unreadable: {0}")]
    Corrupt(String),
}

/// What one batch's archiving wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveWritten {
    /// Firehose records accepted.
    pub records: usize,
    /// Bytes of those records (what Firehose bills, before its 5 KB rounding).
    pub record_bytes: usize,
    /// Deliveries written as objects of their own.
    pub large_objects: usize,
}

/// A family's archive writer: its Firehose stream, and the bucket for large deliveries.
#[derive(Debug, Clone)]
pub struct Archive {
    /// Firehose client.
    pub firehose: aws_sdk_firehose::Client,
    /// S3 client (large deliveries).
    pub s3: aws_sdk_s3::Client,
    /// The family's delivery stream name.
    pub stream: String,
    /// The archive bucket.
    pub bucket: String,
    /// The family archived.
    pub family: Family,
}

impl Archive {
    /// The family's writer from `ARCHIVE_STREAM_<FAMILY>` and [`BUCKET_ENV`]; `None` when the stream variable is
    /// unset or empty (the archive is off), an error when the stream is set without the bucket.
    pub fn from_env(
        family: Family,
        config: &aws_config::SdkConfig,
    ) -> Result<Option<Self>, ConfigError> {
        let stream = std::env::var(stream_env_var(family)).unwrap_or_default();
        if stream.trim().is_empty() {
            return Ok(None);
        }
        let bucket = crate::aws::required_env(BUCKET_ENV)?;
        Ok(Some(Self {
            firehose: aws_sdk_firehose::Client::new(config),
            s3: crate::aws::s3_client(config),
            stream: stream.trim().to_owned(),
            bucket,
            family,
        }))
    }

    /// Archives the deliveries of one batch; `Ok` once Firehose accepted every record and S3 every large object.
    pub async fn put(
        &self,
        deliveries: &[ArchivedDelivery],
    ) -> Result<ArchiveWritten, ArchiveError> {
        let encoded = encode(deliveries);
        let mut written = ArchiveWritten::default();
        let mut start = 0;
        while start < encoded.records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < encoded.records.len()
                && end - start < MAX_BATCH_RECORDS
                && (end == start || bytes + encoded.records[end].len() <= MAX_BATCH_BYTES)
            {
                bytes += encoded.records[end].len();
                end += 1;
            }
            self.put_records(&encoded.records[start..end]).await?;
            written.records += end - start;
            written.record_bytes += bytes;
            start = end;
        }
        let now = Utc::now();
        for (svix_id, member) in encoded.large {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(large_object_key(self.family, &now, &svix_id))
                .content_type("application/x-ndjson")
                .content_encoding("gzip")
                .body(member.into())
                .send()
                .await
                .map_err(|e| {
                    ArchiveError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
                })?;
            written.large_objects += 1;
        }
        Ok(written)
    }

    /// One `PutRecordBatch`, sending again the records Firehose reports failed.
    async fn put_records(&self, records: &[Vec<u8>]) -> Result<(), ArchiveError> {
        let mut pending: Vec<&Vec<u8>> = records.iter().collect();
        for attempt in 1..=PUT_ATTEMPTS {
            let batch: Vec<Record> = pending
                .iter()
                .map(|data| {
                    Record::builder()
                        .data(Blob::new(data.as_slice()))
                        .build()
                        .map_err(|e| ArchiveError::Firehose(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let out = self
                .firehose
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(batch))
                .send()
                .await
                .map_err(|e| {
                    ArchiveError::Firehose(
                        aws_sdk_firehose::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            if out.failed_put_count() == 0 {
                return Ok(());
            }
            let responses = out.request_responses();
            let failed: Vec<&Vec<u8>> = pending
                .iter()
                .zip(responses)
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(data, _)| *data)
                .collect();
            let code = responses
                .iter()
                .find_map(|r| r.error_code())
                .unwrap_or("unknown")
                .to_owned();
            if failed.is_empty() || attempt == PUT_ATTEMPTS {
                return Err(ArchiveError::Firehose(format!(
                    "{} of {} records failed ({code})",
                    out.failed_put_count(),
                    pending.len()
                )));
            }
            pending = failed;
            tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
        }
        Ok(())
    }
}

/// An archive object as listed: key and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object key.
    pub key: String,
    /// Size, bytes (as stored: compressed).
    pub size: u64,
}

fn s3_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> ArchiveError {
    ArchiveError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// Every object under `prefix` whose key sorts after `start_after` and before `end_before`, in key order.
pub async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
    end_before: Option<&str>,
) -> Result<Vec<ObjectInfo>, ArchiveError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(s3_error)?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if end_before.is_some_and(|end| key >= end) {
                return Ok(out);
            }
            out.push(ObjectInfo {
                key: key.to_owned(),
                size: object.size().map_or(0, |s| s.max(0) as u64),
            });
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// An object's bytes.
pub async fn read_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(s3_error)?;
    out.body
        .collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .map_err(|e| ArchiveError::S3(format!("reading {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> MessageMeta {
        MessageMeta {
            svix_id: id.into(),
            event_type: "daily.data.sleep.created".into(),
            family: Family::Summaries,
            svix_timestamp: 1_764_670_000,
            received_at_ms: 1_764_670_000_123,
        }
    }

    #[test]
    fn a_delivery_keeps_its_body_byte_for_byte_and_its_metadata() {
        let body = "{\"user_id\": \"u1\",\n \"event_type\":\"daily.data.sleep.created\", \"data\":{\"x\":\"\\u00e9 é\"}}  ";
        let d = ArchivedDelivery::new(&meta("msg_1"), body.as_bytes());
        assert_eq!(d.user_id.as_deref(), Some("u1"));
        assert_eq!(d.received_at, "2025-12-02T10:06:40.123000Z");
        let decoded = decode_object(&encode_object(std::slice::from_ref(&d), &[])).unwrap();
        assert_eq!(decoded.deliveries, std::slice::from_ref(&d));
        assert_eq!(decoded.deliveries[0].body_bytes().unwrap(), body.as_bytes());
        assert_eq!(decoded.deliveries[0].meta(), meta("msg_1"));

        let binary = [0xff, 0xfe, b'{', 0];
        let d = ArchivedDelivery::new(&meta("msg_2"), &binary);
        assert_eq!((d.body.as_deref(), d.user_id.as_deref()), (None, None));
        assert_eq!(d.body_bytes().unwrap(), binary);
    }

    #[test]
    fn the_user_is_read_from_the_top_level_or_from_data() {
        assert_eq!(
            user_of(br#"{"data":{"user_id":"u2"}}"#).as_deref(),
            Some("u2")
        );
        assert_eq!(user_of(br#"{"user_id":"","data":{}}"#), None);
        assert_eq!(user_of(b"not json"), None);
    }

    #[test]
    fn a_batch_is_one_record_and_concatenated_members_read_as_one_object() {
        let a: Vec<_> = (0..10)
            .map(|i| ArchivedDelivery::new(&meta(&format!("msg_{i}")), b"{\"user_id\":\"u\"}"))
            .collect();
        let encoded = encode(&a);
        assert_eq!((encoded.records.len(), encoded.large.len()), (1, 0));
        // Firehose concatenates records into one object: two batches read back as one.
        let object = [
            encoded.records[0].clone(),
            encode(&a[..2]).records[0].clone(),
        ]
        .concat();
        let decoded = decode_object(&object).unwrap();
        assert_eq!(decoded.deliveries.len(), 12);
        let mut deliveries = decoded.deliveries;
        dedupe(&mut deliveries, &mut HashSet::new());
        assert_eq!(deliveries, a);
    }

    #[test]
    fn batches_over_the_record_limit_split_and_a_huge_delivery_is_large() {
        // Incompressible bodies: 300 KB of base64 of a pseudo-random sequence each.
        let noise = |seed: u64| {
            let mut x = seed;
            let bytes: Vec<u8> = (0..225_000)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            format!(
                "{{\"pad\":\"{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        };
        let batch: Vec<_> = (0..6)
            .map(|i| ArchivedDelivery::new(&meta(&format!("msg_{i}")), noise(i).as_bytes()))
            .collect();
        let encoded = encode(&batch);
        assert!(encoded.records.len() >= 2, "{}", encoded.records.len());
        assert!(encoded.records.iter().all(|r| r.len() <= MAX_RECORD_BYTES));
        let all: Vec<_> = encoded
            .records
            .iter()
            .flat_map(|r| decode_object(r).unwrap().deliveries)
            .collect();
        assert_eq!(all, batch);

        let huge = format!("{}{}", noise(7), noise(8));
        let huge = [huge.clone(), huge.clone(), huge].concat();
        let encoded = encode(&[ArchivedDelivery::new(&meta("msg_huge"), huge.as_bytes())]);
        assert_eq!((encoded.records.len(), encoded.large.len()), (0, 1));
        assert_eq!(encoded.large[0].0, "msg_huge");
        let back = decode_object(&encoded.large[0].1).unwrap();
        assert_eq!(back.deliveries[0].body_bytes().unwrap(), huge.as_bytes());
    }

    #[test]
    fn bad_lines_are_counted_not_fatal_and_corrupt_gzip_is_an_error() {
        let good = String::from_utf8(line(&ArchivedDelivery::new(&meta("msg_1"), b"{}"))).unwrap();
        let decoded = decode_object(format!("{good}not json\n\n{good}").as_bytes()).unwrap();
        assert_eq!(decoded.deliveries.len(), 2);
        assert_eq!(decoded.bad_lines, [b"not json".to_vec()]);
        // Rewritten, the line that was not a delivery stays.
        let again = decode_object(&encode_object(&decoded.deliveries, &decoded.bad_lines)).unwrap();
        assert_eq!(again, decoded);
        assert!(decode_object(&[0x1f, 0x8b, 8, 0, 1, 2, 3]).is_err());
    }

    #[test]
    fn prefixes_cover_a_range_hour_by_hour() {
        let t = |s: &str| parse_instant(s).unwrap();
        assert_eq!(
            hour_prefixes(
                Family::CatchAll,
                t("2026-12-01T22:59:59Z"),
                t("2026-12-02T00:00:00Z")
            ),
            [
                "catch-all/2026/12/01/22/",
                "catch-all/2026/12/01/23/",
                "catch-all/2026/12/02/00/"
            ]
        );
        assert!(
            hour_prefixes(
                Family::Lab,
                t("2026-12-02T01:00:00Z"),
                t("2026-12-02T00:00:00Z")
            )
            .is_empty()
        );
        assert_eq!(
            large_object_key(Family::Lab, &t("2026-12-02T01:02:03.004Z"), "msg_a/b"),
            "lab/2026/12/02/01/large-msg_a_b-1796173323004.jsonl.gz"
        );
        assert_eq!(stream_env_var(Family::CatchAll), "ARCHIVE_STREAM_CATCH_ALL");
    }
}
