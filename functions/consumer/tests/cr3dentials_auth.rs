//! Cr3dentials' three ways to authenticate, against real DynamoDB and SQS protocol servers (moto,
//! started by `make test`): the custom header alone (how the session-level webhook is sent), the
//! HMAC alone, or both. A delivery the configuration does not authenticate is a 401 that stores
//! nothing; an authentic session-level delivery is applied once, and its retry is a duplicate.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use webhook_aws::{EventQueue, EventsTable, ItemsTable};
use webhook_core::clock::Clock;
use webhook_core::consumer::Consumer;
use webhook_core::ingress::Ingress;
use webhook_core::ports::{RecordId, RecordsStore};
use webhook_core::senders::cr3dentials::VerificationRecord;
use webhook_core::verify::{SigningKey, sign_hex};
use webhook_tools::sender;
use webhook_tools::testkit::{self, Stack};

const NOW_MS: i64 = 1_790_000_000_000;
const SESSION: &str = "cr3dentials/session_completed.json";
const HEADER_NAME: &str = "x-api-key";
const HEADER_VALUE: &str = "session-webhook-key";
const SECRET: &str = "cr3d-session-test-secret";

/// The ingress and consumer with Cr3dentials configured by `secrets` and `header`.
struct Receiver {
    stack: Stack,
    ingress: Ingress<EventsTable, EventQueue>,
    consumer: Consumer<EventsTable, ItemsTable>,
}

impl Receiver {
    async fn new(secrets: Option<&str>, header: Option<(&str, &str)>) -> Self {
        let stack = Stack::new(30).await;
        let config = testkit::ingress_config_with(
            &stack.events_table,
            &stack.queues.queue_url,
            &[
                ("SOURCE_CR3DENTIALS_SECRETS", secrets),
                ("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME", header.map(|h| h.0)),
                ("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE", header.map(|h| h.1)),
            ],
        );
        let clock: Clock = Arc::new(|| NOW_MS);
        let events = || EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone());
        let ingress = Ingress::new(
            config,
            events(),
            EventQueue::from_sdk_config(&stack.aws, stack.queues.queue_url.clone()),
        )
        .with_clock(clock.clone());
        let consumer = Consumer::new(
            ItemsTable::from_sdk_config(&stack.aws, stack.items_table.clone()),
            events(),
        )
        .with_clock(clock);
        Self {
            stack,
            ingress,
            consumer,
        }
    }

    async fn post(&self, headers: &[(&str, String)], body: &[u8]) -> LambdaFunctionUrlResponse {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let event =
            testkit::function_url_event("POST", "/webhooks/cr3dentials", &headers, body, false);
        let request = serde_json::from_value(event).unwrap();
        ingress::handle(&self.ingress, LambdaEvent::new(request, Context::default()))
            .await
            .unwrap()
    }

    /// Hands everything on the queue to the consumer's Lambda handler; the failed message ids.
    async fn consume(&self) -> Vec<String> {
        let messages = self.stack.drain(&self.stack.queues.queue_url).await;
        let event: SqsEvent = serde_json::from_value(sender::sqs_event(
            messages
                .iter()
                .map(|m| (m.message_id().unwrap(), m.body().unwrap())),
        ))
        .unwrap();
        consumer::handle(&self.consumer, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap()
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn stored_events(&self) -> usize {
        self.stack.scan(&self.stack.events_table).await.len()
    }
}

fn body_status(response: &LambdaFunctionUrlResponse) -> String {
    let body: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    body["status"].as_str().unwrap_or("-").to_owned()
}

fn header(value: &str) -> (&'static str, String) {
    (HEADER_NAME, value.to_owned())
}

fn signature(body: &[u8]) -> (&'static str, String) {
    let key = SigningKey::from_text(SECRET).unwrap();
    ("x-webhook-signature", sign_hex(&key, body))
}

#[tokio::test]
async fn session_delivery_with_only_the_custom_header_configured_is_applied_and_its_retry_is_a_duplicate()
 {
    // given Cr3dentials configured with the custom header alone, as its session-level webhook sends
    let receiver = Receiver::new(None, Some((HEADER_NAME, HEADER_VALUE))).await;
    let body = testkit::payload(SESSION);

    // when the session-level webhook arrives, is consumed, and is sent again
    let first = receiver.post(&[header(HEADER_VALUE)], &body).await;
    let failed = receiver.consume().await;
    let retry = receiver.post(&[header(HEADER_VALUE)], &body).await;

    // then it is accepted and applied once; the retry is a duplicate and queues nothing
    assert_eq!(
        (first.status_code, body_status(&first)),
        (200, "accepted".into())
    );
    assert!(failed.is_empty());
    assert_eq!(
        (retry.status_code, body_status(&retry)),
        (200, "duplicate".into())
    );
    assert!(
        receiver
            .stack
            .drain(&receiver.stack.queues.queue_url)
            .await
            .is_empty()
    );
    let items =
        ItemsTable::from_sdk_config(&receiver.stack.aws, receiver.stack.items_table.clone());
    let id = RecordId {
        kind: "verification",
        subject: "1988cff5-efec-4714-b40c-9ed453680184",
    };
    let stored = items.load(id).await.unwrap().expect("the session's record");
    let record: VerificationRecord = serde_json::from_str(&stored.json).unwrap();
    let session = record.session.expect("the session outcome");
    assert_eq!(session.status, "COMPLETED");
    assert_eq!(
        session.external_reference_id.as_deref(),
        Some("user_abc123")
    );
    assert!(session.extracted_data.is_some());
    let kinds: Vec<String> = items
        .notifications(id)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.notification.kind)
        .collect();
    assert_eq!(kinds, ["session_completed"]);
}

