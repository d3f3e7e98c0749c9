//! The queue message between the ingress and the consumer.
//!
//! It owns the message format and nothing else: `{"meta": {...}, "payload": <the body>}`, where
//! `meta` holds the routing fields the consumer needs without parsing, and `payload` is the body
//! exactly as it was signed, byte for byte (spliced in, never re-serialised, so the consumer and any
//! auditor see the sender's bytes).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::senders::{EventError, ParsedEvent, Payload, Registry};

/// The envelope format version.
pub const VERSION: u32 = 1;

/// Routing fields of one accepted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeMeta {
    /// Format version, [`VERSION`].
    pub v: u32,
    /// The configured source name (`legitmark`, `cr3dentials`, ...).
    pub source: String,
    /// The idempotency key within the source.
    pub key: String,
    /// Which sender's payload it is ([`Payload::name`]).
    pub payload_kind: String,
    /// The event type as sent (`state_change`, `verification.completed`, or an unknown one).
    pub event_type: String,
    /// What the event is about: the item (Legitmark) or the session (Cr3dentials).
    pub subject: String,
    /// The sender's message id, when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// When the ingress received it, Unix milliseconds.
    pub received_at_ms: i64,
}

impl EnvelopeMeta {
    /// The routing fields of a verified event, parsed as `payload`'s.
    pub fn for_event(
        source: &str,
        key: &str,
        payload: &dyn Payload,
        event: &dyn ParsedEvent,
        message_id: Option<&str>,
        received_at_ms: i64,
    ) -> Self {
        Self {
            v: VERSION,
            source: source.to_owned(),
            key: key.to_owned(),
            payload_kind: payload.name().to_owned(),
            event_type: event.event_type().to_owned(),
            subject: event.subject().to_owned(),
            message_id: message_id.map(str::to_owned),
            received_at_ms,
        }
    }

    /// The message body. `payload` must be the JSON text the event was parsed from; it is embedded
    /// verbatim (JSON allows the whitespace a sender may leave around it).
    pub fn encode(&self, payload: &str) -> Result<String, serde_json::Error> {
        let meta = serde_json::to_string(self)?;
        let mut body = String::with_capacity(meta.len() + payload.len() + 24);
        body.push_str("{\"meta\":");
        body.push_str(&meta);
        body.push_str(",\"payload\":");
        body.push_str(payload);
        body.push('}');
        Ok(body)
    }
}

/// A message as the consumer reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// Routing fields.
    pub meta: EnvelopeMeta,
    /// The signed body (surrounding whitespace aside).
    pub payload: Box<RawValue>,
}

impl Envelope {
    /// Reads a message body.
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The sender of the payload, if `registry` knows it.
    pub fn sender<'r>(&self, registry: &'r Registry) -> Option<&'r dyn Payload> {
        registry.get(&self.meta.payload_kind).map(|p| p.as_ref())
    }

    /// Parses the embedded payload as its sender's; `None` when `registry` knows no such sender.
    pub fn event(&self, registry: &Registry) -> Option<Result<Box<dyn ParsedEvent>, EventError>> {
        self.sender(registry)
            .map(|payload| payload.parse(self.payload.get().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_embedded_byte_for_byte_and_decodes() {
        let payload = "{\n  \"type\": \"verification.completed\", \"status\": \"success\",\n  \"data\": {\"verificationId\": \"ver_1\", \"sessionId\": 7, \"status\": \"VERIFIED\"}\n}\n";
        let registry = crate::senders::builtin();
        let sender = registry.get("cr3dentials").unwrap();
        let event = sender.parse(payload.as_bytes()).unwrap();
        let meta = EnvelopeMeta::for_event(
            "cr3dentials",
            "derived:ab",
            sender.as_ref(),
            event.as_ref(),
            None,
            1,
        );

        let body = meta.encode(payload).unwrap();
        let decoded = Envelope::decode(&body).unwrap();

        assert!(body.contains(payload));
        assert_eq!(decoded.meta, meta);
        assert_eq!(decoded.event(&registry).unwrap().unwrap().subject(), "7");
    }
}
