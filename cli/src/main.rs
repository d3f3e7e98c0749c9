//! `webhookctl`: operator and local-development commands for the webhook receiver.
//!
//! Every command reads its settings from environment variables with the names the Lambdas use
//! (`EVENTS_TABLE`, `ITEMS_TABLE`, `QUEUE_URL`, `SOURCE_*`), so it works against AWS as it is and
//! against the local stack once `local.env` is loaded (the `make` targets do that). The receiver's
//! logic lives in the library crates (`webhook_core`, `webhook_aws`, `webhook_tools`); the on-call
//! logic (listing stored events, the replay and dead-letter rules) in this binary's `events`,
//! `replay` and `dlq` modules, and reading the business events bus's tap in `bus`; the rest parses
//! arguments and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use webhook_aws::ItemsTable;
use webhook_aws::items_table::record_pk;
use webhook_core::config::{
    DEFAULT_EVENT_SOURCE_PREFIX, Env, ProcessEnv, Scheme, source_prefix, source_sender,
};
use webhook_core::consumer::QueueRecord;
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ports::{RecordId, RecordsStore};
use webhook_core::senders::cr3dentials::Cr3dentials;
use webhook_core::senders::legitmark::Legitmark;
use webhook_core::senders::{self, Payload, Sender};
use webhook_tools::poller::Poller;
use webhook_tools::{provision, sender};

mod bus;
mod dlq;
mod events;
mod operate;
mod replay;

#[derive(Debug, Parser)]
#[command(
    name = "webhookctl",
    about = "Operate and develop the webhook receiver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the tables and queues with the deployed settings, a Secrets Manager secret per
    /// source from its SOURCE_<NAME>_* credentials, and the business events bus (EVENT_BUS_NAME)
    /// with a rule delivering every business event to the tap queue (BUSINESS_EVENTS_QUEUE)
    /// (local stack only; AWS resources come from template.yaml). Prints QUEUE_URL=...,
    /// BUSINESS_EVENTS_QUEUE_URL=... and SOURCE_<NAME>_SECRET_ARN=... for the caller to export.
    Provision,
    /// Play the SQS event source mapping: poll QUEUE_URL in batches, invoke the consumer, delete
    /// what succeeded and leave reported failures to the redrive policy. Stops on Ctrl-C.
    Poll {
        /// The consumer's invoke endpoint (cargo lambda watch serves one per function).
        #[arg(long, env = "CONSUMER_INVOKE_URL")]
        invoke_url: String,
    },
    /// Sign a payload file as its sender would, at the current time, and POST it to the ingress
    /// (over TLS for an https URL, such as a deployed function URL).
    Send {
        /// A payload file, e.g. events/payloads/legitmark/state_change_qc_approved.json.
        file: PathBuf,
        /// The ingress: its base URL (/webhooks/{source} is appended), or the webhook URL itself,
        /// ending in /webhooks/{source} (e.g. the stack's WebhookUrlLegitmark output).
        #[arg(long, env = "INGRESS_URL")]
        url: String,
        /// A PEM file of CA certificates to trust besides the system roots (e.g. a test CA).
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<PathBuf>,
        /// Source name; by default the file's folder name.
        #[arg(long)]
        source: Option<String>,
        /// Message id for Standard Webhooks sources; by default a fresh one per delivery.
        #[arg(long)]
        id: Option<String>,
    },
    /// List stored events or show one (raw body, headers, what became of it).
    #[command(subcommand)]
    Events(operate::EventsCommand),
    /// Put stored events back on the queue under their original keys (dry run unless --execute).
    Replay(operate::ReplayArgs),
    /// Inspect the dead-letter queue, or move its messages back (dry run unless --execute).
    #[command(subcommand)]
    Dlq(operate::DlqCommand),
    /// Read the business events bus through its tap queue.
    #[command(subcommand)]
    Bus(bus::BusCommand),
    /// Show what the consumer made of an item (or, with --verification, a Cr3dentials session):
    /// the record, and each notification with whether its business event was published.
    Show {
        /// Item id (the partner's reference_id, else the sr_uuid) or session id.
        id: String,
        /// Look up a verification session instead of an item.
        #[arg(long)]
        verification: bool,
    },
    /// Re-sign every sample payload at the current time into function-URL requests under
    /// DIR/requests (for `cargo lambda invoke ingress --data-file ...`), and write SQS batches
    /// for the consumer under DIR/consumer.
    Resign {
        /// The events folder.
        #[arg(long, default_value = "events")]
        dir: PathBuf,
    },
}

