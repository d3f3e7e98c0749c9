//! In-memory adapters of the ports, for fast tests of the services: no server, no network.
//!
//! Each keeps the same conditions as its AWS adapter (a claim is a put-if-absent, a take-over
//! requires the lease that was read, a save requires the version that was read, a notification is
//! put once per event key). Tests can also make an operation fail ([`MemoryFaults::fail`], a
//! retryable error as from an outage) or never return ([`MemoryFaults::stall`]): dropping a request
//! stalled there is exactly a process that died on that line, with every earlier write kept and
//! nothing after it done. Every call is counted, so a test can assert how many calls a path makes.
//!
//! [`MemorySecrets`] is the secret store: secrets put, replaced and removed by the test.
//! [`MemoryBus`] is the event bus: it keeps what it accepted and can refuse chosen entries.
//!
//! The moto suites remain the proof of the AWS adapters' own semantics; these stand-ins are what
//! the services are tested against first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::envelope::EnvelopeMeta;
use crate::ports::{
    BusError, BusinessEvent, Claim, EventBus, EventStatus, EventsLog, NewEvent, Queue, QueueError,
    RecordId, RecordsStore, Saved, SecretStore, SecretStoreError, StoreError, StoredEvent,
    StoredNotification, StoredRecord,
};
use crate::senders::Notification;

/// Faults and call counts of one adapter, by operation name (`claim`, `send`, `save`, ...).
#[derive(Debug, Clone, Default)]
pub struct MemoryFaults(Arc<Mutex<FaultState>>);

#[derive(Debug, Default)]
struct FaultState {
    failing: HashMap<&'static str, u32>,
    stalled: HashMap<&'static str, bool>,
    calls: BTreeMap<&'static str, u64>,
}

impl MemoryFaults {
    /// The next `times` calls of `operation` fail as if the service were unavailable.
    pub fn fail(&self, operation: &'static str, times: u32) {
        lock(&self.0).failing.insert(operation, times);
    }

    /// Every later call of `operation` never returns (until [`Self::unstall`]).
    pub fn stall(&self, operation: &'static str) {
        lock(&self.0).stalled.insert(operation, true);
    }

    /// Lets `operation` return again.
    pub fn unstall(&self, operation: &'static str) {
        lock(&self.0).stalled.remove(operation);
    }

    /// How many times `operation` was called (failed and stalled calls included).
    pub fn calls(&self, operation: &str) -> u64 {
        lock(&self.0).calls.get(operation).copied().unwrap_or(0)
    }

    /// Every call counted so far, by operation.
    pub fn all_calls(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.0).calls.clone()
    }

    /// Forgets the counts.
    pub fn reset_calls(&self) {
        lock(&self.0).calls.clear();
    }

    /// Counts a call, then stalls or fails it if the test asked for that.
    async fn enter(&self, operation: &'static str) -> Result<(), String> {
        let (stalled, failing) = {
            let mut state = lock(&self.0);
            *state.calls.entry(operation).or_default() += 1;
            let stalled = state.stalled.get(operation).copied().unwrap_or(false);
            let failing = match state.failing.get_mut(operation) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            };
            (stalled, failing)
        };
        if stalled {
            std::future::pending::<()>().await;
        }
        if failing {
            return Err(format!("{operation}: injected outage"));
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn outage(operation: &'static str, message: String) -> StoreError {
    StoreError::Unavailable { operation, message }
}

/// One events-log entry as the in-memory log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEvent {
    /// Current status.
    pub status: EventStatus,
    /// Lease expiry, Unix milliseconds.
    pub lease_until_ms: i64,
    /// The current claimant.
    pub claim_token: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// Hex SHA-256 of the body.
    pub body_sha256: String,
    /// Parsed event type, when the body parsed.
    pub event_type: Option<String>,
    /// Item or session, when the body parsed.
    pub subject: Option<String>,
    /// Why it was archived.
    pub note: Option<String>,
    /// When the consumer finished with it.
    pub processed_at_ms: Option<i64>,
}

impl MemoryEvent {
    fn stored(&self) -> StoredEvent {
        StoredEvent {
            status: self.status,
            lease_until_ms: self.lease_until_ms,
            body_sha256: self.body_sha256.clone(),
        }
    }
}

