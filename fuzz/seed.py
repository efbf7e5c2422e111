#!/usr/bin/env python3
"""Seeds the fuzz corpora from the Junction fixtures (fuzz/corpus/<target>/, git-ignored).

- parse_event: every fixture body as it is.
- verify: secret, id, timestamp, signature and body joined by 0xFF bytes, the signature genuine, as
  fuzz_targets/verify.rs splits its input.
- ingest_request: every fixture signed and wrapped in an API Gateway HTTP API (2.0) event, as text and as base64,
  plus a REST API (1.0) event of one, with the secret and clock fuzz_targets/ingest_request.rs uses.

Existing corpus files are kept (what earlier runs found); the seeds are added beside them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "shared" / "testdata" / "junction" / "fixtures"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_732_000_000


def sign(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def http_api_event(msg_id: str, body: bytes, as_base64: bool) -> dict:
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/junction", "rawQueryString": "",
        "headers": {"content-type": "application/json", "svix-id": msg_id, "svix-timestamp": str(NOW),
                    "svix-signature": sign(SECRET, msg_id, NOW, body)},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "example.com",
                           "domainPrefix": "example", "http": {"method": "POST", "path": "/webhooks/junction",
                                                               "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                                                               "userAgent": "Svix-Webhooks/1.0"},
                           "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0},
        "body": base64.b64encode(body).decode() if as_base64 else body.decode(),
        "isBase64Encoded": as_base64,
    }


def rest_api_event(msg_id: str, body: bytes) -> dict:
    headers = {"svix-id": msg_id, "svix-timestamp": str(NOW), "svix-signature": sign(SECRET, msg_id, NOW, body)}
    return {
        "resource": "/webhooks/junction", "path": "/webhooks/junction", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "r",
                           "identity": {"sourceIp": "192.0.2.1"}, "resourcePath": "/webhooks/junction",
                           "httpMethod": "POST", "apiId": "api"},
        "body": body.decode(), "isBase64Encoded": False,
    }


def main() -> None:
    dirs = {t: HERE / "corpus" / t for t in ("parse_event", "verify", "ingest_request")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    fixtures = sorted(FIXTURES.glob("*.json"))
    for i, path in enumerate(fixtures):
        body = path.read_bytes()
        name = path.stem
        msg_id = f"msg_seed_{i}"
        (dirs["parse_event"] / name).write_bytes(body)
        parts = [SECRET.encode(), msg_id.encode(), str(NOW).encode(), sign(SECRET, msg_id, NOW, body).encode(), body]
        (dirs["verify"] / name).write_bytes(b"\xff".join(parts))
        for as_base64 in (False, True):
            event = http_api_event(msg_id, body, as_base64)
            suffix = ".b64" if as_base64 else ""
            (dirs["ingest_request"] / f"{name}{suffix}").write_text(json.dumps(event))
    first = fixtures[0].read_bytes()
    (dirs["ingest_request"] / "rest-api").write_text(json.dumps(rest_api_event("msg_seed_rest", first)))
    print(f"seeded {len(fixtures)} fixtures into {', '.join(str(d.relative_to(HERE.parent)) for d in dirs.values())}")


if __name__ == "__main__":
    main()
