//! Webhook signing secrets: where they come from and how they are read.
//!
//! In AWS the secrets live in one Secrets Manager secret whose value is a JSON list of the active signing secrets
//! (`["whsec_new", "whsec_old"]`), so that a rotation can keep the old one valid for a while. Locally,
//! `WEBHOOK_SECRET` holds a comma-separated list. Secret values never reach a log line or an error message.

/// Reads the secret string stored in Secrets Manager. Accepts a JSON list of strings (the documented form), a
/// JSON object with a `secrets` list, a JSON string, or a plain comma-separated list.
pub fn parse_secret_list(value: &str) -> Result<Vec<String>, SecretsError> {
    let trimmed = value.trim();
    let list: Vec<String> = match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(SecretsError::Malformed),
            })
            .collect::<Result<_, _>>()?,
        Ok(serde_json::Value::Object(mut o)) => match o.remove("secrets") {
            Some(v) => return parse_secret_list(&v.to_string()),
            None => return Err(SecretsError::Malformed),
        },
        Ok(serde_json::Value::String(s)) => split_list(&s),
        Ok(_) => return Err(SecretsError::Malformed),
        Err(_) => split_list(trimmed),
    };
    let list: Vec<String> = list
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err(SecretsError::Empty);
    }
    Ok(list)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::to_owned).collect()
}

/// Fetches the active signing secrets from Secrets Manager.
pub async fn fetch_signing_secrets(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Vec<String>, SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            SecretsError::Fetch(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?;
    let value = out.secret_string().ok_or(SecretsError::Malformed)?;
    parse_secret_list(value)
}

/// The signing secrets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager could not be reached or refused the request.
    #[error("could not read the signing secrets from Secrets Manager: {0}")]
    Fetch(String),
    /// The stored value is not a list of secrets.
    #[error("the signing secret value is not a JSON list of strings")]
    Malformed,
    /// The stored list is empty.
    #[error("the signing secret list is empty")]
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_accepted_form() {
        let want = vec!["whsec_a".to_string(), "whsec_b".to_string()];
        assert_eq!(parse_secret_list(r#"["whsec_a","whsec_b"]"#).unwrap(), want);
        assert_eq!(
            parse_secret_list(r#"{"secrets":["whsec_a"," whsec_b "]}"#).unwrap(),
            want
        );
        assert_eq!(parse_secret_list("whsec_a, whsec_b").unwrap(), want);
        assert_eq!(parse_secret_list(r#""whsec_a,whsec_b""#).unwrap(), want);
        assert_eq!(
            parse_secret_list("whsec_a").unwrap(),
            vec!["whsec_a".to_string()]
        );
    }

    #[test]
    fn rejects_empty_and_malformed_values_without_echoing_them() {
        assert!(matches!(parse_secret_list("[]"), Err(SecretsError::Empty)));
        assert!(matches!(parse_secret_list("  "), Err(SecretsError::Empty)));
        assert!(matches!(
            parse_secret_list("[1]"),
            Err(SecretsError::Malformed)
        ));
        assert!(matches!(
            parse_secret_list(r#"{"x":"whsec_secret"}"#),
            Err(SecretsError::Malformed)
        ));
        let msg = parse_secret_list(r#"["whsec_secret", 3]"#)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("whsec_secret"));
    }
}
