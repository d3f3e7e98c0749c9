//! The events table in DynamoDB: idempotency claims, leases and raw bodies.
//!
//! It owns the item layout, condition expressions and SDK error matching for that table, and turns
//! them into domain outcomes (`Claim::Existing`, `false` for a lost race) instead of SDK errors. It
//! decides nothing: the ingress state machine (`ingress`) chooses what to do with each outcome.
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

use crate::headers::Headers;

/// The partition key attribute of the events table.
pub const PK: &str = "pk";
/// The status attribute.
pub const STATUS: &str = "status";
/// The TTL attribute (Unix seconds), shared by every table.
pub const EXPIRES_AT: &str = "expires_at";

const LEASE_UNTIL: &str = "lease_until";
const CLAIM_TOKEN: &str = "claim_token";
const BODY: &str = "body";
const BODY_SHA256: &str = "body_sha256";
const HEADERS: &str = "headers";
const RECEIVED_AT: &str = "received_at";
const EVENT_TYPE: &str = "event_type";
const SUBJECT: &str = "subject";
const MESSAGE_ID: &str = "message_id";
const SOURCE: &str = "source";
const IDEMPOTENCY_KEY: &str = "idempotency_key";
const NOTE: &str = "note";
const PROCESSED_AT: &str = "processed_at";
/// What a listing reads: everything but the body.
const LISTED: [&str; 14] = [
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

/// How far an event has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Claimed by an ingress invocation, not yet on the queue.
    Received,
    /// On the queue.
    Enqueued,
    /// Applied by the consumer.
    Processed,
    /// Authentic but unparseable: archived, never queued.
    Quarantined,
    /// Same key as an earlier event but a different body: archived beside it.
    Conflict,
}

impl EventStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "RECEIVED",
            Self::Enqueued => "ENQUEUED",
            Self::Processed => "PROCESSED",
            Self::Quarantined => "QUARANTINED",
            Self::Conflict => "CONFLICT",
        }
    }

    /// The status with this stored value (`ENQUEUED`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Received,
            Self::Enqueued,
            Self::Processed,
            Self::Quarantined,
            Self::Conflict,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A DynamoDB call failed in a way a retry may fix, or returned something unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The call failed (network, throttling, missing table, ...).
    #[error("DynamoDB {operation} failed: {message}")]
    Unavailable {
        /// The API operation.
        operation: &'static str,
        /// The SDK's description, which never includes item contents.
        message: String,
    },
    /// A stored item lacks an attribute this code relies on.
    #[error("stored event is missing or has a malformed {0}")]
    Malformed(&'static str),
}

/// A failed SDK call as a retryable store error (shared with `items`).
///
/// The message names the failure kind and the service's error code and message, never the raw
/// response: for a conditional write that can hold a stored webhook body.
pub(crate) fn unavailable<E, R>(operation: &'static str, err: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable {
        operation,
        message: sdk_failure(err),
    }
}

/// A short, body-free description of an SDK failure.
pub(crate) fn sdk_failure<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{err}: {code}: {message}"),
        (Some(code), None) => format!("{err}: {code}"),
        _ => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

/// Whether a call failed only because its condition did not hold (shared with `items`).
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The partition key of an event.
pub fn event_pk(source: &str, key: &str) -> String {
    format!("{source}#{key}")
}

/// Everything written when an event is first recorded.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Configured source name.
    pub source: &'a str,
    /// Idempotency key (or, for archive records, the key plus a suffix).
    pub key: &'a str,
    /// Initial status.
    pub status: EventStatus,
    /// The raw body as received.
    pub body: &'a [u8],
    /// Hex SHA-256 of `body`.
    pub body_sha256: &'a str,
    /// Headers needed to verify the body again (never credentials).
    pub headers: &'a Headers,
    /// Parsed event type, when the body parsed.
    pub event_type: Option<&'a str>,
    /// Item or session the event is about, when the body parsed.
    pub subject: Option<&'a str>,
    /// The sender's message id, when it sent one.
    pub message_id: Option<&'a str>,
    /// Receipt time, Unix milliseconds.
    pub received_at_ms: i64,
    /// Expiry for TTL, Unix seconds.
    pub expires_at_s: i64,
    /// Until when the claim is held, Unix milliseconds.
    pub lease_until_ms: i64,
    /// Identifies the claimant, so only it can release or complete the claim.
    pub claim_token: &'a str,
    /// Why it was archived (quarantine and conflict records).
    pub note: Option<&'a str>,
}

