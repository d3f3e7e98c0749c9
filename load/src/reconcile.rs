//! Reconciliation: what the senders were told and what the tables hold, against what the workload
//! makes certain.
//!
//! It owns the definitions the verdict rests on (pure arithmetic over a [`Workload`], the
//! senders' reports and an [`Observed`] snapshot of the tables):
//!
//! - An event is **applied** once per entry with its idempotency key in its item's or session's
//!   timeline. The consumer adds that entry in the same conditional write as the record change,
//!   and only there, so the count of entries is the count of applications. **Lost**: a genuine
//!   event with no entry. **Double-applied**: a genuine event with more than one entry, or more
//!   than one notification.
//! - Every genuine event must also be marked `PROCESSED` in the events table, every record must
//!   equal the record the pure domain code (each sender's rules, reached through the sender
//!   registry of `webhook_core::senders` as the consumer reaches them) builds from the same events
//!   in the order they happened, every notification must be the one its own event calls for, and
//!   the event that ends up current must have notified if it calls for a notification.
//! - Forged deliveries must all end in a 401, and nothing of them may be stored.
//! - Every genuine delivery must end in a 2xx.
//! - **Business events.** Every stored notification warrants one business event, whose id the
//!   outbox holds beside it. **Lost**: an expected id that never arrived on the tap (or a
//!   notification without a business event). **Extra**: a distinct id that arrived and no
//!   notification holds. **Copies** (arrivals of an id beyond its first, as an ambiguous
//!   `PutEvents` retry or a redelivery publishes again) are counted, never a failure; consumers
//!   deduplicate on `event_id`. **Unpublished**: a notification without `published_at`, i.e. an
//!   outbox not drained. Every arrival must carry its notification's source, detail-type and kind,
//!   and every id must be the one `webhook_core::consumer::event_id` gives its webhook.
//!
//! Reading the tables and the tap is `snapshot`'s job; this module does no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use webhook_aws::events_table::event_pk;
use webhook_aws::items_table::record_pk;
use webhook_core::consumer::event_id;
use webhook_core::ports::RecordId;
use webhook_core::senders::{Decision, Notification, Registry, builtin};
use webhook_core::timeline::{Disposition, TimelineEntry};

use crate::senders::{Answer, DeliveryReport};
use crate::workload::{DeliveryKind, Source, Workload};

/// What the tables and the dead-letter queue hold after the run.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Events-table status by partition key (`{source}#{key}`).
    pub events: HashMap<String, String>,
    /// Every sender's records by partition key (`item#...`, `verification#...`).
    pub records: HashMap<String, Record>,
    /// Every notification: entity partition key, event key, notification.
    pub notifications: Vec<(String, String, Notification)>,
    /// Messages in the dead-letter queue.
    pub dlq_messages: u64,
    /// Every notification's business event, as the outbox holds it.
    pub outbox: Vec<Outboxed>,
    /// Every message the business events tap received, in order.
    pub tapped: Vec<Tapped>,
    /// The business events' source prefix: sources are `<prefix>.<sender>`.
    pub bus_source_prefix: String,
}

/// A notification's business event as the outbox (the notification item) holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outboxed {
    /// The entity's partition key.
    pub pk: String,
    /// The event key of the notification.
    pub event_key: String,
    /// The notification's kind.
    pub kind: String,
    /// The business event's id; `None` when the notification has no business event.
    pub event_id: Option<String>,
    /// The sender, the last part of the event's source.
    pub sender: Option<String>,
    /// The event's detail-type.
    pub detail_type: Option<String>,
    /// Whether `published_at` is set: the bus accepted the event.
    pub published: bool,
}

/// A business event as a rule on the bus delivered it to the tap (the EventBridge event JSON);
/// each field `None` when absent or the message is not such an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tapped {
    /// `detail.event_id`.
    pub event_id: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `detail-type`.
    pub detail_type: Option<String>,
    /// `detail.kind`.
    pub kind: Option<String>,
}

impl Tapped {
    /// Reads a tap message's body.
    pub fn from_body(body: &str) -> Self {
        let value: Value = serde_json::from_str(body).unwrap_or_default();
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Self {
            event_id: text(&value["detail"]["event_id"]),
            source: text(&value["source"]),
            detail_type: text(&value["detail-type"]),
            kind: text(&value["detail"]["kind"]),
        }
    }
}

/// A record as the reconciliation compares it, whatever its sender: the record's JSON as a value
/// (two records are equal when their fields are, however the text is laid out) and the keys of
/// its timeline, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    value: Value,
    timeline: Vec<String>,
}

