"""A stand-in for Junction's Data API, for tests only: it is not Junction, and knows nothing of real users.

It serves the few endpoints the backfill fetcher reads, with bodies built from the examples in Junction's OpenAPI
spec (shared/testdata/junction/swagger.json), so that their shape is the spec's:

- GET /v2/summary/{resource}/{user_id}?start_date&end_date&provider: the spec's example record of the resource,
  once per calendar day whose midnight falls in [start_date, end_date] (both bounds inclusive, as Junction reads
  them), each with its own id (a UUID derived from user, provider, resource and day), the day's date in every
  timestamp, the user's id and the provider as source;
- GET /v2/timeseries/{user_id}/{resource}/grouped?start_date&end_date&provider&next_cursor: the spec's example
  sample of the resource, once per interval (default one hour) in the window, grouped under the provider with the
  example's source type, PAGE_SIZE samples per page and an opaque `next_cursor` until the last page;
- GET /v2/timeseries/workouts/{workout_id}/stream: the spec's example stream;
- GET /v2/summary/profile/{user_id}: the spec's example profile with the user's id (404 for a user without data).

The spec's examples do not always satisfy their own schemas (a sleep record without the required `type`, a meal
without `energy`, a heart-rate alert whose `value` is not the schema's constant): every body is completed from the
schema (`Spec.complete`: each missing required field gets a value of its declared type, a constant its constant),
so that what the stand-in serves is what Junction's schema promises.

Users whose id starts with `empty` have no data (an empty window); with --data-users PREFIX, only users whose id
starts with PREFIX have any. Every request needs the `x-vital-api-key`
header given by --api-key (401 otherwise, like Junction); a request without `start_date` gets the spec's 422.

Test controls (not part of Junction's API):
    POST /_standin/faults  {"match": "<substring of the path>", "statuses": [429, 503, ...], "retry_after": "1"}
                           the next matching requests get these statuses, in order, before normal service
    GET  /_standin/log     every request so far: path, query, status, and what it served (summary ids, or
                           [provider, source type, timestamp] of each sample)
    POST /_standin/reset   forget the log and pending faults

    python tests/standin/junction_data_api.py [--port 0] [--page-size 50] [--interval-minutes 60]
        [--api-key standin-key] [--data-users PREFIX] [--parent-pid PID]

Prints `listening on http://127.0.0.1:<port>` once it serves; with --parent-pid it exits when that process ends.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import pathlib
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SPEC_PATH = pathlib.Path(__file__).resolve().parents[2] / "shared" / "testdata" / "junction" / "swagger.json"
NAMESPACE = uuid.UUID("0d6b3c1e-6a53-4c52-9a57-3c3b1a6b9f10")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


class Spec:
    """The examples of the spec's Data API responses."""

    def __init__(self, path: pathlib.Path = SPEC_PATH):
        self.doc = json.loads(path.read_text())
        self.schemas = self.doc["components"]["schemas"]

    def response_schema(self, path: str) -> dict:
        op = self.doc["paths"][path]["get"]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        return self.schemas[schema["$ref"].rsplit("/", 1)[1]]

    def resolve(self, schema: dict) -> dict:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def complete(self, schema: dict, value):
        """`value` with every required field its schema declares and it lacks, recursively; constants set."""
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        options = [self.resolve(o) for o in schema.get("anyOf", schema.get("oneOf", []))]
        if options:
            if value is None and any(o.get("type") == "null" for o in options):
                return None
            fitting = [o for o in options if o.get("type") != "null" and fits(o, value)] or \
                [o for o in options if o.get("type") != "null"]
            return self.complete(fitting[0], value) if fitting else value
        if "allOf" in schema:
            for part in schema["allOf"]:
                value = self.complete(part, value)
            return value
        if schema.get("type") == "object" or "properties" in schema:
            if not isinstance(value, dict):
                value = {}
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    value[name] = self.default(props.get(name, {}))
            extra = schema.get("additionalProperties")
            extra = extra if isinstance(extra, dict) else None
            return {k: (self.complete(props[k], v) if k in props else self.complete(extra, v) if extra else v)
                    for k, v in value.items()}
        if schema.get("type") == "array" and isinstance(value, list):
            return [self.complete(schema.get("items", {}), v) for v in value]
        return value

    def default(self, schema: dict):
        """A value of the type `schema` declares: its example, default, first enum value, or a plain one."""
        schema = self.resolve(schema)
        for key in ("const", "default", "example"):
            if key in schema:
                return self.complete(schema, copy.deepcopy(schema[key]))
        if schema.get("enum"):
            return schema["enum"][0]
        options = [self.resolve(o) for o in schema.get("anyOf", schema.get("oneOf", []))]
        if options:
            if any(o.get("type") == "null" for o in options):
                return None
            return self.default(options[0])
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.complete(schema, {})
        if schema.get("format") == "date-time":
            return "2024-01-01T00:00:00+00:00"
        if schema.get("format") == "date":
            return "2024-01-01"
        if schema.get("format") == "uuid":
            return "00000000-0000-0000-0000-000000000000"
        return {"string": "", "integer": 0, "number": 0.0, "boolean": False, "array": []}.get(kind)

    def summary_example(self, resource: str) -> tuple[str | None, dict]:
        """(list field, example record) of a summary resource; list field None for a single-record response."""
        schema = self.response_schema(f"/v2/summary/{resource}/{{user_id}}")
        lists = [k for k, p in schema["properties"].items() if p.get("type") == "array"]
        if not lists:
            return None, schema["example"]
        field = lists[0]
        if "example" in schema:
            return field, schema["example"][field][0]
        # A response schema without an example of its own (menstrual_cycle): its record schema's example.
        item = self.schemas[schema["properties"][field]["items"]["$ref"].rsplit("/", 1)[1]]
        return field, item["example"]

    def sample_example(self, resource: str) -> tuple[dict, dict]:
        """(source, sample) of a grouped timeseries resource's example."""
        schema = self.response_schema(f"/v2/timeseries/{{user_id}}/{resource}/grouped")
        groups = schema["example"]["groups"]
        group = next(iter(groups.values()))[0]
        return group["source"], group["data"][0]

    def stream_example(self) -> dict:
        return self.response_schema("/v2/timeseries/workouts/{workout_id}/stream")["example"]

    def has(self, path: str) -> bool:
        return path in self.doc["paths"]


