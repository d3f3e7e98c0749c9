//! The Legitmark and Cr3dentials payload parsers, fed each input twice: as the raw body, and as a
//! description of a JSON object built from the sender's field names, so that most generated
//! bodies get past the first missing field into the type-specific parsing.
//!
//! Oracles: a body that is JSON is never reported as not JSON; the sender's parser and the
//! registry's (what the services call) reach the same verdict, type, subject and idempotency key;
//! a parsed event agrees with the JSON it came from on its type and subject; its accessors never
//! panic; and it serialises to the sender's shape, which reads back, and parses again, as the same
//! thing.

use std::sync::OnceLock;

use arbitrary::Unstructured;
use serde::Serialize;
use serde_json::{Map, Value};
use webhook_core::key;
use webhook_core::senders::cr3dentials::{Cr3dentials, Delivery};
use webhook_core::senders::legitmark::Legitmark;
use webhook_core::senders::{self, EventError, Registry, Sender};

const MAX_DEPTH: u32 = 4;

const LEGITMARK_EVENT_TYPES: &[&str] = &["state_change", "media_rejected", "invalidate_sr"];
const PRIMARIES: &[&str] = &["DRAFT", "QC", "UNDERWAY", "COMPLETE", "CANCELLED"];
const SUPPLEMENTS: &[&str] = &["PENDING", "REJECTED", "APPROVED", "COMPLETE", "ASSIGNED"];
const CR3DENTIALS_TYPES: &[&str] = &[
    "verification.completed",
    "verification.failed",
    "verification.expired",
    "verification.manual_review_completed",
];
const OVERALL_STATUSES: &[&str] = &["success", "failed"];
const SESSION_STATUSES: &[&str] = &[
    "COMPLETED",
    "PARTIAL_COMPLETE",
    "ERROR",
    "CANCELLED",
    "TERMINATED",
];
const TIMESTAMPS: &[&str] = &[
    "2026-03-02T09:14:07.512Z",
    "2026-03-02T09:14:07+01:00",
    "20260302T091407Z",
    "2026-03-02",
    "",
];

/// The Legitmark parser on the raw input and on a Legitmark-shaped body built from it.
pub fn legitmark(data: &[u8]) -> String {
    let raw = check::<Legitmark>(data);
    let built = build(data, legitmark_body)
        .map_or_else(|| "-".to_owned(), |body| check::<Legitmark>(&body));
    format!("raw: {raw}; built: {built}")
}

/// The Cr3dentials parser on the raw input and on a Cr3dentials-shaped body built from it.
pub fn cr3dentials(data: &[u8]) -> String {
    let raw = check::<Cr3dentials>(data);
    let built = build(data, cr3dentials_body)
        .map_or_else(|| "-".to_owned(), |body| check::<Cr3dentials>(&body));
    format!("raw: {raw}; built: {built}")
}

/// What the oracles need of a sender's own event type besides [`Sender`].
trait Fuzzed: Sender<Event: Serialize> {
    /// Calls the accessors that [`Sender`] does not cover, for their panics only.
    fn touch(event: &Self::Event);
    /// Asserts that the event says what the JSON it was parsed from says.
    fn agrees_with_json(event: &Self::Event, value: &Value);
    /// Asserts that two parses are the same event, where the type can tell.
    fn same(a: &Self::Event, b: &Self::Event);
}

impl Fuzzed for Legitmark {
    fn touch(event: &Self::Event) {
        let _ = (event.occurred_at(), event.state());
    }

    fn agrees_with_json(event: &Self::Event, value: &Value) {
        assert_eq!(value["event_type"].as_str(), Some(event.event_type()));
        assert_eq!(value["sr_uuid"].as_str(), Some(event.sr_uuid.as_str()));
        let reference = value["reference_id"].as_str().filter(|r| !r.is_empty());
        assert_eq!(event.subject(), reference.unwrap_or(&event.sr_uuid));
    }

    fn same(a: &Self::Event, b: &Self::Event) {
        assert_eq!(a, b);
    }
}

impl Fuzzed for Cr3dentials {
    fn touch(event: &Self::Event) {
        match event {
            Delivery::Verification(event) => {
                let _ = (event.occurred_at(), event.is_verified());
            }
            Delivery::Session(event) => {
                let _ = (event.occurred_at(), format!("{event:?}"));
            }
        }
    }

    fn agrees_with_json(event: &Self::Event, value: &Value) {
        let session = match event {
            Delivery::Verification(event) => {
                assert_eq!(value["type"].as_str(), Some(event.event_type()));
                &value["data"]["sessionId"]
            }
            Delivery::Session(event) => {
                let status = value["status"].as_str().unwrap_or_default();
                assert_eq!(
                    event.event_type(),
                    format!("session.{}", status.to_ascii_lowercase())
                );
                &value["sessionId"]
            }
        };
        let text = session
            .as_str()
            .map_or_else(|| session.to_string(), str::to_owned);
        assert_eq!(event.subject(), text);
    }

