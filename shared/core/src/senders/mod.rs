//! The senders: one folder each, holding everything this receiver knows about that partner (its
//! payload types and parsing, idempotency key and subject, ordering rules, record and
//! notifications), and the registry that lists them.
//!
//! A sender implements [`Sender`] with its own types. The services never see those types: they go
//! through [`Payload`] and [`ParsedEvent`], the same contract with records and notifications as
//! JSON, which [`Registry::with`] derives from any [`Sender`]. Adding a sender is a new folder
//! beside `legitmark/` and `cr3dentials/` and one line in [`builtin`].
//!
//! Shared here: the open wire enums that keep any value a sender adds, the parse error (which
//! never carries the body), and the senders' timestamp reading.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

use crate::config::Scheme;
use crate::key::IdempotencyKey;
use crate::timeline::Disposition;

/// Defines an enum over a sender's string values that keeps any value it does not know in
/// `Other`, because both senders may add values at any time and an unknown value must not fail a
/// delivery. Serialises back to exactly the wire text.
macro_rules! open_wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
            /// A value this receiver does not know, kept exactly as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire (the raw text for `Other`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl From<String> for $name {
            fn from(raw: String) -> Self {
                match raw.as_str() {
                    $( $wire => Self::$variant, )+
                    _ => Self::Other(raw),
                }
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self::from(raw.to_owned())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

pub mod cr3dentials;
pub mod legitmark;

/// The senders this build knows. A new sender is a folder beside these and one line here.
pub fn builtin() -> Registry {
    Registry::default()
        .with::<legitmark::Legitmark>()
        .with::<cr3dentials::Cr3dentials>()
}

/// Why a verified body could not be read as an event of its kind.
///
/// Neither variant is fixed by a retry: the same bytes will fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The body is not well-formed UTF-8 JSON. The text says where, never what was there.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but lacks a required field or has a field of the wrong type. The text
    /// names the field and what was expected, never the value that was sent.
    #[error("payload lacks required field or has wrong type: {0}")]
    Schema(String),
}

impl EventError {
    /// A syntax problem, described without the body's values.
    pub fn not_json(err: &serde_json::Error) -> Self {
        Self::NotJson(value_free(err))
    }

    /// A schema problem, described without the body's values.
    pub fn schema(err: &serde_json::Error) -> Self {
        Self::Schema(value_free(err))
    }
}

/// serde's description of a parse error with every quoted value taken out: field names, what was
/// expected and the position stay; what the sender put there (possibly personal data) goes.
pub(crate) fn value_free(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(position.as_str()).unwrap_or(&full);
    let mut text = without_values(message);
    if err.line() > 0 {
        text.push_str(&position);
    }
    text
}

fn without_values(message: &str) -> String {
    // serde appends what it expected last: the final ", expected " is serde's, any earlier one
    // is inside the value that was sent.
    let expected = |rest: &str| {
        rest.rsplit_once(", expected ")
            .map_or(String::new(), |(_, e)| format!(", expected {e}"))
    };
    if let Some((field, inner)) = message.split_once(": ") {
        // Our own errors prefix a field name: keep it, clean what follows.
        if !field.is_empty()
            && field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return format!("{field}: {}", without_values(inner));
        }
    }
    for kind in ["invalid type: ", "invalid value: ", "unknown variant "] {
        if let Some(rest) = message.strip_prefix(kind) {
            return format!("{}{}", kind.trim_end_matches([':', ' ']), expected(rest));
        }
    }
    let names_a_field = ["missing field `", "duplicate field `"]
        .iter()
        .any(|p| message.starts_with(p));
    if names_a_field || message.starts_with("invalid length ") || !message.contains(['"', '`']) {
        message.to_owned()
    } else {
        "malformed value".to_owned()
    }
}

/// What a sender tells its users, as one of its own notification types.
pub trait Notify: Serialize {
    /// A short snake_case name, e.g. `reupload_requested`.
    fn kind(&self) -> &'static str;
    /// One sentence for the user. Never carries personal data a sender sent.
    fn message(&self) -> String;
    /// The business event's `DetailType`, e.g. `Photos Rejected` (one per kind; see
    /// `docs/events/`).
    fn detail_type(&self) -> &'static str;
}

/// The result of applying one event to a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Outcome<R, N> {
    /// The record after the event.
    pub record: R,
    /// What to tell the user, if anything.
    pub notification: Option<N>,
    /// What this delivery did.
    pub disposition: Disposition,
}

