//! The executor: carries out a [`plan`](super::plan) against DynamoDB. The rules (keys, versions, merges) are
//! in [`super::plan`]; this module only sends the writes and reads what a merge needs.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::plan::{self, BucketWrite, Item, Merge, REV, VERSION, Write};
use super::{PK, SK, Store, StoreError, Written, is_condition_failed, units};
use crate::envelope::MessageMeta;
use crate::events::Event;

/// Read-merge-write attempts on one timeseries bucket before giving the message back to SQS for a later retry.
const MAX_MERGE_ATTEMPTS: u32 = 8;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// What a guarded write came to: one item written, or a stale version left alone (an outcome, not an error).
fn outcome<O, E, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    units_of: impl Fn(&O) -> f64,
) -> Result<Written, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + super::HasStatus,
{
    match result {
        Ok(out) => Ok(Written {
            items: 1,
            write_units: units_of(&out),
            ..Written::default()
        }),
        Err(e) if is_condition_failed(&e) => Ok(Written {
            stale: 1,
            ..Written::default()
        }),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

/// The condition of a versioned write: no item yet, or one of an older or equal version.
const NEWER_OR_EQUAL: &str = "attribute_not_exists(#pk) OR attribute_not_exists(#v) OR #v <= :v";

impl Store {
    /// Stores every record an event yields. The caller has checked that the message is not a duplicate. An
    /// event the rules cannot store (a sample whose instant is not a timestamp, a bucket that would pass the item
    /// limit) is kept whole in the catch-all records instead, with the reason.
    pub async fn write_event(
        &self,
        event: &Event,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let writes = match plan::plan(event, meta) {
            Ok(writes) => writes,
            Err(e) => {
                tracing::warn!(svix_id = %meta.svix_id, error = %e, "event kept in catch-all");
                return self.keep_whole(event, meta, "unplannable").await;
            }
        };
        match self.execute(&writes).await {
            Err(StoreError::TooLarge(bytes)) => {
                tracing::warn!(svix_id = %meta.svix_id, bytes, "bucket too large; event kept in catch-all");
                self.keep_whole(event, meta, "bucket_too_large").await
            }
            other => other,
        }
    }

    async fn keep_whole(
        &self,
        event: &Event,
        meta: &MessageMeta,
        reason: &str,
    ) -> Result<Written, StoreError> {
        let body = event.raw.to_string();
        self.execute(&plan::catch_all(body.as_bytes(), meta, reason))
            .await
    }

    /// Keeps a message whole in the catch-all records ([`plan::catch_all`]).
    pub async fn put_catch_all(
        &self,
        body: &[u8],
        meta: &MessageMeta,
        reason: &str,
    ) -> Result<Written, StoreError> {
        self.execute(&plan::catch_all(body, meta, reason)).await
    }

    /// Carries out writes in order.
    pub async fn execute(&self, writes: &[Write]) -> Result<Written, StoreError> {
        let mut written = Written::default();
        for write in writes {
            written += match write {
                Write::Put { item, version } => self.put(item.clone(), version.as_deref()).await?,
                Write::Update {
                    pk,
                    sk,
                    set,
                    version,
                } => self.update(pk, sk, set, version).await?,
                Write::Bucket(bucket) => self.merge(bucket).await?,
            };
        }
        Ok(written)
    }

    /// PutItem; with a version, only over an older or equal one.
    async fn put(&self, mut item: Item, version: Option<&str>) -> Result<Written, StoreError> {
        self.retention.stamp(&mut item);
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if let Some(version) = version {
            req = req
                .condition_expression(NEWER_OR_EQUAL)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":v", s(version));
        }
        outcome(req.send().await, |out| units(out.consumed_capacity()))
    }

    /// UpdateItem SET, only over an older or equal version.
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        set: &[(String, AttributeValue)],
        version: &str,
    ) -> Result<Written, StoreError> {
        let mut expr = String::from("SET ");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .condition_expression(NEWER_OR_EQUAL)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", s(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (i, (name, value)) in set.iter().enumerate() {
            if i > 0 {
                expr.push_str(", ");
            }
            expr.push_str(&format!("#a{i} = :a{i}"));
            req = req
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value.clone());
        }
        outcome(req.update_expression(expr).send().await, |out| {
            units(out.consumed_capacity())
        })
    }

    /// Merges samples into one bucket ([`plan::merge_bucket`]): a read, then a PutItem on the condition that the
    /// bucket's `rev` is still the one read. A concurrent writer makes the condition fail and the merge start again
    /// from a fresh read. The first read is eventually consistent (half the read units): a copy that missed a write
    /// of the last second fails the condition like a concurrent writer does, and the reads after a failed
    /// condition are strongly consistent. A stale copy that already holds every sample at this message's version
    /// or newer is as good as the current one: versions only rise.
    ///
    /// Why not `UpdateItem … SET s1 = :a, …`: DynamoDB charges an update the size of the whole item either way, an
    /// update expression stops at 4 KB (a few hundred samples), and the per-sample versions must be compared
    /// with what is stored. One conditional PutItem per bucket costs one item's size.
    async fn merge(&self, bucket: &BucketWrite) -> Result<Written, StoreError> {
        let samples = bucket.samples.len() as u32;
        for attempt in 0..MAX_MERGE_ATTEMPTS {
            let current = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(bucket.pk.clone()))
                .key(SK, s(bucket.sk.clone()))
                .consistent_read(attempt > 0)
                .send()
                .await
                .map_err(StoreError::from_sdk)?
                .item;
            let (item, expected_rev, stale) = match plan::merge_bucket(current.as_ref(), bucket) {
                // A redelivery that raced past the processed-marker, or a retry of an older message.
                Merge::Unchanged { stale } => {
                    return Ok(Written {
                        samples: samples - stale,
                        stale,
                        ..Written::default()
                    });
                }
                Merge::TooLarge { bytes } => return Err(StoreError::TooLarge(bytes)),
                Merge::Put {
                    mut item,
                    expected_rev,
                    stale,
                    ..
                } => {
                    self.retention.stamp(&mut item);
                    (item, expected_rev, stale)
                }
            };
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            let put = match expected_rev {
                Some(r) => put
                    .condition_expression("#rev = :rev")
                    .expression_attribute_names("#rev", REV)
                    .expression_attribute_values(":rev", AttributeValue::N(r.to_string())),
                None => put
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK),
            };
            match put.send().await {
                Ok(out) => {
                    return Ok(Written {
                        items: 1,
                        samples: samples - stale,
                        stale,
                        write_units: units(out.consumed_capacity()),
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
}
