//! Integration tests: the real SDK against moto over real HTTP. One test binary, so the workspace links once.

mod backfill;
mod cost;
mod erase;
mod fault_proxy;
mod faults;
mod ingest;
mod ordering;
mod processors;
mod race;
mod read_api;
mod read_cost;
mod roundtrip;
mod support;
