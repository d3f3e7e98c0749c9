//! The business-event outbox on the in-memory ports, with no server running: every notification
//! kind of both senders, in both payload generations, becomes one business event with the
//! documented detail; redeliveries and replays publish nothing new; a crash at any step from the
//! notification write to the mark, a failed `PutEvents` call, a refused entry or a failed mark is
//! repaired in the batch or by the redelivery, which publishes the same event id (a copy at most,
//! never a second id); and a consumer with no bus leaves its events in the outbox for a later one.
//! A crash is a batch dropped while it waits in a stalled port call: every write before that line
//! is kept, nothing after it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::FutureExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use webhook_core::clock::Clock;
use webhook_core::config::IngressConfig;
use webhook_core::consumer::{self, Consumer, QueueRecord};
use webhook_core::envelope::{Envelope, EnvelopeMeta};
use webhook_core::headers::Headers;
use webhook_core::ingress::{Ingress, IngressRequest, IngressResponse, RequestBody};
use webhook_core::memory::{MemoryBus, MemoryEventsLog, MemoryQueue, MemoryRecords};
use webhook_core::ports::{BusinessEvent, RecordId, StoredNotification};
use webhook_core::senders;
use webhook_core::verify::{SigningKey, sign_hex, sign_standard};

const NOW_MS: i64 = 1_790_000_000_000;
const LEGITMARK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CR3DENTIALS_SECRET: &str = "cr3d-test-secret";
/// A third source, configured to speak Cr3dentials' payload under its own name.
const ACME_SECRET: &str = "acme-kyc-test-secret";
/// `PutEvents` rounds the consumer tries per batch before it fails a message.
const PUBLISH_ROUNDS: u32 = 3;

const APPROVED: &str = "legitmark/state_change_complete_approved.json";
const VERIFIED: &str = "cr3dentials/verification_completed.json";

/// The DetailType of each notification kind, by sender (the agreed design's table).
const DETAIL_TYPES: [(&str, &str, &str); 14] = [
    ("legitmark", "authentication_passed", "Item Authenticated"),
    ("legitmark", "authentication_failed", "Item Counterfeit"),
    ("legitmark", "reupload_requested", "Photos Rejected"),
    ("legitmark", "photos_passed_qc", "Photos Approved"),
    (
        "legitmark",
        "authenticator_assigned",
        "Authentication Started",
    ),
    ("legitmark", "request_cancelled", "Authentication Cancelled"),
    (
        "cr3dentials",
        "verification_completed",
        "Verification Completed",
    ),
    ("cr3dentials", "verification_failed", "Verification Failed"),
    (
        "cr3dentials",
        "verification_expired",
        "Verification Expired",
    ),
    ("cr3dentials", "session_completed", "Session Completed"),
    (
        "cr3dentials",
        "session_partially_completed",
        "Session Partially Completed",
    ),
    ("cr3dentials", "session_error", "Session Failed"),
    ("cr3dentials", "session_cancelled", "Session Cancelled"),
    ("cr3dentials", "session_terminated", "Session Terminated"),
];

/// What each sample, delivered first on a fresh record, notifies (`None`: nothing). Every sample
/// under `events/payloads/` is listed, so a new one must say what it should do.
const SAMPLES: [(&str, Option<&str>); 29] = [
    ("legitmark/invalidate_sr.json", Some("request_cancelled")),
    ("legitmark/invalidate_sr_v2.json", Some("request_cancelled")),
    ("legitmark/media_rejected.json", Some("reupload_requested")),
    (
        "legitmark/media_rejected_v2.json",
        Some("reupload_requested"),
    ),
    ("legitmark/reference_id_null.json", None),
    (
        "legitmark/state_change_cancelled.json",
        Some("request_cancelled"),
    ),
    (APPROVED, Some("authentication_passed")),
    ("legitmark/state_change_complete_complete.json", None),
    (
        "legitmark/state_change_complete_rejected.json",
        Some("authentication_failed"),
    ),
    ("legitmark/state_change_draft.json", None),
    (
        "legitmark/state_change_qc_approved.json",
        Some("photos_passed_qc"),
    ),
    ("legitmark/state_change_qc_complete.json", None),
    ("legitmark/state_change_qc_pending.json", None),
    // a QC rejection notifies through the media_rejected event that carries the sides
    ("legitmark/state_change_qc_rejected.json", None),
    ("legitmark/state_change_underway_approved.json", None),
    (
        "legitmark/state_change_underway_assigned.json",
        Some("authenticator_assigned"),
    ),
    ("legitmark/state_change_underway_pending.json", None),
    ("legitmark/unknown_event_type.json", None),
    (
        "cr3dentials/manual_review_completed.json",
        Some("verification_completed"),
    ),
    (
        "cr3dentials/session_cancelled.json",
        Some("session_cancelled"),
    ),
    (
        "cr3dentials/session_completed.json",
        Some("session_completed"),
    ),
    (
        "cr3dentials/session_completed_no_data.json",
        Some("session_completed"),
    ),
    (
        "cr3dentials/session_completed_no_reference.json",
        Some("session_completed"),
    ),
    ("cr3dentials/session_error.json", Some("session_error")),
    (
        "cr3dentials/session_partial_complete.json",
        Some("session_partially_completed"),
    ),
    (
        "cr3dentials/session_terminated.json",
        Some("session_terminated"),
    ),
    (VERIFIED, Some("verification_completed")),
    (
        "cr3dentials/verification_expired.json",
        Some("verification_expired"),
    ),
    (
        "cr3dentials/verification_failed.json",
        Some("verification_failed"),
    ),
];

