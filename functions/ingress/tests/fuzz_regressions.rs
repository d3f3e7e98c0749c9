//! Saved fuzzer inputs for the function-URL target, replayed through the target's own code
//! (included from `fuzz/src`): each must pass the target's oracles and end where recorded below.
//! The inputs live with the other targets' under `shared/core/tests/data/fuzz/`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[path = "../../../fuzz/src/function_url.rs"]
mod function_url;
#[path = "../../../shared/core/tests/common/fuzz_replay.rs"]
mod fuzz_replay;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8]) -> String, expected: &[(&str, &str)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/core/tests/data/fuzz");
    fuzz_replay::replay(&root, target, run, expected);
}

#[test]
fn saved_function_url_events_end_where_recorded() {
    replay(
        "function_url",
        function_url::run,
        &[
            (
                "base64_body.json",
                "accepted cr3dentials verification.completed",
            ),
            // Newlines around base64 text counted towards the size limit before decoding.
            (
                "base64_body_with_surrounding_whitespace.json",
                "accepted cr3dentials verification.completed",
            ),
            ("get_request.json", "MethodNotAllowed"),
            (
                "signature_header_sent_twice.json",
                "Rejected(Signature): BadSignature",
            ),
            (
                "trailing_bytes_after_event.json",
                "accepted legitmark media_rejected",
            ),
        ],
    );
}
