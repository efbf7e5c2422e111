//! What the read side costs, measured from the calls it really makes against moto, each beside a plain `Query` of
//! the same items in the same run:
//!
//! - one day of 5 s heart rate from two sources (a phone and a watch: 34,560 samples), read through the API's
//!   grouped window, unresolved and resolved, beside one `Query` of the day's bucket items;
//! - a week of sleep summaries of a user with a year of them, read through the API's summary window (the `by_day`
//!   index, then `BatchGetItem`), beside the `Query` of the user's sleep records that a table without the index
//!   would need (every sleep record), and the units a date-ordered sort key would read for the same seven.
//!
//! Read units follow DynamoDB's rules, from the items each response returned: a `Query` page costs its items'
//! total size in 4 KB units (half for an eventually consistent read), `BatchGetItem` each item's size in 4 KB
//! units (strongly consistent). Latency is the median wall time over `JWH_READ_RUNS` runs (default 1; `make bench`
//! runs 5): moto's,
//! not DynamoDB's, so it is the ratio beside the plain `Query` that carries over, not the milliseconds.
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
//!
//! `cargo test -p jwh-tests --test it read_cost -- --nocapture` prints the table; `make bench` runs it with
//! `JWH_READ_OUT=<file>` (JSON, and the table beside it as `.txt`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use jwh_shared::data_api::{self, Settings};
use jwh_shared::events::{Resource, parse_event};
use jwh_shared::store::plan::item_size;
use jwh_shared::store::{PK, SK, Store, keys};
use serde_json::{Value, json};

use crate::support::{self, fixture, meta_for};

/// Read requests and units of the metered client.
#[derive(Debug, Default, Clone, PartialEq)]
struct Reads {
    requests: u32,
    items: u32,
    read_units: f64,
}

#[derive(Debug, Default, Clone)]
struct ReadMeter(Arc<Mutex<(Reads, Vec<bool>)>>);

impl ReadMeter {
    fn take(&self) -> Reads {
        std::mem::take(&mut self.0.lock().unwrap().0)
    }
}

fn units(bytes: usize, consistent: bool) -> f64 {
    let u = bytes.div_ceil(4096).max(1) as f64;
    if consistent { u } else { u / 2.0 }
}

impl Intercept for ReadMeter {
    fn name(&self) -> &'static str {
        "ReadMeter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A Query's consistency, for its response: a table read is strongly consistent only when asked, an index
        // read never is.
        if let Some(q) = context.input().downcast_ref::<QueryInput>() {
            let consistent = q.consistent_read() == Some(true) && q.index_name().is_none();
            self.0.lock().unwrap().1.push(consistent);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        let mut guard = self.0.lock().unwrap();
        let (reads, pending) = &mut *guard;
        if let Some(q) = output.downcast_ref::<QueryOutput>() {
            let consistent = if pending.is_empty() {
                false
            } else {
                pending.remove(0)
            };
            let bytes: usize = q.items().iter().map(item_size).sum();
            reads.requests += 1;
            reads.items += q.items().len() as u32;
            reads.read_units += units(bytes, consistent);
        } else if let Some(b) = output.downcast_ref::<BatchGetItemOutput>() {
            reads.requests += 1;
            for items in b.responses().into_iter().flat_map(|r| r.values()) {
                reads.items += items.len() as u32;
                reads.read_units += items.iter().map(|i| units(item_size(i), true)).sum::<f64>();
            }
        }
        Ok(())
    }
}

/// One measured way of reading.
#[derive(Debug, Clone)]
struct Row {
    case: &'static str,
    how: &'static str,
    reads: Reads,
    returned: usize,
    median: Duration,
}

/// Runs `read` `runs` times: the reads of one run (every run reads the same) and the median time.
async fn measure<F, Fut>(meter: &ReadMeter, runs: usize, mut read: F) -> (Reads, usize, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::new();
    let mut first = None;
    let mut returned = 0;
    for _ in 0..runs {
        meter.take();
        let started = Instant::now();
        returned = read().await;
        times.push(started.elapsed());
        let reads = meter.take();
        match &first {
            None => first = Some(reads),
            Some(f) => assert_eq!(&reads, f, "every run reads the same"),
        }
    }
    times.sort();
    (first.unwrap(), returned, times[times.len() / 2])
}

