//! Cr3dentials' business rules: how one event changes the verification record the partner sees,
//! and which notification it warrants.
//!
//! Verification-level events of one session are ordered by time of occurrence
//! (`metadata.verifiedAt`, else the metadata's time of failure, expiry or review), then event type
//! (a manual review overrides the automatic result, a result overrides an expiry), then key; the
//! greatest is the current verification state, whatever the arrival order.
//!
//! Session-level events (one per session, at its terminal status) set the record's `session`
//! part: the greatest by `completedAt`, then status, then key. The extracted data they carry is
//! personal: it goes into the record for the partner's use and never into a notification's
//! message. Everything is pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::payload::{
    Cr3dentialsEvent, OverallStatus, SessionEvent, SessionStatus, VerificationEventType,
};
use crate::senders::{Notify, Outcome, parse_instant};
use crate::timeline::{At, Disposition, OrderKey, TimelineEntry, add_to_timeline, is_newer};

/// What to tell the partner about a verification. Serialises tagged, e.g.
/// `{"kind": "verification_completed", "session_id": "48342", "verification_id": "ver_1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// The session completed: every step finished and the account data is verified.
    SessionCompleted {
        /// The session.
        session_id: String,
        /// The partner's own reference, if it gave one.
        external_reference_id: Option<String>,
    },
    /// The session finished with only part of the account data verified.
    SessionPartiallyCompleted {
        /// The session.
        session_id: String,
        /// The partner's own reference, if it gave one.
        external_reference_id: Option<String>,
    },
    /// The session failed with an error; nothing was verified.
    SessionError {
        /// The session.
        session_id: String,
        /// The partner's own reference, if it gave one.
        external_reference_id: Option<String>,
    },
    /// The user cancelled the session.
    SessionCancelled {
        /// The session.
        session_id: String,
        /// The partner's own reference, if it gave one.
        external_reference_id: Option<String>,
    },
    /// The session was ended before it finished.
    SessionTerminated {
        /// The session.
        session_id: String,
        /// The partner's own reference, if it gave one.
        external_reference_id: Option<String>,
    },
    /// The verification succeeded.
    VerificationCompleted {
        /// The partner's session.
        session_id: String,
        /// The verification.
        verification_id: String,
    },
    /// The verification did not succeed.
    VerificationFailed {
        /// The partner's session.
        session_id: String,
        /// The verification.
        verification_id: String,
        /// The detailed status, e.g. `FAILED`.
        status: String,
    },
    /// The user did not finish the verification in time.
    VerificationExpired {
        /// The partner's session.
        session_id: String,
        /// The verification.
        verification_id: String,
    },
}

