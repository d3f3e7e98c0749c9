//! The consumer against real DynamoDB and SQS protocol servers (moto, started by `make test`):
//! events accepted by the ingress, moved by a poller that plays the event source mapping, applied
//! by the consumer handler; assertions on the items table, the events table and the queues.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use webhook_aws::items_table::record_pk;
use webhook_aws::{EventQueue, EventsTable, ItemsTable};
use webhook_core::clock::Clock;
use webhook_core::consumer::{Consumer, QueueRecord};
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ingress::Ingress;
use webhook_core::ports::{RecordId, RecordsStore, StoreError};
use webhook_core::senders;
use webhook_core::senders::cr3dentials::VerificationRecord;
use webhook_core::senders::legitmark::ItemRecord;
use webhook_tools::hooks::AfterWrites;
use webhook_tools::poller::Poller;
use webhook_tools::sender;
use webhook_tools::testkit::{self, Stack};

const NOW_MS: i64 = 1_790_000_000_000;
const NOW_S: i64 = NOW_MS / 1000;

struct Pipeline {
    stack: Stack,
    ingress: Ingress<EventsTable, EventQueue>,
    consumer: Consumer<EventsTable, ItemsTable>,
    items: ItemsTable,
}

fn item_id(subject: &str) -> RecordId<'_> {
    RecordId {
        kind: "item",
        subject,
    }
}

fn item_pk(subject: &str) -> String {
    record_pk(item_id(subject))
}

impl Pipeline {
    async fn new() -> Self {
        let stack = Stack::new(30).await;
        let clock: Clock = Arc::new(|| NOW_MS);
        let ingress = Ingress::new(
            testkit::ingress_config(&stack.events_table, &stack.queues.queue_url),
            EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone()),
            EventQueue::from_sdk_config(&stack.aws, stack.queues.queue_url.clone()),
        )
        .with_clock(clock.clone());
        let items = ItemsTable::from_sdk_config(&stack.aws, stack.items_table.clone());
        let consumer = Consumer::new(
            items.clone(),
            EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone()),
        )
        .with_clock(clock);
        Self {
            stack,
            ingress,
            consumer,
            items,
        }
    }

    async fn deliver(&self, source: &str, message_id: &str, body: &[u8]) {
        let headers = match source {
            "legitmark" => testkit::legitmark_headers(message_id, NOW_S, body),
            _ => testkit::cr3dentials_headers(body),
        };
        let event = testkit::function_url_event(
            "POST",
            &format!("/webhooks/{source}"),
            &headers,
            body,
            false,
        );
        let request = serde_json::from_value(event).unwrap();
        let response =
            ingress::handle(&self.ingress, LambdaEvent::new(request, Context::default()))
                .await
                .unwrap();
        assert_eq!(response.status_code, 200, "{:?}", response.body);
    }

    fn poller(&self) -> Poller {
        Poller::new(self.stack.sqs(), self.stack.queues.queue_url.clone(), 10).visibility_timeout(0)
    }

    /// Polls like the event source mapping until the queue is empty, calling the Lambda handler
    /// with SQS events in the Lambda format.
    async fn drain_through_consumer(&self) {
        let poller = self.poller();
        for _ in 0..100 {
            let stats = poller
                .poll_once(|records| self.invoke(records))
                .await
                .unwrap();
            if stats.received == 0 {
                return;
            }
        }
        panic!("queue did not drain");
    }

    async fn invoke(&self, records: Vec<QueueRecord>) -> Vec<String> {
        let event: SqsEvent = serde_json::from_value(sender::sqs_event(
            records
                .iter()
                .map(|r| (r.message_id.as_str(), r.body.as_str())),
        ))
        .unwrap();
        let response =
            consumer::handle(&self.consumer, LambdaEvent::new(event, Context::default()))
                .await
                .unwrap();
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn item(&self, subject: &str) -> ItemRecord {
        let stored = self.items.load(item_id(subject)).await.unwrap().unwrap();
        serde_json::from_str(&stored.json).unwrap()
    }

    async fn notification_kinds(&self, id: RecordId<'_>) -> Vec<String> {
        self.items
            .notifications(id)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.notification.kind)
            .collect()
    }
}