#[tokio::test]
async fn with_only_the_custom_header_configured_a_wrong_or_missing_header_is_401_and_stores_nothing()
 {
    let receiver = Receiver::new(None, Some((HEADER_NAME, HEADER_VALUE))).await;
    let body = testkit::payload(SESSION);

    let wrong = receiver.post(&[header("not-the-key")], &body).await;
    let missing = receiver.post(&[], &body).await;
    let signed_only = receiver.post(&[signature(&body)], &body).await;

    assert_eq!(wrong.status_code, 401);
    assert_eq!(missing.status_code, 401);
    assert_eq!(signed_only.status_code, 401);
    assert_eq!(receiver.stored_events().await, 0);
    assert!(
        receiver
            .stack
            .drain(&receiver.stack.queues.queue_url)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn with_the_hmac_alone_configured_a_signed_delivery_is_accepted_and_an_unsigned_one_is_401() {
    let receiver = Receiver::new(Some(SECRET), None).await;
    let body = testkit::payload("cr3dentials/verification_completed.json");

    let unsigned = receiver.post(&[header(HEADER_VALUE)], &body).await;
    let signed = receiver.post(&[signature(&body)], &body).await;

    assert_eq!(unsigned.status_code, 401);
    assert_eq!(signed.status_code, 200);
    assert_eq!(receiver.stored_events().await, 1);
}

#[tokio::test]
async fn with_header_and_hmac_configured_a_delivery_missing_either_is_401_and_stores_nothing() {
    let receiver = Receiver::new(Some(SECRET), Some((HEADER_NAME, HEADER_VALUE))).await;
    let body = testkit::payload("cr3dentials/verification_completed.json");

    let header_only = receiver.post(&[header(HEADER_VALUE)], &body).await;
    let signature_only = receiver.post(&[signature(&body)], &body).await;
    let both = receiver
        .post(&[header(HEADER_VALUE), signature(&body)], &body)
        .await;

    assert_eq!(header_only.status_code, 401);
    assert_eq!(signature_only.status_code, 401);
    assert_eq!(both.status_code, 200);
    assert_eq!(receiver.stored_events().await, 1);
}
