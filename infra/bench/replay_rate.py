"""The replay rate: `jwh replay --archive` reading an archive in moto's S3 and sending to queues in moto's SQS, beside
the baseline of the same messages sent straight to the same queues with SendMessageBatch (the least a replay has to
do), both measured in one run against one moto.

    make bench-replay                   # 1,000 deliveries (JWH_REPLAY_DELIVERIES), release jwh
    .tools/venv/bin/python infra/bench/replay_rate.py --jwh target/release/jwh --deliveries 2000

The archive is written as Firehose writes it: objects of gzip members (one member per processor batch of 10), JSON
lines of the 194 fixtures in turn, each delivery with its own Svix id, under {family}/YYYY/MM/DD/HH/. The replay runs
without a rate limit (--rate far above what it reaches) so that it measures what the tool can do; its dry run (read
and count only) is timed too. Prints deliveries per second and the ratio to the baseline, and writes them to
target/bench/replay.json and replay.txt. Nothing is asserted about timings: it measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "shared" / "testdata" / "junction" / "fixtures"
MOTO = ROOT / "infra" / "local" / "moto_server.py"
OUT = ROOT / "target" / "bench"
FAMILIES = ["connections", "backfills", "summaries", "timeseries", "lab", "catch-all"]
REGION, KEY = "us-east-1", "testing"
BATCH, MEMBERS_PER_OBJECT = 10, 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                sys.exit("moto did not start")
            time.sleep(0.1)


def routed(jwh: str) -> list[tuple[str, str, bytes]]:
    """(family, user, raw body) of every fixture, as the code routes it (`jwh inspect`)."""
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        raw = path.read_bytes()
        info = subprocess.run([jwh, "inspect", str(path)], capture_output=True, text=True)
        family = json.loads(info.stdout).get("family", "catch-all") if info.stdout.strip() else "catch-all"
        user = json.loads(info.stdout).get("user_id") if info.stdout.strip() else None
        out.append((family, user, raw))
    return out


def deliveries(n: int, fixtures, t0: dt.datetime) -> list[dict]:
    out = []
    for i in range(n):
        family, user, raw = fixtures[i % len(fixtures)]
        received = t0 + dt.timedelta(milliseconds=10 * i)
        d = {"svix_id": f"msg_bench_{i:07d}", "svix_timestamp": int(received.timestamp()),
             "event_type": json.loads(raw).get("event_type", ""), "family": family,
             "received_at": received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "body": raw.decode()}
        if user:
            d["user_id"] = user
        out.append(d)
    return out


def write_archive(s3, bucket: str, ds: list[dict]) -> int:
    """Objects per family and hour, each of up to MEMBERS_PER_OBJECT gzip members of BATCH lines; returns the count."""
    groups: dict[str, list[dict]] = {}
    for d in ds:
        hour = d["received_at"][:13].replace("-", "/").replace("T", "/")
        groups.setdefault(f"{d['family']}/{hour}/", []).append(d)
    objects = 0
    for prefix, group in groups.items():
        members = [gzip.compress("".join(json.dumps(d) + "\n" for d in group[i:i + BATCH]).encode())
                   for i in range(0, len(group), BATCH)]
        for j in range(0, len(members), MEMBERS_PER_OBJECT):
            key = f"{prefix}bench-{j // MEMBERS_PER_OBJECT:05d}.jsonl.gz"
            s3.put_object(Bucket=bucket, Key=key, Body=b"".join(members[j:j + MEMBERS_PER_OBJECT]))
            objects += 1
    return objects


def attributes(d: dict) -> dict:
    received_ms = int(dt.datetime.strptime(d["received_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                      .replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    out = {"svix-id": d["svix_id"], "family": d["family"], "svix-timestamp": str(d["svix_timestamp"]),
           "received-at": str(received_ms), "jwh-replay": "baseline"}
    if d["event_type"]:
        out["event-type"] = d["event_type"]
    return {k: {"DataType": "Number" if k in ("svix-timestamp", "received-at") else "String", "StringValue": v}
            for k, v in out.items()}


def baseline(sqs, urls: dict[str, str], ds: list[dict]) -> float:
    """Seconds to send every delivery to its family's queue, 10 per SendMessageBatch, one after another."""
    by_family: dict[str, list[dict]] = {}
    for d in ds:
        by_family.setdefault(d["family"], []).append(d)
    started = time.perf_counter()
    for family, group in by_family.items():
        for i in range(0, len(group), BATCH):
            entries = [{"Id": str(k), "MessageBody": d["body"], "MessageAttributes": attributes(d)}
                       for k, d in enumerate(group[i:i + BATCH])]
            failed = sqs.send_message_batch(QueueUrl=urls[family], Entries=entries).get("Failed")
            assert not failed, failed
    return time.perf_counter() - started