pub(crate) type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("webhookctl: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Provision => provision().await,
        Command::Poll { invoke_url } => poll(&invoke_url).await,
        Command::Send {
            file,
            url,
            ca_cert,
            source,
            id,
        } => send(&file, &url, ca_cert.as_deref(), source, id).await,
        Command::Events(command) => operate::events(command).await,
        Command::Replay(args) => operate::replay(args).await,
        Command::Dlq(command) => operate::dlq(command).await,
        Command::Bus(command) => bus::bus(command).await,
        Command::Show { id, verification } => show(&id, verification).await,
        Command::Resign { dir } => resign(&dir),
    }
}

pub(crate) fn var(name: &str) -> Result<String, Failure> {
    ProcessEnv
        .var(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is not set").into())
}

/// The sender whose payloads `source` sends and how its deliveries are signed, as the ingress
/// would configure it.
fn configured_sender(source: &str) -> Result<(Arc<dyn Payload>, Scheme), Failure> {
    let registry = senders::builtin();
    source_sender(&ProcessEnv, &registry, source).ok_or_else(|| {
        let prefix = source_prefix(source);
        let known: Vec<&str> = registry.names().collect();
        format!(
            "no sender for source {source}: set {prefix}PAYLOAD (one of {}) and {prefix}SCHEME \
             (standard-webhooks or hex-hmac)",
            known.join(", ")
        )
        .into()
    })
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn provision() -> Result<(), Failure> {
    let aws = aws_config::load_from_env().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    provision::ensure_table(&dynamo, &var("EVENTS_TABLE")?, provision::EVENTS_TABLE).await?;
    provision::ensure_table(&dynamo, &var("ITEMS_TABLE")?, provision::ITEMS_TABLE).await?;
    let queues = provision::ensure_queues(
        &aws_sdk_sqs::Client::new(&aws),
        &var("QUEUE_NAME")?,
        &var("DLQ_NAME")?,
        provision::VISIBILITY_TIMEOUT_SECS,
    )
    .await?;
    println!("QUEUE_URL={}", queues.queue_url);
    println!("DLQ_URL={}", queues.dlq_url);
    // The consumer's default when EVENT_SOURCE_PREFIX is unset: the tap must match its sources.
    let event_source_prefix = ProcessEnv
        .var("EVENT_SOURCE_PREFIX")
        .map(|prefix| prefix.trim().to_owned())
        .filter(|prefix| !prefix.is_empty())
        .unwrap_or_else(|| DEFAULT_EVENT_SOURCE_PREFIX.to_owned());
    let tap = provision::ensure_bus(
        &aws,
        &var("EVENT_BUS_NAME")?,
        &event_source_prefix,
        &var("BUSINESS_EVENTS_QUEUE")?,
    )
    .await?;
    println!("BUSINESS_EVENTS_QUEUE_URL={}", tap.tap_url);
    let secret_prefix = ProcessEnv
        .var("SECRET_NAME_PREFIX")
        .filter(|prefix| !prefix.trim().is_empty())
        .unwrap_or_else(|| "webhook/".to_owned());
    for (var, arn) in provision::ensure_source_secrets(&aws, &ProcessEnv, &secret_prefix).await? {
        println!("{var}={arn}");
    }
    Ok(())
}

async fn poll(invoke_url: &str) -> Result<(), Failure> {
    let aws = aws_config::load_from_env().await;
    let poller = Poller::new(
        aws_sdk_sqs::Client::new(&aws),
        var("QUEUE_URL")?,
        provision::BATCH_SIZE,
    )
    .wait_time(1);
    let http = reqwest::Client::new();
    eprintln!("poller: {} -> {invoke_url}", var("QUEUE_URL")?);
    loop {
        let polled = poller.poll_once(|records| invoke_consumer(&http, invoke_url, records));
        let stats = tokio::select! {
            stats = polled => stats?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        if stats.received > 0 {
            eprintln!(
                "poller: batch of {}, {} failed",
                stats.received, stats.failed
            );
        }
    }
}

/// Invokes the consumer with one batch; every message counts as failed if the call itself fails,
/// as the event source mapping would treat a failed invocation.
async fn invoke_consumer(
    http: &reqwest::Client,
    url: &str,
    records: Vec<QueueRecord>,
) -> Vec<String> {
    let all_ids = || {
        records
            .iter()
            .map(|r| r.message_id.clone())
            .collect::<Vec<_>>()
    };
    let event = sender::sqs_event(
        records
            .iter()
            .map(|r| (r.message_id.as_str(), r.body.as_str())),
    );
    let response = match http.post(url).body(event.to_string()).send().await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            eprintln!("poller: consumer answered {}", response.status());
            return all_ids();
        }
        Err(err) => {
            eprintln!("poller: consumer unreachable: {err}");
            return all_ids();
        }
    };
    let body: Value = match response.bytes().await.map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(body)) => body,
        _ => return all_ids(),
    };
    body["batchItemFailures"]
        .as_array()
        .map(|failures| {
            failures
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The source a payload file belongs to: its folder name.
fn source_of(file: &Path) -> Result<String, Failure> {
    file.parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "cannot tell the source of {}; pass --source",
                file.display()
            )
            .into()
        })
}

