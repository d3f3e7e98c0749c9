//! Counters in CloudWatch Embedded Metric Format (EMF), one JSON line on stdout per call.
//!
//! It owns the EMF document shape and its dimensions: `Stack` (the one variable it reads itself,
//! `STACK_NAME`, once; `local` when unset, so two stacks in one account keep their figures apart),
//! `Function`, and, where the caller names one, `Source`. Lambda forwards stdout to CloudWatch
//! Logs, which turns these lines into metrics without any API call on the request path. Which
//! counter to bump is the caller's decision.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "WebhookReceiver";
/// The variable naming the stack, set by the template on every function.
pub const STACK_VAR: &str = "STACK_NAME";
/// The stack dimension's value where [`STACK_VAR`] is unset or empty (the local stack).
pub const LOCAL_STACK: &str = "local";

/// The `Stack` dimension's value: `STACK_NAME`, read on first use.
pub fn stack() -> &'static str {
    static STACK: OnceLock<String> = OnceLock::new();
    STACK.get_or_init(|| {
        std::env::var(STACK_VAR)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| LOCAL_STACK.to_owned())
    })
}

/// The EMF line counting one occurrence of `metric` for `function` of `stack`, at `timestamp_ms`.
///
/// The count is published under `[Stack, Function]`; with a `source`, also under
/// `[Stack, Function, Source]`, so alarms can watch the whole function or one sender.
pub fn emf_line(
    stack: &str,
    function: &str,
    source: Option<&str>,
    metric: &str,
    timestamp_ms: i64,
) -> String {
    let mut dimensions = vec![json!(["Stack", "Function"])];
    let mut line = Map::new();
    line.insert("Stack".into(), stack.into());
    line.insert("Function".into(), function.into());
    if let Some(source) = source {
        dimensions.push(json!(["Stack", "Function", "Source"]));
        line.insert("Source".into(), source.into());
    }
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        }),
    );
    line.insert(metric.into(), 1.into());
    Value::Object(line).to_string()
}

/// Writes one count of `metric` for `function` to stdout.
pub fn count(function: &str, metric: &str, timestamp_ms: i64) {
    count_for_source(function, None, metric, timestamp_ms);
}

/// Writes one count of `metric` for `function` and, when known, the `source` it concerns.
pub fn count_for_source(function: &str, source: Option<&str>, metric: &str, timestamp_ms: i64) {
    println!(
        "{}",
        emf_line(stack(), function, source, metric, timestamp_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn emf_line_declares_the_metric_it_carries_under_stack_and_function() {
        let line = parsed(&emf_line(
            "prod",
            "ingress",
            None,
            "accepted",
            1_700_000_000_000,
        ));

        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Metrics"][0]["Name"], "accepted");
        assert_eq!(declared["Dimensions"], json!([["Stack", "Function"]]));
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(line["accepted"], 1);
        assert_eq!(line["Stack"], "prod");
        assert_eq!(line["Function"], "ingress");
        assert!(line.get("Source").is_none());
    }

    #[test]
    fn emf_line_with_a_source_also_counts_under_the_source() {
        let line = parsed(&emf_line(
            "prod",
            "ingress",
            Some("legitmark"),
            "rejected_signature",
            1_700_000_000_000,
        ));

        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack", "Function"], ["Stack", "Function", "Source"]])
        );
        assert_eq!(line["Source"], "legitmark");
        assert_eq!(line["rejected_signature"], 1);
    }

    #[test]
    fn every_declared_dimension_has_a_value_on_the_line() {
        let line = parsed(&emf_line(
            "s",
            "consumer",
            Some("cr3dentials"),
            "processed",
            0,
        ));

        for set in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap()
        {
            for name in set.as_array().unwrap() {
                assert!(
                    line[name.as_str().unwrap()].is_string(),
                    "{name} has no value"
                );
            }
        }
    }

    #[test]
    fn stack_is_never_empty() {
        assert!(!stack().is_empty());
    }
}
