//! The workload: partner webhooks about many items and verification sessions, each following a
//! realistic lifecycle built from the sample payloads under `events/payloads/` with unique ids,
//! plus re-sent deliveries and forgeries, in one seeded, shuffled schedule.
//!
//! It owns what is sent and in which order, and each event's idempotency key as the ingress
//! derives it (through the sender registry, `webhook_core::senders`), so that reconciliation can
//! look every event up. It does not sign or send (`senders` does, at send time, as a real sender
//! signs each attempt) and it does no I/O beyond reading the templates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use webhook_core::senders::cr3dentials::Cr3dentials;
use webhook_core::senders::legitmark::Legitmark;
use webhook_core::senders::{Registry, Sender, builtin};

/// Reading the templates or building an event failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A template could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A template is not JSON.
    #[error("{path} is not JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A generated body does not parse as its sender's event (a template lacks a field).
    #[error("generated {template} body does not parse: {message}")]
    Event {
        /// The template it came from.
        template: String,
        /// Why.
        message: String,
    },
    /// A template the lifecycles need is missing.
    #[error("template {0} is missing")]
    MissingTemplate(String),
    /// The library's sender registry lacks a sender the workload speaks for.
    #[error("no sender named {0} is registered")]
    UnknownSender(Source),
}

/// The senders the workload speaks for, each delivered to the source named after it (as the local
/// configuration names them); the lifecycles, templates and signing here are each one's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Legitmark item authentication.
    Legitmark,
    /// Cr3dentials verification sessions.
    Cr3dentials,
}

impl Source {
    /// The sender's name ([`Sender::NAME`]), which is also the source's name in URLs and keys.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Legitmark => Legitmark::NAME,
            Self::Cr3dentials => Cr3dentials::NAME,
        }
    }

    /// What the sender's records are ([`Sender::RECORD_KIND`]).
    pub const fn record_kind(self) -> &'static str {
        match self {
            Self::Legitmark => Legitmark::RECORD_KIND,
            Self::Cr3dentials => Cr3dentials::RECORD_KIND,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The sample payloads, by source and file stem (e.g. `state_change_qc_pending`).
#[derive(Debug, Clone, Default)]
pub struct Templates {
    legitmark: BTreeMap<String, Value>,
    cr3dentials: BTreeMap<String, Value>,
}

impl Templates {
    /// Reads every `*.json` under `dir/legitmark` and `dir/cr3dentials`.
    pub fn load(dir: &Path) -> Result<Self, WorkloadError> {
        let mut templates = Self::default();
        for (source, map) in [
            ("legitmark", &mut templates.legitmark),
            ("cr3dentials", &mut templates.cr3dentials),
        ] {
            let folder = dir.join(source);
            let entries = std::fs::read_dir(&folder).map_err(|source| WorkloadError::Read {
                path: folder.clone(),
                source,
            })?;
            for entry in entries {
                let path = entry
                    .map_err(|source| WorkloadError::Read {
                        path: folder.clone(),
                        source,
                    })?
                    .path();
                let Some(stem) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .filter(|_| path.extension().is_some_and(|e| e == "json"))
                else {
                    continue;
                };
                let text = std::fs::read(&path).map_err(|source| WorkloadError::Read {
                    path: path.clone(),
                    source,
                })?;
                let value =
                    serde_json::from_slice(&text).map_err(|source| WorkloadError::Json {
                        path: path.clone(),
                        source,
                    })?;
                map.insert(stem.to_owned(), value);
            }
        }
        Ok(templates)
    }

    fn get(&self, kind: Source, name: &str) -> Result<Value, WorkloadError> {
        let map = match kind {
            Source::Legitmark => &self.legitmark,
            Source::Cr3dentials => &self.cr3dentials,
        };
        map.get(name)
            .cloned()
            .ok_or_else(|| WorkloadError::MissingTemplate(format!("{kind}/{name}")))
    }
}

/// How a forged delivery fails authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forgery {
    /// Signed with a secret that is not the receiver's.
    Signature,
    /// Correctly signed, with a timestamp ten minutes old (Standard Webhooks only).
    StaleTimestamp,
    /// Correctly signed, with the wrong static authentication header (Cr3dentials only).
    StaticHeader,
}

