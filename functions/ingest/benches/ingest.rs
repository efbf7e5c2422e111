//! The ingest handler in-process: request in, verified, routed and handed to the SQS client, whose transport is
//! replaced by a local stub (aws-smithy-mocks) so that only this function's work (and the SDK's serialisation of
//! the message, which it cannot avoid) is timed. At 1 KiB the body travels inline; at 1 MiB it is over SQS's limit
//! and goes through the claim check (the S3 client stubbed the same way).
//!
//! ```text
//! cargo bench -p jwh-ingest --bench ingest -- --quick
//! ```

use std::hint::black_box;

use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use criterion::{BatchSize, Criterion, Throughput};
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::family::Family;
use jwh_shared::signature::{Secret, Verifier, sign};
use lambda_http::{Body, Request};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A heart-rate event of about `len` bytes.
fn body(len: usize) -> String {
    let sample = r#"{"id":null,"timezone_offset":3600,"type":null,"unit":"bpm","timestamp":"2024-11-24T10:00:00+00:00","value":72}"#;
    let mut samples = vec![sample; len / (sample.len() + 1)].join(",");
    if samples.is_empty() {
        samples.push_str(sample);
    }
    format!(
        r#"{{"event_type":"daily.data.heartrate.created","data":{{"source":{{"provider":"apple_health_kit","type":"watch"}},"data":[{samples}]}},"user_id":"u","client_user_id":"c","team_id":"t"}}"#
    )
}

fn request(body: &str, ts: i64) -> Request {
    let sig = sign(
        &Secret::parse(SECRET).unwrap(),
        "msg_bench",
        ts,
        body.as_bytes(),
    );
    http::Request::builder()
        .method("POST")
        .header("svix-id", "msg_bench")
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", sig)
        .body(Body::Text(body.to_owned()))
        .unwrap()
}

fn ingest() -> Ingest {
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .then_output(|| SendMessageOutput::builder().message_id("m").build());
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    Ingest {
        sqs: mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&send]),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&put]),
        queue_urls: Family::ALL.map(|f| format!("https://sqs.local/{}", f.as_str())),
        payload_bucket: "bucket".into(),
        secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
        max_body_bytes: 6_000_000,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ingest = ingest();
    let mut group = c.benchmark_group("ingest_handler");
    for (len, name) in [(1 << 10, "1 KiB"), (1 << 20, "1 MiB")] {
        let body = body(len);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || request(&body, chrono::Utc::now().timestamp()),
                |req| {
                    let response = rt.block_on(ingest.handle(black_box(req)));
                    assert_eq!(response.status(), 200);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
