//! The ingress state machine: route, authenticate, claim, enqueue, answer.
//!
//! It owns the promise behind every answer: a 2xx means the event is durably on the queue (or was
//! already, or is archived because no retry could ever make it valid); anything a sender's retry can
//! fix gets a 5xx or 409. It maps outcomes to HTTP statuses in exactly one place
//! ([`Outcome::status`]). It knows nothing of the Lambda event format (the ingress binary converts)
//! and reaches storage and the queue only through the ports ([`EventsLog`], [`Queue`]).

use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::clock::{Clock, system_clock};
use crate::config::{DEFAULT_LEASE_MS, IngressConfig, LiveSources, Source, Sources};
use crate::envelope::EnvelopeMeta;
use crate::headers::Headers;
use crate::key::{self, IdempotencyKey};
use crate::metrics;
use crate::ports::{Claim, EventStatus, EventsLog, NewEvent, Queue, StoredEvent};
use crate::senders::ParsedEvent;
use crate::verify::FailureClass;

/// How long a duplicate waits for a live claim held by another invocation to finish.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Time kept back from the invocation's deadline to answer.
const DEADLINE_MARGIN_MS: i64 = 1_000;
const PATH_PREFIX: &str = "/webhooks/";

/// A request body as the transport delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Base64 text (function URLs encode bodies they consider binary).
    Base64(String),
}

/// One HTTP request, transport-neutral.
#[derive(Debug, Clone)]
pub struct IngressRequest {
    /// HTTP method.
    pub method: String,
    /// URL path, e.g. `/webhooks/legitmark`.
    pub path: String,
    /// Request headers.
    pub headers: Headers,
    /// The body.
    pub body: RequestBody,
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (`content-type` is always JSON).
    pub headers: Vec<(&'static str, String)>,
    /// A short JSON document.
    pub body: String,
}

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New event, now on the queue.
    Accepted,
    /// Already on the queue or processed.
    Duplicate,
    /// Same key, different body: archived beside the first, not queued.
    Conflict,
    /// Authentic but unparseable: archived, not queued (no retry could fix it).
    Quarantined,
    /// Authentication failed.
    Rejected(FailureClass),
    /// No such route or source.
    NotFound,
    /// Not a POST.
    MethodNotAllowed,
    /// Body over the configured limit.
    TooLarge,
    /// Body marked base64 but not base64.
    BadRequest,
    /// Another invocation holds a live claim on this event; retry after this many seconds.
    Busy {
        /// Seconds until the holder's lease ends.
        retry_after_s: u32,
    },
    /// The queue refused the event; the claim was released.
    EnqueueFailed,
    /// The events log was unreachable or refused the write.
    StoreUnavailable,
}

