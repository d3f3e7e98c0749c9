//! Replays saved fuzzer inputs (`shared/core/tests/data/fuzz/<target>/`) through a target's code;
//! included by the fuzz-regression tests of `webhook-core` and of the ingress.

use std::path::Path;

/// Runs every saved input of `target` under `root` and compares its outcome with `expected`, which must name
/// every file in the directory.
pub fn replay(root: &Path, target: &str, run: fn(&[u8]) -> String, expected: &[(&str, &str)]) {
    let dir = root.join(target);
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
