//! Typed webhook events: what a verified Legitmark or Cr3dentials body says, and the provider SDK's
//! predicates over it.
//!
//! This module owns both senders' payload schemas and their mapping to Rust types, in both
//! directions (events are stored as JSON in the senders' own shape). Values a sender may add at any
//! time (event types, states, statuses) are kept as `Other`/`Unknown`, never rejected. It does not
//! authenticate bodies (`verify` does, before anything here reads them), and it does not
//! deduplicate, store, enqueue or act on events. Errors never carry the body, at most the one
//! offending scalar that serde quotes.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

const STATE_CHANGE: &str = "state_change";
const MEDIA_REJECTED: &str = "media_rejected";
const INVALIDATE_SR: &str = "invalidate_sr";

/// Defines an enum over a sender's string values that keeps any value it does not know in
/// `Other`, because both senders may add values at any time and an unknown value must not fail a
/// delivery. Serialises back to exactly the wire text.
macro_rules! open_wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
            /// A value this receiver does not know, kept exactly as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire (the raw text for `Other`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl From<String> for $name {
            fn from(raw: String) -> Self {
                match raw.as_str() {
                    $( $wire => Self::$variant, )+
                    _ => Self::Other(raw),
                }
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self::from(raw.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

/// Which payload schema a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// Legitmark item authentication (Svix delivery).
    Legitmark,
    /// Cr3dentials identity and income verification.
    Cr3dentials,
}

impl PayloadKind {
    /// The lower-case name used in configuration, logs and storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Legitmark => "legitmark",
            Self::Cr3dentials => "cr3dentials",
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload kind name that is neither `legitmark` nor `cr3dentials`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payload kind {0:?}: expected \"legitmark\" or \"cr3dentials\"")]
pub struct ParsePayloadKindError(String);

impl FromStr for PayloadKind {
    type Err = ParsePayloadKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "legitmark" => Ok(Self::Legitmark),
            "cr3dentials" => Ok(Self::Cr3dentials),
            other => Err(ParsePayloadKindError(other.to_owned())),
        }
    }
}

/// Why a verified body could not be read as an event of its kind.
///
/// Neither variant is fixed by a retry: the same bytes will fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The body is not well-formed UTF-8 JSON.
    #[error("body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The body is JSON but lacks a required field or has a field of the wrong type.
    #[error("payload lacks required field or has wrong type: {0}")]
    Schema(serde_json::Error),
}

/// A parsed webhook event from either sender.
///
/// Serialises externally tagged by payload kind, e.g. `{"legitmark": {...}}`, with the sender's
/// own field names inside.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// An event from Legitmark.
    Legitmark(LegitmarkEvent),
    /// An event from Cr3dentials.
    Cr3dentials(Cr3dentialsEvent),
}

impl Event {
    /// Parse raw body bytes (already signature-verified) according to the kind.
    ///
    /// Unknown event types and unknown state or status values parse; only a body that is not JSON
    /// or lacks a field the known schema requires is an error.
    pub fn parse(kind: PayloadKind, body: &[u8]) -> Result<Self, EventError> {
        match kind {
            PayloadKind::Legitmark => from_body(body).map(Self::Legitmark),
            PayloadKind::Cr3dentials => from_body(body).map(Self::Cr3dentials),
        }
    }

    /// The payload kind this event was parsed as.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Self::Legitmark(_) => PayloadKind::Legitmark,
            Self::Cr3dentials(_) => PayloadKind::Cr3dentials,
        }
    }

    /// The sender's event type as sent, e.g. `state_change` or `verification.completed`.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Legitmark(event) => event.event_type(),
            Self::Cr3dentials(event) => event.event_type(),
        }
    }

    /// The entity the event is about: Legitmark's `reference_id` falling back to `sr_uuid`;
    /// Cr3dentials' `sessionId` as text.
    pub fn subject(&self) -> &str {
        match self {
            Self::Legitmark(event) => event.subject(),
            Self::Cr3dentials(event) => event.subject(),
        }
    }

    /// When the sender says the event happened, if it says so in a form we can read.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Legitmark(event) => event.occurred_at(),
            Self::Cr3dentials(event) => event.occurred_at(),
        }
    }
}

fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, EventError> {
    // Syntax and UTF-8 are checked over the whole body first: a typed parse stops at the first
    // type mismatch and would report a truncated or binary body as a schema problem.
    if let Err(err) = serde_json::from_slice::<&RawValue>(body) {
        return Err(EventError::NotJson(err));
    }
    serde_json::from_slice(body).map_err(EventError::Schema)
}

