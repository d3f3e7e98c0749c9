//! The events table in DynamoDB, the [`EventsLog`] port: idempotency claims, leases and raw bodies.
//!
//! It owns the item layout and condition expressions for that table, and turns them into domain
//! outcomes (`Claim::Existing`, `false` for a lost race) instead of SDK errors. It decides nothing:
//! the services choose what to do with each outcome. It also reads entries back whole
//! ([`EventsTable::record`]) for the on-call tools, whose listing builds on [`event_record`].
//!
//! Item layout (partition key `pk` = `{source}#{idempotency key}`): `status`, `lease_until` (ms),
//! `claim_token`, `body` (raw bytes), `body_sha256`, `headers` (those needed to verify again),
//! `received_at` (ms), `expires_at` (Unix seconds, the table's TTL attribute), `event_type`,
//! `subject`, `message_id`, `note`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use webhook_core::ports::{Claim, EventStatus, EventsLog, NewEvent, StoreError, StoredEvent};

use crate::sdk::{is_condition_failure, unavailable};

/// The partition key attribute of the events table.
pub const PK: &str = "pk";
/// The status attribute.
pub const STATUS: &str = "status";
/// The TTL attribute (Unix seconds), shared by every table.
pub const EXPIRES_AT: &str = "expires_at";

/// An attribute of the events table.
pub const LEASE_UNTIL: &str = "lease_until";
/// An attribute of the events table.
pub const CLAIM_TOKEN: &str = "claim_token";
/// An attribute of the events table.
pub const BODY: &str = "body";
/// An attribute of the events table.
pub const BODY_SHA256: &str = "body_sha256";
/// An attribute of the events table.
pub const HEADERS: &str = "headers";
/// An attribute of the events table.
pub const RECEIVED_AT: &str = "received_at";
/// An attribute of the events table.
pub const EVENT_TYPE: &str = "event_type";
/// An attribute of the events table.
pub const SUBJECT: &str = "subject";
/// An attribute of the events table.
pub const MESSAGE_ID: &str = "message_id";
/// An attribute of the events table.
pub const SOURCE: &str = "source";
/// An attribute of the events table.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
/// An attribute of the events table.
pub const NOTE: &str = "note";
/// An attribute of the events table.
pub const PROCESSED_AT: &str = "processed_at";
/// What a listing reads: everything but the body.
pub const LISTED: [&str; 14] = [
    PK,
    SOURCE,
    IDEMPOTENCY_KEY,
    STATUS,
    RECEIVED_AT,
    PROCESSED_AT,
    LEASE_UNTIL,
    EXPIRES_AT,
    EVENT_TYPE,
    SUBJECT,
    MESSAGE_ID,
    NOTE,
    BODY_SHA256,
    HEADERS,
];

/// The partition key of an event.
pub fn event_pk(source: &str, key: &str) -> String {
    format!("{source}#{key}")
}

/// A stored event as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Configured source name.
    pub source: String,
    /// Idempotency key (conflict records carry a suffix).
    pub key: String,
    /// Current status.
    pub status: EventStatus,
    /// Receipt time, Unix milliseconds.
    pub received_at_ms: i64,
    /// When the consumer finished with it, Unix milliseconds.
    pub processed_at_ms: Option<i64>,
    /// Lease expiry, Unix milliseconds (0 when none).
    pub lease_until_ms: i64,
    /// Expiry for TTL, Unix seconds.
    pub expires_at_s: Option<i64>,
    /// Parsed event type, when the body parsed.
    pub event_type: Option<String>,
    /// Item or session the event is about, when the body parsed.
    pub subject: Option<String>,
    /// The sender's message id, when it sent one.
    pub message_id: Option<String>,
    /// Why it was archived or quarantined.
    pub note: Option<String>,
    /// Hex SHA-256 of the body.
    pub body_sha256: String,
    /// The raw body; `None` in listings, which leave bodies out.
    pub body: Option<Vec<u8>>,
    /// The stored request headers (those needed to verify again).
    pub headers: Vec<(String, String)>,
}

