//! Junction's wearable resources and how each one's data is shaped.
//!
//! One hand-written table lists the 60 resources that have `daily.data.<resource>.*` and
//! `historical.data.<resource>.created` webhooks, with the kind of each: a *summary* (`$.data` is one record,
//! identified by `$.data.id`) or a *timeseries* (`$.data.data[]` holds samples of one [`SampleShape`]).
//! The table follows the spec's webhook schemas, which `tests::table_matches_the_spec` checks against
//! `testdata/junction/swagger.json`. One wrinkle: the sample schemas of `calories_basal`, `floors_climbed` and
//! `water` declare no `start`/`end`, but their own `example`s carry them, Junction's resource docs list all three
//! as interval types, and the fixtures send them; they are [`SampleShape::Interval`] here. The parser reads
//! `start`/`end` whenever a sample has them, whatever the shape says, so nothing depends on getting this right.
//!
//! See <https://docs.junction.com/wearables/providers/resources>.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a resource's events carry one summary or a batch of timeseries samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `$.data` is one summary, identified by `$.data.id` (`$.data.workout_id` for `workout_stream`).
    Summary,
    /// `$.data.source` plus samples in `$.data.data[]`, each identified by its source and `timestamp`.
    Timeseries(SampleShape),
}

impl ResourceKind {
    /// The sample shape of a timeseries resource; `None` for a summary.
    pub const fn sample_shape(&self) -> Option<SampleShape> {
        match self {
            ResourceKind::Summary => None,
            ResourceKind::Timeseries(shape) => Some(*shape),
        }
    }
}

/// What one timeseries sample carries besides `timestamp`, `unit`, `timezone_offset` and `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleShape {
    /// A numeric `value` at one point in time.
    Discrete,
    /// A numeric `value` over the half-open interval `[start, end)`.
    Interval,
    /// `systolic` and `diastolic` instead of `value`.
    BloodPressure,
    /// A string `value` (free text) over `[start, end)`, with optional `tags`.
    Note,
}

const SUMMARY: ResourceKind = ResourceKind::Summary;
const DISCRETE: ResourceKind = ResourceKind::Timeseries(SampleShape::Discrete);
const INTERVAL: ResourceKind = ResourceKind::Timeseries(SampleShape::Interval);
const BLOOD_PRESSURE: ResourceKind = ResourceKind::Timeseries(SampleShape::BloodPressure);
const NOTE: ResourceKind = ResourceKind::Timeseries(SampleShape::Note);

macro_rules! resources {
    ($($variant:ident = $name:literal: $kind:ident,)*) => {
        /// A Junction wearable resource, named as in its event types (`daily.data.<resource>.created`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Resource {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Resource {
            /// Every resource, in the order of the spec's `webhooks` section.
            pub const ALL: &'static [Resource] = &[$(Resource::$variant),*];

            /// The resource's name in event types, e.g. `heartrate`, `blood_pressure`, `workout_stream`.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Resource::$variant => $name,)*
                }
            }

            /// The resource named `s` (exactly as in event types), if there is one.
            pub fn parse(s: &str) -> Option<Resource> {
                match s {
                    $($name => Some(Resource::$variant),)*
                    _ => None,
                }
            }

            /// Whether this resource's events carry a summary or timeseries samples, and of which shape.
            pub const fn kind(&self) -> ResourceKind {
                match self {
                    $(Resource::$variant => $kind,)*
                }
            }

            /// `daily.data.<resource>.created`, without allocating.
            pub(crate) const fn daily_created(&self) -> &'static str {
                match self {
                    $(Resource::$variant => concat!("daily.data.", $name, ".created"),)*
                }
            }

            /// `daily.data.<resource>.updated`, without allocating.
            pub(crate) const fn daily_updated(&self) -> &'static str {
                match self {
                    $(Resource::$variant => concat!("daily.data.", $name, ".updated"),)*
                }
            }

            /// `historical.data.<resource>.created`, without allocating.
            pub(crate) const fn historical_created(&self) -> &'static str {
                match self {
                    $(Resource::$variant => concat!("historical.data.", $name, ".created"),)*
                }
            }
        }
    };
}

