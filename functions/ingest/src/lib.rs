//! The ingest function's logic, as a library so the integration tests and benchmarks can drive it in-process.
//!
//! [`guard`] keeps `lambda_http` from panicking on what a caller sends, [`secrets`] holds the signing secrets
//! (refreshed from Secrets Manager), and [`handler`] verifies, routes and enqueues.

pub mod guard;
pub mod handler;
pub mod secrets;

#[cfg(test)]
mod test_support;
