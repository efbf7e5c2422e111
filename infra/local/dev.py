"""The local stack (`make dev`): moto, every function under cargo lambda watch, and the SQS bridge.

    infra/local/dev.sh                 start in the foreground; Ctrl-C stops everything it started
    infra/local/dev.sh --background    start, wait until ready, return (stop with --stop / make dev-down)
    infra/local/dev.sh --stop          stop the stack started from this state directory
    infra/local/dev.sh --status        say whether it runs, and where

Steps: start moto on loopback (infra/local/moto_server.py: moto with requests applied one at a time); create the
queues, dead-letter queues, bucket, table and signing secret that template.yaml describes (infra/local/stack.py);
write `stack.env` (for you and `jwh`) and `functions.env` (the functions' environment, resolved from the template);
build the workspace's binaries; start `cargo lambda watch` serving all of them; invoke each once until it answers; start the bridge (infra/local/bridge.py) that feeds each
processor from its queue.

HTTP functions answer at {LAMBDA_ENDPOINT}/lambda-url/{binary}{path}: the webhook (WEBHOOK_URL) and the read API
(DATA_API_URL, GET reads and DELETE /users/{id}). There is no API Gateway in front, so the IAM authorization of the
read API's routes is not checked locally.

Environment (all optional):
    JWH_DEV_DIR            state directory (default <repo>/.dev): stack.env, functions.env, pids, logs/
    JWH_DEV_MOTO_PORT      moto's port (default 5000, or a free port when 5000 is taken; 0: any free port)
    JWH_DEV_LAMBDA_PORT    cargo lambda's port (default 9000, or a free port when 9000 is taken; 0: any free port)
    JWH_DEV_STACK_NAME     names the resources (default jwh-dev)
    JWH_DEV_RETRY_AFTER    seconds before a failed message is retried (default: the queue's visibility timeout)
    JWH_DEV_NO_RELOAD      1: do not rebuild and restart functions when the code changes
    JWH_DEV_READY_TIMEOUT  seconds to wait for the functions to build and answer (default 1800)
    JUNCTION_API_KEY       a Junction API key: deploys the backfill fetcher, its queue and dead-letter queue; the key
                           goes into a Secrets Manager secret, as in AWS (JunctionApiKeySecretArn)
    JUNCTION_API_BASE_URL  the Data API the fetcher reads (e.g. the test stand-in), instead of Junction's
    JUNCTION_API_ENVIRONMENT  production-us (default), production-eu, sandbox-us or sandbox-eu
    FETCH_CHUNK_DAYS       days per chunk of a historical window (default 30)
    DATA_PRIORITY          the read API's source order overrides (the DataPriority parameter, e.g.
                           'sleep=provider:oura+type:ring,watch;*=watch,phone'); empty: the default order
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stack import PARAMETER_ENV, SECRET_ENV, Template, function_environment, provision  # noqa: E402

ROOT = HERE.parents[1]
VENV_BIN = ROOT / ".tools" / "venv" / "bin"
HOST = "127.0.0.1"
REGION = "us-east-1"
# moto accepts any credentials; these only keep the SDKs from looking further.
ACCESS_KEY, SECRET_KEY = "testing", "testing"
# Settings of the backfill fetcher passed from the environment to the functions (JUNCTION_API_KEY itself goes
# through the secret).
FETCH_PASSTHROUGH = ("JUNCTION_API_BASE_URL", "JUNCTION_API_ENVIRONMENT", "FETCH_CHUNK_DAYS")


def say(msg: str) -> None:
    print(f"dev: {msg}", file=sys.stderr, flush=True)


def state_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("JWH_DEV_DIR") or ROOT / ".dev").resolve()


# --- processes ------------------------------------------------------------------------------------------------------
# Every process started here gets its own session (so Ctrl-C in the terminal reaches only dev.py, which then stops
# them in order) and is recorded in <state>/pids with its start time, so that --stop signals exactly these
# processes and never a later process that reuses the pid.


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), None when there is no such process or only its zombie.
    A zombie of our own (a child that exited, in the foreground run) is reaped on the way."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return None
    return fields[19]


def children_of(pid: int) -> list[int]:
    out = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below `pid`."""
    out, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            st = start_time(child)
            if st is not None:
                out.append((child, st))
                todo.append(child)
    return out


def alive(pid: int, started: str) -> bool:
    return start_time(pid) == started


