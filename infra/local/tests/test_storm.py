"""A replay storm through the local stack, and the hygiene of every log line the stack wrote.

Runs after test_e2e.py on the same stack (the session's `stack` fixture). Every fixture is delivered once, in
order, by one sender, for a reference user; then every fixture three times, in a random (seeded) order, by
concurrent senders, for a storm user. Once the queues drain, what `jwh query` reads back for the two users must be
the same: summaries and lab records at their newest version, one value per timeseries sample, connections and
devices in their latest state, one history record per Svix message, nothing in the dead-letter queues that was not
there before.

The bodies of both runs are the fixtures with the run's user and team, and two changes that make the outcome
defined whatever the order: a fixture later in the order carries a later `updated_at` (summaries and lab objects
are versioned by it) and a later message id, a KSUID as Svix mints them, whose creation time every record and
sample carries as its version (connections, devices, backfills, samples; history is keyed by the id); the three
copies of a storm message are the same signed request, as Svix's retries of one message are. (An id that is not a
KSUID would be versioned by the time each copy was received, and the last copy received would win.) Every numeric sample value is
replaced by a value found nowhere else (the same for every delivery of a sample), so that the log check can look
for it.

Then the archive: every delivery of the reference run is in the archive bucket byte for byte; its records are
wiped (every item the run left: the user's and the team's partitions, its catch-all records, its processed-message
markers), `jwh replay --archive` re-sends the run's slice of the archive (its receive-time window), and once the
queues drain, the state is again that of one in-order delivery.

Then the logs of the whole session (moto, the functions under cargo lambda watch, the bridge) are read and
checked: no signing secret, no signature sent, no sample value and no lab result or other text of the bodies.
"""

from __future__ import annotations

import base64
import collections
import gzip
import concurrent.futures
import copy
import datetime as dt
import json
import random
import re
import time

import pytest

from conftest import record_timing
from test_e2e import FIXTURES, STATE, post, query, queue_counts, svix_headers, utc
from test_e2e import aws, jwh, jwh_bin  # noqa: F401 (fixtures: cheap, one of each per module)
from stack import Template

COPIES = 3
SENDERS = 6
SEED = 20261130
# Of one length each, so that the bodies of the two runs are of one size (the catch-all records keep it).
REF_USER, STORM_USER = "storm-user-ref", "storm-user-run"
REF_TEAM, STORM_TEAM = "storm-team-ref", "storm-team-run"
# The byte that tells the two runs' message ids apart (the first byte of the KSUID's payload).
REF_RUN, STORM_RUN = 1, 2
DRAIN_TIMEOUT = 300
# Record attributes that say when, or by which delivery, a record was written: they differ between any two runs
# (the Svix id stays in the keys of history records, where a duplicate would show).
PROVENANCE = ("received_at", "completed_at", "version", "svix_id", "fetch_started_at", "fetch_updated_at",
              "fetch_finished_at", "message_created_at")


def fixtures() -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_bytes())) for p in sorted(FIXTURES.glob("*.json"))]


def sample_canaries() -> dict[tuple, float]:
    """A value for every numeric timeseries sample (resource, provider, type, timestamp), found nowhere else."""
    keys = set()
    for _, body in fixtures():
        data = body["data"]
        if body["event_type"].startswith("daily.data.") and isinstance(data, dict) and "id" not in data \
                and isinstance(data.get("data"), list):
            for s in data["data"]:
                if isinstance(s.get("value"), (int, float)):
                    keys.add((body["event_type"].split(".")[2], data["source"]["provider"], data["source"]["type"],
                              s["timestamp"]))
    return {k: 913000 + n + 0.375 for n, k in enumerate(sorted(keys))}


