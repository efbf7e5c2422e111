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
# Globals.Function.Environment: every function gets the archive's stream names and bucket (each processor reads its
# own family's stream; jwh_shared::archive) and the retention periods (jwh_shared::store::Retention).
ARCHIVE_CONDITION = "ArchiveEnabled"
ARCHIVE_SOURCE = pathlib.Path(__file__).resolve().parents[2] / "shared" / "src" / "archive.rs"
ARCHIVE_FAMILIES = {
    "Connections": "connections",
    "Backfills": "backfills",
    "Summaries": "summaries",
    "Timeseries": "timeseries",
    "Lab": "lab",
    "CatchAll": "catch-all",
}
GLOBAL_ENV = {
    "PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
    "ARCHIVE_BUCKET": {"Fn::If": [ARCHIVE_CONDITION, {"Ref": "ArchiveBucket"}, ""]},
    **{
        "ARCHIVE_STREAM_" + name.upper().replace("-", "_"): {
            "Fn::If": [ARCHIVE_CONDITION, {"Ref": f"{family}ArchiveStream"}, ""]
        }
        for family, name in ARCHIVE_FAMILIES.items()
    },
    "RETENTION_DAYS_SAMPLES": {"Ref": "SamplesRetentionDays"},
    "RETENTION_DAYS_SUMMARIES": {"Ref": "SummariesRetentionDays"},
    "RETENTION_DAYS_HISTORY": {"Ref": "HistoryRetentionDays"},
    "RETENTION_DAYS_CATCH_ALL": {"Ref": "CatchAllRetentionDays"},
}
INGEST_ENV = {
    "QUEUE_URL_CONNECTIONS": {"Ref": "ConnectionsQueue"},
    "QUEUE_URL_BACKFILLS": {"Ref": "BackfillsQueue"},
    "QUEUE_URL_SUMMARIES": {"Ref": "SummariesQueue"},
    "QUEUE_URL_TIMESERIES": {"Ref": "TimeseriesQueue"},
    "QUEUE_URL_LAB": {"Ref": "LabQueue"},
    "QUEUE_URL_CATCH_ALL": {"Ref": "CatchAllQueue"},
    **GLOBAL_ENV,
    "WEBHOOK_SECRET_ARN": {"Fn::If": ["CreateWebhookSecret", {"Ref": "WebhookSecret"}, {"Ref": "WebhookSecretArn"}]},
    "MAX_BODY_BYTES": "6000000",
    "SIGNATURE_TOLERANCE_SECS": "300",
}
PROCESSOR_ENV = {
    "TABLE_NAME": {"Ref": "RecordsTable"},
    **GLOBAL_ENV,
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
DATA_PLANE_SERVICES = {"sqs", "dynamodb", "s3", "secretsmanager", "kms", "sns", "firehose"}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
PAYLOADS = {"Fn::Sub": "${PayloadBucket.Arn}/payloads/*"}
TABLE = {"Fn::GetAtt": ["RecordsTable", "Arn"]}
BY_DAY_INDEX = {"Fn::Sub": "${RecordsTable.Arn}/index/by_day"}
# The read side's environment: the same binary in both functions, so the same names (DATA_PRIORITY for reads only).
ERASE_ENV = {
    "TABLE_NAME": {"Ref": "RecordsTable"},
    **GLOBAL_ENV,
    "API_PREFIX": DATA_API_PREFIX,
}
DATA_API_ENV = {**ERASE_ENV, "DATA_PRIORITY": {"Ref": "DataPriority"}}
# API Gateway gives an integration 30 s at most (HTTP APIs): an HTTP function must time out first.
API_INTEGRATION_TIMEOUT_SECS = 30
# The archive: one Firehose stream per family into {family-name}/ of one bucket, and one alarm, all under
# ARCHIVE_CONDITION; a processor writes a delivery too large for a Firehose record under its family's prefix itself.
ARCHIVE_BUCKET_ARN = {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
ARCHIVE_OBJECTS = {"Fn::Sub": "${ArchiveBucket.Arn}/*"}
ARCHIVE_STREAMS = {family: f"{family}ArchiveStream" for family in ARCHIVE_FAMILIES}
ARCHIVE_RESOURCES = {"ArchiveBucket", "ArchiveBucketPolicy", "ArchiveDeliveryRole", "ArchiveDeliveryAlarm",
                     "ArchiveDatabase", "ArchiveTable", *ARCHIVE_STREAMS.values()}
# Days to keep, 0 for ever: the archive's S3 lifecycle, and the records' DynamoDB TTL per kind (GLOBAL_ENV).
RETENTION_PARAMETERS = ("ArchiveRetentionDays", "SamplesRetentionDays", "SummariesRetentionDays",
                        "HistoryRetentionDays", "CatchAllRetentionDays")
# Firehose retries a failed delivery to S3 for 24 hours, then drops the records.
FIREHOSE_RETRY_SECS = 24 * 3600


def _archive_stream_arn(family: str) -> dict:
    return {"Fn::GetAtt": [ARCHIVE_STREAMS[family], "Arn"]}


def _archive_family_objects(family: str) -> dict:
    return {"Fn::Sub": f"${{ArchiveBucket.Arn}}/{ARCHIVE_FAMILIES[family]}/*"}


def _archive_statements(family: str) -> list[list]:
    """A processor's conditional archive statements (as Fn::If arguments): records on its own stream, and its large
    deliveries under its own prefix."""
    return [
        [ARCHIVE_CONDITION, {"Sid": "ArchiveDeliveries", "Effect": "Allow", "Action": "firehose:PutRecordBatch",
                             "Resource": _archive_stream_arn(family)}, {"Ref": "AWS::NoValue"}],
        [ARCHIVE_CONDITION, {"Sid": "ArchiveLargeDeliveries", "Effect": "Allow", "Action": "s3:PutObject",
                             "Resource": _archive_family_objects(family)}, {"Ref": "AWS::NoValue"}],
    ]


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


def _conditional_statements(role: dict) -> list[list]:
    """The role's conditional statements, each as its Fn::If arguments [condition, statement, otherwise]."""
    return [
        s["Fn::If"] for p in role["Properties"].get("Policies", []) for s in _as_list(p["PolicyDocument"]["Statement"])
        if "Fn::If" in s
    ]


def _by_sid(conditional: list[list]) -> list[list]:
    return sorted(conditional, key=lambda c: (c[0], c[1].get("Sid", "")))


def _evaluate(value, template: dict, **parameters):
    """value as deployed with the parameters' defaults, or the values given: Refs to parameters, Fn::If and the
    condition functions resolved (CloudFormation compares parameter values as strings)."""
    values = {name: p.get("Default") for name, p in template["Parameters"].items()} | parameters

    def condition(name: str) -> bool:
        return evaluate(template["Conditions"][name])

    def evaluate(v):
        if isinstance(v, dict) and len(v) == 1:
            ((key, arg),) = v.items()
            if key == "Ref" and arg in values:
                return values[arg]
            if key == "Condition":
                return condition(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return evaluate(yes if condition(name) else no)
            if key == "Fn::Equals":
                a, b = (evaluate(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                (a,) = arg
                return not evaluate(a)
            if key == "Fn::And":
                return all(evaluate(x) for x in arg)
            if key == "Fn::Or":
                return any(evaluate(x) for x in arg)
        if isinstance(v, dict):
            return {k: evaluate(x) for k, x in v.items()}
        if isinstance(v, list):
            return [evaluate(x) for x in v]
        return v

    return evaluate(value)


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
        "s3:ListBucket": [{"Fn::GetAtt": ["PayloadBucket", "Arn"]}, ARCHIVE_BUCKET_ARN],
        "s3:GetObject": [PAYLOADS, ARCHIVE_OBJECTS],
        "s3:PutObject": [ARCHIVE_OBJECTS],
        "s3:DeleteObject": [PAYLOADS, ARCHIVE_OBJECTS],
    }
    assert not any(action.startswith(("sqs:", "secretsmanager:", "kms:", "firehose:")) for action in grants)
    # Listing the payload bucket is limited to the claim-check prefix; the archive is listed whole (every family's
    # prefix may hold the user's deliveries).
    listings = {_ref(s["Resource"]): s for s in _statements(role) if s["Action"] == "s3:ListBucket"}
    assert set(listings) == {"PayloadBucket", "ArchiveBucket"}
    assert listings["PayloadBucket"]["Condition"] == {"StringLike": {"s3:prefix": "payloads/*"}}
    # The archive's statements exist only with the archive, and are exactly these two: erasure rewrites (reads,
    # writes back without the user's deliveries, or deletes) the archive's objects.
    assert _by_sid(_conditional_statements(role)) == [
        [ARCHIVE_CONDITION, {"Sid": "ListArchive", "Effect": "Allow", "Action": "s3:ListBucket",
                             "Resource": ARCHIVE_BUCKET_ARN}, {"Ref": "AWS::NoValue"}],
        [ARCHIVE_CONDITION, {"Sid": "RewriteArchivedDeliveries", "Effect": "Allow",
                             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                             "Resource": ARCHIVE_OBJECTS}, {"Ref": "AWS::NoValue"}],
    ]
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


def _alarms(resources) -> dict[str, dict]:
    """Every alarm's properties, by logical id."""
    return {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


# Alarms on metric math (a Metrics list, no single MetricName, Namespace or Dimensions): the archive's, over the
# delivery freshness of every stream.
METRIC_MATH_ALARMS = {"ArchiveDeliveryAlarm"}
SINGLE_METRIC_KEYS = {"MetricName", "Namespace", "Dimensions", "Statistic", "ExtendedStatistic", "Period"}


def _single_metric_alarms(resources) -> dict[str, dict]:
    """The alarms on one metric (by logical id); every other alarm is on metric math and has none of its keys."""
    alarms = _alarms(resources)
    math = {k for k, a in alarms.items() if "Metrics" in a}
    assert math == METRIC_MATH_ALARMS
    for logical_id in math:
        assert not SINGLE_METRIC_KEYS & set(alarms[logical_id]), logical_id
    return {k: a for k, a in alarms.items() if k not in math}


def _watched(resources) -> set[tuple[str, str | None]]:
    """(metric, logical id its first dimension names) of every alarm on one metric."""
    return {(a["MetricName"], _ref(a["Dimensions"][0]["Value"])) for a in _single_metric_alarms(resources).values()}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_has_alarms_on_dead_letters_age_and_errors(resources, family):
    processor_id, _, _ = FAMILIES[family]
    alarms = _watched(resources)
    assert ("ApproximateNumberOfMessagesVisible", f"{family}DeadLetterQueue") in alarms
    assert ("ApproximateAgeOfOldestMessage", f"{family}Queue") in alarms
    assert ("Errors", processor_id) in alarms


def test_dead_letter_alarms_fire_on_the_first_message(resources):
    dlq_alarms = [
        a for a in _single_metric_alarms(resources).values() if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(dlq_alarms) == len(FAMILIES) + 1  # and the fetcher's
    for alarm in dlq_alarms:
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == 1


def test_every_function_is_watched_by_an_alarm(functions, resources):
    # A processor's or the fetcher's failed invocations: its Lambda Errors alarm. An HTTP function's error or
    # timeout is a 5xx of the API in front of it: the API's 5xx alarm.
    watched = _watched(resources)
    for logical_id, function in functions.items():
        apis = {_ref(e["Properties"]["ApiId"]) for e in function["Properties"]["Events"].values() if e["Type"] == "HttpApi"}
        if apis:
            assert {("5xx", api) for api in apis} <= watched, logical_id
        else:
            assert ("Errors", logical_id) in watched, logical_id


def test_every_alarm_notifies_the_alarm_topic(resources):
    alarms = _alarms(resources)
    # Families, the fetcher, the API's 5xx; with Ingress=FunctionUrl the function URL's 5xx and throttles; with the
    # archive, its delivery.
    assert len(alarms) == 3 * (len(FAMILIES) + 1) + 1 + 2 + 1
    assert "ArchiveDeliveryAlarm" in alarms
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
    api_5xx = [a for a in _single_metric_alarms(resources).values() if a["MetricName"] == "5xx"]
    assert len(api_5xx) == 1 and _ref(api_5xx[0]["Dimensions"][0]["Value"]) == "WebhookApi"


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
        # With the archive: its deliveries to its own family's stream, and the large ones under its own prefix.
        "firehose:PutRecordBatch": [_archive_stream_arn(family)],
        "s3:PutObject": [_archive_family_objects(family)],
    }
    if family in FETCH_TRIGGERS:
        expected["sqs:SendMessage"] = [{"Fn::GetAtt": ["FetchQueue", "Arn"]}]
    assert grants == expected


def test_only_fetch_triggers_may_send_to_the_fetch_queue_and_only_when_it_exists(functions, resources):
    for family, (processor_id, _, _) in FAMILIES.items():
        _, role = _role_of(functions[processor_id], resources)
        conditional = _conditional_statements(role)
        assert {c[0] for c in conditional} <= {FETCH_CONDITION, ARCHIVE_CONDITION}, family
        fetch = [c for c in conditional if c[0] == FETCH_CONDITION]
        if family in FETCH_TRIGGERS:
            assert len(fetch) == 1, family
            assert fetch[0][1]["Action"] == "sqs:SendMessage"
        else:
            assert fetch == [], family
        # Besides, exactly the archive's two, naming its own family's stream and prefix.
        archive = [c for c in conditional if c[0] == ARCHIVE_CONDITION]
        assert _by_sid(archive) == _archive_statements(family), family


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


# --- the archive -------------------------------------------------------------------------------------------------

FAMILY_SOURCE = ROOT / "shared" / "src" / "family.rs"


def _named(value, names: set[str], *, unless: str | None = None) -> set[str]:
    """The names of `names` that value refers to (Ref, GetAtt, or in a Sub); with `unless`, outside the true branch
    of an Fn::If on that condition."""
    if isinstance(value, list):
        return set().union(*(_named(v, names, unless=unless) for v in value))
    if not isinstance(value, dict):
        return set()
    if set(value) == {"Fn::If"} and unless is not None:
        condition, yes, no = value["Fn::If"]
        guarded = set() if condition == unless else _named(yes, names, unless=unless)
        return guarded | _named(no, names, unless=unless)
    found = {_ref(value)} & names if len(value) == 1 else set()
    if set(value) == {"Fn::Sub"}:
        found |= set(re.findall(r"\$\{([A-Za-z0-9]+)", _as_list(value["Fn::Sub"])[0])) & names
    return found | set().union(*(_named(v, names, unless=unless) for v in value.values()))


def test_archive_exists_only_when_enabled(template, resources):
    assert template["Conditions"][ARCHIVE_CONDITION] == {"Fn::Equals": [{"Ref": "Archive"}, "Enabled"]}
    parameter = template["Parameters"]["Archive"]
    assert (parameter["AllowedValues"], parameter["Default"]) == (["Enabled", "Disabled"], "Enabled")
    assert _evaluate({"Condition": ARCHIVE_CONDITION}, template) is True
    assert _evaluate({"Condition": ARCHIVE_CONDITION}, template, Archive="Disabled") is False
    # Every archive resource, and only those, is named for the archive and carries its condition.
    assert {lid for lid in resources if "Archive" in lid} == ARCHIVE_RESOURCES
    for lid in ARCHIVE_RESOURCES:
        assert resources[lid].get("Condition") == ARCHIVE_CONDITION, lid
    # Elsewhere an archive resource is named only under the condition: in the functions' environment, and in the
    # statements of the roles that write to it (the processors) or rewrite it (erasure).
    others = {lid: r for lid, r in resources.items() if lid not in ARCHIVE_RESOURCES}
    for lid, resource in others.items():
        assert not _named(resource, ARCHIVE_RESOURCES, unless=ARCHIVE_CONDITION), lid
    assert not _named(template["Globals"], ARCHIVE_RESOURCES, unless=ARCHIVE_CONDITION)
    referring = {lid for lid, r in others.items() if _named(r, ARCHIVE_RESOURCES)}
    assert referring == {f"{f}ProcessorRole" for f in FAMILIES} | {"EraseFunctionRole"}
    assert _named(template["Globals"], ARCHIVE_RESOURCES) == {"ArchiveBucket", *ARCHIVE_STREAMS.values()}
    outputs = template["Outputs"]
    for name, output in outputs.items():
        if output.get("Condition") != ARCHIVE_CONDITION:
            assert not _named(output, ARCHIVE_RESOURCES, unless=ARCHIVE_CONDITION), name
    assert outputs["ArchiveBucketName"]["Condition"] == ARCHIVE_CONDITION
    assert outputs["ArchiveBucketName"]["Value"] == {"Ref": "ArchiveBucket"}


def test_one_archive_stream_per_family_into_its_prefix(resources):
    # The family names are jwh_shared::Family::as_str, the prefixes jwh_shared::archive::family_prefix.
    rust_names = dict(re.findall(r'Family::(\w+) => "([a-z-]+)"', FAMILY_SOURCE.read_text()))
    assert rust_names == ARCHIVE_FAMILIES
    assert set(ARCHIVE_FAMILIES) == set(FAMILIES)
    streams = {lid for lid, r in resources.items() if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"}
    assert streams == set(ARCHIVE_STREAMS.values())
    for family, stream_id in ARCHIVE_STREAMS.items():
        stream = resources[stream_id]["Properties"]
        assert stream["DeliveryStreamType"] == "DirectPut", family
        assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}, family
        assert set(stream) == {"DeliveryStreamType", "DeliveryStreamEncryptionConfigurationInput",
                               "ExtendedS3DestinationConfiguration"}, family
        destination = stream["ExtendedS3DestinationConfiguration"]
        assert destination["BucketARN"] == ARCHIVE_BUCKET_ARN, family
        assert destination["RoleARN"] == {"Fn::GetAtt": ["ArchiveDeliveryRole", "Arn"]}, family
        # Its family's name and nothing else: Firehose appends YYYY/MM/DD/HH/ (UTC), where replay looks.
        assert destination["Prefix"] == f"{ARCHIVE_FAMILIES[family]}/", family
        # The processor gzips each record; Firehose only concatenates them, with no processing of its own.
        assert destination["CompressionFormat"] == "UNCOMPRESSED", family
        assert destination["FileExtension"] == ".jsonl.gz", family
        assert destination["BufferingHints"] == {"IntervalInSeconds": 900, "SizeInMBs": 128}, family
        assert not {"ProcessingConfiguration", "DynamicPartitioningConfiguration",
                    "DataFormatConversionConfiguration"} & set(destination), family


def test_archive_bucket_is_private_encrypted_tls_only_unversioned_and_expires_as_asked(template, resources):
    bucket = resources["ArchiveBucket"]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption and all(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption)
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # Not versioned: erasure rewrites an object without the user's deliveries, and must leave no older copy.
    assert "VersioningConfiguration" not in bucket
    # One expiry rule, over the whole bucket (every family), following ArchiveRetentionDays.
    rules = bucket["LifecycleConfiguration"]["Rules"]
    (expiry,) = [r for r in rules if "ExpirationInDays" in r or "ExpirationDate" in r]
    assert expiry["Id"] == "expire-archive"
    assert not {"Prefix", "Filter", "TagFilters"} & set(expiry), "the rule covers every family"
    # At the default (0) the rule is disabled: everything is kept.
    assert template["Parameters"]["ArchiveRetentionDays"]["Default"] == 0
    assert _evaluate(expiry, template)["Status"] == "Disabled"
    assert _evaluate(expiry, template, ArchiveRetentionDays=0)["Status"] == "Disabled"
    for days in (1, 400):
        deployed = _evaluate(expiry, template, ArchiveRetentionDays=days)
        assert (deployed["Status"], deployed["ExpirationInDays"]) == ("Enabled", days)

    policy = resources["ArchiveBucketPolicy"]["Properties"]
    assert _ref(policy["Bucket"]) == "ArchiveBucket"
    assert {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ARCHIVE_BUCKET_ARN, ARCHIVE_OBJECTS],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in policy["PolicyDocument"]["Statement"]


def test_archive_delivery_role_is_for_firehose_and_the_archive_bucket_only(resources):
    role = resources["ArchiveDeliveryRole"]
    # Only Firehose, and only on behalf of this account (the confused-deputy guard Firehose documents).
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}},
    }]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert _conditional_statements(role) == []
    for statement in _statements(role):
        assert statement["Effect"] == "Allow"
    # What Firehose needs to deliver to S3, on the archive bucket and its objects and nothing else.
    bucket_and_objects = [ARCHIVE_BUCKET_ARN, ARCHIVE_OBJECTS]
    assert _grants(role) == {
        action: bucket_and_objects
        for action in ("s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket",
                       "s3:ListBucketMultipartUploads", "s3:PutObject")
    }


def test_retention_parameters_keep_everything_by_default(template):
    parameters = template["Parameters"]
    for name in RETENTION_PARAMETERS:
        parameter = parameters[name]
        assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 0, 0), name
        assert "0 keeps everything" in parameter["Description"], name
    # The records' retention reaches every function (jwh_shared::store::Retention); the archive's is its lifecycle
    # rule (above).
    records = {_ref(v) for k, v in GLOBAL_ENV.items() if k.startswith("RETENTION_DAYS_")}
    assert records == set(RETENTION_PARAMETERS) - {"ArchiveRetentionDays"}


