//! Typed Junction webhook events: what a body is, and which records it carries.
//!
//! - [`peek_event_type`] reads only `event_type`, for routing on the ingest path.
//! - [`parse_event`] reads the whole body into an [`Event`]: the envelope (`user_id`, `client_user_id`,
//!   `team_id`), a typed view of `data` per kind of event ([`EventData`]), and the body as sent ([`Event::raw`]).
//! - [`Event::record_keys`] gives the deduplication identity of each record in it ([`RecordKey`]).
//!
//! Submodules: [`resource`] (the 60 wearable resources and their shapes), [`event_type`] (event types and their
//! [`Family`]), [`data`] (the typed views and lenient reading), [`keys`] (record identities).
//!
//! Parsing is lenient: unknown fields, unknown enum values, missing optional fields and numbers-for-strings never
//! fail, and an unknown event type is kept as [`EventData::Unknown`]. It fails only when the body is not a JSON
//! object with a string `event_type`, or when a known event lacks what identifies its records. Error messages
//! name fields, never their values: bodies are health data.
//!
//! See <https://docs.junction.com/webhooks/event-structure>.

pub mod data;
pub mod event_type;
pub mod keys;
pub mod resource;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub use self::data::{
    Appointment, ContinuousQueryResult, CriticalResult, Device, EventData, HistoricalPull,
    LabOrder, MatchReview, ParsingJob, ProviderConnection, ProviderConnectionError, SampleValue,
    Source, Summary, TimeseriesBatch, TimeseriesSample,
};
pub use self::event_type::EventType;
pub use self::keys::{RecordKey, Series};
pub use self::resource::{Resource, ResourceKind, SampleShape};
use crate::family::Family;

/// Why a body could not be read as a Junction event. Messages name fields, never values from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not valid JSON (or nests deeper than serde_json's recursion limit).
    #[error("body is not valid JSON (line {line}, column {column})")]
    NotJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body is JSON, but not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// The body has no `event_type`.
    #[error("body has no `event_type`")]
    MissingEventType,
    /// `event_type` is not a string.
    #[error("`event_type` is not a string")]
    EventTypeNotString,
    /// A known event lacks a field that identifies it (e.g. a summary's `data.id`, a sample's `timestamp`).
    #[error("`{event_type}` event has no `{field}`")]
    MissingField {
        /// The (known) event type.
        event_type: EventType,
        /// JSON path of the field, e.g. `data.id`, `data.data[3].timestamp`, `user_id`.
        field: String,
    },
    /// A field of a known event has a type that cannot be read.
    #[error("`{field}` of a `{event_type}` event is not {expected}")]
    WrongType {
        /// The (known) event type.
        event_type: EventType,
        /// JSON path of the field.
        field: String,
        /// What was expected, e.g. `an object`.
        expected: &'static str,
    },
}

impl ParseError {
    /// Classifies a serde_json error without keeping its message, which can quote the body.
    fn from_json(error: &serde_json::Error) -> ParseError {
        match error.classify() {
            serde_json::error::Category::Data => ParseError::NotAnObject,
            _ => ParseError::NotJson {
                line: error.line(),
                column: error.column(),
            },
        }
    }
}

/// A parsed Junction webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event_type`.
    pub event_type: EventType,
    /// Top-level `user_id`, else `data.user_id` (Junction's user id, not the customer's). Always present for
    /// connection, device, backfill, summary and timeseries events; absent in match reviews.
    pub user_id: Option<String>,
    /// The customer's own id for the user, an opaque string.
    pub client_user_id: Option<String>,
    /// Top-level `team_id`, else `data.team_id`.
    pub team_id: Option<String>,
    /// The typed view of `data`.
    pub data: EventData,
    /// The whole body as sent, so nothing Junction sends is lost.
    pub raw: Value,
}

impl Event {
    /// The queue family of this event's type.
    pub fn family(&self) -> Family {
        self.event_type.family()
    }

    /// The wearable resource of a `daily.data.*` or `historical.data.*` event.
    pub fn resource(&self) -> Option<Resource> {
        self.event_type.resource()
    }
}

/// Cheap routing for the ingest path: reads only `event_type`, skipping everything else without building a
/// JSON tree. Errors if the body is not a JSON object with a string `event_type` (the same rules as
/// [`parse_event`]; if `event_type` appears twice, the last one counts, as in `parse_event`).
pub fn peek_event_type(body: &[u8]) -> Result<EventType, ParseError> {
    // serde_json skips ignored strings without checking their UTF-8, so a body whose only flaw is a bad byte in a
    // skipped value would be routed to its family while `parse_event` refuses it. Check the whole body first (a
    // linear scan, like the HMAC before it); a refused body gets `parse_event`'s error.
    if std::str::from_utf8(body).is_err() {
        return match serde_json::from_slice::<Value>(body) {
            Err(error) => Err(ParseError::from_json(&error)),
            Ok(_) => unreachable!("serde_json accepted a body that is not UTF-8"),
        };
    }
    match serde_json::from_slice::<Peeked>(body) {
        Ok(Peeked::Found(event_type)) => Ok(EventType::parse(&event_type)),
        Ok(Peeked::NotString) => Err(ParseError::EventTypeNotString),
        Ok(Peeked::Missing) => Err(ParseError::MissingEventType),
        Err(error) => Err(ParseError::from_json(&error)),
    }
}

