//! The read API: API Gateway HTTP API requests (payload format 2.0) under `/data`, answered from the records table
//! in Junction's Data API shapes; `DELETE /data/users/{id}` erases a user. Wiring only: see `jwh_api`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jwh_api::serve().await
}