/// Headers the source's sender would attach, signed with the configured secrets.
fn signed_headers(
    source: &str,
    message_id: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, Failure> {
    let prefix = source_prefix(source);
    let secret = var(&format!("{prefix}SECRETS"))?;
    let first = |s: &str| {
        s.split([' ', ',', '\n'])
            .find(|x| !x.is_empty())
            .unwrap_or_default()
            .to_owned()
    };
    let (_, scheme) = configured_sender(source)?;
    let headers = match scheme {
        Scheme::HexHmac => {
            let name = ProcessEnv.var(&format!("{prefix}AUTH_HEADER_NAME"));
            let value = ProcessEnv.var(&format!("{prefix}AUTH_HEADER_VALUE"));
            let static_header = name.as_deref().zip(value.as_deref());
            sender::cr3dentials_headers(
                secret.lines().next().unwrap_or_default(),
                static_header,
                body,
            )?
        }
        Scheme::StandardWebhooks => {
            sender::legitmark_headers(&first(&secret), message_id, now_s(), body)?
        }
    };
    Ok(headers)
}

/// Where a delivery for `source` goes: `url` itself when it already ends in
/// `/webhooks/{source}`, else `url` with that path appended.
fn webhook_url(url: &str, source: &str) -> Result<reqwest::Url, Failure> {
    let mut target = reqwest::Url::parse(url).map_err(|e| format!("--url {url}: {e}"))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(format!("--url {url}: expected an http:// or https:// URL").into());
    }
    let segments: Vec<&str> = target
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    if let [.., "webhooks", named] = segments.as_slice() {
        if *named == source {
            let path = target.path().trim_end_matches('/').to_owned();
            target.set_path(&path);
            return Ok(target);
        }
        return Err(format!(
            "--url {url} is the webhook URL of source {named}, but the payload is signed as \
             {source}'s; pass --source {named} or the {source} URL"
        )
        .into());
    }
    target
        .path_segments_mut()
        .map_err(|()| format!("--url {url}: not a base URL"))?
        .pop_if_empty()
        .extend(["webhooks", source]);
    Ok(target)
}

/// The client `send` posts with: TLS through rustls, trusting the system roots and, with
/// `--ca-cert`, the certificates of that PEM file as well.
fn send_client(ca_cert: Option<&Path>) -> Result<reqwest::Client, Failure> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| format!("--ca-cert: reading {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("--ca-cert {}: {}", path.display(), error_chain(&e)))?;
        if certs.is_empty() {
            return Err(format!(
                "--ca-cert {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                path.display()
            )
            .into());
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| format!("setting up the HTTP client: {}", error_chain(&e)).into())
}

/// An error and its causes, one after the other (reqwest's own message names only the first).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let next = err.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = err.source();
    }
    text
}

/// Why a POST failed; for a refused server certificate, what `send` trusts and how to add a CA.
fn send_error(target: &reqwest::Url, err: reqwest::Error, ca_cert: Option<&Path>) -> Failure {
    let chain = error_chain(&err.without_url());
    if target.scheme() == "https" && chain.contains("certificate") {
        let advice = match ca_cert {
            Some(path) => format!("trusted: the system roots and {}", path.display()),
            None => "trusted: the system roots, which a deployed function URL chains to; for a \
                     test server, pass its CA with --ca-cert <pem>"
                .to_owned(),
        };
        return format!("POST {target}: TLS certificate refused: {chain} ({advice})").into();
    }
    format!("POST {target}: {chain}").into()
}

