//! `jwh webhooks` end to end: the built binary against a local stand-in for Junction's Org Management API
//! (`org_management_standin.py`, built from the spec in `shared/testdata/junction/`; not Junction), moto's
//! Secrets Manager and CloudFormation, and the ingest handler run in-process behind a loopback HTTP server that
//! reads its signing secrets from moto, as the deployed function does.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::events::EventType;
use jwh_shared::family::Family;
use lambda_http::Body;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

const MANAGEMENT_KEY: &str = "mk_test_Zr8QpXv2Lw5Nc7Ty";
const ORG: &str = "0b7c2b9e-3f4a-4d8e-9c1a-5e6f7a8b9c0d";
const TEAM: &str = "6b74423d-0504-4470-9afb-477252ccf67a";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use jwh_testkit::moto::{endpoint as moto, free_port, unique};

/// The stand-in Org Management API. It serves until its stdin closes: when this value drops, or the test
/// process ends.
struct Standin {
    url: String,
    child: Child,
}

impl Standin {
    fn start() -> Standin {
        let python = [".tools/venv/bin/python3", ".tools/venv/bin/python"]
            .iter()
            .map(|p| repo_root().join(p))
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("python3"));
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/org_management_standin.py"))
            .arg("--spec")
            .arg(repo_root().join("shared/testdata/junction/org-management-api.json"))
            .args(["--org", ORG, "--team", TEAM])
            .env("STANDIN_MANAGEMENT_KEY", MANAGEMENT_KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the stand-in (python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "stand-in said {line:?}"
        );
        Standin {
            url: line.trim().to_owned(),
            child,
        }
    }