fn payloads_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/payloads")
}

fn payload(relative: &str) -> Vec<u8> {
    let path = payloads_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

fn without_field(body: &[u8], field: &str) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(body).unwrap();
    json.as_object_mut().unwrap().remove(field);
    serde_json::to_vec_pretty(&json).unwrap()
}

fn with_field(body: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(body).unwrap();
    json[field] = value;
    serde_json::to_vec_pretty(&json).unwrap()
}

/// Every sample's path under `events/payloads/`, sorted.
fn sample_paths() -> BTreeSet<String> {
    ["legitmark", "cr3dentials"]
        .into_iter()
        .flat_map(|sender| {
            std::fs::read_dir(payloads_dir().join(sender))
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .map(move |path| {
                    format!("{sender}/{}", path.file_name().unwrap().to_string_lossy())
                })
        })
        .collect()
}

fn config() -> IngressConfig {
    let env: BTreeMap<String, String> = [
        ("EVENTS_TABLE", "events"),
        ("QUEUE_URL", "memory"),
        ("WEBHOOK_SOURCES", "legitmark,cr3dentials,acme-kyc"),
        ("SOURCE_LEGITMARK_SECRETS", LEGITMARK_SECRET),
        ("SOURCE_CR3DENTIALS_SECRETS", CR3DENTIALS_SECRET),
        ("SOURCE_ACME_KYC_PAYLOAD", "cr3dentials"),
        ("SOURCE_ACME_KYC_SCHEME", "hex-hmac"),
        ("SOURCE_ACME_KYC_SECRETS", ACME_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    IngressConfig::from_env(&env).unwrap()
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

fn hex_signed(source: &str, secret: &str, body: &[u8]) -> IngressRequest {
    let key = SigningKey::from_text(secret).unwrap();
    IngressRequest {
        method: "POST".into(),
        path: format!("/webhooks/{source}"),
        headers: Headers::from_pairs([("x-webhook-signature", sign_hex(&key, body))]),
        body: RequestBody::Bytes(body.to_vec()),
    }
}

fn cr3dentials(body: &[u8]) -> IngressRequest {
    hex_signed("cr3dentials", CR3DENTIALS_SECRET, body)
}

/// The request delivering the sample at `relative` (Legitmark's with this message id).
fn delivery(relative: &str, message_id: &str) -> IngressRequest {
    let body = payload(relative);
    if relative.starts_with("legitmark/") {
        legitmark(message_id, &body)
    } else {
        cr3dentials(&body)
    }
}

fn answer(response: &IngressResponse) -> String {
    let json: Value = serde_json::from_str(&response.body).unwrap();
    json["status"].as_str().unwrap_or("-").to_owned()
}

/// The routing fields of a queue message.
fn meta(message: &QueueRecord) -> EnvelopeMeta {
    Envelope::decode(&message.body).unwrap().meta
}

/// The business event id the consumer must give the event of `message`.
fn expected_id(message: &QueueRecord) -> String {
    let meta = meta(message);
    consumer::event_id(&meta.source, &meta.key)
}

/// The same event put back on the queue by an operator's replay: the envelope rebuilt from the
/// stored body with the original key, received later, under a new message id.
fn replayed(message: &QueueRecord, message_id: &str) -> QueueRecord {
    let envelope = Envelope::decode(&message.body).unwrap();
    let mut meta = envelope.meta;
    meta.received_at_ms += 3_600_000;
    QueueRecord {
        message_id: message_id.to_owned(),
        body: meta.encode(envelope.payload.get()).unwrap(),
    }
}

/// The same message body delivered again under another message id.
fn copy(message: &QueueRecord, message_id: &str) -> QueueRecord {
    QueueRecord {
        message_id: message_id.to_owned(),
        body: message.body.clone(),
    }
}

struct World {
    log: MemoryEventsLog,
    queue: MemoryQueue,
    records: MemoryRecords,
    bus: MemoryBus,
    now: Arc<AtomicI64>,
    clock: Clock,
    ingress: Ingress<MemoryEventsLog, MemoryQueue>,
    consumer: Consumer<MemoryEventsLog, MemoryRecords, MemoryBus>,
}

impl World {
    fn new() -> Self {
        let (log, queue, records, bus) = Default::default();
        let now = Arc::new(AtomicI64::new(NOW_MS));
        let reading = now.clone();
        let clock: Clock = Arc::new(move || reading.load(Ordering::SeqCst));
        let ingress = Ingress::new(
            config(),
            MemoryEventsLog::clone(&log),
            MemoryQueue::clone(&queue),
        )
        .with_clock(clock.clone());
        let consumer = Consumer::new(MemoryRecords::clone(&records), log.clone())
            .with_clock(clock.clone())
            .with_bus(MemoryBus::clone(&bus));
        Self {
            log,
            queue,
            records,
            bus,
            now,
            clock,
            ingress,
            consumer,
        }
    }

    /// A fresh consumer (a new process) on the same stores and bus.
    fn consumer(&self) -> Consumer<MemoryEventsLog, MemoryRecords, MemoryBus> {
        self.consumer_without_bus().with_bus(self.bus.clone())
    }

    /// A consumer of a deployment with no bus, on the same stores.
    fn consumer_without_bus(&self) -> Consumer<MemoryEventsLog, MemoryRecords> {
        Consumer::new(self.records.clone(), self.log.clone()).with_clock(self.clock.clone())
    }

    async fn post(&self, request: IngressRequest) -> IngressResponse {
        self.ingress.handle(request, None).await
    }

    /// Posts a webhook the ingress must accept, and takes the one message it queued.
    async fn receive(&self, request: IngressRequest) -> QueueRecord {
        let response = self.post(request).await;
        assert_eq!(
            (response.status, answer(&response)),
            (200, "accepted".into())
        );
        let mut queued = self.queue.drain();
        assert_eq!(queued.len(), 1);
        let message = queued.remove(0);
        QueueRecord {
            message_id: message.message_id,
            body: message.body,
        }
    }

    /// Receives a Legitmark approval about item `item` under the message id `message_id`.
    async fn approval(&self, message_id: &str, item: &str) -> QueueRecord {
        let body = with_field(&payload(APPROVED), "reference_id", json!(item));
        self.receive(legitmark(message_id, &body)).await
    }

    /// The stored notification of the event `message` carries, if any.
    fn notification(&self, message: &QueueRecord) -> Option<StoredNotification> {
        let meta = meta(message);
        let kind = senders::builtin()
            .get(&meta.payload_kind)
            .unwrap()
            .record_kind();
        self.records
            .notifications(RecordId {
                kind,
                subject: &meta.subject,
            })
            .into_iter()
            .find(|n| n.event_key == meta.key)
    }

    /// The business event stored in the outbox for `message`.
    fn outbox(&self, message: &QueueRecord) -> BusinessEvent {
        self.notification(message)
            .expect("a stored notification")
            .event
            .expect("a business event beside the notification")
    }

    /// When the business event of `message` was marked published.
    fn published_at(&self, message: &QueueRecord) -> Option<i64> {
        self.notification(message)
            .expect("a stored notification")
            .published_at_ms
    }

    /// The accepted events with this id (each acceptance a copy).
    fn accepted_with(&self, event_id: &str) -> Vec<BusinessEvent> {
        self.bus
            .accepted()
            .into_iter()
            .filter(|e| e.event_id == event_id)
            .collect()
    }

    /// How many times the bus accepted each event id.
    fn acceptances(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for event in self.bus.accepted() {
            *counts.entry(event.event_id).or_default() += 1;
        }
        counts
    }
}

/// The detail of `event`, as a JSON object.
fn detail(event: &BusinessEvent) -> serde_json::Map<String, Value> {
    match serde_json::from_str(&event.detail) {
        Ok(Value::Object(detail)) => detail,
        other => panic!(
            "{}: detail is not a JSON object: {other:?}",
            event.detail_type
        ),
    }
}

/// The fields the detail of `kind` from `sender` has, per the design.
fn documented_fields(sender: &str, kind: &str) -> BTreeSet<&'static str> {
    let mut fields = BTreeSet::from(["event_id", "occurred_at", "kind", "message", "source"]);
    match sender {
        "legitmark" => {
            fields.extend(["item_id", "sr_uuid", "reference_id"]);
            match kind {
                "reupload_requested" => fields.extend(["sides"]),
                "request_cancelled" => fields.extend(["reason"]),
                _ => {}
            }
        }
        "cr3dentials" => {
            fields.extend(["session_id", "external_reference_id"]);
            match kind {
                "verification_completed" | "verification_expired" => {
                    fields.extend(["verification_id"]);
                }
                "verification_failed" => fields.extend(["verification_id", "status"]),
                _ => {}
            }
        }
        other => panic!("no documented detail for {other}"),
    }
    fields
}

fn is_string_or_null(value: &Value) -> bool {
    value.is_string() || value.is_null()
}

/// When the sample says its event happened: Legitmark's `timestamp`, a Cr3dentials session's
/// `completedAt`, a verification's `metadata.verifiedAt`, else its time of review, failure or
/// expiry; `None` when it says none the receiver can read.
fn said_at(sample: &Value) -> Option<OffsetDateTime> {
    let metadata = &sample["data"]["metadata"];
    [
        &sample["timestamp"],
        &sample["completedAt"],
        &metadata["verifiedAt"],
        &metadata["reviewCompletedAt"],
        &metadata["failedAt"],
        &metadata["expiredAt"],
    ]
    .into_iter()
    .find_map(|v| {
        v.as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    })
}

/// The instant `ms` Unix milliseconds.
fn instant_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

/// Every string in `value`, for "this never leaks" checks.
fn strings_in(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => found.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, found)),
        Value::Object(fields) => fields.values().for_each(|v| strings_in(v, found)),
        _ => {}
    }
}

