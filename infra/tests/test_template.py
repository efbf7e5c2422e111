"""Structural checks of template.yaml: the promises the linters cannot see.

cfn-lint and `sam validate --lint` check that the template is valid CloudFormation; these tests check that it is
the stack we mean: one queue, dead-letter queue and processor per family wired the same way, the names the Rust
code relies on, arm64 Rust builds for every function, one open route (the webhook, which Svix signs) and the read
side's routes under /data behind IAM, and IAM that grants each function only its own data.
The template is read with cfn-lint's decoder so that short-form intrinsics (!Ref, !Sub, !GetAtt) parse.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
import tomllib

import pytest
from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

# The names contract shared with the Rust code: family -> (processor logical id, binary, crate directory).
FAMILIES = {
    "Connections": ("ConnectionsProcessor", "jwh-connections", "functions/connections"),
    "Backfills": ("BackfillsProcessor", "jwh-backfills", "functions/backfills"),
    "Summaries": ("SummariesProcessor", "jwh-summaries", "functions/summaries"),
    "Timeseries": ("TimeseriesProcessor", "jwh-timeseries", "functions/timeseries"),
    "Lab": ("LabProcessor", "jwh-lab", "functions/lab"),
    "CatchAll": ("CatchAllProcessor", "jwh-catch-all", "functions/catch-all"),
}
# The backfill fetcher: deployed only with a Junction API key (condition FetchEnabled).
FETCHER = ("FetchFunction", "jwh-fetcher", "functions/fetcher")
FETCH_CONDITION = "FetchEnabled"
# The read side: one binary (jwh-api) deployed as two functions, each on one IAM-authorized route under the prefix:
# logical id -> (method, path).
DATA_API_BINARY = ("jwh-api", "functions/api")
DATA_API_PREFIX = "/data"
READ_SIDE = {
    "DataApiFunction": ("GET", "/data/{proxy+}"),
    "EraseFunction": ("DELETE", "/data/users/{user_id}"),
}
FUNCTIONS = {
    "IngestFunction": ("jwh-ingest", "functions/ingest"),
    **{proc: (binary, crate) for proc, binary, crate in FAMILIES.values()},
    FETCHER[0]: FETCHER[1:],
    **{logical_id: DATA_API_BINARY for logical_id in READ_SIDE},
}
WEBHOOK_ROUTE = ("POST", "/webhooks/junction")
# The families whose events call for a fetch: their processors get the fetch queue's URL, and may send to it,
# only when the fetcher is deployed.
FETCH_TRIGGERS = ("Backfills", "Summaries")
FETCH_QUEUE_ENV = {"QUEUE_URL_FETCH": {"Fn::If": [FETCH_CONDITION, {"Ref": "FetchQueue"}, ""]}}
INGEST_ENV = {
    "QUEUE_URL_CONNECTIONS": {"Ref": "ConnectionsQueue"},
    "QUEUE_URL_BACKFILLS": {"Ref": "BackfillsQueue"},
    "QUEUE_URL_SUMMARIES": {"Ref": "SummariesQueue"},
    "QUEUE_URL_TIMESERIES": {"Ref": "TimeseriesQueue"},
    "QUEUE_URL_LAB": {"Ref": "LabQueue"},
    "QUEUE_URL_CATCH_ALL": {"Ref": "CatchAllQueue"},
    "PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
    "WEBHOOK_SECRET_ARN": {"Fn::If": ["CreateWebhookSecret", {"Ref": "WebhookSecret"}, {"Ref": "WebhookSecretArn"}]},
    "MAX_BODY_BYTES": "6000000",
    "SIGNATURE_TOLERANCE_SECS": "300",
}
PROCESSOR_ENV = {
    "TABLE_NAME": {"Ref": "RecordsTable"},
    "PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
    "IDEMPOTENCY_TTL_DAYS": {"Ref": "IdempotencyTtlDays"},
    "BATCH_CONCURRENCY": "8",
}
PROCESSOR_TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
}
# Services whose actions read or write the stack's data: these must name their resources.
DATA_PLANE_SERVICES = {"sqs", "dynamodb", "s3", "secretsmanager", "kms", "sns"}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
PAYLOADS = {"Fn::Sub": "${PayloadBucket.Arn}/payloads/*"}
TABLE = {"Fn::GetAtt": ["RecordsTable", "Arn"]}
BY_DAY_INDEX = {"Fn::Sub": "${RecordsTable.Arn}/index/by_day"}
# The read side's environment: the same binary in both functions, so the same names (DATA_PRIORITY for reads only).
ERASE_ENV = {
    "TABLE_NAME": {"Ref": "RecordsTable"},
    "PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
    "API_PREFIX": DATA_API_PREFIX,
}
DATA_API_ENV = {**ERASE_ENV, "DATA_PRIORITY": {"Ref": "DataPriority"}}
# API Gateway gives an integration 30 s at most (HTTP APIs): an HTTP function must time out first.
API_INTEGRATION_TIMEOUT_SECS = 30


# --- loading -----------------------------------------------------------------------------------------------------


def _plain(value):
    """cfn-lint's decoder returns str/dict/list subclasses that carry line numbers; compare as plain data."""
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def template() -> dict:
    decoded, matches = decode(str(TEMPLATE_PATH))
    assert not matches, [str(m) for m in matches]
    return _plain(decoded)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def _merge(global_value, local_value):
    """SAM's Globals rule: maps merge key by key, lists concatenate, anything else is replaced by the local value.

    An intrinsic function (a one-key map such as {"Ref": ...}) is a value, not a map to merge into.
    """
    is_map = lambda v: isinstance(v, dict) and not (len(v) == 1 and next(iter(v)).startswith(("Ref", "Fn::")))
    if is_map(global_value) and is_map(local_value):
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = _merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return copy.deepcopy(local_value)