impl Outcome {
    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Conflict => "conflict",
            Self::Quarantined => "quarantined",
            Self::Rejected(_) => "rejected",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge => "too_large",
            Self::BadRequest => "bad_request",
            Self::Busy { .. } => "busy",
            Self::EnqueueFailed => "enqueue_failed",
            Self::StoreUnavailable => "store_unavailable",
        }
    }

    /// The HTTP status: 2xx when the event is safe or can never become valid, 409/5xx only where
    /// the sender's retry can help.
    pub fn status(self) -> u16 {
        match self {
            Self::Accepted | Self::Duplicate | Self::Conflict | Self::Quarantined => 200,
            Self::BadRequest => 400,
            Self::Rejected(_) => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Busy { .. } => 409,
            Self::TooLarge => 413,
            Self::EnqueueFailed | Self::StoreUnavailable => 503,
        }
    }

    fn response(self) -> IngressResponse {
        let status = self.status();
        let mut headers = Vec::new();
        let body = match self {
            Self::Accepted | Self::Duplicate | Self::Conflict | Self::Quarantined => {
                serde_json::json!({ "status": self.name() })
            }
            Self::Rejected(class) => {
                serde_json::json!({ "error": "unauthorized", "reason": class.as_str() })
            }
            Self::NotFound => serde_json::json!({ "error": "no such webhook source" }),
            Self::MethodNotAllowed => {
                headers.push(("allow", "POST".to_owned()));
                serde_json::json!({ "error": "only POST is accepted" })
            }
            Self::TooLarge => serde_json::json!({ "error": "body too large" }),
            Self::BadRequest => serde_json::json!({ "error": "body is not valid base64" }),
            Self::Busy { retry_after_s } => {
                headers.push(("retry-after", retry_after_s.to_string()));
                serde_json::json!({ "error": "event is being processed; retry later" })
            }
            Self::EnqueueFailed | Self::StoreUnavailable => {
                headers.push(("retry-after", "5".to_owned()));
                serde_json::json!({ "error": "temporarily unavailable; retry later" })
            }
        };
        IngressResponse {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

/// What is known about a request, for its log line.
#[derive(Debug, Default)]
struct Trace {
    source: Option<String>,
    key: Option<String>,
    event_type: Option<String>,
    failure: Option<FailureClass>,
}

/// An authenticated delivery on its way to the table and the queue.
struct Delivery<'a> {
    source: &'a Source,
    body: &'a [u8],
    body_sha256: String,
    headers: Headers,
    message_id: Option<String>,
    received_at_ms: i64,
    expires_at_s: i64,
    lease_until_ms: i64,
    claim_token: String,
    deadline_ms: Option<i64>,
}

impl Delivery<'_> {
    fn record<'r>(
        &'r self,
        key: &'r str,
        status: EventStatus,
        event: Option<&'r dyn ParsedEvent>,
        note: Option<&'r str>,
    ) -> NewEvent<'r> {
        NewEvent {
            source: &self.source.name,
            key,
            status,
            body: self.body,
            body_sha256: &self.body_sha256,
            headers: &self.headers,
            event_type: event.map(|e| e.event_type()),
            subject: event.map(|e| e.subject()),
            message_id: self.message_id.as_deref(),
            received_at_ms: self.received_at_ms,
            expires_at_s: self.expires_at_s,
            lease_until_ms: self.lease_until_ms,
            claim_token: &self.claim_token,
            note,
        }
    }
}

/// The ingress service: configuration, the sources' verifiers, the events log, the queue and a
/// clock.
#[derive(Clone)]
pub struct Ingress<L, Q> {
    config: IngressConfig,
    sources: LiveSources,
    log: L,
    queue: Q,
    clock: Clock,
}

impl<L, Q> std::fmt::Debug for Ingress<L, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("config", &self.config)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl<L: EventsLog, Q: Queue> Ingress<L, Q> {
    /// A service on the system clock, serving the sources configured from the environment
    /// (`config.sources`). Sources whose secrets are in a secret store need
    /// [`Ingress::with_sources`].
    pub fn new(config: IngressConfig, log: L, queue: Q) -> Self {
        Self {
            sources: LiveSources::fixed(config.sources.clone()),
            config,
            log,
            queue,
            clock: system_clock(),
        }
    }

