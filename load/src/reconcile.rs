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
//!   equal the record the pure domain code (`shared::process`) builds from the same events in the
//!   order they happened, every notification must be the one its own event calls for, and the
//!   event that ends up current must have notified if it calls for a notification.
//! - Forged deliveries must all end in a 401, and nothing of them may be stored.
//! - Every genuine delivery must end in a 2xx.
//!
//! Reading the tables is `snapshot`'s job; this module does no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use shared::event::{Event as ParsedEvent, PayloadKind};
use shared::items::{item_pk, verification_pk};
use shared::process::{
    Disposition, ItemRecord, Notification, VerificationRecord, apply_cr3dentials, apply_legitmark,
};
use shared::store::event_pk;

use crate::senders::{Answer, DeliveryReport};
use crate::workload::{DeliveryKind, Workload};

/// What the tables and the dead-letter queue hold after the run.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Events-table status by partition key (`{source}#{key}`).
    pub events: HashMap<String, String>,
    /// Item records by partition key (`item#...`).
    pub items: HashMap<String, ItemRecord>,
    /// Verification records by partition key (`verification#...`).
    pub verifications: HashMap<String, VerificationRecord>,
    /// Every notification: entity partition key, event key, notification.
    pub notifications: Vec<(String, String, Notification)>,
    /// Messages in the dead-letter queue.
    pub dlq_messages: u64,
}

/// A record as the reconciliation compares it.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    Item(Box<ItemRecord>),
    Verification(Box<VerificationRecord>),
}

