//! Is this webhook genuine? Svix signature verification for Junction deliveries.
//!
//! Junction delivers webhooks through Svix, which signs every delivery as described in Svix's
//! [manual verification guide](https://docs.svix.com/receiving/verifying-payloads/how-manual) and the
//! [Standard Webhooks spec](https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
//!
//! - three headers, `svix-id`, `svix-timestamp` and `svix-signature`, each falling back to its unbranded
//!   `webhook-id`, `webhook-timestamp`, `webhook-signature` twin;
//! - the signed content is `{id}.{timestamp}.{body}`, the body as the raw bytes received;
//! - the signature header is a space-separated list of `version,base64` entries; an entry counts only if its
//!   version is exactly `v1` and its value is base64 of HMAC-SHA256(key, signed content);
//! - the key is the base64 after the optional `whsec_` prefix of the endpoint's signing secret.
//!
//! A [`Verifier`] holds one or more secrets, so a secret can be rotated without dropping deliveries: a message is
//! genuine if any secret matches any `v1` entry.
//!
//! # Decisions where the scheme leaves room
//!
//! These follow Svix's own Rust library (`svix::webhooks::Webhook`) unless noted.
//!
//! - **Timestamps** are parsed with Rust's `i64` parser and the *integer* is what gets signed, so a header
//!   `01614265330` (or `+1614265330`) is accepted and signs as `1614265330`. Anything else (fractions, exponents,
//!   spaces, overflow, an empty value) is [`SignatureError::MalformedTimestamp`]. A timestamp exactly
//!   `tolerance` seconds away from the clock is accepted; one second more is rejected. The timestamp is checked
//!   before any HMAC is computed, so stale replays cost nothing.
//! - **Signatures are compared as the 32 decoded bytes**, not as base64 text, in constant time
//!   ([`subtle::ConstantTimeEq`]) and only after a length check. Trailing `=` padding is ignored, so a missing
//!   or extra `=` does not matter; the base64 itself must be canonical (standard alphabet, unused trailing bits
//!   zero), as Svix's text comparison effectively requires.
//! - **Malformed entries are skipped**, not errors: an entry without a comma, with another version (`v1a`,
//!   `v2`), or whose value is not base64 of exactly 32 bytes simply never matches.
//! - **Header values that are not visible ASCII** count as absent, so the `webhook-*` fallback applies to them.
//!   Headers are read in the order id, timestamp, signature; the first missing one is reported.
//! - **Bodies need not be UTF-8.** Svix's library refuses to sign non-UTF-8 bodies; here the MAC is over raw
//!   bytes, as the Standard Webhooks spec defines it.
//! - **Secrets** must be strict standard base64 (padding included) of a non-empty key; whitespace is not trimmed.
//!   A truncated or mangled secret fails loudly with [`SignatureError::MalformedSecret`] when the verifier is
//!   built, rather than rejecting every delivery later.
//!
//! # Cost
//!
//! Verification never copies the body: the HMAC is fed the id, the timestamp and the body in place, and each
//! [`Secret`] keeps an HMAC state already keyed, which is cloned per message instead of re-keying. The SHA-256
//! underneath is `sha2` 0.11, which picks its compression function at run time: the x86 SHA extensions (SHA-NI)
//! when CPUID reports `sha` and `sse4.1`, the ARMv8 SHA2 instructions when the OS reports the `sha2` hwcap (every
//! Graviton has them), a portable implementation otherwise. Detection is done once by `cpufeatures` and cached;
//! no cargo feature or `RUSTFLAGS` is needed (the `sha2_256_backend` cfg exists only to force a backend). The
//! bench `shared/benches/verify.rs` compares verification with a bare HMAC of the same body.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from the clock, either way, by default: Svix's five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";
/// HMAC-SHA256 output length.
const MAC_LEN: usize = 32;
/// Length of 32 bytes in base64 without padding.
const MAC_BASE64_LEN: usize = 43;

const ID_HEADERS: (&str, &str) = ("svix-id", "webhook-id");
const TIMESTAMP_HEADERS: (&str, &str) = ("svix-timestamp", "webhook-timestamp");
const SIGNATURE_HEADERS: (&str, &str) = ("svix-signature", "webhook-signature");