/// Every item a `Query` returns, page by page: the plain read beside the API's.
async fn plain_query(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    prefix: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// The samples of every page of a grouped window, following its cursors.
async fn grouped_samples(store: &Store, user: &str, resolve: bool) -> usize {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("start_date".to_owned(), "2024-11-24".to_owned())];
        if resolve {
            query.push(("resolve".into(), "true".into()));
        }
        if let Some(c) = &cursor {
            query.push(("next_cursor".into(), c.clone()));
        }
        let path = format!("/v2/timeseries/{user}/heartrate/grouped");
        let reply = data_api::handle(store, &Settings::default(), &path, &query).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        for groups in reply.body["groups"].as_object().unwrap().values() {
            for group in groups.as_array().unwrap() {
                total += group["data"].as_array().unwrap().len();
            }
        }
        match reply.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return total,
        }
    }
}

/// An hour of 5 s heart rate from `source` (one webhook).
fn hour_of_heart_rate(user: &str, hour: u32, provider: &str, source: &str) -> Vec<u8> {
    let data: Vec<Value> = (0..720)
        .map(|i| {
            let at = format!("2024-11-24T{hour:02}:{:02}:{:02}+00:00", i * 5 / 60, i * 5 % 60);
            json!({"timestamp": at, "value": 60 + (i + hour) % 50, "unit": "bpm", "timezone_offset": 3600})
        })
        .collect();
    json!({"event_type": "daily.data.heartrate.created", "user_id": user,
           "data": {"user_id": user, "source": {"provider": provider, "type": source}, "data": data}})
    .to_string()
    .into_bytes()
}

