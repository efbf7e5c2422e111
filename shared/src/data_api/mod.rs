//! The read side in Junction's own shapes: the user's copy answers the Data API's window requests with the same
//! paths, parameters and bodies as Junction, so code written against Junction reads it by changing its base URL.
//!
//! - `GET /v2/summary/{resource}/{user_id}?start_date&end_date&provider` → `{"{list}": [record, …]}`: the
//!   summaries whose date (calendar date, else start) is in the window, each as its webhook carried it;
//! - `GET /v2/timeseries/{user_id}/{resource}/grouped?start_date&end_date&provider&next_cursor` →
//!   `{"groups": {"{provider}": [{"source": {…}, "data": [sample, …]}]}, "next": c, "next_cursor": c}`: the
//!   samples in the window, grouped by provider and source, [`MAX_PAGE`] samples a page.
//!
//! Both take `resolve=true` (and `priority=…`) to keep only the highest-priority source's data
//! ([`crate::resolve`]). Bad parameters answer 400 with a message naming the parameter, never its value; an unknown
//! path or resource 404. [`handle`] is the whole of it, over a [`Store`]; an HTTP adapter only carries requests in
//! and replies out.

pub mod endpoints;
mod records;

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::events::{Resource, SampleShape};
use crate::query::{StoredRecord, StoredSample, expand_bucket};
use crate::resolve::{Priorities, Priority, resolve_samples, resolve_summaries};
use crate::store::plan::junction_text;
use crate::store::time::canonical;
use crate::store::time::parse_instant;
use crate::store::{BucketSpan, Store, StoreError, keys};
use endpoints::{Endpoint, endpoint, resource_of};

/// The most samples one grouped page holds.
pub const MAX_PAGE: usize = 5_000;

/// A reply: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    fn error(status: u16, detail: impl Into<String>) -> Reply {
        Reply {
            status,
            body: json!({"detail": detail.into()}),
        }
    }
}

/// A parsed request: what to read.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A summary window.
    Summary {
        /// The resource.
        resource: Resource,
        /// The user.
        user_id: String,
        /// The window.
        window: Window,
    },
    /// A page of a grouped timeseries window.
    Grouped {
        /// The resource.
        resource: Resource,
        /// The user.
        user_id: String,
        /// The window.
        window: Window,
        /// Where the page starts (from the cursor): after `skip` samples at the instant `at`.
        after: Option<After>,
        /// Samples a page.
        page_size: usize,
    },
    /// Totals per local day of an additive resource's resolved samples
    /// (`/v2/timeseries/{user_id}/{resource}/daily_totals`): no Junction equivalent.
    DailyTotals {
        /// The resource (steps, calories, distance, floors, …).
        resource: Resource,
        /// The user.
        user_id: String,
        /// The window.
        window: Window,
        /// The order the samples are resolved by (the request's, else the deployment's).
        priority: Priority,
    },
    /// The user's connected providers (`/v2/user/providers/{user_id}`).
    Providers {
        /// The user.
        user_id: String,
    },
    /// The user's devices (`/v2/user/{user_id}/device`), or one (`…/device/{device_id}`).
    Devices {
        /// The user.
        user_id: String,
        /// One device, by Junction's id.
        device_id: Option<String>,
    },
    /// The user's historical pulls (`/v2/introspect/historical_pull?user_id=…&provider=…`).
    HistoricalPulls {
        /// The user.
        user_id: String,
        /// Only this provider's.
        provider: Option<String>,
    },
    /// The user's lab records with their status history (`/v2/lab/{user_id}?kind=…`): no Junction equivalent.
    Lab {
        /// The user.
        user_id: String,
        /// Only records of this kind (`order`, `appointment`, `critical_result`, `parsing_job`).
        kind: Option<String>,
    },
    /// A page of catch-all records (`/v2/catch_all?event_type=…`): no Junction equivalent.
    CatchAll {
        /// Only messages of this event type.
        event_type: Option<String>,
        /// Records skipped (from the cursor).
        offset: usize,
        /// Records a page.
        page_size: usize,
    },
    /// One catch-all message, its body whole (`/v2/catch_all/{svix_id}`).
    CatchAllMessage {
        /// The message.
        svix_id: String,
    },
}

