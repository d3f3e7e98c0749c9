//! Cr3dentials: identity and income verification, authenticated by a hex HMAC-SHA256 in
//! `x-webhook-signature` and/or a static header.
//!
//! Everything this receiver knows about Cr3dentials lives in this folder: the payloads
//! (`payload`), the business rules, record and notifications (`rules`), and here the idempotency
//! key, the subject and the record's projections.
//!
//! Two payload generations are live, both taken (`payload`): the verification-level webhook and
//! the session-level one. Both write the session's record.
//!
//! **Idempotency key.** Cr3dentials sends no message id. A verification reaches one detailed
//! status once, so `type + verificationId + data.status` separates distinct verification-level
//! events while all retries of one share the key; a session reaches one terminal status once, and
//! its docs say to deduplicate on `sessionId`, so the session-level key is `sessionId + status`.
//!
//! **Subject.** The partner's session id (`data.sessionId`, or the session-level `sessionId`) as
//! text.

pub mod payload;
pub mod rules;

pub use payload::{
    Cr3dentialsEvent, Delivery, OverallStatus, SessionEvent, SessionId, SessionStatus,
    VerificationData, VerificationEventType,
};
pub use rules::{Notification, SessionOutcome, VerificationRecord, apply, apply_session};

use std::borrow::Cow;

use crate::config::Scheme;
use crate::key::{self, IdempotencyKey};
use crate::senders::{EventError, Outcome, Sender, from_body};

/// The Cr3dentials sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cr3dentials;

/// The idempotency key of a Cr3dentials delivery: the message id if a sender ever provides one,
/// else `type`, `verificationId` and the detailed `data.status`.
pub fn key(message_id: Option<&str>, event: &Cr3dentialsEvent) -> IdempotencyKey {
    if let Some(id) = message_id {
        return key::from_message_id(id);
    }
    key::derived(&[
        Cr3dentials::NAME,
        event.event_type(),
        &event.data.verification_id,
        &event.data.status,
    ])
}

/// The idempotency key of a session-level delivery: `sessionId` and the terminal status.
pub fn session_key(message_id: Option<&str>, event: &SessionEvent) -> IdempotencyKey {
    if let Some(id) = message_id {
        return key::from_message_id(id);
    }
    key::derived(&[
        Cr3dentials::NAME,
        "session",
        event.session_id.as_str(),
        event.status.as_str(),
    ])
}

/// Reads a verified verification-level body (see [`Delivery::parse`] for either generation).
pub fn parse(body: &[u8]) -> Result<Cr3dentialsEvent, EventError> {
    from_body(body)
}

impl Sender for Cr3dentials {
    const NAME: &'static str = "cr3dentials";
    const SCHEME: Scheme = Scheme::HexHmac;
    const RECORD_KIND: &'static str = "verification";
    type Event = Delivery;
    type Record = VerificationRecord;
    type Notification = Notification;

    fn parse(body: &[u8]) -> Result<Delivery, EventError> {
        Delivery::parse(body)
    }

    fn event_type(event: &Delivery) -> Cow<'_, str> {
        match event {
            Delivery::Verification(event) => Cow::Borrowed(event.event_type()),
            Delivery::Session(event) => Cow::Owned(event.event_type()),
        }
    }

    fn subject(event: &Delivery) -> &str {
        event.subject()
    }

    fn key(message_id: Option<&str>, event: &Delivery) -> IdempotencyKey {
        match event {
            Delivery::Verification(event) => key(message_id, event),
            Delivery::Session(event) => session_key(message_id, event),
        }
    }

    fn apply(
        current: Option<VerificationRecord>,
        event: &Delivery,
        key: &str,
    ) -> Outcome<VerificationRecord, Notification> {
        match event {
            Delivery::Verification(event) => apply(current, event, key),
            Delivery::Session(event) => apply_session(current, event, key),
        }
    }

    fn has_applied(record: &VerificationRecord, key: &str) -> bool {
        record.timeline.iter().any(|entry| entry.key == key)
    }

    fn projections(record: &VerificationRecord) -> Vec<(&'static str, Option<String>)> {
        let session = record.session.as_ref();
        vec![
            (
                "status",
                Some(record.status.clone()).filter(|s| !s.is_empty()),
            ),
            ("session_status", session.map(|s| s.status.clone())),
            (
                "external_reference_id",
                session.and_then(|s| s.external_reference_id.clone()),
            ),
        ]
    }

    fn occurred_at(event: &Delivery) -> Option<time::OffsetDateTime> {
        match event {
            Delivery::Verification(event) => rules::occurred_at(event),
            Delivery::Session(event) => event.occurred_at(),
        }
    }

    /// The session and the partner's reference for it, once a session-level webhook told it.
    /// Never the extracted data.
    fn subject_fields(record: &VerificationRecord) -> serde_json::Map<String, serde_json::Value> {
        let reference = record
            .session
            .as_ref()
            .and_then(|s| s.external_reference_id.clone());
        serde_json::Map::from_iter([
            ("session_id".to_owned(), record.session_id.clone().into()),
            ("external_reference_id".to_owned(), reference.into()),
        ])
    }
}
