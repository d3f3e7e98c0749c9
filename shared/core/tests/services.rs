//! Both services' state machines on the in-memory ports, with no server running: every branch of
//! the ingress (accept, duplicate, busy, take-over, conflict, quarantine, outages, a crash between
//! claim and enqueue) and of the consumer (apply, redelivery, version races, crashes between its
//! writes, poison). A crash is a request dropped while it waits in a stalled port call: every
//! write before that line is kept, nothing after it runs, exactly as when the process dies there.
//! The moto suites of the functions prove the AWS adapters keep the same conditions.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::FutureExt;
use webhook_core::clock::Clock;
use webhook_core::config::IngressConfig;
use webhook_core::consumer::{Consumer, Handled, QueueRecord};
use webhook_core::headers::Headers;
use webhook_core::ingress::{Ingress, IngressRequest, IngressResponse, RequestBody};
use webhook_core::memory::{MemoryEventsLog, MemoryQueue, MemoryRecords};
use webhook_core::ports::{
    EventStatus, EventsLog, NewEvent, RecordId, RecordsStore, Saved, StoredRecord,
};
use webhook_core::senders::legitmark::ItemRecord;
use webhook_core::verify::{SigningKey, sign_hex, sign_standard};

const NOW_MS: i64 = 1_790_000_000_000;
const LEGITMARK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CR3DENTIALS_SECRET: &str = "cr3d-test-secret";

