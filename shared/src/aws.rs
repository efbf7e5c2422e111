//! AWS client construction, in one place so every function and tool is configured alike.
//!
//! The Lambda functions read their configuration from the variables Lambda sets ([`lambda_config`]); the `jwh` CLI
//! and the tests use the SDK's default chain (`aws_config::defaults(BehaviorVersion::latest())`, [`config_loader`]).
//! Local runs and tests change only `AWS_ENDPOINT_URL` (moto), which both honour for every service.
//!
//! The one difference from the SDK's defaults is the HTTP client: the SDK's `default-https-client` is rustls on
//! aws-lc, which alone is about 2.5 MB of every binary. [`config_loader`] gives the SDK the same smithy hyper client
//! on rustls with ring instead (same native root certificates, HTTP/1.1 or h2 by ALPN over TLS, plain HTTP/1.1 to
//! an `http://` endpoint such as moto). Without the default client the SDK has no HTTP client of its own, so every
//! SDK configuration in the workspace starts from [`config_loader`].

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDK's default loader (`aws_config::defaults(BehaviorVersion::latest())`) with the rustls-on-ring HTTPS
/// client; callers add what a local run needs (an endpoint, a region, dummy credentials) and `load()`.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// The HTTPS client every SDK configuration here uses: the smithy hyper client on rustls with ring.
fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration of a Lambda function, from the variables Lambda sets: the region (`AWS_REGION`, else
/// `AWS_DEFAULT_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL` when set (moto locally); the SDK's standard retries (3 attempts)
/// and a 3.1 s connect timeout, as `aws_config::defaults` gives (each client adds tokio's sleep and the system
/// clock itself).
///
/// aws-config's default chain finds the same values in a Lambda function, after looking for profile files, SSO,
/// web identity and container credentials that a function never has. The functions do not call it, so the
/// linker leaves that chain, and the STS client it is built on, out of every function's binary; the `jwh` CLI
/// and the tests, which do need profiles, keep [`config_loader`]. Other `AWS_*` settings of the SDK
/// (`AWS_MAX_ATTEMPTS`, `AWS_ENDPOINT_URL_<SERVICE>`, FIPS and dual-stack endpoints) are not read.
pub fn lambda_config() -> Result<SdkConfig, ConfigError> {
    lambda_config_from(|name| std::env::var(name).ok())
}

/// [`lambda_config`] from the variables `var` gives (empty ones count as unset).
fn lambda_config_from(var: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        )
        .http_client(http_client());
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// True when the SDK is pointed at a custom endpoint (moto locally), where S3 needs path-style addressing.
pub fn custom_endpoint() -> bool {
    std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty())
}

/// An S3 client; path-style addressing when a custom endpoint is set, since `bucket.127.0.0.1` cannot resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(custom_endpoint());
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Reads an environment variable that must be set, with an error naming it.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// Reads an optional numeric environment variable, falling back to `default` when unset.
pub fn env_or<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| ConfigError::Invalid(name)),
        _ => Ok(default),
    }
}

/// A function's configuration could not be read from its environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A variable is set but does not hold a valid value.
    #[error("environment variable {0} has an invalid value")]
    Invalid(&'static str),
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::ProvideCredentials as _;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SdkConfig, ConfigError> {
        lambda_config_from(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    async fn credentials(c: &SdkConfig) -> aws_sdk_dynamodb::config::Credentials {
        c.credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap()
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    #[tokio::test]
    async fn a_functions_configuration_is_what_lambda_sets() {
        let c = config(LAMBDA).unwrap();
        assert_eq!(c.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(c.endpoint_url(), None);
        let keys = credentials(&c).await;
        assert_eq!(keys.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(keys.secret_access_key(), "secret");
        assert_eq!(keys.session_token(), Some("token"));
        assert_eq!(c.retry_config().unwrap().max_attempts(), 3);
        assert_eq!(
            c.timeout_config().unwrap().connect_timeout(),
            Some(std::time::Duration::from_millis(3100))
        );
        assert!(c.http_client().is_some());

        // AWS_DEFAULT_REGION when AWS_REGION is unset or empty; a local endpoint; no session token.
        let c = config(&[
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(c.region().unwrap().as_ref(), "us-east-1");
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(credentials(&c).await.session_token(), None);
    }

    #[test]
    fn a_missing_region_or_credential_is_named() {
        for missing in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let vars: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert!(
                matches!(config(&vars), Err(ConfigError::Missing(name)) if name == missing),
                "{missing}"
            );
        }
        let vars: Vec<_> = LAMBDA
            .iter()
            .copied()
            .filter(|(k, _)| !k.ends_with("REGION"))
            .collect();
        assert!(matches!(
            config(&vars),
            Err(ConfigError::Missing("AWS_REGION"))
        ));
    }
}