impl Notify for Notification {
    fn kind(&self) -> &'static str {
        match self {
            Self::SessionCompleted { .. } => "session_completed",
            Self::SessionPartiallyCompleted { .. } => "session_partially_completed",
            Self::SessionError { .. } => "session_error",
            Self::SessionCancelled { .. } => "session_cancelled",
            Self::SessionTerminated { .. } => "session_terminated",
            Self::VerificationCompleted { .. } => "verification_completed",
            Self::VerificationFailed { .. } => "verification_failed",
            Self::VerificationExpired { .. } => "verification_expired",
        }
    }

    fn detail_type(&self) -> &'static str {
        match self {
            Self::SessionCompleted { .. } => "Session Completed",
            Self::SessionPartiallyCompleted { .. } => "Session Partially Completed",
            Self::SessionError { .. } => "Session Failed",
            Self::SessionCancelled { .. } => "Session Cancelled",
            Self::SessionTerminated { .. } => "Session Terminated",
            Self::VerificationCompleted { .. } => "Verification Completed",
            Self::VerificationFailed { .. } => "Verification Failed",
            Self::VerificationExpired { .. } => "Verification Expired",
        }
    }

    fn message(&self) -> String {
        let session = |session_id: &str, reference: &Option<String>| match reference {
            Some(reference) => format!("Verification session {session_id} (reference {reference})"),
            None => format!("Verification session {session_id}"),
        };
        match self {
            Self::SessionCompleted {
                session_id,
                external_reference_id,
            } => format!(
                "{} completed: the account data is verified.",
                session(session_id, external_reference_id)
            ),
            Self::SessionPartiallyCompleted {
                session_id,
                external_reference_id,
            } => format!(
                "{} completed in part: only some of the account data is verified.",
                session(session_id, external_reference_id)
            ),
            Self::SessionError {
                session_id,
                external_reference_id,
            } => format!(
                "{} ended in an error: no account data was verified.",
                session(session_id, external_reference_id)
            ),
            Self::SessionCancelled {
                session_id,
                external_reference_id,
            } => format!(
                "{} was cancelled before it finished.",
                session(session_id, external_reference_id)
            ),
            Self::SessionTerminated {
                session_id,
                external_reference_id,
            } => format!(
                "{} was terminated before it finished.",
                session(session_id, external_reference_id)
            ),
            Self::VerificationCompleted {
                session_id,
                verification_id,
            } => format!("Verification {verification_id} for session {session_id} succeeded."),
            Self::VerificationFailed {
                session_id,
                verification_id,
                status,
            } => format!(
                "Verification {verification_id} for session {session_id} failed ({status})."
            ),
            Self::VerificationExpired {
                session_id,
                verification_id,
            } => format!(
                "Verification {verification_id} for session {session_id} expired before it was finished."
            ),
        }
    }
}

/// The state of one Cr3dentials verification session.
///
/// Keyed by `session_id` (`data.sessionId`). The fields taken from an event stay empty until a
/// recognised event has been applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// The partner's session id as text.
    pub session_id: String,
    /// Cr3dentials' id of the verification the current state comes from.
    pub verification_id: String,
    /// The detailed status (`data.status`), e.g. `VERIFIED`.
    pub status: String,
    /// The event type the current state comes from, e.g. `verification.completed`.
    pub outcome: String,
    /// The overall result (`status`), e.g. `success`.
    pub overall_status: String,
    /// The ready-to-use result (`data.formattedData`).
    pub formatted_data: Option<Value>,
    /// The latest [`TIMELINE_LIMIT`] events, in the order they happened.
    pub timeline: Vec<TimelineEntry>,
    /// The latest time of occurrence among the events seen, as sent.
    pub last_event_at: Option<String>,
    /// How the session ended, from the session-level webhook.
    #[serde(default)]
    pub session: Option<SessionOutcome>,
    #[serde(default)]
    ordering: VerificationOrdering,
}

/// A session's terminal state, from the session-level webhook.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOutcome {
    /// The terminal status, e.g. `COMPLETED`.
    pub status: String,
    /// The partner's own reference from session creation.
    pub external_reference_id: Option<String>,
    /// When the session ended, as sent.
    pub completed_at: Option<String>,
    /// The platform the session verified against.
    pub platform_id: Option<Value>,
    /// Reference to the cryptographic attestation.
    pub proof_hash: Option<String>,
    /// Verified account data. Personal data: for the partner's use, never shown in a message or a
    /// log (this type's `Debug` leaves it out).
    pub extracted_data: Option<Value>,
}

impl std::fmt::Debug for SessionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOutcome")
            .field("status", &self.status)
            .field("external_reference_id", &self.external_reference_id)
            .field("completed_at", &self.completed_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct VerificationOrdering {
    current: Option<OrderKey>,
    dropped: Option<OrderKey>,
    #[serde(default)]
    session: Option<OrderKey>,
}

// Cr3dentials event type ranks for ties: a manual review overrides the automatic result, and a
// result overrides an expiry.
const EXPIRED: u8 = 0;
const FAILED: u8 = 1;
const COMPLETED: u8 = 2;
const MANUAL_REVIEW_COMPLETED: u8 = 3;

/// Metadata fields naming when the event happened when `verifiedAt` is absent: the samples of
/// failed, expired and reviewed verifications carry these instead or as well.
const FALLBACK_TIME_FIELDS: [&str; 3] = ["reviewCompletedAt", "failedAt", "expiredAt"];

/// When a Cr3dentials event happened and the text it says so in (empty if it does not).
fn verification_time(event: &Cr3dentialsEvent) -> (At, String) {
    let stamp = |name: &str| {
        event
            .data
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get(name))
            .and_then(Value::as_str)
    };
    if let Some(text) = stamp("verifiedAt") {
        return (At::new(event.occurred_at(), text), text.to_owned());
    }
    FALLBACK_TIME_FIELDS
        .iter()
        .find_map(|name| stamp(name))
        .map_or_else(
            || (At::Text(String::new()), String::new()),
            |text| (At::new(parse_instant(text), text), text.to_owned()),
        )
}

