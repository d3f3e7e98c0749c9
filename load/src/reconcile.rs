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
//!
//! Reading the tables is `snapshot`'s job; this module does no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use webhook_aws::events_table::event_pk;
use webhook_aws::items_table::record_pk;
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
        Decision::Apply(change) => change.notification,
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
    tally
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
            if let Some(notification) = change.notification {
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