// The classification comes from each resource's `daily.data.<resource>.*` webhook schema in the spec: a
// `Grouped*` schema (`source` + `data[]`) is a timeseries, anything else a summary; a sample schema with
// `start`/`end` (in its properties or its example) is an interval, one with `systolic`/`diastolic` blood pressure,
// one with a string `value` a note.
resources! {
    // Summaries.
    Activity = "activity": SUMMARY,
    Sleep = "sleep": SUMMARY,
    SleepCycle = "sleep_cycle": SUMMARY,
    Workouts = "workouts": SUMMARY,
    WorkoutStream = "workout_stream": SUMMARY,
    Body = "body": SUMMARY,
    Profile = "profile": SUMMARY,
    Meal = "meal": SUMMARY,
    MenstrualCycle = "menstrual_cycle": SUMMARY,
    Electrocardiogram = "electrocardiogram": SUMMARY,
    // Timeseries.
    CaloriesActive = "calories_active": INTERVAL,
    CaloriesBasal = "calories_basal": INTERVAL,
    BloodPressure = "blood_pressure": BLOOD_PRESSURE,
    BloodOxygen = "blood_oxygen": DISCRETE,
    Weight = "weight": DISCRETE,
    Fat = "fat": DISCRETE,
    BodyTemperature = "body_temperature": INTERVAL,
    BodyTemperatureDelta = "body_temperature_delta": INTERVAL,
    Caffeine = "caffeine": INTERVAL,
    Cholesterol = "cholesterol": DISCRETE,
    Distance = "distance": INTERVAL,
    FloorsClimbed = "floors_climbed": INTERVAL,
    Glucose = "glucose": DISCRETE,
    Heartrate = "heartrate": DISCRETE,
    Hrv = "hrv": DISCRETE,
    Ige = "ige": DISCRETE,
    Igg = "igg": DISCRETE,
    MindfulnessMinutes = "mindfulness_minutes": INTERVAL,
    RespiratoryRate = "respiratory_rate": DISCRETE,
    Steps = "steps": INTERVAL,
    StressLevel = "stress_level": DISCRETE,
    Vo2Max = "vo2_max": INTERVAL,
    Water = "water": INTERVAL,
    ElectrocardiogramVoltage = "electrocardiogram_voltage": DISCRETE,
    AfibBurden = "afib_burden": INTERVAL,
    HeartRateAlert = "heart_rate_alert": INTERVAL,
    WorkoutDuration = "workout_duration": INTERVAL,
    InsulinInjection = "insulin_injection": INTERVAL,
    Carbohydrates = "carbohydrates": INTERVAL,
    Note = "note": NOTE,
    StandHour = "stand_hour": INTERVAL,
    StandDuration = "stand_duration": INTERVAL,
    SleepApneaAlert = "sleep_apnea_alert": INTERVAL,
    SleepBreathingDisturbance = "sleep_breathing_disturbance": INTERVAL,
    WheelchairPush = "wheelchair_push": INTERVAL,
    ForcedExpiratoryVolume1 = "forced_expiratory_volume_1": INTERVAL,
    ForcedVitalCapacity = "forced_vital_capacity": INTERVAL,
    PeakExpiratoryFlowRate = "peak_expiratory_flow_rate": INTERVAL,
    InhalerUsage = "inhaler_usage": INTERVAL,
    Fall = "fall": INTERVAL,
    UvExposure = "uv_exposure": INTERVAL,
    DaylightExposure = "daylight_exposure": INTERVAL,
    Handwashing = "handwashing": INTERVAL,
    BasalBodyTemperature = "basal_body_temperature": INTERVAL,
    BodyMassIndex = "body_mass_index": INTERVAL,
    LeanBodyMass = "lean_body_mass": INTERVAL,
    WaistCircumference = "waist_circumference": INTERVAL,
    HeartRateRecoveryOneMinute = "heart_rate_recovery_one_minute": INTERVAL,
    WorkoutDistance = "workout_distance": INTERVAL,
    WorkoutSwimmingStroke = "workout_swimming_stroke": INTERVAL,
}

impl Resource {
    /// True for summary resources.
    pub const fn is_summary(&self) -> bool {
        matches!(self.kind(), ResourceKind::Summary)
    }