def test_only_a_processor_puts_archive_records_and_only_on_its_own_stream(functions, resources):
    family_of = {processor_id: family for family, (processor_id, _, _) in FAMILIES.items()}
    role_of = {_role_of(function, resources)[0]: logical_id for logical_id, function in functions.items()}
    roles = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == set(role_of) | {"ArchiveDeliveryRole"}
    for role_id, role in roles.items():
        grants = _grants(role)
        firehose = {a: r for a, r in grants.items() if a.startswith("firehose:")}
        archive_writes = [r for r in grants.get("s3:PutObject", []) if "ArchiveBucket" in json.dumps(r)]
        logical_id = role_of.get(role_id)
        if logical_id in family_of:
            family = family_of[logical_id]
            assert firehose == {"firehose:PutRecordBatch": [_archive_stream_arn(family)]}, role_id
            assert archive_writes == [_archive_family_objects(family)], role_id
        else:
            assert firehose == {}, role_id
            if logical_id == "EraseFunction":
                assert archive_writes == [ARCHIVE_OBJECTS]  # the rewrite of an erased user's deliveries
            elif role_id != "ArchiveDeliveryRole":
                assert archive_writes == [], role_id


def test_archive_alarm_watches_the_delivery_of_every_stream(resources):
    alarm = _alarms(resources)["ArchiveDeliveryAlarm"]
    metrics = alarm["Metrics"]
    (expression,) = [m for m in metrics if "Expression" in m]
    assert expression["Expression"] == "MAX(METRICS())"
    assert expression["ReturnData"] is True
    stats = [m for m in metrics if m is not expression]
    assert all(m["ReturnData"] is False for m in stats)
    watched = []
    for m in stats:
        metric = m["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.DataFreshness")
        assert m["MetricStat"]["Stat"] == "Maximum"
        (dimension,) = metric["Dimensions"]
        assert dimension["Name"] == "DeliveryStreamName"
        watched.append(_ref(dimension["Value"]))
    assert sorted(watched) == sorted(ARCHIVE_STREAMS.values()), "each stream once"
    # The oldest record waits past its buffer, and the alarm fires well before Firehose gives up and drops it.
    buffer_secs = max(
        resources[s]["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"]
        for s in ARCHIVE_STREAMS.values()
    )
    window = max(m["MetricStat"]["Period"] for m in stats) * alarm["EvaluationPeriods"]
    assert buffer_secs < alarm["Threshold"] and alarm["Threshold"] + window < FIREHOSE_RETRY_SECS
    assert alarm["ComparisonOperator"] in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")
    # No deliveries, no freshness data: quiet, not an outage.
    assert alarm["TreatMissingData"] == "notBreaching"


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


