//! The consumer: turns a batch of queue messages into records and notifications, exactly once per
//! event although SQS delivers at least once and in any order.
//!
//! It owns the order of writes and the retry classification. Business rules live in `process`;
//! storage details in `items` and `store`. It reports which messages failed so that only those are
//! redelivered; it knows nothing of the Lambda event format (the consumer binary converts).
//!
//! **Idempotency without transactions**, each write conditional on the event key:
//! 1. load the record (consistent read); if its timeline already holds the event key, the event was
//!    applied: skip to 4;
//! 2. the notification, if the event calls for one: a put conditional on `notification#{key}` not
//!    existing, so a redelivery never notifies twice;
//! 3. the record: a put conditional on the version read in 1 (a concurrent writer forces a reload
//!    and a fresh apply);
//! 4. the event's status in the events table: PROCESSED.
//!
//! A crash between any two steps is repaired by the redelivery: the steps before it are no-ops the
//! second time. This costs one read and, for a typical record (under 2 KB), two or three write
//! units per event; a transaction over the same three items would cost twice the write units.
//!
//! **Failures**: a DynamoDB error fails only its message, which SQS redelivers (and, after five
//! receives, moves to the dead-letter queue). A message that can never succeed (an envelope or
//! payload that does not parse) is quarantined in the events table and acknowledged at once, so it
//! neither blocks the batch nor cycles through retries.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::envelope::{Envelope, EnvelopeMeta};
use crate::event::Event;
use crate::headers::Headers;
use crate::ingress::{Clock, InjectedFault};
use crate::items::{ItemsTable, Saved, item_pk, verification_pk};
use crate::metrics;
use crate::process::{
    Disposition, ItemRecord, Outcome, TimelineEntry, VerificationRecord, apply_cr3dentials,
    apply_legitmark,
};
use crate::store::{EventStatus, EventsTable, NewEvent, StoreError};

/// Reloads tried when other writers keep changing the same record.
const MAX_APPLY_ATTEMPTS: usize = 5;
/// Source name under which undecodable queue messages are quarantined.
const UNDECODABLE_SOURCE: &str = "queue";
/// How long quarantined queue messages are kept, in seconds.
const QUARANTINE_RETENTION_S: i64 = 14 * 86_400;

/// A point in handling one message at which a test or a fault drill can stop the consumer: the
/// crash windows that redelivery has to repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The notification is written; the record is not.
    Notified,
    /// The record is written; the event is not yet marked processed.
    Saved,
    /// The message is handled; the batch is not yet answered.
    Handled,
}

/// Runs at each [`Step`] with the event key; an error stops the message there, as if the process
/// had died on that line, and the message is reported failed.
pub type StepHook = Arc<dyn Fn(Step, &str) -> Result<(), InjectedFault> + Send + Sync>;

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
    /// A test or fault drill stopped the message at this step.
    #[error("stopped by an injected fault after step {0:?}")]
    Crashed(Step),
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

/// A record kind the consumer can store.
trait Stored: Serialize + DeserializeOwned {
    fn timeline(&self) -> &[TimelineEntry];
    fn projections(&self) -> Vec<(&'static str, Option<String>)>;
}

impl Stored for ItemRecord {
    fn timeline(&self) -> &[TimelineEntry] {
        &self.timeline
    }

    fn projections(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            (
                "state",
                self.state.as_ref().map(|s| {
                    let supplement = s.supplement.as_ref().map_or("", |x| x.as_str());
                    format!("{}/{supplement}", s.primary.as_str())
                }),
            ),
            (
                "verdict",
                self.verdict
                    .and_then(|v| serde_json::to_value(v).ok())
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
            (
                "qc_status",
                self.qc_status
                    .and_then(|v| serde_json::to_value(v).ok())
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
        ]
    }
}

impl Stored for VerificationRecord {
    fn timeline(&self) -> &[TimelineEntry] {
        &self.timeline
    }

    fn projections(&self) -> Vec<(&'static str, Option<String>)> {
        vec![(
            "status",
            Some(self.status.clone()).filter(|s| !s.is_empty()),
        )]
    }
}

/// The consumer service.
#[derive(Clone)]
pub struct Consumer {
    items: ItemsTable,
    events: EventsTable,
    clock: Clock,
    step_hook: Option<StepHook>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("items", &self.items)
            .field("events", &self.events.name())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer on the system clock.
    pub fn new(items: ItemsTable, events: EventsTable) -> Self {
        Self {
            items,
            events,
            clock: crate::ingress::system_clock(),
            step_hook: None,
        }
    }

    /// Installs a hook that runs at each [`Step`].
    #[must_use]
    pub fn with_step_hook(mut self, hook: StepHook) -> Self {
        self.step_hook = Some(hook);
        self
    }

    fn step(&self, step: Step, key: &str) -> Result<(), ProcessError> {
        match &self.step_hook {
            Some(hook) => hook(step, key).map_err(|_| ProcessError::Crashed(step)),
            None => Ok(()),
        }
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
        let handled = match envelope.event() {
            Err(err) => self.quarantine(meta, &err.to_string()).await?,
            Ok(Event::Legitmark(event)) => {
                self.apply(&item_pk(event.subject()), meta, |current| {
                    apply_legitmark(current, &event, &meta.key)
                })
                .await?
            }
            Ok(Event::Cr3dentials(event)) => {
                self.apply(&verification_pk(event.subject()), meta, |current| {
                    apply_cr3dentials(current, &event, &meta.key)
                })
                .await?
            }
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
        self.step(Step::Handled, &meta.key)?;
        Ok(handled)
    }

    async fn apply<R: Stored>(
        &self,
        pk: &str,
        meta: &EnvelopeMeta,
        apply: impl Fn(Option<R>) -> Outcome<R>,
    ) -> Result<Handled, ProcessError> {
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let current = self.items.load::<R>(pk).await?;
            let version = current.as_ref().map(|(_, v)| *v);
            if let Some((record, _)) = &current {
                if record.timeline().iter().any(|entry| entry.key == meta.key) {
                    self.mark(meta, EventStatus::Processed, None).await?;
                    return Ok(Handled::Duplicate);
                }
            }
            let outcome = apply(current.map(|(record, _)| record));
            let now_ms = (self.clock)();
            if let Some(notification) = &outcome.notification {
                self.items
                    .put_notification(pk, &meta.key, notification, now_ms)
                    .await?;
                self.step(Step::Notified, &meta.key)?;
            }
            let projections = outcome.record.projections();
            match self
                .items
                .save(pk, &outcome.record, &projections, version, now_ms)
                .await?
            {
                Saved::Saved => {
                    self.step(Step::Saved, &meta.key)?;
                    self.mark(meta, EventStatus::Processed, None).await?;
                    return Ok(Handled::Applied(outcome.disposition));
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

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
