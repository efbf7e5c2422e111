#!/usr/bin/env python3
"""A local stand-in for Junction's Org Management API, webhook operations only. Not Junction: a test double.

It serves the "Team Webhook" operations of `shared/testdata/junction/org-management-api.json` (a copy of Junction's
published spec): the routes, path parameters, request bodies and response bodies all come from that file, and every
request and response is checked against its schemas. What the spec does not say is filled in the way FastAPI (which
produced the spec) and Svix (which delivers Junction's webhooks) behave, and is marked "assumed" below.

    python3 org_management_standin.py --spec SPEC --org ORG_UUID --team TEAM_UUID [--team ...] [--port 0]

The management key it accepts is read from the environment (`STANDIN_MANAGEMENT_KEY`), never from the command line.
It prints its base URL (`http://127.0.0.1:PORT`) on the first line of stdout once it listens, and serves until
killed or until stdin closes (so it ends with the test process that started it).

Behaviour:
- 401 without an `X-Management-Key` header or with a wrong one; 403 for an org the key does not belong to;
  404 for an unknown team or webhook (assumed: the spec documents only 422 for these operations).
- 422 in FastAPI's `HTTPValidationError` shape for path parameters (uuid, `Env`), query parameters and bodies that
  do not match the spec's schemas, and (assumed, Svix's rules) for a `url` that is not http(s) and a `secret` or
  `key` that is not `whsec_` plus 32 to 100 base64 characters.
- State lives in memory. Ids are Svix-style `ep_...`. A rotation keeps the previous secret for 24 h, as Svix does.
- Headers whose name looks like a credential (assumed: `authorization`, `cookie`, anything with `token`, `secret`
  or `key`) are listed in `sensitive` and their values left out of `GET .../headers`, as Svix does.
- Not part of the API, for the tests: `GET /_standin/requests` lists the requests served (method, path, status),
  oldest first; `GET /_standin/secrets/{webhook_id}` gives an endpoint's current secret without being listed there.
"""

import argparse
import base64
import datetime
import json
import os
import re
import secrets
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TAG = "Team Webhook"
SECRET_RE = re.compile(r"^(whsec_)?[A-Za-z0-9+/=]{32,100}$")
SENSITIVE_RE = re.compile(r"authorization|cookie|token|secret|key", re.IGNORECASE)
ROTATION_GRACE = datetime.timedelta(hours=24)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


class Schemas:
    """A small JSON Schema checker for the constructs the spec's webhook schemas use."""

    def __init__(self, spec):
        self.spec = spec

    def resolve(self, schema):
        while "$ref" in schema:
            node = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def errors(self, schema, value, loc):
        """FastAPI-style error entries (`type`, `loc`, `msg`) for `value` against `schema`; empty when valid."""
        schema = self.resolve(schema)
        if "anyOf" in schema:
            options = [self.errors(s, value, loc) for s in schema["anyOf"]]
            if any(not e for e in options):
                return []
            return min(options, key=len)
        if "enum" in schema and value not in schema["enum"]:
            allowed = " or ".join(f"'{v}'" for v in schema["enum"])
            return [{"type": "enum", "loc": loc, "msg": f"Input should be {allowed}"}]
        kind = schema.get("type")
        checks = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "null": lambda v: v is None,
            "array": lambda v: isinstance(v, list),
            "object": lambda v: isinstance(v, dict),
        }
        if kind and not checks[kind](value):
            names = {"string": "a valid string", "integer": "a valid integer", "boolean": "a valid boolean",
                     "null": "None", "array": "a valid list", "object": "a valid dictionary"}
            return [{"type": f"{kind}_type", "loc": loc, "msg": f"Input should be {names[kind]}"}]
        if kind == "string" and schema.get("format") == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                return [{"type": "uuid_parsing", "loc": loc, "msg": "Input should be a valid UUID"}]
        if kind == "string" and schema.get("format") == "date-time":
            try:
                datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return [{"type": "datetime_parsing", "loc": loc, "msg": "Input should be a valid datetime"}]
        out = []
        if kind == "array":
            for i, item in enumerate(value):
                out += self.errors(schema.get("items", {}), item, loc + [i])
        if kind == "object":
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    out.append({"type": "missing", "loc": loc + [name], "msg": "Field required"})
            for name, item in value.items():
                if name in props:
                    out += self.errors(props[name], item, loc + [name])
                elif isinstance(schema.get("additionalProperties"), dict):
                    out += self.errors(schema["additionalProperties"], item, loc + [name])
        return out


def validation_error(errors):
    return 422, {"detail": errors}


