//! Listing the events table for operators: which stored events match a filter, newest first,
//! without their bodies.
//!
//! It owns the Scan and its filter expression over the table's attributes; the item layout and
//! the reading of one entry stay with the adapter (`webhook_aws::events_table`), whose
//! [`event_record`] turns each listed item into an [`EventRecord`].

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use webhook_aws::events_table::{
    EventRecord, LISTED, RECEIVED_AT, SOURCE, STATUS, SUBJECT, event_record,
};
use webhook_aws::sdk::sdk_failure;
use webhook_core::ports::{EventStatus, StoreError};

/// Which events a listing returns; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this source.
    pub source: Option<String>,
    /// Only this status.
    pub status: Option<EventStatus>,
    /// Only events about this item or session.
    pub subject: Option<String>,
    /// Received at or after, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Received before, Unix milliseconds.
    pub until_ms: Option<i64>,
}

/// Every event of the events table `table` matching `filter`, newest first, without bodies.
///
/// A filtered Scan reads the whole table: fine for an operator's occasional question over a
/// table whose items expire after the retention period, not for a hot path.
pub async fn list(
    client: &Client,
    table: &str,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut request = client.scan().table_name(table).projection_expression(
        LISTED
            .iter()
            .map(|name| format!("#{name}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for name in LISTED {
        request = request.expression_attribute_names(format!("#{name}"), name);
    }
    let mut conditions = Vec::new();
    if let Some(source) = &filter.source {
        conditions.push(format!("#{SOURCE} = :source"));
        request = request.expression_attribute_values(":source", AttributeValue::S(source.clone()));
    }
    if let Some(status) = filter.status {
        conditions.push(format!("#{STATUS} = :status"));
        request = request
            .expression_attribute_values(":status", AttributeValue::S(status.as_str().into()));
    }
    if let Some(subject) = &filter.subject {
        conditions.push(format!("#{SUBJECT} = :subject"));
        request =
            request.expression_attribute_values(":subject", AttributeValue::S(subject.clone()));
    }
    if let Some(since) = filter.since_ms {
        conditions.push(format!("#{RECEIVED_AT} >= :since"));
        request = request.expression_attribute_values(":since", number(since));
    }
    if let Some(until) = filter.until_ms {
        conditions.push(format!("#{RECEIVED_AT} < :until"));
        request = request.expression_attribute_values(":until", number(until));
    }
    if !conditions.is_empty() {
        request = request.filter_expression(conditions.join(" AND "));
    }

    let mut records = Vec::new();
    let mut start = None;
    loop {
        let output = request
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| StoreError::Unavailable {
                operation: "Scan",
                message: sdk_failure(&err),
            })?;
        for item in output.items() {
            records.push(event_record(item)?);
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    records.sort_by(|a, b| {
        (b.received_at_ms, &b.source, &b.key).cmp(&(a.received_at_ms, &a.source, &a.key))
    });
    Ok(records)
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
