//! The sample bodies under `events/payloads/` read as the events they are named for, through each
//! sender's own parser and through the registry, whichever payload generation they are in (the
//! `_v2` Legitmark samples are the newer one, the `session_` Cr3dentials samples the session-level
//! webhook), and the provider SDK's predicates hold on exactly the samples they should.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use webhook_core::senders::cr3dentials::{
    Cr3dentialsEvent, Delivery, OverallStatus, SessionEvent, SessionStatus, VerificationEventType,
};
use webhook_core::senders::legitmark::{self, LegitmarkEvent, LegitmarkKind, Primary, Supplement};
use webhook_core::senders::{self, ParsedEvent};

const LEGITMARK: &str = "legitmark";
const CR3DENTIALS: &str = "cr3dentials";

/// The one service request the Legitmark lifecycle samples describe.
const SR_UUID: &str = "5b3f9e2a-8c41-4d7e-a0b6-2f9c1e7d4a83";
const REFERENCE_ID: &str = "item-10042";

fn payloads_dir(source: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/payloads")
        .join(source)
}

/// The sample names (file stems) in a source's folder, sorted.
fn sample_names(source: &str) -> BTreeSet<String> {
    let dir = payloads_dir(source);
    let names: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(!names.is_empty(), "no samples in {}", dir.display());
    names
}

