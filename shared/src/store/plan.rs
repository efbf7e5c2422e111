//! The store's domain rules as pure functions: an event and its message's metadata in, the writes that store it
//! out ([`plan`]), and how a timeseries write merges into the bucket it finds ([`merge_bucket`]). Nothing here
//! talks to DynamoDB: [`super::Store::execute`] carries the writes out, and every identity and ordering rule is
//! tested here as a plain function.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use super::time::{canonical_from_millis, canonicalize, parse_instant};
use super::version::{MessageVersion, OwnerRuns, SampleVersion};
use super::{BucketSpan, DAY, KIND, PK, SK, keys};
use crate::envelope::MessageMeta;
use crate::events::{Event, EventData, Resource, Series, Source, Summary, TimeseriesBatch};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A catch-all body is kept inline up to this size, in part items beyond; DynamoDB items stop at 400 KB.
pub const CATCH_ALL_INLINE_MAX: usize = 350 * 1024;
/// The largest item a write may produce: DynamoDB's 400 KB limit, less room for its own accounting.
pub const MAX_ITEM_BYTES: usize = 390 * 1024;
/// A fetched workout stream, or a large catch-all body, is split into items of at most this many bytes.
pub const STREAM_PART_BYTES: usize = 300 * 1024;
/// Attribute of the version every guarded write compares.
pub const VERSION: &str = "version";
/// Revision counter of a timeseries bucket, for optimistic concurrency.
pub const REV: &str = "rev";
/// A timeseries bucket's shared fields: a JSON object of the fields (`unit`, `timezone_offset`, …) that a sample
/// stored as a bare number has besides its `value`. Fixed when the bucket is created.
pub const BUCKET_SHARED: &str = "d";
/// A timeseries bucket's sample versions ([`OwnerRuns`]).
pub const BUCKET_OWNERS: &str = "o";
/// In a stored sample: the interval's length, whole seconds, standing for `start` (the instant) and `end`.
pub const INTERVAL_SECS: &str = "~e";
/// In a stored sample: the interval's length in microseconds, when not whole seconds.
pub const INTERVAL_MICROS: &str = "~eu";

/// One write of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A whole item. With a version, it replaces only an item of an older or equal version (a stale write is an
    /// outcome, not an error); without, it is idempotent by its key (history entries, catch-all).
    Put {
        /// The item, its version attribute included.
        item: Item,
        /// The version compared, if any.
        version: Option<String>,
    },
    /// Attributes set on an item, leaving its others alone (the backfill record, which the fetcher also writes),
    /// when the stored version is older or equal.
    Update {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Attributes set, the version included.
        set: Vec<(String, AttributeValue)>,
        /// The version compared.
        version: String,
    },
    /// Samples merged into a timeseries bucket ([`merge_bucket`]).
    Bucket(BucketWrite),
}

/// Samples of one series into one bucket, from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketWrite {
    /// Partition key.
    pub pk: String,
    /// Sort key ([`keys::bucket`]).
    pub sk: String,
    /// Offset from the bucket's start in microseconds -> the sample, compacted ([`compact_sample`]). Within one
    /// message the later sample of an instant wins.
    pub samples: BTreeMap<u64, Value>,
    /// The message's version.
    pub version: SampleVersion,
}

/// Why an event cannot be planned: it is kept whole in the catch-all records instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A sample's instant is not a timestamp.
    #[error("sample {0}'s instant is not a timestamp")]
    BadInstant(usize),
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn put_opt(item: &mut Item, name: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        item.insert(name.to_owned(), s(v));
    }
}

fn json(v: &Value) -> AttributeValue {
    s(v.to_string())
}

/// DEFLATE level of stored documents: the best ratio; a summary of a few KiB takes tens of microseconds.
const DOCUMENT_LEVEL: u8 = 9;
/// Below this many bytes a document stays text: DEFLATE's block overhead would eat most of the saving.
const DOCUMENT_COMPRESS_FROM: usize = 128;

/// A record's JSON document (`data`: a summary, a connection, a device, a lab record as Junction sent it): its
/// compact text as raw DEFLATE in a binary attribute when that is smaller, which it is for every document of more
/// than a few fields (Junction's sleep example: 2,577 bytes of text, 734 compressed), else the text. DynamoDB bills
/// writes per started KiB of the item, so this is most of a summary's write units. Read back by
/// [`decode_document`]; text written before compression reads as it always did.
fn document(v: &Value) -> AttributeValue {
    let text = v.to_string();
    if text.len() >= DOCUMENT_COMPRESS_FROM
        && let Some(packed) = deflate_smaller(text.as_bytes())
    {
        return AttributeValue::B(packed.into());
    }
    AttributeValue::S(text)
}

