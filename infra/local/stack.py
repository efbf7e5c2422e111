"""The local stack, read from template.yaml: what to create in moto, and how the functions are wired.

template.yaml is the one source of truth. This module reads it with cfn-lint's decoder (so !Ref, !Sub and !GetAtt
parse), resolves the intrinsics the local stack needs, and derives from it:

- the resources moto can hold (SQS queues with their redrive policies, DynamoDB tables with their key schema and TTL,
  S3 buckets, Secrets Manager secrets, Firehose delivery streams into those buckets), created in dependency order by
  `provision`; an IAM role only gets its ARN (moto enforces no policies, and Firehose needs its role's ARN);
- every function (binary, environment, timeout) and the HTTP API routes: the ingest function's (the route whose
  function reads the webhook signing secret) and the read API's (the routes whose functions have `API_PREFIX`: one
  binary, under one prefix, however many functions the template deploys it as);
- the queue families: each queue that a processor consumes through an SQS event, its dead-letter queue, the
  processor, the batch settings, and the family key (`CATCH_ALL`) from the ingest function's `QUEUE_URL_<FAMILY>`
  (or, for a queue the ingest function does not feed, such as the fetcher's, from the consumer's own
  `QUEUE_URL_<NAME>`).

Resources under a Condition exist locally when the condition holds for the parameters given (see
`parameters_from_env`: the backfill fetcher's resources exist when the local stack has a Junction API key secret).

Nothing here lists a resource by name: a family added to the template shows up locally as it is.

    python infra/local/stack.py describe        # the families and functions as JSON (no AWS calls)
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

# moto's default account; ARNs built here match the ones moto returns.
ACCOUNT_ID = "123456789012"
QUEUE_ENV_PREFIX = "QUEUE_URL_"
# The ingest function's env var naming its signing secret (the contract with functions/ingest).
SECRET_ENV = "WEBHOOK_SECRET_ARN"
# The read API's env var naming the path prefix of its routes (the contract with functions/api).
API_PREFIX_ENV = "API_PREFIX"

# Template parameters the local stack may set, by the stack.env variable that carries their value.
PARAMETER_ENV = {"JunctionApiKeySecretArn": "JUNCTION_API_KEY_SECRET_ARN"}

SUPPORTED_TYPES = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::IAM::Role",
)


class TemplateError(Exception):
    """The template does not describe a stack this local runner can serve."""


class _NoValue:
    """AWS::NoValue: the property is dropped."""


NO_VALUE = _NoValue()


@dataclass
class Function:
    """An AWS::Serverless::Function, as cargo lambda will serve it."""

    logical_id: str
    binary: str
    code_uri: str
    timeout: int
    environment: dict[str, Any]  # unresolved template values, Globals merged in
    log_level: str | None
    events: dict[str, Any] = field(repr=False)


@dataclass
class Family:
    """One queue family: a queue, its dead-letter queue and the processor its SQS event feeds."""

    key: str  # CATCH_ALL: the suffix of the ingest function's QUEUE_URL_<FAMILY>
    name: str  # catch-all
    queue: str  # logical ids
    dead_letter_queue: str
    processor: str
    binary: str
    batch_size: int
    batching_window_secs: int
    visibility_timeout_secs: int
    max_receive_count: int
    max_concurrency: int | None
    report_batch_item_failures: bool
    function_timeout_secs: int


@dataclass
class HttpRoute:
    """A function's route on an HTTP API."""

    function: str  # logical id
    binary: str
    method: str
    path: str
    authorizer: str | None  # AWS_IAM, or None: open (locally, no route is checked: there is no API Gateway)


@dataclass
class DataApi:
    """The read API: one binary behind every route under a prefix (the data API's reads and erasure)."""

    binary: str
    prefix: str  # /data: the binary sees the full path and strips it
    routes: list[HttpRoute]


