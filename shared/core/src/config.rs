//! Typed configuration, read and validated once at start-up from environment variables, and the
//! sources' credentials wherever they are kept.
//!
//! It owns variable names, defaults and validation, and fails fast naming the bad variable, never
//! printing its value. It does not build AWS clients (the binaries do) nor decide anything per
//! request.
//!
//! Sources are data, not code: `WEBHOOK_SOURCES` lists them, and each `SOURCE_<NAME>_*` variable
//! configures one, naming a sender of the registry (`senders`) as its payload, so a second
//! deployment of a known sender's format is a configuration entry.
//!
//! A source's signing secrets and static header come from the environment
//! (`SOURCE_<NAME>_SECRETS`, `_AUTH_HEADER_NAME`, `_AUTH_HEADER_VALUE`: the local path) or, when
//! `SOURCE_<NAME>_SECRET_ARN` is set, from that secret of a [`SecretStore`], a JSON
//! [`SecretDocument`] validated by the same rules. [`LiveSources`] reads those secrets at start-up
//! (a missing or malformed one stops it, naming the secret and the source) and again every
//! `SECRETS_REFRESH_SECONDS`, so that a rotation needs no restart; a failed refresh keeps the last
//! good credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::clock::Clock;
use crate::ports::{SecretStore, SecretStoreError};
use crate::senders::{self, Payload, Registry};
use crate::verify::{
    HexHmac, SecretError, SigningKey, StandardWebhooks, StaticHeader, Verifier, VerifierConfigError,
};

/// Default largest accepted body: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default retention of event records: longer than any sender's retry window.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// Lease taken on a claim when the invocation's deadline is unknown (local runs, tests).
pub const DEFAULT_LEASE_MS: i64 = 10_000;
/// Default interval between two reads of the sources' secrets: 5 minutes.
pub const DEFAULT_SECRETS_REFRESH_SECONDS: u64 = 300;
/// Longest accepted interval between two reads of the sources' secrets: a day.
pub const MAX_SECRETS_REFRESH_SECONDS: u64 = 86_400;

/// How a source's deliveries are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks (Svix): `whsec_` secrets, signed id, timestamp and body.
    StandardWebhooks,
    /// Hex HMAC-SHA256 of the body, and/or a static header.
    HexHmac,
}

impl Scheme {
    /// The name used in `SOURCE_<NAME>_SCHEME`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::HexHmac => "hex-hmac",
        }
    }

    /// The scheme named `text` (`standard-webhooks`, `hex-hmac`).
    pub fn parse(text: &str) -> Option<Self> {
        [Self::StandardWebhooks, Self::HexHmac]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A configuration problem. Names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is not set")]
    Missing {
        /// The variable.
        var: String,
    },
    /// A variable is set but unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: String,
        /// Why, without the value.
        reason: String,
    },
    /// A source's secret could not be read from the secret store.
    #[error("{var} names secret {secret} of source {source_name}, which cannot be read: {reason}")]
    SecretUnreadable {
        /// The variable naming the secret, `SOURCE_<NAME>_SECRET_ARN`.
        var: String,
        /// The secret's ARN or name.
        secret: String,
        /// The source.
        source_name: String,
        /// The store's answer, without the value.
        reason: String,
    },
    /// A source's secret was read but is not a usable credentials document.
    #[error("secret {secret} of source {source_name} ({var}) is invalid: {reason}")]
    SecretInvalid {
        /// The variable naming the secret, `SOURCE_<NAME>_SECRET_ARN`.
        var: String,
        /// The secret's ARN or name.
        secret: String,
        /// The source.
        source_name: String,
        /// Why, without the value.
        reason: String,
    },
}

/// Where configuration is read from: the process environment, or a map in tests.
pub trait Env {
    /// The value of `var`, if set.
    fn var(&self, var: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, var: &str) -> Option<String> {
        std::env::var(var).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, var: &str) -> Option<String> {
        self.get(var).cloned()
    }
}

/// One configured sender.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name in the URL path, `/webhooks/{name}`.
    pub name: String,
    /// The sender whose payloads it sends.
    pub payload: Arc<dyn Payload>,
    /// How its requests are authenticated.
    pub verifier: Verifier,
}

/// The ingress Lambda's configuration.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// The events table (idempotency claims, raw bodies).
    pub events_table: String,
    /// The queue the consumer reads.
    pub queue_url: String,
    /// Every sender configured with its credentials from the environment.
    pub sources: Vec<Source>,
    /// Every sender whose credentials are kept in a secret store (`SOURCE_<NAME>_SECRET_ARN`),
    /// not read yet: [`LiveSources::load`] reads them.
    pub secret_sources: Vec<SecretSource>,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
    /// How long event records are kept (DynamoDB TTL).
    pub retention_days: u32,
    /// How often the secrets of `secret_sources` are read again (`SECRETS_REFRESH_SECONDS`).
    pub secrets_refresh: Duration,
}

