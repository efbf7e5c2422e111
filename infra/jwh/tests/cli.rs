//! The built `jwh` binary, end to end: exit codes, stdin, `.dev/stack.env` discovery, a real HTTP receiver on
//! loopback, and (when moto is installed) query, dlq and replay against moto over real HTTP.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("shared/testdata/junction/fixtures")
        .join(name)
}

/// A scratch directory, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwh-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".dev")).unwrap();
    dir
}

/// `jwh` with `args`, run in `cwd`, with none of the caller's settings, and `stdin` piped in.
fn jwh(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jwh"));
    command.args(args).current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_")
            || name.starts_with("JWH_")
            || name.starts_with("QUEUE_URL_")
            || name.starts_with("DLQ_URL_")
            || name == "TABLE_NAME"
        {
            command.env_remove(name);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command given a file never reads stdin and may have exited already: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn sign_then_verify_from_stdin_with_exit_codes() {
    let dir = scratch("verify");
    let body = std::fs::read(fixture("daily.data.heartrate.created.json")).unwrap();
    let signed = jwh(
        &dir,
        &[
            "sign",
            "--secret",
            SECRET,
            "--id",
            "msg_1",
            "--timestamp",
            "1700000000",
        ],
        &body,
    );
    assert_eq!(signed.status.code(), Some(0), "{}", stderr(&signed));
    let text = stdout(&signed);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["svix-id: msg_1", "svix-timestamp: 1700000000"]);
    let signature = lines[2].strip_prefix("svix-signature: ").unwrap();
    assert!(signature.starts_with("v1,"));

    let verify = |now: &str, body: &[u8]| {
        jwh(
            &dir,
            &[
                "verify",
                "--secret",
                SECRET,
                "--id",
                "msg_1",
                "--timestamp",
                "1700000000",
                "--signature",
                signature,
                "--now",
                now,
                "-",
            ],
            body,
        )
    };
    let ok = verify("1700000100", &body);
    assert_eq!(
        (ok.status.code(), stdout(&ok)),
        (Some(0), "valid\n".to_owned())
    );
    let late = verify("1700000301", &body);
    assert_eq!(
        (late.status.code(), stdout(&late)),
        (
            Some(1),
            "invalid: webhook timestamp is too old\n".to_owned()
        )
    );
    let tampered = verify("1700000000", b"{}");
    assert_eq!(
        (tampered.status.code(), stdout(&tampered)),
        (
            Some(1),
            "invalid: no webhook signature matches\n".to_owned()
        )
    );
    let usage = verify("later", &body);
    assert_eq!(usage.status.code(), Some(2));
    let missing = jwh(
        &dir,
        &[
            "verify",
            "--secret",
            SECRET,
            "--id",
            "i",
            "--timestamp",
            "1",
            "--signature",
            "s",
            "/nonexistent",
        ],
        b"",
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(!stderr(&missing).contains(SECRET) && !stdout(&missing).contains(SECRET));
}

#[test]
fn inspect_exit_codes() {
    let dir = scratch("inspect");
    let event = jwh(
        &dir,
        &[
            "inspect",
            fixture("daily.data.sleep.created.json").to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(event.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&event)).unwrap();
    assert_eq!(json["family"], "summaries");
    let unknown = jwh(&dir, &["inspect"], br#"{"event_type":"something.new"}"#);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        "jwh: not a Junction event: unknown event type \"something.new\"\n"
    );
    assert_eq!(jwh(&dir, &["inspect", "-"], b"nope").status.code(), Some(1));
}

/// Accepts `requests` deliveries that verify (202), answering 401 to the rest; returns the svix-ids accepted.
fn receiver(requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let (url, handle) = jwh_testkit::receiver::start(SECRET, requests);
    let accepted = std::thread::spawn(move || {
        let seen = handle.join().unwrap();
        seen.into_iter()
            .filter(|(_, status)| *status == 202)
            .map(|(id, _)| id)
            .collect()
    });
    (url, accepted)
}

#[test]
fn send_reads_the_stack_file_from_a_parent_directory() {
    let dir = scratch("send");
    let (url, server) = receiver(4);
    std::fs::write(
        dir.join(".dev/stack.env"),
        format!("WEBHOOK_URL={url}\nWEBHOOK_SECRET={SECRET}\n"),
    )
    .unwrap();
    let nested = dir.join("some/where");
    std::fs::create_dir_all(&nested).unwrap();
    let bodies = dir.join("bodies");
    std::fs::create_dir_all(&bodies).unwrap();
    for name in [
        "daily.data.sleep.created.json",
        "provider.connection.created.json",
    ] {
        std::fs::copy(fixture(name), bodies.join(name)).unwrap();
    }
    let sent = jwh(
        &nested,
        &[
            "send",
            "--repeat",
            "2",
            "--concurrency",
            "2",
            bodies.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(
        stdout(&sent),
        "sent 4, accepted 4, rejected 0\n",
        "{}",
        stderr(&sent)
    );
    assert_eq!(sent.status.code(), Some(0));
    let mut ids = server.join().unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "each body keeps its svix-id across repeats");

    let no_settings = scratch("send-none");
    let usage = jwh(&no_settings, &["send", bodies.to_str().unwrap()], b"");
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

/// A moto server of this test's own (each test creates a table of the same name), ended with the test process.
fn moto() -> Option<String> {
    Some(jwh_testkit::moto::start())
}

#[test]
fn query_dlq_and_replay_against_moto() {
    let Some(endpoint) = moto() else { return };
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue as A, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    use aws_sdk_sqs::types::MessageAttributeValue;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = runtime.block_on(
        jwh_shared::aws::config_loader()
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "t", "t", None, None, "test",
            ))
            .load(),
    );
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue, dlq, summaries) = runtime.block_on(async {
        ddb.create_table()
            .table_name("jwh")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let mut urls = Vec::new();
        for name in ["ts", "ts-dlq", "sum"] {
            urls.push(
                sqs.create_queue()
                    .queue_name(name)
                    .send()
                    .await
                    .unwrap()
                    .queue_url
                    .unwrap(),
            );
        }
        for i in 0..3 {
            let s = |v: String| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .unwrap()
            };
            sqs.send_message()
                .queue_url(&urls[1])
                .message_body(format!("{{\"n\":{i}}}"))
                .message_attributes("svix-id", s(format!("msg_{i}")))
                .message_attributes("event-type", s("daily.data.heartrate.created".into()))
                .send()
                .await
                .unwrap();
        }
        let sleep = std::fs::read_to_string(fixture("daily.data.sleep.created.json")).unwrap();
        let items = [
            vec![
                ("pk", "CATCHALL"),
                ("sk", "MSG#msg_c1"),
                ("kind", "catch_all"),
                ("svix_id", "msg_c1"),
                ("body", sleep.as_str()),
                ("received_at", "2023-11-14T22:13:20.500000Z"),
            ],
            vec![
                ("pk", "USER#u1"),
                ("sk", "TS#heartrate#2024-11-24T10#p#watch"),
                ("kind", "timeseries"),
                ("hour", "2024-11-24T10"),
                ("user_id", "u1"),
                ("resource", "heartrate"),
                ("provider", "p"),
                ("source_type", "watch"),
                ("s0", "{\"value\":72}"),
                ("s60", "{\"value\":74}"),
            ],
            vec![
                ("pk", "USER#u1"),
                ("sk", "CONN#oura"),
                ("kind", "connection"),
                ("provider", "oura"),
            ],
        ];
        for item in items {
            ddb.put_item()
                .table_name("jwh")
                .set_item(Some(
                    item.into_iter()
                        .map(|(k, v)| (k.to_owned(), A::S(v.to_owned())))
                        .collect(),
                ))
                .item("svix_timestamp", A::N("1700000000".into()))
                .send()
                .await
                .unwrap();
        }
        (urls[0].clone(), urls[1].clone(), urls[2].clone())
    });
    let dir = scratch("moto");
    std::fs::write(
        dir.join(".dev/stack.env"),
        format!(
            "AWS_ENDPOINT_URL={endpoint}\nTABLE_NAME=jwh\nQUEUE_URL_TIMESERIES={queue}\nDLQ_URL_TIMESERIES={dlq}\nQUEUE_URL_SUMMARIES={summaries}\n"
        ),
    )
    .unwrap();

    let query = jwh(
        &dir,
        &["query", "--user", "u1", "--resource", "heartrate"],
        b"",
    );
    assert_eq!(query.status.code(), Some(0), "{}", stderr(&query));
    let values: Vec<i64> = stdout(&query)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["sample"]["value"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(values, [72, 74]);
    let all = jwh(&dir, &["query", "--user", "u1"], b"");
    assert_eq!(stdout(&all).lines().count(), 3);

    let list = jwh(&dir, &["dlq", "list", "--family", "timeseries"], b"");
    let text = stdout(&list);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert!(text.contains("approximately 3 message(s)"), "{text}");
    assert_eq!(
        text.matches("event-type=daily.data.heartrate.created")
            .count(),
        3,
        "{text}"
    );
    assert!(!text.contains("\"n\""), "bodies are never shown: {text}");

    let redrive = jwh(&dir, &["dlq", "redrive", "--family", "timeseries"], b"");
    assert_eq!(
        stdout(&redrive),
        "timeseries: moved 3, failed 0\n",
        "{}",
        stderr(&redrive)
    );

    let replay = jwh(&dir, &["replay"], b"");
    assert_eq!(
        stdout(&replay),
        "msg_c1  daily.data.sleep.created -> summaries\nreplayed 1 (summaries 1), skipped 0, still catch-all 0, failed 0\n",
        "{}",
        stderr(&replay)
    );

    let (moved, left, replayed) = runtime.block_on(async {
        let count = |url: String| {
            let sqs = sqs.clone();
            async move {
                let out = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .send()
                    .await
                    .unwrap();
                out.messages.unwrap_or_default()
            }
        };
        (count(queue).await, count(dlq).await, count(summaries).await)
    });
    assert_eq!(moved.len(), 3);
    assert!(moved.iter().all(|m| {
        m.message_attributes().unwrap()["svix-id"]
            .string_value()
            .unwrap()
            .starts_with("msg_")
    }));
    assert!(left.is_empty());
    assert_eq!(replayed.len(), 1);
    let attrs = replayed[0].message_attributes().unwrap();
    assert_eq!(attrs["svix-id"].string_value(), Some("msg_c1"));
    assert_eq!(attrs["family"].string_value(), Some("summaries"));
    assert_eq!(attrs["received-at"].string_value(), Some("1700000000500"));

    // Erasure: every item of u1 goes (its bucket, its connection); the catch-all record, another user's, stays.
    let erase = jwh(&dir, &["users", "delete", "--user", "u1"], b"");
    assert_eq!(erase.status.code(), Some(0), "{}", stderr(&erase));
    let report: Vec<String> = stdout(&erase)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        report,
        [
            "connection 1",
            "timeseries 1",
            "catch_all 0",
            "match_reviews 0",
            "payloads not searched (no payload bucket)",
            "archived not searched (no archive bucket)",
            "total 2"
        ]
    );
    assert_eq!(stdout(&jwh(&dir, &["query", "--user", "u1"], b"")), "");
    assert_eq!(
        stdout(&jwh(&dir, &["query", "--catch-all"], b""))
            .lines()
            .count(),
        1
    );
    let again = jwh(&dir, &["users", "delete", "--user", "u1", "--json"], b"");
    let again: serde_json::Value = serde_json::from_str(stdout(&again).trim()).unwrap();
    assert_eq!(again["records"], serde_json::json!({}));
}

#[test]
fn backfill_run_enqueues_the_first_page_and_status_reads_the_progress_against_moto() {
    let Some(endpoint) = moto() else { return };
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use jwh_shared::events::Resource;
    use jwh_shared::fetch::{PageDone, Task, WorkItem};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = runtime.block_on(
        jwh_shared::aws::config_loader()
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "t", "t", None, None, "test",
            ))
            .load(),
    );
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = runtime.block_on(async {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        ddb.create_table()
            .table_name("jwh")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .send()
            .await
            .unwrap();
        sqs.create_queue()
            .queue_name("fetch")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap()
    });
    let dir = scratch("backfill");
    let run_args = [
        "backfill",
        "run",
        "--user",
        "u1",
        "--provider",
        "withings",
        "--resource",
        "weight",
        "--from",
        "2024-01-01",
        // A date alone ends the window at the end of that day: 2024-01-01 to 2024-03-01, 60 days.
        "--to",
        "2024-02-29",
        "--no-wait",
    ];

    // Without a fetch queue the fetcher is not enabled: a usage error that says so.
    std::fs::write(
        dir.join(".dev/stack.env"),
        format!("AWS_ENDPOINT_URL={endpoint}\nTABLE_NAME=jwh\n"),
    )
    .unwrap();
    let refused = jwh(&dir, &run_args, b"");
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("QUEUE_URL_FETCH"),
        "{}",
        stderr(&refused)
    );

    std::fs::write(
        dir.join(".dev/stack.env"),
        format!("AWS_ENDPOINT_URL={endpoint}\nTABLE_NAME=jwh\nQUEUE_URL_FETCH={queue}\n"),
    )
    .unwrap();
    let started = jwh(&dir, &run_args, b"");
    assert_eq!(started.status.code(), Some(0), "{}", stderr(&started));
    let messages = runtime.block_on(async {
        sqs.receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    });
    assert_eq!(messages.len(), 1);
    let item: WorkItem = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert!(item.run.starts_with("manual-"), "{}", item.run);
    assert_eq!(
        stdout(&started),
        format!("started run {}: 2 chunk(s) of 30 day(s)\n", item.run)
    );
    assert_eq!(
        item,
        WorkItem {
            run: item.run.clone(),
            user_id: "u1".into(),
            provider: "withings".into(),
            resource: Resource::Weight,
            task: Task::Page {
                from: "2024-01-01T00:00:00.000000Z".into(),
                to: "2024-03-01T00:00:00.000000Z".into(),
                chunk_days: 30,
                chunk: 0,
                page: 0,
                cursor: None,
            },
        }
    );

    // The fetcher starts the run and counts a page; status reads it back.
    let store = jwh_shared::store::Store::new(ddb.clone(), "jwh", 7);
    runtime.block_on(async {
        store.begin_run(&item, 2).await.unwrap();
        let done = PageDone {
            records: 24,
            api_calls: 2,
            chunk_done: true,
            run_done: false,
        };
        store.commit_page(&item, done).await.unwrap();
    });
    let json = jwh(&dir, &["backfill", "status", "--user", "u1", "--json"], b"");
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let p = &lines[0];
    assert_eq!(
        (
            &p["resource"],
            &p["provider"],
            &p["status"],
            &p["run"],
            &p["chunks"],
            &p["chunks_done"],
            &p["pages_done"],
            &p["records"],
            &p["api_calls"],
        ),
        (
            &serde_json::json!("weight"),
            &serde_json::json!("withings"),
            &serde_json::json!("running"),
            &serde_json::json!(item.run),
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(24),
            &serde_json::json!(2),
        )
    );
    let text = stdout(&jwh(&dir, &["backfill", "status", "--user", "u1"], b""));
    assert!(
        text.contains("running      window 2024-01-01 to 2024-03-01  chunks 1/2  pages 1  records 24  api calls 2"),
        "{text}"
    );
    let none = jwh(&dir, &["backfill", "status", "--user", "nobody"], b"");
    assert_eq!(stdout(&none), "no backfills for this user\n");
}
