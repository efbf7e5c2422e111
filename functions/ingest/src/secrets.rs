//! The signing-secret store: the verifier over the endpoint's current signing secrets, kept fresh from Secrets
//! Manager so that a rotation (`jwh webhooks rotate-secret`) needs no redeploy.
//!
//! A secret added by a rotation is picked up after the first verification it fails (re-read at most once per
//! [`SECRET_REFRESH_INTERVAL`]); a secret retired by one stops being accepted once the list is older than
//! [`SECRET_MAX_AGE`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jwh_shared::signature::{SignatureError, Verifier, WebhookHeaders};
use tokio::sync::Mutex;

use crate::handler::Rejection;

/// Secrets are re-fetched after a failed verification at most this often.
pub const SECRET_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Secrets read longer ago than this are re-read before the next verification, failed or not, so that a secret
/// retired from the list stops being accepted by warm containers within this time.
pub const SECRET_MAX_AGE: Duration = Duration::from_secs(300);

/// Where the signing secrets come from.
#[derive(Debug)]
pub enum SecretSource {
    /// A Secrets Manager secret holding a JSON list of the active secrets (re-read for rotation).
    SecretsManager {
        /// Client, built once.
        client: aws_sdk_secretsmanager::Client,
        /// Secret ARN or name.
        secret_id: String,
    },
    /// Fixed secrets (`WEBHOOK_SECRET`, local runs and tests).
    Static,
}

/// The verifier over the current signing secrets, refreshed from the source after a verification failure (a
/// secret added by a rotation) and once it is older than [`SECRET_MAX_AGE`] (a secret retired by one).
#[derive(Debug)]
pub struct SigningSecrets {
    current: RwLock<Option<Arc<Verifier>>>,
    source: SecretSource,
    tolerance_secs: u64,
    last_fetch: Mutex<Option<Instant>>,
    refresh_interval: Duration,
    max_age: Duration,
}

impl SigningSecrets {
    /// Fixed secrets.
    pub fn fixed(verifier: Verifier) -> Self {
        Self {
            current: RwLock::new(Some(Arc::new(verifier))),
            source: SecretSource::Static,
            tolerance_secs: jwh_shared::signature::DEFAULT_TOLERANCE_SECS,
            last_fetch: Mutex::new(None),
            refresh_interval: SECRET_REFRESH_INTERVAL,
            max_age: SECRET_MAX_AGE,
        }
    }

