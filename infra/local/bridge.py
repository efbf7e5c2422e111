"""Lambda's SQS event source mapping, played locally: one poller per queue family of template.yaml.

Each poller long-polls its family's queue, gathers a batch the way the template's SQS event says (BatchSize,
MaximumBatchingWindowInSeconds), invokes the family's processor through cargo lambda's invoke API with a real SQS
event, and then does what Lambda does with the answer:
<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>

- a response naming `batchItemFailures`: every other message of the batch is deleted, the named ones are left to
  become visible again (ReportBatchItemFailures);
- a failure naming a message id that is not in the batch (or an empty id), an invocation error, a timeout: nothing
  is deleted, the whole batch comes back;
- no ReportBatchItemFailures on the event: any successful invocation deletes the whole batch.

A message left undeleted reappears when the queue's visibility timeout (362 s in the template) runs out; with
`--retry-after N` the bridge instead makes it visible again after N seconds, so that local retries, and the
dead-letter queue after maxReceiveCount receives, come within a minute. Moving a message to the dead-letter
queue is moto's own doing: moto applies the queue's RedrivePolicy when a message is received again after
maxReceiveCount receives, like SQS (the tests in infra/local/tests/test_bridge.py check it).

    python infra/local/bridge.py --stack-env .dev/stack.env [--retry-after SECONDS] [--only FAMILY ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import pathlib
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from stack import Family, Template, parameters_from_env  # noqa: E402

log = logging.getLogger("bridge")

# What Lambda's event source mapping long-polls with.
LONG_POLL_SECS = 20
# Record attributes Lambda copies from ReceiveMessage's system attributes.
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.removeprefix("export ").split("=", 1)
            out[k.strip()] = v.strip()
    return out


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One record of a Lambda SQS event, from a ReceiveMessage message (as Lambda builds it)."""
    attrs = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attr: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            attr["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attr["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attrs[name] = attr
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: v for k, v in message.get("Attributes", {}).items() if k in SYSTEM_ATTRIBUTES},
        "messageAttributes": attrs,
        "md5OfBody": message.get("MD5OfBody"),
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class InvocationError(Exception):
    """The function did not answer with a result (error, timeout, unreachable)."""


def settle(batch_ids: list[str], response: Any, report_failures: bool) -> tuple[set[str], str | None]:
    """Which messages of a batch to delete after a successful invocation, and why not all (for the log).

    Lambda's rules: without ReportBatchItemFailures every message is deleted; with it, the ones named in
    `batchItemFailures` stay, and a response that names an id not in the batch (or an empty one), or that is not
    a valid batch response, fails the whole batch."""
    ids = set(batch_ids)
    if not report_failures:
        return ids, None
    if response is None or response == {} or response == "":
        return ids, None
    if not isinstance(response, dict):
        return set(), "response is not a batch response: whole batch failed"
    failures = response.get("batchItemFailures")
    if failures is None:
        return ids, None
    if not isinstance(failures, list):
        return set(), "batchItemFailures is not a list: whole batch failed"
    failed = set()
    for item in failures:
        item_id = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not item_id or item_id not in ids:
            return set(), f"batchItemFailures names {item_id!r}, not in the batch: whole batch failed"
        failed.add(item_id)
    return ids - failed, (f"{len(failed)} failed" if failed else None)


@dataclass
class Target:
    """Where a family's messages go."""

    family: Family
    queue_url: str
    queue_arn: str