fn sample_text(source: &str, name: &str) -> String {
    let path = payloads_dir(source).join(format!("{name}.json"));
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// A sample parsed as the services parse it: by the registry's sender of that name.
fn parse_sample(sender: &str, name: &str) -> Box<dyn ParsedEvent> {
    let registry = senders::builtin();
    let payload = registry
        .get(sender)
        .unwrap_or_else(|| panic!("no sender {sender:?}"));
    payload
        .parse(sample_text(sender, name).as_bytes())
        .unwrap_or_else(|err| panic!("{sender}/{name}.json: {err}"))
}

fn legitmark(name: &str) -> LegitmarkEvent {
    legitmark::parse(sample_text(LEGITMARK, name).as_bytes())
        .unwrap_or_else(|err| panic!("{LEGITMARK}/{name}.json: {err}"))
}

/// A Cr3dentials sample of either generation, as the sender reads it.
fn cr3dentials_delivery(name: &str) -> Delivery {
    Delivery::parse(sample_text(CR3DENTIALS, name).as_bytes())
        .unwrap_or_else(|err| panic!("{CR3DENTIALS}/{name}.json: {err}"))
}

/// A verification-level Cr3dentials sample.
fn cr3dentials(name: &str) -> Cr3dentialsEvent {
    match cr3dentials_delivery(name) {
        Delivery::Verification(event) => event,
        Delivery::Session(event) => {
            panic!("{name}: session-level, not verification-level: {event:?}")
        }
    }
}

/// A session-level Cr3dentials sample.
fn session(name: &str) -> SessionEvent {
    match cr3dentials_delivery(name) {
        Delivery::Session(event) => event,
        Delivery::Verification(event) => {
            panic!("{name}: verification-level, not session-level: {event:?}")
        }
    }
}

/// The Cr3dentials samples of the verification-level webhook.
fn verification_sample_names() -> BTreeSet<String> {
    sample_names(CR3DENTIALS)
        .into_iter()
        .filter(|name| matches!(cr3dentials_delivery(name), Delivery::Verification(_)))
        .collect()
}

/// The Legitmark samples on which `predicate` holds.
fn legitmark_samples_where(predicate: fn(&LegitmarkEvent) -> bool) -> BTreeSet<String> {
    sample_names(LEGITMARK)
        .into_iter()
        .filter(|name| predicate(&legitmark(name)))
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn every_sample_body_parses_as_its_source() {
    for sender in [LEGITMARK, CR3DENTIALS] {
        for name in sample_names(sender) {
            // given a sample body from the sender's folder
            // when it is parsed by the registry's sender of that name
            let event = parse_sample(sender, &name);
            // then it parses, and says what the sender's own parser reads
            let (event_type, subject) = match sender {
                LEGITMARK => {
                    let typed = legitmark(&name);
                    (typed.event_type().to_owned(), typed.subject().to_owned())
                }
                CR3DENTIALS => {
                    let typed = cr3dentials_delivery(&name);
                    (typed.event_type(), typed.subject().to_owned())
                }
                other => unreachable!("no samples for {other}"),
            };
            assert_eq!(event.event_type(), event_type, "{sender}/{name}");
            assert_eq!(event.subject(), subject, "{sender}/{name}");
        }
    }
}

#[test]
fn each_legitmark_sample_reads_as_the_event_and_state_it_is_named_for() {
    use Primary as P;
    use Supplement as S;
    let table: &[(&str, &str, Primary, Option<Supplement>)] = &[
        ("state_change_draft", "state_change", P::Draft, None),
        (
            "state_change_qc_pending",
            "state_change",
            P::Qc,
            Some(S::Pending),
        ),
        (
            "state_change_qc_rejected",
            "state_change",
            P::Qc,
            Some(S::Rejected),
        ),
        ("media_rejected", "media_rejected", P::Qc, Some(S::Rejected)),
        (
            "media_rejected_v2",
            "media_rejected",
            P::Qc,
            Some(S::Rejected),
        ),
        (
            "state_change_qc_approved",
            "state_change",
            P::Qc,
            Some(S::Approved),
        ),
        (
            "state_change_qc_complete",
            "state_change",
            P::Qc,
            Some(S::Complete),
        ),
        (
            "state_change_underway_pending",
            "state_change",
            P::Underway,
            Some(S::Pending),
        ),
        (
            "state_change_underway_assigned",
            "state_change",
            P::Underway,
            Some(S::Assigned),
        ),
        (
            "state_change_underway_approved",
            "state_change",
            P::Underway,
            Some(S::Approved),
        ),
        (
            "state_change_complete_approved",
            "state_change",
            P::Complete,
            Some(S::Approved),
        ),
        (
            "state_change_complete_rejected",
            "state_change",
            P::Complete,
            Some(S::Rejected),
        ),
        (
            "state_change_complete_complete",
            "state_change",
            P::Complete,
            Some(S::Complete),
        ),
        ("state_change_cancelled", "state_change", P::Cancelled, None),
        ("invalidate_sr", "invalidate_sr", P::Cancelled, None),
        ("invalidate_sr_v2", "invalidate_sr", P::Cancelled, None),
        (
            "unknown_event_type",
            "sr_note_added",
            P::Underway,
            Some(S::Assigned),
        ),
        ("reference_id_null", "state_change", P::Qc, Some(S::Pending)),
    ];
    // every sample has an entry, so the predicate tests below know what each one is
    assert_eq!(
        table
            .iter()
            .map(|row| row.0.to_owned())
            .collect::<BTreeSet<_>>(),
        sample_names(LEGITMARK)
    );
    for (name, event_type, primary, supplement) in table {
        // given a sample named for an event and state
        // when it is parsed
        let event = legitmark(name);
        // then it carries that event type and state
        assert_eq!(event.event_type(), *event_type, "{name}");
        let state = event.state().unwrap_or_else(|| panic!("{name}: no state"));
        assert_eq!(&state.primary, primary, "{name}");
        assert_eq!(&state.supplement, supplement, "{name}");
    }
}

#[test]
fn is_authentic_holds_only_on_complete_approved() {
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::is_authentic),
        names(&["state_change_complete_approved"])
    );
}

#[test]
fn is_counterfeit_holds_only_on_complete_rejected() {
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::is_counterfeit),
        names(&["state_change_complete_rejected"])
    );
}

#[test]
fn is_cancelled_holds_on_cancelled_state_change_and_invalidate_sr() {
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::is_cancelled),
        names(&[
            "invalidate_sr",
            "invalidate_sr_v2",
            "state_change_cancelled"
        ])
    );
}

#[test]
fn needs_resubmission_holds_only_on_media_rejected() {
    // not on the QC/REJECTED state change itself: the media_rejected event that follows names
    // the sides to re-upload, in either generation
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::needs_resubmission),
        names(&["media_rejected", "media_rejected_v2"])
    );
}