/// Raw DEFLATE of `text` if it is shorter than `text`. One compressor per thread, reset for each document:
/// setting up a new one (its hash tables and window, a few hundred KB zeroed) costs more than compressing a
/// summary of a few KB.
fn deflate_smaller(text: &[u8]) -> Option<Vec<u8>> {
    use miniz_oxide::deflate::core::{
        CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
    };
    thread_local! {
        // Negative window bits: raw DEFLATE, no zlib header or checksum.
        static COMPRESSOR: std::cell::RefCell<CompressorOxide> = std::cell::RefCell::new(CompressorOxide::new(
            create_comp_flags_from_zip_params(DOCUMENT_LEVEL.into(), -15, 0),
        ));
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        compressor.reset();
        // Room for one byte less than the text: a document that does not fit is not worth compressing.
        let mut out = vec![0; text.len().checked_sub(1)?];
        let (status, read, written) = compress(compressor, text, &mut out, TDEFLFlush::Finish);
        (status == TDEFLStatus::Done && read == text.len()).then(|| {
            out.truncate(written);
            out
        })
    })
}

/// Largest document [`decode_document`] inflates: DynamoDB's item limit (400 KB) times a ratio no JSON exceeds
/// in practice; a corrupt or hostile attribute stops there instead of exhausting memory.
const DOCUMENT_MAX_BYTES: usize = 64 << 20;

/// A stored document back as JSON: text as written before compression, or the DEFLATE of [`document`]. `None` for
/// bytes that do not inflate to JSON.
pub fn decode_document(value: &AttributeValue) -> Option<Value> {
    match value {
        AttributeValue::S(text) => serde_json::from_str(text).ok(),
        AttributeValue::B(packed) => {
            let text = miniz_oxide::inflate::decompress_to_vec_with_limit(
                packed.as_ref(),
                DOCUMENT_MAX_BYTES,
            )
            .ok()?;
            serde_json::from_slice(&text).ok()
        }
        _ => None,
    }
}

/// Common attributes of every record: key, kind, provenance.
fn base_item(pk: String, sk: String, kind: &str, meta: &MessageMeta) -> Item {
    let mut item = Item::with_capacity(16);
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    item.insert(KIND.into(), s(kind));
    item.insert("svix_id".into(), s(meta.svix_id.clone()));
    if !meta.event_type.is_empty() {
        item.insert("event_type".into(), s(meta.event_type.clone()));
    }
    item.insert(
        "received_at".into(),
        s(canonical_from_millis(meta.received_at_ms)),
    );
    item
}

/// An item that is idempotent by its key (a history entry, a catch-all record) has no version to compare; it
/// names its message's creation time on its own.
fn with_creation_time(mut item: Item, meta: &MessageMeta) -> Item {
    item.insert(
        "message_created_at".into(),
        s(MessageVersion::of(meta).created_at()),
    );
    item
}

fn versioned(mut item: Item, version: String) -> Write {
    item.insert(VERSION.into(), s(version.clone()));
    Write::Put {
        item,
        version: Some(version),
    }
}

/// The version of a record that carries a time of its own (`updated_at`): that time first, so a record Junction
/// updated later wins whatever the order of the messages, then the message's version, so that of two messages of
/// one `updated_at` the newer wins. Without one, the message's creation time stands in for it.
fn record_version(updated_at: Option<&str>, meta: &MessageMeta) -> String {
    let message = MessageVersion::of(meta);
    let time = updated_at
        .and_then(canonicalize)
        .unwrap_or_else(|| message.created_at());
    format!("{time}|{}", message.text())
}

