//! The senders: many concurrent partners posting the schedule to the ingress's function URL,
//! signing each attempt at the moment they make it and retrying as real senders do.
//!
//! It owns the sender's side of the contract: retry on a 5xx, on a 409 (after its `Retry-After`)
//! and on a connection failure or timeout, with exponential backoff and jitter, up to a bounded
//! number of attempts; treat every other answer as final. It records what each attempt got and
//! how long it took; judging the answers is `reconcile`'s job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use webhook_core::config::{Env, source_prefix};
use webhook_tools::sender;

use crate::workload::{DeliveryKind, Forgery, Source, Workload};

/// A secret or client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A variable the senders need is unset.
    #[error("{0} is not set")]
    Missing(String),
    /// A secret is unusable.
    #[error("{var} is unusable: {message}")]
    Secret {
        /// The variable.
        var: String,
        /// Why.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// The secrets both senders sign with, as the ingress is configured (`SOURCE_*` variables).
#[derive(Clone)]
pub struct Secrets {
    legitmark: String,
    cr3dentials: String,
    static_header: Option<(String, String)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

impl Secrets {
    /// Reads the first Legitmark secret, the first Cr3dentials secret and its static header.
    pub fn from_env(env: &impl Env) -> Result<Self, SendError> {
        let var = |name: String| {
            env.var(&name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(SendError::Missing(name))
        };
        let legitmark_prefix = source_prefix(Source::Legitmark.name());
        let legitmark = var(format!("{legitmark_prefix}SECRETS"))?
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let cr3dentials_prefix = source_prefix(Source::Cr3dentials.name());
        let cr3dentials = var(format!("{cr3dentials_prefix}SECRETS"))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let static_header = var(format!("{cr3dentials_prefix}AUTH_HEADER_NAME"))
            .ok()
            .zip(var(format!("{cr3dentials_prefix}AUTH_HEADER_VALUE")).ok());
        Ok(Self {
            legitmark,
            cr3dentials,
            static_header,
        })
    }
}

/// A Standard Webhooks secret that is not the receiver's.
const FORGED_WHSEC: &str = "whsec_Zm9yZ2VkLXNlY3JldC1mb3ItbG9hZC10ZXN0cw==";
const FORGED_HEX_SECRET: &str = "forged-secret";
const FORGED_STATIC_VALUE: &str = "not-the-configured-value";
/// How old a stale signature's timestamp is: twice the receiver's tolerance.
const STALE_BY_S: i64 = 600;

/// The retry behaviour of a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles with each retry.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured as sent (longer ones are cut to this).
    pub max_retry_after: Duration,
    /// How long one attempt may take before it counts as a connection failure.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer.
    Http {
        /// The status.
        status: u16,
        /// The `status` field of a JSON body (`accepted`, `duplicate`, ...), if any.
        outcome: Option<String>,
        /// The `Retry-After` header, in seconds.
        retry_after_s: Option<u64>,
    },
    /// No answer: connection refused or reset, or the attempt timed out.
    Transport(String),
}

/// One attempt and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What it got.
    pub answer: Answer,
    /// From sending the request to the end of the answer.
    pub latency: Duration,
}

/// What a sender does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The answer is final.
    Done,
    /// Retry after this long.
    Retry(Duration),
    /// Retryable, but the attempts are used up.
    GiveUp,
}

