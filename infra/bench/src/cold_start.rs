//! Cold start: each bootstrap binary started against a minimal local Lambda Runtime API, timed from process start
//! to its first `/next` request (init) and to its first response (init plus one invocation).
//!
//! The harness plays two servers on loopback:
//! - the Runtime API (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): `GET .../invocation/next`
//!   hands out a prepared event, `POST .../invocation/{id}/response` (or `/error`, `/init/error`) ends it;
//! - a stub AWS endpoint (`AWS_ENDPOINT_URL`) answering SQS `SendMessage`, DynamoDB `GetItem`/`PutItem`/
//!   `UpdateItem` and Secrets Manager `GetSecretValue` with minimal valid JSON, so that the first invocation runs
//!   its real path (verify, route, enqueue; dedupe, store, mark) with no network beyond loopback. Every call the
//!   stub sees is timed: one that arrives before the first `/next` is network I/O at init.
//!
//! Each function is started `runs` times, interleaved with the others and with the baseline (`jwh-bench-echo`,
//! the smallest Lambda on the same runtime crate), so drift on this shared machine hits all alike. The process
//! gets the environment Lambda would give it (function name, memory, log format, credentials, region) and
//! nothing else. It is killed after its second (warm) response.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use jwh_testkit::events::HttpFormat;
use jwh_testkit::fixtures::fixture;
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// One function to start: its binary, its environment and what it is invoked with.
#[derive(Debug, Clone)]
pub struct Function {
    /// Name in the report (`ingest`, `summaries`, ..., `echo (baseline)`).
    pub name: String,
    /// Path of the binary.
    pub binary: PathBuf,
    env: Vec<(String, String)>,
    event: EventKind,
}

#[derive(Debug, Clone)]
enum EventKind {
    /// An HTTP API (payload 2.0) request carrying a signed webhook.
    Webhook(Vec<u8>),
    /// An SQS batch of one record carrying this body, as the ingest function would have enqueued it.
    Sqs(Vec<u8>),
    /// Any JSON (the echo baseline).
    Json(Value),
}

impl EventKind {
    fn render(&self, n: u32) -> String {
        match self {
            EventKind::Webhook(body) => webhook_event(body, &format!("msg_cold_{n}")),
            EventKind::Sqs(body) => sqs_event(body, &format!("msg_cold_{n}")),
            EventKind::Json(v) => v.to_string(),
        }
    }

    /// Whether a response is the success the invocation should produce.
    fn succeeded(&self, response: &str) -> bool {
        let v: Value = serde_json::from_str(response).unwrap_or_default();
        match self {
            EventKind::Webhook(_) => v["statusCode"] == 200,
            EventKind::Sqs(_) => v["batchItemFailures"]
                .as_array()
                .is_some_and(|a| a.is_empty()),
            EventKind::Json(_) => !v.is_null(),
        }
    }
}