/// Every write that stores `event`'s records.
pub fn plan(event: &Event, meta: &MessageMeta) -> Result<Vec<Write>, PlanError> {
    let user = event.user_id.as_deref().unwrap_or("unknown");
    let resource = event.event_type.resource();
    let message = MessageVersion::of(meta);
    Ok(match (&event.data, resource) {
        (EventData::Summary(summary), Some(r)) => vec![summary_write(user, r, summary, meta)],
        (EventData::Timeseries(batch), Some(r)) => {
            let raw = event.raw.pointer("/data/data").and_then(Value::as_array);
            bucket_writes(user, r, batch, raw.map(Vec::as_slice).unwrap_or(&[]), meta)?
        }
        (EventData::ProviderConnection(c), _) => {
            let mut state = connection_state(user, &c.provider, "connected", meta);
            put_opt(
                &mut state,
                "external_user_id",
                c.external_user_id.as_deref(),
            );
            state.insert(
                "data".into(),
                document(event.raw.get("data").unwrap_or(&Value::Null)),
            );
            connection_writes(user, &c.provider, state, &[], meta)
        }
        (EventData::ProviderConnectionError(c), _) => {
            let mut state = connection_state(user, &c.provider, "error", meta);
            put_opt(&mut state, "error_type", c.error_type.as_deref());
            put_opt(&mut state, "error_message", c.message.as_deref());
            put_opt(&mut state, "error_details", c.error_details.as_deref());
            let history = [
                ("error_type", c.error_type.as_deref()),
                ("error_message", c.message.as_deref()),
            ];
            connection_writes(user, &c.provider, state, &history, meta)
        }
        (EventData::Device(d), _) => {
            let mut item = base_item(keys::user(user), keys::device(&d.id), "device", meta);
            item.insert("user_id".into(), s(user));
            item.insert("device_id".into(), s(d.id.clone()));
            put_opt(
                &mut item,
                "provider_device_id",
                d.provider_device_id.as_deref(),
            );
            put_opt(&mut item, "provider", d.provider.as_deref());
            put_opt(&mut item, "source_type", d.source_type.as_deref());
            item.insert(
                "data".into(),
                document(event.raw.get("data").unwrap_or(&Value::Null)),
            );
            vec![versioned(item, message.text())]
        }
        (EventData::HistoricalPull(h), Some(r)) => vec![backfill_write(user, r, h, meta)],
        (EventData::LabOrder(o), _) => {
            let lab = LabRecord::new(
                "ORDER",
                o.id.clone(),
                o.status.as_deref(),
                o.updated_at.as_deref(),
            );
            lab_writes(keys::user(user), lab, event, meta)
        }
        (EventData::Appointment(a), _) => {
            let mut lab = LabRecord::new("APPOINTMENT", a.id.clone(), a.status.as_deref(), None);
            lab.extra.push(("order_id", a.order_id.clone()));
            lab.extra.push(("event_status", a.event_status.clone()));
            lab_writes(keys::user(user), lab, event, meta)
        }
        (EventData::CriticalResult(c), _) => {
            // One order can have several laboratory samples, each with its own result.
            let mut lab = LabRecord::new(
                "CRITICAL_RESULT",
                c.order_id.clone(),
                c.status.as_deref(),
                c.updated_at.as_deref(),
            );
            lab.key = keys::critical_result(&c.order_id, c.sample_id.as_deref());
            lab.extra.push(("order_id", Some(c.order_id.clone())));
            lab.extra.push(("sample_id", c.sample_id.clone()));
            lab_writes(keys::user(user), lab, event, meta)
        }
        (EventData::ParsingJob(p), _) => {
            let lab = LabRecord::new("PARSING_JOB", p.id.clone(), p.status.as_deref(), None);
            lab_writes(keys::user(user), lab, event, meta)
        }
        (EventData::MatchReview(m), _) => {
            // The event names no user; a review is the team's until it is resolved to one.
            let team = event.team_id.as_deref().unwrap_or("unknown");
            let mut lab = LabRecord::new("MATCH_REVIEW", m.id.clone(), m.status.as_deref(), None);
            lab.extra
                .push(("resolved_user_id", m.resolved_user_id.clone()));
            lab.extra
                .push(("resolved_order_id", m.resolved_order_id.clone()));
            lab_writes(keys::team(team), lab, event, meta)
        }
        // Continuous query results, unknown events, and anything without a resource: kept whole.
        _ => catch_all(event.raw.to_string().as_bytes(), meta, "no_typed_writer"),
    })
}

