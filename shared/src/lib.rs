//! The webhook receiver's logic, shared by the ingress and consumer Lambdas.
//!
//! The binaries under `functions/` only wire this library to the Lambda runtime: everything that
//! decides (verification, parsing, idempotency, storage and queue semantics, business effects)
//! lives here, in modules named for what they own.

pub mod config;
pub mod consumer;
pub mod dlq;
#[cfg(feature = "fault-drill")]
pub mod drill;
pub mod envelope;
pub mod event;
pub mod headers;
pub mod ingress;
pub mod items;
pub mod key;
pub mod metrics;
pub mod poller;
pub mod process;
pub mod provision;
pub mod queue;
pub mod replay;
pub mod sender;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod verify;
