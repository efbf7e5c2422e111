//! The catch-all processor: stores unknown, unparseable and continuous-query messages, kept whole for replay from its SQS queue into DynamoDB.
//! The per-record logic is shared by every family: see `jwh_shared::processor`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_shared::processor::serve(jwh_shared::family::Family::CatchAll).await
}
