//! The ingest function against moto: what lands in which queue, the claim check, SQS down, Secrets Manager.

use std::collections::HashMap;

use aws_config::SdkConfig;
use jwh_ingest::handler::{Ingest, SigningSecrets};
use jwh_shared::envelope::{IncomingMessage, attr};
use jwh_shared::events::Resource;
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::signature::Verifier;
use jwh_shared::store::Store;
use lambda_http::Request;

use crate::support::{self, fixture};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_bmV3IHNpZ25pbmcgc2VjcmV0IGZvciByb3RhdGlvbg==";

struct Env {
    config: SdkConfig,
    queues: [String; 6],
    bucket: String,
}

async fn env() -> Env {
    let config = support::sdk_config().await;
    let mut queues: [String; 6] = Default::default();
    for (slot, f) in queues.iter_mut().zip(Family::ALL) {
        *slot = support::create_queue(&config, f.as_str()).await;
    }
    let bucket = support::create_bucket(&config).await;
    Env {
        config,
        queues,
        bucket,
    }
}

impl Env {
    fn ingest(&self, sqs_config: &SdkConfig, secrets: SigningSecrets) -> Ingest {
        Ingest {
            sqs: aws_sdk_sqs::Client::new(sqs_config),
            s3: support::s3(&self.config),
            queue_urls: self.queues.clone(),
            payload_bucket: self.bucket.clone(),
            secrets,
            max_body_bytes: 6_000_000,
        }
    }

    fn queue(&self, family: Family) -> &str {
        &self.queues[Family::ALL.iter().position(|f| *f == family).unwrap()]
    }

    /// Every message now in a queue, with its attributes, as the Lambda event source would deliver it.
    async fn drain(&self, family: Family) -> Vec<aws_sdk_sqs::types::Message> {
        jwh_testkit::moto::receive_all(&self.config, self.queue(family), 300).await
    }
}

fn signed(secret: &str, id: &str, body: Vec<u8>) -> Request {
    jwh_testkit::svix::request(&[secret], id, body)
}

fn fixed(secrets: &[&str]) -> SigningSecrets {
    SigningSecrets::fixed(Verifier::from_strs(secrets).unwrap())
}

/// An SDK message rendered as the Lambda SQS event record it would be.
fn as_lambda_record(m: &aws_sdk_sqs::types::Message) -> aws_lambda_events::event::sqs::SqsMessage {
    jwh_shared::envelope::lambda_record(
        m.message_id().unwrap(),
        m.body().unwrap(),
        m.message_attributes().unwrap_or(&HashMap::new()),
    )
}

