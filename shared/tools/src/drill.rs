//! Fault drills for load tests of the local stack: a function aborts its own process, with a
//! probability read from the environment, at the points where a crash is hardest to recover from.
//!
//! A drill wraps a port adapter, so the services carry no fault seam of their own: the ingress's
//! queue aborts before a send (the event is claimed, not enqueued); the consumer's records store
//! aborts after a notification and after a record is written, and its events log after an event is
//! marked done (between the writes for one message, and between the messages of a batch), through
//! the [`AfterWrites`] decorator of `hooks`. The
//! functions install these only with their `fault-drill` feature, which no deployed build enables.
//! Each abort first writes one line starting with [`INGRESS_MARKER`] or [`CONSUMER_MARKER`] to
//! standard error, so a load test can count the crashes it caused.

use webhook_core::config::{ConfigError, Env};
use webhook_core::envelope::EnvelopeMeta;
use webhook_core::ports::{EventsLog, Queue, QueueError, RecordsStore, StoreError};

use crate::hooks::{AfterWrite, AfterWrites};

/// Probability that the ingress aborts right after claiming an event.
pub const INGRESS_ABORT: &str = "FAULT_DRILL_INGRESS_ABORT";
/// Probability that the consumer aborts at each step of handling a message.
pub const CONSUMER_ABORT: &str = "FAULT_DRILL_CONSUMER_ABORT";
/// How the ingress's abort lines start.
pub const INGRESS_MARKER: &str = "fault drill: aborting the ingress";
/// How the consumer's abort lines start.
pub const CONSUMER_MARKER: &str = "fault drill: aborting the consumer";

/// A probability of aborting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drill {
    probability: f64,
}

impl Drill {
    /// The drill configured by `var`; `None` when it is unset or zero.
    pub fn from_env(env: &impl Env, var: &str) -> Result<Option<Self>, ConfigError> {
        let Some(text) = env.var(var).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let probability: f64 = text.trim().parse().map_err(|_| invalid(var))?;
        if !(0.0..=1.0).contains(&probability) {
            return Err(invalid(var));
        }
        Ok((probability > 0.0).then_some(Self { probability }))
    }

    /// Aborts the process with the drill's probability, saying where first.
    fn strike(drill: Option<Self>, marker: &str, place: &str, key: &str) {
        if drill.is_some_and(|d| fastrand::f64() < d.probability) {
            eprintln!("{marker} {place} {key}");
            std::process::abort();
        }
    }
}

fn invalid(var: &str) -> ConfigError {
    ConfigError::Invalid {
        var: var.to_owned(),
        reason: "not a probability between 0 and 1".to_owned(),
    }
}

/// The ingress's queue, aborting before a send: after the claim, before the enqueue.
#[derive(Debug, Clone)]
pub struct DrillQueue<Q> {
    inner: Q,
    drill: Option<Drill>,
}

impl<Q: Queue> Queue for DrillQueue<Q> {
    async fn send(&self, meta: &EnvelopeMeta, payload: &str) -> Result<String, QueueError> {
        Drill::strike(self.drill, INGRESS_MARKER, "after claiming", &meta.key);
        self.inner.send(meta, payload).await
    }
}

/// The ingress's queue with the drill of [`INGRESS_ABORT`], if one is configured.
pub fn arm_ingress<Q: Queue>(queue: Q, env: &impl Env) -> Result<DrillQueue<Q>, ConfigError> {
    Ok(DrillQueue {
        inner: queue,
        drill: Drill::from_env(env, INGRESS_ABORT)?,
    })
}

/// The consumer's events log and records store, each with the consumer's drill.
pub type Drilled<L, R> = (AfterWrites<L, ConsumerDrill>, AfterWrites<R, ConsumerDrill>);

/// The consumer's drill: after a notification, a record or a processed mark is written.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerDrill(Option<Drill>);

impl AfterWrite for ConsumerDrill {
    fn after(&self, operation: &'static str, key: &str) -> Result<(), StoreError> {
        let place = match operation {
            "put_notification" => "after notifying for",
            "save" => "after saving the record of",
            "mark_done" => "after marking done",
            _ => return Ok(()),
        };
        Drill::strike(self.0, CONSUMER_MARKER, place, key);
        Ok(())
    }
}

/// The consumer's events log and records store with the drill of [`CONSUMER_ABORT`], if one is
/// configured.
pub fn arm_consumer<L: EventsLog, R: RecordsStore>(
    log: L,
    records: R,
    env: &impl Env,
) -> Result<Drilled<L, R>, ConfigError> {
    let drill = ConsumerDrill(Drill::from_env(env, CONSUMER_ABORT)?);
    Ok((
        AfterWrites::new(log, drill),
        AfterWrites::new(records, drill),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(INGRESS_ABORT.to_owned(), value.to_owned())])
    }

    #[test]
    fn unset_or_zero_probability_installs_no_drill() {
        assert_eq!(Drill::from_env(&BTreeMap::new(), INGRESS_ABORT), Ok(None));
        assert_eq!(Drill::from_env(&env("0"), INGRESS_ABORT), Ok(None));
    }

    #[test]
    fn probability_outside_zero_to_one_is_refused_naming_the_variable() {
        for bad in ["1.5", "-0.1", "often", "NaN"] {
            let err = Drill::from_env(&env(bad), INGRESS_ABORT).unwrap_err();

            assert!(err.to_string().contains(INGRESS_ABORT), "{bad}: {err}");
        }
    }

    #[test]
    fn probability_is_read() {
        assert_eq!(
            Drill::from_env(&env("0.25"), INGRESS_ABORT),
            Ok(Some(Drill { probability: 0.25 }))
        );
    }
}
