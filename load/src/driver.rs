//! One load run: generate, send, wait for the pipeline to drain, read the tables, read the business
//! events tap, reconcile, and print the table.
//!
//! It owns the order of those phases and the report's layout; each phase's logic lives in its own
//! module (`workload`, `senders`, `snapshot`, `reconcile`, and `proxy` for the fault counts).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webhook_tools::drill::{CONSUMER_MARKER, INGRESS_MARKER};

use crate::proxy::{FaultStats, STATS_PATH};
use crate::reconcile::{Latency, Tally, reconcile};
use crate::senders::{RetryPolicy, Secrets, SendError, Target, send_all};
use crate::snapshot::{SnapshotError, Tables, TapWait};
use crate::workload::{Spec, Templates, WorkloadError, generate};

/// A run could not be carried out (as opposed to a run that found problems).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building the workload failed.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The senders could not start.
    #[error(transparent)]
    Send(#[from] SendError),
    /// Reading the tables failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The workload.
    pub spec: Spec,
    /// Concurrent senders.
    pub senders: usize,
    /// Where the sample payloads are.
    pub templates: PathBuf,
    /// The ingress function URL.
    pub ingress_url: String,
    /// Signing secrets.
    pub secrets: Secrets,
    /// The senders' retry behaviour.
    pub policy: RetryPolicy,
    /// The tables and queues, read directly.
    pub tables: Tables,
    /// How long the queue must stay empty to count as drained.
    pub settle: Duration,
    /// How long the queue may go without shrinking before the drain is given up.
    pub drain_stall: Duration,
    /// How long to read the business events tap.
    pub tap_wait: TapWait,
    /// The fault proxy, for its counts.
    pub proxy_url: Option<String>,
    /// Logs of the functions, where each fault drill abort leaves a line.
    pub drill_logs: Vec<PathBuf>,
}

/// What the run measured and found.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The reconciliation.
    pub tally: Tally,
    /// The proxy's counts, when it answered.
    pub faults: Option<FaultStats>,
    /// Ingress processes aborted after a claim.
    pub ingress_aborts: usize,
    /// Consumer processes aborted mid-batch.
    pub consumer_aborts: usize,
    /// Sending all deliveries.
    pub sending: Duration,
    /// Waiting for the queue to drain.
    pub draining: Duration,
    /// Whether the queue drained.
    pub drained: bool,
    /// Reading the business events tap.
    pub tapping: Duration,
    /// The whole run.
    pub total: Duration,
}

/// Carries out one run.
pub async fn run(config: RunConfig) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let templates = Templates::load(&config.templates)?;
    let workload = Arc::new(generate(&config.spec, &templates)?);
    let (originals, duplicates, forged) = config.spec.split();
    eprintln!(
        "load: seed {}; {} webhooks ({originals} events about {} items and sessions, {duplicates} \
         re-sent, {forged} forged) from {} senders",
        config.spec.seed,
        config.spec.webhooks,
        workload.entities.len(),
        config.senders
    );

    let target = Arc::new(Target {
        ingress_url: config.ingress_url.clone(),
        secrets: config.secrets.clone(),
        policy: config.policy,
    });
    let total = config.spec.webhooks;
    let reports = send_all(
        workload.clone(),
        target,
        config.senders,
        config.spec.seed,
        move |done| eprintln!("load: {done}/{total} deliveries answered"),
    )
    .await?;
    let sending = started.elapsed();

    eprintln!("load: all answered after {sending:.1?}; waiting for the queue to drain");
    let drain_started = Instant::now();
    let depth = config
        .tables
        .wait_for_drain(config.settle, config.drain_stall, |d| {
            eprintln!(
                "load: queue: {} visible, {} in flight, {} delayed",
                d.visible, d.in_flight, d.delayed
            );
        })
        .await?;
    let draining = drain_started.elapsed();

    let mut observed = config.tables.observe().await?;
    let expected: HashSet<&str> = observed
        .outbox
        .iter()
        .filter_map(|entry| entry.event_id.as_deref())
        .collect();
    eprintln!(
        "load: reading the business events tap ({} expected)",
        expected.len()
    );
    let tap_started = Instant::now();
    let tapped = config
        .tables
        .drain_tap(&expected, config.tap_wait, |messages, arrived| {
            eprintln!(
                "load: tap: {messages} messages, {arrived} of {} expected ids",
                expected.len()
            );
        })
        .await?;
    let tapping = tap_started.elapsed();
    observed.tapped = tapped;
    let tally = reconcile(&workload, &reports, &observed);
    let faults = match &config.proxy_url {
        Some(url) => fetch_faults(url).await,
        None => None,
    };
    let (ingress_aborts, consumer_aborts) = count_aborts(&config.drill_logs);
    Ok(RunReport {
        tally,
        faults,
        ingress_aborts,
        consumer_aborts,
        sending,
        draining,
        drained: depth.is_empty(),
        tapping,
        total: started.elapsed(),
    })
}

