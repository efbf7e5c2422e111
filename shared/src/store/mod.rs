//! DynamoDB store: the records users keep, deduplicated and tolerant of redelivery and reordering.
//!
//! The rules live in [`plan`], as pure functions (an event and its message's metadata in, writes out); the
//! executor ([`Store::execute`], in `writers.rs`) carries the writes out. Versions are in [`version`].
//!
//! # Data model (one table, `pk` / `sk`, TTL attribute `expires_at`)
//!
//! | record | `pk` | `sk` | written | wins |
//! |---|---|---|---|---|
//! | summary (sleep, activity, …); in the `by_day` index under `day` = `SUM#{resource}#{date}#{id}` | `USER#{user}` | `SUM#{resource}#{id}` | PutItem | newest `updated_at`, then newest message |
//! | workout-stream notice | `USER#{user}` | `SUM#workout_stream#{workout id}` | PutItem | newest message |
//! | fetched workout stream, in parts | `USER#{user}` | `WSTREAM#{workout id}#{part}` | PutItem | newest fetch |
//! | timeseries bucket ([`BucketSpan`]) | `USER#{user}` | `TS#{resource}#{start}#{provider}#{source type}[#a=…][#d=…][#w=…][#sp=…][#t=…]` ([`keys::bucket`]) | read, merge, PutItem on `rev` | per sample: newest message |
//! | provider connection | `USER#{user}` | `CONN#{provider}` | PutItem | newest message |
//! | connection history | `USER#{user}` | `CONN#{provider}#EVT#{svix id}` | PutItem | idempotent by key |
//! | device | `USER#{user}` | `DEVICE#{Junction device id}` | PutItem | newest message |
//! | historical pull (backfill) | `USER#{user}` | `BACKFILL#{provider}#{resource}` | UpdateItem | newest message |
//! | lab order / appointment / parsing job | `USER#{user}` | `LAB#{KIND}#{id}` | PutItem | newest `updated_at`, then newest message |
//! | critical result | `USER#{user}` | `LAB#CRITICAL_RESULT#{order id}#{sample id}` | PutItem | newest `updated_at`, then newest message |
//! | lab status history | `USER#{user}` | `LAB#{KIND}#{id}#EVT#{svix id}` | PutItem | idempotent by key |
//! | lab match review (no user in the event) | `TEAM#{team}` | `LAB#MATCH_REVIEW#{id}` | PutItem | newest message |
//! | catch-all (unknown, unparseable, unplannable, continuous query) | `CATCHALL#{00..15}` (by a hash of the svix id) | `MSG#{svix id}` (+ `#PART#{n}` over 350 KB) | PutItem | idempotent by key |
//! | processed-message marker | `MSG#{svix id}` | `{family}` | PutItem, expires by TTL | — |
//!
//! # Identity: what Junction's documented key leaves out
//!
//! Junction documents a summary's key as its `id` and a sample's as (resource, provider, source type, timestamp).
//! The schemas tell apart more than that, and merging what they tell apart loses readings, so a sample's key also
//! has ([`crate::events::Series`]):
//!
//! | part | from | resources | why |
//! |---|---|---|---|
//! | app | `source.app_id` | any (multi-source providers) | two apps can write the same instant |
//! | device | `source.device_id` | any | two devices of a user at one instant (per-device timeseries) |
//! | workout, sport | `source.workout_id`, `source.sport` | `workout_distance`, `workout_swimming_stroke`; `distance` (sport) | one group per workout in the grouped Data API |
//! | sample type | the sample's `type` | `cholesterol`, `ige`, `igg` (the reading), `electrocardiogram_voltage` (the lead), `heart_rate_alert`, `insulin_injection` | a lab panel reports many at one timestamp |
//! | instant | `timestamp`, else `start` | interval samples | the spec deprecates `timestamp` for intervals |
//!
//! `stand_hour` and `sleep_breathing_disturbance` also have a `type`, but it classifies the one reading of an instant
//! (`stood`/`idle`), so a correction replaces it; every other resource's `type` is always null. The list is checked
//! against every sample schema in the spec ([`crate::events::Resource::sample_type_is_identity`]). A device record is
//! keyed by Junction's device id (`data.id`), the id samples name, and a critical result by its order and
//! laboratory sample.
//!
//! # Versions
//!
//! "Newest message" is the order of the messages' creation, read from the Svix message id (`msg_` and a KSUID,
//! the same in every delivery attempt of a message), not the `svix-timestamp` header, which is the time of the
//! attempt: a retry of an old message that arrives after a newer one does not overwrite it ([`version`]). Every item
//! carries it: in its `version` (`{updated_at}|{creation}#{hash}#{id}`, or `{creation}#{hash}#{id}`), in
//! `message_created_at` on items without a version (history entries, catch-all records), and as a run-length list
//! (`o`) of each sample's version on a bucket. Fetched data is versioned by the time of the fetch.
//!
//! # Buckets
//!
//! Timeseries samples are stored one bucket per item ([`BucketSpan`]), each sample an attribute named by its offset
//! from the bucket's start (`s{seconds}`, or `u{microseconds}` for sub-second instants). Its value is the sample as
//! Junction sent it, minus its instant and null fields ([`plan::compact_sample`]; an interval's `start` and `end`
//! become its length): a DynamoDB number holding `value` when the rest of the sample is the bucket's shared fields
//! (attribute `d`, the fields every sample of the bucket's first write had alike, such as `unit` and
//! `timezone_offset`), otherwise the sample's compact JSON. One conditional `PutItem` per bucket (read, merge,
//! write), so a batch of N heart-rate samples costs about N × 7 bytes of write units instead of N items.
//!
//! Access patterns: everything of a user is one `Query` on `pk = USER#{user}`; one resource's records are
//! `begins_with(sk, "SUM#{resource}#")` or `begins_with(sk, "TS#{resource}#")`; a time range of samples is
//! `sk BETWEEN "TS#{resource}#{from hour}" AND "TS#{resource}#{to hour}~"` (a bucket's start, `2024-11-24T10:15`,
//! sorts within its hour). See [`crate::query`].

