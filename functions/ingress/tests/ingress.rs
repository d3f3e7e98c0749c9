//! The ingress against real DynamoDB and SQS protocol servers (moto, started by `make test`):
//! requests in the function-URL format, signed like the senders sign them, assertions on the table
//! and the queue. The state machine's branches (crashes included) are tested first on the
//! in-memory ports (`shared/core/tests/services.rs`); here the AWS adapters' conditions are proved.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Context, LambdaEvent};
use webhook_aws::{EventQueue, EventsTable};
use webhook_core::clock::Clock;
use webhook_core::headers::Headers;
use webhook_core::ingress::Ingress;
use webhook_core::ports::{EventStatus, EventsLog, NewEvent};
use webhook_tools::testkit::{self, Stack};

const NOW_MS: i64 = 1_790_000_000_000;
const NOW_S: i64 = NOW_MS / 1000;
const LIFECYCLE_SAMPLE: &str = "legitmark/state_change_complete_approved.json";

struct Harness {
    stack: Stack,
    ingress: Ingress<EventsTable, EventQueue>,
    clock: Arc<AtomicI64>,
}

impl Harness {
    async fn new() -> Self {
        let stack = Stack::new(30).await;
        Self::with_queue_url(stack.clone(), &stack.queues.queue_url)
    }

    fn with_queue_url(stack: Stack, queue_url: &str) -> Self {
        let clock = Arc::new(AtomicI64::new(NOW_MS));
        let reading = clock.clone();
        let clock_fn: Clock = Arc::new(move || reading.load(Ordering::SeqCst));
        let config = testkit::ingress_config(&stack.events_table, queue_url);
        let ingress = Ingress::new(
            config,
            EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone()),
            EventQueue::from_sdk_config(&stack.aws, queue_url),
        )
        .with_clock(clock_fn);
        Self {
            stack,
            ingress,
            clock,
        }
    }

    async fn send(&self, event: serde_json::Value) -> LambdaFunctionUrlResponse {
        let request: LambdaFunctionUrlRequest = serde_json::from_value(event).unwrap();
        ingress::handle(&self.ingress, LambdaEvent::new(request, Context::default()))
            .await
            .unwrap()
    }

    async fn events(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.stack.scan(&self.stack.events_table).await
    }

    async fn messages(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.stack.drain(&self.stack.queues.queue_url).await
    }
}

fn legitmark_event(message_id: &str, body: &[u8]) -> serde_json::Value {
    let headers = testkit::legitmark_headers(message_id, NOW_S, body);
    testkit::function_url_event("POST", "/webhooks/legitmark", &headers, body, false)
}

fn status_of(item: &std::collections::HashMap<String, AttributeValue>) -> &str {
    item["status"].as_s().unwrap()
}

fn body_json(response: &LambdaFunctionUrlResponse) -> serde_json::Value {
    serde_json::from_str(response.body.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn accepted_event_leaves_one_message_with_the_signed_bytes_and_one_enqueued_record() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);

    let response = harness.send(legitmark_event("msg_accepted", &body)).await;

    assert_eq!(response.status_code, 200);
    assert_eq!(body_json(&response)["status"], "accepted");
    let messages = harness.messages().await;
    assert_eq!(messages.len(), 1);
    let message_body = messages[0].body().unwrap();
    assert!(
        message_body.contains(std::str::from_utf8(&body).unwrap()),
        "signed bytes not carried verbatim"
    );
    let attributes = messages[0].message_attributes().unwrap();
    assert_eq!(attributes["source"].string_value(), Some("legitmark"));
    assert_eq!(
        attributes["event_type"].string_value(),
        Some("state_change")
    );
    let events = harness.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(status_of(&events[0]), "ENQUEUED");
    assert_eq!(events[0]["pk"].as_s().unwrap(), "legitmark#id:msg_accepted");
    assert_eq!(events[0]["body"].as_b().unwrap().as_ref(), body.as_slice());
    assert!(
        events[0]["headers"]
            .as_m()
            .unwrap()
            .contains_key("svix-signature")
    );
    assert_eq!(
        events[0]["expires_at"]
            .as_n()
            .unwrap()
            .parse::<i64>()
            .unwrap(),
        NOW_S + 7 * 86_400
    );
}

