//! The backfill fetcher: one page of Junction's Data API per work item, stored through the same writers as webhook
//! data.
//!
//! A work item ([`jwh_shared::fetch::WorkItem`]) names a run, a user, a provider, a resource and either one page
//! of a window or a workout stream. For a page the fetcher:
//!
//! 1. starts the run on the backfill record when the item is the window's first page, and skips an item whose page
//!    is already counted or whose run a newer one replaced (a redelivery);
//! 2. reads the page: a summary window (`/v2/summary/{resource}/{user_id}`, one request per chunk) or one page of a
//!    grouped timeseries window (`/v2/timeseries/{user_id}/{resource}/grouped`, following `next_cursor`);
//! 3. stores every record as the webhook `daily.data.<resource>.created` would carry it, through
//!    [`jwh_shared::store::Store::write_event`]: same keys, same versions, so a record fetched and also received
//!    as a webhook is one record; a record that does not parse is kept in the catch-all records;
//! 4. enqueues the next page (the cursor, or the next chunk's first page);
//! 5. counts the page on the backfill record, once ([`jwh_shared::store::Store::commit_page`]).
//!
//! A workout stream is read from `/v2/timeseries/workouts/{workout_id}/stream` and stored beside the workout's
//! `workout_stream` summary record, in items of its own ([`jwh_shared::store::plan::workout_stream`]), so that a
//! later notice for the workout does not wipe it.
//!
//! Everything fetched is versioned by the time of the fetch ([`jwh_shared::store::version`]): the Data API
//! answers with Junction's state at that moment, so a fetched record replaces what webhooks sent before the fetch
//! carried, and yields to what webhooks sent after it carry.
//!
//! Failures (the Data API still throttling or failing after the retries that fit the invocation, DynamoDB, SQS)
//! fail the work item: SQS delivers it again after the queue's visibility timeout, and after `maxReceiveCount`
//! receives moves it, whole, to the fetch dead-letter queue, from where `jwh backfill redrive` resumes it.

pub mod api;
pub use jwh_shared::data_api::endpoints;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use jwh_shared::envelope::MessageMeta;
use jwh_shared::events::{Resource, parse_event};
use jwh_shared::family::Family;
use jwh_shared::fetch::{Commit, EnqueueError, FetchQueue, PageDone, Task, WorkItem, chunks};
use jwh_shared::store::time::parse_instant;
use jwh_shared::store::{Store, StoreError, Written, plan};
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::api::{ApiError, ApiKey, DataApi, RetryPolicy};
use jwh_shared::data_api::endpoints::{
    Endpoint, endpoint, stream_path, summary_path, timeseries_path,
};

/// The fetcher's dependencies, built once per container.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Where records and progress are kept.
    pub store: Store,
    /// Where the next pages go.
    pub queue: FetchQueue,
    /// Junction's Data API.
    pub api: DataApi,
}

/// Why a work item failed (it is retried by SQS, then kept in the dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The message body is not a work item.
    #[error("the message is not a fetch work item")]
    NotAWorkItem,
    /// The work item's window is not readable.
    #[error("the work item's window is malformed")]
    BadWindow,
    /// The Data API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SQS refused the next page.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// What handling one work item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A page (or stream) was read and stored.
    Fetched {
        /// Records (summaries, samples, streams) stored.
        records: u64,
        /// Data API requests.
        api_calls: u64,
        /// Whether a next page was enqueued.
        next: bool,
    },
    /// The page was already counted, or its run was replaced by a newer one: nothing to do.
    Skipped,
    /// The resource cannot be read by window; the backfill record says so.
    Unfetchable,
}

/// A configuration error at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Env(#[from] jwh_shared::aws::ConfigError),
    /// No API key is configured.
    #[error(
        "no Junction API key: set JUNCTION_API_KEY, or JUNCTION_API_KEY_SECRET_ARN to a secret holding it"
    )]
    NoKey,
    /// The API key secret could not be read.
    #[error("could not read the Junction API key secret ({0})")]
    Secret(String),
    /// Neither a base URL nor a known environment.
    #[error(
        "JUNCTION_API_ENVIRONMENT must be one of production-us, production-eu, sandbox-us, sandbox-eu (or set JUNCTION_API_BASE_URL)"
    )]
    Environment,
    /// No fetch queue.
    #[error("QUEUE_URL_FETCH is required")]
    NoQueue,
}

