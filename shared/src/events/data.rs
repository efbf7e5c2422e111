//! The typed view of an event's `data`, one shape per kind of event, and how it is read from JSON.
//!
//! Reading is lenient on purpose: Junction adds fields and enum values without notice (many of its enums are
//! marked non-exhaustive), and its examples send ids that the spec calls UUIDs as other strings. So every field
//! is read from a [`serde_json::Value`] by hand: strings stay strings, numbers are accepted where a string is
//! expected (and stringified), a field of an unexpected type reads as absent, and nothing is lost because
//! [`crate::events::Event::raw`] keeps the whole body. Only what identifies a record (a summary's `id`, a sample's
//! `timestamp`, ...) is required; its absence is a [`ParseError`] naming the field.

use serde_json::{Map, Value};

use super::ParseError;
use super::event_type::EventType;
use super::resource::Resource;

/// The typed `data` of an event, by kind of event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `provider.connection.created`.
    ProviderConnection(ProviderConnection),
    /// `provider.connection.error`.
    ProviderConnectionError(ProviderConnectionError),
    /// `provider.device.created` / `.updated`.
    Device(Device),
    /// `historical.data.<resource>.created`.
    HistoricalPull(HistoricalPull),
    /// `daily.data.<summary resource>.*`.
    Summary(Summary),
    /// `daily.data.<timeseries resource>.*`.
    Timeseries(TimeseriesBatch),
    /// `labtest.order.*`.
    LabOrder(LabOrder),
    /// `labtest.appointment.*`.
    Appointment(Appointment),
    /// `labtest.result.critical`.
    CriticalResult(CriticalResult),
    /// `labtest.match_review.*`.
    MatchReview(MatchReview),
    /// `lab_report.parsing_job.*`.
    ParsingJob(ParsingJob),
    /// `continuous_query.result_table.changed`: one entry per changed result table.
    ContinuousQuery(Vec<ContinuousQueryResult>),
    /// An event type this code does not know: `$.data` as sent (`null` if absent).
    Unknown(Value),
}

/// Where wearable data came from (`$.data.source`).
///
/// See <https://docs.junction.com/wearables/providers/data-attributions>.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Source {
    /// `source.provider`, else the deprecated `source.slug`, else (some summaries) `source_provider`.
    pub provider: Option<String>,
    /// `source.type` (Junction's Source Type: `watch`, `ring`, `app`, `unknown`, ...), else `source_type`.
    pub source_type: Option<String>,
    /// `source.app_id`, else `source_app_id`.
    pub app_id: Option<String>,
    /// `source.device_id`, else `source_device_id`: Junction's device id ([`Device::id`]).
    pub device_id: Option<String>,
    /// `source.workout_id`: the workout that workout-stream samples (`workout_distance`, …) belong to.
    pub workout_id: Option<String>,
    /// `source.sport`: the sport slug of workout-stream samples; `wheelchair_pushing` on all-day `distance`.
    pub sport: Option<String>,
}

/// `provider.connection.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConnection {
    /// The provider's slug: `data.provider.slug`, else the deprecated `data.source.slug` (or a plain string).
    pub provider: String,
    /// The user's id at the provider, when the provider has one.
    pub external_user_id: Option<String>,
}

/// `provider.connection.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConnectionError {
    /// The provider's slug (`data.provider`).
    pub provider: String,
    /// E.g. `token_refresh_failed`, `user_not_found`, `deregistered_per_provider` (non-exhaustive).
    pub error_type: Option<String>,
    /// Human-readable message from Junction.
    pub message: Option<String>,
    /// More detail from Junction.
    pub error_details: Option<String>,
}

/// `provider.device.created` / `.updated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `data.id`: Junction's device id, the one data records name in `source.device_id`; else `data.device_id`.
    pub id: String,
    /// `data.device_id`: the provider's own id for the device (a serial, a MAC address), when it has one.
    pub provider_device_id: Option<String>,
    /// The provider's slug.
    pub provider: Option<String>,
    /// `data.source_type`: `watch`, `phone`, `scale`, ... (non-exhaustive).
    pub source_type: Option<String>,
}

