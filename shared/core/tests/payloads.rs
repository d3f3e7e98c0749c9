//! The senders' payload parsers over hand-written and generated bodies: what each field reads as,
//! which bodies are schema errors and which are not JSON at all, the wire shape events serialise
//! back to, and the registry that finds a sender by name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;
use time::{Date, Month, OffsetDateTime};
use webhook_core::senders::cr3dentials::{
    self, Cr3dentialsEvent, OverallStatus, SessionId, VerificationEventType,
};
use webhook_core::senders::legitmark::{
    self, LegitmarkEvent, LegitmarkKind, Primary, SrState, Supplement,
};
use webhook_core::senders::{self, EventError, ParsedEvent, Payload};

const LEGITMARK: &str = "legitmark";
const CR3DENTIALS: &str = "cr3dentials";

fn utc(date: (i32, Month, u8), hms: (u8, u8, u8), milli: u16) -> OffsetDateTime {
    Date::from_calendar_date(date.0, date.1, date.2)
        .unwrap()
        .with_hms_milli(hms.0, hms.1, hms.2, milli)
        .unwrap()
        .assume_utc()
}

fn legitmark(body: &str) -> Result<LegitmarkEvent, EventError> {
    legitmark::parse(body.as_bytes())
}

fn cr3dentials(body: &str) -> Result<Cr3dentialsEvent, EventError> {
    cr3dentials::parse(body.as_bytes())
}

/// The built-in sender named `name`, as the services find it.
fn sender(name: &str) -> Arc<dyn Payload> {
    senders::builtin()
        .get(name)
        .unwrap_or_else(|| panic!("no sender {name:?}"))
        .clone()
}

/// `body` parsed by the built-in sender `name`, as the services parse it.
fn parse_as(name: &str, body: &[u8]) -> Result<Box<dyn ParsedEvent>, EventError> {
    sender(name).parse(body)
}

const STATE_CHANGE_BODY: &str = r#"{"event_type":"state_change","sr_uuid":"sr-1","reference_id":"item-1","timestamp":"2026-03-02T09:14:07.512Z","state":{"primary":"COMPLETE","supplement":"APPROVED"}}"#;

#[test]
fn registry_knows_exactly_the_built_in_senders() {
    // given the built-in registry
    let registry = senders::builtin();
    // then it names Legitmark and Cr3dentials, and nothing else
    let names: BTreeSet<&str> = registry.names().collect();
    assert_eq!(names, BTreeSet::from([LEGITMARK, CR3DENTIALS]));
    assert_eq!(registry.names().count(), 2);
    // and finds each by its name
    for name in [LEGITMARK, CR3DENTIALS] {
        assert_eq!(registry.get(name).map(|payload| payload.name()), Some(name));
    }
    // and no sender by any other name, not even in another case
    for other in ["Legitmark", "CR3DENTIALS", "legitmark ", "", "svix", "item"] {
        assert!(registry.get(other).is_none(), "{other:?}");
    }
}

#[test]
fn reads_state_change_with_all_base_fields() {
    let event = legitmark(STATE_CHANGE_BODY).unwrap();
    assert_eq!(event.sr_uuid, "sr-1");
    assert_eq!(event.reference_id.as_deref(), Some("item-1"));
    assert_eq!(event.event_type(), "state_change");
    assert_eq!(
        event.kind,
        LegitmarkKind::StateChange {
            state: SrState {
                primary: Primary::Complete,
                supplement: Some(Supplement::Approved),
            },
        }
    );
    assert_eq!(
        event.occurred_at(),
        Some(utc((2026, Month::March, 2), (9, 14, 7), 512))
    );
    assert!(event.is_authentic());
}

#[test]
fn keeps_unknown_event_type_raw_with_its_state() {
    // given an event type added by the provider after this code was written
    let body = r#"{"event_type":"sr_note_added","sr_uuid":"sr-1","reference_id":"item-1","timestamp":"2026-03-02T09:14:07Z","state":{"primary":"COMPLETE","supplement":"APPROVED"},"note":"x"}"#;
    // when it is parsed
    let event = legitmark(body).unwrap();
    // then the raw type is kept, the state is read, and no predicate claims it
    assert_eq!(event.event_type(), "sr_note_added");
    assert_eq!(event.state().map(|s| &s.primary), Some(&Primary::Complete));
    assert!(!event.is_authentic());
}

