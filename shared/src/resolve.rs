//! Source prioritization: which source to trust where several measured the same thing.
//!
//! A user's stored copy keeps every source (the receiver never loses a reading), so a phone's and a watch's steps
//! for the same minutes are both there, and adding them up counts the minutes twice. Junction leaves the choice to
//! its users ("your own data prioritization rules based on Source Type"); this module makes one, overridable:
//!
//! - a [`Priority`] per resource: an ordered list of rules over source type, provider and device;
//! - [`resolve_samples`]: for each instant (discrete samples) and each overlapping stretch of time (interval
//!   samples), only the highest-priority source's samples, each still naming its source;
//! - [`resolve_summaries`]: for each calendar day, only the highest-priority source's summaries;
//! - [`daily_totals`]: for additive resources (steps, calories, distance, floors, …), a total per local day
//!   (`timezone_offset`) of the resolved samples, so that no stretch of time is counted from two sources.
//!
//! # Default order, and why
//!
//! From Junction's Source Type taxonomy (<https://docs.junction.com/wearables/providers/data-attributions>):
//! sensors worn on the body collect data automatically and continuously, so they come first, the most direct
//! sensor before the others (a chest strap measures the heart's electrical signal; a ring is worn through the
//! night); dedicated health devices (`cuff`, `scale`, a CGM's `automatic` and `fingerprick` readings) measure
//! what they are built for and only that; a `phone` counts only while it is carried; `app` is data a user typed in;
//! `multiple_sources` is already derived from several sources, so preferring it over its own inputs would mix the
//! two; `unknown` last, since Junction itself does not know how it was collected. Sleep resources put `ring` before
//! `watch` (worn through the night, the ring is the sleep device of the two).
//!
//! | resources | order |
//! |---|---|
//! | every resource | `chest_strap`, `watch`, `ring`, `cuff`, `scale`, `automatic`, `fingerprick`, `manual_scan`, `lab`, `insulin_pump`, `exercise_machine`, `earphone`, `phone`, `app`, `multiple_sources`, `unknown` |
//! | `sleep`, `sleep_cycle`, `hrv`, `respiratory_rate`, `body_temperature`, `body_temperature_delta`, `sleep_apnea_alert`, `sleep_breathing_disturbance` | `ring` first, then as above |
//!
//! A source the list does not name ranks after every one it names. Ties (two providers of one source type) go to
//! the provider, then the device, in alphabetical order, so that a resolution is the same every time.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::events::Resource;
use crate::query::{StoredRecord, StoredSample};
use crate::store::time::parse_instant;

/// One rule of a [`Priority`]: a source matches when every part the rule names is equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRule {
    /// Junction's source type (`watch`, `phone`, …).
    pub source_type: Option<String>,
    /// Provider slug (`oura`, `apple_health_kit`, …).
    pub provider: Option<String>,
    /// Junction device id.
    pub device_id: Option<String>,
}

/// A source as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKey {
    /// Provider slug.
    pub provider: String,
    /// Source type.
    pub source_type: String,
    /// Junction device id.
    pub device_id: Option<String>,
    /// App id.
    pub app_id: Option<String>,
}

impl SourceRule {
    fn matches(&self, source: &SourceKey) -> bool {
        self.source_type
            .as_ref()
            .is_none_or(|t| *t == source.source_type)
            && self.provider.as_ref().is_none_or(|p| *p == source.provider)
            && self
                .device_id
                .as_ref()
                .is_none_or(|d| Some(d) == source.device_id.as_ref())
    }
}

/// Sources in order of trust: the first rule a source matches is its rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority(pub Vec<SourceRule>);

const DEFAULT_ORDER: &[&str] = &[
    "chest_strap",
    "watch",
    "ring",
    "cuff",
    "scale",
    "automatic",
    "fingerprick",
    "manual_scan",
    "lab",
    "insulin_pump",
    "exercise_machine",
    "earphone",
    "phone",
    "app",
    "multiple_sources",
    "unknown",
];

fn by_type(order: &[&str]) -> Priority {
    Priority(
        order
            .iter()
            .map(|t| SourceRule {
                source_type: Some((*t).to_owned()),
                ..SourceRule::default()
            })
            .collect(),
    )
}