impl Forgery {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Signature => "forged signature",
            Self::StaleTimestamp => "stale timestamp",
            Self::StaticHeader => "wrong static header",
        }
    }
}

/// One event a sender may deliver.
#[derive(Debug, Clone)]
pub struct Event {
    /// Which sender, and so which payload schema.
    pub source: Source,
    /// The item id or session id it is about.
    pub subject: String,
    /// The Svix message id (Legitmark); Cr3dentials sends none.
    pub message_id: Option<String>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// The idempotency key the ingress derives for it.
    pub key: String,
    /// Which template it was built from.
    pub template: String,
    /// `Some` for an event that only ever travels as a forgery: it must never be stored.
    pub forgery: Option<Forgery>,
}

/// An item or verification session and its genuine events, in the order they happened.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Its sender.
    pub source: Source,
    /// The item id or session id.
    pub subject: String,
    /// Indices into [`Workload::events`].
    pub events: Vec<usize>,
}

/// Why a delivery is in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// The first delivery of a genuine event.
    Original,
    /// The same delivery sent again (same message id and body), as a retrying sender would;
    /// `concurrent` when it is scheduled right beside the original.
    Duplicate {
        /// Scheduled to go out at the same moment as the original.
        concurrent: bool,
    },
    /// A delivery that must fail authentication.
    Forged(Forgery),
}

/// One delivery: an event and why it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Index into [`Workload::events`].
    pub event: usize,
    /// Why.
    pub kind: DeliveryKind,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Deliveries in total (originals, duplicates and forgeries).
    pub webhooks: usize,
    /// Share of deliveries that re-send an earlier delivery.
    pub duplicate_share: f64,
    /// Share of duplicates scheduled beside their original, so that both are in flight at once.
    pub concurrent_duplicate_share: f64,
    /// Share of deliveries that are forged.
    pub forged_share: f64,
    /// Share of entities that are Cr3dentials sessions rather than Legitmark items.
    pub session_share: f64,
    /// The RNG seed.
    pub seed: u64,
}

impl Spec {
    /// The default mix for `webhooks` deliveries.
    pub fn new(webhooks: usize, seed: u64) -> Self {
        Self {
            webhooks,
            duplicate_share: 0.2,
            concurrent_duplicate_share: 0.5,
            forged_share: 0.05,
            session_share: 0.25,
            seed,
        }
    }

    /// How many originals, duplicates and forgeries make up [`Spec::webhooks`].
    pub fn split(&self) -> (usize, usize, usize) {
        let share = |s: f64| {
            let n = (self.webhooks as f64 * s.clamp(0.0, 1.0)).round();
            // In range: a share of a usize, rounded.
            n as usize
        };
        let forged = share(self.forged_share).min(self.webhooks);
        let duplicates = share(self.duplicate_share).min(self.webhooks - forged);
        let mut originals = self.webhooks - forged - duplicates;
        // A duplicate needs an original to copy.
        if originals == 0 && duplicates > 0 {
            originals = 1;
        }
        let duplicates = self.webhooks - forged - originals;
        (originals, duplicates, forged)
    }
}

/// The generated workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The seed it came from.
    pub seed: u64,
    /// Every event, genuine and forged.
    pub events: Vec<Event>,
    /// Every item and session.
    pub entities: Vec<Entity>,
    /// The deliveries in the order senders take them.
    pub schedule: Vec<Delivery>,
}

impl Workload {
    /// Indices of the genuine events.
    pub fn genuine(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.events.len()).filter(|&i| self.events[i].forgery.is_none())
    }
}

