//! The writers: one per kind of record, each idempotent and tolerant of reordering (see the table in
//! [`crate::store`]). Every conditional write compares a `version`: a canonical instant, so that strings compare
//! like times (`updated_at` where Junction sends one, else the Svix timestamp or the receive time).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use serde_json::{Map, Value};

use super::time::{canonical_from_millis, canonicalize, parse_instant};
use super::{
    BucketSpan, CATCH_ALL_PK, KIND, PK, SK, Store, StoreError, Written, is_condition_failed, keys,
    units,
};
use crate::envelope::{MessageMeta, message_created_ms};
use crate::events::{Event, EventData, Resource, Source, Summary, TimeseriesBatch};

/// A catch-all body is kept inline up to this size; DynamoDB items stop at 400 KB.
const CATCH_ALL_INLINE_MAX: usize = 350 * 1024;
/// Read-merge-write attempts on one timeseries bucket before giving the message back to SQS for a later retry.
const MAX_MERGE_ATTEMPTS: u32 = 8;
/// Revision counter of a timeseries bucket, for optimistic concurrency.
const REV: &str = "rev";
/// A timeseries bucket's start, as in its sort key (`2024-11-24T10`, `2024-11-24T10:15`).
pub(crate) const BUCKET_START: &str = "start";
/// A timeseries bucket's shared fields: a JSON object of the fields (`unit`, `timezone_offset`, …) that a sample
/// stored as a bare number has besides its `value`. Fixed when the bucket is created.
pub(crate) const BUCKET_SHARED: &str = "d";
/// Attribute of the version every conditional write compares.
const VERSION: &str = "version";

type Item = HashMap<String, AttributeValue>;

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

/// The version of a message without a timestamp of its own: the verified Svix timestamp.
/// The version of state that Junction sends without a time of its own (connections, devices, historical pulls,
/// workout streams): when the message was created. Svix message ids are `msg_` and a KSUID (millisecond-accurate in
/// Svix), so every delivery attempt of one message carries the same creation time, and a retry of an old message
/// never overtakes a newer one; the id follows the instant so that two messages of one millisecond still compare
/// the same way whatever their arrival order. An id that is not a KSUID falls back to the Svix timestamp, which is
/// the time of the attempt.
fn svix_version(meta: &MessageMeta) -> String {
    match message_created_ms(&meta.svix_id) {
        Some(ms) => format!("{}#{}", canonical_from_millis(ms), meta.svix_id),
        None => canonical_from_millis(meta.svix_timestamp.saturating_mul(1000)),
    }
}

fn json(v: &Value) -> AttributeValue {
    s(v.to_string())
}

