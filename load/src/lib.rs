//! The load and fault test of the local stack: many concurrent senders deliver a realistic,
//! shuffled workload with duplicates and forgeries to the ingress while a proxy fails SQS sends and
//! EventBridge `PutEvents` calls and throttles DynamoDB and the functions crash on purpose;
//! afterwards the tables are reconciled against the workload to show that nothing was lost and
//! nothing applied twice, and the business events that arrived on the bus's tap against the
//! notification outbox to show that each arrived.
//!
//! Nothing here is deployed. The modules: `workload` (what is sent), `senders` (how it is sent),
//! `proxy` (the injected AWS faults), `snapshot` (reading the tables and the tap back),
//! `reconcile` (the verdict) and `driver` (one run, start to finish).

pub mod driver;
pub mod proxy;
pub mod reconcile;
pub mod senders;
pub mod snapshot;
pub mod workload;
