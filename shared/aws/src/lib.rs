//! The AWS adapters of the core's ports, and nothing else: what a deployed function links to
//! reach DynamoDB and SQS.
//!
//! - `events_table` (feature `dynamodb`): the events log.
//! - `items_table` (feature `dynamodb`): the records store; it owns the items table's key layout.
//! - `sqs_queue` (feature `sqs`): the events queue.
//! - `sdk`: the one helper that turns SDK errors into port errors.
//!
//! Each function enables only the features it calls, so the consumer links no SQS client.

#[cfg(feature = "dynamodb")]
pub mod events_table;
#[cfg(feature = "dynamodb")]
pub mod items_table;
pub mod sdk;
#[cfg(feature = "sqs")]
pub mod sqs_queue;

#[cfg(feature = "dynamodb")]
pub use events_table::EventsTable;
#[cfg(feature = "dynamodb")]
pub use items_table::ItemsTable;
#[cfg(feature = "sqs")]
pub use sqs_queue::EventQueue;