/// Drops null fields (and the named ones) from a JSON object, keeping the rest as sent.
fn compact_object(v: &Value, drop: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !v.is_null() && !drop.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The bucket and attribute a sample is stored under: the bucket's start, and `s{seconds}` or, for a sub-second
/// instant, `u{microseconds}` since that start. A function of the resource's span and the instant alone, so a
/// sample sent twice (with any offset) lands on the same attribute.
pub(crate) fn sample_attribute(
    span: BucketSpan,
    dt: &chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    let (start, micros) = span.locate(dt);
    let name = if micros % 1_000_000 == 0 {
        format!("s{}", micros / 1_000_000)
    } else {
        format!("u{micros}")
    };
    (start, name)
}

/// The fields every sample of a batch shares (same name, same value), `value` aside: what a new bucket keeps once
/// in [`BUCKET_SHARED`] instead of in every sample.
fn shared_fields<'a>(samples: impl IntoIterator<Item = &'a Value>) -> Map<String, Value> {
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

/// How a sample (its compact object) is stored in a bucket whose shared fields are `shared`: a DynamoDB number
/// when the sample is exactly `shared` plus a numeric `value`, else its compact JSON whole. Lossless either way:
/// [`crate::query::expand_bucket`] reads a number back as `shared` plus `value`, and JSON as it is.
pub(crate) fn encode_sample(sample: &Value, shared: &Map<String, Value>) -> AttributeValue {
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

impl Store {
    /// Stores every record an event yields. The caller has checked that the message is not a duplicate.
    pub async fn write_event(
        &self,
        event: &Event,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let user = event.user_id.as_deref().unwrap_or("unknown");
        let resource = event.event_type.resource();
        match (&event.data, resource) {
            (EventData::Summary(summary), Some(r)) => {
                self.put_summary(user, r, summary, meta).await
            }
            (EventData::Timeseries(batch), Some(r)) => {
                let raw = event.raw.pointer("/data/data").and_then(Value::as_array);
                self.put_samples(user, r, batch, raw.map(Vec::as_slice).unwrap_or(&[]), meta)
                    .await
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
                    json(event.raw.get("data").unwrap_or(&Value::Null)),
                );
                self.put_connection(user, &c.provider, state, None, meta)
                    .await
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
                self.put_connection(user, &c.provider, state, Some(&history), meta)
                    .await
            }
            (EventData::Device(d), _) => {
                let mut item = base_item(keys::user(user), keys::device(&d.id), "device", meta);
                item.insert("user_id".into(), s(user));
                item.insert("device_id".into(), s(d.id.clone()));
                put_opt(&mut item, "provider", d.provider.as_deref());
                put_opt(&mut item, "source_type", d.source_type.as_deref());
                item.insert(
                    "data".into(),
                    json(event.raw.get("data").unwrap_or(&Value::Null)),
                );
                self.put_versioned(item, svix_version(meta)).await
            }
            (EventData::HistoricalPull(h), Some(r)) => self.put_backfill(user, r, h, meta).await,
            (EventData::LabOrder(o), _) => {
                let lab =
                    LabRecord::new("ORDER", &o.id, o.status.as_deref(), o.updated_at.as_deref());
                self.put_lab(keys::user(user), lab, event, meta).await
            }
            (EventData::Appointment(a), _) => {
                let mut lab = LabRecord::new("APPOINTMENT", &a.id, a.status.as_deref(), None);
                lab.extra.push(("order_id", a.order_id.clone()));
                lab.extra.push(("event_status", a.event_status.clone()));
                self.put_lab(keys::user(user), lab, event, meta).await
            }
            (EventData::CriticalResult(c), _) => {
                let lab = LabRecord::new(
                    "CRITICAL_RESULT",
                    &c.order_id,
                    c.status.as_deref(),
                    c.updated_at.as_deref(),
                );
                self.put_lab(keys::user(user), lab, event, meta).await
            }
            (EventData::ParsingJob(p), _) => {
                let lab = LabRecord::new("PARSING_JOB", &p.id, p.status.as_deref(), None);
                self.put_lab(keys::user(user), lab, event, meta).await
            }
            (EventData::MatchReview(m), _) => {
                // The event names no user; a review is the team's until it is resolved to one.
                let team = event.team_id.as_deref().unwrap_or("unknown");
                let mut lab = LabRecord::new("MATCH_REVIEW", &m.id, m.status.as_deref(), None);
                lab.extra
                    .push(("resolved_user_id", m.resolved_user_id.clone()));
                lab.extra
                    .push(("resolved_order_id", m.resolved_order_id.clone()));
                self.put_lab(keys::team(team), lab, event, meta).await
            }
            // Continuous query results, unknown events, and anything without a resource: kept whole.
            _ => {
                self.put_catch_all(event.raw.to_string().as_bytes(), meta, "no_typed_writer")
                    .await
            }
        }
    }

    /// A summary: replaced by a newer `updated_at`, never by an older one; without `updated_at`
    /// (workout streams) the newest message wins ([`svix_version`]).
    async fn put_summary(
        &self,
        user: &str,
        resource: Resource,
        summary: &Summary,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
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
        item.insert("data".into(), json(&summary.data));
        let version = updated.unwrap_or_else(|| canonical_from_millis(meta.received_at_ms));
        self.put_versioned(item, version).await
    }

    /// PutItem that only replaces an older or equal version.
    async fn put_versioned(&self, mut item: Item, version: String) -> Result<Written, StoreError> {
        item.insert(VERSION.into(), s(version.clone()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR attribute_not_exists(#v) OR #v <= :v",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", s(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Written {
                items: 1,
                write_units: units(out.consumed_capacity()),
                ..Written::default()
            }),
            Err(e) if is_condition_failed(&e) => Ok(Written {
                stale: 1,
                ..Written::default()
            }),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Unconditional PutItem of an item whose key makes it idempotent (history entries, catch-all).
    async fn put_plain(&self, item: Item) -> Result<Written, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(Written {
            items: 1,
            write_units: units(out.consumed_capacity()),
            ..Written::default()
        })
    }

    /// Timeseries samples into buckets (an hour or a quarter hour, by resource: [`BucketSpan`]), one
    /// read-merge-write per bucket: each sample an attribute keyed by its instant, so the latest value received for
    /// an instant replaces the earlier one.
    ///
    /// Why not `UpdateItem … SET s1 = :a, s2 = :b, …`: DynamoDB charges an update the size of the whole item
    /// either way, and an update expression stops at 4 KB (a few hundred samples), so a large batch would need
    /// several updates of the same growing item. One conditional PutItem per bucket costs one item's size.
    async fn put_samples(
        &self,
        user: &str,
        resource: Resource,
        batch: &TimeseriesBatch,
        raw_samples: &[Value],
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let provider = batch.source.provider.as_deref().unwrap_or("unknown");
        let source_type = batch.source.source_type.as_deref().unwrap_or("unknown");
        let span = BucketSpan::of(resource);
        // bucket start -> attribute -> compact sample; within one batch the later sample for an instant wins.
        let mut buckets: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for raw in raw_samples {
            let Some(dt) = raw
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_instant)
            else {
                return Err(StoreError::Rejected(
                    "a sample's timestamp is not a valid instant".into(),
                ));
            };
            let (start, name) = sample_attribute(span, &dt);
            buckets
                .entry(start)
                .or_default()
                .insert(name, compact_object(raw, &["timestamp"]));
        }
        let mut written = Written::default();
        for (start, samples) in &buckets {
            let bucket = Bucket {
                user,
                resource,
                start,
                provider,
                source_type,
            };
            written += self.merge_bucket(&bucket, samples, meta).await?;
        }
        Ok(written)
    }

    /// Merges samples into one bucket with optimistic concurrency on its `rev` attribute; a concurrent writer
    /// makes the condition fail and the merge start again from a fresh read.
    async fn merge_bucket(
        &self,
        bucket: &Bucket<'_>,
        samples: &BTreeMap<String, Value>,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let pk = keys::user(bucket.user);
        let sk = keys::bucket(
            bucket.resource,
            bucket.start,
            bucket.provider,
            bucket.source_type,
        );
        for attempt in 0..MAX_MERGE_ATTEMPTS {
            let current = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(pk.clone()))
                .key(SK, s(sk.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::from_sdk)?
                .item;
            let rev = current
                .as_ref()
                .and_then(|i| i.get(REV))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok());
            let mut item = current.unwrap_or_default();
            // A new bucket keeps the fields its first samples share; an existing one keeps what it was created with
            // (none, for a bucket written before shared fields existed).
            let shared = match item.get(BUCKET_SHARED).and_then(|v| v.as_s().ok()) {
                Some(text) => serde_json::from_str(text).map_err(|_| {
                    StoreError::Rejected("a bucket's shared fields are not a JSON object".into())
                })?,
                None if rev.is_some() => Map::new(),
                None => shared_fields(samples.values()),
            };
            let encoded: Vec<(&String, AttributeValue)> = samples
                .iter()
                .map(|(name, sample)| (name, encode_sample(sample, &shared)))
                .collect();
            let unchanged = encoded
                .iter()
                .all(|(name, value)| item.get(name.as_str()) == Some(value));
            if rev.is_some() && unchanged {
                // A redelivery that raced past the processed-marker: nothing to write.
                return Ok(Written {
                    samples: samples.len() as u32,
                    ..Written::default()
                });
            }
            item.insert(PK.into(), s(pk.clone()));
            item.insert(SK.into(), s(sk.clone()));
            item.insert(KIND.into(), s("timeseries"));
            item.insert("user_id".into(), s(bucket.user));
            item.insert("resource".into(), s(bucket.resource.as_str()));
            item.insert(BUCKET_START.into(), s(bucket.start));
            if rev.is_none() && !shared.is_empty() {
                item.insert(
                    BUCKET_SHARED.into(),
                    s(Value::Object(shared.clone()).to_string()),
                );
            }
            item.insert("provider".into(), s(bucket.provider));
            item.insert("source_type".into(), s(bucket.source_type));
            item.insert("svix_id".into(), s(meta.svix_id.clone()));
            item.insert(
                "received_at".into(),
                s(canonical_from_millis(meta.received_at_ms)),
            );
            item.insert(REV.into(), n(rev.unwrap_or(0) + 1));
            for (name, value) in encoded {
                item.insert(name.clone(), value);
            }
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            put = match rev {
                Some(r) => put
                    .condition_expression("#rev = :rev")
                    .expression_attribute_names("#rev", REV)
                    .expression_attribute_values(":rev", n(r)),
                None => put
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK),
            };
            match put.send().await {
                Ok(out) => {
                    return Ok(Written {
                        items: 1,
                        samples: samples.len() as u32,
                        write_units: units(out.consumed_capacity()),
                        ..Written::default()
                    });
                }
                Err(e) if is_condition_failed(&e) => {
                    // Another writer got there first: back off a little, re-read, merge again.
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
        }
        Err(StoreError::Service(
            "timeseries bucket contended past the retry limit".into(),
        ))
    }

    /// Connection state (the newest message wins, by [`svix_version`]) and a history entry for the event.
    async fn put_connection(
        &self,
        user: &str,
        provider: &str,
        state: Item,
        history_fields: Option<&[(&str, Option<&str>)]>,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let mut written = self.put_versioned(state, svix_version(meta)).await?;
        let mut event = base_item(
            keys::user(user),
            keys::connection_event(provider, &meta.svix_id),
            "connection_event",
            meta,
        );
        event.insert("provider".into(), s(provider));
        for (name, value) in history_fields.unwrap_or(&[]) {
            put_opt(&mut event, name, *value);
        }
        written += self.put_plain(event).await?;
        Ok(written)
    }

    /// The historical pull window per (user, provider, resource). An UpdateItem, so that fields kept by a
    /// backfill fetcher on the same record survive.
    async fn put_backfill(
        &self,
        user: &str,
        resource: Resource,
        pull: &crate::events::HistoricalPull,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let version = svix_version(meta);
        let mut sets: Vec<(&str, AttributeValue)> = vec![
            (KIND, s("backfill")),
            ("user_id", s(user)),
            ("provider", s(pull.provider.clone())),
            ("resource", s(resource.as_str())),
            (
                "completed_at",
                s(canonical_from_millis(meta.received_at_ms)),
            ),
            ("svix_id", s(meta.svix_id.clone())),
            (VERSION, s(version.clone())),
        ];
        if let Some(v) = pull.start_date.as_deref().and_then(canonicalize) {
            sets.push(("start_date", s(v)));
        }
        if let Some(v) = pull.end_date.as_deref().and_then(canonicalize) {
            sets.push(("end_date", s(v)));
        }
        if let Some(v) = pull.is_final {
            sets.push(("is_final", AttributeValue::Bool(v)));
        }
        let mut expr = String::from("SET ");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::user(user)))
            .key(SK, s(keys::backfill(&pull.provider, resource)))
            .condition_expression(
                "attribute_not_exists(#pk) OR attribute_not_exists(#v) OR #v <= :v",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", s(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (i, (name, value)) in sets.into_iter().enumerate() {
            if i > 0 {
                expr.push_str(", ");
            }
            expr.push_str(&format!("#a{i} = :a{i}"));
            req = req
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value);
        }
        match req.update_expression(expr).send().await {
            Ok(out) => Ok(Written {
                items: 1,
                write_units: units(out.consumed_capacity()),
                ..Written::default()
            }),
            Err(e) if is_condition_failed(&e) => Ok(Written {
                stale: 1,
                ..Written::default()
            }),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// A lab record's current state (newest `updated_at`, else Svix timestamp) and a status-history entry.
    async fn put_lab(
        &self,
        pk: String,
        lab: LabRecord<'_>,
        event: &Event,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let mut state = base_item(pk.clone(), keys::lab(lab.kind, lab.id), "lab", meta);
        state.insert("lab_kind".into(), s(lab.kind));
        state.insert("record_id".into(), s(lab.id));
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
            json(event.raw.get("data").unwrap_or(&Value::Null)),
        );
        let version = updated.unwrap_or_else(|| svix_version(meta));
        let mut written = self.put_versioned(state, version).await?;

        let mut history = base_item(
            pk,
            keys::lab_event(lab.kind, lab.id, &meta.svix_id),
            "lab_event",
            meta,
        );
        history.insert("lab_kind".into(), s(lab.kind));
        history.insert("record_id".into(), s(lab.id));
        put_opt(&mut history, "status", lab.status);
        written += self.put_plain(history).await?;
        Ok(written)
    }

    /// Keeps a message whole, with its Svix id, event type and receive time, so that it can be replayed through
    /// routing later. Bodies over 350 KB keep their claim-check location instead of the bytes.
    pub async fn put_catch_all(
        &self,
        body: &[u8],
        meta: &MessageMeta,
        reason: &str,
    ) -> Result<Written, StoreError> {
        let mut item = base_item(
            CATCH_ALL_PK.into(),
            keys::message(&meta.svix_id),
            "catch_all",
            meta,
        );
        item.insert("reason".into(), s(reason));
        item.insert("family".into(), s(meta.family.as_str()));
        item.insert("svix_timestamp".into(), n(meta.svix_timestamp));
        item.insert("size".into(), n(body.len()));
        if body.len() <= CATCH_ALL_INLINE_MAX {
            match std::str::from_utf8(body) {
                Ok(text) => item.insert("body".into(), s(text)),
                Err(_) => item.insert("body_bytes".into(), AttributeValue::B(body.to_vec().into())),
            };
        } else {
            item.insert("body_truncated".into(), AttributeValue::Bool(true));
        }
        self.put_plain(item).await
    }
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