class Pids:
    """<state>/pids: one JSON object per started process."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def read(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []

    def add(self, name: str, proc: subprocess.Popen) -> None:
        entries = self.read()
        entries.append({"name": name, "pid": proc.pid, "start_time": start_time(proc.pid)})
        self.path.write_text(json.dumps(entries, indent=1))

    def running(self) -> list[dict]:
        return [e for e in self.read() if e.get("start_time") and alive(e["pid"], e["start_time"])]


# How each process is asked to stop: cargo lambda watch stops its function instances on Ctrl-C.
STOP_SIGNAL = {"lambda": signal.SIGINT}


def stop_all(pids: Pids, quiet: bool = False) -> None:
    """Stops the recorded processes, newest first: the bridge, cargo lambda watch (and its functions), moto."""
    for entry in reversed(pids.read()):
        pid, started, name = entry["pid"], entry.get("start_time"), entry["name"]
        if not started or not alive(pid, started):
            continue
        below = descendants(pid)
        sig = STOP_SIGNAL.get(name, signal.SIGTERM)
        if not quiet:
            say(f"stopping {name} (pid {pid})")
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (alive(pid, started) or any(alive(p, s) for p, s in below)):
            time.sleep(0.2)
        # Whatever is left of it: its process group, then each descendant seen before the signal, by id.
        if alive(pid, started):
            say(f"{name} (pid {pid}) did not stop: killing it")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p, s in below:
            if alive(p, s):
                say(f"killing leftover process {p} of {name}")
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    try:
        pids.path.unlink()
    except FileNotFoundError:
        pass


def default_signals() -> None:
    # A shell starts background jobs with SIGINT and SIGQUIT ignored, and children inherit that: give each process
    # the default, so that the SIGINT that stops cargo lambda watch is heard.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def spawn(name: str, cmd: list[str], log_path: pathlib.Path, pids: Pids) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=ROOT, preexec_fn=default_signals)
    pids.add(name, proc)
    return proc


# --- ports and readiness --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def choose_port(var: str, default: int) -> int:
    raw = os.environ.get(var, "")
    if raw:
        port = int(raw)
        if port == 0:
            return free_port()
        if port_taken(port):
            raise SystemExit(f"dev: {var}={port} is already in use")
        return port
    return free_port() if port_taken(default) else default


def wait_until(what: str, check, timeout: float, proc: subprocess.Popen, log_path: pathlib.Path):
    """Calls check() until it returns a truthy value, the process dies, or the timeout passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartupError(f"{what}: the process exited ({proc.returncode}); see {log_path}")
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # not up yet
            last_error = e
        time.sleep(0.5)
    raise StartupError(f"{what}: not ready after {timeout:.0f} s ({last_error}); see {log_path}")


class StartupError(Exception):
    pass


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# --- the stack ------------------------------------------------------------------------------------------------------


