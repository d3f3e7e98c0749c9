//! Cr3dentials' two webhook generations: the verification-level and the session-level body each
//! read as what they are, through the sender and through the registry; the session-level rules
//! (one notification per terminal status, the record's `session`, keys and retries, extracted data
//! kept out of every message); and both generations of one session sharing one record.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use webhook_core::senders::cr3dentials::{
    self, Cr3dentials, Cr3dentialsEvent, Delivery, Notification, SessionEvent, SessionStatus,
    VerificationEventType, VerificationRecord,
};
use webhook_core::senders::{self, Decision, EventError, Notify, Sender};
use webhook_core::timeline::Disposition;

const SESSION_ID: &str = "1988cff5-efec-4714-b40c-9ed453680184";
const PROOF_HASH: &str = "ec84bc74023cf152c1503271650499588e91de8d367f27c4847c11d555f72ac1";
const COMPLETED_AT: &str = "2026-03-02T14:31:08.412Z";

/// Every terminal status, as sent, with its event type and notification kind.
const TERMINAL: &[(&str, SessionStatus, &str, &str)] = &[
    (
        "COMPLETED",
        SessionStatus::Completed,
        "session.completed",
        "session_completed",
    ),
    (
        "PARTIAL_COMPLETE",
        SessionStatus::PartialComplete,
        "session.partial_complete",
        "session_partially_completed",
    ),
    (
        "ERROR",
        SessionStatus::Error,
        "session.error",
        "session_error",
    ),
    (
        "CANCELLED",
        SessionStatus::Cancelled,
        "session.cancelled",
        "session_cancelled",
    ),
    (
        "TERMINATED",
        SessionStatus::Terminated,
        "session.terminated",
        "session_terminated",
    ),
];

/// Verified personal data, every value distinctive enough that finding it anywhere is a leak.
fn extracted_data() -> Value {
    json!({
        "accountHolderName": "Jane Q. Public",
        "accountType": "CHECKING-PLUS-7731",
        "institution": "Example Federal Credit Union",
        "accountNumberLast4": "4471",
        "currentBalance": 4210.55,
        "averageMonthlyIncome": 5233.17,
        "incomeVerified": true,
        "employer": {"name": "Northwind Logistics", "since": "2023-06-12"},
        "addresses": ["221B Baker Street"],
    })
}

/// Every string and number in `value`, as text.
fn leaves(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Number(number) => vec![number.to_string()],
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        Value::Object(map) => map.values().flat_map(leaves).collect(),
        Value::Null | Value::Bool(_) => Vec::new(),
    }
}

/// A session-level body as the provider's page documents it.
fn session_body(status: &str) -> Value {
    json!({
        "sessionId": SESSION_ID,
        "status": status,
        "platformId": 1,
        "externalReferenceId": "user_abc123",
        "extractedData": extracted_data(),
        "proofHash": PROOF_HASH,
        "completedAt": COMPLETED_AT,
        "metadata": {},
    })
}

/// A verification-level body about the same session as [`session_body`].
fn verification_body(kind: &str, status: &str, detailed: &str, at: &str) -> Value {
    json!({
        "type": kind,
        "status": status,
        "data": {
            "verificationId": format!("ver_{detailed}"),
            "sessionId": SESSION_ID,
            "stepId": 456,
            "status": detailed,
            "proofData": {"income": {"monthlyAmount": 5000}},
            "formattedData": {"incomeVerified": status == "success"},
            "metadata": {"verifiedAt": at},
        },
    })
}

fn bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap()
}

fn delivery(body: &Value) -> Delivery {
    Delivery::parse(&bytes(body)).unwrap_or_else(|err| panic!("{body}: {err}"))
}

fn session(body: &Value) -> SessionEvent {
    match delivery(body) {
        Delivery::Session(event) => event,
        Delivery::Verification(event) => panic!("{body}: read as verification-level: {event:?}"),
    }
}