#[tokio::test]
async fn retry_of_an_enqueued_event_is_a_duplicate_and_enqueues_nothing() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);
    harness.send(legitmark_event("msg_dup", &body)).await;
    harness.messages().await;

    let retry = harness.send(legitmark_event("msg_dup", &body)).await;

    assert_eq!(retry.status_code, 200);
    assert_eq!(body_json(&retry)["status"], "duplicate");
    assert!(harness.messages().await.is_empty());
}

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_event_enqueue_exactly_once() {
    let harness = Arc::new(Harness::new().await);
    let body = testkit::payload(LIFECYCLE_SAMPLE);

    let deliveries = (0..50).map(|_| {
        let harness = harness.clone();
        let event = legitmark_event("msg_concurrent", &body);
        tokio::spawn(async move { harness.send(event).await.status_code })
    });
    let statuses: Vec<i64> = futures::future::join_all(deliveries)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "statuses: {statuses:?}"
    );
    assert_eq!(harness.messages().await.len(), 1);
}

/// A claim as an invocation leaves it when its process dies between claim and enqueue.
async fn claim_left_behind(harness: &Harness, key: &str, body: &[u8], lease_until_ms: i64) {
    let table =
        EventsTable::from_sdk_config(&harness.stack.aws, harness.stack.events_table.clone());
    let headers = Headers::default();
    table
        .claim(&NewEvent {
            source: "legitmark",
            key,
            status: EventStatus::Received,
            body,
            body_sha256: &sha256_hex(body),
            headers: &headers,
            event_type: None,
            subject: None,
            message_id: None,
            received_at_ms: NOW_MS,
            expires_at_s: NOW_S + 60,
            lease_until_ms,
            claim_token: "other-invocation",
            note: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn claim_left_by_a_dead_process_is_taken_over_after_its_lease() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);
    claim_left_behind(&harness, "id:msg_takeover", &body, NOW_MS + 10_000).await;
    assert_eq!(status_of(&harness.events().await[0]), "RECEIVED");

    harness.clock.fetch_add(60_000, Ordering::SeqCst);
    let retry = harness.send(legitmark_event("msg_takeover", &body)).await;

    assert_eq!(retry.status_code, 200);
    assert_eq!(harness.messages().await.len(), 1);
    let events = harness.events().await;
    assert_eq!(status_of(&events[0]), "ENQUEUED");
    assert_ne!(events[0]["claim_token"].as_s().unwrap(), "other-invocation");
}

#[tokio::test]
async fn duplicate_while_another_invocation_holds_a_live_lease_gets_409_with_retry_after() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);
    claim_left_behind(&harness, "id:msg_held", &body, NOW_MS + 30_000).await;

    let response = harness.send(legitmark_event("msg_held", &body)).await;

    assert_eq!(response.status_code, 409);
    assert_eq!(response.headers["retry-after"], "30");
    assert!(harness.messages().await.is_empty());
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[tokio::test]
async fn queue_failure_answers_503_leaves_no_claim_and_the_retry_is_accepted() {
    let stack = Stack::new(30).await;
    let missing_queue = testkit::unique("not-yet-created");
    let sqs = stack.sqs();
    let queue_url = format!(
        "{}/123456789012/{missing_queue}",
        std::env::var("AWS_ENDPOINT_URL").unwrap()
    );
    let harness = Harness::with_queue_url(stack.clone(), &queue_url);
    let body = testkit::payload(LIFECYCLE_SAMPLE);

    let first = harness.send(legitmark_event("msg_sqs_down", &body)).await;

    assert_eq!(first.status_code, 503);
    assert!(
        harness.events().await.is_empty(),
        "a failed enqueue left a claim behind"
    );

    let created = sqs
        .create_queue()
        .queue_name(&missing_queue)
        .send()
        .await
        .unwrap();
    let retry = harness.send(legitmark_event("msg_sqs_down", &body)).await;

    assert_eq!(retry.status_code, 200);
    assert_eq!(status_of(&harness.events().await[0]), "ENQUEUED");
    assert_eq!(
        harness
            .stack
            .drain(created.queue_url().unwrap())
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn dynamodb_failure_answers_503_and_enqueues_nothing() {
    let mut stack = Stack::new(30).await;
    stack.events_table = testkit::unique("missing-table");
    let harness = Harness::with_queue_url(stack.clone(), &stack.queues.queue_url);

    let response = harness
        .send(legitmark_event(
            "msg_ddb_down",
            &testkit::payload(LIFECYCLE_SAMPLE),
        ))
        .await;

    assert_eq!(response.status_code, 503);
    assert!(response.headers.contains_key("retry-after"));
    assert!(harness.messages().await.is_empty());
}

#[tokio::test]
async fn bad_inputs_get_their_status_and_write_nothing() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);
    let good_headers = testkit::legitmark_headers("msg_bad", NOW_S, &body);
    let mut stale_headers = testkit::legitmark_headers("msg_bad", NOW_S - 301, &body);
    stale_headers.retain(|(k, _)| k != "content-type");
    let mut forged = good_headers.clone();
    forged[3].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let unsigned: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    let oversized = vec![b' '; 256 * 1024 + 1];
    let bad_base64 = {
        let mut event =
            testkit::function_url_event("POST", "/webhooks/legitmark", &good_headers, b"", true);
        event["body"] = "%%% not base64 %%%".into();
        event
    };
    let cr3d_body = testkit::payload("cr3dentials/verification_completed.json");
    let mut cr3d_wrong_auth = testkit::cr3dentials_headers(&cr3d_body);
    cr3d_wrong_auth[2].1 = "guess".into();

    let cases: Vec<(&str, serde_json::Value, i64)> = vec![
        (
            "unknown source",
            testkit::function_url_event("POST", "/webhooks/nobody", &good_headers, &body, false),
            404,
        ),
        (
            "unknown path",
            testkit::function_url_event("POST", "/other", &good_headers, &body, false),
            404,
        ),
        (
            "GET",
            testkit::function_url_event("GET", "/webhooks/legitmark", &good_headers, &body, false),
            405,
        ),
        (
            "oversized",
            testkit::function_url_event(
                "POST",
                "/webhooks/legitmark",
                &good_headers,
                &oversized,
                false,
            ),
            413,
        ),
        (
            "oversized base64",
            testkit::function_url_event(
                "POST",
                "/webhooks/legitmark",
                &good_headers,
                &oversized,
                true,
            ),
            413,
        ),
        ("invalid base64", bad_base64, 400),
        (
            "forged signature",
            testkit::function_url_event("POST", "/webhooks/legitmark", &forged, &body, false),
            401,
        ),
        (
            "stale timestamp",
            testkit::function_url_event(
                "POST",
                "/webhooks/legitmark",
                &stale_headers,
                &body,
                false,
            ),
            401,
        ),
        (
            "no signature headers",
            testkit::function_url_event("POST", "/webhooks/legitmark", &unsigned, &body, false),
            401,
        ),
        (
            "wrong static header",
            testkit::function_url_event(
                "POST",
                "/webhooks/cr3dentials",
                &cr3d_wrong_auth,
                &cr3d_body,
                false,
            ),
            401,
        ),
    ];

    for (name, event, expected) in cases {
        let response = harness.send(event).await;
        assert_eq!(response.status_code, expected, "{name}");
        assert!(
            body_json(&response)["error"].is_string(),
            "{name}: no JSON error"
        );
    }
    assert!(harness.events().await.is_empty());
    assert!(harness.messages().await.is_empty());
}