    /// The requests it served: (method, path after `/webhook`, status).
    fn requests(&self) -> Vec<(String, String, u16)> {
        let text = ureq::get(format!("{}/_standin/requests", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        all.iter()
            .map(|r| {
                let path = r["path"].as_str().unwrap();
                let tail = path.split_once("/webhook").map_or(path, |(_, t)| t);
                (
                    r["method"].as_str().unwrap().to_owned(),
                    tail.to_owned(),
                    r["status"].as_u64().unwrap() as u16,
                )
            })
            .collect()
    }

    /// The endpoint's current secret (through the stand-in's test hook, so it is not counted as an API call).
    fn secret(&self, id: &str) -> String {
        current_secret(&self.url, id)
    }
}

fn current_secret(standin: &str, id: &str) -> String {
    let text = ureq::get(format!("{standin}/_standin/secrets/{id}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Drop for Standin {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// What a `jwh` run printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `jwh` with none of the caller's settings: AWS pointed at moto, Junction at the stand-in.
struct Jwh {
    cwd: PathBuf,
    standin: String,
    /// Every run's output, to check that the management key never appears.
    seen: std::sync::Mutex<String>,
}

impl Jwh {
    fn new(standin: &Standin, name: &str) -> Jwh {
        let cwd = std::env::temp_dir().join(format!("jwh-webhooks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cwd);
        std::fs::create_dir_all(&cwd).unwrap();
        Jwh {
            cwd,
            standin: standin.url.clone(),
            seen: std::sync::Mutex::new(String::new()),
        }
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jwh"));
        command.arg("webhooks").args(args).current_dir(&self.cwd);
        for (name, _) in std::env::vars() {
            if ["AWS_", "JWH_", "JUNCTION_", "WEBHOOK_"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                command.env_remove(name);
            }
        }
        command
            .env("AWS_ENDPOINT_URL", moto())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("JUNCTION_MANAGEMENT_KEY", MANAGEMENT_KEY)
            .env("JUNCTION_MANAGEMENT_API_URL", &self.standin)
            .env("JUNCTION_ORG_ID", ORG)
            .env("JUNCTION_TEAM_ID", TEAM)
            .env("JUNCTION_ENVIRONMENT", "sandbox");
        for (k, v) in env {
            command.env(k, v);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = command.stdin(Stdio::null()).output().unwrap();
        let run = Run {
            code: status.code(),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        };
        let mut seen = self.seen.lock().unwrap();
        seen.push_str(&run.stdout);
        seen.push_str(&run.stderr);
        run
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs and expects exit 0.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code,
            Some(0),
            "jwh webhooks {args:?}\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    }
}

async fn sdk() -> SdkConfig {
    jwh_testkit::moto::sdk_config().await
}

/// The stack's signing-secret secret as the template creates it: `["whsec_REPLACE_ME"]`.
async fn placeholder_secret(config: &SdkConfig) -> String {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(unique("jwh/junction-webhook-signing-secrets"))
        .secret_string(r#"["whsec_REPLACE_ME"]"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// A stack whose `WebhookUrl` and `WebhookSecretArn` outputs are `url` and `arn`, as the template's are.
async fn stack(config: &SdkConfig, url: &str, arn: &str) -> String {
    let name = unique("jwh-webhooks");
    let template = serde_json::json!({
        "Parameters": {"Url": {"Type": "String"}, "SecretArn": {"Type": "String"}},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "WebhookUrl": {"Value": {"Ref": "Url"}},
            "WebhookSecretArn": {"Value": {"Ref": "SecretArn"}}
        }
    });
    let param = |k: &str, v: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    aws_sdk_cloudformation::Client::new(config)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .parameters(param("Url", url))
        .parameters(param("SecretArn", arn))
        .send()
        .await
        .unwrap();
    name
}

async fn secret_list(config: &SdkConfig, arn: &str) -> Vec<String> {
    let text = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn secret_tags(config: &SdkConfig, arn: &str) -> Vec<(String, String)> {
    aws_sdk_secretsmanager::Client::new(config)
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect()
}

/// An ingest handler over fresh queues and bucket in moto, reading its secrets from `arn` like the deployed
/// function (refreshing after a failed verification at most once a second instead of once a minute).
async fn ingest(config: &SdkConfig, arn: &str) -> Arc<Ingest> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut queue_urls: [String; 6] = Default::default();
    for (slot, family) in queue_urls.iter_mut().zip(Family::ALL) {
        *slot = sqs
            .create_queue()
            .queue_name(unique(family.as_str()))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
    }
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("payloads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let secrets = SigningSecrets::from_secrets_manager(
        aws_sdk_secretsmanager::Client::new(config),
        arn.to_owned(),
        jwh_shared::signature::DEFAULT_TOLERANCE_SECS,
    )
    .with_refresh_interval(Duration::from_secs(1));
    let _ = secrets.refresh().await; // as at a cold start; a placeholder list fails here and is retried later
    Arc::new(Ingest {
        sqs,
        s3,
        queue_urls,
        payload_bucket: bucket,
        secrets,
        max_body_bytes: 6_000_000,
    })
}

/// Serves `ingest` over HTTP/1.1 on loopback (one request per connection) and returns its webhook URL.
fn serve(runtime: &tokio::runtime::Runtime, ingest: Arc<Ingest>) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!(
        "http://{}/webhooks/junction",
        listener.local_addr().unwrap()
    );
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let ingest = ingest.clone();
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).await.ok()?;
                let method = request_line.split_whitespace().next()?.to_owned();
                let mut builder = http::Request::builder()
                    .method(method.as_str())
                    .uri("/webhooks/junction");
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.ok()?;
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(':')?;
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().ok()?;
                    }
                    builder = builder.header(name.trim(), value.trim());
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.ok()?;
                let response = ingest.handle(builder.body(Body::Binary(body)).ok()?).await;
                let status = response.status();
                let text = format!(
                    "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                );
                reader.get_mut().write_all(text.as_bytes()).await.ok()
            });
        }
    });
    url
}

/// A delivery as Svix makes it: signed with every secret it currently signs with.
fn delivery(secrets: &[&str], id: &str) -> lambda_http::Request {
    let body = jwh_testkit::fixtures::fixture("daily.data.heartrate.created");
    jwh_testkit::svix::request(secrets, id, body)
}

async fn status(ingest: &Ingest, secrets: &[&str], id: &str) -> u16 {
    ingest.handle(delivery(secrets, id)).await.status().as_u16()
}

#[test]
fn create_get_update_headers_rotate_delete() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = runtime.block_on(sdk());
    let standin = Standin::start();
    let jwh = Jwh::new(&standin, "lifecycle");

    // The receiver: ingest reading the stack's secret, which still holds the template's placeholder.
    let arn = runtime.block_on(placeholder_secret(&config));
    let receiver = runtime.block_on(ingest(&config, &arn));
    let url = serve(&runtime, receiver.clone());
    let stack_name = runtime.block_on(stack(&config, &url, &arn));

    // create: URL and secret ARN from the stack, event types from the family.
    let created = jwh
        .ok(&[
            "create",
            "--stack",
            &stack_name,
            "--family",
            "timeseries",
            "--description",
            "receiver",
            "--json",
        ])
        .json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ep_"), "{created}");
    assert_eq!(created["url"], url.as_str());
    assert_eq!(created["description"], "receiver");
    let timeseries: Vec<String> = EventType::all_known()
        .filter(|t| t.family() == Family::Timeseries)
        .map(|t| t.as_str().into_owned())
        .collect();
    assert_eq!(
        timeseries.len(),
        100,
        "daily.data.R.created and .updated of the 50 timeseries resources"
    );
    assert_eq!(created["filter_types"], serde_json::json!(timeseries));
    let first = standin.secret(&id);
    assert_eq!(
        runtime.block_on(secret_list(&config, &arn)),
        vec![first.clone()],
        "the placeholder is replaced by the endpoint's secret"
    );
    assert_eq!(jwh.ok(&["secret", &id]).stdout, format!("{first}\n"));
    // The receiver read the placeholder at its cold start; it may re-read the list a second later.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        runtime.block_on(status(&receiver, &[&first], "msg_after_create")),
        200,
        "a delivery signed with the new endpoint's secret verifies at ingest"
    );

    // get, update, list.
    let got = jwh.ok(&["get", &id, "--json"]).json();
    assert_eq!(got, created);
    let table = jwh.ok(&["get", &id]).stdout;
    assert!(
        table.starts_with("FIELD        VALUE\nid           "),
        "{table}"
    );
    assert!(
        table.contains(&format!("\nurl          {url}\n")),
        "{table}"
    );
    let updated = jwh
        .ok(&[
            "update",
            &id,
            "--description",
            "paused",
            "--disable",
            "--rate-limit",
            "20",
            "--json",
        ])
        .json();
    assert_eq!(updated["description"], "paused");
    assert_eq!(updated["disabled"], true);
    assert_eq!(updated["rate_limit"], 20);
    assert_eq!(updated["filter_types"], created["filter_types"]);
    let updated = jwh
        .ok(&[
            "update",
            &id,
            "--enable",
            "--all-event-types",
            "--no-rate-limit",
            "--json",
        ])
        .json();
    assert_eq!(updated["disabled"], false);
    assert_eq!(updated["filter_types"], serde_json::Value::Null);
    assert_eq!(updated["rate_limit"], serde_json::Value::Null);
    let listed = jwh.ok(&["list", "--json"]).json();
    assert_eq!(listed, serde_json::json!([updated]));
    assert_eq!(
        jwh.ok(&["list"]).stdout,
        format!(
            "ID{}  STATE    EVENT TYPES  URL\n{id}  enabled  all          {url}\n",
            " ".repeat(id.len() - 2)
        )
    );

    // headers: replace all, sensitive values hidden on the way back.
    let shown = jwh
        .ok(&[
            "headers",
            &id,
            "--set",
            "X-Receiver=jwh",
            "--set",
            "Authorization=Bearer abc",
        ])
        .stdout;
    assert_eq!(
        shown,
        "NAME           VALUE\nAuthorization  (hidden)\nX-Receiver     jwh\n"
    );
    assert_eq!(
        jwh.ok(&["headers", &id, "--json"]).json(),
        serde_json::json!({"headers": {"X-Receiver": "jwh"}, "sensitive": ["Authorization"]})
    );
    assert_eq!(
        jwh.ok(&["headers", &id, "--clear", "--json"]).json(),
        serde_json::json!({"headers": {}, "sensitive": []})
    );

    // rotate-secret while Svix-style deliveries keep arriving: none may fail.
    let before_rotation = standin.requests().len();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (stop, receiver, standin_url, id, old) = (
            stop.clone(),
            receiver.clone(),
            standin.url.clone(),
            id.clone(),
            first.clone(),
        );
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut statuses = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let current = current_secret(&standin_url, &id);
                // Svix signs with the new secret and, for 24 h, the old one too.
                let signing: Vec<&str> = if current == old {
                    vec![old.as_str()]
                } else {
                    vec![current.as_str(), old.as_str()]
                };
                n += 1;
                let got = runtime.block_on(status(&receiver, &signing, &format!("msg_during_{n}")));
                statuses.push((signing.len(), got));
            }
            statuses
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let rotation = jwh.ok(&["rotate-secret", &id, "--stack", &stack_name]);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let statuses = sender.join().unwrap();
    let second = standin.secret(&id);
    assert_ne!(second, first);
    assert!(statuses.iter().all(|(_, s)| *s == 200), "{statuses:?}");
    assert!(
        statuses.iter().any(|(n, _)| *n == 1),
        "deliveries before the rotation"
    );
    assert!(
        statuses.iter().any(|(n, _)| *n == 2),
        "deliveries after the rotation"
    );
    println!(
        "during the rotation: {} deliveries, all 200 ({} signed with the old secret only, {} with both)",
        statuses.len(),
        statuses.iter().filter(|(n, _)| *n == 1).count(),
        statuses.iter().filter(|(n, _)| *n == 2).count()
    );
    // Four API calls: read the endpoint and its secret, rotate to the new secret, read it back.
    assert_eq!(
        standin.requests()[before_rotation..],
        [
            ("GET".to_owned(), format!("/{id}"), 200),
            ("GET".to_owned(), format!("/{id}/secret"), 200),
            ("POST".to_owned(), format!("/{id}/secret/rotate"), 204),
            ("GET".to_owned(), format!("/{id}/secret"), 200),
        ]
    );
    let lines: Vec<&str> = rotation.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", rotation.stdout);
    assert!(
        lines[0].starts_with("1/4 listed the new secret "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("2/4 rotated at Junction"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!(
            "3/4 confirmed: a delivery signed with the new secret alone got HTTP 200 from {url}"
        )),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("4/4 the old secret stays listed until "),
        "{}",
        lines[3]
    );
    assert_eq!(
        runtime.block_on(secret_list(&config, &arn)),
        vec![second.clone(), first.clone()],
        "during the grace period both secrets are listed, the new one first"
    );
    let tags = runtime.block_on(secret_tags(&config, &arn));
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags[0].0, format!("jwh-rotation/{id}"));
    assert!(!tags[0].1.contains(&first) && !tags[0].1.contains(&second[6..]));
    for (secrets, name) in [
        (vec![first.as_str()], "old"),
        (vec![second.as_str()], "new"),
    ] {
        assert_eq!(
            runtime.block_on(status(&receiver, &secrets, &format!("msg_grace_{name}"))),
            200,
            "during the grace period a delivery signed with the {name} secret alone verifies"
        );
    }
    // A second rotation must wait for the first to finish; --finish waits for the grace period.
    let again = jwh.run(&["rotate-secret", &id, "--stack", &stack_name]);
    assert_eq!(again.code, Some(1));
    assert!(
        again
            .stderr
            .starts_with(&format!("jwh: a rotation of {id} is already pending")),
        "{}",
        again.stderr
    );
    let early = jwh.run(&["rotate-secret", &id, "--stack", &stack_name, "--finish"]);
    assert_eq!(early.code, Some(1));
    assert!(
        early.stderr.contains("may be retired from"),
        "{}",
        early.stderr
    );
    assert_eq!(runtime.block_on(secret_list(&config, &arn)).len(), 2);
    let finished = jwh
        .ok(&[
            "rotate-secret",
            &id,
            "--stack",
            &stack_name,
            "--finish",
            "--force",
            "--json",
        ])
        .json();
    assert_eq!(finished["retired"], true);
    assert_eq!(finished["active_secrets"], 1);
    assert_eq!(
        runtime.block_on(secret_list(&config, &arn)),
        vec![second.clone()]
    );
    assert!(runtime.block_on(secret_tags(&config, &arn)).is_empty());
    runtime.block_on(async {
        let cold = ingest(&config, &arn).await;
        assert_eq!(status(&cold, &[&second], "msg_cold_new").await, 200);
        assert_eq!(
            status(&cold, &[&first], "msg_cold_old").await,
            401,
            "the retired secret is refused"
        );
    });