#[test]
fn unknown_event_type_tolerates_missing_or_foreign_shaped_state() {
    for body in [
        r#"{"event_type":"x","sr_uuid":"s","timestamp":"t"}"#,
        r#"{"event_type":"x","sr_uuid":"s","timestamp":"t","state":"ARCHIVED"}"#,
        r#"{"event_type":"x","sr_uuid":"s","timestamp":"t","sides":42,"invalidation_reason":[]}"#,
    ] {
        let event = legitmark(body).unwrap();
        assert_eq!(
            event.kind,
            LegitmarkKind::Unknown {
                event_type: "x".into(),
                state: None
            }
        );
    }
}

#[test]
fn keeps_unknown_primary_and_supplement_raw() {
    let body = r#"{"event_type":"state_change","sr_uuid":"s","timestamp":"t","state":{"primary":"ON_HOLD","supplement":"AWAITING_SELLER"}}"#;
    let event = legitmark(body).unwrap();
    let state = event.state().unwrap();
    assert_eq!(state.primary, Primary::Other("ON_HOLD".into()));
    assert_eq!(
        state.supplement,
        Some(Supplement::Other("AWAITING_SELLER".into()))
    );
    assert_eq!(state.primary.as_str(), "ON_HOLD");
}

#[test]
fn null_or_absent_reference_id_makes_sr_uuid_the_subject() {
    for reference in [r#""reference_id":null,"#, "", r#""reference_id":"","#] {
        // given a state change without a usable partner item id
        let body = format!(
            r#"{{"event_type":"state_change","sr_uuid":"sr-9",{reference}"timestamp":"t","state":{{"primary":"DRAFT","supplement":null}}}}"#
        );
        // when it is parsed
        let event = parse_as(LEGITMARK, body.as_bytes()).unwrap();
        // then the SR itself is the subject
        assert_eq!(event.subject(), "sr-9", "{body}");
    }
}

#[test]
fn missing_sr_uuid_is_a_schema_error() {
    let body = r#"{"event_type":"state_change","timestamp":"t","state":{"primary":"QC","supplement":"PENDING"}}"#;
    let err = legitmark(body).unwrap_err();
    assert!(matches!(err, EventError::Schema(_)), "{err}");
    assert!(err.to_string().contains("sr_uuid"), "{err}");
}

#[test]
fn known_event_type_without_its_fields_is_a_schema_error() {
    for (body, field) in [
        (
            r#"{"event_type":"state_change","sr_uuid":"s","timestamp":"t"}"#,
            "state",
        ),
        (
            r#"{"event_type":"state_change","sr_uuid":"s","timestamp":"t","state":null}"#,
            "state",
        ),
        (
            r#"{"event_type":"media_rejected","sr_uuid":"s","timestamp":"t","state":{"primary":"QC","supplement":"REJECTED"}}"#,
            "sides",
        ),
        (
            r#"{"event_type":"invalidate_sr","sr_uuid":"s","timestamp":"t","state":{"primary":"CANCELLED","supplement":null}}"#,
            "invalidation_reason",
        ),
        // the newer generation leaves out the state, never the type's own field
        (
            r#"{"event_type":"media_rejected","sr_uuid":"s","timestamp":"t"}"#,
            "sides",
        ),
        (
            r#"{"event_type":"invalidate_sr","sr_uuid":"s","timestamp":"t"}"#,
            "invalidation_reason",
        ),
        (
            r#"{"event_type":"media_rejected","sr_uuid":"s","timestamp":"t","sides":{"side":"Front"}}"#,
            "sides: invalid type, expected a sequence",
        ),
        (
            r#"{"event_type":"invalidate_sr","sr_uuid":"s","timestamp":"t","invalidation_reason":{"message":"m"}}"#,
            "invalidation_reason: missing field `code`",
        ),
        (
            r#"{"event_type":"state_change","sr_uuid":"s","timestamp":"t","state":{"supplement":"PENDING"}}"#,
            "state: missing field `primary`",
        ),
    ] {
        let err = legitmark(body).unwrap_err();
        assert!(matches!(err, EventError::Schema(_)), "{body}: {err}");
        assert!(err.to_string().contains(field), "{body}: {err}");
    }
}

#[test]
fn invalidate_sr_reads_null_supplement_and_reason() {
    let body = r#"{"event_type":"invalidate_sr","sr_uuid":"s","reference_id":null,"timestamp":"t","state":{"primary":"CANCELLED","supplement":null},"invalidation_reason":{"code":"NOT_SERVICEABLE","description":"Brand not supported"}}"#;
    let event = legitmark(body).unwrap();
    assert!(event.is_cancelled());
    let LegitmarkKind::InvalidateSr {
        state,
        invalidation_reason,
    } = event.kind
    else {
        panic!("expected invalidate_sr, got {:?}", event.kind);
    };
    assert_eq!(state.supplement, None);
    assert_eq!(invalidation_reason.code, "NOT_SERVICEABLE");
}