/// The events log in memory. Clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct MemoryEventsLog {
    entries: Arc<Mutex<BTreeMap<(String, String), MemoryEvent>>>,
    /// Faults and call counts.
    pub faults: MemoryFaults,
}

impl MemoryEventsLog {
    /// The entry of `key`, if any.
    pub fn entry(&self, source: &str, key: &str) -> Option<MemoryEvent> {
        lock(&self.entries)
            .get(&(source.to_owned(), key.to_owned()))
            .cloned()
    }

    /// Every entry, by source and key.
    pub fn entries(&self) -> BTreeMap<(String, String), MemoryEvent> {
        lock(&self.entries).clone()
    }

    /// Applies `change` to the entry of `key` if `condition` holds; whether it held.
    fn update(
        &self,
        source: &str,
        key: &str,
        condition: impl FnOnce(&MemoryEvent) -> bool,
        change: impl FnOnce(&mut MemoryEvent),
    ) -> bool {
        let mut entries = lock(&self.entries);
        match entries.get_mut(&(source.to_owned(), key.to_owned())) {
            Some(entry) if condition(entry) => {
                change(entry);
                true
            }
            _ => false,
        }
    }
}

impl EventsLog for MemoryEventsLog {
    async fn claim(&self, event: &NewEvent<'_>) -> Result<Claim, StoreError> {
        self.faults
            .enter("claim")
            .await
            .map_err(|m| outage("PutItem", m))?;
        let mut entries = lock(&self.entries);
        let slot = (event.source.to_owned(), event.key.to_owned());
        if let Some(existing) = entries.get(&slot) {
            return Ok(Claim::Existing(existing.stored()));
        }
        entries.insert(
            slot,
            MemoryEvent {
                status: event.status,
                lease_until_ms: event.lease_until_ms,
                claim_token: event.claim_token.to_owned(),
                body: event.body.to_vec(),
                body_sha256: event.body_sha256.to_owned(),
                event_type: event.event_type.map(str::to_owned),
                subject: event.subject.map(str::to_owned),
                note: event.note.map(str::to_owned),
                processed_at_ms: None,
            },
        );
        Ok(Claim::Claimed)
    }

    async fn get(&self, source: &str, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.faults
            .enter("get")
            .await
            .map_err(|m| outage("GetItem", m))?;
        Ok(self.entry(source, key).map(|e| e.stored()))
    }

    async fn take_over(
        &self,
        source: &str,
        key: &str,
        seen_lease_ms: i64,
        lease_until_ms: i64,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("take_over")
            .await
            .map_err(|m| outage("UpdateItem", m))?;
        Ok(self.update(
            source,
            key,
            |e| e.status == EventStatus::Received && e.lease_until_ms == seen_lease_ms,
            |e| {
                e.lease_until_ms = lease_until_ms;
                claim_token.clone_into(&mut e.claim_token);
            },
        ))
    }

    async fn mark_enqueued(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("mark_enqueued")
            .await
            .map_err(|m| outage("UpdateItem", m))?;
        Ok(self.update(
            source,
            key,
            |e| e.status == EventStatus::Received && e.claim_token == claim_token,
            |e| e.status = EventStatus::Enqueued,
        ))
    }

    async fn release(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("release")
            .await
            .map_err(|m| outage("DeleteItem", m))?;
        let mut entries = lock(&self.entries);
        let slot = (source.to_owned(), key.to_owned());
        let releasable = entries
            .get(&slot)
            .is_some_and(|e| e.status == EventStatus::Received && e.claim_token == claim_token);
        if releasable {
            entries.remove(&slot);
        }
        Ok(releasable)
    }

    async fn mark_done(
        &self,
        source: &str,
        key: &str,
        status: EventStatus,
        note: Option<&str>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("mark_done")
            .await
            .map_err(|m| outage("UpdateItem", m))?;
        Ok(self.update(
            source,
            key,
            |_| true,
            |e| {
                e.status = status;
                e.processed_at_ms = Some(at_ms);
                if let Some(note) = note {
                    e.note = Some(note.to_owned());
                }
            },
        ))
    }
}

/// The records store in memory. Clones share the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecords {
    state: Arc<Mutex<RecordsState>>,
    /// Faults and call counts.
    pub faults: MemoryFaults,
}

