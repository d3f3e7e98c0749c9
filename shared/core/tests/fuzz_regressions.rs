//! Saved fuzzer inputs, replayed through the fuzz targets' own code (included from `fuzz/src`,
//! so no fuzzing toolchain is needed): each input under `tests/data/fuzz/<target>/` must pass the
//! target's oracles and end in the outcome recorded for it below. An input that once made a
//! target fail stays here for good; the same directories seed the fuzzer (`scripts/fuzz.sh`).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[path = "common/fuzz_replay.rs"]
mod fuzz_replay;
#[path = "../../../fuzz/src/hex_hmac.rs"]
mod hex_hmac;
#[path = "../../../fuzz/src/payload.rs"]
mod payload;
#[path = "../../../fuzz/src/standard_webhooks.rs"]
mod standard_webhooks;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8]) -> String, expected: &[(&str, &str)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    fuzz_replay::replay(&root, target, run, expected);
}

#[test]
fn saved_standard_webhooks_inputs_keep_their_verdicts() {
    replay(
        "standard_webhooks",
        standard_webhooks::run,
        &[
            ("first_key", "ok key 0"),
            ("rotated_second_key", "ok key 1"),
            ("stale_timestamp", "TimestampTooOld"),
            ("malformed_timestamp", "MalformedTimestamp"),
            ("generic_id_twice", "RepeatedHeader(\"webhook-id\")"),
        ],
    );
}

#[test]
fn saved_hex_hmac_inputs_keep_their_verdicts() {
    replay(
        "hex_hmac",
        hex_hmac::run,
        &[
            ("first_secret", "ok key 0"),
            ("third_secret", "ok key 2"),
            ("static_header_only", "ok static header"),
            ("wrong_static_header", "AuthHeaderMismatch"),
        ],
    );
}

#[test]
fn saved_legitmark_payloads_keep_their_outcomes() {
    replay(
        "legitmark_payload",
        payload::legitmark,
        &[
            (
                "deep_nesting_in_unread_field.json",
                "raw: \"state_change\" about \"item-10042\"; built: schema error",
            ),
            (
                "non_utf8_in_unread_field.json",
                "raw: not json; built: schema error",
            ),
            (
                "unknown_type_with_foreign_shaped_fields.json",
                "raw: \"sr_archived\" about \"5b3f9e2a-8c41-4d7e-a0b6-2f9c1e7d4a83\"; built: schema error",
            ),
        ],
    );
}

#[test]
fn saved_cr3dentials_payloads_keep_their_outcomes() {
    replay(
        "cr3dentials_payload",
        payload::cr3dentials,
        &[
            // A float in formattedData that an inexact parser read one unit off, so that the
            // event changed each time it was written and read back. Since the generator first
            // chooses between the two Cr3dentials generations, these bytes build a session-level
            // body; the same input behind one byte that chooses the verification-level body
            // still builds the float.
            (
                "float_drifting_on_reparse",
                "raw: not json; built: schema error",
            ),
            (
                "float_drifting_on_reparse_past_generation_choice",
                "raw: not json; built: \"  \\\"t\" about \"8890496443746972275\"",
            ),
            (
                "fractional_session_id.json",
                "raw: schema error; built: schema error",
            ),
            (
                "largest_session_id.json",
                "raw: \"verification.completed\" about \"18446744073709551615\"; built: schema error",
            ),
            (
                "session_id_with_leading_zeros.json",
                "raw: \"verification.completed\" about \"007\"; built: schema error",
            ),
        ],
    );
}
