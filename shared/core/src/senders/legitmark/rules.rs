//! Legitmark's business rules: how one event changes the item record users see, and which
//! notification it warrants.
//!
//! The order on one item's events, greatest last:
//! 1. stage: DRAFT < QC < UNDERWAY < COMPLETE and CANCELLED (one tier), so that a late QC or
//!    UNDERWAY event never regresses a final state, whatever its timestamp;
//! 2. within a stage, the event's `timestamp` (an unreadable one ranks below every readable one,
//!    and such texts compare as text), so that a second QC round after a rejection counts;
//! 3. then the supplement's rank in the stage, the event type (state_change < media_rejected <
//!    invalidate_sr) and the idempotency key, so that no two distinct events tie.
//!
//! The greatest event sets the state and the outstanding re-upload requests; the verdict, the QC
//! status and the invalidation reason each follow the greatest event that carries one. A
//! notification goes out only for news: the event became the current state, or (behind a
//! COMPLETE/COMPLETE) it settled a verdict the user has not heard. Everything is pure: no I/O, no
//! clock; the consumer persists what [`apply`] returns.

use serde::{Deserialize, Serialize};

use super::payload::{
    InvalidationReason, LegitmarkEvent, LegitmarkKind, Primary, RejectedSide, SrState, Supplement,
};
use crate::senders::{Notify, Outcome};
use crate::timeline::{
    At, Disposition, Marked, OrderKey, TimelineEntry, add_to_timeline, is_newer,
};

/// The authentication result of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// COMPLETE + APPROVED: the item is genuine.
    Authentic,
    /// COMPLETE + REJECTED: the item is not genuine.
    Counterfeit,
    /// CANCELLED or `invalidate_sr`: the item will not be authenticated.
    Cancelled,
}

/// Where an item's photos stand in quality control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QcStatus {
    /// Queued for review.
    Pending,
    /// Failed review; the seller must re-upload.
    Rejected,
    /// Passed review.
    Approved,
    /// Fast-tracked to completion during review.
    Complete,
}

/// The state of one item under authentication, from Legitmark events.
///
/// Keyed by `item_id`: the partner's `reference_id`, falling back to `sr_uuid`
/// ([`LegitmarkEvent::subject`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The partner's item id, or the service request's UUID when the partner set none.
    pub item_id: String,
    /// Legitmark's service request UUID.
    pub sr_uuid: String,
    /// The partner's item id as sent, if any.
    pub reference_id: Option<String>,
    /// The current state: that of the latest recognised event.
    pub state: Option<SrState>,
    /// The result, from the latest event that carries one.
    pub verdict: Option<Verdict>,
    /// The photos' review status, from the latest quality-control event.
    pub qc_status: Option<QcStatus>,
    /// Photo sides the seller still has to re-upload.
    pub reupload_requests: Vec<RejectedSide>,
    /// Why Legitmark invalidated the request, while the verdict is [`Verdict::Cancelled`].
    pub invalidation_reason: Option<InvalidationReason>,
    /// The latest [`TIMELINE_LIMIT`] events, in the order they happened.
    pub timeline: Vec<TimelineEntry>,
    /// The latest time of occurrence among the events seen, as sent.
    pub last_event_at: Option<String>,
    #[serde(default)]
    ordering: ItemOrdering,
}

/// What to tell the user about an event. Serialises tagged, e.g.
/// `{"kind": "photos_passed_qc", "item_id": "item-10042"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// The item is authentic.
    AuthenticationPassed {
        /// The item.
        item_id: String,
    },
    /// The item is counterfeit.
    AuthenticationFailed {
        /// The item.
        item_id: String,
    },
    /// Quality control rejected photos; the seller must re-upload these sides.
    ReuploadRequested {
        /// The item.
        item_id: String,
        /// The rejected sides, with reasons.
        sides: Vec<RejectedSide>,
    },
    /// The photos passed quality control.
    PhotosPassedQc {
        /// The item.
        item_id: String,
    },
    /// An authenticator started on the item.
    AuthenticatorAssigned {
        /// The item.
        item_id: String,
    },
    /// The authentication request was cancelled.
    RequestCancelled {
        /// The item.
        item_id: String,
        /// Legitmark's reason, when it invalidated the request.
        reason: Option<InvalidationReason>,
    },
}

