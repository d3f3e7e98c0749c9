//! Reading the tables and queues after a run, straight from the protocol server (never through
//! the fault proxy): waiting for the queue to drain, scanning both tables (the notification
//! outbox included), then draining the business events tap.
//!
//! It owns the AWS calls of the reconciliation, the stored records and the tapped EventBridge
//! events as read back (notification items are read as `webhook_aws::items_table` stores them,
//! through its `stored_notification`); judging what it reads is `reconcile`'s job.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use webhook_aws::events_table::{PK, STATUS};
use webhook_aws::items_table::{SK, stored_notification};
use webhook_core::ports::StoreError;

use crate::reconcile::{Observed, Outboxed, Record, Tapped};

/// A read failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A DynamoDB or SQS call failed.
    #[error("{operation} failed: {message}")]
    Call {
        /// The API operation.
        operation: &'static str,
        /// The SDK's description.
        message: String,
    },
    /// A stored item is not in the shape the consumer writes.
    #[error("{table} item {pk} has no readable {attribute}")]
    Malformed {
        /// The table.
        table: String,
        /// The item's partition key.
        pk: String,
        /// The attribute.
        attribute: &'static str,
    },
}

fn call<E: std::fmt::Display>(operation: &'static str) -> impl Fn(E) -> SnapshotError {
    move |err| SnapshotError::Call {
        operation,
        message: err.to_string(),
    }
}

/// The clients and names to read.
#[derive(Debug, Clone)]
pub struct Tables {
    /// DynamoDB, on the protocol server.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// SQS, on the protocol server.
    pub sqs: aws_sdk_sqs::Client,
    /// The events table.
    pub events_table: String,
    /// The items table.
    pub items_table: String,
    /// The events queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
    /// The queue a rule on the business events bus delivers every business event to.
    pub tap_url: String,
    /// The business events' source prefix (`EVENT_SOURCE_PREFIX`): sources are `<prefix>.<sender>`.
    pub bus_source_prefix: String,
}

/// How long to read the tap: until every expected business event arrived and the tap is empty, or
/// until nothing arrived for `quiet`, and never longer than `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapWait {
    /// The tap may stay silent this long before the arrivals count as complete.
    pub quiet: Duration,
    /// The longest the tap is read.
    pub limit: Duration,
}

/// Messages on a queue: visible, in flight (received, not yet deleted) and delayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and neither deleted nor back yet.
    pub in_flight: u64,
    /// Not yet visible.
    pub delayed: u64,
}

impl Depth {
    /// Nothing on the queue.
    pub fn is_empty(self) -> bool {
        self.visible + self.in_flight + self.delayed == 0
    }
}