/// Where a grouped page starts: at the instant `at` (canonical UTC), after the first `skip` samples there (in the
/// order a window is served). A page reads from `at`'s bucket on, not the window again from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The instant of the first sample not yet served.
    pub at: String,
    /// Samples at `at` already served.
    pub skip: usize,
}

/// What a deployment sets for every request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Source orders for `resolve=true` without a `priority` (the `DataPriority` parameter).
    pub priorities: Priorities,
}

/// The parameters every window takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start, inclusive.
    pub start: DateTime<Utc>,
    /// End, inclusive (a date alone: the end of that day).
    pub end: DateTime<Utc>,
    /// Only this provider's data.
    pub provider: Option<String>,
    /// Keep only the highest-priority source's data, by this order.
    pub resolve: Option<Priority>,
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Parses a request's path and query; a [`Reply`] for what cannot be served.
pub fn parse(
    path: &str,
    query: &[(String, String)],
    priorities: &Priorities,
) -> Result<Request, Reply> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || Reply::error(404, "Not Found");
    if let Some(request) = records::parse(&segments, query)? {
        return Ok(request);
    }
    let timeseries = |name: &str| {
        resource_of(name, false)
            .ok_or_else(|| Reply::error(404, format!("no timeseries resource `{name}`")))
    };
    let (resource, user_id, grouped, totals) = match segments.as_slice() {
        ["v2", "summary", name, user] => (
            resource_of(name, true)
                .ok_or_else(|| Reply::error(404, format!("no summary resource `{name}`")))?,
            *user,
            false,
            false,
        ),
        ["v2", "timeseries", user, name, "grouped"] => (timeseries(name)?, *user, true, false),
        ["v2", "timeseries", user, name, "daily_totals"] => {
            let resource = timeseries(name)?;
            if !crate::resolve::is_additive(resource) {
                return Err(Reply::error(
                    404,
                    format!("`{name}` does not add up over a day: no daily totals"),
                ));
            }
            (resource, *user, false, true)
        }
        _ => return Err(not_found()),
    };
    let user_id = percent_decode(user_id).ok_or_else(not_found)?;
    let time = |name: &str, end: bool| -> Result<Option<DateTime<Utc>>, Reply> {
        let Some(text) = param(query, name) else {
            return Ok(None);
        };
        let t = parse_instant(text)
            .ok_or_else(|| bad(name, "is not a date (YYYY-MM-DD) or an RFC 3339 date-time"))?;
        Ok(Some(if end && is_date(text) {
            t + Duration::days(1) - Duration::microseconds(1)
        } else {
            t
        }))
    };
    let start = match (time("start_date", false)?, resource) {
        (Some(t), _) => t,
        // Junction's profile endpoint takes no window.
        (None, Resource::Profile) => DateTime::<Utc>::UNIX_EPOCH,
        (None, _) => return Err(bad("start_date", "is required")),
    };
    let end = time("end_date", true)?.unwrap_or_else(Utc::now);
    if end < start {
        return Err(bad("end_date", "is before start_date"));
    }
    let resolve = match (param(query, "resolve"), param(query, "priority")) {
        (None | Some("false"), None) => None,
        (None | Some("false"), Some(_)) => {
            return Err(bad("priority", "needs resolve=true"));
        }
        (Some("true"), None) => Some(priorities.for_resource(resource)),
        (Some("true"), Some(order)) => Some(
            Priority::parse(order)
                .map_err(|e| bad("priority", &format!("is not an order: {e}")))?,
        ),
        (Some(_), _) => return Err(bad("resolve", "is true or false")),
    };
    let window = Window {
        start,
        end,
        provider: param(query, "provider").map(str::to_owned),
        resolve,
    };
    if totals {
        // Totals are always of resolved samples: two sources of one stretch of time never add up.
        let priority = window
            .resolve
            .clone()
            .unwrap_or_else(|| priorities.for_resource(resource));
        return Ok(Request::DailyTotals {
            resource,
            user_id,
            window,
            priority,
        });
    }
    if !grouped {
        return Ok(Request::Summary {
            resource,
            user_id,
            window,
        });
    }
    let (cursor, page_size) = paging(query)?;
    let after = match cursor {
        Some(c) => Some(
            decode_after(c).ok_or_else(|| bad("next_cursor", "is not a cursor of this window"))?,
        ),
        None => None,
    };
    Ok(Request::Grouped {
        resource,
        user_id,
        window,
        after,
        page_size,
    })
}

