//! The webhook receiver's logic, shared by the ingress and consumer Lambdas.
//!
//! The binaries under `functions/` only wire this library to the Lambda runtime: everything that
//! decides (verification, parsing, idempotency, storage and queue semantics, business effects)
//! lives here, in modules named for what they own.

pub mod event;
pub mod headers;
pub mod key;
pub mod verify;
