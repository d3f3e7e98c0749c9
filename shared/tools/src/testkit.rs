//! Test support (never in a Lambda build): the local defaults, signed sample
//! requests in the function-URL format, and AWS clients pointed at the moto server that
//! `make test` starts.
//!
//! It owns no behaviour under test; it only builds inputs the way a sender and the function URL
//! would, and resources the way `provision` does in the local stack.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

pub mod stub;

use crate::provision;
use crate::sender;
use webhook_core::config::{Env, IngressConfig};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The local defaults (`local.env`), as a map, with the one rule every local command follows: a
/// value already in the environment wins.
pub fn local_env() -> BTreeMap<String, String> {
    let path = repo_root().join("local.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            let name = k.trim().to_owned();
            let value = std::env::var(&name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| v.trim().to_owned());
            (name, value)
        })
        .collect()
}

fn local(var: &str) -> String {
    local_env()
        .var(var)
        .unwrap_or_else(|| panic!("{var} missing from local.env"))
}

/// A sample payload from `events/payloads/` (e.g. `legitmark/media_rejected.json`).
pub fn payload(relative: &str) -> Vec<u8> {
    let path = repo_root().join("events/payloads").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

/// Ingress configuration from the local defaults, with this test's table and queue.
pub fn ingress_config(events_table: &str, queue_url: &str) -> IngressConfig {
    ingress_config_with(events_table, queue_url, &[])
}

/// Ingress configuration from the local defaults with some variables changed (`None` unsets one).
pub fn ingress_config_with(
    events_table: &str,
    queue_url: &str,
    changes: &[(&str, Option<&str>)],
) -> IngressConfig {
    let mut env = local_env();
    env.insert("EVENTS_TABLE".into(), events_table.into());
    env.insert("QUEUE_URL".into(), queue_url.into());
    for (var, value) in changes {
        match value {
            Some(value) => env.insert((*var).to_owned(), (*value).to_owned()),
            None => env.remove(*var),
        };
    }
    IngressConfig::from_env(&env).unwrap_or_else(|e| panic!("not a valid config: {e}"))
}

/// Headers a Svix sender would send for `body` with the local Legitmark secret.
pub fn legitmark_headers(message_id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    sender::legitmark_headers(
        &local("SOURCE_LEGITMARK_SECRETS"),
        message_id,
        timestamp,
        body,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Headers Cr3dentials would send for `body` with the local secret and static header.
pub fn cr3dentials_headers(body: &[u8]) -> Vec<(String, String)> {
    let (name, value) = (
        local("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME"),
        local("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE"),
    );
    sender::cr3dentials_headers(
        &local("SOURCE_CR3DENTIALS_SECRETS"),
        Some((&name, &value)),
        body,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A Lambda function-URL event (payload format 2.0) as AWS delivers it.
pub fn function_url_event(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
) -> Value {
    sender::function_url_event(
        method,
        path,
        headers,
        body,
        base64,
        &uuid::Uuid::new_v4().to_string(),
    )
}

/// SDK configuration for the moto server started by `make test`.
///
/// # Panics
/// When `AWS_ENDPOINT_URL` is unset: these tests need the real protocol server, and silently
/// skipping them would hide exactly the behaviour they exist to check.
pub async fn moto_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run these tests with `make test`, which starts a moto server"
    );
    aws_config::load_from_env().await
}

/// A resource name unique to this test run.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The business events' source prefix in tests (as in `local.env`).
pub const TEST_SOURCE_PREFIX: &str = "webhooks";

/// Fresh events table, items table, queues and business events bus (with its tap) on moto.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Shared SDK configuration.
    pub aws: aws_config::SdkConfig,
    /// Events table name.
    pub events_table: String,
    /// Items table name.
    pub items_table: String,
    /// Queue URLs.
    pub queues: provision::Queues,
    /// The business events bus and the queue its every event is delivered to.
    pub bus: provision::BusTap,
}

impl Stack {
    /// Creates a new, empty set of resources with the given queue visibility timeout.
    pub async fn new(visibility_timeout_secs: u32) -> Self {
        let aws = moto_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let events_table = unique("events");
        let items_table = unique("items");
        provision::ensure_table(&dynamo, &events_table, provision::EVENTS_TABLE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        provision::ensure_table(&dynamo, &items_table, provision::ITEMS_TABLE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let queue = unique("queue");
        let queues = provision::ensure_queues(
            &sqs,
            &queue,
            &format!("{queue}-dlq"),
            visibility_timeout_secs,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let bus_name = unique("bus");
        let bus = provision::ensure_bus(
            &aws,
            &bus_name,
            TEST_SOURCE_PREFIX,
            &format!("{bus_name}-tap"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        Self {
            aws,
            events_table,
            items_table,
            queues,
            bus,
        }
    }

    /// The stack's bus as the consumer publishes to it.
    pub fn event_bus(&self) -> webhook_aws::EventBridgeBus {
        webhook_aws::EventBridgeBus::from_sdk_config(&self.aws, &self.bus.bus, TEST_SOURCE_PREFIX)
    }

    /// Receives (and deletes) every business event delivered to the tap so far, as the JSON a
    /// rule's target receives.
    pub async fn tapped(&self) -> Vec<serde_json::Value> {
        self.drain(&self.bus.tap_url)
            .await
            .iter()
            .map(|m| {
                serde_json::from_str(m.body().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("a tapped message is not JSON: {e}"))
            })
            .collect()
    }

    /// A DynamoDB client.
    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws)
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    /// Every item in `table`.
    pub async fn scan(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamo()
            .scan()
            .table_name(table)
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "scan {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })
            .items
            .unwrap_or_default()
    }

    /// Receives (and deletes) every message currently visible on `queue_url`.
    pub async fn drain(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let sqs = self.sqs();
        let mut all = Vec::new();
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("receive: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
                })
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                return all;
            }
            for message in &batch {
                if let Some(handle) = message.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!("delete: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
                        });
                }
            }
            all.extend(batch);
        }
    }
}
