//! Conformance: every signature vector yields its expected outcome class.
//!
//! The vectors' known answers were produced by the official svix library; the copy under
//! `tests/data` lets a fresh clone test itself, and must stay identical to the team's copy.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;
use webhook_core::headers::Headers;
use webhook_core::verify::{
    HexHmac, SigningKey, StandardWebhooks, StaticHeader, Verified, VerifyError,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(data_dir().join("signatures.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn outcome(result: Result<Verified, VerifyError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => err.class().as_str(),
    }
}

fn headers_of(vector: &Value) -> Headers {
    Headers::from_pairs(
        vector["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str().unwrap().to_owned())),
    )
}

fn body_of(vector: &Value) -> Vec<u8> {
    match vector.get("body_base64") {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap(),
        None => vector["body"].as_str().unwrap().as_bytes().to_vec(),
    }
}

fn name(vector: &Value) -> &str {
    vector["name"].as_str().unwrap()
}

#[test]
fn every_standard_webhooks_vector_yields_its_expected_class() {
    let vectors = vectors();
    let cases = vectors["standard_webhooks"].as_array().unwrap();
    assert!(!cases.is_empty());

    for vector in cases {
        let keys = vector["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| SigningKey::from_whsec(s.as_str().unwrap()).unwrap())
            .collect();
        let verifier = StandardWebhooks::new(keys).unwrap();

        let headers = headers_of(vector);
        let result = verifier.verify(&body_of(vector), &headers, vector["now"].as_i64().unwrap());

        assert_eq!(
            outcome(result),
            vector["expect"],
            "vector {:?}",
            name(vector)
        );
    }
}

#[test]
fn every_configuration_error_vector_fails_at_load() {
    let vectors = vectors();
    let cases = vectors["standard_webhooks_config_errors"]
        .as_array()
        .unwrap();
    assert!(!cases.is_empty());

    for vector in cases {
        let loaded = SigningKey::from_whsec(vector["secret"].as_str().unwrap());

        assert!(loaded.is_err(), "vector {:?} loaded", name(vector));
    }
}

#[test]
fn every_hex_hmac_vector_yields_its_expected_class() {
    let vectors = vectors();
    let cases = vectors["hex_hmac"].as_array().unwrap();
    assert!(!cases.is_empty());

    for vector in cases {
        let key = SigningKey::from_text(vector["secret"].as_str().unwrap()).unwrap();
        let static_header = vector["auth_header"].as_object().map(|h| {
            StaticHeader::new(h["name"].as_str().unwrap(), h["value"].as_str().unwrap()).unwrap()
        });
        let verifier = HexHmac::new(vec![key], static_header).unwrap();

        let headers = headers_of(vector);
        let result = verifier.verify(&body_of(vector), &headers);

        assert_eq!(
            outcome(result),
            vector["expect"],
            "vector {:?}",
            name(vector)
        );
    }
}

#[test]
fn vector_copy_matches_the_shared_original_when_present() {
    let original =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/signatures.json");
    let Ok(original) = std::fs::read(original) else {
        return;
    };

    let copy = std::fs::read(data_dir().join("signatures.json")).unwrap();

    assert!(
        copy == original,
        "tests/data/signatures.json differs from the shared vectors"
    );
}