/// When a verification-level event happened: `metadata.verifiedAt`, else the metadata's time of
/// review, failure or expiry.
pub fn occurred_at(event: &Cr3dentialsEvent) -> Option<time::OffsetDateTime> {
    event.occurred_at().or_else(|| {
        let metadata = event.data.metadata.as_ref()?;
        FALLBACK_TIME_FIELDS
            .iter()
            .find_map(|name| metadata.get(*name).and_then(Value::as_str))
            .and_then(parse_instant)
    })
}

/// The type rank and notification of a recognised Cr3dentials event.
fn verification_reading(event: &Cr3dentialsEvent) -> Option<(u8, Notification)> {
    use OverallStatus as S;
    use VerificationEventType as T;
    let session_id = event.subject().to_owned();
    let verification_id = event.data.verification_id.clone();
    let completed = || Notification::VerificationCompleted {
        session_id: session_id.clone(),
        verification_id: verification_id.clone(),
    };
    let failed = || Notification::VerificationFailed {
        session_id: session_id.clone(),
        verification_id: verification_id.clone(),
        status: event.data.status.clone(),
    };
    match (&event.kind, &event.status) {
        (T::Expired, _) => Some((
            EXPIRED,
            Notification::VerificationExpired {
                session_id: session_id.clone(),
                verification_id: verification_id.clone(),
            },
        )),
        (T::Failed, _) => Some((FAILED, failed())),
        (T::Completed, S::Success) => Some((COMPLETED, completed())),
        (T::Completed, S::Failed) => Some((COMPLETED, failed())),
        (T::ManualReviewCompleted, S::Success) => Some((MANUAL_REVIEW_COMPLETED, completed())),
        (T::ManualReviewCompleted, S::Failed) => Some((MANUAL_REVIEW_COMPLETED, failed())),
        (T::Other(_), _) | (_, S::Other(_)) => None,
    }
}

/// Applies one Cr3dentials event to the session's record (`None` if there is none yet).
///
/// The event must be about this record's session and must not have been applied before under
/// `key`. The latest event by `metadata.verifiedAt` (else the metadata's time of failure, expiry
/// or review), then event type, then key, is the current state, whatever the arrival order.
/// Unknown event types or overall statuses are kept in the timeline and change nothing else.
pub fn apply(
    current: Option<VerificationRecord>,
    event: &Cr3dentialsEvent,
    key: &str,
) -> Outcome<VerificationRecord, Notification> {
    let record = current.unwrap_or_else(|| VerificationRecord::new(event));
    let (at, occurred_at) = verification_time(event);
    let reading = Reading {
        key,
        event_type: event.event_type().to_owned(),
        state: event.data.status.clone(),
        at,
        occurred_at,
        recognised: verification_reading(event),
    };
    absorb(
        record,
        reading,
        |ordering| &mut ordering.current,
        |record| {
            record.verification_id = event.data.verification_id.clone();
            record.status = event.data.status.clone();
            record.outcome = event.event_type().to_owned();
            record.overall_status = event.status.as_str().to_owned();
            record.formatted_data = event.data.formatted_data.clone();
        },
    )
}

