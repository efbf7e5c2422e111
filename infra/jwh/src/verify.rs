//! `jwh verify`: would the receiver accept this delivery? Same rules as the ingest function
//! ([`jwh_shared::signature::Verifier`]), with the clock and tolerance under the caller's control.

use jwh_shared::signature::{Secret, SignatureError, Verifier};

use crate::exit::Exit;

/// A delivery to check: the header values as received and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `svix-id`.
    pub id: &'a str,
    /// `svix-timestamp`, as sent (parsing it is part of the check).
    pub timestamp: &'a str,
    /// `svix-signature`: space-separated `v1,<base64>` entries.
    pub signature: &'a str,
    /// The body, byte for byte.
    pub body: &'a [u8],
}

/// Checks `delivery` against any of `secrets`, as if the clock read `now` (Unix seconds).
///
/// `Ok` holds the line to print (`valid`); `Err` holds the one-line reason. A malformed secret is named by its
/// position (`--secret #2`), never by its value.
pub fn check(
    secrets: &[String],
    delivery: Delivery<'_>,
    now: i64,
    tolerance_secs: u64,
) -> Result<&'static str, String> {
    let parsed = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Secret::parse(s).map_err(|e| {
                if secrets.len() == 1 {
                    e.to_string()
                } else {
                    format!("{e} (--secret #{})", i + 1)
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Verifier::new(parsed)
        .with_tolerance(tolerance_secs)
        .verify_parts(
            delivery.id,
            delivery.timestamp,
            delivery.signature,
            delivery.body,
            now,
        )
        .map(|_| "valid")
        .map_err(|e: SignatureError| e.to_string())
}

/// [`check`] as the command's outcome: the line to print on stdout and how to exit (0 valid, 1 invalid).
pub fn run(
    secrets: &[String],
    delivery: Delivery<'_>,
    now: i64,
    tolerance_secs: u64,
) -> (Exit, String) {
    match check(secrets, delivery, now, tolerance_secs) {
        Ok(line) => (Exit::Success, line.to_owned()),
        Err(reason) => (Exit::Failure, format!("invalid: {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::sign::header_lines;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhlIG90aGVyIHNlY3JldA==";
    const NOW: i64 = 1_700_000_000;

    fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/junction/fixtures");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        assert!(files.len() > 100, "{} fixtures", files.len());
        files
            .into_iter()
            .map(|p| {
                let body = std::fs::read(&p).unwrap();
                (p, body)
            })
            .collect()
    }

    /// Signs with `sign`'s output format and reads the signature back from the printed lines.
    fn signature_for(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let lines = header_lines(&Secret::parse(secret).unwrap(), id, timestamp, body);
        let line = lines
            .lines()
            .find_map(|l| l.strip_prefix("svix-signature: "))
            .unwrap();
        line.to_owned()
    }

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_fixture_round_trips_through_sign_and_verify() {
        for (path, body) in fixtures() {
            let signature = signature_for(SECRET, "msg_1", NOW, &body);
            let delivery = Delivery {
                id: "msg_1",
                timestamp: "1700000000",
                signature: &signature,
                body: &body,
            };
            assert_eq!(
                run(&secrets(&[SECRET]), delivery, NOW, 300),
                (Exit::Success, "valid".to_owned()),
                "{}",
                path.display()
            );
            // One byte more (a trailing newline an editor added) no longer verifies.
            let mut edited = body.clone();
            edited.push(b'\n');
            assert_eq!(
                run(
                    &secrets(&[SECRET]),
                    Delivery {
                        body: &edited,
                        ..delivery
                    },
                    NOW,
                    300
                ),
                (
                    Exit::Failure,
                    "invalid: no webhook signature matches".to_owned()
                ),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn each_failure_has_its_reason_and_exit_code() {
        let body = br#"{"event_type":"provider.connection.created"}"#;
        let signature = signature_for(SECRET, "msg_1", NOW, body);
        let at = |timestamp: &'static str| Delivery {
            id: "msg_1",
            timestamp,
            signature: "",
            body,
        };
        let signed = |timestamp| Delivery {
            signature: &signature,
            ..at(timestamp)
        };
        let cases: Vec<(Vec<String>, Delivery<'_>, i64, &str)> = vec![
            (
                secrets(&["whsec_%%%"]),
                signed("1700000000"),
                NOW,
                "invalid: webhook signing secret is malformed",
            ),
            (
                secrets(&[SECRET, "whsec_"]),
                signed("1700000000"),
                NOW,
                "invalid: webhook signing secret is malformed (--secret #2)",
            ),
            (
                secrets(&[SECRET]),
                signed("17e8"),
                NOW,
                "invalid: webhook timestamp is not an integer number of seconds",
            ),
            (
                secrets(&[SECRET]),
                signed("1700000000"),
                NOW + 301,
                "invalid: webhook timestamp is too old",
            ),
            (
                secrets(&[SECRET]),
                signed("1700000000"),
                NOW - 301,
                "invalid: webhook timestamp is too far in the future",
            ),
            (
                secrets(&[OTHER]),
                signed("1700000000"),
                NOW,
                "invalid: no webhook signature matches",
            ),
            (
                secrets(&[SECRET]),
                at("1700000000"),
                NOW,
                "invalid: no webhook signature matches",
            ),
        ];
        for (secrets, delivery, now, expected) in cases {
            let (exit, line) = run(&secrets, delivery, now, 300);
            assert_eq!((exit, line.as_str()), (Exit::Failure, expected));
            assert!(!line.contains("whsec_"), "{line}");
        }
    }

    #[test]
    fn tolerance_bounds_are_inclusive_and_rotation_accepts_either_secret() {
        let body = b"{}";
        let signature = signature_for(OTHER, "msg_1", NOW, body);
        let delivery = Delivery {
            id: "msg_1",
            timestamp: "1700000000",
            signature: &signature,
            body,
        };
        let both = secrets(&[SECRET, OTHER]);
        assert_eq!(check(&both, delivery, NOW + 60, 60), Ok("valid"));
        assert_eq!(check(&both, delivery, NOW - 60, 60), Ok("valid"));
        assert_eq!(
            check(&both, delivery, NOW + 61, 60),
            Err("webhook timestamp is too old".to_owned())
        );
    }
}
