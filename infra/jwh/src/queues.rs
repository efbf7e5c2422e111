//! The SQS operations `jwh dlq` and `jwh replay` need, behind a small port so their logic is tested against an
//! in-memory queue; [`Sqs`] is the adapter over the AWS SDK.

use std::collections::HashMap;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use jwh_shared::family::Family;

use crate::stack_env::{StackEnv, setting};

/// The environment variable holding the URL of a family's dead-letter queue: `DLQ_URL_` and the same suffix as
/// [`Family::env_var`] (`DLQ_URL_CATCH_ALL`).
pub fn dlq_env_var(family: Family) -> String {
    let queue = family.env_var();
    format!(
        "DLQ_URL_{}",
        queue.strip_prefix("QUEUE_URL_").unwrap_or(queue)
    )
}

/// A family's queue URL from the environment or the stack file.
pub fn queue_url(family: Family, stack: Option<&StackEnv>) -> Option<String> {
    setting(family.env_var(), stack)
}

/// A family's dead-letter queue URL from the environment or the stack file.
pub fn dlq_url(family: Family, stack: Option<&StackEnv>) -> Option<String> {
    setting(&dlq_env_var(family), stack)
}

/// A message received from a queue (body included; callers decide what to show).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// SQS message id.
    pub message_id: String,
    /// Handle to delete it or change its visibility.
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// Its message attributes (svix-id, event-type, family, ...).
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// How many times it has been received (SQS's `ApproximateReceiveCount`).
    pub receive_count: Option<u32>,
}

impl Received {
    /// A string message attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|a| a.string_value())
    }
}

/// The queue operations used here. Errors are one-line messages.
pub trait Queues {
    /// SQS's approximate count of visible messages.
    async fn approximate_count(&self, url: &str) -> Result<Option<u64>, String>;
    /// Receives up to 10 messages without waiting, hiding them for `visibility_secs`.
    async fn receive(&self, url: &str, visibility_secs: i32) -> Result<Vec<Received>, String>;
    /// Sends a message with these attributes.
    async fn send(
        &self,
        url: &str,
        body: &str,
        attributes: &HashMap<String, MessageAttributeValue>,
    ) -> Result<(), String>;
    /// Sends up to 10 messages in one request (SQS bills it as one); one result per message, in order. By
    /// default, one `send` each.
    async fn send_batch(
        &self,
        url: &str,
        messages: &[(String, HashMap<String, MessageAttributeValue>)],
    ) -> Vec<Result<(), String>> {
        let mut out = Vec::with_capacity(messages.len());
        for (body, attributes) in messages {
            out.push(self.send(url, body, attributes).await);
        }
        out
    }
    /// Deletes a received message.
    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), String>;
    /// Makes a received message visible again at once.
    async fn release(&self, url: &str, receipt_handle: &str) -> Result<(), String>;
}

/// [`Queues`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct Sqs(pub aws_sdk_sqs::Client);

fn message<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> String {
    DisplayErrorContext(e).to_string()
}

impl Queues for Sqs {
    async fn approximate_count(&self, url: &str) -> Result<Option<u64>, String> {
        let out = self
            .0
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(message)?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok()))
    }

    async fn receive(&self, url: &str, visibility_secs: i32) -> Result<Vec<Received>, String> {
        let out = self
            .0
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(visibility_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(message)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok()),
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                attributes: m.message_attributes.unwrap_or_default(),
            })
            .collect())
    }

    async fn send(
        &self,
        url: &str,
        body: &str,
        attributes: &HashMap<String, MessageAttributeValue>,
    ) -> Result<(), String> {
        self.0
            .send_message()
            .queue_url(url)
            .message_body(body)
            .set_message_attributes(Some(attributes.clone()))
            .send()
            .await
            .map_err(message)?;
        Ok(())
    }

    async fn send_batch(
        &self,
        url: &str,
        messages: &[(String, HashMap<String, MessageAttributeValue>)],
    ) -> Vec<Result<(), String>> {
        let entries: Result<Vec<_>, _> = messages
            .iter()
            .enumerate()
            .map(|(i, (body, attributes))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .set_message_attributes(Some(attributes.clone()))
                    .build()
            })
            .collect();
        let entries = match entries {
            Ok(e) => e,
            Err(e) => return messages.iter().map(|_| Err(e.to_string())).collect(),
        };
        match self
            .0
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let mut results: Vec<Result<(), String>> = vec![Ok(()); messages.len()];
                for failed in out.failed() {
                    if let Ok(i) = failed.id().parse::<usize>()
                        && i < results.len()
                    {
                        results[i] = Err(format!(
                            "{}: {}",
                            failed.code(),
                            failed.message().unwrap_or_default()
                        ));
                    }
                }
                results
            }
            Err(e) => {
                let e = message(e);
                messages.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }

    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), String> {
        self.0
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(message)?;
        Ok(())
    }

    async fn release(&self, url: &str, receipt_handle: &str) -> Result<(), String> {
        self.0
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(message)?;
        Ok(())
    }
}