fn bad(name: &str, why: &str) -> Reply {
    Reply::error(400, format!("`{name}` {why}"))
}

/// The `next_cursor` (or `cursor`) given, and the `page_size`, at most [`MAX_PAGE`].
fn paging(query: &[(String, String)]) -> Result<(Option<&str>, usize), Reply> {
    let cursor = param(query, "next_cursor").or(param(query, "cursor"));
    let page_size = match param(query, "page_size") {
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad("page_size", &format!("is a number from 1 to {MAX_PAGE}")))?,
        None => MAX_PAGE,
    };
    Ok((cursor, page_size))
}

/// A path segment decoded; `None` when empty or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
        .filter(|s| !s.is_empty())
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn encode_after(after: &After) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("t{}|{}", after.at, after.skip))
}

fn decode_after(cursor: &str) -> Option<After> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let (at, skip) = std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('t')?
        .split_once('|')?;
    parse_instant(at)?;
    Some(After {
        at: at.to_owned(),
        skip: skip.parse().ok()?,
    })
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('o')?
        .parse()
        .ok()
}

/// Serves one request.
pub async fn handle(
    store: &Store,
    settings: &Settings,
    path: &str,
    query: &[(String, String)],
) -> Reply {
    let request = match parse(path, query, &settings.priorities) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let result = match request {
        Request::Summary {
            resource,
            user_id,
            window,
        } => summaries(store, resource, &user_id, &window).await,
        Request::Grouped {
            resource,
            user_id,
            window,
            after,
            page_size,
        } => grouped(store, resource, &user_id, &window, after, page_size).await,
        Request::DailyTotals {
            resource,
            user_id,
            window,
            priority,
        } => daily_totals(store, resource, &user_id, &window, &priority).await,
        Request::Providers { user_id } => records::providers(store, &user_id).await,
        Request::Devices { user_id, device_id } => {
            records::devices(store, &user_id, device_id.as_deref()).await
        }
        Request::HistoricalPulls { user_id, provider } => {
            records::historical_pulls(store, &user_id, provider.as_deref()).await
        }
        Request::Lab { user_id, kind } => records::lab(store, &user_id, kind.as_deref()).await,
        Request::CatchAll {
            event_type,
            offset,
            page_size,
        } => records::catch_all(store, event_type.as_deref(), offset, page_size).await,
        Request::CatchAllMessage { svix_id } => records::catch_all_message(store, &svix_id).await,
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "read failed");
        Reply::error(503, "the store could not be read; try again")
    })
}

/// Serves `DELETE /users/{user_id}` (`team_id=…`, repeatable: the teams whose lab match reviews may name the user):
/// erases everything the stack holds of the user ([`Store::erase_user`]) and reports what was removed. An erasure
/// that is not finished `within` answers 202, and a second request finishes it (erasure is resumable); one that
/// fails answers 503, what it removed staying removed.
pub async fn erase(
    store: &Store,
    path: &str,
    query: &[(String, String)],
    payloads: Option<(&aws_sdk_s3::Client, &str)>,
    archive: Option<(&aws_sdk_s3::Client, &str)>,
    within: std::time::Duration,
) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(user_id) = (match segments.as_slice() {
        ["users", user] => percent_decode(user),
        _ => None,
    }) else {
        return Reply::error(404, "Not Found");
    };
    let teams: Vec<String> = query
        .iter()
        .filter(|(k, v)| k == "team_id" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    match tokio::time::timeout(
        within,
        store.erase_user(&user_id, &teams, payloads, archive),
    )
    .await
    {
        Ok(Ok(erased)) => Reply::ok(json!({
            "user_id": user_id,
            "complete": true,
            "removed": erased,
            "total": erased.total(),
        })),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "erasure failed");
            Reply::error(
                503,
                "the erasure stopped on a failure; what it removed stays removed: try again to finish it",
            )
        }
        Err(_) => Reply {
            status: 202,
            body: json!({
                "user_id": user_id,
                "complete": false,
                "detail": "the erasure is still under way: send the same request again to finish it",
            }),
        },
    }
}

