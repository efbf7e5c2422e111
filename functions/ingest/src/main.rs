//! The ingest function: Junction (Svix) webhooks in through API Gateway, verified, routed and enqueued.
//! Wiring only; the logic is in [`handler`], and every event passes [`guard`] before `lambda_http` reads it.

use jwh_ingest::{guard, handler};

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Request};
use lambda_runtime::{LambdaEvent, Service as _, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_shared::logging::init();
    let ingest = handler::Ingest::from_env().await?;
    let ingest = &ingest;
    let http = Adapter::from(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(ingest.handle(request).await)
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let mut http = http.clone();
        let event = LambdaEvent::new(guard::guard_request(event.payload), event.context);
        async move { http.call(event).await }
    }))
    .await
}
