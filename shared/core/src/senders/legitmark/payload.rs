//! Legitmark's payloads: what a verified body says, mapped to Rust types in both directions
//! (events are stored as JSON in the sender's own shape), and the provider SDK's predicates over it.
//!
//! Two payload generations are live, and both read to the same event:
//! - the reference pages': `media_rejected` and `invalidate_sr` carry their `state`; sides are
//!   `{side, side_uuid, reason (a code), reason_description}`; `invalidation_reason` is
//!   `{code, description}`;
//! - the events page's and the TypeScript SDK's (v0.2+): no `state` on those two types (it is
//!   QC/REJECTED and CANCELLED by definition); sides are `{side, reason (human-readable), message?}`;
//!   `invalidation_reason` is `{code, message}`.
//!
//! A side keeps its name, reason and explanation (`message`, else `reason_description`); the
//! older generation's `side_uuid` has no counterpart in the newer and is not kept. Values
//! Legitmark may add at any time (event types, states, reasons, fields) are kept or ignored, never
//! rejected. It does not authenticate bodies (`verify` does, before anything here reads them).
//! Errors never carry a value of the body.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use crate::senders::parse_instant;

const STATE_CHANGE: &str = "state_change";
const MEDIA_REJECTED: &str = "media_rejected";
const INVALIDATE_SR: &str = "invalidate_sr";

/// A Legitmark webhook about one service request (SR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegitmarkEvent {
    /// The service request's UUID.
    pub sr_uuid: String,
    /// The partner's own item id (the SR's `external_id`); null or absent when none was set.
    pub reference_id: Option<String>,
    /// ISO 8601 text as sent; kept verbatim so an unexpected format never fails a delivery.
    pub timestamp: String,
    /// What happened, with the fields that event type carries.
    pub kind: LegitmarkKind,
}

/// The Legitmark event types and their type-specific fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegitmarkKind {
    /// `state_change`: the SR moved to a new state.
    StateChange {
        /// The new state.
        state: SrState,
    },
    /// `media_rejected`: quality control rejected the named photos (state QC/REJECTED).
    MediaRejected {
        /// The state, QC/REJECTED (as sent, or implied where the newer generation omits it).
        state: SrState,
        /// The rejected sides, with reasons.
        sides: Vec<RejectedSide>,
    },
    /// `invalidate_sr`: the SR cannot be processed (state CANCELLED, no supplement).
    InvalidateSr {
        /// The state, CANCELLED (as sent, or implied where the newer generation omits it).
        state: SrState,
        /// Why the SR was invalidated.
        invalidation_reason: InvalidationReason,
    },
    /// An event_type this receiver does not know yet; the provider may add new ones at any time.
    Unknown {
        /// The event type as sent.
        event_type: String,
        /// The `state` field, if present and shaped like a known state; otherwise `None`.
        state: Option<SrState>,
    },
}

/// A service request's state: main stage and detail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SrState {
    /// The main stage.
    pub primary: Primary,
    /// The detail within the stage; null for DRAFT and CANCELLED.
    #[serde(default)]
    pub supplement: Option<Supplement>,
}

open_wire_enum! {
    /// A service request's main stage.
    pub enum Primary {
        /// Created, requirements missing.
        Draft = "DRAFT",
        /// Photos in quality control.
        Qc = "QC",
        /// In authentication.
        Underway = "UNDERWAY",
        /// Finished.
        Complete = "COMPLETE",
        /// Cancelled or cannot be processed.
        Cancelled = "CANCELLED",
    }
}

open_wire_enum! {
    /// The detail within a service request's stage.
    pub enum Supplement {
        /// Waiting in the stage's queue.
        Pending = "PENDING",
        /// Rejected (photos in QC; counterfeit in COMPLETE).
        Rejected = "REJECTED",
        /// Approved (photos in QC; authentic in COMPLETE).
        Approved = "APPROVED",
        /// Fully processed.
        Complete = "COMPLETE",
        /// An authenticator is working on it.
        Assigned = "ASSIGNED",
    }
}

