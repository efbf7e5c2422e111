//! The summaries processor: stores summary resources (sleep, activity, workouts, body, …) from its SQS queue into DynamoDB.
//! The per-record logic is shared by every family: see `jwh_shared::processor`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_shared::processor::serve(jwh_shared::family::Family::Summaries).await
}