def body_for(i: int, body: dict, user: str, team: str, canaries: dict) -> dict:
    """Fixture `i` of the run of `user`: that user and team, `updated_at` later the later the fixture, canary samples."""
    body = copy.deepcopy(body)
    data = body["data"]
    if "user_id" in body:
        body["user_id"] = user
    if "team_id" in body:
        body["team_id"] = team
    if isinstance(data, dict):
        if "user_id" in data:
            data["user_id"] = user
        if "team_id" in data:
            data["team_id"] = team
        if data.get("updated_at"):
            data["updated_at"] = (dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
                                  + dt.timedelta(minutes=i)).isoformat()
        if isinstance(data.get("data"), list) and "source" in data:
            for s in data["data"]:
                key = (body["event_type"].split(".")[2], data["source"]["provider"], data["source"]["type"],
                       s.get("timestamp"))
                if key in canaries:
                    s["value"] = canaries[key]
    return body


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def ksuid_id(created_ms: int, run: int, i: int) -> str:
    """A Svix message id: `msg_` and a KSUID of millisecond precision (seconds since 2014-05-13T16:53:20Z, then
    1/256 s, then 15 bytes of payload), base62, created at `created_ms`; the payload names the run and the fixture."""
    seconds, ms = divmod(created_ms, 1000)
    raw = (seconds - 1_400_000_000).to_bytes(4, "big") + bytes([ms * 256 // 1000, run]) + i.to_bytes(14, "big")
    n, text = int.from_bytes(raw, "big"), ""
    while n:
        n, digit = divmod(n, 62)
        text = BASE62[digit] + text
    return "msg_" + text.rjust(27, "0")


class Run:
    """The signed requests of one run: (svix id, raw body, headers) per fixture, in fixture order; fixture `i`'s
    message created 10 ms after fixture `i - 1`'s, so that creation order is fixture order."""

    def __init__(self, secret: str, user: str, team: str, run: int, t0: int):
        canaries = sample_canaries()
        self.requests = []
        for i, (_, body) in enumerate(fixtures()):
            raw = json.dumps(body_for(i, body, user, team, canaries)).encode()
            msg_id = ksuid_id(t0 * 1000 + 10 * i, run, i)
            self.requests.append((msg_id, raw, svix_headers(secret, msg_id, t0 + i, raw)))
        self.ids = [msg_id for msg_id, _, _ in self.requests]


def dead_letter_counts(sqs, stack, families) -> dict[str, int]:
    return {f.name: sum(queue_counts(sqs, stack[f"DLQ_URL_{f.key}"])) for f in families}


def wait_for_drain(sqs, stack, families) -> None:
    started, settled = time.monotonic(), 0
    while settled < 3:  # three looks in a row, a second apart
        queues = {f.name: queue_counts(sqs, stack[f"QUEUE_URL_{f.key}"]) for f in families}
        settled = settled + 1 if all(c == (0, 0) for c in queues.values()) else 0
        assert time.monotonic() - started < DRAIN_TIMEOUT, f"not drained: {queues}"
        time.sleep(1)


def normalized(rows: list[dict], user: str, team: str, ids: list[str]) -> list[str]:
    """Rows as text with the run's user, team and Svix ids replaced (fixture `i`'s id by `msg_{i}`), and the
    provenance left out. A catch-all
    record's partition is a hash of its Svix id (`CATCHALL#{nn}`, which differs between runs as the ids do): it is
    left out, and the record compared by its sort key, which holds the id (`MSG#{svix id}`)."""
    out = []
    for r in rows:
        r = copy.deepcopy(r)
        for name in PROVENANCE:
            r.get("attributes", {}).pop(name, None)
            r.pop(name, None)  # a sample's version is a field of its own
        if re.fullmatch(r"CATCHALL#\d\d", r.get("pk", "")):
            r["pk"] = "CATCHALL#{hash of the id in sk}"
        text = json.dumps(r, sort_keys=True).replace(user, "USER").replace(team, "TEAM")
        for i, msg_id in enumerate(ids):
            text = text.replace(msg_id, f"msg_{i:03d}")
        out.append(text)
    return sorted(out)


def difference(missing: list[str], extra: list[str]) -> str:
    """What differs between the first record missing from the storm's state and the extra one beside it."""
    if not (missing and extra):
        return f"missing {missing[:3]}, extra {extra[:3]}"
    m, e = json.loads(missing[0]), json.loads(extra[0])
    keys = sorted(k for k in set(m.get("attributes", {})) | set(e.get("attributes", {}))
                  if m.get("attributes", {}).get(k) != e.get("attributes", {}).get(k))
    diff = {k: (m.get("attributes", {}).get(k), e.get("attributes", {}).get(k)) for k in keys}
    return f"{len(missing)} missing, {len(extra)} extra; first: {m.get('sk')} vs {e.get('sk')}: {diff}"


def state(jwh, user: str, team: str, ids: list[str]) -> dict[str, list[str]]:
    """What jwh query reads back of a run: the user's records and samples, the team's, its catch-all records."""
    catch_all = [r for r in query(jwh, "--catch-all") if r["attributes"].get("svix_id", "") in set(ids)]
    return {
        "user": normalized(query(jwh, "--user", user), user, team, ids),
        "team": normalized(query(jwh, "--team", team), user, team, ids),
        "catch-all": normalized(catch_all, user, team, ids),
    }


@pytest.fixture(scope="module")
def storm(stack, aws, jwh):
    """Delivers the reference run and the storm, waits for the queues to drain; returns what they left behind."""
    families = list(Template().families())
    sqs = aws("sqs")
    dead_before = dead_letter_counts(sqs, stack, families)
    t0 = int(time.time()) - 120  # every timestamp of both runs stays within the 300 s tolerance while sending
    ref = Run(stack["WEBHOOK_SECRET"], REF_USER, REF_TEAM, REF_RUN, t0)
    storm = Run(stack["WEBHOOK_SECRET"], STORM_USER, STORM_TEAM, STORM_RUN, t0)

    # The run's receive-time window, for the archive test (the deliveries before it were received earlier).
    started, ref_from = time.monotonic(), dt.datetime.now(dt.timezone.utc) - dt.timedelta(milliseconds=100)
    ref_statuses = [post(stack["WEBHOOK_URL"], raw, headers) for _, raw, headers in ref.requests]
    ref_until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    record_timing(f"storm: reference run, {len(ref.requests)} deliveries in order", time.monotonic() - started)
    time.sleep(1.5)  # the storm's deliveries are received after the reference run's window

    deliveries = [r for r in storm.requests for _ in range(COPIES)]
    random.Random(SEED).shuffle(deliveries)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(SENDERS) as pool:
        storm_statuses = list(pool.map(lambda r: (r[0], post(stack["WEBHOOK_URL"], r[1], r[2])), deliveries))
    record_timing(f"storm: {len(deliveries)} deliveries, {SENDERS} concurrent senders", time.monotonic() - started)

    started = time.monotonic()
    wait_for_drain(sqs, stack, families)
    record_timing("storm: drain", time.monotonic() - started)
    return {
        "ref": ref, "storm": storm, "ref_statuses": ref_statuses, "storm_statuses": storm_statuses,
        "ref_window": (ref_from, ref_until),
        "dead_before": dead_before, "dead_after": dead_letter_counts(sqs, stack, families),
    }


def test_every_storm_delivery_is_accepted(storm):
    assert storm["ref_statuses"] == [200] * len(storm["ref"].requests)
    statuses = collections.Counter(status for _, status in storm["storm_statuses"])
    assert statuses == {200: COPIES * len(storm["storm"].requests)}
    # Every message went out exactly COPIES times.
    assert set(collections.Counter(msg for msg, _ in storm["storm_statuses"]).values()) == {COPIES}


def test_the_storm_leaves_the_state_of_one_in_order_delivery(storm, jwh):
    ref = state(jwh, REF_USER, REF_TEAM, storm["ref"].ids)
    got = state(jwh, STORM_USER, STORM_TEAM, storm["storm"].ids)
    for part in ("user", "team", "catch-all"):
        assert ref[part], f"the reference run stored no {part} records"
        missing = sorted(set(ref[part]) - set(got[part]))
        extra = sorted(set(got[part]) - set(ref[part]))
        assert (missing, extra) == ([], []), f"{part}: {difference(missing, extra)}"
        # No duplicate: the same records, each as many times (once).
        assert len(got[part]) == len(ref[part]) == len(set(ref[part]))
    # The newest version won: each summary is that of the last fixture naming it (the latest `updated_at`).
    newest = {}
    for i, (_, body) in enumerate(fixtures()):
        data = body["data"]
        if body["event_type"].startswith("daily.data.") and isinstance(data, dict) and data.get("updated_at") \
                and ("id" in data or "workout_id" in data):
            resource = body["event_type"].split(".")[2]
            sk = f"SUM#{resource}#{data['workout_id'] if resource == 'workout_stream' else data['id']}"
            newest[sk] = utc(body_for(i, body, STORM_USER, STORM_TEAM, {})["data"]["updated_at"])
    rows = [json.loads(r) for r in got["user"]]
    summaries = {r["sk"]: utc(r["attributes"]["updated_at"]) for r in rows
                 if r.get("kind") == "summary" and r["attributes"].get("updated_at")}
    assert summaries == newest
    kinds = collections.Counter(r.get("kind", "sample") for r in rows)
    print(f"[storm] {COPIES * len(storm['storm'].requests)} deliveries of {len(storm['storm'].requests)} messages: "
          f"{len(got['user']) + len(got['team']) + len(got['catch-all'])} records and samples, equal to one "
          f"in-order delivery, 0 duplicates ({dict(kinds)})")


def test_the_storm_sent_nothing_to_a_dead_letter_queue(storm):
    assert storm["dead_after"] == storm["dead_before"]


# --- archive, wipe, replay ------------------------------------------------------------------------------------------


def archived(s3, bucket: str, ids: set[str]) -> dict[str, dict]:
    """The archived deliveries of these Svix ids, by id (the first copy of each), read from every archive object."""
    out: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data  # every gzip member, concatenated
            for line in text.splitlines():
                delivery = json.loads(line)
                if delivery["svix_id"] in ids:
                    out.setdefault(delivery["svix_id"], delivery)
    return out


def wipe(ddb, table: str, user: str, team: str, ids: set[str]) -> int:
    """Deletes every item a run left: its user's and team's partitions, its catch-all records (and their parts),
    its processed-message markers. Returns how many."""
    doomed = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            msg = sk.removeprefix("MSG#").split("#PART#")[0] if pk.startswith("CATCHALL") else pk.removeprefix("MSG#")
            if pk in (f"USER#{user}", f"TEAM#{team}") or msg in ids:
                doomed.append({"pk": item["pk"], "sk": item["sk"]})
    for i in range(0, len(doomed), 25):
        ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": k}} for k in doomed[i:i + 25]]})
    return len(doomed)


def test_the_archive_holds_every_delivery_and_a_replay_after_a_wipe_restores_the_state(storm, stack, aws, jwh):
    ref = storm["ref"]
    ids = set(ref.ids)
    before = state(jwh, REF_USER, REF_TEAM, ref.ids)

    # Every delivery of the reference run is archived: its body byte for byte, its verified metadata.
    kept = archived(aws("s3"), stack["ARCHIVE_BUCKET"], ids)
    assert set(kept) == ids, f"not archived: {sorted(ids - set(kept))[:5]}"
    for msg_id, raw, headers in ref.requests:
        d = kept[msg_id]
        assert d["body"].encode() == raw, msg_id
        assert d["svix_timestamp"] == int(headers["svix-timestamp"])
        assert d["event_type"] == json.loads(raw)["event_type"]
    assert sum(1 for d in kept.values() if d.get("user_id") == REF_USER) > len(ids) // 2

    started = time.monotonic()
    wiped = wipe(aws("dynamodb"), stack["TABLE_NAME"], REF_USER, REF_TEAM, ids)
    assert wiped > len(ids)
    assert all(not rows for rows in state(jwh, REF_USER, REF_TEAM, ref.ids).values())

    since, until = (t.isoformat() for t in storm["ref_window"])
    dry = jwh("replay", "--archive", "--since", since, "--until", until, "--dry-run").stdout
    assert f"would replay {len(ids)} of " in dry, dry
    state_file = STATE / "storm-replay.state"
    state_file.unlink(missing_ok=True)
    replay = ["replay", "--archive", "--since", since, "--until", until, "--rate", "500", "--state", str(state_file)]
    out = jwh(*replay).stdout
    assert f"replayed {len(ids)} (" in out and "failed 0" in out, out
    wait_for_drain(aws("sqs"), stack, list(Template().families()))
    record_timing(f"archive: wipe, replay of {len(ids)} deliveries, drain", time.monotonic() - started)

    after = state(jwh, REF_USER, REF_TEAM, ref.ids)
    for part in ("user", "team", "catch-all"):
        missing = sorted(set(before[part]) - set(after[part]))
        extra = sorted(set(after[part]) - set(before[part]))
        assert (missing, extra) == ([], []), f"{part}: {difference(missing, extra)}"
        assert len(after[part]) == len(before[part])
    # Run again with the same state file: every object is done, nothing is sent.
    again = jwh(*replay).stdout
    assert "replayed 0 (" in again, again
    print(f"[archive] {len(ids)} deliveries archived byte for byte; {wiped} items wiped; replayed from the archive, "
          f"the state equals one in-order delivery")


# --- log hygiene --------------------------------------------------------------------------------------------------


def sensitive_text(value, out: set) -> None:
    """Text of a body that would identify health data if logged: strings of 6+ characters with a space (names,
    addresses, notes, test names), as in tests/log_hygiene."""
    if isinstance(value, str) and len(value) >= 6 and " " in value:
        out.add(value)
    elif isinstance(value, list):
        for v in value:
            sensitive_text(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            sensitive_text(v, out)


def test_no_log_line_of_the_session_holds_a_secret_a_signature_or_health_data(storm, stack):
    # The processes' logs; not dev.sh's own output, whose banner shows the local secret on purpose (make dev).
    logs = {p.name: p.read_text(errors="replace") for p in sorted((STATE / "logs").glob("*.log"))}
    assert {"moto.log", "lambda.log", "bridge.log"} <= set(logs), sorted(logs)
    lines = [(name, line) for name, text in logs.items() for line in text.splitlines()]
    # The capture works: the functions logged each storm message, by id.
    lambda_log = logs["lambda.log"]
    for msg_id, _, _ in storm["storm"].requests:
        assert msg_id in lambda_log, f"{msg_id} is not in the functions' log"

    secret = stack["WEBHOOK_SECRET"]
    forbidden = {"the signing secret": [secret, secret.removeprefix("whsec_")],
                 "the signing key": [base64.b64decode(secret.removeprefix("whsec_")).hex()]}
    forbidden["a signature"] = sorted({h["svix-signature"].removeprefix("v1,").rstrip("=")
                                       for run in (storm["ref"], storm["storm"]) for _, _, h in run.requests})
    forbidden["a sample value"] = sorted(f"{v:.3f}".rstrip("0") for v in sample_canaries().values())
    text = set()
    for _, raw, _ in storm["storm"].requests:
        sensitive_text(json.loads(raw), text)
    assert {"John Doe", "Cholesterol test", "This is a note"} <= text
    forbidden["health data or a lab result"] = sorted(text)
    checked = 0
    for what, needles in forbidden.items():
        for needle in needles:
            hit = next(((name, line) for name, line in lines if needle in line), None)
            assert hit is None, f"{what} in {hit[0]}: {hit[1][:300]}"
            checked += 1
    print(f"[log hygiene] {len(lines)} log lines of the e2e and storm runs, {checked} secrets, signatures, sample "
          f"values and body texts looked for: none found")
