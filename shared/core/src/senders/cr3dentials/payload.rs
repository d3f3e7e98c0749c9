//! Cr3dentials' payloads: what a verified body says, mapped to Rust types in both directions
//! (events are stored as JSON in the sender's own shape).
//!
//! Two generations are live, told apart by shape ([`Delivery::parse`]): the verification-level
//! webhook (`{type, status, data: {verificationId, sessionId, ...}}`, one per verification event)
//! and the session-level one (`{sessionId, status, platformId, externalReferenceId,
//! extractedData, proofHash, completedAt, metadata}`, once per session when it reaches a terminal
//! status).
//!
//! Values Cr3dentials may add at any time (event types, statuses) are kept as `Other`, never
//! rejected; numbers keep their exact value. The extracted data is personal: it is carried, never
//! described in an error. Errors never carry the body, at most the one offending scalar that serde
//! quotes.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::senders::{EventError, from_body, parse_instant};

/// A Cr3dentials delivery of either generation.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A verification-level event.
    Verification(Cr3dentialsEvent),
    /// A session-level event.
    Session(SessionEvent),
}

/// The fields that tell the generations apart.
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "type", default)]
    kind: Option<de::IgnoredAny>,
    #[serde(default)]
    data: Option<de::IgnoredAny>,
    #[serde(rename = "sessionId", default)]
    session_id: Option<de::IgnoredAny>,
}

impl Serialize for Delivery {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Verification(event) => event.serialize(serializer),
            Self::Session(event) => event.serialize(serializer),
        }
    }
}

impl Delivery {
    /// Reads a verified body of either generation: a top-level `sessionId` without `type` or
    /// `data` is session-level; anything else is read (and judged) as verification-level.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let shape: Shape = from_body(body)?;
        if shape.session_id.is_some() && shape.kind.is_none() && shape.data.is_none() {
            from_body(body).map(Self::Session)
        } else {
            from_body(body).map(Self::Verification)
        }
    }

    /// The event type: `type` as sent, or `session.<status>` for a session-level event.
    pub fn event_type(&self) -> String {
        match self {
            Self::Verification(event) => event.event_type().to_owned(),
            Self::Session(event) => event.event_type(),
        }
    }

    /// The partner's session id as text.
    pub fn subject(&self) -> &str {
        match self {
            Self::Verification(event) => event.subject(),
            Self::Session(event) => event.session_id.as_str(),
        }
    }
}

/// A session-level webhook: the session reached a terminal status.
///
/// `extracted_data` is verified personal data: it is carried to the record for the partner's use
/// and shown nowhere else (this type's `Debug` leaves it out).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    /// The session (a UUID string; an integer is read as its text).
    pub session_id: SessionId,
    /// The terminal status.
    pub status: SessionStatus,
    /// The platform the session verified against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<Value>,
    /// The partner's own reference from session creation: how it finds its user.
    #[serde(default)]
    pub external_reference_id: Option<String>,
    /// Verified account data, when the session completed. Personal data.
    #[serde(default)]
    pub extracted_data: Option<Value>,
    /// Reference to the cryptographic attestation (SHA-256 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_hash: Option<String>,
    /// When the session ended, ISO 8601 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Non-sensitive session metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl fmt::Debug for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEvent")
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("external_reference_id", &self.external_reference_id)
            .field("completed_at", &self.completed_at)
            .finish_non_exhaustive()
    }
}

open_wire_enum! {
    /// A session's terminal status.
    pub enum SessionStatus {
        /// Every step finished and the account data is verified.
        Completed = "COMPLETED",
        /// The session finished with only part of the data verified.
        PartialComplete = "PARTIAL_COMPLETE",
        /// The session failed with an error.
        Error = "ERROR",
        /// The user cancelled the session.
        Cancelled = "CANCELLED",
        /// The session was ended before it finished.
        Terminated = "TERMINATED",
    }
}

impl SessionEvent {
    /// `session.<status in lower case>`, e.g. `session.partial_complete`.
    pub fn event_type(&self) -> String {
        format!("session.{}", self.status.as_str().to_ascii_lowercase())
    }

    /// `completedAt` as an instant, if present and readable.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        self.completed_at.as_deref().and_then(parse_instant)
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
