//! The items table in DynamoDB, the [`RecordsStore`] port: every sender's records, and the
//! notification outbox.
//!
//! It owns that table's key layout, where the projections are stored, and optimistic concurrency
//! (a `version` attribute); failed conditions come back as domain outcomes. What a record contains,
//! which fields are projected and when a notification is due is each sender's (`senders`); in
//! which order writes happen, the consumer's.
//!
//! Layout: partition key `pk` = `{record kind}#{subject}` (`item#item-10042`,
//! `verification#48342`); sort key `sk` = `record` for the record (attributes `record` (JSON),
//! `version`, `updated_at`, and the sender's projections such as `state` and `verdict`), or
//! `notification#{event key}` for each notification (`kind`, `message`, `notification` (JSON),
//! `event_key`, `created_at`) and the business event announcing it (`event_id`, `bus_source`,
//! `detail_type`, `detail`), with `published_at` once the bus accepted it: the outbox.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use webhook_core::ports::{
    BusinessEvent, RecordId, RecordsStore, Saved, StoreError, StoredNotification, StoredRecord,
};
use webhook_core::senders::Notification;

use crate::events_table::PK;
use crate::sdk::{is_condition_failure, unavailable};

/// The sort key attribute of the items table.
pub const SK: &str = "sk";

const RECORD_SK: &str = "record";
const NOTIFICATION_PREFIX: &str = "notification#";
const RECORD: &str = "record";
const VERSION: &str = "version";
const UPDATED_AT: &str = "updated_at";
const EVENT_ID: &str = "event_id";
const BUS_SOURCE: &str = "bus_source";
const DETAIL_TYPE: &str = "detail_type";
const DETAIL: &str = "detail";
const PUBLISHED_AT: &str = "published_at";

/// The partition key of a record: `{kind}#{subject}`.
pub fn record_pk(id: RecordId<'_>) -> String {
    format!("{}#{}", id.kind, id.subject)
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

    /// Every notification of record `id`, oldest first.
    pub async fn notifications(
        &self,
        id: RecordId<'_>,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let pk = record_pk(id);
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
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
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
                found.push(stored_notification(item)?);
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

impl RecordsStore for ItemsTable {
    async fn load(&self, id: RecordId<'_>) -> Result<Option<StoredRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(record_pk(id)))
            .key(SK, AttributeValue::S(RECORD_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &err))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let json = item
            .get(RECORD)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or(StoreError::Malformed(RECORD))?;
        let version = item
            .get(VERSION)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or(StoreError::Malformed(VERSION))?;
        Ok(Some(StoredRecord { json, version }))
    }

    async fn save(
        &self,
        id: RecordId<'_>,
        json: &str,
        projections: &[(&'static str, Option<String>)],
        expected: Option<u64>,
        now_ms: i64,
    ) -> Result<Saved, StoreError> {
        let mut item = HashMap::from([
            (PK.to_owned(), AttributeValue::S(record_pk(id))),
            (SK.to_owned(), AttributeValue::S(RECORD_SK.to_owned())),
            (RECORD.to_owned(), AttributeValue::S(json.to_owned())),
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

    async fn put_notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        notification: &Notification,
        event: &BusinessEvent,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(record_pk(id)))
            .item(SK, notification_sk(event_key))
            .item("kind", AttributeValue::S(notification.kind.clone()))
            .item("message", AttributeValue::S(notification.message.clone()))
            .item("notification", AttributeValue::S(notification.json.clone()))
            .item("event_key", AttributeValue::S(event_key.to_owned()))
            .item("created_at", AttributeValue::N(now_ms.to_string()))
            .item(EVENT_ID, AttributeValue::S(event.event_id.clone()))
            .item(BUS_SOURCE, AttributeValue::S(event.sender.clone()))
            .item(DETAIL_TYPE, AttributeValue::S(event.detail_type.clone()))
            .item(DETAIL, AttributeValue::S(event.detail.clone()))
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

    async fn notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
    ) -> Result<Option<StoredNotification>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(record_pk(id)))
            .key(SK, notification_sk(event_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &err))?;
        output.item.as_ref().map(stored_notification).transpose()
    }

    async fn mark_published(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(record_pk(id)))
            .key(SK, notification_sk(event_key))
            .update_expression("SET #published = :at")
            .condition_expression("attribute_exists(#sk)")
            .expression_attribute_names("#published", PUBLISHED_AT)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":at", AttributeValue::N(at_ms.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable("UpdateItem", &err)),
        }
    }
}

fn notification_sk(event_key: &str) -> AttributeValue {
    AttributeValue::S(format!("{NOTIFICATION_PREFIX}{event_key}"))
}

/// A notification item (`sk` = `notification#{event key}`) as stored, with its outbox state; for
/// readers of a scan of the table.
pub fn stored_notification(
    item: &HashMap<String, AttributeValue>,
) -> Result<StoredNotification, StoreError> {
    // Notifications stored before there was a bus have no business event.
    let event = match item.get(EVENT_ID) {
        None => None,
        Some(_) => Some(BusinessEvent {
            event_id: attr_s(item, EVENT_ID)?,
            sender: attr_s(item, BUS_SOURCE)?,
            detail_type: attr_s(item, DETAIL_TYPE)?,
            detail: attr_s(item, DETAIL)?,
        }),
    };
    let published_at_ms = match item.get(PUBLISHED_AT) {
        None => None,
        Some(_) => Some(attr_s_n(item, PUBLISHED_AT)?),
    };
    Ok(StoredNotification {
        event_key: attr_s(item, "event_key")?,
        created_at_ms: attr_s_n(item, "created_at")?,
        notification: Notification {
            kind: attr_s(item, "kind")?,
            message: attr_s(item, "message")?,
            json: attr_s(item, "notification")?,
        },
        event,
        published_at_ms,
    })
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