pub mod plan;
pub mod retention;
pub mod time;
pub mod version;
mod writers;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity};

use crate::events::Resource;
use crate::family::Family;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// TTL attribute (Unix seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// Attribute naming the kind of record (`summary`, `timeseries`, `connection`, …).
pub const KIND: &str = "kind";
/// Partition of the catch-all records written before they were spread over [`CATCH_ALL_SHARDS`] partitions
/// ([`keys::catch_all`]); still read, never written.
pub const CATCH_ALL_PK: &str = "CATCHALL";
/// Partitions the catch-all records are spread over, by a hash of the message id: a new event type Junction sends
/// at volume before this project knows it lands there, and one partition takes at most 1,000 write units a second.
pub const CATCH_ALL_SHARDS: u8 = 16;
/// The index of summaries by date: partition `pk`, sort key [`DAY`] ([`keys::summary_day`]), keys only.
pub const BY_DAY_INDEX: &str = "by_day";
/// A summary's sort key in [`BY_DAY_INDEX`].
pub const DAY: &str = "day";

/// Key builders, shared by the writers, the query module and the tests.
pub mod keys {
    use crate::events::{Resource, Series};

    /// `#` separates key parts; a part that contains one is escaped so prefixes stay unambiguous.
    pub fn part(s: &str) -> std::borrow::Cow<'_, str> {
        if s.contains('#') {
            std::borrow::Cow::Owned(s.replace('#', "%23"))
        } else {
            std::borrow::Cow::Borrowed(s)
        }
    }
    /// `USER#{user}`.
    pub fn user(user_id: &str) -> String {
        format!("USER#{}", part(user_id))
    }
    /// `TEAM#{team}`.
    pub fn team(team_id: &str) -> String {
        format!("TEAM#{}", part(team_id))
    }
    /// `SUM#{resource}#{id}`.
    pub fn summary(resource: Resource, id: &str) -> String {
        format!("SUM#{}#{}", resource.as_str(), part(id))
    }
    /// `SUM#{resource}#{YYYY-MM-DD}#{id}`: a summary's place in the [`super::BY_DAY_INDEX`] index.
    pub fn summary_day(resource: Resource, date: &str, id: &str) -> String {
        format!("SUM#{}#{date}#{}", resource.as_str(), part(id))
    }
    /// `SUM#{resource}#`: prefix of a resource's summaries.
    pub fn summary_prefix(resource: Resource) -> String {
        format!("SUM#{}#", resource.as_str())
    }
    /// The inverse of [`part`].
    pub fn unpart(s: &str) -> String {
        s.replace("%23", "#")
    }

    /// `TS#{resource}#{bucket start}#{provider}#{source type}` and, when the series has them, `#a={app id}`,
    /// `#d={device id}`, `#w={workout id}`, `#sp={sport}`, `#t={sample type}`: a bucket of one series. The start is
    /// as [`super::BucketSpan::locate`] writes it, so a resource's buckets sort by time.
    pub fn bucket(resource: Resource, start: &str, series: &Series) -> String {
        let mut key = format!(
            "TS#{}#{start}#{}#{}",
            resource.as_str(),
            part(&series.provider),
            part(&series.source_type)
        );
        for (tag, value) in [
            ("a", &series.app_id),
            ("d", &series.device_id),
            ("w", &series.workout_id),
            ("sp", &series.sport),
            ("t", &series.sample_type),
        ] {
            if let Some(value) = value {
                key.push('#');
                key.push_str(tag);
                key.push('=');
                key.push_str(&part(value));
            }
        }
        key
    }

    /// A bucket's sort key read back: its resource, start and series.
    pub fn parse_bucket(sk: &str) -> Option<(Resource, String, Series)> {
        let mut parts = sk.strip_prefix("TS#")?.split('#');
        let resource = Resource::parse(parts.next()?)?;
        let start = parts.next()?.to_owned();
        let mut series = Series {
            provider: unpart(parts.next()?),
            source_type: unpart(parts.next()?),
            ..Series::default()
        };
        for tagged in parts {
            let (tag, value) = tagged.split_once('=')?;
            let slot = match tag {
                "a" => &mut series.app_id,
                "d" => &mut series.device_id,
                "w" => &mut series.workout_id,
                "sp" => &mut series.sport,
                "t" => &mut series.sample_type,
                _ => return None,
            };
            *slot = Some(unpart(value));
        }
        Some((resource, start, series))
    }
    /// `TS#{resource}#`: prefix of a resource's timeseries buckets.
    pub fn bucket_prefix(resource: Resource) -> String {
        format!("TS#{}#", resource.as_str())
    }
    /// `CONN#{provider}`.
    pub fn connection(provider: &str) -> String {
        format!("CONN#{}", part(provider))
    }
    /// `CONN#{provider}#EVT#{svix id}`. Keyed by the message alone, so every delivery of one message, whatever
    /// timestamp each attempt was signed with and however concurrently they run, writes the same item. Svix message
    /// ids are KSUIDs, which sort by creation time, so the history still reads in order.
    pub fn connection_event(provider: &str, svix_id: &str) -> String {
        format!("CONN#{}#EVT#{}", part(provider), part(svix_id))
    }
    /// `DEVICE#{device id}`.
    pub fn device(device_id: &str) -> String {
        format!("DEVICE#{}", part(device_id))
    }
    /// `BACKFILL#{provider}#{resource}`.
    pub fn backfill(provider: &str, resource: Resource) -> String {
        format!("BACKFILL#{}#{}", part(provider), resource.as_str())
    }
    /// `LAB#{KIND}#{id}`.
    pub fn lab(kind: &str, id: &str) -> String {
        format!("LAB#{kind}#{}", part(id))
    }
    /// `LAB#{KIND}#{id}#EVT#{svix id}`: one item per message, like [`connection_event`].
    pub fn lab_event(kind: &str, id: &str, svix_id: &str) -> String {
        format!("{}#EVT#{}", lab(kind, id), part(svix_id))
    }
    /// `LAB#CRITICAL_RESULT#{order id}#{sample id}`: an order's result for one laboratory sample (the order id
    /// alone when the event names no sample).
    pub fn critical_result(order_id: &str, sample_id: Option<&str>) -> String {
        match sample_id {
            Some(sample) => format!("{}#{}", lab("CRITICAL_RESULT", order_id), part(sample)),
            None => lab("CRITICAL_RESULT", order_id),
        }
    }
    /// `WSTREAM#{workout id}#{part}`: a part of a fetched workout stream, beside the workout's summary.
    pub fn workout_stream(workout_id: &str, part_index: usize) -> String {
        format!("WSTREAM#{}#{part_index:04}", part(workout_id))
    }
    /// `CATCHALL#{nn}`: the partition of a message's catch-all record and its parts, one of
    /// [`super::CATCH_ALL_SHARDS`] by a hash (SHA-256's first byte) of the message id.
    pub fn catch_all(svix_id: &str) -> String {
        use sha2::Digest as _;
        let shard = sha2::Sha256::digest(svix_id.as_bytes())[0] % super::CATCH_ALL_SHARDS;
        format!("{}#{shard:02}", super::CATCH_ALL_PK)
    }
    /// Every partition catch-all records are read from: the spread ones, then the one they were written to before.
    pub fn catch_all_partitions() -> Vec<String> {
        (0..super::CATCH_ALL_SHARDS)
            .map(|shard| format!("{}#{shard:02}", super::CATCH_ALL_PK))
            .chain([super::CATCH_ALL_PK.to_owned()])
            .collect()
    }
    /// `MSG#{svix id}`: the catch-all record's sort key and the processed-marker's partition key.
    pub fn message(svix_id: &str) -> String {
        format!("MSG#{}", part(svix_id))
    }
    /// `MSG#{svix id}#PART#{n}`: a part of a large catch-all body.
    pub fn message_part(svix_id: &str, part_index: usize) -> String {
        format!("MSG#{}#PART#{part_index:04}", part(svix_id))
    }
}