impl Tables {
    /// The depth of `queue_url`.
    pub async fn depth(&self, queue_url: &str) -> Result<Depth, SnapshotError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| call("GetQueueAttributes")(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .attributes
            .unwrap_or_default();
        let n = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Depth {
            visible: n(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    /// Waits until the events queue has been empty for `settle` (a batch the consumer is still
    /// working on counts as in flight), or until it has made no progress for `stall`: a queue
    /// that shrinks, however slowly, is still being worked off. Returns the last depth seen.
    pub async fn wait_for_drain(
        &self,
        settle: Duration,
        stall: Duration,
        mut progress: impl FnMut(Depth),
    ) -> Result<Depth, SnapshotError> {
        let mut empty_since: Option<Instant> = None;
        let mut fewest = u64::MAX;
        let mut progressed = Instant::now();
        let mut last_report = Instant::now();
        loop {
            let depth = self.depth(&self.queue_url).await?;
            let total = depth.visible + depth.in_flight + depth.delayed;
            if total < fewest {
                fewest = total;
                progressed = Instant::now();
            }
            if depth.is_empty() {
                let since = *empty_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= settle {
                    return Ok(depth);
                }
            } else {
                empty_since = None;
                if last_report.elapsed() >= Duration::from_secs(10) {
                    progress(depth);
                    last_report = Instant::now();
                }
                if progressed.elapsed() >= stall {
                    return Ok(depth);
                }
            }
            // Counting a queue's messages is not free for the protocol server either.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Every item of `table`, read consistently.
    async fn scan(
        &self,
        table: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, SnapshotError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| call("Scan")(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Both tables and the dead-letter queue's depth.
    pub async fn observe(&self) -> Result<Observed, SnapshotError> {
        let mut observed = Observed::default();
        for item in self.scan(&self.events_table).await? {
            let pk = text(&item, PK).unwrap_or_default();
            let status = text(&item, STATUS).ok_or_else(|| SnapshotError::Malformed {
                table: self.events_table.clone(),
                pk: pk.clone(),
                attribute: STATUS,
            })?;
            observed.events.insert(pk, status);
        }
        for item in self.scan(&self.items_table).await? {
            let pk = text(&item, PK).unwrap_or_default();
            let sk = text(&item, SK).unwrap_or_default();
            let malformed = |attribute| SnapshotError::Malformed {
                table: self.items_table.clone(),
                pk: pk.clone(),
                attribute,
            };
            let attribute = |name| text(&item, name).ok_or_else(|| malformed(name));
            if sk == "record" {
                let record =
                    Record::from_json(&attribute("record")?).map_err(|_| malformed("record"))?;
                observed.records.insert(pk.clone(), record);
            } else if sk.starts_with("notification#") {
                let stored = stored_notification(&item).map_err(|err| match err {
                    StoreError::Malformed(attribute) => malformed(attribute),
                    StoreError::Unavailable { .. } => malformed("notification"),
                })?;
                // The sender's own notification as JSON (tagged by its kind), as the consumer
                // writes it; `reconcile` compares it by value.
                serde_json::from_str::<serde_json::Value>(&stored.notification.json)
                    .map_err(|_| malformed("notification"))?;
                // The outbox: the business event announcing the notification, and whether the
                // bus accepted it.
                let event = stored.event.as_ref();
                observed.outbox.push(Outboxed {
                    pk: pk.clone(),
                    event_key: stored.event_key.clone(),
                    kind: stored.notification.kind.clone(),
                    event_id: event.map(|e| e.event_id.clone()),
                    sender: event.map(|e| e.sender.clone()),
                    detail_type: event.map(|e| e.detail_type.clone()),
                    published: stored.published_at_ms.is_some(),
                });
                observed
                    .notifications
                    .push((pk.clone(), stored.event_key, stored.notification));
            }
        }
        let dlq = self.depth(&self.dlq_url).await?;
        observed.dlq_messages = dlq.visible + dlq.in_flight + dlq.delayed;
        observed.bus_source_prefix = self.bus_source_prefix.clone();
        Ok(observed)
    }

    /// Receives and deletes every message on the tap, as [`TapWait`] says, and returns them in
    /// the order received. `expected` are the business event ids the outbox holds: once all of
    /// them arrived and the tap is empty, there is nothing left to wait for (a copy is delivered
    /// by the same `PutEvents` call as its first arrival, never later). `progress` is called with
    /// the messages and the distinct expected ids so far, at most every ten seconds.
    pub async fn drain_tap(
        &self,
        expected: &HashSet<&str>,
        wait: TapWait,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Tapped>, SnapshotError> {
        let started = Instant::now();
        let mut last_arrival = Instant::now();
        let mut last_report = Instant::now();
        let mut tapped: Vec<Tapped> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.tap_url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|e| call("ReceiveMessage")(aws_sdk_sqs::error::DisplayErrorContext(e)))?
                .messages
                .unwrap_or_default();
            if !messages.is_empty() {
                last_arrival = Instant::now();
                self.delete_from_tap(&messages).await?;
                for message in &messages {
                    let event = Tapped::from_body(message.body().unwrap_or_default());
                    if let Some(id) = event.event_id.as_deref()
                        && expected.contains(id)
                    {
                        seen.insert(id.to_owned());
                    }
                    tapped.push(event);
                }
                if last_report.elapsed() >= Duration::from_secs(10) {
                    progress(tapped.len(), seen.len());
                    last_report = Instant::now();
                }
                continue;
            }
            if started.elapsed() >= wait.limit || last_arrival.elapsed() >= wait.quiet {
                return Ok(tapped);
            }
            if seen.len() == expected.len() && self.depth(&self.tap_url).await?.is_empty() {
                return Ok(tapped);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn delete_from_tap(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
    ) -> Result<(), SnapshotError> {
        let mut batch = self.sqs.delete_message_batch().queue_url(&self.tap_url);
        for (n, message) in messages.iter().enumerate() {
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
                .map_err(call("DeleteMessageBatch"))?;
            batch = batch.entries(entry);
        }
        let output = batch
            .send()
            .await
            .map_err(|e| call("DeleteMessageBatch")(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        // A message left on the tap would come back and pass for a copy.
        match output.failed().first() {
            None => Ok(()),
            Some(failed) => Err(SnapshotError::Call {
                operation: "DeleteMessageBatch",
                message: format!("entry {} failed: {}", failed.id(), failed.code()),
            }),
        }
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}
