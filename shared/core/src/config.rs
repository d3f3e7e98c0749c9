//! Typed configuration, read and validated once at start-up from environment variables.
//!
//! It owns variable names, defaults and validation, and fails fast naming the bad variable, never
//! printing its value. It does not build AWS clients (the binaries do) nor decide anything per
//! request.
//!
//! Sources are data, not code: `WEBHOOK_SOURCES` lists them, and each `SOURCE_<NAME>_*` variable
//! configures one, naming a sender of the registry (`senders`) as its payload, so a second
//! deployment of a known sender's format is a configuration entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::senders::{self, Payload, Registry};
use crate::verify::{HexHmac, SigningKey, StandardWebhooks, StaticHeader, Verifier};

/// Default largest accepted body: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default retention of event records: longer than any sender's retry window.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// Lease taken on a claim when the invocation's deadline is unknown (local runs, tests).
pub const DEFAULT_LEASE_MS: i64 = 10_000;

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
    /// Every configured sender.
    pub sources: Vec<Source>,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
    /// How long event records are kept (DynamoDB TTL).
    pub retention_days: u32,
}

impl IngressConfig {
    /// Reads and validates every variable, with the built-in senders.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Self::from_env_with(env, &senders::builtin())
    }

    /// Reads and validates every variable; sources may name any sender of `registry`.
    pub fn from_env_with(env: &impl Env, registry: &Registry) -> Result<Self, ConfigError> {
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            queue_url: required(env, "QUEUE_URL")?,
            sources: sources(env, registry)?,
            max_body_bytes: parsed_or(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            retention_days: parsed_or(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS)?,
        })
    }

    /// The source named `name`, if configured.
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
}

impl ConsumerConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            events_table: required(env, "EVENTS_TABLE")?,
            items_table: required(env, "ITEMS_TABLE")?,
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

fn sources(env: &impl Env, registry: &Registry) -> Result<Vec<Source>, ConfigError> {
    let list = required(env, "WEBHOOK_SOURCES")?;
    let mut sources: Vec<Source> = Vec::new();
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
        if sources.iter().any(|s| s.name == name) {
            return Err(invalid(
                "WEBHOOK_SOURCES",
                format!("source {name:?} is listed twice"),
            ));
        }
        sources.push(source(env, registry, name)?);
    }
    if sources.is_empty() {
        return Err(ConfigError::Missing {
            var: "WEBHOOK_SOURCES".into(),
        });
    }
    Ok(sources)
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

fn source(env: &impl Env, registry: &Registry, name: &str) -> Result<Source, ConfigError> {
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

    let secrets_var = var("SECRETS");
    let secrets = optional(env, &secrets_var);
    let verifier = match scheme {
        Scheme::StandardWebhooks => {
            // whsec_ secrets are base64: whitespace and commas can only be separators.
            let keys = secrets
                .iter()
                .flat_map(|s| s.split([',', ' ', '\n', '\t']))
                .filter(|s| !s.is_empty())
                .map(|s| {
                    SigningKey::from_whsec(s).map_err(|e| invalid(&secrets_var, e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Verifier::StandardWebhooks(
                StandardWebhooks::new(keys).map_err(|e| invalid(&secrets_var, e.to_string()))?,
            )
        }
        Scheme::HexHmac => {
            // Plain-text secrets may contain spaces and commas: one secret per line.
            let keys = secrets
                .iter()
                .flat_map(|s| s.lines())
                .filter(|s| !s.trim().is_empty())
                .map(|s| SigningKey::from_text(s).map_err(|e| invalid(&secrets_var, e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let header = static_header(env, &var("AUTH_HEADER_NAME"), &var("AUTH_HEADER_VALUE"))?;
            Verifier::HexHmac(
                HexHmac::new(keys, header).map_err(|e| invalid(&secrets_var, e.to_string()))?,
            )
        }
    };
    Ok(Source {
        name: name.to_owned(),
        payload,
        verifier,
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
}
