//! Webhook authentication over raw bytes: the Standard Webhooks (Svix) scheme and the hex HMAC
//! scheme with an optional static header.
//!
//! Everything here is pure: raw body bytes, headers and an injected `now` in, a verdict out. It runs
//! before any parsing, so nothing from an unauthenticated body is ever interpreted. It does not know
//! which source a request came from (configuration does) nor what the payload means (`event` does).
//! Errors name a class of failure and never carry a secret, an expected signature or the body.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::headers::Headers;

type HmacSha256 = Hmac<Sha256>;

/// The Standard Webhooks freshness window, both ways, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";
/// HMAC-SHA256 output length.
const SIGNATURE_LEN: usize = 32;
const HEX_SIGNATURE_HEADER: &str = "x-webhook-signature";
const HEX_SIGNATURE_PREFIX: &str = "sha256=";

/// Header names of the Standard Webhooks scheme: Svix's own first, then the generic ones that
/// some accounts are configured to send.
const ID_HEADERS: [&str; 2] = ["svix-id", "webhook-id"];
const TIMESTAMP_HEADERS: [&str; 2] = ["svix-timestamp", "webhook-timestamp"];
const SIGNATURE_HEADERS: [&str; 2] = ["svix-signature", "webhook-signature"];

/// Secrets may be sent to us without their base64 padding; signatures may not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The class of a verification failure, as reported in logs, metrics and conformance data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// A required header is missing, repeated or unusable.
    Headers,
    /// The timestamp is not integer seconds or is outside the tolerance.
    Timestamp,
    /// No signature matches any active secret.
    Signature,
    /// The static authentication header is missing or wrong.
    Auth,
}

impl FailureClass {
    /// The lower-case name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Headers => "headers",
            Self::Timestamp => "timestamp",
            Self::Signature => "signature",
            Self::Auth => "auth",
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header that must be single was sent several times.
    #[error("header {0} appears more than once")]
    RepeatedHeader(&'static str),
    /// The timestamp header is not an integer number of Unix seconds.
    #[error("timestamp header is not integer Unix seconds")]
    MalformedTimestamp,
    /// The timestamp is older than the tolerance.
    #[error("timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance.
    #[error("timestamp is too far in the future")]
    TimestampInFuture,
    /// No signature in the request matches any active secret.
    #[error("no valid signature")]
    BadSignature,
    /// The configured static header is absent.
    #[error("authentication header missing")]
    AuthHeaderMissing,
    /// The configured static header is present but wrong (or repeated).
    #[error("authentication header does not match")]
    AuthHeaderMismatch,
}

impl VerifyError {
    /// The class this failure belongs to.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::MissingHeader(_) | Self::RepeatedHeader(_) => FailureClass::Headers,
            Self::MalformedTimestamp | Self::TimestampTooOld | Self::TimestampInFuture => {
                FailureClass::Timestamp
            }
            Self::BadSignature => FailureClass::Signature,
            Self::AuthHeaderMissing | Self::AuthHeaderMismatch => FailureClass::Auth,
        }
    }
}

/// A secret that cannot be used. Deliberately carries no part of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing is left after trimming (and removing the `whsec_` prefix).
    #[error("secret is empty")]
    Empty,
    /// A `whsec_` secret whose remainder is not base64.
    #[error("secret is not base64 after the whsec_ prefix")]
    NotBase64,
}

/// A verifier built from configuration that could never accept anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifierConfigError {
    /// A Standard Webhooks source without any secret.
    #[error("no signing secret configured")]
    NoSecrets,
    /// A hex-HMAC source with neither a secret nor a static header: it would accept anyone.
    #[error("neither a signing secret nor an authentication header configured")]
    NothingConfigured,
}

