//! The consumer: turns a batch of queue messages into records and notifications, exactly once per
//! event although SQS delivers at least once and in any order.
//!
//! It owns the order of writes and the retry classification. Business rules are each sender's
//! (`senders`); storage is reached through the ports ([`EventsLog`], [`RecordsStore`]). It reports
//! which messages failed so that only those are redelivered; it knows nothing of the Lambda event
//! format (the consumer binary converts).
//!
//! **Idempotency from conditional writes**, no transaction, each write conditional on the event key
//! or the record's version:
//! 1. load the record (consistent read); if it already holds the event key, the event was
//!    applied: skip to 4;
//! 2. the notification, if the event calls for one: a put conditional on no notification of this
//!    event key existing, so a redelivery never notifies twice;
//! 3. the record: a put conditional on the version read in 1 (a concurrent writer forces a reload
//!    and a fresh apply);
//! 4. the event's status in the events log: PROCESSED.
//!
//! **Business events through the outbox.** The notification of step 2 is stored with the business
//! event announcing it ([`BusinessEvent`]: an `event_id` derived from the source and event key, so
//! the same for every retry and replay), unpublished. Once the batch is applied, the unpublished
//! events are put on the bus ([`EventBus`], up to ten per call) and each is marked published only
//! after the bus accepted that entry. Entries refused (a failed call, or a failed entry in an
//! accepted call) are tried again a few times; an event still unpublished fails its message, and
//! the redelivery, finding the event applied, publishes what is still unpublished. A replayed
//! webhook finds its notification published and publishes nothing. The bus may receive one event
//! twice (a crash after it accepted the entry and before the mark); never two ids for one event.
//!
//! A crash between any two steps is repaired by the redelivery: the steps before it are no-ops the
//! second time. This costs one read and, for a typical record (under 2 KB), two or three write
//! units per event; a transaction over the same three items would cost twice the write units.
//!
//! **Failures**: a storage error fails only its message, which SQS redelivers (and, after five
//! receives, moves to the dead-letter queue). A message that can never succeed (an envelope,
//! sender or payload this build does not read) is quarantined in the events log and acknowledged
//! at once, so it neither blocks the batch nor cycles through retries.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use tracing::{info, warn};

use crate::clock::{Clock, system_clock};
use crate::envelope::{Envelope, EnvelopeMeta};
use crate::headers::Headers;
use crate::metrics;
use crate::ports::{
    BusError, BusinessEvent, EventBus, EventStatus, EventsLog, NewEvent, RecordId, RecordsStore,
    Saved, StoreError, StoredNotification,
};
use crate::senders::{self, Announcement, Decision, Notice, ParsedEvent, Payload, Registry};
use crate::timeline::Disposition;

/// Reloads tried when other writers keep changing the same record.
const MAX_APPLY_ATTEMPTS: usize = 5;
/// Source name under which undecodable queue messages are quarantined.
const UNDECODABLE_SOURCE: &str = "queue";
/// How long quarantined queue messages are kept, in seconds.
const QUARANTINE_RETENTION_S: i64 = 14 * 86_400;
/// Rounds of `PutEvents` for the entries of one batch before their messages fail.
const PUBLISH_ATTEMPTS: u32 = 3;
/// The pause before the second round; doubled before each later one.
const PUBLISH_BACKOFF: Duration = Duration::from_millis(50);
/// Entries per `PutEvents` call (the API's limit).
const PUBLISH_CHUNK: usize = 10;

/// The business event id of the event `key` from `source`: 32 hex digits of a SHA-256 over both,
/// so the same webhook always gets the same id and two webhooks never share one.
pub fn event_id(source: &str, key: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("{source}\n{key}").as_bytes());
    hex::encode(&digest[..16])
}

/// The business event of `announcement`, decided at `now_ms` for the event `meta` describes.
fn business_event(announcement: Announcement, meta: &EnvelopeMeta, now_ms: i64) -> BusinessEvent {
    let event_id = event_id(&meta.source, &meta.key);
    let occurred_at = announcement
        .occurred_at
        .or_else(|| senders::rfc3339_utc_ms(now_ms));
    let mut detail = announcement.fields;
    detail.insert("event_id".into(), event_id.clone().into());
    detail.insert("occurred_at".into(), occurred_at.into());
    detail.insert("source".into(), meta.source.clone().into());
    BusinessEvent {
        event_id,
        sender: meta.payload_kind.clone(),
        detail_type: announcement.detail_type.to_owned(),
        detail: serde_json::Value::Object(detail).to_string(),
    }
}

