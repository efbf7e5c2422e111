//! The Org Management API client a command talks to: the management key from Secrets Manager or the environment
//! (never printed), and the org, team and environment from the flags.

use std::time::Duration;

use super::args::ApiArgs;
use super::block_on;
use crate::exit::CliError;
use crate::management::{Client, ManagementKey, Scope};
use crate::stack_env::{self, StackEnv};

/// Where the management key is read from when no Secrets Manager ARN is given.
pub const KEY_ENV: &str = "JUNCTION_MANAGEMENT_KEY";

/// The API client, with the key from Secrets Manager or the environment.
pub(super) fn connect(args: &ApiArgs, stack: Option<&StackEnv>) -> Result<Client, CliError> {
    let key = match &args.management_key_secret {
        Some(id) => block_on(async {
            let sm = aws_sdk_secretsmanager::Client::new(&stack_env::sdk_config(stack).await);
            read_management_key(&sm, id).await
        })??,
        None => std::env::var(KEY_ENV)
            .ok()
            .and_then(|v| ManagementKey::new(&v))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no management key: set {KEY_ENV} or pass --management-key-secret ARN"
                ))
            })?,
    };
    let scope = Scope {
        org: args.org.trim().to_owned(),
        team: args.team.trim().to_owned(),
        environment: args.environment,
    };
    Ok(Client::new(
        &args.api_url,
        key,
        scope,
        Duration::from_secs(args.timeout),
    ))
}

/// Reads the management key from a Secrets Manager secret: the plain string, or a JSON object's `key` /
/// `management_key` field, or a JSON string.
pub async fn read_management_key(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<ManagementKey, CliError> {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot read the management key from Secrets Manager secret {id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    let text = out.secret_string().unwrap_or_default();
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => ["key", "management_key"]
            .iter()
            .find_map(|f| o.get(*f).and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_default(),
        _ => text.to_owned(),
    };
    ManagementKey::new(&value).ok_or_else(|| {
        CliError::Failed(format!(
            "Secrets Manager secret {id} holds no management key (expected the key as plain text, or JSON with a \"key\" field)"
        ))
    })
}
