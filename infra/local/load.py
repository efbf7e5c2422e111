"""A bounded load test of the ingest path: N signed webhooks at a fixed concurrency against the ingest function as
`make dev` serves it (cargo lambda watch, moto behind it), reporting latency percentiles, errors and the ingest
process's memory over time.

    make load                       # 10,000 requests, 8 senders (LOAD_REQUESTS, LOAD_CONCURRENCY)
    .tools/venv/bin/python infra/local/load.py --requests 2000 --concurrency 4

It starts its own stack (state in .dev/load/, free ports, no reload), so a `make dev` in progress is left alone, and
stops it afterwards. The bodies are the 194 fixtures in turn, each request with its own Svix id and a fresh
signature; the processors drain the queues meanwhile, as they would in a deployment. Memory is the resident set
(VmRSS) of the ingest function's process, read from /proc every second. The figures go to stdout and, as JSON, to
target/load/load.json. Nothing is asserted about timings: it measures.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from dev import Pids, descendants  # noqa: E402

FIXTURES = ROOT / "shared" / "testdata" / "junction" / "fixtures"
WORK = ROOT / ".dev" / "load"
STATE = WORK / ".dev"
DEV_SH = HERE / "dev.sh"
OUT = ROOT / "target" / "load"


def dev_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWH_", "AWS_"))}
    env.update({"JWH_DEV_DIR": str(STATE), "JWH_DEV_MOTO_PORT": "0", "JWH_DEV_LAMBDA_PORT": "0",
                "JWH_DEV_STACK_NAME": "jwh-load", "JWH_DEV_NO_RELOAD": "1"})
    return env


def read_env(path: pathlib.Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def ingest_pids() -> list[int]:
    """The ingest function's process(es) below this stack's cargo lambda watch."""
    pids = []
    for entry in Pids(STATE / "pids").running():
        for pid, _ in descendants(entry["pid"]):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if os.path.basename(exe) == "jwh-ingest":
                pids.append(pid)
    return pids


def rss_kib(pid: int) -> int | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sign(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()


class Sender(threading.local):
    """One keep-alive connection per sender thread."""

    def __init__(self, url: str):
        self.url = urllib.parse.urlsplit(url)
        self.conn = None

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
            try:
                self.conn.request("POST", self.url.path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                return resp.status
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return 0  # no answer: counted as an error
        return 0


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def run(requests: int, concurrency: int, stack: dict[str, str]) -> dict:
    bodies = [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]
    secret, url = stack["WEBHOOK_SECRET"], stack["WEBHOOK_URL"]
    sender = Sender(url)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    pids = ingest_pids()
    assert len(pids) == 1, f"expected one ingest process, found {pids}"
    memory: list[tuple[float, int]] = []
    done = threading.Event()
    started = time.monotonic()

    def sample_memory() -> None:
        while True:
            kib = rss_kib(pids[0])
            if kib is not None:
                memory.append((time.monotonic() - started, kib))
            if done.wait(1.0):
                return

    def one(i: int) -> None:
        body = bodies[i % len(bodies)]
        msg_id = f"msg_load_{i:06d}"
        ts = int(time.time())
        headers = {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sign(secret, msg_id, ts, body),
                   "content-type": "application/json"}
        t = time.perf_counter()
        status = sender.post(body, headers)
        ms = (time.perf_counter() - t) * 1000
        with lock:
            latencies.append(ms)
            statuses[status] = statuses.get(status, 0) + 1

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    lat = sorted(latencies)
    kib = [k for _, k in memory]
    return {
        "requests": requests, "concurrency": concurrency, "seconds": round(elapsed, 1),
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p90": round(percentile(lat, 90), 1),
                       "p99": round(percentile(lat, 99), 1), "max": round(lat[-1], 1),
                       "mean": round(statistics.fmean(lat), 1)},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": requests - statuses.get(200, 0),
        "ingest_rss_kib": {"first": kib[0], "min": min(kib), "max": max(kib), "last": kib[-1],
                           "series": memory[:: max(1, len(memory) // 60)]},
    }


def report(r: dict) -> str:
    m = r["ingest_rss_kib"]
    series = " ".join(f"{t:.0f}s:{k // 1024}M" for t, k in m["series"])
    return "\n".join([
        f"load: {r['requests']} signed webhooks, {r['concurrency']} concurrent senders, {r['seconds']} s "
        f"({r['requests_per_second']} req/s)",
        f"latency ms: p50 {r['latency_ms']['p50']}  p90 {r['latency_ms']['p90']}  p99 {r['latency_ms']['p99']}  "
        f"max {r['latency_ms']['max']}",
        f"statuses: {r['statuses']}  errors: {r['errors']}",
        f"ingest RSS KiB: first {m['first']}  min {m['min']}  max {m['max']}  last {m['last']}",
        f"ingest RSS over time: {series}",
    ])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=int(os.environ.get("LOAD_REQUESTS", 10_000)))
    ap.add_argument("--concurrency", type=int, default=int(os.environ.get("LOAD_CONCURRENCY", 8)))
    args = ap.parse_args(argv)
    subprocess.run([DEV_SH, "--stop"], env=dev_env(), capture_output=True)
    WORK.mkdir(parents=True, exist_ok=True)
    print("load: starting the local stack (.dev/load)", flush=True)
    with open(WORK / "dev.out", "wb") as out:
        started = subprocess.run([DEV_SH, "--background"], env=dev_env(), stdout=out, stderr=subprocess.STDOUT,
                                 cwd=ROOT)
    try:
        if started.returncode != 0:
            print((WORK / "dev.out").read_text()[-4000:], file=sys.stderr)
            return 1
        result = run(args.requests, args.concurrency, read_env(STATE / "stack.env"))
    finally:
        subprocess.run([DEV_SH, "--stop"], env=dev_env(), capture_output=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "load.json").write_text(json.dumps(result, indent=2))
    print(report(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
