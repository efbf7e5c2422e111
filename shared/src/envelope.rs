//! The envelope: how a verified webhook travels through SQS from the ingest function to a processor.
//!
//! The message body is the raw Junction body, byte for byte. Metadata travels as SQS message attributes
//! (see [`attr`]). A body that cannot travel inline (over the queue's 1 MiB limit, or holding bytes SQS refuses:
//! invalid UTF-8, control characters) is written to the payload bucket and the message carries a pointer
//! instead: the claim-check pattern. Processors read both forms through [`IncomingMessage::from_record`].

use std::collections::HashMap;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::family::Family;

/// Names of the SQS message attributes set by the ingest function.
pub mod attr {
    /// The Svix message id (`svix-id`); stays the same when Svix re-sends the message.
    pub const SVIX_ID: &str = "svix-id";
    /// The Junction event type as sent (`daily.data.heartrate.created`).
    pub const EVENT_TYPE: &str = "event-type";
    /// The processor family the message was routed to.
    pub const FAMILY: &str = "family";
    /// The Svix delivery attempt's timestamp (Unix seconds, verified).
    pub const SVIX_TIMESTAMP: &str = "svix-timestamp";
    /// When the ingest function received the request (Unix milliseconds).
    pub const RECEIVED_AT: &str = "received-at";
    /// `s3://bucket/key` of a claim-checked body; absent when the body travels inline.
    pub const CLAIM_CHECK: &str = "claim-check";
    /// Set by `jwh replay` on a message it re-sends (the replay's id): the processor stores it even if it
    /// processed that Svix id before, and does not archive it again.
    pub const REPLAY: &str = "jwh-replay";
}

/// SQS's maximum message size, body and attributes together.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>
pub const SQS_MAX_MESSAGE_BYTES: usize = 1_048_576;

/// Key prefix of claim-checked bodies in the payload bucket (the IAM policies are scoped to it).
pub const CLAIM_CHECK_PREFIX: &str = "payloads/";

/// What the ingest function knows about a verified webhook, carried with it to the processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Svix message id.
    pub svix_id: String,
    /// Junction event type as sent (may be empty when the body did not parse).
    pub event_type: String,
    /// Family the message was routed to.
    pub family: Family,
    /// Verified Svix timestamp, Unix seconds.
    pub svix_timestamp: i64,
    /// Receive time at the ingest function, Unix milliseconds.
    pub received_at_ms: i64,
}

impl MessageMeta {
    /// The message attributes for `SendMessage`, with the claim-check pointer when there is one.
    pub fn to_sqs_attributes(
        &self,
        claim_check: Option<&ClaimCheck>,
    ) -> HashMap<String, MessageAttributeValue> {
        let mut attrs = HashMap::with_capacity(6);
        let mut put = |name: &str, data_type: &str, value: String| {
            // Building an attribute only fails without a data type, which is always set here.
            if let Ok(v) = MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
            {
                attrs.insert(name.to_owned(), v);
            }
        };
        put(attr::SVIX_ID, "String", self.svix_id.clone());
        if !self.event_type.is_empty() {
            put(attr::EVENT_TYPE, "String", self.event_type.clone());
        }
        put(attr::FAMILY, "String", self.family.as_str().to_owned());
        put(
            attr::SVIX_TIMESTAMP,
            "Number",
            self.svix_timestamp.to_string(),
        );
        put(attr::RECEIVED_AT, "Number", self.received_at_ms.to_string());
        if let Some(c) = claim_check {
            put(attr::CLAIM_CHECK, "String", c.uri());
        }
        attrs
    }

    /// The record Lambda's SQS event source mapping hands a processor for the message `message_id` that the
    /// ingest function sent with `body` and these attributes (see [`lambda_record`]).
    pub fn to_lambda_record(
        &self,
        message_id: &str,
        body: &str,
        claim_check: Option<&ClaimCheck>,
    ) -> SqsMessage {
        lambda_record(message_id, body, &self.to_sqs_attributes(claim_check))
    }