    // The whole rotation in one command: --wait sleeps through a short grace period, then retires.
    let waited = jwh
        .ok(&[
            "rotate-secret",
            &id,
            "--secret-arn",
            &arn,
            "--grace",
            "1s",
            "--wait",
            "--json",
        ])
        .json();
    let third = standin.secret(&id);
    assert_eq!(waited["retired"], true);
    assert_eq!(waited["active_secrets"], 1);
    assert!(waited["confirm_attempts"].as_u64().unwrap() >= 1);
    assert_eq!(
        runtime.block_on(secret_list(&config, &arn)),
        vec![third.clone()]
    );
    assert_eq!(
        runtime.block_on(status(&receiver, &[&third], "msg_after_wait")),
        200
    );

    // delete, then the endpoint is gone.
    assert_eq!(jwh.ok(&["delete", &id]).stdout, format!("deleted {id}\n"));
    let gone = jwh.run(&["get", &id]);
    assert_eq!(gone.code, Some(1));
    assert_eq!(
        gone.stderr,
        format!("jwh: not found (HTTP 404): webhook {id} (org {ORG}, team {TEAM}, sandbox)\n")
    );
    assert_eq!(jwh.ok(&["list", "--json"]).json(), serde_json::json!([]));

    let seen = jwh.seen.lock().unwrap();
    assert!(
        !seen.contains(MANAGEMENT_KEY),
        "the management key was printed"
    );
}