/// `historical.data.<resource>.created`: a historical pull (backfill) finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalPull {
    /// The provider's slug.
    pub provider: String,
    /// Start of the pulled range, as sent.
    pub start_date: Option<String>,
    /// End of the pulled range, as sent.
    pub end_date: Option<String>,
    /// Whether this is the last event of the pull.
    pub is_final: Option<bool>,
}

/// A summary record (`daily.data.<summary resource>.*`). The latest version received for an `id` replaces
/// earlier ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `$.data.id`; for `workout_stream`, `$.data.workout_id`.
    pub id: String,
    /// Where the summary came from.
    pub source: Source,
    /// RFC 3339 as sent (every summary but `workout_stream` has it).
    pub updated_at: Option<String>,
    /// `YYYY-MM-DD` as sent.
    pub calendar_date: Option<String>,
    /// Start of what the record covers, as sent: the first of `time_start`, `bedtime_start`, `session_start`,
    /// `period_start`, `timestamp`, `date`.
    pub start: Option<String>,
    /// End of what the record covers, as sent: the first of `time_end`, `bedtime_stop`, `session_end`,
    /// `period_end`.
    pub end: Option<String>,
    /// `$.data` as sent.
    pub data: Value,
}

/// A batch of timeseries samples from one source (`daily.data.<timeseries resource>.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesBatch {
    /// `$.data.source`, shared by every sample.
    pub source: Source,
    /// `$.data.data[]`, in the order sent.
    pub samples: Vec<TimeseriesSample>,
}

/// One timeseries sample. Identified, for a user and resource, by the batch's source (provider, type, app,
/// device, workout, sport), the sample's `type` where it names the measurement
/// ([`crate::events::Resource::sample_type_is_identity`]) and its instant; the version from the newest message
/// replaces earlier ones.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesSample {
    /// The sample's instant, as sent: `timestamp`, else (interval samples, whose `timestamp` the spec deprecates
    /// as "the start time (inclusive) of the interval") `start`.
    pub timestamp: String,
    /// `value`, or `systolic`/`diastolic` for blood pressure.
    pub value: SampleValue,
    /// Interval start, as sent.
    pub start: Option<String>,
    /// Interval end (exclusive), as sent.
    pub end: Option<String>,
    /// E.g. `bpm`, `kcal`, `mmHg`.
    pub unit: Option<String>,
    /// Seconds east of UTC.
    pub timezone_offset: Option<i64>,
    /// The sample's own `type` (e.g. cholesterol's `ldl`); not the source type.
    pub sample_type: Option<String>,
    /// Every other non-null field (`id`, `grouping`, `tags`, `sensor_location`, ...), and any of the fields
    /// above whose value had an unexpected type.
    pub extra: Map<String, Value>,
}

/// The measured value of a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A numeric `value`.
    Number(f64),
    /// `systolic` and `diastolic` (and no `value`).
    BloodPressure {
        /// Systolic pressure.
        systolic: f64,
        /// Diastolic pressure.
        diastolic: f64,
    },
    /// A string `value` (a `note`).
    Text(String),
    /// No usable value.
    Missing,
}

/// `labtest.order.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOrder {
    /// The order id.
    pub id: String,
    /// `last_event.status`, else the last `events[].status`, else `data.status` (deprecated, and coarser).
    pub status: Option<String>,
    /// As sent.
    pub updated_at: Option<String>,
}

/// `labtest.appointment.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    /// The appointment id.
    pub id: String,
    /// The order it belongs to.
    pub order_id: Option<String>,
    /// E.g. `confirmed`, `pending`, `cancelled`.
    pub status: Option<String>,
    /// E.g. `scheduled`, `completed`.
    pub event_status: Option<String>,
}

