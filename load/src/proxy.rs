//! A fault-injecting HTTP proxy between the functions and the DynamoDB, SQS and EventBridge
//! protocol servers.
//!
//! It owns which calls fail and how they fail. The functions' `AWS_ENDPOINT_URL` points here; every
//! call is forwarded unchanged (by its `X-Amz-Target` to the DynamoDB server, every other call to
//! the SQS server, which also serves EventBridge so that a rule can deliver to its queues; the two
//! may be one and the same) except for a configurable fraction that get the answer the real
//! service gives when it is in trouble, in the wire format the SDK expects, so that the SDK's
//! retry classifier treats them as what they are:
//!
//! - SQS `SendMessage` (AWS JSON 1.0, query-compatible): HTTP 500 `InternalFailure`, with the
//!   `x-amzn-query-error` header the SDK reads the code from. Either before the message reaches
//!   the queue, or after it did (the answer was lost: the sender cannot tell, and a retry
//!   enqueues a second copy).
//! - every DynamoDB call (AWS JSON 1.0): HTTP 400 `ProvisionedThroughputExceededException`, a
//!   throttling error, before the call reaches the table.
//! - EventBridge `PutEvents` (AWS JSON 1.1): HTTP 500 `InternalException`, the whole call failed.
//!   Either before the events reach the bus, or after the bus took them (the answer was lost: a
//!   retry publishes the same events again, which the bus's consumers see as copies).
//!
//! `GET /__faults` answers the counts so far as JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// The path of the counts.
pub const STATS_PATH: &str = "/__faults";

const SQS_SEND: &str = "AmazonSQS.SendMessage";
const DYNAMODB_PREFIX: &str = "DynamoDB_20120810.";
const PUT_EVENTS: &str = "AWSEvents.PutEvents";
const JSON_1_0: &str = "application/x-amz-json-1.0";
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// Setting up or running the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream URL is not usable.
    #[error("upstream {0:?} is not an http://host:port URL")]
    Upstream(String),
    /// Listening failed.
    #[error("listening: {0}")]
    Listen(#[from] std::io::Error),
}

/// How often each fault strikes, as probabilities per call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRates {
    /// SQS `SendMessage` refused with a server error; the message is not enqueued.
    pub sqs_send_error: f64,
    /// SQS `SendMessage` enqueued, then answered with a server error.
    pub sqs_send_error_after_enqueue: f64,
    /// DynamoDB calls throttled.
    pub dynamodb_throttle: f64,
    /// EventBridge `PutEvents` calls refused with a server error; nothing is published.
    pub put_events_error: f64,
    /// EventBridge `PutEvents` calls published, then answered with a server error.
    pub put_events_error_after_publish: f64,
}

/// Calls seen and faults injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Calls forwarded or failed, of any kind.
    pub calls: u64,
    /// SQS `SendMessage` calls.
    pub sqs_sends: u64,
    /// `SendMessage` calls refused before the queue.
    pub sqs_send_errors: u64,
    /// `SendMessage` calls failed after the queue took the message.
    pub sqs_send_errors_after_enqueue: u64,
    /// DynamoDB calls.
    pub dynamodb_calls: u64,
    /// DynamoDB calls throttled.
    pub dynamodb_throttles: u64,
    /// EventBridge `PutEvents` calls.
    pub put_events: u64,
    /// `PutEvents` calls refused before the bus.
    pub put_events_errors: u64,
    /// `PutEvents` calls failed after the bus took the events.
    pub put_events_errors_after_publish: u64,
    /// Calls the upstream did not answer (forwarded as 502).
    pub upstream_failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    sqs_sends: AtomicU64,
    sqs_send_errors: AtomicU64,
    sqs_send_errors_after_enqueue: AtomicU64,
    dynamodb_calls: AtomicU64,
    dynamodb_throttles: AtomicU64,
    put_events: AtomicU64,
    put_events_errors: AtomicU64,
    put_events_errors_after_publish: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> FaultStats {
        let n = |c: &AtomicU64| c.load(Ordering::SeqCst);
        FaultStats {
            calls: n(&self.calls),
            sqs_sends: n(&self.sqs_sends),
            sqs_send_errors: n(&self.sqs_send_errors),
            sqs_send_errors_after_enqueue: n(&self.sqs_send_errors_after_enqueue),
            dynamodb_calls: n(&self.dynamodb_calls),
            dynamodb_throttles: n(&self.dynamodb_throttles),
            put_events: n(&self.put_events),
            put_events_errors: n(&self.put_events_errors),
            put_events_errors_after_publish: n(&self.put_events_errors_after_publish),
            upstream_failures: n(&self.upstream_failures),
        }
    }
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forward it unchanged.
    Forward,
    /// Answer an SQS server error without forwarding.
    SqsErrorBefore,
    /// Forward it, then answer an SQS server error instead of the real answer.
    SqsErrorAfter,
    /// Answer a DynamoDB throttling error without forwarding.
    Throttle,
    /// Answer an EventBridge server error without forwarding.
    BusErrorBefore,
    /// Forward it, then answer an EventBridge server error instead of the real answer.
    BusErrorAfter,
}

