//! Creating the tables, queues and the sources' secrets outside CloudFormation: for the local stack
//! and integration tests.
//!
//! It owns the resource settings as constants that `template.yaml` must match (a test compares
//! them), so local resources and deployed ones cannot drift apart. Production resources are created
//! by the SAM template, never by this module. The local stack keeps each source's credentials in a
//! Secrets Manager secret made from its `SOURCE_<NAME>_*` variables, as a deployed stack does.
//! Its business events bus has one rule, which a deployed stack does not: every business event
//! goes to a local SQS queue (the tap), where a person, `webhookctl bus watch` or a test reads
//! what the user's systems would receive.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
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

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    /// `S`.
    String,
    /// `N`.
    Number,
}

impl AttributeKind {
    /// The `AttributeType` letter of CloudFormation and the DynamoDB API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::String => "S",
            Self::Number => "N",
        }
    }

    fn scalar(self) -> ScalarAttributeType {
        match self {
            Self::String => ScalarAttributeType::S,
            Self::Number => ScalarAttributeType::N,
        }
    }
}

/// A key attribute of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    /// The attribute.
    pub name: &'static str,
    /// Its type.
    pub kind: AttributeKind,
}

/// A global secondary index projecting every attribute (`Projection: ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name.
    pub name: &'static str,
    /// Its partition key.
    pub partition_key: KeyAttribute,
    /// Its sort key, if any.
    pub sort_key: Option<KeyAttribute>,
}

/// The key schema, TTL attribute and global secondary indexes of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// Partition key attribute (string).
    pub partition_key: &'static str,
    /// Sort key attribute (string), if any.
    pub sort_key: Option<&'static str>,
    /// TTL attribute, if the table expires items.
    pub ttl_attribute: Option<&'static str>,
    /// Global secondary indexes.
    pub indexes: &'static [IndexSpec],
}

/// The events table: one item per `{source}#{key}`, expiring after the retention period.
pub const EVENTS_TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: None,
    ttl_attribute: Some(EXPIRES_AT),
    indexes: &[],
};

/// The items table: item and verification records, and their notifications; nothing expires.
pub const ITEMS_TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: Some(SK),
    ttl_attribute: None,
    indexes: &[],
};

fn key_element(
    table: &str,
    attribute: &str,
    key_type: KeyType,
) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder()
        .attribute_name(attribute)
        .key_type(key_type)
        .build()
        .map_err(|e| failed(table, e))
}

/// Creates `name` with `spec` (on-demand; TTL on where the spec names an attribute) unless it
/// exists.
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
        let mut attributes: Vec<(&str, AttributeKind)> = keys
            .iter()
            .map(|(attribute, _)| (*attribute, AttributeKind::String))
            .collect();
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attribute, key_type) in keys {
            request = request.key_schema(key_element(name, attribute, key_type)?);
        }
        for index in spec.indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .key_schema(key_element(name, index.partition_key.name, KeyType::Hash)?);
            attributes.push((index.partition_key.name, index.partition_key.kind));
            if let Some(sort_key) = index.sort_key {
                gsi = gsi.key_schema(key_element(name, sort_key.name, KeyType::Range)?);
                attributes.push((sort_key.name, sort_key.kind));
            }
            request = request.global_secondary_indexes(gsi.build().map_err(|e| failed(name, e))?);
        }
        let mut defined: Vec<&str> = Vec::new();
        for (attribute, kind) in attributes {
            if defined.contains(&attribute) {
                continue;
            }
            defined.push(attribute);
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(kind.scalar())
                    .build()
                    .map_err(|e| failed(name, e))?,
            );
        }
        request
            .send()
            .await
            .map_err(|e| failed(name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    let Some(ttl_attribute) = spec.ttl_attribute else {
        return Ok(());
    };
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(ttl_attribute)
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
    let dlq_arn = queue_arn(client, &dlq_url, dlq_name).await?;
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

/// The ARN of the queue `name` at `url`.
async fn queue_arn(
    client: &aws_sdk_sqs::Client,
    url: &str,
    name: &str,
) -> Result<String, ProvisionError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| failed(name, "no QueueArn attribute"))
}