/// How much time one timeseries bucket item covers: a function of the resource alone, so that every write of an
/// instant finds the same item. Always a whole number of seconds that divides an hour.
///
/// A bucket is re-written whole by every webhook that adds to it, and DynamoDB charges a write one unit per started
/// KiB of the item, so the span trades the size of each re-write against the number of items a long batch touches;
/// and an item stops at 400 KB, so the span also bounds the densest series a resource has. A stored sample takes
/// about 7 bytes (its attribute name and a number; a sub-second instant's name is longer), a bucket's other
/// attributes about 150 plus 14 per message that wrote it:
///
/// | resource | span | densest realistic series | samples per bucket | bytes per bucket |
/// |---|---|---|---|---|
/// | `electrocardiogram_voltage` | 10 s | 512 Hz | 5,120 | about 70 KB |
/// | `heartrate` | 15 min | 1 Hz (a chest strap in a workout) | 900 | about 7 KB |
/// | every other | 1 h | 1 Hz steps, calories or distance intervals | 3,600 | about 30 KB |
///
/// A merge that would still pass the limit (samples that cannot be stored compactly, at rates no device sends)
/// is refused ([`plan::Merge::TooLarge`]) and its message kept whole in the catch-all records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    seconds: u32,
}

impl BucketSpan {
    /// One item per hour: `YYYY-MM-DDTHH`.
    pub const HOUR: BucketSpan = BucketSpan { seconds: 3600 };
    /// One item per quarter hour: `YYYY-MM-DDTHH:MM`, the minute 00, 15, 30 or 45.
    pub const QUARTER_HOUR: BucketSpan = BucketSpan { seconds: 900 };
    /// One item per ten seconds: `YYYY-MM-DDTHH:MM:SS`, the second 00, 10, … 50.
    pub const TEN_SECONDS: BucketSpan = BucketSpan { seconds: 10 };

