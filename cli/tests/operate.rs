//! The on-call commands of `webhookctl` against real DynamoDB and SQS protocol servers (moto,
//! started by `make test`): events are taken in by the ingress and applied by the consumer as in
//! the deployed system, then the binary is run as an operator would run it.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use webhook_aws::{EventQueue, EventsTable, ItemsTable};
use webhook_core::clock::Clock;
use webhook_core::consumer::Consumer;
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::headers::Headers;
use webhook_core::ingress::{Ingress, IngressRequest, RequestBody};
use webhook_core::ports::{EventStatus, EventsLog, NewEvent, RecordId, RecordsStore};
use webhook_core::senders;
use webhook_tools::poller::Poller;
use webhook_tools::testkit::{self, Stack};

/// 2026-09-21T14:13:20Z; deliveries are placed in time relative to it.
const T0_MS: i64 = 1_790_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// Where the consumer keeps what it made of the item `subject`.
fn item(subject: &str) -> RecordId<'_> {
    RecordId {
        kind: "item",
        subject,
    }
}

struct World {
    stack: Stack,
    consumer: Consumer<EventsTable, ItemsTable>,
    items: ItemsTable,
}

impl World {
    async fn new() -> Self {
        let stack = Stack::new(30).await;
        let items = ItemsTable::from_sdk_config(&stack.aws, stack.items_table.clone());
        let consumer = Consumer::new(
            items.clone(),
            EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone()),
        );
        Self {
            stack,
            consumer,
            items,
        }
    }

    /// Delivers a sample as its sender would, received at `at_ms`.
    async fn deliver(&self, sample: &str, message_id: &str, at_ms: i64) {
        let clock: Clock = Arc::new(move || at_ms);
        let ingress = Ingress::new(
            testkit::ingress_config(&self.stack.events_table, &self.stack.queues.queue_url),
            EventsTable::from_sdk_config(&self.stack.aws, self.stack.events_table.clone()),
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

    /// Applies everything on the queue, as the event source mapping and the consumer would.
    async fn consume(&self) -> usize {
        let poller = Poller::new(self.stack.sqs(), self.stack.queues.queue_url.clone(), 10)
            .visibility_timeout(0);
        let mut applied = 0;
        loop {
            let stats = poller
                .poll_once(|records| self.consumer.process_batch(records))
                .await
                .unwrap();
            if stats.received == 0 {
                return applied;
            }
            assert_eq!(stats.failed, 0);
            applied += stats.received;
        }
    }

    async fn queue_depth(&self, url: &str) -> usize {
        self.stack.drain(url).await.len()
    }

    /// Runs `webhookctl` with this world's resources; returns its exit success and stdout.
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_webhookctl"))
            .args(args)
            .env("EVENTS_TABLE", &self.stack.events_table)
            .env("ITEMS_TABLE", &self.stack.items_table)
            .env("QUEUE_URL", &self.stack.queues.queue_url)
            .env_remove("DLQ_URL")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    /// Runs `webhookctl ... --json`, expecting success.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let (ok, stdout, stderr) = self.run(&args);
        assert!(ok, "webhookctl {args:?} failed: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    async fn notification_count(&self, subject: &str) -> usize {
        self.items.notifications(item(subject)).await.unwrap().len()
    }

    /// The stored record of the item `subject`, if any.
    async fn record(&self, subject: &str) -> Option<Value> {
        RecordsStore::load(&self.items, item(subject))
            .await
            .unwrap()
            .map(|stored| serde_json::from_str(&stored.json).unwrap())
    }
}

fn keys(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Three Legitmark events for item-10042 an hour apart, and one Cr3dentials event.
async fn seeded() -> World {
    let world = World::new().await;
    world
        .deliver("legitmark/state_change_draft.json", "msg_draft", T0_MS)
        .await;
    world
        .deliver(
            "legitmark/state_change_qc_pending.json",
            "msg_qc",
            T0_MS + HOUR_MS,
        )
        .await;
    world
        .deliver(
            "legitmark/state_change_complete_approved.json",
            "msg_done",
            T0_MS + 2 * HOUR_MS,
        )
        .await;
    world
        .deliver(
            "cr3dentials/verification_completed.json",
            "",
            T0_MS + 3 * HOUR_MS,
        )
        .await;
    world
}

#[tokio::test]
async fn list_filters_by_source_status_item_and_time_newest_first() {
    let world = seeded().await;

    let all = world.json(&["events", "list"]);
    let legitmark = world.json(&["events", "list", "--source", "legitmark"]);
    let item = world.json(&["events", "list", "--item", "item-10042"]);
    let window = world.json(&[
        "events",
        "list",
        "--since",
        "2026-09-21T15:00:00Z",
        "--until",
        "2026-09-21T17:00:00Z",
    ]);
    let limited = world.json(&["events", "list", "--limit", "1"]);

    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(all[0]["source"], "cr3dentials", "newest first");
    assert_eq!(
        keys(&legitmark),
        ["id:msg_done", "id:msg_qc", "id:msg_draft"]
    );
    assert_eq!(keys(&item), keys(&legitmark));
    assert_eq!(keys(&window), ["id:msg_done", "id:msg_qc"]);
    assert_eq!(keys(&limited), keys(&all)[..1]);

    world.consume().await;
    let processed = world.json(&["events", "list", "--status", "processed"]);
    let enqueued = world.json(&["events", "list", "--status", "ENQUEUED"]);
    assert_eq!(processed.as_array().unwrap().len(), 4);
    assert!(enqueued.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn list_rejects_a_time_it_cannot_read() {
    let world = World::new().await;

    let (ok, _, stderr) = world.run(&["events", "list", "--since", "yesterday"]);

    assert!(!ok);
    assert!(stderr.contains("neither RFC 3339"), "{stderr}");
}

#[tokio::test]
async fn show_gives_the_raw_body_headers_and_what_became_of_the_event() {
    let world = seeded().await;
    world.consume().await;

    let shown = world.json(&["events", "show", "legitmark", "id:msg_done"]);

    let body = testkit::payload("legitmark/state_change_complete_approved.json");
    assert_eq!(shown["body"].as_str().unwrap().as_bytes(), body.as_slice());
    assert_eq!(shown["status"], "PROCESSED");
    assert_eq!(shown["headers"]["svix-id"], "msg_done");
    let signature = shown["headers"]["svix-signature"].as_str().unwrap();
    assert!(signature.starts_with("(redacted"), "{signature}");
    let history: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["received", "processed"]);
    assert_eq!(shown["applied"].as_array().unwrap().len(), 1);
    assert_eq!(shown["notifications"].as_array().unwrap().len(), 1);

    let (ok, _, stderr) = world.run(&["events", "show", "legitmark", "id:nope"]);
    assert!(!ok && stderr.contains("no event id:nope"), "{stderr}");
}

#[tokio::test]
async fn replay_is_a_dry_run_until_executed_and_keeps_the_original_key() {
    let world = seeded().await;
    world.consume().await;

    let dry = world.json(&[
        "replay",
        "--source",
        "legitmark",
        "--key",
        "id:msg_qc",
        "--include-processed",
    ]);
    assert_eq!(dry["to_replay"], 1);
    assert_eq!(dry["replayed"], 0);
    assert_eq!(world.queue_depth(&world.stack.queues.queue_url).await, 0);

    let done = world.json(&[
        "replay",
        "--source",
        "legitmark",
        "--key",
        "id:msg_qc",
        "--include-processed",
        "--execute",
    ]);
    assert_eq!(done["replayed"], 1);
    let messages = world.stack.drain(&world.stack.queues.queue_url).await;
    assert_eq!(messages.len(), 1);
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["meta"]["key"], "id:msg_qc");
    assert_eq!(envelope["meta"]["message_id"], "msg_qc");
    assert_eq!(
        envelope["meta"]["received_at_ms"],
        T0_MS + HOUR_MS,
        "the original receipt time"
    );
}

#[tokio::test]
async fn replaying_applied_events_changes_nothing() {
    let world = seeded().await;
    world.consume().await;
    let record_before = world.record("item-10042").await;
    let notifications_before = world.notification_count("item-10042").await;

    let done = world.json(&[
        "replay",
        "--item",
        "item-10042",
        "--include-processed",
        "--execute",
    ]);
    let applied = world.consume().await;

    assert_eq!(done["replayed"], 3);
    assert_eq!(applied, 3, "the replays reached the consumer");
    let record_after = world.record("item-10042").await;
    assert!(record_before.is_some());
    assert_eq!(record_after, record_before);
    assert_eq!(
        world.notification_count("item-10042").await,
        notifications_before
    );
}

#[tokio::test]
async fn replay_skips_applied_events_by_default_and_sends_stuck_ones() {
    let world = seeded().await;
    // The consumer never saw these: their queue messages were lost (here, purged).
    world.stack.drain(&world.stack.queues.queue_url).await;

    let plan = world.json(&["replay", "--since", "2026-09-21T15:00:00Z"]);
    assert_eq!(plan["selected"], 3);
    assert_eq!(plan["to_replay"], 3);
    assert_eq!(plan["events"][0]["key"], "id:msg_qc", "oldest first");

    world.json(&["replay", "--since", "2026-09-21T15:00:00Z", "--execute"]);
    assert_eq!(world.consume().await, 3);

    let again = world.json(&["replay", "--since", "2026-09-21T15:00:00Z"]);
    assert_eq!(again["to_replay"], 0);
    assert!(
        again["events"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("already applied")
    );
}

/// What an ingress whose parser did not know a payload's shape left behind: the authentic bytes,
/// archived as QUARANTINED, never queued.
async fn quarantined_by_an_older_parser(world: &World, sample: &str, key: &str) {
    let body = testkit::payload(sample);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let headers = Headers::default();
    EventsTable::from_sdk_config(&world.stack.aws, world.stack.events_table.clone())
        .claim(&NewEvent {
            source: sample.split('/').next().unwrap(),
            key,
            status: EventStatus::Quarantined,
            body: &body,
            body_sha256: &digest,
            headers: &headers,
            event_type: None,
            subject: None,
            message_id: None,
            received_at_ms: T0_MS,
            expires_at_s: T0_MS / 1000 + 86_400,
            lease_until_ms: 0,
            claim_token: "ingress",
            note: Some("payload lacks required field or has wrong type: missing field `state`"),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn quarantined_events_are_listed_and_replayed_once_the_parser_reads_them() {
    // given newer-generation deliveries that an older parser quarantined
    let world = World::new().await;
    quarantined_by_an_older_parser(&world, "legitmark/media_rejected_v2.json", "id:msg_v2").await;
    quarantined_by_an_older_parser(
        &world,
        "cr3dentials/session_completed.json",
        "body:quarantined-session",
    )
    .await;

    // when an operator lists them, then replays them with today's parser
    let listed = world.json(&["events", "list", "--status", "QUARANTINED"]);
    let plan = world.json(&["replay", "--status", "QUARANTINED"]);
    world.json(&["replay", "--status", "QUARANTINED", "--execute"]);
    let applied = world.consume().await;

    // then both come back and change their records, under their original keys
    let mut listed_keys = keys(&listed);
    listed_keys.sort();
    assert_eq!(listed_keys, ["body:quarantined-session", "id:msg_v2"]);
    assert_eq!(plan["to_replay"], 2, "{plan}");
    assert_eq!(applied, 2);
    let record = world.record("item-10042").await.unwrap();
    assert_eq!(record["reupload_requests"][0]["side"], "Front");
    let session = RecordsStore::load(
        &world.items,
        RecordId {
            kind: "verification",
            subject: "1988cff5-efec-4714-b40c-9ed453680184",
        },
    )
    .await
    .unwrap()
    .unwrap();
    let session: Value = serde_json::from_str(&session.json).unwrap();
    assert_eq!(session["session"]["status"], "COMPLETED");
    let processed = world.json(&["events", "list", "--status", "PROCESSED"]);
    assert_eq!(keys(&processed).len(), 2);
}

#[tokio::test]
async fn replay_refuses_to_guess_what_to_send() {
    let world = World::new().await;

    let (ok, _, stderr) = world.run(&["replay", "--execute"]);

    assert!(!ok);
    assert!(stderr.contains("say what to replay"), "{stderr}");
}

/// An envelope as the ingress would have enqueued it.
fn envelope(sample: &str, key: &str) -> String {
    let body = testkit::payload(sample);
    let registry = senders::builtin();
    let payload = registry.get("legitmark").unwrap();
    let event = payload.parse(&body).unwrap();
    EnvelopeMeta::for_event(
        "legitmark",
        key,
        payload.as_ref(),
        event.as_ref(),
        Some("msg_dlq"),
        T0_MS,
    )
    .encode(std::str::from_utf8(&body).unwrap())
    .unwrap()
}

async fn send(world: &World, url: &str, body: &str) {
    world
        .stack
        .sqs()
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// A dead-letter queue holding one envelope that can succeed and one `poison` body.
async fn with_dead_letters(poison: &str) -> World {
    let world = World::new().await;
    let dlq = world.stack.queues.dlq_url.clone();
    send(
        &world,
        &dlq,
        &envelope("legitmark/state_change_draft.json", "id:msg_dlq"),
    )
    .await;
    send(&world, &dlq, poison).await;
    world
}

#[tokio::test]
async fn dlq_inspect_tells_redrivable_from_poison_and_leaves_both_in_place() {
    let world = with_dead_letters("{\"meta\": \"garbled\"}").await;

    let seen = world.json(&["dlq", "inspect"]);
    let again = world.json(&["dlq", "inspect"]);

    assert_eq!(seen["redrivable"], 1);
    assert_eq!(seen["poison"], 1);
    let redrivable = seen["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["verdict"] == "redrive")
        .unwrap();
    assert_eq!(redrivable["key"], "id:msg_dlq");
    assert_eq!(again["messages"].as_array().unwrap().len(), 2, "released");
}

#[tokio::test]
async fn dlq_redrive_moves_back_only_what_can_succeed() {
    let world = with_dead_letters("not json at all").await;

    let dry = world.json(&["dlq", "redrive"]);
    assert_eq!(dry["moved"], 0);
    assert_eq!(
        world.json(&["dlq", "inspect"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let done = world.json(&["dlq", "redrive", "--execute"]);
    assert_eq!(done["moved"], 1);
    assert_eq!(world.consume().await, 1, "the redriven event was applied");
    assert!(world.record("item-10042").await.is_some());
    let left = world.json(&["dlq", "inspect"]);
    assert_eq!(left["messages"].as_array().unwrap().len(), 1);
    assert_eq!(left["messages"][0]["verdict"], "poison");
}

#[tokio::test]
async fn show_prints_an_item_state_and_its_notifications() {
    let world = seeded().await;
    world.consume().await;

    let (ok, stdout, stderr) = world.run(&["show", "item-10042"]);

    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["record"]["verdict"], "AUTHENTIC");
    assert_eq!(shown["notifications"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn show_prints_a_verification_state_and_its_notifications() {
    let world = seeded().await;
    world.consume().await;

    let (ok, stdout, stderr) = world.run(&["show", "48213", "--verification"]);
    let (missing, _, missing_err) = world.run(&["show", "48213"]);

    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["record"]["session_id"], "48213");
    assert_eq!(shown["record"]["status"], "VERIFIED");
    assert_eq!(shown["notifications"].as_array().unwrap().len(), 1);
    assert!(!missing, "a session id is not an item id");
    assert!(missing_err.contains("nothing recorded"), "{missing_err}");
}