/// Checks that `event`, published for `message` (`relative` names it in failures), is the
/// documented business event of the notification `stored`, against the body `message` carries.
fn assert_documented(
    relative: &str,
    message: &QueueRecord,
    stored: &StoredNotification,
    event: &BusinessEvent,
) {
    let envelope = Envelope::decode(&message.body).unwrap();
    let meta = envelope.meta;
    let sender = meta.payload_kind.as_str();
    let kind = stored.notification.kind.as_str();
    let sample: Value = serde_json::from_str(envelope.payload.get()).unwrap();
    let detail_type = DETAIL_TYPES
        .iter()
        .find(|(s, k, _)| *s == sender && *k == kind)
        .map(|(_, _, t)| *t)
        .unwrap_or_else(|| panic!("{relative}: {sender} has no kind {kind}"));

    assert_eq!(event.detail_type, detail_type, "{relative}");
    assert_eq!(event.sender, sender, "{relative}");
    assert_eq!(
        event.event_id,
        consumer::event_id(&meta.source, &meta.key),
        "{relative}"
    );
    let detail = detail(event);
    let fields: BTreeSet<&str> = detail.keys().map(String::as_str).collect();
    assert_eq!(fields, documented_fields(sender, kind), "{relative}");

    // the common fields
    assert_eq!(detail["event_id"], json!(event.event_id), "{relative}");
    assert_eq!(event.event_id.len(), 32, "{relative}");
    assert!(
        event
            .event_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{relative}: {}",
        event.event_id
    );
    assert_eq!(detail["kind"], json!(kind), "{relative}");
    assert_eq!(
        detail["message"],
        json!(stored.notification.message),
        "{relative}"
    );
    assert!(!stored.notification.message.is_empty(), "{relative}");
    assert_eq!(detail["source"], json!(meta.source), "{relative}");
    let occurred_at = detail["occurred_at"].as_str().expect("occurred_at text");
    let instant = OffsetDateTime::parse(occurred_at, &Rfc3339)
        .unwrap_or_else(|e| panic!("{relative}: occurred_at {occurred_at:?}: {e}"));
    assert!(
        instant.offset().is_utc() && occurred_at.ends_with('Z'),
        "{relative}: {occurred_at}"
    );
    // when the sender says it happened, else when the consumer decided
    assert_eq!(
        instant,
        said_at(&sample).unwrap_or_else(|| instant_ms(stored.created_at_ms)),
        "{relative}: occurred_at {occurred_at}"
    );

    // the sender's fields
    match sender {
        "legitmark" => {
            assert_eq!(detail["item_id"], json!(meta.subject), "{relative}");
            assert_eq!(detail["sr_uuid"], sample["sr_uuid"], "{relative}");
            assert!(detail["sr_uuid"].is_string(), "{relative}");
            assert_eq!(detail["reference_id"], sample["reference_id"], "{relative}");
            assert!(is_string_or_null(&detail["reference_id"]), "{relative}");
            if kind == "reupload_requested" {
                let sides = detail["sides"].as_array().expect("sides array");
                let sent = sample["sides"].as_array().map_or(0, Vec::len);
                assert_eq!(sides.len(), sent, "{relative}");
                for side in sides {
                    let keys: BTreeSet<&str> = side
                        .as_object()
                        .expect("side object")
                        .keys()
                        .map(String::as_str)
                        .collect();
                    assert_eq!(keys, BTreeSet::from(["side", "reason", "message"]));
                    assert!(side["side"].is_string() && side["reason"].is_string());
                    assert!(is_string_or_null(&side["message"]), "{relative}");
                }
            }
            if kind == "request_cancelled" {
                match &sample["invalidation_reason"] {
                    Value::Null => assert_eq!(detail["reason"], Value::Null, "{relative}"),
                    sent => {
                        let reason = detail["reason"].as_object().expect("reason object");
                        let keys: BTreeSet<&str> = reason.keys().map(String::as_str).collect();
                        assert_eq!(keys, BTreeSet::from(["code", "message"]), "{relative}");
                        assert_eq!(detail["reason"]["code"], sent["code"], "{relative}");
                        assert!(is_string_or_null(&reason["message"]), "{relative}");
                    }
                }
            }
        }
        _ => {
            assert_eq!(detail["session_id"], json!(meta.subject), "{relative}");
            assert!(
                is_string_or_null(&detail["external_reference_id"]),
                "{relative}"
            );
            if let Some(reference) = sample.get("externalReferenceId") {
                assert_eq!(&detail["external_reference_id"], reference, "{relative}");
            }
            if kind.starts_with("verification_") {
                assert_eq!(
                    detail["verification_id"], sample["data"]["verificationId"],
                    "{relative}"
                );
                assert!(detail["verification_id"].is_string(), "{relative}");
            }
            if kind == "verification_failed" {
                assert_eq!(detail["status"], sample["data"]["status"], "{relative}");
                assert!(detail["status"].is_string(), "{relative}");
            }
            // the extracted data is personal: none of it is in the event
            let mut personal = Vec::new();
            strings_in(&sample["extractedData"], &mut personal);
            for text in personal {
                assert!(
                    !event.detail.contains(&text),
                    "{relative}: the detail carries extracted data"
                );
            }
        }
    }
    for secret in [LEGITMARK_SECRET, CR3DENTIALS_SECRET] {
        assert!(!event.detail.contains(secret), "{relative}");
    }
}

