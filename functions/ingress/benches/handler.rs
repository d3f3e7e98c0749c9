//! The ingress handler in-process against a stub DynamoDB/SQS endpoint on loopback.
//!
//! Measures, per webhook, the CPU time of the handler's thread (verification, parsing, key
//! derivation, building, SigV4-signing and sending every AWS call, reading the answers) and counts
//! the AWS calls on the ack path, for a new event and for a duplicate. The stub answers from
//! another thread, so its own work is not counted. Linux only (thread CPU time from /proc).
//!
//! Run: `cargo bench -p ingress --bench handler > /dev/null` (results on stderr; stdout carries the
//! handler's metric lines, as it would in Lambda).

#![allow(clippy::unwrap_used)] // a benchmark harness: failing loudly is right

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{Context, LambdaEvent};
use webhook_aws::{EventQueue, EventsTable};
use webhook_core::ingress::Ingress;
use webhook_tools::testkit::{self, stub};

const NOW_S: i64 = 1_790_000_000;
const WEBHOOKS: usize = 3_000;
const SAMPLE: &str = "legitmark/state_change_complete_approved.json";

fn request(message_id: &str, body: &[u8]) -> LambdaFunctionUrlRequest {
    let headers = testkit::legitmark_headers(message_id, NOW_S, body);
    serde_json::from_value(testkit::function_url_event(
        "POST",
        "/webhooks/legitmark",
        &headers,
        body,
        false,
    ))
    .unwrap()
}

async fn run(
    ingress: &Ingress<EventsTable, EventQueue>,
    requests: Vec<LambdaFunctionUrlRequest>,
    calls: &stub::Calls,
    label: &str,
) {
    let before = calls.snapshot();
    let cpu_start = stub::thread_cpu_ns();
    let wall_start = Instant::now();
    let n = requests.len();
    for request in requests {
        let response = ingress::handle(ingress, LambdaEvent::new(request, Context::default()))
            .await
            .unwrap();
        assert_eq!(response.status_code, 200, "{label}: {:?}", response.body);
    }
    let cpu_us = (stub::thread_cpu_ns() - cpu_start) as f64 / 1000.0 / n as f64;
    let wall_us = wall_start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let after = calls.snapshot();
    let per = |a: u64, b: u64| (a - b) as f64 / n as f64;
    eprintln!(
        "{label:<10} webhooks={n} cpu_per_webhook={cpu_us:.1}us wall_per_webhook={wall_us:.1}us \
         calls_per_webhook: PutItem={:.2} UpdateItem={:.2} GetItem={:.2} SendMessage={:.2} \
         put_item_bytes={:.0} put_write_units={:.2}",
        per(after.put_item, before.put_item),
        per(after.update_item, before.update_item),
        per(after.get_item, before.get_item),
        per(after.send_message, before.send_message),
        per(after.put_bytes, before.put_bytes),
        per(after.put_write_units, before.put_write_units),
    );
}

fn main() {
    let (endpoint, calls) = stub::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let aws = stub::sdk_config(&endpoint).await;
        let queue_url = format!("{endpoint}/123456789012/bench");
        let ingress = Ingress::new(
            testkit::ingress_config("bench-events", &queue_url),
            EventsTable::from_sdk_config(&aws, "bench-events"),
            EventQueue::from_sdk_config(&aws, queue_url.clone()),
        )
        .with_clock(Arc::new(|| NOW_S * 1000));
        let body = testkit::payload(SAMPLE);
        let ids: Vec<String> = (0..WEBHOOKS).map(|i| format!("msg_bench_{i}")).collect();

        // Warm-up: connections, SDK caches, allocator.
        let warm: Vec<_> = (0..200)
            .map(|i| request(&format!("msg_warm_{i}"), &body))
            .collect();
        run(&ingress, warm, &calls, "warm-up").await;

        let new_events = ids.iter().map(|id| request(id, &body)).collect();
        run(&ingress, new_events, &calls, "new").await;
        let duplicates = ids.iter().map(|id| request(id, &body)).collect();
        run(&ingress, duplicates, &calls, "duplicate").await;
    });
}