    /// Bytes SQS counts for these attributes (name, data type and value of each; numbers at their widest).
    pub fn attributes_size(&self) -> usize {
        let fixed = [
            (attr::SVIX_ID, "String", self.svix_id.len()),
            (attr::EVENT_TYPE, "String", self.event_type.len()),
            (attr::FAMILY, "String", self.family.as_str().len()),
            (attr::SVIX_TIMESTAMP, "Number", 20),
            (attr::RECEIVED_AT, "Number", 20),
        ];
        fixed
            .iter()
            .map(|(n, t, v)| n.len() + t.len() + v)
            .sum::<usize>()
    }

    /// Reads the metadata back from a Lambda SQS record. `event_type` and `family` fall back to what the body
    /// says when the attributes are absent (a message sent by hand or by a replay tool).
    pub fn from_record(
        record: &SqsMessage,
        body_fallback: impl FnOnce() -> (String, Family),
    ) -> Result<Self, EnvelopeError> {
        let get = |name: &str| {
            record
                .message_attributes
                .get(name)
                .and_then(|a| a.string_value.as_deref())
        };
        let svix_id = get(attr::SVIX_ID)
            .filter(|s| !s.is_empty())
            .ok_or(EnvelopeError::MissingAttribute(attr::SVIX_ID))?
            .to_owned();
        let number = |name: &'static str| -> Result<i64, EnvelopeError> {
            match get(name) {
                Some(v) => v.parse().map_err(|_| EnvelopeError::BadAttribute(name)),
                None => Ok(0),
            }
        };
        let svix_timestamp = number(attr::SVIX_TIMESTAMP)?;
        let received_at_ms = number(attr::RECEIVED_AT)?;
        let (event_type, family) = match (get(attr::EVENT_TYPE), get(attr::FAMILY)) {
            (Some(t), Some(f)) => (
                t.to_owned(),
                f.parse()
                    .map_err(|_| EnvelopeError::BadAttribute(attr::FAMILY))?,
            ),
            _ => body_fallback(),
        };
        Ok(Self {
            svix_id,
            event_type,
            family,
            svix_timestamp,
            received_at_ms,
        })
    }
}

/// The creation time of a Svix message id (`msg_` and a 27-character base62 KSUID with millisecond precision, as
/// Svix mints them), in Unix milliseconds; `None` for an id of another shape.
pub fn message_created_ms(svix_id: &str) -> Option<i64> {
    use svix_ksuid::KsuidLike;
    let ksuid = svix_id.strip_prefix("msg_")?;
    if ksuid.len() != 27 || !ksuid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    svix_ksuid::KsuidMs::from_base62(ksuid)
        .ok()
        .map(|k| k.timestamp_millis())
}

/// An SQS message as Lambda's event source mapping delivers it to a processor: its id, body and message attributes
/// (receive count 1). Tests, benches and replays build processor input with it.
pub fn lambda_record(
    message_id: &str,
    body: &str,
    attributes: &HashMap<String, MessageAttributeValue>,
) -> SqsMessage {
    let attributes: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| {
            let value =
                serde_json::json!({"stringValue": v.string_value(), "dataType": v.data_type()});
            (k.clone(), value)
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes,
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1"
    }))
    .expect("an SQS record")
}

/// A Svix id as part of an S3 key: letters, digits, `_` and `-` kept, anything else `_`.
pub fn key_safe(svix_id: &str) -> String {
    svix_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a claim-checked body is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheck {
    /// Payload bucket name.
    pub bucket: String,
    /// Object key, under [`CLAIM_CHECK_PREFIX`].
    pub key: String,
}

impl ClaimCheck {
    /// The deterministic location of a message's body: a re-sent message overwrites the same object.
    pub fn for_message(bucket: &str, meta: &MessageMeta) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: format!(
                "{CLAIM_CHECK_PREFIX}{}/{}",
                meta.family.as_str(),
                key_safe(&meta.svix_id)
            ),
        }
    }

    /// `s3://bucket/key`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Parses `s3://bucket/key`.
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/')?;
        (!bucket.is_empty() && !key.is_empty()).then(|| Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The small message body sent in place of a claim-checked payload, for humans reading the queue.
    pub fn placeholder_body(&self, size: usize) -> String {
        serde_json::json!({ "claim_check": self.uri(), "size": size }).to_string()
    }
}

