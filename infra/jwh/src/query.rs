//! `jwh query`: reads stored records back as JSON lines, through [`jwh_shared::query`].
//!
//! Timeseries hour buckets are always expanded into one [`StoredSample`] per line; every other record is a
//! [`StoredRecord`] (`kind`, `pk`, `sk`, `attributes`).

use chrono::{DateTime, Utc};
use jwh_shared::events::{Resource, ResourceKind};
use std::collections::BTreeMap;

use jwh_shared::query::{StoredRecord, StoredSample, expand_bucket};
use jwh_shared::resolve::{
    DailyTotal, Priorities, Priority, daily_totals, resolve_samples, resolve_summaries,
};
use jwh_shared::store::Store;
use jwh_shared::store::time::{canonical, parse_instant};
use serde::Serialize;

use crate::exit::CliError;

/// One output line: a sample expanded from a timeseries bucket, any other record whole, or a daily total.
/// Serialized as the shared type itself, fields in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Line {
    /// A timeseries sample.
    Sample(StoredSample),
    /// Any other record.
    Record(StoredRecord),
    /// A local day's total of an additive resource (`--daily-totals`).
    Total(DailyTotal),
}

/// Whose records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One user's records (`USER#{user}`).
    User(String),
    /// One team's records (`TEAM#{team}`: lab match reviews).
    Team(String),
    /// The catch-all records (`CATCHALL#{nn}`, and `CATCHALL` of older deployments).
    CatchAll,
}

/// Which of the target's records to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// One resource (user records only).
    pub resource: Option<Resource>,
    /// Only records of this `kind` (`summary`, `timeseries`, `connection`, `device`, `backfill`, `lab`, ...).
    pub kind: Option<String>,
    /// Samples at or after this instant; summaries starting at or after it.
    pub from: Option<DateTime<Utc>>,
    /// Samples at or before this instant; summaries starting at or before it.
    pub to: Option<DateTime<Utc>>,
    /// Keep only the highest-priority source's data ([`jwh_shared::resolve`]).
    pub resolve: Option<Resolve>,
}

/// How `--resolve` chooses among sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolve {
    /// The order to apply to every resource; `None`: each resource's documented default.
    pub priority: Option<Priority>,
    /// The deployment's per-resource orders, used where `priority` is `None`.
    pub priorities: Priorities,
    /// Also print a total per local day of each additive resource, from the resolved samples.
    pub daily_totals: bool,
}

/// Parses `--priority` ([`Priority::parse`]).
pub fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s)
}

/// Keeps the highest-priority source's samples (per instant and overlapping interval) and summaries (per calendar
/// day) among `lines`, resource by resource; other records pass through. With daily totals, appends one line per
/// additive resource and local day.
pub fn resolve_lines(lines: Vec<Line>, resolve: &Resolve) -> Vec<Line> {
    let priority_for = |resource: &str| {
        resolve.priority.clone().unwrap_or_else(|| {
            Resource::parse(resource).map_or_else(
                || Priority::default_for(Resource::Steps),
                |r| resolve.priorities.for_resource(r),
            )
        })
    };
    let mut samples: BTreeMap<String, Vec<StoredSample>> = BTreeMap::new();
    let mut summaries: BTreeMap<String, Vec<StoredRecord>> = BTreeMap::new();
    let mut others = Vec::new();
    for line in lines {
        match line {
            Line::Sample(s) => samples.entry(s.resource.clone()).or_default().push(s),
            Line::Record(r) if r.kind == "summary" => summaries
                .entry(r.get_str("resource").unwrap_or_default().to_owned())
                .or_default()
                .push(r),
            other => others.push(other),
        }
    }
    let mut out = Vec::new();
    for (resource, records) in summaries {
        out.extend(
            resolve_summaries(records, &priority_for(&resource))
                .into_iter()
                .map(Line::Record),
        );
    }
    out.extend(others);
    let mut totals = Vec::new();
    for (resource, group) in samples {
        let kept = resolve_samples(group, &priority_for(&resource));
        if resolve.daily_totals {
            totals.extend(daily_totals(&kept));
        }
        out.extend(kept.into_iter().map(Line::Sample));
    }
    out.extend(totals.into_iter().map(Line::Total));
    out
}