/// The events table.
#[derive(Debug, Clone)]
pub struct EventsTable {
    client: Client,
    table: String,
}

impl EventsTable {
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

    /// The table name.
    pub fn name(&self) -> &str {
        &self.table
    }

    /// One event with its body and headers, read consistently.
    pub async fn record(&self, source: &str, key: &str) -> Result<Option<EventRecord>, StoreError> {
        self.raw(source, key)
            .await?
            .map(|item| event_record(&item))
            .transpose()
    }

    /// Reads every attribute of a record, for tests and operators. Bodies come back as bytes.
    pub async fn raw(
        &self,
        source: &str,
        key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &err))?;
        Ok(output.item)
    }
}

impl EventsLog for EventsTable {
    /// Writes `event` unless its key exists; a duplicate costs this one call, because the failed
    /// condition returns the existing item.
    async fn claim(&self, event: &NewEvent<'_>) -> Result<Claim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(event)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if is_condition_failure(&err) => {
                let old = err.as_service_error().and_then(|e| match e {
                    PutItemError::ConditionalCheckFailedException(e) => e.item(),
                    _ => None,
                });
                match old {
                    Some(item) => Ok(Claim::Existing(stored_of(item)?)),
                    // Servers that omit the old item: one consistent read instead.
                    None => match self.get(event.source, event.key).await? {
                        Some(stored) => Ok(Claim::Existing(stored)),
                        None => Err(StoreError::Malformed(PK)),
                    },
                }
            }
            Err(err) => Err(unavailable("PutItem", &err)),
        }
    }

    /// Reads a record with a strongly consistent read.
    async fn get(&self, source: &str, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &err))?;
        output.item().map(stored_of).transpose()
    }

    /// Takes over a claim whose lease (`seen_lease_ms`) lapsed without an enqueue. Returns `false`
    /// when another invocation got there first.
    async fn take_over(
        &self,
        source: &str,
        key: &str,
        seen_lease_ms: i64,
        lease_until_ms: i64,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .update_expression("SET #lease = :lease, #token = :token")
            .condition_expression("#status = :received AND #lease = :seen")
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_names("#token", CLAIM_TOKEN)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":lease", number(lease_until_ms))
            .expression_attribute_values(":token", AttributeValue::S(claim_token.into()))
            .expression_attribute_values(":received", status_value(EventStatus::Received))
            .expression_attribute_values(":seen", number(seen_lease_ms))
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    /// Records that the claimant put the event on the queue. Returns `false` when the claim is no
    /// longer this claimant's (taken over, or already processed).
    async fn mark_enqueued(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .update_expression("SET #status = :enqueued")
            .condition_expression("#status = :received AND #token = :token")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#token", CLAIM_TOKEN)
            .expression_attribute_values(":enqueued", status_value(EventStatus::Enqueued))
            .expression_attribute_values(":received", status_value(EventStatus::Received))
            .expression_attribute_values(":token", AttributeValue::S(claim_token.into()))
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    /// Gives up a claim after a failed enqueue, so the sender's retry starts afresh.
    async fn release(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .condition_expression("#status = :received AND #token = :token")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#token", CLAIM_TOKEN)
            .expression_attribute_values(":received", status_value(EventStatus::Received))
            .expression_attribute_values(":token", AttributeValue::S(claim_token.into()))
            .send()
            .await;
        conditional_outcome("DeleteItem", result)
    }

    /// Marks an event processed (or quarantined by the consumer, with a `note`). Returns `false`
    /// when the record no longer exists (its retention ran out); the consumer's own records are
    /// what make processing idempotent, this is the operator's view.
    async fn mark_done(
        &self,
        source: &str,
        key: &str,
        status: EventStatus,
        note: Option<&str>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(event_pk(source, key)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#at", PROCESSED_AT)
            .expression_attribute_values(":status", status_value(status))
            .expression_attribute_values(":at", number(at_ms));
        request = match note {
            Some(note) => request
                .update_expression("SET #status = :status, #at = :at, #note = :note")
                .expression_attribute_names("#note", NOTE)
                .expression_attribute_values(":note", AttributeValue::S(note.to_owned())),
            None => request.update_expression("SET #status = :status, #at = :at"),
        };
        conditional_outcome("UpdateItem", request.send().await)
    }
}

fn conditional_outcome<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(unavailable(operation, &err)),
    }
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn status_value(status: EventStatus) -> AttributeValue {
    AttributeValue::S(status.as_str().into())
}