/// `labtest.result.critical`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalResult {
    /// The order whose result is critical.
    pub order_id: String,
    /// The laboratory's sample the result is for: one order can have several.
    pub sample_id: Option<String>,
    /// E.g. `final`, `partial`.
    pub status: Option<String>,
    /// As sent.
    pub updated_at: Option<String>,
}

/// `labtest.match_review.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchReview {
    /// The review id.
    pub id: String,
    /// E.g. `matched`.
    pub status: Option<String>,
    /// The user the review resolved to.
    pub resolved_user_id: Option<String>,
    /// The order the review resolved to.
    pub resolved_order_id: Option<String>,
}

/// `lab_report.parsing_job.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsingJob {
    /// The job id.
    pub id: String,
    /// E.g. `started`, `completed`, `failed`.
    pub status: Option<String>,
}

/// One changed result table of `continuous_query.result_table.changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuousQueryResult {
    /// The query's id.
    pub query_id: Option<String>,
    /// The query's slug.
    pub query_slug: Option<String>,
}

/// A string field as text: strings as they are, numbers stringified; anything else is absent.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A provider named either by a string or by an object with a `slug` (or `provider`).
fn provider_name(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Object(provider) => {
            text(provider.get("slug")).or_else(|| text(provider.get("provider")))
        }
        other => text(Some(other)),
    }
}

/// Reads the fields of one known event type, naming that type in errors.
pub(crate) struct Reader<'a> {
    pub(crate) event_type: &'a EventType,
}

