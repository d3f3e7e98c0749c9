//! Legitmark's two payload generations: every documented shape of either (the reference pages'
//! and the events page's / SDK's) reads as the intended event, through the sender and through the
//! registry; and one item's lifecycle, sent in the older generation, the newer one or a mix, and
//! delivered in any order, ends in the same record and the same notifications.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use webhook_core::senders::legitmark::{
    self, InvalidationReason, ItemRecord, Legitmark, LegitmarkEvent, LegitmarkKind, Primary,
    RejectedSide, SrState, Supplement,
};
use webhook_core::senders::{self, Decision, Sender};

const SR_UUID: &str = "5b3f9e2a-8c41-4d7e-a0b6-2f9c1e7d4a83";
const ITEM_ID: &str = "item-10042";
const AT: &str = "2026-03-02T09:25:16.402Z";

fn parse(body: &Value) -> LegitmarkEvent {
    legitmark::parse(&serde_json::to_vec(body).unwrap())
        .unwrap_or_else(|err| panic!("{body}: {err}"))
}

/// The base fields every Legitmark event carries, with `extra` added.
fn body(event_type: &str, extra: Value) -> Value {
    let mut body = json!({
        "event_type": event_type,
        "sr_uuid": SR_UUID,
        "reference_id": ITEM_ID,
        "timestamp": AT,
    });
    let object = body.as_object_mut().unwrap();
    for (key, value) in extra.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    body
}

fn event(kind: LegitmarkKind) -> LegitmarkEvent {
    LegitmarkEvent {
        sr_uuid: SR_UUID.into(),
        reference_id: Some(ITEM_ID.into()),
        timestamp: AT.into(),
        kind,
    }
}

fn state(primary: Primary, supplement: Option<Supplement>) -> SrState {
    SrState {
        primary,
        supplement,
    }
}

fn side(name: &str, reason: &str, message: Option<&str>) -> RejectedSide {
    RejectedSide {
        side: name.into(),
        reason: reason.into(),
        message: message.map(Into::into),
    }
}

fn media_rejected(sides: Vec<RejectedSide>) -> LegitmarkEvent {
    event(LegitmarkKind::MediaRejected {
        state: state(Primary::Qc, Some(Supplement::Rejected)),
        sides,
    })
}

fn invalidate_sr(code: &str, message: Option<&str>) -> LegitmarkEvent {
    event(LegitmarkKind::InvalidateSr {
        state: state(Primary::Cancelled, None),
        invalidation_reason: InvalidationReason {
            code: code.into(),
            message: message.map(Into::into),
        },
    })
}

// ---- every documented shape ------------------------------------------------------------------

#[test]
fn state_change_reads_as_the_state_it_carries() {
    for (primary, supplement) in [
        ("DRAFT", None),
        ("QC", Some("PENDING")),
        ("UNDERWAY", Some("ASSIGNED")),
        ("COMPLETE", Some("APPROVED")),
        ("CANCELLED", None),
    ] {
        // given a state_change, the same in both generations
        let sent = body(
            "state_change",
            json!({"state": {"primary": primary, "supplement": supplement}}),
        );
        // when it is parsed
        // then it is that state change
        assert_eq!(
            parse(&sent),
            event(LegitmarkKind::StateChange {
                state: state(primary.into(), supplement.map(Into::into)),
            }),
            "{sent}"
        );
    }
}

#[test]
fn older_media_rejected_reads_each_side_with_its_description_as_message() {
    // given the reference pages' media_rejected: state, sides {side, side_uuid, reason,
    // reason_description}
    let sent = body(
        "media_rejected",
        json!({
            "state": {"primary": "QC", "supplement": "REJECTED"},
            "sides": [
                {"side": "Front", "side_uuid": "e1a7", "reason": "BLURRY",
                 "reason_description": "Out of focus."},
                {"side": "Back", "side_uuid": "9c4e", "reason": "POOR_LIGHTING",
                 "reason_description": "Too dark."},
            ],
        }),
    );
    // when it is parsed
    // then each side keeps its name, reason code and description; side_uuid is not kept
    assert_eq!(
        parse(&sent),
        media_rejected(vec![
            side("Front", "BLURRY", Some("Out of focus.")),
            side("Back", "POOR_LIGHTING", Some("Too dark.")),
        ])
    );
}