impl Priority {
    /// The documented default order for `resource` (see the module docs).
    pub fn default_for(resource: Resource) -> Priority {
        use Resource::*;
        match resource {
            Sleep
            | SleepCycle
            | Hrv
            | RespiratoryRate
            | BodyTemperature
            | BodyTemperatureDelta
            | SleepApneaAlert
            | SleepBreathingDisturbance => {
                let mut order = vec!["ring"];
                order.extend(DEFAULT_ORDER.iter().filter(|t| **t != "ring"));
                by_type(&order)
            }
            _ => by_type(DEFAULT_ORDER),
        }
    }

    /// Parses an order: rules separated by `,`, each a source type (`watch`) or `+`-joined parts
    /// (`provider:oura`, `type:ring`, `device:{id}`), e.g. `provider:oura+type:ring,watch,phone`.
    pub fn parse(text: &str) -> Result<Priority, String> {
        let mut rules = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let mut rule = SourceRule::default();
            for part in term.split('+').map(str::trim) {
                let (key, value) = part.split_once(':').unwrap_or(("type", part));
                if value.is_empty() {
                    return Err(format!("{term:?}: {key} has no value"));
                }
                let slot = match key {
                    "type" => &mut rule.source_type,
                    "provider" => &mut rule.provider,
                    "device" => &mut rule.device_id,
                    other => {
                        return Err(format!(
                            "{term:?}: {other:?} is not one of type, provider, device"
                        ));
                    }
                };
                *slot = Some(value.to_owned());
            }
            rules.push(rule);
        }
        if rules.is_empty() {
            return Err("the order names no source".into());
        }
        Ok(Priority(rules))
    }

    /// The rank of a source: the index of the first rule it matches, else after every rule.
    pub fn rank(&self, source: &SourceKey) -> usize {
        self.0
            .iter()
            .position(|rule| rule.matches(source))
            .unwrap_or(self.0.len())
    }

    fn order(&self, a: &SourceKey, b: &SourceKey) -> Ordering {
        (self.rank(a), a).cmp(&(self.rank(b), b))
    }
}

/// The deployment's orders: per-resource overrides of [`Priority::default_for`] (the template's `DataPriority`
/// parameter), which a request's own `priority` overrides in turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Priorities {
    /// Orders of named resources.
    by_resource: Vec<(Resource, Priority)>,
    /// The order of every other resource (`*`), instead of the default.
    all: Option<Priority>,
}

impl Priorities {
    /// Parses `resource=order;resource=order` (an order as [`Priority::parse`] reads it; `*` for every resource
    /// not named), e.g. `sleep=provider:oura+type:ring,watch;*=watch,phone`. Empty: the defaults alone.
    pub fn parse(text: &str) -> Result<Priorities, String> {
        let mut out = Priorities::default();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, order) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not resource=order"))?;
            let order = Priority::parse(order).map_err(|e| format!("{}: {e}", name.trim()))?;
            match name.trim() {
                "*" => out.all = Some(order),
                name => {
                    let resource = Resource::parse(name)
                        .ok_or_else(|| format!("{name:?} is not a resource"))?;
                    out.by_resource.retain(|(r, _)| *r != resource);
                    out.by_resource.push((resource, order));
                }
            }
        }
        Ok(out)
    }

    /// The order for `resource`: its own override, else the `*` one, else the documented default.
    pub fn for_resource(&self, resource: Resource) -> Priority {
        self.by_resource
            .iter()
            .find(|(r, _)| *r == resource)
            .map(|(_, p)| p.clone())
            .or_else(|| self.all.clone())
            .unwrap_or_else(|| Priority::default_for(resource))
    }
}

/// Whether a resource's values add up over time (a day's steps are the sum of its samples), so that a daily
/// total means something.
pub fn is_additive(resource: Resource) -> bool {
    use Resource::*;
    matches!(
        resource,
        Steps
            | CaloriesActive
            | CaloriesBasal
            | Distance
            | FloorsClimbed
            | WheelchairPush
            | Water
            | Caffeine
            | Carbohydrates
            | MindfulnessMinutes
            | StandDuration
            | DaylightExposure
    )
}

fn source_of(sample: &StoredSample) -> SourceKey {
    SourceKey {
        provider: sample.provider.clone(),
        source_type: sample.source_type.clone(),
        device_id: sample.device_id.clone(),
        app_id: sample.app_id.clone(),
    }
}

