//! The backfill fetcher against moto and a stand-in for Junction's Data API (`tests/standin/junction_data_api.py`,
//! responses built from the spec's examples, cursor pagination, 429 with `Retry-After`, 5xx bursts, empty windows).
//!
//! Each test sends a webhook through its processor with a fetch queue (as the deployed processors do when the
//! fetcher is enabled), then plays Lambda's event source mapping for the fetch queue: receive, handle, delete on
//! success. What the stand-in served (its request log) is the expectation: the tests compare the stored records
//! with it, record for record, and the progress on the backfill record with its counts.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use jwh_fetcher::api::{ApiKey, DataApi, RetryPolicy};
use jwh_fetcher::{Fetcher, Outcome};
use jwh_shared::events::Resource;
use jwh_shared::family::Family;
use jwh_shared::fetch::{FetchQueue, Progress, Task, WorkItem};
use jwh_shared::processor::Processor;
use jwh_shared::store::Store;
use jwh_shared::store::time::canonicalize;
use serde_json::{Value, json};

use crate::support::{self, fixture, meta_for, sqs_event, sqs_record};

const API_KEY: &str = "standin-key";
const PAGE_SIZE: usize = 20;

/// The stand-in, started once for the test binary; it exits with this process (`--parent-pid`).
struct StandIn {
    url: String,
    _child: Child,
}

fn standin() -> &'static StandIn {
    static STANDIN: OnceLock<StandIn> = OnceLock::new();
    STANDIN.get_or_init(|| {
        let venv = support::repo_root().join(".tools/venv/bin/python");
        let python = if venv.exists() {
            venv
        } else {
            "python3".into()
        };
        let mut child = Command::new(python)
            .arg(support::repo_root().join("tests/standin/junction_data_api.py"))
            .args(["--port", "0", "--page-size", &PAGE_SIZE.to_string()])
            .args([
                "--api-key",
                API_KEY,
                "--parent-pid",
                &std::process::id().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Data API stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("stand-in said {line:?}"))
            .to_owned();
        StandIn { url, _child: child }
    })
}

impl StandIn {
    /// The next requests whose path contains `path_part` get `statuses`, in order.
    fn fault(&self, path_part: &str, statuses: &[u16], retry_after: Option<&str>) {
        let body = json!({"match": path_part, "statuses": statuses, "retry_after": retry_after});
        ureq::post(format!("{}/_standin/faults", self.url))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap();
    }

    /// The requests whose path contains `path_part`, in order.
    fn log(&self, path_part: &str) -> Vec<Value> {
        let text = ureq::get(format!("{}/_standin/log", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let all: Vec<Value> = serde_json::from_str(&text).unwrap();
        all.into_iter()
            .filter(|r| r["path"].as_str().unwrap().contains(path_part))
            .collect()
    }
}

/// What the stand-in served to the requests whose path contains `path_part`: every entry, duplicates included.
fn served(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|r| r["status"] == 200)
        .flat_map(|r| r["served"].as_array().unwrap().clone())
        .collect()
}

/// A table, a fetch queue and a fetcher reading a Data API.
pub(crate) struct Env {
    config: SdkConfig,
    pub(crate) store: Store,
    pub(crate) queue: FetchQueue,
    fetcher: Fetcher,
}

async fn env(chunk_days: u32) -> Env {
    env_with_queue(chunk_days, None).await
}

async fn env_with_queue(chunk_days: u32, queue_url: Option<String>) -> Env {
    env_for(&standin().url, API_KEY, chunk_days, queue_url).await
}

/// A fetcher of the Data API at `api_url`, into a table of its own.
pub(crate) async fn env_for(
    api_url: &str,
    api_key: &str,
    chunk_days: u32,
    queue_url: Option<String>,
) -> Env {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let url = match queue_url {
        Some(url) => url,
        None => support::create_queue(&config, "fetch").await,
    };
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
    let queue = FetchQueue {
        sqs: aws_sdk_sqs::Client::new(&config),
        url,
        chunk_days,
    };
    let retry = RetryPolicy {
        max_attempts: 6,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        wait_budget: Duration::from_secs(5),
    };
    let api = DataApi::new(
        api_url,
        ApiKey::new(api_key),
        retry,
        Duration::from_secs(10),
    );
    Env {
        fetcher: Fetcher {
            store: store.clone(),
            queue: queue.clone(),
            api,
        },
        config,
        store,
        queue,
    }
}

/// What draining the fetch queue did.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Drained {
    pub(crate) fetched: u32,
    pub(crate) skipped: u32,
    pub(crate) failed: u32,
}