/// An HMAC-SHA256 key, prepared once so that each verification only hashes the message.
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A Standard Webhooks secret: optional `whsec_` prefix, then base64 of the key bytes.
    /// Surrounding whitespace (a pasted newline) is ignored.
    pub fn from_whsec(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(&bytes)
    }

    /// A shared secret used as-is (the hex-HMAC scheme); trailing whitespace is ignored.
    pub fn from_text(text: &str) -> Result<Self, SecretError> {
        Self::from_bytes(text.trim_end().as_bytes())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        let mac = HmacSha256::new_from_slice(bytes).map_err(|_| SecretError::Empty)?;
        Ok(Self { mac })
    }

    fn mac_of(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

/// The configured name and value of a static authentication header.
#[derive(Clone)]
pub struct StaticHeader {
    name: String,
    value_digest: [u8; 32],
}

impl fmt::Debug for StaticHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticHeader")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl StaticHeader {
    /// The header `name` (any case) must carry exactly `value` (trailing whitespace ignored).
    pub fn new(name: &str, value: &str) -> Result<Self, SecretError> {
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim_end();
        if name.is_empty() || value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self {
            name,
            value_digest: Sha256::digest(value.as_bytes()).into(),
        })
    }

    /// The lower-case header name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, headers: &Headers) -> Result<(), VerifyError> {
        let presented = headers
            .get_one(&self.name)
            .map_err(|_| VerifyError::AuthHeaderMismatch)?
            .ok_or(VerifyError::AuthHeaderMissing)?;
        // Comparing digests keeps the comparison constant-time and independent of the length.
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.value_digest)) {
            Ok(())
        } else {
            Err(VerifyError::AuthHeaderMismatch)
        }
    }
}

/// What a successful verification established; borrows from the request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'h> {
    /// Which of the active secrets matched (0 = the first configured); `None` when the source
    /// authenticates with its static header alone.
    pub key_index: Option<usize>,
    /// The sender's message id (Standard Webhooks), stable across retries of one delivery.
    pub message_id: Option<&'h str>,
}

/// Standard Webhooks / Svix: `{id}.{timestamp}.{body}` signed with HMAC-SHA256, base64 `v1,`
/// entries, timestamps within a tolerance.
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    keys: Vec<SigningKey>,
    tolerance_secs: i64,
}

impl StandardWebhooks {
    /// A verifier accepting a signature by any of `keys` (several during secret rotation).
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, VerifierConfigError> {
        if keys.is_empty() {
            return Err(VerifierConfigError::NoSecrets);
        }
        Ok(Self {
            keys,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        })
    }

    /// Verifies `body` as received, at Unix time `now` (seconds).
    pub fn verify<'h>(
        &self,
        body: &[u8],
        headers: &'h Headers,
        now: i64,
    ) -> Result<Verified<'h>, VerifyError> {
        let id = first_present(headers, &ID_HEADERS)?;
        let timestamp = first_present(headers, &TIMESTAMP_HEADERS)?;
        let signatures = first_present(headers, &SIGNATURE_HEADERS)?;

        let sent_at = parse_timestamp(timestamp)?;
        check_freshness(sent_at, now, self.tolerance_secs)?;

        let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        // One tag per key (usually one key), finalised once; each v1 entry is compared with it by
        // the hmac crate's `CtOutput`, whose equality is constant-time.
        let key_index = self
            .keys
            .iter()
            .position(|key| {
                let expected = key.mac_of(&signed).finalize();
                signatures
                    .split(' ')
                    .filter_map(|entry| entry.split_once(','))
                    .filter(|(version, _)| *version == SIGNATURE_VERSION)
                    .any(|(_, encoded)| {
                        let mut candidate = [0u8; SIGNATURE_LEN];
                        decode_signature(encoded, &mut candidate)
                            && expected == CtOutput::new(candidate.into())
                    })
            })
            .ok_or(VerifyError::BadSignature)?;

        Ok(Verified {
            key_index: Some(key_index),
            message_id: Some(id),
        })
    }
}

/// Hex HMAC-SHA256 of the raw body in `x-webhook-signature`, plus an optional static header.
/// Each check is on when configured.
#[derive(Debug, Clone)]
pub struct HexHmac {
    keys: Vec<SigningKey>,
    static_header: Option<StaticHeader>,
}

impl HexHmac {
    /// Fails closed: at least one of the two checks must be configured.
    pub fn new(
        keys: Vec<SigningKey>,
        static_header: Option<StaticHeader>,
    ) -> Result<Self, VerifierConfigError> {
        if keys.is_empty() && static_header.is_none() {
            return Err(VerifierConfigError::NothingConfigured);
        }
        Ok(Self {
            keys,
            static_header,
        })
    }

    /// Verifies `body` as received. This scheme carries no timestamp, so there is no freshness
    /// check; deduplication is what guards against replays.
    pub fn verify<'h>(
        &self,
        body: &[u8],
        headers: &'h Headers,
    ) -> Result<Verified<'h>, VerifyError> {
        if let Some(static_header) = &self.static_header {
            static_header.check(headers)?;
        }
        if self.keys.is_empty() {
            return Ok(Verified {
                key_index: None,
                message_id: None,
            });
        }

        let header = single(headers, HEX_SIGNATURE_HEADER)?
            .ok_or(VerifyError::MissingHeader(HEX_SIGNATURE_HEADER))?;
        let hex_text = strip_prefix_ignore_case(header.trim(), HEX_SIGNATURE_PREFIX);
        let candidate = hex::decode(hex_text).map_err(|_| VerifyError::BadSignature)?;

        let key_index = self
            .keys
            .iter()
            .position(|key| key.mac_of(&[body]).verify_slice(&candidate).is_ok())
            .ok_or(VerifyError::BadSignature)?;
        Ok(Verified {
            key_index: Some(key_index),
            message_id: None,
        })
    }
}

