//! Signing requests as the senders do, for local tools, tests and benchmarks.
//!
//! It owns the outgoing side of both schemes (headers a sender attaches) and the Lambda
//! function-URL event shape that carries them. Nothing on the receive path uses it.

use base64::Engine;
use serde_json::{Value, json};

use webhook_core::verify::{SecretError, SigningKey, sign_hex, sign_standard};

/// Headers a Svix (Standard Webhooks) sender attaches to `body`, signed with `secret` (`whsec_...`).
pub fn legitmark_headers(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, SecretError> {
    let key = SigningKey::from_whsec(secret)?;
    Ok(vec![
        ("content-type".into(), "application/json".into()),
        ("svix-id".into(), message_id.into()),
        ("svix-timestamp".into(), timestamp.to_string()),
        (
            "svix-signature".into(),
            sign_standard(&key, message_id, timestamp, body),
        ),
    ])
}

/// Headers Cr3dentials attaches to `body`: the hex signature and, if configured, the static header.
pub fn cr3dentials_headers(
    secret: &str,
    static_header: Option<(&str, &str)>,
    body: &[u8],
) -> Result<Vec<(String, String)>, SecretError> {
    let key = SigningKey::from_text(secret)?;
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-webhook-signature".to_owned(), sign_hex(&key, body)),
    ];
    if let Some((name, value)) = static_header {
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(headers)
}

/// A Lambda function-URL event (payload format 2.0) as AWS delivers it.
pub fn function_url_event(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
    request_id: &str,
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
        .collect();
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Svix-Webhooks/1.0"
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// An SQS event as the Lambda event source mapping delivers it: `(message id, body)` pairs.
pub fn sqs_event<'a>(records: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let records: Vec<Value> = records
        .into_iter()
        .map(|(message_id, body)| {
            json!({
                "messageId": message_id,
                "receiptHandle": format!("local-{message_id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}
