//! A port decorator that runs a hook after each write of the adapter it wraps: the one seam that
//! the crash drills and the crash tests both use, so the services themselves carry none.
//!
//! The hook sees the operation (`put_notification`, `save`, `mark_published`, `mark_done`, ...) and the key it
//! wrote under, after the write took effect. Returning an error there leaves exactly the state a
//! process that died right after that write leaves; aborting the process there is a real crash.

use webhook_core::ports::{
    BusinessEvent, Claim, EventStatus, EventsLog, NewEvent, RecordId, RecordsStore, Saved,
    StoreError, StoredEvent, StoredNotification, StoredRecord,
};
use webhook_core::senders::Notification;

/// What runs after a write: `operation` is the port method, `key` the event key or subject.
pub trait AfterWrite: Send + Sync {
    /// Called after each successful write; an error is returned to the caller as the write's.
    fn after(&self, operation: &'static str, key: &str) -> Result<(), StoreError>;
}

impl<F> AfterWrite for F
where
    F: Fn(&'static str, &str) -> Result<(), StoreError> + Send + Sync,
{
    fn after(&self, operation: &'static str, key: &str) -> Result<(), StoreError> {
        self(operation, key)
    }
}

/// `inner`, with `hook` run after every write.
#[derive(Debug, Clone)]
pub struct AfterWrites<T, H> {
    inner: T,
    hook: H,
}

impl<T, H: AfterWrite> AfterWrites<T, H> {
    /// Wraps an adapter.
    pub fn new(inner: T, hook: H) -> Self {
        Self { inner, hook }
    }

    fn then<V>(&self, operation: &'static str, key: &str, value: V) -> Result<V, StoreError> {
        self.hook.after(operation, key).map(|()| value)
    }
}

impl<R: RecordsStore, H: AfterWrite> RecordsStore for AfterWrites<R, H> {
    async fn load(&self, id: RecordId<'_>) -> Result<Option<StoredRecord>, StoreError> {
        self.inner.load(id).await
    }

    async fn save(
        &self,
        id: RecordId<'_>,
        json: &str,
        projections: &[(&'static str, Option<String>)],
        expected: Option<u64>,
        now_ms: i64,
    ) -> Result<Saved, StoreError> {
        let saved = self
            .inner
            .save(id, json, projections, expected, now_ms)
            .await?;
        match saved {
            Saved::Saved => self.then("save", id.subject, saved),
            Saved::VersionConflict => Ok(saved),
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
        let put = self
            .inner
            .put_notification(id, event_key, notification, event, now_ms)
            .await?;
        self.then("put_notification", event_key, put)
    }

    async fn notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
    ) -> Result<Option<StoredNotification>, StoreError> {
        self.inner.notification(id, event_key).await
    }

    async fn mark_published(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let marked = self.inner.mark_published(id, event_key, at_ms).await?;
        self.then("mark_published", event_key, marked)
    }
}

impl<L: EventsLog, H: AfterWrite> EventsLog for AfterWrites<L, H> {
    async fn claim(&self, event: &NewEvent<'_>) -> Result<Claim, StoreError> {
        let claim = self.inner.claim(event).await?;
        self.then("claim", event.key, claim)
    }

    async fn get(&self, source: &str, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.get(source, key).await
    }

    async fn take_over(
        &self,
        source: &str,
        key: &str,
        seen_lease_ms: i64,
        lease_until_ms: i64,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let taken = self
            .inner
            .take_over(source, key, seen_lease_ms, lease_until_ms, claim_token)
            .await?;
        self.then("take_over", key, taken)
    }

    async fn mark_enqueued(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let marked = self.inner.mark_enqueued(source, key, claim_token).await?;
        self.then("mark_enqueued", key, marked)
    }

    async fn release(
        &self,
        source: &str,
        key: &str,
        claim_token: &str,
    ) -> Result<bool, StoreError> {
        let released = self.inner.release(source, key, claim_token).await?;
        self.then("release", key, released)
    }

    async fn mark_done(
        &self,
        source: &str,
        key: &str,
        status: EventStatus,
        note: Option<&str>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let found = self
            .inner
            .mark_done(source, key, status, note, at_ms)
            .await?;
        self.then("mark_done", key, found)
    }
}