/// The functions of the stack and the baseline, as built in `bin_dir`.
pub fn functions(bin_dir: &Path) -> Vec<Function> {
    let queue_env: Vec<(String, String)> = jwh_shared::family::Family::ALL
        .iter()
        .map(|f| {
            (
                f.env_var().to_owned(),
                format!(
                    "https://sqs.us-east-1.amazonaws.com/123456789012/{}",
                    f.as_str()
                ),
            )
        })
        .collect();
    let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let mut ingest_env = queue_env.clone();
    ingest_env.extend(with(&[
        ("PAYLOAD_BUCKET", "payloads"),
        ("WEBHOOK_SECRET", SECRET),
        ("MAX_BODY_BYTES", "6000000"),
        ("SIGNATURE_TOLERANCE_SECS", "300"),
    ]));
    let mut ingest_sm_env = queue_env;
    ingest_sm_env.extend(with(&[
        ("PAYLOAD_BUCKET", "payloads"),
        (
            "WEBHOOK_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
        ),
        ("MAX_BODY_BYTES", "6000000"),
        ("SIGNATURE_TOLERANCE_SECS", "300"),
    ]));
    let processor_env = with(&[
        ("TABLE_NAME", "records"),
        ("IDEMPOTENCY_TTL_DAYS", "7"),
        ("BATCH_CONCURRENCY", "8"),
        ("PAYLOAD_BUCKET", "payloads"),
    ]);
    let processor = |name: &str, binary: &str, event_type: &str| Function {
        name: name.to_owned(),
        binary: bin_dir.join(binary),
        env: processor_env.clone(),
        event: EventKind::Sqs(fixture(event_type)),
    };
    let webhook = fixture("daily.data.activity.created");
    vec![
        Function {
            name: "echo (baseline)".into(),
            binary: bin_dir.join("jwh-bench-echo"),
            env: Vec::new(),
            event: EventKind::Json(json!({"hello": "world"})),
        },
        Function {
            name: "ingest".into(),
            binary: bin_dir.join("jwh-ingest"),
            env: ingest_env,
            event: EventKind::Webhook(webhook.clone()),
        },
        Function {
            name: "ingest (Secrets Manager)".into(),
            binary: bin_dir.join("jwh-ingest"),
            env: ingest_sm_env,
            event: EventKind::Webhook(webhook),
        },
        processor(
            "connections",
            "jwh-connections",
            "provider.connection.created",
        ),
        processor(
            "backfills",
            "jwh-backfills",
            "historical.data.sleep.created",
        ),
        processor("summaries", "jwh-summaries", "daily.data.sleep.created"),
        processor(
            "timeseries",
            "jwh-timeseries",
            "daily.data.heartrate.created",
        ),
        processor("lab", "jwh-lab", "labtest.order.updated"),
        // The read API, asked for a path it does not serve: init and a first answer, no table read.
        Function {
            name: "data api".into(),
            binary: bin_dir.join("jwh-api"),
            env: with(&[
                ("TABLE_NAME", "records"),
                ("API_PREFIX", "/data"),
                ("DATA_PRIORITY", ""),
                ("PAYLOAD_BUCKET", "payloads"),
            ]),
            event: EventKind::Json(json!({
                "version": "2.0", "routeKey": "GET /data/{proxy+}", "rawPath": "/data/v2/nothing",
                "rawQueryString": "", "requestContext": {"http": {"method": "GET", "path": "/data/v2/nothing"}},
            })),
        },
        processor(
            "catch-all",
            "jwh-catch-all",
            "continuous_query.result_table.changed",
        ),
    ]
}

fn webhook_event(body: &[u8], svix_id: &str) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut headers = jwh_testkit::svix::headers(&[SECRET], svix_id, ts, body);
    headers.extend([
        ("content-length", body.len().to_string()),
        ("host", "api.execute-api.us-east-1.amazonaws.com".to_owned()),
        ("user-agent", "Svix-Webhooks/1.0".to_owned()),
        ("x-forwarded-proto", "https".to_owned()),
    ]);
    let body = std::str::from_utf8(body).expect("fixture is UTF-8");
    jwh_testkit::events::http_event_json(HttpFormat::HttpApi, "POST", &headers, body, false)
        .to_string()
}

fn sqs_event(body: &[u8], svix_id: &str) -> String {
    let record = jwh_testkit::events::meta_for(svix_id, body).to_lambda_record(
        &format!("m-{svix_id}"),
        std::str::from_utf8(body).expect("fixture is UTF-8"),
        None,
    );
    json!({ "Records": [record] }).to_string()
}

// --- the servers ------------------------------------------------------------------------------------------------

/// What happened during one run, as seen by the servers and the log readers.
#[derive(Debug, Default)]
struct RunState {
    /// Bumped per run; a `/next` poll of an older run is left hanging until the process is killed.
    generation: u64,
    events: VecDeque<String>,
    nexts: Vec<Instant>,
    responses: Vec<(Instant, String)>,
    errors: Vec<String>,
    aws_calls: Vec<(Instant, String)>,
    log_lines: Vec<(Instant, usize)>,
}

