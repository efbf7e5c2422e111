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
use crate::store::time::canonical;
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
    /// The sample's instant, canonical UTC (`2024-11-24T10:00:00.000000Z`).
    pub timestamp: String,
    /// The sample as Junction sent it, minus its timestamp and null fields.
    pub sample: Value,
}

fn to_json(name: &str, v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) if name == "data" => {
            serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
        }
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

fn to_record(mut item: HashMap<String, AttributeValue>) -> StoredRecord {
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

/// Whether a bucket attribute holds a sample (`s{seconds}` / `u{micros}`), and its offset from the bucket's start.
fn sample_offset(name: &str) -> Option<Duration> {
    let (unit, digits) = name.split_at_checked(1)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    match unit {
        "s" => Some(Duration::seconds(v)),
        "u" => Some(Duration::microseconds(v)),
        _ => None,
    }
}

/// Expands a timeseries bucket record into its samples, in time order.
///
/// A sample attribute is either a number, the sample's `value`, whose other fields are the bucket's shared fields
/// (attribute `d`, a JSON object); or a string, the sample's compact JSON whole. Buckets start at their `start`
/// attribute (`2024-11-24T10`, `2024-11-24T10:15`), or at `hour` in buckets written before quarter-hour buckets.
pub fn expand_bucket(record: &StoredRecord) -> Vec<StoredSample> {
    let get = |k: &str| record.get_str(k).unwrap_or_default().to_owned();
    let Some(start) = record
        .get_str("start")
        .or(record.get_str("hour"))
        .and_then(BucketSpan::start_of)
    else {
        return Vec::new();
    };
    let shared: Map<String, Value> = record
        .get_str("d")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let mut samples: Vec<StoredSample> = record
        .attributes
        .iter()
        .filter_map(|(name, v)| {
            let offset = sample_offset(name)?;
            let sample = match v {
                Value::Number(_) => {
                    let mut sample = shared.clone();
                    sample.insert("value".into(), v.clone());
                    Value::Object(sample)
                }
                Value::String(text) => {
                    serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
                }
                _ => return None,
            };
            Some(StoredSample {
                user_id: get("user_id"),
                resource: get("resource"),
                provider: get("provider"),
                source_type: get("source_type"),
                timestamp: canonical(&(start + offset)),
                sample,
            })
        })
        .collect();
    samples.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    samples
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
            let mut req = self
                .client()
                .query()
                .table_name(self.table())
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_exclusive_start_key(start.take());
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
            out.extend(page.items.unwrap_or_default().into_iter().map(to_record));
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
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
            (&a.timestamp, &a.provider, &a.source_type).cmp(&(
                &b.timestamp,
                &b.provider,
                &b.source_type,
            ))
        });
        Ok(samples)
    }

    /// A team's records (lab match reviews, which name no user).
    pub async fn team_records(&self, team_id: &str) -> Result<Vec<StoredRecord>, StoreError> {
        self.query_items(&keys::team(team_id), SortCondition::All)
            .await
    }

    /// Every catch-all record (unknown, unparseable and continuous-query messages), for inspection and replay.
    pub async fn catch_all_records(&self) -> Result<Vec<StoredRecord>, StoreError> {
        self.query_items(CATCH_ALL_PK, SortCondition::All).await
    }

    /// The catch-all record of one message.
    pub async fn catch_all_record(
        &self,
        svix_id: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let key = keys::message(svix_id);
        Ok(self
            .query_items(CATCH_ALL_PK, SortCondition::Between(&key, &key))
            .await?
            .into_iter()
            .next())
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

    fn bucket(attributes: Value) -> StoredRecord {
        StoredRecord {
            kind: "timeseries".into(),
            pk: "USER#u".into(),
            sk: "TS#heartrate#2024-11-24T10:15#p#watch".into(),
            attributes: attributes.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn buckets_expand_into_samples_in_time_order() {
        // As buckets were written before quarter-hour buckets and shared fields: `hour`, every sample JSON.
        let record = bucket(serde_json::json!({
            "hour": "2024-11-24T10", "user_id": "u", "resource": "heartrate", "provider": "p",
            "source_type": "watch", "svix_id": "msg_1",
            "s60": "{\"value\":75}", "s0": "{\"value\":72}", "u500000": "{\"value\":73}"
        }));
        let samples = expand_bucket(&record);
        let got: Vec<(&str, i64)> = samples
            .iter()
            .map(|s| (s.timestamp.as_str(), s.sample["value"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2024-11-24T10:00:00.000000Z", 72),
                ("2024-11-24T10:00:00.500000Z", 73),
                ("2024-11-24T10:01:00.000000Z", 75)
            ]
        );
    }

    #[test]
    fn a_number_is_the_value_plus_the_shared_fields_a_string_the_sample_whole() {
        let record = bucket(serde_json::json!({
            "start": "2024-11-24T10:15", "user_id": "u", "resource": "heartrate", "provider": "p",
            "source_type": "watch", "rev": 3, "d": "{\"timezone_offset\":3600,\"unit\":\"bpm\"}",
            "s0": 72, "s5": 72.5, "s10": "{\"unit\":\"count/min\",\"value\":73}",
        }));
        let got: Vec<(String, Value)> = expand_bucket(&record)
            .into_iter()
            .map(|s| (s.timestamp, s.sample))
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
                    "2024-11-24T10:15:10.000000Z".into(),
                    serde_json::json!({"unit": "count/min", "value": 73})
                ),
            ]
        );
    }

    #[test]
    fn only_sample_attributes_are_samples() {
        assert_eq!(sample_offset("s3599"), Some(Duration::seconds(3599)));
        assert_eq!(sample_offset("u1"), Some(Duration::microseconds(1)));
        for name in ["svix_id", "source_type", "s", "u", "s1x", "x1"] {
            assert_eq!(sample_offset(name), None, "{name}");
        }
    }
}