#[test]
fn newer_media_rejected_without_state_reads_as_qc_rejected_with_its_sides() {
    // given the SDK's media_rejected: no state, sides {side, reason, message?}, one without
    // message
    let sent = body(
        "media_rejected",
        json!({
            "sides": [
                {"side": "Front", "reason": "Image is Blurry", "message": "Hold the camera steady."},
                {"side": "Serial Tag", "reason": "Not Visible"},
            ],
        }),
    );
    // when it is parsed
    // then it is QC/REJECTED, and the side without message has none
    assert_eq!(
        parse(&sent),
        media_rejected(vec![
            side("Front", "Image is Blurry", Some("Hold the camera steady.")),
            side("Serial Tag", "Not Visible", None),
        ])
    );
}

#[test]
fn newer_media_rejected_with_null_state_or_null_message_reads_the_same() {
    // given the newer shape with the state and a message given as null
    let sent = body(
        "media_rejected",
        json!({
            "state": null,
            "sides": [{"side": "Serial Tag", "reason": "Not Visible", "message": null}],
        }),
    );
    // when it is parsed
    // then null means absent
    assert_eq!(
        parse(&sent),
        media_rejected(vec![side("Serial Tag", "Not Visible", None)])
    );
}

#[test]
fn media_rejected_with_no_sides_reads_as_an_empty_rejection() {
    for extra in [
        json!({"sides": []}),
        json!({"state": {"primary": "QC", "supplement": "REJECTED"}, "sides": []}),
    ] {
        assert_eq!(
            parse(&body("media_rejected", extra)),
            media_rejected(Vec::new())
        );
    }
}

#[test]
fn side_with_both_message_and_reason_description_keeps_the_message() {
    for side_json in [
        json!({"side": "Front", "reason": "BLURRY", "reason_description": "older", "message": "newer"}),
        json!({"side": "Front", "reason": "BLURRY", "message": "newer", "reason_description": "older"}),
        json!({"side": "Front", "side_uuid": "u", "reason": "BLURRY", "message": "newer", "reason_description": "older"}),
    ] {
        // given a side carrying both generations' explanation, in any field order
        let sent = body("media_rejected", json!({"sides": [side_json]}));
        // when it is parsed
        // then the newer generation's message wins
        assert_eq!(
            parse(&sent),
            media_rejected(vec![side("Front", "BLURRY", Some("newer"))]),
            "{sent}"
        );
    }
}

#[test]
fn side_with_null_message_falls_back_to_reason_description() {
    let sent = body(
        "media_rejected",
        json!({"sides": [{"side": "Front", "reason": "BLURRY", "message": null,
                          "reason_description": "older"}]}),
    );
    assert_eq!(
        parse(&sent),
        media_rejected(vec![side("Front", "BLURRY", Some("older"))])
    );
}

#[test]
fn older_invalidate_sr_reads_its_description_as_message() {
    // given the reference pages' invalidate_sr: state CANCELLED/null, reason {code, description}
    let sent = body(
        "invalidate_sr",
        json!({
            "state": {"primary": "CANCELLED", "supplement": null},
            "invalidation_reason": {"code": "NOT_SERVICEABLE", "description": "Brand not supported."},
        }),
    );
    // when it is parsed
    // then it is CANCELLED with the code and the description as message
    assert_eq!(
        parse(&sent),
        invalidate_sr("NOT_SERVICEABLE", Some("Brand not supported."))
    );
}

#[test]
fn newer_invalidate_sr_without_state_reads_as_cancelled() {
    // given the SDK's invalidate_sr: no state, reason {code, message}
    let sent = body(
        "invalidate_sr",
        json!({"invalidation_reason": {"code": "CANCELLED", "message": "Cancelled by the partner."}}),
    );
    // when it is parsed
    // then it is CANCELLED without supplement, with the code and message
    assert_eq!(
        parse(&sent),
        invalidate_sr("CANCELLED", Some("Cancelled by the partner."))
    );
}

