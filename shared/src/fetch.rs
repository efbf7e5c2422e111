//! The backfill fetcher's shared half: its work items, the queue they travel on, and the progress it keeps on the
//! backfill record. The HTTP half (Junction's Data API) lives in the `jwh-fetcher` crate.
//!
//! Junction's webhooks carry incremental data only: `historical.data.<resource>.created` says that a window of
//! history is ready to be read from the Data API, and `daily.data.workout_stream.*` says that a workout's stream is.
//! When a fetch queue is configured ([`FETCH_QUEUE_ENV`]), the backfills and summaries processors answer those
//! events with a first [`WorkItem`]; the fetcher reads one page per work item, stores its records through the same
//! writers as webhook data, and enqueues the next page. Each item is small enough for one Lambda invocation, and a
//! page that keeps failing reaches the fetch queue's dead-letter queue carrying everything needed to resume it.
//!
//! Progress lives on the backfill record (`USER#{user}` / `BACKFILL#{provider}#{resource}`), next to the window the
//! historical event announced, in `fetch_*` attributes (see [`Progress`]). A page is counted once: its id joins the
//! `fetch_pages` set in the same conditional update that adds its counts, so a redelivered work item changes
//! nothing.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{Event, EventData, Resource};
use crate::store::time::{canonical, parse_instant};
use crate::store::{KIND, PK, SK, Store, StoreError, keys};

/// The environment variable holding the fetch queue's URL; unset or empty: the fetcher is disabled.
pub const FETCH_QUEUE_ENV: &str = "QUEUE_URL_FETCH";
/// The environment variable holding the chunk length in days (default [`DEFAULT_CHUNK_DAYS`]).
pub const CHUNK_DAYS_ENV: &str = "FETCH_CHUNK_DAYS";
/// Days of history one chunk of a window covers: one summary request, or one cursor-paginated timeseries walk.
pub const DEFAULT_CHUNK_DAYS: u32 = 30;

/// One unit of the fetcher's work: a page of a window, or a workout stream. Serialized as the SQS message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The run this item belongs to: the Svix id of the event that started it, or `manual-…` for `jwh backfill
    /// run`. Progress is kept for one run at a time; items of an older run stop when a newer one starts.
    pub run: String,
    /// Junction user id.
    pub user_id: String,
    /// Provider slug.
    pub provider: String,
    /// The resource, named as in event types (`weight`, not the Data API's `body_weight`).
    pub resource: Resource,
    /// What to read.
    #[serde(flatten)]
    pub task: Task,
}

/// What a [`WorkItem`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    /// One page of a window: chunk `chunk` of `[from, to)` split into `chunk_days`-day chunks, page `page` of that
    /// chunk (`cursor` is the Data API's `next_cursor` for pages after the first).
    Page {
        /// Start of the whole window, canonical UTC.
        from: String,
        /// End of the whole window, canonical UTC.
        to: String,
        /// Chunk length, fixed for the run.
        chunk_days: u32,
        /// 0-based chunk index.
        chunk: u32,
        /// 0-based page index within the chunk.
        page: u32,
        /// `next_cursor` of the previous page; `None` for a chunk's first page.
        cursor: Option<String>,
    },
    /// A workout's stream (`/v2/timeseries/workouts/{workout_id}/stream`).
    Stream {
        /// Junction's workout id.
        workout_id: String,
    },
}

/// A window could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A bound is not a timestamp or date.
    #[error("`{0}` is not a timestamp")]
    BadTime(&'static str),
    /// The window ends before it starts.
    #[error("the window ends before it starts")]
    Inverted,
    /// The chunk length is zero.
    #[error("the chunk length must be at least one day")]
    ZeroChunk,
}

impl WorkItem {
    /// The first page of a window run: chunk 0, page 0.
    pub fn first_page(
        run: impl Into<String>,
        user_id: impl Into<String>,
        provider: impl Into<String>,
        resource: Resource,
        from: &str,
        to: &str,
        chunk_days: u32,
    ) -> Result<WorkItem, PlanError> {
        let start = parse_instant(from).ok_or(PlanError::BadTime("from"))?;
        let end = parse_instant(to).ok_or(PlanError::BadTime("to"))?;
        if end < start {
            return Err(PlanError::Inverted);
        }
        if chunk_days == 0 {
            return Err(PlanError::ZeroChunk);
        }
        Ok(WorkItem {
            run: run.into(),
            user_id: user_id.into(),
            provider: provider.into(),
            resource,
            task: Task::Page {
                from: canonical(&start),
                to: canonical(&end),
                chunk_days,
                chunk: 0,
                page: 0,
                cursor: None,
            },
        })
    }

