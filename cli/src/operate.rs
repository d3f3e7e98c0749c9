//! The on-call commands: list and show stored events, replay them, inspect and redrive the
//! dead-letter queue. The listing lives in `crate::events` and the rules (what is replayable, what
//! is poison) in `crate::replay` and `crate::dlq`; this module selects, prints and reports
//! progress.
//!
//! Every command that changes something prints its plan and changes nothing unless `--execute`
//! is given. `--json` prints one JSON document for scripts and tests.

use std::sync::Arc;

use base64::Engine;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use webhook_aws::events_table::EventRecord;
use webhook_aws::{EventQueue, EventsTable, ItemsTable};
use webhook_core::config::{Env, ProcessEnv, source_sender};
use webhook_core::ports::{EventStatus, RecordId, RecordsStore, StoredNotification};
use webhook_core::senders::cr3dentials::Cr3dentials;
use webhook_core::senders::legitmark::Legitmark;
use webhook_core::senders::{self, Payload, Sender};

use crate::dlq::{DeadLetter, DeadLetterQueue, Verdict};
use crate::events::{self, EventFilter};
use crate::replay::{self, Plan};
use crate::{Failure, var};

/// How long a DLQ pass keeps the messages it read invisible to others.
const DLQ_HOLD_SECS: u32 = 120;

/// `webhookctl events ...`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List stored events, newest first.
    List {
        #[command(flatten)]
        select: Select,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one event: raw body, headers (signatures redacted), and what became of it.
    Show {
        /// Source name, e.g. legitmark.
        source: String,
        /// Idempotency key, e.g. id:msg_2x...
        key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which stored events a command is about; every option given must match.
#[derive(Debug, Clone, Args)]
pub struct Select {
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Only this status: received, enqueued, processed, quarantined or conflict.
    #[arg(long, value_parser = parse_status)]
    status: Option<EventStatus>,
    /// Only events about this item (Legitmark reference_id, else sr_uuid).
    #[arg(long, conflicts_with = "verification")]
    item: Option<String>,
    /// Only events about this verification session (Cr3dentials).
    #[arg(long)]
    verification: Option<String>,
    /// Received at or after: RFC 3339 (2026-11-21T09:00:00Z) or an age (90s, 15m, 2h, 7d).
    #[arg(long, value_parser = parse_time)]
    since: Option<i64>,
    /// Received before: RFC 3339 or an age.
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
}

impl Select {
    fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.status.is_none()
            && self.item.is_none()
            && self.verification.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            source: self.source.clone(),
            status: self.status,
            subject: self.item.clone().or_else(|| self.verification.clone()),
            since_ms: self.since,
            until_ms: self.until,
        }
    }

    /// The subject filter cannot tell an item from a session of the same id; the record kind of
    /// the source's sender can.
    fn admits(&self, record: &EventRecord) -> bool {
        let wanted = if self.item.is_some() {
            Legitmark::RECORD_KIND
        } else if self.verification.is_some() {
            Cr3dentials::RECORD_KIND
        } else {
            return true;
        };
        sender_of(&record.source).is_some_and(|payload| payload.record_kind() == wanted)
    }
}