impl Notify for Notification {
    fn kind(&self) -> &'static str {
        match self {
            Self::AuthenticationPassed { .. } => "authentication_passed",
            Self::AuthenticationFailed { .. } => "authentication_failed",
            Self::ReuploadRequested { .. } => "reupload_requested",
            Self::PhotosPassedQc { .. } => "photos_passed_qc",
            Self::AuthenticatorAssigned { .. } => "authenticator_assigned",
            Self::RequestCancelled { .. } => "request_cancelled",
        }
    }

    fn detail_type(&self) -> &'static str {
        match self {
            Self::AuthenticationPassed { .. } => "Item Authenticated",
            Self::AuthenticationFailed { .. } => "Item Counterfeit",
            Self::ReuploadRequested { .. } => "Photos Rejected",
            Self::PhotosPassedQc { .. } => "Photos Approved",
            Self::AuthenticatorAssigned { .. } => "Authentication Started",
            Self::RequestCancelled { .. } => "Authentication Cancelled",
        }
    }

    /// E.g. `Re-upload the Front photo (BLURRY: The photo is out of focus.) for item item-10042.`
    fn message(&self) -> String {
        match self {
            Self::AuthenticationPassed { item_id } => {
                format!("Item {item_id} passed authentication: it is authentic.")
            }
            Self::AuthenticationFailed { item_id } => {
                format!("Item {item_id} failed authentication: it is not authentic.")
            }
            Self::ReuploadRequested { item_id, sides } if sides.is_empty() => {
                format!("Re-upload the rejected photos for item {item_id}.")
            }
            Self::ReuploadRequested { item_id, sides } => {
                let sides: Vec<String> = sides.iter().map(describe_side).collect();
                format!("Re-upload {} for item {item_id}.", join_words(&sides))
            }
            Self::PhotosPassedQc { item_id } => {
                format!("The photos of item {item_id} passed quality review.")
            }
            Self::AuthenticatorAssigned { item_id } => {
                format!("An authenticator is now examining item {item_id}.")
            }
            Self::RequestCancelled { item_id, reason } => match reason {
                Some(InvalidationReason {
                    code,
                    message: Some(message),
                }) => {
                    format!("Authentication of item {item_id} was cancelled ({code}: {message}).")
                }
                Some(InvalidationReason {
                    code,
                    message: None,
                }) => format!("Authentication of item {item_id} was cancelled ({code})."),
                None => format!("Authentication of item {item_id} was cancelled."),
            },
        }
    }
}

fn describe_side(side: &RejectedSide) -> String {
    let name = match side.side.as_str() {
        "" => "a".to_owned(),
        name => format!("the {name}"),
    };
    let detail: Vec<&str> = [Some(side.reason.as_str()), side.message.as_deref()]
        .into_iter()
        .flatten()
        .filter(|text| !text.is_empty())
        .collect();
    match detail.as_slice() {
        [] => format!("{name} photo"),
        detail => format!("{name} photo ({})", detail.join(": ")),
    }
}

/// "a", "a and b", "a, b and c".
fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Which event each of an item's fields comes from. Each field follows the greatest event of
/// its own kind, so that it depends only on the set of events seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ItemOrdering {
    /// The current event: state and re-upload requests.
    current: Option<OrderKey>,
    verdict: Option<OrderKey>,
    qc: Option<OrderKey>,
    invalidation: Option<Marked<InvalidationReason>>,
    /// The greatest order key among timeline entries dropped for the limit, so that the
    /// remaining entries' dispositions still account for them.
    dropped: Option<OrderKey>,
}

// Stage ranks. COMPLETE and CANCELLED share the top tier so that whichever of them happened last
// stands, while no QC or UNDERWAY event, however late its timestamp, regresses a final state.
const DRAFT: u8 = 0;
const QC: u8 = 1;
const UNDERWAY: u8 = 2;
const FINAL: u8 = 3;

// Event type ranks for ties: a media_rejected carries more than the QC/REJECTED state_change it
// accompanies, and an invalidate_sr more than the CANCELLED one.
const STATE_CHANGE: u8 = 0;
const MEDIA_REJECTED: u8 = 1;
const INVALIDATE_SR: u8 = 2;