fn source_attributes(item: &mut Item, source: &Source) {
    put_opt(item, "provider", source.provider.as_deref());
    put_opt(item, "source_type", source.source_type.as_deref());
}

/// Which bucket samples go to.
struct Bucket<'a> {
    user: &'a str,
    resource: Resource,
    start: &'a str,
    provider: &'a str,
    source_type: &'a str,
}

struct LabRecord<'a> {
    kind: &'static str,
    id: &'a str,
    status: Option<&'a str>,
    updated_at: Option<&'a str>,
    extra: Vec<(&'static str, Option<String>)>,
}

impl<'a> LabRecord<'a> {
    fn new(
        kind: &'static str,
        id: &'a str,
        status: Option<&'a str>,
        updated_at: Option<&'a str>,
    ) -> Self {
        Self {
            kind,
            id,
            status,
            updated_at,
            extra: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_svix_message_id_versions_state_by_its_creation_time() {
        use svix_ksuid::KsuidLike;
        let meta = |id: &str, attempt_ts: i64| MessageMeta {
            svix_id: id.into(),
            event_type: "provider.connection.created".into(),
            family: crate::family::Family::Connections,
            svix_timestamp: attempt_ts,
            received_at_ms: attempt_ts * 1000,
        };
        let id_at = |ms: i64, fill: u8| {
            format!(
                "msg_{}",
                svix_ksuid::KsuidMs::from_millis(Some(ms), Some(&[fill; 15])).to_base62()
            )
        };
        let (older, newer) = (id_at(1_732_000_000_000, 0xff), id_at(1_732_000_000_250, 0));
        assert_eq!(message_created_ms(&older), Some(1_732_000_000_000));
        // KsuidMs keeps 1/256 s, so 250 ms reads back within 4 ms.
        assert!(
            message_created_ms(&newer)
                .unwrap()
                .abs_diff(1_732_000_000_250)
                < 4
        );
        // A retry of the older message, signed an hour later, still sorts below the newer one.
        let retried = svix_version(&meta(&older, 1_732_003_600));
        let first = svix_version(&meta(&older, 1_732_000_000));
        assert_eq!(retried, first);
        assert!(retried < svix_version(&meta(&newer, 1_732_000_001)));
        // Not a KSUID (Svix's documentation example, a local tool's id): the attempt's timestamp.
        assert_eq!(
            svix_version(&meta("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330)),
            canonical_from_millis(1_614_265_330_000)
        );
        assert_eq!(message_created_ms("msg_local_1"), None);
        assert_eq!(message_created_ms(&older.replace("msg_", "evt_")), None);
    }

    #[test]
    fn sample_attribute_is_a_function_of_the_instant() {
        let hour = BucketSpan::Hour;
        let a = parse_instant("2024-11-24T10:59:59+00:00").unwrap();
        let b = parse_instant("2024-11-24T11:59:59+01:00").unwrap();
        assert_eq!(
            sample_attribute(hour, &a),
            ("2024-11-24T10".into(), "s3599".into())
        );
        assert_eq!(sample_attribute(hour, &a), sample_attribute(hour, &b));
        let c = parse_instant("2024-11-24T10:00:00.5Z").unwrap();
        assert_eq!(
            sample_attribute(hour, &c),
            ("2024-11-24T10".into(), "u500000".into())
        );
        let d = parse_instant("2024-11-24T10:00:00Z").unwrap();
        assert_eq!(sample_attribute(hour, &d).1, "s0");
    }

    #[test]
    fn quarter_hour_buckets_start_at_00_15_30_45() {
        let q = BucketSpan::QuarterHour;
        let at = |s: &str| sample_attribute(q, &parse_instant(s).unwrap());
        assert_eq!(
            at("2024-11-24T10:00:00Z"),
            ("2024-11-24T10:00".into(), "s0".into())
        );
        assert_eq!(
            at("2024-11-24T10:14:59Z"),
            ("2024-11-24T10:00".into(), "s899".into())
        );
        assert_eq!(
            at("2024-11-24T11:15:00+01:00"),
            ("2024-11-24T10:15".into(), "s0".into())
        );
        assert_eq!(
            at("2024-11-24T10:59:59.25Z"),
            ("2024-11-24T10:45".into(), "u899250000".into())
        );
        assert_eq!(
            BucketSpan::start_of("2024-11-24T10:45"),
            parse_instant("2024-11-24T10:45:00Z")
        );
        assert_eq!(
            BucketSpan::start_of("2024-11-24T10"),
            parse_instant("2024-11-24T10:00:00Z")
        );
        assert_eq!(BucketSpan::start_of("2024-11-24"), None);
        assert_eq!(BucketSpan::of(Resource::Heartrate), q);
        assert_eq!(BucketSpan::of(Resource::Glucose), BucketSpan::Hour);
    }

    #[test]
    fn shared_fields_are_those_every_sample_has_alike_value_aside() {
        let samples = [
            serde_json::json!({"value": 72, "unit": "bpm", "timezone_offset": 3600}),
            serde_json::json!({"value": 73, "unit": "bpm", "timezone_offset": 7200}),
        ];
        let want = serde_json::json!({"unit": "bpm"});
        assert_eq!(
            Value::Object(shared_fields(&samples)),
            want,
            "timezone_offset differs"
        );
        assert_eq!(shared_fields(&[]), Map::new());
        assert_eq!(shared_fields(&[serde_json::json!(72)]), Map::new());
    }

    #[test]
    fn a_sample_is_a_number_only_when_that_reads_back_exactly() {
        let shared = serde_json::json!({"unit": "bpm", "timezone_offset": 3600});
        let shared = shared.as_object().unwrap();
        let n = |text: &str| AttributeValue::N(text.into());
        // JSON keeps the sample's fields in the order Junction sent them.
        for (sample, want) in [
            (
                serde_json::json!({"value": 72, "unit": "bpm", "timezone_offset": 3600}),
                n("72"),
            ),
            (
                serde_json::json!({"value": -0.12, "unit": "bpm", "timezone_offset": 3600}),
                n("-0.12"),
            ),
            // 72.0 would come back from DynamoDB as 72, an integer: kept as JSON.
            (
                serde_json::json!({"value": 72.0, "unit": "bpm", "timezone_offset": 3600}),
                s(r#"{"value":72.0,"unit":"bpm","timezone_offset":3600}"#),
            ),
            (
                serde_json::json!({"value": 1e-7, "unit": "bpm", "timezone_offset": 3600}),
                s(r#"{"value":1e-7,"unit":"bpm","timezone_offset":3600}"#),
            ),
            // Another unit, a missing or an extra field, no numeric value: the sample whole.
            (
                serde_json::json!({"value": 72, "unit": "count/min", "timezone_offset": 3600}),
                s(r#"{"value":72,"unit":"count/min","timezone_offset":3600}"#),
            ),
            (
                serde_json::json!({"value": 72, "unit": "bpm"}),
                s(r#"{"value":72,"unit":"bpm"}"#),
            ),
            (
                serde_json::json!({"value": 72, "unit": "bpm", "timezone_offset": 3600, "type": "x"}),
                s(r#"{"value":72,"unit":"bpm","timezone_offset":3600,"type":"x"}"#),
            ),
            (
                serde_json::json!({"systolic": 120, "diastolic": 80, "unit": "bpm", "timezone_offset": 3600}),
                s(r#"{"systolic":120,"diastolic":80,"unit":"bpm","timezone_offset":3600}"#),
            ),
            (
                serde_json::json!({"value": "72", "unit": "bpm", "timezone_offset": 3600}),
                s(r#"{"value":"72","unit":"bpm","timezone_offset":3600}"#),
            ),
        ] {
            assert_eq!(encode_sample(&sample, shared), want, "{sample}");
        }
        assert_eq!(
            encode_sample(&serde_json::json!({"value": 5}), &Map::new()),
            n("5")
        );
    }

    #[test]
    fn compact_object_drops_nulls_and_the_timestamp() {
        let v = serde_json::json!({"id": null, "timestamp": "x", "value": 72, "unit": "bpm", "grouping": []});
        assert_eq!(
            compact_object(&v, &["timestamp"]),
            serde_json::json!({"value": 72, "unit": "bpm", "grouping": []})
        );
    }
}