@pytest.fixture(scope="module")
def functions(template, resources) -> dict:
    """Every AWS::Serverless::Function with Globals.Function applied, as SAM deploys it."""
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        key: {**value, "Properties": _merge(globals_, value.get("Properties", {}))}
        for key, value in resources.items()
        if value["Type"] == "AWS::Serverless::Function"
    }


def _ref(value) -> str | None:
    """The logical id a Ref or GetAtt names, or None."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return (target.split(".") if isinstance(target, str) else target)[0]
    return None


def _getatt(value) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
        return logical_id, attribute
    return None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(role: dict) -> list[dict]:
    """The role's statements as deployed with every condition true (a conditional statement is its true branch)."""
    out = []
    for policy in role["Properties"].get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if "Fn::If" in statement:
                _, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
            out.append(statement)
    return out


def _role_of(function: dict, resources: dict) -> tuple[str, dict]:
    role_id = _ref(function["Properties"].get("Role"))
    assert role_id in resources, "every function has an explicit role from this template"
    return role_id, resources[role_id]


# --- functions ---------------------------------------------------------------------------------------------------


def test_functions_are_exactly_the_names_contract(functions):
    assert set(functions) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_is_an_arm64_rust_build(functions, logical_id):
    function = functions[logical_id]
    properties = function["Properties"]
    binary, crate = FUNCTIONS[logical_id]
    assert properties["Runtime"] == "provided.al2023"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "bootstrap"
    assert function["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert function["Metadata"]["BuildProperties"]["Binary"] == binary
    assert properties["CodeUri"] == crate


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_crate_builds_the_named_binary(logical_id):
    # cargo-lambda is run in CodeUri with `--bin <Binary>`: the crate there must define exactly that binary.
    binary, crate = FUNCTIONS[logical_id]
    manifest = tomllib.loads((ROOT / crate / "Cargo.toml").read_text())
    assert manifest["package"]["name"] == binary
    bins = [target["name"] for target in manifest.get("bin", [])] or [manifest["package"]["name"]]
    assert bins == [binary]


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_logs_json_to_its_own_log_group_with_retention(functions, resources, logical_id):
    properties = functions[logical_id]["Properties"]
    logging = properties["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert logging["SystemLogLevel"] == {"Ref": "SystemLogLevel"}
    log_group_id = _ref(logging["LogGroup"])
    log_group = resources[log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0
    assert properties["Tracing"] == {"Ref": "Tracing"}
    other_users = [k for k, f in functions.items() if k != logical_id and f["Properties"]["LoggingConfig"]["LogGroup"] == logging["LogGroup"]]
    assert not other_users, "one log group per function"


def test_ingest_function_settings(functions):
    properties = functions["IngestFunction"]["Properties"]
    assert properties["Timeout"] == 10
    assert properties["MemorySize"] == 256
    assert properties["Environment"]["Variables"] == INGEST_ENV


def test_ingest_serves_one_post_route_on_the_http_api(functions, resources, template):
    events = functions["IngestFunction"]["Properties"]["Events"]
    assert [event["Type"] for event in events.values()] == ["HttpApi"]
    route = next(iter(events.values()))["Properties"]
    assert (route["Method"], route["Path"]) == WEBHOOK_ROUTE
    assert _ref(route["ApiId"]) == "WebhookApi"
    # Open to the internet: Junction cannot sign for IAM; the Svix signature is the check.
    assert "Auth" not in route

    api = resources["WebhookApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    throttling = api["Properties"]["DefaultRouteSettings"]
    # Capacity is the deployer's to set: the throttle comes from parameters, with the old fixed figures as defaults.
    assert throttling == {"ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
                          "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"}}
    parameters = template["Parameters"]
    assert (parameters["ApiThrottleRate"]["Default"], parameters["ApiThrottleBurst"]["Default"]) == (100, 200)
    assert parameters["ApiThrottleRate"]["MinValue"] >= 1 and parameters["ApiThrottleBurst"]["MinValue"] >= 1
    # Access logs are optional (ApiAccessLogs): the settings and their log group exist under one condition.
    condition, access_logs, otherwise = api["Properties"]["AccessLogSettings"]["Fn::If"]
    assert condition == "HasApiAccessLogs"
    assert otherwise == {"Ref": "AWS::NoValue"}
    access_log_group = resources[_ref(access_logs["DestinationArn"])]
    assert access_log_group["Condition"] == "HasApiAccessLogs"
    assert access_log_group["Properties"]["RetentionInDays"] > 0
    fields = json.loads(access_logs["Format"])
    assert {"requestId", "status", "routeKey"} <= set(fields)
    assert not any("header" in str(value).lower() for value in fields.values()), "no headers: they carry signatures"
    # The IAM authorizer is there for the routes that ask for it; no default puts it (or anything) on the webhook.
    assert api["Properties"]["Auth"] == {"EnableIamAuthorizer": True}
    # No other function is reachable from the internet without IAM: the processors only through their queues, the
    # read side only through IAM-authorized routes (checked below).
    for logical_id, function in functions.items():
        if logical_id == "IngestFunction":
            continue
        kinds = {e["Type"] for e in function["Properties"]["Events"].values()}
        assert kinds == ({"HttpApi"} if logical_id in READ_SIDE else {"SQS"}), logical_id


# --- the read side: the data API and erasure ---------------------------------------------------------------------


def _http_routes(functions) -> dict[tuple[str, str], tuple[str, dict]]:
    """(method, path) -> (logical id, event properties) of every HTTP API route of the template."""
    routes = {}
    for logical_id, function in functions.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] in ("HttpApi", "Api"):
                p = event["Properties"]
                key = (p.get("Method", "ANY").upper(), p["Path"])
                assert key not in routes, f"{key} is served twice"
                routes[key] = (logical_id, p)
    return routes


def test_routes_are_the_webhook_and_iam_authorized_routes_under_the_prefix(functions):
    routes = _http_routes(functions)
    assert set(routes) == {WEBHOOK_ROUTE} | set(READ_SIDE.values())
    for (method, path), (logical_id, route) in routes.items():
        assert _ref(route["ApiId"]) == "WebhookApi"
        assert route["PayloadFormatVersion"] == "2.0"
        if path.startswith(DATA_API_PREFIX + "/"):
            assert READ_SIDE[logical_id] == (method, path)
            assert route["Auth"] == {"Authorizer": "AWS_IAM"}, f"{method} {path} without IAM"
        else:
            assert (logical_id, (method, path)) == ("IngestFunction", WEBHOOK_ROUTE)
            assert "Auth" not in route


def _sam_transform(template: dict) -> dict:
    """The template as the SAM transform turns it into CloudFormation (what `sam validate` checks), with each local
    CodeUri replaced by an S3 location as `sam validate` does."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    body = copy.deepcopy(template)
    for resource in body["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://bucket/{resource['Properties']['CodeUri']}"
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    return translator.translate(body, parameter_values={})


def test_after_the_sam_transform_every_data_route_needs_sigv4_and_the_webhook_nothing(template):
    # SAM writes an HTTP API's routes as an OpenAPI body: API Gateway makes a route whose security names an
    # awsSigv4 scheme an AWS_IAM route, and a route with no security an open one (AuthorizationType NONE).
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html
    api = _sam_transform(template)["Resources"]["WebhookApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    openapi = api["Properties"]["Body"]
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    routes = {(method.upper(), path): op for path, ops in openapi["paths"].items() for method, op in ops.items()}
    assert set(routes) == {WEBHOOK_ROUTE} | set(READ_SIDE.values())
    for (method, path), op in routes.items():
        if path.startswith(DATA_API_PREFIX + "/"):
            assert op["security"] == [{"AWS_IAM": []}], f"{method} {path}"
        else:
            assert "security" not in op, f"{method} {path} must stay open"
    assert "security" not in openapi, "no API-wide default"


@pytest.mark.parametrize("logical_id", sorted(READ_SIDE))
def test_read_side_function_settings(functions, logical_id):
    properties = functions[logical_id]["Properties"]
    assert properties["Timeout"] < API_INTEGRATION_TIMEOUT_SECS
    # Reads serve pages of up to 5,000 samples: more memory, more CPU; erasure waits on DynamoDB and S3.
    assert properties["MemorySize"] == (1024 if logical_id == "DataApiFunction" else 256)
    expected = DATA_API_ENV if logical_id == "DataApiFunction" else ERASE_ENV
    assert properties["Environment"]["Variables"] == expected
    # The prefix the binary strips is the one its route is under.
    _, path = READ_SIDE[logical_id]
    assert path.startswith(properties["Environment"]["Variables"]["API_PREFIX"] + "/")


def test_data_priority_parameter(template):
    parameter = template["Parameters"]["DataPriority"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == "", "empty: the default order of jwh_shared::resolve"
    # The description documents the format, with an example.
    for part in ("resource=order", ";", "provider:oura+type:ring", '"*"'):
        assert part in parameter["Description"], part


def test_data_api_role_reads_only_the_table_and_its_by_day_index(functions, resources):
    _, role = _role_of(functions["DataApiFunction"], resources)
    grants = _grants(role)
    log_group = {"Fn::GetAtt": [_ref(functions["DataApiFunction"]["Properties"]["LoggingConfig"]["LogGroup"]), "Arn"]}
    assert grants == {
        "logs:CreateLogStream": [log_group],
        "logs:PutLogEvents": [log_group],
        "dynamodb:Query": [TABLE, BY_DAY_INDEX],
        "dynamodb:GetItem": [TABLE],
        "dynamodb:BatchGetItem": [TABLE],
    }
    for action in grants:
        assert not re.search(r"Put(?!LogEvents)|Update|Delete|Write|Batch(?!GetItem)", action), f"{action} is not a read"
    indexes = [i["IndexName"] for i in resources["RecordsTable"]["Properties"]["GlobalSecondaryIndexes"]]
    assert BY_DAY_INDEX["Fn::Sub"].rsplit("/", 1)[1] in indexes


# Erasure's SDK calls (jwh_shared::erase) and the IAM action each needs.
ERASE_SOURCE = ROOT / "shared" / "src" / "erase.rs"
SDK_CALL_ACTIONS = {
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "get_item": "dynamodb:GetItem",
    "batch_get_item": "dynamodb:BatchGetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "list_objects_v2": "s3:ListBucket",
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_object": "s3:DeleteObject",
    "delete_objects": "s3:DeleteObject",
}


def test_erase_role_grants_exactly_what_erasure_calls(functions, resources):
    _, role = _role_of(functions["EraseFunction"], resources)
    grants = _grants(role)
    log_group = {"Fn::GetAtt": [_ref(functions["EraseFunction"]["Properties"]["LoggingConfig"]["LogGroup"]), "Arn"]}
    assert grants == {
        "logs:CreateLogStream": [log_group],
        "logs:PutLogEvents": [log_group],
        "dynamodb:Query": [TABLE],
        "dynamodb:BatchWriteItem": [TABLE],
        "s3:ListBucket": [{"Fn::GetAtt": ["PayloadBucket", "Arn"]}],
        "s3:GetObject": [PAYLOADS],
        "s3:DeleteObject": [PAYLOADS],
    }
    assert not any(action.startswith(("sqs:", "secretsmanager:", "kms:")) for action in grants)
    # Listing is limited to the claim-check prefix.
    (listing,) = [s for s in _statements(role) if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "payloads/*"}}
    # The role follows the code: every SDK call of jwh_shared::erase, and nothing it does not make.
    source = re.sub(r"#\[cfg\(test\)\].*", "", ERASE_SOURCE.read_text(), flags=re.S)
    calls = set(re.findall(r"\.(" + "|".join(SDK_CALL_ACTIONS) + r")\(\)", source))
    assert {SDK_CALL_ACTIONS[c] for c in calls} == {a for a in grants if not a.startswith("logs:")}


def test_http_functions_write_no_records_and_only_erasure_deletes(functions, resources):
    for logical_id, function in functions.items():
        actions = set(_grants(_role_of(function, resources)[1]))
        if logical_id != "EraseFunction":
            assert not {"s3:DeleteObject", "s3:ListBucket"} & actions, logical_id
        if logical_id in READ_SIDE or logical_id == "IngestFunction":
            writes = {a for a in actions if a.startswith("dynamodb:") and re.search(r"Put|Update|Write|Delete", a)}
            assert writes == ({"dynamodb:BatchWriteItem"} if logical_id == "EraseFunction" else set()), logical_id


# --- queue families ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_queue_redrives_to_its_dead_letter_queue(resources, family):
    queue = resources[f"{family}Queue"]
    dlq = resources[f"{family}DeadLetterQueue"]
    assert queue["Type"] == dlq["Type"] == "AWS::SQS::Queue"
    redrive = queue["Properties"]["RedrivePolicy"]
    assert _getatt(redrive["deadLetterTargetArn"]) == (f"{family}DeadLetterQueue", "Arn")
    assert redrive["maxReceiveCount"] == 5
    assert "RedrivePolicy" not in dlq["Properties"]
    assert dlq["Properties"]["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS
    for q in (queue, dlq):
        assert q["Properties"]["MaximumMessageSize"] == 1048576
        assert q["Properties"]["SqsManagedSseEnabled"] is True
        assert "QueueName" not in q["Properties"], "queue names come from the stack name"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_processor_consumes_its_queue_with_partial_batch_failures(functions, template, family):
    processor_id, _, _ = FAMILIES[family]
    properties = functions[processor_id]["Properties"]
    events = list(properties["Events"].values())
    assert len(events) == 1, "one event source per processor"
    event = events[0]
    assert event["Type"] == "SQS"
    source = event["Properties"]
    assert _getatt(source["Queue"]) == (f"{family}Queue", "Arn")
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BatchSize"] == 10
    assert source["MaximumBatchingWindowInSeconds"] == 2
    assert "FilterCriteria" not in source, "a filtered-out message is deleted unseen; route in the ingest function"
    concurrency = source["ScalingConfig"]["MaximumConcurrency"]
    assert concurrency == {"Ref": f"{family}MaxConcurrency"}
    assert template["Parameters"][f"{family}MaxConcurrency"]["MinValue"] >= 2

    assert properties["Timeout"] == 60
    assert properties["MemorySize"] == 256
    fetch_env = FETCH_QUEUE_ENV if family in FETCH_TRIGGERS else {}
    assert properties["Environment"]["Variables"] == {**PROCESSOR_ENV, **fetch_env}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_visibility_timeout_covers_six_processor_timeouts(functions, resources, family):
    # AWS: set the source queue's visibility timeout to at least six times the function timeout plus
    # MaximumBatchingWindowInSeconds, so retries of a throttled batch do not make messages visible again early.
    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    processor_id, _, _ = FAMILIES[family]
    properties = functions[processor_id]["Properties"]
    window = next(iter(properties["Events"].values()))["Properties"]["MaximumBatchingWindowInSeconds"]
    visibility = resources[f"{family}Queue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * properties["Timeout"] + window


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_has_alarms_on_dead_letters_age_and_errors(resources, family):
    processor_id, _, _ = FAMILIES[family]
    alarms = {
        (a["Properties"]["MetricName"], _ref(a["Properties"]["Dimensions"][0]["Value"]))
        for a in resources.values()
        if a["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert ("ApproximateNumberOfMessagesVisible", f"{family}DeadLetterQueue") in alarms
    assert ("ApproximateAgeOfOldestMessage", f"{family}Queue") in alarms
    assert ("Errors", processor_id) in alarms


def test_dead_letter_alarms_fire_on_the_first_message(resources):
    dlq_alarms = [
        a["Properties"]
        for a in resources.values()
        if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(dlq_alarms) == len(FAMILIES) + 1  # and the fetcher's
    for alarm in dlq_alarms:
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == 1


def test_every_function_is_watched_by_an_alarm(functions, resources):
    # A processor's or the fetcher's failed invocations: its Lambda Errors alarm. An HTTP function's error or
    # timeout is a 5xx of the API in front of it: the API's 5xx alarm.
    watched = {
        (a["Properties"]["MetricName"], _ref(a["Properties"]["Dimensions"][0]["Value"]))
        for a in resources.values()
        if a["Type"] == "AWS::CloudWatch::Alarm"
    }
    for logical_id, function in functions.items():
        apis = {_ref(e["Properties"]["ApiId"]) for e in function["Properties"]["Events"].values() if e["Type"] == "HttpApi"}
        if apis:
            assert {("5xx", api) for api in apis} <= watched, logical_id
        else:
            assert ("Errors", logical_id) in watched, logical_id


def test_every_alarm_notifies_the_alarm_topic(resources):
    alarms = [a for a in resources.values() if a["Type"] == "AWS::CloudWatch::Alarm"]
    # Families, the fetcher, the API's 5xx; and with Ingress=FunctionUrl the function URL's 5xx and throttles.
    assert len(alarms) == 3 * (len(FAMILIES) + 1) + 1 + 2
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    api_5xx = [a for a in alarms if a["Properties"]["MetricName"] == "5xx"]
    assert len(api_5xx) == 1 and _ref(api_5xx[0]["Properties"]["Dimensions"][0]["Value"]) == "WebhookApi"


def test_alarm_email_subscription_is_optional(template, resources):
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_dashboard_shows_every_queue_dlq_and_function(resources, functions):
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for family in FAMILIES:
        assert f"${{{family}Queue.QueueName}}" in body
        assert f"${{{family}DeadLetterQueue.QueueName}}" in body
    for logical_id, function in functions.items():
        if function.get("Condition"):
            continue  # a conditional resource cannot appear in the dashboard's !Sub; its alarms watch it
        assert f"${{{logical_id}}}" in body
    for metric in ('"Count"', '"4xx"', '"5xx"', '"Duration"', '"ApproximateAgeOfOldestMessage"'):
        assert metric in body
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))


# --- IAM ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_role_is_explicit_and_has_no_wildcards_on_data(functions, resources, logical_id):
    properties = functions[logical_id]["Properties"]
    # SAM would add AWSLambdaSQSQueueExecutionRole (SQS actions on every queue) to a role it generates.
    assert "Policies" not in properties, "policies belong on the explicit role"
    _, role = _role_of(functions[logical_id], resources)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    managed = role["Properties"].get("ManagedPolicyArns", [])
    assert managed == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}]
    for statement in _statements(role):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{logical_id}: wildcard action {action}"
            if action.split(":")[0] in DATA_PLANE_SERVICES:
                for resource in _as_list(statement["Resource"]):
                    assert resource != "*", f"{logical_id}: {action} on every resource"
                    assert not (isinstance(resource, str) and resource.endswith(":*")), resource


def _grants(role: dict) -> dict[str, list]:
    """action -> resources it is allowed on."""
    grants: dict[str, list] = {}
    for statement in _statements(role):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return grants


def test_ingest_role_grants_only_enqueue_payload_writes_and_the_secret(functions, resources):
    _, role = _role_of(functions["IngestFunction"], resources)
    grants = _grants(role)
    log_group = functions["IngestFunction"]["Properties"]["LoggingConfig"]["LogGroup"]
    assert grants == {
        "logs:CreateLogStream": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "sqs:SendMessage": [{"Fn::GetAtt": [f"{family}Queue", "Arn"]} for family in FAMILIES],
        "s3:PutObject": [PAYLOADS],
        "secretsmanager:GetSecretValue": [INGEST_ENV["WEBHOOK_SECRET_ARN"]],
    }


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_processor_role_grants_only_its_queue_the_table_and_payload_reads(functions, resources, family):
    processor_id, _, _ = FAMILIES[family]
    _, role = _role_of(functions[processor_id], resources)
    grants = _grants(role)
    log_group = functions[processor_id]["Properties"]["LoggingConfig"]["LogGroup"]
    own_queue = [{"Fn::GetAtt": [f"{family}Queue", "Arn"]}]
    expected = {
        "logs:CreateLogStream": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "sqs:ReceiveMessage": own_queue,
        "sqs:DeleteMessage": own_queue,
        "sqs:GetQueueAttributes": own_queue,
        "sqs:ChangeMessageVisibility": own_queue,
        **{action: [{"Fn::GetAtt": ["RecordsTable", "Arn"]}] for action in PROCESSOR_TABLE_ACTIONS},
        "s3:GetObject": [PAYLOADS],
    }
    if family in FETCH_TRIGGERS:
        expected["sqs:SendMessage"] = [{"Fn::GetAtt": ["FetchQueue", "Arn"]}]
    assert grants == expected


def test_only_fetch_triggers_may_send_to_the_fetch_queue_and_only_when_it_exists(functions, resources):
    for family, (processor_id, _, _) in FAMILIES.items():
        _, role = _role_of(functions[processor_id], resources)
        conditional = [
            s["Fn::If"] for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"] if "Fn::If" in s
        ]
        if family in FETCH_TRIGGERS:
            assert [c[0] for c in conditional] == [FETCH_CONDITION]
            assert conditional[0][1]["Action"] == "sqs:SendMessage"
        else:
            assert conditional == []


# --- the backfill fetcher ----------------------------------------------------------------------------------------


def test_fetcher_exists_only_with_an_api_key(template, resources):
    assert template["Conditions"][FETCH_CONDITION] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JunctionApiKeySecretArn"}, ""]}]
    }
    parameters = template["Parameters"]
    assert parameters["JunctionApiKeySecretArn"]["Default"] == ""
    assert parameters["JunctionApiEnvironment"]["AllowedValues"] == [
        "production-us", "production-eu", "sandbox-us", "sandbox-eu"
    ]
    assert parameters["FetchMaxConcurrency"]["MinValue"] >= 2
    fetch_ids = {"FetchQueue", "FetchDeadLetterQueue", "FetchFunction", "FetchLogGroup", "FetchFunctionRole",
                 "FetchDeadLetterAlarm", "FetchAgeAlarm", "FetchErrorsAlarm"}
    referring = {lid for lid, r in resources.items() if "Fetch" in json.dumps(r.get("Properties", {}))
                 and lid not in fetch_ids}
    # Outside the fetcher's own resources, only the two triggering processors and their roles name it, each under
    # the condition (checked above and below).
    assert referring == {f"{f}Processor" for f in FETCH_TRIGGERS} | {f"{f}ProcessorRole" for f in FETCH_TRIGGERS}
    for lid in fetch_ids:
        assert resources[lid]["Condition"] == FETCH_CONDITION, lid
    outputs = template["Outputs"]
    assert outputs["FetchQueueUrl"] == {"Condition": FETCH_CONDITION, "Description": outputs["FetchQueueUrl"]["Description"],
                                        "Value": {"Ref": "FetchQueue"}}
    assert outputs["FetchDeadLetterQueueUrl"]["Value"] == {"Ref": "FetchDeadLetterQueue"}


def test_fetcher_consumes_its_queue_one_page_at_a_time(functions, resources):
    properties = functions["FetchFunction"]["Properties"]
    (event,) = properties["Events"].values()
    assert event["Type"] == "SQS"
    source = event["Properties"]
    assert _getatt(source["Queue"]) == ("FetchQueue", "Arn")
    assert source["BatchSize"] == 1
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "FetchMaxConcurrency"}
    assert properties["Timeout"] == 120
    queue, dlq = resources["FetchQueue"]["Properties"], resources["FetchDeadLetterQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * properties["Timeout"] + source.get("MaximumBatchingWindowInSeconds", 0)
    assert _getatt(queue["RedrivePolicy"]["deadLetterTargetArn"]) == ("FetchDeadLetterQueue", "Arn")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert dlq["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS
    env = properties["Environment"]["Variables"]
    assert env["QUEUE_URL_FETCH"] == {"Ref": "FetchQueue"}
    assert env["TABLE_NAME"] == {"Ref": "RecordsTable"}
    assert env["JUNCTION_API_KEY_SECRET_ARN"] == {"Ref": "JunctionApiKeySecretArn"}
    assert env["JUNCTION_API_ENVIRONMENT"] == {"Ref": "JunctionApiEnvironment"}
    assert "JUNCTION_API_KEY" not in env and "JUNCTION_API_BASE_URL" not in env, "the key only through the secret"
    # The retries' waiting fits the timeout with room for the requests themselves.
    assert int(env["FETCH_RETRY_BUDGET_SECS"]) + 2 * int(env["FETCH_REQUEST_TIMEOUT_SECS"]) < properties["Timeout"]


def test_fetcher_role_grants_its_queue_the_table_and_the_one_secret(functions, resources):
    _, role = _role_of(functions["FetchFunction"], resources)
    log_group = functions["FetchFunction"]["Properties"]["LoggingConfig"]["LogGroup"]
    own_queue = [{"Fn::GetAtt": ["FetchQueue", "Arn"]}]
    table = [{"Fn::GetAtt": ["RecordsTable", "Arn"]}]
    assert _grants(role) == {
        "logs:CreateLogStream": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": [_ref(log_group), "Arn"]}],
        "sqs:ReceiveMessage": own_queue,
        "sqs:DeleteMessage": own_queue,
        "sqs:GetQueueAttributes": own_queue,
        "sqs:ChangeMessageVisibility": own_queue,
        "sqs:SendMessage": own_queue,
        "dynamodb:GetItem": table,
        "dynamodb:PutItem": table,
        "dynamodb:UpdateItem": table,
        "secretsmanager:GetSecretValue": [{"Ref": "JunctionApiKeySecretArn"}],
    }


def test_roles_are_not_shared(functions, resources):
    roles = [_role_of(function, resources)[0] for function in functions.values()]
    assert len(set(roles)) == len(roles)


# --- shared state ------------------------------------------------------------------------------------------------


def test_records_table(template, resources):
    table = resources["RecordsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "day", "AttributeType": "S"},
    ]
    # One keys-only index of summaries by date (no local index: they cap a partition at 10 GB).
    assert table["GlobalSecondaryIndexes"] == [{
        "IndexName": "by_day",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "day", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }]
    assert "LocalSecondaryIndexes" not in table
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTable", True, False]}
    assert template["Conditions"]["ProtectTable"] == {"Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]}
    assert "TableName" not in table


def test_payload_bucket_is_private_encrypted_tls_only_and_expires(resources):
    bucket = resources["PayloadBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    expiry = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert len(expiry) == 1 and expiry[0]["Status"] == "Enabled"
    assert expiry[0].get("Prefix", "") in ("", "payloads/")
    # A message can wait 14 days in a dead-letter queue; its payload must outlive it.
    assert expiry[0]["ExpirationInDays"] * 24 * 3600 > DLQ_RETENTION_SECONDS

    policy = resources["PayloadBucketPolicy"]["Properties"]
    assert _ref(policy["Bucket"]) == "PayloadBucket"
    assert {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": ["PayloadBucket", "Arn"]}, {"Fn::Sub": "${PayloadBucket.Arn}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in policy["PolicyDocument"]["Statement"]


def test_webhook_secret_is_created_only_without_an_arn_and_holds_a_json_list(template, resources):
    secret = resources["WebhookSecret"]
    assert secret["Condition"] == "CreateWebhookSecret"
    assert template["Conditions"]["CreateWebhookSecret"] == {"Fn::Equals": [{"Ref": "WebhookSecretArn"}, ""]}
    secrets = json.loads(secret["Properties"]["SecretString"])
    assert isinstance(secrets, list) and all(s.startswith("whsec_") for s in secrets)


def test_access_log_condition_follows_its_parameter(template):
    assert template["Conditions"]["HasApiAccessLogs"] == {"Fn::Equals": [{"Ref": "ApiAccessLogs"}, "true"]}


def test_parameters(template):
    parameters = template["Parameters"]
    assert parameters["IdempotencyTtlDays"]["Default"] == 7
    assert parameters["WebhookSecretArn"]["Default"] == ""
    assert set(parameters["LogLevel"]["AllowedValues"]) >= {"DEBUG", "INFO", "WARN", "ERROR"}
    assert parameters["TableDeletionProtection"]["AllowedValues"] == ["true", "false"]
    # Cost knobs: X-Ray and Lambda's per-invocation platform lines are off unless asked for; the HTTP API is the door.
    assert parameters["Tracing"]["AllowedValues"] == ["Active", "PassThrough"]
    assert parameters["Tracing"]["Default"] == "PassThrough"
    assert parameters["Ingress"]["AllowedValues"] == ["HttpApi", "FunctionUrl"]
    assert parameters["Ingress"]["Default"] == "HttpApi"
    assert parameters["SystemLogLevel"]["AllowedValues"] == ["DEBUG", "INFO", "WARN"]
    assert parameters["SystemLogLevel"]["Default"] == "WARN"
    assert parameters["ApiAccessLogs"]["AllowedValues"] == ["true", "false"]
    assert parameters["ApiAccessLogs"]["Default"] == "true"
    assert "Stage" in parameters
    for family in FAMILIES:
        assert f"{family}MaxConcurrency" in parameters


# --- names and outputs -------------------------------------------------------------------------------------------

NAME_PROPERTIES = {
    "FunctionName", "TableName", "QueueName", "BucketName", "TopicName", "RoleName", "AlarmName",
    "LogGroupName", "DashboardName", "Name",
}  # fmt: skip


def test_every_physical_name_is_derived_from_the_stack_name(resources):
    for logical_id, resource in resources.items():
        for key, value in resource.get("Properties", {}).items():
            if resource["Type"] == "AWS::Lambda::Permission" and key == "FunctionName":
                # Names the function it grants on, not a resource of its own: a reference to one of ours.
                assert set(value) <= {"Ref", "Fn::GetAtt"} and len(value) == 1, logical_id
                continue
            if key in NAME_PROPERTIES:
                assert isinstance(value, dict) and "${AWS::StackName}" in value.get("Fn::Sub", ""), (
                    f"{logical_id}.{key} must be generated or derived from the stack name"
                )


def test_ingress_function_url_is_public_on_the_ingest_function_only_when_chosen(template, resources):
    assert template["Conditions"]["IngressFunctionUrl"] == {"Fn::Equals": [{"Ref": "Ingress"}, "FunctionUrl"]}
    urls = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Url"}
    assert list(urls) == ["IngestFunctionUrl"]
    url = urls["IngestFunctionUrl"]
    assert url["Condition"] == "IngressFunctionUrl"
    assert url["Properties"] == {"TargetFunctionArn": {"Fn::GetAtt": ["IngestFunction", "Arn"]}, "AuthType": "NONE",
                                 "InvokeMode": "BUFFERED"}
    # A public function URL needs both grants (since October 2025), and nothing else may be invoked by anyone.
    public = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"
              and r["Properties"].get("Principal") == "*"}
    assert {k: (r["Condition"], _ref(r["Properties"]["FunctionName"]), r["Properties"]["Action"])
            for k, r in public.items()} == {
        "IngestFunctionUrlPermission": ("IngressFunctionUrl", "IngestFunction", "lambda:InvokeFunctionUrl"),
        "IngestFunctionUrlInvokePermission": ("IngressFunctionUrl", "IngestFunction", "lambda:InvokeFunction"),
    }
    assert public["IngestFunctionUrlPermission"]["Properties"]["FunctionUrlAuthType"] == "NONE"
    assert public["IngestFunctionUrlInvokePermission"]["Properties"]["InvokedViaFunctionUrl"] is True
    # Webhooks through the URL pass no HTTP API, whose 5xx alarm would not see them: the URL's 5xx and the
    # function's throttles are alarmed instead, under the same condition.
    url_alarms = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"], _ref(a["Properties"]["Dimensions"][0]["Value"]))
        for a in resources.values()
        if a["Type"] == "AWS::CloudWatch::Alarm" and a.get("Condition") == "IngressFunctionUrl"
    }
    assert url_alarms == {("AWS/Lambda", "Url5xxCount", "IngestFunction"), ("AWS/Lambda", "Throttles", "IngestFunction")}


def test_outputs(template):
    outputs = template["Outputs"]
    # The door the Ingress parameter chose: the function URL, or the HTTP API's webhook route.
    condition, function_url, http_api = outputs["WebhookUrl"]["Value"]["Fn::If"]
    assert condition == "IngressFunctionUrl"
    assert function_url == {"Fn::Sub": "${IngestFunctionUrl.FunctionUrl}webhooks/junction"}
    assert "/webhooks/junction" in http_api["Fn::Sub"]
    # The data API is on the same API, under its prefix.
    webhook_url = http_api["Fn::Sub"]
    assert outputs["DataApiUrl"]["Value"] == {"Fn::Sub": webhook_url.replace(WEBHOOK_ROUTE[1], DATA_API_PREFIX)}
    assert outputs["WebhookSecretArn"]["Value"] == INGEST_ENV["WEBHOOK_SECRET_ARN"]
    assert outputs["RecordsTableName"]["Value"] == {"Ref": "RecordsTable"}
    for family in FAMILIES:
        assert outputs[f"{family}QueueUrl"]["Value"] == {"Ref": f"{family}Queue"}
        assert outputs[f"{family}DeadLetterQueueUrl"]["Value"] == {"Ref": f"{family}DeadLetterQueue"}


# --- lint ignores ------------------------------------------------------------------------------------------------


def test_every_lint_ignore_is_justified_and_scoped_to_a_resource(template, resources):
    justified = template["Metadata"]["LintIgnores"]
    assert "ignore_checks" not in template["Metadata"].get("cfn-lint", {}).get("config", {}), "no template-wide ignores"
    used = set()
    for resource in resources.values():
        used.update(resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", []))
    assert used == set(justified), "each ignored rule is explained in Metadata.LintIgnores, and only those"
    for reason in justified.values():
        assert len(reason) > 80