    /// Verifies against `sources` (e.g. [`LiveSources::load`]: secrets read from a secret store
    /// and refreshed) instead of the environment's sources alone.
    #[must_use]
    pub fn with_sources(mut self, sources: LiveSources) -> Self {
        self.sources = sources;
        self
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Handles one request. `deadline_ms` is the invocation's deadline (Unix ms) when known; the
    /// claim's lease runs until then.
    pub async fn handle(
        &self,
        request: IngressRequest,
        deadline_ms: Option<i64>,
    ) -> IngressResponse {
        let started = std::time::Instant::now();
        let mut trace = Trace::default();
        let outcome = self.process(request, deadline_ms, &mut trace).await;

        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        info!(
            source = trace.source.as_deref().unwrap_or("-"),
            outcome = outcome.name(),
            status = outcome.status(),
            key = trace.key.as_deref().unwrap_or("-"),
            event_type = trace.event_type.as_deref().unwrap_or("-"),
            failure_class = trace.failure.map_or("-", FailureClass::as_str),
            latency_ms,
            "webhook handled"
        );
        let metric = match outcome {
            Outcome::Rejected(class) => format!("rejected_{}", class.as_str()),
            other => other.name().to_owned(),
        };
        metrics::count_for_source("ingress", trace.source.as_deref(), &metric, (self.clock)());
        outcome.response()
    }

    async fn process(
        &self,
        request: IngressRequest,
        deadline_ms: Option<i64>,
        trace: &mut Trace,
    ) -> Outcome {
        let mut sources = self.sources.current();
        let Some(source) = route_among(&sources, &request.path) else {
            return Outcome::NotFound;
        };
        trace.source = Some(source.name.clone());
        if !request.method.eq_ignore_ascii_case("POST") {
            return Outcome::MethodNotAllowed;
        }
        let body = match decode_body(request.body, self.config.max_body_bytes) {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };

        let now_ms = (self.clock)();
        // A deadline that has already passed is no deadline: cargo lambda watch sends a constant
        // 600000 (ten minutes after the epoch), which would make every claim look abandoned the
        // moment it is made and hand it to the first retry.
        let deadline_ms = deadline_ms.filter(|&deadline| deadline > now_ms);
        // A request the credentials in hand reject is tried once more with those of a refresh
        // under way, if it brings new ones: a sender that switched to a rotated secret is not
        // refused by an instance that has not read it yet.
        let verified = loop {
            let Some(source) = route_among(&sources, &request.path) else {
                return Outcome::NotFound;
            };
            match source
                .verifier
                .verify(&body, &request.headers, now_ms.div_euclid(1000))
            {
                Ok(verified) => break verified,
                Err(err) => match self.sources.newer_than(&sources).await {
                    Some(newer) => sources = newer,
                    None => {
                        trace.failure = Some(err.class());
                        return Outcome::Rejected(err.class());
                    }
                },
            }
        };
        let Some(source) = route_among(&sources, &request.path) else {
            return Outcome::NotFound;
        };

        let retention_s = i64::from(self.config.retention_days) * 86_400;
        let delivery = Delivery {
            source,
            body: &body,
            body_sha256: hex::encode(Sha256::digest(&body)),
            headers: request
                .headers
                .retain_named(source.verifier.signature_headers()),
            message_id: verified.message_id.map(str::to_owned),
            received_at_ms: now_ms,
            expires_at_s: now_ms.div_euclid(1000).saturating_add(retention_s),
            lease_until_ms: deadline_ms.unwrap_or(now_ms.saturating_add(DEFAULT_LEASE_MS)),
            claim_token: uuid::Uuid::new_v4().to_string(),
            deadline_ms,
        };
        // The body parsed as JSON, so it is UTF-8; the check only keeps the types honest.
        match source
            .payload
            .parse(&body)
            .map(|e| (std::str::from_utf8(&body), e))
        {
            Ok((Ok(text), event)) => self.accept(&delivery, event.as_ref(), text, trace).await,
            Ok((Err(_), _)) => self.quarantine(&delivery, "body is not UTF-8", trace).await,
            Err(err) => self.quarantine(&delivery, &err.to_string(), trace).await,
        }
    }

    async fn accept(
        &self,
        delivery: &Delivery<'_>,
        event: &dyn ParsedEvent,
        text: &str,
        trace: &mut Trace,
    ) -> Outcome {
        let key = event.key(delivery.message_id.as_deref());
        trace.key = Some(key.to_string());
        trace.event_type = Some(event.event_type().to_owned());
        let meta = EnvelopeMeta::for_event(
            &delivery.source.name,
            key.as_str(),
            delivery.source.payload.as_ref(),
            event,
            delivery.message_id.as_deref(),
            delivery.received_at_ms,
        );
        let record = delivery.record(key.as_str(), EventStatus::Received, Some(event), None);

        let existing = match self.log.claim(&record).await {
            Ok(Claim::Claimed) => return self.enqueue(delivery, &key, &meta, text).await,
            Ok(Claim::Existing(existing)) => existing,
            Err(err) => {
                warn!(source = %delivery.source.name, key = %key, error = %err, "claim failed");
                return Outcome::StoreUnavailable;
            }
        };
        if existing.body_sha256 != delivery.body_sha256 {
            return self.record_conflict(delivery, &key, event).await;
        }
        self.resolve_duplicate(delivery, &key, &meta, text, &record, existing)
            .await
    }

    /// A duplicate of a claimed event: answer from its status, wait briefly for a live holder, or
    /// take over a claim whose holder died before enqueueing.
    async fn resolve_duplicate(
        &self,
        delivery: &Delivery<'_>,
        key: &IdempotencyKey,
        meta: &EnvelopeMeta,
        text: &str,
        record: &NewEvent<'_>,
        mut current: StoredEvent,
    ) -> Outcome {
        let budget = match delivery.deadline_ms {
            Some(deadline) => {
                let left = deadline - (self.clock)() - DEADLINE_MARGIN_MS;
                WAIT_FOR_HOLDER.min(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            }
            None => WAIT_FOR_HOLDER,
        };
        let give_up_at = tokio::time::Instant::now() + budget;
        let source = &delivery.source.name;
        loop {
            if current.status != EventStatus::Received {
                return Outcome::Duplicate;
            }
            let now_ms = (self.clock)();
            if current.lease_until_ms <= now_ms {
                match self
                    .log
                    .take_over(
                        source,
                        key.as_str(),
                        current.lease_until_ms,
                        delivery.lease_until_ms,
                        &delivery.claim_token,
                    )
                    .await
                {
                    Ok(true) => {
                        warn!(source = %source, key = %key, "took over a claim whose lease lapsed before enqueue");
                        return self.enqueue(delivery, key, meta, text).await;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        warn!(source = %source, key = %key, error = %err, "take-over failed");
                        return Outcome::StoreUnavailable;
                    }
                }
            } else if tokio::time::Instant::now() >= give_up_at {
                let wait_ms = current.lease_until_ms.saturating_sub(now_ms);
                let retry_after_s =
                    u32::try_from((wait_ms.saturating_add(999) / 1000).clamp(1, 60)).unwrap_or(60);
                return Outcome::Busy { retry_after_s };
            } else {
                tokio::time::sleep(POLL_INTERVAL).await;
            }

            current = match self.log.get(source, key.as_str()).await {
                Ok(Some(stored)) => stored,
                // The holder released its claim after a failed enqueue: claim afresh.
                Ok(None) => match self.log.claim(record).await {
                    Ok(Claim::Claimed) => return self.enqueue(delivery, key, meta, text).await,
                    Ok(Claim::Existing(stored)) => stored,
                    Err(err) => {
                        warn!(source = %source, key = %key, error = %err, "re-claim failed");
                        return Outcome::StoreUnavailable;
                    }
                },
                Err(err) => {
                    warn!(source = %source, key = %key, error = %err, "reading claim failed");
                    return Outcome::StoreUnavailable;
                }
            };
        }
    }

    async fn enqueue(
        &self,
        delivery: &Delivery<'_>,
        key: &IdempotencyKey,
        meta: &EnvelopeMeta,
        text: &str,
    ) -> Outcome {
        let source = &delivery.source.name;
        if let Err(err) = self.queue.send(meta, text).await {
            warn!(source = %source, key = %key, error = %err, "enqueue failed; releasing the claim");
            match self
                .log
                .release(source, key.as_str(), &delivery.claim_token)
                .await
            {
                Ok(_) => {}
                Err(err) => {
                    warn!(source = %source, key = %key, error = %err, "release failed; the claim's lease will lapse");
                }
            }
            return Outcome::EnqueueFailed;
        }
        match self
            .log
            .mark_enqueued(source, key.as_str(), &delivery.claim_token)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                warn!(source = %source, key = %key, "claim changed hands before it was marked enqueued");
            }
            // The event is on the queue, so the answer is still 200; if the lease lapses, a retry
            // may enqueue a second copy, which the consumer's idempotency absorbs.
            Err(err) => {
                warn!(source = %source, key = %key, error = %err, "enqueued but not marked enqueued");
            }
        }
        Outcome::Accepted
    }

