//! The consumer in-process against a stub DynamoDB and EventBridge endpoint on loopback: events per
//! second per core, AWS calls per event, the DynamoDB write units they are billed, and the business
//! events published.
//!
//! Batches of 10 envelopes (the template's batch size) built from the sample lifecycle, each event
//! about an item of its own (the stub stores nothing, so every event is the first for its item:
//! load, notification when due, record, PROCESSED marker, then the batch's business events and
//! their published marks). CPU time is that of the consumer's
//! thread; the stub answers from another. Linux only.
//!
//! Run: `cargo bench -p consumer --bench consumer > /dev/null` (results on stderr).

#![allow(clippy::unwrap_used)] // a benchmark harness: failing loudly is right

use webhook_aws::{EventBridgeBus, EventsTable, ItemsTable};
use webhook_core::consumer::{Consumer, QueueRecord};
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::senders;
use webhook_tools::testkit::{self, stub};

const EVENTS: usize = 3_000;
const LIFECYCLE: [&str; 9] = [
    "state_change_draft",
    "state_change_qc_pending",
    "state_change_qc_rejected",
    "media_rejected",
    "state_change_qc_approved",
    "state_change_underway_pending",
    "state_change_underway_assigned",
    "state_change_underway_approved",
    "state_change_complete_approved",
];

fn record(i: usize) -> QueueRecord {
    let file = LIFECYCLE[i % LIFECYCLE.len()];
    let mut value: serde_json::Value =
        serde_json::from_slice(&testkit::payload(&format!("legitmark/{file}.json"))).unwrap();
    value["reference_id"] = format!("item-{i}").into();
    let body = serde_json::to_string_pretty(&value).unwrap();
    let registry = senders::builtin();
    let payload = registry.get("legitmark").unwrap();
    let event = payload.parse(body.as_bytes()).unwrap();
    let key = format!("id:msg_bench_{i}");
    let meta = EnvelopeMeta::for_event(
        "legitmark",
        &key,
        payload.as_ref(),
        event.as_ref(),
        Some(&key[3..]),
        0,
    );
    QueueRecord {
        message_id: format!("sqs-{i}"),
        body: meta.encode(&body).unwrap(),
    }
}

fn main() {
    let (endpoint, calls) = stub::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let aws = stub::sdk_config(&endpoint).await;
        let consumer = Consumer::new(
            ItemsTable::from_sdk_config(&aws, "bench-items"),
            EventsTable::from_sdk_config(&aws, "bench-events"),
        )
        .with_bus(EventBridgeBus::from_sdk_config(
            &aws,
            "bench-bus",
            "webhooks",
        ));
        let records: Vec<QueueRecord> = (0..EVENTS + 100).map(record).collect();
        let (warm, measured) = records.split_at(100);
        for batch in warm.chunks(10) {
            assert!(consumer.process_batch(batch.to_vec()).await.is_empty());
        }

        let before = calls.snapshot();
        let cpu_start = stub::thread_cpu_ns();
        for batch in measured.chunks(10) {
            assert!(consumer.process_batch(batch.to_vec()).await.is_empty());
        }
        let cpu_s = (stub::thread_cpu_ns() - cpu_start) as f64 / 1e9;
        let after = calls.snapshot();
        let per = |a: u64, b: u64| (a - b) as f64 / EVENTS as f64;
        eprintln!(
            "consumer events={EVENTS} events_per_cpu_second={:.0} cpu_per_event={:.1}us \
             calls_per_event: GetItem={:.2} PutItem={:.2} UpdateItem={:.2} \
             put_item_bytes_per_event={:.0} put_write_units_per_event={:.2} \
             notification_item_bytes={:.0} PutEvents_per_event={:.2} \
             bus_entries_per_event={:.2} bus_entry_bytes={:.0}",
            EVENTS as f64 / cpu_s,
            cpu_s * 1e6 / EVENTS as f64,
            per(after.get_item, before.get_item),
            per(after.put_item, before.put_item),
            per(after.update_item, before.update_item),
            per(after.put_bytes, before.put_bytes),
            per(after.put_write_units, before.put_write_units),
            (after.notification_bytes - before.notification_bytes) as f64
                / (after.notification_puts - before.notification_puts).max(1) as f64,
            per(after.put_events, before.put_events),
            per(after.bus_entries, before.bus_entries),
            (after.bus_entry_bytes - before.bus_entry_bytes) as f64
                / (after.bus_entries - before.bus_entries).max(1) as f64,
        );
    });
}
