//! Reads every kind of stored record back (used by `jwh query`, the tests and the backfill tools).
//!
//! The access patterns the table is laid out for (see [`crate::store`]): everything of one user; one resource of
//! one user; one resource of one user over a time range. Timeseries buckets are expanded into one
//! [`StoredSample`] per sample.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::events::Resource;
use crate::store::plan;
use crate::store::time::canonical;
use crate::store::version::OwnerRuns;
use crate::store::{BucketSpan, CATCH_ALL_PK, KIND, PK, SK, Store, StoreError, keys};

/// Any stored record, its attributes as JSON (`data` fields parsed back into JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRecord {
    /// `summary`, `timeseries`, `connection`, `connection_event`, `device`, `backfill`, `lab`, `lab_event`,
    /// `catch_all`.
    pub kind: String,
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Every other attribute.
    pub attributes: Map<String, Value>,
}

impl StoredRecord {
    /// A string attribute.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }
}

/// One timeseries sample, expanded from its bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSample {
    /// Junction user id.
    pub user_id: String,
    /// Resource (`heartrate`).
    pub resource: String,
    /// Source provider (`apple_health_kit`).
    pub provider: String,
    /// Source type (`watch`).
    pub source_type: String,
    /// `source.app_id`, when the batch had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `source.device_id` (Junction's device id), when the batch had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `source.workout_id`, when the batch had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workout_id: Option<String>,
    /// `source.sport`, when the batch had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<String>,
    /// The sample's instant, canonical UTC (`2024-11-24T10:00:00.000000Z`).
    pub timestamp: String,
    /// When the message that wrote this value was created (its version), canonical UTC.
    pub message_created_at: String,
    /// The sample as Junction sent it, minus its timestamp and null fields (its `type` included).
    pub sample: Value,
}

