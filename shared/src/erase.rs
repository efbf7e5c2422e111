//! Erasure: everything the stack holds of one user, removed on request (health data comes with a right to be
//! forgotten).
//!
//! What is removed:
//! - every item of the user's partition (`USER#{user}`): summaries, timeseries buckets, workout streams,
//!   connections and their history, devices, backfills, lab records and their history;
//! - every catch-all record whose body names the user (and the parts of a large body);
//! - every claim-check object in the payload bucket whose body names the user;
//! - every archived delivery ([`crate::archive`]) that names the user. An archive object holds the deliveries of
//!   many users (one processor batch per gzip member, many batches per object), so it cannot simply be deleted:
//!   each object naming the user is read, and written again under its key without the user's deliveries (deleted
//!   when none is left). The archive bucket is not versioned, so no older copy remains. This reads the whole
//!   archive (one `GetObject` per object, $0.40 per million objects): `jwh users erase` has no time limit, where
//!   the data API's `DELETE` may answer 202 on a large archive and need repeating. Deliveries still in
//!   Firehose's buffer (up to 15 minutes) reach S3 after the erasure read it: a second run 15 minutes later
//!   removes them.
//!
//! - in the teams named, every lab match review resolved to the user (Junction sends reviews without a user, so
//!   they live under their team), with its history.
//!
//! Processed-message markers (`MSG#{svix id}`) name no user and hold no data, so they stay: a delivery of one of
//! the user's old messages is still recognised as already processed, and does not bring the data back.
//!
//! Idempotent and resumable: each step deletes what it finds, page by page, so a run cut short is finished by
//! running it again, and a run over nothing removes nothing. Another user's items are never read for deletion
//! but by their key (their own partition) or a body naming this user's id.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde::Serialize;

use crate::envelope::CLAIM_CHECK_PREFIX;
use crate::store::{KIND, PK, SK, Store, StoreError, keys, until_processed};

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Items of the user's partition, by kind (`summary`, `timeseries`, `connection`, …).
    pub records: BTreeMap<String, u64>,
    /// Catch-all records (with their body parts) whose body named the user.
    pub catch_all: u64,
    /// Lab match reviews resolved to the user, in the teams named.
    pub match_reviews: u64,
    /// Claim-check objects whose body named the user.
    pub payloads: u64,
    /// Archived deliveries that named the user, removed from their archive objects.
    pub archived: u64,
    /// Archive objects rewritten without them (or deleted, when nothing else was left).
    pub archive_objects: u64,
}

impl Erased {
    /// Everything removed, counted.
    pub fn total(&self) -> u64 {
        self.records.values().sum::<u64>()
            + self.catch_all
            + self.match_reviews
            + self.payloads
            + self.archived
    }
}

/// An erasure step failed; what was removed before it stays removed, and a new run finishes the rest.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// S3 failed.
    #[error("S3 request failed ({0})")]
    S3(String),
}

/// Deletes keys 25 at a time (BatchWriteItem's limit), retrying what DynamoDB leaves unprocessed.
async fn delete_keys(store: &Store, keys: Vec<(String, String)>) -> Result<(), StoreError> {
    for chunk in keys.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key(PK, AttributeValue::S(pk.clone()))
                    .key(SK, AttributeValue::S(sk.clone()))
                    .build()
                    .map_err(|e| StoreError::Rejected(e.to_string()))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        until_processed(requests, "deletes", |requests| async move {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), requests)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let left = out
                .unprocessed_items
                .and_then(|mut m| m.remove(store.table()))
                .unwrap_or_default();
            Ok((Vec::<()>::new(), left))
        })
        .await?;
    }
    Ok(())
}

type Item = std::collections::HashMap<String, AttributeValue>;

/// Every item of a partition, with only the attributes named (and the partition key), in key order.
async fn items_of(store: &Store, pk: &str, attributes: &[&str]) -> Result<Vec<Item>, StoreError> {
    let mut names = Vec::new();
    let mut projection = Vec::new();
    for (i, name) in std::iter::once(&PK).chain(attributes).enumerate() {
        names.push((format!("#a{i}"), (*name).to_owned()));
        projection.push(format!("#a{i}"));
    }
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("#a0 = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .set_expression_attribute_names(Some(names.iter().cloned().collect()))
            .projection_expression(projection.join(", "))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            Some(k) => start = Some(k),
            None => return Ok(items),
        }
    }
}

