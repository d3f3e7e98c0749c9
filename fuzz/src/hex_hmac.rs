//! Hex-HMAC verification, with and without the static header, under fuzzed configuration and
//! headers.
//!
//! Two oracles, as for Standard Webhooks: a plain restatement of the scheme must reach the
//! verifier's verdict for any headers, and a signature made by `sign_hex` (in either case, with or
//! without `sha256=`) must verify, and stop verifying when a body byte or the static header
//! changes.

use arbitrary::{Arbitrary, Unstructured};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webhook_core::headers::Headers;
use webhook_core::verify::{HexHmac, SigningKey, StaticHeader, VerifyError, sign_hex};

const SIGNATURE_HEADER: &str = "x-webhook-signature";
const MAX_KEYS: usize = 3;

#[derive(Debug, Arbitrary)]
struct Input {
    secrets: Vec<String>,
    static_header: Option<(String, String)>,
    /// `x-webhook-signature`.
    signature: Option<Value>,
    /// The static header, under its configured name.
    static_value: Option<Value>,
    /// More headers, with any name and value: repeats and conflicts.
    extra: Vec<Header>,
    body: Vec<u8>,
    round_trip: RoundTrip,
}

#[derive(Debug, Arbitrary)]
struct Header {
    name: Name,
    upper_case: bool,
    value: Value,
}

#[derive(Debug, Arbitrary)]
enum Name {
    Signature,
    /// The configured static header's name (or `secret` when none is configured).
    Static,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Value {
    Text(String),
    /// The hex HMAC of the body by one of the secrets, dressed as a sender might.
    Signed {
        key: u8,
        dress: Dress,
    },
    /// A signature cut short or extended.
    Resized {
        key: u8,
        keep: u8,
        extra: Vec<u8>,
    },
    /// The configured static value, possibly with text appended.
    Configured {
        suffix: String,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct Dress {
    upper_case: bool,
    prefix: Prefix,
    padded: bool,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Prefix {
    None,
    Lower,
    Upper,
    Mixed,
}

#[derive(Debug, Arbitrary)]
struct RoundTrip {
    key: u8,
    dress: Dress,
    index: usize,
    flip: u8,
}

/// The usable secrets and the static header, as configuration would build them.
struct Config {
    secrets: Vec<String>,
    keys: Vec<SigningKey>,
    static_header: Option<(String, String)>,
}

/// Runs both oracles over one fuzzer input; returns the verdict on the fuzzed headers.
pub fn run(data: &[u8]) -> String {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return "unusable input".to_owned();
    };
    let config = config(&input);
    let static_header = config.static_header.as_ref().map(|(name, value)| {
        StaticHeader::new(name, value).expect("names and values were checked to be non-empty")
    });
    let verifier = match HexHmac::new(config.keys.clone(), static_header) {
        Ok(verifier) => verifier,
        Err(_) => {
            assert!(config.keys.is_empty() && config.static_header.is_none());
            return "nothing configured".to_owned();
        }
    };

    let verdict = differential(&verifier, &config, &input);
    round_trip(&verifier, &config, &input);
    verdict
}

fn config(input: &Input) -> Config {
    let mut secrets = Vec::new();
    let mut keys = Vec::new();
    for secret in input.secrets.iter().take(MAX_KEYS) {
        match SigningKey::from_text(secret) {
            Ok(key) => {
                secrets.push(secret.trim_end().to_owned());
                keys.push(key);
            }
            Err(_) => assert!(secret.trim_end().is_empty(), "secret refused"),
        }
    }
    let static_header = input.static_header.as_ref().and_then(|(name, value)| {
        let (name, value) = (
            name.trim().to_ascii_lowercase(),
            value.trim_end().to_owned(),
        );
        let usable = !name.is_empty() && !value.is_empty();
        assert_eq!(StaticHeader::new(&name, &value).is_ok(), usable);
        usable.then_some((name, value))
    });
    Config {
        secrets,
        keys,
        static_header,
    }
}

fn differential(verifier: &HexHmac, config: &Config, input: &Input) -> String {
    let static_name = config
        .static_header
        .as_ref()
        .map_or("secret", |(name, _)| name.as_str());
    let primaries = [
        (SIGNATURE_HEADER, &input.signature),
        (static_name, &input.static_value),
    ];
    let pairs: Vec<(String, String)> = primaries
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value.as_ref()?)))
        .chain(input.extra.iter().map(|header| {
            let name = match &header.name {
                Name::Signature => SIGNATURE_HEADER.to_owned(),
                Name::Static => static_name.to_owned(),
                Name::Other(name) => name.clone(),
            };
            let name = if header.upper_case {
                name.to_ascii_uppercase()
            } else {
                name
            };
            (name, &header.value)
        }))
        .map(|(name, value)| (name, value_text(value, config, &input.body)))
        .collect();
    let headers = Headers::from_pairs(pairs.iter().map(|(name, value)| (name, value.clone())));
    let lower: Vec<(String, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();

    let actual = verifier
        .verify(&input.body, &headers)
        .map(|verified| (verified.key_index, verified.message_id.is_some()));
    let expected = model(config, &lower, &input.body).map(|index| (index, false));
    assert_eq!(actual, expected, "verifier and model disagree");

    match actual {
        Ok((Some(index), _)) => format!("ok key {index}"),
        Ok((None, _)) => "ok static header".to_owned(),
        Err(err) => format!("{err:?}"),
    }
}

fn value_text(value: &Value, config: &Config, body: &[u8]) -> String {
    let secret = |index: u8| {
        let secrets = &config.secrets;
        (!secrets.is_empty()).then(|| secrets[usize::from(index) % secrets.len()].as_str())
    };
    match value {
        Value::Text(text) => text.clone(),
        Value::Signed { key, dress } => match secret(*key) {
            Some(secret) => dressed(&to_hex(&mac(secret, body)), *dress),
            None => String::new(),
        },
        Value::Resized { key, keep, extra } => match secret(*key) {
            Some(secret) => {
                let mut tag = mac(secret, body);
                tag.truncate(usize::from(*keep));
                tag.extend_from_slice(extra);
                to_hex(&tag)
            }
            None => String::new(),
        },
        Value::Configured { suffix } => match &config.static_header {
            Some((_, value)) => format!("{value}{suffix}"),
            None => suffix.clone(),
        },
    }
}

fn dressed(hex: &str, dress: Dress) -> String {
    let hex = if dress.upper_case {
        hex.to_ascii_uppercase()
    } else {
        hex.to_owned()
    };
    let prefix = match dress.prefix {
        Prefix::None => "",
        Prefix::Lower => "sha256=",
        Prefix::Upper => "SHA256=",
        Prefix::Mixed => "Sha256=",
    };
    if dress.padded {
        format!(" {prefix}{hex}\t")
    } else {
        format!("{prefix}{hex}")
    }
}

fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u32> = text
        .chars()
        .map(|c| c.to_digit(16))
        .collect::<Option<_>>()?;
    digits.len().is_multiple_of(2).then(|| {
        digits
            .chunks(2)
            .map(|pair| u8::try_from(pair[0] * 16 + pair[1]).expect("two hex digits fit a byte"))
            .collect()
    })
}