type Shared = Arc<(Mutex<RunState>, Condvar)>;

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        request.body.resize(len, 0);
        reader.read_exact(&mut request.body).ok()?;
    } else if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    reader.read_line(&mut t).ok()?;
                    if t.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    }
    Some(request)
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) -> bool {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).is_ok()
}

fn serve(
    listener: TcpListener,
    shared: Shared,
    handler: fn(&Shared, HttpRequest, &mut TcpStream) -> bool,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut writer = match stream.try_clone() {
                    Ok(w) => w,
                    Err(_) => return,
                };
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_request(&mut reader) {
                    if !handler(&shared, request, &mut writer) {
                        return;
                    }
                }
            });
        }
    });
}

/// The Runtime API.
fn runtime_api(shared: &Shared, request: HttpRequest, stream: &mut TcpStream) -> bool {
    let now = Instant::now();
    let (lock, cvar) = &**shared;
    let path = request.path.as_str();
    if request.method == "GET" && path.ends_with("/runtime/invocation/next") {
        let mut state = lock.lock().unwrap();
        state.nexts.push(now);
        let generation = state.generation;
        cvar.notify_all();
        let event = loop {
            if state.generation != generation {
                return false;
            }
            if let Some(e) = state.events.pop_front() {
                break e;
            }
            let (s, _) = cvar
                .wait_timeout(state, Duration::from_millis(200))
                .unwrap();
            state = s;
        };
        drop(state);
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        return respond(
            stream,
            "200 OK",
            &[
                ("content-type", "application/json".into()),
                ("lambda-runtime-aws-request-id", request_id(generation)),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
                        .into(),
                ),
            ],
            &event,
        );
    }
    let body = String::from_utf8_lossy(&request.body).into_owned();
    {
        let mut state = lock.lock().unwrap();
        if path.ends_with("/response") {
            state.responses.push((now, body));
        } else {
            state.errors.push(format!("{path}: {body}"));
        }
        cvar.notify_all();
    }
    respond(
        stream,
        "202 Accepted",
        &[("content-type", "application/json".into())],
        r#"{"status":"OK"}"#,
    )
}

/// A request id shaped like Lambda's (a UUID), so that log lines have their real length.
fn request_id(generation: u64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-{:04x}-4000-8000-{:012x}", generation, n & 0xffff, n)
}

/// The stub AWS endpoint.
fn aws_stub(shared: &Shared, request: HttpRequest, stream: &mut TcpStream) -> bool {
    let now = Instant::now();
    let target = request.header("x-amz-target").unwrap_or("?").to_owned();
    {
        let (lock, _) = &**shared;
        lock.lock().unwrap().aws_calls.push((now, target.clone()));
    }
    let operation = target.rsplit('.').next().unwrap_or_default();
    let (content_type, body) = match operation {
        "SendMessage" => (
            "application/x-amz-json-1.0",
            r#"{"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274","MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e"}"#
                .to_owned(),
        ),
        "GetSecretValue" => (
            "application/x-amz-json-1.1",
            json!({"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
                   "Name": "webhook", "VersionId": "v1",
                   "SecretString": json!([SECRET]).to_string(), "CreatedDate": 1.7e9})
            .to_string(),
        ),
        // DynamoDB GetItem (nothing there), PutItem, UpdateItem.
        _ => ("application/x-amz-json-1.0", "{}".to_owned()),
    };
    respond(
        stream,
        "200 OK",
        &[
            ("content-type", content_type.into()),
            ("x-amzn-requestid", "bench".into()),
        ],
        &body,
    )
}

// --- one run -------------------------------------------------------------------------------------------------------

/// The timings of one start.
#[derive(Debug, Clone)]
struct Run {
    init_ms: f64,
    first_response_ms: f64,
    warm_ms: f64,
    init_aws_calls: Vec<String>,
    invocation_aws_calls: usize,
    init_log_bytes: usize,
    invocation_log_bytes: usize,
    max_rss_kib: u64,
}

