//! What verifying a webhook costs beside the HMAC-SHA256 it cannot avoid.
//!
//! For bodies of 1 KiB, 100 KiB and 1 MiB, Criterion measures `Verifier::verify_at` (headers, timestamp, base64,
//! constant-time compare) and a bare HMAC-SHA256 of the same body from an already-keyed state, which is what
//! verification clones per message. After the Criterion groups a plain timed loop measures both again, in the
//! same run and interleaved, and prints one ratio line per size. Quick run:
//!
//! ```text
//! cargo bench -p jwh-shared --bench verify -- --quick
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use jwh_shared::signature::{Secret, Verifier, sign};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIMESTAMP: i64 = 1_614_265_330;
const SIZES: [(usize, &str); 3] = [
    (1 << 10, "1 KiB"),
    (100 << 10, "100 KiB"),
    (1 << 20, "1 MiB"),
];

struct Delivery {
    verifier: Verifier,
    headers: HeaderMap,
    body: Vec<u8>,
    keyed: Hmac<Sha256>,
}

impl Delivery {
    fn new(len: usize) -> Delivery {
        // JSON-ish bytes; the content does not matter to SHA-256, only the length.
        let body: Vec<u8> = br#"{"event_type":"daily.data.heartrate.created","data":[]}"#
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect();
        let signature = sign(&Secret::parse(SECRET).unwrap(), ID, TIMESTAMP, &body);
        let mut headers = HeaderMap::new();
        headers.insert("svix-id", HeaderValue::from_static(ID));
        headers.insert("svix-timestamp", HeaderValue::from(TIMESTAMP));
        headers.insert("svix-signature", HeaderValue::from_str(&signature).unwrap());
        let key = base64_decode(KEY);
        Delivery {
            verifier: Verifier::from_strs([SECRET]).unwrap(),
            headers,
            body,
            keyed: Hmac::<Sha256>::new_from_slice(&key).unwrap(),
        }
    }

    fn verify(&self) {
        let verified =
            self.verifier
                .verify_at(black_box(&self.headers), black_box(&self.body), TIMESTAMP);
        assert!(verified.is_ok());
    }

    fn raw_hmac(&self) {
        let mut mac = self.keyed.clone();
        mac.update(black_box(&self.body));
        black_box(mac.finalize());
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn criterion_groups(c: &mut Criterion, deliveries: &[(Delivery, &str)]) {
    let mut group = c.benchmark_group("signature");
    for (delivery, label) in deliveries {
        group.throughput(Throughput::Bytes(delivery.body.len() as u64));
        group.bench_function(BenchmarkId::new("verify", label), |b| {
            b.iter(|| delivery.verify())
        });
        group.bench_function(BenchmarkId::new("raw_hmac", label), |b| {
            b.iter(|| delivery.raw_hmac())
        });
    }
    group.finish();
}

/// Time per call of `f`, over `iterations` calls.
fn per_call(iterations: u32, f: impl Fn()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn print_ratios(deliveries: &[(Delivery, &str)]) {
    println!();
    for (delivery, label) in deliveries {
        // About 16 MiB hashed per round and function, at least 16 calls: tens of milliseconds each.
        let iterations =
            u32::try_from(((16 << 20) / delivery.body.len()).max(16)).unwrap_or(u32::MAX);
        let mut verify = Duration::MAX;
        let mut raw = Duration::MAX;
        // Best of interleaved rounds, so drift in clock speed or load hits both alike.
        for _ in 0..7 {
            verify = verify.min(per_call(iterations, || delivery.verify()));
            raw = raw.min(per_call(iterations, || delivery.raw_hmac()));
        }
        let ratio = verify.as_secs_f64() / raw.as_secs_f64();
        let throughput = delivery.body.len() as f64 / verify.as_secs_f64() / f64::from(1u32 << 30);
        println!(
            "verify/raw_hmac at {label}: {ratio:.2}x (verify {verify:.2?}, raw HMAC {raw:.2?} per message; \
             verify {throughput:.2} GiB/s)"
        );
    }
}

fn main() {
    let deliveries: Vec<(Delivery, &str)> = SIZES
        .iter()
        .map(|&(len, label)| (Delivery::new(len), label))
        .collect();

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_groups(&mut criterion, &deliveries);
    criterion.final_summary();

    // Criterion runs each benchmark once under `cargo test --benches` (no `--bench` flag) and only lists them
    // with `--list`; the ratio loop is for real bench runs only.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    if benchmarking {
        print_ratios(&deliveries);
    }
}