/// Legitmark lifecycles, as sequences of template names.
const AUTHENTIC: &[&str] = &[
    "state_change_draft",
    "state_change_qc_pending",
    "state_change_qc_approved",
    "state_change_underway_pending",
    "state_change_underway_assigned",
    "state_change_underway_approved",
    "state_change_complete_approved",
];
const COUNTERFEIT: &[&str] = &[
    "state_change_draft",
    "state_change_qc_pending",
    "state_change_qc_approved",
    "state_change_underway_pending",
    "state_change_underway_assigned",
    "state_change_complete_rejected",
];
const REUPLOAD_ROUND: &[&str] = &[
    "state_change_draft",
    "state_change_qc_pending",
    "state_change_qc_rejected",
    "media_rejected",
    "state_change_qc_pending",
    "state_change_qc_approved",
    "state_change_underway_pending",
    "state_change_underway_assigned",
    "state_change_complete_approved",
];
const TWO_REUPLOAD_ROUNDS: &[&str] = &[
    "state_change_qc_pending",
    "state_change_qc_rejected",
    "media_rejected",
    "state_change_qc_pending",
    "state_change_qc_rejected",
    "media_rejected",
    "state_change_qc_pending",
    "state_change_qc_approved",
    "state_change_underway_assigned",
    "state_change_complete_rejected",
];
const INVALIDATED: &[&str] = &[
    "state_change_draft",
    "state_change_qc_pending",
    "invalidate_sr",
];
const CANCELLED: &[&str] = &[
    "state_change_draft",
    "state_change_qc_pending",
    "state_change_qc_approved",
    "state_change_underway_pending",
    "state_change_cancelled",
];
const FAST_TRACKED: &[&str] = &[
    "state_change_qc_pending",
    "state_change_qc_complete",
    "state_change_complete_complete",
];
const ITEM_LIFECYCLES: &[&[&str]] = &[
    AUTHENTIC,
    AUTHENTIC,
    AUTHENTIC,
    COUNTERFEIT,
    REUPLOAD_ROUND,
    REUPLOAD_ROUND,
    TWO_REUPLOAD_ROUNDS,
    INVALIDATED,
    CANCELLED,
    FAST_TRACKED,
];
/// An event type the receiver does not know, slipped into some lifecycles.
const UNKNOWN_TYPE: &str = "unknown_event_type";

/// Cr3dentials session lifecycles: (template, whether it starts a new verification).
const SESSION_LIFECYCLES: &[&[(&str, bool)]] = &[
    &[("verification_completed", true)],
    &[("verification_completed", true)],
    &[
        ("verification_failed", true),
        ("manual_review_completed", false),
    ],
    &[
        ("verification_expired", true),
        ("verification_completed", true),
    ],
    &[("verification_failed", true)],
];

/// Generates the workload of `spec` from `templates`.
pub fn generate(spec: &Spec, templates: &Templates) -> Result<Workload, WorkloadError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let (originals, duplicates, forged) = spec.split();
    let mut builder = Builder {
        templates,
        registry: builtin(),
        seed: spec.seed,
        tag: format!("{:x}", spec.seed),
        events: Vec::new(),
        entities: Vec::new(),
    };

    while builder.events.len() < originals {
        let left = originals - builder.events.len();
        if rng.random_bool(spec.session_share.clamp(0.0, 1.0)) {
            builder.session(&mut rng, left)?;
        } else {
            builder.item(&mut rng, left)?;
        }
    }
    for _ in 0..forged {
        builder.forgery(&mut rng)?;
    }

    // Positions in [0, 1): sorting by them shuffles every lifecycle out of order. A concurrent
    // duplicate sits right behind its original, so two senders take both at once; a later one
    // anywhere after it.
    let mut positioned: Vec<(f64, Delivery)> = Vec::with_capacity(spec.webhooks);
    let mut original_at = Vec::with_capacity(originals);
    for (event, e) in builder.events.iter().enumerate() {
        let position = rng.random::<f64>();
        let kind = match e.forgery {
            Some(forgery) => DeliveryKind::Forged(forgery),
            None => {
                original_at.push((event, position));
                DeliveryKind::Original
            }
        };
        positioned.push((position, Delivery { event, kind }));
    }
    for _ in 0..duplicates {
        let Some(&(event, at)) = original_at.get(rng.random_range(0..original_at.len().max(1)))
        else {
            break;
        };
        let concurrent = rng.random_bool(spec.concurrent_duplicate_share.clamp(0.0, 1.0));
        let position = if concurrent {
            at
        } else {
            rng.random_range(at..=1.0)
        };
        positioned.push((
            position,
            Delivery {
                event,
                kind: DeliveryKind::Duplicate { concurrent },
            },
        ));
    }
    // Stable: a concurrent duplicate stays behind its original at the same position.
    positioned.sort_by(|a, b| a.0.total_cmp(&b.0));

    Ok(Workload {
        seed: spec.seed,
        events: builder.events,
        entities: builder.entities,
        schedule: positioned.into_iter().map(|(_, d)| d).collect(),
    })
}

