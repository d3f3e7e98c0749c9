//! The ingress handler in-process against a stub DynamoDB/SQS endpoint on loopback.
//!
//! Measures, per webhook, the CPU time of the handler's thread (verification, parsing, key
//! derivation, request building and SigV4 signing of every AWS call, response parsing) and counts
//! the AWS calls on the ack path, for a new event and for a duplicate. The stub answers from another
//! thread, so its own work is not counted. Linux only (thread CPU time from /proc).
//!
//! Run: `cargo bench -p ingress --bench handler > /dev/null` (results on stderr; stdout carries the
//! handler's metric lines, as it would in Lambda).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness: failing loudly is right

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_sdk_dynamodb::config::{Credentials, Region};
use lambda_runtime::{Context, LambdaEvent};
use shared::ingress::Ingress;
use shared::queue::EventQueue;
use shared::store::EventsTable;
use shared::testkit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NOW_S: i64 = 1_790_000_000;
const WEBHOOKS: usize = 3_000;
const SAMPLE: &str = "legitmark/state_change_complete_approved.json";

#[derive(Default)]
struct Calls {
    put_item: AtomicU64,
    update_item: AtomicU64,
    get_item: AtomicU64,
    send_message: AtomicU64,
    claimed: Mutex<HashSet<String>>,
}

impl Calls {
    fn snapshot(&self) -> [u64; 4] {
        [
            &self.put_item,
            &self.update_item,
            &self.get_item,
            &self.send_message,
        ]
        .map(|c| c.load(Ordering::SeqCst))
    }
}

/// Answers like DynamoDB and SQS would on success; a second PutItem of a key fails its condition
/// and returns the old item, marked ENQUEUED.
fn answer(target: &str, body: &[u8], calls: &Calls) -> (u16, String) {
    match target {
        "DynamoDB_20120810.PutItem" => {
            calls.put_item.fetch_add(1, Ordering::SeqCst);
            let request: serde_json::Value = serde_json::from_slice(body).unwrap();
            let pk = request["Item"]["pk"]["S"].as_str().unwrap().to_owned();
            let sha = request["Item"]["body_sha256"]["S"].clone();
            if calls.claimed.lock().unwrap().insert(pk.clone()) {
                (200, "{}".into())
            } else {
                let old = serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                    "Item": {"pk": {"S": pk}, "status": {"S": "ENQUEUED"}, "lease_until": {"N": "0"}, "body_sha256": sha}
                });
                (400, old.to_string())
            }
        }
        "DynamoDB_20120810.UpdateItem" => {
            calls.update_item.fetch_add(1, Ordering::SeqCst);
            (200, "{}".into())
        }
        "DynamoDB_20120810.GetItem" => {
            calls.get_item.fetch_add(1, Ordering::SeqCst);
            (200, "{}".into())
        }
        "AmazonSQS.SendMessage" => {
            calls.send_message.fetch_add(1, Ordering::SeqCst);
            (
                200,
                r#"{"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#.into(),
            )
        }
        other => (
            400,
            format!(r#"{{"__type":"UnknownOperation","message":"{other}"}}"#),
        ),
    }
}

async fn serve(mut socket: TcpStream, calls: Arc<Calls>) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 16 * 1024];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_default()
        };
        let length: usize = header("content-length:").parse().unwrap_or(0);
        let target = header("x-amz-target:");
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 16 * 1024];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        // Header values were lower-cased above; targets are matched case-insensitively.
        let target = [
            "DynamoDB_20120810.PutItem",
            "DynamoDB_20120810.UpdateItem",
            "DynamoDB_20120810.GetItem",
            "AmazonSQS.SendMessage",
        ]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(&target))
        .unwrap_or("unknown");
        let (status, body) = answer(target, &buffer[header_end..header_end + length], &calls);
        buffer.drain(..header_end + length);
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn start_stub(calls: Arc<Calls>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(socket, calls.clone()));
            }
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// CPU time this thread has run, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux /proc");
    text.split_whitespace().next().unwrap().parse().unwrap()
}

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
    ingress: &Ingress,
    requests: Vec<LambdaFunctionUrlRequest>,
    calls: &Calls,
    label: &str,
) {
    let before = calls.snapshot();
    let cpu_start = thread_cpu_ns();
    let wall_start = Instant::now();
    let n = requests.len();
    for request in requests {
        let response = ingress::handle(ingress, LambdaEvent::new(request, Context::default()))
            .await
            .unwrap();
        assert_eq!(response.status_code, 200, "{label}: {:?}", response.body);
    }
    let cpu_us = (thread_cpu_ns() - cpu_start) as f64 / 1000.0 / n as f64;
    let wall_us = wall_start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let after = calls.snapshot();
    let per = |i: usize| (after[i] - before[i]) as f64 / n as f64;
    eprintln!(
        "{label:<10} webhooks={n} cpu_per_webhook={cpu_us:.1}us wall_per_webhook={wall_us:.1}us \
         calls_per_webhook: PutItem={:.2} UpdateItem={:.2} GetItem={:.2} SendMessage={:.2}",
        per(0),
        per(1),
        per(2),
        per(3)
    );
}

fn main() {
    let calls = Arc::new(Calls::default());
    let endpoint = start_stub(calls.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
            .load()
            .await;
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