// ---- 1. every kind, both generations ----

#[tokio::test]
async fn every_sample_that_notifies_publishes_one_documented_business_event() {
    let listed: BTreeSet<String> = SAMPLES.iter().map(|(p, _)| (*p).to_owned()).collect();
    assert_eq!(listed, sample_paths(), "SAMPLES must list every sample");
    let mut kinds_seen = BTreeSet::new();

    for (relative, expected_kind) in SAMPLES {
        // given the sample, received on a fresh deployment
        let world = World::new();
        let message = world.receive(delivery(relative, "msg_sample")).await;

        // when the consumer handles it
        let failed = world.consumer.process_batch(vec![message.clone()]).await;

        // then its notification, if any, is on the bus once, as documented, and marked published
        assert!(failed.is_empty(), "{relative}: {failed:?}");
        let stored = world.notification(&message);
        assert_eq!(
            stored.as_ref().map(|n| n.notification.kind.as_str()),
            expected_kind,
            "{relative}"
        );
        let accepted = world.bus.accepted();
        let Some(stored) = stored else {
            assert!(accepted.is_empty(), "{relative}: {accepted:?}");
            assert_eq!(world.bus.faults.calls("publish"), 0, "{relative}");
            continue;
        };
        assert_eq!(accepted.len(), 1, "{relative}: {accepted:?}");
        let event = &accepted[0];
        assert_documented(relative, &message, &stored, event);
        assert_eq!(stored.event.as_ref(), Some(event), "{relative}: outbox");
        assert_eq!(stored.published_at_ms, Some(NOW_MS), "{relative}");
        assert_eq!(event.event_id, expected_id(&message), "{relative}");
        kinds_seen.insert((
            relative.split('/').next().unwrap(),
            stored.notification.kind,
        ));
    }

    let every_kind: BTreeSet<(&str, String)> = DETAIL_TYPES
        .iter()
        .map(|(sender, kind, _)| (*sender, (*kind).to_owned()))
        .collect();
    assert_eq!(kinds_seen, every_kind);
}