impl Fetcher {
    /// Builds the fetcher from the environment: `TABLE_NAME`, `QUEUE_URL_FETCH`, `FETCH_CHUNK_DAYS`, the API key
    /// (`JUNCTION_API_KEY`, else the secret `JUNCTION_API_KEY_SECRET_ARN`), the host (`JUNCTION_API_BASE_URL`, else
    /// `JUNCTION_API_ENVIRONMENT`), `FETCH_RETRY_BUDGET_SECS` and `FETCH_REQUEST_TIMEOUT_SECS`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        use jwh_shared::aws::{env_or, required_env};
        let config = jwh_shared::aws::lambda_config()?;
        let table = required_env("TABLE_NAME")?;
        let queue = FetchQueue::from_env(&config)?.ok_or(ConfigError::NoQueue)?;
        let key = match std::env::var("JUNCTION_API_KEY") {
            Ok(k) if !k.trim().is_empty() => ApiKey::new(k.trim()),
            _ => {
                let arn = std::env::var("JUNCTION_API_KEY_SECRET_ARN")
                    .ok()
                    .filter(|a| !a.trim().is_empty())
                    .ok_or(ConfigError::NoKey)?;
                let value = aws_sdk_secretsmanager::Client::new(&config)
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        ConfigError::Secret(
                            aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e)
                                .unwrap_or("request failed")
                                .to_owned(),
                        )
                    })?;
                ApiKey::from_secret_string(value.secret_string().unwrap_or_default())
                    .ok_or(ConfigError::NoKey)?
            }
        };
        let base_url = match std::env::var("JUNCTION_API_BASE_URL") {
            Ok(u) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => api::base_url(&std::env::var("JUNCTION_API_ENVIRONMENT").unwrap_or_default())
                .ok_or(ConfigError::Environment)?
                .to_owned(),
        };
        let retry = RetryPolicy {
            wait_budget: Duration::from_secs(env_or("FETCH_RETRY_BUDGET_SECS", 45u64)?),
            ..RetryPolicy::default()
        };
        let timeout = Duration::from_secs(env_or("FETCH_REQUEST_TIMEOUT_SECS", 20u64)?);
        Ok(Fetcher {
            store: Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7)
                .with_retention(jwh_shared::store::retention::Retention::from_env()?),
            queue,
            api: DataApi::new(&base_url, key, retry, timeout),
        })
    }

    /// Handles a batch; the response names exactly the work items that failed.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        // One at a time: the template hands out one item per invocation, and the Data API prefers it gently.
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            // One span per message, as in the processors: every line logged while handling it (Data API
            // retries, catch-all fallbacks) names its message id.
            let span = tracing::info_span!("message", message_id = %id);
            if self.handle_record(record).instrument(span).await.is_err() {
                response.add_failure(id);
            }
        }
        response
    }

    /// Handles one SQS record, logging one line with ids and counts (never health data).
    pub async fn handle_record(&self, record: SqsMessage) -> Result<Outcome, FetchError> {
        let started = std::time::Instant::now();
        let message_id = record.message_id.clone().unwrap_or_default();
        let item: WorkItem = match serde_json::from_str(record.body.as_deref().unwrap_or_default())
        {
            Ok(item) => item,
            Err(_) => {
                tracing::error!(message_id, outcome = "failed", "not a fetch work item");
                return Err(FetchError::NotAWorkItem);
            }
        };
        let result = self.handle(&item).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(Outcome::Fetched {
                records,
                api_calls,
                next,
            }) => tracing::info!(
                message_id, run = %item.run, resource = %item.resource, provider = %item.provider,
                page = %item.page_id(), outcome = "fetched", records, api_calls, next, duration_ms = ms, "work item done"
            ),
            Ok(other) => tracing::info!(
                message_id, run = %item.run, resource = %item.resource, page = %item.page_id(),
                outcome = if *other == Outcome::Skipped { "skipped" } else { "unfetchable" }, duration_ms = ms,
                "work item done"
            ),
            Err(e) => tracing::error!(
                message_id, run = %item.run, resource = %item.resource, provider = %item.provider,
                page = %item.page_id(), outcome = "failed", error = %e, duration_ms = ms, "work item failed"
            ),
        }
        result
    }

    /// Handles one work item.
    pub async fn handle(&self, item: &WorkItem) -> Result<Outcome, FetchError> {
        match &item.task {
            Task::Page {
                from,
                to,
                chunk_days,
                chunk,
                page,
                cursor,
            } => {
                let from = parse_instant(from).ok_or(FetchError::BadWindow)?;
                let to = parse_instant(to).ok_or(FetchError::BadWindow)?;
                let plan = chunks(&from, &to, *chunk_days);
                let &(start, end) = plan.get(*chunk as usize).ok_or(FetchError::BadWindow)?;
                if *chunk == 0 && *page == 0 {
                    self.store.begin_run(item, plan.len() as u64).await?;
                }
                if self.store.page_settled(item).await? {
                    return Ok(Outcome::Skipped);
                }
                let window = Window {
                    start,
                    end,
                    last: (*chunk as usize) + 1 == plan.len(),
                    cursor: cursor.as_deref(),
                };
                let (records, calls, next_cursor) = match endpoint(item.resource) {
                    Endpoint::None => {
                        self.store
                            .note_unfetchable(
                                item,
                                "the Data API has no window endpoint for this resource; streams are fetched per workout",
                            )
                            .await?;
                        return Ok(Outcome::Unfetchable);
                    }
                    Endpoint::Summary { name, list } => {
                        let (r, c) = self.summary_page(item, name, list, &window).await?;
                        (r, c, None)
                    }
                    Endpoint::Timeseries { name } => {
                        self.timeseries_page(item, name, &window).await?
                    }
                };
                let chunk_done = next_cursor.is_none();
                let next = match next_cursor {
                    Some(cursor) => Some(next_item(item, *chunk, page + 1, Some(cursor))),
                    None if (*chunk as usize) + 1 < plan.len() => {
                        Some(next_item(item, chunk + 1, 0, None))
                    }
                    None => None,
                };
                if let Some(next) = &next {
                    self.queue.send(next).await?;
                }
                let done = PageDone {
                    records,
                    api_calls: calls,
                    chunk_done,
                    run_done: next.is_none(),
                };
                if self.store.commit_page(item, done).await? == Commit::AlreadyDone {
                    tracing::info!(run = %item.run, page = %item.page_id(), "page was already counted");
                }
                Ok(Outcome::Fetched {
                    records,
                    api_calls: calls,
                    next: next.is_some(),
                })
            }
            Task::Stream { workout_id } => self.stream(item, workout_id).await,
        }
    }

    /// One summary window: every record in the response's list.
    async fn summary_page(
        &self,
        item: &WorkItem,
        name: &str,
        list: Option<&str>,
        window: &Window<'_>,
    ) -> Result<(u64, u64), FetchError> {
        let answer = match self
            .api
            .get(
                &summary_path(name, &item.user_id),
                &window.query(&item.provider),
            )
            .await
        {
            // The one-record endpoint (profile) answers 404 when the user has no such record: nothing to store.
            Err(ApiError::Refused(404)) if list.is_none() => return Ok((0, 1)),
            other => other?,
        };
        let records: Vec<Value> = match list {
            Some(list) => match answer.body.get(list) {
                Some(Value::Array(records)) => records.clone(),
                _ => Vec::new(),
            },
            None if answer.body.is_object() => vec![answer.body.clone()],
            None => Vec::new(),
        };
        let meta = self.meta(item, Family::Backfills);
        for record in &records {
            self.store_data(item, item.resource, record.clone(), &meta)
                .await?;
        }
        Ok((records.len() as u64, u64::from(answer.calls)))
    }

    /// One page of a grouped timeseries window: every group (provider, source) as one batch.
    async fn timeseries_page(
        &self,
        item: &WorkItem,
        name: &str,
        window: &Window<'_>,
    ) -> Result<(u64, u64, Option<String>), FetchError> {
        let answer = self
            .api
            .get(
                &timeseries_path(name, &item.user_id),
                &window.query(&item.provider),
            )
            .await?;
        let meta = self.meta(item, Family::Backfills);
        let mut samples = 0;
        if let Some(groups) = answer.body.get("groups").and_then(Value::as_object) {
            for batches in groups.values() {
                for batch in batches.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    samples += batch
                        .get("data")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len) as u64;
                    self.store_data(item, item.resource, batch.clone(), &meta)
                        .await?;
                }
            }
        }
        let next = answer
            .body
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok((samples, u64::from(answer.calls), next))
    }

    /// A workout stream, stored in items of its own beside the workout's `workout_stream` summary.
    async fn stream(&self, item: &WorkItem, workout_id: &str) -> Result<Outcome, FetchError> {
        let answer = self.api.get(&stream_path(workout_id), &[]).await?;
        let meta = self.meta(item, Family::Summaries);
        let writes = plan::workout_stream(
            &item.user_id,
            workout_id,
            &item.provider,
            &answer.body,
            &meta,
        );
        self.store.execute(&writes).await?;
        Ok(Outcome::Fetched {
            records: 1,
            api_calls: u64::from(answer.calls),
            next: false,
        })
    }

    /// Stores one record as the `daily.data.<resource>.created` webhook would carry it; a record that does not
    /// read as one is kept whole in the catch-all records.
    async fn store_data(
        &self,
        item: &WorkItem,
        resource: Resource,
        data: Value,
        meta: &MessageMeta,
    ) -> Result<Written, StoreError> {
        let body = json!({
            "event_type": format!("daily.data.{resource}.created"),
            "user_id": item.user_id,
            "data": data,
        });
        let bytes = body.to_string().into_bytes();
        match parse_event(&bytes) {
            Ok(event) => self.store.write_event(&event, meta).await,
            Err(e) => {
                tracing::warn!(run = %item.run, page = %item.page_id(), error = %e, "fetched record kept in catch-all");
                let mut meta = meta.clone();
                meta.svix_id = format!("{}_{}", meta.svix_id, catch_all_suffix(&bytes));
                self.store
                    .put_catch_all(&bytes, &meta, "unparseable_fetched")
                    .await
            }
        }
    }

    /// The provenance fetched records carry: a pseudo message id naming the run and page.
    fn meta(&self, item: &WorkItem, family: Family) -> MessageMeta {
        let now = Utc::now();
        MessageMeta {
            svix_id: format!("fetch_{}_{}", item.run, item.page_id()),
            event_type: format!("historical.data.{}.created", item.resource),
            family,
            svix_timestamp: now.timestamp(),
            received_at_ms: now.timestamp_millis(),
        }
    }
}