#[test]
fn is_qc_approved_holds_only_on_qc_approved() {
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::is_qc_approved),
        names(&["state_change_qc_approved"])
    );
}

#[test]
fn is_authentication_in_progress_holds_on_underway_assigned_but_not_on_unknown_events() {
    // the unknown event also carries UNDERWAY/ASSIGNED, but its meaning is not known
    assert_eq!(
        legitmark_samples_where(LegitmarkEvent::is_authentication_in_progress),
        names(&["state_change_underway_assigned"])
    );
}

#[test]
fn lifecycle_samples_describe_one_service_request_for_one_item() {
    for name in sample_names(LEGITMARK) {
        if name == "reference_id_null" {
            continue;
        }
        let event = legitmark(&name);
        assert_eq!(event.sr_uuid, SR_UUID, "{name}");
        assert_eq!(event.reference_id.as_deref(), Some(REFERENCE_ID), "{name}");
        assert_eq!(event.subject(), REFERENCE_ID, "{name}");
        assert_eq!(
            parse_sample(LEGITMARK, &name).subject(),
            REFERENCE_ID,
            "{name}"
        );
    }
}

#[test]
fn lifecycle_timestamps_increase_along_the_normal_path() {
    // given the samples of the normal path, in order
    let path = [
        "state_change_draft",
        "state_change_qc_pending",
        "state_change_qc_rejected",
        "media_rejected",
        "state_change_qc_approved",
        "state_change_underway_pending",
        "state_change_underway_assigned",
        "state_change_underway_approved",
        "state_change_complete_approved",
    ];
    // when their timestamps are read
    let instants: Vec<_> = path
        .iter()
        .map(|name| {
            legitmark(name)
                .occurred_at()
                .unwrap_or_else(|| panic!("{name}: unreadable timestamp"))
        })
        .collect();
    // then each is later than the one before
    for (pair, names) in instants.windows(2).zip(path.windows(2)) {
        assert!(pair[0] < pair[1], "{} is not before {}", names[0], names[1]);
    }
}

#[test]
fn subject_falls_back_to_sr_uuid_when_reference_id_is_null() {
    // given a state change whose reference_id is null
    let text = sample_text(LEGITMARK, "reference_id_null");
    assert!(text.contains("\"reference_id\": null"));
    // when it is parsed
    let event = legitmark("reference_id_null");
    // then the service request is the subject, for the services too
    assert_eq!(event.reference_id, None);
    assert_eq!(event.subject(), event.sr_uuid);
    assert_eq!(
        parse_sample(LEGITMARK, "reference_id_null").subject(),
        event.sr_uuid
    );
}

#[test]
fn unknown_event_type_is_preserved_raw() {
    // given an event type this receiver does not know
    // when it is parsed
    let event = legitmark("unknown_event_type");
    // then it parses, and the type is kept exactly as sent
    assert_eq!(event.event_type(), "sr_note_added");
    assert_eq!(
        parse_sample(LEGITMARK, "unknown_event_type").event_type(),
        "sr_note_added"
    );
    assert!(matches!(
        event.kind,
        LegitmarkKind::Unknown { ref event_type, state: Some(_) } if event_type == "sr_note_added"
    ));
}

#[test]
fn media_rejected_names_each_side_to_reupload() {
    let event = legitmark("media_rejected");
    let LegitmarkKind::MediaRejected { sides, .. } = &event.kind else {
        panic!("not media_rejected: {:?}", event.kind);
    };
    let summary: Vec<_> = sides
        .iter()
        .map(|side| (side.side.as_str(), side.reason.as_str()))
        .collect();
    assert_eq!(summary, [("Front", "BLURRY"), ("Back", "POOR_LIGHTING")]);
    assert!(sides.iter().all(|side| side.message.is_some()));
}