/// A source's verification scheme.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// Standard Webhooks / Svix.
    StandardWebhooks(StandardWebhooks),
    /// Hex HMAC with an optional static header.
    HexHmac(HexHmac),
}

impl Verifier {
    /// Verifies a request at Unix time `now` (seconds).
    pub fn verify<'h>(
        &self,
        body: &[u8],
        headers: &'h Headers,
        now: i64,
    ) -> Result<Verified<'h>, VerifyError> {
        match self {
            Self::StandardWebhooks(v) => v.verify(body, headers, now),
            Self::HexHmac(v) => v.verify(body, headers),
        }
    }

    /// The headers worth keeping with a stored event so that it can be verified again later.
    /// Never includes a static authentication header: its value is a credential.
    pub fn signature_headers(&self) -> &'static [&'static str] {
        match self {
            Self::StandardWebhooks(_) => &[
                "svix-id",
                "svix-timestamp",
                "svix-signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
            ],
            Self::HexHmac(_) => &[HEX_SIGNATURE_HEADER],
        }
    }
}

/// Signs like a Standard Webhooks sender: the value of a `svix-signature` header.
pub fn sign_standard(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = key.mac_of(&[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!(
        "{SIGNATURE_VERSION},{}",
        general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Signs like the hex-HMAC sender: the value of an `x-webhook-signature` header.
pub fn sign_hex(key: &SigningKey, body: &[u8]) -> String {
    hex::encode(key.mac_of(&[body]).finalize().into_bytes())
}

fn single<'h>(headers: &'h Headers, name: &'static str) -> Result<Option<&'h str>, VerifyError> {
    headers
        .get_one(name)
        .map_err(|_| VerifyError::RepeatedHeader(name))
}

fn first_present<'h>(
    headers: &'h Headers,
    names: &[&'static str; 2],
) -> Result<&'h str, VerifyError> {
    match single(headers, names[0])? {
        Some(value) => Ok(value),
        None => single(headers, names[1])?.ok_or(VerifyError::MissingHeader(names[0])),
    }
}

/// Integer Unix seconds only: no sign, no fraction, no spaces, nothing beyond `i64`.
fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedTimestamp);
    }
    text.parse().map_err(|_| VerifyError::MalformedTimestamp)
}

fn check_freshness(sent_at: i64, now: i64, tolerance: i64) -> Result<(), VerifyError> {
    match now.checked_sub(sent_at) {
        Some(age) if age > tolerance => Err(VerifyError::TimestampTooOld),
        Some(age) if age < -tolerance => Err(VerifyError::TimestampInFuture),
        Some(_) => Ok(()),
        // Only reachable with an absurd `now`; fail closed.
        None => Err(VerifyError::TimestampInFuture),
    }
}