    /// The span of `resource`'s buckets (see the table above).
    pub fn of(resource: Resource) -> BucketSpan {
        match resource {
            Resource::Heartrate => BucketSpan::QUARTER_HOUR,
            Resource::ElectrocardiogramVoltage => BucketSpan::TEN_SECONDS,
            _ => BucketSpan::HOUR,
        }
    }

    /// The span in seconds.
    pub fn seconds(self) -> u32 {
        self.seconds
    }

    /// The bucket holding `dt`: its start as written in the sort key (`2024-11-24T10`, `2024-11-24T10:15`,
    /// `2024-11-24T10:15:40`), and `dt`'s offset from that start in microseconds.
    pub fn locate(self, dt: &chrono::DateTime<chrono::Utc>) -> (String, u64) {
        use chrono::Timelike;
        let in_hour = u64::from(dt.minute()) * 60 + u64::from(dt.second());
        let span = u64::from(self.seconds);
        let first = in_hour / span * span;
        let hour = dt.format("%Y-%m-%dT%H");
        let label = if span == 3600 {
            hour.to_string()
        } else if span % 60 == 0 {
            format!("{hour}:{:02}", first / 60)
        } else {
            format!("{hour}:{:02}:{:02}", first / 60, first % 60)
        };
        let micros = (in_hour - first) * 1_000_000 + u64::from(dt.nanosecond() / 1_000);
        (label, micros)
    }

    /// The instant a bucket starts at, from its label (any span's form).
    pub fn start_of(label: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = match label.len() {
            13 => format!("{label}:00:00Z"),
            16 => format!("{label}:00Z"),
            19 => format!("{label}Z"),
            _ => return None,
        };
        time::parse_instant(&text)
    }
}

/// The DynamoDB adapter: one table, the client built once per container.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    idempotency_ttl_secs: i64,
    retention: retention::Retention,
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Written {
    /// Items created or replaced.
    pub items: u32,
    /// Writes skipped because the stored version is newer (an outcome, not an error).
    pub stale: u32,
    /// Samples written (timeseries).
    pub samples: u32,
    /// Write capacity units DynamoDB reported as consumed.
    pub write_units: f64,
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, o: Self) {
        self.items += o.items;
        self.stale += o.stale;
        self.samples += o.samples;
        self.write_units += o.write_units;
    }
}