/// Why a delivery was not accepted as genuine, or why a secret could not be used.
///
/// Messages name the failure only; they never include a secret, a signature, or anything from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Neither the `svix-*` header named here nor its `webhook-*` twin is present (with a visible-ASCII value).
    #[error("missing header {0} (and its webhook-* equivalent)")]
    MissingHeader(&'static str),
    /// The timestamp header is not an integer number of seconds that fits in an `i64`.
    #[error("webhook timestamp is not an integer number of seconds")]
    MalformedTimestamp,
    /// The timestamp is further in the past than the tolerance allows (a replay, or a very late retry).
    #[error("webhook timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("webhook timestamp is too far in the future")]
    TimestampTooNew,
    /// A signing secret is not standard base64 of a non-empty key (after an optional `whsec_` prefix).
    #[error("webhook signing secret is malformed")]
    MalformedSecret,
    /// No `v1` entry of the signature header matches any configured secret.
    #[error("no webhook signature matches")]
    NoMatchingSignature,
}

/// An endpoint signing secret (`whsec_...`), held as an HMAC-SHA256 state already keyed with it.
///
/// Its `Debug` output is `Secret(<redacted>)`; there is no way to get the key back out.
#[derive(Clone)]
pub struct Secret {
    keyed: HmacSha256,
}

impl Secret {
    /// Parses a secret as Svix shows it: an optional `whsec_` prefix, then strict standard base64 (with padding)
    /// of a non-empty key. Surrounding whitespace is not trimmed.
    pub fn parse(s: &str) -> Result<Secret, SignatureError> {
        let encoded = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::MalformedSecret)?;
        if key.is_empty() {
            return Err(SignatureError::MalformedSecret);
        }
        let keyed =
            HmacSha256::new_from_slice(&key).map_err(|_| SignatureError::MalformedSecret)?;
        Ok(Secret { keyed })
    }

    /// HMAC-SHA256 of `{id}.{timestamp}.{body}`, fed in parts so the body is never copied.
    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; MAC_LEN] {
        let mut digits = [0; 20];
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(decimal(timestamp, &mut digits));
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The identity of a verified delivery: Svix's message id and the timestamp it was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// The message id (`svix-id`), stable across Svix's retries of one message.
    pub id: String,
    /// The signed timestamp (`svix-timestamp`), Unix seconds.
    pub timestamp: i64,
}

/// Checks deliveries against one or more secrets, within a timestamp tolerance.
///
/// Build it once per process and share it. Its `Debug` output shows how many secrets it holds, never a key.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance_secs: u64,
}

impl Verifier {
    /// A verifier accepting a signature from any of `secrets`, with [`DEFAULT_TOLERANCE_SECS`].
    ///
    /// With no secrets it accepts nothing: every verification ends in [`SignatureError::NoMatchingSignature`].
    pub fn new(secrets: Vec<Secret>) -> Verifier {
        Verifier {
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// Parses every secret with [`Secret::parse`]; one malformed secret fails the whole verifier.
    pub fn from_strs<I, S>(secrets: I) -> Result<Verifier, SignatureError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets = secrets
            .into_iter()
            .map(|s| Secret::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Verifier::new(secrets))
    }

    /// The same verifier, accepting timestamps up to `secs` seconds from the clock either way.
    pub fn with_tolerance(self, secs: u64) -> Verifier {
        Verifier {
            tolerance_secs: secs,
            ..self
        }
    }

    /// Verifies a delivery against the system clock; see [`Verifier::verify_at`].
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookHeaders, SignatureError> {
        self.verify_at(headers, body, unix_now())
    }

    /// Verifies a delivery's headers and raw body as if the clock read `now_unix` (Unix seconds).
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookHeaders, SignatureError> {
        let (id, timestamp, signature) = read_headers(headers)?;
        let timestamp = self.verify_parts(id, timestamp, signature, body, now_unix)?;
        Ok(WebhookHeaders {
            id: id.to_owned(),
            timestamp,
        })
    }

    /// Verifies already-extracted header values; returns the parsed timestamp.
    ///
    /// Checks, in order: the timestamp parses, it is within the tolerance of `now_unix`, and some `v1` entry of
    /// `signature` is the HMAC of `{id}.{timestamp}.{body}` under some secret.
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<i64, SignatureError> {
        let timestamp: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::MalformedTimestamp)?;
        let age = i128::from(now_unix) - i128::from(timestamp);
        let tolerance = i128::from(self.tolerance_secs);
        if age > tolerance {
            return Err(SignatureError::TimestampTooOld);
        }
        if -age > tolerance {
            return Err(SignatureError::TimestampTooNew);
        }
        for secret in &self.secrets {
            let expected = secret.mac(id, timestamp, body);
            // Which entry matched (or that one did) is not secret; the bytes of a near miss are.
            if v1_signatures(signature)
                .any(|candidate| bool::from(candidate[..].ct_eq(&expected[..])))
            {
                return Ok(timestamp);
            }
        }
        Err(SignatureError::NoMatchingSignature)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// Reads the id, timestamp and signature header values, each from its `svix-*` header or else its `webhook-*`
/// twin. A value that is not visible ASCII counts as absent.
///
/// Fails with [`SignatureError::MissingHeader`] naming the `svix-*` header of the first one missing, in the order
/// id, timestamp, signature.
pub fn read_headers(headers: &HeaderMap) -> Result<(&str, &str, &str), SignatureError> {
    Ok((
        header(headers, ID_HEADERS)?,
        header(headers, TIMESTAMP_HEADERS)?,
        header(headers, SIGNATURE_HEADERS)?,
    ))
}

/// Signs a message as Svix would: `v1,` then padded standard base64 of HMAC-SHA256(`{id}.{timestamp}.{body}`).
///
/// For tools and tests; the receiver only verifies.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "{SIGNATURE_VERSION},{}",
        STANDARD.encode(secret.mac(id, timestamp, body))
    )
}