/// Parses `--from` / `--to`: RFC 3339, a date-time taken as UTC, a date (midnight UTC), or Unix seconds.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| format!("{s} is out of range"));
    }
    parse_instant(s).ok_or_else(|| {
        format!("{s:?} is not a time (RFC 3339, YYYY-MM-DD[THH:MM:SS], or Unix seconds)")
    })
}

/// Parses the end of a window (`jwh backfill run --to`), exclusive: as [`parse_time`], except that a date alone
/// means the end of that day (the next midnight UTC), so `--to 2024-06-30` includes the 30th.
pub fn parse_end_time(s: &str) -> Result<DateTime<Utc>, String> {
    let t = parse_time(s)?;
    let date_only = s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    Ok(if date_only {
        t + chrono::Duration::days(1)
    } else {
        t
    })
}

/// Parses `--resource` by Junction's name (`heartrate`, `sleep`, ...).
pub fn parse_resource(s: &str) -> Result<Resource, String> {
    Resource::parse(s).ok_or_else(|| format!("unknown resource {s:?}"))
}

/// Reads the records `filter` selects from `store`, as JSON values in the order the shared query module gives;
/// with `--resolve`, only the highest-priority source's ([`resolve_lines`]).
pub async fn fetch(store: &Store, target: &Target, filter: &Filter) -> Result<Vec<Line>, CliError> {
    let lines = fetch_all(store, target, filter).await?;
    Ok(match &filter.resolve {
        Some(resolve) => resolve_lines(lines, resolve),
        None => lines,
    })
}

async fn fetch_all(store: &Store, target: &Target, filter: &Filter) -> Result<Vec<Line>, CliError> {
    let failed = |e: jwh_shared::store::StoreError| CliError::Failed(e.to_string());
    match (target, filter.resource) {
        (Target::User(user), Some(resource)) => match resource.kind() {
            ResourceKind::Timeseries(_) => {
                if filter.kind.as_deref().is_some_and(|k| k != "timeseries") {
                    return Ok(Vec::new());
                }
                let samples = store
                    .samples(user, resource, filter.from, filter.to)
                    .await
                    .map_err(failed)?;
                Ok(samples.into_iter().map(Line::Sample).collect())
            }
            ResourceKind::Summary => {
                // A time range reads the summaries of its dates through the by-day index (a day either side: a
                // night's sleep starts the evening before its calendar date), then filters by start as always.
                let records = if filter.from.is_some() || filter.to.is_some() {
                    let day = chrono::Duration::days(1);
                    let from = filter
                        .from
                        .map_or(chrono::NaiveDate::from_ymd_opt(1970, 1, 1), |t| {
                            Some((t - day).date_naive())
                        });
                    let to = filter
                        .to
                        .map_or(chrono::NaiveDate::from_ymd_opt(9999, 12, 31), |t| {
                            Some((t + day).date_naive())
                        });
                    match (from, to) {
                        (Some(from), Some(to)) => store
                            .summaries_between(user, resource, from, to)
                            .await
                            .map_err(failed)?,
                        _ => store.summaries(user, resource).await.map_err(failed)?,
                    }
                } else {
                    store.summaries(user, resource).await.map_err(failed)?
                };
                Ok(select(records, filter))
            }
        },
        (Target::User(user), None) => Ok(select(
            store.user_records(user).await.map_err(failed)?,
            filter,
        )),
        (Target::Team(_) | Target::CatchAll, Some(_)) => {
            Err(CliError::Usage("--resource applies to --user only".into()))
        }
        (Target::Team(team), None) => Ok(select(
            store.team_records(team).await.map_err(failed)?,
            filter,
        )),
        (Target::CatchAll, None) => Ok(select(
            store.catch_all_records().await.map_err(failed)?,
            filter,
        )),
    }
}

