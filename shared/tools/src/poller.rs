//! A stand-in for the Lambda SQS event source mapping, for the local stack and tests.
//!
//! It owns only the mapping's contract: receive up to a batch, hand it to the consumer, delete the
//! messages that succeeded, and leave the reported failures on the queue for the redrive policy
//! (after `maxReceiveCount` receives SQS moves them to the dead-letter queue). In AWS the real
//! event source mapping does this; nothing here is deployed.

use std::future::Future;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

use webhook_core::consumer::QueueRecord;

/// Receiving or deleting failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQS {operation} failed: {message}")]
pub struct PollError {
    /// The API operation.
    pub operation: &'static str,
    /// The SDK's description.
    pub message: String,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Messages received.
    pub received: usize,
    /// Messages the consumer reported as failed (left for redelivery).
    pub failed: usize,
}

/// Polls one queue like an event source mapping with partial batch responses.
#[derive(Debug, Clone)]
pub struct Poller {
    client: Client,
    queue_url: String,
    batch_size: i32,
    wait_time_secs: i32,
    /// Visibility timeout per receive; `None` uses the queue's own.
    visibility_timeout_secs: Option<i32>,
}

impl Poller {
    /// A poller of `queue_url` receiving batches of `batch_size` (at most 10).
    pub fn new(client: Client, queue_url: impl Into<String>, batch_size: u32) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            batch_size: i32::try_from(batch_size.clamp(1, 10)).unwrap_or(10),
            wait_time_secs: 0,
            visibility_timeout_secs: None,
        }
    }

    /// Long-poll for up to `secs` when the queue is empty.
    #[must_use]
    pub fn wait_time(mut self, secs: u32) -> Self {
        self.wait_time_secs = i32::try_from(secs.min(20)).unwrap_or(20);
        self
    }

    /// Overrides the visibility timeout of each receive (tests use 0 to redeliver at once).
    #[must_use]
    pub fn visibility_timeout(mut self, secs: u32) -> Self {
        self.visibility_timeout_secs = i32::try_from(secs).ok();
        self
    }

    /// Receives one batch, hands it to `consume` (which returns the failed message ids) and
    /// deletes the rest.
    pub async fn poll_once<F, Fut>(&self, consume: F) -> Result<PollStats, PollError>
    where
        F: FnOnce(Vec<QueueRecord>) -> Fut,
        Fut: Future<Output = Vec<String>>,
    {
        let messages = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(self.wait_time_secs)
            .set_visibility_timeout(self.visibility_timeout_secs)
            .send()
            .await
            .map_err(|e| PollError {
                operation: "ReceiveMessage",
                message: DisplayErrorContext(e).to_string(),
            })?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollStats::default());
        }
        let records = messages
            .iter()
            .map(|m| QueueRecord {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
            })
            .collect();
        let failed = consume(records).await;

        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.iter().any(|id| Some(id.as_str()) == m.message_id()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            self.client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| PollError {
                    operation: "DeleteMessageBatch",
                    message: DisplayErrorContext(e).to_string(),
                })?;
        }
        Ok(PollStats {
            received: messages.len(),
            failed: failed.len(),
        })
    }
}