fn print(rows: &[Row]) -> String {
    let mut out = String::from(
        "case                          read                               requests  items  read units  returned  median ms  x plain\n",
    );
    let mut plain = Duration::ZERO;
    for r in rows {
        if r.how.starts_with("plain") {
            plain = r.median;
        }
        out.push_str(&format!(
            "{:<29} {:<34} {:>8} {:>6} {:>11.1} {:>9} {:>10.1} {:>8.2}\n",
            r.case,
            r.how,
            r.reads.requests,
            r.reads.items,
            r.reads.read_units,
            r.returned,
            r.median.as_secs_f64() * 1e3,
            r.median.as_secs_f64() / plain.as_secs_f64().max(1e-9),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_cost_beside_a_plain_query() {
    let runs: usize = std::env::var("JWH_READ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let meter = ReadMeter::default();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(meter.clone())
            .build(),
    );
    let store = Store::new(ddb.clone(), table.clone(), 7);
    let user = support::unique("reader");

    // A day of 5 s heart rate from a phone and a watch: 24 webhooks from each.
    let mut n = 0;
    for hour in 0..24 {
        for (provider, source) in [("apple_health_kit", "phone"), ("garmin", "watch")] {
            let body = hour_of_heart_rate(&user, hour, provider, source);
            let event = parse_event(&body).unwrap();
            n += 1;
            store
                .write_event(&event, &meta_for(&format!("msg_hr_{n}"), &body))
                .await
                .unwrap();
        }
    }
    // A year of sleep, one summary a night.
    let sleep: Value = serde_json::from_slice(&fixture("daily.data.sleep.created")).unwrap();
    let first_night = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for day in 0..366 {
        let date = first_night + chrono::Duration::days(day);
        let mut body = sleep.clone();
        body["user_id"] = user.clone().into();
        body["data"]["user_id"] = user.clone().into();
        body["data"]["id"] = format!("sleep-{day}").into();
        body["data"]["calendar_date"] = date.to_string().into();
        let bytes = body.to_string().into_bytes();
        let event = parse_event(&bytes).unwrap();
        store
            .write_event(&event, &meta_for(&format!("msg_sleep_{day}"), &bytes))
            .await
            .unwrap();
    }

    let mut rows = Vec::new();
    let hr = "day of 5 s HR, 2 sources";
    let pk = keys::user(&user);
    let prefix = keys::bucket_prefix(Resource::Heartrate);
    let (reads, returned, median) = measure(&meter, runs, || async {
        plain_query(&ddb, &table, &pk, &prefix).await.len()
    })
    .await;
    rows.push(Row {
        case: hr,
        how: "plain Query (bucket items)",
        reads,
        returned,
        median,
    });
    let (reads, returned, median) =
        measure(&meter, runs, || grouped_samples(&store, &user, false)).await;
    assert_eq!(returned, 2 * 24 * 720);
    rows.push(Row {
        case: hr,
        how: "API grouped, every source",
        reads,
        returned,
        median,
    });
    let (reads, returned, median) =
        measure(&meter, runs, || grouped_samples(&store, &user, true)).await;
    // The watch wins every instant (the default order); the phone's samples at the same instants go.
    assert_eq!(returned, 24 * 720);
    rows.push(Row {
        case: hr,
        how: "API grouped, resolve=true",
        reads,
        returned,
        median,
    });

    let week = "week of sleep (of a year)";
    let prefix = keys::summary_prefix(Resource::Sleep);
    let (reads, returned, median) = measure(&meter, runs, || async {
        plain_query(&ddb, &table, &pk, &prefix).await.len()
    })
    .await;
    assert_eq!(returned, 366);
    rows.push(Row {
        case: week,
        how: "plain Query (every sleep record)",
        reads,
        returned,
        median,
    });
    let all_sleep = plain_query(&ddb, &table, &pk, &prefix).await;
    meter.take();
    let path = format!("/v2/summary/sleep/{user}");
    let query = vec![
        ("start_date".to_owned(), "2024-03-04".to_owned()),
        ("end_date".to_owned(), "2024-03-10".to_owned()),
    ];
    let (reads, returned, median) = measure(&meter, runs, || async {
        let reply = data_api::handle(&store, &Settings::default(), &path, &query).await;
        reply.body["sleep"].as_array().unwrap().len()
    })
    .await;
    assert_eq!(returned, 7);
    // One index Query, one BatchGetItem, whatever the user's other nights.
    assert_eq!((reads.requests, reads.items), (2, 14), "{reads:?}");
    rows.push(Row {
        case: week,
        how: "API summary (by_day + BatchGet)",
        reads,
        returned,
        median,
    });
    // What one Query of a date-ordered sort key would read for the same seven records.
    let week_bytes: usize = all_sleep
        .iter()
        .filter(|i| {
            i.get("day").and_then(|d| d.as_s().ok()).is_some_and(|d| {
                d.as_str() >= "SUM#sleep#2024-03-04" && d.as_str() < "SUM#sleep#2024-03-11"
            })
        })
        .map(item_size)
        .sum();

    let table_text = print(&rows);
    let ideal = units(week_bytes, false);
    let table_text = format!(
        "{table_text}(a date-ordered sort key would read the same 7 sleep records in one Query: {ideal:.1} read units)\n"
    );
    eprintln!("\n{table_text}");

    // Paged at 5,000 samples, the API reads each bucket about once: a page reads on from its cursor's bucket and
    // stops a little past its last sample (not at the window's end, which would make a long window's pages cost
    // the square of its length). Resolution happens in memory, on fewer pages.
    let [plain_hr, all, resolved, plain_sleep, api_sleep] = &rows[..] else {
        unreachable!()
    };
    assert!(
        all.reads.read_units <= plain_hr.reads.read_units * 2.5,
        "{all:?}"
    );
    assert!(
        resolved.reads.read_units <= all.reads.read_units,
        "{resolved:?}"
    );
    // A week through the index reads its 7 records (a batch read bills each item at least half a unit) and a page
    // of keys; every record of the year costs what their bytes add up to, about a third of their text since
    // documents are stored compressed. The index reads at most a fifth of that here, and its cost does not grow
    // with the year.
    assert!(
        api_sleep.reads.read_units * 5.0 < plain_sleep.reads.read_units,
        "{api_sleep:?} {plain_sleep:?}"
    );

    if let Ok(out) = std::env::var("JWH_READ_OUT") {
        let json: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"case": r.case, "read": r.how, "requests": r.reads.requests, "items": r.reads.items,
                       "read_units": r.reads.read_units, "returned": r.returned,
                       "median_ms": r.median.as_secs_f64() * 1e3})
            })
            .collect();
        let json = json!({"runs": runs, "rows": json, "date_ordered_week_read_units": ideal});
        std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        std::fs::write(
            std::path::Path::new(&out).with_extension("txt"),
            format!("== reads (median of {runs} runs against moto)\n{table_text}"),
        )
        .unwrap();
    }
}
