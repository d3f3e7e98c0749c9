//! Legitmark: item authentication, delivered by Svix with Standard Webhooks signatures.
//!
//! Everything this receiver knows about Legitmark lives in this folder: the payloads
//! (`payload`), the business rules, record and notifications (`rules`), and here the idempotency
//! key, the subject and the record's projections.
//!
//! **Idempotency key.** The Svix message id when present (stable across retries of one delivery,
//! distinct between deliveries); otherwise a digest of event type, `sr_uuid`, state and the event's
//! own `timestamp`. The provider's suggested keys (`sr_uuid + primary + supplement`) would take a
//! second QC-rejection round of the same service request for a duplicate of the first.
//!
//! **Subject.** The partner's `reference_id`, falling back to `sr_uuid`: the item.

pub mod payload;
pub mod rules;

pub use payload::{
    InvalidationReason, LegitmarkEvent, LegitmarkKind, Primary, RejectedSide, SrState, Supplement,
};
pub use rules::{ItemRecord, Notification, QcStatus, Verdict, apply};

use std::borrow::Cow;

use crate::config::Scheme;
use crate::key::{self, IdempotencyKey};
use crate::senders::{EventError, Outcome, Sender, from_body};

/// The Legitmark sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Legitmark;

/// The idempotency key of a Legitmark delivery.
pub fn key(message_id: Option<&str>, event: &LegitmarkEvent) -> IdempotencyKey {
    if let Some(id) = message_id {
        return key::from_message_id(id);
    }
    let (primary, supplement) = event.state().map_or(("", ""), |state| {
        (
            state.primary.as_str(),
            state.supplement.as_ref().map_or("", |s| s.as_str()),
        )
    });
    key::derived(&[
        Legitmark::NAME,
        event.event_type(),
        &event.sr_uuid,
        primary,
        supplement,
        &event.timestamp,
    ])
}

/// Reads a verified Legitmark body.
pub fn parse(body: &[u8]) -> Result<LegitmarkEvent, EventError> {
    from_body(body)
}

impl Sender for Legitmark {
    const NAME: &'static str = "legitmark";
    const SCHEME: Scheme = Scheme::StandardWebhooks;
    const RECORD_KIND: &'static str = "item";
    type Event = LegitmarkEvent;
    type Record = ItemRecord;
    type Notification = Notification;

    fn parse(body: &[u8]) -> Result<LegitmarkEvent, EventError> {
        parse(body)
    }

    fn event_type(event: &LegitmarkEvent) -> Cow<'_, str> {
        Cow::Borrowed(event.event_type())
    }

    fn subject(event: &LegitmarkEvent) -> &str {
        event.subject()
    }

    fn key(message_id: Option<&str>, event: &LegitmarkEvent) -> IdempotencyKey {
        key(message_id, event)
    }

    fn apply(
        current: Option<ItemRecord>,
        event: &LegitmarkEvent,
        key: &str,
    ) -> Outcome<ItemRecord, Notification> {
        apply(current, event, key)
    }

    fn has_applied(record: &ItemRecord, key: &str) -> bool {
        record.timeline.iter().any(|entry| entry.key == key)
    }

    fn projections(record: &ItemRecord) -> Vec<(&'static str, Option<String>)> {
        let text = |value: Option<serde_json::Value>| value?.as_str().map(str::to_owned);
        vec![
            (
                "state",
                record.state.as_ref().map(|s| {
                    let supplement = s.supplement.as_ref().map_or("", |x| x.as_str());
                    format!("{}/{supplement}", s.primary.as_str())
                }),
            ),
            (
                "verdict",
                text(record.verdict.and_then(|v| serde_json::to_value(v).ok())),
            ),
            (
                "qc_status",
                text(record.qc_status.and_then(|v| serde_json::to_value(v).ok())),
            ),
        ]
    }

    fn occurred_at(event: &LegitmarkEvent) -> Option<time::OffsetDateTime> {
        event.occurred_at()
    }

    fn subject_fields(record: &ItemRecord) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([
            ("item_id".to_owned(), record.item_id.clone().into()),
            ("sr_uuid".to_owned(), record.sr_uuid.clone().into()),
            (
                "reference_id".to_owned(),
                record.reference_id.clone().into(),
            ),
        ])
    }
}