/// Parses the senders' timestamps. Legitmark documents ISO 8601, of which RFC 3339 is the common
/// profile; the wider form is tried second so an unusual but valid stamp is still understood.
fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .ok()
}

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
        /// The state, QC/REJECTED.
        state: SrState,
        /// The rejected sides, with reasons.
        sides: Vec<RejectedSide>,
    },
    /// `invalidate_sr`: the SR cannot be processed (state CANCELLED, no supplement).
    InvalidateSr {
        /// The state, CANCELLED.
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RejectedSide {
    /// The side's name, e.g. `Front`.
    pub side: String,
    /// The side's UUID.
    pub side_uuid: String,
    /// The rejection code, e.g. `BLURRY`.
    pub reason: String,
    /// A human-readable explanation, when given.
    #[serde(default)]
    pub reason_description: Option<String>,
}

/// Why a service request was invalidated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InvalidationReason {
    /// The reason code, e.g. `NOT_SERVICEABLE`.
    pub code: String,
    /// A human-readable explanation, when given.
    #[serde(default)]
    pub description: Option<String>,
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
                state: required(state, "state")?,
                sides: required(sides, "sides")?,
            },
            INVALIDATE_SR => LegitmarkKind::InvalidateSr {
                state: required(state, "state")?,
                invalidation_reason: required(invalidation_reason, "invalidation_reason")?,
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
    serde_json::from_value(value).map_err(|err| E::custom(format_args!("{field}: {err}")))
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

/// A Cr3dentials webhook about one verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cr3dentialsEvent {
    /// The event type (JSON `type`).
    #[serde(rename = "type")]
    pub kind: VerificationEventType,
    /// The overall result.
    pub status: OverallStatus,
    /// The verification's details.
    pub data: VerificationData,
}

open_wire_enum! {
    /// A Cr3dentials event type.
    pub enum VerificationEventType {
        /// A verification completed.
        Completed = "verification.completed",
        /// A verification failed.
        Failed = "verification.failed",
        /// A verification expired before the user finished it.
        Expired = "verification.expired",
        /// A manual review of a verification completed.
        ManualReviewCompleted = "verification.manual_review_completed",
    }
}

open_wire_enum! {
    /// A Cr3dentials overall result.
    pub enum OverallStatus {
        /// The verification succeeded.
        Success = "success",
        /// The verification did not succeed.
        Failed = "failed",
    }
}

/// The `data` object of a Cr3dentials event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationData {
    /// Cr3dentials' id for this verification.
    pub verification_id: String,
    /// The partner's session id from when it created the verification.
    pub session_id: SessionId,
    /// The verification step, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<i64>,
    /// The detailed status, e.g. `VERIFIED`.
    pub status: String,
    /// The source's raw verification data, kept byte for byte and never interpreted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_data: Option<Box<RawValue>>,
    /// The ready-to-use result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_data: Option<Value>,
    /// Information about the verification process, e.g. `verifiedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The partner's session id. The sender documents a number; a string is accepted too, and either
/// is held as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

