//! Deduplication identities: which record each event creates or replaces.
//!
//! Junction delivers at least once, unordered, and re-sends on demand, so processors store by these keys and let
//! the latest version win. The keys are Junction's own where it defines them
//! (<https://docs.junction.com/wearables/providers/data-primary-key>): a summary by its id, a timeseries sample
//! by (resource, source provider, source type, timestamp), both per user. Junction's key for samples is minimal:
//! it merges readings that its own schemas tell apart, so a sample's key here also has the rest of its source
//! (app, device, workout, sport: the groups the grouped Data API returns) and, where it names the measurement,
//! the sample's `type` ([`Series`]).

use super::Event;
use super::data::{EventData, Source};
use super::resource::Resource;

/// Placeholder for a sample key's provider or source type when the batch's source does not say. Junction's own
/// default Source Type is also `unknown`.
pub const UNKNOWN: &str = "unknown";

/// The series a timeseries sample belongs to: every part of its identity but the user, resource and instant.
/// Samples of one series at one instant are one reading (the newest message's value wins); samples of two series
/// are two readings, both kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    /// `source.provider`, or [`UNKNOWN`].
    pub provider: String,
    /// `source.type`, or [`UNKNOWN`].
    pub source_type: String,
    /// `source.app_id` (multi-source providers: the app that recorded the data).
    pub app_id: Option<String>,
    /// `source.device_id` (Junction's device id).
    pub device_id: Option<String>,
    /// `source.workout_id` (workout-stream timeseries).
    pub workout_id: Option<String>,
    /// `source.sport` (workout-stream timeseries; wheelchair `distance`).
    pub sport: Option<String>,
    /// The sample's `type`, for resources where it names the measurement
    /// ([`Resource::sample_type_is_identity`]); `None` elsewhere.
    pub sample_type: Option<String>,
}

impl Series {
    /// The series of a sample of `resource` from `source` with the sample's own `type`.
    pub fn of(resource: Resource, source: &Source, sample_type: Option<&str>) -> Series {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Series {
            provider: some(&source.provider).unwrap_or_else(|| UNKNOWN.to_owned()),
            source_type: some(&source.source_type).unwrap_or_else(|| UNKNOWN.to_owned()),
            app_id: some(&source.app_id),
            device_id: some(&source.device_id),
            workout_id: some(&source.workout_id),
            sport: some(&source.sport),
            sample_type: sample_type
                .filter(|t| resource.sample_type_is_identity() && !t.is_empty())
                .map(str::to_owned),
        }
    }
}

/// The identity of one record an event yields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    /// A summary: (user, resource, `$.data.id`).
    Summary {
        /// Junction user id.
        user_id: String,
        /// A summary resource.
        resource: Resource,
        /// `$.data.id` (`$.data.workout_id` for `workout_stream`).
        id: String,
    },
    /// A timeseries sample: (user, resource, series, instant).
    Sample {
        /// Junction user id.
        user_id: String,
        /// A timeseries resource.
        resource: Resource,
        /// The source and (where it is identity) the sample type.
        series: Series,
        /// The sample's instant as sent: `timestamp`, else `start`.
        timestamp: String,
    },
    /// A user's connection to a provider (created, or in error).
    Connection {
        /// Junction user id.
        user_id: String,
        /// Provider slug.
        provider: String,
    },
    /// A user's device.
    Device {
        /// Junction user id.
        user_id: String,
        /// `data.id` (what data records name in `source.device_id`), else `data.device_id`.
        device_id: String,
    },
    /// The historical pull of one resource from one provider for a user.
    Backfill {
        /// Junction user id.
        user_id: String,
        /// Provider slug.
        provider: String,
        /// The pulled resource.
        resource: Resource,
    },
    /// A lab order.
    LabOrder {
        /// Order id.
        id: String,
    },
    /// A lab appointment.
    Appointment {
        /// Appointment id.
        id: String,
    },
    /// A critical result: the order and the laboratory sample it is for.
    CriticalResult {
        /// Order id.
        order_id: String,
        /// The laboratory's sample id, when sent.
        sample_id: Option<String>,
    },
    /// A lab match review.
    MatchReview {
        /// Review id.
        id: String,
    },
    /// A lab report parsing job.
    ParsingJob {
        /// Job id.
        id: String,
    },
    /// No identity in the body (continuous query results, unknown event types): the record is the message,
    /// identified by its Svix message id only.
    Message,
}

impl Event {
    /// The identity of every record this event yields, in body order: one per summary, per sample (so a batch
    /// of 1,000 samples yields 1,000 keys, one per sample in `samples` order, duplicates included if Junction
    /// sent the same timestamp twice), per connection, device, pull or lab object; one
    /// [`RecordKey::Message`] for continuous queries and unknown event types; none for an empty sample batch.
    ///
    /// [`crate::events::parse_event`] guarantees a user id wherever a key needs one; an event built by hand
    /// without one yields [`RecordKey::Message`] instead.
    pub fn record_keys(&self) -> Vec<RecordKey> {
        let user = self.user_id.clone();
        let resource = self.event_type.resource();
        match (&self.data, user, resource) {
            (EventData::Summary(summary), Some(user_id), Some(resource)) => {
                vec![RecordKey::Summary {
                    user_id,
                    resource,
                    id: summary.id.clone(),
                }]
            }
            (EventData::Timeseries(batch), Some(user_id), Some(resource)) => batch
                .samples
                .iter()
                .map(|sample| RecordKey::Sample {
                    user_id: user_id.clone(),
                    resource,
                    series: Series::of(resource, &batch.source, sample.sample_type.as_deref()),
                    timestamp: sample.timestamp.clone(),
                })
                .collect(),
            (EventData::ProviderConnection(connection), Some(user_id), _) => {
                vec![RecordKey::Connection {
                    user_id,
                    provider: connection.provider.clone(),
                }]
            }
            (EventData::ProviderConnectionError(error), Some(user_id), _) => {
                vec![RecordKey::Connection {
                    user_id,
                    provider: error.provider.clone(),
                }]
            }
            (EventData::Device(device), Some(user_id), _) => {
                vec![RecordKey::Device {
                    user_id,
                    device_id: device.id.clone(),
                }]
            }
            (EventData::HistoricalPull(pull), Some(user_id), Some(resource)) => {
                vec![RecordKey::Backfill {
                    user_id,
                    provider: pull.provider.clone(),
                    resource,
                }]
            }
            (EventData::LabOrder(order), _, _) => vec![RecordKey::LabOrder {
                id: order.id.clone(),
            }],
            (EventData::Appointment(appointment), _, _) => {
                vec![RecordKey::Appointment {
                    id: appointment.id.clone(),
                }]
            }
            (EventData::CriticalResult(result), _, _) => {
                vec![RecordKey::CriticalResult {
                    order_id: result.order_id.clone(),
                    sample_id: result.sample_id.clone(),
                }]
            }
            (EventData::MatchReview(review), _, _) => vec![RecordKey::MatchReview {
                id: review.id.clone(),
            }],
            (EventData::ParsingJob(job), _, _) => {
                vec![RecordKey::ParsingJob { id: job.id.clone() }]
            }
            _ => vec![RecordKey::Message],
        }
    }
}