/// A summary: replaced by a newer `updated_at` (then a newer message), never by an older one.
fn summary_write(user: &str, resource: Resource, summary: &Summary, meta: &MessageMeta) -> Write {
    let mut item = base_item(
        keys::user(user),
        keys::summary(resource, &summary.id),
        "summary",
        meta,
    );
    item.insert("user_id".into(), s(user));
    item.insert("resource".into(), s(resource.as_str()));
    item.insert("record_id".into(), s(summary.id.clone()));
    source_attributes(&mut item, &summary.source);
    put_opt(&mut item, "calendar_date", summary.calendar_date.as_deref());
    let start = summary.start.as_deref().and_then(canonicalize);
    let end = summary.end.as_deref().and_then(canonicalize);
    put_opt(&mut item, "start", start.as_deref());
    put_opt(&mut item, "end", end.as_deref());
    let updated = summary.updated_at.as_deref().and_then(canonicalize);
    put_opt(&mut item, "updated_at", updated.as_deref());
    if let Some(date) = summary_date(summary) {
        item.insert(
            DAY.into(),
            s(keys::summary_day(resource, &date, &summary.id)),
        );
    }
    item.insert("data".into(), document(&summary.data));
    versioned(item, record_version(updated.as_deref(), meta))
}

/// The date a summary is read by: its `calendar_date`, else the UTC date of its start; none for a summary with
/// neither (workout-stream notices), which stays out of the [`super::BY_DAY_INDEX`] index.
fn summary_date(summary: &Summary) -> Option<String> {
    summary
        .calendar_date
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok())
        .or_else(|| Some(parse_instant(summary.start.as_deref()?)?.date_naive()))
        .map(|d| d.format("%Y-%m-%d").to_string())
}

fn source_attributes(item: &mut Item, source: &Source) {
    put_opt(item, "provider", source.provider.as_deref());
    put_opt(item, "source_type", source.source_type.as_deref());
    put_opt(item, "app_id", source.app_id.as_deref());
    put_opt(item, "device_id", source.device_id.as_deref());
}

/// The current-state item of a provider connection.
fn connection_state(user: &str, provider: &str, status: &str, meta: &MessageMeta) -> Item {
    let mut state = base_item(
        keys::user(user),
        keys::connection(provider),
        "connection",
        meta,
    );
    state.insert("user_id".into(), s(user));
    state.insert("provider".into(), s(provider));
    state.insert("status".into(), s(status));
    state
}

/// Connection state (the newest message wins) and a history entry for the message.
fn connection_writes(
    user: &str,
    provider: &str,
    state: Item,
    history_fields: &[(&str, Option<&str>)],
    meta: &MessageMeta,
) -> Vec<Write> {
    let mut event = base_item(
        keys::user(user),
        keys::connection_event(provider, &meta.svix_id),
        "connection_event",
        meta,
    );
    event.insert("provider".into(), s(provider));
    for (name, value) in history_fields {
        put_opt(&mut event, name, *value);
    }
    vec![
        versioned(state, MessageVersion::of(meta).text()),
        Write::Put {
            item: with_creation_time(event, meta),
            version: None,
        },
    ]
}

/// The historical pull window per (user, provider, resource): an update, so that the fetcher's progress on the
/// same record survives.
fn backfill_write(
    user: &str,
    resource: Resource,
    pull: &crate::events::HistoricalPull,
    meta: &MessageMeta,
) -> Write {
    let version = MessageVersion::of(meta).text();
    let mut set: Vec<(String, AttributeValue)> = vec![
        (KIND.into(), s("backfill")),
        ("user_id".into(), s(user)),
        ("provider".into(), s(pull.provider.clone())),
        ("resource".into(), s(resource.as_str())),
        (
            "completed_at".into(),
            s(canonical_from_millis(meta.received_at_ms)),
        ),
        ("svix_id".into(), s(meta.svix_id.clone())),
        (VERSION.into(), s(version.clone())),
    ];
    if let Some(v) = pull.start_date.as_deref().and_then(canonicalize) {
        set.push(("start_date".into(), s(v)));
    }
    if let Some(v) = pull.end_date.as_deref().and_then(canonicalize) {
        set.push(("end_date".into(), s(v)));
    }
    if let Some(v) = pull.is_final {
        set.push(("is_final".into(), AttributeValue::Bool(v)));
    }
    Write::Update {
        pk: keys::user(user),
        sk: keys::backfill(&pull.provider, resource),
        set,
        version,
    }
}

struct LabRecord<'a> {
    kind: &'static str,
    id: String,
    /// The state item's sort key.
    key: String,
    status: Option<&'a str>,
    updated_at: Option<&'a str>,
    extra: Vec<(&'static str, Option<String>)>,
}

