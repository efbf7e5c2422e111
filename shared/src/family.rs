//! Queue families: where an event goes after ingest.
//!
//! Every Junction event type belongs to exactly one [`Family`] (see [`crate::events::EventType::family`]). Each
//! family has its own SQS queue and its own processor function, so a flood of heart-rate samples never delays a
//! lab result. The queue URL of a family reaches the ingest function through [`Family::env_var`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A group of event types that share a queue and a processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `provider.connection.*` and `provider.device.*`: a user's connections and devices.
    Connections,
    /// `historical.data.*.created`: a historical pull (backfill) for one provider and resource finished.
    Backfills,
    /// `daily.data.<summary resource>.*`: one summary per event (a day of activity, a sleep, a workout, ...).
    Summaries,
    /// `daily.data.<timeseries resource>.*`: a batch of samples from one source.
    Timeseries,
    /// `labtest.*` and `lab_report.*`: orders, appointments, results, match reviews, report parsing jobs.
    Lab,
    /// `continuous_query.*` and every event type this code does not know: kept as sent.
    CatchAll,
}

impl Family {
    /// Every family, in a stable order.
    pub const ALL: [Family; 6] = [
        Family::Connections,
        Family::Backfills,
        Family::Summaries,
        Family::Timeseries,
        Family::Lab,
        Family::CatchAll,
    ];

    /// The family's name: `connections`, `backfills`, `summaries`, `timeseries`, `lab` or `catch-all`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Family::Connections => "connections",
            Family::Backfills => "backfills",
            Family::Summaries => "summaries",
            Family::Timeseries => "timeseries",
            Family::Lab => "lab",
            Family::CatchAll => "catch-all",
        }
    }

    /// The environment variable that holds the URL of this family's queue, e.g. `QUEUE_URL_CATCH_ALL`.
    pub const fn env_var(&self) -> &'static str {
        match self {
            Family::Connections => "QUEUE_URL_CONNECTIONS",
            Family::Backfills => "QUEUE_URL_BACKFILLS",
            Family::Summaries => "QUEUE_URL_SUMMARIES",
            Family::Timeseries => "QUEUE_URL_TIMESERIES",
            Family::Lab => "QUEUE_URL_LAB",
            Family::CatchAll => "QUEUE_URL_CATCH_ALL",
        }
    }
}

/// The string given to [`Family::from_str`] is not the name of a family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown family `{0}` (expected one of: connections, backfills, summaries, timeseries, lab, catch-all)"
)]
pub struct UnknownFamily(pub String);

impl FromStr for Family {
    type Err = UnknownFamily;

    /// Parses the [`Family::as_str`] name, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|family| family.as_str() == s)
            .ok_or_else(|| UnknownFamily(s.to_owned()))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Family {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Family {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for family in Family::ALL {
            assert_eq!(family.as_str().parse::<Family>(), Ok(family));
            assert_eq!(family.to_string(), family.as_str());
            let json = serde_json::to_string(&family).unwrap();
            assert_eq!(json, format!("\"{}\"", family.as_str()));
            assert_eq!(serde_json::from_str::<Family>(&json).unwrap(), family);
        }
    }

    #[test]
    fn names_and_env_vars_are_exact_and_distinct() {
        let names: Vec<_> = Family::ALL.iter().map(Family::as_str).collect();
        assert_eq!(
            names,
            [
                "connections",
                "backfills",
                "summaries",
                "timeseries",
                "lab",
                "catch-all"
            ]
        );
        let vars: Vec<_> = Family::ALL.iter().map(Family::env_var).collect();
        assert_eq!(
            vars,
            [
                "QUEUE_URL_CONNECTIONS",
                "QUEUE_URL_BACKFILLS",
                "QUEUE_URL_SUMMARIES",
                "QUEUE_URL_TIMESERIES",
                "QUEUE_URL_LAB",
                "QUEUE_URL_CATCH_ALL",
            ]
        );
    }

    #[test]
    fn unknown_names_are_rejected() {
        assert_eq!("Lab".parse::<Family>(), Err(UnknownFamily("Lab".into())));
        assert_eq!(
            "catch_all".parse::<Family>(),
            Err(UnknownFamily("catch_all".into()))
        );
        assert!(serde_json::from_str::<Family>("\"nope\"").is_err());
        assert!(serde_json::from_str::<Family>("3").is_err());
    }
}
