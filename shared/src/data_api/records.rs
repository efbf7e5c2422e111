//! The read side's routes beside the windows: a user's connected providers, devices and historical pulls in
//! Junction's shapes, and what Junction's API has no equivalent for (lab records with their status history, the
//! catch-all records), in the same conventions: a JSON object whose list is named after what it holds, snake_case
//! fields, records as their webhooks carried them under `data`, opaque cursors.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Reply, Request, bad, decode_cursor, encode_cursor, paging, param, percent_decode};
use crate::fetch::attr as fetch_attr;
use crate::query::StoredRecord;
use crate::store::{Store, StoreError, keys};

/// The routes of this module, if `segments` is one of them.
pub(super) fn parse(
    segments: &[&str],
    query: &[(String, String)],
) -> Result<Option<Request>, Reply> {
    let user = |s: &str| percent_decode(s).ok_or_else(|| Reply::error(404, "Not Found"));
    Ok(Some(match segments {
        ["v2", "user", "providers", user_id] => Request::Providers {
            user_id: user(user_id)?,
        },
        ["v2", "user", user_id, "device"] => Request::Devices {
            user_id: user(user_id)?,
            device_id: None,
        },
        ["v2", "user", user_id, "device", device_id] => Request::Devices {
            user_id: user(user_id)?,
            device_id: Some(user(device_id)?),
        },
        ["v2", "introspect", "historical_pull"] => Request::HistoricalPulls {
            // Junction lists a whole team's pulls; this copy is read one user at a time.
            user_id: param(query, "user_id")
                .ok_or_else(|| {
                    bad(
                        "user_id",
                        "is required (this copy is read one user at a time)",
                    )
                })?
                .to_owned(),
            provider: param(query, "provider").map(str::to_owned),
        },
        ["v2", "lab", user_id] => Request::Lab {
            user_id: user(user_id)?,
            kind: match param(query, "kind") {
                None => None,
                Some(k) if LAB_KINDS.contains(&k) => Some(k.to_owned()),
                Some(_) => return Err(bad("kind", &format!("is one of {}", LAB_KINDS.join(", ")))),
            },
        },
        ["v2", "catch_all"] => {
            let (cursor, page_size) = paging(query)?;
            let offset = match cursor {
                Some(c) => decode_cursor(c)
                    .ok_or_else(|| bad("next_cursor", "is not a cursor of this list"))?,
                None => 0,
            };
            Request::CatchAll {
                event_type: param(query, "event_type").map(str::to_owned),
                offset,
                page_size,
            }
        }
        ["v2", "catch_all", svix_id] => Request::CatchAllMessage {
            svix_id: user(svix_id)?,
        },
        _ => return Ok(None),
    }))
}

/// The lab record kinds of a user, as the `kind` parameter names them.
const LAB_KINDS: [&str; 4] = ["order", "appointment", "critical_result", "parsing_job"];

fn data(record: &StoredRecord) -> Option<&Value> {
    record.attributes.get("data").filter(|d| !d.is_null())
}

fn text(record: &StoredRecord, name: &str) -> Value {
    record
        .get_str(name)
        .map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// `{"providers": [ClientFacingProviderWithStatus, …]}`: each connection's current state. Name and logo come from
/// the `provider.connection.created` that the state was stored from; a connection known only from an error gets
/// its slug for a name and no logo. `created_on` is the creation time of its first `created` message.
pub(super) async fn providers(store: &Store, user_id: &str) -> Result<Reply, StoreError> {
    let records = store.user_records_with_prefix(user_id, "CONN#").await?;
    let mut first_created: BTreeMap<String, String> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind == "connection_event") {
        if r.get_str("event_type") != Some("provider.connection.created") {
            continue;
        }
        let (Some(provider), Some(at)) = (r.get_str("provider"), r.get_str("message_created_at"))
        else {
            continue;
        };
        let slot = first_created
            .entry(provider.to_owned())
            .or_insert_with(|| at.to_owned());
        if at < slot.as_str() {
            *slot = at.to_owned();
        }
    }
    let providers: Vec<Value> = records
        .iter()
        .filter(|r| r.kind == "connection")
        .map(|r| provider_body(r, &first_created))
        .collect();
    Ok(Reply::ok(json!({ "providers": providers })))
}