class Template:
    """template.yaml with its intrinsics resolved against a local stack name, region and parameter values."""

    def __init__(
        self,
        path: pathlib.Path = TEMPLATE_PATH,
        stack_name: str = "jwh-dev",
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
    ):
        body, matches = decode(str(path))
        if matches or body is None:
            raise TemplateError(f"cannot parse {path}: {'; '.join(str(m) for m in matches)}")
        self.path = path
        self.body = body
        self.stack_name = stack_name
        self.region = region
        self.parameters = {k: str(v) for k, v in (parameters or {}).items()}
        unknown = set(self.parameters) - set(self.body.get("Parameters", {}))
        if unknown:
            raise TemplateError(f"unknown template parameters: {sorted(unknown)}")
        self.resources: dict[str, dict] = dict(self.body.get("Resources", {}))
        # Physical ids and attributes of the resources created so far: logical id -> {"Ref": ..., "Arn": ...}.
        self.physical: dict[str, dict[str, str]] = {}

    # --- intrinsics -----------------------------------------------------------------------------------------------

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        spec = self.body.get("Parameters", {}).get(name)
        if spec is None:
            raise TemplateError(f"Ref to unknown parameter or resource {name}")
        if "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default: pass a value")
        default = spec["Default"]
        return default if isinstance(default, str) else json.dumps(default)

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }[name]

    def condition(self, name: str) -> bool:
        conditions = self.body.get("Conditions", {})
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def included(self, logical_id: str) -> bool:
        """Whether a resource exists in this stack (its Condition, if any, holds)."""
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)

    def attribute(self, logical_id: str, attr: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"reference to unknown resource {logical_id}")
        known = self.physical.get(logical_id)
        if known is None:
            rtype = self.resources[logical_id].get("Type")
            raise TemplateError(
                f"{logical_id} ({rtype}) is referenced but does not exist locally"
                + ("" if rtype in SUPPORTED_TYPES else f": the local stack only creates {', '.join(SUPPORTED_TYPES)}")
            )
        if attr not in known:
            raise TemplateError(f"{logical_id} has no attribute {attr} locally")
        return known[attr]

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated (AWS::NoValue entries dropped)."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key == "Ref":
                    if arg.startswith("AWS::"):
                        return self.pseudo(arg)
                    if arg in self.resources:
                        return self.attribute(arg, "Ref")
                    return self.parameter(arg)
                if key == "Fn::GetAtt":
                    logical_id, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                    return self.attribute(logical_id, attr)
                if key == "Fn::Sub":
                    return self._sub(arg)
                if key == "Fn::If":
                    cond, yes, no = arg
                    return self.resolve(yes if self.condition(cond) else no)
                if key == "Fn::Equals":
                    a, b = (self.resolve(x) for x in arg)
                    return str(a) == str(b)
                if key == "Fn::Not":
                    return not self.resolve(arg[0])
                if key == "Fn::And":
                    return all(self.resolve(x) for x in arg)
                if key == "Fn::Or":
                    return any(self.resolve(x) for x in arg)
                if key == "Condition":
                    return self.condition(arg)
                if key == "Fn::Join":
                    sep, items = arg
                    return sep.join(str(x) for x in self.resolve(items))
                if key == "Fn::Select":
                    index, items = arg
                    return self.resolve(items)[int(self.resolve(index))]
                if key == "Fn::Split":
                    sep, text = arg
                    return self.resolve(text).split(sep)
                if key.startswith("Fn::"):
                    raise TemplateError(f"intrinsic {key} is not supported by the local stack")
            out = {}
            for k, v in value.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name.startswith("AWS::"):
                return str(self.pseudo(name))
            if "." in name:
                logical_id, attr = name.split(".", 1)
                return self.attribute(logical_id, attr)
            if name in self.resources:
                return self.attribute(name, "Ref")
            return self.parameter(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # --- references -----------------------------------------------------------------------------------------------

    def references(self, value: Any) -> set[str]:
        """Logical ids of the resources a value refers to (Ref, GetAtt, Sub), whatever the conditions."""
        found: set[str] = set()
        if isinstance(value, dict):
            for key, arg in value.items():
                if key == "Ref" and isinstance(arg, str) and arg in self.resources:
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    found.add(arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
                elif key == "Fn::Sub":
                    text = arg if isinstance(arg, str) else arg[0]
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                        if name.split(".", 1)[0] in self.resources:
                            found.add(name.split(".", 1)[0])
                    if not isinstance(arg, str):
                        found |= self.references(arg[1])
                else:
                    found |= self.references(arg)
        elif isinstance(value, list):
            for v in value:
                found |= self.references(v)
        return found

    def _target(self, value: Any) -> str | None:
        """The logical id a `!Ref X` / `!GetAtt X.Arn` value names, else None."""
        refs = self.references(value)
        return next(iter(refs)) if len(refs) == 1 else None

    # --- what the template describes ------------------------------------------------------------------------------

    def of_type(self, rtype: str) -> list[str]:
        return [lid for lid, r in self.resources.items() if r.get("Type") == rtype and self.included(lid)]

    def local_resources(self) -> list[str]:
        """The resources moto will hold, in an order where each comes after those it refers to."""
        wanted = [lid for lid, r in self.resources.items() if r.get("Type") in SUPPORTED_TYPES and self.included(lid)]
        deps = {lid: self.references(self.resources[lid].get("Properties", {})) & set(wanted) for lid in wanted}
        ordered: list[str] = []
        while deps:
            ready = sorted(lid for lid, d in deps.items() if not d - set(ordered))
            if not ready:
                raise TemplateError(f"circular references between {sorted(deps)}")
            ordered += ready
            for lid in ready:
                del deps[lid]
        return ordered

    def functions(self) -> dict[str, Function]:
        glob = self.body.get("Globals", {}).get("Function", {})
        out = {}
        for lid in self.of_type("AWS::Serverless::Function"):
            res = self.resources[lid]
            props = res.get("Properties", {})
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise TemplateError(f"{lid} has no Metadata.BuildProperties.Binary: cargo lambda cannot serve it")
            env = dict(glob.get("Environment", {}).get("Variables", {}))
            env.update(props.get("Environment", {}).get("Variables", {}))
            logging = {**glob.get("LoggingConfig", {}), **props.get("LoggingConfig", {})}
            level = logging.get("ApplicationLogLevel")
            out[lid] = Function(
                logical_id=lid,
                binary=binary,
                code_uri=props.get("CodeUri", ""),
                timeout=int(self.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
                environment=env,
                log_level=str(self.resolve(level)) if level is not None else None,
                events=props.get("Events", {}),
            )
        return out

    def http_routes(self) -> list[HttpRoute]:
        """Every HTTP API route to a function, in template order."""
        return [
            HttpRoute(f.logical_id, f.binary, str(ev["Properties"].get("Method", "ANY")).upper(),
                      ev["Properties"]["Path"], (ev["Properties"].get("Auth") or {}).get("Authorizer"))
            for f in self.functions().values()
            for ev in f.events.values()
            if ev.get("Type") in ("HttpApi", "Api")
        ]

    def webhook_route(self) -> HttpRoute:
        """The ingest function's route: the one HTTP route whose function reads the signing secret."""
        functions = self.functions()
        routes = [r for r in self.http_routes() if SECRET_ENV in functions[r.function].environment]
        if len(routes) != 1:
            raise TemplateError(f"expected one HTTP route to a function with {SECRET_ENV}, found {len(routes)}")
        return routes[0]

    def data_api(self) -> DataApi:
        """The read API: the HTTP routes whose functions have API_PREFIX. cargo lambda watch serves a binary, not a
        function, so they must share one binary and one prefix, and every route must be under it."""
        functions = self.functions()
        routes = [r for r in self.http_routes() if API_PREFIX_ENV in functions[r.function].environment]
        if not routes:
            raise TemplateError(f"no HTTP route to a function with {API_PREFIX_ENV}: the template has no read API")
        binaries = {r.binary for r in routes}
        prefixes = {str(self.resolve(functions[r.function].environment[API_PREFIX_ENV])) for r in routes}
        if len(binaries) != 1 or len(prefixes) != 1:
            raise TemplateError(f"the read API's routes must share one binary and one {API_PREFIX_ENV}: found "
                                f"binaries {sorted(binaries)}, prefixes {sorted(prefixes)}")
        prefix = prefixes.pop().rstrip("/")
        outside = [f"{r.method} {r.path}" for r in routes if r.path != prefix and not r.path.startswith(prefix + "/")]
        if outside:
            raise TemplateError(f"routes {outside} are not under their {API_PREFIX_ENV} {prefix}")
        return DataApi(binary=binaries.pop(), prefix=prefix, routes=routes)

    def families(self) -> list[Family]:
        """One family per queue that feeds a processor through an SQS event, in template order."""
        functions = self.functions()
        ingest = functions[self.webhook_route().function]
        key_of_queue: dict[str, str] = {}
        for var, value in ingest.environment.items():
            if var.startswith(QUEUE_ENV_PREFIX):
                target = self._target(value)
                if target is None:
                    raise TemplateError(f"{ingest.logical_id} {var} does not name one queue")
                key_of_queue[target] = var[len(QUEUE_ENV_PREFIX):]
        out = []
        for fn in functions.values():
            for ev in fn.events.values():
                if ev.get("Type") != "SQS":
                    continue
                p = ev["Properties"]
                queue = self._target(p["Queue"])
                if queue is None or self.resources.get(queue, {}).get("Type") != "AWS::SQS::Queue":
                    raise TemplateError(f"{fn.logical_id}: SQS event on something other than a queue of this stack")
                qprops = self.resources[queue].get("Properties", {})
                redrive = qprops.get("RedrivePolicy")
                if not redrive:
                    raise TemplateError(f"{queue} has no RedrivePolicy: no dead-letter queue")
                if isinstance(redrive, str):
                    redrive = json.loads(redrive)
                dlq = self._target(redrive["deadLetterTargetArn"])
                if queue not in key_of_queue:
                    own = [var for var, value in fn.environment.items()
                           if var.startswith(QUEUE_ENV_PREFIX) and self._target(value) == queue]
                    if len(own) != 1:
                        raise TemplateError(f"{queue} is consumed by {fn.logical_id} but neither the ingest function "
                                            f"nor {fn.logical_id} has a {QUEUE_ENV_PREFIX}<FAMILY> for it")
                    key_of_queue[queue] = own[0][len(QUEUE_ENV_PREFIX):]
                key = key_of_queue[queue]
                scaling = p.get("ScalingConfig", {}).get("MaximumConcurrency")
                out.append(Family(
                    key=key,
                    name=key.lower().replace("_", "-"),
                    queue=queue,
                    dead_letter_queue=dlq,
                    processor=fn.logical_id,
                    binary=fn.binary,
                    batch_size=int(self.resolve(p.get("BatchSize", 10))),
                    batching_window_secs=int(self.resolve(p.get("MaximumBatchingWindowInSeconds", 0))),
                    visibility_timeout_secs=int(self.resolve(qprops.get("VisibilityTimeout", 30))),
                    max_receive_count=int(self.resolve(redrive["maxReceiveCount"])),
                    max_concurrency=int(self.resolve(scaling)) if scaling is not None else None,
                    report_batch_item_failures="ReportBatchItemFailures" in p.get("FunctionResponseTypes", []),
                    function_timeout_secs=fn.timeout,
                ))
        missing = set(key_of_queue) - {f.queue for f in out}
        if missing:
            raise TemplateError(f"queues {sorted(missing)} have no processor")
        return out

    # --- local names ----------------------------------------------------------------------------------------------

    def local_name(self, logical_id: str) -> str:
        """The physical name of a resource: its name property when the template sets one, else <stack>-<LogicalId>
        (lowercased for buckets), as CloudFormation would generate it minus the random suffix."""
        res = self.resources[logical_id]
        props = res.get("Properties", {})
        rtype = res["Type"]
        prop = {
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
            "AWS::IAM::Role": "RoleName",
        }[rtype]
        if prop in props:
            return str(self.resolve(props[prop]))
        name = f"{self.stack_name}-{logical_id}"
        if rtype == "AWS::S3::Bucket":
            name = name.lower()
        if rtype == "AWS::SQS::Queue" and props.get("FifoQueue"):
            name += ".fifo"
        return name


# --- provisioning ---------------------------------------------------------------------------------------------------


def parameters_from_env(env: dict[str, str]) -> dict[str, str]:
    """The template parameters a stack.env (or the environment) sets: see PARAMETER_ENV."""
    return {param: env[var] for param, var in PARAMETER_ENV.items() if env.get(var)}


def _attr_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def provision(template: Template, session) -> None:
    """Creates every local resource of the template through `session` (a boto3 Session aimed at moto) and records
    its physical id and attributes in `template.physical`. Re-running against the same moto is harmless."""
    region, partition = template.region, "aws"
    for lid in template.local_resources():
        res = template.resources[lid]
        rtype = res["Type"]
        name = template.local_name(lid)
        if rtype == "AWS::IAM::Role":  # only its ARN: its policies name resources moto does not hold (log groups)
            template.physical[lid] = {"Ref": name, "Arn": f"arn:{partition}:iam::{ACCOUNT_ID}:role/{name}"}
            continue
        props = template.resolve(res.get("Properties", {}))
        if rtype == "AWS::SQS::Queue":
            sqs = session.client("sqs")
            attrs = {k: _attr_string(v) for k, v in props.items() if k not in ("QueueName", "Tags")}
            url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            arn = f"arn:{partition}:sqs:{region}:{ACCOUNT_ID}:{name}"
            template.physical[lid] = {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}
        elif rtype == "AWS::DynamoDB::Table":
            ddb = session.client("dynamodb")
            args: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PROVISIONED"),
            }
            for opt in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                        "StreamSpecification"):
                if opt in props:
                    args[opt] = props[opt]
            try:
                ddb.create_table(**args)
            except ddb.exceptions.ResourceInUseException:
                pass
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            arn = f"arn:{partition}:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
            template.physical[lid] = {"Ref": name, "Arn": arn}
        elif rtype == "AWS::S3::Bucket":
            s3 = session.client("s3")
            try:
                s3.create_bucket(Bucket=name)
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
            template.physical[lid] = {"Ref": name, "Arn": f"arn:{partition}:s3:::{name}", "DomainName":
                                      f"{name}.s3.amazonaws.com"}
        elif rtype == "AWS::SecretsManager::Secret":
            sm = session.client("secretsmanager")
            value = props.get("SecretString", "")
            try:
                arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
            except sm.exceptions.ResourceExistsException:
                arn = sm.describe_secret(SecretId=name)["ARN"]
            template.physical[lid] = {"Ref": arn, "Id": arn}
        elif rtype == "AWS::KinesisFirehose::DeliveryStream":
            firehose = session.client("firehose")
            args = {"DeliveryStreamName": name, "DeliveryStreamType": props.get("DeliveryStreamType", "DirectPut")}
            for dest in ("ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"):
                if dest in props:
                    args[dest] = props[dest]
            try:
                firehose.create_delivery_stream(**args)
            except firehose.exceptions.ResourceInUseException:
                pass
            arn = f"arn:{partition}:firehose:{region}:{ACCOUNT_ID}:deliverystream/{name}"
            template.physical[lid] = {"Ref": name, "Arn": arn}


def function_environment(template: Template, functions: dict[str, Function] | None = None) -> dict[str, str]:
    """The union of every function's resolved environment. cargo lambda watch gives all functions one environment, so
    a variable that two functions set to different values cannot be served locally: that is an error."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fn in (functions or template.functions()).values():
        for var, value in template.resolve(fn.environment).items():
            value = _attr_string(value)
            if var in out and out[var] != value:
                raise TemplateError(f"{var} is {out[var]!r} in {owner[var]} but {value!r} in {fn.logical_id}: "
                                    "cargo lambda watch serves every function with one environment")
            out[var], owner[var] = value, fn.logical_id
    return out


def describe(template: Template) -> dict:
    return {
        "webhook_route": asdict(template.webhook_route()),
        "data_api": asdict(template.data_api()),
        "families": [asdict(f) for f in template.families()],
        "functions": {lid: f.binary for lid, f in template.functions().items()},
        "local_resources": {lid: template.resources[lid]["Type"] for lid in template.local_resources()},
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["describe"]:
        sys.exit("usage: stack.py describe")
    json.dump(describe(Template()), sys.stdout, indent=2)
    print()