fn header<'a>(
    headers: &'a HeaderMap,
    (svix, standard): (&'static str, &'static str),
) -> Result<&'a str, SignatureError> {
    [svix, standard]
        .into_iter()
        .find_map(|name| headers.get(name)?.to_str().ok())
        .ok_or(SignatureError::MissingHeader(svix))
}

/// The decoded values of the well-formed `v1` entries of a signature header, skipping everything else.
fn v1_signatures(header: &str) -> impl Iterator<Item = [u8; MAC_LEN]> + '_ {
    header.split(' ').filter_map(|entry| {
        let (version, encoded) = entry.split_once(',')?;
        if version != SIGNATURE_VERSION {
            return None;
        }
        decode_mac(encoded)
    })
}

/// Decodes base64 of exactly 32 bytes, with any (or no) trailing padding; `None` for anything else.
fn decode_mac(encoded: &str) -> Option<[u8; MAC_LEN]> {
    let unpadded = encoded.trim_end_matches('=');
    // The length check comes first, so what reaches the constant-time comparison is always 32 bytes
    // (the length mismatch Svix once missed: CVE-2024-21491).
    if unpadded.len() != MAC_BASE64_LEN {
        return None;
    }
    // `decode_slice` wants room for its estimate, whole 3-byte groups: 11 groups for 43 characters.
    let mut buf = [0; MAC_LEN + 1];
    let len = STANDARD_NO_PAD.decode_slice(unpadded, &mut buf).ok()?;
    if len != MAC_LEN {
        return None;
    }
    buf[..MAC_LEN].try_into().ok()
}