#[test]
fn invalidation_reason_with_both_message_and_description_keeps_the_message() {
    let sent = body(
        "invalidate_sr",
        json!({"invalidation_reason": {"code": "C", "description": "older", "message": "newer"}}),
    );
    assert_eq!(parse(&sent), invalidate_sr("C", Some("newer")));
}

#[test]
fn unknown_fields_anywhere_are_ignored_in_either_generation() {
    let extra = json!({"added_later": {"nested": [1, "x"]}, "flag": true});
    for (plain, expected) in [
        (
            body(
                "state_change",
                json!({"state": {"primary": "QC", "supplement": "APPROVED"}}),
            ),
            event(LegitmarkKind::StateChange {
                state: state(Primary::Qc, Some(Supplement::Approved)),
            }),
        ),
        (
            body(
                "media_rejected",
                json!({"state": {"primary": "QC", "supplement": "REJECTED"},
                       "sides": [{"side": "Front", "side_uuid": "u", "reason": "BLURRY",
                                  "reason_description": "d"}]}),
            ),
            media_rejected(vec![side("Front", "BLURRY", Some("d"))]),
        ),
        (
            body(
                "media_rejected",
                json!({"sides": [{"side": "Front", "reason": "Image is Blurry", "message": "m"}]}),
            ),
            media_rejected(vec![side("Front", "Image is Blurry", Some("m"))]),
        ),
        (
            body(
                "invalidate_sr",
                json!({"state": {"primary": "CANCELLED", "supplement": null},
                       "invalidation_reason": {"code": "NOT_SERVICEABLE", "description": "d"}}),
            ),
            invalidate_sr("NOT_SERVICEABLE", Some("d")),
        ),
        (
            body(
                "invalidate_sr",
                json!({"invalidation_reason": {"code": "CANCELLED", "message": "m"}}),
            ),
            invalidate_sr("CANCELLED", Some("m")),
        ),
    ] {
        // given a body with unknown fields added at the top, in the state, in each side and in
        // the invalidation reason
        let sent = with_unknown_fields_everywhere(plain.clone(), &extra);
        assert_ne!(sent, plain);
        // when it is parsed
        // then it is the event the body without them is
        assert_eq!(parse(&sent), expected, "{sent}");
        assert_eq!(parse(&plain), expected, "{plain}");
    }
}