/// What the ingress needs to know of an existing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Current status.
    pub status: EventStatus,
    /// Lease expiry, Unix milliseconds (0 when none).
    pub lease_until_ms: i64,
    /// Hex SHA-256 of the stored body.
    pub body_sha256: String,
}

/// The result of a conditional first write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This call created the record.
    Claimed,
    /// A record with this key already exists.
    Existing(StoredEvent),
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

/// Which events a listing returns; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this source.
    pub source: Option<String>,
    /// Only this status.
    pub status: Option<EventStatus>,
    /// Only events about this item or session.
    pub subject: Option<String>,
    /// Received at or after, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Received before, Unix milliseconds.
    pub until_ms: Option<i64>,
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

    /// Writes `event` unless its key exists; a duplicate costs this one call, because the failed
    /// condition returns the existing item.
    pub async fn claim(&self, event: &NewEvent<'_>) -> Result<Claim, StoreError> {
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
    pub async fn get(&self, source: &str, key: &str) -> Result<Option<StoredEvent>, StoreError> {
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
    pub async fn take_over(
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
    pub async fn mark_enqueued(
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
    pub async fn release(
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
    pub async fn mark_done(
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

    /// One event with its body and headers, read consistently.
    pub async fn record(&self, source: &str, key: &str) -> Result<Option<EventRecord>, StoreError> {
        self.raw(source, key)
            .await?
            .map(|item| record_of(&item))
            .transpose()
    }

    /// Every event matching `filter`, newest first, without bodies.
    ///
    /// A filtered Scan reads the whole table: fine for an operator's occasional question over a
    /// table whose items expire after the retention period, not for a hot path.
    pub async fn list(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression(
                LISTED
                    .iter()
                    .map(|name| format!("#{name}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        for name in LISTED {
            request = request.expression_attribute_names(format!("#{name}"), name);
        }
        let mut conditions = Vec::new();
        if let Some(source) = &filter.source {
            conditions.push(format!("#{SOURCE} = :source"));
            request =
                request.expression_attribute_values(":source", AttributeValue::S(source.clone()));
        }
        if let Some(status) = filter.status {
            conditions.push(format!("#{STATUS} = :status"));
            request = request.expression_attribute_values(":status", status_value(status));
        }
        if let Some(subject) = &filter.subject {
            conditions.push(format!("#{SUBJECT} = :subject"));
            request =
                request.expression_attribute_values(":subject", AttributeValue::S(subject.clone()));
        }
        if let Some(since) = filter.since_ms {
            conditions.push(format!("#{RECEIVED_AT} >= :since"));
            request = request.expression_attribute_values(":since", number(since));
        }
        if let Some(until) = filter.until_ms {
            conditions.push(format!("#{RECEIVED_AT} < :until"));
            request = request.expression_attribute_values(":until", number(until));
        }
        if !conditions.is_empty() {
            request = request.filter_expression(conditions.join(" AND "));
        }

        let mut records = Vec::new();
        let mut start = None;
        loop {
            let output = request
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| unavailable("Scan", &err))?;
            for item in output.items() {
                records.push(record_of(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        records.sort_by(|a, b| {
            (b.received_at_ms, &b.source, &b.key).cmp(&(a.received_at_ms, &a.source, &a.key))
        });
        Ok(records)
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

fn record_of(item: &HashMap<String, AttributeValue>) -> Result<EventRecord, StoreError> {
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
