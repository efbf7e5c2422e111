//! Test helpers: Junction's spec and fixtures from `testdata/junction/`.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// `testdata/junction/`.
pub(crate) fn junction_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join("junction")
}

/// Junction's OpenAPI spec, read once.
pub(crate) fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let bytes = std::fs::read(junction_dir().join("swagger.json")).expect("read swagger.json");
        serde_json::from_slice(&bytes).expect("swagger.json is JSON")
    })
}

/// `schema`, or the component schema it `$ref`s.
pub(crate) fn schema<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("a component schema $ref");
            let resolved = &spec["components"]["schemas"][name];
            assert!(resolved.is_object(), "no schema {name}");
            resolved
        }
        None => schema,
    }
}

/// Every fixture, as (event type from the file name, body), sorted by name.
pub(crate) fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut fixtures: Vec<(String, Vec<u8>)> = std::fs::read_dir(junction_dir().join("fixtures"))
        .expect("read fixtures")
        .map(|entry| {
            let path = entry.expect("fixture entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            (name, std::fs::read(&path).expect("read fixture"))
        })
        .collect();
    fixtures.sort();
    fixtures
}

/// One fixture's body.
pub(crate) fn fixture(event_type: &str) -> Vec<u8> {
    std::fs::read(
        junction_dir()
            .join("fixtures")
            .join(format!("{event_type}.json")),
    )
    .expect("read fixture")
}

/// One fixture as JSON, to edit in a test.
pub(crate) fn fixture_json(event_type: &str) -> Value {
    serde_json::from_slice(&fixture(event_type)).expect("fixture is JSON")
}