fn item_of(event: &NewEvent<'_>) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            PK.to_owned(),
            AttributeValue::S(event_pk(event.source, event.key)),
        ),
        (SOURCE.to_owned(), AttributeValue::S(event.source.into())),
        (
            IDEMPOTENCY_KEY.to_owned(),
            AttributeValue::S(event.key.into()),
        ),
        (STATUS.to_owned(), status_value(event.status)),
        (BODY.to_owned(), AttributeValue::B(Blob::new(event.body))),
        (
            BODY_SHA256.to_owned(),
            AttributeValue::S(event.body_sha256.into()),
        ),
        (RECEIVED_AT.to_owned(), number(event.received_at_ms)),
        (EXPIRES_AT.to_owned(), number(event.expires_at_s)),
        (LEASE_UNTIL.to_owned(), number(event.lease_until_ms)),
        (
            CLAIM_TOKEN.to_owned(),
            AttributeValue::S(event.claim_token.into()),
        ),
    ]);
    if !event.headers.is_empty() {
        let headers = event
            .headers
            .iter()
            .map(|(name, value)| (name.to_owned(), AttributeValue::S(value.to_owned())))
            .collect();
        item.insert(HEADERS.to_owned(), AttributeValue::M(headers));
    }
    let optional = [
        (EVENT_TYPE, event.event_type),
        (SUBJECT, event.subject),
        (MESSAGE_ID, event.message_id),
        (NOTE, event.note),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
        }
    }
    item
}

fn stored_of(item: &HashMap<String, AttributeValue>) -> Result<StoredEvent, StoreError> {
    let status = item
        .get(STATUS)
        .and_then(|v| v.as_s().ok())
        .and_then(|s| EventStatus::parse(s))
        .ok_or(StoreError::Malformed(STATUS))?;
    let lease_until_ms = match item.get(LEASE_UNTIL) {
        None => 0,
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or(StoreError::Malformed(LEASE_UNTIL))?,
    };
    let body_sha256 = item
        .get(BODY_SHA256)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or(StoreError::Malformed(BODY_SHA256))?;
    Ok(StoredEvent {
        status,
        lease_until_ms,
        body_sha256,
    })
}

fn text(item: &HashMap<String, AttributeValue>, name: &'static str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn integer(
    item: &HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<Option<i64>, StoreError> {
    item.get(name)
        .map(|v| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or(StoreError::Malformed(name))
        })
        .transpose()
}

/// An entry as operators see it, from its attributes (a listing leaves the body out).
pub fn event_record(item: &HashMap<String, AttributeValue>) -> Result<EventRecord, StoreError> {
    let stored = stored_of(item)?;
    let source = text(item, SOURCE).ok_or(StoreError::Malformed(SOURCE))?;
    let key = text(item, IDEMPOTENCY_KEY).ok_or(StoreError::Malformed(IDEMPOTENCY_KEY))?;
    let mut headers: Vec<(String, String)> = item
        .get(HEADERS)
        .and_then(|v| v.as_m().ok())
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_s().ok()?.clone())))
                .collect()
        })
        .unwrap_or_default();
    headers.sort();
    Ok(EventRecord {
        source,
        key,
        status: stored.status,
        received_at_ms: integer(item, RECEIVED_AT)?.ok_or(StoreError::Malformed(RECEIVED_AT))?,
        processed_at_ms: integer(item, PROCESSED_AT)?,
        lease_until_ms: stored.lease_until_ms,
        expires_at_s: integer(item, EXPIRES_AT)?,
        event_type: text(item, EVENT_TYPE),
        subject: text(item, SUBJECT),
        message_id: text(item, MESSAGE_ID),
        note: text(item, NOTE),
        body_sha256: stored.body_sha256,
        body: item
            .get(BODY)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
        headers,
    })
}
