"""The Data API stand-in serves what Junction's schema promises: every summary, grouped timeseries, stream and
profile body it answers validates against the response schema of its path in the spec, required fields included
(the spec's own examples lack some: a sleep record's `type`, a meal's `energy`)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import sys
import threading
import urllib.request

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "standin"))
import junction_data_api as standin  # noqa: E402

KEY = "test-key"


@pytest.fixture(scope="module")
def served():
    spec = standin.Spec()
    state = standin.State(spec, 50, dt.timedelta(minutes=60), KEY, "user")
    server = standin.ThreadingHTTPServer(("127.0.0.1", 0), standin.handler_for(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry = Registry().with_resource(
        "urn:spec", Resource.from_contents({"components": spec.doc["components"]}, default_specification=DRAFT202012))

    def get(path: str, concrete: str):
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}{concrete}",
                                         headers={"x-vital-api-key": KEY})
        with urllib.request.urlopen(request) as response:
            body = json.loads(response.read())
        schema = spec.doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({"$ref": schema["$ref"].replace("#/", "urn:spec#/")}, registry=registry)
        return body, [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    yield spec, get
    server.shutdown()


def window_paths(spec) -> list[str]:
    return [p for p in spec.doc["paths"]
            if (p.startswith("/v2/summary/") and p.endswith("/{user_id}") and p != "/v2/summary/profile/{user_id}")
            or (p.startswith("/v2/timeseries/{user_id}/") and p.endswith("/grouped"))]


def test_every_window_body_validates_against_its_schema(served):
    spec, get = served
    paths = window_paths(spec)
    assert len(paths) >= 55, paths
    failures, empty = {}, []
    for path in paths:
        concrete = path.replace("{user_id}", "user-1") + "?start_date=2024-01-01&end_date=2024-01-02&provider=oura"
        body, errors = get(path, concrete)
        if errors:
            failures[path] = errors[:3]
        if not any(body.values()):
            empty.append(path)
    assert failures == {}
    assert empty == [], "every window served records to validate"


def test_the_stream_and_the_profile_validate(served):
    _, get = served
    for path, concrete in (("/v2/timeseries/workouts/{workout_id}/stream", "/v2/timeseries/workouts/w1/stream"),
                           ("/v2/summary/profile/{user_id}", "/v2/summary/profile/user-1")):
        _, errors = get(path, concrete)
        assert errors == [], path


def test_completion_adds_what_the_schema_requires_and_keeps_what_was_sent(served):
    spec, _ = served
    sleep_schema = spec.schemas["ClientFacingSleep"]
    assert "type" in sleep_schema["required"] and "type" not in spec.summary_example("sleep")[1]
    record = spec.complete(sleep_schema, {"id": "s1", "score": 77})
    assert record["id"] == "s1" and record["score"] == 77
    assert set(sleep_schema["required"]) <= set(record)
    assert record["type"] in spec.resolve(sleep_schema["properties"]["type"]).get("enum", [record["type"]])
