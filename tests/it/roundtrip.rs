//! The read side round trip: every fixture's data, stored from webhooks, read back through the read API in
//! Junction's Data API shapes ([`jwh_shared::data_api`]) by the fetcher's own Data API client, and stored again:
//! the second copy equals the first. Code written against Junction's API reads the user's copy unchanged.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jwh_shared::data_api::endpoints::{Endpoint, endpoint};
use jwh_shared::data_api::{Settings, sample_body, summary_body};
use jwh_shared::events::{Resource, ResourceKind, parse_event};
use jwh_shared::fetch::WorkItem;
use jwh_shared::store::Store;
use serde_json::{Value, json};

use crate::backfill::env_for;
use crate::support::{self, all_fixtures, meta_for};

const USER: &str = "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2";

/// Serves the read API's function (`jwh_api::Api`, the adapter that ships, with the prefix `/data`) on a loopback
/// port, each HTTP request turned into the gateway's 2.0 event; returns the API's base URL (`…/data`).
pub async fn serve(api: jwh_api::Api) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/data", listener.local_addr().unwrap());
    let api = Arc::new(api);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let api = api.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let api = api.clone();
                    async move {
                        let event = json!({
                            "version": "2.0",
                            "rawPath": req.uri().path(),
                            "rawQueryString": req.uri().query().unwrap_or_default(),
                            "requestContext": {"http": {"method": req.method().as_str()}},
                        });
                        let _ = req.into_body().collect().await;
                        let response = api.handle(&event).await;
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(response["statusCode"].as_u64().unwrap() as u16)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(
                                    response["body"].as_str().unwrap().to_owned(),
                                )))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// A user's samples of a resource without their versions (a fetched copy is newer by construction), each sample
/// in Junction's API shape ([`sample_body`]: what the API says it is), in order.
async fn samples(store: &Store, resource: Resource) -> Vec<Value> {
    let mut out: Vec<Value> = store
        .samples(USER, resource, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut v = serde_json::to_value(&s).unwrap();
            v.as_object_mut().unwrap().remove("message_created_at");
            v["sample"] = sample_body(&s);
            v
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// A user's summaries of a resource: record id -> the record in Junction's API shape ([`summary_body`]).
async fn summaries(store: &Store, resource: Resource) -> BTreeMap<String, Value> {
    store
        .summaries(USER, resource)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.get_str("record_id").unwrap().to_owned(),
                summary_body(resource, r.attributes["data"].clone()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fixture_read_back_through_the_api_by_the_fetchers_client_is_what_was_stored() {
    let config = support::sdk_config().await;
    let original = Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        support::create_table(&config).await,
        7,
    );
    let mut resources = std::collections::BTreeSet::new();
    for (i, (event_type, body)) in all_fixtures().into_iter().enumerate() {
        let Ok(event) = parse_event(&body) else {
            continue;
        };
        if let Some(resource) = event.event_type.resource()
            && event_type.starts_with("daily.data.")
        {
            resources.insert(resource);
        }
        let meta = meta_for(&format!("msg_rt_{i}"), &body);
        original.write_event(&event, &meta).await.unwrap();
    }
    let api = serve(jwh_api::Api::new(
        original.clone(),
        Settings::default(),
        "/data",
        aws_sdk_s3::Client::new(&config),
        None,
    ))
    .await;

    // One window over all of time, one chunk, every resource the Data API reads by window.
    let env = env_for(&api, "any-key", 100_000, None).await;
    let mut items = 0;
    for &resource in &resources {
        if matches!(endpoint(resource), Endpoint::None) {
            continue;
        }
        let item = WorkItem::first_page(
            "rt",
            USER,
            "",
            resource,
            "2000-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
            100_000,
        )
        .unwrap();
        env.queue.send(&item).await.unwrap();
        items += 1;
    }
    let drained = env.drain(0).await;
    assert_eq!((drained.fetched, drained.failed), (items, 0), "{drained:?}");

    let mut compared = (0, 0);
    for &resource in &resources {
        match resource.kind() {
            ResourceKind::Timeseries(_) => {
                let (want, got) = (
                    samples(&original, resource).await,
                    samples(&env.store, resource).await,
                );
                assert!(!want.is_empty(), "{resource}: the fixtures stored samples");
                assert_eq!(got, want, "{resource}");
                compared.0 += want.len();
            }
            ResourceKind::Summary if !matches!(endpoint(resource), Endpoint::None) => {
                let (want, got) = (
                    summaries(&original, resource).await,
                    summaries(&env.store, resource).await,
                );
                assert!(
                    !want.is_empty(),
                    "{resource}: the fixtures stored summaries"
                );
                assert_eq!(got, want, "{resource}");
                compared.1 += want.len();
            }
            ResourceKind::Summary => {}
        }
    }
    eprintln!(
        "[roundtrip] {} samples and {} summaries of {} resources read back through the API",
        compared.0,
        compared.1,
        resources.len()
    );
    // Every timeseries resource's two fixture samples; every summary resource's record but workout_stream's (read
    // per workout, not by window).
    assert_eq!(compared, (50 * 2, 9));
}