    async fn record_conflict(
        &self,
        delivery: &Delivery<'_>,
        key: &IdempotencyKey,
        event: &dyn ParsedEvent,
    ) -> Outcome {
        let conflict_key = format!("{key}#conflict#{}", &delivery.body_sha256[..16]);
        let note = "same idempotency key as an earlier event, different body";
        let record = delivery.record(
            &conflict_key,
            EventStatus::Conflict,
            Some(event),
            Some(note),
        );
        match self.log.claim(&record).await {
            Ok(_) => {
                warn!(source = %delivery.source.name, key = %key, conflict_key = %conflict_key, "{note}: kept as a conflict record");
                Outcome::Conflict
            }
            Err(err) => {
                warn!(source = %delivery.source.name, key = %key, error = %err, "recording conflict failed");
                Outcome::StoreUnavailable
            }
        }
    }

    async fn quarantine(
        &self,
        delivery: &Delivery<'_>,
        reason: &str,
        trace: &mut Trace,
    ) -> Outcome {
        let key = key::for_unparsed(delivery.message_id.as_deref(), delivery.body);
        trace.key = Some(key.to_string());
        let record = delivery.record(key.as_str(), EventStatus::Quarantined, None, Some(reason));
        match self.log.claim(&record).await {
            Ok(_) => {
                warn!(source = %delivery.source.name, key = %key, reason, "authentic body could not be parsed: quarantined");
                Outcome::Quarantined
            }
            Err(err) => {
                warn!(source = %delivery.source.name, key = %key, error = %err, "quarantine write failed");
                Outcome::StoreUnavailable
            }
        }
    }
}