/// `body` with `extra`'s fields added to itself and to each object it holds (state, sides,
/// invalidation reason).
fn with_unknown_fields_everywhere(mut body: Value, extra: &Value) -> Value {
    fn add(value: &mut Value, extra: &Value) {
        match value {
            Value::Object(map) => {
                for inner in map.values_mut() {
                    add(inner, extra);
                }
                for (key, field) in extra.as_object().unwrap() {
                    map.insert(key.clone(), field.clone());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| add(item, extra)),
            _ => {}
        }
    }
    add(&mut body, extra);
    body
}

#[test]
fn registry_parse_agrees_with_the_sender_on_every_shape_of_either_generation() {
    let registry = senders::builtin();
    let payload = registry.get(Legitmark::NAME).unwrap();
    for sent in [
        body(
            "state_change",
            json!({"state": {"primary": "COMPLETE", "supplement": "APPROVED"}}),
        ),
        body(
            "media_rejected",
            json!({"state": {"primary": "QC", "supplement": "REJECTED"},
                   "sides": [{"side": "Front", "side_uuid": "u", "reason": "BLURRY",
                              "reason_description": "d"}]}),
        ),
        body(
            "media_rejected",
            json!({"sides": [{"side": "Front", "reason": "Image is Blurry"}]}),
        ),
        body(
            "invalidate_sr",
            json!({"state": {"primary": "CANCELLED", "supplement": null},
                   "invalidation_reason": {"code": "NOT_SERVICEABLE", "description": "d"}}),
        ),
        body(
            "invalidate_sr",
            json!({"invalidation_reason": {"code": "CANCELLED", "message": "m"}}),
        ),
    ] {
        // given a body of either generation
        let bytes = serde_json::to_vec(&sent).unwrap();
        // when the registry's sender and the sender itself parse it
        let erased = payload.parse(&bytes).unwrap();
        let typed = Legitmark::parse(&bytes).unwrap();
        // then they agree on the type, subject and key
        assert_eq!(erased.event_type(), Legitmark::event_type(&typed), "{sent}");
        assert_eq!(erased.subject(), ITEM_ID, "{sent}");
        for message_id in [None, Some("msg_1")] {
            assert_eq!(
                erased.key(message_id),
                Legitmark::key(message_id, &typed),
                "{sent}"
            );
        }
        // and applying it through the registry writes the record the rules give
        let Decision::Apply(change) = erased.apply(None, "k").unwrap() else {
            panic!("{sent}: already applied on an empty record");
        };
        let outcome = legitmark::apply(None, &typed, "k");
        let record: ItemRecord = serde_json::from_str(&change.record).unwrap();
        assert_eq!(record, outcome.record, "{sent}");
        assert_eq!(
            change
                .notification
                .map(|n| serde_json::from_str(&n.notification.json).unwrap()),
            outcome.notification,
            "{sent}"
        );
    }
}

#[test]
fn one_event_in_either_generation_has_one_key_and_one_effect() {
    for (older, newer) in [
        (
            body(
                "media_rejected",
                json!({"state": {"primary": "QC", "supplement": "REJECTED"},
                       "sides": [{"side": "Front", "side_uuid": "u", "reason": "BLURRY",
                                  "reason_description": "d"}]}),
            ),
            body(
                "media_rejected",
                json!({"sides": [{"side": "Front", "reason": "BLURRY", "message": "d"}]}),
            ),
        ),
        (
            body(
                "invalidate_sr",
                json!({"state": {"primary": "CANCELLED", "supplement": null},
                       "invalidation_reason": {"code": "NOT_SERVICEABLE", "description": "d"}}),
            ),
            body(
                "invalidate_sr",
                json!({"invalidation_reason": {"code": "NOT_SERVICEABLE", "message": "d"}}),
            ),
        ),
    ] {
        // given the same event sent in the older and in the newer generation
        let (older, newer) = (parse(&older), parse(&newer));
        // then it is one event, with one derived key, applied to one record and notification
        assert_eq!(older, newer);
        assert_eq!(legitmark::key(None, &older), legitmark::key(None, &newer));
        assert_eq!(
            legitmark::apply(None, &older, "k"),
            legitmark::apply(None, &newer, "k")
        );
    }
}

// ---- one lifecycle, any generation, any order ------------------------------------------------

/// The documented states, as `(primary, supplement)`.
const STATES: &[(&str, Option<&str>)] = &[
    ("DRAFT", None),
    ("QC", Some("PENDING")),
    ("QC", Some("REJECTED")),
    ("QC", Some("APPROVED")),
    ("QC", Some("COMPLETE")),
    ("UNDERWAY", Some("PENDING")),
    ("UNDERWAY", Some("ASSIGNED")),
    ("UNDERWAY", Some("APPROVED")),
    ("COMPLETE", Some("APPROVED")),
    ("COMPLETE", Some("REJECTED")),
    ("COMPLETE", Some("COMPLETE")),
    ("CANCELLED", None),
];

/// A rejected side as the lifecycle means it, whatever generation renders it.
#[derive(Debug, Clone)]
struct Side {
    side: &'static str,
    reason: &'static str,
    message: Option<&'static str>,
}

/// What happened to the item.
#[derive(Debug, Clone)]
enum Step {
    StateChange(&'static str, Option<&'static str>),
    MediaRejected(Vec<Side>),
    InvalidateSr {
        code: &'static str,
        message: Option<&'static str>,
    },
}

/// One event of the lifecycle, with the choices a sender has in rendering it that do not change
/// its meaning.
#[derive(Debug, Clone)]
struct Sent {
    step: Step,
    timestamp: String,
    /// An absent optional explanation is sent as `null` rather than left out.
    null_for_absent: bool,
    /// Unknown fields are added at every level.
    unknown_fields: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Older,
    Newer,
}

fn step() -> impl Strategy<Value = Step> {
    let side = (
        prop::sample::select(&["Front", "Back", "Serial Tag", "Inside Label"][..]),
        prop::sample::select(&["BLURRY", "POOR_LIGHTING", "Image is Blurry", "Not Visible"][..]),
        prop::option::of(prop::sample::select(
            &["Retake it in daylight.", "Hold the camera steady."][..],
        )),
    )
        .prop_map(|(side, reason, message)| Side {
            side,
            reason,
            message,
        });
    prop_oneof![
        3 => prop::sample::select(STATES).prop_map(|(primary, supplement)| Step::StateChange(primary, supplement)),
        2 => prop::collection::vec(side, 0..4).prop_map(Step::MediaRejected),
        1 => (
            prop::sample::select(&["NOT_SERVICEABLE", "CANCELLED"][..]),
            prop::option::of(prop::sample::select(&["Brand not supported.", "Cancelled by the partner."][..])),
        )
            .prop_map(|(code, message)| Step::InvalidateSr { code, message }),
    ]
}

/// One item's events, in the order they happened, with strictly increasing timestamps.
fn lifecycle() -> impl Strategy<Value = Vec<Sent>> {
    prop::collection::vec(
        (
            step(),
            1..600_u32,
            0..1000_u32,
            any::<bool>(),
            any::<bool>(),
        ),
        1..10,
    )
    .prop_map(|events| {
        let mut seconds = 0;
        events
            .into_iter()
            .map(|(step, gap, millis, null_for_absent, unknown_fields)| {
                seconds += gap;
                Sent {
                    step,
                    timestamp: format!(
                        "2026-03-02T{:02}:{:02}:{:02}.{millis:03}Z",
                        9 + seconds / 3600,
                        seconds / 60 % 60,
                        seconds % 60
                    ),
                    null_for_absent,
                    unknown_fields,
                }
            })
            .collect()
    })
}

/// The body `sent` is delivered as in `generation`.
fn render(sent: &Sent, generation: Generation, index: usize) -> Value {
    let optional = |text: Option<&str>| match text {
        Some(text) => Some(Value::from(text)),
        None if sent.null_for_absent => Some(Value::Null),
        None => None,
    };
    let mut extra = Map::new();
    match (&sent.step, generation) {
        (Step::StateChange(primary, supplement), _) => {
            extra.insert(
                "state".into(),
                json!({"primary": primary, "supplement": supplement}),
            );
        }
        (Step::MediaRejected(sides), Generation::Older) => {
            extra.insert(
                "state".into(),
                json!({"primary": "QC", "supplement": "REJECTED"}),
            );
            let sides = sides.iter().enumerate().map(|(n, side)| {
                let mut wire = Map::new();
                wire.insert("side".into(), side.side.into());
                wire.insert("side_uuid".into(), format!("side-{index}-{n}").into());
                wire.insert("reason".into(), side.reason.into());
                if let Some(text) = optional(side.message) {
                    wire.insert("reason_description".into(), text);
                }
                Value::Object(wire)
            });
            extra.insert("sides".into(), sides.collect());
        }
        (Step::MediaRejected(sides), Generation::Newer) => {
            let sides = sides.iter().map(|side| {
                let mut wire = Map::new();
                wire.insert("side".into(), side.side.into());
                wire.insert("reason".into(), side.reason.into());
                if let Some(text) = optional(side.message) {
                    wire.insert("message".into(), text);
                }
                Value::Object(wire)
            });
            extra.insert("sides".into(), sides.collect());
        }
        (Step::InvalidateSr { code, message }, generation) => {
            let explanation = match generation {
                Generation::Older => {
                    extra.insert(
                        "state".into(),
                        json!({"primary": "CANCELLED", "supplement": null}),
                    );
                    "description"
                }
                Generation::Newer => "message",
            };
            let mut reason = Map::new();
            reason.insert("code".into(), (*code).into());
            if let Some(text) = optional(*message) {
                reason.insert(explanation.into(), text);
            }
            extra.insert("invalidation_reason".into(), Value::Object(reason));
        }
    }
    let event_type = match sent.step {
        Step::StateChange(..) => "state_change",
        Step::MediaRejected(_) => "media_rejected",
        Step::InvalidateSr { .. } => "invalidate_sr",
    };
    let mut wire = body(event_type, Value::Object(extra));
    wire["timestamp"] = sent.timestamp.clone().into();
    if sent.unknown_fields {
        wire = with_unknown_fields_everywhere(wire, &json!({"added_later": {"n": [1]}}));
    }
    wire
}

/// The lifecycle's events as parsed, each rendered in the generation `generations` names for it,
/// with the key each is claimed under when there is no message id.
fn parsed(lifecycle: &[Sent], generations: &[Generation]) -> Vec<(String, LegitmarkEvent)> {
    lifecycle
        .iter()
        .zip(generations)
        .enumerate()
        .map(|(index, (sent, &generation))| {
            let event = parse(&render(sent, generation, index));
            (legitmark::key(None, &event).as_str().to_owned(), event)
        })
        .collect()
}

/// Delivers the events in the order `order` gives; returns the final record and what each
/// delivery told the user, in delivery order.
fn deliver(
    events: &[(String, LegitmarkEvent)],
    order: &[usize],
) -> (ItemRecord, Vec<Option<legitmark::Notification>>) {
    let mut record = None;
    let mut told = Vec::new();
    for &index in order {
        let (key, event) = &events[index];
        let outcome = legitmark::apply(record.take(), event, key);
        record = Some(outcome.record);
        told.push(outcome.notification);
    }
    (record.expect("at least one event"), told)
}

fn lifecycle_order_and_mix() -> impl Strategy<Value = (Vec<Sent>, Vec<usize>, Vec<bool>)> {
    lifecycle().prop_flat_map(|events| {
        let n = events.len();
        (
            Just(events),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            prop::collection::vec(any::<bool>(), n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_lifecycle_in_any_generation_mix_and_arrival_order_ends_in_one_record_and_notifications(
        (lifecycle, order, mix) in lifecycle_order_and_mix()
    ) {
        // given one item's lifecycle rendered all in the older generation, all in the newer one,
        // and mixed per event
        let older = parsed(&lifecycle, &vec![Generation::Older; lifecycle.len()]);
        let newer = parsed(&lifecycle, &vec![Generation::Newer; lifecycle.len()]);
        let mixed_generations: Vec<Generation> = mix
            .iter()
            .map(|&newer| if newer { Generation::Newer } else { Generation::Older })
            .collect();
        let mixed = parsed(&lifecycle, &mixed_generations);
        // whose events have distinct keys, the same in every generation
        let keys: BTreeSet<&str> = older.iter().map(|(key, _)| key.as_str()).collect();
        prop_assert_eq!(keys.len(), lifecycle.len());
        for renderings in [&newer, &mixed] {
            for ((key, _), (other, _)) in older.iter().zip(renderings.iter()) {
                prop_assert_eq!(key, other);
            }
        }
        // and the record of the older generation delivered in the order things happened
        let in_order: Vec<usize> = (0..lifecycle.len()).collect();
        let (expected, told_in_order) = deliver(&older, &in_order);

        // when each rendering is delivered in the same random order
        let (older_record, older_told) = deliver(&older, &order);
        let (newer_record, newer_told) = deliver(&newer, &order);
        let (mixed_record, mixed_told) = deliver(&mixed, &order);

        // then each ends in the in-order record, in every field
        prop_assert_eq!(&older_record, &expected);
        prop_assert_eq!(&newer_record, &expected);
        prop_assert_eq!(&mixed_record, &expected);
        // and each delivery told the user the same, whatever generation it came in
        prop_assert_eq!(&newer_told, &older_told);
        prop_assert_eq!(&mixed_told, &older_told);
        // and in order, too, the generations tell the same
        prop_assert_eq!(&deliver(&newer, &in_order).1, &told_in_order);
        prop_assert_eq!(&deliver(&mixed, &in_order).1, &told_in_order);
    }
}