impl RetryPolicy {
    /// What to do after attempt number `attempt` (1-based) got `answer`; `jitter` in [0, 1).
    pub fn next(&self, attempt: u32, answer: &Answer, jitter: f64) -> Next {
        let wait = match answer {
            Answer::Http {
                status,
                retry_after_s,
                ..
            } if *status == 409 || *status >= 500 => match retry_after_s {
                Some(s) => Duration::from_secs(*s).min(self.max_retry_after),
                None => self.backoff(attempt, jitter),
            },
            Answer::Http { .. } => return Next::Done,
            Answer::Transport(_) => self.backoff(attempt, jitter),
        };
        if attempt >= self.max_attempts {
            Next::GiveUp
        } else {
            Next::Retry(wait)
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random.
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// Everything that happened to one scheduled delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Index into [`Workload::schedule`].
    pub delivery: usize,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Whether the last answer was retryable (the sender gave up).
    pub gave_up: bool,
    /// From the first attempt to the final answer.
    pub elapsed: Duration,
}

impl DeliveryReport {
    /// The last answer.
    pub fn last(&self) -> Option<&Answer> {
        self.attempts.last().map(|a| &a.answer)
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The ingress function URL, without `/webhooks/{source}`.
    pub ingress_url: String,
    /// Signing secrets.
    pub secrets: Secrets,
    /// Retry behaviour.
    pub policy: RetryPolicy,
}

/// Sends the whole schedule with `senders` concurrent senders; returns one report per delivery,
/// in schedule order. `progress` is called now and then with the number of deliveries finished.
pub async fn send_all(
    workload: Arc<Workload>,
    target: Arc<Target>,
    senders: usize,
    seed: u64,
    progress: impl Fn(usize) + Send + Sync + 'static,
) -> Result<Vec<DeliveryReport>, SendError> {
    let client = reqwest::Client::builder()
        .timeout(target.policy.request_timeout)
        .pool_max_idle_per_host(senders)
        .build()
        .map_err(|e| SendError::Client(e.to_string()))?;
    let next = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let tasks: Vec<_> = (0..senders.max(1))
        .map(|n| {
            let (workload, target, client) = (workload.clone(), target.clone(), client.clone());
            let (next, finished, progress) = (next.clone(), finished.clone(), progress.clone());
            tokio::spawn(async move {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).rotate_left(32));
                let mut reports = Vec::new();
                loop {
                    let delivery = next.fetch_add(1, Ordering::SeqCst);
                    if delivery >= workload.schedule.len() {
                        return reports;
                    }
                    reports.push(deliver(&client, &workload, &target, delivery, &mut rng).await);
                    let done = finished.fetch_add(1, Ordering::SeqCst) + 1;
                    if done % 500 == 0 {
                        progress(done);
                    }
                }
            })
        })
        .collect();
    let mut reports: Vec<DeliveryReport> = Vec::with_capacity(workload.schedule.len());
    for task in futures::future::join_all(tasks).await {
        reports.extend(task.map_err(|e| SendError::Client(e.to_string()))?);
    }
    reports.sort_by_key(|r| r.delivery);
    Ok(reports)
}

async fn deliver(
    client: &reqwest::Client,
    workload: &Workload,
    target: &Target,
    delivery: usize,
    rng: &mut ChaCha8Rng,
) -> DeliveryReport {
    let scheduled = workload.schedule[delivery];
    let event = &workload.events[scheduled.event];
    let url = format!(
        "{}/webhooks/{}",
        target.ingress_url.trim_end_matches('/'),
        event.source
    );
    let forgery = match scheduled.kind {
        DeliveryKind::Forged(forgery) => Some(forgery),
        _ => None,
    };
    let started = Instant::now();
    let mut attempts = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let headers = sign(&target.secrets, event, forgery);
        let mut request = client.post(&url).body(event.body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let sent = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after_s = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                match response.bytes().await {
                    Ok(body) => Answer::Http {
                        status,
                        outcome: serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["status"].as_str().map(str::to_owned)),
                        retry_after_s,
                    },
                    Err(err) => Answer::Transport(err.to_string()),
                }
            }
            Err(err) => Answer::Transport(err.to_string()),
        };
        let latency = sent.elapsed();
        let next = target.policy.next(attempt, &answer, rng.random());
        attempts.push(Attempt { answer, latency });
        match next {
            Next::Retry(wait) => tokio::time::sleep(wait).await,
            Next::Done | Next::GiveUp => {
                return DeliveryReport {
                    delivery,
                    attempts,
                    gave_up: next == Next::GiveUp,
                    elapsed: started.elapsed(),
                };
            }
        }
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The headers of one attempt: signed now, as the sender would, or forged as planned.
fn sign(
    secrets: &Secrets,
    event: &crate::workload::Event,
    forgery: Option<Forgery>,
) -> Vec<(String, String)> {
    let signed = match event.source {
        Source::Legitmark => {
            let id = event.message_id.as_deref().unwrap_or_default();
            match forgery {
                Some(Forgery::Signature) => {
                    sender::legitmark_headers(FORGED_WHSEC, id, now_s(), &event.body)
                }
                Some(Forgery::StaleTimestamp) => sender::legitmark_headers(
                    &secrets.legitmark,
                    id,
                    now_s() - STALE_BY_S,
                    &event.body,
                ),
                _ => sender::legitmark_headers(&secrets.legitmark, id, now_s(), &event.body),
            }
        }
        Source::Cr3dentials => {
            let header = secrets
                .static_header
                .as_ref()
                .map(|(n, v)| (n.as_str(), v.as_str()));
            match forgery {
                Some(Forgery::Signature) => {
                    sender::cr3dentials_headers(FORGED_HEX_SECRET, header, &event.body)
                }
                Some(Forgery::StaticHeader) => sender::cr3dentials_headers(
                    &secrets.cr3dentials,
                    Some((
                        header.map_or("secret", |(name, _)| name),
                        FORGED_STATIC_VALUE,
                    )),
                    &event.body,
                ),
                _ => sender::cr3dentials_headers(&secrets.cr3dentials, header, &event.body),
            }
        }
    };
    // The secrets were checked when the ingress started; a failure here sends no signature at
    // all, which the ingress must refuse like any forgery.
    signed.unwrap_or_else(|_| vec![("content-type".into(), "application/json".into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after_s: Option<u64>) -> Answer {
        Answer::Http {
            status,
            outcome: None,
            retry_after_s,
        }
    }

    #[test]
    fn success_and_client_errors_other_than_409_are_final() {
        let policy = RetryPolicy::default();
        for status in [200, 202, 400, 401, 404, 405, 413] {
            assert_eq!(
                policy.next(1, &http(status, None), 0.5),
                Next::Done,
                "{status}"
            );
        }
    }

    #[test]
    fn server_errors_409_and_transport_failures_are_retried_with_growing_backoff() {
        let policy = RetryPolicy::default();
        for answer in [
            http(500, None),
            http(502, None),
            http(503, None),
            Answer::Transport("reset".into()),
        ] {
            let first = policy.next(1, &answer, 0.0);
            let third = policy.next(3, &answer, 0.0);

            assert_eq!(first, Next::Retry(Duration::from_millis(100)), "{answer:?}");
            assert_eq!(third, Next::Retry(Duration::from_millis(400)), "{answer:?}");
        }
        assert!(matches!(
            policy.next(1, &http(409, None), 0.0),
            Next::Retry(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let policy = RetryPolicy::default();

        assert_eq!(
            policy.next(1, &http(409, Some(3)), 0.9),
            Next::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            policy.next(1, &http(503, Some(5)), 0.9),
            Next::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            policy.next(1, &http(409, Some(3_600)), 0.9),
            Next::Retry(policy.max_retry_after)
        );
    }

    #[test]
    fn backoff_stays_between_half_and_all_of_its_cap() {
        let policy = RetryPolicy::default();
        for attempt in 1..11 {
            for jitter in [0.0, 0.5, 0.999] {
                let Next::Retry(wait) = policy.next(attempt, &http(503, None), jitter) else {
                    panic!("attempt {attempt} not retried");
                };
                assert!(wait <= policy.max_backoff, "{wait:?}");
                assert!(wait >= policy.base_backoff / 2, "{wait:?}");
            }
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy::default();

        assert_eq!(
            policy.next(policy.max_attempts, &http(503, None), 0.5),
            Next::GiveUp
        );
        assert_eq!(
            policy.next(policy.max_attempts, &http(200, None), 0.5),
            Next::Done
        );
    }
}