/// The local business events bus and its tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusTap {
    /// The bus name.
    pub bus: String,
    /// The URL of the queue every business event of the prefix is delivered to.
    pub tap_url: String,
}

/// Creates the event bus `bus` unless it exists, the queue `tap_queue`, and a rule on the bus
/// (`{bus}-tap`) that delivers every event whose source begins with `{source_prefix}.` to it.
pub async fn ensure_bus(
    aws: &aws_config::SdkConfig,
    bus: &str,
    source_prefix: &str,
    tap_queue: &str,
) -> Result<BusTap, ProvisionError> {
    use aws_sdk_eventbridge::error::DisplayErrorContext;
    use aws_sdk_eventbridge::operation::create_event_bus::CreateEventBusError;
    use aws_sdk_eventbridge::types::Target;

    let events = aws_sdk_eventbridge::Client::new(aws);
    match events.create_event_bus().name(bus).send().await {
        Ok(_) => {}
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(CreateEventBusError::ResourceAlreadyExistsException(_))
            ) => {}
        Err(err) => return Err(failed(bus, DisplayErrorContext(err))),
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    let tap_url = sqs
        .create_queue()
        .queue_name(tap_queue)
        .send()
        .await
        .map_err(|e| failed(tap_queue, aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .queue_url
        .unwrap_or_default();
    let tap_arn = queue_arn(&sqs, &tap_url, tap_queue).await?;
    let rule = format!("{bus}-tap");
    let pattern = serde_json::json!({ "source": [{ "prefix": format!("{source_prefix}.") }] });
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(|e| failed(&rule, DisplayErrorContext(e)))?;
    let target = Target::builder()
        .id("tap")
        .arn(tap_arn)
        .build()
        .map_err(|e| failed(&rule, e))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(|e| failed(&rule, DisplayErrorContext(e)))?;
    Ok(BusTap {
        bus: bus.to_owned(),
        tap_url,
    })
}

/// Gives the Secrets Manager secret `name` the text `value`, creating it if need be; its ARN.
pub async fn ensure_secret(
    aws: &aws_config::SdkConfig,
    name: &str,
    value: &str,
) -> Result<String, ProvisionError> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;

    let client = aws_sdk_secretsmanager::Client::new(aws);
    let arn = match client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
    {
        Ok(created) => created.arn,
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(CreateSecretError::ResourceExistsException(_))
            ) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| failed(name, DisplayErrorContext(e)))?
                .arn
        }
        Err(err) => return Err(failed(name, DisplayErrorContext(err))),
    };
    arn.ok_or_else(|| failed(name, "the answer has no ARN"))
}

/// Puts the credentials `env` gives each source of `WEBHOOK_SOURCES` (`SOURCE_<NAME>_SECRETS`,
/// `_AUTH_HEADER_NAME`, `_AUTH_HEADER_VALUE`, validated as the ingress would) into the secret
/// `{name_prefix}{source}`, as the ingress reads it; each source's `SOURCE_<NAME>_SECRET_ARN`
/// variable and value.
pub async fn ensure_source_secrets(
    aws: &aws_config::SdkConfig,
    env: &impl webhook_core::config::Env,
    name_prefix: &str,
) -> Result<Vec<(String, String)>, ProvisionError> {
    use webhook_core::config::{self, SecretDocument};

    let list = env
        .var("WEBHOOK_SOURCES")
        .ok_or_else(|| failed("secrets", "WEBHOOK_SOURCES is not set"))?;
    let registry = webhook_core::senders::builtin();
    let mut vars = Vec::new();
    for source in list.split([',', ' ']).filter(|n| !n.is_empty()) {
        let name = format!("{name_prefix}{source}");
        let (_, scheme) = config::source_sender(env, &registry, source)
            .ok_or_else(|| failed(&name, format!("no sender for source {source}")))?;
        let document =
            SecretDocument::from_env(env, source, scheme).map_err(|e| failed(&name, e))?;
        let arn = ensure_secret(aws, &name, &document.to_json()).await?;
        vars.push((format!("{}SECRET_ARN", config::source_prefix(source)), arn));
    }
    Ok(vars)
}