    /// Whether a sample's own `type` names what was measured, so that samples of one source at one instant that
    /// differ in `type` are different readings, all kept: a lab panel reports `total`, `ldl` and `hdl` cholesterol
    /// (or a dozen allergens) with one timestamp; an ECG reports one voltage per lead; a heart-rate alert can be
    /// `low_heart_rate` and `irregular_rhythm` at once; two insulin formulations can be injected together.
    ///
    /// Where `type` classifies the one reading of an instant instead (`stand_hour`: `stood` or `idle`;
    /// `sleep_breathing_disturbance`: `elevated` or not) it is not identity: a corrected classification replaces
    /// the earlier one. For every other resource the spec says "Type is always null". `tests::
    /// sample_type_identity_follows_the_spec` checks this list against each sample schema's `type`.
    pub const fn sample_type_is_identity(&self) -> bool {
        matches!(
            self,
            Resource::Cholesterol
                | Resource::Ige
                | Resource::Igg
                | Resource::ElectrocardiogramVoltage
                | Resource::HeartRateAlert
                | Resource::InsulinInjection
        )
    }

    /// Resources whose sample `type` says something about the reading without naming a different measurement.
    pub const fn sample_type_classifies(&self) -> bool {
        matches!(
            self,
            Resource::StandHour | Resource::SleepBreathingDisturbance
        )
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Resource::parse(&name).ok_or_else(|| serde::de::Error::custom("unknown Junction resource"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::events::test_support::{schema, spec};

    #[test]
    fn names_round_trip_and_are_distinct() {
        assert_eq!(Resource::ALL.len(), 60);
        let names: BTreeSet<_> = Resource::ALL.iter().map(Resource::as_str).collect();
        assert_eq!(names.len(), 60);
        for &resource in Resource::ALL {
            assert_eq!(Resource::parse(resource.as_str()), Some(resource));
            assert_eq!(resource.to_string(), resource.as_str());
            let json = serde_json::to_string(&resource).unwrap();
            assert_eq!(serde_json::from_str::<Resource>(&json).unwrap(), resource);
            assert_eq!(
                resource.daily_created(),
                format!("daily.data.{resource}.created")
            );
            assert_eq!(
                resource.daily_updated(),
                format!("daily.data.{resource}.updated")
            );
            assert_eq!(
                resource.historical_created(),
                format!("historical.data.{resource}.created")
            );
        }
        assert_eq!(Resource::parse("Heartrate"), None);
        assert_eq!(Resource::parse("heart_rate"), None);
        assert_eq!(Resource::parse("body_weight"), None);
    }

    #[test]
    fn ten_summaries_and_fifty_timeseries() {
        let summaries: Vec<_> = Resource::ALL
            .iter()
            .filter(|r| r.is_summary())
            .map(Resource::as_str)
            .collect();
        assert_eq!(
            summaries,
            [
                "activity",
                "sleep",
                "sleep_cycle",
                "workouts",
                "workout_stream",
                "body",
                "profile",
                "meal",
                "menstrual_cycle",
                "electrocardiogram",
            ]
        );
        let shape_of = |shape| {
            Resource::ALL
                .iter()
                .filter(|r| r.kind().sample_shape() == Some(shape))
                .count()
        };
        assert_eq!(shape_of(SampleShape::Discrete), 12);
        assert_eq!(shape_of(SampleShape::Interval), 36);
        assert_eq!(Resource::BloodPressure.kind(), BLOOD_PRESSURE);
        assert_eq!(Resource::Note.kind(), NOTE);
    }

    /// The spec's classification of one resource, read from its `daily.data.<resource>.*` webhook schema, and
    /// whether the sample schema's properties and its example disagree about `start`/`end`.
    fn kind_in_spec(spec: &Value, resource: &str) -> (ResourceKind, bool) {
        let webhook = &spec["webhooks"][format!("daily.data.{resource}.*")];
        let envelope = schema(
            spec,
            &webhook["post"]["requestBody"]["content"]["application/json"]["schema"],
        );
        let data = schema(spec, &envelope["properties"]["data"]);
        let props = &data["properties"];
        let is_timeseries = props["source"].is_object() && props["data"]["type"] == "array";
        if !is_timeseries {
            return (ResourceKind::Summary, false);
        }
        let sample = schema(spec, &props["data"]["items"]);
        let fields = &sample["properties"];
        let example = &sample["example"];
        let declared_interval = fields["start"].is_object() && fields["end"].is_object();
        let example_interval = example["start"].is_string() && example["end"].is_string();
        let shape = if fields["systolic"].is_object() && fields["diastolic"].is_object() {
            SampleShape::BloodPressure
        } else if fields["value"]["type"] == "string" {
            SampleShape::Note
        } else if declared_interval || example_interval {
            SampleShape::Interval
        } else {
            SampleShape::Discrete
        };
        let disagree = example.is_object() && declared_interval != example_interval;
        (ResourceKind::Timeseries(shape), disagree)
    }

    #[test]
    fn table_matches_the_spec() {
        let spec = spec();
        let webhooks = spec["webhooks"].as_object().unwrap();

        // The same 60 resources, each with both webhooks.
        let in_spec: BTreeSet<&str> = webhooks
            .keys()
            .filter_map(|k| k.strip_prefix("daily.data.")?.strip_suffix(".*"))
            .collect();
        let in_table: BTreeSet<&str> = Resource::ALL.iter().map(Resource::as_str).collect();
        assert_eq!(in_spec, in_table);
        let mut undeclared_intervals = Vec::new();
        for &resource in Resource::ALL {
            assert!(
                webhooks.contains_key(resource.historical_created()),
                "{resource}: no historical webhook"
            );
            let (kind, disagree) = kind_in_spec(spec, resource.as_str());
            assert_eq!(
                resource.kind(),
                kind,
                "{resource}: table says {:?}, spec says {kind:?}",
                resource.kind()
            );
            if disagree {
                undeclared_intervals.push(resource);
            }
        }
        // The only samples whose example has `start`/`end` that their properties do not declare. If this changes,
        // Junction has fixed (or extended) its spec: revisit the module docs.
        assert_eq!(
            undeclared_intervals,
            [
                Resource::CaloriesBasal,
                Resource::FloorsClimbed,
                Resource::Water
            ]
        );
    }

    /// The sample schema's `type` property of a timeseries resource, resolved.
    fn sample_type_in_spec(spec: &Value, resource: Resource) -> Value {
        let webhook = &spec["webhooks"][format!("daily.data.{resource}.*")];
        let envelope = schema(
            spec,
            &webhook["post"]["requestBody"]["content"]["application/json"]["schema"],
        );
        let data = schema(spec, &envelope["properties"]["data"]);
        let sample = schema(spec, &data["properties"]["data"]["items"]);
        sample["properties"]["type"].clone()
    }

    /// Every timeseries resource whose sample schema gives `type` a meaning is classified by hand, either as
    /// identity (it names the measurement) or as a classification of the one reading; every other says "Type is
    /// always null". A new meaning in the spec fails here until it is classified.
    #[test]
    fn sample_type_identity_follows_the_spec() {
        let spec = spec();
        let mut identity = Vec::new();
        for &resource in Resource::ALL.iter().filter(|r| !r.is_summary()) {
            let field = sample_type_in_spec(spec, resource);
            let description = field["description"].as_str().unwrap_or_default();
            let always_null = description.starts_with("Type is always null");
            let classified =
                resource.sample_type_is_identity() || resource.sample_type_classifies();
            assert_eq!(
                !always_null, classified,
                "{resource}: the spec says `type` is {description:?}"
            );
            assert!(
                !(resource.sample_type_is_identity() && resource.sample_type_classifies()),
                "{resource}"
            );
            if resource.sample_type_is_identity() {
                identity.push((resource.as_str(), description.to_owned()));
            }
        }
        // What the identity resources' `type` means, in the spec's words: a measurement, a lead, a kind.
        for (resource, description) in &identity {
            let lower = description.to_lowercase();
            assert!(
                [
                    "reading type",
                    "lead",
                    "type of heart rate alert",
                    "formulation"
                ]
                .iter()
                .any(|w| lower.contains(w)),
                "{resource}: {description}"
            );
        }
        assert_eq!(identity.len(), 6);
        for resource in Resource::ALL.iter().filter(|r| r.is_summary()) {
            assert!(!resource.sample_type_is_identity() && !resource.sample_type_classifies());
        }
    }

    #[test]
    fn summary_schemas_have_their_identifying_field() {
        let spec = spec();
        for resource in Resource::ALL.iter().filter(|r| r.is_summary()) {
            let webhook = &spec["webhooks"][format!("daily.data.{resource}.*")];
            let envelope = schema(
                spec,
                &webhook["post"]["requestBody"]["content"]["application/json"]["schema"],
            );
            let data = schema(spec, &envelope["properties"]["data"]);
            let id = if *resource == Resource::WorkoutStream {
                "workout_id"
            } else {
                "id"
            };
            let required: Vec<&str> = data["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                required.contains(&id),
                "{resource}: `{id}` is not required in the spec"
            );
        }
    }
}
