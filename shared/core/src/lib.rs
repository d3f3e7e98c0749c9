//! The webhook receiver's core: everything that decides, with no AWS, Lambda or HTTP-client
//! dependency.
//!
//! - `verify`, `headers`: authenticating a request over its raw bytes.
//! - `senders`: one folder per sender (payloads, idempotency key, rules, records, notifications)
//!   and the registry that lists them; `timeline` is the ordering machinery they share; `key` the
//!   idempotency key type.
//! - `ports`: what the services need from storage and the queue, as traits; `memory` implements
//!   them in memory for fast tests.
//! - `ingress`, `consumer`: the two services, written against the ports.
//! - `envelope` (the queue message), `config` (environment variables), `clock`, `metrics`.
//!
//! The AWS adapters of the ports live in `webhook-aws`; the Lambda wiring in `functions/`.

pub mod clock;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod headers;
pub mod ingress;
pub mod key;
pub mod memory;
pub mod metrics;
pub mod ports;
pub mod senders;
pub mod timeline;
pub mod verify;