    // Cr3dentials events hold raw JSON and have no equality: their serialisations are compared.
    fn same(_: &Self::Event, _: &Self::Event) {}
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(senders::builtin)
}

fn build(
    data: &[u8],
    shape: fn(&mut Unstructured<'_>) -> arbitrary::Result<Value>,
) -> Option<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let value = shape(&mut u).ok()?;
    let pretty = u.arbitrary::<bool>().unwrap_or(false);
    let body = if pretty {
        serde_json::to_vec_pretty(&value)
    } else {
        serde_json::to_vec(&value)
    };
    Some(body.expect("a Value always serialises"))
}

/// Parses `body` as `S`'s and checks the oracles; returns a one-line outcome.
fn check<S: Fuzzed>(body: &[u8]) -> String {
    let as_value = serde_json::from_slice::<Value>(body).ok();
    let payload = registry().get(S::NAME).expect("a built-in sender");
    let erased = payload.parse(body);
    let event = match S::parse(body) {
        Ok(event) => event,
        Err(EventError::NotJson(_)) => {
            assert!(as_value.is_none(), "JSON reported as not JSON");
            assert!(matches!(erased, Err(EventError::NotJson(_))));
            let _ = key::for_unparsed(None, body);
            return "not json".to_owned();
        }
        Err(EventError::Schema(_)) => {
            assert!(matches!(erased, Err(EventError::Schema(_))));
            let _ = key::for_unparsed(Some("msg_1"), body);
            return "schema error".to_owned();
        }
    };
    let Ok(erased) = erased else {
        panic!("the registry's parser refused what the sender's read");
    };

    let (event_type, subject) = (S::event_type(&event), S::subject(&event));
    assert_eq!(erased.event_type(), event_type);
    assert_eq!(erased.subject(), subject);
    S::touch(&event);
    for message_id in [None, Some("msg_1")] {
        assert_eq!(erased.key(message_id), S::key(message_id, &event));
    }
    if let Some(value) = &as_value {
        S::agrees_with_json(&event, value);
    }
    round_trips::<S>(&event);
    format!("{event_type:?} about {subject:?}")
}

/// Events are kept as JSON in the sender's own shape: that form must parse again through the
/// sender's parser as the same event.
fn round_trips<S: Fuzzed>(event: &S::Event) {
    let stored = serde_json::to_vec(event).expect("an event serialises");
    let again = S::parse(&stored).expect("the sender's shape parses again");
    assert_eq!(
        serde_json::to_vec(&again).expect("an event serialises"),
        stored,
        "wire form changed on a round trip"
    );
    S::same(event, &again);
}

fn legitmark_body(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let mut object = Map::new();
    field(u, &mut object, "event_type", |u| {
        word(u, LEGITMARK_EVENT_TYPES)
    })?;
    field(u, &mut object, "sr_uuid", |u| word(u, &["sr-1"]))?;
    field(u, &mut object, "reference_id", |u| {
        if u.ratio(1, 4)? {
            Ok(Value::Null)
        } else {
            word(u, &["item-1", ""])
        }
    })?;
    field(u, &mut object, "timestamp", |u| word(u, TIMESTAMPS))?;
    field(u, &mut object, "state", state)?;
    field(u, &mut object, "sides", |u| {
        let count = u.int_in_range(0..=3)?;
        (0..count)
            .map(|_| {
                let mut side = Map::new();
                field(u, &mut side, "side", |u| word(u, &["Front", "Back"]))?;
                field(u, &mut side, "side_uuid", |u| word(u, &["u-1"]))?;
                field(u, &mut side, "reason", |u| {
                    word(u, &["BLURRY", "Image is Blurry"])
                })?;
                field(u, &mut side, "reason_description", nullable_text)?;
                field(u, &mut side, "message", nullable_text)?;
                Ok(Value::Object(side))
            })
            .collect::<arbitrary::Result<Vec<_>>>()
            .map(Value::Array)
    })?;
    field(u, &mut object, "invalidation_reason", |u| {
        let mut reason = Map::new();
        field(u, &mut reason, "code", |u| word(u, &["NOT_SERVICEABLE"]))?;
        field(u, &mut reason, "description", nullable_text)?;
        field(u, &mut reason, "message", nullable_text)?;
        Ok(Value::Object(reason))
    })?;
    extra_fields(u, &mut object)?;
    Ok(Value::Object(object))
}

fn state(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let mut state = Map::new();
    field(u, &mut state, "primary", |u| word(u, PRIMARIES))?;
    field(u, &mut state, "supplement", |u| {
        if u.ratio(1, 4)? {
            Ok(Value::Null)
        } else {
            word(u, SUPPLEMENTS)
        }
    })?;
    Ok(Value::Object(state))
}

