//! Cr3dentials: identity and income verification, authenticated by a hex HMAC-SHA256 in
//! `x-webhook-signature` and/or a static header.
//!
//! Everything this receiver knows about Cr3dentials lives in this folder: the payloads
//! (`payload`), the business rules, record and notifications (`rules`), and here the idempotency
//! key, the subject and the record's projections.
//!
//! **Idempotency key.** Cr3dentials sends no message id; a verification reaches one detailed
//! status once, so `type + verificationId + data.status` separates distinct events while all
//! retries of one share the key.
//!
//! **Subject.** The partner's session id (`data.sessionId`) as text.

pub mod payload;
pub mod rules;

pub use payload::{
    Cr3dentialsEvent, OverallStatus, SessionId, VerificationData, VerificationEventType,
};
pub use rules::{Notification, VerificationRecord, apply};

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

/// Reads a verified Cr3dentials body.
pub fn parse(body: &[u8]) -> Result<Cr3dentialsEvent, EventError> {
    from_body(body)
}

impl Sender for Cr3dentials {
    const NAME: &'static str = "cr3dentials";
    const SCHEME: Scheme = Scheme::HexHmac;
    const RECORD_KIND: &'static str = "verification";
    type Event = Cr3dentialsEvent;
    type Record = VerificationRecord;
    type Notification = Notification;

    fn parse(body: &[u8]) -> Result<Cr3dentialsEvent, EventError> {
        parse(body)
    }

    fn event_type(event: &Cr3dentialsEvent) -> &str {
        event.event_type()
    }

    fn subject(event: &Cr3dentialsEvent) -> &str {
        event.subject()
    }

    fn key(message_id: Option<&str>, event: &Cr3dentialsEvent) -> IdempotencyKey {
        key(message_id, event)
    }

    fn apply(
        current: Option<VerificationRecord>,
        event: &Cr3dentialsEvent,
        key: &str,
    ) -> Outcome<VerificationRecord, Notification> {
        apply(current, event, key)
    }

    fn has_applied(record: &VerificationRecord, key: &str) -> bool {
        record.timeline.iter().any(|entry| entry.key == key)
    }

    fn projections(record: &VerificationRecord) -> Vec<(&'static str, Option<String>)> {
        vec![(
            "status",
            Some(record.status.clone()).filter(|s| !s.is_empty()),
        )]
    }
}
