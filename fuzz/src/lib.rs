//! The bodies of the fuzz targets, one module per target, each a `run`-style function over the
//! fuzzer's raw bytes. The targets under `fuzz_targets/` only call them, and the regression tests
//! in the main workspace include the same files to replay saved inputs through the same code.

pub mod function_url;
pub mod hex_hmac;
pub mod payload;
pub mod standard_webhooks;