#[test]
fn every_failure_is_one_clear_line_without_the_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = runtime.block_on(sdk());
    let standin = Standin::start();
    let jwh = Jwh::new(&standin, "errors");
    let other = "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a";
    let scope = |team: &str| format!("(org {ORG}, team {team}, sandbox)");
    let closed = format!("http://127.0.0.1:{}", free_port());
    // (arguments, environment overrides, exit code, what stderr starts with after `jwh: `)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32, String);
    let cases: Vec<Case> = vec![
        (
            vec!["list"],
            vec![("JUNCTION_MANAGEMENT_KEY", "mk_not_the_key")],
            1,
            "Junction refused the management key (HTTP 401): check JUNCTION_MANAGEMENT_KEY or the secret named by --management-key-secret".into(),
        ),
        (
            vec!["list"],
            vec![("JUNCTION_ORG_ID", other)],
            1,
            format!("the management key may not manage org {other}, team {TEAM} (HTTP 403)"),
        ),
        (
            vec!["list"],
            vec![("JUNCTION_TEAM_ID", other)],
            1,
            format!("not found (HTTP 404): the team {}", scope(other)),
        ),
        (
            vec!["get", "ep_nope"],
            vec![],
            1,
            format!("not found (HTTP 404): webhook ep_nope {}", scope(TEAM)),
        ),
        (
            vec!["rotate-secret", "ep_nope", "--secret-arn", "unused"],
            vec![],
            1,
            "cannot describe Secrets Manager secret unused: ".into(),
        ),
        (
            vec!["list"],
            vec![("JUNCTION_ORG_ID", "not-a-uuid")],
            1,
            "Junction rejected the request (HTTP 422): path.org_id: Input should be a valid UUID".into(),
        ),
        (
            vec!["create", "--url", "ftp://receiver.example/webhooks"],
            vec![],
            1,
            "Junction rejected the request (HTTP 422): body.url: Value error, URL must be an absolute http(s) URL".into(),
        ),
        (
            vec!["list"],
            vec![("JUNCTION_MANAGEMENT_KEY", " ")],
            2,
            "no management key: set JUNCTION_MANAGEMENT_KEY or pass --management-key-secret ARN".into(),
        ),
        (
            vec!["list"],
            vec![("JUNCTION_MANAGEMENT_API_URL", closed.as_str())],
            1,
            "cannot reach the Org Management API: ".into(),
        ),
    ];
    for (args, env, code, message) in &cases {
        let run = jwh.run_with(args, env);
        assert_eq!(run.code, Some(*code), "{args:?} {env:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!("jwh: {message}")),
            "{args:?} {env:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }

    // The key can also come from Secrets Manager, plain or as JSON; a wrong one there is a 401 too.
    let (plain, json, wrong) = runtime.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        let mut arns = Vec::new();
        for value in [
            MANAGEMENT_KEY.to_owned(),
            serde_json::json!({ "key": MANAGEMENT_KEY }).to_string(),
            "mk_wrong".to_owned(),
        ] {
            arns.push(
                sm.create_secret()
                    .name(unique("management-key"))
                    .secret_string(value)
                    .send()
                    .await
                    .unwrap()
                    .arn
                    .unwrap(),
            );
        }
        (arns[0].clone(), arns[1].clone(), arns[2].clone())
    });
    for arn in [&plain, &json] {
        let run = jwh.run_with(
            &["list", "--management-key-secret", arn, "--json"],
            &[("JUNCTION_MANAGEMENT_KEY", "")],
        );
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (Some(0), "[]\n"),
            "{}",
            run.stderr
        );
    }
    let refused = jwh.run_with(
        &["list", "--management-key-secret", &wrong],
        &[("JUNCTION_MANAGEMENT_KEY", MANAGEMENT_KEY)],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused
            .stderr
            .starts_with("jwh: Junction refused the management key (HTTP 401)")
    );

    // Junction refusing the endpoint: the secret list is put back as it was.
    let list_arn = runtime.block_on(placeholder_secret(&config));
    let rejected = jwh.run(&[
        "create",
        "--url",
        "ftp://receiver.example/webhooks",
        "--secret-arn",
        &list_arn,
    ]);
    assert_eq!(rejected.code, Some(1));
    assert_eq!(
        rejected.stderr,
        "jwh: Junction rejected the request (HTTP 422): body.url: Value error, URL must be an absolute http(s) URL (the secret list was put back as it was)\n"
    );
    assert_eq!(
        runtime.block_on(secret_list(&config, &list_arn)),
        vec!["whsec_REPLACE_ME".to_owned()]
    );

    // A receiver that never accepts the new secret: the rotation stops with both secrets listed, nothing retired.
    let created = jwh
        .ok(&[
            "create",
            "--url",
            "https://receiver.example/webhooks/junction",
            "--secret-arn",
            &list_arn,
            "--json",
        ])
        .json();
    let id = created["id"].as_str().unwrap();
    let old = standin.secret(id);
    let unreachable = format!("http://127.0.0.1:{}/webhooks/junction", free_port());
    let stuck = jwh.run(&[
        "rotate-secret",
        id,
        "--secret-arn",
        &list_arn,
        "--url",
        &unreachable,
        "--confirm-timeout",
        "1s",
    ]);
    assert_eq!(stuck.code, Some(1), "{}", stuck.stdout);
    assert!(
        stuck.stderr.starts_with(&format!(
            "jwh: the receiver at {unreachable} did not accept a delivery signed with the new secret: "
        )),
        "{}",
        stuck.stderr
    );
    assert_eq!(stuck.stderr.lines().count(), 1);
    let new = standin.secret(id);
    assert_ne!(new, old);
    assert_eq!(
        runtime.block_on(secret_list(&config, &list_arn)),
        vec![new, old],
        "both secrets stay listed"
    );
    assert_eq!(
        runtime.block_on(secret_tags(&config, &list_arn)).len(),
        1,
        "the rotation is still pending"
    );

    let seen = jwh.seen.lock().unwrap();
    assert!(
        !seen.contains(MANAGEMENT_KEY),
        "the management key was printed: {seen}"
    );
}