fn verification(body: &Value) -> Cr3dentialsEvent {
    match delivery(body) {
        Delivery::Verification(event) => event,
        Delivery::Session(event) => panic!("{body}: read as session-level: {event:?}"),
    }
}

/// The key a delivery is claimed under: Cr3dentials sends no message id.
fn key_of(event: &Delivery) -> String {
    Cr3dentials::key(None, event).as_str().to_owned()
}

/// Applies the deliveries in the order given, each under its own key.
fn deliver(events: &[Delivery]) -> VerificationRecord {
    let mut record = None;
    for event in events {
        record = Some(Cr3dentials::apply(record.take(), event, &key_of(event)).record);
    }
    record.expect("at least one event")
}

// ---- parsing ---------------------------------------------------------------------------------

#[test]
fn verification_level_body_reads_as_a_verification_delivery() {
    // given the verification-level example from the provider's page
    let body = json!({
        "type": "verification.completed", "status": "success",
        "data": {"verificationId": "ver_abc123", "sessionId": 123, "stepId": 456,
                 "status": "VERIFIED", "proofData": {}, "formattedData": {}, "metadata": {}},
    });
    // when it is parsed
    let event = verification(&body);
    // then it is that verification event
    assert_eq!(event.kind, VerificationEventType::Completed);
    assert_eq!(event.data.verification_id, "ver_abc123");
    assert_eq!(event.data.status, "VERIFIED");
    assert_eq!(event.subject(), "123");
    assert_eq!(delivery(&body).event_type(), "verification.completed");
}

#[test]
fn session_level_body_of_each_terminal_status_reads_as_that_status() {
    for (wire, status, event_type, _) in TERMINAL {
        // given a session-level body
        let body = session_body(wire);
        // when it is parsed
        let event = session(&body);
        // then it is a session event of that status, with every field as sent
        assert_eq!(&event.status, status, "{wire}");
        assert_eq!(event.event_type(), *event_type, "{wire}");
        assert_eq!(delivery(&body).event_type(), *event_type, "{wire}");
        assert_eq!(delivery(&body).subject(), SESSION_ID, "{wire}");
        assert_eq!(event.session_id.as_str(), SESSION_ID);
        assert_eq!(event.platform_id, Some(json!(1)));
        assert_eq!(event.external_reference_id.as_deref(), Some("user_abc123"));
        assert_eq!(event.extracted_data, Some(extracted_data()));
        assert_eq!(event.proof_hash.as_deref(), Some(PROOF_HASH));
        assert_eq!(event.completed_at.as_deref(), Some(COMPLETED_AT));
        assert_eq!(event.metadata, Some(json!({})));
        assert!(event.occurred_at().is_some());
    }
}

#[test]
fn session_level_body_with_null_reference_and_null_data_reads_them_as_absent() {
    // given a session that ended without data, created without a partner reference
    let mut body = session_body("ERROR");
    body["externalReferenceId"] = Value::Null;
    body["extractedData"] = Value::Null;
    // when it is parsed
    let event = session(&body);
    // then neither is there
    assert_eq!(event.external_reference_id, None);
    assert_eq!(event.extracted_data, None);
    assert_eq!(event.status, SessionStatus::Error);
}

#[test]
fn session_level_body_with_only_session_id_and_status_reads() {
    let event = session(&json!({"sessionId": SESSION_ID, "status": "CANCELLED"}));
    assert_eq!(event.status, SessionStatus::Cancelled);
    assert_eq!(event.completed_at, None);
    assert_eq!(event.occurred_at(), None);
    assert_eq!(event.extracted_data, None);
}

#[test]
fn unknown_session_status_is_kept_as_sent() {
    // given a terminal status the provider added later
    let body = session_body("EXPIRED");
    // when it is parsed
    let event = session(&body);
    // then the status is kept raw and named in the event type
    assert_eq!(event.status, SessionStatus::Other("EXPIRED".into()));
    assert_eq!(event.status.as_str(), "EXPIRED");
    assert_eq!(event.event_type(), "session.expired");
    let erased = senders::builtin()
        .get(Cr3dentials::NAME)
        .unwrap()
        .parse(&bytes(&body))
        .unwrap();
    assert_eq!(erased.event_type(), "session.expired");
}