struct Builder<'t> {
    templates: &'t Templates,
    registry: Registry,
    seed: u64,
    /// Goes into every id, so that runs with different seeds never share one.
    tag: String,
    events: Vec<Event>,
    entities: Vec<Entity>,
}

impl Builder<'_> {
    /// A Legitmark item with at most `limit` events (a cut-off lifecycle is an item still in
    /// progress).
    fn item(&mut self, rng: &mut ChaCha8Rng, limit: usize) -> Result<(), WorkloadError> {
        let n = self.entities.len();
        let sr_uuid = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        // Some partners set no reference id; the item is then known by its service request.
        let reference_id = (!rng.random_bool(0.1)).then(|| format!("load-{}-item-{n}", self.tag));
        let subject = reference_id.clone().unwrap_or_else(|| sr_uuid.to_string());

        let mut steps: Vec<&str> =
            ITEM_LIFECYCLES[rng.random_range(0..ITEM_LIFECYCLES.len())].to_vec();
        if rng.random_bool(0.1) {
            let at = rng.random_range(1..=steps.len());
            steps.insert(at, UNKNOWN_TYPE);
        }
        steps.truncate(limit);

        let mut at = start_time(rng);
        let mut indices = Vec::with_capacity(steps.len());
        for template in steps {
            at += Duration::seconds(rng.random_range(60..7_200))
                + Duration::milliseconds(rng.random_range(0..1_000));
            let mut body = self.templates.get(Source::Legitmark, template)?;
            body["sr_uuid"] = json!(sr_uuid.to_string());
            body["reference_id"] = json!(reference_id);
            body["timestamp"] = json!(legitmark_time(at));
            indices.push(self.push(Source::Legitmark, template, &subject, &body, None)?);
        }
        self.entities.push(Entity {
            source: Source::Legitmark,
            subject,
            events: indices,
        });
        Ok(())
    }

    /// A Cr3dentials session with at most `limit` events.
    fn session(&mut self, rng: &mut ChaCha8Rng, limit: usize) -> Result<(), WorkloadError> {
        let n = self.entities.len();
        // Session ids are numbers, as the sender documents; the seed keeps runs apart.
        let session_id = (self.seed % 100_000 + 1) * 10_000_000 + n as u64;
        let lifecycle = SESSION_LIFECYCLES[rng.random_range(0..SESSION_LIFECYCLES.len())];
        let mut at = start_time(rng);
        let mut verification = String::new();
        let mut indices = Vec::new();
        for (i, (template, fresh)) in lifecycle.iter().take(limit).enumerate() {
            if *fresh {
                verification = format!("ver_{}_{n}_{i}", self.tag);
            }
            at += Duration::seconds(rng.random_range(60..86_400));
            let body = self.session_body(template, session_id, &verification, at)?;
            indices.push(self.push(
                Source::Cr3dentials,
                template,
                &session_id.to_string(),
                &body,
                None,
            )?);
        }
        self.entities.push(Entity {
            source: Source::Cr3dentials,
            subject: session_id.to_string(),
            events: indices,
        });
        Ok(())
    }

    fn session_body(
        &self,
        template: &str,
        session_id: u64,
        verification: &str,
        at: OffsetDateTime,
    ) -> Result<Value, WorkloadError> {
        let mut body = self.templates.get(Source::Cr3dentials, template)?;
        body["data"]["sessionId"] = json!(session_id);
        body["data"]["verificationId"] = json!(verification);
        let stamp = json!(cr3dentials_time(at));
        let metadata = &mut body["data"]["metadata"];
        // Each template says when it happened in its own field(s); move them all to `at`.
        for field in ["verifiedAt", "failedAt", "expiredAt", "reviewCompletedAt"] {
            if metadata.get(field).is_some() {
                metadata[field] = stamp.clone();
            }
        }
        if metadata.get("createdAt").is_some() {
            metadata["createdAt"] = json!(cr3dentials_time(at - Duration::days(1)));
        }
        Ok(body)
    }

    /// A forged delivery about an existing entity: an event that, were it accepted, would become
    /// the entity's current state (it is later than every genuine one), so that acceptance could
    /// not go unnoticed.
    fn forgery(&mut self, rng: &mut ChaCha8Rng) -> Result<(), WorkloadError> {
        let Some(entity) = self
            .entities
            .get(rng.random_range(0..self.entities.len().max(1)))
        else {
            return Ok(());
        };
        let (source, subject) = (entity.source, entity.subject.clone());
        let last = entity.events.last().map(|&i| &self.events[i]);
        let n = self.events.len();
        match source {
            Source::Legitmark => {
                let forgery = if rng.random_bool(0.5) {
                    Forgery::Signature
                } else {
                    Forgery::StaleTimestamp
                };
                let mut body: Value = match last {
                    Some(event) => {
                        serde_json::from_slice(&event.body).map_err(|e| WorkloadError::Event {
                            template: event.template.clone(),
                            message: e.to_string(),
                        })?
                    }
                    None => return Ok(()),
                };
                let template = "state_change_complete_rejected";
                let mut forged = self.templates.get(Source::Legitmark, template)?;
                forged["sr_uuid"] = body["sr_uuid"].take();
                forged["reference_id"] = body["reference_id"].take();
                forged["timestamp"] = json!(legitmark_time(far_future(rng)));
                self.push(
                    Source::Legitmark,
                    template,
                    &subject,
                    &forged,
                    Some(forgery),
                )?;
            }
            Source::Cr3dentials => {
                let forgery = if rng.random_bool(0.5) {
                    Forgery::Signature
                } else {
                    Forgery::StaticHeader
                };
                let session_id: u64 = subject.parse().unwrap_or_default();
                let verification = format!("ver_{}_forged_{n}", self.tag);
                let template = "verification_completed";
                let body =
                    self.session_body(template, session_id, &verification, far_future(rng))?;
                self.push(
                    Source::Cr3dentials,
                    template,
                    &subject,
                    &body,
                    Some(forgery),
                )?;
            }
        }
        Ok(())
    }

    fn push(
        &mut self,
        source: Source,
        template: &str,
        subject: &str,
        body: &Value,
        forgery: Option<Forgery>,
    ) -> Result<usize, WorkloadError> {
        let index = self.events.len();
        let body = serde_json::to_vec(body).map_err(|e| WorkloadError::Event {
            template: template.to_owned(),
            message: e.to_string(),
        })?;
        let message_id =
            (source == Source::Legitmark).then(|| format!("msg_load{}_{index}", self.tag));
        // Parsed and keyed by the sender as the ingress finds it, by the source's name.
        let parsed = self
            .registry
            .get(source.name())
            .ok_or(WorkloadError::UnknownSender(source))?
            .parse(&body)
            .map_err(|e| WorkloadError::Event {
                template: template.to_owned(),
                message: e.to_string(),
            })?;
        let key = parsed.key(message_id.as_deref()).to_string();
        self.events.push(Event {
            source,
            subject: subject.to_owned(),
            message_id,
            body,
            key,
            template: template.to_owned(),
            forgery,
        });
        Ok(index)
    }
}

