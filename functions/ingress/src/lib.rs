//! The function-URL adapter of the ingress: Lambda event in, domain request out, and back.
//!
//! It owns the translation only. Every decision (routing, verification, claiming, the status code)
//! is made by `webhook_core::ingress`. [`to_request`] and [`to_response`] need no runtime; `handle`,
//! which the binary runs, comes with the `runtime` feature (on by default).

#[cfg(feature = "runtime")]
use std::convert::Infallible;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
#[cfg(feature = "runtime")]
use lambda_runtime::LambdaEvent;
use webhook_core::headers::Headers;
#[cfg(feature = "runtime")]
use webhook_core::ingress::Ingress;
use webhook_core::ingress::{IngressRequest, IngressResponse, RequestBody};
#[cfg(feature = "runtime")]
use webhook_core::ports::{EventsLog, Queue};

/// Handles one function-URL invocation. Never fails: every outcome is an HTTP answer.
#[cfg(feature = "runtime")]
pub async fn handle<L: EventsLog, Q: Queue>(
    ingress: &Ingress<L, Q>,
    event: LambdaEvent<LambdaFunctionUrlRequest>,
) -> Result<LambdaFunctionUrlResponse, Infallible> {
    let deadline_ms = i64::try_from(event.context.deadline)
        .ok()
        .filter(|d| *d > 0);
    let response = ingress.handle(to_request(event.payload), deadline_ms).await;
    Ok(to_response(response))
}

/// The domain request of a function-URL event. Header values that are not UTF-8 are kept lossily:
/// they can then match no signature or credential, which is the right answer for them.
pub fn to_request(event: LambdaFunctionUrlRequest) -> IngressRequest {
    let headers = Headers::from_pairs(event.headers.iter().map(|(name, value)| {
        (
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    }));
    let body = match event.body {
        None => RequestBody::Bytes(Vec::new()),
        Some(text) if event.is_base64_encoded => RequestBody::Base64(text),
        Some(text) => RequestBody::Bytes(text.into_bytes()),
    };
    IngressRequest {
        method: event.request_context.http.method.unwrap_or_default(),
        path: event
            .raw_path
            .or(event.request_context.http.path)
            .unwrap_or_default(),
        headers,
        body,
    }
}

/// The function-URL response of a domain answer.
pub fn to_response(response: IngressResponse) -> LambdaFunctionUrlResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in response.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let mut out = LambdaFunctionUrlResponse::default();
    out.status_code = i64::from(response.status);
    out.headers = headers;
    out.body = Some(response.body);
    out.is_base64_encoded = false;
    out
}