/// A stable suffix that tells unparseable records of one page apart (FNV-1a of the body).
fn catch_all_suffix(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The window of one request.
struct Window<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Whether this is the window's last chunk.
    last: bool,
    cursor: Option<&'a str>,
}

impl Window<'_> {
    /// Query parameters: `start_date` and `end_date` as RFC 3339 instants, `provider`, and `next_cursor` after
    /// the first page. Junction includes both bounds, so every chunk but the last ends one microsecond (Junction's
    /// precision) before the next one begins: a record on a boundary is read once, and every instant between two
    /// chunks, a sub-second sample in the last second included, belongs to one of them.
    fn query(&self, provider: &str) -> Vec<(&'static str, String)> {
        let end = if self.last {
            self.end
        } else {
            self.end - chrono::Duration::microseconds(1)
        };
        let mut q = vec![
            ("start_date", rfc3339(&self.start)),
            ("end_date", rfc3339(&end)),
        ];
        if !provider.is_empty() {
            q.push(("provider", provider.to_owned()));
        }
        if let Some(cursor) = self.cursor {
            q.push(("next_cursor", cursor.to_owned()));
        }
        q
    }
}

/// RFC 3339 in UTC, with as many fractional digits as the instant needs (none for a whole second).
fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The item after `item`: page `page` of chunk `chunk`.
fn next_item(item: &WorkItem, chunk: u32, page: u32, cursor: Option<String>) -> WorkItem {
    let Task::Page {
        from,
        to,
        chunk_days,
        ..
    } = &item.task
    else {
        unreachable!("only pages have a next page")
    };
    WorkItem {
        task: Task::Page {
            from: from.clone(),
            to: to.clone(),
            chunk_days: *chunk_days,
            chunk,
            page,
            cursor,
        },
        ..item.clone()
    }
}

