//! Parse errors describe a body without repeating it: for bodies whose offending value would leak
//! (personal-looking text, identifiers, numbers), the error's text names the field where the
//! parser knows it, or at least the position, and never contains the value; the registry's parse
//! reports the same text.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use serde_json::{Value, json};
use webhook_core::senders::cr3dentials::Delivery;
use webhook_core::senders::{self, EventError, legitmark};

const LEGITMARK: &str = "legitmark";
const CR3DENTIALS: &str = "cr3dentials";
const PERSON: &str = "Jane Q. Public";

/// A body that fails to parse, what must not appear in the error, and what must.
struct Case {
    sender: &'static str,
    body: Vec<u8>,
    leaks: &'static [&'static str],
    /// The field the error names, when the parser knows it (a field read after the event type);
    /// otherwise the error names the position.
    names: Option<&'static str>,
}

fn case(
    sender: &'static str,
    body: Value,
    leaks: &'static [&'static str],
    names: Option<&'static str>,
) -> Case {
    Case {
        sender,
        body: serde_json::to_vec(&body).unwrap(),
        leaks,
        names,
    }
}

/// The error `sender`'s own parser reports for `body`.
fn own_error(sender: &str, body: &[u8]) -> EventError {
    match sender {
        LEGITMARK => legitmark::parse(body).unwrap_err(),
        CR3DENTIALS => Delivery::parse(body).unwrap_err(),
        other => unreachable!("no sender {other}"),
    }
}

/// The error the registry's sender reports for `body`, as the services see it.
fn registry_error(sender: &str, body: &[u8]) -> EventError {
    match senders::builtin().get(sender).unwrap().parse(body) {
        Ok(event) => panic!("{sender} parsed it as {}", event.event_type()),
        Err(err) => err,
    }
}