impl<'a> LabRecord<'a> {
    fn new(
        kind: &'static str,
        id: String,
        status: Option<&'a str>,
        updated_at: Option<&'a str>,
    ) -> Self {
        Self {
            kind,
            key: keys::lab(kind, &id),
            id,
            status,
            updated_at,
            extra: Vec::new(),
        }
    }
}

/// A lab record's current state (newest `updated_at`, then newest message) and a status-history entry.
fn lab_writes(pk: String, lab: LabRecord<'_>, event: &Event, meta: &MessageMeta) -> Vec<Write> {
    let mut state = base_item(pk.clone(), lab.key.clone(), "lab", meta);
    state.insert("lab_kind".into(), s(lab.kind));
    state.insert("record_id".into(), s(lab.id.clone()));
    put_opt(&mut state, "user_id", event.user_id.as_deref());
    put_opt(&mut state, "team_id", event.team_id.as_deref());
    put_opt(&mut state, "status", lab.status);
    let updated = lab.updated_at.and_then(canonicalize);
    put_opt(&mut state, "updated_at", updated.as_deref());
    for (name, value) in &lab.extra {
        put_opt(&mut state, name, value.as_deref());
    }
    state.insert(
        "data".into(),
        document(event.raw.get("data").unwrap_or(&Value::Null)),
    );
    let mut history = base_item(
        pk,
        format!("{}#EVT#{}", lab.key, keys::part(&meta.svix_id)),
        "lab_event",
        meta,
    );
    history.insert("lab_kind".into(), s(lab.kind));
    history.insert("record_id".into(), s(lab.id.clone()));
    put_opt(&mut history, "status", lab.status);
    vec![
        versioned(state, record_version(updated.as_deref(), meta)),
        Write::Put {
            item: with_creation_time(history, meta),
            version: None,
        },
    ]
}

/// Keeps a message whole, with its Svix id, event type and receive time, so that it can be replayed through
/// routing later. A body over [`CATCH_ALL_INLINE_MAX`] is kept in part items beside the record
/// (`MSG#{svix id}#PART#{n}`, kind `catch_all_part`), the record naming how many (`parts`); a body that is not
/// UTF-8 is kept as bytes.
pub fn catch_all(body: &[u8], meta: &MessageMeta, reason: &str) -> Vec<Write> {
    let pk = keys::catch_all(&meta.svix_id);
    let mut item = base_item(pk.clone(), keys::message(&meta.svix_id), "catch_all", meta);
    item.insert("reason".into(), s(reason));
    item.insert("family".into(), s(meta.family.as_str()));
    item.insert("svix_timestamp".into(), n(meta.svix_timestamp));
    item.insert("size".into(), n(body.len()));
    // The body inline when it is small, else in parts: as text when it is UTF-8 (`body`), as bytes otherwise
    // (`body_bytes`).
    let (name, pieces): (&str, Vec<AttributeValue>) = match std::str::from_utf8(body) {
        Ok(text) if body.len() <= CATCH_ALL_INLINE_MAX => ("body", vec![s(text)]),
        Ok(text) => (
            "body",
            split_text(text, STREAM_PART_BYTES)
                .into_iter()
                .map(s)
                .collect(),
        ),
        Err(_) if body.len() <= CATCH_ALL_INLINE_MAX => {
            ("body_bytes", vec![AttributeValue::B(body.to_vec().into())])
        }
        Err(_) => (
            "body_bytes",
            body.chunks(STREAM_PART_BYTES)
                .map(|part| AttributeValue::B(part.to_vec().into()))
                .collect(),
        ),
    };
    let mut writes = Vec::new();
    if body.len() <= CATCH_ALL_INLINE_MAX {
        item.extend(pieces.into_iter().map(|piece| (name.to_owned(), piece)));
    } else {
        item.insert("parts".into(), n(pieces.len()));
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut p = Item::with_capacity(5);
            p.insert(PK.into(), s(pk.clone()));
            p.insert(SK.into(), s(keys::message_part(&meta.svix_id, i)));
            p.insert(KIND.into(), s("catch_all_part"));
            p.insert("part".into(), n(i));
            p.insert(name.into(), piece);
            writes.push(Write::Put {
                item: p,
                version: None,
            });
        }
    }
    // The parts first: a record that names parts always has them.
    writes.push(Write::Put {
        item: with_creation_time(item, meta),
        version: None,
    });
    writes
}

