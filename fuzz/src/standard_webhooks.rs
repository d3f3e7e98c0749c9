//! Standard Webhooks verification under fuzzed keys, headers, body and clock.
//!
//! Two oracles. For any headers, a plain restatement of the scheme (allocating, not constant-time,
//! written apart from the verifier) must reach the same verdict. And a signature made by
//! `sign_standard` over a fuzzed id, timestamp and body must verify, and stop verifying when one
//! byte of what it covers changes.

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webhook_core::headers::Headers;
use webhook_core::verify::{SigningKey, StandardWebhooks, VerifyError, sign_standard};

const TOLERANCE_SECS: i64 = 300;
/// Most generated clocks sit near this instant, so generated timestamps land inside the window.
const BASE_NOW: i64 = 1_750_000_000;
const MAX_KEYS: usize = 3;

#[derive(Debug, Arbitrary)]
struct Input {
    keys: Vec<Vec<u8>>,
    id: Primary<String>,
    timestamp: Primary<Timestamp>,
    signatures: Primary<Vec<Entry>>,
    /// More of the scheme's headers, with any value: repeats and conflicts.
    extra: Vec<Header>,
    body: Vec<u8>,
    now: Clock,
    round_trip: RoundTrip,
}

/// One of the scheme's three headers, under Svix's name, the generic one, or absent; present in
/// most inputs so that most get past the header checks.
#[derive(Debug, Arbitrary)]
struct Primary<T> {
    family: Family,
    upper_case: bool,
    value: T,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Family {
    Svix,
    Webhook,
    Absent,
}

#[derive(Debug, Arbitrary)]
enum Timestamp {
    /// Integer seconds near the clock, optionally with leading zeros.
    Seconds {
        offset: i16,
        zeros: u8,
    },
    Text(String),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Clock {
    Near(i16),
    Any(i64),
}

#[derive(Debug, Arbitrary)]
struct Header {
    name: Name,
    upper_case: bool,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum Name {
    SvixId,
    SvixTimestamp,
    SvixSignature,
    WebhookId,
    WebhookTimestamp,
    WebhookSignature,
}

impl Name {
    fn as_str(self) -> &'static str {
        match self {
            Self::SvixId => "svix-id",
            Self::SvixTimestamp => "svix-timestamp",
            Self::SvixSignature => "svix-signature",
            Self::WebhookId => "webhook-id",
            Self::WebhookTimestamp => "webhook-timestamp",
            Self::WebhookSignature => "webhook-signature",
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Value {
    Text(String),
    /// Integer seconds near the clock, optionally with leading zeros.
    Seconds {
        offset: i16,
        zeros: u8,
    },
    Signatures(Vec<Entry>),
}

impl Input {
    /// Every header to send: the three primaries (when present), then the extras.
    fn headers(&mut self) -> Vec<Header> {
        let mut headers = Vec::new();
        let mut add = |family: Family, names: [Name; 2], upper_case: bool, value: Value| {
            let name = match family {
                Family::Svix => names[0],
                Family::Webhook => names[1],
                Family::Absent => return,
            };
            headers.push(Header {
                name,
                upper_case,
                value,
            });
        };
        let id = &self.id;
        add(
            id.family,
            [Name::SvixId, Name::WebhookId],
            id.upper_case,
            Value::Text(id.value.clone()),
        );
        let timestamp = &self.timestamp;
        let value = match &timestamp.value {
            Timestamp::Seconds { offset, zeros } => Value::Seconds {
                offset: *offset,
                zeros: *zeros,
            },
            Timestamp::Text(text) => Value::Text(text.clone()),
        };
        add(
            timestamp.family,
            [Name::SvixTimestamp, Name::WebhookTimestamp],
            timestamp.upper_case,
            value,
        );
        let signatures = &mut self.signatures;
        add(
            signatures.family,
            [Name::SvixSignature, Name::WebhookSignature],
            signatures.upper_case,
            Value::Signatures(std::mem::take(&mut signatures.value)),
        );
        headers.append(&mut self.extra);
        headers
    }
}

#[derive(Debug, Arbitrary)]
enum Entry {
    /// A correct `v1` signature by key `key` over the id and timestamp the headers carry.
    Valid {
        key: u8,
    },
    /// A correct signature with one byte of the MAC changed.
    Damaged {
        key: u8,
        index: u8,
        flip: u8,
    },
    /// Arbitrary bytes, base64-encoded, under any version.
    Encoded {
        version: String,
        bytes: Vec<u8>,
    },
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct RoundTrip {
    id: String,
    skew: i16,
    key: u8,
    webhook_names: bool,
    tamper: Tamper,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Tamper {
    Body { index: usize, flip: u8 },
    Id { index: usize, flip: u8 },
    Timestamp { index: usize, flip: u8 },
    Signature { index: usize, flip: u8 },
}

/// Runs both oracles over one fuzzer input; returns the verdict on the fuzzed headers.
pub fn run(data: &[u8]) -> String {
    let Ok(mut input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return "unusable input".to_owned();
    };
    input.keys.truncate(MAX_KEYS);
    for key in &mut input.keys {
        if key.is_empty() {
            key.push(0);
        }
    }
    let Some(verifier) = verifier(&input.keys) else {
        return "no keys".to_owned();
    };
    let now = match input.now {
        Clock::Near(offset) => BASE_NOW + i64::from(offset),
        Clock::Any(now) => now,
    };

    let headers = input.headers();
    let verdict = differential(&verifier, &input, &headers, now);
    round_trip(&verifier, &input, now);
    verdict
}

fn verifier(keys: &[Vec<u8>]) -> Option<StandardWebhooks> {
    if keys.is_empty() {
        assert!(StandardWebhooks::new(Vec::new()).is_err());
        return None;
    }
    let keys = keys
        .iter()
        .map(|bytes| {
            let secret = format!("whsec_{}", STANDARD.encode(bytes));
            SigningKey::from_whsec(&secret).expect("a whsec_ secret of non-empty bytes is valid")
        })
        .collect();
    Some(StandardWebhooks::new(keys).expect("one key or more"))
}

fn differential(verifier: &StandardWebhooks, input: &Input, sent: &[Header], now: i64) -> String {
    let pairs = header_pairs(sent, &input.keys, &input.body, now);
    let headers = Headers::from_pairs(pairs.iter().map(|(name, value)| (name, value.clone())));
    let lower: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (lower_case_name(name), value.as_str()))
        .collect();

    let actual = verifier
        .verify(&input.body, &headers, now)
        .map(|verified| (verified.key_index, verified.message_id.map(str::to_owned)));
    let expected = model(&input.keys, &lower, &input.body, now)
        .map(|(index, id)| (Some(index), Some(id.to_owned())));
    assert_eq!(actual, expected, "verifier and model disagree");

    match actual {
        Ok((key_index, _)) => format!("ok key {}", key_index.unwrap_or(usize::MAX)),
        Err(err) => format!("{err:?}"),
    }
}

/// The fuzzed headers as sent: names in the case chosen, signature entries computed over the id
/// and timestamp that the same headers carry.
fn header_pairs(
    headers: &[Header],
    keys: &[Vec<u8>],
    body: &[u8],
    now: i64,
) -> Vec<(String, String)> {
    let plain: Vec<(Name, String)> = headers
        .iter()
        .filter_map(|header| {
            let text = match &header.value {
                Value::Text(text) => text.clone(),
                Value::Seconds { offset, zeros } => {
                    // Mostly inside the tolerance, sometimes just beyond it.
                    let seconds = now.wrapping_add(i64::from(*offset) % 400);
                    format!("{}{seconds}", "0".repeat(usize::from(zeros % 3)))
                }
                Value::Signatures(_) => return None,
            };
            Some((header.name, text))
        })
        .collect();
    let first = |svix: Name, generic: Name| {
        plain
            .iter()
            .find(|(name, _)| *name == svix)
            .or_else(|| plain.iter().find(|(name, _)| *name == generic))
            .map_or("", |(_, value)| value.as_str())
    };
    let id = first(Name::SvixId, Name::WebhookId);
    let timestamp = first(Name::SvixTimestamp, Name::WebhookTimestamp);

    let mut plain = plain.iter();
    headers
        .iter()
        .map(|header| {
            let value = match &header.value {
                Value::Signatures(entries) => entries
                    .iter()
                    .map(|entry| entry_text(entry, keys, id, timestamp, body))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => plain
                    .next()
                    .map(|(_, text)| text.clone())
                    .unwrap_or_default(),
            };
            let name = if header.upper_case {
                header.name.as_str().to_ascii_uppercase()
            } else {
                header.name.as_str().to_owned()
            };
            (name, value)
        })
        .collect()
}

fn entry_text(entry: &Entry, keys: &[Vec<u8>], id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = |index: u8| &keys[usize::from(index) % keys.len()];
    match entry {
        Entry::Valid { key: index } => {
            format!(
                "v1,{}",
                STANDARD.encode(mac(key(*index), id, timestamp, body))
            )
        }
        Entry::Damaged {
            key: index,
            index: at,
            flip,
        } => {
            let mut tag = mac(key(*index), id, timestamp, body);
            let at = usize::from(*at) % tag.len();
            tag[at] ^= (*flip).max(1);
            format!("v1,{}", STANDARD.encode(tag))
        }
        Entry::Encoded { version, bytes } => format!("{version},{}", STANDARD.encode(bytes)),
        Entry::Raw(text) => text.clone(),
    }
}

fn lower_case_name(name: &str) -> &'static str {
    [
        Name::SvixId,
        Name::SvixTimestamp,
        Name::SvixSignature,
        Name::WebhookId,
        Name::WebhookTimestamp,
        Name::WebhookSignature,
    ]
    .into_iter()
    .map(Name::as_str)
    .find(|known| known.eq_ignore_ascii_case(name))
    .expect("only the scheme's header names are generated")
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The scheme as documented: Svix's header names before the generic ones, each header at most
/// once, integer seconds within the tolerance, any `v1` entry matching any key (the first key
/// that matches is reported).
fn model<'h>(
    keys: &[Vec<u8>],
    headers: &[(&'static str, &'h str)],
    body: &[u8],
    now: i64,
) -> Result<(usize, &'h str), VerifyError> {
    let id = either(headers, "svix-id", "webhook-id")?;
    let timestamp = either(headers, "svix-timestamp", "webhook-timestamp")?;
    let signatures = either(headers, "svix-signature", "webhook-signature")?;

    let sent_at = timestamp
        .strip_prefix('+')
        .map_or_else(|| timestamp.parse::<u64>().ok(), |_| None)
        .and_then(|seconds| i64::try_from(seconds).ok())
        .ok_or(VerifyError::MalformedTimestamp)?;
    let age = i128::from(now) - i128::from(sent_at);
    if age > i128::from(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampTooOld);
    }
    if age < -i128::from(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampInFuture);
    }