fn legitmark_body(extra: Value) -> Value {
    let mut body = json!({
        "event_type": "media_rejected",
        "sr_uuid": "5b3f9e2a-8c41-4d7e-a0b6-2f9c1e7d4a83",
        "reference_id": "item-10042",
        "timestamp": "2026-03-02T09:25:16.402Z",
        "sides": [{"side": "Front", "reason": "Image is Blurry"}],
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn session_body(extra: Value) -> Value {
    let mut body = json!({
        "sessionId": "1988cff5-efec-4714-b40c-9ed453680184",
        "status": "COMPLETED",
        "platformId": 1,
        "externalReferenceId": "user_abc123",
        "extractedData": {"accountHolderName": "Someone Else"},
        "completedAt": "2026-03-02T14:31:08.412Z",
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn verification_data(extra: Value) -> Value {
    let mut data = json!({
        "verificationId": "ver_abc123",
        "sessionId": 123,
        "stepId": 456,
        "status": "VERIFIED",
    });
    for (key, value) in extra.as_object().unwrap() {
        data[key] = value.clone();
    }
    json!({"type": "verification.completed", "status": "success", "data": data})
}

fn assert_value_free(cases: &[Case]) {
    for case in cases {
        let shown = String::from_utf8_lossy(&case.body);
        // given a body whose offending value would leak
        // when the sender parses it, and the registry's sender does
        let err = own_error(case.sender, &case.body);
        let text = err.to_string();
        // then both say the same, and the text holds none of the values sent
        assert_eq!(
            registry_error(case.sender, &case.body).to_string(),
            text,
            "{shown}"
        );
        for leak in case.leaks {
            assert!(!text.contains(leak), "{leak:?} in {text:?} for {shown}");
        }
        // and names the field, where the parser knows it, or where in the body it is
        match case.names {
            Some(field) => assert!(text.contains(field), "{field} not in {text:?} for {shown}"),
            None => assert!(text.contains(" at line 1 column "), "{text:?} for {shown}"),
        }
    }
}

#[test]
fn legitmark_schema_errors_never_contain_the_value_sent() {
    let cases = [
        // a sr_uuid given as a number
        case(
            LEGITMARK,
            legitmark_body(json!({"sr_uuid": 987_654_321})),
            &["987654321"],
            None,
        ),
        // a reference_id given as a number
        case(
            LEGITMARK,
            legitmark_body(json!({"reference_id": 987_654_321})),
            &["987654321"],
            None,
        ),
        // a timestamp given as an object holding a name
        case(
            LEGITMARK,
            legitmark_body(json!({"timestamp": {"by": PERSON}})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        // a side's reason given as an object
        case(
            LEGITMARK,
            legitmark_body(json!({"sides": [{"side": "Front", "reason": {"by": PERSON}}]})),
            &[PERSON, "Jane", "Public", "Front"],
            Some("sides"),
        ),
        // a side's name given as a number
        case(
            LEGITMARK,
            legitmark_body(json!({"sides": [{"side": 987_654_321, "reason": "Not Visible"}]})),
            &["987654321", "Not Visible"],
            Some("sides"),
        ),
        // a side's message given as a list holding a name
        case(
            LEGITMARK,
            legitmark_body(
                json!({"sides": [{"side": "Front", "reason": "r", "message": [PERSON]}]}),
            ),
            &[PERSON, "Jane", "Public"],
            Some("sides"),
        ),
        // a string where an array of sides is expected
        case(
            LEGITMARK,
            legitmark_body(json!({"sides": PERSON})),
            &[PERSON, "Jane", "Public"],
            Some("sides"),
        ),
        // a state given as a string
        case(
            LEGITMARK,
            legitmark_body(json!({"event_type": "state_change", "state": PERSON})),
            &[PERSON, "Jane", "Public"],
            Some("state"),
        ),
        // a state's primary given as a number
        case(
            LEGITMARK,
            legitmark_body(
                json!({"event_type": "state_change", "state": {"primary": 987_654_321}}),
            ),
            &["987654321"],
            Some("state"),
        ),
        // an invalidation reason's code given as a number
        case(
            LEGITMARK,
            legitmark_body(
                json!({"event_type": "invalidate_sr", "invalidation_reason": {"code": 987_654_321, "message": PERSON}}),
            ),
            &["987654321", PERSON],
            Some("invalidation_reason"),
        ),
        // an invalidation reason given as a string
        case(
            LEGITMARK,
            legitmark_body(json!({"event_type": "invalidate_sr", "invalidation_reason": PERSON})),
            &[PERSON, "Jane", "Public"],
            Some("invalidation_reason"),
        ),
        // an invalidation reason without its code, with a message
        case(
            LEGITMARK,
            legitmark_body(
                json!({"event_type": "invalidate_sr", "invalidation_reason": {"message": PERSON}}),
            ),
            &[PERSON, "Jane", "Public"],
            Some("invalidation_reason: missing field `code`"),
        ),
    ];
    assert_value_free(&cases);
}

#[test]
fn cr3dentials_session_level_schema_errors_never_contain_the_value_sent() {
    let cases = [
        // a sessionId given as a fraction
        case(
            CR3DENTIALS,
            session_body(json!({"sessionId": 1.5})),
            &["1.5"],
            None,
        ),
        // a sessionId given as an object holding a name
        case(
            CR3DENTIALS,
            session_body(json!({"sessionId": {"name": PERSON}})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        // a status of the wrong type holding a name: a list, an object
        case(
            CR3DENTIALS,
            session_body(json!({"status": [PERSON]})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        case(
            CR3DENTIALS,
            session_body(json!({"status": {"name": PERSON}})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        // a status given as a number
        case(
            CR3DENTIALS,
            session_body(json!({"status": 987_654_321})),
            &["987654321"],
            None,
        ),
        // a partner reference given as an object holding a name
        case(
            CR3DENTIALS,
            session_body(json!({"externalReferenceId": {"user": PERSON}})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        // a completedAt and a proofHash given as numbers
        case(
            CR3DENTIALS,
            session_body(json!({"completedAt": 987_654_321})),
            &["987654321"],
            None,
        ),
        case(
            CR3DENTIALS,
            session_body(json!({"proofHash": 987_654_321})),
            &["987654321"],
            None,
        ),
    ];
    assert_value_free(&cases);
}

#[test]
fn cr3dentials_verification_level_schema_errors_never_contain_the_value_sent() {
    let cases = [
        case(
            CR3DENTIALS,
            verification_data(json!({"sessionId": 1.5})),
            &["1.5"],
            None,
        ),
        case(
            CR3DENTIALS,
            verification_data(json!({"sessionId": {"name": PERSON}})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        case(
            CR3DENTIALS,
            verification_data(json!({"verificationId": 987_654_321})),
            &["987654321"],
            None,
        ),
        case(
            CR3DENTIALS,
            verification_data(json!({"stepId": PERSON})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
        case(
            CR3DENTIALS,
            verification_data(json!({"status": [PERSON]})),
            &[PERSON, "Jane", "Public"],
            None,
        ),
    ];
    assert_value_free(&cases);
}

#[test]
fn a_missing_field_is_named() {
    for (sender, body, field) in [
        (
            LEGITMARK,
            json!({"event_type": "media_rejected", "timestamp": PERSON}),
            "`sr_uuid`",
        ),
        (
            LEGITMARK,
            json!({"event_type": "media_rejected", "sr_uuid": PERSON, "timestamp": "t"}),
            "`sides`",
        ),
        (
            CR3DENTIALS,
            json!({"sessionId": PERSON, "extractedData": {"n": PERSON}}),
            "`status`",
        ),
    ] {
        let body = serde_json::to_vec(&body).unwrap();
        let text = own_error(sender, &body).to_string();
        assert!(text.contains(field), "{text}");
        assert!(!text.contains(PERSON), "{text}");
    }
}

#[test]
fn not_json_errors_never_contain_the_text_around_the_fault() {
    for sender in [LEGITMARK, CR3DENTIALS] {
        for body in [
            // cut off inside a personal value
            format!(r#"{{"sessionId":"u","status":"{PERSON}"#),
            // a bad escape inside it
            format!(r#"{{"sessionId":"u","status":"{PERSON}\x"}}"#),
            // a raw control character inside it
            format!("{{\"sessionId\":\"u\",\"status\":\"{PERSON}\u{1}\"}}"),
            // trailing text after the object
            format!(r#"{{"sessionId":"u","status":"COMPLETED"}} {PERSON}"#),
            // a bare word where a value belongs
            r#"{"sessionId":"u","status":Jane}"#.to_owned(),
        ] {
            // given a body that is not JSON, faulty inside or next to a personal value
            // when it is parsed
            let err = own_error(sender, body.as_bytes());
            // then it is reported as not JSON, with its position and without the text
            let text = err.to_string();
            assert!(matches!(err, EventError::NotJson(_)), "{text}");
            assert_eq!(registry_error(sender, body.as_bytes()).to_string(), text);
            assert!(text.contains(" at line 1 column "), "{text}");
            for leak in [PERSON, "Jane", "Public"] {
                assert!(!text.contains(leak), "{leak:?} in {text:?} for {body}");
            }
        }
    }
}

#[test]
fn a_value_containing_the_words_expected_is_still_left_out() {
    const SNEAKY: &str = "Jane, expected Q. Public";
    let cases = [
        // a string where an integer step id is expected
        case(
            CR3DENTIALS,
            verification_data(json!({"stepId": SNEAKY})),
            &[SNEAKY, "Q. Public", "Public"],
            None,
        ),
        // a string where the verification's data object is expected
        case(
            CR3DENTIALS,
            json!({"type": "verification.completed", "status": "success", "data": SNEAKY}),
            &[SNEAKY, "Q. Public", "Public"],
            None,
        ),
        // a body that is a JSON string rather than an object
        case(
            LEGITMARK,
            json!(SNEAKY),
            &[SNEAKY, "Q. Public", "Public"],
            None,
        ),
        case(
            CR3DENTIALS,
            json!(SNEAKY),
            &[SNEAKY, "Q. Public", "Public"],
            None,
        ),
    ];
    assert_value_free(&cases);
}