async fn summaries(
    store: &Store,
    resource: Resource,
    user_id: &str,
    window: &Window,
) -> Result<Reply, StoreError> {
    let mut records: Vec<StoredRecord> = if resource == Resource::Profile {
        // Profiles have no date: the one record, whatever the window.
        store.summaries(user_id, resource).await?
    } else {
        store
            .summaries_between(
                user_id,
                resource,
                window.start.date_naive(),
                window.end.date_naive(),
            )
            .await?
    };
    records.retain(|r| {
        window
            .provider
            .as_deref()
            .is_none_or(|p| r.get_str("provider") == Some(p))
    });
    if let Some(priority) = &window.resolve {
        records = resolve_summaries(records, priority);
    }
    let mut data = records
        .into_iter()
        .map(|mut r| summary_body(resource, r.attributes.remove("data").unwrap_or(Value::Null)));
    Ok(match endpoint(resource) {
        Endpoint::Summary {
            list: Some(list), ..
        } => Reply::ok(json!({ list: data.collect::<Vec<_>>() })),
        Endpoint::Summary { list: None, .. } => match data.next_back() {
            Some(record) => Reply::ok(record),
            None => Reply::error(404, "no record for this user"),
        },
        _ => Reply::error(404, "Not Found"),
    })
}

/// A sample as Junction's grouped API returns it: as stored, with its `timestamp` back, in the API's shape where
/// the webhook's differs: an empty `grouping` (webhooks send `[]`; the API's schema wants one to four keys or none)
/// is left out, so that the API's default applies.
pub fn sample_body(sample: &StoredSample) -> Value {
    let mut body = match &sample.sample {
        Value::Object(m) => m.clone(),
        other => Map::from_iter([("value".to_owned(), other.clone())]),
    };
    if let Some(at) = parse_instant(&sample.timestamp) {
        body.insert("timestamp".into(), Value::String(junction_text(&at)));
    }
    if body
        .get("grouping")
        .is_some_and(|g| g.as_array().is_some_and(Vec::is_empty))
    {
        body.remove("grouping");
    }
    Value::Object(body)
}

/// A summary as Junction's summary API returns it: as its webhook carried it, in the API's shape where the
/// webhook's differs, from what the record itself says (nothing is made up):
/// - a workout's `sport` without `slug` gets the slug of its name (`Table Tennis` → `table_tennis`);
/// - a sleep's `sleep_stream.hypnogram` samples without `start` and `end` (the API's interval form) start at their
///   `timestamp` and end where the next one starts (the last at the sleep's `bedtime_stop`, or its own start).
pub fn summary_body(resource: Resource, mut data: Value) -> Value {
    match resource {
        Resource::Workouts => {
            if let Some(sport) = data.get_mut("sport").and_then(Value::as_object_mut)
                && !sport.contains_key("slug")
                && let Some(name) = sport.get("name").and_then(Value::as_str)
            {
                let slug = name
                    .trim()
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join("_");
                sport.insert("slug".into(), Value::String(slug));
            }
        }
        Resource::Sleep => {
            let stop = data.get("bedtime_stop").cloned();
            if let Some(hypnogram) = data
                .pointer_mut("/sleep_stream/hypnogram")
                .and_then(Value::as_array_mut)
            {
                let starts: Vec<Option<Value>> = hypnogram
                    .iter()
                    .map(|s| s.get("start").or_else(|| s.get("timestamp")).cloned())
                    .collect();
                for (i, sample) in hypnogram.iter_mut().enumerate() {
                    let Some(sample) = sample.as_object_mut() else {
                        continue;
                    };
                    let Some(start) = starts[i].clone() else {
                        continue;
                    };
                    if !sample.contains_key("end") {
                        let end = starts
                            .get(i + 1)
                            .cloned()
                            .flatten()
                            .or_else(|| stop.clone().filter(|s| s.as_str() >= start.as_str()))
                            .unwrap_or_else(|| start.clone());
                        sample.insert("end".into(), end);
                    }
                    sample.entry("start").or_insert(start);
                }
            }
        }
        _ => {}
    }
    data
}

fn source_body(sample: &StoredSample) -> Value {
    json!({
        "provider": sample.provider,
        "type": sample.source_type,
        "app_id": sample.app_id,
        "device_id": sample.device_id,
        "sport": sample.sport,
        "workout_id": sample.workout_id,
    })
}