async fn fetch_faults(proxy_url: &str) -> Option<FaultStats> {
    let url = format!("{}{STATS_PATH}", proxy_url.trim_end_matches('/'));
    let response = reqwest::get(&url).await.ok()?;
    serde_json::from_slice(&response.bytes().await.ok()?).ok()
}

/// Abort lines in the functions' logs (each starts with a marker of `webhook_tools::drill`):
/// ingress, consumer.
fn count_aborts(logs: &[PathBuf]) -> (usize, usize) {
    let mut counts = (0, 0);
    for log in logs {
        let Ok(text) = std::fs::read_to_string(log) else {
            continue;
        };
        for line in text.lines() {
            if line.contains(INGRESS_MARKER) {
                counts.0 += 1;
            } else if line.contains(CONSUMER_MARKER) {
                counts.1 += 1;
            }
        }
    }
    counts
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn latency(l: &Latency) -> String {
    format!("{} / {} / {}", ms(l.p50), ms(l.p99), ms(l.max))
}

fn share(n: u64, of: u64) -> String {
    if of == 0 {
        format!("{n}")
    } else {
        format!("{n} of {of} ({:.1} %)", n as f64 * 100.0 / of as f64)
    }
}

impl RunReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.tally.failures().is_empty() && self.drained
    }

    /// The report as a Markdown table, then the verdict and a few examples of each problem.
    pub fn render(&self, seed: u64, senders: usize) -> String {
        let t = &self.tally;
        let mut rows: Vec<(&str, String)> = vec![
            ("seed", seed.to_string()),
            (
                "sent (deliveries)",
                format!(
                    "{}: {} events, {} re-sent ({} of them concurrently), {} forged; {senders} senders",
                    t.sent,
                    t.originals,
                    t.duplicates_sent,
                    t.concurrent_duplicates_sent,
                    t.forged_sent
                ),
            ),
            (
                "accepted (final answer 200 accepted)",
                t.accepted.to_string(),
            ),
            (
                "duplicates (final answer 200 duplicate)",
                t.duplicates.to_string(),
            ),
            ("rejected (final answer 401)", t.rejected.to_string()),
            ("other final answers", t.other_final.to_string()),
            (
                "**lost**",
                format!("**{}** of {} events", t.lost, t.genuine_events),
            ),
            ("**double-applied**", format!("**{}**", t.double_applied)),
            (
                "applied exactly once",
                format!("{} of {}", t.applied_once, t.genuine_events),
            ),
            (
                "genuine deliveries not acknowledged / forged accepted / forged not refused / forged stored",
                format!(
                    "{} / {} / {} / {}",
                    t.genuine_refused, t.forged_accepted, t.forged_not_refused, t.forged_stored
                ),
            ),
            (
                "records ≠ in-order / not PROCESSED / wrong or missing notifications / strays",
                format!(
                    "{} / {} / {} / {} / {}",
                    t.state_mismatches,
                    t.not_marked_processed,
                    t.wrong_notifications,
                    t.missing_notifications,
                    t.stray_entries
                ),
            ),
            (
                "ack latency p50 / p99 / max (2xx answers)",
                latency(&t.ack_latency),
            ),
            (
                "delivery time p50 / p99 / max (first attempt to final answer)",
                latency(&t.delivery_time),
            ),
            (
                "attempts / retries",
                format!("{} / {}", t.attempts, t.retries),
            ),
            (
                "retried answers: none (timeout, refused) / 409 / 5xx",
                format!(
                    "{} / {} / {}",
                    t.transport_failures, t.answered_busy, t.answered_5xx
                ),
            ),
        ];
        match &self.faults {
            Some(f) => {
                rows.push((
                    "faults: SendMessage failed before / after enqueue",
                    format!(
                        "{} / {}",
                        share(f.sqs_send_errors, f.sqs_sends),
                        share(f.sqs_send_errors_after_enqueue, f.sqs_sends)
                    ),
                ));
                rows.push((
                    "faults: DynamoDB calls throttled",
                    share(f.dynamodb_throttles, f.dynamodb_calls),
                ));
                rows.push((
                    "faults: PutEvents failed before / after publishing",
                    format!(
                        "{} / {}",
                        share(f.put_events_errors, f.put_events),
                        share(f.put_events_errors_after_publish, f.put_events)
                    ),
                ));
            }
            None => rows.push((
                "faults: proxy",
                "no counts (not used or not reachable)".into(),
            )),
        }
        rows.push((
            "faults: ingress aborted after claim / consumer aborted mid-batch",
            format!("{} / {}", self.ingress_aborts, self.consumer_aborts),
        ));
        rows.push(("dead-letter queue", t.dlq_messages.to_string()));
        rows.push(("notifications", t.notifications.to_string()));
        rows.push((
            "business events expected (stored notifications) / arrived (distinct ids)",
            format!("{} / {}", t.bus_expected, t.bus_arrived),
        ));
        rows.push((
            "**business events lost**",
            format!("**{}** of {}", t.bus_lost, t.bus_expected),
        ));
        rows.push((
            "**business events extra (distinct ids)**",
            format!("**{}**", t.bus_extras),
        ));
        rows.push((
            "business event copies (arrivals beyond the first per id; not a failure)",
            format!("{} ({} messages on the tap)", t.bus_copies, t.bus_messages),
        ));
        rows.push((
            "notifications unpublished / business events ≠ their notification",
            format!("{} / {}", t.bus_unpublished, t.bus_wrong),
        ));
        rows.push((
            "elapsed: sending / draining / reading the tap / total",
            format!(
                "{:.1} s / {:.1} s / {:.1} s / {:.1} s",
                self.sending.as_secs_f64(),
                self.draining.as_secs_f64(),
                self.tapping.as_secs_f64(),
                self.total.as_secs_f64()
            ),
        ));

        let mut out = String::from("| figure | value |\n|---|---|\n");
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        let mut failures = t.failures();
        if !self.drained {
            failures.push("the queue stopped draining".to_owned());
        }
        if failures.is_empty() {
            out.push_str(
                "\nPASS: nothing lost, nothing applied twice, every forgery refused, every \
                 notification published and its business event arrived, no other\n",
            );
        } else {
            let _ = writeln!(out, "\nFAIL: {}", failures.join("; "));
            for (problem, examples) in &t.examples {
                for example in examples {
                    let _ = writeln!(out, "  {problem}: {example}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aborts_are_counted_per_function_from_the_logs() {
        let dir = std::env::temp_dir().join(format!("load-drill-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("functions.log");
        // One line per place the drills abort, as they write them.
        std::fs::write(
            &log,
            format!(
                "INFO webhook handled\n\
                 {INGRESS_MARKER} after claiming id:a\n\
                 {CONSUMER_MARKER} after notifying for id:b\n\
                 {CONSUMER_MARKER} after saving the record of item-1\n\
                 {INGRESS_MARKER} after claiming id:c\n\
                 {CONSUMER_MARKER} after marking done id:d\n"
            ),
        )
        .unwrap();

        let counts = count_aborts(&[log, dir.join("missing.log")]);
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(counts, (2, 3));
    }
}