/// `webhookctl replay ...`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    select: Select,
    /// Replay these keys of --source (repeatable), instead of a listing.
    #[arg(long = "key", requires = "source")]
    keys: Vec<String>,
    /// Also send events the consumer already applied (it will recognise and ignore them).
    #[arg(long)]
    include_processed: bool,
    /// Send them. Without it, only the plan is printed.
    #[arg(long)]
    execute: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `webhookctl dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List what is in the dead-letter queue and whether each message can be redriven.
    Inspect {
        #[command(flatten)]
        dlq: DlqArgs,
    },
    /// Move redrivable messages back to the events queue; poison stays in the dead-letter queue.
    Redrive {
        #[command(flatten)]
        dlq: DlqArgs,
        /// Move them. Without it, only the plan is printed.
        #[arg(long)]
        execute: bool,
    },
}

/// Options shared by the DLQ commands.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// The dead-letter queue; by default the one named by QUEUE_URL's redrive policy.
    #[arg(long, env = "DLQ_URL")]
    dlq_url: Option<String>,
    /// Read at most this many messages.
    #[arg(long, default_value_t = 1000)]
    max: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_status(text: &str) -> Result<EventStatus, String> {
    EventStatus::parse(&text.to_ascii_uppercase()).ok_or_else(|| {
        format!("unknown status {text:?}: received, enqueued, processed, quarantined or conflict")
    })
}

/// A point in time as Unix milliseconds: RFC 3339, or an age before now such as `15m`.
fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|e| e.to_string());
    }
    let split = text.len().saturating_sub(1);
    let (amount, unit) = (text.get(..split), text.get(split..));
    let seconds = match unit {
        Some("s") => 1,
        Some("m") => 60,
        Some("h") => 3_600,
        Some("d") => 86_400,
        _ => 0,
    };
    match amount.and_then(|a| a.parse::<i64>().ok()) {
        Some(amount) if seconds > 0 && amount >= 0 => {
            Ok(now_ms().saturating_sub(amount.saturating_mul(seconds).saturating_mul(1_000)))
        }
        _ => Err(format!(
            "{text:?} is neither RFC 3339 (2026-11-21T09:00:00Z) nor an age (90s, 15m, 2h, 7d)"
        )),
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    senders::rfc3339_utc_ms(ms).unwrap_or_else(|| ms.to_string())
}

/// The sender whose payloads a source sends, as the ingress would configure it.
fn sender_of(source: &str) -> Option<Arc<dyn Payload>> {
    source_sender(&ProcessEnv, &senders::builtin(), source).map(|(payload, _)| payload)
}

/// The events table, and a client for the listing's Scan.
fn events_table(
    aws: &aws_config::SdkConfig,
) -> Result<(EventsTable, aws_sdk_dynamodb::Client), Failure> {
    let client = aws_sdk_dynamodb::Client::new(aws);
    Ok((
        EventsTable::new(client.clone(), var("EVENTS_TABLE")?),
        client,
    ))
}

fn summary(record: &EventRecord) -> Value {
    json!({
        "source": record.source,
        "key": record.key,
        "status": record.status.as_str(),
        "received_at": rfc3339(record.received_at_ms),
        "processed_at": record.processed_at_ms.map(rfc3339),
        "event_type": record.event_type,
        "subject": record.subject,
        "message_id": record.message_id,
        "note": record.note,
    })
}

/// What became of a notification's business event, in words: `published`, `not yet published`
/// or, for a notification stored before there was a bus, `none (stored before the bus)`.
fn business_event_state(stored: &StoredNotification) -> &'static str {
    match (&stored.event, stored.published_at_ms) {
        (None, _) => "none (stored before the bus)",
        (Some(_), Some(_)) => "published",
        (Some(_), None) => "not yet published",
    }
}

/// A stored notification as `show` and `events show` print it: what it says, and whether the bus
/// accepted the business event announcing it.
pub(crate) fn notification(stored: &StoredNotification) -> Value {
    let event = stored.event.as_ref();
    json!({
        "kind": stored.notification.kind,
        "message": stored.notification.message,
        "event_key": stored.event_key,
        "event_id": event.map(|e| e.event_id.as_str()),
        "detail_type": event.map(|e| e.detail_type.as_str()),
        "published": stored.published_at_ms.is_some(),
        "published_at": stored.published_at_ms.map(rfc3339),
        "business_event": business_event_state(stored),
    })
}

fn print_json(value: &Value) -> Result<(), Failure> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

fn progress(len: usize, verb: &'static str) -> ProgressBar {
    // Drawn on stderr, and only when it is a terminal.
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(verb);
    bar
}

/// Runs `webhookctl events ...`.
pub async fn events(command: EventsCommand) -> Result<(), Failure> {
    let aws = aws_config::load_from_env().await;
    let (table, dynamo) = events_table(&aws)?;
    match command {
        EventsCommand::List {
            select,
            limit,
            json,
        } => {
            let records: Vec<EventRecord> = events::list(&dynamo, table.name(), &select.filter())
                .await?
                .into_iter()
                .filter(|r| select.admits(r))
                .take(limit)
                .collect();
            if json {
                return print_json(&Value::Array(records.iter().map(summary).collect()));
            }
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|r| {
                    vec![
                        rfc3339(r.received_at_ms),
                        r.source.clone(),
                        r.status.as_str().to_owned(),
                        or_dash(r.event_type.as_deref()),
                        or_dash(r.subject.as_deref()),
                        r.key.clone(),
                    ]
                })
                .collect();
            print_table(
                &["RECEIVED", "SOURCE", "STATUS", "TYPE", "SUBJECT", "KEY"],
                &rows,
            );
            eprintln!("{} event(s)", rows.len());
            Ok(())
        }
        EventsCommand::Show { source, key, json } => {
            let record = table.record(&source, &key).await?.ok_or_else(|| {
                format!("no event {key} from {source} (expired, or never received)")
            })?;
            let items = ItemsTable::from_sdk_config(&aws, var("ITEMS_TABLE")?);
            let detail = detail(&record, &items).await?;
            if json {
                return print_json(&detail);
            }
            print_detail(&detail);
            Ok(())
        }
    }
}

/// Everything known of one event: the record, the body, and its traces in the items table.
async fn detail(record: &EventRecord, items: &ItemsTable) -> Result<Value, Failure> {
    let headers: serde_json::Map<String, Value> = record
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.contains("signature") {
                format!("(redacted, {} bytes)", value.len())
            } else {
                value.clone()
            };
            (name.clone(), Value::String(shown))
        })
        .collect();
    let body = record.body.as_deref().unwrap_or_default();
    let (body, encoding) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    };

    let mut history = vec![json!({ "at": rfc3339(record.received_at_ms), "what": "received" })];
    if let Some(at) = record.processed_at_ms {
        history.push(
            json!({ "at": rfc3339(at), "what": record.status.as_str().to_ascii_lowercase() }),
        );
    }
    // Where the consumer keeps what it made of the event's subject.
    let id = sender_of(&record.source)
        .zip(record.subject.as_deref())
        .map(|(payload, subject)| RecordId {
            kind: payload.record_kind(),
            subject,
        });
    let (mut timeline, mut notifications) = (Vec::new(), Vec::new());
    if let Some(id) = id {
        if let Some(stored) = items.load(id).await? {
            let stored: Value = serde_json::from_str(&stored.json)?;
            timeline = stored["timeline"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|e| e["key"].as_str() == Some(record.key.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
        }
        notifications = items
            .notifications(id)
            .await?
            .into_iter()
            .filter(|n| n.event_key == record.key)
            .map(|n| notification(&n))
            .collect();
    }
    let mut detail = summary(record);
    if let Value::Object(map) = &mut detail {
        map.insert("body_sha256".into(), json!(record.body_sha256));
        map.insert(
            "expires_at".into(),
            json!(record.expires_at_s.map(|s| rfc3339(s * 1000))),
        );
        map.insert("headers".into(), Value::Object(headers));
        map.insert("history".into(), Value::Array(history));
        map.insert("applied".into(), Value::Array(timeline));
        map.insert("notifications".into(), Value::Array(notifications));
        map.insert("body_encoding".into(), json!(encoding));
        map.insert("body".into(), json!(body));
    }
    Ok(detail)
}

fn print_detail(detail: &Value) {
    let text = |name: &str| detail[name].as_str().unwrap_or("-").to_owned();
    for name in [
        "source",
        "key",
        "status",
        "event_type",
        "subject",
        "message_id",
        "received_at",
        "processed_at",
        "expires_at",
        "note",
        "body_sha256",
    ] {
        println!("{name:<13}{}", text(name));
    }
    println!("\nheaders:");
    if let Some(headers) = detail["headers"].as_object() {
        for (name, value) in headers {
            println!("  {name}: {}", value.as_str().unwrap_or_default());
        }
    }
    println!("\nhistory:");
    for entry in detail["history"].as_array().into_iter().flatten() {
        println!("  {}  {}", text_of(&entry["at"]), text_of(&entry["what"]));
    }
    for entry in detail["applied"].as_array().into_iter().flatten() {
        println!(
            "  {}  applied to the record: {} ({})",
            text_of(&entry["occurred_at"]),
            text_of(&entry["event_type"]),
            text_of(&entry["disposition"])
        );
    }
    for entry in detail["notifications"].as_array().into_iter().flatten() {
        println!(
            "  notified: {}: {}",
            text_of(&entry["kind"]),
            text_of(&entry["message"])
        );
        let at = match &entry["published_at"] {
            Value::String(at) => format!(" at {at}"),
            _ => String::new(),
        };
        println!(
            "  business event {} ({}): {}{at}",
            text_of(&entry["event_id"]),
            text_of(&entry["detail_type"]),
            text_of(&entry["business_event"])
        );
    }
    println!("\nbody ({}):\n{}", text("body_encoding"), text("body"));
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Runs `webhookctl replay ...`.
pub async fn replay(args: ReplayArgs) -> Result<(), Failure> {
    if args.keys.is_empty() && args.select.is_empty() {
        return Err(
            "say what to replay: --key (with --source), --item, --verification, --since/--until, \
             --status or --source"
                .into(),
        );
    }
    let aws = aws_config::load_from_env().await;
    let (table, dynamo) = events_table(&aws)?;

    let mut records = Vec::new();
    if args.keys.is_empty() {
        // Listings leave bodies out; a replay needs them.
        for listed in events::list(&dynamo, table.name(), &args.select.filter()).await? {
            if args.select.admits(&listed) {
                records.extend(table.record(&listed.source, &listed.key).await?);
            }
        }
        records.reverse(); // oldest first, the order they arrived in
    } else {
        let source = args.select.source.clone().unwrap_or_default();
        for key in &args.keys {
            let record = table
                .record(&source, key)
                .await?
                .ok_or_else(|| format!("no event {key} from {source}"))?;
            records.push(record);
        }
    }

    let now = now_ms();
    let planned: Vec<(EventRecord, Plan)> = records
        .into_iter()
        .map(|record| {
            let plan = replay::plan(
                &record,
                sender_of(&record.source).as_deref(),
                args.include_processed,
                now,
            );
            (record, plan)
        })
        .collect();
    let to_send = planned.iter().filter(|(_, plan)| plan.is_replay()).count();

    let mut sent: Vec<Option<Result<String, String>>> = vec![None; planned.len()];
    if args.execute && to_send > 0 {
        let queue = EventQueue::from_sdk_config(&aws, var("QUEUE_URL")?);
        let bar = progress(to_send, "replaying");
        for (n, (record, plan)) in planned.iter().enumerate() {
            let Some(payload) = sender_of(&record.source).filter(|_| plan.is_replay()) else {
                continue;
            };
            sent[n] = Some(
                replay::replay(&queue, record, payload.as_ref())
                    .await
                    .map_err(|e| e.to_string()),
            );
            bar.inc(1);
        }
        bar.finish_and_clear();
    }

    let failed = sent.iter().flatten().filter(|r| r.is_err()).count();
    let report: Vec<Value> = planned
        .iter()
        .zip(&sent)
        .map(|((record, plan), sent)| {
            let mut entry = summary(record);
            if let Value::Object(map) = &mut entry {
                match plan {
                    Plan::Replay => map.insert("plan".into(), json!("replay")),
                    Plan::Skip(reason) => {
                        map.insert("reason".into(), json!(reason));
                        map.insert("plan".into(), json!("skip"))
                    }
                };
                match sent {
                    Some(Ok(id)) => map.insert("queue_message_id".into(), json!(id)),
                    Some(Err(err)) => map.insert("error".into(), json!(err)),
                    None => None,
                };
            }
            entry
        })
        .collect();

    if args.json {
        print_json(&json!({
            "executed": args.execute,
            "selected": planned.len(),
            "to_replay": to_send,
            "replayed": if args.execute { to_send - failed } else { 0 },
            "failed": failed,
            "events": report,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|e| {
                vec![
                    text_of(&e["received_at"]),
                    text_of(&e["source"]),
                    text_of(&e["status"]),
                    text_of(&e["key"]),
                    match (&e["error"], &e["reason"]) {
                        (Value::String(err), _) => format!("FAILED: {err}"),
                        (_, Value::String(reason)) => format!("skip: {reason}"),
                        _ if args.execute => "replayed".to_owned(),
                        _ => "would replay".to_owned(),
                    },
                ]
            })
            .collect();
        print_table(&["RECEIVED", "SOURCE", "STATUS", "KEY", "PLAN"], &rows);
        if args.execute {
            eprintln!(
                "replayed {} of {} selected; {failed} failed",
                to_send - failed,
                planned.len()
            );
        } else {
            eprintln!(
                "dry run: {to_send} of {} selected would be replayed; add --execute to send them",
                planned.len()
            );
        }
    }
    if failed > 0 {
        return Err(format!("{failed} replay(s) failed; run again to retry them").into());
    }
    Ok(())
}

/// For each dead letter, what became of its event's notification, when the items table
/// (`ITEMS_TABLE`) is known and the letter names its event: the business event's state (`not yet
/// published` for a message that went to the dead-letter queue after its notification was stored),
/// or `no notification` (not applied, or the event raised none). One read per letter.
async fn outbox_states(aws: &aws_config::SdkConfig, letters: &[DeadLetter]) -> Vec<Option<String>> {
    let Some(table) = ProcessEnv
        .var("ITEMS_TABLE")
        .filter(|t| !t.trim().is_empty())
    else {
        return vec![None; letters.len()];
    };
    let items = ItemsTable::from_sdk_config(aws, table);
    let mut states = Vec::with_capacity(letters.len());
    for letter in letters {
        let Some((meta, payload)) = letter
            .meta
            .as_ref()
            .and_then(|meta| Some((meta, sender_of(&meta.source)?)))
        else {
            states.push(None);
            continue;
        };
        let id = RecordId {
            kind: payload.record_kind(),
            subject: &meta.subject,
        };
        states.push(Some(match items.notification(id, &meta.key).await {
            Ok(Some(stored)) => business_event_state(&stored).to_owned(),
            Ok(None) => "no notification".to_owned(),
            Err(err) => format!("unknown ({err})"),
        }));
    }
    states
}