/// `{"daily_totals": [{resource, date, total, unit, samples, sources}, …]}`: the window's samples resolved by
/// `priority`, added up per the user's local day ([`crate::resolve::daily_totals`]).
async fn daily_totals(
    store: &Store,
    resource: Resource,
    user_id: &str,
    window: &Window,
    priority: &Priority,
) -> Result<Reply, StoreError> {
    let mut samples = store
        .samples(user_id, resource, Some(window.start), Some(window.end))
        .await?;
    samples.retain(|s| window.provider.as_deref().is_none_or(|p| s.provider == p));
    let totals = crate::resolve::daily_totals(&resolve_samples(samples, priority));
    Ok(Reply::ok(json!({ "daily_totals": totals })))
}

/// Buckets a grouped page reads first; further reads are sized by the density of what was read.
const FIRST_BUCKET_READ: i32 = 16;
/// The most buckets one read asks for.
const MAX_BUCKET_READ: i32 = 1024;

/// The samples a window serves from those read: those before `known_before` (all, when every bucket was read),
/// resolved when asked, in one total order, so that every page agrees on what comes before its cursor.
pub fn served(
    raw: &[StoredSample],
    known_before: Option<&str>,
    resolve: Option<&Priority>,
) -> Vec<StoredSample> {
    let mut samples: Vec<StoredSample> = raw
        .iter()
        .filter(|s| known_before.is_none_or(|k| s.timestamp.as_str() < k))
        .cloned()
        .collect();
    if let Some(priority) = resolve {
        samples = resolve_samples(samples, priority);
    }
    // Compared in place; the sample's own text only breaks the rare tie of one source's samples at one instant
    // (typed samples), so ordering allocates nothing.
    samples.sort_by(|a, b| {
        type Key<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        fn key(s: &StoredSample) -> Key<'_> {
            (
                s.timestamp.as_str(),
                s.provider.as_str(),
                s.source_type.as_str(),
                s.app_id.as_deref(),
                s.device_id.as_deref(),
                s.workout_id.as_deref(),
                s.sport.as_deref(),
            )
        }
        key(a)
            .cmp(&key(b))
            .then_with(|| a.sample.to_string().cmp(&b.sample.to_string()))
    });
    samples
}

async fn grouped(
    store: &Store,
    resource: Resource,
    user_id: &str,
    window: &Window,
    after: Option<After>,
    page_size: usize,
) -> Result<Reply, StoreError> {
    let Some(shape) = resource.kind().sample_shape() else {
        return Ok(Reply::error(404, "Not Found"));
    };
    // A later page reads from its instant's bucket on. Resolving interval samples there also needs those that
    // began up to a day before it (an interval can be outranked by one that started earlier and overlaps it).
    let from = match (&after, &window.resolve, shape) {
        (None, _, _) => window.start,
        (Some(a), Some(_), SampleShape::Interval | SampleShape::Note) => {
            parse_instant(&a.at).map_or(window.start, |t| t - Duration::days(1))
        }
        (Some(a), _, _) => parse_instant(&a.at).unwrap_or(window.start),
    }
    .max(window.start);
    // Buckets are read in key order (start, then series) until the page is complete: every sample before the
    // start of the last bucket read is known, so a page stops reading one sample past its end (a day past, for
    // resolved intervals), not at the window's end.
    let (lo, hi) = (canonical(&from), canonical(&window.end));
    let intervals_resolved =
        window.resolve.is_some() && matches!(shape, SampleShape::Interval | SampleShape::Note);
    let mut reader = store.buckets(user_id, resource, from, window.end);
    let mut raw: Vec<StoredSample> = Vec::new();
    let (mut limit, mut read) = (FIRST_BUCKET_READ, 0usize);
    let (samples, start) = loop {
        let buckets = reader.next(limit).await?;
        read += buckets.len();
        raw.extend(buckets.iter().flat_map(expand_bucket).filter(|s| {
            s.timestamp >= lo
                && s.timestamp <= hi
                && window.provider.as_deref().is_none_or(|p| s.provider == p)
        }));
        let known_before = if reader.exhausted() {
            None
        } else {
            match buckets
                .last()
                .and_then(|b| keys::parse_bucket(&b.sk))
                .and_then(|(_, label, _)| BucketSpan::start_of(&label))
            {
                Some(t) => Some(canonical(&t)),
                None => continue,
            }
        };
        let samples = served(&raw, known_before.as_deref(), window.resolve.as_ref());
        let start = match &after {
            None => 0,
            Some(a) => {
                let first_at = samples.partition_point(|s| s.timestamp < a.at);
                let at_end = samples.partition_point(|s| s.timestamp <= a.at);
                (first_at + a.skip).min(at_end)
            }
        };
        let Some(known_before) = known_before else {
            break (samples, start);
        };
        if let Some(past_page) = samples.get(start + page_size) {
            let needed = if intervals_resolved {
                parse_instant(&past_page.timestamp)
                    .map_or_else(|| hi.clone(), |t| canonical(&(t + Duration::days(1))))
            } else {
                past_page.timestamp.clone()
            };
            if known_before > needed {
                break (samples, start);
            }
        }
        // The next read: as many buckets as the samples still missing would fill at the density read so far, and
        // two more for the one past the page.
        let missing = (start + page_size + 1).saturating_sub(samples.len());
        let per_bucket = (raw.len() / read.max(1)).max(1);
        limit = i32::try_from(missing.div_ceil(per_bucket) + 2)
            .unwrap_or(MAX_BUCKET_READ)
            .clamp(2, MAX_BUCKET_READ);
    };
    Ok(Reply::ok(grouped_page(&samples, start, page_size)))
}

