//! The consumer's business rules over the sample payloads under `events/payloads/`: each sample's
//! documented effect, and records that depend only on the set of events applied, never on the
//! order they arrive in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;
use webhook_core::senders::cr3dentials::{
    self, Cr3dentialsEvent, Delivery, SessionEvent, SessionId, VerificationRecord,
};
use webhook_core::senders::legitmark::{
    self, ItemRecord, LegitmarkEvent, LegitmarkKind, Primary, QcStatus, SrState, Supplement,
    Verdict,
};
use webhook_core::senders::{Notify, Outcome};
use webhook_core::timeline::{Disposition, TIMELINE_LIMIT};

const ITEM_ID: &str = "item-10042";

const LEGITMARK: &str = "legitmark";
const CR3DENTIALS: &str = "cr3dentials";

/// What applying a Legitmark event yields.
type ItemOutcome = Outcome<ItemRecord, legitmark::Notification>;

fn payloads_dir(sender: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/payloads")
        .join(sender)
}

fn sample_names(sender: &str) -> BTreeSet<String> {
    fs::read_dir(payloads_dir(sender))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A sample's body, read by `parse` (a sender's parser).
fn parse_sample<E, Error: std::fmt::Display>(
    sender: &str,
    name: &str,
    parse: fn(&[u8]) -> Result<E, Error>,
) -> E {
    let path = payloads_dir(sender).join(format!("{name}.json"));
    let body = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    parse(&body).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn legitmark(name: &str) -> LegitmarkEvent {
    parse_sample(LEGITMARK, name, legitmark::parse)
}

fn cr3dentials(name: &str) -> Cr3dentialsEvent {
    parse_sample(CR3DENTIALS, name, cr3dentials::parse)
}

/// A session-level Cr3dentials sample.
fn session(name: &str) -> SessionEvent {
    match parse_sample(CR3DENTIALS, name, Delivery::parse) {
        Delivery::Session(event) => event,
        Delivery::Verification(_) => panic!("{name}: not session-level"),
    }
}

/// The Cr3dentials samples of the verification-level webhook.
fn verification_sample_names() -> BTreeSet<String> {
    sample_names(CR3DENTIALS)
        .into_iter()
        .filter(|name| {
            matches!(
                parse_sample(CR3DENTIALS, name, Delivery::parse),
                Delivery::Verification(_)
            )
        })
        .collect()
}

/// A sample re-stamped, as the sender would stamp a later event in the same state.
fn legitmark_at(name: &str, timestamp: &str) -> LegitmarkEvent {
    LegitmarkEvent {
        timestamp: timestamp.to_owned(),
        ..legitmark(name)
    }
}

/// Delivers the events one by one in the given order, as the consumer would.
fn deliver(events: &[(String, LegitmarkEvent)]) -> Vec<ItemOutcome> {
    let mut record = None;
    events
        .iter()
        .map(|(key, event)| {
            let outcome = legitmark::apply(record.take(), event, key);
            record = Some(outcome.record.clone());
            outcome
        })
        .collect()
}

fn final_record(events: &[(String, LegitmarkEvent)]) -> ItemRecord {
    deliver(events).pop().expect("at least one event").record
}

fn deliver_verifications(events: &[(String, Cr3dentialsEvent)]) -> VerificationRecord {
    let mut record = None;
    for (key, event) in events {
        record = Some(cr3dentials::apply(record.take(), event, key).record);
    }
    record.expect("at least one event")
}

fn state_text(record: &ItemRecord) -> Option<String> {
    record.state.as_ref().map(|state| match &state.supplement {
        Some(supplement) => format!("{}/{supplement}", state.primary),
        None => state.primary.to_string(),
    })
}

fn notification_kinds(outcomes: &[ItemOutcome]) -> Vec<&'static str> {
    outcomes
        .iter()
        .filter_map(|outcome| outcome.notification.as_ref().map(Notify::kind))
        .collect()
}

/// QC PENDING -> QC REJECTED -> media_rejected -> QC PENDING -> QC APPROVED -> UNDERWAY ASSIGNED
/// -> COMPLETE APPROVED, with strictly increasing timestamps and one key per delivery.
fn lifecycle() -> Vec<(String, LegitmarkEvent)> {
    [
        ("msg_1", legitmark("state_change_qc_pending")),
        ("msg_2", legitmark("state_change_qc_rejected")),
        ("msg_3", legitmark("media_rejected")),
        (
            "msg_4",
            legitmark_at("state_change_qc_pending", "2026-03-02T09:28:03.250Z"),
        ),
        ("msg_5", legitmark("state_change_qc_approved")),
        ("msg_6", legitmark("state_change_underway_assigned")),
        ("msg_7", legitmark("state_change_complete_approved")),
    ]
    .into_iter()
    .map(|(key, event)| (key.to_owned(), event))
    .collect()
}

