//! Replaying stored events onto the queue: which events may be replayed, and the replay itself.
//!
//! A replay rebuilds the envelope the ingress would have enqueued from the stored raw body, with
//! the event's original idempotency key, so the consumer's idempotency holds: an event it already
//! applied is recognised and changes nothing. It does not choose the events (the operator does,
//! through a listing of `crate::events` or a key) and it never re-verifies signatures: the body was
//! verified when it was received, and its timestamp is long out of the tolerance window by now.

use webhook_aws::events_table::EventRecord;
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ports::{EventStatus, Queue, QueueError};
use webhook_core::senders::{ParsedEvent, Payload};

/// Whether one stored event will be replayed, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// It goes back on the queue.
    Replay,
    /// It is left alone, for this reason.
    Skip(String),
}

impl Plan {
    /// Whether the event will be replayed.
    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replay)
    }
}

/// The rules for replaying `record`, at `now_ms`.
///
/// - Conflict records hold a body that was refused, never the event itself.
/// - An event whose claim is live is being taken in right now.
/// - An applied event is skipped unless `include_processed`: the consumer would ignore it.
/// - The body must parse with today's code (a quarantined event may, once its bug is fixed).
pub fn plan(
    record: &EventRecord,
    payload: Option<&dyn Payload>,
    include_processed: bool,
    now_ms: i64,
) -> Plan {
    let skip = |reason: &str| Plan::Skip(reason.to_owned());
    if record.status == EventStatus::Conflict {
        return skip("conflict record: a refused body kept beside the accepted event");
    }
    if record.status == EventStatus::Received && record.lease_until_ms > now_ms {
        return skip("being received right now (live claim)");
    }
    if record.status == EventStatus::Processed && !include_processed {
        return skip(
            "already applied (the consumer would ignore it; --include-processed sends it)",
        );
    }
    let Some(payload) = payload else {
        return skip("unknown source: set its SOURCE_<NAME>_PAYLOAD");
    };
    match parsed(record, payload) {
        Ok(_) => Plan::Replay,
        Err(ReplayError::Unparseable(reason)) => Plan::Skip(format!("does not parse: {reason}")),
        Err(err) => Plan::Skip(err.to_string()),
    }
}

/// A replay failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The record was listed without its body.
    #[error("the record has no body")]
    NoBody,
    /// The stored body does not parse as its source's payload.
    #[error("{0}")]
    Unparseable(String),
    /// The queue refused it.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

fn parsed<'r>(
    record: &'r EventRecord,
    payload: &dyn Payload,
) -> Result<(Box<dyn ParsedEvent>, &'r str), ReplayError> {
    let body = record.body.as_deref().ok_or(ReplayError::NoBody)?;
    let text = std::str::from_utf8(body).map_err(|e| ReplayError::Unparseable(e.to_string()))?;
    let event = payload
        .parse(body)
        .map_err(|e| ReplayError::Unparseable(e.to_string()))?;
    Ok((event, text))
}

/// Puts `record`, a delivery of `payload`'s sender, back on `queue` under its original key;
/// returns the queue's message id.
pub async fn replay(
    queue: &impl Queue,
    record: &EventRecord,
    payload: &dyn Payload,
) -> Result<String, ReplayError> {
    let (event, text) = parsed(record, payload)?;
    let meta = EnvelopeMeta::for_event(
        &record.source,
        &record.key,
        payload,
        event.as_ref(),
        record.message_id.as_deref(),
        record.received_at_ms,
    );
    Ok(queue.send(&meta, text).await?)
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use webhook_core::senders::{self, Registry};

    use super::*;

    fn record(status: EventStatus, body: &str) -> EventRecord {
        EventRecord {
            source: "cr3dentials".into(),
            key: "derived:abc".into(),
            status,
            received_at_ms: 1_000,
            processed_at_ms: None,
            lease_until_ms: 5_000,
            expires_at_s: None,
            event_type: None,
            subject: None,
            message_id: None,
            note: None,
            body_sha256: String::new(),
            body: Some(body.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    const COMPLETED: &str = r#"{"type":"verification.completed","status":"success","data":{"verificationId":"ver_1","sessionId":7,"status":"VERIFIED"}}"#;

    static SENDERS: LazyLock<Registry> = LazyLock::new(senders::builtin);

    fn cr3dentials() -> Option<&'static dyn Payload> {
        SENDERS.get("cr3dentials").map(|p| p.as_ref())
    }

    #[test]
    fn enqueued_and_stale_received_events_are_replayed() {
        assert_eq!(
            plan(
                &record(EventStatus::Enqueued, COMPLETED),
                cr3dentials(),
                false,
                0
            ),
            Plan::Replay
        );
        assert_eq!(
            plan(
                &record(EventStatus::Received, COMPLETED),
                cr3dentials(),
                false,
                6_000
            ),
            Plan::Replay
        );
    }

    #[test]
    fn live_claims_conflicts_and_unknown_sources_are_skipped() {
        let live = plan(
            &record(EventStatus::Received, COMPLETED),
            cr3dentials(),
            true,
            4_000,
        );
        let conflict = plan(
            &record(EventStatus::Conflict, COMPLETED),
            cr3dentials(),
            true,
            0,
        );
        let unknown = plan(&record(EventStatus::Enqueued, COMPLETED), None, true, 0);
        assert!(!live.is_replay() && !conflict.is_replay() && !unknown.is_replay());
    }

    #[test]
    fn processed_events_are_skipped_unless_asked_for() {
        let processed = record(EventStatus::Processed, COMPLETED);
        assert!(!plan(&processed, cr3dentials(), false, 0).is_replay());
        assert!(plan(&processed, cr3dentials(), true, 0).is_replay());
    }

    #[test]
    fn quarantined_events_replay_only_when_they_parse() {
        let fixed = record(EventStatus::Quarantined, COMPLETED);
        let still_bad = record(EventStatus::Quarantined, "{\"type\": 1}");
        assert!(plan(&fixed, cr3dentials(), false, 0).is_replay());
        assert!(matches!(
            plan(&still_bad, cr3dentials(), false, 0),
            Plan::Skip(reason) if reason.starts_with("does not parse")
        ));
    }
}