    /// The work item a stored event calls for, if any: a historical pull with a window (its first page), or a
    /// workout-stream notice (its stream). `run` names the run (the event's Svix id).
    pub fn for_event(event: &Event, run: &str, chunk_days: u32) -> Option<WorkItem> {
        let user = event.user_id.clone()?;
        let resource = event.resource()?;
        match &event.data {
            EventData::HistoricalPull(pull) => {
                let from = pull.start_date.as_deref()?;
                let to = pull.end_date.as_deref()?;
                WorkItem::first_page(run, user, &pull.provider, resource, from, to, chunk_days).ok()
            }
            EventData::Summary(summary) if resource == Resource::WorkoutStream => Some(WorkItem {
                run: run.to_owned(),
                user_id: user,
                provider: summary.source.provider.clone().unwrap_or_default(),
                resource,
                task: Task::Stream {
                    workout_id: summary.id.clone(),
                },
            }),
            _ => None,
        }
    }

    /// A short, stable id of what this item reads, unique within its run: `c{chunk}p{page}`, or `stream`.
    pub fn page_id(&self) -> String {
        match &self.task {
            Task::Page { chunk, page, .. } => format!("c{chunk}p{page}"),
            Task::Stream { .. } => "stream".to_owned(),
        }
    }

    /// The item as an SQS message body.
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The chunks of a window: `[from, to)` cut every `chunk_days` days; an empty window is one (empty) chunk.
pub fn chunks(
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    chunk_days: u32,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = Duration::days(i64::from(chunk_days.max(1)));
    let mut out = Vec::new();
    let mut start = *from;
    loop {
        let end = (start + step).min(*to);
        out.push((start, end));
        if end >= *to {
            return out;
        }
        start = end;
    }
}

/// Where work items go: the fetch queue.
#[derive(Debug, Clone)]
pub struct FetchQueue {
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// The fetch queue's URL.
    pub url: String,
    /// Chunk length for the runs this queue starts.
    pub chunk_days: u32,
}

/// A work item could not be enqueued.
#[derive(Debug, thiserror::Error)]
#[error("could not enqueue a fetch work item ({0})")]
pub struct EnqueueError(pub String);

impl FetchQueue {
    /// The fetch queue named by [`FETCH_QUEUE_ENV`], or `None` when the fetcher is disabled.
    pub fn from_env(
        config: &aws_config::SdkConfig,
    ) -> Result<Option<FetchQueue>, crate::aws::ConfigError> {
        let url = match std::env::var(FETCH_QUEUE_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => return Ok(None),
        };
        let chunk_days = crate::aws::env_or(CHUNK_DAYS_ENV, DEFAULT_CHUNK_DAYS)?.max(1);
        Ok(Some(FetchQueue {
            sqs: aws_sdk_sqs::Client::new(config),
            url,
            chunk_days,
        }))
    }

    /// Sends one work item.
    pub async fn send(&self, item: &WorkItem) -> Result<(), EnqueueError> {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(item.to_json())
            .send()
            .await
            .map_err(|e| {
                EnqueueError(
                    aws_sdk_sqs::error::ProvideErrorMetadata::code(&e)
                        .unwrap_or("request failed")
                        .to_owned(),
                )
            })?;
        Ok(())
    }
}

/// Names of the progress attributes on the backfill record.
pub mod attr {
    /// The run whose progress the record holds.
    pub const RUN: &str = "fetch_run";
    /// `running` or `finished`.
    pub const STATUS: &str = "fetch_status";
    /// The window fetched, canonical UTC.
    pub const FROM: &str = "fetch_from";
    /// The window fetched, canonical UTC.
    pub const TO: &str = "fetch_to";
    /// Chunks in the window.
    pub const CHUNKS: &str = "fetch_chunks";
    /// Chunks whose last page is done.
    pub const CHUNKS_DONE: &str = "fetch_chunks_done";
    /// Pages done.
    pub const PAGES_DONE: &str = "fetch_pages_done";
    /// Records stored (summaries, or samples).
    pub const RECORDS: &str = "fetch_records";
    /// Data API requests made by the invocations that completed a page, retries included.
    pub const API_CALLS: &str = "fetch_api_calls";
    /// Ids of the pages done (a string set): what makes counting idempotent.
    pub const PAGES: &str = "fetch_pages";
    /// When the run started.
    pub const STARTED_AT: &str = "fetch_started_at";
    /// When the last page was done.
    pub const FINISHED_AT: &str = "fetch_finished_at";
    /// Last change.
    pub const UPDATED_AT: &str = "fetch_updated_at";
    /// Why the run cannot fetch (a resource the Data API does not list by window).
    pub const NOTE: &str = "fetch_note";
}

/// A run's progress, as kept on the backfill record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Junction user id.
    pub user_id: String,
    /// Provider slug.
    pub provider: String,
    /// Resource name.
    pub resource: String,
    /// The historical pull's announced window, as stored by the backfills processor.
    pub pull_start: Option<String>,
    /// The historical pull's announced window.
    pub pull_end: Option<String>,
    /// The run.
    pub run: Option<String>,
    /// `running` or `finished`; `None` when the fetcher never ran for this backfill.
    pub status: Option<String>,
    /// The window fetched.
    pub from: Option<String>,
    /// The window fetched.
    pub to: Option<String>,
    /// Chunks in the window.
    pub chunks: u64,
    /// Chunks done.
    pub chunks_done: u64,
    /// Pages done.
    pub pages_done: u64,
    /// Records stored.
    pub records: u64,
    /// Data API requests.
    pub api_calls: u64,
    /// When the run started.
    pub started_at: Option<String>,
    /// When the run finished.
    pub finished_at: Option<String>,
    /// Why the run could not fetch, if it could not.
    pub note: Option<String>,
}