/// The decision for a call with `X-Amz-Target` `target`, given a uniform draw `draw` in [0, 1).
pub fn decide(target: Option<&str>, rates: &FaultRates, draw: f64) -> Decision {
    match target {
        Some(SQS_SEND) if draw < rates.sqs_send_error => Decision::SqsErrorBefore,
        Some(SQS_SEND) if draw < rates.sqs_send_error + rates.sqs_send_error_after_enqueue => {
            Decision::SqsErrorAfter
        }
        Some(t) if t.starts_with(DYNAMODB_PREFIX) && draw < rates.dynamodb_throttle => {
            Decision::Throttle
        }
        Some(PUT_EVENTS) if draw < rates.put_events_error => Decision::BusErrorBefore,
        Some(PUT_EVENTS)
            if draw < rates.put_events_error + rates.put_events_error_after_publish =>
        {
            Decision::BusErrorAfter
        }
        _ => Decision::Forward,
    }
}

/// The proxy: where to forward, what to inject, and what it did.
#[derive(Debug)]
pub struct Proxy {
    /// Where DynamoDB calls go: `http://host:port`, without a trailing slash.
    dynamodb: String,
    /// Where every other call goes (SQS and EventBridge).
    sqs: String,
    rates: FaultRates,
    rng: Mutex<ChaCha8Rng>,
    counters: Counters,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Proxy {
    /// A proxy to the protocol servers `dynamodb` and `sqs` (e.g. `http://127.0.0.1:5000`, may be
    /// the same), injecting `rates`, drawing from `seed`.
    pub fn new(
        dynamodb: &str,
        sqs: &str,
        rates: FaultRates,
        seed: u64,
    ) -> Result<Self, ProxyError> {
        Ok(Self {
            dynamodb: base_url(dynamodb)?,
            sqs: base_url(sqs)?,
            rates,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            counters: Counters::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> FaultStats {
        self.counters.snapshot()
    }

    fn draw(&self) -> f64 {
        // A poisoned lock only means another request panicked mid-draw; the RNG is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.random()
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() == Method::GET && request.uri().path() == STATS_PATH {
            let body = serde_json::to_vec(&self.stats()).unwrap_or_default();
            return respond(StatusCode::OK, "application/json", None, body.into());
        }
        let c = &self.counters;
        c.calls.fetch_add(1, Ordering::Relaxed);
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match target.as_deref() {
            Some(SQS_SEND) => c.sqs_sends.fetch_add(1, Ordering::Relaxed),
            Some(t) if t.starts_with(DYNAMODB_PREFIX) => {
                c.dynamodb_calls.fetch_add(1, Ordering::Relaxed)
            }
            Some(PUT_EVENTS) => c.put_events.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        match decide(target.as_deref(), &self.rates, self.draw()) {
            Decision::Throttle => {
                c.dynamodb_throttles.fetch_add(1, Ordering::Relaxed);
                dynamodb_throttling()
            }
            Decision::SqsErrorBefore => {
                c.sqs_send_errors.fetch_add(1, Ordering::Relaxed);
                sqs_internal_failure()
            }
            Decision::SqsErrorAfter => {
                let forwarded = self.forward(&self.sqs, request).await;
                if forwarded.status() == StatusCode::OK {
                    c.sqs_send_errors_after_enqueue
                        .fetch_add(1, Ordering::Relaxed);
                    sqs_internal_failure()
                } else {
                    forwarded
                }
            }
            Decision::BusErrorBefore => {
                c.put_events_errors.fetch_add(1, Ordering::Relaxed);
                eventbridge_internal_exception()
            }
            Decision::BusErrorAfter => {
                let forwarded = self.forward(&self.sqs, request).await;
                if forwarded.status() == StatusCode::OK {
                    c.put_events_errors_after_publish
                        .fetch_add(1, Ordering::Relaxed);
                    eventbridge_internal_exception()
                } else {
                    forwarded
                }
            }
            Decision::Forward => {
                let upstream = match target.as_deref() {
                    Some(t) if t.starts_with(DYNAMODB_PREFIX) => &self.dynamodb,
                    _ => &self.sqs,
                };
                self.forward(upstream, request).await
            }
        }
    }

    async fn forward(&self, upstream: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return self.bad_gateway();
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("{upstream}{path}").parse::<Uri>() else {
            return self.bad_gateway();
        };
        let mut outgoing = Request::builder().method(parts.method).uri(uri);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let Ok(outgoing) = outgoing.body(Full::new(body)) else {
            return self.bad_gateway();
        };
        let Ok(answer) = self.client.request(outgoing).await else {
            return self.bad_gateway();
        };
        let (parts, body) = answer.into_parts();
        match body.collect().await {
            Ok(body) => Response::from_parts(parts, Full::new(body.to_bytes())),
            Err(_) => self.bad_gateway(),
        }
    }

    fn bad_gateway(&self) -> Response<Full<Bytes>> {
        self.counters
            .upstream_failures
            .fetch_add(1, Ordering::Relaxed);
        respond(StatusCode::BAD_GATEWAY, "text/plain", None, Bytes::new())
    }
}

/// `http://host:port` of an upstream URL.
fn base_url(upstream: &str) -> Result<String, ProxyError> {
    let uri: Uri = upstream
        .parse()
        .map_err(|_| ProxyError::Upstream(upstream.to_owned()))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(authority)) => Ok(format!("http://{authority}")),
        _ => Err(ProxyError::Upstream(upstream.to_owned())),
    }
}

/// Serves `proxy` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) -> Result<(), ProxyError> {
    loop {
        let (stream, _) = listener.accept().await?;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(request).await) }
            });
            // A connection the client dropped mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `addr` and serves `proxy` there in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, proxy: Arc<Proxy>) -> Result<SocketAddr, ProxyError> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, proxy));
    Ok(bound)
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    query_error: Option<&'static str>,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or(HeaderValue::from_static("fault-proxy")),
    );
    if let Some(code) = query_error {
        headers.insert("x-amzn-query-error", HeaderValue::from_static(code));
    }
    response
}