impl IngressConfig {
    /// Reads and validates every variable, with the built-in senders.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Self::from_env_with(env, &senders::builtin())
    }

    /// Reads and validates every variable; sources may name any sender of `registry`.
    pub fn from_env_with(env: &impl Env, registry: &Registry) -> Result<Self, ConfigError> {
        let events_table = required(env, "EVENTS_TABLE")?;
        let queue_url = required(env, "QUEUE_URL")?;
        let (sources, secret_sources) = sources(env, registry)?;
        let refresh_s = parsed_or(
            env,
            "SECRETS_REFRESH_SECONDS",
            DEFAULT_SECRETS_REFRESH_SECONDS,
        )?;
        if !(1..=MAX_SECRETS_REFRESH_SECONDS).contains(&refresh_s) {
            return Err(invalid(
                "SECRETS_REFRESH_SECONDS",
                format!("must be between 1 and {MAX_SECRETS_REFRESH_SECONDS} seconds"),
            ));
        }
        Ok(Self {
            events_table,
            queue_url,
            sources,
            secret_sources,
            max_body_bytes: parsed_or(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            retention_days: parsed_or(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS)?,
            secrets_refresh: Duration::from_secs(refresh_s),
        })
    }

    /// The source named `name`, if configured from the environment (a source kept in a secret
    /// store is found through [`LiveSources`]).
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// The consumer Lambda's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The events table, where events are marked processed.
    pub events_table: String,
    /// Item and verification records, and the notification outbox.
    pub items_table: String,
    /// The bus business events are published on (`EVENT_BUS_NAME`, a name or an ARN).
    pub event_bus: String,
    /// The first part of every business event's `Source` (`EVENT_SOURCE_PREFIX`, default
    /// [`DEFAULT_EVENT_SOURCE_PREFIX`]): `<prefix>.<sender>`.
    pub event_source_prefix: String,
}

/// The business events' `Source` prefix when `EVENT_SOURCE_PREFIX` is unset.
pub const DEFAULT_EVENT_SOURCE_PREFIX: &str = "webhooks";

impl ConsumerConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let prefix = optional(env, "EVENT_SOURCE_PREFIX")
            .unwrap_or_else(|| DEFAULT_EVENT_SOURCE_PREFIX.to_owned());
        // EventBridge reserves `aws.` sources; the prefix is one or more dot-separated words.
        let word = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if prefix.len() > 200 || !prefix.split('.').all(word) {
            return Err(invalid(
                "EVENT_SOURCE_PREFIX",
                "use dot-separated words of letters, digits, '-' and '_'",
            ));
        }
        let lower = prefix.to_ascii_lowercase();
        if lower == "aws" || lower.starts_with("aws.") {
            return Err(invalid(
                "EVENT_SOURCE_PREFIX",
                "sources beginning with `aws.` are reserved by AWS",
            ));
        }
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            items_table: required(env, "ITEMS_TABLE")?,
            event_bus: required(env, "EVENT_BUS_NAME")?,
            event_source_prefix: prefix,
        })
    }
}

fn required(env: &impl Env, var: &str) -> Result<String, ConfigError> {
    optional(env, var).ok_or_else(|| ConfigError::Missing { var: var.into() })
}

fn optional(env: &impl Env, var: &str) -> Option<String> {
    env.var(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parsed_or<T: std::str::FromStr>(
    env: &impl Env,
    var: &str,
    default: T,
) -> Result<T, ConfigError> {
    match optional(env, var) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| invalid(var, "not a positive whole number")),
    }
}

fn invalid(var: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: var.into(),
        reason: reason.into(),
    }
}

/// Every source of `WEBHOOK_SOURCES`: those configured from the environment, and those whose
/// credentials are in a secret store.
fn sources(
    env: &impl Env,
    registry: &Registry,
) -> Result<(Vec<Source>, Vec<SecretSource>), ConfigError> {
    let list = required(env, "WEBHOOK_SOURCES")?;
    let mut names: Vec<&str> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut secret_sources: Vec<SecretSource> = Vec::new();
    for name in list.split([',', ' ']).filter(|n| !n.is_empty()) {
        let valid = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(invalid(
                "WEBHOOK_SOURCES",
                format!("source name {name:?} must be lower-case letters, digits and '-'"),
            ));
        }
        if names.contains(&name) {
            return Err(invalid(
                "WEBHOOK_SOURCES",
                format!("source {name:?} is listed twice"),
            ));
        }
        names.push(name);
        let (payload, scheme) = sender_of(env, registry, name)?;
        match optional(env, &format!("{}SECRET_ARN", source_prefix(name))) {
            Some(secret_id) => secret_sources.push(SecretSource {
                name: name.to_owned(),
                payload,
                scheme,
                secret_id,
            }),
            None => sources.push(Source {
                name: name.to_owned(),
                payload,
                verifier: env_verifier(env, name, scheme)?,
            }),
        }
    }
    if names.is_empty() {
        return Err(ConfigError::Missing {
            var: "WEBHOOK_SOURCES".into(),
        });
    }
    Ok((sources, secret_sources))
}

/// The prefix of a source's variables: `legitmark` → `SOURCE_LEGITMARK_`.
pub fn source_prefix(name: &str) -> String {
    format!("SOURCE_{}_", name.to_ascii_uppercase().replace('-', "_"))
}

/// The sender and scheme the source `name` would be configured with, without reading its secrets
/// (for tools that sign or read as that source does); `None` where its configuration names none.
pub fn source_sender(
    env: &impl Env,
    registry: &Registry,
    name: &str,
) -> Option<(Arc<dyn Payload>, Scheme)> {
    let var = |suffix: &str| format!("{}{suffix}", source_prefix(name));
    let payload = match optional(env, &var("PAYLOAD")) {
        Some(text) => registry.get(&text)?.clone(),
        None => registry.get(name)?.clone(),
    };
    let scheme = match optional(env, &var("SCHEME")) {
        Some(text) => Scheme::parse(&text)?,
        None if registry.get(name).is_some() => payload.scheme(),
        None => return None,
    };
    Some((payload, scheme))
}

