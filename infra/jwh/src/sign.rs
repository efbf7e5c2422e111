//! `jwh sign`: the three Svix headers Junction would send with a body.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jwh_shared::signature::{Secret, sign};

use crate::exit::CliError;

/// The `svix-id`, `svix-timestamp` and `svix-signature` header lines for `body`, one per line, in that order.
pub fn header_lines(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "svix-id: {id}\nsvix-timestamp: {timestamp}\nsvix-signature: {}\n",
        sign(secret, id, timestamp, body)
    )
}

/// Parses a secret given on the command line; a malformed one is a usage error that names the flag, never the
/// value.
pub fn parse_secret(flag: &str, value: &str) -> Result<Secret, CliError> {
    Secret::parse(value).map_err(|e| CliError::Usage(format!("{flag}: {e}")))
}

/// The clock, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A fresh Svix-style message id: `msg_` and 22 base62 characters (128 random bits).
///
/// The bits come from std's randomly keyed SipHash over the clock and a counter: unique enough for test
/// deliveries, and no extra dependency. Not for anything secret.
pub fn fresh_message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(count);
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.finish()
    };
    let mut n = (u128::from(word(1)) << 64) | u128::from(word(2));
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(26);
    id.push_str("msg_");
    for _ in 0..22 {
        id.push(ALPHABET[(n % 62) as usize] as char);
        n /= 62;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    // Svix's documented example: https://docs.svix.com/receiving/verifying-payloads/how-manual
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn prints_svix_documented_example() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(
            header_lines(&secret, ID, 1_614_265_330, BODY),
            "svix-id: msg_p5jXN8AQM9LWM0D4loKWxJek\n\
             svix-timestamp: 1614265330\n\
             svix-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n"
        );
    }

    #[test]
    fn malformed_secret_is_a_usage_error_without_the_value() {
        let err = parse_secret("--secret", "whsec_not*base64").unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        assert_eq!(
            err.to_string(),
            "--secret: webhook signing secret is malformed"
        );
    }

    #[test]
    fn message_ids_look_like_svix_and_differ() {
        let a = fresh_message_id();
        let b = fresh_message_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 26, "{id}");
            assert!(id.starts_with("msg_"));
            assert!(id[4..].bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
    }
}