impl Record {
    fn timeline_keys(&self) -> Vec<&str> {
        let timeline = match self {
            Self::Item(r) => &r.timeline,
            Self::Verification(r) => &r.timeline,
        };
        timeline.iter().map(|e| e.key.as_str()).collect()
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

fn entity_pk(source: PayloadKind, subject: &str) -> String {
    match source {
        PayloadKind::Legitmark => item_pk(subject),
        PayloadKind::Cr3dentials => verification_pk(subject),
    }
}

/// Applies an event to `current` as the consumer does: the record, the notification and the
/// disposition. Applied to no record, the notification is the one the event calls for whenever it
/// notifies at all (everything is news to an empty record). `None` for a body that does not parse,
/// which the workload never generates.
fn apply_one(
    current: Option<Record>,
    source: PayloadKind,
    body: &[u8],
    key: &str,
) -> Option<(Record, Option<Notification>, Disposition)> {
    match (ParsedEvent::parse(source, body).ok()?, current) {
        (ParsedEvent::Legitmark(event), current) => {
            let current = match current {
                Some(Record::Item(r)) => Some(*r),
                _ => None,
            };
            let outcome = apply_legitmark(current, &event, key);
            Some((
                Record::Item(Box::new(outcome.record)),
                outcome.notification,
                outcome.disposition,
            ))
        }
        (ParsedEvent::Cr3dentials(event), current) => {
            let current = match current {
                Some(Record::Verification(r)) => Some(*r),
                _ => None,
            };
            let outcome = apply_cr3dentials(current, &event, key);
            Some((
                Record::Verification(Box::new(outcome.record)),
                outcome.notification,
                outcome.disposition,
            ))
        }
    }
}

/// Reconciles the run.
pub fn reconcile(workload: &Workload, reports: &[DeliveryReport], observed: &Observed) -> Tally {
    let mut tally = Tally {
        dlq_messages: observed.dlq_messages,
        notifications: observed.notifications.len(),
        ..Tally::default()
    };
    tally_deliveries(&mut tally, workload, reports);

    let stored: HashMap<String, Record> = observed
        .items
        .iter()
        .map(|(pk, r)| (pk.clone(), Record::Item(Box::new(r.clone()))))
        .chain(
            observed
                .verifications
                .iter()
                .map(|(pk, r)| (pk.clone(), Record::Verification(Box::new(r.clone())))),
        )
        .collect();
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

        let mut expected: Option<Record> = None;
        let mut current_notification: Option<(&str, Notification)> = None;
        for &index in &entity.events {
            let event = &workload.events[index];
            tally.genuine_events += 1;
            known_events.insert(event_pk(event.source.as_str(), &event.key));
            known_entries.insert((pk.clone(), event.key.clone()));

            if let Some((next, _, disposition)) =
                apply_one(expected.take(), event.source, &event.body, &event.key)
            {
                expected = Some(next);
                if disposition == Disposition::Applied {
                    current_notification = apply_one(None, event.source, &event.body, &event.key)
                        .and_then(|(_, n, _)| n)
                        .map(|n| (event.key.as_str(), n));
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
                .get(&event_pk(event.source.as_str(), &event.key));
            if applied > 0 && status.map(String::as_str) != Some("PROCESSED") {
                tally.not_marked_processed += 1;
                tally.example(
                    "not marked PROCESSED",
                    format!("{pk} {} status {status:?}", event.key),
                );
            }
            if let Some(stored_notes) = notified.get(&(pk.as_str(), event.key.as_str())) {
                let own =
                    apply_one(None, event.source, &event.body, &event.key).and_then(|(_, n, _)| n);
                for note in stored_notes {
                    if own.as_ref() != Some(*note) {
                        tally.wrong_notifications += 1;
                        tally.example("wrong notification", format!("{pk} {}", event.key));
                    }
                }
            }
        }

        if record != expected.as_ref() {
            tally.state_mismatches += 1;
            tally.example("record differs", pk.clone());
        }
        if let Some((key, _)) = current_notification {
            if !notified.contains_key(&(pk.as_str(), key)) {
                tally.missing_notifications += 1;
                tally.example("missing notification", format!("{pk} {key}"));
            }
        }
    }

    for event in workload.events.iter().filter(|e| e.forgery.is_some()) {
        let pk = entity_pk(event.source, &event.subject);
        let in_table = observed
            .events
            .contains_key(&event_pk(event.source.as_str(), &event.key));
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
        .map(|e| event_pk(e.source.as_str(), &e.key))
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
    for (pk, record) in &stored {
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
        let mut records: HashMap<String, Record> = HashMap::new();
        let mut observed = Observed::default();
        for delivery in &workload.schedule {
            let event = &workload.events[delivery.event];
            if delivery.kind != DeliveryKind::Original {
                continue;
            }
            let pk = entity_pk(event.source, &event.subject);
            let (record, notification, _) =
                apply_one(records.remove(&pk), event.source, &event.body, &event.key).unwrap();
            records.insert(pk.clone(), record);
            if let Some(notification) = notification {
                observed
                    .notifications
                    .push((pk, event.key.clone(), notification));
            }
            observed.events.insert(
                event_pk(event.source.as_str(), &event.key),
                "PROCESSED".to_owned(),
            );
        }
        for (pk, record) in records {
            match record {
                Record::Item(r) => observed.items.insert(pk, *r).is_none(),
                Record::Verification(r) => observed.verifications.insert(pk, *r).is_none(),
            };
        }
        observed
    }

    fn some_item(observed: &mut Observed) -> &mut ItemRecord {
        observed
            .items
            .values_mut()
            .find(|r| r.timeline.len() > 2)
            .unwrap()
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
        some_item(&mut lost).timeline.pop();
        let mut doubled = observed(&workload);
        let record = some_item(&mut doubled);
        let entry = record.timeline[0].clone();
        record.timeline.push(entry);

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
        wrong.notifications[0].2 = Notification::AuthenticatorAssigned { item_id: pk };
        let mut missing = observed(&workload);
        // An item with a verdict: the event that set it is current and always notifies.
        let pk = missing
            .items
            .iter()
            .find(|(_, r)| r.verdict.is_some())
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
            event_pk(forged.source.as_str(), &forged.key),
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