    /// Secrets read from Secrets Manager; call [`SigningSecrets::refresh`] at init.
    pub fn from_secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        tolerance_secs: u64,
    ) -> Self {
        Self {
            current: RwLock::new(None),
            source: SecretSource::SecretsManager { client, secret_id },
            tolerance_secs,
            last_fetch: Mutex::new(None),
            refresh_interval: SECRET_REFRESH_INTERVAL,
            max_age: SECRET_MAX_AGE,
        }
    }

    /// The same source, re-read at most once per `interval` instead of [`SECRET_REFRESH_INTERVAL`] (tests that
    /// rotate secrets in seconds, not minutes).
    pub fn with_refresh_interval(self, interval: Duration) -> Self {
        Self {
            refresh_interval: interval,
            ..self
        }
    }

    /// The same source, re-read before verifying once the secrets are older than `max_age` instead of
    /// [`SECRET_MAX_AGE`] (tests that retire a secret in seconds).
    pub fn with_max_age(self, max_age: Duration) -> Self {
        Self { max_age, ..self }
    }

    /// Re-reads the secrets when they are older than the maximum age. A failure keeps the secrets already held
    /// (logged; read again after the maximum age, or sooner after a failed verification), so an unreachable Secrets Manager does not refuse genuine webhooks.
    async fn refresh_if_stale(&self) {
        if !matches!(self.source, SecretSource::SecretsManager { .. }) {
            return;
        }
        let stale = {
            let last = self.last_fetch.lock().await;
            last.is_some_and(|t| t.elapsed() >= self.max_age)
        };
        if stale && let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "signing secrets could not be re-read; keeping the current list");
        }
    }

    fn verifier(&self) -> Option<Arc<Verifier>> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-reads the secrets, unless they were read less than [`SECRET_REFRESH_INTERVAL`] (or the interval set
    /// with [`SigningSecrets::with_refresh_interval`]) ago. Returns whether a
    /// new verifier is in place.
    pub async fn refresh(&self) -> Result<bool, jwh_shared::secrets::SecretsError> {
        let SecretSource::SecretsManager { client, secret_id } = &self.source else {
            return Ok(false);
        };
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.refresh_interval) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let secrets = jwh_shared::secrets::fetch_signing_secrets(client, secret_id).await?;
        let verifier = Verifier::from_strs(&secrets)
            .map_err(|_| jwh_shared::secrets::SecretsError::Malformed)?
            .with_tolerance(self.tolerance_secs);
        let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Arc::new(verifier));
        Ok(true)
    }

    /// Verifies a request; on a signature mismatch, re-reads rotated secrets (rate-limited) and tries once more.
    pub async fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookHeaders, Rejection> {
        self.refresh_if_stale().await;
        let first = match self.verifier() {
            Some(v) => v.verify_at(headers, body, now_unix),
            None => Err(SignatureError::NoMatchingSignature),
        };
        match first {
            Err(SignatureError::NoMatchingSignature) => match self.refresh().await {
                Ok(true) => self
                    .verifier()
                    .ok_or(Rejection::SecretsUnavailable)?
                    .verify_at(headers, body, now_unix)
                    .map_err(Rejection::Signature),
                Ok(false) if self.verifier().is_none() => Err(Rejection::SecretsUnavailable),
                Ok(false) => Err(Rejection::Signature(SignatureError::NoMatchingSignature)),
                Err(e) => {
                    tracing::error!(error = %e, "signing secrets unavailable");
                    if self.verifier().is_none() {
                        Err(Rejection::SecretsUnavailable)
                    } else {
                        Err(Rejection::Signature(SignatureError::NoMatchingSignature))
                    }
                }
            },
            other => other.map_err(Rejection::Signature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        Format, OLD_SECRET, SECRET, aws_ok, fixture, ingest, now, request, signed_headers, status,
    };

    #[tokio::test]
    async fn old_and_new_secrets_both_verify_during_a_rotation() {
        let body = fixture("labtest.order.created");
        let text = std::str::from_utf8(&body).unwrap();
        let aws = aws_ok();
        let ingest = ingest(&aws, &[SECRET, OLD_SECRET]);
        for secret in [SECRET, OLD_SECRET] {
            let req = request(
                Format::HttpApi,
                "POST",
                &signed_headers(secret, "m", now(), &body),
                text,
                false,
            );
            assert_eq!(status(&ingest, req).await, 200);
        }
        assert_eq!(aws.count("SendMessage"), 2);
    }

    /// The headers Svix sends with `body`, signed with `secret`, as the handler reads them.
    fn header_map(secret: &str, body: &[u8]) -> http::HeaderMap {
        signed_headers(secret, "msg_1", now(), body)
            .into_iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn fixed_secrets_verify_every_listed_secret_and_are_never_re_read() {
        let secrets = SigningSecrets::fixed(Verifier::from_strs([SECRET, OLD_SECRET]).unwrap());
        let body = b"{}";
        for secret in [SECRET, OLD_SECRET] {
            let verified = secrets
                .verify(&header_map(secret, body), body, now())
                .await
                .unwrap();
            assert_eq!(verified.id, "msg_1");
        }
        assert!(!secrets.refresh().await.unwrap());
    }

    #[tokio::test]
    async fn a_secret_not_in_the_list_is_a_401_and_the_store_hides_its_secrets() {
        let secrets = SigningSecrets::fixed(Verifier::from_strs([SECRET]).unwrap());
        let body = b"{}";
        let err = secrets
            .verify(&header_map(OLD_SECRET, body), body, now())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Rejection::Signature(SignatureError::NoMatchingSignature)
            ),
            "{err}"
        );
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
        assert!(!format!("{secrets:?}").contains(&SECRET["whsec_".len()..]));
    }
}