#[test]
fn body_that_is_not_json_is_reported_as_such() {
    for body in [
        &b""[..],
        b"not json",
        b"{\"event_type\":\"state_change\"",
        b"{\"event_type\": 5, ",
        b"{} trailing",
    ] {
        for name in [LEGITMARK, CR3DENTIALS] {
            let Err(err) = parse_as(name, body) else {
                panic!("{name} parsed {body:?}");
            };
            assert!(matches!(err, EventError::NotJson(_)), "{err}");
            assert!(err.to_string().starts_with("body is not JSON: "), "{err}");
        }
    }
}

#[test]
fn non_utf8_bytes_are_not_json_even_in_fields_nobody_reads() {
    // given a body that is valid JSON except for one byte in an ignored field
    let mut body = STATE_CHANGE_BODY.as_bytes().to_vec();
    body.truncate(body.len() - 1);
    body.extend_from_slice(b",\"extra\":\"\xff\xfe\"}");
    // when it is parsed
    let err = legitmark::parse(&body).unwrap_err();
    // then it is not JSON
    assert!(matches!(err, EventError::NotJson(_)), "{err}");
}

#[test]
fn json_that_is_not_an_object_is_a_schema_error() {
    for body in ["null", "42", "\"state_change\"", "{}"] {
        let err = legitmark(body).unwrap_err();
        assert!(matches!(err, EventError::Schema(_)), "{body}: {err}");
    }
}

#[test]
fn error_messages_do_not_echo_the_body() {
    let body = r#"{"event_type":"state_change","secret_marker_field":"secret-marker-value","timestamp":"t","state":{"primary":"QC","supplement":"PENDING"}}"#;
    let err = legitmark(body).unwrap_err();
    assert!(!err.to_string().contains("secret-marker"), "{err}");
}

#[test]
fn deep_nesting_neither_overflows_the_stack_nor_is_called_not_json() {
    // given bodies nested far beyond any real payload, in an ignored field, in the raw
    // proofData and in an interpreted field
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let ignored = STATE_CHANGE_BODY.replace("\"sr_uuid\"", &format!("\"x\":{deep},\"sr_uuid\""));
    let raw = CR3DENTIALS_BODY.replace("\"proofData\":", &format!("\"proofData\":{deep},\"p\":"));
    let interpreted = CR3DENTIALS_BODY.replace(
        "\"formattedData\":",
        &format!("\"formattedData\":{deep},\"f\":"),
    );
    // when they are parsed
    // then they parse, or fail as schema errors, without crashing
    assert!(legitmark(&ignored).is_ok());
    assert!(cr3dentials(&raw).is_ok());
    let err = cr3dentials(&interpreted).unwrap_err();
    assert!(matches!(err, EventError::Schema(_)), "{err}");
}

#[test]
fn unreadable_timestamp_still_parses_with_no_instant() {
    let body = STATE_CHANGE_BODY.replace("2026-03-02T09:14:07.512Z", "yesterday");
    let event = legitmark(&body).unwrap();
    assert_eq!(event.timestamp, "yesterday");
    assert_eq!(event.occurred_at(), None);
}

#[test]
fn iso8601_timestamp_outside_rfc3339_is_understood() {
    let body = STATE_CHANGE_BODY.replace("2026-03-02T09:14:07.512Z", "20260302T091407Z");
    let event = legitmark(&body).unwrap();
    assert_eq!(
        event.occurred_at(),
        Some(utc((2026, Month::March, 2), (9, 14, 7), 0))
    );
}

#[test]
fn legitmark_event_serialises_in_the_wire_shape() {
    // given a parsed state_change event
    let event = legitmark(STATE_CHANGE_BODY).unwrap();
    // when it is serialised
    let json: Value = serde_json::to_value(&event).unwrap();
    // then it is the body's shape, and reads back equal
    assert_eq!(
        json,
        serde_json::from_str::<Value>(STATE_CHANGE_BODY).unwrap()
    );
    assert_eq!(
        serde_json::from_value::<LegitmarkEvent>(json).unwrap(),
        event
    );
}

