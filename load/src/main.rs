//! `webhook-load`: the load and fault test of the local stack. `scripts/load.sh` runs all three
//! commands in order; each reads the same environment variables as the functions and
//! `webhookctl` (`EVENTS_TABLE`, `ITEMS_TABLE`, `QUEUE_URL`, `EVENT_BUS_NAME`,
//! `EVENT_SOURCE_PREFIX`, `BUSINESS_EVENTS_QUEUE`, `SOURCE_*`), and `AWS_ENDPOINT_URL` names the
//! protocol server itself, never the proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use webhook_core::config::{DEFAULT_EVENT_SOURCE_PREFIX, Env, ProcessEnv};
use webhook_load::driver::{RunConfig, run};
use webhook_load::proxy::{FaultRates, Proxy};
use webhook_load::senders::{RetryPolicy, Secrets};
use webhook_load::snapshot::{Tables, TapWait};
use webhook_load::workload::Spec;
use webhook_tools::provision;

#[derive(Debug, Parser)]
#[command(
    name = "webhook-load",
    about = "Load and fault test of the local stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the tables and queues as `webhookctl provision` does, but with a short visibility
    /// timeout so that redeliveries happen within the run, and the business events bus
    /// (`EVENT_BUS_NAME`) with its tap (`BUSINESS_EVENTS_QUEUE`). Prints QUEUE_URL=...,
    /// DLQ_URL=... and BUSINESS_EVENTS_TAP_URL=....
    Provision {
        /// The events queue's visibility timeout, in seconds.
        #[arg(long, env = "LOAD_VISIBILITY_TIMEOUT", default_value_t = 5)]
        visibility_timeout: u32,
    },
    /// Serve the fault-injecting proxy in front of the protocol server until stopped.
    Proxy {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// The DynamoDB protocol server, e.g. http://127.0.0.1:5000.
        #[arg(long)]
        dynamodb: String,
        /// The SQS protocol server (may be the same).
        #[arg(long)]
        sqs: String,
        /// Share of SQS SendMessage calls refused with a server error.
        #[arg(long, env = "LOAD_SQS_SEND_ERROR", default_value_t = 0.0)]
        sqs_send_error: f64,
        /// Share of SQS SendMessage calls enqueued, then answered with a server error.
        #[arg(long, env = "LOAD_SQS_SEND_ERROR_AFTER_ENQUEUE", default_value_t = 0.0)]
        sqs_send_error_after_enqueue: f64,
        /// Share of DynamoDB calls throttled.
        #[arg(long, env = "LOAD_DYNAMODB_THROTTLE", default_value_t = 0.0)]
        dynamodb_throttle: f64,
        /// Share of EventBridge PutEvents calls refused with a server error.
        #[arg(long, env = "LOAD_PUT_EVENTS_ERROR", default_value_t = 0.0)]
        put_events_error: f64,
        /// Share of EventBridge PutEvents calls published, then answered with a server error.
        #[arg(
            long,
            env = "LOAD_PUT_EVENTS_ERROR_AFTER_PUBLISH",
            default_value_t = 0.0
        )]
        put_events_error_after_publish: f64,
        /// Seed of the fault draws.
        #[arg(long, env = "LOAD_SEED", default_value_t = 1)]
        seed: u64,
    },
    /// Send the workload, wait for the pipeline to drain, reconcile and print the table. Exits
    /// non-zero when anything was lost, applied twice, wrongly refused or wrongly accepted.
    Run {
        /// The ingress function URL (without /webhooks/{source}).
        #[arg(long, env = "INGRESS_URL")]
        ingress_url: String,
        /// Webhook deliveries in total.
        #[arg(long, env = "LOAD_WEBHOOKS", default_value_t = 10_000)]
        webhooks: usize,
        /// Concurrent senders.
        #[arg(long, env = "LOAD_SENDERS", default_value_t = 32)]
        senders: usize,
        /// RNG seed of the workload and the senders' jitter (random when unset; always printed).
        #[arg(long, env = "LOAD_SEED")]
        seed: Option<u64>,
        /// Share of deliveries that re-send an earlier one.
        #[arg(long, default_value_t = 0.2)]
        duplicates: f64,
        /// Share of deliveries that are forged.
        #[arg(long, default_value_t = 0.05)]
        forged: f64,
        /// Attempts per delivery.
        #[arg(long, default_value_t = 12)]
        max_attempts: u32,
        /// Seconds before an unanswered attempt counts as a connection failure.
        #[arg(long, env = "LOAD_REQUEST_TIMEOUT", default_value_t = 10)]
        request_timeout: u64,
        /// Seconds the queue must stay empty to count as drained; at least the functions'
        /// invocation timeout, so that no invocation a sender gave up on is still running.
        #[arg(long, env = "LOAD_SETTLE", default_value_t = 3)]
        settle: u64,
        /// Seconds the queue may go without shrinking before the drain is given up.
        #[arg(long, default_value_t = 300)]
        drain_stall: u64,
        /// The queue every business event is delivered to (printed by `provision`).
        #[arg(long, env = "BUSINESS_EVENTS_TAP_URL")]
        tap_url: String,
        /// The business events' source prefix, as the consumer is configured.
        #[arg(long, env = "EVENT_SOURCE_PREFIX", default_value = DEFAULT_EVENT_SOURCE_PREFIX)]
        event_source_prefix: String,
        /// Seconds the tap may stay silent, with business events still missing, before the
        /// arrivals count as complete.
        #[arg(long, default_value_t = 30)]
        tap_quiet: u64,
        /// The longest the tap is read, in seconds.
        #[arg(long, default_value_t = 300)]
        tap_limit: u64,
        /// The sample payloads.
        #[arg(long, default_value = "events/payloads")]
        templates: PathBuf,
        /// The fault proxy, for its counts.
        #[arg(long, env = "LOAD_PROXY_URL")]
        proxy_url: Option<String>,
        /// A functions' log to count fault drill aborts in (repeatable).
        #[arg(long)]
        drill_log: Vec<PathBuf>,
    },
}

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("webhook-load: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(Cli::parse().command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("webhook-load: {err}");
            ExitCode::from(2)
        }
    }
}