/// Runs the fetcher on the Lambda runtime.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    jwh_shared::logging::init();
    let fetcher = Fetcher::from_env().await?;
    tracing::info!(base_url = fetcher.api.base_url(), "fetcher ready");
    let fetcher = &fetcher;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(fetcher.handle_batch(event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwh_shared::store::time::canonical;

    fn page(chunk: u32, page: u32, cursor: Option<&str>) -> WorkItem {
        WorkItem {
            run: "r".into(),
            user_id: "u".into(),
            provider: "oura".into(),
            resource: Resource::Heartrate,
            task: Task::Page {
                from: "2024-01-01T00:00:00.000000Z".into(),
                to: "2024-01-10T00:00:00.000000Z".into(),
                chunk_days: 7,
                chunk,
                page,
                cursor: cursor.map(str::to_owned),
            },
        }
    }

    #[test]
    fn the_next_item_keeps_the_run_and_window() {
        assert_eq!(
            next_item(&page(0, 0, None), 0, 1, Some("abc".into())),
            page(0, 1, Some("abc"))
        );
        assert_eq!(
            next_item(&page(0, 3, Some("x")), 1, 0, None),
            page(1, 0, None)
        );
    }

    #[test]
    fn a_window_asks_for_its_bounds_provider_and_cursor() {
        let w = Window {
            start: parse_instant("2024-01-01").unwrap(),
            end: parse_instant("2024-01-08T00:00:00.5Z").unwrap(),
            last: true,
            cursor: Some("c2"),
        };
        assert_eq!(
            w.query("oura"),
            vec![
                ("start_date", "2024-01-01T00:00:00Z".to_owned()),
                ("end_date", "2024-01-08T00:00:00.500Z".to_owned()),
                ("provider", "oura".to_owned()),
                ("next_cursor", "c2".to_owned()),
            ]
        );
        // A chunk that is not the window's last ends where the next begins: the samples of its last second,
        // 23:59:59.5 included, are in it.
        let first = Window {
            cursor: None,
            end: parse_instant("2024-01-08").unwrap(),
            last: false,
            ..w
        };
        assert_eq!(
            first.query(""),
            vec![
                ("start_date", "2024-01-01T00:00:00Z".to_owned()),
                ("end_date", "2024-01-07T23:59:59.999999Z".to_owned()),
            ]
        );
        let plan = chunks(
            &parse_instant("2024-01-01").unwrap(),
            &parse_instant("2024-01-15").unwrap(),
            7,
        );
        let asked: Vec<(DateTime<Utc>, DateTime<Utc>)> = plan
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                let last = i + 1 == plan.len();
                let q = Window {
                    start,
                    end,
                    last,
                    cursor: None,
                }
                .query("");
                (
                    parse_instant(&q[0].1).unwrap(),
                    parse_instant(&q[1].1).unwrap(),
                )
            })
            .collect();
        for instant in [
            "2024-01-07T23:59:59.5Z",
            "2024-01-07T23:59:59.999999Z",
            "2024-01-08T00:00:00Z",
        ] {
            let t = parse_instant(instant).unwrap();
            let holding = asked.iter().filter(|(a, b)| *a <= t && t <= *b).count();
            assert_eq!(holding, 1, "{instant} in {asked:?}");
        }
        assert_eq!(canonical(&first.start), "2024-01-01T00:00:00.000000Z");
    }

    /// A fetcher whose clients are never called: the work items given to it fail before any request.
    fn offline_fetcher() -> Fetcher {
        let region = aws_config::Region::new("us-east-1");
        let ddb = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(region.clone())
            .build();
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .region(region)
            .build();
        Fetcher {
            store: Store::new(aws_sdk_dynamodb::Client::from_conf(ddb), "t", 7),
            queue: FetchQueue {
                sqs: aws_sdk_sqs::Client::from_conf(sqs),
                url: "https://sqs.local/fetch".into(),
                chunk_days: 7,
            },
            api: DataApi::new(
                "https://api.invalid",
                ApiKey::new("k"),
                RetryPolicy::default(),
                Duration::from_secs(1),
            ),
        }
    }

    #[tokio::test]
    async fn every_line_logged_for_a_message_names_its_message_id() {
        let captured = jwh_testkit::logs::Captured::default();
        let subscriber = jwh_shared::logging::json_subscriber(
            captured.clone(),
            lambda_runtime::tracing::subscriber::filter::LevelFilter::INFO,
        );
        let _default = tracing::subscriber::set_default(subscriber);
        let event: SqsEvent = serde_json::from_value(json!({"Records": [
            {"messageId": "m-1", "body": "not a work item", "messageAttributes": {}}
        ]}))
        .unwrap();
        let response = offline_fetcher().handle_batch(event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["m-1"]);
        let logs = captured.text();
        let lines: Vec<Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{logs}");
        assert_eq!(lines[0]["span"]["name"], "message", "{logs}");
        assert_eq!(lines[0]["span"]["message_id"], "m-1", "{logs}");
    }

    #[test]
    fn catch_all_suffixes_tell_bodies_apart() {
        assert_eq!(catch_all_suffix(b"a"), catch_all_suffix(b"a"));
        assert_ne!(catch_all_suffix(b"a"), catch_all_suffix(b"b"));
        assert_eq!(catch_all_suffix(b"").len(), 16);
    }
}
