//! The one place that turns AWS SDK errors into port errors, for every adapter of this crate.
//!
//! A message names the failure kind and the service's error code and message, never the raw
//! response: for a conditional write that can hold a stored webhook body.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
#[cfg(feature = "dynamodb")]
use webhook_core::ports::StoreError;

/// A failed SDK call as a retryable store error.
#[cfg(feature = "dynamodb")]
pub(crate) fn unavailable<E, R>(operation: &'static str, err: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable {
        operation,
        message: sdk_failure(err),
    }
}

/// A short, body-free description of an SDK failure.
pub fn sdk_failure<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{err}: {code}: {message}"),
        (Some(code), None) => format!("{err}: {code}"),
        _ => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

/// Whether a call failed only because its condition did not hold.
#[cfg(feature = "dynamodb")]
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