/// The configured source a request path names: `/webhooks/{source}`, trailing slashes ignored.
pub fn route<'c>(config: &'c IngressConfig, path: &str) -> Option<&'c Source> {
    source_name(path).and_then(|name| config.source(name))
}

/// The source among `sources` a request path names, as [`route`] finds it.
pub fn route_among<'s>(sources: &'s Sources, path: &str) -> Option<&'s Source> {
    source_name(path).and_then(|name| sources.get(name))
}

fn source_name(path: &str) -> Option<&str> {
    path.strip_prefix(PATH_PREFIX)
        .map(|rest| rest.trim_end_matches('/'))
}

/// The body's bytes, decoded from base64 when the transport encoded them, or the answer when it
/// is over `max_bytes` ([`Outcome::TooLarge`]) or not base64 ([`Outcome::BadRequest`]).
pub fn decode_body(body: RequestBody, max_bytes: usize) -> Result<Vec<u8>, Outcome> {
    let bytes = match body {
        RequestBody::Bytes(bytes) => bytes,
        RequestBody::Base64(text) => {
            // Refuse before decoding what would be too large anyway. The estimate is taken over
            // the text that is decoded: surrounding whitespace must not make a body too large.
            let text = text.trim();
            if text.len() / 4 * 3 > max_bytes.saturating_add(3) {
                return Err(Outcome::TooLarge);
            }
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| Outcome::BadRequest)?
        }
    };
    if bytes.len() > max_bytes {
        return Err(Outcome::TooLarge);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outcomes_a_retry_can_fix_are_409_or_5xx() {
        let retryable = [
            Outcome::Busy { retry_after_s: 1 },
            Outcome::EnqueueFailed,
            Outcome::StoreUnavailable,
        ];
        let final_answers = [
            Outcome::Accepted,
            Outcome::Duplicate,
            Outcome::Conflict,
            Outcome::Quarantined,
            Outcome::Rejected(FailureClass::Signature),
            Outcome::NotFound,
            Outcome::MethodNotAllowed,
            Outcome::TooLarge,
            Outcome::BadRequest,
        ];

        assert!(
            retryable
                .iter()
                .all(|o| o.status() == 409 || o.status() >= 500)
        );
        assert!(
            final_answers
                .iter()
                .all(|o| o.status() < 500 && o.status() != 409)
        );
    }

    #[test]
    fn invalid_base64_is_a_bad_request() {
        assert_eq!(
            decode_body(RequestBody::Base64("not base64!".into()), 1024),
            Err(Outcome::BadRequest)
        );
    }

    #[test]
    fn oversized_base64_is_refused_before_decoding() {
        let text = "A".repeat(4 * 1024);

        assert_eq!(
            decode_body(RequestBody::Base64(text), 1024),
            Err(Outcome::TooLarge)
        );
    }

    #[test]
    fn base64_body_at_the_limit_is_accepted_whatever_whitespace_surrounds_it() {
        // given 13 bytes, base64-encoded (20 characters) between 16 newlines
        let text = format!("{0}SGVsbG8sIHdvcmxkIQ=={0}", "\n".repeat(8));

        // when the limit is exactly the decoded size
        let decoded = decode_body(RequestBody::Base64(text), 13);

        // then the body passes
        assert_eq!(decoded, Ok(b"Hello, world!".to_vec()));
    }

    #[test]
    fn busy_answer_carries_retry_after() {
        let response = Outcome::Busy { retry_after_s: 3 }.response();

        assert_eq!(response.status, 409);
        assert!(response.headers.contains(&("retry-after", "3".to_owned())));
    }
}