/// The body as a `&str` when it can travel inline in an SQS message next to `meta`'s attributes: it fits the
/// size limit and holds only characters SQS accepts.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>
pub fn inline_body<'a>(body: &'a [u8], meta: &MessageMeta) -> Option<&'a str> {
    if body.len() + meta.attributes_size() > SQS_MAX_MESSAGE_BYTES {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    sqs_safe(body).then_some(text)
}

/// SQS accepts #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF. For valid UTF-8 that
/// leaves two things to reject: C0 controls other than tab, LF, CR; and U+FFFE / U+FFFF (EF BF BE / EF BF BF).
fn sqs_safe(utf8: &[u8]) -> bool {
    let mut i = 0;
    while i < utf8.len() {
        let b = utf8[i];
        if b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r' {
            return false;
        }
        if b == 0xEF
            && utf8.get(i + 1) == Some(&0xBF)
            && matches!(utf8.get(i + 2), Some(0xBE) | Some(0xBF))
        {
            return false;
        }
        i += 1;
    }
    true
}

/// A message as a processor sees it: metadata and the original body, wherever it travelled.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    /// SQS message id: what `batchItemFailures` names.
    pub message_id: String,
    /// Metadata from the ingest function.
    pub meta: MessageMeta,
    /// The raw Junction body.
    pub body: Vec<u8>,
    /// Re-sent by a replay ([`attr::REPLAY`]).
    pub replayed: bool,
}

impl IncomingMessage {
    /// Reads a Lambda SQS record, fetching a claim-checked body from S3.
    pub async fn from_record(
        record: SqsMessage,
        s3: &aws_sdk_s3::Client,
    ) -> Result<Self, EnvelopeError> {
        let message_id = record.message_id.clone().unwrap_or_default();
        let claim = record
            .message_attributes
            .get(attr::CLAIM_CHECK)
            .and_then(|a| a.string_value.as_deref())
            .map(|uri| ClaimCheck::parse(uri).ok_or(EnvelopeError::BadAttribute(attr::CLAIM_CHECK)))
            .transpose()?;
        let body = match &claim {
            Some(c) => fetch_claim_check(s3, c).await?,
            None => record.body.clone().unwrap_or_default().into_bytes(),
        };
        let meta = MessageMeta::from_record(&record, || {
            let t = crate::events::peek_event_type(&body)
                .unwrap_or_else(|_| crate::events::EventType::Unknown(String::new()));
            (t.as_str().into_owned(), t.family())
        })?;
        let replayed = record.message_attributes.contains_key(attr::REPLAY);
        Ok(Self {
            message_id,
            meta,
            body,
            replayed,
        })
    }
}

