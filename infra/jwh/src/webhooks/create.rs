//! `jwh webhooks create`: create an endpoint and, given a stack, connect it to the receiver.
//!
//! `create --stack NAME` reads the stack's `WebhookUrl` and `WebhookSecretArn` outputs, generates the signing
//! secret itself, adds it to the stack's secret *first* and only then creates the endpoint with it, so the first
//! delivery already verifies. If Junction refuses the endpoint the secret list is put back as it was.

use super::args::CreateArgs;
use super::failed;
use super::render::render_one;
use super::secret_list::{SecretList, fingerprint, fresh_secret, with_secrets};
use super::stack::{StackTarget, no_output, stack_target};
use crate::exit::CliError;
use crate::management::{Client, NewWebhook};
use crate::stack_env::{self, StackEnv};

/// Runs `create`, in the order the module documentation gives.
pub(super) async fn create(
    api: &Client,
    args: &CreateArgs,
    stack: Option<&StackEnv>,
) -> Result<(), CliError> {
    let target = match &args.stack {
        Some(name) => stack_target(name, stack).await?,
        None => StackTarget::default(),
    };
    let url = match (&args.url, &args.stack) {
        (Some(url), _) => url.clone(),
        (None, Some(name)) => target
            .url
            .clone()
            .ok_or_else(|| no_output(name, "WebhookUrl"))?,
        (None, None) => return Err(CliError::Usage("pass --url or --stack".into())),
    };
    let secret_arn = match (&args.secret_arn, &args.stack) {
        (Some(arn), _) => Some(arn.clone()),
        (None, Some(name)) => Some(
            target
                .secret_arn
                .clone()
                .ok_or_else(|| no_output(name, "WebhookSecretArn"))?,
        ),
        (None, None) => None,
    };
    let secret = fresh_secret()?;
    let new = NewWebhook {
        url,
        description: args.description.clone(),
        rate_limit: args.rate_limit,
        disabled: args.disabled,
        filter_types: args.filter.filter_types(),
        secret: Some(secret.clone()),
    };
    let config = stack_env::sdk_config(stack).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let Some(arn) = secret_arn else {
        let hook = api.create(&new).map_err(failed)?;
        print!("{}", render_one(&hook, args.api.json));
        eprintln!(
            "jwh: the signing secret was not stored anywhere (no --stack or --secret-arn); `jwh webhooks secret {}` prints it",
            hook.id
        );
        return Ok(());
    };
    let list = SecretList { sm: &sm, id: &arn };
    let before = list.read().await?;
    let (with_new, dropped) = with_secrets(&before, &[&secret]);
    list.write(&with_new).await?;
    let hook = match api.create(&new) {
        Ok(hook) => hook,
        Err(e) => {
            // Junction has no endpoint with this secret: put the list back as it was.
            let restored = list.write(&before).await;
            let note = match restored {
                Ok(()) => "the secret list was put back as it was".to_owned(),
                Err(r) => format!("and putting the secret list back failed too: {r}"),
            };
            return Err(CliError::Failed(format!("{e} ({note})")));
        }
    };
    // Junction could in principle ignore a secret it is given: list whatever it signs with.
    let actual = api.secret(&hook.id).map_err(failed)?;
    let mut stored = with_new;
    if actual != secret {
        let (corrected, _) = with_secrets(&before, &[&actual]);
        list.write(&corrected).await?;
        stored = corrected;
    }
    print!("{}", render_one(&hook, args.api.json));
    eprintln!(
        "jwh: signing secret {} stored in {arn} ({} active{})",
        fingerprint(&actual).unwrap_or_default(),
        stored.len(),
        if dropped > 0 {
            format!(", {dropped} placeholder entry removed")
        } else {
            String::new()
        }
    );
    Ok(())
}