/// `text` cut into pieces of at most `max` bytes, on character boundaries.
fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(max);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    if parts.is_empty() {
        parts.push("");
    }
    parts
}

/// A fetched workout stream, kept beside the workout's `workout_stream` summary (which the notices write, so a
/// new notice never wipes a fetched stream): the stream's JSON split into items of at most
/// [`STREAM_PART_BYTES`], part 0 naming how many there are. Every part carries the fetch's version, and a part
/// is replaced only by a newer fetch.
pub fn workout_stream(
    user: &str,
    workout_id: &str,
    provider: &str,
    stream: &Value,
    meta: &MessageMeta,
) -> Vec<Write> {
    let text = stream.to_string();
    let parts = split_text(&text, STREAM_PART_BYTES);
    let version = MessageVersion::of(meta).text();
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut item = base_item(
                keys::user(user),
                keys::workout_stream(workout_id, i),
                "workout_stream",
                meta,
            );
            item.insert("workout_id".into(), s(workout_id));
            item.insert("part".into(), n(i));
            if i == 0 {
                item.insert("parts".into(), n(count));
                item.insert("user_id".into(), s(user));
                put_opt(&mut item, "provider", Some(provider));
            }
            item.insert("stream".into(), s(part));
            versioned(item, version.clone())
        })
        .collect()
}

/// The buckets a batch of samples goes to: one write per (series, bucket), each sample at its offset.
fn bucket_writes(
    user: &str,
    resource: Resource,
    batch: &TimeseriesBatch,
    raw_samples: &[Value],
    meta: &MessageMeta,
) -> Result<Vec<Write>, PlanError> {
    let span = BucketSpan::of(resource);
    let version = MessageVersion::of(meta).sample();
    let mut buckets: BTreeMap<(Series, String), BTreeMap<u64, Value>> = BTreeMap::new();
    for (index, raw) in raw_samples.iter().enumerate() {
        let instant = raw
            .get("timestamp")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .or_else(|| raw.get("start").and_then(Value::as_str));
        let dt = instant
            .and_then(parse_instant)
            .ok_or(PlanError::BadInstant(index))?;
        let sample_type = raw.get("type").and_then(Value::as_str);
        let series = Series::of(resource, &batch.source, sample_type);
        let (start, offset) = span.locate(&dt);
        buckets
            .entry((series, start))
            .or_default()
            .insert(offset, compact_sample(raw, &dt));
    }
    Ok(buckets
        .into_iter()
        .map(|((series, start), samples)| {
            Write::Bucket(BucketWrite {
                pk: keys::user(user),
                sk: keys::bucket(resource, &start, &series),
                samples,
                version,
            })
        })
        .collect())
}