def queues(sqs, tag: str) -> dict[str, str]:
    """A fresh queue per family (SQS allows one purge a minute: each round sends to queues of its own)."""
    return {f: sqs.create_queue(QueueName=f"bench-{tag}-{f}")["QueueUrl"] for f in FAMILIES}


def queue_env(urls: dict[str, str]) -> dict[str, str]:
    return {"QUEUE_URL_" + f.upper().replace("-", "_"): u for f, u in urls.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jwh", default=str(ROOT / "target" / "release" / "jwh"))
    parser.add_argument("--deliveries", type=int, default=int(os.environ.get("JWH_REPLAY_DELIVERIES", "1000")))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.jwh = str(pathlib.Path(args.jwh).resolve())

    moto, endpoint = start_moto()
    try:
        session = boto3.Session(region_name=REGION, aws_access_key_id=KEY, aws_secret_access_key=KEY)
        s3 = session.client("s3", endpoint_url=endpoint)
        sqs = session.client("sqs", endpoint_url=endpoint)
        s3.create_bucket(Bucket="archive")
        s3.create_bucket(Bucket="payloads")
        t0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)
        ds = deliveries(args.deliveries, routed(args.jwh), t0)
        objects = write_archive(s3, "archive", ds)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_URL_", "JWH_"))}
        env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": KEY,
                    "AWS_SECRET_ACCESS_KEY": KEY, "ARCHIVE_BUCKET": "archive", "PAYLOAD_BUCKET": "payloads"})

        def replay(urls: dict[str, str], *extra: str) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                done = subprocess.run([args.jwh, "replay", "--archive", "--rate", "1000000", *extra], cwd=tmp,
                                      env={**env, **queue_env(urls)}, capture_output=True, text=True)
                elapsed = time.perf_counter() - started
            assert done.returncode == 0, done.stdout + done.stderr
            expected = f"would replay {len(ds)} of" if "--dry-run" in extra else f"replayed {len(ds)} ("
            assert expected in done.stdout, done.stdout
            return elapsed

        rounds = {"baseline": [], "replay": [], "dry run": []}
        for r in range(args.rounds):  # interleaved, best of rounds: drift on a shared machine hits all alike
            rounds["baseline"].append(baseline(sqs, queues(sqs, f"{r}-baseline"), ds))
            urls = queues(sqs, f"{r}-replay")
            rounds["replay"].append(replay(urls))
            rounds["dry run"].append(replay(urls, "--dry-run"))
        best = {k: min(v) for k, v in rounds.items()}
        rate = {k: len(ds) / v for k, v in best.items()}
        lines = [
            f"replay from the archive, {len(ds)} deliveries in {objects} objects, moto on loopback (best of "
            f"{args.rounds}):",
            f"  jwh replay --archive        {rate['replay']:>9.0f} deliveries/s  ({best['replay']:.2f} s)",
            f"  baseline: SendMessageBatch  {rate['baseline']:>9.0f} deliveries/s  ({best['baseline']:.2f} s)",
            f"  ratio replay / baseline     {best['replay'] / best['baseline']:>9.2f}x time",
            f"  dry run (read and count)    {rate['dry run']:>9.0f} deliveries/s  ({best['dry run']:.2f} s)",
        ]
        print("\n".join(lines))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "replay.txt").write_text("\n".join(lines) + "\n")
        (OUT / "replay.json").write_text(json.dumps({"deliveries": len(ds), "objects": objects, "seconds": rounds,
                                                     "per_second": rate}, indent=2))
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
