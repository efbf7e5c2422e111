//! Guards against `lambda_http` panicking on what a caller sends: the runtime adapter runs every event through
//! [`guard_request`] before `lambda_http` turns it into an `http::Request`. Input that would make that conversion
//! panic is dropped and the request marked with a header, so that the handler answers 400 instead; a marker a
//! caller sent is removed first, so it cannot be forged.

use http::{HeaderValue, header};
use lambda_http::Body;

/// Header the runtime adapter sets (after removing any copy a caller sent) when `isBase64Encoded` is true but the
/// body is not base64, so the handler can answer 400 instead of the adapter panicking.
pub const MALFORMED_BASE64_MARKER: &str = "x-jwh-malformed-base64";

/// Guards the request before `lambda_http` turns it into an `http::Request`: `lambda_http` panics on an
/// `isBase64Encoded` body that is not base64, so such a body is dropped here and the request marked for a 400.
/// Any marker header a caller sent is removed first, so a caller cannot forge it.
pub fn guard_base64(
    mut request: lambda_http::request::LambdaRequest,
) -> lambda_http::request::LambdaRequest {
    use base64::Engine as _;
    use lambda_http::request::LambdaRequest;
    fn check(body: &mut Option<String>, is_base64: &mut bool) -> bool {
        let malformed = *is_base64
            && body
                .as_deref()
                .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err());
        if malformed {
            *body = None;
            *is_base64 = false;
        }
        malformed
    }
    let marker = || HeaderValue::from_static("1");
    match &mut request {
        LambdaRequest::ApiGatewayV1(r) => {
            r.headers.remove(MALFORMED_BASE64_MARKER);
            r.multi_value_headers.remove(MALFORMED_BASE64_MARKER);
            if check(&mut r.body, &mut r.is_base64_encoded) {
                r.headers.insert(MALFORMED_BASE64_MARKER, marker());
            }
        }
        LambdaRequest::ApiGatewayV2(r) => {
            r.headers.remove(MALFORMED_BASE64_MARKER);
            if check(&mut r.body, &mut r.is_base64_encoded) {
                r.headers.insert(MALFORMED_BASE64_MARKER, marker());
            }
        }
        _ => {}
    }
    request
}

/// Header the runtime adapter sets (after removing any copy a caller sent) when the request's host, path or query
/// would not make a URI, so the handler can answer 400 instead of `lambda_http` panicking.
pub const MALFORMED_URI_MARKER: &str = "x-jwh-malformed-uri";