fn cr3dentials_body(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    if u.ratio(1, 3)? {
        return session_body(u);
    }
    let mut object = Map::new();
    field(u, &mut object, "type", |u| word(u, CR3DENTIALS_TYPES))?;
    field(u, &mut object, "status", |u| word(u, OVERALL_STATUSES))?;
    field(u, &mut object, "data", |u| {
        let mut data = Map::new();
        field(u, &mut data, "verificationId", |u| word(u, &["ver_1"]))?;
        field(u, &mut data, "sessionId", |u| {
            Ok(match u.int_in_range(0..=3)? {
                0 => Value::from(u.arbitrary::<u64>()?),
                1 => Value::from(u.arbitrary::<i64>()?),
                2 => Value::from(u.arbitrary::<String>()?),
                _ => Value::from(u.arbitrary::<i64>()?.to_string()),
            })
        })?;
        field(u, &mut data, "stepId", |u| {
            Ok(Value::from(u.arbitrary::<i64>()?))
        })?;
        field(u, &mut data, "status", |u| word(u, &["VERIFIED", "FAILED"]))?;
        field(u, &mut data, "proofData", |u| any_json(u, 0))?;
        field(u, &mut data, "formattedData", |u| any_json(u, 0))?;
        field(u, &mut data, "metadata", |u| {
            let mut metadata = Map::new();
            field(u, &mut metadata, "verifiedAt", |u| word(u, TIMESTAMPS))?;
            extra_fields(u, &mut metadata)?;
            Ok(Value::Object(metadata))
        })?;
        extra_fields(u, &mut data)?;
        Ok(Value::Object(data))
    })?;
    extra_fields(u, &mut object)?;
    Ok(Value::Object(object))
}

/// A body shaped like the session-level webhook.
fn session_body(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let mut object = Map::new();
    field(u, &mut object, "sessionId", |u| {
        Ok(match u.int_in_range(0..=2)? {
            0 => Value::from(u.arbitrary::<u64>()?),
            1 => Value::from(u.arbitrary::<String>()?),
            _ => Value::from("a1b2c3d4-e5f6-7890-abcd-ef1234567890"),
        })
    })?;
    field(u, &mut object, "status", |u| word(u, SESSION_STATUSES))?;
    field(u, &mut object, "platformId", |u| {
        Ok(Value::from(u.arbitrary::<i64>()?))
    })?;
    field(u, &mut object, "externalReferenceId", |u| {
        word(u, &["user_1"])
    })?;
    field(u, &mut object, "extractedData", |u| any_json(u, 0))?;
    field(u, &mut object, "proofHash", |u| word(u, &["9f2c"]))?;
    field(u, &mut object, "completedAt", |u| word(u, TIMESTAMPS))?;
    field(u, &mut object, "metadata", |u| any_json(u, 0))?;
    extra_fields(u, &mut object)?;
    Ok(Value::Object(object))
}

/// Usually the field with a value of the expected shape; sometimes absent, null or any JSON.
fn field(
    u: &mut Unstructured<'_>,
    object: &mut Map<String, Value>,
    name: &str,
    expected: impl FnOnce(&mut Unstructured<'_>) -> arbitrary::Result<Value>,
) -> arbitrary::Result<()> {
    let value = match u.int_in_range(0..=9)? {
        0 => return Ok(()),
        1 => Value::Null,
        2 => any_json(u, 0)?,
        _ => expected(u)?,
    };
    object.insert(name.to_owned(), value);
    Ok(())
}

/// Mostly one of the sender's words, sometimes any text.
fn word(u: &mut Unstructured<'_>, words: &[&str]) -> arbitrary::Result<Value> {
    if u.ratio(1, 5)? {
        Ok(Value::from(u.arbitrary::<String>()?))
    } else {
        Ok(Value::from(*u.choose(words)?))
    }
}

fn nullable_text(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    Ok(match u.arbitrary::<Option<String>>()? {
        Some(text) => Value::from(text),
        None => Value::Null,
    })
}

fn extra_fields(
    u: &mut Unstructured<'_>,
    object: &mut Map<String, Value>,
) -> arbitrary::Result<()> {
    for _ in 0..u.int_in_range(0..=2)? {
        let name = u.arbitrary::<String>()?;
        let value = any_json(u, 0)?;
        object.insert(name, value);
    }
    Ok(())
}

fn any_json(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let leaf_only = depth >= MAX_DEPTH;
    Ok(match u.int_in_range(0..=if leaf_only { 5 } else { 7 })? {
        0 => Value::Null,
        1 => Value::from(u.arbitrary::<bool>()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(u.arbitrary::<u64>()?),
        4 => Value::from(u.arbitrary::<f64>()?),
        5 => Value::from(u.arbitrary::<String>()?),
        6 => Value::Array(
            (0..u.int_in_range(0..=3)?)
                .map(|_| any_json(u, depth + 1))
                .collect::<arbitrary::Result<_>>()?,
        ),
        _ => {
            let mut object = Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                object.insert(u.arbitrary::<String>()?, any_json(u, depth + 1)?);
            }
            Value::Object(object)
        }
    })
}