impl Env {
    fn processor(&self, family: Family) -> Processor {
        Processor {
            family,
            store: self.store.clone(),
            s3: support::s3(&self.config),
            fetch: Some(self.queue.clone()),
            concurrency: 4,
            archive: None,
        }
    }

    /// Delivers a webhook body to its family's processor with the fetch queue configured; asserts it is stored.
    async fn deliver(&self, svix_id: &str, body: &Value) {
        let bytes = body.to_string();
        let meta = meta_for(svix_id, bytes.as_bytes());
        let record = sqs_record(&format!("m-{svix_id}"), &meta, &bytes, None);
        let response = self
            .processor(meta.family)
            .handle_batch(sqs_event(vec![record]))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }

    /// Plays the event source mapping until the queue is empty: one item per invocation; a failed item is made
    /// visible again at once (the queue's visibility timeout, shortened), at most `max_failures` times in all.
    pub(crate) async fn drain(&self, max_failures: u32) -> Drained {
        let sqs = &self.queue.sqs;
        let mut drained = Drained::default();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.queue.url)
                .max_number_of_messages(1)
                .visibility_timeout(30)
                .send()
                .await
                .unwrap();
            let Some(message) = out.messages.unwrap_or_default().into_iter().next() else {
                return drained;
            };
            let record = sqs_record_of(&message);
            match self.fetcher.handle_record(record).await {
                Ok(Outcome::Skipped) => drained.skipped += 1,
                Ok(_) => drained.fetched += 1,
                Err(_) => {
                    drained.failed += 1;
                    sqs.change_message_visibility()
                        .queue_url(&self.queue.url)
                        .receipt_handle(message.receipt_handle().unwrap())
                        .visibility_timeout(0)
                        .send()
                        .await
                        .unwrap();
                    if drained.failed >= max_failures {
                        return drained;
                    }
                    continue;
                }
            }
            sqs.delete_message()
                .queue_url(&self.queue.url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    async fn progress(&self, user: &str, provider: &str, resource: Resource) -> Progress {
        self.store
            .backfill_progress(user, provider, resource)
            .await
            .unwrap()
            .expect("a backfill record")
    }

    async fn summary_ids(&self, user: &str, resource: Resource) -> BTreeSet<String> {
        self.store
            .summaries(user, resource)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get_str("record_id").unwrap().to_owned())
            .collect()
    }

    async fn samples(&self, user: &str, resource: Resource) -> Vec<(String, String, String)> {
        self.store
            .samples(user, resource, None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.provider, s.source_type, s.timestamp))
            .collect()
    }
}

fn sqs_record_of(
    message: &aws_sdk_sqs::types::Message,
) -> aws_lambda_events::event::sqs::SqsMessage {
    serde_json::from_value(json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
    }))
    .unwrap()
}

/// A `historical.data.<resource>.created` body (the fixture's, with this user, provider and window).
fn historical(resource: &str, user: &str, provider: &str, from: &str, to: &str) -> Value {
    let mut body: Value =
        serde_json::from_slice(&fixture("historical.data.sleep.created")).unwrap();
    body["event_type"] = json!(format!("historical.data.{resource}.created"));
    body["user_id"] = json!(user);
    body["data"]["user_id"] = json!(user);
    body["data"]["provider"] = json!(provider);
    body["data"]["start_date"] = json!(from);
    body["data"]["end_date"] = json!(to);
    body
}

