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
//! A crash between any two steps is repaired by the redelivery: the steps before it are no-ops the
//! second time. This costs one read and, for a typical record (under 2 KB), two or three write
//! units per event; a transaction over the same three items would cost twice the write units.
//!
//! **Failures**: a storage error fails only its message, which SQS redelivers (and, after five
//! receives, moves to the dead-letter queue). A message that can never succeed (an envelope,
//! sender or payload this build does not read) is quarantined in the events log and acknowledged
//! at once, so it neither blocks the batch nor cycles through retries.

use std::collections::BTreeMap;

use futures::future::join_all;
use tracing::{info, warn};

use crate::clock::{Clock, system_clock};
use crate::envelope::{Envelope, EnvelopeMeta};
use crate::headers::Headers;
use crate::metrics;
use crate::ports::{EventStatus, EventsLog, NewEvent, RecordId, RecordsStore, Saved, StoreError};
use crate::senders::{self, Decision, ParsedEvent, Payload, Registry};
use crate::timeline::Disposition;

/// Reloads tried when other writers keep changing the same record.
const MAX_APPLY_ATTEMPTS: usize = 5;
/// Source name under which undecodable queue messages are quarantined.
const UNDECODABLE_SOURCE: &str = "queue";
/// How long quarantined queue messages are kept, in seconds.
const QUARANTINE_RETENTION_S: i64 = 14 * 86_400;

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

/// The consumer service: the senders it knows, the events log, the records store and a clock.
#[derive(Clone)]
pub struct Consumer<L, R> {
    registry: Registry,
    events: L,
    records: R,
    clock: Clock,
}

impl<L, R> std::fmt::Debug for Consumer<L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<L: EventsLog, R: RecordsStore> Consumer<L, R> {
    /// A consumer of the built-in senders on the system clock.
    pub fn new(records: R, events: L) -> Self {
        Self {
            registry: senders::builtin(),
            events,
            records,
            clock: system_clock(),
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
        let failures = join_all(groups.into_values().map(|group| async move {
            let mut failed = Vec::new();
            for (record, decoded) in group {
                if let Err(err) = self.handle(&record, decoded).await {
                    warn!(message_id = %record.message_id, error = %err, "message failed; SQS will redeliver it");
                    metrics::count("consumer", "failed", (self.clock)());
                    failed.push(record.message_id);
                }
            }
            failed
        }))
        .await;
        failures.into_iter().flatten().collect()
    }

    /// Handles one message.
    pub async fn process(&self, record: &QueueRecord) -> Result<Handled, ProcessError> {
        self.handle(record, Envelope::decode(&record.body)).await
    }

    async fn handle(
        &self,
        record: &QueueRecord,
        decoded: Result<Envelope, serde_json::Error>,
    ) -> Result<Handled, ProcessError> {
        let envelope = match decoded {
            Ok(envelope) => envelope,
            Err(err) => return self.quarantine_undecodable(record, &err.to_string()).await,
        };
        let meta = &envelope.meta;
        let handled = match envelope.sender(&self.registry) {
            None => {
                self.quarantine(meta, "no sender of this payload kind is registered")
                    .await?
            }
            Some(payload) => match payload.parse(envelope.payload.get().as_bytes()) {
                Err(err) => self.quarantine(meta, &err.to_string()).await?,
                Ok(event) => self.apply(payload, event.as_ref(), meta).await?,
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
        Ok(handled)
    }

    async fn apply(
        &self,
        payload: &dyn Payload,
        event: &dyn ParsedEvent,
        meta: &EnvelopeMeta,
    ) -> Result<Handled, ProcessError> {
        let id = RecordId {
            kind: payload.record_kind(),
            subject: event.subject(),
        };
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let current = self.records.load(id).await?;
            let version = current.as_ref().map(|r| r.version);
            let decision = event
                .apply(current.as_ref().map(|r| r.json.as_str()), &meta.key)
                .map_err(|_| StoreError::Malformed("record"))?;
            let change = match decision {
                Decision::AlreadyApplied => {
                    self.mark(meta, EventStatus::Processed, None).await?;
                    return Ok(Handled::Duplicate);
                }
                Decision::Apply(change) => change,
            };
            let now_ms = (self.clock)();
            if let Some(notification) = &change.notification {
                self.records
                    .put_notification(id, &meta.key, notification, now_ms)
                    .await?;
            }
            match self
                .records
                .save(id, &change.record, &change.projections, version, now_ms)
                .await?
            {
                Saved::Saved => {
                    self.mark(meta, EventStatus::Processed, None).await?;
                    return Ok(Handled::Applied(change.disposition));
                }
                Saved::VersionConflict => continue,
            }
        }
        Err(ProcessError::Contended)
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