/// An in-memory [`Queues`] for tests: visibility is a flag (no clock), and sends to a URL in `failing` fail.
#[cfg(test)]
pub mod fake {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Mutex;

    use super::*;

    /// One stored message.
    #[derive(Debug, Clone)]
    pub struct Stored {
        pub id: String,
        pub body: String,
        pub attributes: HashMap<String, MessageAttributeValue>,
        pub visible: bool,
        pub receives: u32,
    }

    /// Queues by URL.
    #[derive(Debug, Default)]
    pub struct FakeQueues {
        pub queues: Mutex<BTreeMap<String, Vec<Stored>>>,
        pub failing: HashSet<String>,
        next_id: Mutex<u32>,
    }

    impl FakeQueues {
        /// A string attribute.
        pub fn attr(value: &str) -> MessageAttributeValue {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .unwrap()
        }

        /// Puts a message on a queue directly.
        pub fn put(&self, url: &str, body: &str, attributes: &[(&str, &str)]) {
            let attributes = attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Self::attr(v)))
                .collect();
            self.push(url, body, attributes);
        }

        fn push(&self, url: &str, body: &str, attributes: HashMap<String, MessageAttributeValue>) {
            let mut next = self.next_id.lock().unwrap();
            *next += 1;
            self.queues
                .lock()
                .unwrap()
                .entry(url.to_owned())
                .or_default()
                .push(Stored {
                    id: format!("m{next}"),
                    body: body.to_owned(),
                    attributes,
                    visible: true,
                    receives: 0,
                });
        }

        /// The messages on a queue, visible or not.
        pub fn messages(&self, url: &str) -> Vec<Stored> {
            self.queues
                .lock()
                .unwrap()
                .get(url)
                .cloned()
                .unwrap_or_default()
        }
    }

    impl Queues for FakeQueues {
        async fn approximate_count(&self, url: &str) -> Result<Option<u64>, String> {
            let visible = self.messages(url).iter().filter(|m| m.visible).count();
            Ok(Some(visible as u64))
        }

        async fn receive(&self, url: &str, _visibility: i32) -> Result<Vec<Received>, String> {
            let mut queues = self.queues.lock().unwrap();
            let queue = queues.entry(url.to_owned()).or_default();
            Ok(queue
                .iter_mut()
                .filter(|m| m.visible)
                .take(10)
                .map(|m| {
                    m.visible = false;
                    m.receives += 1;
                    Received {
                        message_id: m.id.clone(),
                        receipt_handle: format!("rh-{}", m.id),
                        body: m.body.clone(),
                        attributes: m.attributes.clone(),
                        receive_count: Some(m.receives),
                    }
                })
                .collect())
        }

        async fn send(
            &self,
            url: &str,
            body: &str,
            attributes: &HashMap<String, MessageAttributeValue>,
        ) -> Result<(), String> {
            if self.failing.contains(url) {
                return Err(format!("{url} refused the message"));
            }
            self.push(url, body, attributes.clone());
            Ok(())
        }

        async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), String> {
            let mut queues = self.queues.lock().unwrap();
            let queue = queues.entry(url.to_owned()).or_default();
            queue.retain(|m| format!("rh-{}", m.id) != receipt_handle);
            Ok(())
        }

        async fn release(&self, url: &str, receipt_handle: &str) -> Result<(), String> {
            let mut queues = self.queues.lock().unwrap();
            for m in queues.entry(url.to_owned()).or_default() {
                if format!("rh-{}", m.id) == receipt_handle {
                    m.visible = true;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_variables_share_the_queue_suffix() {
        let names: Vec<String> = Family::ALL.into_iter().map(dlq_env_var).collect();
        assert_eq!(
            names,
            [
                "DLQ_URL_CONNECTIONS",
                "DLQ_URL_BACKFILLS",
                "DLQ_URL_SUMMARIES",
                "DLQ_URL_TIMESERIES",
                "DLQ_URL_LAB",
                "DLQ_URL_CATCH_ALL",
            ]
        );
        let stack = StackEnv::parse("DLQ_URL_LAB=http://q/lab-dlq\nQUEUE_URL_LAB=http://q/lab\n");
        // The environment of the test process has no DLQ_URL_LAB: the file answers.
        if std::env::var_os("DLQ_URL_LAB").is_none() {
            assert_eq!(
                dlq_url(Family::Lab, Some(&stack)).as_deref(),
                Some("http://q/lab-dlq")
            );
        }
        if std::env::var_os("QUEUE_URL_LAB").is_none() {
            assert_eq!(
                queue_url(Family::Lab, Some(&stack)).as_deref(),
                Some("http://q/lab")
            );
        }
    }
}