impl Store {
    /// A store over `table`; processed-message markers live `idempotency_ttl_days`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        idempotency_ttl_days: u32,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            idempotency_ttl_secs: i64::from(idempotency_ttl_days) * 86_400,
            retention: retention::Retention::KEEP,
        }
    }

    /// The same store, stamping every item it writes with its expiry under `retention`.
    pub fn with_retention(mut self, retention: retention::Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Whether `family` already processed the message `svix_id`. An eventually consistent read (half the read
    /// units): a marker written less than about a second ago may be missed, and then the message is stored again,
    /// which every writer makes a no-op (versions, keys by message id); two deliveries racing each other can pass
    /// the check together in any case.
    pub async fn is_processed(&self, svix_id: &str, family: Family) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(keys::message(svix_id)))
            .key(SK, AttributeValue::S(family.as_str().to_owned()))
            .consistent_read(false)
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item.is_some())
    }

    /// Records that `family` processed `svix_id`; the marker expires after the configured TTL.
    pub async fn mark_processed(
        &self,
        svix_id: &str,
        family: Family,
        now_unix: i64,
    ) -> Result<f64, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(keys::message(svix_id)))
            .item(SK, AttributeValue::S(family.as_str().to_owned()))
            .item(KIND, AttributeValue::S("marker".into()))
            .item(
                EXPIRES_AT,
                AttributeValue::N((now_unix + self.idempotency_ttl_secs).to_string()),
            )
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(units(out.consumed_capacity()))
    }
}

fn units(c: Option<&ConsumedCapacity>) -> f64 {
    c.and_then(|c| c.capacity_units()).unwrap_or(0.0)
}

/// Sends a batch (`BatchGetItem`, `BatchWriteItem`) until DynamoDB leaves nothing of it unprocessed: `send` takes
/// what is pending and returns what it found and what is left. Ten tries, backing off from 20 ms to 1.28 s; what is
/// still left then is a [`StoreError::Throttled`] naming `what`.
pub(crate) async fn until_processed<T, R, F, Fut>(
    mut pending: Vec<T>,
    what: &str,
    mut send: F,
) -> Result<Vec<R>, StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<R>, Vec<T>), StoreError>>,
{
    let mut found = Vec::new();
    for attempt in 0..10u32 {
        let (got, left) = send(pending).await?;
        found.extend(got);
        pending = left;
        if pending.is_empty() {
            return Ok(found);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
    }
    Err(StoreError::Throttled(format!(
        "{what} left unprocessed after retries"
    )))
}

/// A write or read failed. Every variant is retryable by redelivery; [`StoreError::is_throttle`] tells throttling
/// apart for metrics and logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB throttled the request (after the SDK's own retries).
    #[error("DynamoDB throttled the request ({0})")]
    Throttled(String),
    /// DynamoDB refused the request as invalid (item too large, bad expression): will not succeed on retry.
    #[error("DynamoDB rejected the request ({0})")]
    Rejected(String),
    /// Any other service or network failure.
    #[error("DynamoDB request failed ({0})")]
    Service(String),
    /// A merged timeseries bucket would pass DynamoDB's item size limit: will not succeed on retry. The message
    /// is kept in the catch-all records instead.
    #[error("a timeseries bucket would be {0} bytes, past DynamoDB's item limit")]
    TooLarge(usize),
}

impl StoreError {
    /// Classifies an SDK error by its error code; messages carry the code, never item contents.
    pub fn from_sdk<E, R>(e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let code = e.code().map(str::to_owned);
        match code.as_deref() {
            Some(
                c @ ("ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"),
            ) => StoreError::Throttled(c.to_owned()),
            Some(c @ ("ValidationException" | "ItemCollectionSizeLimitExceededException")) => {
                StoreError::Rejected(c.to_owned())
            }
            Some(c) => StoreError::Service(c.to_owned()),
            None => StoreError::Service(match &e {
                SdkError::TimeoutError(_) => "timeout".to_owned(),
                SdkError::DispatchFailure(_) => "dispatch failure".to_owned(),
                SdkError::ResponseError(_) => "unreadable response".to_owned(),
                SdkError::ConstructionFailure(_) => "request could not be built".to_owned(),
                SdkError::ServiceError(s) => format!("HTTP {}", HasStatus::status(s.raw())),
                _ => "unknown error".to_owned(),
            }),
        }
    }

    /// Whether DynamoDB throttled the request.
    pub fn is_throttle(&self) -> bool {
        matches!(self, StoreError::Throttled(_))
    }
}

/// Whether an SDK error is a failed condition (a stale write: an outcome, not an error).
fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// The HTTP status of a raw response, for errors the service sent without an error code.
pub trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
