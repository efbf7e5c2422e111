//! The ingest handler's request decoding: arbitrary bytes as the Lambda event API Gateway would send (HTTP API
//! payload 2.0 or REST API 1.0), through the same steps as the function's `main`: deserialise, the guard,
//! `lambda_http`'s conversion, then the handler, with SQS and S3 answered in memory.
//!
//! Properties: nothing panics (lambda_http panics on a malformed base64 body or a host that is not a URL, which the
//! guard must catch); every answer is one of the handler's statuses; a 200 is given only for a request that
//! verifies under the secret.
#![no_main]

use std::sync::OnceLock;

use jwh_ingest::handler::{Ingest, SigningSecrets, guard_request};
use jwh_shared::signature::Verifier;
use lambda_http::request::LambdaRequest;
use libfuzzer_sys::fuzz_target;

/// The seeds (`fuzz/seed.py`) are signed with this secret at this time.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_732_000_000;

fn ingest() -> &'static (tokio::runtime::Runtime, Ingest) {
    static STATE: OnceLock<(tokio::runtime::Runtime, Ingest)> = OnceLock::new();
    STATE.get_or_init(|| {
        let http = aws_smithy_http_client::test_util::infallible_client_fn(|_| {
            http::Response::builder()
                .status(200)
                .body(r#"{"MessageId":"m"}"#)
                .unwrap()
        });
        let creds = aws_sdk_sqs::config::Credentials::new("k", "s", None, None, "fuzz");
        let region = aws_sdk_sqs::config::Region::new("us-east-1");
        let sqs = aws_sdk_sqs::Config::builder()
            .region(region.clone())
            .credentials_provider(creds.clone())
            .http_client(http.clone())
            .build();
        let s3 = aws_sdk_s3::Config::builder()
            .region(region)
            .credentials_provider(creds)
            .http_client(http)
            .build();
        let ingest = Ingest {
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            s3: aws_sdk_s3::Client::from_conf(s3),
            queue_urls: Default::default(),
            payload_bucket: "payloads".into(),
            secrets: SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap()),
            max_body_bytes: jwh_ingest::handler::DEFAULT_MAX_BODY_BYTES,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (rt, ingest)
    })
}

fuzz_target!(|input: &[u8]| {
    let Ok(event) = serde_json::from_slice::<LambdaRequest>(input) else {
        return;
    };
    // The guard catches lambda_http's panics (catch_unwind); libFuzzer's panic hook would abort first, so a silent
    // hook stands in while the guard runs, as the default hook (which unwinds) does in the function.
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let guarded = guard_request(event);
    std::panic::set_hook(fuzzer_hook);
    let request: lambda_http::Request = guarded.into();
    let (rt, ingest) = ingest();
    let headers = request.headers().clone();
    let body = match request.body() {
        lambda_http::Body::Text(s) => s.as_bytes().to_vec(),
        lambda_http::Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    let genuine = Verifier::from_strs([SECRET])
        .unwrap()
        .verify_at(&headers, &body, NOW)
        .is_ok();
    let result = rt.block_on(ingest.accept(request, NOW, NOW * 1000));
    match result {
        Ok(_) => assert!(genuine, "accepted a request that does not verify"),
        Err((_, rejection)) => {
            assert!(
                [400, 401, 405, 413, 503].contains(&rejection.status().as_u16()),
                "{rejection:?}"
            )
        }
    }
});