/// The stretch of time a sample covers, half-open: an interval's `[start, end)`, an instant's microsecond.
fn span(sample: &StoredSample) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let at = parse_instant(&sample.timestamp)?;
    let end = sample
        .sample
        .get("end")
        .and_then(Value::as_str)
        .and_then(parse_instant)
        .filter(|end| *end > at);
    Some((at, end.unwrap_or(at + Duration::microseconds(1))))
}

/// What a sample measures, beside its time: its resource and, where the type names the measurement (a lab
/// panel's `ldl`), its type. Only samples of one measurement compete.
fn measurement(sample: &StoredSample) -> (String, Option<String>) {
    let typed = Resource::parse(&sample.resource).is_some_and(|r| r.sample_type_is_identity());
    let kind = typed
        .then(|| sample.sample.get("type").and_then(Value::as_str))
        .flatten()
        .map(str::to_owned);
    (sample.resource.clone(), kind)
}

/// Spans already taken by higher-ranked sources, sorted by start, with the running maximum of their ends: a
/// span overlaps one of them exactly when some span starting before its end ends after its start.
#[derive(Default)]
struct Taken {
    spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    max_end: Vec<DateTime<Utc>>,
}

impl Taken {
    fn overlaps(&self, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> bool {
        let before_end = self.spans.partition_point(|(s, _)| *s < end);
        before_end > 0 && self.max_end[before_end - 1] > start
    }

    fn add(&mut self, spans: impl IntoIterator<Item = (DateTime<Utc>, DateTime<Utc>)>) {
        self.spans.extend(spans);
        self.spans.sort();
        self.max_end.clear();
        let mut max: Option<DateTime<Utc>> = None;
        for (_, end) in &self.spans {
            let m = max.map_or(*end, |m| m.max(*end));
            self.max_end.push(m);
            max = Some(m);
        }
    }
}

/// Keeps, for each instant and each overlapping stretch of time, only the samples of the highest-ranked source
/// that measured it; samples of one source never displace each other. Returned in time order.
pub fn resolve_samples(samples: Vec<StoredSample>, priority: &Priority) -> Vec<StoredSample> {
    let mut groups: BTreeMap<(String, Option<String>), Vec<StoredSample>> = BTreeMap::new();
    for sample in samples {
        groups.entry(measurement(&sample)).or_default().push(sample);
    }
    let mut kept = Vec::new();
    for (_, group) in groups {
        let mut by_source: BTreeMap<SourceKey, Vec<StoredSample>> = BTreeMap::new();
        for sample in group {
            by_source
                .entry(source_of(&sample))
                .or_default()
                .push(sample);
        }
        let mut sources: Vec<(SourceKey, Vec<StoredSample>)> = by_source.into_iter().collect();
        sources.sort_by(|a, b| priority.order(&a.0, &b.0));
        let mut taken = Taken::default();
        for (_, samples) in sources {
            let mut spans = Vec::new();
            for sample in samples {
                let Some(s) = span(&sample) else {
                    continue;
                };
                if !taken.overlaps(s) {
                    spans.push(s);
                    kept.push(sample);
                }
            }
            taken.add(spans);
        }
    }
    kept.sort_by(|a, b| {
        (&a.timestamp, &a.provider, &a.source_type, &a.device_id).cmp(&(
            &b.timestamp,
            &b.provider,
            &b.source_type,
            &b.device_id,
        ))
    });
    kept
}

/// Keeps, for each calendar day, only the summaries of the highest-ranked source that has one that day;
/// summaries without a `calendar_date` are kept as they are.
pub fn resolve_summaries(records: Vec<StoredRecord>, priority: &Priority) -> Vec<StoredRecord> {
    let source = |r: &StoredRecord| SourceKey {
        provider: r.get_str("provider").unwrap_or("unknown").to_owned(),
        source_type: r.get_str("source_type").unwrap_or("unknown").to_owned(),
        device_id: r.get_str("device_id").map(str::to_owned),
        app_id: r.get_str("app_id").map(str::to_owned),
    };
    let mut best: BTreeMap<(String, String), SourceKey> = BTreeMap::new();
    for r in &records {
        let (Some(resource), Some(day)) = (r.get_str("resource"), r.get_str("calendar_date"))
        else {
            continue;
        };
        let key = (resource.to_owned(), day.to_owned());
        let candidate = source(r);
        match best.get(&key) {
            Some(current) if priority.order(current, &candidate) != Ordering::Greater => {}
            _ => {
                best.insert(key, candidate);
            }
        }
    }
    records
        .into_iter()
        .filter(
            |r| match (r.get_str("resource"), r.get_str("calendar_date")) {
                (Some(resource), Some(day)) => {
                    best.get(&(resource.to_owned(), day.to_owned())) == Some(&source(r))
                }
                _ => true,
            },
        )
        .collect()
}

/// One local day's total of an additive resource, from resolved samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyTotal {
    /// The resource.
    pub resource: String,
    /// The user's local date (`YYYY-MM-DD`), from each sample's `timezone_offset` (UTC without one).
    pub date: String,
    /// The sum of the day's sample values.
    pub total: f64,
    /// The samples' unit, when they agree on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// How many samples were added up.
    pub samples: usize,
    /// The sources the samples came from (`{provider}/{source type}`, and `/{device}` when known), one at a time.
    pub sources: Vec<String>,
}

