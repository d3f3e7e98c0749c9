//! The sources' credentials in Secrets Manager (moto, started by `make test`): read at start-up,
//! a rotation picked up after the refresh interval without a restart, and a missing or malformed
//! secret stopping start-up with a message that names it and never shows its value. The rules
//! themselves (document format, refresh, failed refreshes) are tested first on the in-memory
//! store (`webhook_core::config`'s tests); here the Secrets Manager adapter and the wiring are.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{Context, LambdaEvent};
use webhook_aws::{EventQueue, EventsTable, SecretsManager};
use webhook_core::clock::Clock;
use webhook_core::config::{ConfigError, IngressConfig, LiveSources, SecretDocument};
use webhook_core::ingress::Ingress;
use webhook_tools::provision;
use webhook_tools::sender;
use webhook_tools::testkit::{self, Stack};

const NOW_MS: i64 = 1_790_000_000_000;
const SAMPLE: &str = "legitmark/state_change_complete_approved.json";
const CR3DENTIALS_SAMPLE: &str = "cr3dentials/verification_completed.json";
/// The local Legitmark secret (local.env) and a second one, as a rotation would bring.
const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// Part of every malformed value: it must appear in no error.
const LEAK: &str = "LEAKME";

struct Harness {
    stack: Stack,
    ingress: Ingress<EventsTable, EventQueue>,
    sources: LiveSources,
    clock: Arc<AtomicI64>,
    /// The Legitmark secret's name.
    legitmark_secret: String,
}

impl Harness {
    /// An ingress whose sources' credentials come from Secrets Manager only: the local values
    /// are put into fresh secrets and the plain variables are unset.
    async fn new(refresh_seconds: &str) -> Self {
        let stack = Stack::new(30).await;
        let prefix = format!("{}/", testkit::unique("webhook"));
        let secret_vars =
            provision::ensure_source_secrets(&stack.aws, &testkit::local_env(), &prefix)
                .await
                .unwrap();
        assert_eq!(secret_vars.len(), 2, "{secret_vars:?}");
        let mut changes: Vec<(&str, Option<&str>)> = vec![
            ("SOURCE_LEGITMARK_SECRETS", None),
            ("SOURCE_CR3DENTIALS_SECRETS", None),
            ("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME", None),
            ("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE", None),
            ("SECRETS_REFRESH_SECONDS", Some(refresh_seconds)),
        ];
        changes.extend(
            secret_vars
                .iter()
                .map(|(var, arn)| (var.as_str(), Some(arn.as_str()))),
        );
        let config =
            testkit::ingress_config_with(&stack.events_table, &stack.queues.queue_url, &changes);
        assert!(
            config.sources.is_empty(),
            "no source may keep env credentials"
        );

        let clock = Arc::new(AtomicI64::new(NOW_MS));
        let reading = clock.clone();
        let clock_fn: Clock = Arc::new(move || reading.load(Ordering::SeqCst));
        let sources = LiveSources::load(
            &config,
            SecretsManager::from_sdk_config(&stack.aws),
            clock_fn.clone(),
        )
        .await
        .unwrap();
        let ingress = Ingress::new(
            config,
            EventsTable::from_sdk_config(&stack.aws, stack.events_table.clone()),
            EventQueue::from_sdk_config(&stack.aws, stack.queues.queue_url.clone()),
        )
        .with_sources(sources.clone())
        .with_clock(clock_fn);
        Self {
            stack,
            ingress,
            sources,
            clock,
            legitmark_secret: format!("{prefix}legitmark"),
        }
    }

    /// Sends a Legitmark delivery signed with `secret`; the answer's status.
    async fn send_legitmark(&self, secret: &str, message_id: &str) -> i64 {
        let body = testkit::payload(SAMPLE);
        let now_s = self.clock.load(Ordering::SeqCst) / 1000;
        let headers = sender::legitmark_headers(secret, message_id, now_s, &body).unwrap();
        let event =
            testkit::function_url_event("POST", "/webhooks/legitmark", &headers, &body, false);
        let request: LambdaFunctionUrlRequest = serde_json::from_value(event).unwrap();
        ingress::handle(&self.ingress, LambdaEvent::new(request, Context::default()))
            .await
            .unwrap()
            .status_code
    }

