//! `jwh webhooks`: manage the team's Junction webhook endpoints through the Org Management API, connect a
//! deployed stack to Junction, and rotate an endpoint's signing secret without a window in which deliveries fail.
//!
//! The modules, one concern each: [`args`] (the command line), [`connect`] (the management key and the API
//! client), [`stack`] (a deployed stack's outputs), [`secret_list`] (the receiver's signing secrets in Secrets
//! Manager), [`create`] (creating an endpoint and connecting a stack to it), [`rotation`] (the rotation protocol)
//! and [`render`] (tables and JSON). This file dispatches the commands.

mod args;
mod connect;
mod create;
mod render;
mod rotation;
mod secret_list;
mod stack;

use std::collections::BTreeMap;

use crate::block_on;
use crate::exit::{CliError, Exit};
use crate::management::{ApiError, WebhookPatch};
use crate::stack_env::StackEnv;

pub use args::WebhooksCommand;
use connect::connect;
use create::create;
use render::{render_headers, render_list, render_one};
use rotation::rotate;
use stack::{no_output, stack_target};

/// Runs a `jwh webhooks` command.
pub fn run(command: WebhooksCommand) -> Result<Exit, CliError> {
    let stack = StackEnv::load()?;
    match command {
        WebhooksCommand::List(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let hooks = api.list().map_err(failed)?;
            print!("{}", render_list(&hooks, args.api.json));
        }
        WebhooksCommand::Get(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let hook = api.get(&args.id).map_err(failed)?;
            print!("{}", render_one(&hook, args.api.json));
        }
        WebhooksCommand::Create(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            block_on(create(&api, &args, stack.as_ref()))??;
        }
        WebhooksCommand::Update(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let url = match (&args.url, &args.stack) {
                (Some(url), _) => Some(url.clone()),
                (None, Some(name)) => Some(
                    block_on(stack_target(name, stack.as_ref()))??
                        .url
                        .ok_or_else(|| no_output(name, "WebhookUrl"))?,
                ),
                (None, None) => None,
            };
            let patch = WebhookPatch {
                url,
                description: args.description.clone(),
                rate_limit: if args.no_rate_limit {
                    Some(None)
                } else {
                    args.rate_limit.map(Some)
                },
                disabled: (args.disable || args.enable).then_some(args.disable),
                filter_types: if args.all_event_types {
                    Some(None)
                } else {
                    args.filter.filter_types().map(Some)
                },
            };
            if patch.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: pass --url, --stack, --family, --filter-type, --all-event-types, --description, --rate-limit, --no-rate-limit, --disable or --enable".into(),
                ));
            }
            let hook = api.patch(&args.id, &patch).map_err(failed)?;
            print!("{}", render_one(&hook, args.api.json));
        }
        WebhooksCommand::Delete(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            api.delete(&args.id).map_err(failed)?;
            if args.api.json {
                println!("{}", serde_json::json!({ "deleted": args.id }));
            } else {
                println!("deleted {}", args.id);
            }
        }
        WebhooksCommand::Headers(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            if args.clear || !args.set.is_empty() {
                let headers: BTreeMap<String, String> = args.set.iter().cloned().collect();
                api.set_headers(&args.id, &headers).map_err(failed)?;
            }
            let headers = api.headers(&args.id).map_err(failed)?;
            print!("{}", render_headers(&headers, args.api.json));
        }
        WebhooksCommand::Secret(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            let key = api.secret(&args.id).map_err(failed)?;
            if args.api.json {
                println!("{}", serde_json::json!({ "key": key }));
            } else {
                println!("{key}");
            }
        }
        WebhooksCommand::RotateSecret(args) => {
            let api = connect(&args.api, stack.as_ref())?;
            return block_on(rotate(&api, &args, stack.as_ref()))?;
        }
    }
    Ok(Exit::Success)
}

/// An Org Management API failure, as the CLI reports it.
fn failed(e: ApiError) -> CliError {
    CliError::Failed(e.to_string())
}