/// Everything one sender contributes, with its own types.
pub trait Sender: Send + Sync + 'static {
    /// The payload name used in configuration (`SOURCE_<NAME>_PAYLOAD`), envelopes and logs; a
    /// source of this name needs no `PAYLOAD` or `SCHEME` variable.
    const NAME: &'static str;
    /// How this sender authenticates its deliveries unless configured otherwise.
    const SCHEME: Scheme;
    /// What its records are (`item`, `verification`): with the subject, the record's address.
    const RECORD_KIND: &'static str;
    /// A parsed delivery.
    type Event: Send + Sync + 'static;
    /// The state users see about one subject.
    type Record: Serialize + DeserializeOwned;
    /// What it tells users.
    type Notification: Notify;

    /// Reads a verified body. Unknown event types and values parse; only a body that is not JSON
    /// or lacks a field the known schema requires is an error.
    fn parse(body: &[u8]) -> Result<Self::Event, EventError>;
    /// The event type as sent (or as this sender names a type its payload leaves implicit).
    fn event_type(event: &Self::Event) -> Cow<'_, str>;
    /// What the event is about: the key of its record.
    fn subject(event: &Self::Event) -> &str;
    /// Which deliveries are the same event (see `key`).
    fn key(message_id: Option<&str>, event: &Self::Event) -> IdempotencyKey;
    /// The record after `event`, applied under `key` for the first time.
    fn apply(
        current: Option<Self::Record>,
        event: &Self::Event,
        key: &str,
    ) -> Outcome<Self::Record, Self::Notification>;
    /// Whether the event of `key` is already part of `record`.
    fn has_applied(record: &Self::Record, key: &str) -> bool;
    /// Readable copies of a few record fields, stored beside it for operators and queries.
    fn projections(record: &Self::Record) -> Vec<(&'static str, Option<String>)>;
    /// When the event happened, as the sender says (`None` when it does not).
    fn occurred_at(event: &Self::Event) -> Option<OffsetDateTime>;
    /// The subject's identifiers a business event carries (`item_id`, `sr_uuid`, ...), read off
    /// the record after the event. Never personal data.
    fn subject_fields(record: &Self::Record) -> serde_json::Map<String, serde_json::Value>;
}

/// A notification as the services and stores handle it, whatever its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's kind name.
    pub kind: String,
    /// One sentence for the user.
    pub message: String,
    /// The sender's notification, serialised (tagged by `kind`).
    pub json: String,
}

/// A record change the consumer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The record after the event, serialised.
    pub record: String,
    /// Readable copies of a few fields (see [`Sender::projections`]).
    pub projections: Vec<(&'static str, Option<String>)>,
    /// What to tell the user, if anything, with the business event announcing it.
    pub notification: Option<Box<Notice>>,
    /// What this delivery did.
    pub disposition: Disposition,
}

/// A notification the rules decided, and the business event that announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What to tell the user.
    pub notification: Notification,
    /// The business event, still without its id (the consumer's).
    pub announcement: Announcement,
}

/// A business event as the sender's rules decide it: what the consumer completes with an
/// `event_id` and its sender's name and stores beside the notification before it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// [`Notify::detail_type`].
    pub detail_type: &'static str,
    /// When it happened, as the sender says, in RFC 3339 (UTC).
    pub occurred_at: Option<String>,
    /// The detail's fields: `kind`, `message`, the subject's identifiers and the notification's
    /// own fields.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// What applying an event to the stored record comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The record already holds the event: nothing to write.
    AlreadyApplied,
    /// Write this.
    Apply(Change),
}

/// A stored record that does not read as this sender's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored record does not read as this sender's record")]
pub struct UnreadableRecord;

/// A sender as the services see it: by name, with JSON records.
pub trait Payload: Send + Sync {
    /// [`Sender::NAME`].
    fn name(&self) -> &'static str;
    /// [`Sender::SCHEME`].
    fn scheme(&self) -> Scheme;
    /// [`Sender::RECORD_KIND`].
    fn record_kind(&self) -> &'static str;
    /// [`Sender::parse`].
    fn parse(&self, body: &[u8]) -> Result<Box<dyn ParsedEvent>, EventError>;
}

