//! The fetcher: reads historical windows and workout streams from Junction's Data API, one page per work item
//! from its SQS queue, into the records table. The logic lives in the crate's library: see `jwh_fetcher`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_fetcher::serve().await
}
