//! The signature verifier on arbitrary secrets, headers and bodies.
//!
//! Input: a secret string, an id, a timestamp header, a signature header and a body, separated by 0xFF bytes
//! (which never occur in valid UTF-8, so every part but the body is any UTF-8 the fuzzer finds). Properties:
//! nothing panics; a secret that parses verifies its own signature of any id, timestamp and body; the fuzzer's
//! own signature header verifies only if it holds the genuine signature.
#![no_main]

use jwh_shared::signature::{Secret, SignatureError, Verifier, sign};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_732_000_000;

fuzz_target!(|input: &[u8]| {
    let mut parts = input.splitn(5, |b| *b == 0xFF);
    let mut text = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(secret), Some(id), Some(timestamp), Some(signature)) =
        (text(), text(), text(), text())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();

    // Parsing any secret string and verifying any header values must not panic.
    let verifier = match Verifier::from_strs([secret]) {
        Ok(v) => v,
        Err(e) => {
            assert!(matches!(e, SignatureError::MalformedSecret), "{e:?}");
            Verifier::from_strs(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap()
        }
    };
    let got = verifier.verify_parts(id, timestamp, signature, body, NOW);

    if let Ok(secret) = Secret::parse(secret) {
        // verify(sign(x)) for the fuzzer's id and body, at any timestamp within the tolerance.
        let ts = NOW - i64::from(body.len() as u16 % 301);
        let genuine = sign(&secret, id, ts, body);
        assert_eq!(
            verifier.verify_parts(id, &ts.to_string(), &genuine, body, NOW),
            Ok(ts)
        );
        // The fuzzer's own signature header verifies only if one of its entries is the genuine MAC.
        if let (Ok(ts), Ok(parsed_ts)) = (got, timestamp.parse::<i64>()) {
            assert_eq!(ts, parsed_ts);
            let mac = sign(&secret, id, ts, body);
            let mac = mac.trim_start_matches("v1,").trim_end_matches('=');
            assert!(
                signature
                    .split(' ')
                    .any(|e| e.starts_with("v1,") && e[3..].trim_end_matches('=') == mac),
                "{signature:?} verified without the genuine MAC"
            );
        }
    }
});