impl Reader<'_> {
    fn missing(&self, field: impl Into<String>) -> ParseError {
        ParseError::MissingField {
            event_type: self.event_type.clone(),
            field: field.into(),
        }
    }

    fn wrong_type(&self, field: impl Into<String>, expected: &'static str) -> ParseError {
        ParseError::WrongType {
            event_type: self.event_type.clone(),
            field: field.into(),
            expected,
        }
    }

    /// `$.data` as an object.
    pub(crate) fn data_object<'v>(
        &self,
        data: Option<&'v Value>,
    ) -> Result<&'v Map<String, Value>, ParseError> {
        match data {
            None | Some(Value::Null) => Err(self.missing("data")),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(self.wrong_type("data", "an object")),
        }
    }

    /// An identifying field: a non-empty string or a number.
    fn id(&self, value: Option<String>, field: &str) -> Result<String, ParseError> {
        value
            .filter(|id| !id.is_empty())
            .ok_or_else(|| self.missing(field))
    }

    pub(crate) fn provider_connection(
        &self,
        data: &Map<String, Value>,
    ) -> Result<ProviderConnection, ParseError> {
        let provider =
            provider_name(data.get("provider")).or_else(|| provider_name(data.get("source")));
        Ok(ProviderConnection {
            provider: self.id(provider, "data.provider")?,
            external_user_id: text(data.get("external_user_id")),
        })
    }

    pub(crate) fn provider_connection_error(
        &self,
        data: &Map<String, Value>,
    ) -> Result<ProviderConnectionError, ParseError> {
        let provider =
            provider_name(data.get("provider")).or_else(|| provider_name(data.get("source")));
        Ok(ProviderConnectionError {
            provider: self.id(provider, "data.provider")?,
            error_type: text(data.get("error_type")),
            message: text(data.get("message")),
            error_details: text(data.get("error_details")),
        })
    }

    pub(crate) fn device(&self, data: &Map<String, Value>) -> Result<Device, ParseError> {
        let provider_device_id = text(data.get("device_id")).filter(|id| !id.is_empty());
        let id = text(data.get("id"))
            .filter(|id| !id.is_empty())
            .or_else(|| provider_device_id.clone());
        Ok(Device {
            id: self.id(id, "data.id")?,
            provider_device_id,
            provider: provider_name(data.get("provider")),
            source_type: text(data.get("source_type")),
        })
    }

    pub(crate) fn historical_pull(
        &self,
        data: &Map<String, Value>,
    ) -> Result<HistoricalPull, ParseError> {
        Ok(HistoricalPull {
            provider: self.id(provider_name(data.get("provider")), "data.provider")?,
            start_date: text(data.get("start_date")),
            end_date: text(data.get("end_date")),
            is_final: data.get("is_final").and_then(Value::as_bool),
        })
    }

    pub(crate) fn summary(
        &self,
        resource: Resource,
        data: &Map<String, Value>,
    ) -> Result<Summary, ParseError> {
        let id = if resource == Resource::WorkoutStream {
            let id = text(data.get("workout_id"))
                .filter(|id| !id.is_empty())
                .or_else(|| text(data.get("id")));
            self.id(id, "data.workout_id")?
        } else {
            self.id(text(data.get("id")), "data.id")?
        };
        let first = |keys: &[&str]| keys.iter().find_map(|key| text(data.get(*key)));
        Ok(Summary {
            id,
            source: source(data),
            updated_at: text(data.get("updated_at")),
            calendar_date: text(data.get("calendar_date")),
            start: first(&[
                "time_start",
                "bedtime_start",
                "session_start",
                "period_start",
                "timestamp",
                "date",
            ]),
            end: first(&["time_end", "bedtime_stop", "session_end", "period_end"]),
            data: Value::Object(data.clone()),
        })
    }

    pub(crate) fn timeseries(
        &self,
        data: &Map<String, Value>,
    ) -> Result<TimeseriesBatch, ParseError> {
        // A batch without its samples list is not an empty batch: the shape changed, and acknowledging it as zero
        // samples would lose whatever it carries instead. It fails, and is kept whole in the catch-all records.
        let samples = match data.get("data") {
            None | Some(Value::Null) => return Err(self.missing("data.data")),
            Some(Value::Array(samples)) => samples.as_slice(),
            Some(_) => return Err(self.wrong_type("data.data", "an array")),
        };
        let samples = samples
            .iter()
            .enumerate()
            .map(|(index, sample)| match sample {
                Value::Object(sample) => self.sample(index, sample),
                _ => Err(self.wrong_type(format!("data.data[{index}]"), "an object")),
            })
            .collect::<Result<_, _>>()?;
        Ok(TimeseriesBatch {
            source: source(data),
            samples,
        })
    }

    fn sample(
        &self,
        index: usize,
        sample: &Map<String, Value>,
    ) -> Result<TimeseriesSample, ParseError> {
        let instant = |key: &str| text(sample.get(key)).filter(|t| !t.is_empty());
        let timestamp = instant("timestamp")
            .or_else(|| instant("start"))
            .ok_or_else(|| self.missing(format!("data.data[{index}].timestamp")))?;
        let number = |key: &str| sample.get(key).and_then(Value::as_f64);
        let value = match sample.get("value") {
            Some(Value::Number(n)) => n.as_f64().map_or(SampleValue::Missing, SampleValue::Number),
            Some(Value::String(s)) => SampleValue::Text(s.clone()),
            _ => match (number("systolic"), number("diastolic")) {
                (Some(systolic), Some(diastolic)) => SampleValue::BloodPressure {
                    systolic,
                    diastolic,
                },
                _ => SampleValue::Missing,
            },
        };
        let blood_pressure = matches!(value, SampleValue::BloodPressure { .. });
        let mut typed = TimeseriesSample {
            timestamp,
            value,
            start: None,
            end: None,
            unit: None,
            timezone_offset: None,
            sample_type: None,
            extra: Map::new(),
        };
        for (key, field) in sample {
            let consumed = match key.as_str() {
                "timestamp" => true,
                "value" => matches!(field, Value::Number(_) | Value::String(_)),
                "systolic" | "diastolic" => blood_pressure,
                "start" => put(&mut typed.start, text(Some(field))),
                "end" => put(&mut typed.end, text(Some(field))),
                "unit" => put(&mut typed.unit, text(Some(field))),
                "type" => put(&mut typed.sample_type, text(Some(field))),
                "timezone_offset" => put(&mut typed.timezone_offset, whole_number(field)),
                _ => false,
            };
            if !consumed && !field.is_null() {
                typed.extra.insert(key.clone(), field.clone());
            }
        }
        Ok(typed)
    }

    pub(crate) fn lab_order(&self, data: &Map<String, Value>) -> Result<LabOrder, ParseError> {
        let status_of = |event: &Value| text(event.get("status"));
        // The order's events say where it is in detail (`collecting_sample.testkit.transit_customer`); the
        // deprecated top-level `status` only coarsely (`collecting_sample`), so it comes last.
        let status = data
            .get("last_event")
            .and_then(status_of)
            .or_else(|| data.get("events")?.as_array()?.last().and_then(status_of))
            .or_else(|| text(data.get("status")));
        Ok(LabOrder {
            id: self.id(text(data.get("id")), "data.id")?,
            status,
            updated_at: text(data.get("updated_at")),
        })
    }

    pub(crate) fn appointment(&self, data: &Map<String, Value>) -> Result<Appointment, ParseError> {
        Ok(Appointment {
            id: self.id(text(data.get("id")), "data.id")?,
            order_id: text(data.get("order_id")),
            status: text(data.get("status")),
            event_status: text(data.get("event_status")),
        })
    }

    pub(crate) fn critical_result(
        &self,
        data: &Map<String, Value>,
    ) -> Result<CriticalResult, ParseError> {
        Ok(CriticalResult {
            order_id: self.id(text(data.get("order_id")), "data.order_id")?,
            sample_id: text(data.get("sample_id")).filter(|id| !id.is_empty()),
            status: text(data.get("status")),
            updated_at: text(data.get("updated_at")),
        })
    }

    pub(crate) fn match_review(
        &self,
        data: &Map<String, Value>,
    ) -> Result<MatchReview, ParseError> {
        Ok(MatchReview {
            id: self.id(text(data.get("id")), "data.id")?,
            status: text(data.get("status")),
            resolved_user_id: text(data.get("resolved_user_id")),
            resolved_order_id: text(data.get("resolved_order_id")),
        })
    }

    pub(crate) fn parsing_job(&self, data: &Map<String, Value>) -> Result<ParsingJob, ParseError> {
        Ok(ParsingJob {
            id: self.id(text(data.get("id")), "data.id")?,
            status: text(data.get("status")),
        })
    }
}