/// A saved record and the projections saved with it.
type SavedRecord = (StoredRecord, Vec<(&'static str, Option<String>)>);

#[derive(Debug, Default)]
struct RecordsState {
    records: BTreeMap<(String, String), SavedRecord>,
    notifications: BTreeMap<(String, String), Vec<StoredNotification>>,
}

fn slot(id: RecordId<'_>) -> (String, String) {
    (id.kind.to_owned(), id.subject.to_owned())
}

impl MemoryRecords {
    /// The record `id` as stored, if any.
    pub fn record(&self, id: RecordId<'_>) -> Option<StoredRecord> {
        lock(&self.state)
            .records
            .get(&slot(id))
            .map(|r| r.0.clone())
    }

    /// The projections last saved with record `id`.
    pub fn projections(&self, id: RecordId<'_>) -> Vec<(&'static str, Option<String>)> {
        lock(&self.state)
            .records
            .get(&slot(id))
            .map(|r| r.1.clone())
            .unwrap_or_default()
    }

    /// The notifications of record `id`, in the order they were put.
    pub fn notifications(&self, id: RecordId<'_>) -> Vec<StoredNotification> {
        lock(&self.state)
            .notifications
            .get(&slot(id))
            .cloned()
            .unwrap_or_default()
    }

    /// Every record, by kind and subject.
    pub fn records(&self) -> BTreeMap<(String, String), StoredRecord> {
        lock(&self.state)
            .records
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    }
}

impl RecordsStore for MemoryRecords {
    async fn load(&self, id: RecordId<'_>) -> Result<Option<StoredRecord>, StoreError> {
        self.faults
            .enter("load")
            .await
            .map_err(|m| outage("GetItem", m))?;
        Ok(self.record(id))
    }

    async fn save(
        &self,
        id: RecordId<'_>,
        json: &str,
        projections: &[(&'static str, Option<String>)],
        expected: Option<u64>,
        _now_ms: i64,
    ) -> Result<Saved, StoreError> {
        self.faults
            .enter("save")
            .await
            .map_err(|m| outage("PutItem", m))?;
        let mut state = lock(&self.state);
        let current = state.records.get(&slot(id)).map(|r| r.0.version);
        if current != expected {
            return Ok(Saved::VersionConflict);
        }
        let record = StoredRecord {
            json: json.to_owned(),
            version: expected.map_or(1, |v| v + 1),
        };
        state
            .records
            .insert(slot(id), (record, projections.to_vec()));
        Ok(Saved::Saved)
    }

    async fn put_notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        notification: &Notification,
        event: &BusinessEvent,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("put_notification")
            .await
            .map_err(|m| outage("PutItem", m))?;
        let mut state = lock(&self.state);
        let list = state.notifications.entry(slot(id)).or_default();
        if list.iter().any(|n| n.event_key == event_key) {
            return Ok(false);
        }
        list.push(StoredNotification {
            event_key: event_key.to_owned(),
            created_at_ms: now_ms,
            notification: notification.clone(),
            event: Some(event.clone()),
            published_at_ms: None,
        });
        Ok(true)
    }

    async fn notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
    ) -> Result<Option<StoredNotification>, StoreError> {
        self.faults
            .enter("notification")
            .await
            .map_err(|m| outage("GetItem", m))?;
        Ok(self
            .notifications(id)
            .into_iter()
            .find(|n| n.event_key == event_key))
    }

    async fn mark_published(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.faults
            .enter("mark_published")
            .await
            .map_err(|m| outage("UpdateItem", m))?;
        let mut state = lock(&self.state);
        let found = state
            .notifications
            .get_mut(&slot(id))
            .and_then(|list| list.iter_mut().find(|n| n.event_key == event_key));
        Ok(found.is_some_and(|n| {
            n.published_at_ms = Some(at_ms);
            true
        }))
    }
}

/// The bus in memory: what it accepted, in order. Clones share the same bus.
///
/// Besides [`MemoryFaults`] on `publish` (the whole call fails), [`Self::refuse`] makes it refuse
/// chosen events inside an otherwise successful call, as `PutEvents` reports a failed entry.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    accepted: Arc<Mutex<Vec<BusinessEvent>>>,
    refusals: Arc<Mutex<HashMap<String, u32>>>,
    /// Faults and call counts (the operation is `publish`).
    pub faults: MemoryFaults,
}

impl MemoryBus {
    /// Every event the bus accepted, in order (a copy per acceptance).
    pub fn accepted(&self) -> Vec<BusinessEvent> {
        lock(&self.accepted).clone()
    }

    /// The next `times` entries of the event `event_id` are refused with `InternalFailure`.
    pub fn refuse(&self, event_id: &str, times: u32) {
        lock(&self.refusals).insert(event_id.to_owned(), times);
    }
}

impl EventBus for MemoryBus {
    async fn publish(&self, events: &[BusinessEvent]) -> Result<Vec<Result<(), String>>, BusError> {
        self.faults.enter("publish").await.map_err(BusError)?;
        let mut refusals = lock(&self.refusals);
        let mut accepted = lock(&self.accepted);
        Ok(events
            .iter()
            .map(|event| match refusals.get_mut(&event.event_id) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    Err("InternalFailure".to_owned())
                }
                _ => {
                    accepted.push(event.clone());
                    Ok(())
                }
            })
            .collect())
    }
}

