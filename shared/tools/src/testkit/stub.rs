//! A stub DynamoDB, SQS and EventBridge endpoint on loopback for in-process benchmarks.
//!
//! It answers every call the Lambdas make as the real services would on success, in a thread of
//! its own (so its work is not counted against the code under measurement), and counts calls and
//! the DynamoDB item sizes that write units are billed on. A second `PutItem` of the same key fails
//! its condition and returns the old item, marked ENQUEUED, as DynamoDB would for a duplicate.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPERATIONS: [&str; 7] = [
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.GetItem",
    "AmazonSQS.SendMessage",
    "AmazonSQS.ReceiveMessage",
    "AmazonSQS.DeleteMessageBatch",
    "AWSEvents.PutEvents",
];

/// Calls answered, by operation, and the write units of the items written.
#[derive(Debug, Default)]
pub struct Calls {
    counts: [AtomicU64; 7],
    put_write_units: AtomicU64,
    put_bytes: AtomicU64,
    notification_puts: AtomicU64,
    notification_bytes: AtomicU64,
    bus_entries: AtomicU64,
    bus_entry_bytes: AtomicU64,
    claimed: Mutex<HashSet<String>>,
}

/// A snapshot of [`Calls`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// PutItem calls.
    pub put_item: u64,
    /// UpdateItem calls.
    pub update_item: u64,
    /// GetItem calls.
    pub get_item: u64,
    /// SendMessage calls.
    pub send_message: u64,
    /// Write units billed for the PutItem calls (1 per started KB of item).
    pub put_write_units: u64,
    /// Total size of the items put, as DynamoDB counts it.
    pub put_bytes: u64,
    /// PutItem calls of notifications (`sk` beginning `notification#`).
    pub notification_puts: u64,
    /// Total size of those notification items.
    pub notification_bytes: u64,
    /// PutEvents calls.
    pub put_events: u64,
    /// Entries in those calls.
    pub bus_entries: u64,
    /// Total size of those entries as EventBridge bills them (source, detail-type, detail).
    pub bus_entry_bytes: u64,
}

impl Calls {
    /// The counts so far.
    pub fn snapshot(&self) -> Counts {
        let n = |i: usize| self.counts[i].load(Ordering::SeqCst);
        Counts {
            put_item: n(0),
            update_item: n(1),
            get_item: n(2),
            send_message: n(3),
            put_write_units: self.put_write_units.load(Ordering::SeqCst),
            put_bytes: self.put_bytes.load(Ordering::SeqCst),
            notification_puts: self.notification_puts.load(Ordering::SeqCst),
            notification_bytes: self.notification_bytes.load(Ordering::SeqCst),
            put_events: n(6),
            bus_entries: self.bus_entries.load(Ordering::SeqCst),
            bus_entry_bytes: self.bus_entry_bytes.load(Ordering::SeqCst),
        }
    }
}

/// Item size as DynamoDB bills it: attribute names plus values (strings and binaries by length,
/// numbers by roughly one byte per two digits, maps and lists with a small overhead).
pub fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("B", Value::String(b64)) => (b64.len() as u64 * 3) / 4,
        ("N", Value::String(n)) => (n.len() as u64).div_ceil(2) + 1,
        ("M", Value::Object(map)) => 3 + item_size(map),
        ("L", Value::Array(list)) => 3 + list.iter().map(value_size).sum::<u64>(),
        _ => 1,
    }
}

fn answer(target: &str, body: &[u8], calls: &Calls) -> (u16, String) {
    if let Some(i) = OPERATIONS.iter().position(|op| *op == target) {
        calls.counts[i].fetch_add(1, Ordering::SeqCst);
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match target {
        "DynamoDB_20120810.PutItem" => {
            let item = request["Item"].as_object().cloned().unwrap_or_default();
            let size = item_size(&item);
            calls.put_bytes.fetch_add(size, Ordering::SeqCst);
            calls
                .put_write_units
                .fetch_add(size.div_ceil(1024).max(1), Ordering::SeqCst);
            if item["sk"]["S"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("notification#"))
            {
                calls.notification_puts.fetch_add(1, Ordering::SeqCst);
                calls.notification_bytes.fetch_add(size, Ordering::SeqCst);
            }
            let key = format!(
                "{}|{}",
                item["pk"]["S"],
                item.get("sk").map_or(Value::Null, |v| v["S"].clone())
            );
            let fresh = calls
                .claimed
                .lock()
                .map(|mut c| c.insert(key))
                .unwrap_or(true);
            if fresh {
                (200, "{}".into())
            } else {
                let old = json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                    "Item": {
                        "pk": item["pk"], "status": {"S": "ENQUEUED"}, "lease_until": {"N": "0"},
                        "body_sha256": item.get("body_sha256").cloned().unwrap_or(json!({"S": ""}))
                    }
                });
                (400, old.to_string())
            }
        }
        "DynamoDB_20120810.UpdateItem" | "DynamoDB_20120810.GetItem" => (200, "{}".into()),
        "AWSEvents.PutEvents" => {
            let entries = request["Entries"].as_array().cloned().unwrap_or_default();
            let text = |e: &Value, field: &str| e[field].as_str().map_or(0, str::len) as u64;
            for entry in &entries {
                let bytes =
                    text(entry, "Source") + text(entry, "DetailType") + text(entry, "Detail");
                calls.bus_entries.fetch_add(1, Ordering::SeqCst);
                calls.bus_entry_bytes.fetch_add(bytes, Ordering::SeqCst);
            }
            let accepted: Vec<Value> = (0..entries.len())
                .map(|i| json!({ "EventId": format!("stub-{i}") }))
                .collect();
            (
                200,
                json!({ "FailedEntryCount": 0, "Entries": accepted }).to_string(),
            )
        }
        "AmazonSQS.SendMessage" => (
            200,
            r#"{"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#.into(),
        ),
        other => (
            400,
            json!({"__type": "UnknownOperation", "message": other}).to_string(),
        ),
    }
}

async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn serve(mut socket: TcpStream, calls: Arc<Calls>) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if !read_more(&mut socket, &mut buffer).await {
                return;
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
        let target = OPERATIONS
            .into_iter()
            .find(|op| op.eq_ignore_ascii_case(&target))
            .unwrap_or("unknown");
        while buffer.len() < header_end + length {
            if !read_more(&mut socket, &mut buffer).await {
                return;
            }
        }
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

/// Starts the stub on its own thread; returns its endpoint URL and its counters.
pub fn start() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let serving = calls.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(listener) = TcpListener::bind("127.0.0.1:0").await else {
                return;
            };
            let _ = tx.send(listener.local_addr().map(|a| a.to_string()));
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, serving.clone()));
            }
        });
    });
    let address = rx
        .recv()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("stub endpoint did not start"));
    (format!("http://{address}"), calls)
}

/// SDK configuration pointed at `endpoint` with static credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await
}

/// CPU time the calling thread has run, in nanoseconds (Linux).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("thread CPU time needs Linux /proc/thread-self/schedstat"))
}