/// `value` in decimal, as `value.to_string()` spells it, without allocating (`i64::MIN` takes 20 bytes).
fn decimal(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut rest = value.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

/// Unix seconds now; a clock before 1970 reads as negative seconds.
fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;
    use serde_json::Value;

    // Svix's documented example: https://docs.svix.com/receiving/verifying-payloads/how-manual
    const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SVIX_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SVIX_TS: i64 = 1_614_265_330;
    const SVIX_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SVIX_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// Generated once by `shared/testdata/gen_signature_vectors.py` (Python stdlib), kept as a fixture.
    const VECTORS: &str = include_str!("../testdata/signature_vectors.json");

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn svix_headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        headers(&[
            ("svix-id", id),
            ("svix-timestamp", timestamp),
            ("svix-signature", signature),
        ])
    }

    fn svix_verifier() -> Verifier {
        Verifier::from_strs([SVIX_SECRET]).unwrap()
    }

    #[test]
    fn signs_svix_documented_example() {
        let secret = Secret::parse(SVIX_SECRET).unwrap();
        assert_eq!(sign(&secret, SVIX_ID, SVIX_TS, SVIX_BODY), SVIX_SIGNATURE);
    }

    #[test]
    fn verifies_svix_documented_example() {
        let got = svix_verifier().verify_at(
            &svix_headers(SVIX_ID, "1614265330", SVIX_SIGNATURE),
            SVIX_BODY,
            SVIX_TS,
        );
        assert_eq!(
            got,
            Ok(WebhookHeaders {
                id: SVIX_ID.to_owned(),
                timestamp: SVIX_TS
            })
        );
    }

    #[test]
    fn verify_uses_the_system_clock() {
        let verifier = svix_verifier();
        let now = unix_now();
        let signature = sign(
            &Secret::parse(SVIX_SECRET).unwrap(),
            SVIX_ID,
            now,
            SVIX_BODY,
        );
        let fresh = svix_headers(SVIX_ID, &now.to_string(), &signature);
        assert_eq!(
            verifier.verify(&fresh, SVIX_BODY).map(|h| h.timestamp),
            Ok(now)
        );
        // The documented example is from 2021: long stale by any real clock.
        let stale = svix_headers(SVIX_ID, "1614265330", SVIX_SIGNATURE);
        assert_eq!(
            verifier.verify(&stale, SVIX_BODY),
            Err(SignatureError::TimestampTooOld)
        );
    }

    #[test]
    fn verifier_without_secrets_accepts_nothing() {
        let got = Verifier::new(Vec::new()).verify_parts(
            SVIX_ID,
            "1614265330",
            SVIX_SIGNATURE,
            SVIX_BODY,
            SVIX_TS,
        );
        assert_eq!(got, Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn read_headers_returns_raw_values() {
        let map = svix_headers(SVIX_ID, "01614265330", SVIX_SIGNATURE);
        assert_eq!(
            read_headers(&map),
            Ok((SVIX_ID, "01614265330", SVIX_SIGNATURE))
        );
    }

    #[test]
    fn non_ascii_header_value_counts_as_absent() {
        let mut map = headers(&[
            ("svix-timestamp", "1614265330"),
            ("svix-signature", SVIX_SIGNATURE),
        ]);
        map.insert(
            "svix-id",
            HeaderValue::from_bytes("msg_é".as_bytes()).unwrap(),
        );
        assert_eq!(
            read_headers(&map),
            Err(SignatureError::MissingHeader("svix-id"))
        );
        map.insert("webhook-id", HeaderValue::from_static(SVIX_ID));
        assert_eq!(read_headers(&map).map(|(id, _, _)| id), Ok(SVIX_ID));
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key_b64 = SVIX_SECRET.trim_start_matches(SECRET_PREFIX);
        let secret = Secret::parse(SVIX_SECRET).unwrap();
        let verifier = Verifier::from_strs([SVIX_SECRET, SVIX_SECRET])
            .unwrap()
            .with_tolerance(60);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{verifier:?}"),
            "Verifier { secrets: <2 redacted>, tolerance_secs: 60 }"
        );
        for shown in [
            format!("{secret:?}"),
            format!("{secret:#?}"),
            format!("{verifier:#?}"),
        ] {
            assert!(
                !shown.contains(key_b64) && !shown.contains("keyed"),
                "{shown}"
            );
        }
    }

    #[test]
    fn error_messages_carry_no_material() {
        let errors = [
            SignatureError::MissingHeader("svix-id"),
            SignatureError::MalformedTimestamp,
            SignatureError::TimestampTooOld,
            SignatureError::TimestampTooNew,
            SignatureError::MalformedSecret,
            SignatureError::NoMatchingSignature,
        ];
        for error in errors {
            let message = error.to_string();
            assert!(
                !message.contains("whsec_") && !message.contains("v1,"),
                "{message}"
            );
        }
        assert_eq!(
            errors[0].to_string(),
            "missing header svix-id (and its webhook-* equivalent)"
        );
        assert_eq!(
            Secret::parse("whsec_%%%").unwrap_err().to_string(),
            "webhook signing secret is malformed"
        );
    }

    #[test]
    fn decimal_matches_to_string_at_the_extremes() {
        for value in [0, 1, -1, 9, 10, -10, SVIX_TS, i64::MAX, i64::MIN] {
            let mut buf = [0; 20];
            assert_eq!(decimal(value, &mut buf), value.to_string().as_bytes());
        }
    }

    #[test]
    fn padding_is_not_data() {
        // The only one-byte change to a signature that still verifies: the pad becomes a separator, leaving the
        // same 43 characters followed by an empty entry.
        let verifier = svix_verifier();
        let padded_to_space = SVIX_SIGNATURE.replace('=', " ");
        for signature in [
            SVIX_SIGNATURE,
            padded_to_space.as_str(),
            SVIX_SIGNATURE.trim_end_matches('='),
        ] {
            assert_eq!(
                verifier.verify_parts(SVIX_ID, "1614265330", signature, SVIX_BODY, SVIX_TS),
                Ok(SVIX_TS)
            );
        }
    }

    /// Every case of the Python-generated vectors: `sign()` output byte for byte, and the verification outcome.
    #[test]
    fn known_answer_vectors() {
        let doc: Value = serde_json::from_str(VECTORS).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() >= 60, "only {} vectors", cases.len());
        let mut names = std::collections::HashSet::new();
        let mut failures = Vec::new();
        for case in cases {
            let name = case["name"].as_str().unwrap();
            assert!(names.insert(name), "duplicate vector {name}");
            if let Err(why) = check_vector(case) {
                failures.push(format!("{name}: {why}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} vectors failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    fn check_vector(case: &Value) -> Result<(), String> {
        let body = match (case["body"].as_str(), case["body_b64"].as_str()) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(encoded)) => STANDARD.decode(encoded).unwrap(),
            _ => panic!("a vector needs exactly one of body, body_b64"),
        };
        for expected in case["signs"].as_array().unwrap() {
            let secret =
                Secret::parse(expected["secret"].as_str().unwrap()).map_err(|e| e.to_string())?;
            let id = expected["id"].as_str().unwrap();
            let timestamp = expected["timestamp"].as_i64().unwrap();
            let signed = sign(&secret, id, timestamp, &body);
            if signed != expected["expected"].as_str().unwrap() {
                return Err(format!(
                    "sign() gave {signed}, expected {}",
                    expected["expected"]
                ));
            }
        }

        let expected = &case["expect"];
        let expected: Result<WebhookHeaders, SignatureError> = match expected["err"].as_str() {
            None => Ok(WebhookHeaders {
                id: expected["ok"]["id"].as_str().unwrap().to_owned(),
                timestamp: expected["ok"]["timestamp"].as_i64().unwrap(),
            }),
            Some("MissingHeader") => Err(SignatureError::MissingHeader(
                match expected["header"].as_str().unwrap() {
                    "svix-id" => "svix-id",
                    "svix-timestamp" => "svix-timestamp",
                    "svix-signature" => "svix-signature",
                    other => panic!("unexpected header {other}"),
                },
            )),
            Some("MalformedTimestamp") => Err(SignatureError::MalformedTimestamp),
            Some("TimestampTooOld") => Err(SignatureError::TimestampTooOld),
            Some("TimestampTooNew") => Err(SignatureError::TimestampTooNew),
            Some("MalformedSecret") => Err(SignatureError::MalformedSecret),
            Some("NoMatchingSignature") => Err(SignatureError::NoMatchingSignature),
            Some(other) => panic!("unknown error {other}"),
        };

        let secrets = case["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap());
        let got = Verifier::from_strs(secrets).and_then(|verifier| {
            let verifier = match case["tolerance_secs"].as_u64() {
                Some(secs) => verifier.with_tolerance(secs),
                None => verifier,
            };
            let pairs: Vec<(&str, &str)> = case["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (pair[0].as_str().unwrap(), pair[1].as_str().unwrap()))
                .collect();
            verifier.verify_at(&headers(&pairs), &body, case["now"].as_i64().unwrap())
        });
        if got != expected {
            return Err(format!("verify gave {got:?}, expected {expected:?}"));
        }
        Ok(())
    }

    /// A secret from arbitrary key bytes, as Svix would show it.
    fn secret_from(key: &[u8]) -> Secret {
        Secret::parse(&format!("{SECRET_PREFIX}{}", STANDARD.encode(key))).unwrap()
    }

    fn verifier_for(key: &[u8]) -> Verifier {
        Verifier::new(vec![secret_from(key)])
    }

    /// Ids that fit in a header value: printable ASCII.
    const ID: &str = "[ -~]{1,64}";

    proptest! {
        #[test]
        fn verifies_what_it_signs(
            key in proptest::collection::vec(any::<u8>(), 1..80),
            id in ID,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            now in 1_000_000_000i64..4_000_000_000,
            offset in -300i64..=300,
        ) {
            let timestamp = now + offset;
            let signature = sign(&secret_from(&key), &id, timestamp, &body);
            let map = svix_headers(&id, &timestamp.to_string(), &signature);
            prop_assert_eq!(
                verifier_for(&key).verify_at(&map, &body, now),
                Ok(WebhookHeaders { id: id.clone(), timestamp })
            );
        }

        #[test]
        fn rotation_accepts_either_secret(
            old in proptest::collection::vec(any::<u8>(), 1..40),
            new in proptest::collection::vec(any::<u8>(), 1..40),
            signed_with_new in any::<bool>(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let signer = secret_from(if signed_with_new { &new } else { &old });
            let signature = sign(&signer, SVIX_ID, SVIX_TS, &body);
            let verifier = Verifier::new(vec![secret_from(&old), secret_from(&new)]);
            prop_assert_eq!(verifier.verify_parts(SVIX_ID, "1614265330", &signature, &body, SVIX_TS), Ok(SVIX_TS));
        }

        #[test]
        fn prefix_is_optional(key in proptest::collection::vec(any::<u8>(), 1..80)) {
            let bare = Secret::parse(&STANDARD.encode(&key)).unwrap();
            prop_assert_eq!(sign(&bare, SVIX_ID, SVIX_TS, SVIX_BODY), sign(&secret_from(&key), SVIX_ID, SVIX_TS, SVIX_BODY));
        }

        #[test]
        fn decimal_matches_to_string(value in any::<i64>()) {
            let mut buf = [0; 20];
            let expected = value.to_string();
            prop_assert_eq!(decimal(value, &mut buf), expected.as_bytes());
        }

        #[test]
        fn flipping_a_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..2048),
            at in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let signature = sign(&Secret::parse(SVIX_SECRET).unwrap(), SVIX_ID, SVIX_TS, &body);
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= mask;
            prop_assert_eq!(
                svix_verifier().verify_parts(SVIX_ID, "1614265330", &signature, &tampered, SVIX_TS),
                Err(SignatureError::NoMatchingSignature)
            );
        }

        #[test]
        fn flipping_an_id_byte_fails(id in ID, at in any::<prop::sample::Index>(), mask in 1u8..128) {
            let signature = sign(&Secret::parse(SVIX_SECRET).unwrap(), &id, SVIX_TS, SVIX_BODY);
            let mut tampered = id.clone().into_bytes();
            tampered[at.index(id.len())] ^= mask; // stays ASCII, so stays a &str
            let tampered = String::from_utf8(tampered).unwrap();
            prop_assert_eq!(
                svix_verifier().verify_parts(&tampered, "1614265330", &signature, SVIX_BODY, SVIX_TS),
                Err(SignatureError::NoMatchingSignature)
            );
        }

        #[test]
        fn flipping_a_timestamp_byte_fails(
            now in 1_000_000_000i64..4_000_000_000,
            offset in -300i64..=300,
            at in any::<prop::sample::Index>(),
            mask in 1u8..128,
        ) {
            let timestamp = now + offset;
            let signature = sign(&Secret::parse(SVIX_SECRET).unwrap(), SVIX_ID, timestamp, SVIX_BODY);
            let mut tampered = timestamp.to_string().into_bytes();
            let at = at.index(tampered.len());
            tampered[at] ^= mask;
            let tampered = String::from_utf8(tampered).unwrap();
            let got = svix_verifier().verify_parts(SVIX_ID, &tampered, &signature, SVIX_BODY, now);
            prop_assert!(got.is_err(), "{tampered:?} verified");
        }

        #[test]
        fn flipping_a_signature_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            at in any::<prop::sample::Index>(),
            mask in 1u8..128,
        ) {
            let signature = sign(&Secret::parse(SVIX_SECRET).unwrap(), SVIX_ID, SVIX_TS, &body);
            let mut tampered = signature.clone().into_bytes();
            let at = at.index(tampered.len());
            tampered[at] ^= mask;
            // The one exception, by design: the final "=" turned into a space is the same entry unpadded.
            let pad_became_separator = signature.as_bytes()[at] == b'=' && tampered[at] == b' ';
            let tampered = String::from_utf8(tampered).unwrap();
            let got = svix_verifier().verify_parts(SVIX_ID, "1614265330", &tampered, &body, SVIX_TS);
            if pad_became_separator {
                prop_assert_eq!(got, Ok(SVIX_TS));
            } else {
                prop_assert_eq!(got, Err(SignatureError::NoMatchingSignature), "{} verified", tampered);
            }
        }
    }
}
