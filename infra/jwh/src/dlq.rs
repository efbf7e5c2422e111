//! `jwh dlq list` and `jwh dlq redrive`: what is in each family's dead-letter queue, and moving it back.
//!
//! Listing peeks: messages are received with a short visibility timeout, never deleted, and made visible again
//! at once afterwards; only ids and attributes are shown, never a body (bodies are health data). Redriving sends
//! each message to the family's queue with its body and message attributes unchanged, and deletes it from the
//! dead-letter queue only after that send succeeded.

use std::collections::HashSet;

use jwh_shared::envelope::attr;
use jwh_shared::family::Family;

use crate::exit::CliError;
use crate::queues::{Queues, dlq_env_var, dlq_url, queue_url};
use crate::stack_env::StackEnv;

/// Visibility timeout while peeking: long enough to page through a listing without seeing a message twice.
pub const PEEK_VISIBILITY_SECS: i32 = 30;
/// Visibility timeout while redriving: a message whose send failed comes back after this long.
pub const REDRIVE_VISIBILITY_SECS: i32 = 60;

/// A message in a dead-letter queue, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// SQS message id.
    pub message_id: String,
    /// `svix-id` attribute.
    pub svix_id: Option<String>,
    /// `event-type` attribute.
    pub event_type: Option<String>,
    /// Times received (the processor's attempts, plus peeks).
    pub receive_count: Option<u32>,
}

/// What `list` found in one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// SQS's approximate count of visible messages, before peeking.
    pub approximate_count: Option<u64>,
    /// The messages peeked, at most the limit asked for.
    pub messages: Vec<Peeked>,
}

/// The families to act on, each with its dead-letter queue URL (and queue URL, when known). With `only`, that
/// family must have a DLQ URL; without, every family that has one, and at least one must.
pub fn families(
    only: Option<Family>,
    stack: Option<&StackEnv>,
) -> Result<Vec<(Family, Option<String>)>, CliError> {
    let chosen: Vec<Family> = match only {
        Some(f) => vec![f],
        None => Family::ALL.to_vec(),
    };
    let found: Vec<(Family, Option<String>)> =
        chosen.iter().map(|&f| (f, dlq_url(f, stack))).collect();
    if found.iter().all(|(_, url)| url.is_none()) {
        let names = match only {
            Some(f) => dlq_env_var(f),
            None => "DLQ_URL_<FAMILY>".to_owned(),
        };
        return Err(CliError::Usage(format!(
            "no dead-letter queue URL: set {names} or start the local stack (make dev writes .dev/stack.env)"
        )));
    }
    Ok(found)
}

/// Peeks at up to `max` messages of the queue at `url`, then makes them visible again.
pub async fn peek<Q: Queues>(queues: &Q, url: &str, max: usize) -> Result<Listing, String> {
    let approximate_count = queues.approximate_count(url).await?;
    let mut seen = HashSet::new();
    let mut handles = Vec::new();
    let mut messages = Vec::new();
    while messages.len() < max {
        let batch = queues.receive(url, PEEK_VISIBILITY_SECS).await?;
        let mut new = false;
        for m in batch {
            handles.push(m.receipt_handle.clone());
            if messages.len() < max && seen.insert(m.message_id.clone()) {
                new = true;
                messages.push(Peeked {
                    svix_id: m.attribute(attr::SVIX_ID).map(str::to_owned),
                    event_type: m.attribute(attr::EVENT_TYPE).map(str::to_owned),
                    receive_count: m.receive_count,
                    message_id: m.message_id,
                });
            }
        }
        if !new {
            break;
        }
    }
    for handle in handles {
        // Best effort: a message not released becomes visible again by itself after the peek timeout.
        let _ = queues.release(url, &handle).await;
    }
    Ok(Listing {
        approximate_count,
        messages,
    })
}

/// The listing of one family as printed: a header line, then one line per message.
pub fn format_listing(family: Family, url: &str, listing: &Listing) -> String {
    let count = listing
        .approximate_count
        .map_or("unknown".to_owned(), |n| n.to_string());
    let mut out = format!("{family}  {url}  approximately {count} message(s)\n");
    for m in &listing.messages {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "  {}  svix-id={}  event-type={}  receives={}\n",
            m.message_id,
            or_dash(&m.svix_id),
            or_dash(&m.event_type),
            m.receive_count.map_or("-".into(), |n| n.to_string()),
        ));
    }
    out
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Messages sent to the queue and deleted from the dead-letter queue.
    pub moved: usize,
    /// Messages not moved (or moved but not deleted), with why.
    pub failed: Vec<(String, String)>,
}

