//! Junction event types (`event_type` in every webhook body) and the queue family each belongs to.
//!
//! Parsing never fails: a type this code does not know becomes [`EventType::Unknown`] and is routed to
//! [`Family::CatchAll`], so a new Junction event is kept rather than rejected.
//! See <https://docs.junction.com/webhooks/introduction>.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::resource::{Resource, ResourceKind};
use crate::family::Family;

/// The `event_type` of a Junction webhook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `provider.connection.created`: a user connected a provider.
    ProviderConnectionCreated,
    /// `provider.connection.error`: a connection broke (e.g. a token refresh failed).
    ProviderConnectionError,
    /// `provider.device.created`: a provider reported a new device for a user.
    ProviderDeviceCreated,
    /// `provider.device.updated`: a device's details changed.
    ProviderDeviceUpdated,
    /// `historical.data.<resource>.created`: the historical pull of one resource from one provider finished.
    HistoricalDataCreated(Resource),
    /// `daily.data.<resource>.created`: new data.
    DailyDataCreated(Resource),
    /// `daily.data.<resource>.updated`: changed data (the latest version replaces earlier ones).
    DailyDataUpdated(Resource),
    /// `labtest.order.created`.
    LabtestOrderCreated,
    /// `labtest.order.updated`.
    LabtestOrderUpdated,
    /// `labtest.appointment.created`.
    LabtestAppointmentCreated,
    /// `labtest.appointment.updated`.
    LabtestAppointmentUpdated,
    /// `labtest.result.critical`: a result needs urgent attention.
    LabtestResultCritical,
    /// `labtest.match_review.created` (no top-level `user_id`).
    LabtestMatchReviewCreated,
    /// `labtest.match_review.updated` (no top-level `user_id`).
    LabtestMatchReviewUpdated,
    /// `lab_report.parsing_job.created`.
    LabReportParsingJobCreated,
    /// `lab_report.parsing_job.updated`.
    LabReportParsingJobUpdated,
    /// `continuous_query.result_table.changed` (`data` is an array).
    ContinuousQueryResultTableChanged,
    /// Any other `event_type`, as sent.
    Unknown(String),
}

/// The event types with no resource, with their names.
const FIXED: [(EventType, &str); 14] = [
    (
        EventType::ProviderConnectionCreated,
        "provider.connection.created",
    ),
    (
        EventType::ProviderConnectionError,
        "provider.connection.error",
    ),
    (EventType::ProviderDeviceCreated, "provider.device.created"),
    (EventType::ProviderDeviceUpdated, "provider.device.updated"),
    (EventType::LabtestOrderCreated, "labtest.order.created"),
    (EventType::LabtestOrderUpdated, "labtest.order.updated"),
    (
        EventType::LabtestAppointmentCreated,
        "labtest.appointment.created",
    ),
    (
        EventType::LabtestAppointmentUpdated,
        "labtest.appointment.updated",
    ),
    (EventType::LabtestResultCritical, "labtest.result.critical"),
    (
        EventType::LabtestMatchReviewCreated,
        "labtest.match_review.created",
    ),
    (
        EventType::LabtestMatchReviewUpdated,
        "labtest.match_review.updated",
    ),
    (
        EventType::LabReportParsingJobCreated,
        "lab_report.parsing_job.created",
    ),
    (
        EventType::LabReportParsingJobUpdated,
        "lab_report.parsing_job.updated",
    ),
    (
        EventType::ContinuousQueryResultTableChanged,
        "continuous_query.result_table.changed",
    ),
];

impl EventType {
    /// Parses an `event_type`. Never fails: anything unrecognised is [`EventType::Unknown`].
    pub fn parse(s: &str) -> EventType {
        if let Some(rest) = s.strip_prefix("daily.data.") {
            if let Some(resource) = rest.strip_suffix(".created").and_then(Resource::parse) {
                return EventType::DailyDataCreated(resource);
            }
            if let Some(resource) = rest.strip_suffix(".updated").and_then(Resource::parse) {
                return EventType::DailyDataUpdated(resource);
            }
        } else if let Some(rest) = s.strip_prefix("historical.data.") {
            if let Some(resource) = rest.strip_suffix(".created").and_then(Resource::parse) {
                return EventType::HistoricalDataCreated(resource);
            }
        } else if let Some((event_type, _)) = FIXED.iter().find(|(_, name)| *name == s) {
            return event_type.clone();
        }
        EventType::Unknown(s.to_owned())
    }