fn var(name: &str) -> Result<String, Failure> {
    ProcessEnv
        .var(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is not set").into())
}

async fn dispatch(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Provision { visibility_timeout } => {
            let aws = aws_config::load_from_env().await;
            let dynamo = aws_sdk_dynamodb::Client::new(&aws);
            provision::ensure_table(&dynamo, &var("EVENTS_TABLE")?, provision::EVENTS_TABLE)
                .await?;
            provision::ensure_table(&dynamo, &var("ITEMS_TABLE")?, provision::ITEMS_TABLE).await?;
            let queues = provision::ensure_queues(
                &aws_sdk_sqs::Client::new(&aws),
                &var("QUEUE_NAME")?,
                &var("DLQ_NAME")?,
                visibility_timeout,
            )
            .await?;
            let prefix = ProcessEnv
                .var("EVENT_SOURCE_PREFIX")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_EVENT_SOURCE_PREFIX.to_owned());
            let bus = provision::ensure_bus(
                &aws,
                &var("EVENT_BUS_NAME")?,
                &prefix,
                &var("BUSINESS_EVENTS_QUEUE")?,
            )
            .await?;
            println!("QUEUE_URL={}", queues.queue_url);
            println!("DLQ_URL={}", queues.dlq_url);
            println!("BUSINESS_EVENTS_TAP_URL={}", bus.tap_url);
            Ok(ExitCode::SUCCESS)
        }
        Command::Proxy {
            listen,
            dynamodb,
            sqs,
            sqs_send_error,
            sqs_send_error_after_enqueue,
            dynamodb_throttle,
            put_events_error,
            put_events_error_after_publish,
            seed,
        } => {
            let rates = FaultRates {
                sqs_send_error,
                sqs_send_error_after_enqueue,
                dynamodb_throttle,
                put_events_error,
                put_events_error_after_publish,
            };
            let proxy = Arc::new(Proxy::new(&dynamodb, &sqs, rates, seed)?);
            let listener = tokio::net::TcpListener::bind(listen).await?;
            eprintln!(
                "fault proxy: {listen} -> DynamoDB {dynamodb}, SQS and EventBridge {sqs}, {rates:?}"
            );
            tokio::select! {
                served = webhook_load::proxy::serve(listener, proxy.clone()) => served?,
                _ = tokio::signal::ctrl_c() => {}
            }
            eprintln!("fault proxy: {:?}", proxy.stats());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            ingress_url,
            webhooks,
            senders,
            seed,
            duplicates,
            forged,
            max_attempts,
            request_timeout,
            settle,
            drain_stall,
            tap_url,
            event_source_prefix,
            tap_quiet,
            tap_limit,
            templates,
            proxy_url,
            drill_log,
        } => {
            let seed = seed.unwrap_or_else(|| {
                let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
                high % 1_000_000_000
            });
            let mut spec = Spec::new(webhooks, seed);
            spec.duplicate_share = duplicates;
            spec.forged_share = forged;
            let aws = aws_config::load_from_env().await;
            let config = RunConfig {
                spec,
                senders,
                templates,
                ingress_url,
                secrets: Secrets::from_env(&ProcessEnv)?,
                policy: RetryPolicy {
                    max_attempts,
                    request_timeout: Duration::from_secs(request_timeout),
                    ..RetryPolicy::default()
                },
                tables: Tables {
                    dynamo: aws_sdk_dynamodb::Client::new(&aws),
                    sqs: aws_sdk_sqs::Client::new(&aws),
                    events_table: var("EVENTS_TABLE")?,
                    items_table: var("ITEMS_TABLE")?,
                    queue_url: var("QUEUE_URL")?,
                    dlq_url: var("DLQ_URL")?,
                    tap_url,
                    bus_source_prefix: event_source_prefix,
                },
                settle: Duration::from_secs(settle),
                drain_stall: Duration::from_secs(drain_stall),
                tap_wait: TapWait {
                    quiet: Duration::from_secs(tap_quiet),
                    limit: Duration::from_secs(tap_limit),
                },
                proxy_url,
                drill_logs: drill_log,
            };
            let report = run(config).await?;
            println!("{}", report.render(seed, senders));
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