def test_archive_table_reads_every_family_and_hour_where_firehose_writes_them(resources, template):
    table = resources["ArchiveTable"]["Properties"]
    assert table["DatabaseName"] == {"Ref": "ArchiveDatabase"}
    t = table["TableInput"]
    params = t["Parameters"]
    # Partition projection over the prefixes of jwh_shared::archive: {family}/YYYY/MM/DD/HH/.
    assert params["projection.enabled"] == "true"
    assert params["projection.family.values"].split(",") == list(ARCHIVE_FAMILIES.values())
    assert (params["projection.hour.type"], params["projection.hour.format"]) == ("date", "yyyy/MM/dd/HH")
    assert (params["projection.hour.interval"], params["projection.hour.interval.unit"]) == ("1", "HOURS")
    assert params["storage.location.template"] == {"Fn::Sub": "s3://${ArchiveBucket}/${!family}/${!hour}/"}
    assert [k["Name"] for k in t["PartitionKeys"]] == ["family", "hour"]
    # The columns are the fields of jwh_shared::archive::ArchivedDelivery, but the family (a partition).
    fields = re.findall(r"^    pub (\w+):", ARCHIVE_SOURCE.read_text(), re.M)
    struct_fields = fields[: fields.index("body_base64") + 1]
    columns = [c["Name"] for c in t["StorageDescriptor"]["Columns"]]
    assert columns == [f for f in struct_fields if f != "family"]
    assert t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert template["Outputs"]["ArchiveDatabaseName"]["Condition"] == ARCHIVE_CONDITION
