//! The fault proxy in front of a real DynamoDB, SQS and EventBridge protocol server (moto, started
//! by `make test`), through the real SDK: injected faults must reach the SDK as the errors the
//! services send (same code, retried by the SDK's own classifier) and must have the effect the
//! real failure has on the queue, the tables and the bus.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use webhook_aws::EventBridgeBus;
use webhook_core::ports::{BusinessEvent, EventBus};
use webhook_load::proxy::{self, FaultRates, Proxy};
use webhook_tools::testkit::{Stack, TEST_SOURCE_PREFIX};

/// SDK attempts per call in these tests (the SDK's default).
const ATTEMPTS: u64 = 3;

struct Proxied {
    stack: Stack,
    proxy: Arc<Proxy>,
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    /// The stack's business events bus, as the consumer publishes to it, through the proxy.
    bus: EventBridgeBus,
}

async fn proxied(rates: FaultRates) -> Proxied {
    let stack = Stack::new(30).await;
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = Arc::new(Proxy::new(&upstream, &upstream, rates, 7).unwrap());
    let addr = proxy::spawn("127.0.0.1:0".parse().unwrap(), proxy.clone())
        .await
        .unwrap();
    let endpoint = format!("http://{addr}");
    let retry = RetryConfig::standard()
        .with_max_attempts(ATTEMPTS as u32)
        .with_initial_backoff(Duration::from_millis(1));
    let dynamo = aws_sdk_dynamodb::config::Builder::from(&stack.aws)
        .endpoint_url(&endpoint)
        .retry_config(retry.clone())
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(&stack.aws)
        .endpoint_url(&endpoint)
        .retry_config(retry.clone())
        .build();
    // Set on the loader, the endpoint counts as programmatic and wins over AWS_ENDPOINT_URL.
    let through_proxy = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .retry_config(retry)
        .load()
        .await;
    Proxied {
        proxy,
        dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo),
        sqs: aws_sdk_sqs::Client::from_conf(sqs),
        bus: EventBridgeBus::from_sdk_config(&through_proxy, &stack.bus.bus, TEST_SOURCE_PREFIX),
        stack,
    }
}

fn item(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), AttributeValue::S(pk.to_owned()))].into()
}

/// A business event the tap's rule delivers.
fn business_event(event_id: &str) -> BusinessEvent {
    BusinessEvent {
        event_id: event_id.to_owned(),
        sender: "legitmark".to_owned(),
        detail_type: "Authentication Started".to_owned(),
        detail: serde_json::json!({ "event_id": event_id, "kind": "authenticator_assigned" })
            .to_string(),
    }
}

/// The `detail.event_id` of every business event on the tap.
async fn tapped_ids(stack: &Stack) -> Vec<String> {
    stack
        .tapped()
        .await
        .iter()
        .map(|event| event["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn refused_send_message_is_a_retried_sqs_server_error_and_enqueues_nothing() {
    let p = proxied(FaultRates {
        sqs_send_error: 1.0,
        ..FaultRates::default()
    })
    .await;

    let err = p
        .sqs
        .send_message()
        .queue_url(&p.stack.queues.queue_url)
        .message_body("refused")
        .send()
        .await
        .unwrap_err();

    assert_eq!(err.code(), Some("InternalFailure"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(p.proxy.stats().sqs_send_errors, ATTEMPTS);
    assert!(p.stack.drain(&p.stack.queues.queue_url).await.is_empty());
}

#[tokio::test]
async fn send_message_failed_after_enqueue_leaves_a_copy_per_attempt() {
    let p = proxied(FaultRates {
        sqs_send_error_after_enqueue: 1.0,
        ..FaultRates::default()
    })
    .await;

    let err = p
        .sqs
        .send_message()
        .queue_url(&p.stack.queues.queue_url)
        .message_body("ambiguous")
        .send()
        .await
        .unwrap_err();

    assert_eq!(err.code(), Some("InternalFailure"));
    assert_eq!(p.proxy.stats().sqs_send_errors_after_enqueue, ATTEMPTS);
    assert_eq!(
        p.stack.drain(&p.stack.queues.queue_url).await.len() as u64,
        ATTEMPTS
    );
}

#[tokio::test]
async fn refused_put_events_is_a_retried_server_error_and_publishes_nothing() {
    let p = proxied(FaultRates {
        put_events_error: 1.0,
        ..FaultRates::default()
    })
    .await;

    let result = p.bus.publish(&[business_event("refused")]).await;

    assert!(result.is_err(), "{result:?}");
    assert_eq!(p.proxy.stats().put_events_errors, ATTEMPTS);
    assert!(tapped_ids(&p.stack).await.is_empty());
}

#[tokio::test]
async fn put_events_failed_after_publishing_leaves_a_copy_per_attempt() {
    let p = proxied(FaultRates {
        put_events_error_after_publish: 1.0,
        ..FaultRates::default()
    })
    .await;

    let result = p.bus.publish(&[business_event("ambiguous")]).await;

    assert!(result.is_err(), "{result:?}");
    assert_eq!(p.proxy.stats().put_events_errors_after_publish, ATTEMPTS);
    assert_eq!(
        tapped_ids(&p.stack).await,
        vec!["ambiguous"; ATTEMPTS as usize]
    );
}

#[tokio::test]
async fn throttled_dynamodb_calls_are_retried_as_throttling_and_write_nothing() {
    let p = proxied(FaultRates {
        dynamodb_throttle: 1.0,
        ..FaultRates::default()
    })
    .await;

    let err = p
        .dynamo
        .put_item()
        .table_name(&p.stack.events_table)
        .set_item(Some(item("throttled")))
        .send()
        .await
        .unwrap_err();

    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{err:?}"
    );
    assert_eq!(p.proxy.stats().dynamodb_throttles, ATTEMPTS);
    assert!(p.stack.scan(&p.stack.events_table).await.is_empty());
}

#[tokio::test]
async fn without_faults_every_call_passes_through_unchanged() {
    let p = proxied(FaultRates::default()).await;

    p.dynamo
        .put_item()
        .table_name(&p.stack.events_table)
        .set_item(Some(item("through")))
        .send()
        .await
        .unwrap();
    p.sqs
        .send_message()
        .queue_url(&p.stack.queues.queue_url)
        .message_body("through")
        .send()
        .await
        .unwrap();
    let published = p.bus.publish(&[business_event("through")]).await.unwrap();

    let stats = p.proxy.stats();
    assert_eq!(
        (stats.dynamodb_calls, stats.sqs_sends, stats.put_events),
        (1, 1, 1)
    );
    assert_eq!(
        stats.dynamodb_throttles + stats.sqs_send_errors + stats.put_events_errors,
        0
    );
    assert_eq!(published, vec![Ok(())]);
    assert_eq!(p.stack.scan(&p.stack.events_table).await.len(), 1);
    assert_eq!(p.stack.drain(&p.stack.queues.queue_url).await.len(), 1);
    assert_eq!(tapped_ids(&p.stack).await, vec!["through"]);
}