/// The part of every sender's record the reconciliation reads.
#[derive(Deserialize)]
struct Timelined {
    timeline: Vec<TimelineEntry>,
}

impl Record {
    /// Reads a record as the consumer writes it: a sender's record, with its timeline.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_str(json)?;
        let Timelined { timeline } = Timelined::deserialize(&value)?;
        Ok(Self {
            value,
            timeline: timeline.into_iter().map(|entry| entry.key).collect(),
        })
    }

    fn timeline_keys(&self) -> Vec<&str> {
        self.timeline.iter().map(String::as_str).collect()
    }
}

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Latency {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let rank = |p: f64| {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank: the smallest sample with at least p of the samples at or below it.
            let n = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[n - 1]
        };
        Self {
            count: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// Everything the report prints and the verdict rests on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Deliveries scheduled and sent.
    pub sent: usize,
    /// Of which first deliveries of genuine events.
    pub originals: usize,
    /// Of which re-sent deliveries.
    pub duplicates_sent: usize,
    /// Of which re-sent at the same moment as the original.
    pub concurrent_duplicates_sent: usize,
    /// Of which forged.
    pub forged_sent: usize,
    /// HTTP attempts, the first ones included.
    pub attempts: usize,
    /// Attempts after the first.
    pub retries: usize,
    /// Attempts that got no answer (connection failure or timeout).
    pub transport_failures: usize,
    /// Attempts answered 409.
    pub answered_busy: usize,
    /// Attempts answered 5xx.
    pub answered_5xx: usize,
    /// Deliveries whose final answer was 200 `accepted`.
    pub accepted: usize,
    /// Deliveries whose final answer was 200 `duplicate`.
    pub duplicates: usize,
    /// Deliveries whose final answer was 401.
    pub rejected: usize,
    /// Deliveries with any other final answer (or none).
    pub other_final: usize,
    /// Genuine deliveries not finally acknowledged with a 2xx.
    pub genuine_refused: usize,
    /// Forged deliveries acknowledged with a 2xx.
    pub forged_accepted: usize,
    /// Forged deliveries whose final answer was neither a 2xx nor a 401.
    pub forged_not_refused: usize,
    /// Genuine events.
    pub genuine_events: usize,
    /// Genuine events applied exactly once.
    pub applied_once: usize,
    /// Genuine events never applied.
    pub lost: usize,
    /// Genuine events applied (or notified) more than once.
    pub double_applied: usize,
    /// Genuine events applied but not marked PROCESSED.
    pub not_marked_processed: usize,
    /// Items and sessions whose record differs from the in-order record.
    pub state_mismatches: usize,
    /// Notifications that differ from what their event calls for.
    pub wrong_notifications: usize,
    /// Current events that call for a notification and have none.
    pub missing_notifications: usize,
    /// Forged events with any trace in the tables.
    pub forged_stored: usize,
    /// Table entries that belong to no genuine event of the workload.
    pub stray_entries: usize,
    /// Notifications stored.
    pub notifications: usize,
    /// Messages in the dead-letter queue.
    pub dlq_messages: u64,
    /// Business events expected: one per stored notification.
    pub bus_expected: usize,
    /// Distinct expected business event ids that arrived on the tap.
    pub bus_arrived: usize,
    /// Messages the tap received.
    pub bus_messages: usize,
    /// Expected business events that never arrived.
    pub bus_lost: usize,
    /// Distinct business event ids that arrived but no notification holds.
    pub bus_extras: usize,
    /// Arrivals of an id beyond its first (not a failure).
    pub bus_copies: usize,
    /// Notifications whose business event was never marked published.
    pub bus_unpublished: usize,
    /// Business events whose id, source, detail-type or kind is not their notification's.
    pub bus_wrong: usize,
    /// Latency of the attempts answered with a 2xx.
    pub ack_latency: Latency,
    /// From first attempt to final answer, per delivery.
    pub delivery_time: Latency,
    /// A few examples of each problem, for the log.
    pub examples: BTreeMap<&'static str, Vec<String>>,
}

impl Tally {
    /// The reasons the run failed; empty when it passed.
    pub fn failures(&self) -> Vec<String> {
        let checks = [
            (self.lost, "lost"),
            (self.double_applied, "double-applied"),
            (self.genuine_refused, "genuine deliveries not acknowledged"),
            (self.forged_accepted, "forged deliveries accepted"),
            (
                self.forged_not_refused,
                "forged deliveries not refused with 401",
            ),
            (self.forged_stored, "forged events stored"),
            (
                self.not_marked_processed,
                "applied events not marked PROCESSED",
            ),
            (
                self.state_mismatches,
                "records differing from in-order delivery",
            ),
            (self.wrong_notifications, "wrong notifications"),
            (self.missing_notifications, "missing notifications"),
            (self.stray_entries, "stray table entries"),
            (self.bus_lost, "business events lost"),
            (self.bus_extras, "distinct extra business events"),
            (self.bus_unpublished, "notifications unpublished"),
            (
                self.bus_wrong,
                "business events not matching their notification",
            ),
        ];
        let mut failures: Vec<String> = checks
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{what}: {n}"))
            .collect();
        if self.sent == 0 {
            failures.push("nothing was sent".to_owned());
        }
        failures
    }

    fn example(&mut self, problem: &'static str, text: String) {
        let list = self.examples.entry(problem).or_default();
        if list.len() < 5 {
            list.push(text);
        }
    }
}

fn entity_pk(source: Source, subject: &str) -> String {
    record_pk(RecordId {
        kind: source.record_kind(),
        subject,
    })
}

/// Applies an event to the record `current` (JSON) as the consumer does, through the sender's
/// entry in `registry`: the change to write (the record, the notification and the disposition),
/// or [`Decision::AlreadyApplied`] when the record holds the event already. `None` for a body that
/// does not parse, which the workload never generates.
fn apply_one(
    registry: &Registry,
    current: Option<&str>,
    source: Source,
    body: &[u8],
    key: &str,
) -> Option<Decision> {
    let event = registry.get(source.name())?.parse(body).ok()?;
    event.apply(current, key).ok()
}

/// The notification an event calls for whenever it notifies at all: the one it sends applied to
/// no record (everything is news to an empty record).
fn own_notification(
    registry: &Registry,
    source: Source,
    body: &[u8],
    key: &str,
) -> Option<Notification> {
    match apply_one(registry, None, source, body, key)? {
        Decision::Apply(change) => change.notification.map(|notice| notice.notification),
        Decision::AlreadyApplied => None,
    }
}

/// Whether two notifications are the same: kind, message and the sender's notification, compared
/// as values.
fn same_notification(a: &Notification, b: &Notification) -> bool {
    let value = |n: &Notification| serde_json::from_str::<Value>(&n.json).ok();
    a.kind == b.kind && a.message == b.message && value(a).is_some() && value(a) == value(b)
}

/// Reconciles the run.
pub fn reconcile(workload: &Workload, reports: &[DeliveryReport], observed: &Observed) -> Tally {
    let mut tally = Tally {
        dlq_messages: observed.dlq_messages,
        notifications: observed.notifications.len(),
        ..Tally::default()
    };
    tally_deliveries(&mut tally, workload, reports);

    let registry = builtin();
    let stored = &observed.records;
    let mut notified: HashMap<(&str, &str), Vec<&Notification>> = HashMap::new();
    for (pk, key, notification) in &observed.notifications {
        notified.entry((pk, key)).or_default().push(notification);
    }
    // Everything a genuine event may leave behind, to find what no event accounts for.
    let mut known_events: HashSet<String> = HashSet::new();
    let mut known_entries: HashSet<(String, String)> = HashSet::new();

    for entity in &workload.entities {
        let pk = entity_pk(entity.source, &entity.subject);
        let record = stored.get(&pk);
        let timeline = record.map(Record::timeline_keys).unwrap_or_default();

        // The expected record, as JSON.
        let mut expected: Option<String> = None;
        let mut current_notification: Option<(&str, Notification)> = None;
        for &index in &entity.events {
            let event = &workload.events[index];
            tally.genuine_events += 1;
            known_events.insert(event_pk(event.source.name(), &event.key));
            known_entries.insert((pk.clone(), event.key.clone()));
            let own = own_notification(&registry, event.source, &event.body, &event.key);

            if let Some(Decision::Apply(change)) = apply_one(
                &registry,
                expected.as_deref(),
                event.source,
                &event.body,
                &event.key,
            ) {
                expected = Some(change.record);
                if change.disposition == Disposition::Applied {
                    current_notification = own.clone().map(|n| (event.key.as_str(), n));
                }
            }

            let applied = timeline.iter().filter(|k| **k == event.key).count();
            let notes = notified
                .get(&(pk.as_str(), event.key.as_str()))
                .map_or(0, Vec::len);
            match applied {
                0 => {
                    tally.lost += 1;
                    tally.example("lost", format!("{pk} {}", event.key));
                }
                1 if notes <= 1 => tally.applied_once += 1,
                _ => {
                    tally.double_applied += 1;
                    tally.example(
                        "double-applied",
                        format!(
                            "{pk} {} ({applied} entries, {notes} notifications)",
                            event.key
                        ),
                    );
                }
            }
            let status = observed
                .events
                .get(&event_pk(event.source.name(), &event.key));
            if applied > 0 && status.map(String::as_str) != Some("PROCESSED") {
                tally.not_marked_processed += 1;
                tally.example(
                    "not marked PROCESSED",
                    format!("{pk} {} status {status:?}", event.key),
                );
            }
            if let Some(stored_notes) = notified.get(&(pk.as_str(), event.key.as_str())) {
                for note in stored_notes {
                    if !own.as_ref().is_some_and(|own| same_notification(own, note)) {
                        tally.wrong_notifications += 1;
                        tally.example("wrong notification", format!("{pk} {}", event.key));
                    }
                }
            }
        }

        let expected = expected.and_then(|json| Record::from_json(&json).ok());
        if record != expected.as_ref() {
            tally.state_mismatches += 1;
            tally.example("record differs", pk.clone());
        }
        if let Some((key, _)) = current_notification
            && !notified.contains_key(&(pk.as_str(), key))
        {
            tally.missing_notifications += 1;
            tally.example("missing notification", format!("{pk} {key}"));
        }
    }

    for event in workload.events.iter().filter(|e| e.forgery.is_some()) {
        let pk = entity_pk(event.source, &event.subject);
        let in_table = observed
            .events
            .contains_key(&event_pk(event.source.name(), &event.key));
        let in_timeline = stored
            .get(&pk)
            .is_some_and(|r| r.timeline_keys().contains(&event.key.as_str()));
        let notified = notified.contains_key(&(pk.as_str(), event.key.as_str()));
        if in_table || in_timeline || notified {
            tally.forged_stored += 1;
            tally.example("forged event stored", format!("{pk} {}", event.key));
        }
    }

    // Whatever no genuine event accounts for is a stray, unless it is a forgery (counted above).
    let forged_event_pks: HashSet<String> = workload
        .events
        .iter()
        .filter(|e| e.forgery.is_some())
        .map(|e| event_pk(e.source.name(), &e.key))
        .collect();
    let forged_entries: HashSet<(String, String)> = workload
        .events
        .iter()
        .filter(|e| e.forgery.is_some())
        .map(|e| (entity_pk(e.source, &e.subject), e.key.clone()))
        .collect();
    let mut strays: Vec<String> = observed
        .events
        .keys()
        .filter(|pk| !known_events.contains(*pk) && !forged_event_pks.contains(*pk))
        .map(|pk| format!("events table {pk}"))
        .collect();
    for (pk, record) in stored {
        for key in record.timeline_keys() {
            let entry = (pk.clone(), key.to_owned());
            if !known_entries.contains(&entry) && !forged_entries.contains(&entry) {
                strays.push(format!("timeline {pk} {key}"));
            }
        }
    }
    for (pk, key, _) in &observed.notifications {
        let entry = (pk.clone(), key.clone());
        if !known_entries.contains(&entry) && !forged_entries.contains(&entry) {
            strays.push(format!("notification {pk} {key}"));
        }
    }
    tally.stray_entries = strays.len();
    for stray in strays {
        tally.example("stray entry", stray);
    }
    tally_bus(&mut tally, workload, observed);
    tally
}

/// The business events: the outbox against the tap (see the module's header).
fn tally_bus(tally: &mut Tally, workload: &Workload, observed: &Observed) {
    let sources: HashMap<(String, &str), Source> = workload
        .events
        .iter()
        .filter(|e| e.forgery.is_none())
        .map(|e| ((entity_pk(e.source, &e.subject), e.key.as_str()), e.source))
        .collect();
    let mut expected: HashMap<&str, &Outboxed> = HashMap::new();
    for entry in &observed.outbox {
        tally.bus_expected += 1;
        let at = format!("{} {}", entry.pk, entry.event_key);
        if !entry.published {
            tally.bus_unpublished += 1;
            tally.example("notification unpublished", at.clone());
        }
        let Some(id) = entry.event_id.as_deref() else {
            tally.bus_lost += 1;
            tally.example("notification without a business event", at);
            continue;
        };
        let own = sources
            .get(&(entry.pk.clone(), entry.event_key.as_str()))
            .map(|source| event_id(source.name(), &entry.event_key));
        // A notification no genuine event accounts for is a stray (counted above).
        if own.is_some_and(|own| own != id) || expected.insert(id, entry).is_some() {
            tally.bus_wrong += 1;
            tally.example("business event id not its webhook's", format!("{at} {id}"));
        }
    }

    tally.bus_messages = observed.tapped.len();
    let mut arrivals: HashMap<&str, Vec<&Tapped>> = HashMap::new();
    for event in &observed.tapped {
        match event.event_id.as_deref() {
            Some(id) => arrivals.entry(id).or_default().push(event),
            None => {
                tally.bus_wrong += 1;
                tally.example(
                    "tap message without an event id",
                    format!("{:?} {:?}", event.source, event.detail_type),
                );
            }
        }
    }
    for (id, events) in &arrivals {
        tally.bus_copies += events.len() - 1;
        let Some(entry) = expected.get(id) else {
            tally.bus_extras += 1;
            tally.example("extra business event", (*id).to_owned());
            continue;
        };
        tally.bus_arrived += 1;
        let source = entry
            .sender
            .as_ref()
            .map(|sender| format!("{}.{sender}", observed.bus_source_prefix));
        let matches = |e: &&Tapped| {
            e.source.is_some()
                && e.source == source
                && e.detail_type.is_some()
                && e.detail_type == entry.detail_type
                && e.kind.as_deref() == Some(entry.kind.as_str())
        };
        if !events.iter().all(matches) {
            tally.bus_wrong += 1;
            tally.example(
                "business event not its notification's",
                format!("{id} {} {}", entry.pk, entry.event_key),
            );
        }
    }
    for (id, entry) in &expected {
        if !arrivals.contains_key(id) {
            tally.bus_lost += 1;
            tally.example(
                "business event lost",
                format!("{id} {} {}", entry.pk, entry.event_key),
            );
        }
    }
}

fn tally_deliveries(tally: &mut Tally, workload: &Workload, reports: &[DeliveryReport]) {
    let mut acks = Vec::new();
    let mut times = Vec::new();
    for report in reports {
        let Some(delivery) = workload.schedule.get(report.delivery) else {
            continue;
        };
        tally.sent += 1;
        match delivery.kind {
            DeliveryKind::Original => tally.originals += 1,
            DeliveryKind::Duplicate { concurrent } => {
                tally.duplicates_sent += 1;
                tally.concurrent_duplicates_sent += usize::from(concurrent);
            }
            DeliveryKind::Forged(_) => tally.forged_sent += 1,
        }
        tally.attempts += report.attempts.len();
        tally.retries += report.attempts.len().saturating_sub(1);
        for attempt in &report.attempts {
            match &attempt.answer {
                Answer::Transport(_) => tally.transport_failures += 1,
                Answer::Http { status: 409, .. } => tally.answered_busy += 1,
                Answer::Http { status: 500.., .. } => tally.answered_5xx += 1,
                Answer::Http {
                    status: 200..=299, ..
                } => acks.push(attempt.latency),
                Answer::Http { .. } => {}
            }
        }
        times.push(report.elapsed);

        let acknowledged = matches!(
            report.last(),
            Some(Answer::Http {
                status: 200..=299,
                ..
            })
        ) && !report.gave_up;
        match report.last() {
            Some(Answer::Http {
                status: 200,
                outcome,
                ..
            }) if outcome.as_deref() == Some("accepted") => tally.accepted += 1,
            Some(Answer::Http {
                status: 200,
                outcome,
                ..
            }) if outcome.as_deref() == Some("duplicate") => tally.duplicates += 1,
            Some(Answer::Http { status: 401, .. }) => tally.rejected += 1,
            _ => tally.other_final += 1,
        }
        let event = &workload.events[delivery.event];
        match delivery.kind {
            DeliveryKind::Forged(_) if acknowledged => {
                tally.forged_accepted += 1;
                tally.example("forged accepted", event.key.clone());
            }
            DeliveryKind::Forged(_)
                if !matches!(report.last(), Some(Answer::Http { status: 401, .. })) =>
            {
                tally.forged_not_refused += 1;
                tally.example(
                    "forged not refused",
                    format!("{} {:?}", event.key, report.last()),
                );
            }
            DeliveryKind::Forged(_) => {}
            _ if !acknowledged => {
                tally.genuine_refused += 1;
                tally.example(
                    "genuine delivery not acknowledged",
                    format!("{} {:?}", event.key, report.last()),
                );
            }
            _ => {}
        }
    }
    tally.ack_latency = Latency::of(acks);
    tally.delivery_time = Latency::of(times);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use webhook_core::senders::Notify;
    use webhook_core::senders::legitmark::{self, ItemRecord};

    use super::*;
    use crate::senders::Attempt;
    use crate::workload::{Spec, Templates, generate};

    fn workload() -> Workload {
        let templates =
            Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/payloads"))
                .unwrap();
        generate(&Spec::new(400, 99), &templates).unwrap()
    }

    fn http(status: u16, outcome: &str) -> Attempt {
        Attempt {
            answer: Answer::Http {
                status,
                outcome: Some(outcome.to_owned()),
                retry_after_s: None,
            },
            latency: Duration::from_millis(20),
        }
    }

    /// The senders' view of a faultless run: originals accepted, duplicates acknowledged as such,
    /// forgeries refused.
    fn reports(workload: &Workload) -> Vec<DeliveryReport> {
        workload
            .schedule
            .iter()
            .enumerate()
            .map(|(n, d)| {
                let answer = match d.kind {
                    DeliveryKind::Original => http(200, "accepted"),
                    DeliveryKind::Duplicate { .. } => http(200, "duplicate"),
                    DeliveryKind::Forged(_) => http(401, "-"),
                };
                DeliveryReport {
                    delivery: n,
                    attempts: vec![answer],
                    gave_up: false,
                    elapsed: Duration::from_millis(20),
                }
            })
            .collect()
    }

    /// The tables after a faultless run: every genuine event applied once, in schedule order
    /// (out of order), as the consumer would.
    fn observed(workload: &Workload) -> Observed {
        let registry = builtin();
        let mut records: HashMap<String, String> = HashMap::new();
        let mut observed = Observed::default();
        for delivery in &workload.schedule {
            let event = &workload.events[delivery.event];
            if delivery.kind != DeliveryKind::Original {
                continue;
            }
            let pk = entity_pk(event.source, &event.subject);
            let current = records.get(&pk).map(String::as_str);
            let Some(Decision::Apply(change)) =
                apply_one(&registry, current, event.source, &event.body, &event.key)
            else {
                panic!("{pk} {} not applied", event.key);
            };
            records.insert(pk.clone(), change.record);
            if let Some(notice) = change.notification {
                let notification = notice.notification;
                // Its business event, stored, published and delivered once.
                let id = event_id(event.source.name(), &event.key);
                let detail_type = Some(notice.announcement.detail_type.to_owned());
                observed.outbox.push(Outboxed {
                    pk: pk.clone(),
                    event_key: event.key.clone(),
                    kind: notification.kind.clone(),
                    event_id: Some(id.clone()),
                    sender: Some(event.source.name().to_owned()),
                    detail_type: detail_type.clone(),
                    published: true,
                });
                observed.tapped.push(Tapped {
                    event_id: Some(id),
                    source: Some(format!("webhooks.{}", event.source.name())),
                    detail_type,
                    kind: Some(notification.kind.clone()),
                });
                observed
                    .notifications
                    .push((pk, event.key.clone(), notification));
            }
            observed.events.insert(
                event_pk(event.source.name(), &event.key),
                "PROCESSED".to_owned(),
            );
        }
        observed.records = records
            .into_iter()
            .map(|(pk, json)| (pk, Record::from_json(&json).unwrap()))
            .collect();
        observed.bus_source_prefix = "webhooks".to_owned();
        observed
    }

    fn item(record: &Record) -> ItemRecord {
        serde_json::from_value(record.value.clone()).unwrap()
    }

    fn is_item(pk: &str) -> bool {
        pk.starts_with(&entity_pk(Source::Legitmark, ""))
    }

    /// Changes an item record with a few timeline entries as `edit` says.
    fn edit_some_item(observed: &mut Observed, edit: impl FnOnce(&mut ItemRecord)) {
        let record = observed
            .records
            .iter_mut()
            .find(|(pk, r)| is_item(pk) && r.timeline.len() > 2)
            .map(|(_, r)| r)
            .unwrap();
        let mut changed = item(record);
        edit(&mut changed);
        *record = Record::from_json(&serde_json::to_string(&changed).unwrap()).unwrap();
    }

    /// A Legitmark notification as the items table stores it.
    fn stored(notification: &legitmark::Notification) -> Notification {
        Notification {
            kind: notification.kind().to_owned(),
            message: notification.message(),
            json: serde_json::to_string(notification).unwrap(),
        }
    }

    #[test]
    fn faultless_run_passes_with_every_count_adding_up() {
        let workload = workload();

        let tally = reconcile(&workload, &reports(&workload), &observed(&workload));

        assert_eq!(tally.failures(), Vec::<String>::new());
        assert_eq!(tally.sent, 400);
        assert_eq!(
            tally.accepted + tally.duplicates + tally.rejected,
            tally.sent
        );
        assert_eq!(tally.accepted, tally.genuine_events);
        assert_eq!(tally.rejected, tally.forged_sent);
        assert_eq!(tally.applied_once, tally.genuine_events);
        assert_eq!((tally.lost, tally.double_applied), (0, 0));
        assert_eq!(tally.retries, 0);
        assert!(tally.bus_expected > 0);
        assert_eq!(tally.bus_expected, tally.notifications);
        assert_eq!(tally.bus_arrived, tally.bus_expected);
        assert_eq!(
            (tally.bus_lost, tally.bus_extras, tally.bus_copies),
            (0, 0, 0)
        );
        assert_eq!((tally.bus_unpublished, tally.bus_wrong), (0, 0));
    }

    #[test]
    fn business_events_lost_extra_and_unpublished_fail_the_run_and_copies_are_only_counted() {
        let workload = workload();
        let mut copied = observed(&workload);
        let copy = copied.tapped[1].clone();
        copied.tapped.push(copy.clone());
        copied.tapped.push(copy);
        let mut broken = observed(&workload);
        broken.tapped.remove(0);
        broken.tapped.push(Tapped {
            event_id: Some("f".repeat(32)),
            ..broken.tapped[0].clone()
        });
        broken.outbox[2].published = false;

        let copied = reconcile(&workload, &reports(&workload), &copied);
        let broken = reconcile(&workload, &reports(&workload), &broken);

        assert_eq!(copied.failures(), Vec::<String>::new());
        assert_eq!(copied.bus_copies, 2);
        assert_eq!(copied.bus_messages, copied.bus_expected + 2);
        assert_eq!(copied.bus_arrived, copied.bus_expected);
        assert_eq!(
            (broken.bus_lost, broken.bus_extras, broken.bus_unpublished),
            (1, 1, 1)
        );
        assert_eq!(broken.bus_arrived, broken.bus_expected - 1);
        assert_eq!(broken.bus_copies, 0);
        assert_eq!(broken.failures().len(), 3, "{:?}", broken.failures());
    }

    #[test]
    fn a_business_event_must_carry_its_own_webhooks_id_and_its_notifications_type() {
        let workload = workload();
        let mut relabelled = observed(&workload);
        relabelled.tapped[0].detail_type = Some("Something Else".to_owned());
        let mut foreign_id = observed(&workload);
        let id = Some("0".repeat(32));
        foreign_id.outbox[0].event_id = id.clone();
        foreign_id.tapped[0].event_id = id;
        let mut without = observed(&workload);
        without.outbox[0].event_id = None;
        without.outbox[0].published = false;
        without.tapped.remove(0);

        let relabelled = reconcile(&workload, &reports(&workload), &relabelled);
        let foreign_id = reconcile(&workload, &reports(&workload), &foreign_id);
        let without = reconcile(&workload, &reports(&workload), &without);

        assert_eq!((relabelled.bus_wrong, relabelled.bus_lost), (1, 0));
        assert_eq!((foreign_id.bus_wrong, foreign_id.bus_lost), (1, 0));
        assert_eq!((without.bus_lost, without.bus_unpublished), (1, 1));
        assert_eq!(without.bus_extras, 0);
    }

    #[test]
    fn tapped_events_are_read_from_the_eventbridge_event_json() {
        let body = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "Photos Rejected",
            "source": "webhooks.legitmark", "account": "1", "time": "t", "region": "r",
            "resources": [], "detail": { "event_id": "abc", "kind": "reupload_requested" },
        });

        let event = Tapped::from_body(&body.to_string());
        let unreadable = Tapped::from_body("not json");

        assert_eq!(event.event_id.as_deref(), Some("abc"));
        assert_eq!(event.source.as_deref(), Some("webhooks.legitmark"));
        assert_eq!(event.detail_type.as_deref(), Some("Photos Rejected"));
        assert_eq!(event.kind.as_deref(), Some("reupload_requested"));
        assert_eq!(unreadable, Tapped::default());
    }

    #[test]
    fn a_missing_timeline_entry_is_lost_and_a_repeated_one_double_applied() {
        let workload = workload();
        let mut lost = observed(&workload);
        edit_some_item(&mut lost, |record| {
            record.timeline.pop();
        });
        let mut doubled = observed(&workload);
        edit_some_item(&mut doubled, |record| {
            let entry = record.timeline[0].clone();
            record.timeline.push(entry);
        });

        let lost = reconcile(&workload, &reports(&workload), &lost);
        let doubled = reconcile(&workload, &reports(&workload), &doubled);

        assert_eq!((lost.lost, lost.double_applied), (1, 0));
        assert_eq!((doubled.lost, doubled.double_applied), (0, 1));
        assert_eq!(lost.state_mismatches, 1);
        assert_eq!(doubled.state_mismatches, 1);
        assert!(!lost.failures().is_empty());
    }

    #[test]
    fn a_second_notification_for_one_event_is_double_applied() {
        let workload = workload();
        let mut observed = observed(&workload);
        let first = observed.notifications[0].clone();
        observed.notifications.push(first);

        let tally = reconcile(&workload, &reports(&workload), &observed);

        assert_eq!(tally.double_applied, 1);
    }

    #[test]
    fn notifications_must_be_their_events_own_and_the_current_events_must_exist() {
        let workload = workload();
        let mut wrong = observed(&workload);
        let (pk, _, _) = wrong.notifications[0].clone();
        wrong.notifications[0].2 =
            stored(&legitmark::Notification::AuthenticatorAssigned { item_id: pk });
        let mut missing = observed(&workload);
        // An item with a verdict: the event that set it is current and always notifies.
        let pk = missing
            .records
            .iter()
            .find(|(pk, r)| is_item(pk) && item(r).verdict.is_some())
            .map(|(pk, _)| pk.clone())
            .unwrap();
        missing.notifications.retain(|(p, _, _)| *p != pk);

        let wrong = reconcile(&workload, &reports(&workload), &wrong);
        let missing = reconcile(&workload, &reports(&workload), &missing);

        assert_eq!(wrong.wrong_notifications, 1);
        assert_eq!(missing.missing_notifications, 1);
    }

    #[test]
    fn unmarked_events_forged_traces_and_strays_fail_the_run() {
        let workload = workload();
        let forged = workload
            .events
            .iter()
            .find(|e| e.forgery.is_some())
            .unwrap();
        let mut observed = observed(&workload);
        let (pk, status) = observed.events.iter_mut().next().unwrap();
        let pk = pk.clone();
        *status = "ENQUEUED".to_owned();
        observed.events.insert(
            event_pk(forged.source.name(), &forged.key),
            "ENQUEUED".to_owned(),
        );
        observed
            .events
            .insert("legitmark#id:unknown".to_owned(), "CONFLICT".to_owned());

        let tally = reconcile(&workload, &reports(&workload), &observed);

        assert_eq!(tally.not_marked_processed, 1, "{pk}");
        assert_eq!(tally.forged_stored, 1);
        assert_eq!(tally.stray_entries, 1);
        assert_eq!(tally.failures().len(), 3);
    }

    #[test]
    fn retried_deliveries_count_once_and_only_their_final_answer_decides() {
        let workload = workload();
        let mut reports = reports(&workload);
        let original = reports
            .iter()
            .position(|r| workload.schedule[r.delivery].kind == DeliveryKind::Original)
            .unwrap();
        reports[original].attempts.insert(0, http(503, "-"));
        reports[original].attempts.insert(
            0,
            Attempt {
                answer: Answer::Transport("timed out".into()),
                latency: Duration::from_secs(10),
            },
        );
        let forged = reports
            .iter()
            .position(|r| matches!(workload.schedule[r.delivery].kind, DeliveryKind::Forged(_)))
            .unwrap();
        reports[forged].attempts = vec![http(200, "accepted")];
        let unrefused = reports
            .iter()
            .rposition(|r| matches!(workload.schedule[r.delivery].kind, DeliveryKind::Forged(_)))
            .unwrap();
        reports[unrefused].attempts = vec![http(503, "-")];
        reports[unrefused].gave_up = true;
        let gave_up = reports
            .iter()
            .rposition(|r| workload.schedule[r.delivery].kind == DeliveryKind::Original)
            .unwrap();
        reports[gave_up].attempts = vec![http(503, "-")];
        reports[gave_up].gave_up = true;

        let tally = reconcile(&workload, &reports, &observed(&workload));

        assert_eq!(tally.sent, 400);
        assert_eq!(tally.attempts, 402);
        assert_eq!(tally.retries, 2);
        assert_eq!(tally.transport_failures, 1);
        assert_eq!(tally.answered_5xx, 3);
        assert_eq!(tally.forged_accepted, 1);
        assert_eq!(tally.forged_not_refused, 1);
        assert_eq!(tally.genuine_refused, 1);
        // Every genuine delivery's last attempt, plus the accepted forgery, less the one given up.
        assert_eq!(tally.ack_latency.count, 380);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();

        let latency = Latency::of(samples);

        assert_eq!(latency.p50, Duration::from_millis(50));
        assert_eq!(latency.p99, Duration::from_millis(99));
        assert_eq!(latency.max, Duration::from_millis(100));
        assert_eq!(Latency::of(Vec::new()), Latency::default());
        assert_eq!(
            Latency::of(vec![Duration::from_millis(7)]).p99,
            Duration::from_millis(7)
        );
    }
}
