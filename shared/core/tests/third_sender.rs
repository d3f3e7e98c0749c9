//! Adding a sender is its own folder plus one registry line: a toy third sender (`toy_sender/`)
//! runs through configuration, the ingress and the consumer on the in-memory ports, and nothing
//! outside its folder knows its types.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod toy_sender;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use webhook_core::config::IngressConfig;
use webhook_core::consumer::{Consumer, QueueRecord};
use webhook_core::headers::Headers;
use webhook_core::ingress::{Ingress, IngressRequest, RequestBody};
use webhook_core::memory::{MemoryEventsLog, MemoryQueue, MemoryRecords};
use webhook_core::ports::RecordId;
use webhook_core::senders;
use webhook_core::verify::{SigningKey, sign_hex};

const SECRET: &str = "acme-test-secret";

fn registry() -> senders::Registry {
    // The registry line.
    senders::builtin().with::<toy_sender::AcmeScores>()
}

fn config() -> IngressConfig {
    let env: BTreeMap<String, String> = [
        ("EVENTS_TABLE", "events"),
        ("QUEUE_URL", "memory"),
        ("WEBHOOK_SOURCES", "acme-scores"),
        ("SOURCE_ACME_SCORES_SECRETS", SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    IngressConfig::from_env_with(&env, &registry()).unwrap()
}

fn request(body: &serde_json::Value) -> IngressRequest {
    let body = serde_json::to_vec(body).unwrap();
    let signature = sign_hex(&SigningKey::from_text(SECRET).unwrap(), &body);
    IngressRequest {
        method: "POST".into(),
        path: "/webhooks/acme-scores".into(),
        headers: Headers::from_pairs([("x-webhook-signature", signature)]),
        body: RequestBody::Bytes(body),
    }
}

#[test]
fn a_source_named_after_the_new_sender_needs_no_payload_or_scheme_variable() {
    let config = config();

    let source = config.source("acme-scores").unwrap();

    assert_eq!(source.payload.name(), "acme-scores");
    assert_eq!(source.payload.record_kind(), "account");
}

#[tokio::test]
async fn the_third_sender_runs_through_ingress_and_consumer_with_its_own_rule() {
    let (log, queue, records) = <(MemoryEventsLog, MemoryQueue, MemoryRecords)>::default();
    let ingress = Ingress::new(config(), log.clone(), queue.clone())
        .with_clock(Arc::new(|| 1_790_000_000_000));
    let consumer = Consumer::new(records.clone(), log.clone()).with_registry(registry());
    let newer = json!({"event_id": "e2", "account": "acct-7", "score": 710, "scored_at": "2026-03-02T00:00:00Z"});
    let older = json!({"event_id": "e1", "account": "acct-7", "score": 640, "scored_at": "2026-03-01T00:00:00Z"});

    let answers = [
        ingress.handle(request(&newer), None).await.status,
        ingress.handle(request(&older), None).await.status,
        ingress.handle(request(&newer), None).await.status,
    ];
    let batch = queue
        .drain()
        .into_iter()
        .map(|m| QueueRecord {
            message_id: m.message_id,
            body: m.body,
        })
        .collect();
    let failed = consumer.process_batch(batch).await;

    assert_eq!(answers, [200, 200, 200]);
    assert!(failed.is_empty());
    let id = RecordId {
        kind: "account",
        subject: "acct-7",
    };
    let record: toy_sender::Account =
        serde_json::from_str(&records.record(id).unwrap().json).unwrap();
    assert_eq!(
        record.score, 710,
        "the later score stands whatever the order"
    );
    assert_eq!(
        record.applied.len(),
        2,
        "the re-sent delivery was a duplicate"
    );
    let notices: Vec<String> = records
        .notifications(id)
        .into_iter()
        .map(|n| n.notification.message)
        .collect();
    assert_eq!(notices, ["The score of account acct-7 is now 710."]);
    assert_eq!(
        records.projections(id),
        vec![("score", Some("710".to_owned()))]
    );
}
