//! Fault drills for load tests of the local stack (feature `fault-drill`, never enabled in a
//! deployed build): a function aborts its own process, with a probability read from the
//! environment, at the points where a crash is hardest to recover from.
//!
//! It owns reading those probabilities and the decision to abort. Where the points are is owned by
//! `ingress` (after a claim, before the enqueue) and `consumer` (between the writes for one
//! message, and between the messages of a batch). Each abort first writes one line starting with
//! [`INGRESS_MARKER`] or [`CONSUMER_MARKER`] to standard error, so a load test can count the
//! crashes it caused.

use std::sync::Arc;

use crate::config::{ConfigError, Env};
use crate::consumer::{Consumer, StepHook};
use crate::ingress::{FaultHook, Ingress};

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

    fn strikes(self) -> bool {
        fastrand::f64() < self.probability
    }

    /// A hook for [`Ingress::with_after_claim_hook`] that aborts the process.
    pub fn ingress_hook(self) -> FaultHook {
        Arc::new(move |key| {
            if self.strikes() {
                eprintln!("{INGRESS_MARKER} after claiming {key}");
                std::process::abort();
            }
            Ok(())
        })
    }

    /// A hook for [`Consumer::with_step_hook`] that aborts the process.
    pub fn consumer_hook(self) -> StepHook {
        Arc::new(move |step, key| {
            if self.strikes() {
                eprintln!("{CONSUMER_MARKER} at {step:?} of {key}");
                std::process::abort();
            }
            Ok(())
        })
    }
}

fn invalid(var: &str) -> ConfigError {
    ConfigError::Invalid {
        var: var.to_owned(),
        reason: "not a probability between 0 and 1".to_owned(),
    }
}

/// The ingress with the drill of [`INGRESS_ABORT`] installed, if one is configured.
pub fn arm_ingress(ingress: Ingress, env: &impl Env) -> Result<Ingress, ConfigError> {
    Ok(match Drill::from_env(env, INGRESS_ABORT)? {
        Some(drill) => ingress.with_after_claim_hook(drill.ingress_hook()),
        None => ingress,
    })
}

/// The consumer with the drill of [`CONSUMER_ABORT`] installed, if one is configured.
pub fn arm_consumer(consumer: Consumer, env: &impl Env) -> Result<Consumer, ConfigError> {
    Ok(match Drill::from_env(env, CONSUMER_ABORT)? {
        Some(drill) => consumer.with_step_hook(drill.consumer_hook()),
        None => consumer,
    })
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
