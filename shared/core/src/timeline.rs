//! Timelines and the order of events, shared by every sender's rules.
//!
//! SQS and the senders deliver out of order and at least once, so a record must be a function of
//! the *set* of events applied, never of their arrival order. This module owns the machinery that
//! makes that so: a total order key on events ([`OrderKey`], which each sender fills with its own
//! ranks), the readable-or-not time of occurrence, and a bounded timeline whose entries' dispositions
//! are re-derived as if the events had arrived in the order they happened. What ranks mean is
//! each sender's business (`senders::*::rules`). Everything is pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many timeline entries a record keeps: the latest by time of occurrence. The bound keeps a
/// record far below DynamoDB's 400 KB item limit however chatty a sender gets.
pub const TIMELINE_LIMIT: usize = 50;

/// What an event did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Disposition {
    /// The event is later than every other one seen and became the current state.
    Applied,
    /// An event later than this one was already seen; it is kept in the timeline only (though it
    /// may still settle the verdict or QC status, which follow their own latest event).
    OutOfOrder,
    /// An event type or state this receiver does not know; kept in the timeline only.
    Unrecognised,
}

/// One event in a record's history.
///
/// Entries are sorted by time of occurrence, then key. Their `disposition` is what the event
/// would have done had the events arrived in that order, so the timeline, like the rest of the
/// record, does not depend on delivery order; the disposition of the delivery itself is
/// [`Outcome::disposition`](crate::senders::Outcome::disposition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The event's idempotency key.
    pub key: String,
    /// The sender's event type, e.g. `state_change` or `verification.failed`.
    pub event_type: String,
    /// The state the event carries, e.g. `QC/REJECTED`, or a Cr3dentials `data.status`.
    pub state: Option<String>,
    /// When the sender says the event happened, as sent (empty if it did not say).
    pub occurred_at: String,
    /// What the event does, taking the events in the order they happened.
    pub disposition: Disposition,
    pub(crate) at: At,
    #[serde(default)]
    pub(crate) order: Option<OrderKey>,
}

/// When an event happened, comparable. Text that is not a readable instant (or is missing, as
/// empty text) ranks below every readable instant, so an event whose time we cannot read never
/// overrides one whose time we can, and is compared with its peers by its raw text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum At {
    Text(String),
    Instant { unix: i64, nanos: u32 },
}

impl At {
    pub(crate) fn new(instant: Option<OffsetDateTime>, text: &str) -> Self {
        match instant {
            Some(instant) => Self::Instant {
                unix: instant.unix_timestamp(),
                nanos: instant.nanosecond(),
            },
            None => Self::Text(text.to_owned()),
        }
    }
}

/// The total order on one record's recognised events; fields compare in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct OrderKey {
    /// A coarse rank that no later time overrides (Legitmark's stage; constant elsewhere).
    pub(crate) stage: u8,
    /// When the event happened.
    pub(crate) at: At,
    /// A rank for ties in time (Legitmark's supplement in the stage, Cr3dentials' event type).
    pub(crate) rank: u8,
    /// A last rank for ties (Legitmark's event type; constant elsewhere).
    pub(crate) kind: u8,
    /// The idempotency key, so that no two distinct events tie.
    pub(crate) key: String,
}

/// A value and the order key of the event that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marked<T> {
    pub(crate) order: OrderKey,
    pub(crate) value: T,
}

/// Whether `order` is greater than what `mark` holds (or it holds nothing).
pub(crate) fn is_newer(order: &OrderKey, mark: Option<&OrderKey>) -> bool {
    mark.is_none_or(|mark| order > mark)
}

/// Adds an entry, keeps the latest [`TIMELINE_LIMIT`] by time then key, and re-derives every
/// entry's disposition as if the events had arrived in that order. Returns the time of the
/// latest event, as sent.
pub(crate) fn add_to_timeline(
    timeline: &mut Vec<TimelineEntry>,
    dropped: &mut Option<OrderKey>,
    entry: TimelineEntry,
) -> Option<String> {
    timeline.push(entry);
    timeline.sort_by(|a, b| (&a.at, &a.key).cmp(&(&b.at, &b.key)));
    let excess = timeline.len().saturating_sub(TIMELINE_LIMIT);
    for gone in timeline.drain(..excess) {
        if gone.order > *dropped {
            *dropped = gone.order;
        }
    }
    let mut greatest = dropped.clone();
    for entry in timeline.iter_mut() {
        entry.disposition = match &entry.order {
            None => Disposition::Unrecognised,
            Some(order) if is_newer(order, greatest.as_ref()) => {
                greatest = Some(order.clone());
                Disposition::Applied
            }
            Some(_) => Disposition::OutOfOrder,
        };
    }
    // Missing times sort first, so the last entry has none only if no event had one.
    timeline
        .last()
        .map(|latest| latest.occurred_at.clone())
        .filter(|text| !text.is_empty())
}
