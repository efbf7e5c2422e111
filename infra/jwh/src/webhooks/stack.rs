//! The stack lookup: what a deployed stack's CloudFormation outputs say about the receiver (its URL and the
//! secret holding its signing secrets).

use std::collections::BTreeMap;

use crate::exit::CliError;
use crate::stack_env::{self, StackEnv};

/// What a stack's outputs say about the receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackTarget {
    /// `WebhookUrl`.
    pub url: Option<String>,
    /// `WebhookSecretArn`.
    pub secret_arn: Option<String>,
}

/// Reads the outputs of stack `name`.
pub(super) async fn stack_target(
    name: &str,
    stack: Option<&StackEnv>,
) -> Result<StackTarget, CliError> {
    let cfn = aws_sdk_cloudformation::Client::new(&stack_env::sdk_config(stack).await);
    let out = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot read the outputs of stack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            ))
        })?;
    let outputs: BTreeMap<String, String> = out
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(StackTarget {
        url: outputs.get("WebhookUrl").cloned(),
        secret_arn: outputs.get("WebhookSecretArn").cloned(),
    })
}

/// The error for a stack without the output `output`.
pub(super) fn no_output(stack: &str, output: &str) -> CliError {
    CliError::Failed(format!(
        "stack {stack} has no {output} output: is it this project's stack?"
    ))
}