def parse_time(value: str, end: bool = False) -> dt.datetime:
    """Junction's start_date / end_date: YYYY-MM-DD (00:00:00, or 23:59:59 for an end) or an ISO date-time."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc)
        return day + dt.timedelta(hours=23, minutes=59, seconds=59) if end else day
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def with_day(value, day: dt.date):
    """Every ISO date-time in `value` moved to `day` (time of day kept); `calendar_date` fields set to it."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k] = day.isoformat() if k == "calendar_date" else with_day(v, day)
        return out
    if isinstance(value, list):
        return [with_day(v, day) for v in value]
    if isinstance(value, str) and ISO_DATETIME.match(value):
        return day.isoformat() + value[10:]
    return value


class State:
    def __init__(self, spec: Spec, page_size: int, interval: dt.timedelta, api_key: str, data_users: str = ""):
        self.spec = spec
        self.data_users = data_users
        self.page_size = page_size
        self.interval = interval
        self.api_key = api_key
        self.lock = threading.Lock()
        self.log: list[dict] = []
        self.faults: list[dict] = []

    def take_fault(self, path: str) -> dict | None:
        with self.lock:
            for fault in self.faults:
                if fault["match"] in path and fault["statuses"]:
                    status = fault["statuses"].pop(0)
                    return {"status": status, "retry_after": fault.get("retry_after")}
        return None

    # --- data -------------------------------------------------------------------------------------------------

    def has_data(self, user: str) -> bool:
        return not user.startswith("empty") and user.startswith(self.data_users)

    def summaries(self, resource: str, user: str, provider: str, start: dt.datetime, end: dt.datetime):
        field, example = self.spec.summary_example(resource)
        records = []
        if not self.has_data(user):
            return field, records
        day = start.date() if start.time() == dt.time(0) else start.date() + dt.timedelta(days=1)
        while dt.datetime.combine(day, dt.time(0), dt.timezone.utc) <= end:
            r = with_day(copy.deepcopy(example), day)
            r["id"] = str(uuid.uuid5(NAMESPACE, f"{user}/{provider}/{resource}/{day}"))
            r["user_id"] = user
            source = r.setdefault("source", {})
            source["provider"] = provider
            if "slug" in source:
                source["slug"] = provider
            records.append(r)
            day += dt.timedelta(days=1)
        return field, records

    def samples(self, resource: str, user: str, provider: str, start: dt.datetime, end: dt.datetime):
        source, example = self.spec.sample_example(resource)
        source = {**source, "provider": provider}
        out = []
        if not self.has_data(user):
            return source, out
        epoch = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
        steps = -(-(start - epoch) // self.interval)  # the first interval point at or after start
        t = epoch + steps * self.interval
        i = 0
        while t <= end:
            s = copy.deepcopy(example)
            s["timestamp"] = iso(t)
            if "start" in s or "end" in s:
                s["start"], s["end"] = iso(t), iso(t + self.interval)
            if isinstance(s.get("value"), (int, float)) and not isinstance(s.get("value"), bool):
                s["value"] = s["value"] + (steps + i) % 7
            out.append(s)
            t += self.interval
            i += 1
        return source, out


def fits(schema: dict, value) -> bool:
    """Whether `value` is of the JSON type `schema` declares (no type: anything)."""
    kind = schema.get("type")
    if kind is None:
        return True
    return {"object": isinstance(value, dict), "array": isinstance(value, list), "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "null": value is None}.get(kind, True)


def handler_for(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: the log endpoint says what happened
            pass

        def reply(self, status: int, body, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def record(self, path: str, query: dict, status: int, served=None) -> None:
            with state.lock:
                state.log.append({"path": path, "query": {k: v[0] for k, v in query.items()}, "status": status,
                                  "served": served or []})

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/_standin/faults":
                with state.lock:
                    state.faults.append({"match": body["match"], "statuses": list(body["statuses"]),
                                         "retry_after": body.get("retry_after")})
                return self.reply(200, {"ok": True})
            if self.path == "/_standin/reset":
                with state.lock:
                    state.log.clear()
                    state.faults.clear()
                return self.reply(200, {"ok": True})
            self.reply(405, {"detail": "Method Not Allowed"})

        def do_GET(self):
            url = urlparse(self.path)
            path, query = url.path, parse_qs(url.query)
            if path == "/_standin/log":
                with state.lock:
                    return self.reply(200, list(state.log))
            if self.headers.get("x-vital-api-key") != state.api_key:
                self.record(path, query, 401)
                return self.reply(401, {"detail": "Invalid API key"})
            fault = state.take_fault(path)
            if fault:
                self.record(path, query, fault["status"])
                headers = {"retry-after": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
                return self.reply(fault["status"], {"detail": "stand-in fault"}, headers)
            try:
                status, body, served = self.route(path, query)
                if status == 200:
                    body = state.spec.complete(state.spec.response_schema(self.spec_path(path)), body)
            except KeyError:
                status, body, served = 404, {"detail": "Not Found"}, []
            self.record(path, query, status, served)
            self.reply(status, body)

        def spec_path(self, path: str) -> str:
            """The spec's path template of a served path."""
            if re.fullmatch(r"/v2/timeseries/workouts/[^/]+/stream", path):
                return "/v2/timeseries/workouts/{workout_id}/stream"
            m = re.fullmatch(r"/v2/summary/([^/]+)/[^/]+", path)
            if m:
                return f"/v2/summary/{m.group(1)}/{{user_id}}"
            m = re.fullmatch(r"/v2/timeseries/[^/]+/([^/]+)/grouped", path)
            if m:
                return f"/v2/timeseries/{{user_id}}/{m.group(1)}/grouped"
            raise KeyError(path)

        def route(self, path: str, query: dict):
            get = lambda k: query.get(k, [None])[0]
            provider = get("provider") or "oura"
            m = re.fullmatch(r"/v2/timeseries/workouts/([^/]+)/stream", path)
            if m:
                return 200, state.spec.stream_example(), [m.group(1)]
            m = re.fullmatch(r"/v2/summary/profile/([^/]+)", path)
            if m:
                if not state.has_data(m.group(1)):
                    return 404, {"detail": "Profile not found"}, []
                _, example = state.spec.summary_example("profile")
                profile = {**copy.deepcopy(example), "user_id": m.group(1)}
                return 200, profile, [profile["id"]]
            m = re.fullmatch(r"/v2/summary/([^/]+)/([^/]+)", path)
            if m and state.spec.has(f"/v2/summary/{m.group(1)}/{{user_id}}"):
                if not get("start_date"):
                    return 422, validation_error("start_date"), []
                start, end = parse_time(get("start_date")), parse_time(get("end_date") or iso(now()), end=True)
                field, records = state.summaries(m.group(1), m.group(2), provider, start, end)
                return 200, {field: records}, [r["id"] for r in records]
            m = re.fullmatch(r"/v2/timeseries/([^/]+)/([^/]+)/grouped", path)
            if m and state.spec.has(f"/v2/timeseries/{{user_id}}/{m.group(2)}/grouped"):
                if not get("start_date"):
                    return 422, validation_error("start_date"), []
                start, end = parse_time(get("start_date")), parse_time(get("end_date") or iso(now()), end=True)
                source, samples = state.samples(m.group(2), m.group(1), provider, start, end)
                cursor = get("next_cursor") or get("cursor")
                offset = int(cursor.removeprefix("o")) if cursor else 0
                page = samples[offset:offset + state.page_size]
                more = offset + state.page_size < len(samples)
                nxt = f"o{offset + state.page_size}" if more else None
                groups = {provider: [{"source": source, "data": page}]} if page else {}
                served = [[source["provider"], source.get("type", "unknown"), s["timestamp"]] for s in page]
                return 200, {"groups": groups, "next": nxt, "next_cursor": nxt}, served
            raise KeyError(path)

    return Handler


def validation_error(field: str) -> dict:
    return {"detail": [{"loc": ["query", field], "msg": "field required", "type": "value_error.missing"}]}


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--interval-minutes", type=int, default=60)
    parser.add_argument("--api-key", default="standin-key")
    parser.add_argument("--data-users", default="", help="only users whose id starts with this have data")
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args()
    state = State(Spec(), args.page_size, dt.timedelta(minutes=args.interval_minutes), args.api_key, args.data_users)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(state))
    if args.parent_pid:
        def watch():
            while True:
                try:
                    os.kill(args.parent_pid, 0)
                except OSError:
                    os._exit(0)
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
