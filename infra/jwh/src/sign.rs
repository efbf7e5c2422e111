//! `jwh sign`: the three Svix headers Junction would send with a body.

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

/// A fresh message id as Svix mints them: `msg_` and a KSUID with millisecond precision (its creation time, then
/// random bits), 27 base62 characters. The receiver orders the versions of a record by that creation time
/// ([`jwh_shared::envelope::message_created_ms`]), so deliveries sent with `jwh` take the same path as Junction's.
pub fn fresh_message_id() -> String {
    use svix_ksuid::KsuidLike as _;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    format!(
        "msg_{}",
        svix_ksuid::KsuidMs::from_millis(Some(now_ms), None).to_base62()
    )
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
    fn message_ids_are_svix_ksuids_that_carry_their_creation_time() {
        let before = unix_now() * 1000;
        let a = fresh_message_id();
        let b = fresh_message_id();
        let after = (unix_now() + 1) * 1000;
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 31, "{id}");
            assert!(id.starts_with("msg_"));
            assert!(id[4..].bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
            let created = jwh_shared::envelope::message_created_ms(id).expect("a KSUID");
            // KsuidMs keeps 1/256 s.
            assert!((before - 4..=after).contains(&created), "{id}: {created}");
        }
    }
}