#[test]
fn session_id_sent_as_an_integer_is_read_as_its_text() {
    let event = session(&json!({"sessionId": 48213, "status": "COMPLETED"}));
    assert_eq!(event.session_id.as_str(), "48213");
}

#[test]
fn unknown_fields_in_a_session_level_body_are_ignored() {
    let mut body = session_body("COMPLETED");
    body["addedLater"] = json!({"nested": [1, "x"]});
    let event = session(&body);
    assert_eq!(event.status, SessionStatus::Completed);
    assert_eq!(event.extracted_data, Some(extracted_data()));
}

#[test]
fn a_body_with_type_or_data_is_judged_as_verification_level() {
    // given a verification-level body whose top level also carries a sessionId
    let mut body = verification_body(
        "verification.completed",
        "success",
        "VERIFIED",
        COMPLETED_AT,
    );
    body["sessionId"] = SESSION_ID.into();
    // then it is verification-level
    assert!(matches!(delivery(&body), Delivery::Verification(_)));
    // and without its type it is a verification-level body lacking its type
    body.as_object_mut().unwrap().remove("type");
    let err = Delivery::parse(&bytes(&body)).unwrap_err();
    assert!(matches!(err, EventError::Schema(_)), "{err}");
    assert!(err.to_string().contains("`type`"), "{err}");
}

#[test]
fn registry_parse_agrees_with_the_sender_on_both_generations() {
    let registry = senders::builtin();
    let payload = registry.get(Cr3dentials::NAME).unwrap();
    let mut bodies: Vec<Value> = TERMINAL.iter().map(|row| session_body(row.0)).collect();
    bodies.push(session_body("EXPIRED"));
    bodies.push(verification_body(
        "verification.completed",
        "success",
        "VERIFIED",
        COMPLETED_AT,
    ));
    for body in bodies {
        // given a body of either generation
        // when the registry's sender and the sender itself parse it
        let erased = payload.parse(&bytes(&body)).unwrap();
        let typed = delivery(&body);
        // then they agree on type, subject and key
        assert_eq!(
            erased.event_type(),
            Cr3dentials::event_type(&typed),
            "{body}"
        );
        assert_eq!(erased.event_type(), typed.event_type(), "{body}");
        assert_eq!(erased.subject(), SESSION_ID, "{body}");
        for message_id in [None, Some("msg_1")] {
            assert_eq!(
                erased.key(message_id),
                Cr3dentials::key(message_id, &typed),
                "{body}"
            );
        }
        if let Delivery::Session(event) = &typed {
            assert_eq!(
                erased.key(None),
                cr3dentials::session_key(None, event),
                "{body}"
            );
        }
        // and applying it through the registry writes the record the rules give
        let Decision::Apply(change) = erased.apply(None, "k").unwrap() else {
            panic!("{body}: already applied on an empty record");
        };
        let outcome = Cr3dentials::apply(None, &typed, "k");
        let record: VerificationRecord = serde_json::from_str(&change.record).unwrap();
        assert_eq!(record, outcome.record, "{body}");
        assert_eq!(change.disposition, outcome.disposition, "{body}");
        assert_eq!(
            change.notification.map(|n| n.notification.kind),
            outcome.notification.map(|n| n.kind().to_owned()),
            "{body}"
        );
    }
}

// ---- session-level rules ---------------------------------------------------------------------

#[test]
fn each_terminal_status_raises_its_notification_kind() {
    for (wire, _, _, kind) in TERMINAL {
        // given a session that reached a terminal status
        let event = session(&session_body(wire));
        // when its webhook is applied to an empty record
        let outcome = cr3dentials::apply_session(None, &event, "k");
        // then the partner is told, with that kind
        assert_eq!(outcome.disposition, Disposition::Applied, "{wire}");
        let notification = outcome.notification.unwrap();
        assert_eq!(notification.kind(), *kind, "{wire}");
        assert_eq!(
            serde_json::to_value(&notification).unwrap()["kind"],
            *kind,
            "{wire}"
        );
        assert!(notification.message().contains(SESSION_ID), "{wire}");
        assert!(notification.message().contains("user_abc123"), "{wire}");
    }
}