/// The sender and scheme of the source `name`, or the error naming the variable that lacks them.
fn sender_of(
    env: &impl Env,
    registry: &Registry,
    name: &str,
) -> Result<(Arc<dyn Payload>, Scheme), ConfigError> {
    let prefix = source_prefix(name);
    let var = |suffix: &str| format!("{prefix}{suffix}");

    // A source named like a registered sender speaks that sender's payload and scheme by default.
    let payload = match optional(env, &var("PAYLOAD")) {
        Some(text) => registry.get(&text).cloned().ok_or_else(|| {
            let known: Vec<&str> = registry.names().collect();
            invalid(
                &var("PAYLOAD"),
                format!("expected one of {}", known.join(", ")),
            )
        })?,
        None => registry
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError::Missing {
                var: var("PAYLOAD"),
            })?,
    };
    let scheme = match optional(env, &var("SCHEME")) {
        Some(text) => Scheme::parse(&text)
            .ok_or_else(|| invalid(&var("SCHEME"), "expected standard-webhooks or hex-hmac"))?,
        None if registry.get(name).is_some() => payload.scheme(),
        None => return Err(ConfigError::Missing { var: var("SCHEME") }),
    };
    Ok((payload, scheme))
}

/// The verifier of a source configured from the environment.
fn env_verifier(env: &impl Env, name: &str, scheme: Scheme) -> Result<Verifier, ConfigError> {
    let prefix = source_prefix(name);
    let secrets_var = format!("{prefix}SECRETS");
    let secrets = optional(env, &secrets_var).unwrap_or_default();
    let keys = split_secrets(scheme, &secrets)
        .map(|s| signing_key(scheme, s).map_err(|e| invalid(&secrets_var, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let header = match scheme {
        Scheme::StandardWebhooks => None,
        Scheme::HexHmac => static_header(
            env,
            &format!("{prefix}AUTH_HEADER_NAME"),
            &format!("{prefix}AUTH_HEADER_VALUE"),
        )?,
    };
    build_verifier(scheme, keys, header).map_err(|e| invalid(&secrets_var, e.to_string()))
}

/// The secrets of a `SOURCE_<NAME>_SECRETS` value. `whsec_` secrets are base64, so whitespace
/// and commas can only be separators; plain-text secrets may contain both: one per line.
fn split_secrets(scheme: Scheme, text: &str) -> impl Iterator<Item = &str> {
    let parts: Vec<&str> = match scheme {
        Scheme::StandardWebhooks => text
            .split([',', ' ', '\n', '\t'])
            .filter(|s| !s.is_empty())
            .collect(),
        Scheme::HexHmac => text.lines().filter(|s| !s.trim().is_empty()).collect(),
    };
    parts.into_iter()
}

fn signing_key(scheme: Scheme, secret: &str) -> Result<SigningKey, SecretError> {
    match scheme {
        Scheme::StandardWebhooks => SigningKey::from_whsec(secret),
        Scheme::HexHmac => SigningKey::from_text(secret),
    }
}

/// The one place a verifier is built, whichever way its credentials came: it refuses a verifier
/// that could accept nothing, or anyone.
fn build_verifier(
    scheme: Scheme,
    keys: Vec<SigningKey>,
    header: Option<StaticHeader>,
) -> Result<Verifier, VerifierConfigError> {
    Ok(match scheme {
        Scheme::StandardWebhooks => Verifier::StandardWebhooks(StandardWebhooks::new(keys)?),
        Scheme::HexHmac => Verifier::HexHmac(HexHmac::new(keys, header)?),
    })
}

fn static_header(
    env: &impl Env,
    name_var: &str,
    value_var: &str,
) -> Result<Option<StaticHeader>, ConfigError> {
    match (optional(env, name_var), optional(env, value_var)) {
        (None, None) => Ok(None),
        (Some(name), Some(value)) => StaticHeader::new(&name, &value)
            .map(Some)
            .map_err(|e| invalid(value_var, e.to_string())),
        (Some(_), None) => Err(ConfigError::Missing {
            var: value_var.into(),
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            var: name_var.into(),
        }),
    }
}

/// A source whose signing secrets and static header are kept in a secret store as a JSON
/// [`SecretDocument`]: its name, sender and scheme come from the environment, its credentials
/// from the secret `secret_id` (`SOURCE_<NAME>_SECRET_ARN`).
#[derive(Debug, Clone)]
pub struct SecretSource {
    /// The name in the URL path, `/webhooks/{name}`.
    pub name: String,
    /// The sender whose payloads it sends.
    pub payload: Arc<dyn Payload>,
    /// How its requests are authenticated.
    pub scheme: Scheme,
    /// The secret's ARN or name.
    pub secret_id: String,
}

impl SecretSource {
    /// The variable naming the secret, `SOURCE_<NAME>_SECRET_ARN`.
    pub fn var(&self) -> String {
        format!("{}SECRET_ARN", source_prefix(&self.name))
    }

    /// The source, verified with the credentials of the secret's text `document`, validated as
    /// the environment's are. The error names the secret and the source, never a value.
    pub fn source(&self, document: &str) -> Result<Source, ConfigError> {
        let verifier = SecretDocument::parse(document)
            .and_then(|doc| doc.verifier(self.scheme))
            .map_err(|e| ConfigError::SecretInvalid {
                var: self.var(),
                secret: self.secret_id.clone(),
                source_name: self.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(Source {
            name: self.name.clone(),
            payload: Arc::clone(&self.payload),
            verifier,
        })
    }

    /// The error for a secret the store could not give.
    pub fn unreadable(&self, err: &SecretStoreError) -> ConfigError {
        ConfigError::SecretUnreadable {
            var: self.var(),
            secret: self.secret_id.clone(),
            source_name: self.name.clone(),
            reason: err.to_string(),
        }
    }
}

/// A secret document that cannot be used; names the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretDocumentError(String);

fn doc_error(reason: impl Into<String>) -> SecretDocumentError {
    SecretDocumentError(reason.into())
}

/// A source's credentials as a secret store keeps them, one JSON document per source:
/// `{"secrets": ["whsec_...", "..."], "auth_header": {"name": "...", "value": "..."}}`.
///
/// `secrets` lists every active signing secret, one per entry (any of them verifies a delivery,
/// which is what lets a rotation add the new one before the sender switches and remove the old
/// one after); it may be empty or absent for a hex-HMAC source authenticated by its static header
/// alone. `auth_header` is for hex-HMAC sources only. No other field is accepted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretDocument {
    /// The active signing secrets.
    pub secrets: Vec<String>,
    /// The static header's name and value.
    pub auth_header: Option<(String, String)>,
}

impl fmt::Debug for SecretDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretDocument")
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field(
                "auth_header",
                &self.auth_header.as_ref().map(|(name, _)| name),
            )
            .finish()
    }
}

impl SecretDocument {
    /// Reads a document. Its errors name the field at fault, never its value (serde's own
    /// messages would quote it).
    pub fn parse(text: &str) -> Result<Self, SecretDocumentError> {
        use serde_json::Value;

        let value: Value = serde_json::from_str(text).map_err(|e| {
            doc_error(format!(
                "not a JSON document (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(doc_error("not a JSON object"));
        };
        let secrets = match fields.remove("secrets") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(secret) => Ok(secret),
                    _ => Err(doc_error(format!("secrets[{i}] is not a string"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(doc_error("\"secrets\" is not a list of strings")),
        };
        let auth_header = match fields.remove("auth_header") {
            None | Some(Value::Null) => None,
            Some(Value::Object(mut header)) => {
                let mut take = |field: &str| match header.remove(field) {
                    Some(Value::String(text)) => Ok(text),
                    Some(_) => Err(doc_error(format!(
                        "\"auth_header\".\"{field}\" is not a string"
                    ))),
                    None => Err(doc_error(format!("\"auth_header\" has no \"{field}\""))),
                };
                let pair = (take("name")?, take("value")?);
                if !header.is_empty() {
                    return Err(doc_error(
                        "\"auth_header\" has a field other than \"name\" and \"value\"",
                    ));
                }
                Some(pair)
            }
            Some(_) => {
                return Err(doc_error(
                    "\"auth_header\" is not an object with \"name\" and \"value\"",
                ));
            }
        };
        // Field names are not quoted either: a secret pasted as a key would be one.
        if !fields.is_empty() {
            return Err(doc_error(
                "it has a field other than \"secrets\" and \"auth_header\"",
            ));
        }
        Ok(Self {
            secrets,
            auth_header,
        })
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        let mut doc = serde_json::json!({ "secrets": self.secrets });
        if let Some((name, value)) = &self.auth_header {
            doc["auth_header"] = serde_json::json!({ "name": name, "value": value });
        }
        doc.to_string()
    }

    /// The document holding what the environment configures for the source `name`
    /// (`SOURCE_<NAME>_SECRETS`, `_AUTH_HEADER_NAME`, `_AUTH_HEADER_VALUE`), validated as the
    /// ingress would: how the local stack puts its sources' credentials into a secret store.
    pub fn from_env(env: &impl Env, name: &str, scheme: Scheme) -> Result<Self, ConfigError> {
        env_verifier(env, name, scheme)?;
        let prefix = source_prefix(name);
        let secrets = optional(env, &format!("{prefix}SECRETS")).unwrap_or_default();
        let auth_header = match scheme {
            Scheme::StandardWebhooks => None,
            Scheme::HexHmac => optional(env, &format!("{prefix}AUTH_HEADER_NAME"))
                .zip(optional(env, &format!("{prefix}AUTH_HEADER_VALUE"))),
        };
        Ok(Self {
            secrets: split_secrets(scheme, &secrets).map(str::to_owned).collect(),
            auth_header,
        })
    }

    /// The verifier of a source of `scheme` with these credentials, by the environment's rules: a
    /// Standard Webhooks source needs a secret, a hex-HMAC one a secret or the header.
    pub fn verifier(&self, scheme: Scheme) -> Result<Verifier, SecretDocumentError> {
        let keys = self
            .secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| {
                signing_key(scheme, secret).map_err(|e| doc_error(format!("secrets[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let header = match (&self.auth_header, scheme) {
            (None, _) => None,
            (Some(_), Scheme::StandardWebhooks) => {
                return Err(doc_error("\"auth_header\" is for hex-hmac sources only"));
            }
            (Some((name, value)), Scheme::HexHmac) => Some(
                StaticHeader::new(name, value)
                    .map_err(|e| doc_error(format!("auth_header: {e}")))?,
            ),
        };
        build_verifier(scheme, keys, header).map_err(|e| doc_error(e.to_string()))
    }
}

/// The sources a request may name, as a running ingress knows them at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sources(Vec<Source>);

impl Sources {
    /// These sources.
    pub fn new(sources: Vec<Source>) -> Self {
        Self(sources)
    }

    /// The source named `name`.
    pub fn get(&self, name: &str) -> Option<&Source> {
        self.0.iter().find(|s| s.name == name)
    }

    /// Every source.
    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        self.0.iter()
    }
}

type ReadSecret =
    Box<dyn Fn(String) -> BoxFuture<'static, Result<String, SecretStoreError>> + Send + Sync>;
type Pending = Shared<BoxFuture<'static, ()>>;

/// The sources a running ingress verifies against: a snapshot shared by every request and
/// replaced whole when a refresh reads new credentials, so that a rotated secret is picked up
/// without a restart.
///
/// Built with [`LiveSources::fixed`] (credentials from the environment, never re-read) or
/// [`LiveSources::load`] (secrets read from a [`SecretStore`] at start-up, and again once the
/// refresh interval has passed: the first request after it starts the read in a spawned task and
/// is served with the credentials in hand). A refresh that fails keeps the last good credentials,
/// logs a warning naming the secret, and is tried again an interval later.
#[derive(Clone)]
pub struct LiveSources {
    inner: Arc<Live>,
}

struct Live {
    current: RwLock<Arc<Sources>>,
    refresher: Option<Refresher>,
}

struct Refresher {
    from_env: Vec<Source>,
    specs: Vec<SecretSource>,
    read: ReadSecret,
    /// Per secret source (in `specs` order), the source its last good document made and the
    /// document's digest. Holding the lock is what keeps refreshes one at a time.
    last: futures::lock::Mutex<Vec<(Source, [u8; 32])>>,
    interval_ms: i64,
    clock: Clock,
    /// When the next refresh is due, on `clock`.
    due_ms: AtomicI64,
    /// The refresh started last, for a rejected request to wait on.
    pending: Mutex<Option<Pending>>,
}

impl fmt::Debug for LiveSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.snapshot();
        let names: Vec<&str> = current.iter().map(|s| s.name.as_str()).collect();
        let mut out = f.debug_struct("LiveSources");
        out.field("sources", &names);
        if let Some(r) = &self.inner.refresher {
            let secrets: Vec<&str> = r.specs.iter().map(|s| s.secret_id.as_str()).collect();
            out.field("secrets", &secrets)
                .field("refresh_ms", &r.interval_ms);
        }
        out.finish()
    }
}

impl LiveSources {
    /// Sources that never change.
    pub fn fixed(sources: Vec<Source>) -> Self {
        Self {
            inner: Arc::new(Live {
                current: RwLock::new(Arc::new(Sources(sources))),
                refresher: None,
            }),
        }
    }

    /// The sources of `config`: those configured from the environment, and those whose secret
    /// is read from `store` now, all at once. A secret that cannot be read or is not a valid
    /// document stops it with an error naming the secret and the source, never a value. The
    /// secrets are read again every `config.secrets_refresh`, measured on `clock`.
    pub async fn load<S: SecretStore + 'static>(
        config: &IngressConfig,
        store: S,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        if config.secret_sources.is_empty() {
            return Ok(Self::fixed(config.sources.clone()));
        }
        let store = Arc::new(store);
        let read: ReadSecret = Box::new(move |id: String| {
            let store = Arc::clone(&store);
            async move { store.get(&id).await }.boxed()
        });
        let texts = join_all(
            config
                .secret_sources
                .iter()
                .map(|spec| read(spec.secret_id.clone())),
        )
        .await;
        let mut last = Vec::with_capacity(texts.len());
        for (spec, text) in config.secret_sources.iter().zip(texts) {
            let text = text.map_err(|e| spec.unreadable(&e))?;
            last.push((spec.source(&text)?, digest(&text)));
            info!(source = %spec.name, secret = %spec.secret_id, "credentials read from the secret store");
        }
        let interval_ms = i64::try_from(config.secrets_refresh.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let due_ms = clock().saturating_add(interval_ms);
        Ok(Self {
            inner: Arc::new(Live {
                current: RwLock::new(Arc::new(assemble(&config.sources, &last))),
                refresher: Some(Refresher {
                    from_env: config.sources.clone(),
                    specs: config.secret_sources.clone(),
                    read,
                    last: futures::lock::Mutex::new(last),
                    interval_ms,
                    clock,
                    due_ms: AtomicI64::new(due_ms),
                    pending: Mutex::new(None),
                }),
            }),
        })
    }

    /// The sources as they are now. Once the refresh interval has passed, the first caller also
    /// starts reading the secrets again, in a task spawned on the current Tokio runtime (none: no
    /// refresh), and does not wait for it.
    pub fn current(&self) -> Arc<Sources> {
        let sources = self.snapshot();
        if let Some(refresher) = &self.inner.refresher {
            self.start_refresh_if_due(refresher);
        }
        sources
    }

    /// After the sources `seen` rejected a request: newer ones, if a refresh already started
    /// (waited for) or finished since brought new credentials; `None` otherwise. It never starts
    /// a read itself, so a request with a bad signature costs no call to the store.
    pub async fn newer_than(&self, seen: &Arc<Sources>) -> Option<Arc<Sources>> {
        let refresher = self.inner.refresher.as_ref()?;
        let pending = refresher
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(pending) = pending {
            pending.await;
        }
        let now = self.snapshot();
        (!Arc::ptr_eq(&now, seen)).then_some(now)
    }

    /// Reads every secret again now and puts the sources that changed in use. A secret that
    /// cannot be read or has become invalid keeps its last good credentials and is logged as a
    /// warning (naming the secret, never a value); the failures are returned, none when every
    /// secret was read.
    pub async fn refresh(&self) -> Vec<ConfigError> {
        let Some(refresher) = &self.inner.refresher else {
            return Vec::new();
        };
        let mut last = refresher.last.lock().await;
        let texts = join_all(
            refresher
                .specs
                .iter()
                .map(|spec| (refresher.read)(spec.secret_id.clone())),
        )
        .await;
        let mut failures = Vec::new();
        let mut changed = false;
        for ((spec, text), slot) in refresher.specs.iter().zip(texts).zip(last.iter_mut()) {
            let fresh = text.map_err(|e| spec.unreadable(&e)).and_then(|text| {
                let digest = digest(&text);
                if digest == slot.1 {
                    return Ok(None);
                }
                spec.source(&text).map(|source| Some((source, digest)))
            });
            match fresh {
                Ok(None) => {}
                Ok(Some(fresh)) => {
                    *slot = fresh;
                    changed = true;
                    info!(source = %spec.name, secret = %spec.secret_id, "secret changed: its new credentials are in use");
                }
                Err(err) => {
                    warn!(source = %spec.name, secret = %spec.secret_id, error = %err, "secret refresh failed: keeping the last good credentials until the next interval");
                    failures.push(err);
                }
            }
        }
        if changed {
            let sources = Arc::new(assemble(&refresher.from_env, &last));
            *self
                .inner
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner) = sources;
        }
        failures
    }

    fn snapshot(&self) -> Arc<Sources> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn start_refresh_if_due(&self, refresher: &Refresher) {
        let now = (refresher.clock)();
        let due = refresher.due_ms.load(Ordering::Acquire);
        if now < due {
            return;
        }
        // One caller per interval wins the exchange and starts the refresh; a failed one is thus
        // tried again an interval later.
        let next = now.saturating_add(refresher.interval_ms);
        if refresher
            .due_ms
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let live = Arc::downgrade(&self.inner);
        let task: Pending = async move {
            if let Some(inner) = live.upgrade() {
                LiveSources { inner }.refresh().await;
            }
        }
        .boxed()
        .shared();
        *refresher
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task.clone());
        runtime.spawn(task);
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn assemble(from_env: &[Source], from_secrets: &[(Source, [u8; 32])]) -> Sources {
    Sources(
        from_env
            .iter()
            .cloned()
            .chain(from_secrets.iter().map(|(source, _)| source.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("EVENTS_TABLE", "events"),
            ("QUEUE_URL", "http://localhost/q"),
            ("WEBHOOK_SOURCES", "legitmark,cr3dentials"),
            (
                "SOURCE_LEGITMARK_SECRETS",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            ),
            ("SOURCE_CR3DENTIALS_SECRETS", "It's a Secret to Everybody\n"),
        ]
    }

    #[test]
    fn reads_both_built_in_sources_with_defaults() {
        let config = IngressConfig::from_env(&env(&base())).unwrap();

        assert_eq!(config.sources.len(), 2);
        assert_eq!(
            config.source("cr3dentials").unwrap().payload.name(),
            "cr3dentials"
        );
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.retention_days, DEFAULT_RETENTION_DAYS);
    }

    #[test]
    fn a_third_source_is_configuration_only() {
        let mut vars = base();
        vars[2] = ("WEBHOOK_SOURCES", "legitmark,cr3dentials,acme-kyc");
        vars.push(("SOURCE_ACME_KYC_SCHEME", "hex-hmac"));
        vars.push(("SOURCE_ACME_KYC_PAYLOAD", "cr3dentials"));
        vars.push(("SOURCE_ACME_KYC_AUTH_HEADER_NAME", "x-token"));
        vars.push(("SOURCE_ACME_KYC_AUTH_HEADER_VALUE", "t0ken"));

        let config = IngressConfig::from_env(&env(&vars)).unwrap();

        assert!(config.source("acme-kyc").is_some());
    }

    #[test]
    fn missing_secret_fails_closed_naming_the_variable() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "SOURCE_LEGITMARK_SECRETS")
            .collect();

        let err = IngressConfig::from_env(&env(&vars)).unwrap_err();

        assert!(err.to_string().contains("SOURCE_LEGITMARK_SECRETS"));
    }

    #[test]
    fn bad_secret_error_names_the_variable_but_not_the_value() {
        let mut vars = base();
        vars[3] = ("SOURCE_LEGITMARK_SECRETS", "whsec_!!!notbase64!!!");

        let err = IngressConfig::from_env(&env(&vars))
            .unwrap_err()
            .to_string();

        assert!(err.contains("SOURCE_LEGITMARK_SECRETS"));
        assert!(!err.contains("notbase64"));
    }

    #[test]
    fn half_configured_auth_header_is_an_error() {
        let mut vars = base();
        vars.push(("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME", "secret"));

        let err = IngressConfig::from_env(&env(&vars)).unwrap_err();

        assert_eq!(
            err,
            ConfigError::Missing {
                var: "SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE".into()
            }
        );
    }

    #[test]
    fn unknown_source_without_scheme_is_refused() {
        let mut vars = base();
        vars[2] = ("WEBHOOK_SOURCES", "legitmark,mystery");

        let err = IngressConfig::from_env(&env(&vars)).unwrap_err();

        assert_eq!(
            err,
            ConfigError::Missing {
                var: "SOURCE_MYSTERY_PAYLOAD".into()
            }
        );
    }

    #[test]
    fn non_numeric_limit_is_invalid() {
        let mut vars = base();
        vars.push(("MAX_BODY_BYTES", "lots"));

        let err = IngressConfig::from_env(&env(&vars)).unwrap_err();

        assert!(matches!(err, ConfigError::Invalid { var, .. } if var == "MAX_BODY_BYTES"));
    }

    /// A value that must never appear in an error or a log line.
    const LEAK: &str = "LEAKME";

    fn secret_env(arn: &str) -> BTreeMap<String, String> {
        let mut vars = base();
        vars.retain(|(k, _)| *k != "SOURCE_CR3DENTIALS_SECRETS");
        vars.push(("SOURCE_CR3DENTIALS_SECRET_ARN", arn));
        vars.push(("SECRETS_REFRESH_SECONDS", "1"));
        env(&vars)
    }

    fn hex_request(secret: &str, body: &[u8]) -> crate::headers::Headers {
        let key = SigningKey::from_text(secret).unwrap();
        crate::headers::Headers::from_pairs([(
            "x-webhook-signature",
            crate::verify::sign_hex(&key, body),
        )])
    }

    fn accepts(sources: &Sources, secret: &str) -> bool {
        let body = br#"{"any":"body"}"#;
        let source = sources.get("cr3dentials").unwrap();
        source
            .verifier
            .verify(body, &hex_request(secret, body), 0)
            .is_ok()
    }

    fn doc(secrets: &[&str]) -> String {
        SecretDocument {
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            auth_header: None,
        }
        .to_json()
    }

    fn manual_clock(at: &Arc<AtomicI64>) -> Clock {
        let at = Arc::clone(at);
        Arc::new(move || at.load(Ordering::SeqCst))
    }

    #[test]
    fn a_source_with_a_secret_arn_waits_for_its_secret() {
        // given the Cr3dentials credentials named by a secret, and no SOURCE_CR3DENTIALS_SECRETS
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();

        // then only Legitmark is ready; Cr3dentials waits for its secret
        assert_eq!(config.sources.len(), 1);
        assert!(config.source("cr3dentials").is_none());
        assert_eq!(config.secret_sources.len(), 1);
        let pending = &config.secret_sources[0];
        assert_eq!(pending.name, "cr3dentials");
        assert_eq!(pending.secret_id, "arn:cr3d");
        assert_eq!(pending.scheme, Scheme::HexHmac);
        assert_eq!(pending.var(), "SOURCE_CR3DENTIALS_SECRET_ARN");
        assert_eq!(config.secrets_refresh, Duration::from_secs(1));
    }

    #[test]
    fn secrets_refresh_has_a_default_and_bounds() {
        let config = IngressConfig::from_env(&env(&base())).unwrap();
        assert_eq!(
            config.secrets_refresh,
            Duration::from_secs(DEFAULT_SECRETS_REFRESH_SECONDS)
        );

        for bad in ["0", "86401", "soon"] {
            let mut vars = base();
            vars.push(("SECRETS_REFRESH_SECONDS", bad));

            let err = IngressConfig::from_env(&env(&vars)).unwrap_err();

            assert!(
                matches!(&err, ConfigError::Invalid { var, .. } if var == "SECRETS_REFRESH_SECONDS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_environment_s_credentials_make_a_document_that_reads_back() {
        let mut vars = base();
        vars.push(("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME", "secret"));
        vars.push(("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE", "token"));
        let env = env(&vars);

        let legitmark =
            SecretDocument::from_env(&env, "legitmark", Scheme::StandardWebhooks).unwrap();
        let cr3dentials = SecretDocument::from_env(&env, "cr3dentials", Scheme::HexHmac).unwrap();

        assert_eq!(legitmark.secrets.len(), 2);
        assert_eq!(legitmark.auth_header, None);
        assert_eq!(
            cr3dentials.auth_header,
            Some(("secret".to_owned(), "token".to_owned()))
        );
        for (doc, scheme) in [
            (legitmark, Scheme::StandardWebhooks),
            (cr3dentials, Scheme::HexHmac),
        ] {
            let read = SecretDocument::parse(&doc.to_json()).unwrap();
            assert_eq!(read, doc);
            read.verifier(scheme).unwrap();
        }
        assert!(!format!("{:?}", SecretDocument::parse(&doc(&[LEAK])).unwrap()).contains(LEAK));
    }

    #[test]
    fn a_half_configured_environment_makes_no_document() {
        let mut vars = base();
        vars.push(("SOURCE_CR3DENTIALS_AUTH_HEADER_NAME", "secret"));

        let err =
            SecretDocument::from_env(&env(&vars), "cr3dentials", Scheme::HexHmac).unwrap_err();

        assert!(
            err.to_string()
                .contains("SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE")
        );
    }

    #[test]
    fn documents_follow_the_environment_s_rules() {
        let header_only = r#"{"auth_header": {"name": "secret", "value": "token"}}"#;
        let empty_list = r#"{"secrets": [], "auth_header": {"name": "secret", "value": "t"}}"#;
        let whsec = r#"{"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#;

        // a hex-HMAC source may rely on its header alone; Standard Webhooks needs a secret
        assert!(
            SecretDocument::parse(header_only)
                .unwrap()
                .verifier(Scheme::HexHmac)
                .is_ok()
        );
        assert!(
            SecretDocument::parse(empty_list)
                .unwrap()
                .verifier(Scheme::HexHmac)
                .is_ok()
        );
        assert!(
            SecretDocument::parse(whsec)
                .unwrap()
                .verifier(Scheme::StandardWebhooks)
                .is_ok()
        );
        for (text, scheme, reason) in [
            ("{}", Scheme::HexHmac, "neither a signing secret nor"),
            (
                r#"{"secrets": null}"#,
                Scheme::StandardWebhooks,
                "no signing secret",
            ),
            (
                header_only,
                Scheme::StandardWebhooks,
                "hex-hmac sources only",
            ),
        ] {
            let err = SecretDocument::parse(text)
                .unwrap()
                .verifier(scheme)
                .unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn a_malformed_document_is_refused_without_quoting_it() {
        let cases = [
            (format!("whsec_{LEAK}"), "not a JSON document"),
            (format!("[\"{LEAK}\"]"), "not a JSON object"),
            (
                format!(r#"{{"secrets": "{LEAK}"}}"#),
                "not a list of strings",
            ),
            (
                format!(r#"{{"secrets": [1, "{LEAK}"]}}"#),
                "secrets[0] is not a string",
            ),
            (format!(r#"{{"secret": ["{LEAK}"]}}"#), "a field other than"),
            (format!(r#"{{"{LEAK}": 1}}"#), "a field other than"),
            (
                format!(r#"{{"auth_header": {{"name": "x", "value": "{LEAK}", "n": 1}}}}"#),
                "a field other than",
            ),
            (
                format!(r#"{{"auth_header": {{"name": "{LEAK}"}}}}"#),
                "has no \"value\"",
            ),
            (format!(r#"{{"auth_header": "{LEAK}"}}"#), "not an object"),
        ];
        for (text, reason) in cases {
            let err = SecretDocument::parse(&text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(!err.contains(LEAK), "{text}: {err}");
        }

        let bad_whsec = SecretDocument::parse(&doc(&[
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &format!("whsec_!{LEAK}!"),
        ]))
        .unwrap()
        .verifier(Scheme::StandardWebhooks)
        .unwrap_err()
        .to_string();
        assert!(bad_whsec.contains("secrets[1]"), "{bad_whsec}");
        assert!(!bad_whsec.contains(LEAK), "{bad_whsec}");
    }

    #[tokio::test]
    async fn live_sources_read_the_secret_at_start_up() {
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();
        let store = crate::memory::MemorySecrets::default();
        store.put("arn:cr3d", &doc(&["old-secret"]));

        let live = LiveSources::load(&config, store.clone(), crate::clock::system_clock())
            .await
            .unwrap();

        let sources = live.current();
        assert!(sources.get("legitmark").is_some());
        assert!(accepts(&sources, "old-secret"));
        assert!(!accepts(&sources, "other-secret"));
        assert_eq!(store.faults.calls("get_secret"), 1);
        assert!(!format!("{live:?} {store:?}").contains("old-secret"));
    }

    #[tokio::test]
    async fn a_missing_or_malformed_secret_stops_start_up_naming_it() {
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();
        let malformed = [
            format!("{LEAK}-not-json"),
            format!(r#"{{"secret": ["{LEAK}"]}}"#),
            r#"{"secrets": []}"#.to_owned(),
        ];
        let mut stores = vec![crate::memory::MemorySecrets::default()];
        for text in &malformed {
            let store = crate::memory::MemorySecrets::default();
            store.put("arn:cr3d", text);
            stores.push(store);
        }

        for (n, store) in stores.into_iter().enumerate() {
            let err = LiveSources::load(&config, store, crate::clock::system_clock())
                .await
                .unwrap_err();

            if n == 0 {
                assert!(matches!(err, ConfigError::SecretUnreadable { .. }), "{err}");
            } else {
                assert!(matches!(err, ConfigError::SecretInvalid { .. }), "{err}");
            }
            let text = err.to_string();
            assert!(text.contains("arn:cr3d"), "{text}");
            assert!(text.contains("cr3dentials"), "{text}");
            assert!(text.contains("SOURCE_CR3DENTIALS_SECRET_ARN"), "{text}");
            assert!(!text.contains(LEAK), "{text}");
        }
    }

    #[tokio::test]
    async fn a_refresh_puts_a_rotated_secret_in_use() {
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();
        let store = crate::memory::MemorySecrets::default();
        store.put("arn:cr3d", &doc(&["old-secret"]));
        let live = LiveSources::load(&config, store.clone(), crate::clock::system_clock())
            .await
            .unwrap();

        // when the new secret is added beside the old one, then the old one is removed
        store.put("arn:cr3d", &doc(&["old-secret", "new-secret"]));
        let failures = live.refresh().await;
        let both = live.current();
        store.put("arn:cr3d", &doc(&["new-secret"]));
        live.refresh().await;
        let after = live.current();

        assert!(failures.is_empty());
        assert!(accepts(&both, "old-secret") && accepts(&both, "new-secret"));
        assert!(accepts(&after, "new-secret") && !accepts(&after, "old-secret"));
        // the environment's source is kept through every refresh
        assert!(after.get("legitmark").is_some());
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_last_good_secrets() {
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();
        let store = crate::memory::MemorySecrets::default();
        store.put("arn:cr3d", &doc(&["old-secret"]));
        let live = LiveSources::load(&config, store.clone(), crate::clock::system_clock())
            .await
            .unwrap();
        let before = live.current();

        // an outage, a secret made invalid, and a deleted secret
        store.faults.fail("get_secret", 1);
        let outage = live.refresh().await;
        store.put("arn:cr3d", &format!(r#"{{"secrets": "{LEAK}"}}"#));
        let invalid = live.refresh().await;
        store.remove("arn:cr3d");
        let deleted = live.refresh().await;

        for failures in [&outage, &invalid, &deleted] {
            assert_eq!(failures.len(), 1);
            let text = failures[0].to_string();
            assert!(text.contains("arn:cr3d") && !text.contains(LEAK), "{text}");
        }
        assert!(Arc::ptr_eq(&before, &live.current()));
        assert!(accepts(&live.current(), "old-secret"));

        // and a later refresh that succeeds puts the new secret in use
        store.put("arn:cr3d", &doc(&["new-secret"]));
        assert!(live.refresh().await.is_empty());
        assert!(accepts(&live.current(), "new-secret"));
    }

    #[tokio::test]
    async fn the_first_request_after_the_interval_starts_a_refresh_a_rejection_waits_for() {
        let now = Arc::new(AtomicI64::new(1_000_000));
        let config = IngressConfig::from_env(&secret_env("arn:cr3d")).unwrap();
        let store = crate::memory::MemorySecrets::default();
        store.put("arn:cr3d", &doc(&["old-secret"]));
        let live = LiveSources::load(&config, store.clone(), manual_clock(&now))
            .await
            .unwrap();
        store.put("arn:cr3d", &doc(&["new-secret"]));

        // before the interval: no read, and a rejection has nothing newer to wait for
        now.fetch_add(999, Ordering::SeqCst);
        let seen = live.current();
        assert!(live.newer_than(&seen).await.is_none());
        assert_eq!(store.faults.calls("get_secret"), 1);

        // at the interval: the request is served with what is in hand and starts one read
        now.fetch_add(1, Ordering::SeqCst);
        let seen = live.current();
        let again = live.current();
        assert!(accepts(&seen, "old-secret"));
        assert!(Arc::ptr_eq(&seen, &again));

        // a request the old secret rejects gets the refreshed sources
        let newer = live.newer_than(&seen).await.unwrap();
        assert!(accepts(&newer, "new-secret"));
        assert_eq!(store.faults.calls("get_secret"), 2);
        assert!(live.newer_than(&newer).await.is_none());
    }

    #[test]
    fn fixed_sources_never_refresh() {
        let config = IngressConfig::from_env(&env(&base())).unwrap();
        let live = LiveSources::fixed(config.sources.clone());

        let seen = live.current();

        assert_eq!(seen.iter().count(), 2);
        assert!(futures::executor::block_on(live.newer_than(&seen)).is_none());
        assert!(futures::executor::block_on(live.refresh()).is_empty());
    }
}
