//! The SQS queue between the ingress and the consumer.
//!
//! It owns the SendMessage call, the message attributes used for routing and filtering, and SDK
//! error mapping. It does not decide what to do when sending fails (the ingress does).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::envelope::EnvelopeMeta;

/// Sending failed; the event is not on the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The envelope could not be serialised.
    #[error("envelope could not be serialised: {0}")]
    Encode(String),
    /// The SendMessage call failed.
    #[error("SQS SendMessage failed: {0}")]
    Unavailable(String),
}

/// The events queue.
#[derive(Debug, Clone)]
pub struct EventQueue {
    client: Client,
    url: String,
}

impl EventQueue {
    /// Wraps a client and queue URL.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// A client from shared SDK configuration (honours `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(config), url)
    }

    /// Puts an event on the queue (`payload` is its signed JSON text); returns the SQS message id.
    pub async fn send(&self, meta: &EnvelopeMeta, payload: &str) -> Result<String, QueueError> {
        let body = meta
            .encode(payload)
            .map_err(|e| QueueError::Encode(e.to_string()))?;
        let output = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes("source", string_attribute(&meta.source)?)
            .message_attributes("event_type", string_attribute(&meta.event_type)?)
            .message_attributes(
                "payload_kind",
                string_attribute(meta.payload_kind.as_str())?,
            )
            .send()
            .await
            .map_err(|err| QueueError::Unavailable(crate::store::sdk_failure(&err)))?;
        Ok(output.message_id.unwrap_or_default())
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, QueueError> {
    // SQS rejects empty attribute values; an unknown, empty event type is still routable.
    let value = if value.is_empty() { "-" } else { value };
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| QueueError::Encode(e.to_string()))
}