/// One photo side that quality control rejected.
///
/// Reads either generation's side (see the module documentation); stored records written before
/// the newer generation was read name the explanation `reason_description`, which still reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RejectedSide {
    /// The side's name, e.g. `Front`.
    #[serde(default)]
    pub side: String,
    /// Why: a code such as `BLURRY`, or a human-readable reason such as `Image is Blurry`; its
    /// values change over time.
    #[serde(default)]
    pub reason: String,
    /// A human-readable explanation, when given.
    #[serde(default, alias = "reason_description")]
    pub message: Option<String>,
}

/// Why a service request was invalidated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InvalidationReason {
    /// The reason code, e.g. `NOT_SERVICEABLE` or `CANCELLED`.
    pub code: String,
    /// A human-readable explanation, when given (`message`, or the older `description`).
    #[serde(default, alias = "description")]
    pub message: Option<String>,
}

/// A side as either generation sends it.
#[derive(Deserialize)]
struct SideWire {
    #[serde(default)]
    side: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason_description: Option<String>,
}

impl From<SideWire> for RejectedSide {
    fn from(wire: SideWire) -> Self {
        Self {
            side: wire.side.unwrap_or_default(),
            reason: wire.reason.unwrap_or_default(),
            message: wire.message.or(wire.reason_description),
        }
    }
}

/// An invalidation reason as either generation sends it.
#[derive(Deserialize)]
struct InvalidationWire {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl From<InvalidationWire> for InvalidationReason {
    fn from(wire: InvalidationWire) -> Self {
        Self {
            code: wire.code,
            message: wire.message.or(wire.description),
        }
    }
}

impl LegitmarkEvent {
    /// The event type as sent.
    pub fn event_type(&self) -> &str {
        match &self.kind {
            LegitmarkKind::StateChange { .. } => STATE_CHANGE,
            LegitmarkKind::MediaRejected { .. } => MEDIA_REJECTED,
            LegitmarkKind::InvalidateSr { .. } => INVALIDATE_SR,
            LegitmarkKind::Unknown { event_type, .. } => event_type,
        }
    }

    /// The state the event carries, if any.
    pub fn state(&self) -> Option<&SrState> {
        match &self.kind {
            LegitmarkKind::StateChange { state }
            | LegitmarkKind::MediaRejected { state, .. }
            | LegitmarkKind::InvalidateSr { state, .. } => Some(state),
            LegitmarkKind::Unknown { state, .. } => state.as_ref(),
        }
    }

    /// The partner's item id, or the SR's UUID when the partner set none (null, absent or empty).
    pub fn subject(&self) -> &str {
        match self.reference_id.as_deref() {
            Some(reference_id) if !reference_id.is_empty() => reference_id,
            _ => &self.sr_uuid,
        }
    }

    /// `timestamp` as an instant, or `None` if it is not in a form we can read.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        parse_instant(&self.timestamp)
    }

    /// COMPLETE + APPROVED: the item is authentic.
    pub fn is_authentic(&self) -> bool {
        self.known_state_is(&Primary::Complete, Some(&Supplement::Approved))
    }

    /// COMPLETE + REJECTED: the item is not authentic.
    pub fn is_counterfeit(&self) -> bool {
        self.known_state_is(&Primary::Complete, Some(&Supplement::Rejected))
    }

    /// CANCELLED, whether by `state_change` or `invalidate_sr`.
    pub fn is_cancelled(&self) -> bool {
        self.known_state()
            .is_some_and(|state| state.primary == Primary::Cancelled)
    }

    /// A `media_rejected` event: the seller must re-upload the named sides.
    pub fn needs_resubmission(&self) -> bool {
        matches!(self.kind, LegitmarkKind::MediaRejected { .. })
    }

    /// QC + APPROVED: the photos passed quality review.
    pub fn is_qc_approved(&self) -> bool {
        self.known_state_is(&Primary::Qc, Some(&Supplement::Approved))
    }

    /// UNDERWAY + ASSIGNED: an authenticator is working on the item.
    pub fn is_authentication_in_progress(&self) -> bool {
        self.known_state_is(&Primary::Underway, Some(&Supplement::Assigned))
    }