/// A sample payload with some top-level fields replaced.
fn sample(path: &str, changes: &[(&str, Value)]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&testkit::payload(path)).unwrap();
    for (field, new) in changes {
        value[*field] = new.clone();
    }
    serde_json::to_vec_pretty(&value).unwrap()
}

/// A queue message for `body` as the ingress would enqueue it, under an explicit key.
fn queued(source: &str, key: &str, body: &[u8]) -> QueueRecord {
    let registry = senders::builtin();
    let payload = registry.get(source).unwrap();
    let event = payload.parse(body).unwrap();
    let meta = EnvelopeMeta::for_event(source, key, payload.as_ref(), event.as_ref(), None, NOW_MS);
    QueueRecord {
        message_id: format!("sqs-{key}-{}", testkit::unique("m")),
        body: meta.encode(std::str::from_utf8(body).unwrap()).unwrap(),
    }
}

fn s(value: &AttributeValue) -> &str {
    value.as_s().unwrap()
}

/// Sample file, then the expected state, verdict and notification kind.
type Expected = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

#[tokio::test]
async fn each_legitmark_state_and_event_type_produces_its_documented_record_and_notification() {
    let pipeline = Pipeline::new().await;
    let table: [Expected; 15] = [
        ("state_change_draft", Some("DRAFT/"), None, None),
        ("state_change_qc_pending", Some("QC/PENDING"), None, None),
        ("state_change_qc_rejected", Some("QC/REJECTED"), None, None),
        (
            "media_rejected",
            Some("QC/REJECTED"),
            None,
            Some("reupload_requested"),
        ),
        (
            "state_change_qc_approved",
            Some("QC/APPROVED"),
            None,
            Some("photos_passed_qc"),
        ),
        ("state_change_qc_complete", Some("QC/COMPLETE"), None, None),
        (
            "state_change_underway_pending",
            Some("UNDERWAY/PENDING"),
            None,
            None,
        ),
        (
            "state_change_underway_assigned",
            Some("UNDERWAY/ASSIGNED"),
            None,
            Some("authenticator_assigned"),
        ),
        (
            "state_change_underway_approved",
            Some("UNDERWAY/APPROVED"),
            None,
            None,
        ),
        (
            "state_change_complete_approved",
            Some("COMPLETE/APPROVED"),
            Some("AUTHENTIC"),
            Some("authentication_passed"),
        ),
        (
            "state_change_complete_rejected",
            Some("COMPLETE/REJECTED"),
            Some("COUNTERFEIT"),
            Some("authentication_failed"),
        ),
        (
            "state_change_complete_complete",
            Some("COMPLETE/COMPLETE"),
            None,
            None,
        ),
        (
            "state_change_cancelled",
            Some("CANCELLED/"),
            Some("CANCELLED"),
            Some("request_cancelled"),
        ),
        (
            "invalidate_sr",
            Some("CANCELLED/"),
            Some("CANCELLED"),
            Some("request_cancelled"),
        ),
        ("unknown_event_type", None, None, None),
    ];

    for (file, _, _, _) in &table {
        let body = sample(
            &format!("legitmark/{file}.json"),
            &[("reference_id", json!(file))],
        );
        pipeline
            .deliver("legitmark", &format!("msg_{file}"), &body)
            .await;
    }
    pipeline.drain_through_consumer().await;

    let records = pipeline.stack.scan(&pipeline.stack.items_table).await;
    for (file, state, verdict, notification) in table {
        let record = records
            .iter()
            .find(|r| s(&r["pk"]) == item_pk(file) && s(&r["sk"]) == "record")
            .unwrap_or_else(|| panic!("{file}: no record"));
        assert_eq!(record.get("state").map(s), state, "{file}");
        assert_eq!(record.get("verdict").map(s), verdict, "{file}");
        let kinds = pipeline.notification_kinds(item_id(file)).await;
        assert_eq!(
            kinds,
            notification
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            "{file}"
        );
        assert_eq!(pipeline.item(file).await.timeline.len(), 1, "{file}");
    }
    let media = pipeline.item("media_rejected").await;
    assert_eq!(media.reupload_requests.len(), 2);
    assert!(
        pipeline
            .item("invalidate_sr")
            .await
            .invalidation_reason
            .is_some()
    );
    let events = pipeline.stack.scan(&pipeline.stack.events_table).await;
    assert!(events.iter().all(|e| s(&e["status"]) == "PROCESSED"));
}

