//! Local-stack and test tooling, apart from what is deployed: no Lambda depends on this crate
//! (the functions' `fault-drill` feature alone brings in [`drill`], for the local load test).
//!
//! - `provision`: tables and queues as `template.yaml` declares them, for the local stack and tests.
//! - `poller`: a stand-in for the SQS event source mapping.
//! - `sender`: signing requests as the senders do.
//! - `testkit`: sample requests, moto clients and per-test resources; `testkit::stub` a counting
//!   DynamoDB/SQS endpoint for benchmarks.
//! - `drill`: crash drills that wrap the functions' port adapters; `hooks` the decorator they and
//!   the crash tests use.

pub mod drill;
pub mod hooks;
pub mod poller;
pub mod provision;
pub mod sender;
pub mod testkit;
