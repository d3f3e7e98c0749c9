//! The business events bus in EventBridge, the [`EventBus`] port.
//!
//! It owns the `PutEvents` call: the bus name, the `Source` (the deployment's prefix, a dot, the
//! sender's name), and reading each entry's result back in order. Which events to publish, when,
//! and what to do with a refused entry are the consumer's.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use webhook_core::ports::{BusError, BusinessEvent, EventBus};

use crate::sdk::sdk_failure;

/// A custom event bus and the `Source` prefix of this deployment's events.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus: String,
    source_prefix: String,
}

impl EventBridgeBus {
    /// Wraps a client, the bus name (or ARN) and the source prefix (e.g. `webhooks`).
    pub fn new(client: Client, bus: impl Into<String>, source_prefix: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source_prefix: source_prefix.into(),
        }
    }

    /// A client from shared SDK configuration (honours `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        bus: impl Into<String>,
        source_prefix: impl Into<String>,
    ) -> Self {
        Self::new(Client::new(config), bus, source_prefix)
    }

    /// The `Source` of `sender`'s events.
    pub fn source_of(&self, sender: &str) -> String {
        format!("{}.{sender}", self.source_prefix)
    }
}

impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[BusinessEvent]) -> Result<Vec<Result<(), String>>, BusError> {
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(self.source_of(&event.sender))
                    .detail_type(&event.detail_type)
                    .detail(&event.detail)
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| BusError(sdk_failure(&err)))?;
        // One result per entry, in order; a failed entry has an error code and no event id.
        Ok(output
            .entries()
            .iter()
            .map(|entry| match entry.error_code() {
                Some(code) => Err(code.to_owned()),
                None if entry.event_id().is_some() => Ok(()),
                None => Err("no event id".to_owned()),
            })
            .collect())
    }
}