fn payload(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/payloads")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

fn with_field(body: &[u8], field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json[field] = value;
    serde_json::to_vec_pretty(&json).unwrap()
}

fn config() -> IngressConfig {
    let env: BTreeMap<String, String> = [
        ("EVENTS_TABLE", "events"),
        ("QUEUE_URL", "memory"),
        ("WEBHOOK_SOURCES", "legitmark,cr3dentials"),
        ("SOURCE_LEGITMARK_SECRETS", LEGITMARK_SECRET),
        ("SOURCE_CR3DENTIALS_SECRETS", CR3DENTIALS_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    IngressConfig::from_env(&env).unwrap()
}

struct World {
    log: MemoryEventsLog,
    queue: MemoryQueue,
    records: MemoryRecords,
    now: Arc<AtomicI64>,
    ingress: Ingress<MemoryEventsLog, MemoryQueue>,
    consumer: Consumer<MemoryEventsLog, MemoryRecords>,
}

impl World {
    fn new() -> Self {
        let (log, queue, records) = Default::default();
        let now = Arc::new(AtomicI64::new(NOW_MS));
        let reading = now.clone();
        let clock: Clock = Arc::new(move || reading.load(Ordering::SeqCst));
        let ingress = Ingress::new(
            config(),
            MemoryEventsLog::clone(&log),
            MemoryQueue::clone(&queue),
        )
        .with_clock(clock.clone());
        let consumer = Consumer::new(MemoryRecords::clone(&records), log.clone()).with_clock(clock);
        Self {
            log,
            queue,
            records,
            now,
            ingress,
            consumer,
        }
    }

    async fn post(&self, request: IngressRequest) -> IngressResponse {
        self.ingress.handle(request, None).await
    }

    /// Posts, but the process dies at the first port call that stalls: `None` if it did.
    fn post_and_die_if_stalled(&self, request: IngressRequest) -> Option<IngressResponse> {
        // The in-memory ports complete at once unless stalled, so one poll runs the request to
        // its end or to the stalled call; dropping the future then is the process dying there.
        self.ingress.handle(request, None).now_or_never()
    }

    /// Hands every queued message to the consumer, as the event source mapping would.
    async fn consume(&self) -> Vec<String> {
        let batch = self
            .queue
            .drain()
            .into_iter()
            .map(|m| QueueRecord {
                message_id: m.message_id,
                body: m.body,
            })
            .collect();
        self.consumer.process_batch(batch).await
    }

    fn status(&self, source: &str, key: &str) -> Option<EventStatus> {
        self.log.entry(source, key).map(|e| e.status)
    }

    fn item(&self, subject: &str) -> Option<ItemRecord> {
        self.records
            .record(item(subject))
            .map(|r| serde_json::from_str(&r.json).unwrap())
    }

    fn notification_kinds(&self, subject: &str) -> Vec<String> {
        self.records
            .notifications(item(subject))
            .into_iter()
            .map(|n| n.notification.kind)
            .collect()
    }
}

fn item(subject: &str) -> RecordId<'_> {
    RecordId {
        kind: "item",
        subject,
    }
}

fn legitmark(message_id: &str, body: &[u8]) -> IngressRequest {
    let key = SigningKey::from_whsec(LEGITMARK_SECRET).unwrap();
    let timestamp = NOW_MS / 1000;
    IngressRequest {
        method: "POST".into(),
        path: "/webhooks/legitmark".into(),
        headers: Headers::from_pairs([
            ("webhook-id", message_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                sign_standard(&key, message_id, timestamp, body),
            ),
        ]),
        body: RequestBody::Bytes(body.to_vec()),
    }
}

fn cr3dentials(body: &[u8]) -> IngressRequest {
    let key = SigningKey::from_text(CR3DENTIALS_SECRET).unwrap();
    IngressRequest {
        method: "POST".into(),
        path: "/webhooks/cr3dentials".into(),
        headers: Headers::from_pairs([("x-webhook-signature", sign_hex(&key, body))]),
        body: RequestBody::Bytes(body.to_vec()),
    }
}

fn answer(response: &IngressResponse) -> String {
    let json: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    json["status"].as_str().unwrap_or("-").to_owned()
}

fn retry_after(response: &IngressResponse) -> Option<&str> {
    response
        .headers
        .iter()
        .find(|(name, _)| *name == "retry-after")
        .map(|(_, value)| value.as_str())
}

const APPROVED: &str = "legitmark/state_change_complete_approved.json";

// ---- ingress ----

#[tokio::test]
async fn new_event_is_claimed_queued_and_marked_enqueued() {
    let world = World::new();

    let response = world.post(legitmark("msg_new", &payload(APPROVED))).await;

    assert_eq!(
        (response.status, answer(&response)),
        (200, "accepted".into())
    );
    assert_eq!(world.queue.peek().len(), 1);
    assert_eq!(
        world.status("legitmark", "id:msg_new"),
        Some(EventStatus::Enqueued)
    );
}

#[tokio::test]
async fn retry_of_a_queued_event_is_a_duplicate_and_sends_nothing() {
    let world = World::new();
    let body = payload(APPROVED);
    world.post(legitmark("msg_dup", &body)).await;

    let retry = world.post(legitmark("msg_dup", &body)).await;

    assert_eq!((retry.status, answer(&retry)), (200, "duplicate".into()));
    assert_eq!(world.queue.peek().len(), 1);
}

#[tokio::test]
async fn a_crash_between_claim_and_enqueue_leaves_a_claim_the_retry_takes_over_after_its_lease() {
    // given a process that dies after its claim, before the message is sent
    let world = World::new();
    let body = payload(APPROVED);
    world.queue.faults.stall("send");
    assert!(
        world
            .post_and_die_if_stalled(legitmark("msg_dies", &body))
            .is_none()
    );
    world.queue.faults.unstall("send");
    assert_eq!(
        world.status("legitmark", "id:msg_dies"),
        Some(EventStatus::Received)
    );
    assert!(world.queue.peek().is_empty());

    // when the sender retries after the lease lapsed
    world.now.fetch_add(60_000, Ordering::SeqCst);
    let retry = world.post(legitmark("msg_dies", &body)).await;

    // then the retry takes the claim over and enqueues once
    assert_eq!((retry.status, answer(&retry)), (200, "accepted".into()));
    assert_eq!(world.queue.peek().len(), 1);
    assert_eq!(
        world.status("legitmark", "id:msg_dies"),
        Some(EventStatus::Enqueued)
    );
    assert_eq!(world.log.faults.calls("take_over"), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_while_the_claim_is_live_waits_then_answers_409_with_retry_after() {
    let world = World::new();
    let body = payload(APPROVED);
    world.queue.faults.stall("send");
    assert!(
        world
            .post_and_die_if_stalled(legitmark("msg_busy", &body))
            .is_none()
    );
    world.queue.faults.unstall("send");

    let retry = world.post(legitmark("msg_busy", &body)).await;

    assert_eq!(retry.status, 409);
    assert_eq!(retry_after(&retry), Some("10"));
    assert!(world.queue.peek().is_empty());
}

/// `cargo lambda watch` hands every invocation the deadline 600000, ten minutes after the epoch:
/// a claim must not take that for its lease, or it would look abandoned the moment it is made.
#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_does_not_make_a_fresh_claim_look_abandoned() {
    let world = World::new();
    let body = payload(APPROVED);
    world.queue.faults.stall("send");
    let dying = world
        .ingress
        .handle(legitmark("msg_past", &body), Some(600_000))
        .now_or_never();
    assert!(dying.is_none());
    world.queue.faults.unstall("send");

    let retry = world
        .ingress
        .handle(legitmark("msg_past", &body), Some(600_000))
        .await;

    assert_eq!(retry.status, 409);
    assert_eq!(retry_after(&retry), Some("10"));
}

#[tokio::test]
async fn same_key_with_another_body_is_kept_as_a_conflict_and_not_queued() {
    let world = World::new();
    let body = payload(APPROVED);
    world.post(legitmark("msg_conflict", &body)).await;
    let other = with_field(
        &body,
        "timestamp",
        serde_json::json!("2026-03-03T00:00:00Z"),
    );

    let response = world.post(legitmark("msg_conflict", &other)).await;

    assert_eq!(
        (response.status, answer(&response)),
        (200, "conflict".into())
    );
    assert_eq!(world.queue.peek().len(), 1);
    let conflicts: Vec<_> = world
        .log
        .entries()
        .into_values()
        .filter(|e| e.status == EventStatus::Conflict)
        .collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].body, other);
}

#[tokio::test]
async fn authentic_body_that_does_not_parse_is_quarantined_with_its_bytes() {
    let world = World::new();
    let body = br#"{"event_type":"state_change"}"#;

    let response = world.post(legitmark("msg_bad", body)).await;

    assert_eq!(
        (response.status, answer(&response)),
        (200, "quarantined".into())
    );
    assert!(world.queue.peek().is_empty());
    let entry = world.log.entry("legitmark", "id:msg_bad").unwrap();
    assert_eq!(entry.status, EventStatus::Quarantined);
    assert_eq!(entry.body, body);
    assert!(entry.note.is_some());
}

#[tokio::test]
async fn forged_request_is_401_and_writes_nothing() {
    let world = World::new();
    let mut request = legitmark("msg_forged", &payload(APPROVED));
    request.body = RequestBody::Bytes(payload("legitmark/state_change_complete_rejected.json"));

    let response = world.post(request).await;

    assert_eq!(response.status, 401);
    assert!(world.log.entries().is_empty());
    assert_eq!(world.log.faults.all_calls(), BTreeMap::new());
}

#[tokio::test]
async fn queue_outage_releases_the_claim_answers_503_and_the_retry_is_accepted() {
    let world = World::new();
    let body = payload(APPROVED);
    world.queue.faults.fail("send", 1);

    let first = world.post(legitmark("msg_sqs_down", &body)).await;
    let retry = world.post(legitmark("msg_sqs_down", &body)).await;

    assert_eq!(first.status, 503);
    assert!(retry_after(&first).is_some());
    assert_eq!((retry.status, answer(&retry)), (200, "accepted".into()));
    assert_eq!(world.queue.peek().len(), 1);
}

#[tokio::test]
async fn store_outage_answers_503_and_sends_nothing() {
    let world = World::new();
    world.log.faults.fail("claim", 1);

    let response = world
        .post(legitmark("msg_ddb_down", &payload(APPROVED)))
        .await;

    assert_eq!(response.status, 503);
    assert!(world.queue.peek().is_empty());
    assert!(world.log.entries().is_empty());
}

#[tokio::test]
async fn ack_path_calls_claim_send_mark_for_a_new_event_and_claim_only_for_a_duplicate() {
    let world = World::new();
    let body = payload(APPROVED);

    world.post(legitmark("msg_count", &body)).await;
    let new_event = (
        world.log.faults.all_calls(),
        world.queue.faults.calls("send"),
    );
    world.log.faults.reset_calls();
    world.queue.faults.reset_calls();
    world.post(legitmark("msg_count", &body)).await;
    let duplicate = (
        world.log.faults.all_calls(),
        world.queue.faults.calls("send"),
    );

    assert_eq!(
        new_event,
        (BTreeMap::from([("claim", 1), ("mark_enqueued", 1)]), 1)
    );
    assert_eq!(duplicate, (BTreeMap::from([("claim", 1)]), 0));
}

// ---- consumer ----

#[tokio::test]
async fn queued_event_is_applied_notified_once_and_marked_processed() {
    let world = World::new();
    world.post(legitmark("msg_apply", &payload(APPROVED))).await;

    let failed = world.consume().await;

    assert!(failed.is_empty());
    assert_eq!(
        world.status("legitmark", "id:msg_apply"),
        Some(EventStatus::Processed)
    );
    let record = world.item("item-10042").unwrap();
    assert_eq!(
        serde_json::to_value(record.verdict).unwrap(),
        serde_json::json!("AUTHENTIC")
    );
    assert_eq!(
        world.notification_kinds("item-10042"),
        ["authentication_passed"]
    );
    let projections = world.records.projections(item("item-10042"));
    assert!(projections.contains(&("verdict", Some("AUTHENTIC".into()))));
}

#[tokio::test]
async fn a_redelivered_message_is_a_duplicate_that_writes_nothing() {
    let world = World::new();
    world.post(legitmark("msg_twice", &payload(APPROVED))).await;
    let message = world.queue.peek().remove(0);
    let record = QueueRecord {
        message_id: message.message_id,
        body: message.body,
    };
    world.consumer.process(&record).await.unwrap();
    world.records.faults.reset_calls();

    let again = world.consumer.process(&record).await.unwrap();

    assert_eq!(again, Handled::Duplicate);
    assert_eq!(world.records.faults.calls("save"), 0);
    assert_eq!(world.records.faults.calls("put_notification"), 0);
    assert_eq!(world.notification_kinds("item-10042").len(), 1);
}

#[tokio::test]
async fn a_crash_between_the_consumers_writes_is_repaired_by_the_redelivery() {
    for (port, operation) in [("records", "save"), ("events", "mark_done")] {
        // given a consumer that dies after the notification (before the record is saved), or
        // after the record (before the event is marked processed)
        let world = World::new();
        world.post(legitmark("msg_crash", &payload(APPROVED))).await;
        let message = world.queue.drain().remove(0);
        let record = QueueRecord {
            message_id: message.message_id,
            body: message.body,
        };
        match port {
            "records" => world.records.faults.stall(operation),
            _ => world.log.faults.stall(operation),
        }
        assert!(
            world.consumer.process(&record).now_or_never().is_none(),
            "{operation}"
        );
        world.records.faults.unstall(operation);
        world.log.faults.unstall(operation);

        // when the message is redelivered
        let redelivered = world.consumer.process(&record).await.unwrap();

        // then the event is applied once, notified once, and marked processed
        assert!(
            matches!(redelivered, Handled::Applied(_) | Handled::Duplicate),
            "{operation}: {redelivered:?}"
        );
        let timeline = world.item("item-10042").unwrap().timeline;
        assert_eq!(
            timeline.iter().filter(|e| e.key == "id:msg_crash").count(),
            1,
            "{operation}"
        );
        assert_eq!(
            world.notification_kinds("item-10042"),
            ["authentication_passed"],
            "{operation}"
        );
        assert_eq!(
            world.status("legitmark", "id:msg_crash"),
            Some(EventStatus::Processed),
            "{operation}"
        );
    }
}

/// A records store where another writer saves the same record between this consumer's load and
/// its save, `races` times.
#[derive(Clone)]
struct Racing {
    inner: MemoryRecords,
    races: Arc<AtomicI64>,
}

impl RecordsStore for Racing {
    async fn load(
        &self,
        id: RecordId<'_>,
    ) -> Result<Option<StoredRecord>, webhook_core::ports::StoreError> {
        let loaded = self.inner.load(id).await?;
        if self.races.fetch_sub(1, Ordering::SeqCst) > 0 {
            // the other writer: applies its own event to the record this consumer just read
            let other = payload("legitmark/state_change_qc_pending.json");
            let event = webhook_core::senders::legitmark::parse(&other).unwrap();
            let current = loaded
                .as_ref()
                .map(|r| serde_json::from_str(&r.json).unwrap());
            let key = format!("id:other-{}", self.races.load(Ordering::SeqCst));
            let outcome = webhook_core::senders::legitmark::apply(current, &event, &key);
            let json = serde_json::to_string(&outcome.record).unwrap();
            let saved = self
                .inner
                .save(id, &json, &[], loaded.as_ref().map(|r| r.version), NOW_MS)
                .await?;
            assert_eq!(saved, Saved::Saved);
        }
        Ok(loaded)
    }

    async fn save(
        &self,
        id: RecordId<'_>,
        json: &str,
        projections: &[(&'static str, Option<String>)],
        expected: Option<u64>,
        now_ms: i64,
    ) -> Result<Saved, webhook_core::ports::StoreError> {
        self.inner
            .save(id, json, projections, expected, now_ms)
            .await
    }

    async fn put_notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        notification: &webhook_core::senders::Notification,
        event: &webhook_core::ports::BusinessEvent,
        now_ms: i64,
    ) -> Result<bool, webhook_core::ports::StoreError> {
        self.inner
            .put_notification(id, event_key, notification, event, now_ms)
            .await
    }

    async fn notification(
        &self,
        id: RecordId<'_>,
        event_key: &str,
    ) -> Result<Option<webhook_core::ports::StoredNotification>, webhook_core::ports::StoreError>
    {
        self.inner.notification(id, event_key).await
    }

    async fn mark_published(
        &self,
        id: RecordId<'_>,
        event_key: &str,
        at_ms: i64,
    ) -> Result<bool, webhook_core::ports::StoreError> {
        self.inner.mark_published(id, event_key, at_ms).await
    }
}

#[tokio::test]
async fn a_version_race_reloads_and_applies_on_top_of_the_other_writers_record() {
    let world = World::new();
    world.post(legitmark("msg_race", &payload(APPROVED))).await;
    let racing = Racing {
        inner: world.records.clone(),
        races: Arc::new(AtomicI64::new(2)),
    };
    let consumer = Consumer::new(racing, world.log.clone());

    let failed = consumer
        .process_batch(
            world
                .queue
                .drain()
                .into_iter()
                .map(|m| QueueRecord {
                    message_id: m.message_id,
                    body: m.body,
                })
                .collect(),
        )
        .await;

    assert!(failed.is_empty());
    let record = world.item("item-10042").unwrap();
    let keys: Vec<&str> = record.timeline.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"id:msg_race"), "{keys:?}");
    assert_eq!(
        keys.len(),
        3,
        "both racing writes and ours are kept: {keys:?}"
    );
    assert_eq!(world.records.record(item("item-10042")).unwrap().version, 3);
    assert_eq!(
        world.notification_kinds("item-10042"),
        ["authentication_passed"]
    );
}