/// Moves every message from `dlq` to `queue`: body and message attributes unchanged, deleted from `dlq` only
/// after the send succeeded. A message whose send failed stays in `dlq` (visible again after
/// [`REDRIVE_VISIBILITY_SECS`]).
pub async fn redrive<Q: Queues>(queues: &Q, dlq: &str, queue: &str) -> Redriven {
    let mut done = Redriven::default();
    let mut seen = HashSet::new();
    loop {
        let batch = match queues.receive(dlq, REDRIVE_VISIBILITY_SECS).await {
            Ok(batch) => batch,
            Err(e) => {
                done.failed.push(("(receive)".into(), e));
                return done;
            }
        };
        let mut new = false;
        for m in batch {
            if !seen.insert(m.message_id.clone()) {
                continue;
            }
            new = true;
            if let Err(e) = queues.send(queue, &m.body, &m.attributes).await {
                done.failed.push((m.message_id, e));
                continue;
            }
            match queues.delete(dlq, &m.receipt_handle).await {
                Ok(()) => done.moved += 1,
                Err(e) => done.failed.push((
                    m.message_id,
                    format!("sent, but not deleted from the dead-letter queue: {e}"),
                )),
            }
        }
        if !new {
            return done;
        }
    }
}

/// The queue a family's messages are redriven to.
pub fn redrive_target(family: Family, stack: Option<&StackEnv>) -> Result<String, CliError> {
    queue_url(family, stack).ok_or_else(|| {
        CliError::Usage(format!(
            "no queue URL for {family}: set {} or start the local stack",
            family.env_var()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queues::fake::FakeQueues;

    const DLQ: &str = "http://sqs/timeseries-dlq";
    const QUEUE: &str = "http://sqs/timeseries";

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn dead_letters(n: usize) -> FakeQueues {
        let queues = FakeQueues::default();
        for i in 0..n {
            queues.put(
                DLQ,
                &format!("{{\"secret health data\":{i}}}"),
                &[
                    ("svix-id", &format!("msg_{i}")),
                    ("event-type", "daily.data.heartrate.created"),
                    ("family", "timeseries"),
                ],
            );
        }
        queues
    }

    #[test]
    fn list_peeks_without_deleting_and_never_shows_bodies() {
        let queues = dead_letters(12);
        let listing = block_on(peek(&queues, DLQ, 100)).unwrap();
        assert_eq!(listing.approximate_count, Some(12));
        assert_eq!(listing.messages.len(), 12);
        assert_eq!(listing.messages[0].svix_id.as_deref(), Some("msg_0"));
        let left = queues.messages(DLQ);
        assert_eq!(left.len(), 12);
        assert!(left.iter().all(|m| m.visible), "released after the peek");
        let text = format_listing(Family::Timeseries, DLQ, &listing);
        assert!(text.starts_with(
            "timeseries  http://sqs/timeseries-dlq  approximately 12 message(s)\n  m1  svix-id=msg_0  event-type=daily.data.heartrate.created  receives=1\n"
        ), "{text}");
        assert!(!text.contains("secret health data"));
    }

    #[test]
    fn list_stops_at_the_limit() {
        let queues = dead_letters(25);
        let listing = block_on(peek(&queues, DLQ, 5)).unwrap();
        assert_eq!(listing.messages.len(), 5);
        assert!(queues.messages(DLQ).iter().all(|m| m.visible));
    }

    #[test]
    fn redrive_moves_body_and_attributes_then_deletes() {
        let queues = dead_letters(13);
        let before = queues.messages(DLQ);
        let done = block_on(redrive(&queues, DLQ, QUEUE));
        assert_eq!(
            done,
            Redriven {
                moved: 13,
                failed: vec![]
            }
        );
        assert!(queues.messages(DLQ).is_empty());
        let after = queues.messages(QUEUE);
        assert_eq!(after.len(), 13);
        for (a, b) in before.iter().zip(&after) {
            assert_eq!((&a.body, &a.attributes), (&b.body, &b.attributes));
        }
    }

    #[test]
    fn failed_send_keeps_the_message_in_the_dlq() {
        let mut queues = dead_letters(2);
        queues.failing.insert(QUEUE.to_owned());
        let done = block_on(redrive(&queues, DLQ, QUEUE));
        assert_eq!(done.moved, 0);
        assert_eq!(
            done.failed,
            vec![
                (
                    "m1".to_owned(),
                    "http://sqs/timeseries refused the message".to_owned()
                ),
                (
                    "m2".to_owned(),
                    "http://sqs/timeseries refused the message".to_owned()
                ),
            ]
        );
        assert_eq!(queues.messages(DLQ).len(), 2);
        assert!(queues.messages(QUEUE).is_empty());
    }

    #[test]
    fn families_need_a_dlq_url() {
        if Family::ALL
            .iter()
            .any(|&f| std::env::var_os(dlq_env_var(f)).is_some())
        {
            return; // The environment names real queues; the stack-file cases below would not hold.
        }
        let stack = StackEnv::parse("DLQ_URL_LAB=http://sqs/lab-dlq\n");
        let all = families(None, Some(&stack)).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(
            all.iter().filter(|(_, u)| u.is_some()).collect::<Vec<_>>(),
            [&(Family::Lab, Some("http://sqs/lab-dlq".to_owned()))]
        );
        let err = families(Some(Family::Summaries), Some(&stack)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no dead-letter queue URL: set DLQ_URL_SUMMARIES or start the local stack (make dev writes .dev/stack.env)"
        );
        assert!(families(None, None).is_err());
    }
}
