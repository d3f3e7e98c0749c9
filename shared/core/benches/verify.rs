//! Standard Webhooks verification beside a bare SHA-256 of the same bytes, at three body sizes.
//!
//! Run: `cargo bench -p webhook-core --bench verify`. Figures are recorded in `docs/BENCHMARKS.md`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use webhook_core::headers::Headers;
use webhook_core::verify::{SigningKey, StandardWebhooks, sign_standard};

const NOW: i64 = 1_750_000_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn verify_vs_sha256(c: &mut Criterion) {
    let key = SigningKey::from_whsec(SECRET).expect("valid secret");
    let verifier = StandardWebhooks::new(vec![key.clone()]).expect("one key");
    let mut group = c.benchmark_group("verify");

    for size in [1024usize, 64 * 1024, 256 * 1024] {
        let body = vec![b'a'; size];
        let headers = Headers::from_pairs([
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
            ("svix-timestamp", NOW.to_string()),
            (
                "svix-signature",
                sign_standard(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", NOW, &body),
            ),
        ]);
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_with_input(
            BenchmarkId::new("standard_webhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify(black_box(body), black_box(&headers), NOW)
                        .is_ok()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("bare_sha256", size), &body, |b, body| {
            b.iter(|| Sha256::digest(black_box(body)))
        });
    }
    group.finish();
}

criterion_group!(benches, verify_vs_sha256);
criterion_main!(benches);
