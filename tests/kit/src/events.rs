//! Lambda events as AWS delivers them, from fixture files (`tests/kit/events/`), parsed by `lambda_http` and
//! `aws_lambda_events`' own deserializers.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use jwh_shared::envelope::MessageMeta;
use jwh_shared::events::peek_event_type;
use lambda_http::request::LambdaRequest;
use serde_json::{Value, json};

/// How an HTTP request reaches the ingest function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFormat {
    /// API Gateway HTTP API, payload format 2.0 (the template's default ingress).
    HttpApi,
    /// API Gateway REST API, payload format 1.0.
    RestApi,
    /// A Lambda function URL (payload format 2.0, `$default` route).
    FunctionUrl,
}

impl HttpFormat {
    /// Every format the ingest function accepts.
    pub const ALL: [HttpFormat; 3] = [
        HttpFormat::HttpApi,
        HttpFormat::RestApi,
        HttpFormat::FunctionUrl,
    ];

    fn template(self) -> &'static str {
        match self {
            HttpFormat::HttpApi => include_str!("../events/apigw-http-v2.json"),
            HttpFormat::RestApi => include_str!("../events/apigw-rest-v1.json"),
            HttpFormat::FunctionUrl => include_str!("../events/function-url.json"),
        }
    }
}

/// The raw invocation payload of an HTTP request in `format`: the fixture file with this method, these headers
/// and this body (`base64`: the body is base64 and says so, as API Gateway sends binary bodies).
pub fn http_event_json(
    format: HttpFormat,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
    base64: bool,
) -> Value {
    let mut event: Value = serde_json::from_str(format.template()).expect("an event fixture");
    let single: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect();
    event["headers"] = Value::Object(single);
    event["body"] = body.into();
    event["isBase64Encoded"] = base64.into();
    match format {
        HttpFormat::RestApi => {
            event["httpMethod"] = method.into();
            event["requestContext"]["httpMethod"] = method.into();
            event["multiValueHeaders"] = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!([v])))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        HttpFormat::HttpApi | HttpFormat::FunctionUrl => {
            event["requestContext"]["http"]["method"] = method.into();
            if format == HttpFormat::HttpApi {
                let route = format!("{method} /webhooks/junction");
                event["routeKey"] = route.clone().into();
                event["requestContext"]["routeKey"] = route.into();
            }
        }
    }
    event
}

/// [`http_event_json`] as `lambda_http` deserializes it.
pub fn http_event(
    format: HttpFormat,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
    base64: bool,
) -> LambdaRequest {
    serde_json::from_value(http_event_json(format, method, headers, body, base64))
        .expect("lambda_http reads the event")
}

/// Metadata as the ingest function would set it for `body`, received now ([`next_receive_ms`]).
pub fn meta_for(svix_id: &str, body: &[u8]) -> MessageMeta {
    let t = peek_event_type(body).expect("the body has an event type");
    let received_at_ms = next_receive_ms();
    MessageMeta {
        svix_id: svix_id.to_owned(),
        event_type: t.as_str().into_owned(),
        family: t.family(),
        svix_timestamp: received_at_ms / 1000,
        received_at_ms,
    }
}

/// A receive time one second after the previous one this process handed out, from 2024-11-19T07:06:40Z: the
/// messages a test builds one after another are received in that order, so a message id that is not a KSUID (which
/// is versioned by its receive time) is newer than the ones built before it.
pub fn next_receive_ms() -> i64 {
    static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    1_732_000_000_000 + 1000 * CLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A Lambda SQS event of these records.
pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}