#[test]
fn media_rejected_of_either_generation_serialises_in_one_stored_shape() {
    // given the same rejection in the older and in the newer generation
    let older = r#"{"event_type":"media_rejected","sr_uuid":"s","reference_id":"item-1","timestamp":"t","state":{"primary":"QC","supplement":"REJECTED"},"sides":[{"side":"Front","side_uuid":"u","reason":"BLURRY","reason_description":"d"}]}"#;
    let newer = r#"{"event_type":"media_rejected","sr_uuid":"s","reference_id":"item-1","timestamp":"t","sides":[{"side":"Front","reason":"BLURRY","message":"d"}]}"#;
    // the state its type implies, and each side as {side, reason, message}, without side_uuid
    let stored: Value = serde_json::from_str(
        r#"{"event_type":"media_rejected","sr_uuid":"s","reference_id":"item-1","timestamp":"t","state":{"primary":"QC","supplement":"REJECTED"},"sides":[{"side":"Front","reason":"BLURRY","message":"d"}]}"#,
    )
    .unwrap();
    for body in [older, newer] {
        // when it is parsed and serialised
        let event = legitmark(body).unwrap();
        let json: Value = serde_json::to_value(&event).unwrap();
        // then it is in the stored shape, and reads back equal, as itself and through the parser
        assert_eq!(json, stored, "{body}");
        assert_eq!(
            serde_json::from_value::<LegitmarkEvent>(json.clone()).unwrap(),
            event
        );
        assert_eq!(legitmark(&json.to_string()).unwrap(), event);
    }
}

#[test]
fn invalidate_sr_of_either_generation_serialises_in_one_stored_shape() {
    // given the same invalidation in the older and in the newer generation
    let older = r#"{"event_type":"invalidate_sr","sr_uuid":"s","reference_id":null,"timestamp":"t","state":{"primary":"CANCELLED","supplement":null},"invalidation_reason":{"code":"C","description":"d"}}"#;
    let newer = r#"{"event_type":"invalidate_sr","sr_uuid":"s","reference_id":null,"timestamp":"t","invalidation_reason":{"code":"C","message":"d"}}"#;
    let stored: Value = serde_json::from_str(
        r#"{"event_type":"invalidate_sr","sr_uuid":"s","reference_id":null,"timestamp":"t","state":{"primary":"CANCELLED","supplement":null},"invalidation_reason":{"code":"C","message":"d"}}"#,
    )
    .unwrap();
    for body in [older, newer] {
        // when it is parsed and serialised
        let event = legitmark(body).unwrap();
        let json: Value = serde_json::to_value(&event).unwrap();
        // then it is in the stored shape, and reads back equal
        assert_eq!(json, stored, "{body}");
        assert_eq!(legitmark(&json.to_string()).unwrap(), event);
    }
}

const CR3DENTIALS_BODY: &str = r#"{"type":"verification.completed","status":"success","data":{"verificationId":"ver_1","sessionId":123,"stepId":456,"status":"VERIFIED","proofData":{ "income" : {"monthlyAmount":5000} },"formattedData":{"incomeVerified":true},"metadata":{"verifiedAt":"2026-03-02T10:05:41Z"}}}"#;