    /// The state of a known event type. The predicates ignore unknown event types: a state
    /// carried by an event whose meaning we do not know is not evidence of a transition.
    fn known_state(&self) -> Option<&SrState> {
        match &self.kind {
            LegitmarkKind::Unknown { .. } => None,
            _ => self.state(),
        }
    }

    fn known_state_is(&self, primary: &Primary, supplement: Option<&Supplement>) -> bool {
        self.known_state().is_some_and(|state| {
            &state.primary == primary && state.supplement.as_ref() == supplement
        })
    }
}

/// The Legitmark body as sent. Type-specific fields stay untyped until the event type is known,
/// so that a future event type reusing a field name with another shape still parses.
#[derive(Deserialize)]
struct LegitmarkWire {
    event_type: String,
    sr_uuid: String,
    #[serde(default)]
    reference_id: Option<String>,
    timestamp: String,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default)]
    sides: Option<Value>,
    #[serde(default)]
    invalidation_reason: Option<Value>,
}

impl LegitmarkWire {
    fn into_event<E: de::Error>(self) -> Result<LegitmarkEvent, E> {
        let Self {
            event_type,
            sr_uuid,
            reference_id,
            timestamp,
            state,
            sides,
            invalidation_reason,
        } = self;
        let kind = match event_type.as_str() {
            STATE_CHANGE => LegitmarkKind::StateChange {
                state: required(state, "state")?,
            },
            MEDIA_REJECTED => LegitmarkKind::MediaRejected {
                state: implied(state, Primary::Qc, Some(Supplement::Rejected))?,
                sides: required::<Vec<SideWire>, E>(sides, "sides")?
                    .into_iter()
                    .map(RejectedSide::from)
                    .collect(),
            },
            INVALIDATE_SR => LegitmarkKind::InvalidateSr {
                state: implied(state, Primary::Cancelled, None)?,
                invalidation_reason: required::<InvalidationWire, E>(
                    invalidation_reason,
                    "invalidation_reason",
                )?
                .into(),
            },
            _ => LegitmarkKind::Unknown {
                state: state.and_then(|value| serde_json::from_value(value).ok()),
                event_type,
            },
        };
        Ok(LegitmarkEvent {
            sr_uuid,
            reference_id,
            timestamp,
            kind,
        })
    }
}

fn required<T: DeserializeOwned, E: de::Error>(
    value: Option<Value>,
    field: &'static str,
) -> Result<T, E> {
    let value = value.ok_or_else(|| E::missing_field(field))?;
    serde_json::from_value(value).map_err(|err| {
        E::custom(format_args!(
            "{field}: {}",
            crate::senders::value_free(&err)
        ))
    })
}

/// The state as sent, or the one its event type implies where the newer generation omits it.
fn implied<E: de::Error>(
    value: Option<Value>,
    primary: Primary,
    supplement: Option<Supplement>,
) -> Result<SrState, E> {
    match value {
        None | Some(Value::Null) => Ok(SrState {
            primary,
            supplement,
        }),
        some => required(some, "state"),
    }
}

/// The Legitmark body shape, borrowed, for serialising.
#[derive(Serialize)]
struct LegitmarkWireRef<'a> {
    event_type: &'a str,
    sr_uuid: &'a str,
    reference_id: Option<&'a str>,
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a SrState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sides: Option<&'a [RejectedSide]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalidation_reason: Option<&'a InvalidationReason>,
}

impl Serialize for LegitmarkEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (sides, invalidation_reason) = match &self.kind {
            LegitmarkKind::MediaRejected { sides, .. } => (Some(sides.as_slice()), None),
            LegitmarkKind::InvalidateSr {
                invalidation_reason,
                ..
            } => (None, Some(invalidation_reason)),
            LegitmarkKind::StateChange { .. } | LegitmarkKind::Unknown { .. } => (None, None),
        };
        LegitmarkWireRef {
            event_type: self.event_type(),
            sr_uuid: &self.sr_uuid,
            reference_id: self.reference_id.as_deref(),
            timestamp: &self.timestamp,
            state: self.state(),
            sides,
            invalidation_reason,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LegitmarkEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        LegitmarkWire::deserialize(deserializer)?.into_event()
    }
}
