"""The local stack's parts against an in-process moto: the template reader (stack.py) creates what template.yaml
says, and the bridge (bridge.py) settles batches like Lambda's SQS event source mapping, with moto doing the
redrive to the dead-letter queue."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
import uuid

import pytest

import bridge
from stack import Template, function_environment, parameters_from_env, provision


def stack_name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


# --- the template reader ------------------------------------------------------------------------------------------


def test_families_come_from_the_queues_of_the_template():
    t = Template()
    families = {f.name: f for f in t.families()}
    raw = t.body["Resources"]
    consumed = {
        ev["Properties"]["Queue"]["Fn::GetAtt"][0]
        for lid, r in raw.items() if r["Type"] == "AWS::Serverless::Function" and t.included(lid)
        for ev in r["Properties"].get("Events", {}).values() if ev["Type"] == "SQS"
    }
    assert {f.queue for f in families.values()} == consumed
    for f in families.values():
        queue = raw[f.queue]["Properties"]
        assert f.dead_letter_queue == queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert f.max_receive_count == queue["RedrivePolicy"]["maxReceiveCount"]
        assert f.visibility_timeout_secs == queue["VisibilityTimeout"]
        assert f.binary == raw[f.processor]["Metadata"]["BuildProperties"]["Binary"]
        assert f.report_batch_item_failures
    assert families["catch-all"].key == "CATCH_ALL"


FETCH_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwh-test-junction-api-key"


def test_the_fetcher_is_a_family_only_with_an_api_key_secret(session):
    off = Template(stack_name=stack_name())
    assert "fetch" not in {f.name for f in off.families()}
    on = Template(stack_name=stack_name(), parameters=parameters_from_env({"JUNCTION_API_KEY_SECRET_ARN": FETCH_SECRET_ARN}))
    families = {f.name: f for f in on.families()}
    assert set(families) == {f.name for f in off.families()} | {"fetch"}
    fetch = families["fetch"]
    assert (fetch.key, fetch.queue, fetch.dead_letter_queue, fetch.processor, fetch.binary, fetch.batch_size) == \
        ("FETCH", "FetchQueue", "FetchDeadLetterQueue", "FetchFunction", "jwh-fetcher", 1)
    assert fetch.visibility_timeout_secs >= 6 * fetch.function_timeout_secs
    assert parameters_from_env({}) == {}
    # The processors that enqueue fetches name the fetch queue only when it exists, in one environment with the
    # fetcher's.
    provision(off, session)
    assert function_environment(off)["QUEUE_URL_FETCH"] == ""
    provision(on, session)
    env = function_environment(on)
    assert env["QUEUE_URL_FETCH"] == on.physical["FetchQueue"]["Ref"]
    assert env["JUNCTION_API_KEY_SECRET_ARN"] == FETCH_SECRET_ARN


def test_http_routes_are_the_webhook_and_the_read_api_with_one_environment(session):
    t = Template(stack_name=stack_name(), parameters={"DataPriority": "sleep=provider:oura+type:ring,watch;*=phone"})
    webhook = t.webhook_route()
    assert (webhook.function, webhook.binary, webhook.method, webhook.path, webhook.authorizer) == \
        ("IngestFunction", "jwh-ingest", "POST", "/webhooks/junction", None)
    api = t.data_api()
    assert (api.binary, api.prefix) == ("jwh-api", "/data")
    assert {(r.function, r.method, r.path, r.authorizer) for r in api.routes} == {
        ("DataApiFunction", "GET", "/data/{proxy+}", "AWS_IAM"),
        ("EraseFunction", "DELETE", "/data/users/{user_id}", "AWS_IAM"),
    }
    assert len(t.http_routes()) == 1 + len(api.routes)
    # The read API's two functions are one binary under cargo lambda watch: their environments merge, and the
    # DataPriority parameter reaches it (empty by default).
    provision(t, session)
    env = function_environment(t)
    assert (env["API_PREFIX"], env["DATA_PRIORITY"]) == ("/data", "sleep=provider:oura+type:ring,watch;*=phone")
    default = Template(stack_name=t.stack_name)
    provision(default, session)
    assert function_environment(default)["DATA_PRIORITY"] == ""


def test_provision_creates_what_the_template_says(session):
    t = Template(stack_name=stack_name())
    provision(t, session)
    sqs, ddb = session.client("sqs"), session.client("dynamodb")
    for f in t.families():
        attrs = sqs.get_queue_attributes(QueueUrl=t.physical[f.queue]["Ref"], AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == str(f.visibility_timeout_secs)
        assert json.loads(attrs["RedrivePolicy"]) == {
            "deadLetterTargetArn": t.physical[f.dead_letter_queue]["Arn"],
            "maxReceiveCount": f.max_receive_count,
        }
        dlq = sqs.get_queue_attributes(QueueUrl=t.physical[f.dead_letter_queue]["Ref"],
                                       AttributeNames=["MessageRetentionPeriod"])["Attributes"]
        assert dlq["MessageRetentionPeriod"] == "1209600"
    env = function_environment(t)
    table = ddb.describe_table(TableName=env["TABLE_NAME"])["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    ttl = ddb.describe_time_to_live(TableName=env["TABLE_NAME"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    session.client("s3").head_bucket(Bucket=env["PAYLOAD_BUCKET"])
    secret = session.client("secretsmanager").get_secret_value(SecretId=env["WEBHOOK_SECRET_ARN"])
    assert json.loads(secret["SecretString"]) == ["whsec_REPLACE_ME"]
    assert {f"QUEUE_URL_{f.key}" for f in t.families()} <= set(env)
    # Re-running against the same moto changes nothing and fails nothing.
    provision(Template(stack_name=t.stack_name), session)


# --- the bridge -----------------------------------------------------------------------------------------------------


def test_settle_follows_lambdas_partial_batch_rules():
    ids = ["a", "b", "c"]
    assert bridge.settle(ids, {"batchItemFailures": []}, True) == ({"a", "b", "c"}, None)
    assert bridge.settle(ids, None, True) == ({"a", "b", "c"}, None)
    assert bridge.settle(ids, {"batchItemFailures": [{"itemIdentifier": "b"}]}, True) == ({"a", "c"}, "1 failed")
    # An id that is not in the batch, or an empty one, fails the whole batch.
    assert bridge.settle(ids, {"batchItemFailures": [{"itemIdentifier": "zz"}]}, True)[0] == set()
    assert bridge.settle(ids, {"batchItemFailures": [{"itemIdentifier": ""}]}, True)[0] == set()
    assert bridge.settle(ids, "nonsense", True)[0] == set()
    # Without ReportBatchItemFailures, a successful invocation deletes everything.
    assert bridge.settle(ids, {"batchItemFailures": [{"itemIdentifier": "b"}]}, False)[0] == set(ids)


class FakeLambda:
    """cargo lambda's invoke API with a processor that fails records whose body says "fail", and errors out on a
    batch holding "crash"."""

    def __init__(self):
        self.events: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.events.append(event)
                bodies = [r["body"] for r in event["Records"]]
                if "crash" in bodies:
                    status, out = 500, {"errorType": "Panic", "errorMessage": "boom"}
                else:
                    status, out = 200, {"batchItemFailures": [
                        {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def fake_lambda():
    fake = FakeLambda()
    yield fake
    fake.close()


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def counts(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_bridge_deletes_successes_retries_failures_and_moto_redrives_them(session, fake_lambda):
    t = Template(stack_name=stack_name())
    provision(t, session)
    family = next(f for f in t.families() if f.name == "lab")
    # No batching window: each retry cycle then takes the retry delay only.
    family = dataclasses.replace(family, batching_window_secs=0)
    sqs = session.client("sqs")
    url, dlq = t.physical[family.queue]["Ref"], t.physical[family.dead_letter_queue]["Ref"]
    sent = {}
    for body in ["ok-1", "fail", "ok-2"]:
        attrs = {"svix-id": {"DataType": "String", "StringValue": f"msg_{body}"}}
        sent[body] = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)["MessageId"]

    stop = threading.Event()
    target = bridge.Target(family, url, t.physical[family.queue]["Arn"])
    poller = bridge.Poller(target, sqs, fake_lambda.url, "us-east-1", retry_after=0, stop=stop, long_poll_secs=1)
    poller.start()
    try:
        # The failed message is received maxReceiveCount times, then moto moves it on the next receive.
        dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                                    AttributeNames=["All"]).get("Messages"))
        assert [m["MessageId"] for m in dead] == [sent["fail"]]
        assert counts(sqs, url) == (0, 0)
    finally:
        stop.set()
        poller.join(timeout=30)

    first = fake_lambda.events[0]
    assert sorted(r["body"] for r in first["Records"]) == ["fail", "ok-1", "ok-2"]
    record = next(r for r in first["Records"] if r["body"] == "fail")
    assert record["messageId"] == sent["fail"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == t.physical[family.queue]["Arn"]
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "svix-id": {"stringValue": "msg_fail", "stringListValues": [], "binaryListValues": [], "dataType": "String"}}
    # The two successes were deleted after the first batch; only the failure came back, maxReceiveCount times.
    retried = [[r["body"] for r in e["Records"]] for e in fake_lambda.events[1:]]
    assert retried == [["fail"]] * (family.max_receive_count - 1)
    receive_counts = [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in fake_lambda.events]
    assert receive_counts == [str(n) for n in range(1, family.max_receive_count + 1)]


def test_an_invocation_error_deletes_nothing(session, fake_lambda):
    t = Template(stack_name=stack_name())
    provision(t, session)
    family = next(f for f in t.families() if f.name == "connections")
    sqs = session.client("sqs")
    url = t.physical[family.queue]["Ref"]
    for body in ["ok", "crash"]:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    poller = bridge.Poller(bridge.Target(family, url, t.physical[family.queue]["Arn"]), sqs, fake_lambda.url,
                           "us-east-1", retry_after=None, stop=threading.Event(), long_poll_secs=1)
    batch = wait_for(lambda: poller.gather())
    while len(batch) < 2:
        batch += poller.receive(10, 1)
    poller.handle(batch)
    # Both are in flight until the queue's visibility timeout (no --retry-after): nothing was deleted.
    assert counts(sqs, url) == (0, 2)