/// Served samples as the store keys them: (provider, source type, canonical instant), distinct and sorted.
fn served_samples(log: &[Value]) -> Vec<(String, String, String)> {
    let set: BTreeSet<(String, String, String)> = served(log)
        .iter()
        .map(|s| {
            let s = s.as_array().unwrap();
            (
                s[0].as_str().unwrap().to_owned(),
                s[1].as_str().unwrap().to_owned(),
                canonicalize(s[2].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    set.into_iter().collect()
}

fn print_figures(what: &str, p: &Progress, standin_calls: usize) {
    eprintln!(
        "[backfill] {what}: {} pages, {} chunks, {} records, {} API calls on the record, {} requests seen by the stand-in",
        p.pages_done, p.chunks, p.records, p.api_calls, standin_calls
    );
}

#[tokio::test]
async fn a_historical_summary_event_stores_exactly_the_records_served() {
    let env = env(4).await;
    let user = support::unique("bf-sleep");
    let body = historical(
        "sleep",
        &user,
        "oura",
        "2024-01-01T00:00:00+00:00",
        "2024-01-10T00:00:00+00:00",
    );
    env.deliver("msg_bf_sleep", &body).await;
    let drained = env.drain(0).await;

    let log = standin().log(&format!("/v2/summary/sleep/{user}"));
    let served_ids: BTreeSet<String> = served(&log)
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // Ten midnights from 1 to 10 January, in chunks of 4 days: [1, 5), [5, 9), [9, 10].
    assert_eq!(served_ids.len(), 10);
    assert_eq!(
        served(&log).len(),
        10,
        "no record is served twice across chunks"
    );
    assert_eq!(env.summary_ids(&user, Resource::Sleep).await, served_ids);
    assert_eq!(
        drained,
        Drained {
            fetched: 3,
            skipped: 0,
            failed: 0
        }
    );
    let queries: Vec<(&str, &str)> = log
        .iter()
        .map(|r| {
            (
                r["query"]["start_date"].as_str().unwrap(),
                r["query"]["end_date"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        queries,
        [
            ("2024-01-01T00:00:00Z", "2024-01-04T23:59:59.999999Z"),
            ("2024-01-05T00:00:00Z", "2024-01-08T23:59:59.999999Z"),
            ("2024-01-09T00:00:00Z", "2024-01-10T00:00:00Z"),
        ]
    );
    assert!(log.iter().all(|r| r["query"]["provider"] == "oura"));

    let p = env.progress(&user, "oura", Resource::Sleep).await;
    print_figures("sleep, 10 days in 4-day chunks", &p, log.len());
    assert_eq!(
        (
            p.status.as_deref(),
            p.run.as_deref(),
            p.chunks,
            p.chunks_done,
            p.pages_done,
            p.records,
            p.api_calls
        ),
        (Some("finished"), Some("msg_bf_sleep"), 3, 3, 3, 10, 3)
    );
    assert!(p.finished_at.is_some());
    // The webhook's own fields are still on the record.
    assert_eq!(p.pull_start.as_deref(), Some("2024-01-01T00:00:00.000000Z"));
    // A stored record is the served one, as the webhook would carry it.
    let record = &env.store.summaries(&user, Resource::Sleep).await.unwrap()[0];
    assert_eq!(record.get_str("provider"), Some("oura"));
    assert_eq!(record.attributes["data"]["user_id"], json!(user));
}

#[tokio::test]
async fn a_historical_timeseries_event_follows_cursors_through_429_and_a_5xx_burst() {
    let env = env(1).await;
    let user = support::unique("bf-weight");
    // `weight` in events is `body_weight` in the Data API.
    let path = format!("/v2/timeseries/{user}/body_weight/grouped");
    standin().fault(&path, &[429], Some("1"));
    standin().fault(&path, &[503, 502, 500], None);
    let body = historical(
        "weight",
        &user,
        "withings",
        "2024-02-01T00:00:00+00:00",
        "2024-02-03T00:00:00+00:00",
    );
    env.deliver("msg_bf_weight", &body).await;
    let drained = env.drain(0).await;

    let log = standin().log(&path);
    let served = served_samples(&log);
    // Hourly samples from 1 February 00:00 to 3 February 00:00, both included: 49, in pages of 20.
    assert_eq!(served.len(), 49);
    assert_eq!(env.samples(&user, Resource::Weight).await, served);
    let statuses: Vec<u64> = log.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [429, 503, 502, 500, 200, 200, 200, 200]);
    let cursors: Vec<Option<&str>> = log
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["query"]["next_cursor"].as_str())
        .collect();
    assert_eq!(cursors, [None, Some("o20"), None, Some("o20")]);
    assert_eq!(
        drained,
        Drained {
            fetched: 4,
            skipped: 0,
            failed: 0
        }
    );

    let p = env.progress(&user, "withings", Resource::Weight).await;
    print_figures(
        "weight, 2 days in 1-day chunks, 429 + 5xx burst",
        &p,
        log.len(),
    );
    assert_eq!(
        (
            p.status.as_deref(),
            p.chunks,
            p.chunks_done,
            p.pages_done,
            p.records,
            p.api_calls
        ),
        (Some("finished"), 2, 2, 4, 49, 8)
    );
}

#[tokio::test]
async fn an_empty_window_finishes_with_nothing_stored() {
    let env = env(30).await;
    let user = support::unique("empty-bf");
    let body = historical(
        "steps",
        &user,
        "garmin",
        "2024-03-01T00:00:00+00:00",
        "2024-03-03T00:00:00+00:00",
    );
    env.deliver("msg_bf_empty", &body).await;
    assert_eq!(
        env.drain(0).await,
        Drained {
            fetched: 1,
            skipped: 0,
            failed: 0
        }
    );
    let log = standin().log(&format!("/v2/timeseries/{user}/steps/grouped"));
    assert_eq!(log.len(), 1);
    assert_eq!(served(&log), Vec::<Value>::new());
    assert_eq!(env.samples(&user, Resource::Steps).await, vec![]);
    let p = env.progress(&user, "garmin", Resource::Steps).await;
    assert_eq!(
        (
            p.status.as_deref(),
            p.chunks,
            p.pages_done,
            p.records,
            p.api_calls
        ),
        (Some("finished"), 1, 1, 0, 1)
    );

    // A user without a profile: the one-record endpoint answers 404, which is no record, not a failure.
    let body = historical(
        "profile",
        &user,
        "garmin",
        "2024-03-01T00:00:00+00:00",
        "2024-03-03T00:00:00+00:00",
    );
    env.deliver("msg_bf_empty_profile", &body).await;
    assert_eq!(
        env.drain(0).await,
        Drained {
            fetched: 1,
            skipped: 0,
            failed: 0
        }
    );
    let log = standin().log(&format!("/v2/summary/profile/{user}"));
    assert_eq!(
        log.iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [404]
    );
    assert_eq!(
        env.summary_ids(&user, Resource::Profile).await,
        BTreeSet::new()
    );
    let p = env.progress(&user, "garmin", Resource::Profile).await;
    assert_eq!(
        (p.status.as_deref(), p.pages_done, p.records, p.api_calls),
        (Some("finished"), 1, 0, 1)
    );
}

#[tokio::test]
async fn a_record_fetched_and_received_as_a_webhook_is_stored_once() {
    let env = env(30).await;
    let user = support::unique("bf-dedupe");

    // Summaries: fetched first, then the same sleep arrives as a webhook.
    env.deliver(
        "msg_dd_sleep",
        &historical(
            "sleep",
            &user,
            "oura",
            "2024-04-01T00:00:00+00:00",
            "2024-04-03T00:00:00+00:00",
        ),
    )
    .await;
    env.drain(0).await;
    let fetched = env.summary_ids(&user, Resource::Sleep).await;
    assert_eq!(fetched.len(), 3);
    let log = standin().log(&format!("/v2/summary/sleep/{user}"));
    let record = env
        .store
        .summaries(&user, Resource::Sleep)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let webhook = json!({
        "event_type": "daily.data.sleep.created", "user_id": user, "data": record.attributes["data"],
    });
    env.deliver("msg_dd_sleep_webhook", &webhook).await;
    assert_eq!(env.summary_ids(&user, Resource::Sleep).await, fetched);
    assert_eq!(log.len(), 1);

    // Timeseries: a webhook first, then a fetch serving the same instants.
    let mut hr: Value = serde_json::from_slice(&fixture("daily.data.heartrate.created")).unwrap();
    hr["user_id"] = json!(user);
    hr["data"]["user_id"] = json!(user);
    // An Oura ring's webhook: no Apple app id.
    hr["data"]["source"] = json!({"provider": "oura", "type": "ring"});
    hr["data"]["data"] = json!([
        {"timestamp": "2024-04-01T05:00:00+00:00", "unit": "bpm", "value": 61},
        {"timestamp": "2024-04-01T05:30:00+00:00", "unit": "bpm", "value": 62}
    ]);
    env.deliver("msg_dd_hr_webhook", &hr).await;
    env.deliver(
        "msg_dd_hr",
        &historical(
            "heartrate",
            &user,
            "oura",
            "2024-04-01T00:00:00+00:00",
            "2024-04-01T10:00:00+00:00",
        ),
    )
    .await;
    env.drain(0).await;
    let served =
        served_samples(&standin().log(&format!("/v2/timeseries/{user}/heartrate/grouped")));
    assert_eq!(served.len(), 11, "hourly from 00:00 to 10:00");
    let stored = env.samples(&user, Resource::Heartrate).await;
    // The 05:00 sample is one sample (the fetched value, received last); 05:30 only came by webhook.
    let mut want: Vec<_> = served.clone();
    want.push((
        "oura".into(),
        "ring".into(),
        "2024-04-01T05:30:00.000000Z".into(),
    ));
    want.sort();
    assert_eq!(stored, want);
    let at_five = env
        .store
        .samples(&user, Resource::Heartrate, None, None)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.timestamp == "2024-04-01T05:00:00.000000Z")
        .unwrap();
    assert_ne!(
        at_five.sample["value"],
        json!(61),
        "the fetched value replaced the webhook's"
    );
}

#[tokio::test]
async fn an_interrupted_backfill_lands_in_the_dlq_and_resumes_without_duplicates() {
    // A fetch queue with a dead-letter queue, as in the template (maxReceiveCount 2 here, to keep the test short).
    let config = support::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq_url = support::create_queue(&config, "fetch-dlq").await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let queue_url = sqs
        .create_queue()
        .queue_name(support::unique("fetch"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let env = env_with_queue(30, Some(queue_url.clone())).await;
    let user = support::unique("bf-resume");
    let path = format!("/v2/timeseries/{user}/heartrate/grouped");
    env.deliver(
        "msg_resume",
        &historical(
            "heartrate",
            &user,
            "fitbit",
            "2024-05-01T00:00:00+00:00",
            "2024-05-03T00:00:00+00:00",
        ),
    )
    .await;

    // The first page goes through; then the Data API fails every request (the page's item fails twice: 12 requests).
    let first = env
        .fetcher
        .queue
        .sqs
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();
    let first = &first.messages.unwrap()[0];
    let first_item: WorkItem = serde_json::from_str(first.body().unwrap()).unwrap();
    assert!(matches!(
        env.fetcher.handle_record(sqs_record_of(first)).await,
        Ok(Outcome::Fetched {
            records: 20,
            api_calls: 1,
            next: true
        })
    ));
    sqs.delete_message()
        .queue_url(&queue_url)
        .receipt_handle(first.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    standin().fault(&path, &[503; 12], None);
    assert_eq!(
        env.drain(2).await,
        Drained {
            fetched: 0,
            skipped: 0,
            failed: 2
        }
    );
    // Received once more: SQS moves it to the dead-letter queue instead (moto applies the RedrivePolicy).
    assert_eq!(env.drain(10).await, Drained::default());
    let p = env.progress(&user, "fitbit", Resource::Heartrate).await;
    assert_eq!(
        (p.status.as_deref(), p.pages_done, p.records),
        (Some("running"), 1, 20)
    );

    // The dead letter carries the whole work item: run, window, chunk, page and cursor.
    let dead = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(dead.len(), 1);
    let item: WorkItem = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(
        item,
        WorkItem {
            task: Task::Page {
                from: "2024-05-01T00:00:00.000000Z".into(),
                to: "2024-05-03T00:00:00.000000Z".into(),
                chunk_days: 30,
                chunk: 0,
                page: 1,
                cursor: Some("o20".into()),
            },
            ..first_item.clone()
        }
    );

    // Resume: redrive it (as `jwh dlq redrive` would), and deliver the first page once more for good measure.
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(dead[0].body().unwrap())
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(&dlq_url)
        .receipt_handle(dead[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(first_item.to_json())
        .send()
        .await
        .unwrap();
    let drained = env.drain(0).await;
    assert_eq!(
        drained,
        Drained {
            fetched: 2,
            skipped: 1,
            failed: 0
        }
    );

    let log = standin().log(&path);
    let served = served_samples(&log);
    assert_eq!(served.len(), 49);
    assert_eq!(env.samples(&user, Resource::Heartrate).await, served);
    let p = env.progress(&user, "fitbit", Resource::Heartrate).await;
    print_figures("heartrate, 2 days, interrupted and resumed", &p, log.len());
    // Pages and records counted once each; API calls are those of the invocations that completed a page.
    assert_eq!(
        (p.status.as_deref(), p.pages_done, p.records, p.api_calls),
        (Some("finished"), 3, 49, 3)
    );
    assert_eq!(log.iter().filter(|r| r["status"] == 503).count(), 12);
}

#[tokio::test]
async fn a_workout_stream_is_fetched_and_stored_beside_the_notice() {
    let env = env(30).await;
    let user = support::unique("bf-stream");
    let mut body: Value =
        serde_json::from_slice(&fixture("daily.data.workout_stream.created")).unwrap();
    body["user_id"] = json!(user);
    body["data"]["user_id"] = json!(user);
    let workout = body["data"]["workout_id"].as_str().unwrap().to_owned();
    env.deliver("msg_stream", &body).await;
    assert_eq!(
        env.drain(0).await,
        Drained {
            fetched: 1,
            skipped: 0,
            failed: 0
        }
    );

    let log = standin().log(&format!("/v2/timeseries/workouts/{workout}/stream"));
    let mine: Vec<&Value> = log.iter().filter(|r| r["status"] == 200).collect();
    assert!(!mine.is_empty());
    let spec: Value = serde_json::from_slice(
        &std::fs::read(support::repo_root().join("shared/testdata/junction/swagger.json")).unwrap(),
    )
    .unwrap();
    let example = &spec["components"]["schemas"]["ClientFacingStream"]["example"];
    let stream = env.store.workout_stream(&user, &workout).await.unwrap();
    assert_eq!(stream.as_ref(), Some(example));
    let records = env
        .store
        .summaries(&user, Resource::WorkoutStream)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    let data = &records[0].attributes["data"];
    assert_eq!(data["message"], body["data"]["message"]);
    assert_eq!(data["sport"], body["data"]["sport"]);
    assert_eq!(records[0].get_str("record_id"), Some(workout.as_str()));

    // A new notice for the workout (Junction re-sends, or the workout changed) replaces the notice and leaves
    // the fetched stream alone; without a fetch queue it fetches nothing new.
    let mut again = body.clone();
    again["data"]["message"] = json!("a later notice");
    let meta =
        jwh_testkit::events::meta_for("msg_stream_again", &serde_json::to_vec(&again).unwrap());
    let event = jwh_shared::events::parse_event(&serde_json::to_vec(&again).unwrap()).unwrap();
    env.store.write_event(&event, &meta).await.unwrap();
    let records = env
        .store
        .summaries(&user, Resource::WorkoutStream)
        .await
        .unwrap();
    assert_eq!(records[0].attributes["data"]["message"], "a later notice");
    assert_eq!(
        env.store
            .workout_stream(&user, &workout)
            .await
            .unwrap()
            .as_ref(),
        Some(example)
    );
}
