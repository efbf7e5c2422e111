//! The processors' common loop: one SQS batch in, a partial-batch response out.
//!
//! Every processor family runs the same steps for each record, concurrently within a bound:
//! read the envelope (fetching a claim-checked body from S3), skip the message if this family already processed
//! its Svix id, store its records, then mark it processed. At the same time, the batch's deliveries are archived
//! ([`crate::archive`]) in one Firehose record; if that fails, every message of the batch is failed with it, so that
//! nothing is acknowledged that the archive does not hold. A record that fails is named in `batchItemFailures`
//! and retried by SQS alone; after the queue's `maxReceiveCount` it moves to the family's dead-letter queue.
//! Duplicates and stale versions are outcomes, not errors. A replayed message ([`crate::envelope::attr::REPLAY`])
//! is stored whether or not it was processed before, and is not archived again.
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting>

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt as _;
use tracing::Instrument as _;

use crate::archive::{Archive, ArchiveError, ArchivedDelivery};
use crate::aws::{ConfigError, env_or, required_env};
use crate::envelope::{EnvelopeError, IncomingMessage};
use crate::events::parse_event;
use crate::family::Family;
use crate::fetch::{EnqueueError, FetchQueue, WorkItem};
use crate::store::retention::Retention;
use crate::store::{Store, StoreError, Written};

/// Default number of records of one batch processed at once.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 8;
/// Default lifetime of processed-message markers, in days (Svix retries for about 28 hours; messages can be
/// re-sent by hand from the dashboard later).
pub const DEFAULT_IDEMPOTENCY_TTL_DAYS: u32 = 7;

/// A processor's dependencies, built once per container.
#[derive(Debug, Clone)]
pub struct Processor {
    /// The family this processor serves.
    pub family: Family,
    /// Where records are kept.
    pub store: Store,
    /// Reads claim-checked bodies.
    pub s3: aws_sdk_s3::Client,
    /// Where the fetch a stored event calls for (a historical window, a workout stream) is enqueued; `None` for a
    /// family without such events, or with the fetcher disabled (see [`crate::fetch`]).
    pub fetch: Option<FetchQueue>,
    /// Records of one batch processed at once.
    pub concurrency: usize,
    /// Where the batch's deliveries are archived; `None` with the archive off.
    pub archive: Option<Archive>,
}

/// What processing one message did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Records written (or found newer and left alone: see [`Written::stale`]).
    Stored(Written),
    /// This family had already processed the message.
    Duplicate,
}

