//! The lab processor: stores lab orders, appointments, results, match reviews and parsing jobs from its SQS queue into DynamoDB.
//! The per-record logic is shared by every family: see `jwh_shared::processor`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_shared::processor::serve(jwh_shared::family::Family::Lab).await
}