/// A business event still to publish, with the messages waiting on it.
#[derive(Debug, Clone)]
struct Unpublished {
    message_ids: Vec<String>,
    kind: &'static str,
    subject: String,
    event_key: String,
    event: BusinessEvent,
    /// Why the bus last refused it.
    refused_for: String,
}

/// The bus of a consumer that publishes nothing (see [`Consumer::new`]); never called.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBus;

impl EventBus for NoBus {
    async fn publish(&self, _: &[BusinessEvent]) -> Result<Vec<Result<(), String>>, BusError> {
        Err(BusError("no bus is configured".to_owned()))
    }
}

/// One message as the event source mapping delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// SQS message id, reported back on failure.
    pub message_id: String,
    /// Message body (an envelope).
    pub body: String,
}

/// Why a message was not handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// Worth retrying: SQS redelivers the message.
    #[error("retryable: {0}")]
    Retryable(#[from] StoreError),
    /// Other writers kept changing the record; retrying later will get through.
    #[error("record kept changing under concurrent writers")]
    Contended,
    /// Applied, but its business event is not on the bus yet; the redelivery publishes it.
    #[error("business event not published: {0}")]
    Unpublished(String),
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Applied; the disposition says whether it became the current state.
    Applied(Disposition),
    /// Already applied before (a redelivery).
    Duplicate,
    /// Could never be applied; archived and acknowledged.
    Quarantined,
}

impl Handled {
    fn metric(self) -> &'static str {
        match self {
            Self::Applied(Disposition::OutOfOrder) => "out_of_order",
            Self::Applied(_) => "processed",
            Self::Duplicate => "duplicate",
            Self::Quarantined => "quarantined",
        }
    }
}

/// The consumer service: the senders it knows, the events log, the records store, the bus
/// business events go to, and a clock.
#[derive(Clone)]
pub struct Consumer<L, R, B = NoBus> {
    registry: Registry,
    events: L,
    records: R,
    bus: Option<B>,
    clock: Clock,
}

impl<L, R, B> std::fmt::Debug for Consumer<L, R, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("registry", &self.registry)
            .field("publishes", &self.bus.is_some())
            .finish_non_exhaustive()
    }
}

impl<L: EventsLog, R: RecordsStore> Consumer<L, R> {
    /// A consumer of the built-in senders on the system clock, with no bus: its business events
    /// are stored in the outbox and stay unpublished until [`Self::with_bus`].
    pub fn new(records: R, events: L) -> Self {
        Self {
            registry: senders::builtin(),
            events,
            records,
            bus: None,
            clock: system_clock(),
        }
    }
}

impl<L: EventsLog, R: RecordsStore, B: EventBus> Consumer<L, R, B> {
    /// Publishes business events on `bus`.
    #[must_use]
    pub fn with_bus<B2: EventBus>(self, bus: B2) -> Consumer<L, R, B2> {
        Consumer {
            registry: self.registry,
            events: self.events,
            records: self.records,
            bus: Some(bus),
            clock: self.clock,
        }
    }

    /// Replaces the senders it knows.
    #[must_use]
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Handles a batch; returns the message ids that failed and must be redelivered.
    ///
    /// Messages about the same item or session are applied one after another in batch order;
    /// different ones concurrently.
    pub async fn process_batch(&self, records: Vec<QueueRecord>) -> Vec<String> {
        // Each body is decoded once: for grouping here, and for handling below.
        type Decoded = (QueueRecord, Result<Envelope, serde_json::Error>);
        let mut groups: BTreeMap<String, Vec<Decoded>> = BTreeMap::new();
        for record in records {
            let decoded = Envelope::decode(&record.body);
            let group = match &decoded {
                Ok(envelope) => format!("{}#{}", envelope.meta.source, envelope.meta.subject),
                Err(_) => format!("undecodable#{}", record.message_id),
            };
            groups.entry(group).or_default().push((record, decoded));
        }
        let outcomes = join_all(groups.into_values().map(|group| async move {
            let mut failed = Vec::new();
            let mut unpublished = Vec::new();
            for (record, decoded) in group {
                match self.handle(&record, decoded).await {
                    Ok((_, pending)) => unpublished.extend(pending),
                    Err(err) => {
                        warn!(message_id = %record.message_id, error = %err, "message failed; SQS will redeliver it");
                        metrics::count("consumer", "failed", (self.clock)());
                        failed.push(record.message_id);
                    }
                }
            }
            (failed, unpublished)
        }))
        .await;
        let (failed, unpublished): (Vec<_>, Vec<_>) = outcomes.into_iter().unzip();
        let mut failed: Vec<String> = failed.into_iter().flatten().collect();
        for (message_id, err) in self
            .publish(unpublished.into_iter().flatten().collect())
            .await
        {
            warn!(message_id = %message_id, error = %err, "business event not published; SQS will redeliver the message");
            failed.push(message_id);
        }
        failed
    }

