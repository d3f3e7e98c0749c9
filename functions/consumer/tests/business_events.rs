//! Business events against real DynamoDB, SQS and EventBridge protocol servers (moto, started by
//! `make test`): the consumer applies queue messages, publishes through the outbox to a bus, and a
//! rule on the bus delivers every event to a tap queue, where these tests read exactly what a
//! user's rule target would receive and validate it against `docs/events/*.schema.json`.
//!
//! The faults are real ones where moto can give them (a `PutEvents` call to a bus that does not
//! exist fails as a whole; an entry without a detail-type is refused while the others of the call
//! are accepted) and port decorators where a crash is the fault.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use webhook_aws::{EventBridgeBus, EventsTable, ItemsTable};
use webhook_core::clock::Clock;
use webhook_core::consumer::{self, Consumer, QueueRecord};
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ports::{BusError, BusinessEvent, EventBus, RecordId, StoreError};
use webhook_core::senders;
use webhook_tools::hooks::AfterWrites;
use webhook_tools::provision;
use webhook_tools::testkit::{self, Stack, TEST_SOURCE_PREFIX};

const NOW_MS: i64 = 1_790_000_000_000;

/// Each sample, its sender, and the detail-type it must produce.
const SAMPLES: [(&str, &str, &str); 16] = [
    (
        "legitmark",
        "state_change_complete_approved.json",
        "Item Authenticated",
    ),
    (
        "legitmark",
        "state_change_complete_rejected.json",
        "Item Counterfeit",
    ),
    ("legitmark", "media_rejected.json", "Photos Rejected"),
    ("legitmark", "media_rejected_v2.json", "Photos Rejected"),
    (
        "legitmark",
        "state_change_qc_approved.json",
        "Photos Approved",
    ),
    (
        "legitmark",
        "state_change_underway_assigned.json",
        "Authentication Started",
    ),
    (
        "legitmark",
        "invalidate_sr.json",
        "Authentication Cancelled",
    ),
    (
        "legitmark",
        "invalidate_sr_v2.json",
        "Authentication Cancelled",
    ),
    (
        "cr3dentials",
        "verification_completed.json",
        "Verification Completed",
    ),
    (
        "cr3dentials",
        "verification_failed.json",
        "Verification Failed",
    ),
    (
        "cr3dentials",
        "verification_expired.json",
        "Verification Expired",
    ),
    ("cr3dentials", "session_completed.json", "Session Completed"),
    (
        "cr3dentials",
        "session_partial_complete.json",
        "Session Partially Completed",
    ),
    ("cr3dentials", "session_error.json", "Session Failed"),
    ("cr3dentials", "session_cancelled.json", "Session Cancelled"),
    (
        "cr3dentials",
        "session_terminated.json",
        "Session Terminated",
    ),
];

/// A queue message carrying the sample `file` of `source`, as the ingress enqueues it.
fn message(source: &str, file: &str, message_id: &str) -> (QueueRecord, EnvelopeMeta) {
    let body = testkit::payload(&format!("{source}/{file}"));
    let registry = senders::builtin();
    let payload = registry.get(source).unwrap();
    let parsed = payload.parse(&body).unwrap();
    let id = (source == "legitmark").then_some(message_id);
    let key = parsed.key(id);
    let meta = EnvelopeMeta::for_event(
        source,
        key.as_str(),
        payload.as_ref(),
        parsed.as_ref(),
        id,
        NOW_MS,
    );
    let envelope = meta.encode(std::str::from_utf8(&body).unwrap()).unwrap();
    let record = QueueRecord {
        message_id: format!("sqs-{message_id}"),
        body: envelope,
    };
    (record, meta)
}

fn clock() -> Clock {
    Arc::new(|| NOW_MS)
}

