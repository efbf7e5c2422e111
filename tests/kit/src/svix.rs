//! Deliveries signed as Svix signs them: the three `svix-*` headers over the raw body.

use jwh_shared::signature::{Secret, sign};
use lambda_http::{Body, Request};

/// The headers of a delivery signed with every one of `secrets` (Svix signs with each active secret during a
/// rotation, space-separated).
pub fn headers(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let signature = secrets
        .iter()
        .map(|s| {
            sign(
                &Secret::parse(s).expect("a whsec_ secret"),
                id,
                timestamp,
                body,
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("content-type", "application/json".into()),
        ("svix-id", id.into()),
        ("svix-timestamp", timestamp.to_string()),
        ("svix-signature", signature),
    ]
}

/// A delivery as the ingest handler receives it: POST to the webhook route, signed with `secrets` at `timestamp`.
pub fn request_at(secrets: &[&str], id: &str, timestamp: i64, body: Vec<u8>) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("/webhooks/junction");
    for (name, value) in headers(secrets, id, timestamp, &body) {
        builder = builder.header(name, value);
    }
    builder.body(Body::Binary(body)).unwrap()
}

/// [`request_at`] signed now.
pub fn request(secrets: &[&str], id: &str, body: Vec<u8>) -> Request {
    request_at(secrets, id, chrono::Utc::now().timestamp(), body)
}