struct Harness {
    shared: Shared,
    runtime_addr: String,
    aws_addr: String,
    /// Set on every process after the rest (experiments: `--env SSL_CERT_DIR=/nonexistent`).
    extra_env: Vec<(String, String)>,
}

impl Harness {
    fn start() -> std::io::Result<Harness> {
        let shared: Shared = Arc::new((Mutex::new(RunState::default()), Condvar::new()));
        let runtime = TcpListener::bind("127.0.0.1:0")?;
        let aws = TcpListener::bind("127.0.0.1:0")?;
        let runtime_addr = runtime.local_addr()?.to_string();
        let aws_addr = aws.local_addr()?.to_string();
        serve(runtime, shared.clone(), runtime_api);
        serve(aws, shared.clone(), aws_stub);
        Ok(Harness {
            shared,
            runtime_addr,
            aws_addr,
            extra_env: Vec::new(),
        })
    }

    fn command(&self, f: &Function) -> Command {
        let mut cmd = Command::new(&f.binary);
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("bench-{}", f.name))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/30/[$LATEST]bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
            .env("AWS_SECRET_ACCESS_KEY", "benchmark")
            .env("AWS_SESSION_TOKEN", "benchmark")
            .env("AWS_ENDPOINT_URL", format!("http://{}", self.aws_addr))
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in f.env.iter().chain(&self.extra_env) {
            cmd.env(k, v);
        }
        cmd
    }

    fn read_logs(&self, child: &mut Child) {
        let pipes: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for pipe in pipes {
            let shared = self.shared.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let (lock, _) = &*shared;
                    lock.lock()
                        .unwrap()
                        .log_lines
                        .push((Instant::now(), line.len()));
                    if std::env::var_os("JWH_BENCH_SHOW_LOGS").is_some() {
                        eprint!("    | {line}");
                    }
                    line.clear();
                }
            });
        }
    }

    fn run(&self, f: &Function, n: u32) -> Result<Run, String> {
        let (lock, cvar) = &*self.shared;
        {
            let mut state = lock.lock().unwrap();
            let generation = state.generation + 1;
            *state = RunState {
                generation,
                events: VecDeque::from([f.event.render(2 * n), f.event.render(2 * n + 1)]),
                ..RunState::default()
            };
        }
        let mut cmd = self.command(f);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", f.binary.display()))?;
        self.read_logs(&mut child);
        let result = (|| {
            let mut state = lock.lock().unwrap();
            while state.responses.len() < 2 && state.errors.is_empty() {
                if started.elapsed() > RUN_TIMEOUT {
                    return Err(format!("{}: no response within {RUN_TIMEOUT:?}", f.name));
                }
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{}: exited early ({status})", f.name));
                }
                state = cvar
                    .wait_timeout(state, Duration::from_millis(50))
                    .unwrap()
                    .0;
            }
            if !state.errors.is_empty() {
                return Err(format!("{}: {}", f.name, state.errors.join("; ")));
            }
            for (_, body) in &state.responses {
                if !f.event.succeeded(body) {
                    return Err(format!("{}: unexpected response {body}", f.name));
                }
            }
            Ok(())
        })();
        let max_rss_kib = max_rss_kib(child.id());
        let _ = child.kill();
        let _ = child.wait();
        result?;
        // Let the log readers drain what the process wrote before it was killed.
        std::thread::sleep(Duration::from_millis(20));
        let state = lock.lock().unwrap();
        let ms = |t: Instant| t.duration_since(started).as_secs_f64() * 1000.0;
        let first_next = state.nexts[0];
        let second_next = state.nexts.get(1).copied().unwrap_or(first_next);
        let init_aws_calls = state
            .aws_calls
            .iter()
            .filter(|(t, _)| *t < first_next)
            .map(|(_, target)| target.clone())
            .collect::<Vec<_>>();
        let init_log_bytes = state
            .log_lines
            .iter()
            .filter(|(t, _)| *t < first_next)
            .map(|(_, n)| n)
            .sum();
        let all_log_bytes: usize = state.log_lines.iter().map(|(_, n)| n).sum();
        Ok(Run {
            init_ms: ms(first_next),
            first_response_ms: ms(state.responses[0].0),
            warm_ms: state.responses[1]
                .0
                .duration_since(second_next)
                .as_secs_f64()
                * 1000.0,
            invocation_aws_calls: state.aws_calls.len() - init_aws_calls.len(),
            init_aws_calls,
            init_log_bytes,
            invocation_log_bytes: all_log_bytes - init_log_bytes,
            max_rss_kib,
        })
    }
}