/// Processing one message failed; the message is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The envelope could not be read (missing attribute, claim check unreadable).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The follow-up fetch (a historical window, a workout stream) could not be enqueued.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
    /// The batch's deliveries could not be archived (the message may be stored; it is retried for the archive).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl Processor {
    /// Builds the processor from the environment, with an SDK configuration already loaded (one for every client
    /// of the process): `TABLE_NAME` (required), `IDEMPOTENCY_TTL_DAYS`, `BATCH_CONCURRENCY`, the retention periods
    /// ([`Retention::from_env`]), the family's archive stream ([`Archive::from_env`]), and for the backfills and
    /// summaries families the fetch queue ([`FetchQueue::from_env`]).
    pub fn from_env(family: Family, config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table = required_env("TABLE_NAME")?;
        let ttl = env_or("IDEMPOTENCY_TTL_DAYS", DEFAULT_IDEMPOTENCY_TTL_DAYS)?;
        let concurrency = env_or("BATCH_CONCURRENCY", DEFAULT_BATCH_CONCURRENCY)?.max(1);
        // Only the backfills and summaries families have events that call for a fetch; the template gives the
        // others no fetch queue, and no permission to send to it.
        let fetch = match family {
            Family::Backfills | Family::Summaries => FetchQueue::from_env(config)?,
            _ => None,
        };
        Ok(Self {
            family,
            store: Store::new(aws_sdk_dynamodb::Client::new(config), table, ttl)
                .with_retention(Retention::from_env()?),
            s3: crate::aws::s3_client(config),
            fetch,
            concurrency,
            archive: Archive::from_env(family, config)?,
        })
    }

    /// Processes a batch; the response names exactly the records that failed. The envelopes are read first
    /// (claim-checked bodies fetched), then the deliveries are archived while their records are stored.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let read: Vec<(String, Result<IncomingMessage, ProcessError>)> =
            futures::stream::iter(event.records)
                .map(|record| {
                    let id = record.message_id.clone().unwrap_or_default();
                    async move { (id, Self::read(record, &self.s3).await) }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
        // The messages archived (their SQS ids) and their archive lines: every message read, but a replayed one.
        let (archived_ids, deliveries): (Vec<String>, Vec<ArchivedDelivery>) = match &self.archive {
            Some(_) => read
                .iter()
                .filter_map(|(id, r)| r.as_ref().ok().map(|m| (id, m)))
                .filter(|(_, m)| !m.replayed)
                .map(|(id, m)| (id.clone(), ArchivedDelivery::new(&m.meta, &m.body)))
                .unzip(),
            None => (Vec::new(), Vec::new()),
        };
        let archived = async {
            match &self.archive {
                Some(archive) if !deliveries.is_empty() => archive.put(&deliveries).await.map(Some),
                _ => Ok(None),
            }
        };
        let stored = futures::stream::iter(read)
            .map(|(id, msg)| {
                let span =
                    tracing::info_span!("message", message_id = %id, family = self.family.as_str());
                async move {
                    let result = match msg {
                        Ok(msg) => self.handle_message(&msg).await,
                        Err(e) => Err(e),
                    };
                    (id, result)
                }
                .instrument(span)
            })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>();
        let (archived, results) = futures::join!(archived, stored);
        let mut response = SqsBatchResponse::default();
        for (id, result) in results {
            if result.is_err() {
                response.add_failure(id);
            }
        }
        match archived {
            Ok(Some(w)) => tracing::info!(
                deliveries = deliveries.len(),
                records = w.records,
                bytes = w.record_bytes,
                large_objects = w.large_objects,
                "archived"
            ),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(deliveries = deliveries.len(), error = %e, "archive failed; the batch is retried");
                for id in archived_ids {
                    if !response
                        .batch_item_failures
                        .iter()
                        .any(|f| f.item_identifier == id)
                    {
                        response.add_failure(id);
                    }
                }
            }
        }
        response
    }

    /// Reads a record's envelope, fetching a claim-checked body.
    async fn read(
        record: SqsMessage,
        s3: &aws_sdk_s3::Client,
    ) -> Result<IncomingMessage, ProcessError> {
        IncomingMessage::from_record(record, s3).await.map_err(|e| {
            tracing::error!(outcome = "failed", error = %e, "envelope unreadable");
            e.into()
        })
    }

    /// Processes one record, logging one line with its outcome (ids, counts and error kinds only). Archives
    /// nothing: that is done per batch ([`Processor::handle_batch`]).
    pub async fn handle_record(&self, record: SqsMessage) -> Result<Outcome, ProcessError> {
        let msg = Self::read(record, &self.s3).await?;
        self.handle_message(&msg).await
    }

    /// Processes one message, logging one line with its outcome.
    async fn handle_message(&self, msg: &IncomingMessage) -> Result<Outcome, ProcessError> {
        let started = Instant::now();
        let result = self.process(msg).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let meta = &msg.meta;
        match &result {
            Ok(Outcome::Stored(w)) => tracing::info!(
                svix_id = %meta.svix_id, event_type = %meta.event_type, outcome = if w.items == 0 && w.stale > 0 { "stale" } else { "stored" },
                items = w.items, stale = w.stale, samples = w.samples, write_units = w.write_units, replayed = msg.replayed,
                duration_ms = ms, "processed"
            ),
            Ok(Outcome::Duplicate) => tracing::info!(
                svix_id = %meta.svix_id, event_type = %meta.event_type, outcome = "duplicate", duration_ms = ms, "processed"
            ),
            Err(e) => tracing::error!(
                svix_id = %meta.svix_id, event_type = %meta.event_type, outcome = "failed",
                throttled = matches!(e, ProcessError::Store(s) if s.is_throttle()), error = %e, duration_ms = ms,
                "processing failed"
            ),
        }
        result
    }

    /// Stores one message unless this family already processed it. With a fetch queue, a stored historical pull
    /// or workout-stream notice also enqueues its first fetch work item, before the message is marked processed (so
    /// a failed send is retried with it).
    pub async fn process(&self, msg: &IncomingMessage) -> Result<Outcome, ProcessError> {
        let meta = &msg.meta;
        if !msg.replayed && self.store.is_processed(&meta.svix_id, self.family).await? {
            return Ok(Outcome::Duplicate);
        }
        let mut written = match self.family {
            Family::CatchAll => {
                let reason = match parse_event(&msg.body) {
                    Ok(e) if matches!(e.event_type, crate::events::EventType::Unknown(_)) => {
                        "unknown_event_type"
                    }
                    Ok(_) => "no_typed_writer",
                    Err(_) => "unparseable",
                };
                self.store.put_catch_all(&msg.body, meta, reason).await?
            }
            _ => match parse_event(&msg.body) {
                Ok(event) => {
                    let written = self.store.write_event(&event, meta).await?;
                    if let Some(queue) = &self.fetch
                        && let Some(item) =
                            WorkItem::for_event(&event, &meta.svix_id, queue.chunk_days)
                    {
                        queue.send(&item).await?;
                        tracing::info!(svix_id = %meta.svix_id, task = item.page_id(), "fetch enqueued");
                    }
                    written
                }
                // A verified body this family cannot read will not read better on a retry: keep it whole in the
                // catch-all records (replayable after an upgrade) instead of cycling it into the DLQ.
                Err(e) => {
                    tracing::warn!(svix_id = %meta.svix_id, error = %e, "unparseable event kept in catch-all");
                    self.store
                        .put_catch_all(&msg.body, meta, "unparseable")
                        .await?
                }
            },
        };
        let now = chrono::Utc::now().timestamp();
        written.write_units += self
            .store
            .mark_processed(&meta.svix_id, self.family, now)
            .await?;
        Ok(Outcome::Stored(written))
    }
}

