//! The items table in DynamoDB: item and verification records, and the notification outbox.
//!
//! It owns that table's layout, optimistic concurrency (a `version` attribute) and SDK error
//! matching; failed conditions come back as domain outcomes. What a record contains and when a
//! notification is due is decided by `process`; in which order writes happen, by `consumer`.
//!
//! Layout: partition key `pk` = `item#{item id}` or `verification#{session id}`; sort key `sk` =
//! `record` for the record (attributes `record` (JSON), `version`, `updated_at`, and readable
//! projections such as `state` and `verdict`), or `notification#{event key}` for each notification
//! (`kind`, `message`, `notification` (JSON), `event_key`, `created_at`).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::process::Notification;
use crate::provision::SK;
use crate::store::{PK, StoreError, is_condition_failure, unavailable};

const RECORD_SK: &str = "record";
const NOTIFICATION_PREFIX: &str = "notification#";
const RECORD: &str = "record";
const VERSION: &str = "version";
const UPDATED_AT: &str = "updated_at";

/// The partition key of a Legitmark item.
pub fn item_pk(item_id: &str) -> String {
    format!("item#{item_id}")
}

/// The partition key of a Cr3dentials verification session.
pub fn verification_pk(session_id: &str) -> String {
    format!("verification#{session_id}")
}

/// The result of a versioned save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written.
    Saved,
    /// Someone else wrote first; reload and apply again.
    VersionConflict,
}

/// A stored notification, newest last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    /// The event that caused it.
    pub event_key: String,
    /// When it was recorded, Unix milliseconds.
    pub created_at_ms: i64,
    /// What to tell the user.
    pub notification: Notification,
}

/// The items table.
#[derive(Debug, Clone)]
pub struct ItemsTable {
    client: Client,
    table: String,
}

impl ItemsTable {
    /// Wraps a client and table name.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client from shared SDK configuration (honours `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// The record under `pk` and its version, read consistently.
    pub async fn load<R: DeserializeOwned>(
        &self,
        pk: &str,
    ) -> Result<Option<(R, u64)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(RECORD_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &err))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let record = item
            .get(RECORD)
            .and_then(|v| v.as_s().ok())
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or(StoreError::Malformed(RECORD))?;
        let version = item
            .get(VERSION)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or(StoreError::Malformed(VERSION))?;
        Ok(Some((record, version)))
    }

    /// Writes `record` if the stored version is still `expected` (`None`: no record yet).
    /// `projections` are readable copies of a few fields, for operators and queries.
    pub async fn save<R: Serialize>(
        &self,
        pk: &str,
        record: &R,
        projections: &[(&str, Option<String>)],
        expected: Option<u64>,
        now_ms: i64,
    ) -> Result<Saved, StoreError> {
        let json = serde_json::to_string(record).map_err(|_| StoreError::Malformed(RECORD))?;
        let mut item = HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (SK.to_owned(), AttributeValue::S(RECORD_SK.to_owned())),
            (RECORD.to_owned(), AttributeValue::S(json)),
            (
                VERSION.to_owned(),
                AttributeValue::N(expected.map_or(1, |v| v + 1).to_string()),
            ),
            (UPDATED_AT.to_owned(), AttributeValue::N(now_ms.to_string())),
        ]);
        for (name, value) in projections {
            if let Some(value) = value {
                item.insert((*name).to_owned(), AttributeValue::S(value.clone()));
            }
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected {
            None => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(version) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(Saved::Saved),
            Err(err) if is_condition_failure(&err) => Ok(Saved::VersionConflict),
            Err(err) => Err(unavailable("PutItem", &err)),
        }
    }

    /// Records a notification for the event `event_key` unless one already exists for it.
    /// Returns `false` when it existed: a redelivered event never notifies twice.
    pub async fn put_notification(
        &self,
        pk: &str,
        event_key: &str,
        notification: &Notification,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(notification)
            .map_err(|_| StoreError::Malformed("notification"))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(pk.to_owned()))
            .item(
                SK,
                AttributeValue::S(format!("{NOTIFICATION_PREFIX}{event_key}")),
            )
            .item("kind", AttributeValue::S(notification.kind().to_owned()))
            .item("message", AttributeValue::S(notification.message()))
            .item("notification", AttributeValue::S(json))
            .item("event_key", AttributeValue::S(event_key.to_owned()))
            .item("created_at", AttributeValue::N(now_ms.to_string()))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable("PutItem", &err)),
        }
    }

    /// Every notification under `pk`, oldest first.
    pub async fn notifications(&self, pk: &str) -> Result<Vec<StoredNotification>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(NOTIFICATION_PREFIX.to_owned()),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| unavailable("Query", &err))?;
            for item in output.items() {
                found.push(StoredNotification {
                    event_key: attr_s(item, "event_key")?,
                    created_at_ms: attr_s_n(item, "created_at")?,
                    notification: serde_json::from_str(&attr_s(item, "notification")?)
                        .map_err(|_| StoreError::Malformed("notification"))?,
                });
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        found.sort_by(|a, b| (a.created_at_ms, &a.event_key).cmp(&(b.created_at_ms, &b.event_key)));
        Ok(found)
    }
}

fn attr_s(
    item: &HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or(StoreError::Malformed(name))
}

fn attr_s_n(item: &HashMap<String, AttributeValue>, name: &'static str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or(StoreError::Malformed(name))
}
