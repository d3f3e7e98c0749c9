//! `webhookctl bus watch`, and the business event state `show` and `dlq inspect` report, against
//! real DynamoDB, SQS and EventBridge protocol servers (moto, started by `make test`): events are
//! taken in by the ingress and applied by a consumer that publishes on the stack's bus (or, for
//! the unpublished cases, one with no bus), then the binary is run as a person or a script would.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use webhook_aws::{EventBridgeBus, EventQueue, EventsTable, ItemsTable};
use webhook_core::clock::Clock;
use webhook_core::consumer::{Consumer, QueueRecord};
use webhook_core::headers::Headers;
use webhook_core::ingress::{Ingress, IngressRequest, RequestBody};
use webhook_core::ports::RecordId;
use webhook_tools::testkit::{self, Stack};

/// 2026-09-21T14:13:20Z; deliveries are placed in time relative to it.
const T0_MS: i64 = 1_790_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// Samples that each raise one notification, hence one business event, in this order, with the
/// message id each is delivered under.
const SAMPLES: [(&str, &str); 4] = [
    ("legitmark/state_change_draft.json", "msg_draft"),
    ("legitmark/media_rejected.json", "msg_rejected"),
    ("legitmark/state_change_complete_approved.json", "msg_done"),
    ("cr3dentials/verification_completed.json", ""),
];

const ITEM: RecordId<'static> = RecordId {
    kind: "item",
    subject: "item-10042",
};
const SESSION: RecordId<'static> = RecordId {
    kind: "verification",
    subject: "48213",
};

struct World {
    stack: Stack,
    items: ItemsTable,
}

impl World {
    async fn new() -> Self {
        let stack = Stack::new(30).await;
        let items = ItemsTable::from_sdk_config(&stack.aws, stack.items_table.clone());
        Self { stack, items }
    }

    fn events(&self) -> EventsTable {
        EventsTable::from_sdk_config(&self.stack.aws, self.stack.events_table.clone())
    }

    /// A consumer that publishes on the stack's bus.
    fn publishing(&self) -> Consumer<EventsTable, ItemsTable, EventBridgeBus> {
        Consumer::new(self.items.clone(), self.events()).with_bus(self.stack.event_bus())
    }

    /// A consumer with no bus: its business events stay unpublished in the outbox.
    fn unpublishing(&self) -> Consumer<EventsTable, ItemsTable> {
        Consumer::new(self.items.clone(), self.events())
    }

    /// Delivers the samples as their senders would, an hour apart.
    async fn deliver(&self, samples: &[(&str, &str)]) {
        for (n, (sample, message_id)) in samples.iter().enumerate() {
            let at_ms = T0_MS + i64::try_from(n).unwrap() * HOUR_MS;
            let clock: Clock = Arc::new(move || at_ms);
            let ingress = Ingress::new(
                testkit::ingress_config(&self.stack.events_table, &self.stack.queues.queue_url),
                self.events(),
                EventQueue::from_sdk_config(&self.stack.aws, self.stack.queues.queue_url.clone()),
            )
            .with_clock(clock);
            let body = testkit::payload(sample);
            let source = sample.split('/').next().unwrap();
            let headers = match source {
                "legitmark" => testkit::legitmark_headers(message_id, at_ms / 1000, &body),
                _ => testkit::cr3dentials_headers(&body),
            };
            let response = ingress
                .handle(
                    IngressRequest {
                        method: "POST".into(),
                        path: format!("/webhooks/{source}"),
                        headers: Headers::from_pairs(headers),
                        body: RequestBody::Bytes(body),
                    },
                    None,
                )
                .await;
            assert_eq!(response.status, 200, "{sample}: {}", response.body);
        }
    }

    /// Takes everything off the events queue, in the order it was sent.
    async fn queued(&self) -> Vec<QueueRecord> {
        self.stack
            .drain(&self.stack.queues.queue_url)
            .await
            .into_iter()
            .map(|m| QueueRecord {
                message_id: m.message_id().unwrap().to_owned(),
                body: m.body().unwrap().to_owned(),
            })
            .collect()
    }

    /// Delivers the samples and has a publishing consumer apply them, one batch per sample.
    async fn published(&self, samples: &[(&str, &str)]) {
        self.deliver(samples).await;
        let consumer = self.publishing();
        for record in self.queued().await {
            assert!(consumer.process_batch(vec![record]).await.is_empty());
        }
    }

