//! The SQS adapter of the consumer: Lambda batch in, batch-item failures out.
//!
//! It owns the translation only; `webhook_core::consumer` decides what succeeded.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use webhook_core::consumer::{Consumer, QueueRecord};
use webhook_core::ports::{EventBus, EventsLog, RecordsStore};

/// Handles one batch. Never fails as a whole: failures are reported per message, so SQS redelivers
/// only those (the event source mapping must enable `ReportBatchItemFailures`).
pub async fn handle<L: EventsLog, R: RecordsStore, B: EventBus>(
    consumer: &Consumer<L, R, B>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let records = event
        .payload
        .records
        .into_iter()
        .map(|message| QueueRecord {
            message_id: message.message_id.unwrap_or_default(),
            body: message.body.unwrap_or_default(),
        })
        .collect();
    let failed = consumer.process_batch(records).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    Ok(response)
}