#[tokio::test]
async fn an_event_the_sender_gives_no_readable_time_for_occurred_when_it_was_decided() {
    let session = "cr3dentials/session_completed.json";
    for (label, request) in [
        (
            "legitmark timestamp unreadable",
            legitmark(
                "msg_undated",
                &with_field(&payload(APPROVED), "timestamp", json!("not a time")),
            ),
        ),
        (
            "cr3dentials session without completedAt",
            cr3dentials(&without_field(&payload(session), "completedAt")),
        ),
    ] {
        let world = World::new();
        let message = world.receive(request).await;
        world.now.fetch_add(5_250, Ordering::SeqCst);

        let failed = world.consumer.process_batch(vec![message.clone()]).await;

        assert!(failed.is_empty(), "{label}: {failed:?}");
        let stored = world.notification(&message).expect("a notification");
        let accepted = world.bus.accepted();
        assert_eq!(accepted.len(), 1, "{label}");
        assert_documented(label, &message, &stored, &accepted[0]);
        let occurred_at = detail(&accepted[0])["occurred_at"].clone();
        let instant = OffsetDateTime::parse(occurred_at.as_str().unwrap(), &Rfc3339).unwrap();
        assert_eq!(
            instant,
            instant_ms(NOW_MS + 5_250),
            "{label}: {occurred_at}"
        );
    }
}

#[tokio::test]
async fn both_legitmark_generations_of_a_kind_publish_the_same_shape() {
    for (older, newer) in [
        (
            "legitmark/media_rejected.json",
            "legitmark/media_rejected_v2.json",
        ),
        (
            "legitmark/invalidate_sr.json",
            "legitmark/invalidate_sr_v2.json",
        ),
    ] {
        let mut shapes = Vec::new();
        for relative in [older, newer] {
            let world = World::new();
            let message = world.receive(delivery(relative, "msg_gen")).await;
            assert!(world.consumer.process_batch(vec![message]).await.is_empty());
            let accepted = world.bus.accepted();
            assert_eq!(accepted.len(), 1, "{relative}");
            let detail = detail(&accepted[0]);
            let shape: BTreeSet<String> = detail.keys().cloned().collect();
            shapes.push((accepted[0].detail_type.clone(), shape));
        }
        assert_eq!(shapes[0], shapes[1], "{older} / {newer}");
    }
}

#[tokio::test]
async fn a_source_named_otherwise_publishes_under_its_senders_name_and_its_own_source() {
    let world = World::new();
    let body = payload(VERIFIED);
    let message = world
        .receive(hex_signed("acme-kyc", ACME_SECRET, &body))
        .await;

    assert!(
        world
            .consumer
            .process_batch(vec![message.clone()])
            .await
            .is_empty()
    );

    let accepted = world.bus.accepted();
    assert_eq!(accepted.len(), 1);
    let event = &accepted[0];
    let key = meta(&message).key;
    assert_eq!(event.sender, "cr3dentials");
    assert_eq!(event.detail_type, "Verification Completed");
    assert_eq!(event.event_id, consumer::event_id("acme-kyc", &key));
    assert_ne!(event.event_id, consumer::event_id("cr3dentials", &key));
    assert_eq!(detail(event)["source"], json!("acme-kyc"));
    assert_eq!(world.published_at(&message), Some(NOW_MS));
}

// ---- 2. redelivery and replay ----