impl Progress {
    /// Reads a backfill record's attributes.
    pub fn from_item(item: &std::collections::HashMap<String, AttributeValue>) -> Progress {
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let n = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Progress {
            user_id: s("user_id").unwrap_or_default(),
            provider: s("provider").unwrap_or_default(),
            resource: s("resource").unwrap_or_default(),
            pull_start: s("start_date"),
            pull_end: s("end_date"),
            run: s(attr::RUN),
            status: s(attr::STATUS),
            from: s(attr::FROM),
            to: s(attr::TO),
            chunks: n(attr::CHUNKS),
            chunks_done: n(attr::CHUNKS_DONE),
            pages_done: n(attr::PAGES_DONE),
            records: n(attr::RECORDS),
            api_calls: n(attr::API_CALLS),
            started_at: s(attr::STARTED_AT),
            finished_at: s(attr::FINISHED_AT),
            note: s(attr::NOTE),
        }
    }

    /// Whether the run is finished.
    pub fn is_finished(&self) -> bool {
        self.status.as_deref() == Some("finished")
    }
}

/// What a page contributed, for [`Store::commit_page`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageDone {
    /// Records stored from the page.
    pub records: u64,
    /// Data API requests it took.
    pub api_calls: u64,
    /// Whether the page was the last of its chunk.
    pub chunk_done: bool,
    /// Whether the page was the last of the run.
    pub run_done: bool,
}

/// Whether a page was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Counted now.
    Counted,
    /// Already counted (a redelivered work item), or the run was superseded by a newer one: nothing changed.
    AlreadyDone,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now() -> String {
    canonical(&Utc::now())
}