/// Reads `continuous_query.result_table.changed` data: an array of result tables (a lone object counts as one;
/// anything else as none, since the event is identified by its message id only).
pub(crate) fn continuous_query(data: Option<&Value>) -> Vec<ContinuousQueryResult> {
    let one = |table: &Value| ContinuousQueryResult {
        query_id: text(table.get("query_id")),
        query_slug: text(table.get("query_slug")),
    };
    match data {
        Some(Value::Array(tables)) => tables.iter().map(one).collect(),
        Some(table @ Value::Object(_)) => vec![one(table)],
        _ => Vec::new(),
    }
}

/// The source of wearable data: `data.source`, falling back field by field to the flat `source_*` fields that
/// some summaries (sleep_cycle, menstrual_cycle, electrocardiogram, meal) also carry.
fn source(data: &Map<String, Value>) -> Source {
    let nested = data.get("source").and_then(Value::as_object);
    let field = |key: &str| nested.and_then(|source| text(source.get(key)));
    let flat = |key: &str| text(data.get(key));
    Source {
        provider: field("provider")
            .or_else(|| field("slug"))
            .or_else(|| flat("source_provider")),
        source_type: field("type").or_else(|| flat("source_type")),
        app_id: field("app_id").or_else(|| flat("source_app_id")),
        device_id: field("device_id").or_else(|| flat("source_device_id")),
        workout_id: field("workout_id"),
        sport: field("sport"),
    }
}

/// Stores `value` in `slot` if there is one; returns whether it did.
fn put<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let stored = value.is_some();
    if stored {
        *slot = value;
    }
    stored
}

/// An integer, or a float with no fractional part.
fn whole_number(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        (f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64).then_some(f as i64)
    })
}