#[tokio::test]
async fn a_record_that_keeps_changing_fails_the_message_for_a_later_retry() {
    let world = World::new();
    world
        .post(legitmark("msg_contended", &payload(APPROVED)))
        .await;
    let racing = Racing {
        inner: world.records.clone(),
        races: Arc::new(AtomicI64::new(100)),
    };
    let consumer = Consumer::new(racing, world.log.clone());
    let message = world.queue.drain().remove(0);

    let failed = consumer
        .process_batch(vec![QueueRecord {
            message_id: message.message_id.clone(),
            body: message.body,
        }])
        .await;

    assert_eq!(failed, vec![message.message_id]);
    assert_eq!(
        world.status("legitmark", "id:msg_contended"),
        Some(EventStatus::Enqueued)
    );
}

#[tokio::test]
async fn a_store_outage_fails_only_its_message_and_the_redelivery_applies_it() {
    let world = World::new();
    world.post(legitmark("msg_a", &payload(APPROVED))).await;
    let body = with_field(
        &payload("legitmark/state_change_qc_pending.json"),
        "reference_id",
        serde_json::json!("item-other"),
    );
    world.post(legitmark("msg_b", &body)).await;
    let messages = world.queue.drain();
    world.records.faults.fail("load", 1);

    let batch: Vec<QueueRecord> = messages
        .iter()
        .map(|m| QueueRecord {
            message_id: m.message_id.clone(),
            body: m.body.clone(),
        })
        .collect();
    let failed = world.consumer.process_batch(batch.clone()).await;
    let retried: Vec<QueueRecord> = batch
        .into_iter()
        .filter(|r| failed.contains(&r.message_id))
        .collect();
    let failed_again = world.consumer.process_batch(retried).await;

    assert_eq!(failed.len(), 1);
    assert!(failed_again.is_empty());
    assert!(world.item("item-10042").is_some());
    assert!(world.item("item-other").is_some());
}