impl Store {
    /// The backfill record of (user, provider, resource), if there is one.
    pub async fn backfill_progress(
        &self,
        user_id: &str,
        provider: &str,
        resource: Resource,
    ) -> Result<Option<Progress>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, s(keys::user(user_id)))
            .key(SK, s(keys::backfill(provider, resource)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item.as_ref().map(Progress::from_item))
    }

    /// Starts `item`'s run on the backfill record (counters at zero, status `running`) unless that run already
    /// started; creates the record when no historical event did (a run started by hand). Returns whether the run
    /// is (now) the record's current one.
    pub async fn begin_run(&self, item: &WorkItem, chunks: u64) -> Result<bool, StoreError> {
        let Task::Page { from, to, .. } = &item.task else {
            return Ok(true);
        };
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, s(keys::user(&item.user_id)))
            .key(SK, s(keys::backfill(&item.provider, item.resource)))
            .update_expression(
                "SET #kind = if_not_exists(#kind, :kind), #user = if_not_exists(#user, :user), \
                 #provider = if_not_exists(#provider, :provider), #resource = if_not_exists(#resource, :resource), \
                 #run = :run, #status = :running, #from = :from, #to = :to, #chunks = :chunks, \
                 #chunks_done = :zero, #pages_done = :zero, #records = :zero, #calls = :zero, \
                 #started = :now, #updated = :now \
                 REMOVE #pages, #finished, #note",
            )
            .condition_expression("attribute_not_exists(#run) OR #run <> :run")
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#user", "user_id")
            .expression_attribute_names("#provider", "provider")
            .expression_attribute_names("#resource", "resource")
            .expression_attribute_names("#run", attr::RUN)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#from", attr::FROM)
            .expression_attribute_names("#to", attr::TO)
            .expression_attribute_names("#chunks", attr::CHUNKS)
            .expression_attribute_names("#chunks_done", attr::CHUNKS_DONE)
            .expression_attribute_names("#pages_done", attr::PAGES_DONE)
            .expression_attribute_names("#records", attr::RECORDS)
            .expression_attribute_names("#calls", attr::API_CALLS)
            .expression_attribute_names("#started", attr::STARTED_AT)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_names("#pages", attr::PAGES)
            .expression_attribute_names("#finished", attr::FINISHED_AT)
            .expression_attribute_names("#note", attr::NOTE)
            .expression_attribute_values(":kind", s("backfill"))
            .expression_attribute_values(":user", s(item.user_id.clone()))
            .expression_attribute_values(":provider", s(item.provider.clone()))
            .expression_attribute_values(":resource", s(item.resource.as_str()))
            .expression_attribute_values(":run", s(item.run.clone()))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":from", s(from.clone()))
            .expression_attribute_values(":to", s(to.clone()))
            .expression_attribute_values(":chunks", n(chunks))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(now()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // The run had already started: a redelivered first item.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(true),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Whether `item`'s page is already counted, or its run is no longer the record's current one.
    pub async fn page_settled(&self, item: &WorkItem) -> Result<bool, StoreError> {
        let Some(progress) = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, s(keys::user(&item.user_id)))
            .key(SK, s(keys::backfill(&item.provider, item.resource)))
            .consistent_read(true)
            .projection_expression("#run, #pages")
            .expression_attribute_names("#run", attr::RUN)
            .expression_attribute_names("#pages", attr::PAGES)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item
        else {
            return Ok(false);
        };
        let run = progress.get(attr::RUN).and_then(|v| v.as_s().ok());
        if run != Some(&item.run) {
            return Ok(run.is_some());
        }
        let pages = progress.get(attr::PAGES).and_then(|v| v.as_ss().ok());
        Ok(pages.is_some_and(|p| p.contains(&item.page_id())))
    }

    /// Counts a page on the backfill record, once: the page id joins `fetch_pages` in the same conditional update
    /// that adds the counts, and the update applies only while the item's run is the record's current one.
    pub async fn commit_page(&self, item: &WorkItem, done: PageDone) -> Result<Commit, StoreError> {
        let mut set = String::from("#updated = :now");
        if done.run_done {
            set.push_str(", #status = :finished, #finished = :now");
        }
        let chunk_add = if done.chunk_done {
            ", #chunks_done :one"
        } else {
            ""
        };
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, s(keys::user(&item.user_id)))
            .key(SK, s(keys::backfill(&item.provider, item.resource)))
            .update_expression(format!(
                "SET {set} ADD #pages :page, #pages_done :one, #records :records, #calls :calls{chunk_add}"
            ))
            .condition_expression("#run = :run AND NOT contains(#pages, :page_id)")
            .expression_attribute_names("#run", attr::RUN)
            .expression_attribute_names("#pages", attr::PAGES)
            .expression_attribute_names("#pages_done", attr::PAGES_DONE)
            .expression_attribute_names("#records", attr::RECORDS)
            .expression_attribute_names("#calls", attr::API_CALLS)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_values(":run", s(item.run.clone()))
            .expression_attribute_values(":page", AttributeValue::Ss(vec![item.page_id()]))
            .expression_attribute_values(":page_id", s(item.page_id()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":records", n(done.records))
            .expression_attribute_values(":calls", n(done.api_calls))
            .expression_attribute_values(":now", s(now()))
            .return_values(ReturnValue::None);
        if done.run_done {
            req = req
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_names("#finished", attr::FINISHED_AT)
                .expression_attribute_values(":finished", s("finished"));
        }
        if done.chunk_done {
            req = req.expression_attribute_names("#chunks_done", attr::CHUNKS_DONE);
        }
        match req.send().await {
            Ok(_) => Ok(Commit::Counted),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Ok(Commit::AlreadyDone)
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Marks a run as finished without fetching, with the reason (a resource the Data API cannot list by window).
    pub async fn note_unfetchable(&self, item: &WorkItem, note: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(PK, s(keys::user(&item.user_id)))
            .key(SK, s(keys::backfill(&item.provider, item.resource)))
            .update_expression(
                "SET #status = :finished, #note = :note, #finished = :now, #updated = :now",
            )
            .condition_expression("#run = :run")
            .expression_attribute_names("#run", attr::RUN)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#note", attr::NOTE)
            .expression_attribute_names("#finished", attr::FINISHED_AT)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_values(":run", s(item.run.clone()))
            .expression_attribute_values(":finished", s("finished"))
            .expression_attribute_values(":note", s(note))
            .expression_attribute_values(":now", s(now()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if e.code() == Some("ConditionalCheckFailedException") {
                    Ok(())
                } else {
                    Err(StoreError::from_sdk(e))
                }
            })
    }

    /// Every backfill record of a user, with its progress.
    pub async fn backfills_of(&self, user_id: &str) -> Result<Vec<Progress>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s("BACKFILL#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            out.extend(page.items().iter().map(Progress::from_item));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_event;

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    #[test]
    fn a_window_is_cut_into_chunks_without_gaps_or_overlaps() {
        let c = chunks(&at("2024-01-01"), &at("2024-03-15"), 30);
        let got: Vec<(String, String)> = c
            .iter()
            .map(|(a, b)| (canonical(a), canonical(b)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "2024-01-01T00:00:00.000000Z".into(),
                    "2024-01-31T00:00:00.000000Z".into()
                ),
                (
                    "2024-01-31T00:00:00.000000Z".into(),
                    "2024-03-01T00:00:00.000000Z".into()
                ),
                (
                    "2024-03-01T00:00:00.000000Z".into(),
                    "2024-03-15T00:00:00.000000Z".into()
                ),
            ]
        );
        // An empty window is one empty chunk; an exact multiple has no empty tail.
        assert_eq!(chunks(&at("2024-01-01"), &at("2024-01-01"), 7).len(), 1);
        assert_eq!(chunks(&at("2024-01-01"), &at("2024-01-15"), 7).len(), 2);
    }

    #[test]
    fn a_historical_event_calls_for_its_windows_first_page() {
        let body =
            std::fs::read("testdata/junction/fixtures/historical.data.sleep.created.json").unwrap();
        let event = parse_event(&body).unwrap();
        let item = WorkItem::for_event(&event, "msg_1", 30).unwrap();
        assert_eq!(
            item,
            WorkItem {
                run: "msg_1".into(),
                user_id: "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2".into(),
                provider: "oura".into(),
                resource: Resource::Sleep,
                task: Task::Page {
                    from: "2024-05-29T00:00:00.000000Z".into(),
                    to: "2024-11-25T10:14:02.000000Z".into(),
                    chunk_days: 30,
                    chunk: 0,
                    page: 0,
                    cursor: None,
                },
            }
        );
        assert_eq!(item.page_id(), "c0p0");
        let json = item.to_json();
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), item);
        assert!(json.contains(r#""task":"page""#), "{json}");
    }

    #[test]
    fn a_workout_stream_notice_calls_for_its_stream_and_other_events_for_nothing() {
        let body =
            std::fs::read("testdata/junction/fixtures/daily.data.workout_stream.created.json")
                .unwrap();
        let item = WorkItem::for_event(&parse_event(&body).unwrap(), "msg_2", 30).unwrap();
        assert_eq!(
            item.task,
            Task::Stream {
                workout_id: "185d0f34-dfc0-429f-84f9-b24030914bdd".into()
            }
        );
        assert_eq!(
            (item.provider.as_str(), item.page_id()),
            ("strava", "stream".into())
        );
        for other in [
            "daily.data.sleep.created",
            "daily.data.heartrate.created",
            "labtest.order.created",
        ] {
            let body = std::fs::read(format!("testdata/junction/fixtures/{other}.json")).unwrap();
            assert_eq!(
                WorkItem::for_event(&parse_event(&body).unwrap(), "m", 30),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn bad_windows_are_refused() {
        let first =
            |from, to, days| WorkItem::first_page("r", "u", "p", Resource::Steps, from, to, days);
        assert_eq!(
            first("nope", "2024-01-01", 7),
            Err(PlanError::BadTime("from"))
        );
        assert_eq!(
            first("2024-01-02", "2024-01-01", 7),
            Err(PlanError::Inverted)
        );
        assert_eq!(
            first("2024-01-01", "2024-01-02", 0),
            Err(PlanError::ZeroChunk)
        );
    }
}