/// Applies `filter` to records: keeps the wanted kind, expands timeseries buckets into samples, and keeps only
/// samples and summaries within `[from, to]`. Records without a time (connections, devices, ...) are not
/// filtered by time.
pub fn select(records: Vec<StoredRecord>, filter: &Filter) -> Vec<Line> {
    let from = filter.from.map(|t| canonical(&t));
    let to = filter.to.map(|t| canonical(&t));
    let in_range = |instant: &str| {
        from.as_deref().is_none_or(|f| instant >= f) && to.as_deref().is_none_or(|t| instant <= t)
    };
    let mut out = Vec::new();
    for record in records {
        if filter.kind.as_deref().is_some_and(|k| k != record.kind) {
            continue;
        }
        if record.kind == "timeseries" {
            out.extend(
                expand_bucket(&record)
                    .into_iter()
                    .filter(|s| in_range(&s.timestamp))
                    .map(Line::Sample),
            );
            continue;
        }
        if let Some(instant) = record_instant(&record)
            && !in_range(&instant)
        {
            continue;
        }
        out.push(Line::Record(record));
    }
    out
}

/// When a summary happened: its `start`, else its `calendar_date`, canonical.
fn record_instant(record: &StoredRecord) -> Option<String> {
    if record.kind != "summary" {
        return None;
    }
    record
        .get_str("start")
        .or_else(|| record.get_str("calendar_date"))
        .and_then(parse_instant)
        .map(|t| canonical(&t))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn select_json(records: Vec<StoredRecord>, filter: &Filter) -> Vec<Value> {
        select(records, filter)
            .iter()
            .map(|line| serde_json::to_value(line).unwrap())
            .collect()
    }

    fn record(kind: &str, attributes: Value) -> StoredRecord {
        StoredRecord {
            kind: kind.into(),
            pk: "USER#u".into(),
            sk: format!("{kind}#1"),
            attributes: attributes.as_object().unwrap().clone(),
        }
    }

    fn records() -> Vec<StoredRecord> {
        vec![
            record(
                "summary",
                json!({"resource": "sleep", "start": "2024-11-24T01:00:00.000000Z"}),
            ),
            record(
                "summary",
                json!({"resource": "activity", "calendar_date": "2024-11-26"}),
            ),
            StoredRecord {
                kind: "timeseries".into(),
                pk: "USER#u".into(),
                sk: "TS#steps#2024-11-24T10#p#watch".into(),
                attributes: json!({"rev": 1, "o": "2:m3vfh34000", "s0": "{\"value\":72}", "s3599": "{\"value\":80}"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            record("connection", json!({"provider": "oura"})),
        ]
    }

    fn kinds(values: &[Value]) -> Vec<String> {
        values
            .iter()
            .map(|v| match v.get("kind") {
                Some(kind) => kind.as_str().unwrap().to_owned(),
                None => format!("sample@{}", v["timestamp"].as_str().unwrap()),
            })
            .collect()
    }

    #[test]
    fn buckets_become_samples_and_other_records_stay_whole() {
        let got = select_json(records(), &Filter::default());
        assert_eq!(
            kinds(&got),
            [
                "summary",
                "summary",
                "sample@2024-11-24T10:00:00.000000Z",
                "sample@2024-11-24T10:59:59.000000Z",
                "connection"
            ]
        );
        assert_eq!(
            got[2],
            json!({
                "user_id": "u", "resource": "steps", "provider": "p", "source_type": "watch",
                "timestamp": "2024-11-24T10:00:00.000000Z",
                "message_created_at": "2024-11-24T10:00:00.000000Z", "sample": {"value": 72},
            })
        );
        assert_eq!(got[4]["attributes"]["provider"], "oura");
    }

    #[test]
    fn lines_print_fields_in_declaration_order() {
        let lines = select(records(), &Filter::default());
        let text: Vec<String> = lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        assert!(
            text[0].starts_with(r#"{"kind":"summary","pk":"USER#u","sk":"#),
            "{}",
            text[0]
        );
        assert!(
            text[2].starts_with(r#"{"user_id":"u","resource":"steps","#),
            "{}",
            text[2]
        );
    }

    #[test]
    fn kind_and_time_range_filter() {
        let filter = Filter {
            kind: Some("timeseries".into()),
            ..Filter::default()
        };
        assert_eq!(select(records(), &filter).len(), 2);
        let filter = Filter {
            from: Some(parse_time("2024-11-24T10:30:00Z").unwrap()),
            to: Some(parse_time("2024-11-25").unwrap()),
            ..Filter::default()
        };
        assert_eq!(
            kinds(&select_json(records(), &filter)),
            ["sample@2024-11-24T10:59:59.000000Z", "connection"]
        );
    }

    #[test]
    fn times_and_resources_parse() {
        assert_eq!(
            parse_time("1732442400").unwrap(),
            parse_time("2024-11-24T10:00:00+00:00").unwrap()
        );
        assert_eq!(
            canonical(&parse_time("2024-11-24").unwrap()),
            "2024-11-24T00:00:00.000000Z"
        );
        assert!(parse_time("yesterday").is_err());
        // A date alone ends a window at the end of that day; an instant stays as it is.
        assert_eq!(
            parse_end_time("2024-06-30").unwrap(),
            parse_time("2024-07-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_end_time("2024-06-30T12:00:00Z").unwrap(),
            parse_time("2024-06-30T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_end_time("1719748800").unwrap(),
            parse_time("1719748800").unwrap()
        );
        assert_eq!(
            parse_resource("heartrate"),
            Ok(Resource::parse("heartrate").unwrap())
        );
        assert_eq!(
            parse_resource("nope"),
            Err("unknown resource \"nope\"".into())
        );
    }
    #[test]
    fn resolve_keeps_one_source_per_stretch_of_time_and_totals_its_days() {
        let sample = |source_type: &str, hour: u32, value: i64| {
            Line::Sample(StoredSample {
                user_id: "u".into(),
                resource: "steps".into(),
                provider: "apple_health_kit".into(),
                source_type: source_type.into(),
                app_id: None,
                device_id: None,
                workout_id: None,
                sport: None,
                timestamp: format!("2024-11-24T{hour:02}:00:00.000000Z"),
                message_created_at: "2024-11-24T00:00:00.000000Z".into(),
                sample: json!({"start": format!("2024-11-24T{hour:02}:00:00+00:00"),
                               "end": format!("2024-11-24T{:02}:00:00+00:00", hour + 1),
                               "value": value, "unit": "count"}),
            })
        };
        let lines = vec![
            sample("phone", 9, 100),
            sample("watch", 9, 120),
            sample("phone", 10, 50),
            Line::Record(records().pop().unwrap()),
        ];
        let resolve = Resolve {
            priority: None,
            daily_totals: true,
            ..Resolve::default()
        };
        let out: Vec<Value> = resolve_lines(lines.clone(), &resolve)
            .iter()
            .map(|l| serde_json::to_value(l).unwrap())
            .collect();
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0]["kind"], "connection");
        assert_eq!(
            (
                out[1]["source_type"].as_str(),
                out[1]["sample"]["value"].as_i64()
            ),
            (Some("watch"), Some(120))
        );
        assert_eq!(out[2]["source_type"], "phone");
        assert_eq!(out[3]["total"], 170.0);
        assert_eq!(out[3]["date"], "2024-11-24");
        let phone_first = Resolve {
            priority: Some(parse_priority("phone").unwrap()),
            daily_totals: true,
            ..Resolve::default()
        };
        // The deployment's order (DATA_PRIORITY) for steps says the same as --priority phone.
        let deployed = Resolve {
            priorities: Priorities::parse("steps=phone;sleep=ring").unwrap(),
            daily_totals: true,
            ..Resolve::default()
        };
        assert_eq!(
            resolve_lines(lines.clone(), &deployed),
            resolve_lines(lines.clone(), &phone_first)
        );
        let out = resolve_lines(lines, &phone_first);
        let Some(Line::Total(total)) = out.last() else {
            panic!("{out:?}")
        };
        assert_eq!(total.total, 150.0);
    }
}