#[tokio::test]
async fn messages_that_can_never_apply_are_quarantined_and_acknowledged() {
    let world = World::new();
    let unknown_sender = r#"{"meta":{"v":1,"source":"acme","key":"k1","payload_kind":"acme","event_type":"x","subject":"s","received_at_ms":1},"payload":{}}"#;
    let bad_payload = r#"{"meta":{"v":1,"source":"legitmark","key":"k2","payload_kind":"legitmark","event_type":"state_change","subject":"s","received_at_ms":1},"payload":{"event_type":"state_change"}}"#;
    for (key, source, body) in [
        ("k1", "acme", unknown_sender),
        ("k2", "legitmark", bad_payload),
    ] {
        world
            .log
            .claim(&NewEvent {
                source,
                key,
                status: EventStatus::Enqueued,
                body: body.as_bytes(),
                body_sha256: "-",
                headers: &Headers::default(),
                event_type: None,
                subject: None,
                message_id: None,
                received_at_ms: NOW_MS,
                expires_at_s: 0,
                lease_until_ms: 0,
                claim_token: "t",
                note: None,
            })
            .await
            .unwrap();
    }
    let batch = vec![
        QueueRecord {
            message_id: "m1".into(),
            body: unknown_sender.into(),
        },
        QueueRecord {
            message_id: "m2".into(),
            body: bad_payload.into(),
        },
        QueueRecord {
            message_id: "m3".into(),
            body: "{not an envelope".into(),
        },
    ];

    let failed = world.consumer.process_batch(batch).await;

    assert!(failed.is_empty());
    assert_eq!(world.status("acme", "k1"), Some(EventStatus::Quarantined));
    assert_eq!(
        world.status("legitmark", "k2"),
        Some(EventStatus::Quarantined)
    );
    assert_eq!(
        world.status("queue", "sqs:m3"),
        Some(EventStatus::Quarantined)
    );
    assert!(world.records.records().is_empty());
}

#[tokio::test]
async fn cr3dentials_delivery_runs_through_both_services() {
    let world = World::new();
    let body = payload("cr3dentials/verification_completed.json");

    let response = world.post(cr3dentials(&body)).await;
    let failed = world.consume().await;

    assert_eq!(response.status, 200);
    assert!(failed.is_empty());
    let records = world.records.records();
    assert_eq!(records.len(), 1);
    let ((kind, _), _) = records.into_iter().next().unwrap();
    assert_eq!(kind, "verification");
    let outcome = world
        .records
        .notifications(RecordId {
            kind: "verification",
            subject: "48213",
        })
        .into_iter()
        .map(|n| n.notification.kind)
        .collect::<Vec<_>>();
    assert_eq!(outcome, ["verification_completed"]);
}