#[test]
fn session_record_carries_what_the_session_webhook_sent() {
    for (wire, ..) in TERMINAL {
        // given a session-level event
        let event = session(&session_body(wire));
        // when it is applied
        let record = cr3dentials::apply_session(None, &event, "k").record;
        // then the record's session holds its reference, status, time, platform, proof and data
        assert_eq!(record.session_id, SESSION_ID);
        let ended = record.session.as_ref().unwrap();
        assert_eq!(ended.status, *wire);
        assert_eq!(ended.external_reference_id.as_deref(), Some("user_abc123"));
        assert_eq!(ended.completed_at.as_deref(), Some(COMPLETED_AT));
        assert_eq!(ended.platform_id, Some(json!(1)));
        assert_eq!(ended.proof_hash.as_deref(), Some(PROOF_HASH));
        assert_eq!(ended.extracted_data, Some(extracted_data()));
        assert_eq!(record.last_event_at.as_deref(), Some(COMPLETED_AT));
        // and the stored record reads back equal
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<VerificationRecord>(&json).unwrap(),
            record
        );
    }
}

#[test]
fn session_record_with_null_reference_and_data_carries_neither() {
    let mut body = session_body("COMPLETED");
    body["externalReferenceId"] = Value::Null;
    body["extractedData"] = Value::Null;
    let outcome = cr3dentials::apply_session(None, &session(&body), "k");
    let ended = outcome.record.session.unwrap();
    assert_eq!(ended.external_reference_id, None);
    assert_eq!(ended.extracted_data, None);
    assert_eq!(
        outcome.notification,
        Some(Notification::SessionCompleted {
            session_id: SESSION_ID.into(),
            external_reference_id: None,
        })
    );
}

#[test]
fn unknown_session_status_changes_nothing_but_the_timeline() {
    let outcome = cr3dentials::apply_session(None, &session(&session_body("EXPIRED")), "k");
    assert_eq!(outcome.disposition, Disposition::Unrecognised);
    assert_eq!(outcome.notification, None);
    assert_eq!(outcome.record.session, None);
    assert_eq!(outcome.record.timeline.len(), 1);
    assert_eq!(outcome.record.timeline[0].event_type, "session.expired");
}

#[test]
fn no_notification_message_or_json_contains_extracted_data() {
    let secrets = leaves(&extracted_data());
    assert!(secrets.len() >= 8);
    let payload = senders::builtin().get(Cr3dentials::NAME).unwrap().clone();
    for (wire, ..) in TERMINAL {
        // given a session-level event carrying verified personal data
        let body = session_body(wire);
        let event = session(&body);
        // when it is applied, by the rules and through the registry
        let outcome = cr3dentials::apply_session(None, &event, "k");
        let notification = outcome.notification.unwrap();
        let Decision::Apply(change) = payload
            .parse(&bytes(&body))
            .unwrap()
            .apply(None, "k")
            .unwrap()
        else {
            panic!("{wire}: already applied");
        };
        let stored = change.notification.unwrap().notification;
        // then no value of it is in what the user is told or in the notification stored
        let told = [
            notification.message(),
            serde_json::to_string(&notification).unwrap(),
            stored.message,
            stored.json,
        ];
        for text in &told {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{wire}: {secret:?} in {text}"
                );
            }
        }
        // nor in the projections stored beside the record, nor in what a log line would print
        let projections = format!("{:?}", change.projections);
        let debug = [
            format!("{event:?}"),
            format!("{:?}", delivery(&body)),
            format!("{:?}", outcome.record),
        ];
        for text in debug.iter().chain([&projections]) {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{wire}: {secret:?} in {text}"
                );
            }
        }
    }
}