/// Guards the request before `lambda_http` turns it into an `http::Request`, against the two kinds of input that
/// make that conversion panic: a base64 body that is not base64 ([`guard_base64`]), and a Host header (or request
/// context domain name), stage, path or query string that do not form a URL (`lambda_http` builds the URI with
/// `Url::parse(..).unwrap()`; the `ingest_request` fuzz target found a domain name that fails IDNA). API Gateway
/// should never send the latter, but the handler does not rely on it: the conversion is tried on a copy without
/// the body, and if it panics the URI parts are replaced by `/` on no host and the request is marked for a 400.
pub fn guard_request(
    request: lambda_http::request::LambdaRequest,
) -> lambda_http::request::LambdaRequest {
    use lambda_http::request::LambdaRequest;
    fn converts(probe: LambdaRequest) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _: http::Request<Body> = probe.into();
        }))
        .is_ok()
    }
    let mut request = guard_base64(request);
    let marker = || HeaderValue::from_static("1");
    match &mut request {
        LambdaRequest::ApiGatewayV1(r) => {
            r.headers.remove(MALFORMED_URI_MARKER);
            r.multi_value_headers.remove(MALFORMED_URI_MARKER);
            let mut probe = r.clone();
            probe.body = None;
            if !converts(LambdaRequest::ApiGatewayV1(probe)) {
                r.headers.remove(header::HOST);
                r.multi_value_headers.remove(header::HOST);
                r.request_context.domain_name = None;
                r.request_context.stage = None;
                r.path = Some("/".into());
                r.query_string_parameters = Default::default();
                r.multi_value_query_string_parameters = Default::default();
                r.headers.insert(MALFORMED_URI_MARKER, marker());
            }
        }
        LambdaRequest::ApiGatewayV2(r) => {
            r.headers.remove(MALFORMED_URI_MARKER);
            let mut probe = r.clone();
            probe.body = None;
            if !converts(LambdaRequest::ApiGatewayV2(probe)) {
                r.headers.remove(header::HOST);
                r.request_context.domain_name = None;
                r.request_context.stage = None;
                r.raw_path = Some("/".into());
                r.raw_query_string = None;
                r.headers.insert(MALFORMED_URI_MARKER, marker());
            }
        }
        _ => {}
    }
    request
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use lambda_http::Request;
    use lambda_http::request::LambdaRequest;

    use super::*;
    use crate::test_support::{
        FORMATS, SECRET, aws_ok, fixture, ingest, now, request, signed_headers, status,
    };

    #[tokio::test]
    async fn base64_bodies_are_decoded_before_verification_and_malformed_ones_are_400() {
        let body = fixture("provider.connection.created");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
        for format in FORMATS {
            let aws = aws_ok();
            let ingest = ingest(&aws, &[SECRET]);
            let headers = signed_headers(SECRET, "m", now(), &body);
            assert_eq!(
                status(&ingest, request(format, "POST", &headers, &encoded, true)).await,
                200,
                "{format:?}"
            );
            assert_eq!(
                status(
                    &ingest,
                    request(format, "POST", &headers, "not base64!!", true)
                )
                .await,
                400,
                "{format:?}"
            );
            // A caller cannot forge the adapter's marker to get its request refused or accepted.
            let mut forged = headers.clone();
            forged.push((MALFORMED_BASE64_MARKER, "1".into()));
            assert_eq!(
                status(
                    &ingest,
                    request(
                        format,
                        "POST",
                        &forged,
                        std::str::from_utf8(&body).unwrap(),
                        false
                    )
                )
                .await,
                200
            );
            assert_eq!(aws.count("SendMessage"), 2, "{format:?}");
        }
    }

    #[tokio::test]
    async fn a_host_that_is_not_a_url_is_a_400_not_a_panic() {
        // Found by the ingest_request fuzz target: lambda_http panicked (IdnaError) building the URI from this
        // domain name. A caller's marker header is not trusted either.
        let body = r#"{"event_type":"provider.connection.created"}"#;
        for (domain, host) in [
            ("exampl%.com", None),
            ("api.example.com", Some("bad host%")),
        ] {
            let mut headers =
                serde_json::json!({"content-type": "application/json", MALFORMED_URI_MARKER: "1"});
            if let Some(host) = host {
                headers["host"] = host.into();
            }
            let event = serde_json::json!({
                "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/junction", "rawQueryString": "",
                "headers": headers,
                "requestContext": {"accountId": "1", "apiId": "api", "domainName": domain, "domainPrefix": "api",
                    "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0,
                    "http": {"method": "POST", "path": "/webhooks/junction", "protocol": "HTTP/1.1",
                        "sourceIp": "192.0.2.1", "userAgent": "Svix-Webhooks/1.0"}},
                "body": body, "isBase64Encoded": false
            });
            let lambda: LambdaRequest = serde_json::from_value(event).unwrap();
            let request: Request = guard_request(lambda).into();
            assert!(
                request.headers().contains_key(MALFORMED_URI_MARKER),
                "{domain}"
            );
            let ingest = ingest(&aws_ok(), &[SECRET]);
            assert_eq!(status(&ingest, request).await, 400, "{domain}");
        }
        // A well-formed request passes untouched, even with a forged marker, which is removed.
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/junction", "rawQueryString": "a=1",
            "headers": {"host": "api.example.com", MALFORMED_URI_MARKER: "1"},
            "requestContext": {"accountId": "1", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "",
                "timeEpoch": 0, "http": {"method": "POST", "path": "/webhooks/junction", "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1", "userAgent": "Svix-Webhooks/1.0"}},
            "body": "{}", "isBase64Encoded": false
        });
        let request: Request = guard_request(serde_json::from_value(event).unwrap()).into();
        assert!(!request.headers().contains_key(MALFORMED_URI_MARKER));
        assert_eq!(
            request.uri().to_string(),
            "https://api.example.com/webhooks/junction?a=1"
        );
    }
}