#[tokio::test]
async fn a_redelivery_or_replay_of_a_published_event_publishes_nothing_new() {
    for relative in [APPROVED, VERIFIED] {
        // given an event applied and published
        let world = World::new();
        let message = world.receive(delivery(relative, "msg_once")).await;
        assert!(
            world
                .consumer
                .process_batch(vec![message.clone()])
                .await
                .is_empty()
        );
        assert_eq!(world.bus.accepted().len(), 1, "{relative}");
        world.bus.faults.reset_calls();
        world.records.faults.reset_calls();
        world.now.fetch_add(60_000, Ordering::SeqCst);

        // when SQS redelivers the message, an operator replays the event and the sender sends the
        // webhook again
        let redelivered = world.consumer.process_batch(vec![message.clone()]).await;
        let replay = world
            .consumer()
            .process_batch(vec![replayed(&message, "replay-1")])
            .await;
        let resent = world.post(delivery(relative, "msg_once")).await;

        // then nothing new reaches the bus and the first publication stands
        assert!(redelivered.is_empty() && replay.is_empty(), "{relative}");
        assert_eq!(answer(&resent), "duplicate", "{relative}");
        assert!(world.queue.peek().is_empty(), "{relative}");
        assert_eq!(world.bus.accepted().len(), 1, "{relative}");
        assert_eq!(world.bus.faults.calls("publish"), 0, "{relative}");
        assert_eq!(world.records.faults.calls("put_notification"), 0);
        assert_eq!(world.records.faults.calls("mark_published"), 0);
        assert_eq!(world.published_at(&message), Some(NOW_MS), "{relative}");
        assert_eq!(
            world
                .records
                .notifications(RecordId {
                    kind: senders::builtin()
                        .get(&meta(&message).payload_kind)
                        .unwrap()
                        .record_kind(),
                    subject: &meta(&message).subject,
                })
                .len(),
            1,
            "{relative}"
        );
    }
}

// ---- 3. crashes ----

#[tokio::test]
async fn a_crash_anywhere_between_the_notification_and_the_mark_is_repaired_by_the_redelivery() {
    // (port, operation, copies the bus holds in the end: the crash after the bus accepted the
    // entry and before the mark leaves one copy there already)
    for (port, operation, copies) in [
        ("records", "save", 1),
        ("events", "mark_done", 1),
        ("bus", "publish", 1),
        ("records", "mark_published", 2),
    ] {
        // given a consumer that dies while it waits in `operation`
        let world = World::new();
        let message = world.receive(delivery(APPROVED, "msg_crash")).await;
        let stall = |on: bool| {
            let faults = match port {
                "records" => &world.records.faults,
                "events" => &world.log.faults,
                _ => &world.bus.faults,
            };
            if on {
                faults.stall(operation);
            } else {
                faults.unstall(operation);
            }
        };
        stall(true);
        let dying = world.consumer.process_batch(vec![message.clone()]);
        assert!(dying.now_or_never().is_none(), "{operation}");
        stall(false);
        let outbox = world.outbox(&message);
        assert_eq!(world.published_at(&message), None, "{operation}");
        assert_eq!(world.bus.accepted().len(), copies - 1, "{operation}");

        // when the message is redelivered to a fresh consumer
        let failed = world.consumer().process_batch(vec![message.clone()]).await;

        // then the stored event is on the bus under its one id, and marked
        assert!(failed.is_empty(), "{operation}: {failed:?}");
        let id = expected_id(&message);
        assert_eq!(outbox.event_id, id, "{operation}");
        let accepted = world.bus.accepted();
        assert_eq!(accepted.len(), copies, "{operation}: {accepted:?}");
        assert!(accepted.iter().all(|e| *e == outbox), "{operation}");
        assert_eq!(world.published_at(&message), Some(NOW_MS), "{operation}");
        assert_eq!(
            world
                .records
                .notifications(RecordId {
                    kind: "item",
                    subject: "item-10042",
                })
                .len(),
            1,
            "{operation}"
        );
    }
}

// ---- 4. a failed PutEvents call ----