/// The body of one grouped page: up to `page_size` of `samples` (in the order [`served`] gives) from `start`,
/// grouped by provider and source, with the cursor of the next page. Pure: what a page costs beside its reads
/// (`make bench`).
pub fn grouped_page(samples: &[StoredSample], start: usize, page_size: usize) -> Value {
    let page: Vec<&StoredSample> = samples[start.min(samples.len())..]
        .iter()
        .take(page_size)
        .collect();
    let next = match page.last() {
        Some(last) if start + page.len() < samples.len() => {
            let at = last.timestamp.clone();
            let first_at = samples.partition_point(|s| s.timestamp < at);
            Some(encode_after(&After {
                skip: start + page.len() - first_at,
                at,
            }))
        }
        _ => None,
    };
    // provider -> source (its parts, for a stable order) -> (a sample of it, samples)
    type SourceParts<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let mut groups: BTreeMap<&str, BTreeMap<SourceParts<'_>, (&StoredSample, Vec<Value>)>> =
        BTreeMap::new();
    for sample in page {
        let parts = (
            sample.source_type.as_str(),
            sample.app_id.as_deref(),
            sample.device_id.as_deref(),
            sample.sport.as_deref(),
            sample.workout_id.as_deref(),
        );
        groups
            .entry(sample.provider.as_str())
            .or_default()
            .entry(parts)
            .or_insert_with(|| (sample, Vec::new()))
            .1
            .push(sample_body(sample));
    }
    let groups: Map<String, Value> = groups
        .into_iter()
        .map(|(provider, sources)| {
            let list = sources
                .into_values()
                .map(|(first, data)| json!({"source": source_body(first), "data": data}))
                .collect();
            (provider.to_owned(), Value::Array(list))
        })
        .collect();
    json!({"groups": groups, "next": next, "next_cursor": next})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::parse`] with the deployment's defaults.
    fn parse(path: &str, query: &[(String, String)]) -> Result<Request, Reply> {
        super::parse(path, query, &Priorities::default())
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn webhook_shapes_become_the_apis_where_they_differ() {
        let workout = summary_body(
            Resource::Workouts,
            json!({"sport": {"id": 1, "name": "Table Tennis"}}),
        );
        assert_eq!(workout["sport"]["slug"], "table_tennis");
        let given = json!({"sport": {"id": 1, "name": "Run", "slug": "running"}});
        assert_eq!(summary_body(Resource::Workouts, given.clone()), given);
        let sleep = summary_body(
            Resource::Sleep,
            json!({"bedtime_stop": "2024-01-01T07:00:00+00:00", "sleep_stream": {"hypnogram": [
                {"timestamp": "2024-01-01T06:00:00+00:00", "value": 1, "unit": "stage"},
                {"timestamp": "2024-01-01T06:00:30+00:00", "value": 2, "unit": "stage"}]}}),
        );
        let h = &sleep["sleep_stream"]["hypnogram"];
        assert_eq!(
            (&h[0]["start"], &h[0]["end"]),
            (
                &json!("2024-01-01T06:00:00+00:00"),
                &json!("2024-01-01T06:00:30+00:00")
            )
        );
        assert_eq!(h[1]["end"], "2024-01-01T07:00:00+00:00");
        let sample = StoredSample {
            user_id: "u".into(),
            resource: "blood_pressure".into(),
            provider: "omron".into(),
            source_type: "cuff".into(),
            app_id: None,
            device_id: None,
            workout_id: None,
            sport: None,
            timestamp: "2024-01-01T00:00:00.000000Z".into(),
            message_created_at: "2024-01-01T00:00:00.000000Z".into(),
            sample: json!({"systolic": 120, "diastolic": 80, "unit": "mmHg", "grouping": []}),
        };
        assert!(sample_body(&sample).get("grouping").is_none());
    }

    #[test]
    fn paths_and_parameters_parse_like_junctions() {
        let Ok(Request::Grouped {
            resource,
            user_id,
            window,
            after,
            page_size,
        }) = parse(
            "/v2/timeseries/u%2D1/body_weight/grouped",
            &q(&[
                ("start_date", "2024-01-01"),
                ("end_date", "2024-01-02"),
                ("provider", "withings"),
            ]),
        )
        else {
            panic!()
        };
        assert_eq!((resource, user_id.as_str()), (Resource::Weight, "u-1"));
        assert_eq!(window.start, parse_instant("2024-01-01").unwrap());
        // A date alone ends at the end of that day.
        assert_eq!(
            window.end,
            parse_instant("2024-01-02T23:59:59.999999Z").unwrap()
        );
        assert_eq!(window.provider.as_deref(), Some("withings"));
        assert_eq!((after, page_size), (None, MAX_PAGE));
        let Ok(Request::Summary { resource, .. }) = parse(
            "/v2/summary/meal/u1",
            &q(&[("start_date", "2024-01-01T00:00:00Z")]),
        ) else {
            panic!()
        };
        assert_eq!(resource, Resource::Meal);
        let at = After {
            at: "2024-01-01T10:00:00.000000Z".into(),
            skip: 2,
        };
        let cursor = encode_after(&at);
        let Ok(Request::Grouped { after, .. }) = parse(
            "/v2/timeseries/u1/heartrate/grouped",
            &q(&[("start_date", "2024-01-01"), ("next_cursor", &cursor)]),
        ) else {
            panic!()
        };
        assert_eq!(after, Some(at));
    }

    #[test]
    fn what_cannot_be_served_says_why_without_echoing_values() {
        let status = |path: &str, pairs: &[(&str, &str)]| {
            let reply = parse(path, &q(pairs)).unwrap_err();
            (
                reply.status,
                reply.body["detail"].as_str().unwrap().to_owned(),
            )
        };
        let day = ("start_date", "2024-01-01");
        assert_eq!(status("/v2/summary/sleeps/u1", &[day]).0, 404);
        assert_eq!(status("/v2/timeseries/u1/weight/grouped", &[day]).0, 404);
        assert_eq!(status("/v2/other", &[day]).0, 404);
        assert_eq!(
            status("/v2/summary/sleep/u1", &[]),
            (400, "`start_date` is required".into())
        );
        let (code, detail) = status("/v2/summary/sleep/u1", &[("start_date", "SECRET-junk")]);
        assert_eq!(code, 400);
        assert!(
            detail.contains("start_date") && !detail.contains("SECRET"),
            "{detail}"
        );
        assert_eq!(
            status("/v2/summary/sleep/u1", &[day, ("end_date", "2023-12-31")]).0,
            400
        );
        assert_eq!(
            status(
                "/v2/timeseries/u1/steps/grouped",
                &[day, ("next_cursor", "zz")]
            )
            .0,
            400
        );
        assert_eq!(
            status(
                "/v2/timeseries/u1/steps/grouped",
                &[day, ("page_size", "0")]
            )
            .0,
            400
        );
        assert_eq!(
            status(
                "/v2/timeseries/u1/steps/grouped",
                &[day, ("page_size", "5001")]
            )
            .0,
            400
        );
        assert_eq!(
            status("/v2/summary/sleep/u1", &[day, ("resolve", "maybe")]).0,
            400
        );
        assert_eq!(
            status("/v2/summary/sleep/u1", &[day, ("priority", "watch")]).0,
            400
        );
        assert!(
            parse(
                "/v2/summary/sleep/u1",
                &q(&[day, ("resolve", "true"), ("priority", "ring,watch")])
            )
            .is_ok()
        );
        // Profiles take no window.
        assert!(parse("/v2/summary/profile/u1", &[]).is_ok());
    }

    /// DynamoDB failing (past the SDK's retries) answers 503, saying nothing of the request or the data.
    #[tokio::test]
    async fn a_store_that_fails_answers_503() {
        use jwh_testkit::stub::{Stub, json_error};
        let aws = Stub::new(|_| {
            json_error(
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "boom",
            )
        });
        let store = Store::new(aws_sdk_dynamodb::Client::new(&aws.sdk_config()), "t", 7);
        for path in [
            "/v2/summary/sleep/u1",
            "/v2/timeseries/u1/heartrate/grouped",
            "/v2/timeseries/u1/steps/daily_totals",
            "/v2/user/providers/u1",
            "/v2/user/u1/device",
            "/v2/introspect/historical_pull",
            "/v2/lab/u1",
            "/v2/catch_all",
            "/v2/catch_all/msg_1",
        ] {
            let reply = handle(
                &store,
                &Settings::default(),
                path,
                &q(&[("start_date", "2024-01-01"), ("user_id", "u1")]),
            )
            .await;
            assert_eq!(reply.status, 503, "{path}");
            assert!(!reply.body.to_string().contains("boom"), "{}", reply.body);
        }
        assert!(aws.count("Query") >= 9);
        // Erasure too: what it removed stays removed, and a second request finishes it.
        let reply = erase(
            &store,
            "/users/u1",
            &[],
            None,
            None,
            std::time::Duration::from_secs(5),
        )
        .await;
        assert_eq!(reply.status, 503);
        assert!(reply.body["detail"].as_str().unwrap().contains("try again"));
    }

    /// A batch read that DynamoDB leaves partly unprocessed is sent again until it is whole.
    #[tokio::test]
    async fn summaries_left_unprocessed_by_a_batch_read_are_read_again() {
        use jwh_testkit::stub::{Stub, ok};
        let key = r#"{"pk":{"S":"USER#u1"},"sk":{"S":"SUM#sleep#s1"}}"#;
        let tries = std::sync::atomic::AtomicU32::new(0);
        let aws = Stub::new(move |call| {
            if call.is("Query") {
                let item = r#"{"pk":{"S":"USER#u1"},"sk":{"S":"SUM#sleep#s1"},"day":{"S":"SUM#sleep#2024-01-02#s1"}}"#;
                (200, format!(r#"{{"Items":[{item}],"Count":1}}"#))
            } else if call.is("BatchGetItem") {
                if tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                    (
                        200,
                        format!(
                            r#"{{"Responses":{{}},"UnprocessedKeys":{{"t":{{"Keys":[{key}]}}}}}}"#
                        ),
                    )
                } else {
                    let item = r#"{"pk":{"S":"USER#u1"},"sk":{"S":"SUM#sleep#s1"},"kind":{"S":"summary"},"day":{"S":"SUM#sleep#2024-01-02#s1"},"data":{"S":"{\"id\":\"s1\"}"}}"#;
                    (200, format!(r#"{{"Responses":{{"t":[{item}]}}}}"#))
                }
            } else {
                ok()
            }
        });
        let store = Store::new(aws_sdk_dynamodb::Client::new(&aws.sdk_config()), "t", 7);
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let found = store
            .summaries_between("u1", Resource::Sleep, day, day)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].attributes["data"]["id"], "s1");
        assert_eq!(aws.count("BatchGetItem"), 3);
    }

    #[test]
    fn samples_come_back_in_junctions_shape() {
        let sample = StoredSample {
            user_id: "u".into(),
            resource: "steps".into(),
            provider: "oura".into(),
            source_type: "ring".into(),
            app_id: None,
            device_id: Some("d1".into()),
            workout_id: None,
            sport: None,
            timestamp: "2024-11-24T10:00:00.000000Z".into(),
            message_created_at: "2024-11-24T00:00:00.000000Z".into(),
            sample: json!({"value": 12, "unit": "count", "start": "2024-11-24T10:00:00+00:00"}),
        };
        assert_eq!(
            sample_body(&sample),
            json!({"value": 12, "unit": "count", "start": "2024-11-24T10:00:00+00:00",
                   "timestamp": "2024-11-24T10:00:00+00:00"})
        );
        assert_eq!(
            source_body(&sample),
            json!({"provider": "oura", "type": "ring", "app_id": null, "device_id": "d1", "sport": null,
                   "workout_id": null})
        );
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
    }
}