#[test]
fn no_notification_of_a_session_sample_contains_its_extracted_data() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/payloads/cr3dentials");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let Delivery::Session(event) = delivery(&body) else {
            continue;
        };
        // given a session sample, with or without extracted data
        let secrets = body["extractedData"]
            .as_object()
            .map(|data| leaves(&Value::Object(data.clone())))
            .unwrap_or_default();
        // when it is applied
        let notification = cr3dentials::apply_session(None, &event, "k")
            .notification
            .unwrap();
        // then neither the message nor the notification's JSON holds any of it
        for text in [
            notification.message(),
            serde_json::to_string(&notification).unwrap(),
        ] {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{}: {secret:?} in {text}",
                    path.display()
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 7, "every session sample");
}

#[test]
fn a_retry_of_a_session_delivery_is_recognised_as_applied() {
    let payload = senders::builtin().get(Cr3dentials::NAME).unwrap().clone();
    for (wire, ..) in TERMINAL {
        // given a session-level delivery applied once under its key
        let body = session_body(wire);
        let first = delivery(&body);
        let key = key_of(&first);
        let record = Cr3dentials::apply(None, &first, &key).record;
        // when the provider retries it
        let retry = delivery(&body);
        let retry_key = key_of(&retry);
        // then the retry has the same key, which the record holds
        assert_eq!(retry_key, key, "{wire}");
        assert!(Cr3dentials::has_applied(&record, &retry_key), "{wire}");
        // and the consumer's path writes nothing for it
        let stored = serde_json::to_string(&record).unwrap();
        let decision = payload
            .parse(&bytes(&body))
            .unwrap()
            .apply(Some(&stored), &retry_key)
            .unwrap();
        assert_eq!(decision, Decision::AlreadyApplied, "{wire}");
        // while another status of the same session is not taken for it
        for (other, ..) in TERMINAL.iter().filter(|row| row.0 != *wire) {
            let other_key = key_of(&delivery(&session_body(other)));
            assert!(
                !Cr3dentials::has_applied(&record, &other_key),
                "{wire}/{other}"
            );
        }
    }
}

#[test]
fn session_keys_differ_between_statuses_and_agree_between_retries() {
    // given every terminal status of one session, each sent twice
    let keys: Vec<(String, String)> = TERMINAL
        .iter()
        .map(|row| {
            let body = session_body(row.0);
            let key = |event: Delivery| match event {
                Delivery::Session(event) => cr3dentials::session_key(None, &event),
                Delivery::Verification(_) => unreachable!(),
            };
            (
                key(delivery(&body)).as_str().to_owned(),
                key(delivery(&body)).as_str().to_owned(),
            )
        })
        .collect();
    // then retries share a key, and statuses never do
    for (first, retry) in &keys {
        assert_eq!(first, retry);
    }
    let distinct: BTreeSet<&String> = keys.iter().map(|(first, _)| first).collect();
    assert_eq!(distinct.len(), TERMINAL.len());
    // and another session's key differs, as does any verification-level key of this session
    let mut other_session = session_body("COMPLETED");
    other_session["sessionId"] = "5b4107cb-d6fe-4a70-ba61-311a71dca7f3".into();
    assert!(!distinct.contains(&key_of(&delivery(&other_session))));
    let verification_key = key_of(&delivery(&verification_body(
        "verification.completed",
        "success",
        "VERIFIED",
        COMPLETED_AT,
    )));
    assert!(!distinct.contains(&verification_key));
    // and a message id, should the provider ever send one, is the key
    let event = session(&session_body("COMPLETED"));
    assert_eq!(
        cr3dentials::session_key(Some("msg_1"), &event).as_str(),
        "id:msg_1"
    );
}

// ---- both generations in one record ----------------------------------------------------------

