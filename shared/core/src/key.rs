//! Idempotency keys: which deliveries are "the same event".
//!
//! It owns the key type and the two ways to form one: from the delivery's message id
//! (`svix-id` / `webhook-id`; Svix keeps it across every retry of a delivery and gives each new
//! delivery a new one, exactly "same event" and nothing more), or, where a sender sends none,
//! from a digest of the fields that identify the event. Which fields those are is each sender's
//! choice (`senders::*::key`). It does not store or compare keys (the events log does, prefixed
//! with the source name).
//!
//! Derived keys are SHA-256 digests so that a key stays short whatever the payload holds.

use std::fmt;

use sha2::{Digest, Sha256};

/// Message ids longer than this, or with unexpected characters, are digested rather than stored.
const MAX_PLAIN_ID_LEN: usize = 128;

/// The key under which a delivery is claimed, unique within one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a key read back from storage or given by an operator.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of a body that could not be parsed: its message id, else a digest of the raw bytes,
/// so that retries of the same unparseable delivery are still recognised.
pub fn for_unparsed(message_id: Option<&str>, body: &[u8]) -> IdempotencyKey {
    match message_id {
        Some(id) => from_message_id(id),
        None => IdempotencyKey(format!("body:{}", hex::encode(Sha256::digest(body)))),
    }
}

/// The key of a delivery that carries the sender's message id: the id itself when it is short and
/// plain, else its digest.
pub fn from_message_id(id: &str) -> IdempotencyKey {
    let plain = !id.is_empty()
        && id.len() <= MAX_PLAIN_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if plain {
        IdempotencyKey(format!("id:{id}"))
    } else {
        IdempotencyKey(format!("id-sha256:{}", hex::encode(Sha256::digest(id))))
    }
}

/// A key derived from the fields that identify an event (digested, length-prefixed).
pub fn derived(parts: &[&str]) -> IdempotencyKey {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixing keeps ("ab", "c") and ("a", "bc") apart.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    IdempotencyKey(format!("derived:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_the_key_when_present() {
        assert_eq!(
            for_unparsed(Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"), b"x").as_str(),
            "id:msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
        );
    }

    #[test]
    fn unusual_message_id_is_digested_not_stored() {
        let key = for_unparsed(Some("msg with spaces and #"), b"x");

        assert!(key.as_str().starts_with("id-sha256:"));
        assert!(!key.as_str().contains(' '));
    }

    #[test]
    fn derived_parts_are_length_prefixed() {
        assert_ne!(derived(&["ab", "c"]), derived(&["a", "bc"]));
    }

    #[test]
    fn unparsed_bodies_without_id_are_keyed_by_content() {
        assert_eq!(for_unparsed(None, b"x"), for_unparsed(None, b"x"));
        assert_ne!(for_unparsed(None, b"x"), for_unparsed(None, b"y"));
    }
}
