//! `webhookctl bus watch`: the business events as the user's systems receive them, read from the
//! tap, an SQS queue a rule on the bus delivers every business event to (the local stack has one;
//! see `webhook_tools::provision::ensure_bus`).
//!
//! It long-polls the tap, prints each event as it arrives (one line each: a person's summary, or
//! with `--json` the whole EventBridge event as received) and then deletes it from the tap, so an
//! event is printed once unless its deletion fails. It stops after `--count` events, after
//! `--idle` seconds without one, or on Ctrl-C.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::Value;
use webhook_core::config::{Env, ProcessEnv};

use crate::Failure;

/// The longest long poll SQS allows.
const MAX_WAIT_SECS: u64 = 20;
/// Messages per receive (the SQS maximum).
const MAX_BATCH: usize = 10;

/// `webhookctl bus ...`
#[derive(Debug, Subcommand)]
pub enum BusCommand {
    /// Print business events as they reach the tap queue, and delete them from it.
    Watch(WatchArgs),
}

/// `webhookctl bus watch ...`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The tap queue's URL; by default the URL of the queue named BUSINESS_EVENTS_QUEUE.
    #[arg(long, env = "BUSINESS_EVENTS_QUEUE_URL")]
    queue_url: Option<String>,
    /// Print each event as the JSON EventBridge delivered, one per line.
    #[arg(long)]
    json: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Stop once no event arrived for this many seconds.
    #[arg(long, value_name = "SECONDS")]
    idle: Option<u64>,
}

/// Runs `webhookctl bus ...`.
pub async fn bus(command: BusCommand) -> Result<(), Failure> {
    match command {
        BusCommand::Watch(args) => watch(args).await,
    }
}

/// The tap's URL: `--queue-url` / `BUSINESS_EVENTS_QUEUE_URL`, else GetQueueUrl of
/// `BUSINESS_EVENTS_QUEUE`.
async fn tap_url(sqs: &aws_sdk_sqs::Client, given: Option<String>) -> Result<String, Failure> {
    if let Some(url) = given.filter(|url| !url.trim().is_empty()) {
        return Ok(url);
    }
    let name = ProcessEnv
        .var("BUSINESS_EVENTS_QUEUE")
        .filter(|name| !name.trim().is_empty())
        .ok_or("neither BUSINESS_EVENTS_QUEUE_URL nor BUSINESS_EVENTS_QUEUE is set")?;
    let found = sqs
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "finding the queue BUSINESS_EVENTS_QUEUE names: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    found
        .queue_url
        .ok_or_else(|| "GetQueueUrl answered no URL for BUSINESS_EVENTS_QUEUE".into())
}

async fn watch(args: WatchArgs) -> Result<(), Failure> {
    if args.count == Some(0) {
        return Ok(());
    }
    let aws = aws_config::load_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = tap_url(&sqs, args.queue_url).await?;
    if !args.json {
        eprintln!("watching {url} (Ctrl-C stops)");
    }
    let idle = args.idle.map(Duration::from_secs);
    let mut printed = 0_usize;
    let mut last_event = Instant::now();
    // Created once, so a Ctrl-C between two polls is not lost.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut out = std::io::stdout();
    loop {
        let wait_secs = match idle {
            None => MAX_WAIT_SECS,
            Some(idle) => {
                let left = idle.saturating_sub(last_event.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                // Whole seconds, rounded up: the idle time is a floor, never cut short.
                left.as_secs()
                    .saturating_add(u64::from(left.subsec_nanos() > 0))
                    .min(MAX_WAIT_SECS)
            }
        };
        let wanted = args.count.map_or(MAX_BATCH, |count| {
            count.saturating_sub(printed).min(MAX_BATCH)
        });
        let receive = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(wanted).unwrap_or(1))
            .wait_time_seconds(i32::try_from(wait_secs).unwrap_or(0))
            .send();
        let received = tokio::select! {
            received = receive => received.map_err(|e| {
                format!("receiving from the tap: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
            })?,
            _ = &mut ctrl_c => return Ok(()),
        };
        for message in received.messages.unwrap_or_default() {
            let body = message.body().unwrap_or_default();
            match serde_json::from_str::<Value>(body) {
                Ok(event) => {
                    let line = if args.json {
                        event.to_string()
                    } else {
                        human(&event)
                    };
                    writeln!(out, "{line}")
                        .and_then(|()| out.flush())
                        .map_err(|e| format!("writing to stdout: {e}"))?;
                    printed += 1;
                    last_event = Instant::now();
                }
                Err(_) => eprintln!(
                    "webhookctl: tap message {} is not an EventBridge event ({} bytes); deleting it",
                    message.message_id().unwrap_or("-"),
                    body.len()
                ),
            }
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "deleting a printed event from the tap: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        )
                    })?;
            }
        }
        if args.count.is_some_and(|count| printed >= count) {
            return Ok(());
        }
    }
}

/// One line for a person: when it happened, the detail-type, the source, the event id and the
/// message.
pub fn human(event: &Value) -> String {
    let detail = &event["detail"];
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    format!(
        "{}  {}  {}  event_id={}  {}",
        text(&detail["occurred_at"]),
        text(&event["detail-type"]),
        text(&event["source"]),
        text(&detail["event_id"]),
        text(&detail["message"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_reads_when_what_where_which_and_the_message() {
        let event = serde_json::json!({
            "version": "0",
            "id": "6f1d2c3b-8a47-4e5f-9b20-7c3e1a9d4f58",
            "detail-type": "Photos Rejected",
            "source": "webhooks.legitmark",
            "detail": {
                "event_id": "c131e8f33c9d2d8efa1f7aec12d38c66",
                "occurred_at": "2026-11-20T10:15:00Z",
                "message": "Re-upload the Front photo for item item-10042.",
            },
        });

        assert_eq!(
            human(&event),
            "2026-11-20T10:15:00Z  Photos Rejected  webhooks.legitmark  \
             event_id=c131e8f33c9d2d8efa1f7aec12d38c66  \
             Re-upload the Front photo for item item-10042."
        );
    }

    #[test]
    fn missing_fields_print_as_dashes() {
        assert_eq!(
            human(&serde_json::json!({ "detail-type": "Photos Approved" })),
            "-  Photos Approved  -  event_id=-  -"
        );
    }
}