/// Every sample about item-10042 of a known event type, one delivery each.
fn item_samples() -> Vec<(String, LegitmarkEvent)> {
    sample_names(LEGITMARK)
        .into_iter()
        .map(|name| (format!("msg_{name}"), legitmark(&name)))
        .filter(|(_, event)| event.subject() == ITEM_ID)
        .filter(|(_, event)| !matches!(event.kind, LegitmarkKind::Unknown { .. }))
        .collect()
}

/// Sample name, then the record's state, verdict and QC status, the notification kind and the
/// disposition it yields on an empty record.
type LegitmarkRow = (
    &'static str,
    Option<&'static str>,
    Option<Verdict>,
    Option<QcStatus>,
    Option<&'static str>,
    Disposition,
);

#[test]
fn every_legitmark_sample_on_an_empty_record_has_its_documented_effect() {
    use Disposition::{Applied, Unrecognised};
    #[rustfmt::skip]
    let table: &[LegitmarkRow] = &[
        ("invalidate_sr", Some("CANCELLED"), Some(Verdict::Cancelled), None, Some("request_cancelled"), Applied),
        ("invalidate_sr_v2", Some("CANCELLED"), Some(Verdict::Cancelled), None, Some("request_cancelled"), Applied),
        ("media_rejected", Some("QC/REJECTED"), None, Some(QcStatus::Rejected), Some("reupload_requested"), Applied),
        ("media_rejected_v2", Some("QC/REJECTED"), None, Some(QcStatus::Rejected), Some("reupload_requested"), Applied),
        ("reference_id_null", Some("QC/PENDING"), None, Some(QcStatus::Pending), None, Applied),
        ("state_change_cancelled", Some("CANCELLED"), Some(Verdict::Cancelled), None, Some("request_cancelled"), Applied),
        ("state_change_complete_approved", Some("COMPLETE/APPROVED"), Some(Verdict::Authentic), None, Some("authentication_passed"), Applied),
        ("state_change_complete_complete", Some("COMPLETE/COMPLETE"), None, None, None, Applied),
        ("state_change_complete_rejected", Some("COMPLETE/REJECTED"), Some(Verdict::Counterfeit), None, Some("authentication_failed"), Applied),
        ("state_change_draft", Some("DRAFT"), None, None, None, Applied),
        ("state_change_qc_approved", Some("QC/APPROVED"), None, Some(QcStatus::Approved), Some("photos_passed_qc"), Applied),
        ("state_change_qc_complete", Some("QC/COMPLETE"), None, Some(QcStatus::Complete), None, Applied),
        ("state_change_qc_pending", Some("QC/PENDING"), None, Some(QcStatus::Pending), None, Applied),
        ("state_change_qc_rejected", Some("QC/REJECTED"), None, Some(QcStatus::Rejected), None, Applied),
        ("state_change_underway_approved", Some("UNDERWAY/APPROVED"), None, None, None, Applied),
        ("state_change_underway_assigned", Some("UNDERWAY/ASSIGNED"), None, None, Some("authenticator_assigned"), Applied),
        ("state_change_underway_pending", Some("UNDERWAY/PENDING"), None, None, None, Applied),
        ("unknown_event_type", None, None, None, None, Unrecognised),
    ];
    let covered: BTreeSet<String> = table.iter().map(|row| row.0.to_owned()).collect();
    assert_eq!(covered, sample_names(LEGITMARK), "every sample has a row");

    for &(name, state, verdict, qc_status, notification, disposition) in table {
        // given an item with no record yet
        let event = legitmark(name);
        // when the sample is applied
        let outcome = legitmark::apply(None, &event, "msg_1");
        // then the record, the notification and the disposition are the documented ones
        let record = &outcome.record;
        assert_eq!(state_text(record).as_deref(), state, "{name}");
        assert_eq!(record.verdict, verdict, "{name}");
        assert_eq!(record.qc_status, qc_status, "{name}");
        assert_eq!(
            outcome.notification.as_ref().map(Notify::kind),
            notification,
            "{name}"
        );
        assert_eq!(outcome.disposition, disposition, "{name}");
        assert_eq!(record.item_id, event.subject(), "{name}");
        assert_eq!(record.timeline.len(), 1, "{name}");
        assert_eq!(record.timeline[0].disposition, disposition, "{name}");
        assert_eq!(
            record.last_event_at.as_deref(),
            Some(event.timestamp.as_str()),
            "{name}"
        );
    }
}