class Poller(threading.Thread):
    """The event source mapping of one family: receive, invoke, delete what succeeded."""

    def __init__(self, target: Target, sqs, lambda_endpoint: str, region: str, retry_after: int | None,
                 stop: threading.Event, long_poll_secs: int = LONG_POLL_SECS):
        super().__init__(name=f"bridge-{target.family.name}", daemon=True)
        self.t = target
        self.sqs = sqs
        self.invoke_url = f"{lambda_endpoint.rstrip('/')}/2015-03-31/functions/{target.family.binary}/invocations"
        self.region = region
        self.retry_after = retry_after
        self.stop = stop
        self.long_poll_secs = long_poll_secs

    def receive(self, count: int, wait: int) -> list[dict]:
        return self.sqs.receive_message(
            QueueUrl=self.t.queue_url,
            MaxNumberOfMessages=min(count, 10),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def gather(self) -> list[dict]:
        """A batch: the first long poll, then more until BatchSize or the batching window closes."""
        f = self.t.family
        batch = self.receive(f.batch_size, self.long_poll_secs)
        if not batch:
            return []
        deadline = time.monotonic() + f.batching_window_secs
        while len(batch) < f.batch_size and not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.receive(f.batch_size - len(batch), max(1, int(left)))
            if not more and time.monotonic() >= deadline:
                break
            batch += more
        return batch

    def invoke(self, event: dict) -> Any:
        data = json.dumps(event).encode()
        req = urllib.request.Request(self.invoke_url, data=data, method="POST",
                                     headers={"content-type": "application/json"})
        # A batch whose invocation outlives the visibility timeout is back in the queue anyway.
        timeout = self.t.family.visibility_timeout_secs
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise InvocationError(f"HTTP {e.code}: {e.read()[:500].decode(errors='replace')}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise InvocationError(f"{self.invoke_url}: {e}") from None
        try:
            response = json.loads(body) if body.strip() else None
        except json.JSONDecodeError:
            raise InvocationError(f"response is not JSON: {body[:200]!r}") from None
        if isinstance(response, dict) and "errorType" in response:
            raise InvocationError(f"{response.get('errorType')}: {response.get('errorMessage')}")
        return response

    def handle(self, batch: list[dict]) -> None:
        f = self.t.family
        ids = [m["MessageId"] for m in batch]
        event = {"Records": [sqs_record(m, self.t.queue_arn, self.region) for m in batch]}
        started = time.monotonic()
        try:
            response = self.invoke(event)
            delete, note = settle(ids, response, f.report_batch_item_failures)
        except InvocationError as e:
            delete, note = set(), f"invocation error, whole batch failed: {e}"
        ms = (time.monotonic() - started) * 1000
        log.info("%s: %d message(s) -> %s, deleted %d%s (%.0f ms)", f.name, len(batch), f.binary, len(delete),
                 f"; {note}" if note else "", ms)
        by_id = {m["MessageId"]: m for m in batch}
        entries = [{"Id": str(i), "ReceiptHandle": by_id[mid]["ReceiptHandle"]} for i, mid in enumerate(ids)
                   if mid in delete]
        for chunk in range(0, len(entries), 10):
            out = self.sqs.delete_message_batch(QueueUrl=self.t.queue_url, Entries=entries[chunk:chunk + 10])
            for err in out.get("Failed", []):
                log.warning("%s: delete failed: %s", f.name, err)
        kept = [m for m in batch if m["MessageId"] not in delete]
        if kept and self.retry_after is not None:
            retry = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_after}
                     for i, m in enumerate(kept)]
            for chunk in range(0, len(retry), 10):
                self.sqs.change_message_visibility_batch(QueueUrl=self.t.queue_url, Entries=retry[chunk:chunk + 10])
        for m in kept:
            receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
            when = (f"in {self.retry_after} s" if self.retry_after is not None
                    else f"after the {f.visibility_timeout_secs} s visibility timeout")
            if receives >= f.max_receive_count:
                what = f"moves to the dead-letter queue {when} (received {receives} times)"
            else:
                what = f"will be retried {when} (received {receives} of {f.max_receive_count} times)"
            log.info("%s: message %s %s", f.name, m["MessageId"], what)

    def run(self) -> None:
        f = self.t.family
        log.info("%s: polling %s -> %s (batch %d, window %d s)", f.name, self.t.queue_url, f.binary, f.batch_size,
                 f.batching_window_secs)
        backoff = 1.0
        while not self.stop.is_set():
            try:
                batch = self.gather()
                if batch and not self.stop.is_set():
                    self.handle(batch)
                backoff = 1.0
            except Exception as e:  # moto restarting, a network blip: keep polling
                log.warning("%s: %s: %s (retrying in %.0f s)", f.name, type(e).__name__, e, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30)


def targets(template: Template, env: dict[str, str], sqs, only: list[str] | None = None) -> list[Target]:
    out = []
    for fam in template.families():
        if only and fam.name not in only:
            continue
        url = env.get(f"QUEUE_URL_{fam.key}")
        if not url:
            raise SystemExit(f"bridge: QUEUE_URL_{fam.key} is not in the stack env file")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        out.append(Target(fam, url, arn))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stack-env", type=pathlib.Path, required=True, help="the stack.env written by dev.py")
    p.add_argument("--lambda-endpoint", help="cargo lambda's invoke endpoint (default: LAMBDA_ENDPOINT from --stack-env)")
    p.add_argument("--retry-after", type=int, default=None,
                   help="make a failed message visible again after this many seconds instead of the queue's "
                        "visibility timeout")
    p.add_argument("--only", action="append", help="serve only this family (repeatable)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)

    env = read_env_file(args.stack_env)
    region = env["AWS_REGION"]
    session = boto3.Session(region_name=region, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    # Read timeout above the long poll; one connection per poller thread is plenty.
    sqs = session.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"],
                         config=Config(read_timeout=LONG_POLL_SECS + 10, retries={"max_attempts": 2},
                                       max_pool_connections=20))
    template = Template(stack_name=env.get("STACK_NAME", "jwh-dev"), region=region,
                        parameters=parameters_from_env(env))
    endpoint = args.lambda_endpoint or env["LAMBDA_ENDPOINT"]

    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pollers = [Poller(t, sqs, endpoint, region, args.retry_after, stop)
               for t in targets(template, env, sqs, args.only)]
    for poller in pollers:
        poller.start()
    log.info("bridge ready: %d families", len(pollers))
    while not stop.is_set():
        stop.wait(1)
    # Pollers are daemon threads: a long poll in flight is abandoned (its messages, if any, come back after the
    # visibility timeout); give an invocation in flight a moment to settle its batch.
    deadline = time.monotonic() + 2
    for poller in pollers:
        poller.join(timeout=max(0.0, deadline - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