#[tokio::test]
async fn sample_without_reference_id_is_kept_under_its_service_request() {
    let pipeline = Pipeline::new().await;
    let body = testkit::payload("legitmark/reference_id_null.json");
    let sr_uuid = serde_json::from_slice::<Value>(&body).unwrap()["sr_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    pipeline.deliver("legitmark", "msg_null_ref", &body).await;
    pipeline.drain_through_consumer().await;

    assert_eq!(pipeline.item(&sr_uuid).await.sr_uuid, sr_uuid);
}

#[tokio::test]
async fn each_cr3dentials_outcome_produces_its_record_and_notification() {
    let pipeline = Pipeline::new().await;
    let table = [
        ("verification_completed", 9001, "verification_completed"),
        ("verification_failed", 9002, "verification_failed"),
        ("verification_expired", 9003, "verification_expired"),
        ("manual_review_completed", 9004, "verification_completed"),
    ];

    for (file, session, _) in table {
        let mut value: Value =
            serde_json::from_slice(&testkit::payload(&format!("cr3dentials/{file}.json"))).unwrap();
        value["data"]["sessionId"] = json!(session);
        pipeline
            .deliver("cr3dentials", "-", &serde_json::to_vec(&value).unwrap())
            .await;
    }
    pipeline.drain_through_consumer().await;

    for (file, session, kind) in table {
        let subject = session.to_string();
        let id = RecordId {
            kind: "verification",
            subject: &subject,
        };
        let stored = pipeline.items.load(id).await.unwrap().unwrap();
        let record: VerificationRecord = serde_json::from_str(&stored.json).unwrap();
        assert_eq!(record.session_id, session.to_string(), "{file}");
        assert_eq!(
            pipeline.notification_kinds(id).await,
            vec![kind.to_owned()],
            "{file}"
        );
    }
}

#[tokio::test]
async fn one_message_delivered_three_times_gives_one_notification_and_one_timeline_entry() {
    let pipeline = Pipeline::new().await;
    let body = sample(
        "legitmark/state_change_complete_approved.json",
        &[("reference_id", json!("thrice"))],
    );
    let message = queued("legitmark", "id:msg_thrice", &body);

    for _ in 0..3 {
        assert!(
            pipeline
                .consumer
                .process_batch(vec![message.clone()])
                .await
                .is_empty()
        );
    }

    assert_eq!(
        pipeline.notification_kinds(item_id("thrice")).await,
        vec!["authentication_passed"]
    );
    assert_eq!(pipeline.item("thrice").await.timeline.len(), 1);
}

/// The lifecycle of the issue: QC PENDING, QC REJECTED, media_rejected, QC PENDING again, QC
/// APPROVED, UNDERWAY ASSIGNED, COMPLETE APPROVED, with rising timestamps.
fn lifecycle(item: &str) -> Vec<QueueRecord> {
    let steps = [
        ("state_change_qc_pending", "2026-03-01T09:00:00Z"),
        ("state_change_qc_rejected", "2026-03-01T09:05:00Z"),
        ("media_rejected", "2026-03-01T09:06:00Z"),
        ("state_change_qc_pending", "2026-03-01T10:00:00Z"),
        ("state_change_qc_approved", "2026-03-01T10:05:00Z"),
        ("state_change_underway_assigned", "2026-03-01T11:00:00Z"),
        ("state_change_complete_approved", "2026-03-01T12:00:00Z"),
    ];
    steps
        .iter()
        .enumerate()
        .map(|(i, (file, at))| {
            let body = sample(
                &format!("legitmark/{file}.json"),
                &[("reference_id", json!(item)), ("timestamp", json!(at))],
            );
            queued("legitmark", &format!("id:step{i}"), &body)
        })
        .collect()
}

/// A deterministic shuffle (xorshift), so a failing permutation can be reproduced from its seed.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.swap(i, (state % (i as u64 + 1)) as usize);
    }
    out
}

fn normalised(mut record: ItemRecord) -> ItemRecord {
    record.item_id = "item".into();
    record.reference_id = Some("item".into());
    record
}