    async fn set_legitmark_secrets(&self, secrets: &[&str]) {
        let document = SecretDocument {
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            auth_header: None,
        };
        provision::ensure_secret(&self.stack.aws, &self.legitmark_secret, &document.to_json())
            .await
            .unwrap();
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn credentials_are_read_from_secrets_manager_at_start_up() {
    let harness = Harness::new("300").await;
    let cr3dentials_body = testkit::payload(CR3DENTIALS_SAMPLE);
    let cr3dentials = testkit::function_url_event(
        "POST",
        "/webhooks/cr3dentials",
        &testkit::cr3dentials_headers(&cr3dentials_body),
        &cr3dentials_body,
        false,
    );

    let legitmark = harness.send_legitmark(OLD_SECRET, "msg_from_secret").await;
    let forged = harness.send_legitmark(NEW_SECRET, "msg_forged").await;
    let request: LambdaFunctionUrlRequest = serde_json::from_value(cr3dentials).unwrap();
    let cr3dentials = ingress::handle(
        &harness.ingress,
        LambdaEvent::new(request, Context::default()),
    )
    .await
    .unwrap();

    assert_eq!(legitmark, 200);
    assert_eq!(forged, 401);
    assert_eq!(cr3dentials.status_code, 200, "{:?}", cr3dentials.body);
    assert_eq!(
        harness
            .stack
            .drain(&harness.stack.queues.queue_url)
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_rotation_is_picked_up_after_the_refresh_interval_without_a_restart() {
    let harness = Harness::new("1").await;

    // given the new secret added beside the old one, before the interval has passed
    harness
        .set_legitmark_secrets(&[OLD_SECRET, NEW_SECRET])
        .await;
    let before_interval = harness.send_legitmark(NEW_SECRET, "msg_early").await;

    // when the interval has passed, the sender switches to the new secret: the first request
    // starts a refresh, and the one the old credentials reject waits for it
    harness.advance(1_000);
    let switched = harness.send_legitmark(NEW_SECRET, "msg_switched").await;
    let old_still = harness.send_legitmark(OLD_SECRET, "msg_old_still").await;

    // then the old secret is removed, and after the next interval it is refused
    harness.set_legitmark_secrets(&[NEW_SECRET]).await;
    harness.advance(1_000);
    let mut old_after_removal = 200;
    for attempt in 0..100 {
        old_after_removal = harness
            .send_legitmark(OLD_SECRET, &format!("msg_old_{attempt}"))
            .await;
        if old_after_removal == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new_after_removal = harness.send_legitmark(NEW_SECRET, "msg_new").await;

    assert_eq!(before_interval, 401, "no refresh before the interval");
    assert_eq!(switched, 200);
    assert_eq!(old_still, 200);
    assert_eq!(old_after_removal, 401);
    assert_eq!(new_after_removal, 200);
}

#[tokio::test]
async fn a_refresh_that_fails_keeps_the_last_good_secrets() {
    let harness = Harness::new("1").await;

    // given the secret replaced by a malformed value
    let malformed = format!(r#"{{"secrets": ["whsec_!{LEAK}!"]}}"#);
    provision::ensure_secret(&harness.stack.aws, &harness.legitmark_secret, &malformed)
        .await
        .unwrap();

    // when it is read again
    harness.advance(1_000);
    let failures = harness.sources.refresh().await;

    // then the failure names the secret, not its value, and the last good secret still verifies
    assert_eq!(failures.len(), 1, "{failures:?}");
    let text = failures[0].to_string();
    assert!(text.contains(&harness.legitmark_secret), "{text}");
    assert!(!text.contains(LEAK), "{text}");
    assert_eq!(harness.send_legitmark(OLD_SECRET, "msg_kept").await, 200);
}

/// The ingress configuration of one Legitmark source whose secret is `secret`.
fn config_naming(stack: &Stack, secret: &str) -> IngressConfig {
    testkit::ingress_config_with(
        &stack.events_table,
        &stack.queues.queue_url,
        &[
            ("WEBHOOK_SOURCES", Some("legitmark")),
            ("SOURCE_LEGITMARK_SECRETS", None),
            ("SOURCE_LEGITMARK_SECRET_ARN", Some(secret)),
        ],
    )
}

async fn start_up_error(stack: &Stack, secret: &str) -> ConfigError {
    let config = config_naming(stack, secret);
    let clock: Clock = Arc::new(|| NOW_MS);
    LiveSources::load(&config, SecretsManager::from_sdk_config(&stack.aws), clock)
        .await
        .unwrap_err()
}

fn assert_names_the_secret(text: &str, secret: &str) {
    assert!(text.contains(secret), "{text}");
    assert!(text.contains("legitmark"), "{text}");
    assert!(text.contains("SOURCE_LEGITMARK_SECRET_ARN"), "{text}");
    assert!(!text.contains(LEAK), "{text}");
}

#[tokio::test]
async fn a_missing_secret_stops_start_up_naming_it() {
    let stack = Stack::new(30).await;
    let missing = testkit::unique("webhook-missing");
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let missing_arn =
        format!("arn:aws:secretsmanager:{region}:123456789012:secret:{missing}-AbCdEf");

    for secret in [missing.as_str(), missing_arn.as_str()] {
        let err = start_up_error(&stack, secret).await;

        assert!(matches!(err, ConfigError::SecretUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("no such secret"), "{err}");
        assert_names_the_secret(&err.to_string(), secret);
        assert_names_the_secret(&format!("{err:?}"), secret);
    }
}

#[tokio::test]
async fn a_malformed_secret_stops_start_up_naming_it_without_its_value() {
    let stack = Stack::new(30).await;
    let malformed = [
        // not JSON: the plain secret pasted as it was in the environment
        format!("whsec_{LEAK}"),
        // JSON without the expected fields
        format!(r#"{{"secret": ["whsec_{LEAK}"]}}"#),
        format!(r#"{{"secrets": "whsec_{LEAK}"}}"#),
        r#"{"secrets": []}"#.to_owned(),
        // a whsec_ secret that is not base64
        format!(r#"{{"secrets": ["whsec_!{LEAK}!"]}}"#),
    ];

    for (n, value) in malformed.iter().enumerate() {
        let secret = testkit::unique(&format!("webhook-malformed-{n}"));
        provision::ensure_secret(&stack.aws, &secret, value)
            .await
            .unwrap();

        let err = start_up_error(&stack, &secret).await;

        assert!(
            matches!(err, ConfigError::SecretInvalid { .. }),
            "{value}: {err}"
        );
        assert_names_the_secret(&err.to_string(), &secret);
        assert_names_the_secret(&format!("{err:?}"), &secret);
    }
}

#[tokio::test]
async fn the_function_refuses_to_start_with_a_malformed_secret() {
    let stack = Stack::new(30).await;
    let secret = testkit::unique("webhook-malformed-binary");
    provision::ensure_secret(&stack.aws, &secret, &format!("whsec_{LEAK}"))
        .await
        .unwrap();

    // the deployed binary, started as Lambda would start it (its runtime API is never reached)
    let output = Command::new(env!("CARGO_BIN_EXE_ingress"))
        .env("EVENTS_TABLE", &stack.events_table)
        .env("QUEUE_URL", &stack.queues.queue_url)
        .env("WEBHOOK_SOURCES", "legitmark")
        .env_remove("SOURCE_LEGITMARK_SECRETS")
        .env("SOURCE_LEGITMARK_SECRET_ARN", &secret)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stderr}");
    assert_names_the_secret(&stderr, &secret);
    assert!(!stdout.contains(LEAK), "{stdout}");
}