/// Full, lenient parse of a webhook body. Errors only if the body is not a JSON object with a string
/// `event_type`, or a known event lacks what identifies its records: a summary's `data.id`
/// (`data.workout_id` for `workout_stream`), a sample's `timestamp`, a provider, a device id, a lab object's id,
/// or the user id of a wearable or connection event. An unknown event type is never an error.
pub fn parse_event(body: &[u8]) -> Result<Event, ParseError> {
    let raw: Value = serde_json::from_slice(body).map_err(|error| ParseError::from_json(&error))?;
    let envelope = raw.as_object().ok_or(ParseError::NotAnObject)?;
    let event_type = match envelope.get("event_type") {
        Some(Value::String(name)) => EventType::parse(name),
        Some(_) => return Err(ParseError::EventTypeNotString),
        None => return Err(ParseError::MissingEventType),
    };
    let data = envelope.get("data");
    let in_data = |key: &str| data.and_then(|data| data.get(key));
    let user_id = data::text(envelope.get("user_id"))
        .filter(|id| !id.is_empty())
        .or_else(|| data::text(in_data("user_id")).filter(|id| !id.is_empty()));
    let needs_user = matches!(
        event_type.family(),
        Family::Connections | Family::Backfills | Family::Summaries | Family::Timeseries
    );
    if needs_user && user_id.is_none() {
        return Err(ParseError::MissingField {
            event_type,
            field: "user_id".into(),
        });
    }
    let data = read_data(&event_type, data)?;
    Ok(Event {
        user_id,
        client_user_id: data::text(envelope.get("client_user_id")),
        team_id: data::text(envelope.get("team_id")).or_else(|| data::text(in_data("team_id"))),
        data,
        event_type,
        raw,
    })
}

/// The typed view of `data` for `event_type`.
fn read_data(event_type: &EventType, data: Option<&Value>) -> Result<EventData, ParseError> {
    let reader = data::Reader { event_type };
    let object = || reader.data_object(data);
    Ok(match event_type {
        EventType::Unknown(_) => EventData::Unknown(data.cloned().unwrap_or(Value::Null)),
        EventType::ContinuousQueryResultTableChanged => {
            EventData::ContinuousQuery(data::continuous_query(data))
        }
        EventType::ProviderConnectionCreated => {
            EventData::ProviderConnection(reader.provider_connection(object()?)?)
        }
        EventType::ProviderConnectionError => {
            EventData::ProviderConnectionError(reader.provider_connection_error(object()?)?)
        }
        EventType::ProviderDeviceCreated | EventType::ProviderDeviceUpdated => {
            EventData::Device(reader.device(object()?)?)
        }
        EventType::HistoricalDataCreated(_) => {
            EventData::HistoricalPull(reader.historical_pull(object()?)?)
        }
        EventType::DailyDataCreated(resource) | EventType::DailyDataUpdated(resource) => {
            match resource.kind() {
                ResourceKind::Summary => EventData::Summary(reader.summary(*resource, object()?)?),
                ResourceKind::Timeseries(_) => EventData::Timeseries(reader.timeseries(object()?)?),
            }
        }
        EventType::LabtestOrderCreated | EventType::LabtestOrderUpdated => {
            EventData::LabOrder(reader.lab_order(object()?)?)
        }
        EventType::LabtestAppointmentCreated | EventType::LabtestAppointmentUpdated => {
            EventData::Appointment(reader.appointment(object()?)?)
        }
        EventType::LabtestResultCritical => {
            EventData::CriticalResult(reader.critical_result(object()?)?)
        }
        EventType::LabtestMatchReviewCreated | EventType::LabtestMatchReviewUpdated => {
            EventData::MatchReview(reader.match_review(object()?)?)
        }
        EventType::LabReportParsingJobCreated | EventType::LabReportParsingJobUpdated => {
            EventData::ParsingJob(reader.parsing_job(object()?)?)
        }
    })
}

/// What [`peek_event_type`] found in the top-level object.
enum Peeked {
    Found(String),
    NotString,
    Missing,
}

impl<'de> Deserialize<'de> for Peeked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_map` (not a derived struct, which would also accept a JSON array).
        deserializer.deserialize_map(PeekVisitor)
    }
}

struct PeekVisitor;

impl<'de> Visitor<'de> for PeekVisitor {
    type Value = Peeked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peeked, A::Error> {
        let mut found = Peeked::Missing;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::EventType => {
                    found = match map.next_value::<StringOrOther>()? {
                        StringOrOther::String(name) => Peeked::Found(name),
                        StringOrOther::Other => Peeked::NotString,
                    }
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A top-level key: `event_type` or something to skip.
enum Key {
    EventType,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(if key == "event_type" {
                    Key::EventType
                } else {
                    Key::Other
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The value of `event_type`: a string, or anything else (skipped without building a tree).
enum StringOrOther {
    String(String),
    Other,
}

impl<'de> Deserialize<'de> for StringOrOther {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = StringOrOther;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StringOrOther, E> {
                Ok(StringOrOther::String(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<StringOrOther, E> {
                Ok(StringOrOther::String(s))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringOrOther, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrOther::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringOrOther, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrOther::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}