#[tokio::test]
async fn hundred_random_permutations_of_a_lifecycle_end_in_the_in_order_state() {
    let pipeline = Pipeline::new().await;
    for message in lifecycle("in-order") {
        assert!(
            pipeline
                .consumer
                .process_batch(vec![message])
                .await
                .is_empty()
        );
    }
    let expected = normalised(pipeline.item("in-order").await);
    assert_eq!(serde_json::to_value(expected.verdict).unwrap(), "AUTHENTIC");
    assert!(expected.reupload_requests.is_empty());

    let runs = (0..100u64).map(|seed| {
        let pipeline = &pipeline;
        async move {
            let item = format!("perm-{seed}");
            for message in shuffled(&lifecycle(&item), seed) {
                assert!(
                    pipeline
                        .consumer
                        .process_batch(vec![message])
                        .await
                        .is_empty()
                );
            }
            (seed, normalised(pipeline.item(&item).await))
        }
    });
    for (seed, record) in futures::future::join_all(runs).await {
        assert_eq!(record, expected, "permutation seed {seed}");
    }
}

#[tokio::test]
async fn two_qc_rejection_rounds_yield_two_reupload_notifications() {
    let pipeline = Pipeline::new().await;
    let rounds = [
        ("state_change_qc_pending", "2026-03-01T09:00:00Z"),
        ("state_change_qc_rejected", "2026-03-01T09:05:00Z"),
        ("media_rejected", "2026-03-01T09:06:00Z"),
        ("state_change_qc_pending", "2026-03-01T10:00:00Z"),
        ("state_change_qc_rejected", "2026-03-01T10:05:00Z"),
        ("media_rejected", "2026-03-01T10:06:00Z"),
        ("state_change_qc_approved", "2026-03-01T11:00:00Z"),
    ];

    for (i, (file, at)) in rounds.iter().enumerate() {
        let body = sample(
            &format!("legitmark/{file}.json"),
            &[
                ("reference_id", json!("two-rounds")),
                ("timestamp", json!(at)),
            ],
        );
        pipeline
            .deliver("legitmark", &format!("msg_round_{i}"), &body)
            .await;
    }
    pipeline.drain_through_consumer().await;

    let kinds = pipeline.notification_kinds(item_id("two-rounds")).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "reupload_requested").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        pipeline
            .item("two-rounds")
            .await
            .state
            .unwrap()
            .primary
            .as_str(),
        "QC"
    );
}

