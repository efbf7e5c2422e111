"""End to end, over HTTP, against the local stack started as a user would (infra/local/dev.sh --background).

Sends every Junction fixture with a valid signature through the webhook URL (`jwh send`), plus the deliveries a
receiver must survive: the same Svix message delivered three times, a summary update that arrives before the older
version, a tampered signature and a stale timestamp (both 401), a timeseries batch over SQS's 1 MiB (through the
claim check), and a poison message put straight on a family queue. Then waits for every queue to drain and checks
exactly what `jwh query` reads back, and that the dead-letter queues hold the poison message and nothing else.

The expected records are derived from the fixture bodies with Junction's documented identities (a summary is
`data.id`, a sample is its timestamp, a connection its provider, ...), not from the code under test.

The stack runs from .dev/e2e/ on free ports, so a `make dev` in progress is left alone; `jwh` runs in .dev/e2e/,
where it finds that stack's .dev/stack.env as it would in a checkout. Failed messages are retried after 1 s
(JWH_DEV_RETRY_AFTER) instead of the queues' 362 s visibility timeout, so the poison message reaches its
dead-letter queue within a minute.
"""

from __future__ import annotations

import base64
import collections
import copy
import datetime as dt
import gzip
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest

from conftest import record_timing
from dev import Pids, alive, descendants
from stack import Template

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "shared" / "testdata" / "junction" / "fixtures"
# JWH_E2E_DIR: another state directory, so that two runs on one checkout do not stop each other's stack.
WORK = pathlib.Path(os.environ.get("JWH_E2E_DIR") or ROOT / ".dev" / "e2e")
STATE = WORK / ".dev"
DEV_SH = ROOT / "infra" / "local" / "dev.sh"

# Users of the deliveries made up here, apart from the fixtures' user.
REORDER_USER = "e2e-reorder-user"
CLAIM_CHECK_USER = "e2e-claim-check-user"
REJECTED_USER = "e2e-rejected-user"
# Svix ids of the duplicated deliveries: fixture file -> id.
DUPLICATES = {
    "provider.connection.created.json": "msg_e2e_dup_connection",
    "labtest.order.created.json": "msg_e2e_dup_lab",
    "continuous_query.result_table.changed.json": "msg_e2e_dup_catch_all",
    "daily.data.sleep.created.json": "msg_e2e_dup_summary",
    "daily.data.heartrate.created.json": "msg_e2e_dup_timeseries",
    "historical.data.sleep.created.json": "msg_e2e_dup_backfill",
}
DUPLICATE_COPIES = 3
POISON_FAMILY = "lab"
DRAIN_TIMEOUT = 300
# The stack's fetcher reads a stand-in for Junction's Data API (tests/standin/junction_data_api.py, not Junction):
# only users whose id starts with BACKFILL_USER have data there, so the fixtures' 60 historical events each fetch
# one empty page (FETCH_CHUNK_DAYS covers their windows).
STANDIN_SCRIPT = ROOT / "tests" / "standin" / "junction_data_api.py"
STANDIN_KEY = "e2e-standin-key"
STANDIN_PAGE_SIZE = 20
BACKFILL_USER = "e2e-backfill-user"
STANDIN: dict = {}

T0 = time.monotonic()


# --- the fixtures and what they should leave behind -----------------------------------------------------------------


def load_fixtures() -> dict[str, dict]:
    return {p.name: json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))}


