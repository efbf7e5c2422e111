//! The running local stack's settings: `.dev/stack.env`, written by `make dev`, found in the current directory
//! or any parent, and the AWS configuration that goes with it.
//!
//! The file holds `NAME=value` lines (`WEBHOOK_URL`, `WEBHOOK_SECRET`, `AWS_ENDPOINT_URL`, `TABLE_NAME`,
//! `QUEUE_URL_*`, `DLQ_URL_*`). Blank lines and `#` comments are skipped; an `export ` prefix and one pair of
//! matching quotes around a value are accepted, so the file can also be `source`d by a shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::{Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

use crate::exit::CliError;

/// Where the file lives, relative to the repository root.
pub const RELATIVE_PATH: &str = ".dev/stack.env";

/// The parsed settings file, and where it was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackEnv {
    /// The file read (empty when built in memory).
    pub path: PathBuf,
    vars: BTreeMap<String, String>,
}

impl StackEnv {
    /// Parses the text of a settings file.
    pub fn parse(text: &str) -> StackEnv {
        let vars = text
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    return None;
                }
                let line = line.strip_prefix("export ").unwrap_or(line);
                let (name, value) = line.split_once('=')?;
                let name = name.trim();
                if name.is_empty() {
                    return None;
                }
                Some((name.to_owned(), unquote(value.trim()).to_owned()))
            })
            .collect();
        StackEnv {
            path: PathBuf::new(),
            vars,
        }
    }

    /// The nearest `.dev/stack.env` at or above `dir`.
    pub fn find_from(dir: &Path) -> Option<PathBuf> {
        dir.ancestors()
            .map(|d| d.join(RELATIVE_PATH))
            .find(|p| p.is_file())
    }

    /// Reads the nearest `.dev/stack.env` at or above the current directory; `None` when there is none.
    pub fn load() -> Result<Option<StackEnv>, CliError> {
        let Ok(cwd) = std::env::current_dir() else {
            return Ok(None);
        };
        let Some(path) = StackEnv::find_from(&cwd) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        Ok(Some(StackEnv {
            path,
            ..StackEnv::parse(&text)
        }))
    }

    /// A non-empty value from the file.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// A setting from the environment, else from the stack file: the environment always wins.
pub fn setting(name: &str, stack: Option<&StackEnv>) -> Option<String> {
    setting_from(|n| std::env::var(n).ok(), name, stack)
}

/// [`setting`] with the environment given as a function, for tests.
pub fn setting_from(
    env: impl Fn(&str) -> Option<String>,
    name: &str,
    stack: Option<&StackEnv>,
) -> Option<String> {
    env(name)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| stack.and_then(|s| s.get(name)).map(str::to_owned))
}

/// What to add to the SDK's default chain: only in the local case (the stack file names an endpoint the
/// environment does not), the endpoint, and a region and dummy credentials where the environment has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalOverrides {
    /// `AWS_ENDPOINT_URL` from the stack file.
    pub endpoint: Option<String>,
    /// A region, when the environment names none.
    pub region: Option<String>,
    /// Whether to use dummy credentials (moto accepts any).
    pub dummy_credentials: bool,
}

impl LocalOverrides {
    /// Decides the overrides from the environment (as a function) and the stack file.
    pub fn decide(env: impl Fn(&str) -> Option<String>, stack: Option<&StackEnv>) -> Self {
        let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
        let Some(endpoint) = stack.and_then(|s| s.get("AWS_ENDPOINT_URL")) else {
            return Self::default();
        };
        if set("AWS_ENDPOINT_URL") {
            return Self::default();
        }
        let region = (!set("AWS_REGION") && !set("AWS_DEFAULT_REGION")).then(|| {
            stack
                .and_then(|s| s.get("AWS_REGION").or_else(|| s.get("AWS_DEFAULT_REGION")))
                .unwrap_or("us-east-1")
                .to_owned()
        });
        LocalOverrides {
            endpoint: Some(endpoint.to_owned()),
            region,
            dummy_credentials: !set("AWS_ACCESS_KEY_ID") && !set("AWS_PROFILE"),
        }
    }
}

