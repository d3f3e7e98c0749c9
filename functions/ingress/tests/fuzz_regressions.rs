//! Saved fuzzer inputs for the function-URL target, replayed through the target's own code
//! (included from `fuzz/src`): each must pass the target's oracles and end where recorded below.
//! The inputs live with the other targets' under `shared/tests/data/fuzz/`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[path = "../../../fuzz/src/function_url.rs"]
mod function_url;

use std::path::PathBuf;

/// Runs every saved input of `target` and compares its outcome with `expected`, which must name
/// every file in the directory.
fn replay(target: &str, run: fn(&[u8]) -> String, expected: &[(&str, &str)]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tests/data/fuzz")
        .join(target);
    let mut saved: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    saved.sort();
    let mut named: Vec<String> = expected
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    named.sort();
    assert_eq!(
        saved,
        named,
        "every input under {} has an outcome here",
        dir.display()
    );

    for (name, outcome) in expected {
        let data = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(run(&data), *outcome, "{target}/{name}");
    }
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