fn provider_body(r: &StoredRecord, first_created: &BTreeMap<String, String>) -> Value {
    let slug = r.get_str("provider").unwrap_or_default();
    let described = data(r).and_then(|d| d.get("provider").or_else(|| d.get("source")));
    let field = |name: &str| described.and_then(|p| p.get(name)).and_then(Value::as_str);
    let status = r.get_str("status").unwrap_or("connected");
    let created_on = first_created
        .get(slug)
        .map(String::as_str)
        .or_else(|| r.get_str("received_at"))
        .unwrap_or_default();
    let error_details = (status == "error").then(|| {
        json!({
            "error_type": r.get_str("error_type").unwrap_or("unknown"),
            "error_message": r.get_str("error_message").or(r.get_str("error_details")).unwrap_or_default(),
            "errored_at": r.get_str("received_at").unwrap_or_default(),
        })
    });
    json!({
        "name": field("name").unwrap_or(slug),
        "slug": slug,
        "logo": field("logo").unwrap_or_default(),
        "created_on": created_on,
        "status": status,
        "external_user_id": text(r, "external_user_id"),
        "error_details": error_details,
        "resource_availability": data(r)
            .and_then(|d| d.get("resource_availability"))
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    })
}

/// `[ClientFacingDevice, …]`, or one device (404 when there is none): each as its last webhook carried it.
pub(super) async fn devices(
    store: &Store,
    user_id: &str,
    device_id: Option<&str>,
) -> Result<Reply, StoreError> {
    let prefix = device_id.map_or_else(|| "DEVICE#".to_owned(), keys::device);
    let mut devices: Vec<Value> = store
        .user_records_with_prefix(user_id, &prefix)
        .await?
        .iter()
        // A device id's key is a prefix of a longer id's.
        .filter(|r| r.kind == "device" && device_id.is_none_or(|_| r.sk == prefix))
        .filter_map(|r| data(r).cloned())
        .collect();
    Ok(match device_id {
        None => Reply::ok(Value::Array(devices)),
        Some(_) => match devices.pop() {
            Some(device) => Reply::ok(device),
            None => Reply::error(404, "no such device for this user"),
        },
    })
}

/// `UserHistoricalPullsResponse` for one user: each provider's pulls by resource, from the
/// `historical.data.*.created` webhooks (status `success` once one said `is_final`, else `in_progress`; the
/// window it announced; scheduled and ended when it was received) and, under `fetch`, the backfill fetcher's
/// progress on the same window when it ran.
pub(super) async fn historical_pulls(
    store: &Store,
    user_id: &str,
    provider: Option<&str>,
) -> Result<Reply, StoreError> {
    let mut by_provider: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for r in store.user_records_with_prefix(user_id, "BACKFILL#").await? {
        let (Some(slug), Some(resource)) = (r.get_str("provider"), r.get_str("resource")) else {
            continue;
        };
        if provider.is_some_and(|p| p != slug) {
            continue;
        }
        let is_final = r.attributes.get("is_final").and_then(Value::as_bool) == Some(true);
        let received = text(&r, "completed_at");
        let mut stats = json!({
            "status": if is_final { "success" } else { "in_progress" },
            "range_start": text(&r, "start_date"),
            "range_end": text(&r, "end_date"),
            "timeline": {
                "scheduled_at": received,
                "started_at": null,
                "ended_at": if is_final { received.clone() } else { Value::Null },
            },
            // Junction's release and trace ids are not in its webhooks.
            "release": "",
            "trace_id": null,
        });
        let fetch: Map<String, Value> = r
            .attributes
            .iter()
            .filter(|(k, _)| k.starts_with("fetch_") && k.as_str() != fetch_attr::PAGES)
            .map(|(k, v)| (k.trim_start_matches("fetch_").to_owned(), v.clone()))
            .collect();
        if !fetch.is_empty() {
            stats["fetch"] = Value::Object(fetch);
        }
        by_provider
            .entry(slug.to_owned())
            .or_default()
            .insert(resource.to_owned(), stats);
    }
    let providers: Map<String, Value> = by_provider
        .into_iter()
        .map(|(slug, pulled)| (slug, json!({"pulled": pulled, "not_pulled": []})))
        .collect();
    Ok(Reply::ok(json!({
        "data": [{"user_id": user_id, "provider": providers}],
        "next": null,
        "next_cursor": null,
    })))
}

