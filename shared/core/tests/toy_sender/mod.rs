//! A toy third sender, "Acme Scores", written as a new sender would be: this folder alone holds
//! its payload type, idempotency key, subject, rule, record and notification. Acme posts an
//! account's credit score, `{"event_id", "account", "score", "scored_at"}`, signed with a hex
//! HMAC; the latest score by `scored_at` is the account's score.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use webhook_core::config::Scheme;
use webhook_core::key::{self, IdempotencyKey};
use webhook_core::senders::{EventError, Notify, Outcome, Sender};
use webhook_core::timeline::Disposition;

/// The sender.
pub struct AcmeScores;

/// One delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct ScoreEvent {
    pub event_id: String,
    pub account: String,
    pub score: u32,
    pub scored_at: String,
}

/// The account's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account: String,
    pub score: u32,
    pub scored_at: String,
    pub applied: Vec<String>,
}

/// What Acme's users are told.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScoreNotice {
    ScoreChanged { account: String, score: u32 },
}

impl Notify for ScoreNotice {
    fn kind(&self) -> &'static str {
        "score_changed"
    }

    fn message(&self) -> String {
        let Self::ScoreChanged { account, score } = self;
        format!("The score of account {account} is now {score}.")
    }

    fn detail_type(&self) -> &'static str {
        "Score Changed"
    }
}

impl Sender for AcmeScores {
    const NAME: &'static str = "acme-scores";
    const SCHEME: Scheme = Scheme::HexHmac;
    const RECORD_KIND: &'static str = "account";
    type Event = ScoreEvent;
    type Record = Account;
    type Notification = ScoreNotice;

    fn parse(body: &[u8]) -> Result<ScoreEvent, EventError> {
        serde_json::from_slice(body).map_err(|err| EventError::schema(&err))
    }

    fn event_type(_: &ScoreEvent) -> Cow<'_, str> {
        Cow::Borrowed("score.updated")
    }

    fn subject(event: &ScoreEvent) -> &str {
        &event.account
    }

    fn key(message_id: Option<&str>, event: &ScoreEvent) -> IdempotencyKey {
        match message_id {
            Some(id) => key::from_message_id(id),
            None => key::derived(&[Self::NAME, &event.event_id]),
        }
    }

    fn apply(
        current: Option<Account>,
        event: &ScoreEvent,
        key: &str,
    ) -> Outcome<Account, ScoreNotice> {
        let mut record = current.unwrap_or_else(|| Account {
            account: event.account.clone(),
            score: 0,
            scored_at: String::new(),
            applied: Vec::new(),
        });
        record.applied.push(key.to_owned());
        // RFC 3339 UTC stamps of one format compare as text.
        if event.scored_at <= record.scored_at {
            return Outcome {
                record,
                notification: None,
                disposition: Disposition::OutOfOrder,
            };
        }
        let changed = record.score != event.score;
        record.score = event.score;
        record.scored_at.clone_from(&event.scored_at);
        Outcome {
            notification: changed.then(|| ScoreNotice::ScoreChanged {
                account: record.account.clone(),
                score: record.score,
            }),
            record,
            disposition: Disposition::Applied,
        }
    }

    fn has_applied(record: &Account, key: &str) -> bool {
        record.applied.iter().any(|k| k == key)
    }

    fn projections(record: &Account) -> Vec<(&'static str, Option<String>)> {
        vec![("score", Some(record.score.to_string()))]
    }

    fn occurred_at(_: &ScoreEvent) -> Option<time::OffsetDateTime> {
        None
    }

    fn subject_fields(record: &Account) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("account".to_owned(), record.account.clone().into())])
    }
}