fn start_time(rng: &mut ChaCha8Rng) -> OffsetDateTime {
    // 2026-03-01T00:00:00Z plus up to thirty days.
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_772_323_200 + rng.random_range(0..30 * 86_400))
}

/// Later than any genuine event (those start within thirty days and last at most a few days).
fn far_future(rng: &mut ChaCha8Rng) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_780_000_000 + rng.random_range(0..86_400))
}

/// Legitmark's format: `2026-03-02T09:23:15.330Z`.
fn legitmark_time(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Cr3dentials' format: `2026-03-02T14:30:12Z`.
fn cr3dentials_time(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn templates() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/payloads")).unwrap()
    }

    fn workload(webhooks: usize, seed: u64) -> Workload {
        generate(&Spec::new(webhooks, seed), &templates()).unwrap()
    }

    #[test]
    fn split_adds_up_to_the_requested_deliveries() {
        for webhooks in [0, 1, 2, 7, 100, 1_000, 10_000] {
            let (originals, duplicates, forged) = Spec::new(webhooks, 1).split();

            assert_eq!(originals + duplicates + forged, webhooks);
        }
        assert_eq!(Spec::new(10_000, 1).split(), (7_500, 2_000, 500));
    }

    #[test]
    fn schedule_has_the_requested_mix() {
        let workload = workload(1_000, 7);
        let count = |f: &dyn Fn(&DeliveryKind) -> bool| {
            workload.schedule.iter().filter(|d| f(&d.kind)).count()
        };

        assert_eq!(workload.schedule.len(), 1_000);
        assert_eq!(count(&|k| *k == DeliveryKind::Original), 750);
        assert_eq!(count(&|k| matches!(k, DeliveryKind::Duplicate { .. })), 200);
        assert_eq!(count(&|k| matches!(k, DeliveryKind::Forged(_))), 50);
        assert_eq!(workload.genuine().count(), 750);
    }

    #[test]
    fn same_seed_same_workload_other_seed_other_order() {
        let a = workload(500, 42);
        let b = workload(500, 42);
        let c = workload(500, 43);
        let bodies = |w: &Workload| -> Vec<Vec<u8>> {
            w.schedule
                .iter()
                .map(|d| w.events[d.event].body.clone())
                .collect()
        };

        assert_eq!(bodies(&a), bodies(&b));
        assert_ne!(bodies(&a), bodies(&c));
    }

    #[test]
    fn every_event_has_its_own_key_and_every_entity_its_own_subject() {
        let workload = workload(2_000, 3);
        let keys: HashSet<(Source, &str)> = workload
            .events
            .iter()
            .map(|e| (e.source, e.key.as_str()))
            .collect();
        let subjects: HashSet<(Source, &str)> = workload
            .entities
            .iter()
            .map(|e| (e.source, e.subject.as_str()))
            .collect();

        assert_eq!(keys.len(), workload.events.len());
        assert_eq!(subjects.len(), workload.entities.len());
    }

    #[test]
    fn every_genuine_event_belongs_to_exactly_one_entity_about_its_subject() {
        let workload = workload(2_000, 5);
        let mut owner = HashMap::new();
        for (n, entity) in workload.entities.iter().enumerate() {
            for &event in &entity.events {
                assert!(owner.insert(event, n).is_none());
                let parsed = builtin()
                    .get(entity.source.name())
                    .unwrap()
                    .parse(&workload.events[event].body)
                    .unwrap();
                assert_eq!(parsed.subject(), entity.subject);
            }
        }

        assert_eq!(owner.len(), workload.genuine().count());
    }

    #[test]
    fn lifecycles_are_delivered_out_of_order() {
        let workload = workload(2_000, 11);
        let position: HashMap<usize, usize> = workload
            .schedule
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == DeliveryKind::Original)
            .map(|(i, d)| (d.event, i))
            .collect();
        let reordered = workload
            .entities
            .iter()
            .filter(|e| {
                e.events
                    .windows(2)
                    .any(|w| position[&w[0]] > position[&w[1]])
            })
            .count();

        assert!(reordered * 2 > workload.entities.len(), "{reordered}");
    }

    #[test]
    fn concurrent_duplicates_sit_right_behind_a_delivery_of_the_same_event() {
        let workload = workload(2_000, 13);
        let mut concurrent = 0;
        for (i, delivery) in workload.schedule.iter().enumerate() {
            if delivery.kind == (DeliveryKind::Duplicate { concurrent: true }) {
                concurrent += 1;
                assert_eq!(workload.schedule[i - 1].event, delivery.event);
            }
        }

        assert!(concurrent > 100, "{concurrent}");
    }

    #[test]
    fn forgeries_are_later_than_every_genuine_event_of_their_entity() {
        let workload = workload(2_000, 17);
        let forged: Vec<&Event> = workload
            .events
            .iter()
            .filter(|e| e.forgery.is_some())
            .collect();
        let kinds: HashSet<Forgery> = forged.iter().filter_map(|e| e.forgery).collect();

        assert_eq!(forged.len(), 100);
        assert_eq!(kinds.len(), 3);
        for event in forged {
            let entity = workload
                .entities
                .iter()
                .find(|x| x.source == event.source && x.subject == event.subject)
                .unwrap();
            let at = |e: &Event| {
                let body: Value = serde_json::from_slice(&e.body).unwrap();
                let metadata = &body["data"]["metadata"];
                let text = ["verifiedAt", "failedAt", "expiredAt"]
                    .iter()
                    .find_map(|f| metadata[*f].as_str())
                    .or(body["timestamp"].as_str())
                    .unwrap()
                    .to_owned();
                OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .unwrap()
            };
            assert!(
                entity
                    .events
                    .iter()
                    .all(|&i| at(&workload.events[i]) < at(event))
            );
        }
    }
}