    /// The event ids of the notifications stored for `id`.
    async fn event_ids(&self, id: RecordId<'_>) -> BTreeSet<String> {
        self.items
            .notifications(id)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.event.unwrap().event_id)
            .collect()
    }

    /// Runs `webhookctl` with this world's resources (the tap given by `tap`, a variable and its
    /// value); returns its exit success, stdout and stderr.
    fn run(&self, args: &[&str], tap: (&str, &str)) -> (bool, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_webhookctl"))
            .args(args)
            .env("EVENTS_TABLE", &self.stack.events_table)
            .env("ITEMS_TABLE", &self.stack.items_table)
            .env("QUEUE_URL", &self.stack.queues.queue_url)
            .env_remove("DLQ_URL")
            .env_remove("BUSINESS_EVENTS_QUEUE_URL")
            .env_remove("BUSINESS_EVENTS_QUEUE")
            .env(tap.0, tap.1)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    /// Runs `webhookctl` with the tap's URL in BUSINESS_EVENTS_QUEUE_URL, expecting success;
    /// its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) =
            self.run(args, ("BUSINESS_EVENTS_QUEUE_URL", &self.stack.bus.tap_url));
        assert!(ok, "webhookctl {args:?} failed: {stderr}");
        stdout
    }

    /// `webhookctl bus watch --json ...`: the events printed, one JSON document a line.
    fn watch_json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["bus", "watch", "--json"];
        all.extend(args);
        self.ok(&all)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// `webhookctl show ...` parsed.
    fn show(&self, args: &[&str]) -> Value {
        let mut all = vec!["show"];
        all.extend(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

fn detail_types(events: &[Value]) -> Vec<&str> {
    let mut types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    types
}

fn event_ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn watch_prints_every_published_event_once_as_eventbridge_delivered_it() {
    // given the samples applied by a consumer publishing on the bus
    let world = World::new().await;
    world.published(&SAMPLES).await;

    // when a script reads the tap, then reads it again
    let events = world.watch_json(&["--idle", "2"]);
    let again = world.watch_json(&["--idle", "1"]);

    // then each notification's business event came once, whole, and was taken off the tap
    assert_eq!(
        detail_types(&events),
        [
            "Item Authenticated",
            "Photos Rejected",
            "Verification Completed"
        ]
    );
    let mut stored: Vec<String> = world.event_ids(ITEM).await.into_iter().collect();
    stored.extend(world.event_ids(SESSION).await);
    stored.sort();
    assert_eq!(
        event_ids(&events),
        stored,
        "exactly the stored ones, once each"
    );
    for event in &events {
        let sender = event["detail"]["source"].as_str().unwrap();
        assert_eq!(event["source"], format!("webhooks.{sender}"));
        assert!(
            event["id"].is_string() && event["time"].is_string(),
            "{event}"
        );
        assert!(event["detail"]["message"].is_string(), "{event}");
    }
    assert!(again.is_empty(), "deleted once printed: {again:?}");
    assert!(world.stack.tapped().await.is_empty());
}

#[tokio::test]
async fn watch_prints_one_line_a_person_reads() {
    // given one Photos Rejected event on the tap
    let world = World::new().await;
    world
        .published(&[("legitmark/media_rejected.json", "msg_rejected")])
        .await;
    let stored = world.items.notifications(ITEM).await.unwrap();
    let event = stored[0].event.clone().unwrap();
    let detail: Value = serde_json::from_str(&event.detail).unwrap();

    // when a person watches the bus
    let stdout = world.ok(&["bus", "watch", "--count", "1", "--idle", "10"]);

    // then the line says when, what, where from, which event and the message
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let fields: Vec<&str> = lines[0].split("  ").collect();
    assert_eq!(
        fields,
        [
            detail["occurred_at"].as_str().unwrap(),
            "Photos Rejected",
            "webhooks.legitmark",
            &format!("event_id={}", event.event_id),
            detail["message"].as_str().unwrap(),
        ]
    );
    assert!(
        fields[4].starts_with("Re-upload the Front photo"),
        "{stdout}"
    );
}

#[tokio::test]
async fn watch_stops_after_count_and_finds_the_tap_by_name() {
    // given three events on the tap
    let world = World::new().await;
    world.published(&SAMPLES).await;
    let tap_name = world
        .stack
        .bus
        .tap_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    // when a script asks for two, naming the queue rather than giving its URL
    let (ok, stdout, stderr) = world.run(
        &["bus", "watch", "--json", "--count", "2", "--idle", "10"],
        ("BUSINESS_EVENTS_QUEUE", &tap_name),
    );

    // then it prints two, and the third waits on the tap
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert_eq!(world.stack.tapped().await.len(), 1);
}

#[tokio::test]
async fn watch_names_the_variables_it_needs() {
    let world = World::new().await;

    let (ok, _, stderr) = world.run(&["bus", "watch", "--idle", "1"], ("UNRELATED", "x"));

    assert!(!ok);
    assert!(
        stderr.contains("BUSINESS_EVENTS_QUEUE_URL") && stderr.contains("BUSINESS_EVENTS_QUEUE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn show_says_whether_each_business_event_was_published() {
    // given item-10042 applied by a publishing consumer, and session 48213 by one with no bus
    let world = World::new().await;
    world.published(&SAMPLES[..3]).await;
    world.deliver(&SAMPLES[3..]).await;
    assert!(
        world
            .unpublishing()
            .process_batch(world.queued().await)
            .await
            .is_empty()
    );

    // when an operator looks at both
    let item = world.show(&["item-10042"]);
    let session = world.show(&["48213", "--verification"]);

    // then the item's notifications are published, the session's is not
    let notifications = item["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 2, "{item}");
    for n in notifications {
        assert_eq!(n["published"], true, "{n}");
        assert!(n["published_at"].is_string(), "{n}");
        assert_eq!(n["event_id"].as_str().unwrap().len(), 32, "{n}");
        assert_eq!(n["business_event"], "published");
    }
    let types: BTreeSet<&str> = notifications
        .iter()
        .map(|n| n["detail_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["Item Authenticated", "Photos Rejected"])
    );
    let unpublished = &session["notifications"][0];
    assert_eq!(unpublished["published"], false, "{session}");
    assert!(unpublished["published_at"].is_null());
    assert_eq!(unpublished["detail_type"], "Verification Completed");
    assert!(unpublished["event_id"].is_string());
    assert_eq!(unpublished["business_event"], "not yet published");
}

#[tokio::test]
async fn show_says_a_notification_stored_before_the_bus_has_no_business_event() {
    // given an item with a notification as the consumer stored them before there was a bus
    let world = World::new().await;
    world.published(&SAMPLES[..1]).await;
    world
        .stack
        .dynamo()
        .put_item()
        .table_name(&world.stack.items_table)
        .item("pk", AttributeValue::S("item#item-10042".into()))
        .item("sk", AttributeValue::S("notification#id:msg_old".into()))
        .item("kind", AttributeValue::S("photos_passed_qc".into()))
        .item(
            "message",
            AttributeValue::S("The photos of item item-10042 passed QC.".into()),
        )
        .item("notification", AttributeValue::S("{}".into()))
        .item("event_key", AttributeValue::S("id:msg_old".into()))
        .item("created_at", AttributeValue::N(T0_MS.to_string()))
        .send()
        .await
        .unwrap();

    let item = world.show(&["item-10042"]);

    let old = item["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["event_key"] == "id:msg_old")
        .unwrap_or_else(|| panic!("{item}"));
    assert_eq!(old["published"], false);
    assert!(old["event_id"].is_null() && old["detail_type"].is_null());
    assert!(old["published_at"].is_null());
    assert_eq!(old["business_event"], "none (stored before the bus)");
}

#[tokio::test]
async fn dlq_inspect_says_which_dead_letters_left_their_business_event_unpublished() {
    // given two events whose messages went to the dead-letter queue after they were applied: one
    // by a consumer with no bus (unpublished), one by a publishing consumer
    let world = World::new().await;
    world.deliver(&SAMPLES[1..2]).await;
    let unpublished = world.queued().await;
    assert!(
        world
            .unpublishing()
            .process_batch(unpublished.clone())
            .await
            .is_empty()
    );
    world.deliver(&SAMPLES[3..]).await;
    let published = world.queued().await;
    assert!(
        world
            .publishing()
            .process_batch(published.clone())
            .await
            .is_empty()
    );
    for record in unpublished.iter().chain(&published) {
        world
            .stack
            .sqs()
            .send_message()
            .queue_url(&world.stack.queues.dlq_url)
            .message_body(&record.body)
            .send()
            .await
            .unwrap();
    }

    // when an operator inspects the dead-letter queue
    let stdout = world.ok(&["dlq", "inspect", "--json"]);

    // then each message says what became of its business event
    let seen: Value = serde_json::from_str(&stdout).unwrap();
    let state_of = |source: &str| {
        seen["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["source"] == source)
            .unwrap_or_else(|| panic!("{seen}"))["business_event"]
            .clone()
    };
    assert_eq!(state_of("legitmark"), "not yet published");
    assert_eq!(state_of("cr3dentials"), "published");
}
