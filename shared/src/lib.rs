//! Shared core of the Junction webhook receiver.
//!
//! Everything every function agrees on lives here: whether a webhook is genuine ([`signature`]), what it is
//! ([`events`]), where it goes ([`family`]), how it travels through SQS ([`envelope`]), and how its records are
//! kept in and read back from DynamoDB ([`store`], [`query`]).

pub mod archive;
pub mod aws;
pub mod data_api;
pub mod envelope;
pub mod erase;
pub mod events;
pub mod family;
pub mod fetch;
pub mod logging;
pub mod processor;
pub mod query;
pub mod resolve;
pub mod secrets;
pub mod signature;
pub mod store;
