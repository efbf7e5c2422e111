//! The ingest function's logic, as a library so the integration tests and benchmarks can drive it in-process.

pub mod handler;
