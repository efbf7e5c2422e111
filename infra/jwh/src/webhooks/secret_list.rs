//! The receiver's list of signing secrets: fresh secrets, their public fingerprints, the list's rules (newest
//! first, each once, no placeholder), and the list as it is kept in Secrets Manager, with the tags that record a
//! pending rotation.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;
use base64::Engine as _;
use jwh_shared::signature::{Secret, sign};

use crate::exit::CliError;

/// A fresh signing secret in Svix's form: `whsec_` and the base64 of 24 random bytes from the OS.
pub fn fresh_secret() -> Result<String, CliError> {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key)
        .map_err(|e| CliError::Failed(format!("no randomness from the OS: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// A short public name for a secret: 16 hex digits of an HMAC under it of a fixed message. It identifies a secret
/// in a tag or a log line without revealing it. `None` for a value that is not a signing secret.
pub fn fingerprint(secret: &str) -> Option<String> {
    let parsed = Secret::parse(secret).ok()?;
    let signature = sign(&parsed, "jwh-fingerprint", 0, b"");
    let mac = base64::engine::general_purpose::STANDARD
        .decode(signature.strip_prefix("v1,")?)
        .ok()?;
    Some(mac[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// The list with `added` in front, each entry once, and without entries that are not signing secrets (the
/// template's `whsec_REPLACE_ME` placeholder): the ingest function refuses a list holding one. Returns the list
/// and how many entries were dropped.
pub fn with_secrets(existing: &[String], added: &[&str]) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    for s in added
        .iter()
        .map(|s| (*s).to_owned())
        .chain(existing.iter().cloned())
    {
        if Secret::parse(&s).is_err() {
            dropped += 1;
        } else if !out.contains(&s) {
            out.push(s);
        }
    }
    (out, dropped)
}

/// The receiver's signing-secret list in Secrets Manager.
pub(super) struct SecretList<'a> {
    /// Secrets Manager client.
    pub(super) sm: &'a aws_sdk_secretsmanager::Client,
    /// The secret's ARN or name.
    pub(super) id: &'a str,
}

impl SecretList<'_> {
    fn error(&self, action: &str, e: impl std::error::Error) -> CliError {
        CliError::Failed(format!(
            "cannot {action} Secrets Manager secret {}: {}",
            self.id,
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    }

    /// The entries as stored (a placeholder included); empty when the secret has no value yet.
    pub(super) async fn read(&self) -> Result<Vec<String>, CliError> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(self.id)
            .send()
            .await
            .map_err(|e| self.error("read", e))?;
        match out.secret_string() {
            None => Ok(Vec::new()),
            Some(text) => match jwh_shared::secrets::parse_secret_list(text) {
                Ok(list) => Ok(list),
                Err(jwh_shared::secrets::SecretsError::Empty) => Ok(Vec::new()),
                Err(e) => Err(CliError::Failed(format!("secret {}: {e}", self.id))),
            },
        }
    }

    /// Replaces the entries with `list`.
    pub(super) async fn write(&self, list: &[String]) -> Result<(), CliError> {
        let text = serde_json::to_string(list).map_err(|e| CliError::Failed(e.to_string()))?;
        self.sm
            .put_secret_value()
            .secret_id(self.id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| self.error("write", e))?;
        Ok(())
    }

    /// The secret's tags, by key.
    pub(super) async fn tags(&self) -> Result<BTreeMap<String, String>, CliError> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(self.id)
            .send()
            .await
            .map_err(|e| self.error("describe", e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    }

    /// Sets the tag `key`.
    pub(super) async fn tag(&self, key: &str, value: &str) -> Result<(), CliError> {
        self.sm
            .tag_resource()
            .secret_id(self.id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| self.error("tag", e))?;
        Ok(())
    }

    /// Removes the tag `key`.
    pub(super) async fn untag(&self, key: &str) -> Result<(), CliError> {
        self.sm
            .untag_resource()
            .secret_id(self.id)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| self.error("untag", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const B: &str = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhpcyBlbmRwb2ludA==";

    #[test]
    fn fresh_secrets_are_svix_shaped_and_distinct() {
        let a = fresh_secret().unwrap();
        let b = fresh_secret().unwrap();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(s.starts_with("whsec_"));
            assert_eq!(s.len(), "whsec_".len() + 32);
            assert!(Secret::parse(s).is_ok());
        }
    }

    #[test]
    fn fingerprints_are_stable_short_and_not_the_secret() {
        let fp = fingerprint(A).unwrap();
        assert_eq!(fp.len(), 16);
        assert_eq!(fingerprint(A), Some(fp.clone()));
        assert_ne!(fingerprint(B), Some(fp.clone()));
        assert!(!A.contains(&fp));
        assert_eq!(fingerprint("whsec_REPLACE_ME"), None);
    }

    #[test]
    fn secret_lists_put_the_new_first_keep_others_and_drop_the_placeholder() {
        let existing = vec!["whsec_REPLACE_ME".to_owned()];
        assert_eq!(with_secrets(&existing, &[A]), (vec![A.to_owned()], 1));
        let existing = vec![B.to_owned(), A.to_owned()];
        assert_eq!(
            with_secrets(&existing, &[A]),
            (vec![A.to_owned(), B.to_owned()], 0)
        );
        assert_eq!(
            with_secrets(&[], &[A, B]),
            (vec![A.to_owned(), B.to_owned()], 0)
        );
    }
}