#[test]
fn reads_cr3dentials_completed_example() {
    let event = cr3dentials(CR3DENTIALS_BODY).unwrap();
    assert_eq!(event.kind, VerificationEventType::Completed);
    assert!(event.is_verified());
    assert_eq!(event.data.session_id.as_str(), "123");
    assert_eq!(event.data.step_id, Some(456));
    assert_eq!(
        event.data.proof_data.as_deref().map(RawValue::get),
        Some(r#"{ "income" : {"monthlyAmount":5000} }"#)
    );
    assert_eq!(
        event.occurred_at(),
        Some(utc((2026, Month::March, 2), (10, 5, 41), 0))
    );
}

#[test]
fn session_id_may_be_a_string() {
    let body = CR3DENTIALS_BODY.replace("\"sessionId\":123", "\"sessionId\":\"sess-00123\"");
    let event = parse_as(CR3DENTIALS, body.as_bytes()).unwrap();
    assert_eq!(event.subject(), "sess-00123");
}

#[test]
fn session_id_that_is_a_fraction_is_a_schema_error() {
    let body = CR3DENTIALS_BODY.replace("\"sessionId\":123", "\"sessionId\":1.5");
    let err = cr3dentials(&body).unwrap_err();
    assert!(matches!(err, EventError::Schema(_)), "{err}");
}

#[test]
fn session_id_serialises_back_as_the_kind_it_came_as() {
    for (text, json) in [
        ("123", "123"),
        ("-7", "-7"),
        ("00123", "\"00123\""),
        ("sess-1", "\"sess-1\""),
        ("18446744073709551615", "18446744073709551615"),
    ] {
        let id = SessionId(text.to_owned());
        assert_eq!(serde_json::to_string(&id).unwrap(), json);
        assert_eq!(serde_json::from_str::<SessionId>(json).unwrap(), id);
    }
}

#[test]
fn numbers_in_formatted_data_keep_their_exact_value() {
    // given a number whose nearest double a fast, inexact float parser misses by one unit
    let body = CR3DENTIALS_BODY.replace(
        r#"{"incomeVerified":true}"#,
        r#"{"score":6.013470016999041e-154}"#,
    );
    // when it is parsed and written back, as a verification record keeps it
    let event = cr3dentials(&body).unwrap();
    let kept = serde_json::to_string(&event.data.formatted_data).unwrap();
    // then it is the same number
    assert_eq!(kept, r#"{"score":6.013470016999041e-154}"#);
}

#[test]
fn unknown_cr3dentials_type_and_status_are_kept_raw() {
    let body = CR3DENTIALS_BODY
        .replace("verification.completed", "verification.started")
        .replace("\"success\"", "\"pending\"");
    let event = cr3dentials(&body).unwrap();
    assert_eq!(
        event.kind,
        VerificationEventType::Other("verification.started".into())
    );
    assert_eq!(event.status, OverallStatus::Other("pending".into()));
    assert_eq!(event.event_type(), "verification.started");
    assert!(!event.is_verified());
}

#[test]
fn optional_cr3dentials_fields_may_be_absent_or_null() {
    for body in [
        r#"{"type":"verification.expired","status":"failed","data":{"verificationId":"v","sessionId":1,"status":"EXPIRED"}}"#,
        r#"{"type":"verification.expired","status":"failed","data":{"verificationId":"v","sessionId":1,"stepId":null,"status":"EXPIRED","proofData":null,"formattedData":null,"metadata":null}}"#,
    ] {
        let event = cr3dentials(body).unwrap();
        assert!(event.data.proof_data.is_none(), "{body}");
        assert!(event.data.step_id.is_none(), "{body}");
        assert_eq!(event.occurred_at(), None);
    }
}

#[test]
fn cr3dentials_without_required_data_fields_is_a_schema_error() {
    for field in [
        "\"verificationId\":\"ver_1\",",
        "\"sessionId\":123,",
        "\"status\":\"VERIFIED\",",
    ] {
        let body = CR3DENTIALS_BODY.replace(field, "");
        let err = cr3dentials(&body).unwrap_err();
        assert!(matches!(err, EventError::Schema(_)), "{field}: {err}");
    }
}

#[test]
fn cr3dentials_event_serialises_with_proof_data_verbatim() {
    // given a parsed Cr3dentials event
    let event = cr3dentials(CR3DENTIALS_BODY).unwrap();
    // when it is serialised
    let json = serde_json::to_string(&event).unwrap();
    // then it is in the sender's shape, with proofData exactly as sent
    assert!(
        json.starts_with(r#"{"type":"verification.completed""#),
        "{json}"
    );
    assert!(
        json.contains(r#""proofData":{ "income" : {"monthlyAmount":5000} }"#),
        "{json}"
    );
    // and reads back, through serde and through the sender's parser, as the same session's event
    let back: Cr3dentialsEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back.subject(), "123");
    assert_eq!(
        parse_as(CR3DENTIALS, json.as_bytes()).unwrap().subject(),
        "123"
    );
}

const WORDS: &[&str] = &[
    "state_change",
    "media_rejected",
    "invalidate_sr",
    "sr_note_added",
    "DRAFT",
    "QC",
    "UNDERWAY",
    "COMPLETE",
    "CANCELLED",
    "PENDING",
    "REJECTED",
    "APPROVED",
    "ASSIGNED",
    "verification.completed",
    "verification.failed",
    "verification.expired",
    "verification.manual_review_completed",
    "success",
    "failed",
    "VERIFIED",
    "2026-03-02T09:14:07Z",
    "2026-03-02T09:14:07.512+01:00",
    "",
];

fn any_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
    .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    any_leaf()
        .prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
        .boxed()
}

fn integer() -> BoxedStrategy<Value> {
    any::<i64>().prop_map(Value::from).boxed()
}

/// Mostly a word the schemas use, sometimes anything.
fn field_value() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(Value::from),
        1 => any_json(),
    ]
    .boxed()
}

