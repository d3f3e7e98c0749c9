//! The ports: what the ingress and consumer services need from the outside world, as traits, with
//! the domain's words for what crosses them.
//!
//! - [`EventsLog`]: every delivery's claim, lease, status and raw bytes (claim, take over, mark,
//!   release, archive a conflict or a quarantine).
//! - [`RecordsStore`]: the records users see, saved with a version, and the notification outbox
//!   (each notification with the business event announcing it, and whether it was published).
//! - [`Queue`]: the hand-over from the ingress to the consumer.
//! - [`EventBus`]: where business events go to the user's systems.
//! - [`SecretStore`]: where the sources' credentials are kept when not in the environment.
//!
//! Adapters implement them: DynamoDB, SQS, EventBridge and Secrets Manager in `webhook-aws`, in
//! memory in
//! [`crate::memory`].
//! A lost race is an answer (`Claim::Existing`, `false`, `Saved::VersionConflict`), not an error;
//! errors are what a retry may fix.

use std::future::Future;

use crate::envelope::EnvelopeMeta;
use crate::headers::Headers;
use crate::senders::Notification;

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

/// A storage call failed in a way a retry may fix, or returned something unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The call failed (network, throttling, missing table, ...).
    #[error("{operation} failed: {message}")]
    Unavailable {
        /// The API operation.
        operation: &'static str,
        /// The store's description, which never includes item contents.
        message: String,
    },
    /// A stored item lacks an attribute this code relies on.
    #[error("stored item is missing or has a malformed {0}")]
    Malformed(&'static str),
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

/// The result of a versioned save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written.
    Saved,
    /// Someone else wrote first; reload and apply again.
    VersionConflict,
}

/// A record as stored: its JSON and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The sender's record, serialised.
    pub json: String,
    /// Bumped by every save.
    pub version: u64,
}

/// Where a record lives: its sender's record kind and its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordId<'a> {
    /// `item`, `verification`, ... ([`crate::senders::Sender::RECORD_KIND`]).
    pub kind: &'a str,
    /// The item or session.
    pub subject: &'a str,
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
    /// The business event announcing it (`None` for notifications stored before there was a bus).
    pub event: Option<BusinessEvent>,
    /// When the bus accepted the business event, Unix milliseconds; `None` while unpublished.
    pub published_at_ms: Option<i64>,
}

/// A business event: one decided notification, as the user's systems receive it.
///
/// Stored in the outbox beside its notification before it is published, so every retry publishes
/// exactly these bytes under the same `event_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessEvent {
    /// Stable across every retry and replay of the webhook behind it (see
    /// [`crate::consumer::event_id`]).
    pub event_id: String,
    /// The sender's name: the event's `Source` is the deployment's prefix, a dot, and this.
    pub sender: String,
    /// The event's `DetailType`, e.g. `Item Authenticated`.
    pub detail_type: String,
    /// The detail, a JSON object as documented in `docs/events/`.
    pub detail: String,
}

/// The bus refused a whole `PutEvents` call; nothing of it was published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed: {0}")]
pub struct BusError(pub String);

/// Sending failed; the event is not on the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The envelope could not be serialised.
    #[error("envelope could not be serialised: {0}")]
    Encode(String),
    /// The send call failed.
    #[error("SendMessage failed: {0}")]
    Unavailable(String),
}

/// The events log: one entry per delivery, keyed by source and idempotency key.
pub trait EventsLog: Send + Sync {
    /// Writes `event` unless its key exists; returns the existing entry otherwise.
    fn claim(&self, event: &NewEvent<'_>)
    -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// The entry of `key`, read consistently.
    fn get(
        &self,
        source: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredEvent>, StoreError>> + Send;

    /// Takes over a RECEIVED claim whose lease (`seen_lease_ms`, as read) has lapsed. `false` when
    /// another invocation changed it first.
    fn take_over(
        &self,
        source: &str,
        key: &str,
        seen_lease_ms: i64,
        lease_until_ms: i64,
        claim_token: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that the claimant put the event on the queue. `false` when the claim is no longer
    /// this claimant's.
    fn mark_enqueued(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives up a RECEIVED claim of this claimant, so the sender's retry starts afresh.
    fn release(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks an event processed (or quarantined by the consumer, with a `note`). `false` when the
    /// entry no longer exists (its retention ran out).
    fn mark_done(
        &self,
        source: &str,
        key: &str,
        status: EventStatus,
        note: Option<&str>,
        at_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The records users see, and the notifications the consumer decided on.
pub trait RecordsStore: Send + Sync {
    /// The record `id` and its version, read consistently.
    fn load(
        &self,
        id: RecordId<'_>,
    ) -> impl Future<Output = Result<Option<StoredRecord>, StoreError>> + Send;

    /// Writes the record `id` if its version is still `expected` (`None`: no record yet), with
    /// readable `projections` of a few fields beside it.
    fn save(
        &self,
        id: RecordId<'_>,
        json: &str,
        projections: &[(&'static str, Option<String>)],
        expected: Option<u64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Records the notification of the event `event_key`, with the business event announcing it
    /// (unpublished), unless one exists for it; `false` when it existed, so a redelivered event
    /// never notifies twice.
    fn put_notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        notification: &Notification,
        event: &BusinessEvent,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The notification of the event `event_key`, read consistently, if it has one.
    fn notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
    ) -> impl Future<Output = Result<Option<StoredNotification>, StoreError>> + Send;

    /// Records that the bus accepted the business event of `event_key`'s notification. `false`
    /// when there is no such notification.
    fn mark_published(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        at_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The bus business events are published on.
pub trait EventBus: Send + Sync {
    /// Publishes up to ten events in one call; per event, in order, `Ok` when the bus accepted it
    /// or the bus's error code when it did not (a partial failure is not an `Err`).
    fn publish(
        &self,
        events: &[BusinessEvent],
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, BusError>> + Send;
}

/// The queue between the ingress and the consumer.
pub trait Queue: Send + Sync {
    /// Puts an event on the queue (`payload` is its signed JSON text); returns the message id.
    fn send(
        &self,
        meta: &EnvelopeMeta,
        payload: &str,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;
}

/// Reading a secret failed. Never carries any part of a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretStoreError {
    /// The store has no such secret (or no current value of it).
    #[error("no such secret")]
    NotFound,
    /// The secret's value is binary, not text.
    #[error("the secret's value is not text")]
    NotText,
    /// The call failed (network, throttling, permissions, ...).
    #[error("reading the secret failed: {0}")]
    Unavailable(String),
}

/// Where the sources' credentials are kept, one secret per source (a JSON
/// [`crate::config::SecretDocument`]).
pub trait SecretStore: Send + Sync {
    /// The current text value of the secret `id` (an ARN or a name).
    fn get(&self, id: &str) -> impl Future<Output = Result<String, SecretStoreError>> + Send;
}