impl SessionId {
    /// The id as text: the decimal digits of a number, or the string as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A number goes back out as a number so a stored event reads like the delivery; only text
        // that is exactly an integer's canonical form qualifies, anything else stays a string.
        match (self.0.parse::<u64>(), self.0.parse::<i64>()) {
            (Ok(n), _) if n.to_string() == self.0 => serializer.serialize_u64(n),
            (_, Ok(n)) if n.to_string() == self.0 => serializer.serialize_i64(n),
            _ => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SessionIdVisitor;

        impl Visitor<'_> for SessionIdVisitor {
            type Value = SessionId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SessionId, E> {
                Ok(SessionId(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SessionId, E> {
                Ok(SessionId(v.to_string()))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SessionId, E> {
                Ok(SessionId(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<SessionId, E> {
                Ok(SessionId(v))
            }
        }

        deserializer.deserialize_any(SessionIdVisitor)
    }
}

impl Cr3dentialsEvent {
    /// The event type as sent (JSON `type`).
    pub fn event_type(&self) -> &str {
        self.kind.as_str()
    }

    /// A completed verification whose overall status is success.
    pub fn is_verified(&self) -> bool {
        self.kind == VerificationEventType::Completed && self.status == OverallStatus::Success
    }

    /// The partner's session id as text.
    pub fn subject(&self) -> &str {
        self.data.session_id.as_str()
    }

    /// `data.metadata.verifiedAt` as an instant, if present and readable.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        self.data
            .metadata
            .as_ref()?
            .get("verifiedAt")?
            .as_str()
            .and_then(parse_instant)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;
    use time::{Date, Month};

    use super::*;

    fn utc(date: (i32, Month, u8), hms: (u8, u8, u8), milli: u16) -> OffsetDateTime {
        Date::from_calendar_date(date.0, date.1, date.2)
            .unwrap()
            .with_hms_milli(hms.0, hms.1, hms.2, milli)
            .unwrap()
            .assume_utc()
    }

    fn legitmark(body: &str) -> Result<LegitmarkEvent, EventError> {
        match Event::parse(PayloadKind::Legitmark, body.as_bytes())? {
            Event::Legitmark(event) => Ok(event),
            Event::Cr3dentials(_) => unreachable!("parsed as Legitmark"),
        }
    }

    fn cr3dentials(body: &str) -> Result<Cr3dentialsEvent, EventError> {
        match Event::parse(PayloadKind::Cr3dentials, body.as_bytes())? {
            Event::Cr3dentials(event) => Ok(event),
            Event::Legitmark(_) => unreachable!("parsed as Cr3dentials"),
        }
    }

    const STATE_CHANGE_BODY: &str = r#"{"event_type":"state_change","sr_uuid":"sr-1","reference_id":"item-1","timestamp":"2026-03-02T09:14:07.512Z","state":{"primary":"COMPLETE","supplement":"APPROVED"}}"#;

    #[test]
    fn payload_kind_round_trips_through_its_name() {
        for kind in [PayloadKind::Legitmark, PayloadKind::Cr3dentials] {
            assert_eq!(kind.as_str().parse::<PayloadKind>(), Ok(kind));
        }
    }

    #[test]
    fn payload_kind_rejects_other_names() {
        // given a name in the wrong case
        // when it is parsed
        let parsed = "Legitmark".parse::<PayloadKind>();
        // then it is an error naming the value
        let err = parsed.unwrap_err();
        assert!(err.to_string().contains("\"Legitmark\""), "{err}");
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
            let event = Event::parse(PayloadKind::Legitmark, body.as_bytes()).unwrap();
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
            (
                r#"{"event_type":"media_rejected","sr_uuid":"s","timestamp":"t","state":{"primary":"QC","supplement":"REJECTED"},"sides":[{"side":"Front"}]}"#,
                "sides: missing field `side_uuid`",
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
            for kind in [PayloadKind::Legitmark, PayloadKind::Cr3dentials] {
                let err = Event::parse(kind, body).unwrap_err();
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
        let err = Event::parse(PayloadKind::Legitmark, &body).unwrap_err();
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
        let ignored =
            STATE_CHANGE_BODY.replace("\"sr_uuid\"", &format!("\"x\":{deep},\"sr_uuid\""));
        let raw =
            CR3DENTIALS_BODY.replace("\"proofData\":", &format!("\"proofData\":{deep},\"p\":"));
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
        // given a parsed media_rejected event
        let body = r#"{"event_type":"media_rejected","sr_uuid":"s","reference_id":"item-1","timestamp":"t","state":{"primary":"QC","supplement":"REJECTED"},"sides":[{"side":"Front","side_uuid":"u","reason":"BLURRY","reason_description":"d"}]}"#;
        let event = legitmark(body).unwrap();
        // when it is serialised
        let json: Value = serde_json::to_value(&event).unwrap();
        // then it is the body's shape, and reads back equal
        assert_eq!(json, serde_json::from_str::<Value>(body).unwrap());
        assert_eq!(
            serde_json::from_value::<LegitmarkEvent>(json).unwrap(),
            event
        );
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
        let event = Event::parse(PayloadKind::Cr3dentials, body.as_bytes()).unwrap();
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
        let event = cr3dentials(CR3DENTIALS_BODY).unwrap();
        let json = serde_json::to_string(&Event::Cr3dentials(event)).unwrap();
        assert!(
            json.starts_with(r#"{"cr3dentials":{"type":"verification.completed""#),
            "{json}"
        );
        assert!(
            json.contains(r#""proofData":{ "income" : {"monthlyAmount":5000} }"#),
            "{json}"
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.subject(), "123");
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

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            for kind in [PayloadKind::Legitmark, PayloadKind::Cr3dentials] {
                if let Ok(event) = Event::parse(kind, &body) {
                    let _ = (event.event_type(), event.subject(), event.occurred_at());
                }
            }
        }

        #[test]
        fn json_is_never_reported_as_not_json_and_reparses_equal(value in payload_shaped_json()) {
            let body = serde_json::to_vec(&value).unwrap();
            for kind in [PayloadKind::Legitmark, PayloadKind::Cr3dentials] {
                match Event::parse(kind, &body) {
                    Err(EventError::NotJson(err)) => prop_assert!(false, "{err}"),
                    Err(EventError::Schema(_)) => {}
                    Ok(event) => {
                        let _ = (event.event_type(), event.subject(), event.occurred_at());
                        let again = serde_json::to_vec(&event).unwrap();
                        let back: Event = serde_json::from_slice(&again).unwrap();
                        prop_assert_eq!(back.event_type(), event.event_type());
                        prop_assert_eq!(back.subject(), event.subject());
                        if let (Event::Legitmark(a), Event::Legitmark(b)) = (&event, &back) {
                            prop_assert_eq!(a, b);
                        }
                    }
                }
            }
        }
    }
}