#[test]
fn null_reference_id_keys_the_record_by_service_request() {
    let event = legitmark("reference_id_null");
    let record = legitmark::apply(None, &event, "msg_1").record;
    assert_eq!(record.item_id, event.sr_uuid);
    assert_eq!(record.reference_id, None);
}

#[test]
fn every_cr3dentials_sample_on_an_empty_record_has_its_documented_effect() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, &str, &str)] = &[
        ("manual_review_completed", "verification.manual_review_completed", "VERIFIED", "success", "verification_completed"),
        ("verification_completed", "verification.completed", "VERIFIED", "success", "verification_completed"),
        ("verification_expired", "verification.expired", "EXPIRED", "failed", "verification_expired"),
        ("verification_failed", "verification.failed", "FAILED", "failed", "verification_failed"),
    ];
    let covered: BTreeSet<String> = table.iter().map(|row| row.0.to_owned()).collect();
    assert_eq!(
        covered,
        verification_sample_names(),
        "every sample has a row"
    );

    for &(name, outcome_type, status, overall_status, notification) in table {
        // given a session with no record yet
        let event = cr3dentials(name);
        // when the sample is applied
        let outcome = cr3dentials::apply(None, &event, "k1");
        // then the record holds the result and the user is told
        let record = &outcome.record;
        assert_eq!(outcome.disposition, Disposition::Applied, "{name}");
        assert_eq!(record.session_id, event.subject(), "{name}");
        assert_eq!(record.verification_id, event.data.verification_id, "{name}");
        assert_eq!(record.outcome, outcome_type, "{name}");
        assert_eq!(record.status, status, "{name}");
        assert_eq!(record.overall_status, overall_status, "{name}");
        assert_eq!(record.formatted_data, event.data.formatted_data, "{name}");
        assert_eq!(
            outcome.notification.as_ref().map(Notify::kind),
            Some(notification),
            "{name}"
        );
        assert_eq!(record.timeline.len(), 1, "{name}");
        assert!(record.last_event_at.is_some(), "{name}");
    }
}

#[test]
fn every_session_sample_on_an_empty_record_has_its_documented_effect() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str)] = &[
        ("session_cancelled", "CANCELLED", "session_cancelled"),
        ("session_completed", "COMPLETED", "session_completed"),
        ("session_completed_no_data", "COMPLETED", "session_completed"),
        ("session_completed_no_reference", "COMPLETED", "session_completed"),
        ("session_error", "ERROR", "session_error"),
        ("session_partial_complete", "PARTIAL_COMPLETE", "session_partially_completed"),
        ("session_terminated", "TERMINATED", "session_terminated"),
    ];
    let covered: BTreeSet<String> = table.iter().map(|row| row.0.to_owned()).collect();
    let sessions: BTreeSet<String> = sample_names(CR3DENTIALS)
        .difference(&verification_sample_names())
        .cloned()
        .collect();
    assert_eq!(covered, sessions, "every sample has a row");

    for &(name, status, notification) in table {
        // given a session with no record yet
        let event = session(name);
        // when the sample is applied
        let outcome = cr3dentials::apply_session(None, &event, "k1");
        // then the record holds how the session ended, and the user is told
        let record = &outcome.record;
        assert_eq!(outcome.disposition, Disposition::Applied, "{name}");
        assert_eq!(record.session_id, event.session_id.as_str(), "{name}");
        let ended = record.session.as_ref().unwrap();
        assert_eq!(ended.status, status, "{name}");
        assert_eq!(
            ended.external_reference_id, event.external_reference_id,
            "{name}"
        );
        assert_eq!(ended.completed_at, event.completed_at, "{name}");
        assert_eq!(ended.platform_id, event.platform_id, "{name}");
        assert_eq!(ended.proof_hash, event.proof_hash, "{name}");
        assert_eq!(ended.extracted_data, event.extracted_data, "{name}");
        assert_eq!(
            outcome.notification.as_ref().map(Notify::kind),
            Some(notification),
            "{name}"
        );
        // and no verification-level field is filled in
        assert_eq!(record.outcome, "", "{name}");
        assert_eq!(record.verification_id, "", "{name}");
        assert_eq!(record.formatted_data, None, "{name}");
        assert_eq!(record.timeline.len(), 1, "{name}");
        assert_eq!(record.last_event_at, event.completed_at, "{name}");
    }
}