/// An attribute as text: a string as it is, a compressed document (`data`) as its JSON.
fn text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(packed @ AttributeValue::B(_)) if name == "data" => {
            crate::store::plan::decode_document(packed)
                .map(|document| document.to_string())
                .unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// Whether a stored body names the user: its id as a JSON string.
fn names(body: &str, needle: &str) -> bool {
    body.contains(needle)
}

impl Store {
    /// Deletes the groups of a partition's items (grouped by `group_of` their sort key) whose `field`, joined in key
    /// order, names `needle`; returns how many groups went.
    async fn erase_groups(
        &self,
        pk: &str,
        field: &str,
        needle: &str,
        group_of: impl Fn(&str) -> String,
    ) -> Result<u64, StoreError> {
        let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for item in items_of(self, pk, &[SK, field]).await? {
            let sk = text(&item, SK);
            groups
                .entry(group_of(&sk))
                .or_default()
                .push((sk, text(&item, field)));
        }
        let mut doomed = Vec::new();
        let mut erased = 0;
        for items in groups.into_values() {
            let joined: String = items.iter().map(|(_, text)| text.as_str()).collect();
            if names(&joined, needle) {
                erased += 1;
                doomed.extend(items.into_iter().map(|(sk, _)| (pk.to_owned(), sk)));
            }
        }
        delete_keys(self, doomed).await?;
        Ok(erased)
    }

    /// Removes everything of `user_id` from the table and, given the payload bucket, its claim-check objects, and
    /// given the archive bucket, its archived deliveries.
    pub async fn erase_user(
        &self,
        user_id: &str,
        teams: &[String],
        payloads: Option<(&aws_sdk_s3::Client, &str)>,
        archive: Option<(&aws_sdk_s3::Client, &str)>,
    ) -> Result<Erased, EraseError> {
        let mut erased = Erased::default();
        // The user's partition: every item, by its keys.
        let pk = keys::user(user_id);
        let mut doomed = Vec::new();
        for item in items_of(self, &pk, &[SK, KIND]).await? {
            *erased.records.entry(text(&item, KIND)).or_default() += 1;
            doomed.push((pk.clone(), text(&item, SK)));
        }
        delete_keys(self, doomed).await?;
        // Catch-all records whose body names the user, with their parts: a message's record and its parts, in key
        // order (the record, then part 0000, 0001, …), so that a body split across parts is read whole.
        let needle = format!("\"{user_id}\"");
        for pk in keys::catch_all_partitions() {
            erased.catch_all += self
                .erase_groups(&pk, "body", &needle, |sk| {
                    sk.split("#PART#").next().unwrap_or(sk).to_owned()
                })
                .await?;
        }
        // Match reviews resolved to the user: a review's record and its history share the key's first three parts.
        for team in teams {
            erased.match_reviews += self
                .erase_groups(&keys::team(team), "data", &needle, |sk| {
                    sk.split('#').take(3).collect::<Vec<_>>().join("#")
                })
                .await?;
        }
        // Claim-check objects whose body names the user.
        if let Some((s3, bucket)) = payloads {
            let mut token = None;
            loop {
                let listing = s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(CLAIM_CHECK_PREFIX)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| EraseError::S3(s3_code(&e)))?;
                for object in listing.contents() {
                    let Some(key) = object.key() else { continue };
                    let body = s3
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|e| EraseError::S3(s3_code(&e)))?
                        .body
                        .collect()
                        .await
                        .map_err(|_| EraseError::S3("unreadable object body".into()))?
                        .into_bytes();
                    if names(&String::from_utf8_lossy(&body), &needle) {
                        s3.delete_object()
                            .bucket(bucket)
                            .key(key)
                            .send()
                            .await
                            .map_err(|e| EraseError::S3(s3_code(&e)))?;
                        erased.payloads += 1;
                    }
                }
                match listing.next_continuation_token() {
                    Some(t) if listing.is_truncated() == Some(true) => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        if let Some((s3, bucket)) = archive {
            let (deliveries, objects) = erase_archived(s3, bucket, user_id, &needle).await?;
            erased.archived += deliveries;
            erased.archive_objects += objects;
        }
        Ok(erased)
    }
}

/// Whether an archived delivery names the user: as its `user_id`, or anywhere in its body as a JSON string (a lab
/// match review names its user in its data).
fn archived_names(
    delivery: &crate::archive::ArchivedDelivery,
    user_id: &str,
    needle: &str,
) -> bool {
    let body_names = match (&delivery.body, &delivery.body_base64) {
        (Some(text), _) => names(text, needle),
        (None, Some(_)) => delivery
            .body_bytes()
            .is_some_and(|b| names(&String::from_utf8_lossy(&b), needle)),
        (None, None) => false,
    };
    delivery.user_id.as_deref() == Some(user_id) || body_names
}

/// Rewrites every archive object that names the user without the user's deliveries; (deliveries, objects).
async fn erase_archived(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    user_id: &str,
    needle: &str,
) -> Result<(u64, u64), EraseError> {
    use crate::archive::{self, ArchiveError};
    let failed = |e: ArchiveError| EraseError::S3(e.to_string());
    let (mut deliveries, mut objects) = (0, 0);
    for family in crate::family::Family::ALL {
        let listed = archive::list_objects(s3, bucket, &archive::family_prefix(family), None, None)
            .await
            .map_err(failed)?;
        for object in listed {
            let bytes = archive::read_object(s3, bucket, &object.key)
                .await
                .map_err(failed)?;
            let Ok(mut decoded) = archive::decode_object(&bytes) else {
                tracing::warn!(key = %object.key, "archive object unreadable; left as it is");
                continue;
            };
            let before = decoded.deliveries.len() + decoded.bad_lines.len();
            decoded
                .deliveries
                .retain(|d| !archived_names(d, user_id, needle));
            decoded
                .bad_lines
                .retain(|l| !names(&String::from_utf8_lossy(l), needle));
            let left = decoded.deliveries.len() + decoded.bad_lines.len();
            if left == before {
                continue;
            }
            if left == 0 {
                s3.delete_object()
                    .bucket(bucket)
                    .key(&object.key)
                    .send()
                    .await
                    .map_err(|e| EraseError::S3(s3_code(&e)))?;
            } else {
                s3.put_object()
                    .bucket(bucket)
                    .key(&object.key)
                    .content_type("application/x-ndjson")
                    .body(archive::encode_object(&decoded.deliveries, &decoded.bad_lines).into())
                    .send()
                    .await
                    .map_err(|e| EraseError::S3(s3_code(&e)))?;
            }
            deliveries += (before - left) as u64;
            objects += 1;
        }
    }
    Ok((deliveries, objects))
}

fn s3_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("no error code").to_owned()
}

#[cfg(test)]
mod tests {
    use jwh_testkit::stub::{Stub, json_error, ok};

    use super::*;

    /// DynamoDB leaving deletes unprocessed on every retry fails the erasure (run again to finish) instead of
    /// reporting items as removed; a failing read fails it before anything is deleted.
    #[tokio::test]
    async fn deletes_that_dynamodb_keeps_refusing_fail_the_erasure() {
        let aws = Stub::new(|call| {
            if call.is("Query") {
                let item =
                    r#"{"pk":{"S":"USER#u1"},"sk":{"S":"SUM#sleep#s1"},"kind":{"S":"summary"}}"#;
                (200, format!(r#"{{"Items":[{item}],"Count":1}}"#))
            } else if call.is("BatchWriteItem") {
                let request =
                    r#"{"DeleteRequest":{"Key":{"pk":{"S":"USER#u1"},"sk":{"S":"SUM#sleep#s1"}}}}"#;
                (
                    200,
                    format!(r#"{{"UnprocessedItems":{{"t":[{request}]}}}}"#),
                )
            } else {
                ok()
            }
        });
        let store = Store::new(aws_sdk_dynamodb::Client::new(&aws.sdk_config()), "t", 7);
        let err = store.erase_user("u1", &[], None, None).await.unwrap_err();
        assert!(
            matches!(err, EraseError::Store(StoreError::Throttled(_))),
            "{err}"
        );
        assert_eq!(aws.count("BatchWriteItem"), 10);

        let failing =
            Stub::new(|_| json_error("com.amazonaws.dynamodb.v20120810#InternalServerError", "x"));
        let store = Store::new(aws_sdk_dynamodb::Client::new(&failing.sdk_config()), "t", 7);
        assert!(store.erase_user("u1", &[], None, None).await.is_err());
        assert_eq!(failing.count("BatchWriteItem"), 0);
    }
}