impl fmt::Debug for dyn Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed delivery of some sender.
pub trait ParsedEvent: Send + Sync {
    /// The event type as sent.
    fn event_type(&self) -> &str;
    /// What the event is about.
    fn subject(&self) -> &str;
    /// Its idempotency key, given the delivery's message id.
    fn key(&self, message_id: Option<&str>) -> IdempotencyKey;
    /// Applies it under `key` to the stored record (JSON), if any.
    fn apply(&self, record: Option<&str>, key: &str) -> Result<Decision, UnreadableRecord>;
}

struct Registered<S>(PhantomData<fn() -> S>);

struct Parsed<S: Sender> {
    event: S::Event,
    event_type: String,
}

impl<S: Sender> Payload for Registered<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn scheme(&self) -> Scheme {
        S::SCHEME
    }

    fn record_kind(&self) -> &'static str {
        S::RECORD_KIND
    }

    fn parse(&self, body: &[u8]) -> Result<Box<dyn ParsedEvent>, EventError> {
        let event = S::parse(body)?;
        let event_type = S::event_type(&event).into_owned();
        Ok(Box::new(Parsed::<S> { event, event_type }))
    }
}

impl<S: Sender> ParsedEvent for Parsed<S> {
    fn event_type(&self) -> &str {
        &self.event_type
    }

    fn subject(&self) -> &str {
        S::subject(&self.event)
    }

    fn key(&self, message_id: Option<&str>) -> IdempotencyKey {
        S::key(message_id, &self.event)
    }

    fn apply(&self, record: Option<&str>, key: &str) -> Result<Decision, UnreadableRecord> {
        let current: Option<S::Record> = record
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| UnreadableRecord)?;
        if current.as_ref().is_some_and(|r| S::has_applied(r, key)) {
            return Ok(Decision::AlreadyApplied);
        }
        let outcome = S::apply(current, &self.event, key);
        let notification = match &outcome.notification {
            None => None,
            Some(n) => {
                let value = serde_json::to_value(n).map_err(|_| UnreadableRecord)?;
                let message = n.message();
                let mut fields = S::subject_fields(&outcome.record);
                if let serde_json::Value::Object(own) = &value {
                    fields.extend(own.clone());
                }
                fields.insert("message".into(), message.clone().into());
                Some(Box::new(Notice {
                    notification: Notification {
                        kind: n.kind().to_owned(),
                        message,
                        json: serde_json::to_string(n).map_err(|_| UnreadableRecord)?,
                    },
                    announcement: Announcement {
                        detail_type: n.detail_type(),
                        occurred_at: S::occurred_at(&self.event).and_then(rfc3339_utc),
                        fields,
                    },
                }))
            }
        };
        Ok(Decision::Apply(Change {
            record: serde_json::to_string(&outcome.record).map_err(|_| UnreadableRecord)?,
            projections: S::projections(&outcome.record),
            notification,
            disposition: outcome.disposition,
        }))
    }
}

/// The senders a deployment can name, by [`Payload::name`].
#[derive(Clone, Default)]
pub struct Registry(Vec<Arc<dyn Payload>>);

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// Adds a sender; a later one of the same name replaces it.
    #[must_use]
    pub fn with<S: Sender>(mut self) -> Self {
        self.0.retain(|p| p.name() != S::NAME);
        self.0.push(Arc::new(Registered::<S>(PhantomData)));
        self
    }

    /// The sender named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Payload>> {
        self.0.iter().find(|p| p.name() == name)
    }

    /// Every sender's name, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|p| p.name())
    }
}

pub(crate) fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, EventError> {
    // Syntax and UTF-8 are checked over the whole body first: a typed parse stops at the first
    // type mismatch and would report a truncated or binary body as a schema problem.
    if let Err(err) = serde_json::from_slice::<&RawValue>(body) {
        return Err(EventError::not_json(&err));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match path.as_str() {
            "." | "" => EventError::schema(&inner),
            path => EventError::Schema(format!("{path}: {}", value_free(&inner))),
        }
    })
}

/// `at` in UTC as RFC 3339 (`2026-11-20T10:15:00Z`), the form business events carry.
pub fn rfc3339_utc(at: OffsetDateTime) -> Option<String> {
    at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

/// The instant `ms` (Unix milliseconds, as [`crate::clock::Clock`] tells time) as
/// [`rfc3339_utc`] writes it.
pub fn rfc3339_utc_ms(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(rfc3339_utc)
}

/// Parses the senders' timestamps. Legitmark documents ISO 8601, of which RFC 3339 is the common
/// profile; the wider form is tried second so an unusual but valid stamp is still understood.
pub(crate) fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .ok()
}
