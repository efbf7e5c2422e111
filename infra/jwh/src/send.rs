//! `jwh send`: signs bodies as Svix would and POSTs them to a receiver, as Junction delivers them.
//!
//! Each body gets a fresh `svix-id` (or `--id`) and the current timestamp, signed at the moment it is sent.
//! `--repeat N` sends each body N times under the same `svix-id`, as Svix does when it retries, so duplicate
//! handling can be tested.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use jwh_shared::signature::{Secret, sign};

use crate::exit::{CliError, Exit, read_body};
use crate::sign::{fresh_message_id, parse_secret, unix_now};
use crate::stack_env::StackEnv;

/// One body to send, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The path as given (or `-` for stdin).
    pub label: String,
    /// The bytes, exactly as read.
    pub bytes: Vec<u8>,
}

/// Reads the bodies named on the command line: a file, `-` for stdin, or a directory meaning its `*.json` files
/// in name order (not recursive).
pub fn collect_bodies(paths: &[PathBuf]) -> Result<Vec<Body>, CliError> {
    let mut bodies = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files = json_files(path)?;
            if files.is_empty() {
                return Err(CliError::Usage(format!(
                    "no *.json files in {}",
                    path.display()
                )));
            }
            files.sort();
            for file in files {
                bodies.push(Body {
                    label: file.display().to_string(),
                    bytes: read_body(Some(&file))?,
                });
            }
        } else {
            bodies.push(Body {
                label: path.display().to_string(),
                bytes: read_body(Some(path))?,
            });
        }
    }
    Ok(bodies)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let unreadable =
        |e: std::io::Error| CliError::Usage(format!("cannot read {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    Ok(files)
}

/// Where to send, and the secret to sign with.
#[derive(Debug, Clone)]
pub struct Target {
    /// The receiver's URL (`http://` or `https://`).
    pub url: String,
    /// The endpoint's signing secret.
    pub secret: Secret,
}

/// The target from the flags (which clap already filled from `JWH_URL` / `JWH_SECRET`), else from the stack
/// file's `WEBHOOK_URL` / `WEBHOOK_SECRET`.
pub fn resolve_target(
    url: Option<String>,
    secret: Option<String>,
    stack: Option<&StackEnv>,
) -> Result<Target, CliError> {
    let from_stack = |name: &str| stack.and_then(|s| s.get(name)).map(str::to_owned);
    let url = url
        .filter(|u| !u.trim().is_empty())
        .or_else(|| from_stack("WEBHOOK_URL"))
        .ok_or_else(|| {
            CliError::Usage(
                "no webhook URL: pass --url, set JWH_URL, or start the local stack (make dev writes .dev/stack.env)"
                    .into(),
            )
        })?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::Usage(format!(
            "--url must start with http:// or https://, got {url}"
        )));
    }
    let (flag, secret) = match secret.filter(|s| !s.is_empty()) {
        Some(s) => ("--secret", s),
        None => (
            "WEBHOOK_SECRET in .dev/stack.env",
            from_stack("WEBHOOK_SECRET").ok_or_else(|| {
                CliError::Usage(
                    "no signing secret: pass --secret, set JWH_SECRET, or start the local stack (make dev writes .dev/stack.env)"
                        .into(),
                )
            })?,
        ),
    };
    Ok(Target {
        url,
        secret: parse_secret(flag, &secret)?,
    })
}

/// How to send.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Times each body is sent under the same `svix-id` (at least 1).
    pub repeat: usize,
    /// One `svix-id` for every body, instead of a fresh one per body.
    pub id: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What one request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this status and body (its first line, shortened).
    Status(u16, String),
    /// No answer: connection refused, timeout, TLS failure.
    Error(String),
}

impl Outcome {
    /// Whether the receiver accepted the delivery (2xx).
    pub fn accepted(&self) -> bool {
        matches!(self, Outcome::Status(code, _) if (200..300).contains(code))
    }
}