/// Runs a processor on the Lambda runtime: JSON logs under the function's `LoggingConfig`, clients built once.
pub async fn serve(family: Family) -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    // One SDK configuration (and HTTPS client) for every client of the process.
    let config = crate::aws::lambda_config()?;
    let processor = Processor::from_env(family, &config)?;
    let processor = &processor;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(processor.handle_batch(event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwh_testkit::stub::{Stub, json_error, ok};

    use crate::envelope::{MessageMeta, attr};

    fn record(message_id: &str, user: &str) -> SqsMessage {
        let body = serde_json::json!({
            "event_type": "daily.data.activity.created",
            "data": {"id": format!("a-{user}"), "user_id": user, "calendar_date": "2024-11-24",
                "source": {"provider": "oura", "type": "ring"}},
            "user_id": user
        });
        let meta = MessageMeta {
            svix_id: format!("msg_{message_id}"),
            event_type: "daily.data.activity.created".into(),
            family: Family::Summaries,
            svix_timestamp: 1_732_000_000,
            received_at_ms: 1_732_000_000_000,
        };
        let record = meta.to_lambda_record(message_id, &body.to_string(), None);
        assert!(record.message_attributes.contains_key(attr::SVIX_ID));
        record
    }

    /// Whether a DynamoDB call writes an item of this partition.
    fn writes_partition(call: &jwh_testkit::stub::Call, pk: &str) -> bool {
        call.is("PutItem") && call.body.contains(&format!(r#""pk":{{"S":"{pk}"}}"#))
    }

    fn archiving(aws: &Stub, family: Family) -> Processor {
        let config = aws.sdk_config();
        Processor {
            family,
            store: Store::new(aws_sdk_dynamodb::Client::new(&config), "t", 7),
            s3: aws_sdk_s3::Client::new(&config),
            fetch: None,
            concurrency: 3,
            archive: Some(Archive {
                firehose: aws_sdk_firehose::Client::new(&config),
                s3: aws_sdk_s3::Client::new(&config),
                stream: "archive-summaries".into(),
                bucket: "archive".into(),
                family,
            }),
        }
    }

    fn replayed(mut record: SqsMessage) -> SqsMessage {
        record.message_attributes.insert(
            attr::REPLAY.into(),
            serde_json::from_value(serde_json::json!({"stringValue": "r1", "dataType": "String"}))
                .unwrap(),
        );
        record
    }

    /// The deliveries a `PutRecordBatch` call carried.
    fn archived_ids(call: &jwh_testkit::stub::Call) -> Vec<String> {
        use base64::Engine as _;
        let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        body["Records"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap();
                crate::archive::decode_object(&data).unwrap().deliveries
            })
            .map(|d| d.svix_id)
            .collect()
    }

    /// A batch is archived in one record, replayed messages left out; when Firehose refuses it, every message it
    /// held is failed (stored or not), and a replayed message, not archived, is acknowledged on its own.
    #[tokio::test]
    async fn the_archive_is_one_record_per_batch_and_its_failure_fails_the_batch() {
        let batch = || -> SqsEvent {
            serde_json::from_value(serde_json::json!({
                "Records": [record("a", "u1"), record("b", "u2"), replayed(record("c", "u3"))]
            }))
            .unwrap()
        };
        let accepting = Stub::new(|call| {
            if call.is("PutRecordBatch") {
                (
                    200,
                    r#"{"FailedPutCount":0,"RequestResponses":[{"RecordId":"1"}]}"#.into(),
                )
            } else {
                ok()
            }
        });
        let response = archiving(&accepting, Family::Summaries)
            .handle_batch(batch())
            .await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        let puts: Vec<_> = accepting
            .calls()
            .into_iter()
            .filter(|c| c.is("PutRecordBatch"))
            .collect();
        assert_eq!(puts.len(), 1);
        let mut ids = archived_ids(&puts[0]);
        ids.sort();
        assert_eq!(ids, ["msg_a", "msg_b"]);
        // The replayed message skipped the duplicate check: two marker reads, for a and b.
        assert_eq!(accepting.count("GetItem"), 2);

        let refusing = Stub::new(|call| {
            if call.is("PutRecordBatch") {
                json_error("ServiceUnavailableException", "slow down")
            } else {
                ok()
            }
        });
        let response = archiving(&refusing, Family::Summaries)
            .handle_batch(batch())
            .await;
        let mut failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        failed.sort();
        assert_eq!(failed, ["a", "b"]);

        // Some records failing on every attempt fail the batch too, after the attempts.
        let partial = Stub::new(|call| {
            if call.is("PutRecordBatch") {
                (200, r#"{"FailedPutCount":1,"RequestResponses":[{"ErrorCode":"ServiceUnavailableException"}]}"#.into())
            } else {
                ok()
            }
        });
        let response = archiving(&partial, Family::Summaries)
            .handle_batch(batch())
            .await;
        assert_eq!(response.batch_item_failures.len(), 2);
        assert_eq!(partial.count("PutRecordBatch"), 3);
    }

    /// DynamoDB throttles the writes of one user's record (past the SDK's own retries): exactly that message
    /// fails, the others are stored and acknowledged.
    #[tokio::test]
    async fn throttling_fails_only_the_affected_record() {
        // Every read finds nothing (no marker), every write passes, but those of USER#slow, which DynamoDB
        // throttles. SDK retries are off: what is tested is what happens once they are spent.
        let aws = Stub::new(|call| {
            if writes_partition(call, "USER#slow") {
                json_error(
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "slow down",
                )
            } else {
                ok()
            }
        });
        let config = aws.sdk_config();
        let processor = Processor {
            family: Family::Summaries,
            store: Store::new(aws_sdk_dynamodb::Client::new(&config), "t", 7),
            s3: aws_sdk_s3::Client::new(&config),
            fetch: None,
            concurrency: 3,
            archive: None,
        };
        let event: SqsEvent = serde_json::from_value(serde_json::json!({
            "Records": [record("a", "fast"), record("b", "slow"), record("c", "quick")]
        }))
        .unwrap();
        let single = processor.handle_record(record("b0", "slow")).await;
        assert!(
            matches!(single, Err(ProcessError::Store(ref s)) if s.is_throttle()),
            "{single:?}"
        );
        let throttled_before = aws
            .calls()
            .iter()
            .filter(|c| writes_partition(c, "USER#slow"))
            .count();
        let response = processor.handle_batch(event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["b"]);
        // Two records and two markers written; the throttled record wrote neither (no marker: it will be retried).
        let calls = aws.calls();
        let stored = calls
            .iter()
            .filter(|c| c.is("PutItem") && !writes_partition(c, "USER#slow"))
            .count();
        assert_eq!(stored, 4);
        let throttled = calls
            .iter()
            .filter(|c| writes_partition(c, "USER#slow"))
            .count();
        assert!(throttled > throttled_before);

        let err = processor
            .handle_record(record("b2", "slow"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProcessError::Store(ref s) if s.is_throttle()),
            "{err}"
        );
        assert!(
            !err.to_string().contains("slow down"),
            "service messages stay out of errors: {err}"
        );
    }

    /// A bucket merge's first read is eventually consistent: when the copy it read was stale (here: no bucket yet,
    /// though another writer has just created it), the conditional write fails and the merge reads again, strongly
    /// consistent this time, before it writes. The duplicate check reads eventually consistent too.
    #[tokio::test]
    async fn a_stale_first_read_of_a_bucket_is_read_again_strongly_consistent() {
        let bucket_puts = std::sync::atomic::AtomicU32::new(0);
        let aws = Stub::new(move |call| {
            if writes_partition(call, "USER#u1")
                && bucket_puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
            {
                json_error(
                    "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "the conditional request failed",
                )
            } else {
                ok()
            }
        });
        let config = aws.sdk_config();
        let processor = Processor {
            family: Family::Timeseries,
            store: Store::new(aws_sdk_dynamodb::Client::new(&config), "t", 7),
            s3: aws_sdk_s3::Client::new(&config),
            fetch: None,
            concurrency: 1,
            archive: None,
        };
        let body = serde_json::json!({
            "event_type": "daily.data.heartrate.created", "user_id": "u1",
            "data": {"user_id": "u1", "source": {"provider": "oura", "type": "ring"},
                "data": [{"timestamp": "2024-11-24T10:00:00+00:00", "value": 61, "unit": "bpm"}]}
        });
        let meta = MessageMeta {
            svix_id: "msg_stale".into(),
            event_type: "daily.data.heartrate.created".into(),
            family: Family::Timeseries,
            svix_timestamp: 1_732_000_000,
            received_at_ms: 1_732_000_000_000,
        };
        let outcome = processor
            .handle_record(meta.to_lambda_record("m1", &body.to_string(), None))
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::Stored(w) if w.items == 1),
            "{outcome:?}"
        );
        let consistent = |pk: &str| -> Vec<bool> {
            aws.calls()
                .iter()
                .filter(|c| c.is("GetItem") && c.body.contains(&format!(r#""pk":{{"S":"{pk}"#)))
                .map(|c| c.body.contains(r#""ConsistentRead":true"#))
                .collect()
        };
        assert_eq!(consistent("USER#u1"), vec![false, true]);
        assert_eq!(consistent("MSG#msg_stale"), vec![false]);
        let puts = aws
            .calls()
            .iter()
            .filter(|c| writes_partition(c, "USER#u1"))
            .count();
        assert_eq!(puts, 2);
    }
}