def utc(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def is_timeseries(data) -> bool:
    return isinstance(data, dict) and "id" not in data and isinstance(data.get("data"), list)


def provider_slug(p) -> str:
    return p["slug"] if isinstance(p, dict) else p


# Resources whose sample `type` names the measurement (a lab panel's ldl and hdl, an ECG lead): part of a sample's
# identity, as the spec's sample schemas describe it.
TYPED_SAMPLES = {"cholesterol", "ige", "igg", "electrocardiogram_voltage", "heart_rate_alert", "insulin_injection"}


def sample_identity(resource: str, source: dict, sample: dict) -> tuple:
    """A sample's identity: its source (provider, type, app, device, workout, sport), its `type` where that names
    the measurement, and its instant (`timestamp`, else an interval's `start`)."""
    def opt(value):
        return value if value not in (None, "") else None
    return (source.get("provider") or "unknown", source.get("type") or "unknown", opt(source.get("app_id")),
            opt(source.get("device_id")), opt(source.get("workout_id")), opt(source.get("sport")),
            opt(sample.get("type")) if resource in TYPED_SAMPLES else None,
            utc(sample.get("timestamp") or sample["start"]))


def stored_identity(resource: str, row: dict) -> tuple:
    """The same identity, of a sample row `jwh query` printed."""
    sample = row["sample"]
    return (row["provider"], row["source_type"], row.get("app_id"), row.get("device_id"), row.get("workout_id"),
            row.get("sport"), sample.get("type") if resource in TYPED_SAMPLES else None, utc(row["timestamp"]))


LAB_KINDS = {  # event type prefix -> (record kind, the field that identifies the record)
    "labtest.order.": ("ORDER", "id"),
    "labtest.appointment.": ("APPOINTMENT", "id"),
    "labtest.result.critical": ("CRITICAL_RESULT", "order_id"),
    "lab_report.parsing_job.": ("PARSING_JOB", "id"),
    "labtest.match_review.": ("MATCH_REVIEW", "id"),
}


class Expected:
    """The records the fixtures yield, by Junction's identities."""

    def __init__(self, fixtures: dict[str, dict]):
        users = {f.get("user_id") for f in fixtures.values()} - {None}
        assert len(users) == 1, f"the fixtures should share one user, found {users}"
        self.user = users.pop()
        self.summaries: set[str] = set()
        self.samples: dict[str, set] = collections.defaultdict(set)  # resource -> {sample_identity}
        self.backfills: set[str] = set()
        self.connections: set[str] = set()
        self.connection_events = 0
        self.devices: set[str] = set()
        self.user_lab: set[str] = set()
        self.team_lab: dict[str, set[str]] = collections.defaultdict(set)
        self.user_lab_events = 0
        self.team_lab_events: collections.Counter = collections.Counter()
        self.catch_all_event_types: list[str] = []
        for body in fixtures.values():
            et, data = body["event_type"], body["data"]
            if et.startswith("daily.data."):
                resource = et.split(".")[2]
                if is_timeseries(data):
                    for s in data["data"]:
                        self.samples[resource].add(sample_identity(resource, data["source"], s))
                else:
                    ident = data["workout_id"] if resource == "workout_stream" else data["id"]
                    self.summaries.add(f"SUM#{resource}#{ident}")
            elif et.startswith("historical.data."):
                self.backfills.add(f"BACKFILL#{data['provider']}#{et.split('.')[2]}")
            elif et.startswith("provider.connection."):
                self.connections.add(f"CONN#{provider_slug(data['provider'])}")
                self.connection_events += 1
            elif et.startswith("provider.device."):
                self.devices.add(f"DEVICE#{data['id']}")  # Junction's id, which samples name
            elif et.startswith(("labtest.", "lab_report.")):
                kind, field = next(v for k, v in LAB_KINDS.items() if et.startswith(k))
                key = f"LAB#{kind}#{data[field]}"
                if kind == "CRITICAL_RESULT" and data.get("sample_id"):
                    key += f"#{data['sample_id']}"  # an order's result for one laboratory sample
                if kind == "MATCH_REVIEW":
                    self.team_lab[body["team_id"]].add(key)
                    self.team_lab_events[body["team_id"]] += 1
                else:
                    self.user_lab.add(key)
                    self.user_lab_events += 1
            else:
                self.catch_all_event_types.append(et)


# --- the stack ------------------------------------------------------------------------------------------------------


def read_env(path: pathlib.Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def dev_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWH_", "AWS_"))}
    env.update({
        "JWH_DEV_DIR": str(STATE),
        "JWH_DEV_MOTO_PORT": "0",
        "JWH_DEV_LAMBDA_PORT": "0",
        "JWH_DEV_STACK_NAME": "jwh-e2e",
        "JWH_DEV_RETRY_AFTER": "1",
        # Others may be editing the workspace: serve the functions as built, without restarts mid-test.
        "JWH_DEV_NO_RELOAD": "1",
    })
    for var in ("JUNCTION_API_KEY", "JUNCTION_API_BASE_URL", "JUNCTION_API_ENVIRONMENT", "FETCH_CHUNK_DAYS"):
        env.pop(var, None)
    if STANDIN.get("url"):
        env.update({"JUNCTION_API_KEY": STANDIN_KEY, "JUNCTION_API_BASE_URL": STANDIN["url"],
                    "FETCH_CHUNK_DAYS": "365"})
    return env


def start_standin() -> None:
    """The Data API stand-in on a free port; it exits with this process at the latest."""
    proc = subprocess.Popen([sys.executable, str(STANDIN_SCRIPT), "--port", "0", "--page-size", str(STANDIN_PAGE_SIZE),
                             "--api-key", STANDIN_KEY, "--data-users", BACKFILL_USER, "--parent-pid", str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on "), f"the Data API stand-in said {line!r}"
    STANDIN.update(proc=proc, url=line.split()[-1])


def stop_standin() -> None:
    proc = STANDIN.pop("proc", None)
    STANDIN.pop("url", None)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


def our_processes() -> list[tuple[int, str]]:
    """(pid, start time) of every process of the e2e stack and everything below them."""
    out = []
    for e in Pids(STATE / "pids").running():
        out.append((e["pid"], e["start_time"]))
        out += descendants(e["pid"])
    return out


def run_stack():
    """The local stack, started from cold or warm as `make dev` would, stopped afterwards whatever happened.

    The `stack` fixture of conftest.py: one stack for the whole session, shared with test_storm.py."""
    subprocess.run([DEV_SH, "--stop"], env=dev_env(), capture_output=True)  # a leftover of a killed run
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    start_standin()
    started = time.monotonic()
    log = WORK / "dev.out"
    with open(log, "wb") as out:
        result = subprocess.run([DEV_SH, "--background"], env=dev_env(), stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    record_timing("start the stack (dev.sh --background: tools, moto, build, cargo lambda watch, bridge)",
                  time.monotonic() - started)
    try:
        assert result.returncode == 0, f"dev.sh --background failed:\n{log.read_text()[-4000:]}"
        env = read_env(STATE / "stack.env")
        yield env
    finally:
        procs = our_processes()
        stopped = time.monotonic()
        subprocess.run([DEV_SH, "--stop"], env=dev_env(), capture_output=True)
        stop_standin()
        left = [p for p, s in procs if alive(p, s)]
        for pid in left:
            os.kill(pid, 9)
        record_timing("stop the stack", time.monotonic() - stopped)
        record_timing("whole run", time.monotonic() - T0)
        assert procs, "no processes were recorded for the stack"
        assert not left, f"processes left behind after --stop: {left}"


@pytest.fixture(scope="module")
def jwh_bin(stack):
    started = time.monotonic()
    # The stack's build (dev.py) built every binary of the workspace, jwh among them: this finds it fresh. Never
    # `-p jwh` alone, which resolves other features and compiles the dependencies again.
    subprocess.run(["cargo", "build", "--quiet", "--workspace", "--bins", "--locked"], cwd=ROOT, check=True)
    record_timing("cargo build --workspace --bins (fresh from the stack's build)", time.monotonic() - started)
    return ROOT / "target" / "debug" / "jwh"


@pytest.fixture(scope="module")
def jwh(jwh_bin):
    """Runs jwh in .dev/e2e/, where it finds the e2e stack's settings, with no AWS settings of ours leaking in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "JWH_", "QUEUE_URL_", "DLQ_URL_")) and k not in ("TABLE_NAME",)}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([jwh_bin, *args], cwd=WORK, env=env, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"jwh {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    return run


def query(jwh, *args: str) -> list[dict]:
    return [json.loads(line) for line in jwh("query", *args).stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def aws(stack):
    s = boto3.Session(region_name=stack["AWS_REGION"], aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])
    return lambda service: s.client(service, endpoint_url=stack["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="module")
def families():
    return {f.name: f for f in Template().families()}


# --- Svix signing, for the deliveries jwh send will not make (bad signatures) ----------------------------------------


def svix_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"svix-id": msg_id, "svix-timestamp": str(timestamp), "svix-signature": "v1," + base64.b64encode(mac).decode(),
            "content-type": "application/json"}


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def write_body(name: str, body: dict) -> pathlib.Path:
    path = WORK / "bodies" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
    return path


# --- the deliveries -------------------------------------------------------------------------------------------------


def test_stack_is_up_with_the_templates_resources(stack, aws, families):
    status = post(stack["WEBHOOK_URL"], b"{}", {"content-type": "application/json"})
    assert status == 400, "a POST without Svix headers should be refused with 400 by the ingest function"
    sqs = aws("sqs")
    for f in families.values():
        attrs = sqs.get_queue_attributes(QueueUrl=stack[f"QUEUE_URL_{f.key}"], AttributeNames=["All"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=stack[f"DLQ_URL_{f.key}"],
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn,
                                                      "maxReceiveCount": f.max_receive_count}
        assert attrs["VisibilityTimeout"] == str(f.visibility_timeout_secs)
    secret = aws("secretsmanager").get_secret_value(SecretId=stack["WEBHOOK_SECRET_ARN"])["SecretString"]
    assert json.loads(secret) == [stack["WEBHOOK_SECRET"]]
    assert stack["WEBHOOK_SECRET"].startswith("whsec_")


def test_bad_signatures_are_refused_with_401(stack):
    body = load_fixtures()["daily.data.sleep.created.json"]
    body["user_id"] = body["data"]["user_id"] = REJECTED_USER
    raw = json.dumps(body).encode()
    now = int(time.time())
    tampered = svix_headers(stack["WEBHOOK_SECRET"], "msg_e2e_tampered", now, raw)
    sig = tampered["svix-signature"]
    tampered["svix-signature"] = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    stale = svix_headers(stack["WEBHOOK_SECRET"], "msg_e2e_stale", now - 3600, raw)
    other_secret = svix_headers("whsec_" + base64.b64encode(b"not the secret" * 2).decode(), "msg_e2e_other", now,
                                raw)
    assert post(stack["WEBHOOK_URL"], raw, tampered) == 401
    assert post(stack["WEBHOOK_URL"], raw, stale) == 401
    assert post(stack["WEBHOOK_URL"], raw, other_secret) == 401
    # A body changed after signing is refused too.
    assert post(stack["WEBHOOK_URL"], raw + b" ", svix_headers(stack["WEBHOOK_SECRET"], "msg_e2e_x", now, raw)) == 401


def test_every_fixture_is_accepted(jwh):
    started = time.monotonic()
    result = jwh("send", "--concurrency", "8", str(FIXTURES))
    record_timing(f"jwh send: {len(load_fixtures())} fixtures", time.monotonic() - started)
    n = len(load_fixtures())
    assert f"sent {n}, accepted {n}, rejected 0" in result.stdout


def test_duplicate_deliveries_are_accepted(jwh):
    for name, msg_id in DUPLICATES.items():
        result = jwh("send", "--id", msg_id, "--repeat", str(DUPLICATE_COPIES), str(FIXTURES / name))
        assert f"sent {DUPLICATE_COPIES}, accepted {DUPLICATE_COPIES}, rejected 0" in result.stdout


def reorder_versions() -> tuple[dict, dict]:
    base = load_fixtures()["daily.data.sleep.updated.json"]
    base["user_id"] = base["data"]["user_id"] = REORDER_USER
    base["data"]["id"] = "e2e00000-0000-4000-8000-000000000001"
    newer, older = copy.deepcopy(base), copy.deepcopy(base)
    newer["data"].update(updated_at="2030-01-02T00:00:00+00:00", score=91)
    older["data"].update(updated_at="2030-01-01T00:00:00+00:00", score=50)
    return newer, older


def test_an_older_update_arriving_last_is_sent(jwh):
    newer, older = reorder_versions()
    jwh("send", str(write_body("reorder-newer.json", newer)))
    # Wait until the newer version is stored, so the older one is processed after it.
    deadline = time.monotonic() + 120
    while not query(jwh, "--user", REORDER_USER, "--resource", "sleep"):
        assert time.monotonic() < deadline, "the newer summary was not stored within 120 s"
        time.sleep(0.5)
    jwh("send", str(write_body("reorder-older.json", older)))


def claim_check_body() -> tuple[dict, int]:
    """A heartrate batch of over 1 MiB, one sample every 10 s."""
    body = load_fixtures()["daily.data.heartrate.created.json"]
    body["user_id"] = body["data"]["user_id"] = CLAIM_CHECK_USER
    template = body["data"]["data"][0]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    samples = []
    n = 12_000
    for i in range(n):
        s = dict(template)
        s["timestamp"] = (start + dt.timedelta(seconds=10 * i)).isoformat()
        s["value"] = 60 + i % 40
        samples.append(s)
    body["data"]["data"] = samples
    return body, n


def test_a_body_over_1_mib_is_accepted(jwh):
    body, _ = claim_check_body()
    path = write_body("claim-check.json", body)
    assert path.stat().st_size > 1024 * 1024 + 64 * 1024
    result = jwh("send", str(path))
    assert "accepted 1" in result.stdout


def test_a_poison_message_is_on_its_queue(stack, aws, families):
    """A message without the svix-id attribute, put straight on a family queue: the processor fails it every time."""
    fam = families[POISON_FAMILY]
    body = (FIXTURES / "labtest.order.created.json").read_text()
    out = aws("sqs").send_message(QueueUrl=stack[f"QUEUE_URL_{fam.key}"], MessageBody=body, MessageAttributes={
        "family": {"DataType": "String", "StringValue": fam.name},
        "event-type": {"DataType": "String", "StringValue": "labtest.order.created"}})
    (WORK / "poison-message-id").write_text(out["MessageId"])


# --- what they left behind ------------------------------------------------------------------------------------------


def queue_counts(sqs, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_the_queues_drain(stack, aws, families):
    sqs = aws("sqs")
    started = time.monotonic()
    poison_key = families[POISON_FAMILY].key
    settled = 0
    while True:
        queues = {f.key: queue_counts(sqs, stack[f"QUEUE_URL_{f.key}"]) for f in families.values()}
        dlqs = {f.key: queue_counts(sqs, stack[f"DLQ_URL_{f.key}"]) for f in families.values()}
        drained = all(c == (0, 0) for c in queues.values()) and sum(map(sum, dlqs.values())) >= 1
        settled = settled + 1 if drained else 0
        if settled >= 3:  # three looks in a row, a second apart
            break
        assert time.monotonic() - started < DRAIN_TIMEOUT, f"not drained: queues {queues}, dead-letter {dlqs}"
        time.sleep(1)
    record_timing("drain every queue (incl. the poison message's 5 receives)", time.monotonic() - started)
    assert {k: sum(c) for k, c in dlqs.items() if sum(c)} == {poison_key: 1}


def test_dead_letter_queues_hold_only_the_poison_message(stack, aws, families, jwh):
    sqs = aws("sqs")
    poison_id = (WORK / "poison-message-id").read_text()
    for f in families.values():
        msgs = sqs.receive_message(QueueUrl=stack[f"DLQ_URL_{f.key}"], MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if f.name == POISON_FAMILY:
            assert [m["MessageId"] for m in msgs] == [poison_id]
            assert "svix-id" not in msgs[0].get("MessageAttributes", {})
        else:
            assert msgs == [], f"{f.name}'s dead-letter queue holds {[m['Body'][:80] for m in msgs]}"
    listing = jwh("dlq", "list").stdout
    for f in families.values():
        line = next(line for line in listing.splitlines() if line.split()[:1] == [f.name])
        assert f"approximately {1 if f.name == POISON_FAMILY else 0} message" in line, line


def by_kind(rows: list[dict]) -> dict[str, list[dict]]:
    out = collections.defaultdict(list)
    for r in rows:
        out[r.get("kind", "sample" if "sample" in r else "?")].append(r)
    return out


def test_the_fixture_users_records_are_exactly_the_expected_ones(jwh):
    exp = Expected(load_fixtures())
    rows = by_kind(query(jwh, "--user", exp.user))
    sks = {kind: sorted(r["sk"] for r in rs) for kind, rs in rows.items() if kind != "sample"}
    # Every summary once (two fixtures per summary, one of them duplicated three more times).
    assert sks["summary"] == sorted(exp.summaries)
    assert sks["backfill"] == sorted(exp.backfills)
    assert sks["connection"] == sorted(exp.connections)
    assert sks["device"] == sorted(exp.devices)
    assert sks["lab"] == sorted(exp.user_lab)
    # History records are keyed by Svix id: each duplicated delivery added one, not three.
    assert len(sks["connection_event"]) == exp.connection_events + 1
    assert len(sks["lab_event"]) == exp.user_lab_events + 1
    for kind, msg_id in (("connection_event", DUPLICATES["provider.connection.created.json"]),
                         ("lab_event", DUPLICATES["labtest.order.created.json"])):
        assert [r["attributes"]["svix_id"] for r in rows[kind]].count(msg_id) == 1
    # (workout_stream: the stream the fetcher read for the workout-stream notice, beside the notice's summary.)
    assert set(rows) == {"summary", "backfill", "connection", "connection_event", "device", "lab", "lab_event",
                         "sample", "workout_stream"}
    # Samples: one per identity (source, type where it names the measurement, instant), whatever the number of
    # deliveries.
    got = collections.Counter(s["resource"] for s in rows["sample"])
    assert got == {resource: len(samples) for resource, samples in exp.samples.items()}
    for resource in ("heartrate", "steps", "cholesterol"):
        per = query(jwh, "--user", exp.user, "--resource", resource)
        assert sorted(stored_identity(resource, s) for s in per) == sorted(exp.samples[resource])


def test_lab_match_reviews_are_under_their_team(jwh):
    exp = Expected(load_fixtures())
    for team, keys in exp.team_lab.items():
        rows = by_kind(query(jwh, "--team", team))
        assert sorted(r["sk"] for r in rows["lab"]) == sorted(keys)
        assert len(rows["lab_event"]) == exp.team_lab_events[team]


def test_catch_all_keeps_the_continuous_query_event_once_per_message(jwh):
    exp = Expected(load_fixtures())
    rows = query(jwh, "--catch-all")
    event_types = sorted(json.loads(r["attributes"]["body"])["event_type"] for r in rows)
    # The fixture itself, and the duplicated delivery of it once.
    assert event_types == sorted(exp.catch_all_event_types * 2)
    ids = [r["attributes"]["svix_id"] for r in rows]
    assert ids.count(DUPLICATES["continuous_query.result_table.changed.json"]) == 1


def test_the_newer_summary_version_won(jwh):
    newer, _ = reorder_versions()
    rows = query(jwh, "--user", REORDER_USER)
    assert [r["sk"] for r in rows] == [f"SUM#sleep#{newer['data']['id']}"]
    data = rows[0]["attributes"]["data"]
    assert (data["score"], utc(data["updated_at"])) == (91, utc(newer["data"]["updated_at"]))


def test_the_claim_checked_batch_is_stored_whole(jwh, stack, aws):
    _, n = claim_check_body()
    samples = query(jwh, "--user", CLAIM_CHECK_USER, "--resource", "heartrate")
    assert len(samples) == n
    assert len({s["timestamp"] for s in samples}) == n
    objects = aws("s3").list_objects_v2(Bucket=stack["PAYLOAD_BUCKET"], Prefix="payloads/").get("Contents", [])
    assert len(objects) == 1 and objects[0]["Size"] > 1024 * 1024, objects
    # The archive holds it too, byte for byte (read from the claim check by the processor, gzip in its batch record).
    sent = (WORK / "bodies" / "claim-check.json").read_bytes()
    s3 = aws("s3")
    archived = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack["ARCHIVE_BUCKET"], Prefix="timeseries/"):
        for obj in page.get("Contents", []):
            for line in gzip.decompress(s3.get_object(Bucket=stack["ARCHIVE_BUCKET"], Key=obj["Key"])["Body"].read()) \
                    .splitlines():
                d = json.loads(line)
                if d.get("user_id") == CLAIM_CHECK_USER:
                    archived.append(d)
    assert archived and all(d["body"].encode() == sent for d in archived), [len(d["body"]) for d in archived]


def test_refused_deliveries_left_nothing(jwh):
    assert query(jwh, "--user", REJECTED_USER) == []


# --- the backfill fetcher, against the Data API stand-in ------------------------------------------------------------


def standin_log() -> list[dict]:
    with urllib.request.urlopen(f"{STANDIN['url']}/_standin/log", timeout=30) as resp:
        return json.loads(resp.read())


def spec_sample_source_type(schema: str) -> str:
    spec = json.loads((ROOT / "shared" / "testdata" / "junction" / "swagger.json").read_text())
    groups = spec["components"]["schemas"][schema]["example"]["groups"]
    return next(iter(groups.values()))[0]["source"]["type"]


def test_historical_windows_are_fetched_from_the_data_api_stand_in(stack, aws, jwh):
    """A historical heartrate event and a `jwh backfill run` of sleep for one user, with a heartrate webhook that
    repeats one fetched sample: exactly what the stand-in served is stored, once, and the progress says so."""
    started = time.monotonic()
    body = load_fixtures()["historical.data.heartrate.created.json"]
    provider = body["data"]["provider"]
    body["user_id"] = body["data"]["user_id"] = BACKFILL_USER
    body["data"].update(start_date="2024-01-01T00:00:00+00:00", end_date="2024-01-03T00:00:00+00:00")
    hr = load_fixtures()["daily.data.heartrate.created.json"]
    hr["user_id"] = hr["data"]["user_id"] = BACKFILL_USER
    # The webhook's source is the group's the stand-in serves (an Oura ring's: no Apple app id), so the repeated
    # sample is the same sample.
    hr["data"]["source"] = {"provider": provider, "type": spec_sample_source_type("GroupedHeartRateResponse")}
    hr["data"]["data"] = [dict(hr["data"]["data"][0], timestamp="2024-01-01T05:00:00+00:00")]
    jwh("send", str(write_body("backfill-webhook.json", hr)))
    jwh("send", str(write_body("backfill-historical.json", body)))
    # --to 2024-01-02 is the end of that day: the window is [2024-01-01, 2024-01-03), two chunks of a day.
    run = jwh("backfill", "run", "--user", BACKFILL_USER, "--provider", "oura", "--resource", "sleep",
              "--from", "2024-01-01", "--to", "2024-01-02", "--chunk-days", "1", "--timeout", "240")
    assert "finished" in run.stdout, run.stdout

    sqs = aws("sqs")
    deadline = time.monotonic() + DRAIN_TIMEOUT
    settled = 0
    while settled < 3:
        settled = settled + 1 if queue_counts(sqs, stack["QUEUE_URL_FETCH"]) == (0, 0) else 0
        assert time.monotonic() < deadline, "the fetch queue did not drain"
        time.sleep(1)
    assert queue_counts(sqs, stack["DLQ_URL_FETCH"]) == (0, 0)
    record_timing("backfill: a historical event and jwh backfill run, to a drained fetch queue",
                  time.monotonic() - started)

    log = standin_log()
    hr_log = [r for r in log if r["path"] == f"/v2/timeseries/{BACKFILL_USER}/heartrate/grouped"]
    sleep_log = [r for r in log if r["path"] == f"/v2/summary/sleep/{BACKFILL_USER}"]
    served_samples = {(p, t, utc(ts)) for r in hr_log for p, t, ts in r["served"]}
    served_sleeps = sorted(i for r in sleep_log for i in r["served"])
    assert len(served_samples) == 49  # hourly, both ends of the two days included
    stored = query(jwh, "--user", BACKFILL_USER, "--resource", "heartrate")
    assert sorted((s["provider"], s["source_type"], utc(s["timestamp"])) for s in stored) == sorted(served_samples)
    assert sorted(r["attributes"]["record_id"] for r in query(jwh, "--user", BACKFILL_USER, "--resource", "sleep")) \
        == served_sleeps
    assert len(served_sleeps) == 3

    status = {s["resource"]: s for s in map(json.loads, jwh("backfill", "status", "--user", BACKFILL_USER, "--json")
                                             .stdout.splitlines())}
    hr_status, sleep_status = status["heartrate"], status["sleep"]
    assert (hr_status["status"], hr_status["pages_done"], hr_status["records"], hr_status["api_calls"]) == \
        ("finished", len(hr_log), 49, len(hr_log))
    assert (sleep_status["status"], sleep_status["chunks"], sleep_status["pages_done"], sleep_status["records"]) == \
        ("finished", 2, 2, 3)
    print(f"[backfill] heartrate: {hr_status['pages_done']} pages, {hr_status['records']} records, "
          f"{hr_status['api_calls']} API calls; sleep: {sleep_status['pages_done']} pages, "
          f"{sleep_status['records']} records, {sleep_status['api_calls']} API calls", flush=True)


def test_the_fixtures_historical_events_and_workout_streams_were_fetched(jwh):
    exp = Expected(load_fixtures())
    status = [json.loads(line) for line in jwh("backfill", "status", "--user", exp.user, "--json").stdout.splitlines()]
    assert sorted(f"BACKFILL#{s['provider']}#{s['resource']}" for s in status) == sorted(exp.backfills)
    # The stand-in has no data for the fixtures' user: every window is one empty page; workout_stream has no window.
    for s in status:
        assert s["status"] == "finished", s
        assert s["records"] == 0, s
        if s["resource"] == "workout_stream":
            assert s["note"] and s["pages_done"] == 0, s
        else:
            assert (s["pages_done"], s["api_calls"]) == (1, 1), s
    spec = json.loads((ROOT / "shared" / "testdata" / "junction" / "swagger.json").read_text())
    # The stream is kept in items of its own beside the notice (one part here: the example is small).
    notices = query(jwh, "--user", exp.user, "--resource", "workout_stream")
    parts = [r for r in query(jwh, "--user", exp.user) if r.get("kind") == "workout_stream"]
    assert notices and sorted(r["attributes"]["record_id"] for r in notices) == \
        sorted(r["attributes"]["workout_id"] for r in parts)
    assert all(json.loads(r["attributes"]["stream"]) == spec["components"]["schemas"]["ClientFacingStream"]["example"]
               for r in parts)



# --- the read API, as a product reads the copy ------------------------------------------------------------------------


def api_get(stack, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(stack["DATA_API_URL"] + path, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_every_read_api_route_answers_in_its_spec_schema(stack):
    """Every route of the read API that has a Junction equivalent, read for the fixtures' user after the fixtures
    were stored, answers 200 with a body that validates against that path's response schema in Junction's spec,
    required fields included, and holds the fixtures' data; the routes with no equivalent keep its conventions."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = json.loads((ROOT / "shared" / "testdata" / "junction" / "swagger.json").read_text())
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))

    def errors(path: str, body) -> list[str]:
        pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + \
            "/get/responses/200/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"urn:spec#{pointer}"}, registry=registry)
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    exp = Expected(load_fixtures())
    user = exp.user
    window = "start_date=2000-01-01&end_date=2030-01-01"
    # Resources Junction sends by webhook; the spec also has Data API paths for data no webhook carries
    # (hypnogram, ...), which the copy cannot hold: those answer 404.
    webhook_resources = {name.split(".")[2] for name in load_fixtures() if name.startswith("daily.data.")}
    checked, failures, empty, not_stored = [], {}, [], []
    for path in spec["paths"]:
        summary = path.startswith("/v2/summary/") and path.endswith("/{user_id}")
        grouped = path.startswith("/v2/timeseries/{user_id}/") and path.endswith("/grouped")
        if not (summary or grouped):
            continue
        concrete = path.replace("{user_id}", user) + "?" + window
        status, body = api_get(stack, concrete)
        name = path.split("/")[3] if summary else path.split("/")[4]
        if status == 404 and name not in webhook_resources and "resource" in body["detail"]:
            not_stored.append(name)
            continue
        assert status == 200, (concrete, status, body)
        if errs := errors(path, body):
            failures[path] = errs[:3]
        holds = bool(body) if path == "/v2/summary/profile/{user_id}" else (
            any(body["groups"].values()) if grouped else any(v for v in body.values() if isinstance(v, list)))
        if not holds:
            empty.append(path)
        checked.append(path)

    device = next(b["data"] for name, b in load_fixtures().items() if name.startswith("provider.device."))
    for path, concrete in [
        ("/v2/user/providers/{user_id}", f"/v2/user/providers/{user}"),
        ("/v2/user/{user_id}/device", f"/v2/user/{user}/device"),
        ("/v2/user/{user_id}/device/{device_id}", f"/v2/user/{user}/device/{device['id']}"),
        ("/v2/introspect/historical_pull", f"/v2/introspect/historical_pull?user_id={user}"),
    ]:
        status, body = api_get(stack, concrete)
        assert status == 200, (concrete, status, body)
        if errs := errors(path, body):
            failures[path] = errs[:3]
        if not body or body in ({"providers": []},):
            empty.append(path)
        checked.append(path)

    assert not failures, json.dumps(failures, indent=1)
    assert not empty, f"no data for the fixtures' user: {empty}"
    assert len(checked) >= 60, checked
    print(f"[read API] {len(checked)} routes answered in their spec schema; no webhook carries {sorted(not_stored)}",
          flush=True)

    # No Junction equivalent: the same conventions (a named list, snake_case, records under data).
    status, lab = api_get(stack, f"/v2/lab/{user}")
    assert status == 200 and {r["kind"] for r in lab["records"]} >= {"order", "appointment", "critical_result"}
    status, kept = api_get(stack, "/v2/catch_all?event_type=continuous_query.result_table.changed")
    assert status == 200 and len(kept["data"]) >= 1, kept
    status, message = api_get(stack, f"/v2/catch_all/{kept['data'][0]['svix_id']}")
    assert status == 200 and message["body"]["event_type"] == "continuous_query.result_table.changed"
    # A bad parameter names itself; an unknown resource is a 404.
    status, bad = api_get(stack, f"/v2/summary/sleep/{user}?start_date=yesterday")
    assert status == 400 and "start_date" in bad["detail"] and "yesterday" not in bad["detail"]
    assert api_get(stack, f"/v2/summary/naps/{user}?{window}")[0] == 404
