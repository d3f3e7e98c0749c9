//! Idempotency keys over the sample payloads: retries collapse, distinct events never do.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::PathBuf;

use webhook_core::headers::Headers;
use webhook_core::key::IdempotencyKey;
use webhook_core::senders::{self, cr3dentials, legitmark};
use webhook_core::verify::{SigningKey, StandardWebhooks, sign_standard};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_780_000_000;

fn payloads_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/payloads")
}

fn payload(path: &str) -> Vec<u8> {
    std::fs::read(payloads_dir().join(path)).unwrap()
}

/// What the ingress does: verify, take the message id, parse as the source's sender, derive the
/// key.
fn key_of_delivery(message_id: &str, sent_at: i64, body: &[u8]) -> IdempotencyKey {
    let signing = SigningKey::from_whsec(SECRET).unwrap();
    let headers = Headers::from_pairs([
        ("svix-id", message_id.to_owned()),
        ("svix-timestamp", sent_at.to_string()),
        (
            "svix-signature",
            sign_standard(&signing, message_id, sent_at, body),
        ),
    ]);
    let verified = StandardWebhooks::new(vec![signing])
        .unwrap()
        .verify(body, &headers, NOW)
        .unwrap();
    let registry = senders::builtin();
    let event = registry.get("legitmark").unwrap().parse(body).unwrap();
    event.key(verified.message_id)
}

fn with_timestamp(body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["timestamp"] = timestamp.into();
    serde_json::to_vec_pretty(&value).unwrap()
}

#[test]
fn three_retries_of_one_delivery_yield_one_key() {
    let body = payload("legitmark/state_change_complete_approved.json");

    // Svix re-signs every attempt with a fresh timestamp but keeps the message id.
    let keys: Vec<_> = [NOW - 200, NOW - 5, NOW]
        .into_iter()
        .map(|sent_at| key_of_delivery("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", sent_at, &body))
        .collect();

    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
}

#[test]
fn two_qc_rejection_rounds_yield_two_keys_with_message_ids() {
    let first = payload("legitmark/media_rejected.json");
    let second = with_timestamp(&first, "2026-03-02T10:00:00Z");

    let first_key = key_of_delivery("msg_round1", NOW, &first);
    let second_key = key_of_delivery("msg_round2", NOW, &second);

    assert_ne!(first_key, second_key);
}

#[test]
fn two_qc_rejection_rounds_yield_two_keys_without_message_ids() {
    for file in [
        "legitmark/state_change_qc_rejected.json",
        "legitmark/media_rejected.json",
    ] {
        let first = payload(file);
        let second = with_timestamp(&first, "2026-03-02T10:00:00Z");
        let key = |body: &[u8]| legitmark::key(None, &legitmark::parse(body).unwrap());

        let first_key = key(&first);
        let second_key = key(&second);
        let retry_key = key(&first);

        assert_ne!(first_key, second_key, "{file}");
        assert_eq!(first_key, retry_key, "{file}");
    }
}

#[test]
fn every_legitmark_sample_has_its_own_derived_key() {
    let mut keys = std::collections::BTreeMap::new();

    for entry in std::fs::read_dir(payloads_dir().join("legitmark")).unwrap() {
        let path = entry.unwrap().path();
        let event = legitmark::parse(&std::fs::read(&path).unwrap()).unwrap();
        let previous = keys.insert(legitmark::key(None, &event), path.clone());

        assert!(
            previous.is_none(),
            "{path:?} shares a key with {previous:?}"
        );
    }
}

#[test]
fn cr3dentials_retries_share_a_key_and_distinct_outcomes_do_not() {
    let parse = |file: &str| cr3dentials::parse(&payload(&format!("cr3dentials/{file}"))).unwrap();
    let completed = parse("verification_completed.json");
    let retry = parse("verification_completed.json");
    let failed = parse("verification_failed.json");

    assert_eq!(
        cr3dentials::key(None, &completed),
        cr3dentials::key(None, &retry)
    );
    assert_ne!(
        cr3dentials::key(None, &completed),
        cr3dentials::key(None, &failed)
    );
}