/// The stage and supplement ranks of a documented Legitmark state; `None` for any other.
fn place(state: &SrState) -> Option<(u8, u8)> {
    use Primary as P;
    use Supplement as S;
    let place = match (&state.primary, state.supplement.as_ref()) {
        (P::Draft, None) => (DRAFT, 0),
        (P::Qc, Some(S::Pending)) => (QC, 0),
        (P::Qc, Some(S::Rejected)) => (QC, 1),
        (P::Qc, Some(S::Approved)) => (QC, 2),
        (P::Qc, Some(S::Complete)) => (QC, 3),
        (P::Underway, Some(S::Pending)) => (UNDERWAY, 0),
        (P::Underway, Some(S::Assigned)) => (UNDERWAY, 1),
        (P::Underway, Some(S::Approved)) => (UNDERWAY, 2),
        (P::Complete, Some(S::Complete)) => (FINAL, 0),
        (P::Complete, Some(S::Approved)) => (FINAL, 1),
        (P::Complete, Some(S::Rejected)) => (FINAL, 2),
        // The SDK's is-cancelled looks at the primary alone; a cancellation must not be missed
        // because of a detail we do not know.
        (P::Cancelled, _) => (FINAL, 3),
        _ => return None,
    };
    Some(place)
}

/// The order key of a recognised Legitmark event; `None` for an unknown type, an unknown state,
/// or a known type carrying a state its documentation rules out.
fn legitmark_order(event: &LegitmarkEvent, key: &str) -> Option<OrderKey> {
    let (state, kind) = match &event.kind {
        LegitmarkKind::StateChange { state } => (state, STATE_CHANGE),
        LegitmarkKind::MediaRejected { state, .. }
            if state.primary == Primary::Qc && state.supplement == Some(Supplement::Rejected) =>
        {
            (state, MEDIA_REJECTED)
        }
        LegitmarkKind::InvalidateSr { state, .. } if state.primary == Primary::Cancelled => {
            (state, INVALIDATE_SR)
        }
        LegitmarkKind::MediaRejected { .. }
        | LegitmarkKind::InvalidateSr { .. }
        | LegitmarkKind::Unknown { .. } => return None,
    };
    let (stage, rank) = place(state)?;
    Some(OrderKey {
        stage,
        at: At::new(event.occurred_at(), &event.timestamp),
        rank,
        kind,
        key: key.to_owned(),
    })
}

/// The verdict a recognised event carries, matching the SDK's predicates.
fn verdict_of(event: &LegitmarkEvent) -> Option<Verdict> {
    if event.is_authentic() {
        Some(Verdict::Authentic)
    } else if event.is_counterfeit() {
        Some(Verdict::Counterfeit)
    } else if event.is_cancelled() {
        Some(Verdict::Cancelled)
    } else {
        None
    }
}

fn qc_status_of(state: &SrState) -> Option<QcStatus> {
    if state.primary != Primary::Qc {
        return None;
    }
    match state.supplement.as_ref()? {
        Supplement::Pending => Some(QcStatus::Pending),
        Supplement::Rejected => Some(QcStatus::Rejected),
        Supplement::Approved => Some(QcStatus::Approved),
        Supplement::Complete => Some(QcStatus::Complete),
        Supplement::Assigned | Supplement::Other(_) => None,
    }
}

/// The notification a recognised event warrants when it is news.
fn legitmark_notification(event: &LegitmarkEvent, item_id: &str) -> Option<Notification> {
    let item_id = item_id.to_owned();
    match &event.kind {
        LegitmarkKind::MediaRejected { sides, .. } => Some(Notification::ReuploadRequested {
            item_id,
            sides: sides.clone(),
        }),
        LegitmarkKind::InvalidateSr {
            invalidation_reason,
            ..
        } => Some(Notification::RequestCancelled {
            item_id,
            reason: Some(invalidation_reason.clone()),
        }),
        LegitmarkKind::StateChange { .. } if event.is_authentic() => {
            Some(Notification::AuthenticationPassed { item_id })
        }
        LegitmarkKind::StateChange { .. } if event.is_counterfeit() => {
            Some(Notification::AuthenticationFailed { item_id })
        }
        LegitmarkKind::StateChange { .. } if event.is_cancelled() => {
            Some(Notification::RequestCancelled {
                item_id,
                reason: None,
            })
        }
        LegitmarkKind::StateChange { .. } if event.is_qc_approved() => {
            Some(Notification::PhotosPassedQc { item_id })
        }
        LegitmarkKind::StateChange { .. } if event.is_authentication_in_progress() => {
            Some(Notification::AuthenticatorAssigned { item_id })
        }
        LegitmarkKind::StateChange { .. } | LegitmarkKind::Unknown { .. } => None,
    }
}