/// One event as the record's rules see it, whichever generation it came in.
struct Reading<'k> {
    key: &'k str,
    event_type: String,
    state: String,
    at: At,
    occurred_at: String,
    /// The event's rank for ties in time and its notification, when it is recognised.
    recognised: Option<(u8, Notification)>,
}

/// Applies `reading` to `record`: when the event is newer than what `mark` (the ordering of the
/// fields it competes for) holds, `take` writes those fields and its notification goes out;
/// either way it enters the timeline.
///
/// Both generations' events take the same stage: in the shared timeline they are placed by time
/// alone, so neither distorts the other's history.
fn absorb(
    mut record: VerificationRecord,
    reading: Reading<'_>,
    mark: fn(&mut VerificationOrdering) -> &mut Option<OrderKey>,
    take: impl FnOnce(&mut VerificationRecord),
) -> Outcome<VerificationRecord, Notification> {
    let order = reading.recognised.as_ref().map(|(rank, _)| OrderKey {
        stage: 0,
        at: reading.at.clone(),
        rank: *rank,
        kind: 0,
        key: reading.key.to_owned(),
    });
    let (disposition, notification) = match (&order, reading.recognised) {
        (Some(order), Some((_, notification)))
            if is_newer(order, mark(&mut record.ordering).as_ref()) =>
        {
            take(&mut record);
            *mark(&mut record.ordering) = Some(order.clone());
            (Disposition::Applied, Some(notification))
        }
        (Some(_), _) => (Disposition::OutOfOrder, None),
        (None, _) => (Disposition::Unrecognised, None),
    };
    let entry = TimelineEntry {
        key: reading.key.to_owned(),
        event_type: reading.event_type,
        state: Some(reading.state),
        occurred_at: reading.occurred_at,
        disposition,
        at: reading.at,
        order,
    };
    record.last_event_at =
        add_to_timeline(&mut record.timeline, &mut record.ordering.dropped, entry);
    Outcome {
        record,
        notification,
        disposition,
    }
}

// Session status ranks for ties in time: a fuller result overrides a lesser one.
const SESSION_ERROR: u8 = 0;
const SESSION_CANCELLED: u8 = 1;
const SESSION_TERMINATED: u8 = 2;
const SESSION_PARTIAL: u8 = 3;
const SESSION_COMPLETED: u8 = 4;

/// The status rank and notification of a recognised session-level event.
fn session_reading(event: &SessionEvent) -> Option<(u8, Notification)> {
    let session_id = event.session_id.as_str().to_owned();
    let external_reference_id = event.external_reference_id.clone();
    let reading = match event.status {
        SessionStatus::Completed => (
            SESSION_COMPLETED,
            Notification::SessionCompleted {
                session_id,
                external_reference_id,
            },
        ),
        SessionStatus::PartialComplete => (
            SESSION_PARTIAL,
            Notification::SessionPartiallyCompleted {
                session_id,
                external_reference_id,
            },
        ),
        SessionStatus::Error => (
            SESSION_ERROR,
            Notification::SessionError {
                session_id,
                external_reference_id,
            },
        ),
        SessionStatus::Cancelled => (
            SESSION_CANCELLED,
            Notification::SessionCancelled {
                session_id,
                external_reference_id,
            },
        ),
        SessionStatus::Terminated => (
            SESSION_TERMINATED,
            Notification::SessionTerminated {
                session_id,
                external_reference_id,
            },
        ),
        SessionStatus::Other(_) => return None,
    };
    Some(reading)
}

