//! The SQS queue between the ingress and the consumer, the [`Queue`] port.
//!
//! It owns the SendMessage call and the message attributes used for routing and filtering. It does
//! not decide what to do when sending fails (the ingress does).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ports::{Queue, QueueError};

use crate::sdk::sdk_failure;

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

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Queue for EventQueue {
    async fn send(&self, meta: &EnvelopeMeta, payload: &str) -> Result<String, QueueError> {
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
            .message_attributes("payload_kind", string_attribute(&meta.payload_kind)?)
            .send()
            .await
            .map_err(|err| QueueError::Unavailable(sdk_failure(&err)))?;
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