/// The scheme as documented: the static header first (when configured), exactly once and equal
/// to the configured value; then, when secrets are configured, one `x-webhook-signature` whose
/// hex (either case, optional `sha256=` in any case, surrounding whitespace ignored) is the
/// HMAC-SHA256 of the body under one of them.
fn model(
    config: &Config,
    headers: &[(String, &str)],
    body: &[u8],
) -> Result<Option<usize>, VerifyError> {
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect()
    };
    if let Some((name, value)) = &config.static_header {
        match values(name).as_slice() {
            [] => return Err(VerifyError::AuthHeaderMissing),
            [presented] if presented == value => {}
            _ => return Err(VerifyError::AuthHeaderMismatch),
        }
    }
    if config.secrets.is_empty() {
        return Ok(None);
    }
    let presented = match values(SIGNATURE_HEADER).as_slice() {
        [] => return Err(VerifyError::MissingHeader(SIGNATURE_HEADER)),
        [presented] => presented.trim(),
        _ => return Err(VerifyError::RepeatedHeader(SIGNATURE_HEADER)),
    };
    let hex = if presented.to_ascii_lowercase().starts_with("sha256=") {
        &presented["sha256=".len()..]
    } else {
        presented
    };
    let tag = from_hex(hex).ok_or(VerifyError::BadSignature)?;
    config
        .secrets
        .iter()
        .position(|secret| mac(secret, body) == tag)
        .map(Some)
        .ok_or(VerifyError::BadSignature)
}

fn round_trip(verifier: &HexHmac, config: &Config, input: &Input) {
    let trip = &input.round_trip;
    // A static header named like the signature header would make both one header; such a
    // configuration can accept nothing, which the differential oracle already covers.
    if config
        .static_header
        .as_ref()
        .is_some_and(|(name, _)| name == SIGNATURE_HEADER)
    {
        return;
    }
    let mut pairs = Vec::new();
    let mut chosen = None;
    if !config.keys.is_empty() {
        let index = usize::from(trip.key) % config.keys.len();
        chosen = Some(index);
        let signature = sign_hex(&config.keys[index], &input.body);
        pairs.push((SIGNATURE_HEADER.to_owned(), dressed(&signature, trip.dress)));
    }
    let signed_only = Headers::from_pairs(pairs.clone());
    if let Some((name, value)) = &config.static_header {
        pairs.push((name.to_ascii_uppercase(), value.clone()));
    }
    let headers = Headers::from_pairs(pairs);

    let verified = verifier
        .verify(&input.body, &headers)
        .expect("a request signed and authenticated as configured verifies");
    match chosen {
        Some(chosen) => assert!(verified.key_index.is_some_and(|index| index <= chosen)),
        None => assert_eq!(verified.key_index, None),
    }

    if let Some((name, value)) = &config.static_header {
        assert_eq!(
            verifier.verify(&input.body, &signed_only),
            Err(VerifyError::AuthHeaderMissing)
        );
        let mut wrong = signed_only
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect::<Vec<_>>();
        wrong.push((name.clone(), format!("{value}x")));
        assert_eq!(
            verifier.verify(&input.body, &Headers::from_pairs(wrong)),
            Err(VerifyError::AuthHeaderMismatch)
        );
    }
    if chosen.is_some() && !input.body.is_empty() {
        let mut body = input.body.clone();
        let at = trip.index % body.len();
        body[at] ^= trip.flip.max(1);
        assert_eq!(
            verifier.verify(&body, &headers),
            Err(VerifyError::BadSignature),
            "a changed body byte still verified"
        );
    }
}