/// Writes a body to the payload bucket.
pub async fn store_claim_check(
    s3: &aws_sdk_s3::Client,
    claim: &ClaimCheck,
    body: Vec<u8>,
) -> Result<(), EnvelopeError> {
    s3.put_object()
        .bucket(&claim.bucket)
        .key(&claim.key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| EnvelopeError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}

/// Reads a claim-checked body back.
pub async fn fetch_claim_check(
    s3: &aws_sdk_s3::Client,
    claim: &ClaimCheck,
) -> Result<Vec<u8>, EnvelopeError> {
    let out = s3
        .get_object()
        .bucket(&claim.bucket)
        .key(&claim.key)
        .send()
        .await
        .map_err(|e| EnvelopeError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| EnvelopeError::S3(e.to_string()))?;
    Ok(bytes.into_bytes().to_vec())
}

/// A message could not be read from its envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// A required message attribute is absent.
    #[error("message attribute {0} is missing")]
    MissingAttribute(&'static str),
    /// A message attribute holds a value that cannot be read.
    #[error("message attribute {0} is malformed")]
    BadAttribute(&'static str),
    /// The payload bucket could not be read or written.
    #[error("payload bucket: {0}")]
    S3(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> MessageMeta {
        MessageMeta {
            svix_id: "msg_2abc/..".into(),
            event_type: "daily.data.heartrate.created".into(),
            family: Family::Timeseries,
            svix_timestamp: 1_700_000_000,
            received_at_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn claim_check_key_is_deterministic_and_safe() {
        let c = ClaimCheck::for_message("bucket", &meta());
        assert_eq!(c.key, "payloads/timeseries/msg_2abc___");
        assert_eq!(c.uri(), "s3://bucket/payloads/timeseries/msg_2abc___");
        assert_eq!(ClaimCheck::parse(&c.uri()), Some(c));
        assert_eq!(ClaimCheck::parse("s3://bucket"), None);
        assert_eq!(ClaimCheck::parse("https://x/y"), None);
    }

    #[test]
    fn inline_body_rejects_what_sqs_refuses() {
        let m = meta();
        assert_eq!(inline_body(b"{\"a\":1}\n", &m), Some("{\"a\":1}\n"));
        assert_eq!(
            inline_body("{\"a\":\"é😀\"}".as_bytes(), &m),
            Some("{\"a\":\"é😀\"}")
        );
        assert_eq!(inline_body(b"\xff\xfe", &m), None, "invalid UTF-8");
        assert_eq!(inline_body(b"a\x00b", &m), None, "NUL");
        assert_eq!(inline_body(b"a\x1bb", &m), None, "ESC");
        assert_eq!(inline_body("a\u{FFFF}".as_bytes(), &m), None, "U+FFFF");
        assert_eq!(inline_body("a\u{FFFE}".as_bytes(), &m), None, "U+FFFE");
        assert!(
            inline_body("a\u{FFFD}".as_bytes(), &m).is_some(),
            "U+FFFD is allowed"
        );
    }

    #[test]
    fn inline_body_respects_the_size_limit_with_attributes() {
        let m = meta();
        let limit = SQS_MAX_MESSAGE_BYTES - m.attributes_size();
        assert!(inline_body(&vec![b'a'; limit], &m).is_some());
        assert!(inline_body(&vec![b'a'; limit + 1], &m).is_none());
    }

    #[test]
    fn attributes_round_trip_through_a_lambda_record() {
        let m = meta();
        let claim = ClaimCheck::for_message("b", &m);
        let attrs = m.to_sqs_attributes(Some(&claim));
        // Render them the way the Lambda SQS event does.
        let rendered: serde_json::Map<String, serde_json::Value> = attrs
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::json!({"stringValue": v.string_value(), "dataType": v.data_type()}),
                )
            })
            .collect();
        let record: SqsMessage = serde_json::from_value(serde_json::json!({
            "messageId": "m1", "body": "x", "messageAttributes": rendered
        }))
        .unwrap();
        let back = MessageMeta::from_record(&record, || unreachable!()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            record.message_attributes[attr::CLAIM_CHECK]
                .string_value
                .as_deref(),
            Some("s3://b/payloads/timeseries/msg_2abc___")
        );
    }

    #[test]
    fn missing_svix_id_is_an_error_and_missing_type_falls_back_to_the_body() {
        let record: SqsMessage = serde_json::from_value(serde_json::json!({
            "messageId": "m1", "body": "x", "messageAttributes": {}
        }))
        .unwrap();
        assert!(matches!(
            MessageMeta::from_record(&record, || unreachable!()),
            Err(EnvelopeError::MissingAttribute(attr::SVIX_ID))
        ));
        let record: SqsMessage = serde_json::from_value(serde_json::json!({
            "messageId": "m1", "body": "x",
            "messageAttributes": {"svix-id": {"stringValue": "msg_1", "dataType": "String"}}
        }))
        .unwrap();
        let m = MessageMeta::from_record(&record, || ("labtest.order.created".into(), Family::Lab))
            .unwrap();
        assert_eq!(m.family, Family::Lab);
        assert_eq!(m.event_type, "labtest.order.created");
        assert_eq!(m.svix_timestamp, 0);
    }
}