fn max_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// --- statistics and the report -------------------------------------------------------------------------------------

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (v.len() - 1) as f64).round() as usize;
    v[rank]
}

/// Runs the benchmark; prints the table and writes the figures to `out`. Returns whether the targets are met.
pub fn run(
    functions: &[Function],
    runs: u32,
    extra_env: &[(String, String)],
    out: &Path,
) -> Result<bool, String> {
    for f in functions {
        if !f.binary.exists() {
            return Err(format!(
                "{} not built: cargo build --release -p <crate> (see `make bench`)",
                f.binary.display()
            ));
        }
    }
    let mut harness = Harness::start().map_err(|e| format!("servers: {e}"))?;
    harness.extra_env = extra_env.to_vec();
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); functions.len()];
    // One unmeasured start of each first: page cache, dynamic loader.
    for f in functions {
        harness.run(f, 0)?;
    }
    for n in 1..=runs {
        for (i, f) in functions.iter().enumerate() {
            results[i].push(harness.run(f, n)?);
        }
    }

    say!(
        "\nCold start: process start to first /next (init) and to first response; {runs} starts each, interleaved"
    );
    say!(
        "{:<26} {:>9} {:>9} {:>11} {:>9} {:>9} {:>8} {:>8} {:>10}",
        "function",
        "init p50",
        "init p90",
        "1st resp50",
        "resp p90",
        "x echo",
        "warm p50",
        "RSS MiB",
        "log B/inv"
    );
    let baseline = percentile(
        &results[0]
            .iter()
            .map(|r| r.first_response_ms)
            .collect::<Vec<_>>(),
        0.5,
    );
    let mut report = Vec::new();
    let mut met = true;
    for (f, runs) in functions.iter().zip(&results) {
        let col = |get: fn(&Run) -> f64| runs.iter().map(get).collect::<Vec<_>>();
        let init = col(|r| r.init_ms);
        let first = col(|r| r.first_response_ms);
        let warm = col(|r| r.warm_ms);
        let rss = runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
        // Per invocation: two invocations ran.
        let log_bytes = runs.iter().map(|r| r.invocation_log_bytes).sum::<usize>() as f64
            / (2 * runs.len()) as f64;
        let init_calls = runs
            .iter()
            .map(|r| r.init_aws_calls.clone())
            .max_by_key(Vec::len)
            .unwrap_or_default();
        say!(
            "{:<26} {:>7.2}ms {:>7.2}ms {:>9.2}ms {:>7.2}ms {:>8.2}x {:>6.2}ms {:>8.1} {:>10.0}",
            f.name,
            percentile(&init, 0.5),
            percentile(&init, 0.9),
            percentile(&first, 0.5),
            percentile(&first, 0.9),
            percentile(&first, 0.5) / baseline,
            percentile(&warm, 0.5),
            rss as f64 / 1024.0,
            log_bytes,
        );
        if !init_calls.is_empty() {
            say!("    network at init: {}", init_calls.join(", "));
        }
        if f.name == "ingest" {
            let p50 = percentile(&first, 0.5);
            let ok = p50 <= 15.0;
            met &= ok;
            say!(
                "    target <= 15 ms median to first response: {p50:.2} ms ({})",
                if ok {
                    "met".to_owned()
                } else {
                    format!("MISSED by {:.2} ms", p50 - 15.0)
                }
            );
        }
        report.push(json!({
            "name": f.name,
            "binary": f.binary.file_name().map(|n| n.to_string_lossy().into_owned()),
            "runs": runs.len(),
            "init_ms_median": percentile(&init, 0.5),
            "init_ms_p90": percentile(&init, 0.9),
            "first_response_ms_median": percentile(&first, 0.5),
            "first_response_ms_p90": percentile(&first, 0.9),
            "first_response_vs_baseline": percentile(&first, 0.5) / baseline,
            "warm_ms_median": percentile(&warm, 0.5),
            "max_rss_kib": rss,
            "log_bytes_per_invocation": log_bytes,
            "init_log_bytes": runs.first().map_or(0, |r| r.init_log_bytes),
            "aws_calls_at_init": init_calls,
            "aws_calls_per_start_after_init": runs.first().map_or(0, |r| r.invocation_aws_calls),
        }));
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        out,
        serde_json::to_vec_pretty(&json!({ "functions": report })).unwrap(),
    )
    .map_err(|e| format!("{}: {e}", out.display()))?;
    say!("figures written to {}", out.display());
    Ok(met)
}

