//! The AWS adapters of the core's ports, and nothing else: what a deployed function links to
//! reach DynamoDB, SQS, EventBridge and Secrets Manager.
//!
//! - `events_table` (feature `dynamodb`): the events log.
//! - `items_table` (feature `dynamodb`): the records store; it owns the items table's key layout.
//! - `sqs_queue` (feature `sqs`): the events queue.
//! - `event_bus` (feature `eventbridge`): the business events bus.
//! - `secrets` (feature `secretsmanager`): the sources' secrets, read from Secrets Manager.
//! - `sdk`: the one helper that turns SDK errors into port errors.
//! - `https`: the SDK configuration a deployed function loads, with an HTTPS client that trusts
//!   Amazon Trust Services' roots only (no certificate file read at start-up).
//!
//! Each function enables only the features it calls, so the consumer links no SQS or Secrets
//! Manager client, and the ingress no EventBridge client.

#[cfg(feature = "eventbridge")]
pub mod event_bus;
#[cfg(feature = "dynamodb")]
pub mod events_table;
pub mod https;
#[cfg(feature = "dynamodb")]
pub mod items_table;
pub mod sdk;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs_queue;

#[cfg(feature = "eventbridge")]
pub use event_bus::EventBridgeBus;
#[cfg(feature = "dynamodb")]
pub use events_table::EventsTable;
#[cfg(feature = "dynamodb")]
pub use items_table::ItemsTable;
#[cfg(feature = "secretsmanager")]
pub use secrets::SecretsManager;
#[cfg(feature = "sqs")]
pub use sqs_queue::EventQueue;