/// Once, answers the write `at` with an error after it took effect: the state a process dying
/// right after that write leaves behind.
fn fail_once_after(
    at: &'static str,
    fired: Arc<AtomicBool>,
) -> impl Fn(&'static str, &str) -> Result<(), StoreError> + Clone + Send + Sync {
    move |operation, _| {
        if operation == at && !fired.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                operation,
                message: "process died after this write".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_crash_after_any_write_is_repaired_by_the_redelivery_applying_once_and_notifying_once() {
    let pipeline = Pipeline::new().await;
    for step in ["put_notification", "save", "mark_done"] {
        let item = format!("crash-{step}");
        let body = sample(
            "legitmark/state_change_complete_approved.json",
            &[("reference_id", json!(item))],
        );
        pipeline.deliver("legitmark", &item, &body).await;
        let message = pipeline.stack.drain(&pipeline.stack.queues.queue_url).await;
        let record = QueueRecord {
            message_id: message[0].message_id().unwrap().to_owned(),
            body: message[0].body().unwrap().to_owned(),
        };
        let fired = Arc::new(AtomicBool::new(false));
        let hook = fail_once_after(step, fired.clone());
        let crashing = Consumer::new(
            AfterWrites::new(
                ItemsTable::from_sdk_config(
                    &pipeline.stack.aws,
                    pipeline.stack.items_table.clone(),
                ),
                hook.clone(),
            ),
            AfterWrites::new(
                EventsTable::from_sdk_config(
                    &pipeline.stack.aws,
                    pipeline.stack.events_table.clone(),
                ),
                hook,
            ),
        );

        let first = crashing.process_batch(vec![record.clone()]).await;
        let redelivered = crashing.process_batch(vec![record.clone()]).await;

        assert!(fired.load(Ordering::SeqCst), "{step}");
        assert_eq!(first, vec![record.message_id.clone()], "{step}");
        assert!(redelivered.is_empty(), "{step}");
        let key = format!("id:{item}");
        let entries = pipeline.item(&item).await.timeline;
        assert_eq!(entries.iter().filter(|e| e.key == key).count(), 1, "{step}");
        assert_eq!(
            pipeline.notification_kinds(item_id(&item)).await,
            vec!["authentication_passed"],
            "{step}"
        );
        let events = pipeline.stack.scan(&pipeline.stack.events_table).await;
        let stored = events
            .iter()
            .find(|e| s(&e["pk"]) == format!("legitmark#{key}"))
            .unwrap();
        assert_eq!(s(&stored["status"]), "PROCESSED", "{step}");
    }
}

async fn break_item(pipeline: &Pipeline, item: &str) {
    pipeline
        .stack
        .dynamo()
        .put_item()
        .table_name(&pipeline.stack.items_table)
        .item("pk", AttributeValue::S(item_pk(item)))
        .item("sk", AttributeValue::S("record".into()))
        .item("record", AttributeValue::S("not a record".into()))
        .item("version", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn batch_with_one_failing_record_reports_exactly_that_message() {
    let pipeline = Pipeline::new().await;
    break_item(&pipeline, "broken").await;
    let good = |item: &str| {
        queued(
            "legitmark",
            &format!("id:{item}"),
            &sample(
                "legitmark/state_change_qc_approved.json",
                &[("reference_id", json!(item))],
            ),
        )
    };
    let failing = queued(
        "legitmark",
        "id:broken",
        &sample(
            "legitmark/state_change_qc_approved.json",
            &[("reference_id", json!("broken"))],
        ),
    );
    let batch = vec![good("first"), failing.clone(), good("second")];

    let failed = pipeline.invoke(batch).await;

    assert_eq!(failed, vec![failing.message_id]);
    assert!(pipeline.item("first").await.state.is_some());
    assert!(pipeline.item("second").await.state.is_some());
}

#[tokio::test]
async fn poison_is_quarantined_and_a_persistent_failure_reaches_the_dlq_while_others_are_processed()
{
    let pipeline = Pipeline::new().await;
    break_item(&pipeline, "broken").await;
    let sqs = pipeline.stack.sqs();
    let send = |body: String| {
        let sqs = sqs.clone();
        let url = pipeline.stack.queues.queue_url.clone();
        async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .unwrap()
                .message_id
                .unwrap()
        }
    };
    let poison_id = send("{not an envelope".into()).await;
    send(
        queued(
            "legitmark",
            "id:broken",
            &sample(
                "legitmark/state_change_qc_approved.json",
                &[("reference_id", json!("broken"))],
            ),
        )
        .body,
    )
    .await;
    for item in ["ok-1", "ok-2", "ok-3"] {
        send(
            queued(
                "legitmark",
                &format!("id:{item}"),
                &sample(
                    "legitmark/state_change_complete_approved.json",
                    &[("reference_id", json!(item))],
                ),
            )
            .body,
        )
        .await;
    }

    pipeline.drain_through_consumer().await;

    for item in ["ok-1", "ok-2", "ok-3"] {
        assert_eq!(
            serde_json::to_value(pipeline.item(item).await.verdict).unwrap(),
            "AUTHENTIC"
        );
    }
    let dead = pipeline.stack.drain(&pipeline.stack.queues.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body().unwrap().contains("\"id:broken\""));
    let events = pipeline.stack.scan(&pipeline.stack.events_table).await;
    let poison = events
        .iter()
        .find(|e| s(&e["pk"]) == format!("queue#sqs:{poison_id}"))
        .expect("poison message quarantined");
    assert_eq!(s(&poison["status"]), "QUARANTINED");
}

#[tokio::test]
async fn every_sqs_batch_file_in_events_is_applied_without_failures() {
    let pipeline = Pipeline::new().await;
    let dir = testkit::repo_root().join("events/consumer");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());

    for path in files {
        let event: SqsEvent = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let response = consumer::handle(
            &pipeline.consumer,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap();

        assert!(response.batch_item_failures.is_empty(), "{path:?}");
    }
    assert!(pipeline.item("item-10042").await.timeline.len() > 1);
}
