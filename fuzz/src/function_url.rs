//! Function-URL invocations from arbitrary bytes: the event JSON read as the Lambda runtime reads
//! it, the ingress adapter's `to_request`, routing, body decoding under the size limit,
//! verification and parsing; everything the ingress decides before it talks to AWS.
//!
//! Oracles: the adapter keeps the path and every header; routing matches `/webhooks/{source}`
//! with optional trailing slashes and nothing else; a body is refused as too large exactly when
//! its decoded bytes exceed the limit, and is otherwise passed on byte for byte.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use webhook_core::config::IngressConfig;
use webhook_core::headers::Headers;
use webhook_core::ingress::{Outcome, RequestBody, decode_body, route};
use webhook_core::key;

/// The local configuration, whose dev-only secrets signed the samples under `events/requests`.
const LOCAL_ENV: &str = include_str!("../../local.env");
/// The clock for requests that carry no timestamp of their own.
const FALLBACK_NOW: i64 = 1_750_000_000;

/// Runs the pre-AWS ingress path over one fuzzer input; returns where the request ended.
pub fn run(data: &[u8]) -> String {
    // As `lambda_runtime` does it: no check for bytes after the event.
    let mut json = serde_json::Deserializer::from_slice(data);
    let event: LambdaFunctionUrlRequest = match serde_path_to_error::deserialize(&mut json) {
        Ok(event) => event,
        Err(_) => return "not a function-URL event".to_owned(),
    };
    let path = event
        .raw_path
        .clone()
        .or_else(|| event.request_context.http.path.clone())
        .unwrap_or_default();
    let header_names: Vec<String> = event
        .headers
        .iter()
        .map(|(name, _)| name.as_str().to_owned())
        .collect();

    let request = ingress::to_request(event);
    assert_eq!(request.path, path);
    let names: Vec<&str> = request.headers.iter().map(|(name, _)| name).collect();
    assert_eq!(names, header_names);
    check_decoding(&request.body);

    let config = config();
    let source = route(config, &request.path);
    assert_eq!(
        source.map(|s| s.name.as_str()),
        route_model(config, &request.path)
    );
    let Some(source) = source else {
        return format!("{:?}", Outcome::NotFound);
    };
    if !request.method.eq_ignore_ascii_case("POST") {
        return format!("{:?}", Outcome::MethodNotAllowed);
    }
    let body = match decode_body(request.body, config.max_body_bytes) {
        Ok(body) => body,
        Err(outcome) => return format!("{outcome:?}"),
    };
    let now = signed_at(&request.headers).unwrap_or(FALLBACK_NOW);
    let verified = match source.verifier.verify(&body, &request.headers, now) {
        Ok(verified) => verified,
        Err(err) => return format!("{:?}: {err:?}", Outcome::Rejected(err.class())),
    };
    match source.payload.parse(&body) {
        Ok(event) => {
            let _ = event.key(verified.message_id);
            format!("accepted {} {}", source.name, event.event_type())
        }
        Err(_) => {
            let _ = key::for_unparsed(verified.message_id, &body);
            format!("{:?}", Outcome::Quarantined)
        }
    }
}

fn config() -> &'static IngressConfig {
    static CONFIG: OnceLock<IngressConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut env: BTreeMap<String, String> = LOCAL_ENV
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        env.insert("QUEUE_URL".to_owned(), "http://127.0.0.1/queue".to_owned());
        IngressConfig::from_env(&env).expect("local.env is a valid ingress configuration")
    })
}

/// `/webhooks/{source}` as path segments: the source's name, then only empty segments.
fn route_model<'c>(config: &'c IngressConfig, path: &str) -> Option<&'c str> {
    let mut segments = path.split('/');
    let (Some(""), Some("webhooks"), Some(name)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return None;
    };
    if !segments.all(str::is_empty) {
        return None;
    }
    config
        .sources
        .iter()
        .map(|source| source.name.as_str())
        .find(|known| *known == name)
}

/// Decoding at limits just around the body's own size: at its size the body passes unchanged,
/// one byte below it is too large; text that is not base64 is a bad request (or, when long,
/// too large before decoding).
fn check_decoding(body: &RequestBody) {
    let decoded = match body {
        RequestBody::Bytes(bytes) => Some(bytes.clone()),
        RequestBody::Base64(text) => STANDARD.decode(text.trim()).ok(),
    };
    match decoded {
        Some(bytes) => {
            let size = bytes.len();
            let at_limit = decode_body(body.clone(), size);
            assert!(
                at_limit.as_ref() == Ok(&bytes),
                "a body of {size} bytes, at a limit of {size}: {:?}",
                at_limit.map(|passed| passed.len())
            );
            if let Some(below) = size.checked_sub(1) {
                let over = decode_body(body.clone(), below).map(|passed| passed.len());
                assert_eq!(over, Err(Outcome::TooLarge), "a body of {size} bytes");
            }
        }
        None => {
            assert_eq!(
                decode_body(body.clone(), usize::MAX),
                Err(Outcome::BadRequest)
            );
            let refused = decode_body(body.clone(), 0);
            assert!(
                matches!(refused, Err(Outcome::BadRequest | Outcome::TooLarge)),
                "{refused:?}"
            );
        }
    }
}

fn signed_at(headers: &Headers) -> Option<i64> {
    ["svix-timestamp", "webhook-timestamp"]
        .into_iter()
        .find_map(|name| headers.get_one(name).ok().flatten())
        .and_then(|text| text.parse().ok())
}