/// The AWS SDK configuration: the default chain (`AWS_ENDPOINT_URL` for moto), plus [`LocalOverrides`].
pub async fn sdk_config(stack: Option<&StackEnv>) -> SdkConfig {
    let overrides = LocalOverrides::decide(|n| std::env::var(n).ok(), stack);
    let mut loader = jwh_shared::aws::config_loader();
    if let Some(endpoint) = overrides.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = overrides.region {
        loader = loader.region(Region::new(region));
    }
    if overrides.dummy_credentials {
        loader = loader.credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "jwh-local-stack",
        ));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# written by make dev
WEBHOOK_URL=http://127.0.0.1:3000/webhooks/junction
export WEBHOOK_SECRET=\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"
AWS_ENDPOINT_URL='http://127.0.0.1:5000'

TABLE_NAME = jwh-local
QUEUE_URL_CATCH_ALL=http://127.0.0.1:5000/123456789012/catch-all?x=1
EMPTY=
not a setting
";

    #[test]
    fn parses_settings_comments_quotes_and_export() {
        let env = StackEnv::parse(FILE);
        assert_eq!(
            env.get("WEBHOOK_URL"),
            Some("http://127.0.0.1:3000/webhooks/junction")
        );
        assert_eq!(
            env.get("WEBHOOK_SECRET"),
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        );
        assert_eq!(env.get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(env.get("TABLE_NAME"), Some("jwh-local"));
        assert_eq!(
            env.get("QUEUE_URL_CATCH_ALL"),
            Some("http://127.0.0.1:5000/123456789012/catch-all?x=1")
        );
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(env.get("# written by make dev"), None);
        assert_eq!(env.vars.len(), 6);
    }

    #[test]
    fn environment_wins_over_the_file() {
        let file = StackEnv::parse(FILE);
        let env = |n: &str| (n == "TABLE_NAME").then(|| "from-env".to_owned());
        assert_eq!(
            setting_from(env, "TABLE_NAME", Some(&file)).as_deref(),
            Some("from-env")
        );
        assert_eq!(
            setting_from(env, "WEBHOOK_URL", Some(&file)).as_deref(),
            Some("http://127.0.0.1:3000/webhooks/junction")
        );
        assert_eq!(setting_from(env, "WEBHOOK_URL", None), None);
        let blank = |_: &str| Some("  ".to_owned());
        assert_eq!(
            setting_from(blank, "TABLE_NAME", Some(&file)).as_deref(),
            Some("jwh-local")
        );
    }

    #[test]
    fn finds_the_nearest_file_upwards() {
        let root = std::env::temp_dir().join(format!("jwh-stack-env-{}", std::process::id()));
        let nested = root.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::create_dir_all(root.join(".dev")).unwrap();
        std::fs::write(root.join(RELATIVE_PATH), "TABLE_NAME=t\n").unwrap();
        assert_eq!(StackEnv::find_from(&nested), Some(root.join(RELATIVE_PATH)));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn local_overrides_only_when_the_file_names_the_endpoint() {
        let file = StackEnv::parse(FILE);
        let none = |_: &str| None;
        assert_eq!(
            LocalOverrides::decide(none, Some(&file)),
            LocalOverrides {
                endpoint: Some("http://127.0.0.1:5000".into()),
                region: Some("us-east-1".into()),
                dummy_credentials: true,
            }
        );
        let configured =
            |n: &str| matches!(n, "AWS_REGION" | "AWS_ACCESS_KEY_ID").then(|| "x".to_owned());
        assert_eq!(
            LocalOverrides::decide(configured, Some(&file)),
            LocalOverrides {
                endpoint: Some("http://127.0.0.1:5000".into()),
                region: None,
                dummy_credentials: false,
            }
        );
        let endpoint_in_env = |n: &str| (n == "AWS_ENDPOINT_URL").then(|| "http://x".to_owned());
        assert_eq!(
            LocalOverrides::decide(endpoint_in_env, Some(&file)),
            LocalOverrides::default()
        );
        assert_eq!(
            LocalOverrides::decide(none, None),
            LocalOverrides::default()
        );
    }
}