class Standin:
    def __init__(self, spec, key, org, teams):
        self.schemas = Schemas(spec)
        self.key = key
        self.org = org
        self.teams = set(teams)
        self.lock = threading.Lock()
        self.webhooks = {}  # (team, env) -> {id: record}
        self.requests = []
        self.routes = []
        for template, ops in spec["paths"].items():
            for method, op in ops.items():
                if TAG not in op.get("tags", []):
                    continue
                pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
                self.routes.append((method.upper(), re.compile(pattern), op))

    # --- dispatch ----------------------------------------------------------------------------------------------

    def handle(self, method, target, headers, raw_body):
        url = urlsplit(target)
        if method == "GET" and url.path == "/_standin/requests":
            with self.lock:
                return 200, list(self.requests)
        if method == "GET" and url.path.startswith("/_standin/secrets/"):
            wanted = url.path.rsplit("/", 1)[1]
            with self.lock:
                keys = [r["secret"] for hooks in self.webhooks.values() for r in hooks.values() if r["id"] == wanted]
            return (200, {"key": keys[0]}) if keys else (404, {"detail": "Webhook not found"})
        status, body = self.dispatch(method, url, headers, raw_body)
        with self.lock:
            self.requests.append({"method": method, "path": url.path, "status": status})
        return status, body

    def dispatch(self, method, url, headers, raw_body):
        matched = [(m, p, op) for (m, p, op) in self.routes if p.match(url.path)]
        if not matched:
            return 404, {"detail": "Not Found"}
        op = next((op for (m, _, op) in matched if m == method), None)
        if op is None:
            return 405, {"detail": "Method Not Allowed"}
        params = next(p for (m, p, _) in matched if m == method).match(url.path).groupdict()
        given = headers.get("X-Management-Key")
        if not given:
            return 401, {"detail": "Missing X-Management-Key header"}
        if not secrets.compare_digest(given.encode(), self.key.encode()):
            return 401, {"detail": "Invalid management key"}
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        errors = []
        for param in op.get("parameters", []):
            where, name = param["in"], param["name"]
            source = params if where == "path" else query if where == "query" else {}
            if name not in source:
                if param.get("required"):
                    errors.append({"type": "missing", "loc": [where, name], "msg": "Field required"})
                continue
            value = source[name]
            if self.schemas.resolve(param["schema"]).get("type") == "integer" or any(
                s.get("type") == "integer" for s in param["schema"].get("anyOf", [])
            ):
                try:
                    value = int(value)
                except ValueError:
                    errors.append({"type": "int_parsing", "loc": [where, name],
                                   "msg": "Input should be a valid integer, unable to parse string as an integer"})
                    continue
            errors += self.schemas.errors(param["schema"], value, [where, name])
            source[name] = value
        body = None
        if "requestBody" in op:
            try:
                body = json.loads(raw_body or b"")
            except ValueError:
                errors.append({"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"})
            else:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                errors += self.schemas.errors(schema, body, ["body"])
        if errors:
            return validation_error(errors)
        if params["org_id"].lower() != self.org.lower():
            return 403, {"detail": "This management key does not grant access to the org"}
        if params["team_id"].lower() not in self.teams:
            return 404, {"detail": "Team not found"}
        name = op["operationId"].split("_v1_")[0]
        status, out = getattr(self, name)(params, query, body)
        self.check_response(op, status, out)
        return status, out

    def check_response(self, op, status, out):
        """The response must be one the spec documents, with a body its schema accepts."""
        documented = op["responses"].get(str(status))
        if status in (404,):
            return
        assert documented is not None, f"{op['operationId']}: undocumented status {status}"
        content = documented.get("content")
        if content is None:
            assert out is None, f"{op['operationId']}: {status} has no body in the spec"
            return
        errors = self.schemas.errors(content["application/json"]["schema"], out, ["response"])
        assert not errors, f"{op['operationId']}: response does not match the spec: {errors}"

    # --- operations --------------------------------------------------------------------------------------------

    def bucket(self, params):
        return self.webhooks.setdefault((params["team_id"].lower(), params["environment"]), {})

    def find(self, params):
        return self.bucket(params).get(params["webhook_id"])

    @staticmethod
    def public(record):
        return {k: record[k] for k in
                ("id", "description", "rate_limit", "url", "disabled", "filter_types", "created_at", "updated_at")}

    @staticmethod
    def extra_checks(body, secret_field):
        errors = []
        if body.get("url") is not None and not re.match(r"^https?://[^/\s]+", body["url"]):
            errors.append({"type": "value_error", "loc": ["body", "url"],
                           "msg": "Value error, URL must be an absolute http(s) URL"})
        if body.get(secret_field) is not None and not SECRET_RE.match(body[secret_field]):
            errors.append({"type": "value_error", "loc": ["body", secret_field],
                           "msg": "Value error, secret must be whsec_ followed by 32 to 100 base64 characters"})
        return errors

    def list_webhooks(self, params, query, _body):
        limit = query.get("limit", 50)
        if limit < 1:
            return validation_error([{"type": "greater_than_equal", "loc": ["query", "limit"],
                                      "msg": "Input should be greater than or equal to 1"}])
        with self.lock:
            items = sorted(self.bucket(params).values(), key=lambda r: (r["created_at"], r["id"]))
        start = 0
        if query.get("next_cursor"):
            ids = [r["id"] for r in items]
            if query["next_cursor"] not in ids:
                return validation_error([{"type": "value_error", "loc": ["query", "next_cursor"],
                                          "msg": "Value error, unknown cursor"}])
            start = ids.index(query["next_cursor"])
        page = items[start:start + limit]
        rest = items[start + limit:]
        return 200, {"data": [self.public(r) for r in page], "next_cursor": rest[0]["id"] if rest else None}

    def create_webhook(self, params, _query, body):
        errors = self.extra_checks(body, "secret")
        if errors:
            return validation_error(errors)
        t = iso(now())
        record = {
            "id": "ep_" + secrets.token_hex(13),
            "description": body.get("description", ""),
            "rate_limit": body.get("rate_limit"),
            "url": body["url"],
            "disabled": body.get("disabled", False),
            "filter_types": body.get("filter_types"),
            "created_at": t,
            "updated_at": t,
            "secret": body.get("secret") or new_secret(),
            "previous_secrets": [],
            "headers": {},
        }
        with self.lock:
            self.bucket(params)[record["id"]] = record
        return 200, self.public(record)

    def get_webhook(self, params, _query, _body):
        with self.lock:
            record = self.find(params)
            return (200, self.public(record)) if record else (404, {"detail": "Webhook not found"})

    def patch_webhook(self, params, _query, body):
        errors = self.extra_checks(body, "secret")
        if errors:
            return validation_error(errors)
        with self.lock:
            record = self.find(params)
            if record is None:
                return 404, {"detail": "Webhook not found"}
            for field in ("description", "rate_limit", "url", "disabled", "filter_types"):
                if field in body and (body[field] is not None or field in ("rate_limit", "filter_types")):
                    record[field] = body[field]
            record["updated_at"] = iso(now())
            return 200, self.public(record)

    def delete_webhook(self, params, _query, _body):
        with self.lock:
            if self.bucket(params).pop(params["webhook_id"], None) is None:
                return 404, {"detail": "Webhook not found"}
        return 204, None

    def get_webhook_headers(self, params, _query, _body):
        with self.lock:
            record = self.find(params)
            if record is None:
                return 404, {"detail": "Webhook not found"}
            sensitive = sorted(n for n in record["headers"] if SENSITIVE_RE.search(n))
            shown = {n: v for n, v in record["headers"].items() if n not in sensitive}
            return 200, {"headers": shown, "sensitive": sensitive}

    def update_webhook_headers(self, params, _query, body):
        with self.lock:
            record = self.find(params)
            if record is None:
                return 404, {"detail": "Webhook not found"}
            record["headers"] = dict(body["headers"])
        return 204, None

    def get_webhook_secret(self, params, _query, _body):
        with self.lock:
            record = self.find(params)
            return (200, {"key": record["secret"]}) if record else (404, {"detail": "Webhook not found"})

    def rotate_webhook_secret(self, params, _query, body):
        errors = self.extra_checks(body, "key")
        if errors:
            return validation_error(errors)
        with self.lock:
            record = self.find(params)
            if record is None:
                return 404, {"detail": "Webhook not found"}
            record["previous_secrets"].append((record["secret"], now() + ROTATION_GRACE))
            record["secret"] = body.get("key") or new_secret()
        return 204, None


def new_secret():
    """A Svix-style secret: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def make_handler(standin):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                status, body = standin.handle(self.command, self.path, self.headers, raw)
            except AssertionError as e:
                status, body = 500, {"detail": f"stand-in broke its spec: {e}"}
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve

        def log_message(self, *_args):
            pass  # quiet: request lines would carry nothing useful, and the key never appears in them anyway

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--team", action="append", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    key = os.environ.get("STANDIN_MANAGEMENT_KEY")
    if not key:
        sys.exit("STANDIN_MANAGEMENT_KEY is not set")
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    standin = Standin(spec, key, args.org, [t.lower() for t in args.team])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(standin))
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # returns when the parent closes our stdin or exits


if __name__ == "__main__":
    main()