/// One message on the in-memory queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryMessage {
    /// Its id.
    pub message_id: String,
    /// The envelope text.
    pub body: String,
}

/// The queue in memory. Clones share the same queue.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    messages: Arc<Mutex<Vec<MemoryMessage>>>,
    sent: Arc<Mutex<u64>>,
    /// Faults and call counts.
    pub faults: MemoryFaults,
}

impl MemoryQueue {
    /// Takes every message off the queue, oldest first.
    pub fn drain(&self) -> Vec<MemoryMessage> {
        std::mem::take(&mut *lock(&self.messages))
    }

    /// The messages on the queue, oldest first, leaving them there.
    pub fn peek(&self) -> Vec<MemoryMessage> {
        lock(&self.messages).clone()
    }
}

impl Queue for MemoryQueue {
    async fn send(&self, meta: &EnvelopeMeta, payload: &str) -> Result<String, QueueError> {
        self.faults
            .enter("send")
            .await
            .map_err(QueueError::Unavailable)?;
        let body = meta
            .encode(payload)
            .map_err(|e| QueueError::Encode(e.to_string()))?;
        let message_id = {
            let mut sent = lock(&self.sent);
            *sent += 1;
            format!("memory-{}", *sent)
        };
        lock(&self.messages).push(MemoryMessage {
            message_id: message_id.clone(),
            body,
        });
        Ok(message_id)
    }
}

/// The secret store in memory. Clones share the same secrets. Its `Debug` shows the secrets'
/// ids, never their values.
#[derive(Clone, Default)]
pub struct MemorySecrets {
    secrets: Arc<Mutex<BTreeMap<String, String>>>,
    /// Faults and call counts (the operation is `get_secret`).
    pub faults: MemoryFaults,
}

impl std::fmt::Debug for MemorySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = lock(&self.secrets).keys().cloned().collect();
        f.debug_struct("MemorySecrets")
            .field("ids", &ids)
            .field("faults", &self.faults)
            .finish()
    }
}

impl MemorySecrets {
    /// Sets the value of the secret `id` (creating or replacing it).
    pub fn put(&self, id: &str, value: &str) {
        lock(&self.secrets).insert(id.to_owned(), value.to_owned());
    }

    /// Deletes the secret `id`.
    pub fn remove(&self, id: &str) {
        lock(&self.secrets).remove(id);
    }
}

impl SecretStore for MemorySecrets {
    async fn get(&self, id: &str) -> Result<String, SecretStoreError> {
        self.faults
            .enter("get_secret")
            .await
            .map_err(SecretStoreError::Unavailable)?;
        lock(&self.secrets)
            .get(id)
            .cloned()
            .ok_or(SecretStoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn secrets_are_put_replaced_removed_and_can_fail() {
        let store = MemorySecrets::default();
        store.put("arn:one", "first");
        let shared = store.clone();

        assert_eq!(shared.get("arn:one").await, Ok("first".to_owned()));
        store.put("arn:one", "second");
        assert_eq!(shared.get("arn:one").await, Ok("second".to_owned()));
        store.faults.fail("get_secret", 1);
        assert!(matches!(
            shared.get("arn:one").await,
            Err(SecretStoreError::Unavailable(_))
        ));
        store.remove("arn:one");
        assert_eq!(shared.get("arn:one").await, Err(SecretStoreError::NotFound));
        assert_eq!(store.faults.calls("get_secret"), 4);
        let shown = format!("{store:?}");
        assert!(shown.contains("MemorySecrets") && !shown.contains("second"));
    }
}
