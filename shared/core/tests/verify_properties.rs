//! Property tests: signing and verifying agree, any tampering is caught, and no header input panics.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use base64::Engine;
use proptest::prelude::*;
use webhook_core::headers::Headers;
use webhook_core::verify::{
    HexHmac, SigningKey, StandardWebhooks, StaticHeader, Verifier, sign_hex, sign_standard,
};

const NOW: i64 = 1_750_000_000;

fn whsec(key_bytes: &[u8]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key_bytes)
    )
}

fn svix_headers(id: &str, timestamp: &str, signature: &str) -> Headers {
    Headers::from_pairs([
        ("svix-id", id),
        ("svix-timestamp", timestamp),
        ("svix-signature", signature),
    ])
}

fn message_id() -> impl Strategy<Value = String> {
    "msg_[A-Za-z0-9]{1,32}"
}

/// Replaces the ASCII byte at `index` (modulo the length) with another printable ASCII byte.
fn tamper_ascii(text: &str, index: usize, delta: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = index % bytes.len();
    let shifted = (bytes[i] - b' ' + 1 + delta % 94) % 95 + b' ';
    bytes[i] = shifted;
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        key_bytes in prop::collection::vec(any::<u8>(), 1..64),
        id in message_id(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        skew in -300i64..=300,
    ) {
        let key = SigningKey::from_whsec(&whsec(&key_bytes)).unwrap();
        let sent_at = NOW + skew;
        let signature = sign_standard(&key, &id, sent_at, &body);
        let verifier = StandardWebhooks::new(vec![key]).unwrap();

        let headers = svix_headers(&id, &sent_at.to_string(), &signature);
        let verified = verifier.verify(&body, &headers, NOW);

        prop_assert_eq!(verified.unwrap().message_id, Some(id.as_str()));
    }

    #[test]
    fn changing_any_body_byte_fails(
        key_bytes in prop::collection::vec(any::<u8>(), 1..64),
        id in message_id(),
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<usize>(),
        flip in 1u8..=255,
    ) {
        let key = SigningKey::from_whsec(&whsec(&key_bytes)).unwrap();
        let signature = sign_standard(&key, &id, NOW, &body);
        let verifier = StandardWebhooks::new(vec![key]).unwrap();
        let mut tampered = body.clone();
        let i = index % tampered.len();
        tampered[i] ^= flip;

        let headers = svix_headers(&id, &NOW.to_string(), &signature);
        let result = verifier.verify(&tampered, &headers, NOW);

        prop_assert!(result.is_err());
    }

    #[test]
    fn changing_any_id_timestamp_or_signature_byte_fails(
        id in message_id(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        field in 0usize..3,
        index in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let key = SigningKey::from_whsec(&whsec(b"a fixed test key")).unwrap();
        let signature = sign_standard(&key, &id, NOW, &body);
        let timestamp = NOW.to_string();
        let verifier = StandardWebhooks::new(vec![key]).unwrap();
        let (mut id_sent, mut ts_sent, mut sig_sent) = (id.clone(), timestamp.clone(), signature.clone());
        match field {
            0 => id_sent = tamper_ascii(&id, index, delta),
            1 => ts_sent = tamper_ascii(&timestamp, index, delta),
            _ => sig_sent = tamper_ascii(&signature, index, delta),
        }

        let headers = svix_headers(&id_sent, &ts_sent, &sig_sent);
        let result = verifier.verify(&body, &headers, NOW);

        prop_assert!(result.is_err());
    }

    #[test]
    fn hex_sign_then_verify_round_trips_and_tampering_fails(
        secret in "[ -~]{1,48}",
        body in prop::collection::vec(any::<u8>(), 1..1024),
        index in any::<usize>(),
        flip in 1u8..=255,
    ) {
        prop_assume!(!secret.trim_end().is_empty());
        let key = SigningKey::from_text(&secret).unwrap();
        let signature = sign_hex(&key, &body);
        let verifier = HexHmac::new(vec![key], None).unwrap();
        let headers = Headers::from_pairs([("x-webhook-signature", signature.to_uppercase())]);
        let mut tampered = body.clone();
        let i = index % tampered.len();
        tampered[i] ^= flip;

        prop_assert!(verifier.verify(&body, &headers).is_ok());
        prop_assert!(verifier.verify(&tampered, &headers).is_err());
    }

    #[test]
    fn no_header_input_panics(
        id in any::<String>(),
        timestamp in any::<String>(),
        signature in any::<String>(),
        hex_signature in any::<String>(),
        auth in any::<String>(),
        now in any::<i64>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let standard = Verifier::StandardWebhooks(
            StandardWebhooks::new(vec![SigningKey::from_whsec(&whsec(b"k")).unwrap()]).unwrap(),
        );
        let hex = Verifier::HexHmac(
            HexHmac::new(
                vec![SigningKey::from_text("k").unwrap()],
                Some(StaticHeader::new("secret", "v").unwrap()),
            )
            .unwrap(),
        );
        let headers = Headers::from_pairs([
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
            ("x-webhook-signature", hex_signature),
            ("secret", auth),
        ]);

        // Random input may, by astronomical luck, be valid; the property is that nothing panics.
        let _ = standard.verify(&body, &headers, now);
        let _ = hex.verify(&body, &headers, now);
    }

    #[test]
    fn timestamps_are_accepted_only_as_plain_integers_in_the_window(
        timestamp in any::<String>(),
    ) {
        let key = SigningKey::from_whsec(&whsec(b"k")).unwrap();
        let verifier = StandardWebhooks::new(vec![key.clone()]).unwrap();
        let signature = sign_standard(&key, "msg_1", NOW, b"");
        let headers = svix_headers("msg_1", &timestamp, &signature);

        let accepted = verifier.verify(b"", &headers, NOW).is_ok();

        prop_assert_eq!(accepted, timestamp == NOW.to_string());
    }
}