#[test]
fn newer_media_rejected_names_each_side_with_its_readable_reason_and_optional_message() {
    // given the newer generation's media_rejected: no state, sides {side, reason, message?}
    let sent: Value = serde_json::from_str(&sample_text(LEGITMARK, "media_rejected_v2")).unwrap();
    assert!(sent.get("state").is_none());
    // when it is parsed
    let event = legitmark("media_rejected_v2");
    let LegitmarkKind::MediaRejected { sides, .. } = &event.kind else {
        panic!("not media_rejected: {:?}", event.kind);
    };
    // then each side keeps its name, readable reason and message, if it had one
    let summary: Vec<_> = sides
        .iter()
        .map(|side| {
            (
                side.side.as_str(),
                side.reason.as_str(),
                side.message.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "Front",
                "Image is Blurry",
                Some(
                    "The logo stitching is still out of focus; hold the camera steady and retake \
                     the photo from closer."
                )
            ),
            ("Serial Tag", "Not Visible", None),
        ]
    );
}

#[test]
fn invalidate_sr_carries_its_reason_and_no_supplement() {
    let event = legitmark("invalidate_sr");
    let LegitmarkKind::InvalidateSr {
        state,
        invalidation_reason,
    } = &event.kind
    else {
        panic!("not invalidate_sr: {:?}", event.kind);
    };
    assert_eq!(state.supplement, None);
    assert_eq!(invalidation_reason.code, "NOT_SERVICEABLE");
    assert_eq!(
        invalidation_reason.message.as_deref(),
        Some("The brand of this item is not supported for authentication.")
    );
}

#[test]
fn newer_invalidate_sr_reads_as_cancelled_with_its_code_and_message() {
    // given the newer generation's invalidate_sr: no state, reason {code, message}
    let sent: Value = serde_json::from_str(&sample_text(LEGITMARK, "invalidate_sr_v2")).unwrap();
    assert!(sent.get("state").is_none());
    // when it is parsed
    let event = legitmark("invalidate_sr_v2");
    let LegitmarkKind::InvalidateSr {
        state,
        invalidation_reason,
    } = &event.kind
    else {
        panic!("not invalidate_sr: {:?}", event.kind);
    };
    // then it is CANCELLED without supplement, with the reason's code and message
    assert_eq!(state.primary, Primary::Cancelled);
    assert_eq!(state.supplement, None);
    assert_eq!(invalidation_reason.code, "CANCELLED");
    assert_eq!(
        invalidation_reason.message.as_deref(),
        Some("The service request was cancelled at the partner's request.")
    );
}

/// The form an event of either generation is stored in, from the body it was sent as: the state
/// its type implies where the newer generation leaves it out; sides as `{side, reason, message}`
/// (the explanation from `message`, else `reason_description`; no `side_uuid`); the invalidation
/// reason as `{code, message}` (from `message`, else `description`). Anything else as sent.
fn stored_form(mut sent: Value) -> Value {
    let implied = match sent["event_type"].as_str() {
        Some("media_rejected") => {
            Some(serde_json::json!({"primary": "QC", "supplement": "REJECTED"}))
        }
        Some("invalidate_sr") => {
            Some(serde_json::json!({"primary": "CANCELLED", "supplement": null}))
        }
        _ => None,
    };
    let object = sent.as_object_mut().unwrap();
    if let Some(state) = implied {
        object.entry("state").or_insert(state);
    }
    if let Some(Value::Array(sides)) = object.get_mut("sides") {
        for side in sides {
            let message = [&side["message"], &side["reason_description"]]
                .into_iter()
                .find(|text| !text.is_null())
                .cloned()
                .unwrap_or(Value::Null);
            *side = serde_json::json!({
                "side": side["side"],
                "reason": side["reason"],
                "message": message,
            });
        }
    }
    if let Some(reason) = object.get_mut("invalidation_reason") {
        let message = [&reason["message"], &reason["description"]]
            .into_iter()
            .find(|text| !text.is_null())
            .cloned()
            .unwrap_or(Value::Null);
        *reason = serde_json::json!({"code": reason["code"], "message": message});
    }
    sent
}