    /// The `event_type` string; `EventType::parse(&t.as_str()) == t` for every `t`. Borrowed except for
    /// [`EventType::Unknown`].
    pub fn as_str(&self) -> Cow<'static, str> {
        match self {
            EventType::HistoricalDataCreated(resource) => {
                Cow::Borrowed(resource.historical_created())
            }
            EventType::DailyDataCreated(resource) => Cow::Borrowed(resource.daily_created()),
            EventType::DailyDataUpdated(resource) => Cow::Borrowed(resource.daily_updated()),
            EventType::Unknown(s) => Cow::Owned(s.clone()),
            fixed => Cow::Borrowed(
                FIXED
                    .iter()
                    .find(|(event_type, _)| event_type == fixed)
                    .map(|(_, name)| *name)
                    .expect("every resource-less known event type is in FIXED"),
            ),
        }
    }

    /// The queue family this event type is routed to (exactly one per type).
    pub fn family(&self) -> Family {
        match self {
            EventType::ProviderConnectionCreated
            | EventType::ProviderConnectionError
            | EventType::ProviderDeviceCreated
            | EventType::ProviderDeviceUpdated => Family::Connections,
            EventType::HistoricalDataCreated(_) => Family::Backfills,
            EventType::DailyDataCreated(resource) | EventType::DailyDataUpdated(resource) => {
                match resource.kind() {
                    ResourceKind::Summary => Family::Summaries,
                    ResourceKind::Timeseries(_) => Family::Timeseries,
                }
            }
            EventType::LabtestOrderCreated
            | EventType::LabtestOrderUpdated
            | EventType::LabtestAppointmentCreated
            | EventType::LabtestAppointmentUpdated
            | EventType::LabtestResultCritical
            | EventType::LabtestMatchReviewCreated
            | EventType::LabtestMatchReviewUpdated
            | EventType::LabReportParsingJobCreated
            | EventType::LabReportParsingJobUpdated => Family::Lab,
            EventType::ContinuousQueryResultTableChanged | EventType::Unknown(_) => {
                Family::CatchAll
            }
        }
    }

    /// The wearable resource of a `daily.data.*` or `historical.data.*` event type.
    pub fn resource(&self) -> Option<Resource> {
        match self {
            EventType::HistoricalDataCreated(resource)
            | EventType::DailyDataCreated(resource)
            | EventType::DailyDataUpdated(resource) => Some(*resource),
            _ => None,
        }
    }

    /// True unless this is [`EventType::Unknown`].
    pub fn is_known(&self) -> bool {
        !matches!(self, EventType::Unknown(_))
    }

    /// Every known event type (194): three per resource, then the 14 without a resource.
    pub fn all_known() -> impl Iterator<Item = EventType> {
        Resource::ALL
            .iter()
            .flat_map(|&r| {
                [
                    EventType::HistoricalDataCreated(r),
                    EventType::DailyDataCreated(r),
                    EventType::DailyDataUpdated(r),
                ]
            })
            .chain(FIXED.into_iter().map(|(event_type, _)| event_type))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(EventType::parse(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::events::test_support::{schema, spec};

    #[test]
    fn every_known_type_round_trips() {
        let all: Vec<EventType> = EventType::all_known().collect();
        assert_eq!(all.len(), 194);
        let names: BTreeSet<String> = all.iter().map(|t| t.as_str().into_owned()).collect();
        assert_eq!(names.len(), 194, "names are distinct");
        for event_type in all {
            assert!(event_type.is_known());
            assert_eq!(EventType::parse(&event_type.as_str()), event_type);
            assert!(
                matches!(event_type.as_str(), Cow::Borrowed(_)),
                "{event_type} allocates"
            );
            let json = serde_json::to_value(&event_type).unwrap();
            assert_eq!(json, Value::String(event_type.to_string()));
            assert_eq!(
                serde_json::from_value::<EventType>(json).unwrap(),
                event_type
            );
        }
    }

    #[test]
    fn unknown_types_round_trip_and_go_to_catch_all() {
        for s in [
            "",
            "daily.data",
            "daily.data.",
            "daily.data.heartrate",
            "daily.data.heartrate.deleted",
            "daily.data.heart_rate.created",
            "historical.data.heartrate.updated",
            "historical.data..created",
            "Daily.Data.Heartrate.Created",
            "provider.connection.deleted",
            "provider.connection.created ",
            "labtest.order.cancelled",
            "continuous_query.result_table.created",
            "something.new",
        ] {
            let event_type = EventType::parse(s);
            assert_eq!(event_type, EventType::Unknown(s.to_owned()), "{s:?}");
            assert_eq!(event_type.as_str(), s);
            assert_eq!(event_type.family(), Family::CatchAll);
            assert_eq!(event_type.resource(), None);
            assert!(!event_type.is_known());
        }
    }

    #[test]
    fn families_follow_the_prefix_and_the_resource_kind() {
        let family = |s: &str| EventType::parse(s).family();
        assert_eq!(family("provider.connection.created"), Family::Connections);
        assert_eq!(family("provider.connection.error"), Family::Connections);
        assert_eq!(family("provider.device.created"), Family::Connections);
        assert_eq!(family("provider.device.updated"), Family::Connections);
        assert_eq!(family("historical.data.sleep.created"), Family::Backfills);
        assert_eq!(
            family("historical.data.heartrate.created"),
            Family::Backfills
        );
        assert_eq!(family("daily.data.sleep.created"), Family::Summaries);
        assert_eq!(
            family("daily.data.workout_stream.updated"),
            Family::Summaries
        );
        assert_eq!(family("daily.data.heartrate.created"), Family::Timeseries);
        assert_eq!(family("daily.data.note.updated"), Family::Timeseries);
        assert_eq!(family("labtest.result.critical"), Family::Lab);
        assert_eq!(family("lab_report.parsing_job.updated"), Family::Lab);
        assert_eq!(
            family("continuous_query.result_table.changed"),
            Family::CatchAll
        );

        for event_type in EventType::all_known() {
            let name = event_type.as_str();
            let expected = if name.starts_with("provider.connection.")
                || name.starts_with("provider.device.")
            {
                Family::Connections
            } else if name.starts_with("historical.data.") {
                Family::Backfills
            } else if name.starts_with("daily.data.") {
                if event_type.resource().unwrap().is_summary() {
                    Family::Summaries
                } else {
                    Family::Timeseries
                }
            } else if name.starts_with("labtest.") || name.starts_with("lab_report.") {
                Family::Lab
            } else {
                assert!(name.starts_with("continuous_query."), "{name}");
                Family::CatchAll
            };
            assert_eq!(event_type.family(), expected, "{name}");
            assert_eq!(
                event_type.resource().is_some(),
                name.contains(".data."),
                "{name}"
            );
        }
    }

    /// The event types a webhook of the spec stands for: its key, or for a `*` key the `event_type` enum of
    /// its schema.
    fn expand(spec: &Value, key: &str, webhook: &Value) -> Vec<String> {
        let envelope = schema(
            spec,
            &webhook["post"]["requestBody"]["content"]["application/json"]["schema"],
        );
        let declared = &envelope["properties"]["event_type"];
        let names: Vec<String> = match (&declared["const"], &declared["enum"]) {
            (Value::String(name), _) => vec![name.clone()],
            (_, Value::Array(names)) => names
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect(),
            _ => panic!("{key}: no event_type const or enum"),
        };
        for name in &names {
            let matches = match key.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == key,
            };
            assert!(matches, "webhook {key} declares event_type {name}");
        }
        names
    }

    #[test]
    fn every_webhook_in_the_spec_is_known() {
        let spec = spec();
        let mut in_spec = BTreeSet::new();
        for (key, webhook) in spec["webhooks"].as_object().unwrap() {
            for name in expand(spec, key, webhook) {
                let event_type = EventType::parse(&name);
                assert!(event_type.is_known(), "{name} parses to Unknown");
                assert_eq!(event_type.as_str(), name);
                assert!(in_spec.insert(name), "declared twice");
            }
        }
        assert_eq!(in_spec.len(), 194);
        let known: BTreeSet<String> = EventType::all_known()
            .map(|t| t.as_str().into_owned())
            .collect();
        assert_eq!(in_spec, known);
    }
}