/// Applies one session-level event to the session's record (`None` if there is none yet).
///
/// The event must be about this record's session and must not have been applied before under
/// `key`. The greatest session-level event by `completedAt`, then status, then key sets the
/// record's `session`; an unknown status is kept in the timeline and changes nothing else.
pub fn apply_session(
    current: Option<VerificationRecord>,
    event: &SessionEvent,
    key: &str,
) -> Outcome<VerificationRecord, Notification> {
    let record =
        current.unwrap_or_else(|| VerificationRecord::for_session(event.session_id.as_str()));
    let occurred_at = event.completed_at.clone().unwrap_or_default();
    let reading = Reading {
        key,
        event_type: event.event_type(),
        state: event.status.as_str().to_owned(),
        at: At::new(event.occurred_at(), &occurred_at),
        occurred_at,
        recognised: session_reading(event),
    };
    absorb(
        record,
        reading,
        |ordering| &mut ordering.session,
        |record| {
            record.session = Some(SessionOutcome {
                status: event.status.as_str().to_owned(),
                external_reference_id: event.external_reference_id.clone(),
                completed_at: event.completed_at.clone(),
                platform_id: event.platform_id.clone(),
                proof_hash: event.proof_hash.clone(),
                extracted_data: event.extracted_data.clone(),
            });
        },
    )
}

impl VerificationRecord {
    fn new(event: &Cr3dentialsEvent) -> Self {
        Self::for_session(event.subject())
    }

    fn for_session(session_id: &str) -> Self {
        Self {
            session_id: session_id.to_owned(),
            verification_id: String::new(),
            status: String::new(),
            outcome: String::new(),
            overall_status: String::new(),
            formatted_data: None,
            timeline: Vec::new(),
            last_event_at: None,
            session: None,
            ordering: VerificationOrdering::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::senders::cr3dentials::SessionId;
    fn verification(kind: &str, status: &str, metadata: Value) -> Cr3dentialsEvent {
        Cr3dentialsEvent {
            kind: kind.into(),
            status: status.into(),
            data: serde_json::from_value(json!({
                "verificationId": format!("ver-{kind}"),
                "sessionId": 7,
                "status": status.to_uppercase(),
                "metadata": metadata,
            }))
            .unwrap(),
        }
    }

    #[test]
    fn verification_without_verified_at_is_placed_by_its_failure_time() {
        // given a completion, then a failure that happened later but carries only failedAt
        let completed = verification(
            "verification.completed",
            "success",
            json!({"verifiedAt": "2026-03-02T14:00:00Z"}),
        );
        let failed = verification(
            "verification.failed",
            "failed",
            json!({"failedAt": "2026-03-02T15:00:00Z"}),
        );
        // when they arrive in either order
        let forward = apply(None, &completed, "c").record;
        let forward = apply(Some(forward), &failed, "f");
        let backward = apply(None, &failed, "f").record;
        let backward = apply(Some(backward), &completed, "c");
        // then the failure is current either way
        assert_eq!(forward.disposition, Disposition::Applied);
        assert_eq!(backward.disposition, Disposition::OutOfOrder);
        assert_eq!(forward.record, backward.record);
        assert_eq!(forward.record.outcome, "verification.failed");
        assert_eq!(
            forward.record.last_event_at.as_deref(),
            Some("2026-03-02T15:00:00Z")
        );
    }

    #[test]
    fn verification_with_unknown_overall_status_is_unrecognised() {
        let event = verification("verification.completed", "pending", json!({}));
        let outcome = apply(None, &event, "k");
        assert_eq!(outcome.disposition, Disposition::Unrecognised);
        assert_eq!(outcome.notification, None);
        assert_eq!(outcome.record.outcome, "");
        assert_eq!(outcome.record.session_id, SessionId("7".into()).as_str());
        assert_eq!(outcome.record.last_event_at, None);
        assert_eq!(outcome.record.timeline.len(), 1);
    }

    #[test]
    fn notification_kind_is_its_serialised_tag() {
        for notification in [
            Notification::VerificationCompleted {
                session_id: "s".into(),
                verification_id: "v".into(),
            },
            Notification::VerificationFailed {
                session_id: "s".into(),
                verification_id: "v".into(),
                status: "FAILED".into(),
            },
            Notification::VerificationExpired {
                session_id: "s".into(),
                verification_id: "v".into(),
            },
        ] {
            let json = serde_json::to_value(&notification).unwrap();
            assert_eq!(json["kind"], notification.kind());
            assert!(notification.message().ends_with('.'));
        }
    }
}