/// A fresh items table on the stack's moto (so each sample starts from no record).
async fn items_table(stack: &Stack) -> ItemsTable {
    let name = testkit::unique("items");
    provision::ensure_table(&stack.dynamo(), &name, provision::ITEMS_TABLE)
        .await
        .unwrap();
    ItemsTable::from_sdk_config(&stack.aws, name)
}

fn events_table(stack: &Stack) -> EventsTable {
    EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone())
}

fn consumer<B: EventBus>(
    stack: &Stack,
    items: ItemsTable,
    bus: B,
) -> Consumer<EventsTable, ItemsTable, B> {
    Consumer::new(items, events_table(stack))
        .with_clock(clock())
        .with_bus(bus)
}

/// Every event on the tap so far, by event id (each id with its copies).
async fn tapped_by_id(stack: &Stack) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for event in stack.tapped().await {
        let id = event["detail"]["event_id"].as_str().unwrap().to_owned();
        by_id.entry(id).or_default().push(event);
    }
    by_id
}

/// The published state of the notification of `meta`'s event.
async fn published(items: &ItemsTable, kind: &str, meta: &EnvelopeMeta) -> Option<i64> {
    use webhook_core::ports::RecordsStore;
    items
        .notification(
            RecordId {
                kind,
                subject: &meta.subject,
            },
            &meta.key,
        )
        .await
        .unwrap()
        .expect("the notification is stored")
        .published_at_ms
}

fn schema_for(detail_type: &str) -> jsonschema::Validator {
    let file = format!(
        "{}/docs/events/{}.schema.json",
        testkit::repo_root().display(),
        detail_type.to_ascii_lowercase().replace(' ', "-")
    );
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}"))
}

#[tokio::test]
async fn every_notification_kind_arrives_once_as_documented() {
    let stack = Stack::new(30).await;
    let mut expected = BTreeMap::new();
    for (n, (source, file, detail_type)) in SAMPLES.iter().enumerate() {
        let items = items_table(&stack).await;
        let consumer = consumer(&stack, items.clone(), stack.event_bus());
        let (record, meta) = message(source, file, &format!("msg_{n}"));
        assert!(
            consumer.process_batch(vec![record]).await.is_empty(),
            "{file} failed"
        );
        let kind = senders::builtin().get(source).unwrap().record_kind();
        assert!(
            published(&items, kind, &meta).await.is_some(),
            "{file}: not marked published"
        );
        expected.insert(
            consumer::event_id(source, &meta.key),
            (*source, *file, *detail_type),
        );
    }

    let tapped = tapped_by_id(&stack).await;
    assert_eq!(
        tapped.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "one distinct event id per sample, none other"
    );
    for (id, copies) in &tapped {
        let (source, file, detail_type) = expected[id];
        assert_eq!(copies.len(), 1, "{file}: {} copies", copies.len());
        let event = &copies[0];
        assert_eq!(
            event["source"],
            format!("{TEST_SOURCE_PREFIX}.{source}"),
            "{file}"
        );
        assert_eq!(event["detail-type"], detail_type, "{file}");
        let detail = &event["detail"];
        let errors: Vec<String> = schema_for(detail_type)
            .iter_errors(detail)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        assert_eq!(detail["source"], *source, "{file}");
        let text = detail.to_string();
        for secret in ["whsec_", "signature", "extractedData", "extracted_data"] {
            assert!(
                !text.contains(secret),
                "{file}: the detail carries {secret}"
            );
        }
    }
    let kinds: std::collections::BTreeSet<&str> = SAMPLES
        .iter()
        .map(|(_, _, detail_type)| *detail_type)
        .collect();
    let documented = std::fs::read_dir(testkit::repo_root().join("docs/events"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".schema.json")
        })
        .count();
    assert_eq!(
        kinds.len(),
        documented,
        "every documented detail-type is exercised"
    );
}