// --- binary sizes --------------------------------------------------------------------------------------------------

/// Prints the size of each function's binary (host, and arm64 from `sam build` when present); returns whether all
/// are within `limit_bytes`.
pub fn sizes(host_bins: &[(String, PathBuf)], arm64_dir: &Path, limit_bytes: u64) -> bool {
    say!(
        "\nBinary sizes (release profile: fat LTO, codegen-units 1, stripped); target <= {:.1} MB each",
        limit_bytes as f64 / 1e6
    );
    let baseline = host_bins
        .iter()
        .find(|(n, _)| n == "jwh-bench-echo")
        .and_then(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len());
    let mut met = true;
    for (name, path) in host_bins {
        let Ok(meta) = std::fs::metadata(path) else {
            say!("{name:<18} (not built)");
            continue;
        };
        let size = meta.len();
        let arm = arm64_dir.join(arm64_function(name)).join("bootstrap");
        let arm_size = std::fs::metadata(&arm).ok().map(|m| m.len());
        let is_function = name != "jwh-bench-echo";
        let ok = size <= limit_bytes && arm_size.is_none_or(|s| s <= limit_bytes);
        if is_function {
            met &= ok;
        }
        let zipped =
            zipped_size(path).map_or(String::new(), |z| format!(", zip {:.2} MB", z as f64 / 1e6));
        say!(
            "{name:<18} x86_64 {:>6.2} MB{zipped}{}  arm64 {}{}",
            size as f64 / 1e6,
            baseline
                .filter(|_| is_function)
                .map_or(String::new(), |b| format!(
                    " ({:.1}x echo)",
                    size as f64 / b as f64
                )),
            arm_size.map_or("(run `make build`)".to_owned(), |s| format!(
                "{:.2} MB",
                s as f64 / 1e6
            )),
            if !is_function {
                "  baseline".to_owned()
            } else if ok {
                String::new()
            } else {
                format!(
                    "  over by {:.2} MB",
                    (size.max(arm_size.unwrap_or(0)) as f64 - limit_bytes as f64) / 1e6
                )
            }
        );
    }
    met
}

/// The size of the deployment zip Lambda would receive (`zip -9`), when `zip` is installed.
fn zipped_size(path: &Path) -> Option<u64> {
    let out = Command::new("zip")
        .args(["-q", "-9", "-X", "-"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

/// The SAM logical id of a binary's function (`.aws-sam/build/<id>/bootstrap`).
fn arm64_function(binary: &str) -> &'static str {
    match binary {
        "jwh-ingest" => "IngestFunction",
        "jwh-connections" => "ConnectionsProcessor",
        "jwh-backfills" => "BackfillsProcessor",
        "jwh-summaries" => "SummariesProcessor",
        "jwh-timeseries" => "TimeseriesProcessor",
        "jwh-lab" => "LabProcessor",
        "jwh-catch-all" => "CatchAllProcessor",
        "jwh-api" => "DataApiFunction",
        _ => "-",
    }
}