/// An object with these fields, each usually present; absent fields test the required ones.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let (names, values): (Vec<_>, Vec<_>) = fields
        .into_iter()
        .map(|(name, value)| (name, prop::option::weighted(0.9, value)))
        .unzip();
    values
        .prop_map(move |values| {
            Value::Object(
                names
                    .iter()
                    .zip(values)
                    .filter_map(|(name, value)| Some(((*name).to_owned(), value?)))
                    .collect(),
            )
        })
        .boxed()
}

/// Bodies shaped like the senders' payloads, so that generated cases get past the first
/// missing field into the nested parsing and often parse.
fn payload_shaped_json() -> BoxedStrategy<Value> {
    let state = object(vec![
        ("primary", field_value()),
        ("supplement", field_value()),
    ]);
    let side = object(vec![
        ("side", field_value()),
        ("side_uuid", field_value()),
        ("reason", field_value()),
        ("reason_description", field_value()),
    ]);
    let legitmark = object(vec![
        ("event_type", field_value()),
        ("sr_uuid", field_value()),
        ("reference_id", field_value()),
        ("timestamp", field_value()),
        ("state", prop_oneof![3 => state, 1 => any_json()].boxed()),
        (
            "sides",
            prop_oneof![3 => prop::collection::vec(side, 0..3).prop_map(Value::from), 1 => any_json()]
                .boxed(),
        ),
        (
            "invalidation_reason",
            object(vec![("code", field_value()), ("description", field_value())]),
        ),
    ]);
    let data = object(vec![
        ("verificationId", field_value()),
        (
            "sessionId",
            prop_oneof![integer(), field_value(), any_leaf()].boxed(),
        ),
        (
            "stepId",
            prop_oneof![3 => integer(), 1 => any_leaf()].boxed(),
        ),
        ("status", field_value()),
        ("proofData", any_json()),
        ("formattedData", any_json()),
        (
            "metadata",
            prop_oneof![object(vec![("verifiedAt", field_value())]), any_json()].boxed(),
        ),
    ]);
    let cr3dentials = object(vec![
        ("type", field_value()),
        ("status", field_value()),
        ("data", data),
    ]);
    prop_oneof![legitmark, cr3dentials, any_json()].boxed()
}

/// The outcome of one parse, compared between a sender's own parser and the registry's.
fn verdict<T>(result: &Result<T, EventError>) -> &'static str {
    match result {
        Ok(_) => "event",
        Err(EventError::NotJson(_)) => "not json",
        Err(EventError::Schema(_)) => "schema error",
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(event) = legitmark::parse(&body) {
            let _ = (event.event_type(), event.subject(), event.occurred_at());
        }
        if let Ok(event) = cr3dentials::parse(&body) {
            let _ = (event.event_type(), event.subject(), event.occurred_at());
        }
        for name in [LEGITMARK, CR3DENTIALS] {
            if let Ok(event) = parse_as(name, &body) {
                let _ = (event.event_type(), event.subject(), event.key(None));
            }
        }
    }

    #[test]
    fn json_is_never_reported_as_not_json_and_reparses_equal(value in payload_shaped_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        for name in [LEGITMARK, CR3DENTIALS] {
            if let Err(EventError::NotJson(err)) = parse_as(name, &body) {
                prop_assert!(false, "{name}: {err}");
            }
        }

        let parsed = legitmark::parse(&body);
        prop_assert_eq!(verdict(&parsed), verdict(&parse_as(LEGITMARK, &body)));
        if let Ok(event) = parsed {
            let _ = (event.event_type(), event.subject(), event.occurred_at());
            let again = serde_json::to_vec(&event).unwrap();
            let back: LegitmarkEvent = serde_json::from_slice(&again).unwrap();
            prop_assert_eq!(back.event_type(), event.event_type());
            prop_assert_eq!(back.subject(), event.subject());
            prop_assert_eq!(&back, &event);
        }

        let parsed = cr3dentials::parse(&body);
        prop_assert_eq!(verdict(&parsed), verdict(&parse_as(CR3DENTIALS, &body)));
        if let Ok(event) = parsed {
            let _ = (event.event_type(), event.subject(), event.occurred_at());
            let again = serde_json::to_vec(&event).unwrap();
            let back: Cr3dentialsEvent = serde_json::from_slice(&again).unwrap();
            prop_assert_eq!(back.event_type(), event.event_type());
            prop_assert_eq!(back.subject(), event.subject());
        }
    }
}