#[test]
fn failed_verification_notification_carries_the_detailed_status() {
    let event = cr3dentials("verification_failed");
    let outcome = cr3dentials::apply(None, &event, "k1");
    assert_eq!(
        outcome.notification,
        Some(cr3dentials::Notification::VerificationFailed {
            session_id: "48257".into(),
            verification_id: "ver_2n7vh5rb0c1e".into(),
            status: "FAILED".into(),
        })
    );
}

#[test]
fn in_order_lifecycle_ends_authentic_with_nothing_outstanding() {
    // given the lifecycle delivered in order
    let outcomes = deliver(&lifecycle());
    // then every event was applied, and the user heard each step that matters
    assert!(
        outcomes
            .iter()
            .all(|outcome| outcome.disposition == Disposition::Applied)
    );
    assert_eq!(
        notification_kinds(&outcomes),
        [
            "reupload_requested",
            "photos_passed_qc",
            "authenticator_assigned",
            "authentication_passed"
        ]
    );
    let record = &outcomes.last().unwrap().record;
    assert_eq!(record.verdict, Some(Verdict::Authentic));
    assert_eq!(record.qc_status, Some(QcStatus::Approved));
    assert!(record.reupload_requests.is_empty());
    assert_eq!(state_text(record).as_deref(), Some("COMPLETE/APPROVED"));
    assert_eq!(
        record.last_event_at.as_deref(),
        Some("2026-03-02T09:45:05.771Z")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_arrival_order_of_the_lifecycle_ends_in_the_in_order_record(
        order in Just((0..lifecycle().len()).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        // given the lifecycle and its in-order result
        let events = lifecycle();
        let expected = final_record(&events);
        // when the same events arrive in a random order
        let shuffled: Vec<_> = order.iter().map(|&i| events[i].clone()).collect();
        let record = final_record(&shuffled);
        // then the record is the same in every field, timeline included
        prop_assert_eq!(&record, &expected);
        prop_assert_eq!(record.verdict, Some(Verdict::Authentic));
        prop_assert!(record.reupload_requests.is_empty());
    }

    #[test]
    fn any_arrival_order_of_every_sample_of_one_item_ends_in_the_same_record(
        order in Just((0..item_samples().len()).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        // given every sample about item-10042 of a known type
        let events = item_samples();
        let expected = final_record(&events);
        // when they arrive in a random order
        let shuffled: Vec<_> = order.iter().map(|&i| events[i].clone()).collect();
        // then the record is the same
        prop_assert_eq!(final_record(&shuffled), expected);
    }

    #[test]
    fn any_arrival_order_of_a_sessions_verifications_ends_in_the_same_record(
        order in Just((0..verification_sample_names().len()).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        // given every verification-level Cr3dentials sample, as events of one session
        let events: Vec<(String, Cr3dentialsEvent)> = verification_sample_names()
            .into_iter()
            .map(|name| {
                let mut event = cr3dentials(&name);
                event.data.session_id = SessionId("48213".into());
                (format!("k_{name}"), event)
            })
            .collect();
        let expected = deliver_verifications(&events);
        // when they arrive in a random order
        let shuffled: Vec<_> = order.iter().map(|&i| events[i].clone()).collect();
        let record = deliver_verifications(&shuffled);
        // then the record is the same, and the latest event (the manual review) is current
        prop_assert_eq!(&record, &expected);
        prop_assert_eq!(record.outcome.as_str(), "verification.manual_review_completed");
    }
}

#[test]
fn two_qc_rejection_rounds_in_order_request_two_reuploads() {
    // given two rejection rounds, the second rejecting the Front photo only
    let mut second = legitmark_at("media_rejected", "2026-03-02T09:30:10.000Z");
    if let LegitmarkKind::MediaRejected { sides, .. } = &mut second.kind {
        sides.truncate(1);
    }
    let events: Vec<(String, LegitmarkEvent)> = [
        legitmark("state_change_qc_pending"),
        legitmark("state_change_qc_rejected"),
        legitmark("media_rejected"),
        legitmark_at("state_change_qc_pending", "2026-03-02T09:28:03.250Z"),
        legitmark_at("state_change_qc_rejected", "2026-03-02T09:29:40.000Z"),
        second,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, event)| (format!("msg_{i}"), event))
    .collect();
    // when they are delivered in order
    let outcomes = deliver(&events);
    // then each round asked for a re-upload, and only the second round's side is outstanding
    assert_eq!(
        notification_kinds(&outcomes),
        ["reupload_requested", "reupload_requested"]
    );
    let record = &outcomes.last().unwrap().record;
    let outstanding: Vec<&str> = record
        .reupload_requests
        .iter()
        .map(|side| side.side.as_str())
        .collect();
    assert_eq!(outstanding, ["Front"]);
    assert_eq!(record.qc_status, Some(QcStatus::Rejected));
}

#[test]
fn late_qc_approval_after_authentic_verdict_is_out_of_order_and_in_the_timeline() {
    // given an item already judged authentic
    let authentic = legitmark::apply(
        None,
        &legitmark("state_change_complete_approved"),
        "msg_done",
    )
    .record;
    // when the QC approval that preceded it arrives late
    let outcome = legitmark::apply(
        Some(authentic.clone()),
        &legitmark("state_change_qc_approved"),
        "msg_qc",
    );
    // then it is out of order, sends nothing, and leaves the verdict and state alone
    assert_eq!(outcome.disposition, Disposition::OutOfOrder);
    assert_eq!(outcome.notification, None);
    assert_eq!(outcome.record.verdict, Some(Verdict::Authentic));
    assert_eq!(outcome.record.state, authentic.state);
    // and it is in the timeline, before the completion it preceded
    let keys: Vec<&str> = outcome
        .record
        .timeline
        .iter()
        .map(|entry| entry.key.as_str())
        .collect();
    assert_eq!(keys, ["msg_qc", "msg_done"]);
    assert_eq!(
        outcome.record.last_event_at.as_deref(),
        Some("2026-03-02T09:45:05.771Z")
    );
}

#[test]
fn late_media_rejection_after_qc_approval_requests_no_reupload() {
    // given photos that already passed review
    let approved = legitmark::apply(None, &legitmark("state_change_qc_approved"), "msg_ok").record;
    // when the earlier round's media_rejected arrives late
    let outcome = legitmark::apply(Some(approved), &legitmark("media_rejected"), "msg_rej");
    // then no stale re-upload request is recorded or sent
    assert_eq!(outcome.disposition, Disposition::OutOfOrder);
    assert_eq!(outcome.notification, None);
    assert!(outcome.record.reupload_requests.is_empty());
    assert_eq!(outcome.record.qc_status, Some(QcStatus::Approved));
    assert_eq!(outcome.record.timeline.len(), 2);
}

#[test]
fn unknown_event_type_changes_nothing_but_the_timeline() {
    // given an item with an authenticator assigned earlier
    let before =
        legitmark::apply(None, &legitmark("state_change_underway_pending"), "msg_1").record;
    // when an event type we do not know arrives, carrying a known state
    let outcome = legitmark::apply(
        Some(before.clone()),
        &legitmark("unknown_event_type"),
        "msg_2",
    );
    // then it is unrecognised, sends nothing, and only the timeline grows
    assert_eq!(outcome.disposition, Disposition::Unrecognised);
    assert_eq!(outcome.notification, None);
    assert_eq!(outcome.record.state, before.state);
    let entry = outcome
        .record
        .timeline
        .iter()
        .find(|entry| entry.key == "msg_2")
        .unwrap();
    assert_eq!(entry.event_type, "sr_note_added");
    assert_eq!(entry.disposition, Disposition::Unrecognised);
}

#[test]
fn unknown_state_changes_nothing_but_the_timeline() {
    // given an item under authentication
    let before =
        legitmark::apply(None, &legitmark("state_change_underway_assigned"), "msg_1").record;
    // when a later state_change names a state we do not know
    let mut event = legitmark_at("state_change_underway_assigned", "2026-03-02T10:00:00Z");
    event.kind = LegitmarkKind::StateChange {
        state: SrState {
            primary: Primary::Other("ON_HOLD".into()),
            supplement: Some(Supplement::Other("AWAITING_SELLER".into())),
        },
    };
    let outcome = legitmark::apply(Some(before.clone()), &event, "msg_2");
    // then it is unrecognised, sends nothing, and only the timeline and last event time change
    assert_eq!(outcome.disposition, Disposition::Unrecognised);
    assert_eq!(outcome.notification, None);
    assert_eq!(outcome.record.state, before.state);
    let last = outcome.record.timeline.last().unwrap();
    assert_eq!(last.state.as_deref(), Some("ON_HOLD/AWAITING_SELLER"));
    assert_eq!(last.disposition, Disposition::Unrecognised);
    assert_eq!(
        outcome.record.last_event_at.as_deref(),
        Some("2026-03-02T10:00:00Z")
    );
}

#[test]
fn unknown_cr3dentials_type_changes_nothing_but_the_timeline() {
    // given a completed verification
    let before = cr3dentials::apply(None, &cr3dentials("verification_completed"), "k1").record;
    // when an event type we do not know arrives
    let mut event = cr3dentials("verification_completed");
    event.kind = "verification.started".into();
    let outcome = cr3dentials::apply(Some(before.clone()), &event, "k2");
    // then it is unrecognised and only timelined
    assert_eq!(outcome.disposition, Disposition::Unrecognised);
    assert_eq!(outcome.notification, None);
    assert_eq!(outcome.record.outcome, before.outcome);
    assert_eq!(outcome.record.timeline.len(), 2);
}

#[test]
fn timeline_keeps_only_the_latest_entries() {
    // given more events than the timeline holds, delivered newest first
    let total = TIMELINE_LIMIT + 10;
    let mut events: Vec<(String, LegitmarkEvent)> = (0..total)
        .map(|i| {
            let at = format!("2026-03-02T10:{:02}:{:02}Z", i / 60, i % 60);
            (
                format!("msg_{i:03}"),
                legitmark_at("unknown_event_type", &at),
            )
        })
        .collect();
    events.reverse();
    // when they are applied
    let record = final_record(&events);
    // then the latest TIMELINE_LIMIT remain, oldest first
    let keys: Vec<String> = record
        .timeline
        .iter()
        .map(|entry| entry.key.clone())
        .collect();
    let expected: Vec<String> = (total - TIMELINE_LIMIT..total)
        .map(|i| format!("msg_{i:03}"))
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(
        record.last_event_at.as_deref(),
        Some("2026-03-02T10:00:59Z")
    );
}

#[test]
fn records_round_trip_through_json() {
    // given records built from every kind of event
    let item = final_record(&lifecycle());
    let cancelled = final_record(&[
        ("a".into(), legitmark("media_rejected")),
        ("b".into(), legitmark("invalidate_sr")),
    ]);
    let verification =
        cr3dentials::apply(None, &cr3dentials("manual_review_completed"), "k").record;
    // when they are stored as JSON and read back
    // then they are equal
    for record in [item, cancelled] {
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<ItemRecord>(&json).unwrap(), record);
    }
    let json = serde_json::to_string(&verification).unwrap();
    assert_eq!(
        serde_json::from_str::<VerificationRecord>(&json).unwrap(),
        verification
    );
}

#[test]
fn reupload_notification_is_tagged_and_names_each_side() {
    // given the media_rejected sample
    let outcome = legitmark::apply(None, &legitmark("media_rejected"), "msg_1");
    let notification = outcome.notification.unwrap();
    // then it serialises with its kind tag and reads as a sentence naming each side
    let json = serde_json::to_value(&notification).unwrap();
    assert_eq!(json["kind"], "reupload_requested");
    assert_eq!(json["item_id"], ITEM_ID);
    assert_eq!(json["sides"][1]["reason"], "POOR_LIGHTING");
    let message = notification.message();
    assert!(
        message.starts_with(
            "Re-upload the Front photo (BLURRY: The photo is out of focus; the logo stitching \
             cannot be inspected.) and the Back photo (POOR_LIGHTING: "
        ),
        "{message}"
    );
    assert!(message.ends_with(" for item item-10042."), "{message}");
}

#[test]
fn invalidation_carries_its_reason_to_record_and_notification() {
    let outcome = legitmark::apply(None, &legitmark("invalidate_sr"), "msg_1");
    let reason = outcome.record.invalidation_reason.clone().unwrap();
    assert_eq!(reason.code, "NOT_SERVICEABLE");
    assert_eq!(
        outcome.notification,
        Some(legitmark::Notification::RequestCancelled {
            item_id: ITEM_ID.into(),
            reason: Some(reason),
        })
    );
}
