//! Integration tests: the real SDK against moto over real HTTP. One test binary, so the workspace links once.

mod cost;
mod ingest;
mod log_hygiene;
mod processors;
mod support;