/// An instant as Junction writes one: `2024-11-24T10:00:00+00:00`, with six fractional digits when it has any.
pub fn junction_text(dt: &chrono::DateTime<chrono::Utc>) -> String {
    if dt.timestamp_subsec_micros() == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// A sample as stored: as Junction sent it minus its null fields and its instant. An interval whose `start` is
/// the instant keeps its length instead of `start` and `end` ([`INTERVAL_SECS`], [`INTERVAL_MICROS`]), so that
/// a second of steps costs a few bytes, not two timestamps; [`expand_sample`] puts them back, exactly as sent:
/// only bounds written as Junction writes them ([`junction_text`]) are replaced.
pub fn compact_sample(raw: &Value, instant: &chrono::DateTime<chrono::Utc>) -> Value {
    let Value::Object(m) = raw else {
        return raw.clone();
    };
    let mut out: Map<String, Value> = m
        .iter()
        .filter(|(k, v)| !v.is_null() && k.as_str() != "timestamp")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let bound = |key: &str| {
        let text = out.get(key).and_then(Value::as_str)?;
        parse_instant(text).filter(|dt| junction_text(dt) == text)
    };
    if let (Some(start), Some(end)) = (bound("start"), bound("end"))
        && start == *instant
        && end >= start
    {
        let micros = (end - start).num_microseconds().unwrap_or(i64::MAX);
        if micros != i64::MAX {
            out.remove("start");
            out.remove("end");
            if micros % 1_000_000 == 0 {
                out.insert(INTERVAL_SECS.into(), Value::from(micros / 1_000_000));
            } else {
                out.insert(INTERVAL_MICROS.into(), Value::from(micros));
            }
        }
    }
    out.into_iter().collect::<Map<_, _>>().into()
}

/// A stored sample back as Junction's shape: `start` and `end` from a stored interval length.
pub fn expand_sample(mut sample: Value, instant: &chrono::DateTime<chrono::Utc>) -> Value {
    if let Value::Object(m) = &mut sample {
        let micros = match (m.remove(INTERVAL_SECS), m.remove(INTERVAL_MICROS)) {
            (Some(secs), _) => secs.as_i64().map(|s| s * 1_000_000),
            (None, Some(micros)) => micros.as_i64(),
            (None, None) => None,
        };
        if let Some(micros) = micros {
            m.insert("start".into(), Value::String(junction_text(instant)));
            let end = *instant + chrono::Duration::microseconds(micros);
            m.insert("end".into(), Value::String(junction_text(&end)));
        }
    }
    sample
}

/// The name of the attribute holding the sample at `offset` microseconds from its bucket's start: `s{seconds}`,
/// or `u{microseconds}` for a sub-second instant.
pub fn sample_name(offset: u64) -> String {
    if offset.is_multiple_of(1_000_000) {
        format!("s{}", offset / 1_000_000)
    } else {
        format!("u{offset}")
    }
}

/// The offset of a sample attribute (`s{seconds}` / `u{micros}`); `None` for any other attribute.
pub fn sample_offset(name: &str) -> Option<u64> {
    let (unit, digits) = name.split_at_checked(1)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = digits.parse().ok()?;
    match unit {
        "s" => v.checked_mul(1_000_000),
        "u" => Some(v),
        _ => None,
    }
}

/// The fields every sample of a batch shares (same name, same value), `value` aside: what a new bucket keeps once
/// in [`BUCKET_SHARED`] instead of in every sample.
pub fn shared_fields<'a>(samples: impl IntoIterator<Item = &'a Value>) -> Map<String, Value> {
    let mut samples = samples.into_iter();
    let Some(Value::Object(first)) = samples.next() else {
        return Map::new();
    };
    let mut shared: Map<String, Value> = first
        .iter()
        .filter(|(k, _)| k.as_str() != "value")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for sample in samples {
        let Value::Object(m) = sample else {
            return Map::new();
        };
        shared.retain(|k, v| m.get(k) == Some(v));
    }
    shared
}

/// A number as DynamoDB stores and returns it, when that reads back as exactly the same JSON number: DynamoDB
/// trims leading and trailing zeros (`72.0` comes back as `72`, an integer to JSON), and exponents are not worth
/// the doubt.
fn dynamodb_number(n: &serde_json::Number) -> Option<String> {
    let text = n.to_string();
    let canonical = !text.contains(['e', 'E'])
        && text != "-0"
        && !(text.contains('.') && text.ends_with('0'))
        && text.trim_start_matches('-').len() <= 38;
    let exact = serde_json::from_str::<Value>(&text).ok() == Some(Value::Number(n.clone()));
    (canonical && exact).then_some(text)
}

/// How a sample (compacted) is stored in a bucket whose shared fields are `shared`: a DynamoDB number when the
/// sample is exactly `shared` plus a numeric `value`, else its compact JSON whole. Lossless either way.
pub fn encode_sample(sample: &Value, shared: &Map<String, Value>) -> AttributeValue {
    if let Value::Object(m) = sample
        && m.len() == shared.len() + 1
        && shared.iter().all(|(k, v)| m.get(k) == Some(v))
        && let Some(Value::Number(value)) = m.get("value")
        && let Some(text) = dynamodb_number(value)
    {
        return AttributeValue::N(text);
    }
    json(sample)
}

/// A stored sample attribute back as the compacted sample.
pub fn decode_sample(value: &AttributeValue, shared: &Map<String, Value>) -> Option<Value> {
    match value {
        AttributeValue::N(text) => {
            let mut sample = shared.clone();
            sample.insert("value".into(), serde_json::from_str(text).ok()?);
            Some(Value::Object(sample))
        }
        AttributeValue::S(text) => {
            Some(serde_json::from_str(text).unwrap_or(Value::String(text.clone())))
        }
        _ => None,
    }
}

/// The samples of a stored bucket: offset -> (stored attribute, version), and its shared fields.
pub struct StoredBucket {
    /// Offset (µs) -> the attribute as stored and its version. A bucket written without versions reads as
    /// version zero: older than any message.
    pub samples: BTreeMap<u64, (AttributeValue, SampleVersion)>,
    /// The bucket's shared fields.
    pub shared: Map<String, Value>,
    /// Its revision.
    pub rev: Option<u64>,
}