/// One session's verification-level events (before and after the session ended) and its
/// session-level one.
fn one_sessions_events() -> (Vec<Delivery>, Vec<Delivery>) {
    let verifications = vec![
        delivery(&verification_body(
            "verification.completed",
            "success",
            "VERIFIED",
            "2026-03-02T14:30:12Z",
        )),
        delivery(&verification_body(
            "verification.failed",
            "failed",
            "FAILED",
            "2026-03-02T14:20:00Z",
        )),
        // a manual review that completes after the session ended
        delivery(&verification_body(
            "verification.manual_review_completed",
            "success",
            "REVIEWED",
            "2026-03-03T09:26:40Z",
        )),
    ];
    let sessions = vec![delivery(&session_body("COMPLETED"))];
    (verifications, sessions)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn verification_and_session_events_of_one_session_share_one_record_in_any_order(
        order in Just((0..4).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        // given one session's verification-level events and its session-level event, and the
        // records each generation makes alone
        let (verifications, sessions) = one_sessions_events();
        let verification_only = deliver(&verifications);
        let session_only = deliver(&sessions);
        let all: Vec<Delivery> = verifications.into_iter().chain(sessions).collect();
        let in_order = deliver(&all);
        // when all of them arrive in a random order
        let shuffled: Vec<Delivery> = order.iter().map(|&i| all[i].clone()).collect();
        let record = deliver(&shuffled);
        // then they land in one record, the same whatever the order
        prop_assert_eq!(&record, &in_order);
        prop_assert_eq!(record.session_id.as_str(), SESSION_ID);
        prop_assert_eq!(record.timeline.len(), 4);
        // whose verification part is what the verification-level events make alone
        prop_assert_eq!(&record.verification_id, &verification_only.verification_id);
        prop_assert_eq!(&record.status, &verification_only.status);
        prop_assert_eq!(&record.outcome, &verification_only.outcome);
        prop_assert_eq!(&record.overall_status, &verification_only.overall_status);
        prop_assert_eq!(&record.formatted_data, &verification_only.formatted_data);
        prop_assert_eq!(record.outcome.as_str(), "verification.manual_review_completed");
        // and whose session part is what the session-level event makes alone
        prop_assert_eq!(&record.session, &session_only.session);
        prop_assert!(record.session.is_some());
        prop_assert_eq!(record.last_event_at.as_deref(), Some("2026-03-03T09:26:40Z"));
    }
}

#[test]
fn each_generation_s_history_in_the_shared_timeline_is_as_if_it_were_alone() {
    // given one session's events of both generations, and the records each generation makes
    // alone
    let (verifications, sessions) = one_sessions_events();
    let alone: Vec<VerificationRecord> = vec![deliver(&verifications), deliver(&sessions)];
    // when all of them are delivered, in the order they happened (the failure, the completion,
    // the session's end, the manual review)
    let mut all: Vec<Delivery> = verifications.into_iter().chain(sessions).collect();
    all.sort_by_key(|event| match event {
        Delivery::Verification(event) => event.data.metadata.as_ref().unwrap()["verifiedAt"]
            .as_str()
            .unwrap()
            .to_owned(),
        Delivery::Session(event) => event.completed_at.clone().unwrap(),
    });
    let mut record = None;
    let mut did = Vec::new();
    for event in &all {
        let key = key_of(event);
        let outcome = Cr3dentials::apply(record.take(), event, &key);
        did.push((key, outcome.disposition));
        record = Some(outcome.record);
    }
    let record = record.unwrap();
    // then every delivery became its generation's current state
    assert!(
        did.iter().all(|(_, done)| *done == Disposition::Applied),
        "{did:?}"
    );
    // and each event's timeline entry says what it did among its own generation's events, which
    // is what its delivery did: the manual review that came after the session ended still
    // became the verification's state
    for entry in &record.timeline {
        let own = alone
            .iter()
            .flat_map(|record| &record.timeline)
            .find(|own| own.key == entry.key)
            .unwrap();
        assert_eq!(
            entry.disposition, own.disposition,
            "{} ({})",
            entry.event_type, entry.occurred_at
        );
    }
}