/// One delivery made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The body's label.
    pub label: String,
    /// The `svix-id` it was sent with.
    pub id: String,
    /// What came back.
    pub outcome: Outcome,
}

/// Sends every body `repeat` times, `concurrency` at a time; results in body order, repeats together.
pub fn send_all(
    target: &Target,
    bodies: &[Body],
    options: &Options,
    progress: &ProgressBar,
) -> Vec<Sent> {
    let ids: Vec<String> = bodies
        .iter()
        .map(|_| options.id.clone().unwrap_or_else(fresh_message_id))
        .collect();
    let repeat = options.repeat.max(1);
    let jobs = bodies.len() * repeat;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(options.timeout))
        .user_agent(concat!("jwh/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let results: Mutex<Vec<Option<Sent>>> = Mutex::new(vec![None; jobs]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.clamp(1, jobs.max(1)) {
            scope.spawn(|| {
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= jobs {
                        break;
                    }
                    let (body, id) = (&bodies[job / repeat], &ids[job / repeat]);
                    let outcome = post(&agent, target, id, &body.bytes);
                    progress.inc(1);
                    if let Ok(mut results) = results.lock() {
                        results[job] = Some(Sent {
                            label: body.label.clone(),
                            id: id.clone(),
                            outcome,
                        });
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// One signed POST, timestamped now.
fn post(agent: &ureq::Agent, target: &Target, id: &str, body: &[u8]) -> Outcome {
    let timestamp = unix_now();
    let signature = sign(&target.secret, id, timestamp, body);
    let response = agent
        .post(&target.url)
        .header("content-type", "application/json")
        .header("svix-id", id)
        .header("svix-timestamp", timestamp.to_string())
        .header("svix-signature", signature)
        .send(body);
    match response {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            Outcome::Status(status, first_line(&text, 200))
        }
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The first line of `text`, trimmed and cut to `max` characters.
fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// The summary (`sent N, accepted N, rejected N`, then one line per rejection) and the exit code: 1 when any
/// delivery was not 2xx.
pub fn summarize(sent: &[Sent]) -> (Exit, String) {
    let accepted = sent.iter().filter(|s| s.outcome.accepted()).count();
    let rejected = sent.len() - accepted;
    let mut out = format!(
        "sent {}, accepted {accepted}, rejected {rejected}\n",
        sent.len()
    );
    for s in sent.iter().filter(|s| !s.outcome.accepted()) {
        let what = match &s.outcome {
            Outcome::Status(code, body) if body.is_empty() => code.to_string(),
            Outcome::Status(code, body) => format!("{code} {body}"),
            Outcome::Error(e) => format!("error: {e}"),
        };
        out.push_str(&format!("  {} ({}): {what}\n", s.label, s.id));
    }
    let exit = if rejected == 0 {
        Exit::Success
    } else {
        Exit::Failure
    };
    (exit, out)
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (pipes, CI, tests).
pub fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} sent, {elapsed}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The test kit's verifying receiver (202 when the signature is valid, 401 otherwise), for `requests`.
    fn receiver(requests: usize) -> (String, std::thread::JoinHandle<Vec<(String, u16)>>) {
        jwh_testkit::receiver::start(SECRET, requests)
    }

    fn body(label: &str, text: &str) -> Body {
        Body {
            label: label.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn options(concurrency: usize, repeat: usize) -> Options {
        Options {
            concurrency,
            repeat,
            id: None,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn signed_bodies_are_accepted_and_repeats_share_an_id() {
        let (url, server) = receiver(6);
        let target = resolve_target(Some(url), Some(SECRET.into()), None).unwrap();
        let bodies = [body("a.json", "{\"a\":1}"), body("b.json", "{\"b\":2}")];
        let sent = send_all(&target, &bodies, &options(2, 3), &ProgressBar::hidden());
        let seen = server.join().unwrap();
        assert_eq!(sent.len(), 6);
        assert!(sent.iter().all(|s| s.outcome.accepted()), "{sent:?}");
        let labels: Vec<_> = sent.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["a.json", "a.json", "a.json", "b.json", "b.json", "b.json"]
        );
        assert_eq!(sent[0].id, sent[2].id);
        assert_ne!(sent[0].id, sent[3].id);
        assert_eq!(seen.iter().filter(|(id, _)| *id == sent[0].id).count(), 3);
        assert_eq!(
            summarize(&sent),
            (Exit::Success, "sent 6, accepted 6, rejected 0\n".to_owned())
        );
    }

    #[test]
    fn rejections_are_listed_and_fail_the_command() {
        let (url, server) = receiver(1);
        let other = "whsec_dGhlIG90aGVyIHNlY3JldA==";
        let target = resolve_target(Some(url), Some(other.into()), None).unwrap();
        let mut opts = options(4, 1);
        opts.id = Some("msg_fixed".into());
        let sent = send_all(
            &target,
            &[body("x.json", "{}")],
            &opts,
            &ProgressBar::hidden(),
        );
        server.join().unwrap();
        assert_eq!(
            summarize(&sent),
            (
                Exit::Failure,
                "sent 1, accepted 0, rejected 1\n  x.json (msg_fixed): 401 {\"error\":\"invalid signature\"}\n"
                    .to_owned()
            )
        );
    }

    #[test]
    fn unreachable_receiver_is_a_rejection() {
        // Bind then drop: nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = resolve_target(
            Some(format!("http://127.0.0.1:{port}/")),
            Some(SECRET.into()),
            None,
        )
        .unwrap();
        let sent = send_all(
            &target,
            &[body("x.json", "{}")],
            &options(1, 1),
            &ProgressBar::hidden(),
        );
        assert!(matches!(sent[0].outcome, Outcome::Error(_)), "{sent:?}");
        assert_eq!(summarize(&sent).0, Exit::Failure);
    }

    #[test]
    fn target_comes_from_flags_else_the_stack_file() {
        let stack = StackEnv::parse(&format!(
            "WEBHOOK_URL=https://example.invalid/hook\nWEBHOOK_SECRET={SECRET}\n"
        ));
        let t = resolve_target(None, None, Some(&stack)).unwrap();
        assert_eq!(t.url, "https://example.invalid/hook");
        let t = resolve_target(Some("http://flag/".into()), None, Some(&stack)).unwrap();
        assert_eq!(t.url, "http://flag/");
        for (url, secret, stack, expected) in [
            (None, Some(SECRET), None, "no webhook URL"),
            (Some("http://x/"), None, None, "no signing secret"),
            (
                Some("ftp://x/"),
                Some(SECRET),
                None,
                "--url must start with http:// or https://",
            ),
            (
                Some("http://x/"),
                Some("whsec_%"),
                None,
                "--secret: webhook signing secret is malformed",
            ),
        ] {
            let err =
                resolve_target(url.map(Into::into), secret.map(Into::into), stack).unwrap_err();
            assert_eq!(err.exit(), Exit::Usage);
            assert!(err.to_string().starts_with(expected), "{err}");
        }
        let bad = StackEnv::parse("WEBHOOK_URL=http://x/\nWEBHOOK_SECRET=nope%\n");
        let err = resolve_target(None, None, Some(&bad)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "WEBHOOK_SECRET in .dev/stack.env: webhook signing secret is malformed"
        );
    }

    #[test]
    fn directories_mean_their_json_files_in_order() {
        let dir = std::env::temp_dir().join(format!("jwh-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["b.json", "a.json", "notes.txt"] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        let bodies = collect_bodies(std::slice::from_ref(&dir)).unwrap();
        let got: Vec<_> = bodies.iter().map(|b| b.bytes.as_slice()).collect();
        assert_eq!(got, [b"a.json".as_slice(), b"b.json".as_slice()]);
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = collect_bodies(std::slice::from_ref(&empty)).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_response_lines_are_cut() {
        assert_eq!(first_line("abc\ndef", 10), "abc");
        assert_eq!(first_line("abcdef", 3), "abc…");
    }
}