#[tokio::test]
async fn base64_body_from_the_function_url_is_decoded_and_accepted() {
    let harness = Harness::new().await;
    let body = testkit::payload(LIFECYCLE_SAMPLE);
    let headers = testkit::legitmark_headers("msg_b64", NOW_S, &body);

    let response = harness
        .send(testkit::function_url_event(
            "POST",
            "/webhooks/legitmark",
            &headers,
            &body,
            true,
        ))
        .await;

    assert_eq!(response.status_code, 200);
    assert_eq!(harness.messages().await.len(), 1);
}

#[tokio::test]
async fn same_key_with_a_different_body_is_kept_as_a_conflict_record() {
    let harness = Harness::new().await;
    let first = testkit::payload(LIFECYCLE_SAMPLE);
    let second = testkit::payload("legitmark/state_change_complete_rejected.json");
    harness.send(legitmark_event("msg_reused", &first)).await;

    let response = harness.send(legitmark_event("msg_reused", &second)).await;

    assert_eq!(response.status_code, 200);
    assert_eq!(body_json(&response)["status"], "conflict");
    let events = harness.events().await;
    let conflict = events.iter().find(|e| status_of(e) == "CONFLICT").unwrap();
    assert_eq!(conflict["body"].as_b().unwrap().as_ref(), second.as_slice());
    assert_eq!(
        harness.messages().await.len(),
        1,
        "the conflicting body must not be queued"
    );
}