async fn send(
    file: &Path,
    url: &str,
    ca_cert: Option<&Path>,
    source: Option<String>,
    id: Option<String>,
) -> Result<(), Failure> {
    let source = match source {
        Some(source) => source,
        None => source_of(file)?,
    };
    let target = webhook_url(url, &source)?;
    let client = send_client(ca_cert)?;
    let body = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let message_id = id.unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let headers = signed_headers(&source, &message_id, &body)?;
    let mut request = client.post(target.clone()).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| send_error(&target, e, ca_cert))?;
    let status = response.status();
    println!(
        "{} {}",
        status.as_u16(),
        response.text().await.unwrap_or_default()
    );
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{target} answered {status}").into())
    }
}

async fn show(id: &str, verification: bool) -> Result<(), Failure> {
    let aws = aws_config::load_from_env().await;
    let items = ItemsTable::from_sdk_config(&aws, var("ITEMS_TABLE")?);
    let record_id = RecordId {
        kind: if verification {
            Cr3dentials::RECORD_KIND
        } else {
            Legitmark::RECORD_KIND
        },
        subject: id,
    };
    let record = items.load(record_id).await?;
    let notifications: Vec<Value> = items
        .notifications(record_id)
        .await?
        .iter()
        .map(operate::notification)
        .collect();
    let Some(record) = record else {
        return Err(format!("nothing recorded for {}", record_pk(record_id)).into());
    };
    let record: Value = serde_json::from_str(&record.json)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "record": record, "notifications": notifications }))?
    );
    Ok(())
}

fn payload_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    let mut files = Vec::new();
    for source in ["legitmark", "cr3dentials"] {
        for entry in std::fs::read_dir(dir.join("payloads").join(source))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push((source.to_owned(), path));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn write_json(path: &Path, value: &Value) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, format!("{}\n", serde_json::to_string_pretty(value)?))?;
    Ok(())
}

fn resign(dir: &Path) -> Result<(), Failure> {
    let mut batches: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (source, path) in payload_files(dir)? {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("event")
            .to_owned();
        let body = std::fs::read(&path)?;
        let message_id = format!("msg_{stem}");
        let headers = signed_headers(&source, &message_id, &body)?;
        let event = sender::function_url_event(
            "POST",
            &format!("/webhooks/{source}"),
            &headers,
            &body,
            false,
            &format!("req-{stem}"),
        );
        write_json(
            &dir.join("requests")
                .join(&source)
                .join(format!("{stem}.json")),
            &event,
        )?;

        // The consumer's input: the envelope the ingress would enqueue for this delivery.
        let (payload, scheme) = configured_sender(&source)?;
        if let Ok(parsed) = payload.parse(&body) {
            // Only Standard Webhooks deliveries carry a message id (the signed svix-id header).
            let id = (scheme == Scheme::StandardWebhooks).then_some(message_id.as_str());
            let key = parsed.key(id);
            let meta = EnvelopeMeta::for_event(
                &source,
                key.as_str(),
                payload.as_ref(),
                parsed.as_ref(),
                id,
                now_s() * 1000,
            );
            let envelope = meta.encode(std::str::from_utf8(&body)?)?;
            match batches.iter_mut().find(|(s, _)| *s == source) {
                Some((_, records)) => records.push((format!("sqs-{stem}"), envelope)),
                None => batches.push((source.clone(), vec![(format!("sqs-{stem}"), envelope)])),
            }
        }
    }
    for (source, records) in &batches {
        // Lambda delivers at most 10 records per batch (the template's BatchSize).
        for (n, chunk) in records.chunks(provision::BATCH_SIZE as usize).enumerate() {
            let event =
                sender::sqs_event(chunk.iter().map(|(id, body)| (id.as_str(), body.as_str())));
            write_json(
                &dir.join("consumer")
                    .join(format!("{source}_batch_{}.json", n + 1)),
                &event,
            )?;
        }
    }
    eprintln!(
        "re-signed {} requests under {}",
        payload_files(dir)?.len(),
        dir.join("requests").display()
    );
    Ok(())
}
