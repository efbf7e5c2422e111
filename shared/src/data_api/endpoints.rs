//! Where each resource is read in Junction's Data API, and under which names.
//!
//! Event types and the Data API mostly share resource names; the exceptions are the timeseries `weight` and `fat`,
//! which the Data API serves as `body_weight` and `body_fat`. `workout_stream` has no window endpoint: a stream is
//! read per workout, when its `daily.data.workout_stream.*` notice arrives. `tests::every_resource_has_its_endpoint_in_the_spec`
//! checks the table against the spec's paths and response schemas.

use crate::events::{Resource, ResourceKind};

/// How one resource is read from the Data API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v2/summary/{name}/{user_id}?start_date&end_date&provider`: one response per window, the records in the
    /// response's `list` array (`None`: the response is the one record, as for `profile`).
    Summary {
        /// The path segment.
        name: &'static str,
        /// The response field holding the records.
        list: Option<&'static str>,
    },
    /// `GET /v2/timeseries/{user_id}/{name}/grouped?start_date&end_date&provider&next_cursor`: samples grouped
    /// by provider and source, paginated by `next_cursor`.
    Timeseries {
        /// The path segment.
        name: &'static str,
    },
    /// Not readable by window (`workout_stream`: see [`stream_path`]).
    None,
}

/// The Data API endpoint of a resource.
pub fn endpoint(resource: Resource) -> Endpoint {
    match resource.kind() {
        ResourceKind::Summary => match resource {
            Resource::WorkoutStream => Endpoint::None,
            Resource::Profile => Endpoint::Summary {
                name: "profile",
                list: None,
            },
            Resource::Meal => Endpoint::Summary {
                name: "meal",
                list: Some("meals"),
            },
            other => Endpoint::Summary {
                name: other.as_str(),
                list: Some(other.as_str()),
            },
        },
        ResourceKind::Timeseries(_) => Endpoint::Timeseries {
            name: match resource {
                Resource::Weight => "body_weight",
                Resource::Fat => "body_fat",
                other => other.as_str(),
            },
        },
    }
}

/// The resource a Data API path segment names, and whether it is read as a summary (`/v2/summary/{name}/…`) or
/// a grouped timeseries (`/v2/timeseries/…/{name}/grouped`): the inverse of [`endpoint`].
pub fn resource_of(name: &str, summary: bool) -> Option<Resource> {
    Resource::ALL.iter().copied().find(|&r| match endpoint(r) {
        Endpoint::Summary { name: n, .. } => summary && n == name,
        Endpoint::Timeseries { name: n } => !summary && n == name,
        Endpoint::None => false,
    })
}

/// The path of a summary window: `/v2/summary/{name}/{user_id}`.
pub fn summary_path(name: &str, user_id: &str) -> String {
    format!("/v2/summary/{name}/{}", segment(user_id))
}

/// The path of a grouped timeseries window: `/v2/timeseries/{user_id}/{name}/grouped`.
pub fn timeseries_path(name: &str, user_id: &str) -> String {
    format!("/v2/timeseries/{}/{name}/grouped", segment(user_id))
}

/// The path of a workout's stream: `/v2/timeseries/workouts/{workout_id}/stream`.
pub fn stream_path(workout_id: &str) -> String {
    format!("/v2/timeseries/workouts/{}/stream", segment(workout_id))
}

/// Everything but RFC 3986's unreserved characters.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment (or a query value) with everything but unreserved characters percent-encoded (ids are UUIDs;
/// this keeps a malformed one from changing the path).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn spec() -> Value {
        crate::events::test_support::spec().clone()
    }

    fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => spec.pointer(&r.replacen('#', "", 1)).unwrap(),
            None => schema,
        }
    }

    #[test]
    fn every_resource_has_its_endpoint_in_the_spec() {
        let spec = spec();
        let paths = spec["paths"].as_object().unwrap();
        for &resource in Resource::ALL {
            let (path, list) = match endpoint(resource) {
                Endpoint::Summary { name, list } => {
                    (format!("/v2/summary/{name}/{{user_id}}"), list)
                }
                Endpoint::Timeseries { name } => {
                    (format!("/v2/timeseries/{{user_id}}/{name}/grouped"), None)
                }
                Endpoint::None => {
                    assert_eq!(resource, Resource::WorkoutStream);
                    assert!(paths.contains_key("/v2/timeseries/workouts/{workout_id}/stream"));
                    continue;
                }
            };
            let op = &paths
                .get(&path)
                .unwrap_or_else(|| panic!("{resource}: no {path}"))["get"];
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            for p in ["user_id", "provider", "start_date", "end_date"] {
                if resource != Resource::Profile || matches!(p, "user_id" | "provider") {
                    assert!(params.contains(&p), "{resource}: {path} has no {p}");
                }
            }
            let response = resolve(
                &spec,
                &op["responses"]["200"]["content"]["application/json"]["schema"],
            );
            match list {
                Some(list) => {
                    assert_eq!(response["properties"][list]["type"], "array", "{resource}");
                }
                None if resource.is_summary() => {
                    assert!(response["properties"]["id"].is_object(), "{resource}")
                }
                None => {
                    assert!(params.contains(&"next_cursor"), "{resource}");
                    assert!(response["properties"]["groups"].is_object(), "{resource}");
                    assert!(
                        response["properties"]["next_cursor"].is_object(),
                        "{resource}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_endpoint_names_its_resource_back() {
        for &resource in Resource::ALL {
            match endpoint(resource) {
                Endpoint::Summary { name, .. } => {
                    assert_eq!(resource_of(name, true), Some(resource))
                }
                Endpoint::Timeseries { name } => {
                    assert_eq!(resource_of(name, false), Some(resource))
                }
                Endpoint::None => {}
            }
        }
        assert_eq!(
            resource_of("weight", false),
            None,
            "the Data API says body_weight"
        );
        assert_eq!(resource_of("sleep", false), None);
        assert_eq!(resource_of("nothing", true), None);
    }

    #[test]
    fn names_that_differ_from_the_events_are_mapped() {
        assert_eq!(
            endpoint(Resource::Weight),
            Endpoint::Timeseries {
                name: "body_weight"
            }
        );
        assert_eq!(
            endpoint(Resource::Fat),
            Endpoint::Timeseries { name: "body_fat" }
        );
        assert_eq!(
            endpoint(Resource::Heartrate),
            Endpoint::Timeseries { name: "heartrate" }
        );
        assert_eq!(
            endpoint(Resource::Meal),
            Endpoint::Summary {
                name: "meal",
                list: Some("meals")
            }
        );
        assert_eq!(
            timeseries_path("heartrate", "u/1"),
            "/v2/timeseries/u%2F1/heartrate/grouped"
        );
        assert_eq!(summary_path("sleep", "abc-1"), "/v2/summary/sleep/abc-1");
        assert_eq!(stream_path("w 1"), "/v2/timeseries/workouts/w%201/stream");
    }
}