#[tokio::test]
async fn a_replayed_or_redelivered_webhook_publishes_nothing_new() {
    let stack = Stack::new(30).await;
    let items = items_table(&stack).await;
    let consumer = consumer(&stack, items, stack.event_bus());
    let (record, meta) = message("legitmark", "media_rejected.json", "msg_replayed");

    assert!(
        consumer
            .process_batch(vec![record.clone()])
            .await
            .is_empty()
    );
    // A redelivery, then a replay (the same envelope under the original key, new message id).
    assert!(
        consumer
            .process_batch(vec![record.clone()])
            .await
            .is_empty()
    );
    let replay = QueueRecord {
        message_id: "sqs-replay".to_owned(),
        ..record
    };
    assert!(consumer.process_batch(vec![replay]).await.is_empty());

    let tapped = tapped_by_id(&stack).await;
    assert_eq!(tapped.len(), 1);
    assert_eq!(tapped[&consumer::event_id("legitmark", &meta.key)].len(), 1);
}

/// A hook that fails the consumer right after `operation`'s write, as a process that died there.
fn crash_after(operation: &'static str) -> impl Fn(&'static str, &str) -> Result<(), StoreError> {
    move |op, _key| {
        if op == operation {
            Err(StoreError::Unavailable {
                operation: "crash",
                message: format!("process died after {op}"),
            })
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_crash_between_the_notification_write_and_put_events_still_publishes_once() {
    for operation in ["put_notification", "save"] {
        let stack = Stack::new(30).await;
        let items = items_table(&stack).await;
        let (record, meta) = message("cr3dentials", "verification_completed.json", "msg_crash");

        let crashing = Consumer::new(
            AfterWrites::new(items.clone(), crash_after(operation)),
            events_table(&stack),
        )
        .with_clock(clock())
        .with_bus(stack.event_bus());
        assert_eq!(
            crashing.process_batch(vec![record.clone()]).await,
            vec![record.message_id.clone()],
            "the crash after {operation} fails the message"
        );
        assert_eq!(published(&items, "verification", &meta).await, None);
        assert!(
            stack.tapped().await.is_empty(),
            "nothing published before the crash"
        );

        // SQS redelivers the message to a healthy consumer.
        let healthy = consumer(&stack, items.clone(), stack.event_bus());
        assert!(healthy.process_batch(vec![record]).await.is_empty());
        assert!(published(&items, "verification", &meta).await.is_some());
        let tapped = tapped_by_id(&stack).await;
        assert_eq!(tapped.len(), 1, "after {operation}: one id");
        let copies = &tapped[&consumer::event_id("cr3dentials", &meta.key)];
        assert_eq!(copies.len(), 1, "after {operation}: one copy");
    }
}

#[tokio::test]
async fn a_failed_put_events_call_leaves_the_event_unpublished_until_the_redelivery() {
    let stack = Stack::new(30).await;
    let items = items_table(&stack).await;
    let (record, meta) = message(
        "legitmark",
        "state_change_complete_approved.json",
        "msg_down",
    );

    // moto refuses the whole call: the bus does not exist.
    let missing = EventBridgeBus::from_sdk_config(
        &stack.aws,
        testkit::unique("no-such-bus"),
        TEST_SOURCE_PREFIX,
    );
    let failing = consumer(&stack, items.clone(), missing);
    assert_eq!(
        failing.process_batch(vec![record.clone()]).await,
        vec![record.message_id.clone()]
    );
    assert_eq!(
        published(&items, "item", &meta).await,
        None,
        "unpublished and visible"
    );
    assert!(stack.tapped().await.is_empty());

    let healthy = consumer(&stack, items.clone(), stack.event_bus());
    assert!(healthy.process_batch(vec![record]).await.is_empty());
    assert!(published(&items, "item", &meta).await.is_some());
    let tapped = tapped_by_id(&stack).await;
    assert_eq!(tapped.len(), 1);
    assert_eq!(tapped.values().next().unwrap().len(), 1);
}

/// The stack's bus, but the entry of one event is sent without a detail-type `times` times, which
/// moto refuses for that entry alone while accepting the others of the call.
#[derive(Clone)]
struct Spoiling {
    inner: EventBridgeBus,
    event_id: Arc<Mutex<String>>,
    times: Arc<AtomicU32>,
}

impl EventBus for Spoiling {
    async fn publish(&self, events: &[BusinessEvent]) -> Result<Vec<Result<(), String>>, BusError> {
        let target = self.event_id.lock().unwrap().clone();
        let entries: Vec<BusinessEvent> = events
            .iter()
            .map(|event| {
                let spoil = event.event_id == target
                    && self
                        .times
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
                        .is_ok();
                BusinessEvent {
                    detail_type: if spoil {
                        String::new()
                    } else {
                        event.detail_type.clone()
                    },
                    ..event.clone()
                }
            })
            .collect();
        self.inner.publish(&entries).await
    }
}

#[tokio::test]
async fn one_refused_entry_of_several_is_retried_and_never_gets_a_second_id() {
    for (refusals, fails) in [(1, false), (3, true)] {
        let stack = Stack::new(30).await;
        let items = items_table(&stack).await;
        let batch: Vec<(QueueRecord, EnvelopeMeta)> = [
            ("legitmark", "media_rejected.json"),
            ("cr3dentials", "verification_failed.json"),
            ("cr3dentials", "session_completed.json"),
        ]
        .iter()
        .enumerate()
        .map(|(n, (source, file))| message(source, file, &format!("msg_several_{n}")))
        .collect();
        let spoiled = consumer::event_id("cr3dentials", &batch[1].1.key);
        let bus = Spoiling {
            inner: stack.event_bus(),
            event_id: Arc::new(Mutex::new(spoiled.clone())),
            times: Arc::new(AtomicU32::new(refusals)),
        };
        let consumer = consumer(&stack, items.clone(), bus);
        let failed = consumer
            .process_batch(batch.iter().map(|(r, _)| r.clone()).collect())
            .await;
        if fails {
            assert_eq!(
                failed,
                vec![batch[1].0.message_id.clone()],
                "only the refused entry's message fails"
            );
            assert_eq!(published(&items, "verification", &batch[1].1).await, None);
            // Its redelivery publishes it.
            assert!(
                consumer
                    .process_batch(vec![batch[1].0.clone()])
                    .await
                    .is_empty()
            );
        } else {
            assert!(
                failed.is_empty(),
                "the refused entry was retried in the same batch"
            );
        }
        let tapped = tapped_by_id(&stack).await;
        let expected: Vec<String> = batch
            .iter()
            .map(|(_, meta)| consumer::event_id(&meta.source, &meta.key))
            .collect();
        assert_eq!(tapped.len(), 3, "{refusals} refusals: {:?}", tapped.keys());
        for id in &expected {
            assert_eq!(tapped[id].len(), 1, "{refusals} refusals: copies of {id}");
        }
        for (_, meta) in &batch {
            let kind = senders::builtin().get(&meta.source).unwrap().record_kind();
            assert!(published(&items, kind, meta).await.is_some());
        }
    }
}

#[test]
fn every_schema_example_is_a_valid_detail_of_its_detail_type() {
    let dir = testkit::repo_root().join("docs/events");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".schema.json") else {
            continue;
        };
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let detail_type = schema["title"].as_str().unwrap();
        assert_eq!(
            detail_type.to_ascii_lowercase().replace(' ', "-"),
            stem,
            "{name}: the file is named after its detail-type"
        );
        let examples = schema["examples"].as_array().unwrap();
        assert!(!examples.is_empty(), "{name} has no example");
        let validator = schema_for(detail_type);
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            let mut extra = example.clone();
            extra["unexpected"] = Value::Bool(true);
            assert!(
                !validator.is_valid(&extra),
                "{name} accepts an undocumented field"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 14);
}