#[test]
fn known_legitmark_samples_serialise_to_their_stored_form_and_parse_back_equal() {
    for name in sample_names(LEGITMARK) {
        if name == "unknown_event_type" {
            // its extra fields are not part of any schema we know, so they are not kept
            continue;
        }
        // given a sample of a known type, of either generation
        let sent: Value = serde_json::from_str(&sample_text(LEGITMARK, &name)).unwrap();
        let event = legitmark(&name);
        // when it is serialised, as events are stored
        let stored = serde_json::to_value(&event).unwrap();
        // then it is the body in the stored form, and parses back as the same event
        assert_eq!(stored, stored_form(sent.clone()), "{name}");
        assert_eq!(
            legitmark::parse(&serde_json::to_vec(&stored).unwrap()).unwrap(),
            event,
            "{name}"
        );
        // and a state change, which has one shape only, is stored exactly as it was sent
        if event.event_type() == "state_change" {
            assert_eq!(stored, sent, "{name}");
        }
    }
}

#[test]
fn older_and_newer_samples_of_one_type_are_stored_in_the_same_shape() {
    for (older, newer) in [
        ("media_rejected", "media_rejected_v2"),
        ("invalidate_sr", "invalidate_sr_v2"),
    ] {
        // given one sample of each generation
        // when both are serialised
        let shape = |name: &str| {
            let stored = serde_json::to_value(legitmark(name)).unwrap();
            field_paths(&stored, "")
        };
        // then they have the same fields, down to each side's and the reason's
        assert_eq!(shape(older), shape(newer), "{older} / {newer}");
    }
}