    let presented: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    keys.iter()
        .position(|key| presented.contains(&mac(key, id, timestamp, body)))
        .map(|index| (index, id))
        .ok_or(VerifyError::BadSignature)
}

fn either<'h>(
    headers: &[(&'static str, &'h str)],
    preferred: &'static str,
    fallback: &'static str,
) -> Result<&'h str, VerifyError> {
    let values = |name: &'static str| -> Vec<&'h str> {
        headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect()
    };
    for name in [preferred, fallback] {
        match values(name).as_slice() {
            [] => {}
            [value] => return Ok(value),
            _ => return Err(VerifyError::RepeatedHeader(name)),
        }
    }
    Err(VerifyError::MissingHeader(preferred))
}

fn round_trip(verifier: &StandardWebhooks, input: &Input, now: i64) {
    let trip = &input.round_trip;
    // A sender's clock is a Unix time; signing a negative one is meaningless.
    let now = match input.now {
        Clock::Near(_) => now,
        Clock::Any(_) => BASE_NOW,
    };
    let sent_at = now + i64::from(trip.skew) % (TOLERANCE_SECS + 1);
    let chosen = usize::from(trip.key) % input.keys.len();
    let key = SigningKey::from_whsec(&format!("whsec_{}", STANDARD.encode(&input.keys[chosen])))
        .expect("a whsec_ secret of non-empty bytes is valid");
    let signature = sign_standard(&key, &trip.id, sent_at, &input.body);
    let names = if trip.webhook_names {
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
    } else {
        ["svix-id", "svix-timestamp", "svix-signature"]
    };
    let headers = |id: &str, timestamp: &str, signature: &str| {
        Headers::from_pairs([
            (names[0], id.to_owned()),
            (names[1], timestamp.to_owned()),
            (names[2], signature.to_owned()),
        ])
    };

    let timestamp = sent_at.to_string();
    let signed = headers(&trip.id, &timestamp, &signature);
    let verified = verifier
        .verify(&input.body, &signed, now)
        .expect("a signature made with an active key verifies");
    assert!(verified.key_index.is_some_and(|index| index <= chosen));
    assert_eq!(verified.message_id, Some(trip.id.as_str()));

    let mut body = input.body.clone();
    let (id, timestamp, signature) = match trip.tamper {
        Tamper::Body { index, flip } => {
            if !flip_byte(&mut body, index, flip) {
                return;
            }
            (trip.id.clone(), timestamp, signature)
        }
        Tamper::Id { index, flip } => match flip_char(&trip.id, index, flip) {
            Some(id) => (id, timestamp, signature),
            None => return,
        },
        Tamper::Timestamp { index, flip } => match flip_char(&timestamp, index, flip) {
            Some(timestamp) => (trip.id.clone(), timestamp, signature),
            None => return,
        },
        Tamper::Signature { index, flip } => match flip_char(&signature, index, flip) {
            Some(signature) => (trip.id.clone(), timestamp, signature),
            None => return,
        },
    };
    let tampered = headers(&id, &timestamp, &signature);
    let result = verifier.verify(&body, &tampered, now);
    assert!(
        result.is_err(),
        "a changed byte still verified: {:?}",
        trip.tamper
    );
}

fn flip_byte(bytes: &mut [u8], index: usize, flip: u8) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let at = index % bytes.len();
    bytes[at] ^= flip.max(1);
    true
}

/// `text` with one byte changed, made valid UTF-8 again if the change broke it; `None` when
/// there is nothing to change or the repair gave the original back.
fn flip_char(text: &str, index: usize, flip: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    if !flip_byte(&mut bytes, index, flip) {
        return None;
    }
    let changed = String::from_utf8_lossy(&bytes).into_owned();
    (changed != text).then_some(changed)
}