#[tokio::test]
async fn authentic_but_unparseable_bodies_are_quarantined_with_2xx() {
    let harness = Harness::new().await;
    let not_json = b"this is not json".to_vec();
    let missing_fields =
        br#"{"event_type": "state_change", "timestamp": "2026-03-01T09:14:00Z"}"#.to_vec();

    for (id, body) in [
        ("msg_not_json", not_json),
        ("msg_missing_fields", missing_fields),
    ] {
        let response = harness.send(legitmark_event(id, &body)).await;
        assert_eq!(response.status_code, 200, "{id}");
        assert_eq!(body_json(&response)["status"], "quarantined", "{id}");
    }

    let events = harness.events().await;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| status_of(e) == "QUARANTINED" && e.contains_key("note"))
    );
    assert!(harness.messages().await.is_empty());
}

#[tokio::test]
async fn unknown_event_type_is_stored_enqueued_and_acknowledged() {
    let harness = Harness::new().await;
    let body = testkit::payload("legitmark/unknown_event_type.json");

    let response = harness.send(legitmark_event("msg_unknown", &body)).await;

    assert_eq!(response.status_code, 200);
    let messages = harness.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].message_attributes().unwrap()["event_type"].string_value(),
        Some("sr_note_added")
    );
}

#[tokio::test]
async fn cr3dentials_event_with_signature_and_static_header_is_accepted_and_deduplicated() {
    let harness = Harness::new().await;
    let body = testkit::payload("cr3dentials/verification_completed.json");
    let headers = testkit::cr3dentials_headers(&body);
    let event =
        || testkit::function_url_event("POST", "/webhooks/cr3dentials", &headers, &body, false);

    let first = harness.send(event()).await;
    let retry = harness.send(event()).await;

    assert_eq!(body_json(&first)["status"], "accepted");
    assert_eq!(body_json(&retry)["status"], "duplicate");
    assert_eq!(harness.messages().await.len(), 1);
    let events = harness.events().await;
    assert!(
        !events[0]["headers"].as_m().unwrap().contains_key("secret"),
        "credential stored"
    );
}

#[tokio::test]
async fn every_request_file_in_events_is_accepted_at_the_time_it_was_signed() {
    let harness = Harness::new().await;
    let dir = testkit::repo_root().join("events/requests");
    let mut seen = 0;

    for source in ["legitmark", "cr3dentials"] {
        for entry in std::fs::read_dir(dir.join(source)).unwrap() {
            let path = entry.unwrap().path();
            let event: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let payload = testkit::payload(&format!(
                "{source}/{}",
                path.file_name().unwrap().to_str().unwrap()
            ));
            assert_eq!(
                event["body"].as_str().unwrap().as_bytes(),
                payload.as_slice(),
                "{path:?} is stale"
            );
            if let Some(signed_at) = event["headers"]["svix-timestamp"].as_str() {
                harness
                    .clock
                    .store(signed_at.parse::<i64>().unwrap() * 1000, Ordering::SeqCst);
            }

            let response = harness.send(event).await;

            assert_eq!(response.status_code, 200, "{path:?}: {:?}", response.body);
            seen += 1;
        }
    }
    let samples: usize = ["legitmark", "cr3dentials"]
        .iter()
        .map(|source| {
            std::fs::read_dir(testkit::repo_root().join("events/payloads").join(source))
                .unwrap()
                .count()
        })
        .sum();
    assert_eq!(seen, samples, "every sample has its signed request");
}