/// Reads a bucket item.
pub fn read_bucket(item: &Item) -> StoredBucket {
    let rev = item
        .get(REV)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok());
    let shared = item
        .get(BUCKET_SHARED)
        .and_then(|v| v.as_s().ok())
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut offsets: Vec<(u64, &AttributeValue)> = item
        .iter()
        .filter_map(|(name, v)| Some((sample_offset(name)?, v)))
        .collect();
    offsets.sort_by_key(|(o, _)| *o);
    let runs = item
        .get(BUCKET_OWNERS)
        .and_then(|v| v.as_s().ok())
        .and_then(|text| OwnerRuns::decode(text))
        .unwrap_or_default();
    let mut versions = runs.versions();
    let samples = offsets
        .into_iter()
        .map(|(o, v)| (o, (v.clone(), versions.next().unwrap_or_default())))
        .collect();
    StoredBucket {
        samples,
        shared,
        rev,
    }
}

/// A total order on stored sample values, for versions that tie.
fn order_key(v: &AttributeValue) -> (u8, &str) {
    match v {
        AttributeValue::N(text) => (0, text),
        AttributeValue::S(text) => (1, text),
        _ => (2, ""),
    }
}

/// What merging a write into the bucket it finds comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// Every sample is already stored as this write has it, or newer: nothing to write.
    Unchanged {
        /// Samples skipped because the stored one is newer.
        stale: u32,
    },
    /// Put this item, on the condition that the bucket is still at `expected_rev` (`None`: still absent).
    Put {
        /// The whole new bucket.
        item: Item,
        /// The revision read.
        expected_rev: Option<u64>,
        /// Samples written (new or replaced).
        written: u32,
        /// Samples skipped because the stored one is newer.
        stale: u32,
    },
    /// The merged bucket would pass DynamoDB's item size limit.
    TooLarge {
        /// Its size in bytes.
        bytes: usize,
    },
}

/// Merges a write into the bucket item it finds (`None`: no bucket yet). Each sample replaces the stored sample
/// of its instant unless the stored one came from a newer message; the result carries each sample's version.
pub fn merge_bucket(current: Option<&Item>, write: &BucketWrite) -> Merge {
    let StoredBucket {
        mut samples,
        shared,
        rev,
    } = current.map(read_bucket).unwrap_or(StoredBucket {
        samples: BTreeMap::new(),
        shared: shared_fields(write.samples.values()),
        rev: None,
    });
    let (mut written, mut stale) = (0u32, 0u32);
    for (offset, sample) in &write.samples {
        let value = encode_sample(sample, &shared);
        match samples.get(offset) {
            Some((_, stored)) if *stored > write.version => stale += 1,
            // One version (the same message again, or two messages whose versions tie): the greater value stays,
            // whatever the order they arrive in.
            Some((v, stored)) if *stored == write.version && order_key(v) >= order_key(&value) => {
                if *v != value {
                    stale += 1;
                }
            }
            _ => {
                samples.insert(*offset, (value, write.version));
                written += 1;
            }
        }
    }
    if written == 0 && current.is_some() {
        return Merge::Unchanged { stale };
    }
    let mut item = Item::with_capacity(samples.len() + 8);
    item.insert(PK.into(), s(write.pk.clone()));
    item.insert(SK.into(), s(write.sk.clone()));
    item.insert(KIND.into(), s("timeseries"));
    item.insert(REV.into(), n(rev.unwrap_or(0) + 1));
    if !shared.is_empty() {
        item.insert(BUCKET_SHARED.into(), s(Value::Object(shared).to_string()));
    }
    let runs = OwnerRuns::from_versions(samples.values().map(|(_, v)| *v));
    item.insert(BUCKET_OWNERS.into(), s(runs.encode()));
    for (offset, (value, _)) in samples {
        item.insert(sample_name(offset), value);
    }
    let bytes = item_size(&item);
    if bytes > MAX_ITEM_BYTES {
        return Merge::TooLarge { bytes };
    }
    Merge::Put {
        item,
        expected_rev: rev,
        written,
        stale,
    }
}

/// An item's size as DynamoDB counts it: each attribute's name plus its value (strings and binaries by their
/// bytes, numbers about one byte per two digits plus one, and a few bytes of overhead per list or map entry).
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        // About one byte per two significant digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').replace('.', "").len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