def new_signing_secret() -> str:
    """A Svix-style signing secret: whsec_ and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def env_file_value(value: str) -> str:
    """A value as cargo lambda watch's --env-file reader (the env-file-reader crate) takes it. Unquoted, a value ends
    at whitespace, `=`, `#` or a quote (DATA_PRIORITY's orders hold `=`); in single quotes it is kept as it is, unless
    it holds a single quote or a backslash (the reader unescapes those), which no value here needs."""
    if not re.search(r"[\s='`\"#]", value):
        return value
    if "'" in value or "\\" in value:
        raise StartupError(f"functions.env cannot hold {value!r}: cargo lambda would not read it back unchanged")
    return f"'{value}'"


def write_env(path: pathlib.Path, header: str, values: dict[str, str]) -> None:
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{k}={v}" for k, v in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def create_stack(moto_url: str, lambda_url: str, state: pathlib.Path) -> tuple[Template, dict[str, str]]:
    """Creates the template's resources in moto; writes stack.env and functions.env; returns the stack env."""
    stack_name = os.environ.get("JWH_DEV_STACK_NAME", "jwh-dev")
    session = boto3.Session(region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    class Endpoint:  # a session whose clients all talk to moto
        @staticmethod
        def client(service):
            return session.client(service, endpoint_url=moto_url)

    # A Junction API key deploys the fetcher: the key is stored in a secret and its ARN given to the template, as
    # the JunctionApiKeySecretArn parameter would be in AWS.
    parameters: dict[str, str] = {}
    api_key = os.environ.get("JUNCTION_API_KEY", "").strip()
    if api_key:
        arn = Endpoint.client("secretsmanager").create_secret(Name=f"{stack_name}-junction-api-key",
                                                              SecretString=api_key)["ARN"]
        parameters["JunctionApiKeySecretArn"] = arn
        # The functions read the key from the secret, as in AWS, not from an inherited environment.
        os.environ.pop("JUNCTION_API_KEY", None)
    # The read API's source order: the DataPriority parameter, which the template gives its functions.
    if os.environ.get("DATA_PRIORITY"):
        parameters["DataPriority"] = os.environ["DATA_PRIORITY"]
    template = Template(stack_name=stack_name, region=REGION, parameters=parameters)

    provision(template, Endpoint)
    functions = template.functions()
    fn_env = function_environment(template, functions)

    # The signing secret: fresh for every run, stored where the ingest function reads it (as after a deploy, when
    # Junction's secret is pasted into the stack's secret).
    signing_secret = new_signing_secret()
    secret_arn = fn_env.get(SECRET_ENV)
    if not secret_arn:
        raise StartupError(f"no function has {SECRET_ENV} in template.yaml")
    Endpoint.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps([signing_secret]))

    aws = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    route, data_api = template.webhook_route(), template.data_api()
    log_level = next((f.log_level for f in functions.values() if f.log_level), None)
    write_env(
        state / "functions.env",
        "Environment of every function under cargo lambda watch: template.yaml's, resolved against the local stack.\n"
        "Written by infra/local/dev.py; rewritten on every start.",
        {var: env_file_value(value) for var, value in {
            **fn_env, **aws, **({"AWS_LAMBDA_LOG_LEVEL": log_level} if log_level else {}),
            **{var: os.environ[var] for var in FETCH_PASSTHROUGH if os.environ.get(var)}}.items()},
    )
    stack_env = {
        "STACK_NAME": stack_name,
        **aws,
        "LAMBDA_ENDPOINT": lambda_url,
        "WEBHOOK_URL": f"{lambda_url}/lambda-url/{route.binary}{route.path}",
        "DATA_API_URL": f"{lambda_url}/lambda-url/{data_api.binary}{data_api.prefix}",
        "WEBHOOK_SECRET": signing_secret,
        "WEBHOOK_SECRET_ARN": secret_arn,
    }
    for var in ("TABLE_NAME", "PAYLOAD_BUCKET", "ARCHIVE_BUCKET"):
        if var in fn_env:
            stack_env[var] = fn_env[var]
    for param, var in PARAMETER_ENV.items():
        if param in parameters:
            stack_env[var] = parameters[param]
    for fam in template.families():
        stack_env[f"QUEUE_URL_{fam.key}"] = template.physical[fam.queue]["Ref"]
        stack_env[f"DLQ_URL_{fam.key}"] = template.physical[fam.dead_letter_queue]["Ref"]
    write_env(
        state / "stack.env",
        "The running local stack (make dev): read by jwh and the end-to-end test; `source` it for the AWS CLI.\n"
        "Written by infra/local/dev.py; rewritten on every start.",
        stack_env,
    )
    return template, stack_env


def build_functions() -> None:
    """Builds every binary of the workspace in one cargo call, as `make test` does: the features are those of the
    tests and of each shipped function (infra/tools/feature_graph.py checks it), and `cargo lambda watch` (`cargo
    run --bin X` at the workspace root, which resolves features the same way) finds each binary fresh."""
    started = time.monotonic()
    say("building the workspace's binaries")
    result = subprocess.run(["cargo", "build", "--workspace", "--bins", "--locked"], cwd=ROOT)
    if result.returncode != 0:
        raise StartupError("cargo build --workspace --bins failed")
    say(f"built in {time.monotonic() - started:.0f} s")


def check_invocation(status: int, body: bytes) -> bool:
    """Whether cargo lambda's answer came from the function itself (not a build or init failure)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and ("errorType" in data or data.get("title") == "Missing function"):
        raise StartupError(f"function failed: {body[:300].decode(errors='replace')}")
    return status < 500


def warm_up(template: Template, stack_env: dict[str, str], lambda_url: str, proc, log_path, timeout: float) -> None:
    """Invokes every function once (the first invocation compiles and starts it): each processor with an empty SQS
    batch, the ingest function with a GET, which it refuses with 405 once it has read its signing secret, and the
    read API with a GET of a path it does not serve, which it answers with a JSON 404."""
    for fam in template.families():
        url = f"{lambda_url}/2015-03-31/functions/{fam.binary}/invocations"
        started = time.monotonic()
        wait_until(f"{fam.binary}", lambda u=url: check_invocation(*http("POST", u, b'{"Records":[]}', timeout)),
                   timeout, proc, log_path)
        say(f"{fam.binary} answers ({time.monotonic() - started:.1f} s)")

    def ingest() -> bool:
        status, body = http("GET", stack_env["WEBHOOK_URL"], timeout=timeout)
        check_invocation(status, body)
        if status != 405:
            raise StartupError(f"the webhook URL answered GET with {status}, not 405: {body[:200]!r}")
        return True

    started = time.monotonic()
    wait_until("the webhook URL", ingest, timeout, proc, log_path)
    say(f"{template.webhook_route().binary} answers ({time.monotonic() - started:.1f} s)")

    def data_api() -> bool:
        status, body = http("GET", f"{stack_env['DATA_API_URL']}/v2/nothing", timeout=timeout)
        check_invocation(status, body)
        if status != 404 or not isinstance(json.loads(body), dict):
            raise StartupError(f"the data API answered GET /v2/nothing with {status}, not a JSON 404: {body[:200]!r}")
        return True

    started = time.monotonic()
    wait_until("the data API URL", data_api, timeout, proc, log_path)
    say(f"{template.data_api().binary} answers ({time.monotonic() - started:.1f} s)")


def fixture_user() -> str:
    """The user of the example bodies (shared/testdata/junction/fixtures), for the hint to query them back."""
    users = set()
    for path in (ROOT / "shared" / "testdata" / "junction" / "fixtures").glob("*.json"):
        try:
            users.add(json.loads(path.read_bytes()).get("user_id"))
        except (OSError, ValueError, AttributeError):
            continue
    users.discard(None)
    return users.pop() if len(users) == 1 else "<user id>"


def banner(env: dict[str, str], state: pathlib.Path, background: bool) -> str:
    def rel(p: pathlib.Path) -> str:
        try:
            return str(p.relative_to(pathlib.Path.cwd()))
        except ValueError:
            return str(p)

    stop = "make dev-down   (or infra/local/dev.sh --stop)" if background else "Ctrl-C"
    queues = "\n".join(f"      {k.removeprefix('QUEUE_URL_').lower().replace('_', '-'):<12} {v}"
                       for k, v in env.items() if k.startswith("QUEUE_URL_"))
    where = "" if state == ROOT / ".dev" else (
        f"\n    (jwh reads .dev/stack.env from the current directory up: run it under {state.parent})")
    return f"""
  local stack ready
    webhook URL     {env['WEBHOOK_URL']}
    signing secret  {env['WEBHOOK_SECRET']}
    data API        {env['DATA_API_URL']}   (GET /v2/..., DELETE /users/<id>)
                    no IAM check locally: cargo lambda watch has no API Gateway in front of it
    moto            {env['AWS_ENDPOINT_URL']}   (SQS, S3, DynamoDB, Secrets Manager, Firehose)
    lambda invoke   {env['LAMBDA_ENDPOINT']}/2015-03-31/functions/<binary>/invocations
    table {env.get('TABLE_NAME')}, bucket {env.get('PAYLOAD_BUCKET')}, archive {env.get('ARCHIVE_BUCKET') or 'off'}; queues:
{queues}
    settings        {rel(state / 'stack.env')}     logs {rel(state / 'logs')}/

  next:{where}
    target/debug/jwh send shared/testdata/junction/fixtures     (built with the stack; or `jwh` on PATH)
    target/debug/jwh query --user {fixture_user()}
    curl "{env['DATA_API_URL']}/v2/summary/sleep/{fixture_user()}?start_date=2023-01-01"
    target/debug/jwh dlq list
    target/debug/jwh replay --archive --dry-run                  (what the archive holds, per event type)
  stop: {stop}
"""


def tail(paths: dict[str, pathlib.Path], positions: dict[str, int]) -> None:
    """Prints what was appended to each log since the last call, each line prefixed with its source."""
    for name, path in paths.items():
        try:
            with open(path, "rb") as f:
                f.seek(positions.get(name, 0))
                data = f.read()
                positions[name] = f.tell()
        except OSError:
            continue
        if data:
            for line in data.decode(errors="replace").splitlines():
                print(f"{name:>6} | {line}", flush=True)


def start(background: bool) -> int:
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    logs = state / "logs"
    pids = Pids(state / "pids")
    if pids.running():
        names = ", ".join(f"{e['name']} ({e['pid']})" for e in pids.running())
        say(f"a local stack from {state} is already running: {names}. Stop it first: infra/local/dev.sh --stop")
        return 1
    stop_all(pids, quiet=True)  # a stale file
    for old in logs.glob("*.log") if logs.exists() else []:
        old.unlink()
    ready_timeout = float(os.environ.get("JWH_DEV_READY_TIMEOUT", "1800"))
    t0 = time.monotonic()

    stopping = False
    ready = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Ctrl-C, a kill, a closed terminal: each stops what was started (SIGINT too, even if inherited as ignored).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        moto_port = choose_port("JWH_DEV_MOTO_PORT", 5000)
        lambda_port = choose_port("JWH_DEV_LAMBDA_PORT", 9000)
        moto_url, lambda_url = f"http://{HOST}:{moto_port}", f"http://{HOST}:{lambda_port}"

        moto = spawn("moto", [str(VENV_BIN / "python"), str(HERE / "moto_server.py"), "-H", HOST, "-p", str(moto_port)],
                     logs / "moto.log", pids)
        wait_until("moto", lambda: http("GET", f"{moto_url}/moto-api/data.json", timeout=2)[0] == 200, 30, moto,
                   logs / "moto.log")
        say(f"moto on {moto_url}")

        template, env = create_stack(moto_url, lambda_url, state)
        say(f"created {len(template.physical)} resources from template.yaml")

        build_functions()

        watch_cmd = [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--invoke-address", HOST,
                     "--invoke-port", str(lambda_port), "--env-file", str(state / "functions.env")]
        if os.environ.get("JWH_DEV_NO_RELOAD") == "1":
            watch_cmd.append("--ignore-changes")
        lam = spawn("lambda", watch_cmd, logs / "lambda.log", pids)
        wait_until("cargo lambda watch", lambda: port_taken(lambda_port), 60, lam, logs / "lambda.log")
        warm_up(template, env, lambda_url, lam, logs / "lambda.log", ready_timeout)

        bridge_cmd = [str(VENV_BIN / "python"), "-u", str(HERE / "bridge.py"), "--stack-env", str(state / "stack.env")]
        retry_after = os.environ.get("JWH_DEV_RETRY_AFTER")
        if retry_after:
            bridge_cmd += ["--retry-after", retry_after]
        bridge = spawn("bridge", bridge_cmd, logs / "bridge.log", pids)
        wait_until("the bridge", lambda: b"bridge ready" in (logs / "bridge.log").read_bytes(), 30, bridge,
                   logs / "bridge.log")

        print(banner(env, state, background), flush=True)
        say(f"started in {time.monotonic() - t0:.0f} s")
        if background:
            ready = True
            return 0

        procs = {"moto": moto, "lambda": lam, "bridge": bridge}
        positions = {"lambda": 0, "bridge": 0}
        while True:
            tail({"lambda": logs / "lambda.log", "bridge": logs / "bridge.log"}, positions)
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                say(f"{', '.join(dead)} exited; stopping the rest (logs in {logs})")
                return 1
            time.sleep(0.3)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 0 if not background else 130
    except StartupError as e:
        say(f"could not start: {e}")
        for name in ("lambda", "bridge"):
            path = logs / f"{name}.log"
            if path.exists():
                say(f"last lines of {path}:")
                print("\n".join(path.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
        return 1
    finally:
        if not (background and ready):
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            stop_all(pids)
            say("stopped")


def status() -> int:
    state = state_dir()
    running = Pids(state / "pids").running()
    if not running:
        print(f"no local stack running from {state}")
        return 1
    for e in running:
        print(f"{e['name']:<7} pid {e['pid']}")
    env_path = state / "stack.env"
    if env_path.exists():
        for line in env_path.read_text().splitlines():
            if line.startswith(("WEBHOOK_URL=", "DATA_API_URL=", "AWS_ENDPOINT_URL=", "LAMBDA_ENDPOINT=")):
                print(line)
    return 0


def main(argv: list[str]) -> int:
    # Whatever AWS settings the shell has (a profile, a session token, a real endpoint) stay out: everything started
    # here talks to moto, with what stack.env and functions.env say.
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        del os.environ[var]
    if argv in ([], ["--foreground"]):
        return start(background=False)
    if argv == ["--background"]:
        return start(background=True)
    if argv == ["--stop"]:
        pids = Pids(state_dir() / "pids")
        if not pids.running():
            say(f"no local stack running from {state_dir()}")
        stop_all(pids)
        return 0
    if argv == ["--status"]:
        return status()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