/// Runs `webhookctl dlq ...`.
pub async fn dlq(command: DlqCommand) -> Result<(), Failure> {
    let (args, execute, redrive) = match command {
        DlqCommand::Inspect { dlq } => (dlq, false, false),
        DlqCommand::Redrive { dlq, execute } => (dlq, execute, true),
    };
    let aws = aws_config::load_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dlq = match &args.dlq_url {
        Some(url) => DeadLetterQueue::new(sqs, url.clone()),
        None => DeadLetterQueue::of_queue(sqs, &var("QUEUE_URL")?).await?,
    };
    let letters = dlq.read(args.max, DLQ_HOLD_SECS).await?;
    let outbox = outbox_states(&aws, &letters).await;

    let mut moved: Vec<Option<Result<String, String>>> = vec![None; letters.len()];
    let mut keep: Vec<DeadLetter> = Vec::new();
    if execute {
        let queue_url = var("QUEUE_URL")?;
        let redrivable = letters
            .iter()
            .filter(|l| l.verdict == Verdict::Redrive)
            .count();
        let bar = progress(redrivable, "redriving");
        for (n, letter) in letters.iter().enumerate() {
            if letter.verdict == Verdict::Redrive {
                let result = dlq.redrive(letter, &queue_url).await;
                if result.is_err() {
                    keep.push(letter.clone());
                }
                moved[n] = Some(result.map_err(|e| e.to_string()));
                bar.inc(1);
            } else {
                keep.push(letter.clone());
            }
        }
        bar.finish_and_clear();
    } else {
        keep.clone_from(&letters);
    }
    // Whatever stays is visible again at once, for the next look or the next redrive.
    dlq.release(&keep).await?;

    let failed = moved.iter().flatten().filter(|r| r.is_err()).count();
    let report: Vec<Value> = letters
        .iter()
        .zip(&moved)
        .zip(&outbox)
        .map(|((letter, moved), business_event)| {
            let meta = letter.meta.as_ref();
            let (verdict, reason) = match &letter.verdict {
                Verdict::Redrive => ("redrive", None),
                Verdict::Poison(reason) => ("poison", Some(reason.as_str())),
            };
            json!({
                "message_id": letter.message_id,
                "source": meta.map(|m| m.source.as_str()),
                "key": meta.map(|m| m.key.as_str()),
                "event_type": meta.map(|m| m.event_type.as_str()),
                "subject": meta.map(|m| m.subject.as_str()),
                "receive_count": letter.receive_count,
                "sent_at": rfc3339(letter.sent_at_ms),
                "verdict": verdict,
                "reason": reason,
                "business_event": business_event,
                "moved_as": moved.as_ref().and_then(|m| m.as_ref().ok()),
                "error": moved.as_ref().and_then(|m| m.as_ref().err()),
            })
        })
        .collect();
    let redrivable = report.iter().filter(|r| r["verdict"] == "redrive").count();
    let poison = report.len() - redrivable;
    if args.json {
        print_json(&json!({
            "dlq_url": dlq.url(),
            "executed": execute,
            "messages": report,
            "redrivable": redrivable,
            "poison": poison,
            "moved": if execute { redrivable - failed } else { 0 },
            "failed": failed,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|r| {
                vec![
                    text_of(&r["sent_at"]),
                    text_of(&r["source"]),
                    text_of(&r["key"]),
                    text_of(&r["receive_count"]),
                    text_of(&r["business_event"]),
                    match (&r["error"], &r["reason"], &r["moved_as"]) {
                        (Value::String(err), _, _) => format!("FAILED: {err}"),
                        (_, Value::String(reason), _) => format!("poison (kept): {reason}"),
                        (_, _, Value::String(_)) => "moved back".to_owned(),
                        _ => "redrivable".to_owned(),
                    },
                ]
            })
            .collect();
        print_table(
            &[
                "SENT",
                "SOURCE",
                "KEY",
                "RECEIVES",
                "BUSINESS EVENT",
                "VERDICT",
            ],
            &rows,
        );
        eprintln!(
            "{}: {} message(s), {redrivable} redrivable, {poison} poison",
            dlq.url(),
            report.len()
        );
        if redrive && !execute {
            eprintln!("dry run: add --execute to move the {redrivable} redrivable message(s) back");
        } else if execute {
            eprintln!(
                "moved {} back; {failed} failed; poison stays in the dead-letter queue",
                redrivable - failed
            );
        }
    }
    if failed > 0 {
        return Err(format!("{failed} message(s) could not be moved; run again").into());
    }
    Ok(())
}