/// Totals per resource and local day of samples already resolved ([`resolve_samples`]): an interval counts on the
/// local day it starts in.
pub fn daily_totals(resolved: &[StoredSample]) -> Vec<DailyTotal> {
    struct Acc {
        total: f64,
        units: BTreeSet<String>,
        samples: usize,
        sources: BTreeSet<String>,
    }
    let mut days: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for sample in resolved {
        if !Resource::parse(&sample.resource).is_some_and(is_additive) {
            continue;
        }
        let (Some(at), Some(value)) = (
            parse_instant(&sample.timestamp),
            sample.sample.get("value").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let offset = sample
            .sample
            .get("timezone_offset")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let date = (at + Duration::seconds(offset))
            .format("%Y-%m-%d")
            .to_string();
        let acc = days
            .entry((sample.resource.clone(), date))
            .or_insert_with(|| Acc {
                total: 0.0,
                units: BTreeSet::new(),
                samples: 0,
                sources: BTreeSet::new(),
            });
        acc.total += value;
        acc.samples += 1;
        if let Some(unit) = sample.sample.get("unit").and_then(Value::as_str) {
            acc.units.insert(unit.to_owned());
        }
        let mut label = format!("{}/{}", sample.provider, sample.source_type);
        if let Some(device) = &sample.device_id {
            label.push('/');
            label.push_str(device);
        }
        acc.sources.insert(label);
    }
    days.into_iter()
        .map(|((resource, date), acc)| DailyTotal {
            resource,
            date,
            total: acc.total,
            unit: (acc.units.len() == 1)
                .then(|| acc.units.into_iter().next())
                .flatten(),
            samples: acc.samples,
            sources: acc.sources.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deployment_orders_override_the_defaults_per_resource() {
        let p =
            Priorities::parse("sleep=provider:oura+type:ring,watch; *=phone ;steps=app").unwrap();
        assert_eq!(
            p.for_resource(Resource::Sleep),
            Priority::parse("provider:oura+type:ring,watch").unwrap()
        );
        assert_eq!(
            p.for_resource(Resource::Steps),
            Priority::parse("app").unwrap()
        );
        assert_eq!(
            p.for_resource(Resource::Heartrate),
            Priority::parse("phone").unwrap()
        );
        let none = Priorities::parse("").unwrap();
        assert_eq!(
            none.for_resource(Resource::Sleep),
            Priority::default_for(Resource::Sleep)
        );
        assert!(
            Priorities::parse("sleep")
                .unwrap_err()
                .contains("resource=order")
        );
        assert!(
            Priorities::parse("nap=watch")
                .unwrap_err()
                .contains("not a resource")
        );
        assert!(
            Priorities::parse("sleep=colour:red")
                .unwrap_err()
                .contains("sleep")
        );
    }

    fn sample(
        resource: &str,
        provider: &str,
        source_type: &str,
        at: &str,
        body: Value,
    ) -> StoredSample {
        StoredSample {
            user_id: "u".into(),
            resource: resource.into(),
            provider: provider.into(),
            source_type: source_type.into(),
            app_id: None,
            device_id: None,
            workout_id: None,
            sport: None,
            timestamp: crate::store::time::canonicalize(at).unwrap(),
            message_created_at: "2024-11-24T00:00:00.000000Z".into(),
            sample: body,
        }
    }

    fn steps(source_type: &str, start: &str, end: &str, value: i64) -> StoredSample {
        sample(
            "steps",
            "apple_health_kit",
            source_type,
            start,
            json!({"start": start, "end": end, "value": value, "unit": "count", "timezone_offset": -18000}),
        )
    }

    #[test]
    fn at_each_instant_the_higher_ranked_source_wins() {
        let hr = |t: &str, at: &str, v: i64| {
            sample(
                "heartrate",
                "garmin",
                t,
                at,
                json!({"value": v, "unit": "bpm"}),
            )
        };
        let samples = vec![
            hr("phone", "2024-11-24T10:00:00Z", 1),
            hr("watch", "2024-11-24T10:00:00Z", 2),
            hr("phone", "2024-11-24T10:00:05Z", 3),
            hr("chest_strap", "2024-11-24T10:00:05Z", 4),
            hr("phone", "2024-11-24T10:00:10Z", 5),
        ];
        let kept = resolve_samples(samples.clone(), &Priority::default_for(Resource::Heartrate));
        let values: Vec<(i64, &str)> = kept
            .iter()
            .map(|s| (s.sample["value"].as_i64().unwrap(), s.source_type.as_str()))
            .collect();
        // Where only the phone measured, the phone's reading stays.
        assert_eq!(values, [(2, "watch"), (4, "chest_strap"), (5, "phone")]);
        // Overridden: the phone first.
        let phone_first = Priority::parse("phone,watch").unwrap();
        let kept = resolve_samples(samples, &phone_first);
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|s| s.source_type == "phone"));
    }

    #[test]
    fn overlapping_intervals_keep_one_source_and_daily_totals_never_double_count() {
        // The watch was worn 08:00-12:00; the phone counted 07:00-13:00 in hour buckets.
        let mut samples = Vec::new();
        for h in 8..12 {
            let (s, e) = (
                format!("2024-11-24T{h:02}:00:00Z"),
                format!("2024-11-24T{:02}:00:00Z", h + 1),
            );
            samples.push(steps("watch", &s, &e, 1000));
        }
        for h in 7..13 {
            let (s, e) = (
                format!("2024-11-24T{h:02}:00:00Z"),
                format!("2024-11-24T{:02}:00:00Z", h + 1),
            );
            samples.push(steps("phone", &s, &e, 800));
        }
        // A phone interval straddling the watch's first hour overlaps it: dropped.
        samples.push(steps(
            "phone",
            "2024-11-24T07:30:00Z",
            "2024-11-24T08:30:00Z",
            500,
        ));
        let naive: f64 = samples
            .iter()
            .map(|s| s.sample["value"].as_f64().unwrap())
            .sum();
        let kept = resolve_samples(samples, &Priority::default_for(Resource::Steps));
        let by_type: Vec<(&str, &str)> = kept
            .iter()
            .map(|s| (s.timestamp.get(11..16).unwrap(), s.source_type.as_str()))
            .collect();
        assert_eq!(
            by_type,
            [
                ("07:00", "phone"),
                ("08:00", "watch"),
                ("09:00", "watch"),
                ("10:00", "watch"),
                ("11:00", "watch"),
                ("12:00", "phone")
            ]
        );
        let totals = daily_totals(&kept);
        assert_eq!(totals.len(), 1);
        assert_eq!(totals[0].total, 4.0 * 1000.0 + 2.0 * 800.0);
        assert!(totals[0].total < naive);
        assert_eq!(totals[0].unit.as_deref(), Some("count"));
        assert_eq!(
            totals[0].sources,
            ["apple_health_kit/phone", "apple_health_kit/watch"]
        );
        // No two kept samples overlap in time.
        let mut spans: Vec<_> = kept.iter().filter_map(span).collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    #[test]
    fn a_daily_total_counts_each_sample_on_its_local_day() {
        // 03:00 UTC is the evening before in New York (UTC-5).
        let kept = vec![
            steps("watch", "2024-11-24T03:00:00Z", "2024-11-24T04:00:00Z", 10),
            steps("watch", "2024-11-24T06:00:00Z", "2024-11-24T07:00:00Z", 20),
        ];
        let days: Vec<(String, f64)> = daily_totals(&kept)
            .into_iter()
            .map(|d| (d.date, d.total))
            .collect();
        assert_eq!(
            days,
            [("2024-11-23".into(), 10.0), ("2024-11-24".into(), 20.0)]
        );
        // Heart rate does not add up: no totals.
        let hr = sample(
            "heartrate",
            "p",
            "watch",
            "2024-11-24T10:00:00Z",
            json!({"value": 60}),
        );
        assert!(daily_totals(&[hr]).is_empty());
    }

    #[test]
    fn typed_samples_compete_only_with_their_own_type() {
        let lab = |provider: &str, kind: &str, v: i64| {
            sample(
                "cholesterol",
                provider,
                "lab",
                "2024-11-24T10:00:00Z",
                json!({"type": kind, "value": v}),
            )
        };
        let kept = resolve_samples(
            vec![
                lab("labcorp", "ldl", 1),
                lab("labcorp", "hdl", 2),
                lab("quest", "ldl", 3),
            ],
            &Priority::parse("provider:quest").unwrap(),
        );
        let got: Vec<(&str, i64)> = kept
            .iter()
            .map(|s| (s.provider.as_str(), s.sample["value"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, [("labcorp", 2), ("quest", 3)]);
    }

    #[test]
    fn daily_summaries_keep_the_best_source_of_each_day() {
        let record = |provider: &str, source_type: &str, day: &str| StoredRecord {
            kind: "summary".into(),
            pk: "USER#u".into(),
            sk: format!("SUM#sleep#{provider}-{day}"),
            attributes:
                json!({"resource": "sleep", "provider": provider, "source_type": source_type,
                               "calendar_date": day})
                .as_object()
                .unwrap()
                .clone(),
        };
        let records = vec![
            record("apple_health_kit", "watch", "2024-11-24"),
            record("oura", "ring", "2024-11-24"),
            record("apple_health_kit", "watch", "2024-11-25"),
        ];
        let kept = resolve_summaries(records.clone(), &Priority::default_for(Resource::Sleep));
        let sks: Vec<&str> = kept.iter().map(|r| r.sk.as_str()).collect();
        assert_eq!(
            sks,
            [
                "SUM#sleep#oura-2024-11-24",
                "SUM#sleep#apple_health_kit-2024-11-25"
            ]
        );
        let kept = resolve_summaries(
            records,
            &Priority::parse("provider:apple_health_kit").unwrap(),
        );
        assert_eq!(kept.len(), 2);
        assert!(
            kept.iter()
                .all(|r| r.get_str("provider") == Some("apple_health_kit"))
        );
    }

    #[test]
    fn orders_parse_and_refuse_what_they_cannot_read() {
        let p = Priority::parse("provider:oura+type:ring, watch ,device:d1").unwrap();
        assert_eq!(p.0.len(), 3);
        let ring = SourceKey {
            provider: "oura".into(),
            source_type: "ring".into(),
            device_id: None,
            app_id: None,
        };
        assert_eq!(p.rank(&ring), 0);
        let other_ring = SourceKey {
            provider: "ultrahuman".into(),
            ..ring.clone()
        };
        assert_eq!(p.rank(&other_ring), 3, "matches no rule: after all of them");
        for bad in ["", " , ", "colour:red", "provider:"] {
            assert!(Priority::parse(bad).is_err(), "{bad:?}");
        }
        // Every resource has a default; sleep puts the ring first.
        for &resource in Resource::ALL {
            assert!(!Priority::default_for(resource).0.is_empty());
        }
        assert_eq!(
            Priority::default_for(Resource::Sleep).0[0]
                .source_type
                .as_deref(),
            Some("ring")
        );
    }

    /// A day of 5 s heart rate from two sources resolves in one pass, not one comparison per pair.
    #[test]
    fn a_day_of_two_sources_resolves_to_one_sample_per_instant() {
        let start = parse_instant("2024-11-24T00:00:00Z").unwrap();
        let mut samples = Vec::new();
        for i in 0..17_280 {
            let at = crate::store::time::canonical(&(start + Duration::seconds(5 * i)));
            for t in ["watch", "phone"] {
                samples.push(sample(
                    "heartrate",
                    "apple_health_kit",
                    t,
                    &at,
                    json!({"value": 60}),
                ));
            }
        }
        let kept = resolve_samples(samples, &Priority::default_for(Resource::Heartrate));
        assert_eq!(kept.len(), 17_280);
        assert!(kept.iter().all(|s| s.source_type == "watch"));
    }
}