fn state_text(state: &SrState) -> String {
    match &state.supplement {
        Some(supplement) => format!("{}/{}", state.primary, supplement),
        None => state.primary.to_string(),
    }
}

/// Applies one Legitmark event to the item's record (`None` if there is none yet).
///
/// The event must be about this record's item (`event.subject()` equals `item_id`) and must not
/// have been applied before under `key`. The result depends only on the set of events applied,
/// not on their order; the module documentation gives the order itself. Events of an unknown
/// type or state are kept in the timeline and change nothing else.
pub fn apply(
    current: Option<ItemRecord>,
    event: &LegitmarkEvent,
    key: &str,
) -> Outcome<ItemRecord, Notification> {
    let mut record = current.unwrap_or_else(|| ItemRecord::new(event));
    let order = legitmark_order(event, key);
    let (disposition, notification) = match &order {
        Some(order) => record.absorb(event, order),
        None => (Disposition::Unrecognised, None),
    };
    let entry = TimelineEntry {
        key: key.to_owned(),
        event_type: event.event_type().to_owned(),
        state: event.state().map(state_text),
        occurred_at: event.timestamp.clone(),
        disposition,
        at: At::new(event.occurred_at(), &event.timestamp),
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

impl ItemRecord {
    fn new(event: &LegitmarkEvent) -> Self {
        Self {
            item_id: event.subject().to_owned(),
            sr_uuid: event.sr_uuid.clone(),
            reference_id: event.reference_id.clone(),
            state: None,
            verdict: None,
            qc_status: None,
            reupload_requests: Vec::new(),
            invalidation_reason: None,
            timeline: Vec::new(),
            last_event_at: None,
            ordering: ItemOrdering::default(),
        }
    }

    /// Folds a recognised event into every field whose latest event it is.
    fn absorb(
        &mut self,
        event: &LegitmarkEvent,
        order: &OrderKey,
    ) -> (Disposition, Option<Notification>) {
        let verdict_before = self.verdict;
        if let Some(verdict) = verdict_of(event)
            && is_newer(order, self.ordering.verdict.as_ref())
        {
            self.verdict = Some(verdict);
            self.ordering.verdict = Some(order.clone());
        }
        if let Some(qc_status) = event.state().and_then(qc_status_of)
            && is_newer(order, self.ordering.qc.as_ref())
        {
            self.qc_status = Some(qc_status);
            self.ordering.qc = Some(order.clone());
        }
        if let LegitmarkKind::InvalidateSr {
            invalidation_reason,
            ..
        } = &event.kind
            && is_newer(order, self.ordering.invalidation.as_ref().map(|m| &m.order))
        {
            self.ordering.invalidation = Some(Marked {
                order: order.clone(),
                value: invalidation_reason.clone(),
            });
        }
        self.invalidation_reason = match (self.verdict, &self.ordering.invalidation) {
            (Some(Verdict::Cancelled), Some(marked)) => Some(marked.value.clone()),
            _ => None,
        };

        if is_newer(order, self.ordering.current.as_ref()) {
            self.state = event.state().cloned();
            self.reupload_requests = match &event.kind {
                LegitmarkKind::MediaRejected { sides, .. } => sides.clone(),
                _ => Vec::new(),
            };
            self.ordering.current = Some(order.clone());
            let notification = legitmark_notification(event, &self.item_id);
            (Disposition::Applied, notification)
        } else if self.verdict != verdict_before {
            // Only a COMPLETE/COMPLETE (final, no verdict) can be current while an older event
            // settles the verdict; the user has not been told the result yet, so tell them now.
            let notification = legitmark_notification(event, &self.item_id);
            (Disposition::OutOfOrder, notification)
        } else {
            (Disposition::OutOfOrder, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TIMELINE_LIMIT;

    const SR: &str = "sr-1";

    fn state(primary: Primary, supplement: Option<Supplement>) -> SrState {
        SrState {
            primary,
            supplement,
        }
    }

    fn change(timestamp: &str, primary: Primary, supplement: Option<Supplement>) -> LegitmarkEvent {
        LegitmarkEvent {
            sr_uuid: SR.into(),
            reference_id: Some("item-1".into()),
            timestamp: timestamp.into(),
            kind: LegitmarkKind::StateChange {
                state: state(primary, supplement),
            },
        }
    }

    fn invalidate(timestamp: &str) -> LegitmarkEvent {
        LegitmarkEvent {
            kind: LegitmarkKind::InvalidateSr {
                state: state(Primary::Cancelled, None),
                invalidation_reason: InvalidationReason {
                    code: "NOT_SERVICEABLE".into(),
                    message: None,
                },
            },
            ..change(timestamp, Primary::Cancelled, None)
        }
    }

    /// Applies `(event, key)` pairs in order, returning every outcome.
    fn apply_all(events: &[(LegitmarkEvent, &str)]) -> Vec<Outcome<ItemRecord, Notification>> {
        let mut record = None;
        let mut outcomes = Vec::new();
        for (event, key) in events {
            let outcome = apply(record.take(), event, key);
            record = Some(outcome.record.clone());
            outcomes.push(outcome);
        }
        outcomes
    }

    fn final_record(events: &[(LegitmarkEvent, &str)]) -> ItemRecord {
        last(&apply_all(events)).record.clone()
    }

    fn last(outcomes: &[Outcome<ItemRecord, Notification>]) -> &Outcome<ItemRecord, Notification> {
        outcomes.last().expect("at least one event")
    }

    #[test]
    fn later_stage_wins_over_later_timestamp() {
        // given an item under way
        let underway = change(
            "2026-03-02T10:00:00Z",
            Primary::Underway,
            Some(Supplement::Pending),
        );
        // when a QC event stamped later arrives
        let qc = change(
            "2026-03-02T11:00:00Z",
            Primary::Qc,
            Some(Supplement::Approved),
        );
        let outcomes = apply_all(&[(underway, "a"), (qc, "b")]);
        // then it does not regress the state, and no stale notification is sent
        let outcome = last(&outcomes);
        assert_eq!(outcome.disposition, Disposition::OutOfOrder);
        assert_eq!(outcome.notification, None);
        assert_eq!(
            outcome.record.state.as_ref().map(state_text).as_deref(),
            Some("UNDERWAY/PENDING")
        );
        // and the QC status still follows the latest QC event
        assert_eq!(outcome.record.qc_status, Some(QcStatus::Approved));
    }

    #[test]
    fn unreadable_timestamp_ranks_below_readable_ones_in_its_stage() {
        let readable = change(
            "2026-03-02T10:00:00Z",
            Primary::Qc,
            Some(Supplement::Pending),
        );
        let unreadable = change("yesterday", Primary::Qc, Some(Supplement::Approved));
        for events in [
            [(readable.clone(), "a"), (unreadable.clone(), "b")],
            [(unreadable, "b"), (readable, "a")],
        ] {
            let record = &final_record(&events);
            assert_eq!(record.qc_status, Some(QcStatus::Pending));
            assert_eq!(
                record.last_event_at.as_deref(),
                Some("2026-03-02T10:00:00Z")
            );
            assert_eq!(record.timeline[0].occurred_at, "yesterday");
        }
    }

    #[test]
    fn instants_compare_across_offsets() {
        // given 10:30+01:00 (09:30 UTC) and 09:45 UTC
        let earlier = change(
            "2026-03-02T10:30:00+01:00",
            Primary::Qc,
            Some(Supplement::Pending),
        );
        let later = change(
            "2026-03-02T09:45:00Z",
            Primary::Qc,
            Some(Supplement::Rejected),
        );
        // when the earlier instant arrives last
        let outcomes = apply_all(&[(later, "a"), (earlier, "b")]);
        // then it is out of order although its text sorts after
        assert_eq!(last(&outcomes).disposition, Disposition::OutOfOrder);
        assert_eq!(last(&outcomes).record.qc_status, Some(QcStatus::Rejected));
    }

    #[test]
    fn same_time_and_stage_ties_break_by_supplement_then_type_then_key() {
        let at = "2026-03-02T10:00:00Z";
        let rejected = change(at, Primary::Qc, Some(Supplement::Rejected));
        let pending = change(at, Primary::Qc, Some(Supplement::Pending));
        let media = LegitmarkEvent {
            kind: LegitmarkKind::MediaRejected {
                state: state(Primary::Qc, Some(Supplement::Rejected)),
                sides: Vec::new(),
            },
            ..rejected.clone()
        };
        // when the greater events arrive first
        let outcomes = apply_all(&[(media, "a"), (rejected, "z"), (pending, "zz")]);
        // then the later-ranked ones are out of order, whatever their keys
        assert_eq!(outcomes[1].disposition, Disposition::OutOfOrder);
        assert_eq!(outcomes[2].disposition, Disposition::OutOfOrder);
        assert_eq!(
            last(&outcomes)
                .record
                .ordering
                .current
                .as_ref()
                .map(|o| o.key.as_str()),
            Some("a")
        );
    }

    #[test]
    fn older_verdict_behind_complete_complete_is_recorded_and_announced() {
        // given an item already COMPLETE/COMPLETE, whose verdict has not arrived
        let closed = change(
            "2026-03-02T10:00:00Z",
            Primary::Complete,
            Some(Supplement::Complete),
        );
        // when the older COMPLETE/APPROVED arrives
        let approved = change(
            "2026-03-02T09:00:00Z",
            Primary::Complete,
            Some(Supplement::Approved),
        );
        let outcomes = apply_all(&[(closed, "a"), (approved, "b")]);
        // then it does not become current, but settles the verdict and tells the user once
        let outcome = last(&outcomes);
        assert_eq!(outcomes[0].notification, None);
        assert_eq!(outcome.disposition, Disposition::OutOfOrder);
        assert_eq!(outcome.record.verdict, Some(Verdict::Authentic));
        assert_eq!(
            outcome.notification,
            Some(Notification::AuthenticationPassed {
                item_id: "item-1".into()
            })
        );
        assert_eq!(
            outcome.record.state.as_ref().map(state_text).as_deref(),
            Some("COMPLETE/COMPLETE")
        );
    }

    #[test]
    fn cancellation_with_an_unknown_supplement_still_cancels() {
        // given a CANCELLED state with a detail the provider has not documented
        let cancelled = change(
            "2026-03-02T10:00:00Z",
            Primary::Cancelled,
            Some(Supplement::Other("BY_PARTNER".into())),
        );
        // when it is applied
        let outcome = apply(None, &cancelled, "a");
        // then it cancels, as the SDK's is-cancelled says
        assert_eq!(outcome.disposition, Disposition::Applied);
        assert_eq!(outcome.record.verdict, Some(Verdict::Cancelled));
        assert_eq!(
            outcome.notification.as_ref().map(Notification::kind),
            Some("request_cancelled")
        );
    }

    #[test]
    fn undocumented_state_combinations_are_unrecognised() {
        for event in [
            change(
                "2026-03-02T10:00:00Z",
                Primary::Qc,
                Some(Supplement::Assigned),
            ),
            change(
                "2026-03-02T10:00:00Z",
                Primary::Draft,
                Some(Supplement::Pending),
            ),
            change("2026-03-02T10:00:00Z", Primary::Complete, None),
            LegitmarkEvent {
                kind: LegitmarkKind::MediaRejected {
                    state: state(Primary::Underway, Some(Supplement::Pending)),
                    sides: Vec::new(),
                },
                ..change("2026-03-02T10:00:00Z", Primary::Qc, None)
            },
        ] {
            let outcome = apply(None, &event, "a");
            assert_eq!(outcome.disposition, Disposition::Unrecognised, "{event:?}");
            assert_eq!(outcome.record.state, None);
            assert_eq!(outcome.notification, None);
        }
    }

    #[test]
    fn invalidation_reason_shows_while_cancelled_whichever_cancellation_came_last() {
        // given an invalidate_sr followed by a later CANCELLED state_change
        let outcomes = apply_all(&[
            (invalidate("2026-03-02T10:00:00Z"), "a"),
            (
                change("2026-03-02T10:00:01Z", Primary::Cancelled, None),
                "b",
            ),
        ]);
        // then the state_change is current, and the reason still shows
        let record = &last(&outcomes).record;
        assert_eq!(
            record.ordering.current.as_ref().map(|o| o.key.as_str()),
            Some("b")
        );
        assert_eq!(
            record.invalidation_reason.as_ref().map(|r| r.code.as_str()),
            Some("NOT_SERVICEABLE")
        );

        // when a later COMPLETE/APPROVED overrides the cancellation
        let approved = change(
            "2026-03-02T11:00:00Z",
            Primary::Complete,
            Some(Supplement::Approved),
        );
        let record = apply(Some(record.clone()), &approved, "c").record;
        // then the reason no longer shows
        assert_eq!(record.verdict, Some(Verdict::Authentic));
        assert_eq!(record.invalidation_reason, None);
    }

    #[test]
    fn timeline_disposition_follows_the_order_events_happened_in() {
        // given a completed item, then a QC approval that happened before completion, then a
        // QC approval stamped after it
        let outcomes = apply_all(&[
            (
                change(
                    "2026-03-02T10:00:00Z",
                    Primary::Complete,
                    Some(Supplement::Approved),
                ),
                "done",
            ),
            (
                change(
                    "2026-03-02T09:00:00Z",
                    Primary::Qc,
                    Some(Supplement::Approved),
                ),
                "history",
            ),
            (
                change(
                    "2026-03-02T11:00:00Z",
                    Primary::Qc,
                    Some(Supplement::Approved),
                ),
                "regress",
            ),
        ]);
        // then both deliveries were out of order, but only the one that regressed the item is
        // out of order in its history
        assert_eq!(outcomes[1].disposition, Disposition::OutOfOrder);
        assert_eq!(outcomes[2].disposition, Disposition::OutOfOrder);
        let history: Vec<(&str, Disposition)> = last(&outcomes)
            .record
            .timeline
            .iter()
            .map(|entry| (entry.key.as_str(), entry.disposition))
            .collect();
        assert_eq!(
            history,
            [
                ("history", Disposition::Applied),
                ("done", Disposition::Applied),
                ("regress", Disposition::OutOfOrder),
            ]
        );
    }

    #[test]
    fn dropped_entries_still_count_in_timeline_dispositions() {
        // given a completion followed by more QC events, stamped later, than the timeline holds
        let mut events = vec![(
            change(
                "2026-03-02T09:00:00Z",
                Primary::Complete,
                Some(Supplement::Approved),
            ),
            "done".to_owned(),
        )];
        for minute in 0..TIMELINE_LIMIT {
            events.push((
                change(
                    &format!("2026-03-02T10:{minute:02}:00Z"),
                    Primary::Qc,
                    Some(Supplement::Pending),
                ),
                format!("qc-{minute:02}"),
            ));
        }
        let pairs: Vec<(LegitmarkEvent, &str)> = events
            .iter()
            .map(|(event, key)| (event.clone(), key.as_str()))
            .collect();
        // when they are applied
        let record = &final_record(&pairs);
        // then the completion has left the timeline but still marks every QC event as regressive
        assert_eq!(record.timeline.len(), TIMELINE_LIMIT);
        assert!(
            record
                .timeline
                .iter()
                .all(|entry| entry.disposition == Disposition::OutOfOrder)
        );
    }

    #[test]
    fn notification_kind_is_its_serialised_tag() {
        let reason = InvalidationReason {
            code: "X".into(),
            message: None,
        };
        for notification in [
            Notification::AuthenticationPassed {
                item_id: "i".into(),
            },
            Notification::AuthenticationFailed {
                item_id: "i".into(),
            },
            Notification::ReuploadRequested {
                item_id: "i".into(),
                sides: Vec::new(),
            },
            Notification::PhotosPassedQc {
                item_id: "i".into(),
            },
            Notification::AuthenticatorAssigned {
                item_id: "i".into(),
            },
            Notification::RequestCancelled {
                item_id: "i".into(),
                reason: Some(reason),
            },
        ] {
            let json = serde_json::to_value(&notification).unwrap();
            assert_eq!(json["kind"], notification.kind());
            assert!(
                notification.message().ends_with('.'),
                "{}",
                notification.message()
            );
        }
    }

    #[test]
    fn reupload_message_names_every_side_with_its_reason() {
        let side = |name: &str, reason: &str, description: Option<&str>| RejectedSide {
            side: name.into(),
            reason: reason.into(),
            message: description.map(Into::into),
        };
        let notification = Notification::ReuploadRequested {
            item_id: "item-1".into(),
            sides: vec![
                side("Front", "BLURRY", Some("Out of focus.")),
                side("Back", "DARK", None),
                side("Tag", "CROPPED", Some("Cut off.")),
            ],
        };
        assert_eq!(
            notification.message(),
            "Re-upload the Front photo (BLURRY: Out of focus.), the Back photo (DARK) and the Tag \
             photo (CROPPED: Cut off.) for item item-1."
        );
    }
}