/// `{"records": [{kind, id, status, updated_at, data, history: [{status, event_type, message_created_at,
/// received_at, svix_id}, …]}, …]}`: a user's lab orders, appointments, critical results and parsing jobs, each
/// with its status history in message order.
pub(super) async fn lab(
    store: &Store,
    user_id: &str,
    kind: Option<&str>,
) -> Result<Reply, StoreError> {
    let prefix = match kind {
        Some(k) => format!("LAB#{}#", k.to_ascii_uppercase()),
        None => "LAB#".to_owned(),
    };
    let items = store.user_records_with_prefix(user_id, &prefix).await?;
    let mut history: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for h in items.iter().filter(|r| r.kind == "lab_event") {
        let Some((state, _)) = h.sk.rsplit_once("#EVT#") else {
            continue;
        };
        history.entry(state).or_default().push(json!({
            "status": text(h, "status"),
            "event_type": text(h, "event_type"),
            "message_created_at": text(h, "message_created_at"),
            "received_at": text(h, "received_at"),
            "svix_id": text(h, "svix_id"),
        }));
    }
    let records: Vec<Value> = items
        .iter()
        .filter(|r| r.kind == "lab")
        .map(|r| {
            let mut events = history.remove(r.sk.as_str()).unwrap_or_default();
            events.sort_by(|a, b| {
                a["message_created_at"]
                    .as_str()
                    .cmp(&b["message_created_at"].as_str())
            });
            json!({
                "kind": r.get_str("lab_kind").unwrap_or_default().to_ascii_lowercase(),
                "id": text(r, "record_id"),
                "status": text(r, "status"),
                "updated_at": text(r, "updated_at"),
                "data": data(r).cloned().unwrap_or(Value::Null),
                "history": events,
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "records": records })))
}

fn catch_all_summary(r: &StoredRecord) -> Value {
    json!({
        "svix_id": text(r, "svix_id"),
        "event_type": text(r, "event_type"),
        "family": text(r, "family"),
        "reason": text(r, "reason"),
        "received_at": text(r, "received_at"),
        "size": r.attributes.get("size").cloned().unwrap_or(Value::Null),
    })
}

/// `{"data": [{svix_id, event_type, family, reason, received_at, size}, …], "next_cursor": c}`: the messages kept
/// whole (unknown event types, bodies that could not be parsed or planned), oldest message first.
pub(super) async fn catch_all(
    store: &Store,
    event_type: Option<&str>,
    offset: usize,
    page_size: usize,
) -> Result<Reply, StoreError> {
    let records: Vec<StoredRecord> = store
        .catch_all_records()
        .await?
        .into_iter()
        .filter(|r| event_type.is_none_or(|t| r.get_str("event_type") == Some(t)))
        .collect();
    let page: Vec<Value> = records
        .iter()
        .skip(offset)
        .take(page_size)
        .map(catch_all_summary)
        .collect();
    let next = (offset + page.len() < records.len()).then(|| encode_cursor(offset + page.len()));
    Ok(Reply::ok(
        json!({"data": page, "next": next, "next_cursor": next}),
    ))
}

/// One catch-all message with its body: parsed when it is JSON, else as text (`body_text`), else base64
/// (`body_base64`, a body that is not UTF-8).
pub(super) async fn catch_all_message(store: &Store, svix_id: &str) -> Result<Reply, StoreError> {
    let Some(record) = store.catch_all_record(svix_id).await? else {
        return Ok(Reply::error(404, "no catch-all record of this message"));
    };
    let mut body = catch_all_summary(&record);
    match store.catch_all_body(svix_id).await? {
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(json) => body["body"] = json,
            Err(_) => body["body_text"] = Value::String(text),
        },
        None => {
            if let Some(bytes) = record.attributes.get("body_bytes") {
                body["body_base64"] = bytes.clone();
            }
        }
    }
    Ok(Reply::ok(body))
}
