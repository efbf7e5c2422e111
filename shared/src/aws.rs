//! AWS client construction, in one place so every function and tool is configured alike.
//!
//! Production code uses the SDK's default chain (`aws_config::defaults(BehaviorVersion::latest())`); local runs
//! and tests change only `AWS_ENDPOINT_URL` (moto), which the SDK honours for every service on its own.
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
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// Loads the shared SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn load_config() -> SdkConfig {
    config_loader().load().await
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