fn to_json(name: &str, v: &AttributeValue) -> Value {
    match v {
        // A record's document, text or compressed (`plan::decode_document`): text that is not JSON stays text,
        // bytes that do not inflate to JSON read as null.
        AttributeValue::S(_) | AttributeValue::B(_) if name == "data" => plan::decode_document(v)
            .unwrap_or_else(|| v.as_s().map_or(Value::Null, |s| Value::String(s.clone()))),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => serde_json::from_str(n).unwrap_or(Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::B(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
        }
        AttributeValue::L(l) => Value::Array(l.iter().map(|v| to_json("", v)).collect()),
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(k, v))).collect())
        }
        AttributeValue::Ss(l) => Value::Array(l.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(l) => Value::Array(
            l.iter()
                .map(|n| serde_json::from_str(n).unwrap_or(Value::Null))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A stored item as a record: its attributes as JSON (`data` parsed back).
pub fn to_record(mut item: HashMap<String, AttributeValue>) -> StoredRecord {
    let take = |item: &mut HashMap<String, AttributeValue>, k: &str| match item.remove(k) {
        Some(AttributeValue::S(s)) => s,
        _ => String::new(),
    };
    let pk = take(&mut item, PK);
    let sk = take(&mut item, SK);
    let kind = take(&mut item, KIND);
    let attributes = item
        .iter()
        .map(|(k, v)| (k.clone(), to_json(k, v)))
        .collect();
    StoredRecord {
        kind,
        pk,
        sk,
        attributes,
    }
}

/// Expands a timeseries bucket record into its samples, in time order. The user, resource, bucket start and series
/// come from the keys; each sample's version from the bucket's owner runs.
pub fn expand_bucket(record: &StoredRecord) -> Vec<StoredSample> {
    let Some((resource, start_label, series)) = keys::parse_bucket(&record.sk) else {
        return Vec::new();
    };
    let Some(start) = BucketSpan::start_of(&start_label) else {
        return Vec::new();
    };
    let user_id = keys::unpart(record.pk.strip_prefix("USER#").unwrap_or(&record.pk));
    let shared: Map<String, Value> = record
        .get_str(plan::BUCKET_SHARED)
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let mut stored: Vec<(u64, &Value)> = record
        .attributes
        .iter()
        .filter_map(|(name, v)| Some((plan::sample_offset(name)?, v)))
        .collect();
    stored.sort_by_key(|(offset, _)| *offset);
    let runs = record
        .get_str(plan::BUCKET_OWNERS)
        .and_then(OwnerRuns::decode)
        .unwrap_or_default();
    let mut versions = runs.versions();
    stored
        .into_iter()
        .filter_map(|(offset, v)| {
            let version = versions.next().unwrap_or_default();
            let value = match v {
                Value::Number(n) => AttributeValue::N(n.to_string()),
                Value::String(text) => AttributeValue::S(text.clone()),
                _ => return None,
            };
            let instant = start + Duration::microseconds(i64::try_from(offset).ok()?);
            let sample = plan::decode_sample(&value, &shared)?;
            Some(StoredSample {
                user_id: user_id.clone(),
                resource: resource.as_str().to_owned(),
                provider: series.provider.clone(),
                source_type: series.source_type.clone(),
                app_id: series.app_id.clone(),
                device_id: series.device_id.clone(),
                workout_id: series.workout_id.clone(),
                sport: series.sport.clone(),
                timestamp: canonical(&instant),
                message_created_at: version.created_at(),
                sample: plan::expand_sample(sample, &instant),
            })
        })
        .collect()
}

impl Store {
    /// All items of a partition whose sort key is between `from` and `to` (inclusive) or starts with `prefix`.
    async fn query_items(
        &self,
        pk: &str,
        condition: SortCondition<'_>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let (items, next) = self.query_page(pk, condition, start.take(), None).await?;
            out.extend(items);
            match next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// One Query page (at most `limit` items); the key to go on from, unless it was the last.
    async fn query_page(
        &self,
        pk: &str,
        condition: SortCondition<'_>,
        start: Option<HashMap<String, AttributeValue>>,
        limit: Option<i32>,
    ) -> Result<(Vec<StoredRecord>, Option<HashMap<String, AttributeValue>>), StoreError> {
        {
            let mut req = self
                .client()
                .query()
                .table_name(self.table())
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_limit(limit)
                .set_exclusive_start_key(start);
            req = match condition {
                SortCondition::All => req.key_condition_expression("#pk = :pk"),
                SortCondition::Prefix(p) => req
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":p", AttributeValue::S(p.to_owned())),
                SortCondition::Between(a, b) => req
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :a AND :b")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":a", AttributeValue::S(a.to_owned()))
                    .expression_attribute_values(":b", AttributeValue::S(b.to_owned())),
            };
            let page = req.send().await.map_err(StoreError::from_sdk)?;
            let items = page.items.unwrap_or_default().into_iter().map(to_record);
            Ok((
                items.collect(),
                page.last_evaluated_key.filter(|k| !k.is_empty()),
            ))
        }
    }

    /// A reader of a user's buckets of one resource from the bucket holding `from` to the one holding `to`, in
    /// key order (bucket start, then series), a Query page at a time: for reads that stop once they have enough.
    pub fn buckets(
        &self,
        user_id: &str,
        resource: Resource,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BucketReader<'_> {
        let prefix = keys::bucket_prefix(resource);
        BucketReader {
            store: self,
            pk: keys::user(user_id),
            lo: format!("{prefix}{}", from.format("%Y-%m-%dT%H")),
            hi: format!("{prefix}{}~", to.format("%Y-%m-%dT%H")),
            start: None,
            exhausted: false,
        }
    }

    /// Every record of a user (summaries, timeseries buckets, connections, devices, backfills, lab records).
    pub async fn user_records(&self, user_id: &str) -> Result<Vec<StoredRecord>, StoreError> {
        self.query_items(&keys::user(user_id), SortCondition::All)
            .await
    }

    /// A user's records whose sort key starts with `prefix` (`CONN#`, `DEVICE#`, `BACKFILL#`, `LAB#`, …).
    pub async fn user_records_with_prefix(
        &self,
        user_id: &str,
        prefix: &str,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.query_items(&keys::user(user_id), SortCondition::Prefix(prefix))
            .await
    }

    /// A user's summaries of one resource.
    pub async fn summaries(
        &self,
        user_id: &str,
        resource: Resource,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.user_records_with_prefix(user_id, &keys::summary_prefix(resource))
            .await
    }

    /// A user's summaries of one resource whose date (`calendar_date`, else the UTC date of their start) is within
    /// `[from, to]`, in date order: one Query of the [`crate::store::BY_DAY_INDEX`] index for their keys, then
    /// BatchGetItem for the records (strongly consistent), whatever the number of the user's other summaries.
    pub async fn summaries_between(
        &self,
        user_id: &str,
        resource: Resource,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let lo = keys::summary_day(resource, &from.format("%Y-%m-%d").to_string(), "");
        let hi = format!(
            "{}~",
            keys::summary_day(resource, &to.format("%Y-%m-%d").to_string(), "")
        );
        let mut keys_found: Vec<(String, String)> = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(crate::store::BY_DAY_INDEX)
                .key_condition_expression("#pk = :pk AND #day BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#day", crate::store::DAY)
                .expression_attribute_values(":pk", AttributeValue::S(keys::user(user_id)))
                .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in page.items() {
                if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                    (item.get(PK), item.get(SK))
                {
                    keys_found.push((pk.clone(), sk.clone()));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let mut records = Vec::with_capacity(keys_found.len());
        for chunk in keys_found.chunks(100) {
            let pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([
                        (PK.to_owned(), AttributeValue::S(pk.clone())),
                        (SK.to_owned(), AttributeValue::S(sk.clone())),
                    ])
                })
                .collect();
            let found = crate::store::until_processed(pending, "reads", |pending| async move {
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Rejected(e.to_string()))?;
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                let found = out
                    .responses
                    .and_then(|mut m| m.remove(self.table()))
                    .unwrap_or_default();
                let left = out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(self.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                Ok((found, left))
            })
            .await?;
            records.extend(found.into_iter().map(to_record));
        }
        // A record that changed date since the index was read is not in the range any more.
        records.retain(|r| {
            r.get_str(crate::store::DAY)
                .is_some_and(|d| lo.as_str() <= d && d <= hi.as_str())
        });
        records.sort_by(|a, b| {
            a.get_str(crate::store::DAY)
                .cmp(&b.get_str(crate::store::DAY))
        });
        Ok(records)
    }

    /// A user's samples of one resource, optionally within `[from, to]`, in time order.
    pub async fn samples(
        &self,
        user_id: &str,
        resource: Resource,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let prefix = keys::bucket_prefix(resource);
        let lo = from.map(|t| format!("{prefix}{}", t.format("%Y-%m-%dT%H")));
        let hi = to.map(|t| format!("{prefix}{}~", t.format("%Y-%m-%dT%H")));
        let buckets = match (&lo, &hi) {
            (None, None) => self.user_records_with_prefix(user_id, &prefix).await?,
            _ => {
                let a = lo.unwrap_or_else(|| prefix.clone());
                let b = hi.unwrap_or_else(|| format!("{prefix}~"));
                self.query_items(&keys::user(user_id), SortCondition::Between(&a, &b))
                    .await?
            }
        };
        let (from, to) = (from.map(|t| canonical(&t)), to.map(|t| canonical(&t)));
        let mut samples: Vec<StoredSample> = buckets
            .iter()
            .flat_map(expand_bucket)
            .filter(|s| from.as_ref().is_none_or(|f| &s.timestamp >= f))
            .filter(|s| to.as_ref().is_none_or(|t| &s.timestamp <= t))
            .collect();
        samples.sort_by(|a, b| {
            (&a.timestamp, &a.provider, &a.source_type, &a.device_id).cmp(&(
                &b.timestamp,
                &b.provider,
                &b.source_type,
                &b.device_id,
            ))
        });
        Ok(samples)
    }

    /// A workout's fetched stream, put back together from its parts; `None` until one is fetched, or while a
    /// newer fetch is still replacing the parts (they disagree on the version).
    pub async fn workout_stream(
        &self,
        user_id: &str,
        workout_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let prefix = keys::workout_stream(workout_id, 0);
        let prefix = prefix.trim_end_matches("0000");
        let parts = self.user_records_with_prefix(user_id, prefix).await?;
        let Some(count) = parts
            .first()
            .and_then(|p| p.attributes.get("parts"))
            .and_then(Value::as_u64)
        else {
            return Ok(None);
        };
        let version = parts[0].get_str(plan::VERSION);
        let mut text = String::new();
        for i in 0..count as usize {
            let Some(part) = parts
                .get(i)
                .filter(|p| p.sk == keys::workout_stream(workout_id, i))
            else {
                return Ok(None);
            };
            if part.get_str(plan::VERSION) != version {
                return Ok(None);
            }
            text.push_str(part.get_str("stream").unwrap_or_default());
        }
        Ok(serde_json::from_str(&text).ok())
    }

    /// A team's records (lab match reviews, which name no user).
    pub async fn team_records(&self, team_id: &str) -> Result<Vec<StoredRecord>, StoreError> {
        self.query_items(&keys::team(team_id), SortCondition::All)
            .await
    }

    /// Every catch-all record (unknown, unparseable and continuous-query messages), for inspection and replay.
    /// (The parts of large bodies are not records of their own: [`Store::catch_all_body`] reads them.)
    /// Read from every catch-all partition ([`keys::catch_all_partitions`]), in message order (Svix ids are KSUIDs).
    pub async fn catch_all_records(&self) -> Result<Vec<StoredRecord>, StoreError> {
        let mut records = Vec::new();
        for pk in keys::catch_all_partitions() {
            records.extend(self.query_items(&pk, SortCondition::All).await?);
        }
        records.retain(|r| r.kind != "catch_all_part");
        records.sort_by(|a, b| a.sk.cmp(&b.sk));
        Ok(records)
    }

    /// The catch-all record of one message.
    pub async fn catch_all_record(
        &self,
        svix_id: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let key = keys::message(svix_id);
        // Its own partition; a record kept before the records were spread is in the old one.
        for pk in [keys::catch_all(svix_id), CATCH_ALL_PK.to_owned()] {
            let found = self
                .query_items(&pk, SortCondition::Between(&key, &key))
                .await?
                .into_iter()
                .next();
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The body a catch-all record kept, inline or in parts; `None` without a record, or for a body that is not
    /// UTF-8.
    pub async fn catch_all_body(&self, svix_id: &str) -> Result<Option<String>, StoreError> {
        let Some(record) = self.catch_all_record(svix_id).await? else {
            return Ok(None);
        };
        if let Some(body) = record.get_str("body") {
            return Ok(Some(body.to_owned()));
        }
        let Some(count) = record.attributes.get("parts").and_then(Value::as_u64) else {
            return Ok(None);
        };
        let prefix = format!("{}#PART#", keys::message(svix_id));
        let parts = self
            .query_items(&record.pk, SortCondition::Prefix(&prefix))
            .await?;
        if parts.len() as u64 != count {
            return Ok(None);
        }
        Ok(parts
            .iter()
            .map(|p| p.get_str("body"))
            .collect::<Option<String>>())
    }
}

/// Reads buckets a Query page at a time ([`Store::buckets`]).
pub struct BucketReader<'a> {
    store: &'a Store,
    pk: String,
    lo: String,
    hi: String,
    start: Option<HashMap<String, AttributeValue>>,
    exhausted: bool,
}

impl BucketReader<'_> {
    /// The next page of at most `limit` buckets; empty once every bucket is read.
    pub async fn next(&mut self, limit: i32) -> Result<Vec<StoredRecord>, StoreError> {
        if self.exhausted {
            return Ok(Vec::new());
        }
        let (items, next) = self
            .store
            .query_page(
                &self.pk,
                SortCondition::Between(&self.lo, &self.hi),
                self.start.take(),
                Some(limit),
            )
            .await?;
        self.exhausted = next.is_none();
        self.start = next;
        Ok(items)
    }

    /// Whether every bucket has been read.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }
}

#[derive(Clone, Copy)]
enum SortCondition<'a> {
    All,
    Prefix(&'a str),
    Between(&'a str, &'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's document reads back as JSON whether it was stored as text or compressed; a corrupt one reads as
    /// null and a text one that is not JSON as its text, instead of failing the whole read.
    #[test]
    fn documents_read_back_text_or_compressed_and_corrupt_ones_do_not_fail_the_read() {
        let document = serde_json::json!({"id": "s1", "score": 80, "hypnogram": [1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3, 4, 4]});
        let packed = miniz_oxide::deflate::compress_to_vec(document.to_string().as_bytes(), 6);
        let read = |data: AttributeValue| {
            to_record(HashMap::from([
                (PK.to_owned(), AttributeValue::S("USER#u1".into())),
                (SK.to_owned(), AttributeValue::S("SUM#sleep#s1".into())),
                ("data".to_owned(), data),
            ]))
            .attributes["data"]
                .clone()
        };
        assert_eq!(read(AttributeValue::B(packed.into())), document);
        assert_eq!(read(AttributeValue::S(document.to_string())), document);
        assert_eq!(
            read(AttributeValue::B(vec![0xff, 0, 0x13].into())),
            Value::Null
        );
        assert_eq!(
            read(AttributeValue::S("not json".into())),
            Value::String("not json".into())
        );
    }

    fn bucket(sk: &str, attributes: Value) -> StoredRecord {
        StoredRecord {
            kind: "timeseries".into(),
            pk: "USER#u".into(),
            sk: sk.into(),
            attributes: attributes.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn a_number_is_the_value_plus_the_shared_fields_a_string_the_sample_whole() {
        let record = bucket(
            "TS#heartrate#2024-11-24T10:15#p#watch#d=dev%231",
            serde_json::json!({
                "rev": 3, "d": "{\"timezone_offset\":3600,\"unit\":\"bpm\"}", "o": "2:mgx3b2k1a3,1:mgx3b2k2a3",
                "s0": 72, "s5": 72.5, "u10500000": "{\"unit\":\"count/min\",\"value\":73}",
            }),
        );
        let samples = expand_bucket(&record);
        let got: Vec<(String, Value)> = samples
            .iter()
            .map(|s| (s.timestamp.clone(), s.sample.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "2024-11-24T10:15:00.000000Z".into(),
                    serde_json::json!({"timezone_offset": 3600, "unit": "bpm", "value": 72})
                ),
                (
                    "2024-11-24T10:15:05.000000Z".into(),
                    serde_json::json!({"timezone_offset": 3600, "unit": "bpm", "value": 72.5})
                ),
                (
                    "2024-11-24T10:15:10.500000Z".into(),
                    serde_json::json!({"unit": "count/min", "value": 73})
                ),
            ]
        );
        assert!(samples.iter().all(|s| s.user_id == "u"
            && s.resource == "heartrate"
            && s.provider == "p"
            && s.device_id.as_deref() == Some("dev#1")));
        assert_eq!(samples[0].message_created_at, samples[1].message_created_at);
        assert!(samples[1].message_created_at < samples[2].message_created_at);
    }

    #[test]
    fn an_interval_comes_back_with_its_start_and_end() {
        let record = bucket(
            "TS#steps#2024-11-24T10#apple_health_kit#watch",
            serde_json::json!({"d": "{\"unit\":\"count\",\"~e\":60}", "s120": 12, "s0": "{\"value\":3,\"~eu\":500000}"}),
        );
        let got: Vec<Value> = expand_bucket(&record)
            .into_iter()
            .map(|s| s.sample)
            .collect();
        assert_eq!(
            got,
            vec![
                serde_json::json!({"value": 3, "start": "2024-11-24T10:00:00+00:00", "end": "2024-11-24T10:00:00.500000+00:00"}),
                serde_json::json!({"unit": "count", "value": 12, "start": "2024-11-24T10:02:00+00:00", "end": "2024-11-24T10:03:00+00:00"}),
            ]
        );
    }

    #[test]
    fn a_key_that_is_not_a_bucket_expands_to_nothing() {
        assert!(expand_bucket(&bucket("SUM#sleep#x", serde_json::json!({"s0": 1}))).is_empty());
    }
}
