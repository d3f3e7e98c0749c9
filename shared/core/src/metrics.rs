//! Counters in CloudWatch Embedded Metric Format (EMF), one JSON line on stdout per call.
//!
//! It owns the EMF document shape only. Lambda forwards stdout to CloudWatch Logs, which turns
//! these lines into metrics without any API call on the request path. Which counter to bump is the
//! caller's decision.

use serde_json::json;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "WebhookReceiver";

/// The EMF line counting one occurrence of `metric` for `function`, at `timestamp_ms`.
pub fn emf_line(function: &str, metric: &str, timestamp_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        "Function": function,
        metric: 1,
    })
    .to_string()
}

/// Writes one count of `metric` to stdout.
pub fn count(function: &str, metric: &str, timestamp_ms: i64) {
    println!("{}", emf_line(function, metric, timestamp_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_the_metric_it_carries() {
        let line: serde_json::Value =
            serde_json::from_str(&emf_line("ingress", "accepted", 1_700_000_000_000)).unwrap();

        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "accepted"
        );
        assert_eq!(line["accepted"], 1);
        assert_eq!(line["Function"], "ingress");
    }
}
