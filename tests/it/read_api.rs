//! The read API's routes beside the windows, through the function that ships (`jwh_api::Api` over loopback HTTP)
//! against moto: a user's providers, devices, historical pulls, lab history and the catch-all records, source
//! resolution by the deployment's order and by the request's, and erasure by `DELETE /data/users/{id}`.

use jwh_shared::data_api::Settings;
use jwh_shared::events::parse_event;
use jwh_shared::resolve::Priorities;
use jwh_shared::store::Store;
use serde_json::{Value, json};

use crate::erase::populate;
use crate::roundtrip::serve;
use crate::support::{self, all_fixtures, meta_for};

/// `(status, body)` of a request (blocking ureq off the runtime's threads).
async fn call(method: &'static str, url: String) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = match method {
            "DELETE" => agent.delete(&url).call(),
            _ => agent.get(&url).call(),
        }
        .unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap(),
        )
    })
    .await
    .unwrap()
}

async fn get(url: String) -> Value {
    let (status, body) = call("GET", url.clone()).await;
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// The fixtures' bodies of one event type prefix, with `user` for the fixtures' own.
fn fixtures_of(prefix: &str) -> Vec<Value> {
    all_fixtures()
        .into_iter()
        .filter(|(t, _)| t.starts_with(prefix))
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn providers_devices_pulls_lab_and_catch_all_read_back_and_a_delete_erases_the_user() {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let bucket = support::create_bucket(&config).await;
    let s3 = support::s3(&config);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
    let (user, other) = (support::unique("reader"), support::unique("bystander"));
    populate(&store, &s3, &bucket, &user).await;
    populate(&store, &s3, &bucket, &other).await;
    let api = serve(jwh_api::Api::new(
        store.clone(),
        Settings::default(),
        "/data",
        s3.clone(),
        Some(bucket.clone()),
    ))
    .await;

    // Providers: fitbit connected (with its name, logo and resource availability), oura in error.
    let providers = get(format!("{api}/v2/user/providers/{user}")).await;
    let providers = providers["providers"].as_array().unwrap();
    let by_slug = |slug: &str| {
        providers
            .iter()
            .find(|p| p["slug"] == slug)
            .unwrap_or_else(|| panic!("{slug}: {providers:?}"))
    };
    let created = &fixtures_of("provider.connection.created")[0]["data"];
    let fitbit = by_slug("fitbit");
    assert_eq!(fitbit["status"], "connected");
    assert_eq!(fitbit["name"], created["provider"]["name"]);
    assert_eq!(fitbit["logo"], created["provider"]["logo"]);
    assert_eq!(fitbit["external_user_id"], created["external_user_id"]);
    assert_eq!(
        fitbit["resource_availability"],
        created["resource_availability"]
    );
    assert!(fitbit["error_details"].is_null());
    let oura = by_slug("oura");
    assert_eq!(oura["status"], "error");
    assert_eq!(oura["error_details"]["error_type"], "token_refresh_failed");
    assert!(!oura["created_on"].as_str().unwrap().is_empty());

    // Devices: as their webhooks carried them; one by id; an unknown id is a 404.
    let device = fixtures_of("provider.device.")
        .pop()
        .map(|b| b["data"].clone())
        .unwrap();
    let id = device["id"].as_str().unwrap();
    let devices = get(format!("{api}/v2/user/{user}/device")).await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(devices[0]["id"], device["id"]);
    assert_eq!(devices[0]["device_model"], device["device_model"]);
    assert_eq!(
        get(format!("{api}/v2/user/{user}/device/{id}")).await,
        devices[0]
    );
    assert_eq!(
        call("GET", format!("{api}/v2/user/{user}/device/nope"))
            .await
            .0,
        404
    );

    // Historical pulls: one per historical fixture's resource, under its provider, final ones a success.
    let pulls = get(format!(
        "{api}/v2/introspect/historical_pull?user_id={user}"
    ))
    .await;
    let historical = fixtures_of("historical.data.");
    let pulled: usize = pulls["data"][0]["provider"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["pulled"].as_object().unwrap().len())
        .sum();
    assert_eq!(pulled, historical.len());
    let sleep = &pulls["data"][0]["provider"]["oura"]["pulled"]["sleep"];
    assert_eq!(sleep["status"], "success", "{pulls}");
    assert!(sleep["timeline"]["scheduled_at"].is_string());
    assert_eq!(
        call("GET", format!("{api}/v2/introspect/historical_pull"))
            .await
            .0,
        400
    );
    let only = get(format!(
        "{api}/v2/introspect/historical_pull?user_id={user}&provider=nobody"
    ))
    .await;
    assert_eq!(only["data"][0]["provider"], json!({}));

    // Lab history: every order, appointment, critical result and parsing job, each with its history.
    let lab = get(format!("{api}/v2/lab/{user}")).await;
    let records = lab["records"].as_array().unwrap();
    for kind in ["order", "appointment", "critical_result", "parsing_job"] {
        let of_kind: Vec<&Value> = records.iter().filter(|r| r["kind"] == kind).collect();
        assert!(!of_kind.is_empty(), "{kind}: {lab}");
        assert!(
            of_kind
                .iter()
                .all(|r| !r["history"].as_array().unwrap().is_empty())
        );
    }
    let orders = get(format!("{api}/v2/lab/{user}?kind=order")).await;
    assert!(
        orders["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] == "order")
    );
    assert_eq!(
        call("GET", format!("{api}/v2/lab/{user}?kind=x")).await.0,
        400
    );

    // Catch-all: a page at a time, and one message with its body whole (the large one, kept in parts).
    let first = get(format!("{api}/v2/catch_all?page_size=1")).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = get(format!(
        "{api}/v2/catch_all?page_size=1&next_cursor={cursor}"
    ))
    .await;
    assert_ne!(first["data"][0]["svix_id"], second["data"][0]["svix_id"]);
    let all = get(format!("{api}/v2/catch_all")).await;
    assert!(all["next_cursor"].is_null());
    let big = format!("msg_{user}_big");
    let listed = all["data"].as_array().unwrap();
    assert!(listed.iter().any(|m| m["svix_id"] == big.as_str()), "{all}");
    let message = get(format!("{api}/v2/catch_all/{big}")).await;
    assert_eq!(message["body"]["user_id"], user.as_str());
    assert_eq!(
        message["body"]["padding"].as_str().unwrap().len(),
        400 * 1024
    );
    assert_eq!(
        call("GET", format!("{api}/v2/catch_all/msg_none")).await.0,
        404
    );
    let unknown = get(format!(
        "{api}/v2/catch_all?event_type=daily.data.new_thing.created"
    ))
    .await;
    assert!(unknown["data"].as_array().unwrap().len() >= 2);

    // Erasure: the report, then nothing of the user through any route; the bystander's copy intact.
    let (status, erased) = call(
        "DELETE",
        format!("{api}/users/{user}?team_id=6b74423d-0504-4470-9afb-477252ccf67a"),
    )
    .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["complete"], true);
    assert!(erased["removed"]["records"]["summary"].as_u64().unwrap() > 0);
    assert_eq!(erased["removed"]["payloads"], 1);
    assert!(erased["total"].as_u64().unwrap() > 10);
    let providers = get(format!("{api}/v2/user/providers/{user}")).await;
    assert_eq!(providers["providers"], json!([]));
    assert_eq!(get(format!("{api}/v2/user/{user}/device")).await, json!([]));
    assert_eq!(
        get(format!("{api}/v2/lab/{user}")).await["records"],
        json!([])
    );
    assert_eq!(
        call("GET", format!("{api}/v2/catch_all/{big}")).await.0,
        404
    );
    let sleep = get(format!(
        "{api}/v2/summary/sleep/{user}?start_date=2000-01-01"
    ))
    .await;
    assert_eq!(sleep["sleep"], json!([]));
    let theirs = get(format!("{api}/v2/user/providers/{other}")).await;
    assert_eq!(theirs["providers"].as_array().unwrap().len(), 2);
    // A second erasure finds nothing; GET is the only other method.
    let (status, again) = call("DELETE", format!("{api}/users/{user}")).await;
    assert_eq!((status, again["total"].as_u64()), (200, Some(0)));
    assert_eq!(
        call("DELETE", format!("{api}/v2/summary/sleep/{user}"))
            .await
            .0,
        404
    );
}

/// Heart rate of a phone and a watch at the same instants, and one minute only the phone measured.
fn two_sources(user: &str) -> Vec<Value> {
    ["phone", "watch"]
        .iter()
        .enumerate()
        .map(|(i, source)| {
            let minutes: &[u32] = if i == 0 { &[0, 1, 2] } else { &[0, 1] };
            let data: Vec<Value> = minutes
                .iter()
                .map(|m| {
                    json!({"timestamp": format!("2024-11-24T10:0{m}:00+00:00"),
                           "value": 60 + 10 * i as u32 + m, "unit": "bpm"})
                })
                .collect();
            let provider = ["apple_health_kit", "garmin"][i];
            json!({"event_type": "daily.data.heartrate.created", "user_id": user,
                   "data": {"source": {"provider": provider, "type": source}, "data": data, "user_id": user}})
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolution_follows_the_deployments_order_unless_the_request_names_one() {
    let config = support::sdk_config().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        support::create_table(&config).await,
        7,
    );
    let user = support::unique("two-sources");
    for (i, body) in two_sources(&user).into_iter().enumerate() {
        let bytes = body.to_string().into_bytes();
        let event = parse_event(&bytes).unwrap();
        store
            .write_event(&event, &meta_for(&format!("msg_two_{i}"), &bytes))
            .await
            .unwrap();
    }
    // The deployment trusts the phone for heart rate (the default would trust the watch).
    let settings = Settings {
        priorities: Priorities::parse("heartrate=phone").unwrap(),
    };
    let api = serve(jwh_api::Api::new(
        store.clone(),
        settings,
        "/data",
        support::s3(&config),
        None,
    ))
    .await;
    let window = format!("{api}/v2/timeseries/{user}/heartrate/grouped?start_date=2024-11-24");
    let sources = |body: &Value| -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = body["groups"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|groups| groups.as_array().unwrap().iter())
            .map(|g| {
                (
                    g["source"]["type"].as_str().unwrap().to_owned(),
                    g["data"].as_array().unwrap().len(),
                )
            })
            .collect();
        out.sort();
        out
    };
    // Unresolved: both sources, every sample.
    let all = get(window.clone()).await;
    assert_eq!(sources(&all), [("phone".into(), 3), ("watch".into(), 2)]);
    // The deployment's order: the phone's three.
    let deployed = get(format!("{window}&resolve=true")).await;
    assert_eq!(sources(&deployed), [("phone".into(), 3)]);
    // The request's own order: the watch where it measured, the phone for the minute it alone did.
    let asked = get(format!("{window}&resolve=true&priority=watch,phone")).await;
    assert_eq!(sources(&asked), [("phone".into(), 1), ("watch".into(), 2)]);
    // Pages of one sample, cursor after cursor, are the whole window in the same order, resolved or not (two
    // samples share each of the first two instants: a cursor lands between them).
    for query in ["", "&resolve=true&priority=watch,phone"] {
        let whole = get(format!("{window}{query}")).await;
        let flat = |body: &Value| -> Vec<Value> {
            let mut out = Vec::new();
            for groups in body["groups"].as_object().unwrap().values() {
                for g in groups.as_array().unwrap() {
                    for d in g["data"].as_array().unwrap() {
                        out.push(json!([d["timestamp"], g["source"]["type"], d["value"]]));
                    }
                }
            }
            out.sort_by_key(|v| v.to_string());
            out
        };
        let mut paged = Vec::new();
        let mut url = format!("{window}{query}&page_size=1");
        loop {
            let page = get(url.clone()).await;
            assert!(flat(&page).len() <= 1);
            paged.extend(flat(&page));
            match page["next_cursor"].as_str() {
                Some(c) => url = format!("{window}{query}&page_size=1&next_cursor={c}"),
                None => break,
            }
            assert!(paged.len() <= 5, "the cursor does not advance");
        }
        paged.sort_by_key(|v| v.to_string());
        assert_eq!(paged, flat(&whole), "{query}");
    }
    let bad = call("GET", format!("{window}&next_cursor=bm9wZQ")).await;
    assert_eq!(bad.0, 400);
    let bad = call("GET", format!("{window}&resolve=true&priority=colour:red")).await;
    assert_eq!(bad.0, 400);
    assert!(bad.1["detail"].as_str().unwrap().contains("priority"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_totals_add_up_one_source_per_stretch_of_time() {
    let config = support::sdk_config().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        support::create_table(&config).await,
        7,
    );
    let user = support::unique("steps");
    // The phone counted 10:00-12:00 in two hours, the watch 10:00-11:00: the first hour is counted twice in the
    // copy, once in any total.
    let hours = |source: &str, provider: &str, values: &[(u32, u32)]| {
        let data: Vec<Value> = values
            .iter()
            .map(|(h, v)| {
                json!({"start": format!("2024-11-24T{h:02}:00:00+00:00"),
                       "end": format!("2024-11-24T{:02}:00:00+00:00", h + 1),
                       "value": v, "unit": "count", "timezone_offset": 3600})
            })
            .collect();
        json!({"event_type": "daily.data.steps.created", "user_id": user,
               "data": {"source": {"provider": provider, "type": source}, "data": data, "user_id": user}})
    };
    let bodies = [
        hours("phone", "apple_health_kit", &[(10, 100), (11, 100)]),
        hours("watch", "garmin", &[(10, 80)]),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let bytes = body.to_string().into_bytes();
        store
            .write_event(
                &parse_event(&bytes).unwrap(),
                &meta_for(&format!("msg_steps_{i}"), &bytes),
            )
            .await
            .unwrap();
    }
    let api = serve(jwh_api::Api::new(
        store.clone(),
        Settings::default(),
        "/data",
        support::s3(&config),
        None,
    ))
    .await;
    let url = format!("{api}/v2/timeseries/{user}/steps/daily_totals?start_date=2024-11-24");
    // The default order trusts the watch where it counted, the phone for the hour it alone did.
    let totals = get(url.clone()).await;
    assert_eq!(
        totals["daily_totals"].as_array().unwrap().len(),
        1,
        "{totals}"
    );
    let day = &totals["daily_totals"][0];
    assert_eq!(
        (day["date"].as_str(), day["total"].as_f64()),
        (Some("2024-11-24"), Some(180.0))
    );
    assert_eq!(day["samples"], 2);
    // Trusting the phone: its two hours, the watch's overlapping hour left out.
    let phone = get(format!("{url}&resolve=true&priority=phone")).await;
    assert_eq!(phone["daily_totals"][0]["total"].as_f64(), Some(200.0));
    // Never the sum of both sources (280), whatever the order.
    assert!(
        [&totals, &phone]
            .iter()
            .all(|t| t["daily_totals"][0]["total"].as_f64() != Some(280.0))
    );
    // Heart rate does not add up over a day.
    let (status, body) = call(
        "GET",
        format!("{api}/v2/timeseries/{user}/heartrate/daily_totals?start_date=2024-11-24"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn an_erasure_not_finished_in_time_answers_202_and_a_second_request_finishes_it() {
    let config = support::sdk_config().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        support::create_table(&config).await,
        7,
    );
    let bucket = support::create_bucket(&config).await;
    let s3 = support::s3(&config);
    let user = support::unique("slow-erase");
    populate(&store, &s3, &bucket, &user).await;
    let path = format!("/users/{user}");
    let payloads = Some((&s3, bucket.as_str()));
    let cut_short = jwh_shared::data_api::erase(
        &store,
        &path,
        &[],
        payloads,
        None,
        std::time::Duration::ZERO,
    )
    .await;
    assert_eq!(cut_short.status, 202, "{}", cut_short.body);
    assert_eq!(cut_short.body["complete"], false);
    let finished = jwh_shared::data_api::erase(
        &store,
        &path,
        &[],
        payloads,
        None,
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(finished.status, 200, "{}", finished.body);
    assert!(finished.body["total"].as_u64().unwrap() > 10);
    assert!(store.user_records(&user).await.unwrap().is_empty());
    // Not a user path: nothing to erase.
    let other = jwh_shared::data_api::erase(
        &store,
        "/v2/users",
        &[],
        payloads,
        None,
        std::time::Duration::from_secs(1),
    )
    .await;
    assert_eq!(other.status, 404);
}