#[tokio::test]
async fn each_family_receives_the_exact_body_and_attributes() {
    let env = env().await;
    let ingest = env.ingest(&env.config, fixed(&[SECRET]));
    let cases = [
        ("provider.connection.created", Family::Connections),
        ("historical.data.sleep.created", Family::Backfills),
        ("daily.data.sleep.updated", Family::Summaries),
        ("daily.data.heartrate.created", Family::Timeseries),
        ("labtest.order.updated", Family::Lab),
        ("continuous_query.result_table.changed", Family::CatchAll),
    ];
    for (i, (event_type, family)) in cases.into_iter().enumerate() {
        let body = fixture(event_type);
        let id = format!("msg_family_{i}");
        let before = chrono::Utc::now().timestamp_millis();
        let response = ingest.handle(signed(SECRET, &id, body.clone())).await;
        assert_eq!(response.status(), 200, "{event_type}");
        let messages = env.drain(family).await;
        assert_eq!(messages.len(), 1, "{event_type}");
        let m = &messages[0];
        assert_eq!(
            m.body().unwrap().as_bytes(),
            body.as_slice(),
            "{event_type}: body byte for byte"
        );
        let a = m.message_attributes().unwrap();
        let get = |k: &str| {
            a.get(k)
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(get(attr::SVIX_ID), id);
        assert_eq!(get(attr::EVENT_TYPE), event_type);
        assert_eq!(get(attr::FAMILY), family.as_str());
        assert!(get(attr::SVIX_TIMESTAMP).parse::<i64>().unwrap() > 1_700_000_000);
        assert!(get(attr::RECEIVED_AT).parse::<i64>().unwrap() >= before);
        assert!(a.get(attr::CLAIM_CHECK).is_none());
        for other in Family::ALL.into_iter().filter(|f| *f != family) {
            assert!(
                env.drain(other).await.is_empty(),
                "{event_type} leaked into {other}"
            );
        }
    }
}

#[tokio::test]
async fn a_two_mib_timeseries_body_travels_through_the_claim_check_and_is_stored() {
    let env = env().await;
    let ingest = env.ingest(&env.config, fixed(&[SECRET]));
    let start = chrono::DateTime::parse_from_rfc3339("2024-11-20T00:00:00+00:00").unwrap();
    let mut samples = Vec::new();
    let mut i = 0;
    let body = loop {
        let t = start + chrono::Duration::seconds(i * 5);
        samples.push(
            serde_json::json!({"id": null, "timezone_offset": 0, "type": null, "unit": "bpm",
            "timestamp": t.to_rfc3339(), "value": 50 + i % 70}),
        );
        i += 1;
        if i % 1000 == 0 {
            let body = serde_json::to_vec(&serde_json::json!({
                "event_type": "daily.data.heartrate.created",
                "data": {"source": {"provider": "polar", "type": "watch"}, "data": samples, "user_id": "u-big"},
                "user_id": "u-big", "client_user_id": "c", "team_id": "t"
            }))
            .unwrap();
            if body.len() >= 2 * 1024 * 1024 {
                break body;
            }
        }
    };
    let response = ingest.handle(signed(SECRET, "msg_big", body.clone())).await;
    assert_eq!(response.status(), 200);
    let messages = env.drain(Family::Timeseries).await;
    assert_eq!(messages.len(), 1);
    let a = messages[0].message_attributes().unwrap();
    let pointer = a[attr::CLAIM_CHECK].string_value().unwrap();
    assert_eq!(
        pointer,
        format!("s3://{}/payloads/timeseries/msg_big", env.bucket)
    );
    let record = as_lambda_record(&messages[0]);
    let incoming = IncomingMessage::from_record(record.clone(), &support::s3(&env.config))
        .await
        .unwrap();
    assert_eq!(
        incoming.body, body,
        "the processor reads back the exact body"
    );
    // And the processor stores every sample from it.
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&env.config),
        support::create_table(&env.config).await,
        7,
    );
    let processor = Processor {
        family: Family::Timeseries,
        store: store.clone(),
        s3: support::s3(&env.config),
        fetch: None,
        concurrency: 1,
        archive: None,
    };
    let response = processor
        .handle_batch(support::sqs_event(vec![record]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let stored = store
        .samples("u-big", Resource::Heartrate, None, None)
        .await
        .unwrap();
    assert_eq!(stored.len(), samples.len());
}

#[tokio::test]
async fn sqs_unreachable_is_a_5xx_and_nothing_is_enqueued() {
    let env = env().await;
    let dead = support::sdk_config_for("http://127.0.0.1:9").await;
    let ingest = env.ingest(&dead, fixed(&[SECRET]));
    let response = ingest
        .handle(signed(
            SECRET,
            "msg_down",
            fixture("daily.data.sleep.created"),
        ))
        .await;
    assert_eq!(response.status(), 503);
    for f in Family::ALL {
        assert!(env.drain(f).await.is_empty());
    }
}

#[tokio::test]
async fn secrets_come_from_secrets_manager_and_a_rotation_is_picked_up() {
    let env = env().await;
    let sm = aws_sdk_secretsmanager::Client::new(&env.config);
    let name = support::unique("webhook-secret");
    sm.create_secret()
        .name(&name)
        .secret_string(format!(r#"["{SECRET}"]"#))
        .send()
        .await
        .unwrap();
    let secrets = SigningSecrets::from_secrets_manager(sm.clone(), name.clone(), 300);
    assert!(secrets.refresh().await.unwrap());
    let ingest = env.ingest(&env.config, secrets);
    let body = fixture("provider.device.created");
    assert_eq!(
        ingest
            .handle(signed(SECRET, "msg_s1", body.clone()))
            .await
            .status(),
        200
    );
    // Not yet active: refused (and the failed verification spends the one refresh a minute allows).
    assert_eq!(
        ingest
            .handle(signed(NEW_SECRET, "msg_s2", body.clone()))
            .await
            .status(),
        401
    );
    // Rotation: both secrets active. The refresh interval has not passed, so the new secret is still refused...
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(format!(r#"["{NEW_SECRET}", "{SECRET}"]"#))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ingest
            .handle(signed(NEW_SECRET, "msg_s3", body.clone()))
            .await
            .status(),
        401
    );
    // ...until a refresh happens (forced here; in a container, at most a minute later).
    let fresh = SigningSecrets::from_secrets_manager(sm, name, 300);
    let ingest = Ingest {
        secrets: fresh,
        ..ingest
    };
    for (secret, id) in [(NEW_SECRET, "msg_s4"), (SECRET, "msg_s5")] {
        assert_eq!(
            ingest
                .handle(signed(secret, id, body.clone()))
                .await
                .status(),
            200,
            "{id}"
        );
    }
    assert_eq!(env.drain(Family::Connections).await.len(), 3);
}

#[tokio::test]
async fn a_retired_secret_is_refused_by_a_warm_instance_once_the_list_is_stale() {
    let env = env().await;
    let sm = aws_sdk_secretsmanager::Client::new(&env.config);
    let name = support::unique("webhook-secret");
    sm.create_secret()
        .name(&name)
        .secret_string(format!(r#"["{NEW_SECRET}", "{SECRET}"]"#))
        .send()
        .await
        .unwrap();
    // Long enough that the first three calls below (a delivery, a secret update, a delivery) finish within it on a
    // loaded machine: the second delivery must still see the list as fresh. It failed once at 300 ms, with the
    // integration and end-to-end tests running at once.
    let age = std::time::Duration::from_secs(4);
    let secrets = SigningSecrets::from_secrets_manager(sm.clone(), name.clone(), 300)
        .with_refresh_interval(age)
        .with_max_age(age);
    assert!(secrets.refresh().await.unwrap());
    let ingest = env.ingest(&env.config, secrets);
    let body = fixture("provider.device.created");
    let status = |secret: &'static str, id: &'static str| {
        let req = signed(secret, id, body.clone());
        let ingest = &ingest;
        async move { ingest.handle(req).await.status() }
    };
    assert_eq!(status(SECRET, "msg_r1").await, 200);
    // The rotation ends: the old secret is retired from the list. Until the list is stale, the warm instance still
    // holds it (no failed verification prompts a re-read)...
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(format!(r#"["{NEW_SECRET}"]"#))
        .send()
        .await
        .unwrap();
    assert_eq!(status(SECRET, "msg_r2").await, 200);
    // ...and once it is, the next request re-reads the list first: the retired secret is refused, the new one is not.
    tokio::time::sleep(age + std::time::Duration::from_millis(50)).await;
    assert_eq!(status(SECRET, "msg_r3").await, 401);
    assert_eq!(status(NEW_SECRET, "msg_r4").await, 200);
    let mut ids: Vec<String> = env
        .drain(Family::Connections)
        .await
        .iter()
        .map(|m| {
            m.message_attributes().unwrap()[attr::SVIX_ID]
                .string_value()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["msg_r1", "msg_r2", "msg_r4"]);
}
