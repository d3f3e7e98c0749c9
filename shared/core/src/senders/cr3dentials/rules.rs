//! Cr3dentials' business rules: how one event changes the verification record the partner sees,
//! and which notification it warrants.
//!
//! Events of one session are ordered by time of occurrence (`metadata.verifiedAt`, else the
//! metadata's time of failure, expiry or review), then event type (a manual review overrides the
//! automatic result, a result overrides an expiry), then key; the greatest is the current state,
//! whatever the arrival order. Everything is pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::payload::{Cr3dentialsEvent, OverallStatus, VerificationEventType};
use crate::senders::{Notify, Outcome, parse_instant};
use crate::timeline::{At, Disposition, OrderKey, TimelineEntry, add_to_timeline, is_newer};

/// What to tell the partner about a verification. Serialises tagged, e.g.
/// `{"kind": "verification_completed", "session_id": "48342", "verification_id": "ver_1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
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
            Self::VerificationCompleted { .. } => "verification_completed",
            Self::VerificationFailed { .. } => "verification_failed",
            Self::VerificationExpired { .. } => "verification_expired",
        }
    }

    fn message(&self) -> String {
        match self {
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
    #[serde(default)]
    ordering: VerificationOrdering,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct VerificationOrdering {
    current: Option<OrderKey>,
    dropped: Option<OrderKey>,
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
    let mut record = current.unwrap_or_else(|| VerificationRecord::new(event));
    let (at, occurred_at) = verification_time(event);
    let reading = verification_reading(event).map(|(rank, notification)| {
        let order = OrderKey {
            stage: 0,
            at: at.clone(),
            rank,
            kind: 0,
            key: key.to_owned(),
        };
        (order, notification)
    });
    let (disposition, notification) = match &reading {
        None => (Disposition::Unrecognised, None),
        Some((order, _)) if !is_newer(order, record.ordering.current.as_ref()) => {
            (Disposition::OutOfOrder, None)
        }
        Some((order, notification)) => {
            record.verification_id = event.data.verification_id.clone();
            record.status = event.data.status.clone();
            record.outcome = event.event_type().to_owned();
            record.overall_status = event.status.as_str().to_owned();
            record.formatted_data = event.data.formatted_data.clone();
            record.ordering.current = Some(order.clone());
            (Disposition::Applied, Some(notification.clone()))
        }
    };
    let entry = TimelineEntry {
        key: key.to_owned(),
        event_type: event.event_type().to_owned(),
        state: Some(event.data.status.clone()),
        occurred_at,
        disposition,
        at,
        order: reading.map(|(order, _)| order),
    };
    record.last_event_at =
        add_to_timeline(&mut record.timeline, &mut record.ordering.dropped, entry);
    Outcome {
        record,
        notification,
        disposition,
    }
}

impl VerificationRecord {
    fn new(event: &Cr3dentialsEvent) -> Self {
        Self {
            session_id: event.subject().to_owned(),
            verification_id: String::new(),
            status: String::new(),
            outcome: String::new(),
            overall_status: String::new(),
            formatted_data: None,
            timeline: Vec::new(),
            last_event_at: None,
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