    /// Handles one message, publishing its business event if it has one.
    pub async fn process(&self, record: &QueueRecord) -> Result<Handled, ProcessError> {
        let (handled, pending) = self.handle(record, Envelope::decode(&record.body)).await?;
        match self.publish(pending.into_iter().collect()).await.pop() {
            Some((_, err)) => Err(ProcessError::Unpublished(err)),
            None => Ok(handled),
        }
    }

    /// Puts `pending` on the bus and marks what it accepted; the messages whose event is still
    /// unpublished after [`PUBLISH_ATTEMPTS`] rounds, with the last reason.
    async fn publish(&self, pending: Vec<Unpublished>) -> Vec<(String, String)> {
        let Some(bus) = &self.bus else {
            return Vec::new();
        };
        // One event, one entry: messages of the same event in one batch share it.
        let mut left: Vec<Unpublished> = Vec::new();
        for item in pending {
            match left
                .iter_mut()
                .find(|p| p.event.event_id == item.event.event_id)
            {
                Some(same) => same.message_ids.extend(item.message_ids),
                None => left.push(item),
            }
        }
        let mut failed = Vec::new();
        for round in 0..PUBLISH_ATTEMPTS {
            if left.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(PUBLISH_BACKOFF * 2u32.pow(round - 1)).await;
            }
            let mut refused = Vec::new();
            for chunk in left.chunks(PUBLISH_CHUNK) {
                let events: Vec<BusinessEvent> = chunk.iter().map(|p| p.event.clone()).collect();
                let results = match bus.publish(&events).await {
                    Ok(results) if results.len() == chunk.len() => results,
                    Ok(_) => vec![Err("answer did not match the entries".to_owned()); chunk.len()],
                    Err(err) => vec![Err(err.to_string()); chunk.len()],
                };
                for (item, result) in chunk.iter().zip(results) {
                    let id = RecordId {
                        kind: item.kind,
                        subject: &item.subject,
                    };
                    match result {
                        Ok(()) => {
                            metrics::count("consumer", "published", (self.clock)());
                            let marked = self
                                .records
                                .mark_published(id, &item.event_key, (self.clock)())
                                .await;
                            if let Err(err) = marked {
                                // Published but not marked: the redelivery publishes it again
                                // under the same id rather than leave it looking unpublished.
                                let err = err.to_string();
                                failed.extend(
                                    item.message_ids.iter().map(|m| (m.clone(), err.clone())),
                                );
                            }
                        }
                        Err(code) => {
                            warn!(event_id = %item.event.event_id, error = %code, round, "business event refused by the bus");
                            refused.push(Unpublished {
                                refused_for: code,
                                ..item.clone()
                            });
                        }
                    }
                }
            }
            left = refused;
        }
        for item in left {
            metrics::count("consumer", "publish_failed", (self.clock)());
            let reason = item.refused_for;
            failed.extend(item.message_ids.into_iter().map(|m| (m, reason.clone())));
        }
        failed
    }

    async fn handle(
        &self,
        record: &QueueRecord,
        decoded: Result<Envelope, serde_json::Error>,
    ) -> Result<(Handled, Option<Unpublished>), ProcessError> {
        let envelope = match decoded {
            Ok(envelope) => envelope,
            Err(err) => {
                let handled = self
                    .quarantine_undecodable(record, &err.to_string())
                    .await?;
                return Ok((handled, None));
            }
        };
        let meta = &envelope.meta;
        let (handled, pending) = match envelope.sender(&self.registry) {
            None => (
                self.quarantine(meta, "no sender of this payload kind is registered")
                    .await?,
                None,
            ),
            Some(payload) => match payload.parse(envelope.payload.get().as_bytes()) {
                Err(err) => (self.quarantine(meta, &err.to_string()).await?, None),
                Ok(event) => {
                    let (handled, business) = self.apply(payload, event.as_ref(), meta).await?;
                    let pending = business.map(|business| Unpublished {
                        message_ids: vec![record.message_id.clone()],
                        kind: payload.record_kind(),
                        subject: event.subject().to_owned(),
                        event_key: meta.key.clone(),
                        event: business,
                        refused_for: String::new(),
                    });
                    (handled, pending)
                }
            },
        };
        info!(
            source = %meta.source,
            key = %meta.key,
            event_type = %meta.event_type,
            subject = %meta.subject,
            outcome = handled.metric(),
            "event handled"
        );
        metrics::count("consumer", handled.metric(), (self.clock)());
        Ok((handled, pending))
    }

    /// Applies the event; with its business event if that is still to publish.
    async fn apply(
        &self,
        payload: &dyn Payload,
        event: &dyn ParsedEvent,
        meta: &EnvelopeMeta,
    ) -> Result<(Handled, Option<BusinessEvent>), ProcessError> {
        let id = RecordId {
            kind: payload.record_kind(),
            subject: event.subject(),
        };
        // This call's notification once it is stored: `Some(event)` if this call stored it,
        // `None` if an earlier delivery had.
        let mut stored: Option<Option<BusinessEvent>> = None;
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let current = self.records.load(id).await?;
            let version = current.as_ref().map(|r| r.version);
            let decision = event
                .apply(current.as_ref().map(|r| r.json.as_str()), &meta.key)
                .map_err(|_| StoreError::Malformed("record"))?;
            let change = match decision {
                Decision::AlreadyApplied => {
                    self.mark(meta, EventStatus::Processed, None).await?;
                    let unpublished = self.unpublished(id, &meta.key).await?;
                    return Ok((Handled::Duplicate, unpublished));
                }
                Decision::Apply(change) => change,
            };
            let now_ms = (self.clock)();
            if let (None, Some(notice)) = (&stored, change.notification) {
                let Notice {
                    notification,
                    announcement,
                } = *notice;
                let business = business_event(announcement, meta, now_ms);
                let fresh = self
                    .records
                    .put_notification(id, &meta.key, &notification, &business, now_ms)
                    .await?;
                stored = Some(fresh.then_some(business));
            }
            match self
                .records
                .save(id, &change.record, &change.projections, version, now_ms)
                .await?
            {
                Saved::Saved => {
                    self.mark(meta, EventStatus::Processed, None).await?;
                    // Stored by an earlier attempt (put refused as existing), or by an attempt
                    // that crashed before its save while this one, now out of order, decides no
                    // notification: either way, what is stored is what to publish.
                    let unpublished = match stored {
                        Some(Some(business)) => Some(business),
                        Some(None) | None => self.unpublished(id, &meta.key).await?,
                    };
                    return Ok((Handled::Applied(change.disposition), unpublished));
                }
                Saved::VersionConflict => continue,
            }
        }
        Err(ProcessError::Contended)
    }

    /// The stored business event of `key`'s notification if it is not published yet (and a bus
    /// is configured to publish it).
    async fn unpublished(
        &self,
        id: RecordId<'_>,
        key: &str,
    ) -> Result<Option<BusinessEvent>, StoreError> {
        if self.bus.is_none() {
            return Ok(None);
        }
        Ok(self.records.notification(id, key).await?.and_then(
            |StoredNotification {
                 event,
                 published_at_ms,
                 ..
             }| { event.filter(|_| published_at_ms.is_none()) },
        ))
    }

    async fn mark(
        &self,
        meta: &EnvelopeMeta,
        status: EventStatus,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let found = self
            .events
            .mark_done(&meta.source, &meta.key, status, note, (self.clock)())
            .await?;
        if !found {
            warn!(source = %meta.source, key = %meta.key, "event record gone (retention); marker not written");
        }
        Ok(())
    }

    async fn quarantine(&self, meta: &EnvelopeMeta, reason: &str) -> Result<Handled, ProcessError> {
        warn!(source = %meta.source, key = %meta.key, reason, "payload cannot be applied: quarantined");
        self.mark(meta, EventStatus::Quarantined, Some(reason))
            .await?;
        Ok(Handled::Quarantined)
    }

    async fn quarantine_undecodable(
        &self,
        record: &QueueRecord,
        reason: &str,
    ) -> Result<Handled, ProcessError> {
        warn!(message_id = %record.message_id, reason, "queue message is not an envelope: quarantined");
        let now_ms = (self.clock)();
        let key = format!("sqs:{}", record.message_id);
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            record.body.as_bytes(),
        ));
        let headers = Headers::default();
        self.events
            .claim(&NewEvent {
                source: UNDECODABLE_SOURCE,
                key: &key,
                status: EventStatus::Quarantined,
                body: record.body.as_bytes(),
                body_sha256: &sha,
                headers: &headers,
                event_type: None,
                subject: None,
                message_id: Some(&record.message_id),
                received_at_ms: now_ms,
                expires_at_s: now_ms
                    .div_euclid(1000)
                    .saturating_add(QUARANTINE_RETENTION_S),
                lease_until_ms: 0,
                claim_token: "consumer",
                note: Some(reason),
            })
            .await?;
        metrics::count("consumer", "quarantined", now_ms);
        Ok(Handled::Quarantined)
    }
}
