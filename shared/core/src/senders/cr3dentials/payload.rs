//! Cr3dentials' payloads: what a verified body says, mapped to Rust types in both directions
//! (events are stored as JSON in the sender's own shape).
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

use crate::senders::parse_instant;

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