/// Decodes a standard, padded base64 signature into `out`; `false` unless it is exactly one
/// HMAC-SHA256 output. Decoding into a fixed buffer keeps the hot path free of allocation.
fn decode_signature(encoded: &str, out: &mut [u8; SIGNATURE_LEN]) -> bool {
    // 32 bytes are always 44 characters of padded base64; anything else cannot match.
    encoded.len() == 44 && matches!(STANDARD.decode_slice(encoded, out), Ok(SIGNATURE_LEN))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> &'a str {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &text[prefix.len()..],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NOW: i64 = 1_700_000_000;

    fn key() -> SigningKey {
        SigningKey::from_whsec(SECRET).unwrap()
    }

    fn signed_headers(id: &str, timestamp: i64, body: &[u8]) -> Headers {
        Headers::from_pairs([
            ("svix-id", id.to_owned()),
            ("svix-timestamp", timestamp.to_string()),
            ("svix-signature", sign_standard(&key(), id, timestamp, body)),
        ])
    }

    fn standard() -> StandardWebhooks {
        StandardWebhooks::new(vec![key()]).unwrap()
    }

    #[test]
    fn accepts_own_signature_and_reports_message_id() {
        let headers = signed_headers("msg_1", NOW, b"{}");

        let verified = standard().verify(b"{}", &headers, NOW).unwrap();

        assert_eq!(verified.key_index, Some(0));
        assert_eq!(verified.message_id, Some("msg_1"));
    }

    #[test]
    fn rejects_timestamp_older_than_tolerance() {
        let headers = signed_headers("msg_1", NOW - 301, b"{}");

        let err = standard().verify(b"{}", &headers, NOW).unwrap_err();

        assert_eq!(err, VerifyError::TimestampTooOld);
    }

    #[test]
    fn rejects_timestamp_beyond_tolerance_in_the_future() {
        let headers = signed_headers("msg_1", NOW + 301, b"{}");

        let err = standard().verify(b"{}", &headers, NOW).unwrap_err();

        assert_eq!(err, VerifyError::TimestampInFuture);
    }

    #[test]
    fn absurd_now_fails_closed_instead_of_overflowing() {
        let headers = signed_headers("msg_1", NOW, b"{}");

        let err = standard().verify(b"{}", &headers, i64::MIN).unwrap_err();

        assert_eq!(err.class(), FailureClass::Timestamp);
    }

    #[test]
    fn repeated_signature_header_fails_closed() {
        let mut pairs: Vec<(String, String)> = signed_headers("msg_1", NOW, b"{}")
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        pairs.push(("svix-signature".into(), "v1,AAAA".into()));

        let err = standard()
            .verify(b"{}", &Headers::from_pairs(pairs), NOW)
            .unwrap_err();

        assert_eq!(err, VerifyError::RepeatedHeader("svix-signature"));
    }

    #[test]
    fn reports_which_rotated_secret_matched() {
        let old = SigningKey::from_whsec("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let verifier = StandardWebhooks::new(vec![old, key()]).unwrap();

        let headers = signed_headers("msg_1", NOW, b"{}");

        let verified = verifier.verify(b"{}", &headers, NOW).unwrap();

        assert_eq!(verified.key_index, Some(1));
    }

    #[test]
    fn secret_debug_reveals_nothing() {
        let printed = format!(
            "{:?} {:?}",
            key(),
            StaticHeader::new("secret", "hunter2").unwrap()
        );

        assert!(!printed.contains("MfKQ9r8"));
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn secret_with_trailing_newline_is_trimmed() {
        let pasted = SigningKey::from_whsec(&format!("{SECRET}\n")).unwrap();
        let headers = Headers::from_pairs([
            ("svix-id", "msg_1".to_owned()),
            ("svix-timestamp", NOW.to_string()),
            ("svix-signature", sign_standard(&pasted, "msg_1", NOW, b"x")),
        ]);

        assert!(standard().verify(b"x", &headers, NOW).is_ok());
    }

    #[test]
    fn standard_webhooks_without_secrets_refuses_to_build() {
        assert_eq!(
            StandardWebhooks::new(vec![]).unwrap_err(),
            VerifierConfigError::NoSecrets
        );
    }

    #[test]
    fn hex_source_with_nothing_configured_refuses_to_build() {
        assert_eq!(
            HexHmac::new(vec![], None).unwrap_err(),
            VerifierConfigError::NothingConfigured
        );
    }

    #[test]
    fn hex_source_with_static_header_only_checks_the_header() {
        let verifier =
            HexHmac::new(vec![], Some(StaticHeader::new("Secret", "v").unwrap())).unwrap();

        let (with_header, without) = (Headers::from_pairs([("SECRET", "v")]), Headers::default());

        let ok = verifier.verify(b"x", &with_header);
        let missing = verifier.verify(b"x", &without);

        assert_eq!(ok.unwrap().key_index, None);
        assert_eq!(missing.unwrap_err(), VerifyError::AuthHeaderMissing);
    }

    #[test]
    fn hex_signature_round_trips() {
        let key = SigningKey::from_text("cr3d-secret").unwrap();
        let verifier = HexHmac::new(vec![key.clone()], None).unwrap();
        let headers = Headers::from_pairs([("x-webhook-signature", sign_hex(&key, b"body"))]);

        assert!(verifier.verify(b"body", &headers).is_ok());
        assert_eq!(
            verifier.verify(b"bodY", &headers).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn signature_headers_never_include_the_static_credential() {
        let verifier = Verifier::HexHmac(
            HexHmac::new(vec![], Some(StaticHeader::new("secret", "v").unwrap())).unwrap(),
        );

        assert!(!verifier.signature_headers().contains(&"secret"));
    }
}