#[tokio::test(start_paused = true)]
async fn a_bus_outage_through_every_round_fails_the_message_and_the_redelivery_publishes_it() {
    for outage in [PUBLISH_ROUNDS, PUBLISH_ROUNDS + 1] {
        // given a bus down for `outage` calls
        let world = World::new();
        let message = world.receive(delivery(APPROVED, "msg_outage")).await;
        world.bus.faults.fail("publish", outage);

        // when the batch is handled, then redelivered a minute later
        let failed = world.consumer.process_batch(vec![message.clone()]).await;
        let unpublished = world.published_at(&message);
        let accepted_before = world.bus.accepted().len();
        let calls = world.bus.faults.calls("publish");
        world.now.fetch_add(60_000, Ordering::SeqCst);
        let failed_again = world.consumer.process_batch(vec![message.clone()]).await;

        // then the first fails after its rounds with the event unpublished, and the redelivery
        // publishes it once
        assert_eq!(failed, vec![message.message_id.clone()], "{outage}");
        assert_eq!(unpublished, None, "{outage}");
        assert_eq!(accepted_before, 0, "{outage}");
        assert_eq!(calls, u64::from(PUBLISH_ROUNDS), "{outage}");
        assert!(failed_again.is_empty(), "{outage}");
        assert_eq!(
            world.acceptances(),
            BTreeMap::from([(expected_id(&message), 1)]),
            "{outage}"
        );
        assert_eq!(
            world.published_at(&message),
            Some(NOW_MS + 60_000),
            "{outage}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_bus_outage_shorter_than_the_rounds_is_retried_in_the_same_batch() {
    for outage in 1..PUBLISH_ROUNDS {
        let world = World::new();
        let message = world.receive(delivery(APPROVED, "msg_blip")).await;
        world.bus.faults.fail("publish", outage);

        let failed = world.consumer.process_batch(vec![message.clone()]).await;

        assert!(failed.is_empty(), "{outage}: {failed:?}");
        assert_eq!(
            world.bus.faults.calls("publish"),
            u64::from(outage) + 1,
            "{outage}"
        );
        assert_eq!(
            world.acceptances(),
            BTreeMap::from([(expected_id(&message), 1)]),
            "{outage}"
        );
        assert_eq!(world.published_at(&message), Some(NOW_MS), "{outage}");
    }
}

// ---- 5. one entry refused ----

/// Three Legitmark items and a Cr3dentials session: four subjects, four business events.
async fn several(world: &World) -> Vec<QueueRecord> {
    vec![
        world.approval("msg_a", "item-a").await,
        world.approval("msg_b", "item-b").await,
        world.approval("msg_c", "item-c").await,
        world.receive(delivery(VERIFIED, "-")).await,
    ]
}

#[tokio::test(start_paused = true)]
async fn an_entry_refused_once_is_retried_and_every_event_is_published_once() {
    let world = World::new();
    let batch = several(&world).await;
    let refused = expected_id(&batch[1]);
    world.bus.refuse(&refused, 1);

    let failed = world.consumer.process_batch(batch.clone()).await;

    assert!(failed.is_empty(), "{failed:?}");
    let expected: BTreeMap<String, usize> = batch.iter().map(|m| (expected_id(m), 1)).collect();
    assert_eq!(world.acceptances(), expected);
    assert_eq!(world.bus.faults.calls("publish"), 2);
    for message in &batch {
        assert_eq!(
            world.published_at(message),
            Some(NOW_MS),
            "{}",
            message.message_id
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_entry_refused_through_every_round_fails_only_its_message() {
    // given four events, one of which the bus refuses in every round
    let world = World::new();
    let batch = several(&world).await;
    let refused = &batch[2];
    world.bus.refuse(&expected_id(refused), PUBLISH_ROUNDS);

    // when the batch is handled, and the failed message redelivered
    let failed = world.consumer.process_batch(batch.clone()).await;
    let published_first: Vec<Option<i64>> = batch.iter().map(|m| world.published_at(m)).collect();
    let accepted_first = world.acceptances();
    world.now.fetch_add(60_000, Ordering::SeqCst);
    let failed_again = world.consumer.process_batch(vec![refused.clone()]).await;

    // then only its message failed, the others were published and marked, and the redelivery
    // published it once
    assert_eq!(failed, vec![refused.message_id.clone()]);
    let others: BTreeMap<String, usize> = batch
        .iter()
        .filter(|m| m.message_id != refused.message_id)
        .map(|m| (expected_id(m), 1))
        .collect();
    assert_eq!(accepted_first, others);
    assert_eq!(
        published_first,
        vec![Some(NOW_MS), Some(NOW_MS), None, Some(NOW_MS)]
    );
    assert!(failed_again.is_empty(), "{failed_again:?}");
    let every: BTreeMap<String, usize> = batch.iter().map(|m| (expected_id(m), 1)).collect();
    assert_eq!(world.acceptances(), every);
    assert_eq!(world.published_at(refused), Some(NOW_MS + 60_000));
    assert_eq!(
        world.accepted_with(&expected_id(refused))[0],
        world.outbox(refused)
    );
}

#[tokio::test]
async fn a_batch_is_published_in_calls_of_at_most_ten_entries() {
    for (events, calls) in [(10, 1), (11, 2), (20, 2), (21, 3)] {
        let world = World::new();
        let mut batch = Vec::new();
        for n in 0..events {
            batch.push(
                world
                    .approval(&format!("msg_{n}"), &format!("item-{n}"))
                    .await,
            );
        }

        let failed = world.consumer.process_batch(batch.clone()).await;

        assert!(failed.is_empty(), "{events}: {failed:?}");
        assert_eq!(world.bus.faults.calls("publish"), calls, "{events}");
        let every: BTreeMap<String, usize> = batch.iter().map(|m| (expected_id(m), 1)).collect();
        assert_eq!(world.acceptances(), every, "{events}");
        assert!(
            batch.iter().all(|m| world.published_at(m) == Some(NOW_MS)),
            "{events}"
        );
    }
}

// ---- 6. the mark fails ----

#[tokio::test]
async fn a_failed_mark_fails_the_message_and_the_redelivery_publishes_a_copy_under_the_same_id() {
    // given a store that fails the first mark
    let world = World::new();
    let message = world.receive(delivery(APPROVED, "msg_mark")).await;
    world.records.faults.fail("mark_published", 1);

    // when the batch is handled, and the message redelivered
    let failed = world.consumer.process_batch(vec![message.clone()]).await;
    let after_first = (world.bus.accepted().len(), world.published_at(&message));
    world.now.fetch_add(60_000, Ordering::SeqCst);
    let failed_again = world.consumer.process_batch(vec![message.clone()]).await;

    // then the message failed though the bus had the event, and the redelivery put the same event
    // there again and marked it
    assert_eq!(failed, vec![message.message_id.clone()]);
    assert_eq!(after_first, (1, None));
    assert!(failed_again.is_empty(), "{failed_again:?}");
    let id = expected_id(&message);
    assert_eq!(world.acceptances(), BTreeMap::from([(id.clone(), 2)]));
    let copies = world.accepted_with(&id);
    assert_eq!(copies[0], copies[1]);
    assert_eq!(copies[0], world.outbox(&message));
    assert_eq!(world.published_at(&message), Some(NOW_MS + 60_000));
}

// ---- 7. no bus ----

#[tokio::test]
async fn a_consumer_without_a_bus_keeps_the_event_for_a_consumer_with_one() {
    // given a consumer with no bus that handled the event, and saw it again
    let world = World::new();
    let message = world.receive(delivery(VERIFIED, "-")).await;
    let without = world.consumer_without_bus();
    assert!(
        without
            .process_batch(vec![message.clone()])
            .await
            .is_empty()
    );
    assert!(
        without
            .process_batch(vec![message.clone()])
            .await
            .is_empty()
    );
    let kept = world.notification(&message).expect("a stored notification");
    assert!(kept.event.is_some());
    assert_eq!(kept.published_at_ms, None);
    assert_eq!(world.records.faults.calls("mark_published"), 0);
    assert_eq!(world.bus.faults.calls("publish"), 0);

    // when the message is redelivered to a consumer with a bus
    world.now.fetch_add(60_000, Ordering::SeqCst);
    let failed = world.consumer().process_batch(vec![message.clone()]).await;

    // then that one publishes the kept event, once, and marks it
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(world.bus.accepted(), vec![kept.event.unwrap()]);
    assert_eq!(world.bus.accepted()[0].event_id, expected_id(&message));
    assert_eq!(world.published_at(&message), Some(NOW_MS + 60_000));
}

// ---- 8. one event twice in a batch ----

#[tokio::test]
async fn two_messages_of_one_event_in_a_batch_publish_one_entry_and_both_are_acknowledged() {
    let world = World::new();
    let message = world.receive(delivery(APPROVED, "msg_twice")).await;
    let batch = vec![message.clone(), copy(&message, "memory-again")];

    let failed = world.consumer.process_batch(batch).await;

    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(world.bus.faults.calls("publish"), 1);
    assert_eq!(
        world.acceptances(),
        BTreeMap::from([(expected_id(&message), 1)])
    );
    assert_eq!(world.published_at(&message), Some(NOW_MS));
}

#[tokio::test(start_paused = true)]
async fn two_messages_of_one_event_whose_entry_is_refused_both_fail_and_both_redeliveries_settle() {
    let world = World::new();
    let message = world.receive(delivery(APPROVED, "msg_twice")).await;
    let again = copy(&message, "memory-again");
    world.bus.refuse(&expected_id(&message), PUBLISH_ROUNDS);

    let failed: BTreeSet<String> = world
        .consumer
        .process_batch(vec![message.clone(), again.clone()])
        .await
        .into_iter()
        .collect();
    let failed_again = world
        .consumer
        .process_batch(vec![message.clone(), again])
        .await;

    assert_eq!(
        failed,
        BTreeSet::from([message.message_id.clone(), "memory-again".to_owned()])
    );
    assert!(failed_again.is_empty(), "{failed_again:?}");
    assert_eq!(
        world.acceptances(),
        BTreeMap::from([(expected_id(&message), 1)])
    );
    assert_eq!(world.published_at(&message), Some(NOW_MS));
}

// ---- a crash before the save, then a later event of the same subject ----

#[tokio::test]
async fn a_notification_stored_before_a_crash_is_published_even_when_its_event_comes_back_out_of_order()
 {
    // given a consumer that died after storing the notification of the QC approval, before its
    // record was saved
    let world = World::new();
    let earlier = world
        .receive(delivery(
            "legitmark/state_change_qc_approved.json",
            "msg_earlier",
        ))
        .await;
    world.records.faults.stall("save");
    let dying = world.consumer.process_batch(vec![earlier.clone()]);
    assert!(dying.now_or_never().is_none());
    world.records.faults.unstall("save");
    let stored = world.outbox(&earlier);
    assert!(world.bus.accepted().is_empty());

    // and a later event of the same item applied meanwhile
    let later = world.receive(delivery(APPROVED, "msg_later")).await;
    assert!(
        world
            .consumer()
            .process_batch(vec![later.clone()])
            .await
            .is_empty()
    );

    // when the earlier event is redelivered (now out of order: it warrants no notification)
    let failed = world.consumer().process_batch(vec![earlier.clone()]).await;

    // then the notification stored before the crash is published, once, and marked
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(world.accepted_with(&stored.event_id), vec![stored]);
    assert!(world.published_at(&earlier).is_some());
    assert_eq!(
        world.acceptances().len(),
        2,
        "the later event's and the earlier one's"
    );
}
