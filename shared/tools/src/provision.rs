//! Creating the tables and queues outside CloudFormation: for the local stack and integration tests.
//!
//! It owns the resource settings as constants that `template.yaml` must match (a test compares
//! them), so local resources and deployed ones cannot drift apart. Production resources are created
//! by the SAM template, never by this module.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use webhook_aws::events_table::{EXPIRES_AT, PK};
use webhook_aws::items_table::SK;
/// Receives before SQS moves a message to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Dead-letter queue retention: 14 days, the SQS maximum.
pub const DLQ_RETENTION_SECS: u32 = 14 * 86_400;
/// Largest SQS message: 1 MiB, enough for a 256 KiB body in its envelope.
pub const MAX_MESSAGE_BYTES: u32 = 1_048_576;
/// The consumer Lambda's timeout.
pub const CONSUMER_TIMEOUT_SECS: u32 = 30;
/// Visibility timeout: six times the consumer timeout, as AWS advises for Lambda event sources.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 6 * CONSUMER_TIMEOUT_SECS;
/// Records per consumer invocation.
pub const BATCH_SIZE: u32 = 10;

/// Creating a resource failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("creating {resource} failed: {message}")]
pub struct ProvisionError {
    /// Which resource.
    pub resource: String,
    /// The SDK's description.
    pub message: String,
}

fn failed(resource: &str, err: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        resource: resource.to_owned(),
        message: err.to_string(),
    }
}

/// The key schema of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// Partition key attribute (string).
    pub partition_key: &'static str,
    /// Sort key attribute (string), if any.
    pub sort_key: Option<&'static str>,
    /// TTL attribute.
    pub ttl_attribute: &'static str,
}

/// The events table: one item per `{source}#{key}`.
pub const EVENTS_TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: None,
    ttl_attribute: EXPIRES_AT,
};

/// The items table: item and verification records, and their notifications.
pub const ITEMS_TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: Some(SK),
    ttl_attribute: EXPIRES_AT,
};

/// Creates `name` with `spec` (on-demand, TTL on) unless it exists.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: TableSpec,
) -> Result<(), ProvisionError> {
    let exists = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok();
    if !exists {
        let mut keys = vec![(spec.partition_key, KeyType::Hash)];
        keys.extend(spec.sort_key.map(|sk| (sk, KeyType::Range)));
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attribute, key_type) in keys {
            request = request
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(attribute)
                        .key_type(key_type)
                        .build()
                        .map_err(|e| failed(name, e))?,
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(attribute)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| failed(name, e))?,
                );
        }
        request
            .send()
            .await
            .map_err(|e| failed(name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(spec.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| failed(name, e))?,
        )
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            // Enabling TTL twice is refused; that is the state we want.
            let text = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
            if text.contains("already enabled") {
                Ok(())
            } else {
                Err(failed(name, text))
            }
        })
}

/// URLs of the events queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    /// The events queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
}

/// Creates the events queue and its dead-letter queue (redrive after [`MAX_RECEIVE_COUNT`]
/// receives) unless they exist. `visibility_timeout_secs` is normally [`VISIBILITY_TIMEOUT_SECS`];
/// tests shorten it to watch redelivery.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    queue_name: &str,
    dlq_name: &str,
    visibility_timeout_secs: u32,
) -> Result<Queues, ProvisionError> {
    let dlq_url = client
        .create_queue()
        .queue_name(dlq_name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECS.to_string(),
        )
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            MAX_MESSAGE_BYTES.to_string(),
        )
        .send()
        .await
        .map_err(|e| failed(dlq_name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(dlq_name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| failed(dlq_name, "no QueueArn attribute"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    })
    .to_string();
    let queue_url = client
        .create_queue()
        .queue_name(queue_name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            MAX_MESSAGE_BYTES.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| failed(queue_name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .queue_url
        .unwrap_or_default();
    Ok(Queues { queue_url, dlq_url })
}