/// What DynamoDB answers a throttled call.
fn dynamodb_throttling() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded. \
                    Consider increasing your provisioning level with the UpdateTable API.",
    });
    respond(
        StatusCode::BAD_REQUEST,
        JSON_1_0,
        None,
        body.to_string().into(),
    )
}

/// What SQS answers when it fails internally.
fn sqs_internal_failure() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": "com.amazonaws.sqs#InternalFailure",
        "message": "The request processing has failed because of an unknown error, exception or failure.",
    });
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        JSON_1_0,
        Some("InternalFailure;Receiver"),
        body.to_string().into(),
    )
}

/// What EventBridge answers when a whole call fails internally.
fn eventbridge_internal_exception() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": "InternalException",
        "message": "This exception occurs due to unexpected causes.",
    });
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        JSON_1_1,
        None,
        body.to_string().into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: FaultRates = FaultRates {
        sqs_send_error: 0.1,
        sqs_send_error_after_enqueue: 0.05,
        dynamodb_throttle: 0.2,
        put_events_error: 0.3,
        put_events_error_after_publish: 0.1,
    };

    #[test]
    fn send_message_fails_before_then_after_enqueue_by_draw() {
        let send = Some(SQS_SEND);

        assert_eq!(decide(send, &RATES, 0.0), Decision::SqsErrorBefore);
        assert_eq!(decide(send, &RATES, 0.099), Decision::SqsErrorBefore);
        assert_eq!(decide(send, &RATES, 0.1), Decision::SqsErrorAfter);
        assert_eq!(decide(send, &RATES, 0.149), Decision::SqsErrorAfter);
        assert_eq!(decide(send, &RATES, 0.151), Decision::Forward);
    }

    #[test]
    fn put_events_fails_before_then_after_publishing_by_draw() {
        let put = Some(PUT_EVENTS);

        assert_eq!(decide(put, &RATES, 0.0), Decision::BusErrorBefore);
        assert_eq!(decide(put, &RATES, 0.299), Decision::BusErrorBefore);
        assert_eq!(decide(put, &RATES, 0.3), Decision::BusErrorAfter);
        assert_eq!(decide(put, &RATES, 0.399), Decision::BusErrorAfter);
        assert_eq!(decide(put, &RATES, 0.401), Decision::Forward);
        // Other EventBridge calls (provisioning) always pass.
        assert_eq!(
            decide(Some("AWSEvents.PutRule"), &RATES, 0.0),
            Decision::Forward
        );
    }

    #[test]
    fn every_dynamodb_operation_can_be_throttled_and_nothing_else() {
        for op in ["PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query"] {
            let target = format!("{DYNAMODB_PREFIX}{op}");

            assert_eq!(decide(Some(&target), &RATES, 0.19), Decision::Throttle);
            assert_eq!(decide(Some(&target), &RATES, 0.2), Decision::Forward);
        }
        for other in [
            Some("AmazonSQS.ReceiveMessage"),
            Some("AmazonSQS.DeleteMessageBatch"),
            None,
        ] {
            assert_eq!(decide(other, &RATES, 0.0), Decision::Forward);
        }
    }

    #[test]
    fn zero_rates_forward_everything() {
        let none = FaultRates::default();

        assert_eq!(decide(Some(SQS_SEND), &none, 0.0), Decision::Forward);
        assert_eq!(decide(Some(PUT_EVENTS), &none, 0.0), Decision::Forward);
        assert_eq!(
            decide(Some("DynamoDB_20120810.PutItem"), &none, 0.0),
            Decision::Forward
        );
    }

    #[test]
    fn upstream_must_be_plain_http_with_a_host() {
        assert_eq!(
            base_url("http://127.0.0.1:5000/").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert!(base_url("https://127.0.0.1:5000").is_err());
        assert!(base_url("127.0.0.1:5000").is_err());
    }
}