/// Every object key path in `value`, array items as `[]`.
fn field_paths(value: &Value, prefix: &str) -> BTreeSet<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, inner)| {
                let path = format!("{prefix}/{key}");
                let mut paths = field_paths(inner, &path);
                paths.insert(path);
                paths
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .flat_map(|item| field_paths(item, &format!("{prefix}[]")))
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn each_cr3dentials_sample_reads_as_the_outcome_it_is_named_for() {
    let table = [
        (
            "verification_completed",
            VerificationEventType::Completed,
            OverallStatus::Success,
            "VERIFIED",
            true,
        ),
        (
            "verification_failed",
            VerificationEventType::Failed,
            OverallStatus::Failed,
            "FAILED",
            false,
        ),
        (
            "verification_expired",
            VerificationEventType::Expired,
            OverallStatus::Failed,
            "EXPIRED",
            false,
        ),
        (
            "manual_review_completed",
            VerificationEventType::ManualReviewCompleted,
            OverallStatus::Success,
            "VERIFIED",
            false,
        ),
    ];
    assert_eq!(
        table
            .iter()
            .map(|row| row.0.to_owned())
            .collect::<BTreeSet<_>>(),
        verification_sample_names()
    );
    for (name, kind, status, detailed, verified) in table {
        let event = cr3dentials(name);
        assert_eq!(event.kind, kind, "{name}");
        assert_eq!(event.event_type(), kind.as_str(), "{name}");
        assert_eq!(event.status, status, "{name}");
        assert_eq!(event.data.status, detailed, "{name}");
        assert_eq!(event.is_verified(), verified, "{name}");
    }
}

#[test]
fn every_cr3dentials_sample_is_of_the_generation_its_name_says() {
    // session_* samples are the session-level webhook; every other one is verification-level
    for name in sample_names(CR3DENTIALS) {
        let is_session = matches!(cr3dentials_delivery(&name), Delivery::Session(_));
        assert_eq!(is_session, name.starts_with("session_"), "{name}");
    }
}

#[test]
fn each_session_sample_reads_as_the_terminal_status_it_is_named_for() {
    // name, status, event type, externalReferenceId, whether extractedData is present
    #[rustfmt::skip]
    let table: &[(&str, SessionStatus, &str, Option<&str>, bool)] = &[
        ("session_cancelled", SessionStatus::Cancelled, "session.cancelled", Some("user_abc123"), false),
        ("session_completed", SessionStatus::Completed, "session.completed", Some("user_abc123"), true),
        ("session_completed_no_data", SessionStatus::Completed, "session.completed", Some("user_abc123"), false),
        ("session_completed_no_reference", SessionStatus::Completed, "session.completed", None, true),
        ("session_error", SessionStatus::Error, "session.error", Some("user_abc123"), false),
        ("session_partial_complete", SessionStatus::PartialComplete, "session.partial_complete", Some("user_abc123"), true),
        ("session_terminated", SessionStatus::Terminated, "session.terminated", Some("user_abc123"), false),
    ];
    // every session-level sample has an entry, and the two tables cover every sample
    let covered: BTreeSet<String> = table.iter().map(|row| row.0.to_owned()).collect();
    let sessions: BTreeSet<String> = sample_names(CR3DENTIALS)
        .difference(&verification_sample_names())
        .cloned()
        .collect();
    assert_eq!(covered, sessions);
    for (name, status, event_type, reference, has_data) in table {
        // given a session-level sample
        let sent: Value = serde_json::from_str(&sample_text(CR3DENTIALS, name)).unwrap();
        // when it is parsed by the sender and by the registry
        let event = session(name);
        let erased = parse_sample(CR3DENTIALS, name);
        // then it carries the status, type, subject and fields it was sent with
        assert_eq!(&event.status, status, "{name}");
        assert_eq!(event.event_type(), *event_type, "{name}");
        assert_eq!(erased.event_type(), *event_type, "{name}");
        assert_eq!(event.session_id.as_str(), sent["sessionId"], "{name}");
        assert_eq!(erased.subject(), sent["sessionId"], "{name}");
        assert_eq!(event.external_reference_id.as_deref(), *reference, "{name}");
        assert_eq!(event.extracted_data.is_some(), *has_data, "{name}");
        assert_eq!(
            event.proof_hash.as_deref(),
            sent["proofHash"].as_str(),
            "{name}"
        );
        assert_eq!(
            event.completed_at.as_deref(),
            sent["completedAt"].as_str(),
            "{name}"
        );
        assert_eq!(
            event.platform_id.as_ref(),
            Some(&sent["platformId"]),
            "{name}"
        );
        assert!(
            event.occurred_at().is_some(),
            "{name}: unreadable completedAt"
        );
    }
}

#[test]
fn cr3dentials_subject_is_the_session_id_and_time_is_verified_at() {
    let event = cr3dentials("verification_completed");
    assert_eq!(event.subject(), "48213");
    assert_eq!(
        parse_sample(CR3DENTIALS, "verification_completed").subject(),
        "48213"
    );
    assert_eq!(
        event.occurred_at().map(|at| at.unix_timestamp()),
        Some(1_772_461_812) // 2026-03-02T14:30:12Z
    );
    let expired = cr3dentials("verification_expired");
    assert_eq!(expired.occurred_at(), None);
}

#[test]
fn proof_data_is_kept_byte_for_byte_as_sent() {
    // (session-level samples have no proofData: their proof is the proofHash)
    for name in verification_sample_names() {
        // given a sample body
        let text = sample_text(CR3DENTIALS, &name);
        let sent: Value = serde_json::from_str(&text).unwrap();
        // when it is parsed
        let event = cr3dentials(&name);
        // then proofData is the exact text of the body at that field, or absent when null
        match event.data.proof_data.as_deref() {
            None => assert!(sent["data"]["proofData"].is_null(), "{name}"),
            Some(raw) => {
                let key = "\"proofData\": ";
                let start = text.find(key).unwrap() + key.len();
                assert!(
                    text[start..].starts_with(raw.get()),
                    "{name}: {:?}",
                    raw.get()
                );
                assert!(
                    raw.get().contains('\n'),
                    "{name}: pretty-printing was not kept"
                );
                let reparsed: Value = serde_json::from_str(raw.get()).unwrap();
                assert_eq!(reparsed, sent["data"]["proofData"], "{name}");
            }
        }
    }
}

#[test]
fn cr3dentials_samples_serialise_back_to_their_own_json() {
    for name in sample_names(CR3DENTIALS) {
        let mut sent: Value = serde_json::from_str(&sample_text(CR3DENTIALS, &name)).unwrap();
        if sent["data"]["proofData"].is_null() && sent.get("data").is_some() {
            // a null proofData and an absent one mean the same; the absent form is stored
            sent["data"].as_object_mut().unwrap().remove("proofData");
        }
        let stored = serde_json::to_value(cr3dentials_delivery(&name)).unwrap();
        assert_eq!(stored, sent, "{name}");
        // and the stored form is read back as the same generation
        let again = Delivery::parse(&serde_json::to_vec(&stored).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(again).unwrap(), stored, "{name}");
    }
}
