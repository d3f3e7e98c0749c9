//! The dead-letter queue: reading what landed there, telling poison from the merely unlucky, and
//! moving messages back to the events queue.
//!
//! It owns the SQS calls on the dead-letter queue and the poison rule: a message that is not an
//! envelope this code reads, names a sender the consumer does not know, or whose payload does not
//! parse would fail again forever, so it stays in the dead-letter queue for a person. Everything else failed for a reason a retry can outlive
//! (throttling, an outage, a since-fixed bug) and may go back. Redriving is safe to repeat: messages
//! keep their idempotency key, and the consumer applies each key once.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName,
};

use webhook_aws::sdk::sdk_failure;
use webhook_core::envelope::{Envelope, EnvelopeMeta, VERSION};
use webhook_core::senders::{self, Registry};

/// An SQS call on the dead-letter queue failed, or the queue has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DlqError {
    /// The call failed.
    #[error("SQS {operation} failed: {message}")]
    Unavailable {
        /// The API operation.
        operation: &'static str,
        /// A body-free description.
        message: String,
    },
    /// The events queue has no redrive policy naming a dead-letter queue.
    #[error("{0} has no dead-letter queue (no RedrivePolicy)")]
    NoDeadLetterQueue(String),
}

fn failed<E, R>(operation: &'static str, err: &aws_sdk_sqs::error::SdkError<E, R>) -> DlqError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    DlqError::Unavailable {
        operation,
        message: sdk_failure(err),
    }
}

/// What to do with a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It may go back to the events queue.
    Redrive,
    /// It would fail again; it stays in the dead-letter queue, for this reason.
    Poison(String),
}

/// Whether a message body could ever succeed: it must be a current envelope whose payload is of a
/// sender of `registry` and parses as that sender's. Returns the envelope's routing fields when it
/// has them.
pub fn classify(body: &str, registry: &Registry) -> (Option<EnvelopeMeta>, Verdict) {
    let envelope = match Envelope::decode(body) {
        Ok(envelope) => envelope,
        Err(err) => return (None, Verdict::Poison(format!("not an envelope: {err}"))),
    };
    let verdict = if envelope.meta.v != VERSION {
        Verdict::Poison(format!(
            "envelope version {} is not {VERSION}",
            envelope.meta.v
        ))
    } else {
        match envelope.event(registry) {
            Some(Ok(_)) => Verdict::Redrive,
            Some(Err(err)) => Verdict::Poison(format!("payload does not parse: {err}")),
            None => Verdict::Poison(format!(
                "no sender of payload kind {:?} is registered",
                envelope.meta.payload_kind
            )),
        }
    };
    (Some(envelope.meta), verdict)
}

/// One message read from the dead-letter queue, held invisible to others until released,
/// redriven or its hold runs out.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The SQS message id.
    pub message_id: String,
    /// The message body (an envelope, unless poison).
    pub body: String,
    /// Its routing fields, when the body is an envelope.
    pub meta: Option<EnvelopeMeta>,
    /// Redrive or keep aside.
    pub verdict: Verdict,
    /// Receives so far (those on the events queue included).
    pub receive_count: u32,
    /// When it was first sent, Unix milliseconds.
    pub sent_at_ms: i64,
    attributes: HashMap<String, String>,
    receipt_handle: String,
}

/// The dead-letter queue of the events queue.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: Client,
    url: String,
    /// The senders the consumer knows: payloads of any other kind are poison.
    registry: Registry,
}

impl DeadLetterQueue {
    /// Wraps a client and the dead-letter queue's URL; payloads are read as the built-in senders'.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            registry: senders::builtin(),
        }
    }

    /// The dead-letter queue named by `queue_url`'s redrive policy.
    pub async fn of_queue(client: Client, queue_url: &str) -> Result<Self, DlqError> {
        let attributes = client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|err| failed("GetQueueAttributes", &err))?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
            .and_then(|policy| policy["deadLetterTargetArn"].as_str().map(str::to_owned))
            .ok_or_else(|| DlqError::NoDeadLetterQueue(queue_url.to_owned()))?;
        // arn:aws:sqs:{region}:{account}:{name}
        let mut parts = arn.rsplit(':');
        let (name, account) = (parts.next().unwrap_or_default(), parts.next());
        let url = client
            .get_queue_url()
            .queue_name(name)
            .set_queue_owner_aws_account_id(account.map(str::to_owned))
            .send()
            .await
            .map_err(|err| failed("GetQueueUrl", &err))?
            .queue_url
            .ok_or_else(|| DlqError::NoDeadLetterQueue(queue_url.to_owned()))?;
        Ok(Self::new(client, url))
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Reads up to `max` messages, holding each invisible for `hold_secs` so one pass sees each
    /// message once. Call [`release`](Self::release) for those not redriven.
    pub async fn read(&self, max: usize, hold_secs: u32) -> Result<Vec<DeadLetter>, DlqError> {
        let hold = i32::try_from(hold_secs).unwrap_or(i32::MAX);
        let mut letters: Vec<DeadLetter> = Vec::new();
        while letters.len() < max {
            let want = i32::try_from((max - letters.len()).min(10)).unwrap_or(10);
            let output = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(want)
                .visibility_timeout(hold)
                // A short wait: short polls may miss messages on a quiet queue.
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|err| failed("ReceiveMessage", &err))?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let system = |name| {
                    message
                        .attributes()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let body = message.body().unwrap_or_default().to_owned();
                let (meta, verdict) = classify(&body, &self.registry);
                let attributes = message
                    .message_attributes()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .filter_map(|(name, value)| {
                                Some((name.clone(), value.string_value()?.to_owned()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let letter = DeadLetter {
                    message_id: message.message_id().unwrap_or_default().to_owned(),
                    body,
                    meta,
                    verdict,
                    receive_count: u32::try_from(system(
                        MessageSystemAttributeName::ApproximateReceiveCount,
                    ))
                    .unwrap_or(0),
                    sent_at_ms: system(MessageSystemAttributeName::SentTimestamp),
                    attributes,
                    receipt_handle: message.receipt_handle().unwrap_or_default().to_owned(),
                };
                if !letters.iter().any(|l| l.message_id == letter.message_id) {
                    letters.push(letter);
                }
            }
        }
        Ok(letters)
    }

    /// Makes `letters` visible again at once.
    pub async fn release(&self, letters: &[DeadLetter]) -> Result<(), DlqError> {
        for chunk in letters.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(n, letter)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(&letter.receipt_handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| DlqError::Unavailable {
                            operation: "ChangeMessageVisibilityBatch",
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| failed("ChangeMessageVisibilityBatch", &err))?;
        }
        Ok(())
    }

    /// Sends `letter` to `queue_url` with its body and attributes, then deletes it here; returns the
    /// new message id. Send comes first: a failure in between leaves a copy in both queues, which
    /// the consumer's idempotency absorbs, never none.
    pub async fn redrive(&self, letter: &DeadLetter, queue_url: &str) -> Result<String, DlqError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(&letter.body);
        for (name, value) in &letter.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| DlqError::Unavailable {
                    operation: "SendMessage",
                    message: e.to_string(),
                })?;
            send = send.message_attributes(name, value);
        }
        let sent = send
            .send()
            .await
            .map_err(|err| failed("SendMessage", &err))?;
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map_err(|err| failed("DeleteMessage", &err))?;
        Ok(sent.message_id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_with_parseable_payloads_are_redriven() {
        let body = r#"{"meta":{"v":1,"source":"cr3dentials","key":"derived:a","payload_kind":"cr3dentials","event_type":"verification.completed","subject":"7","received_at_ms":1},"payload":{"type":"verification.completed","status":"success","data":{"verificationId":"ver_1","sessionId":7,"status":"VERIFIED"}}}"#;
        let (meta, verdict) = classify(body, &senders::builtin());
        assert_eq!(verdict, Verdict::Redrive);
        assert_eq!(meta.map(|m| m.key), Some("derived:a".to_owned()));
    }

    #[test]
    fn bodies_that_would_fail_forever_are_poison() {
        let unparseable = r#"{"meta":{"v":1,"source":"cr3dentials","key":"k","payload_kind":"cr3dentials","event_type":"x","subject":"7","received_at_ms":1},"payload":{"type":7}}"#;
        let future = unparseable.replace("\"v\":1", "\"v\":9");
        let unknown_sender = r#"{"meta":{"v":1,"source":"acme","key":"k","payload_kind":"acme","event_type":"x","subject":"7","received_at_ms":1},"payload":{}}"#;
        for body in [
            "not json",
            "{}",
            unparseable,
            future.as_str(),
            unknown_sender,
        ] {
            assert!(
                matches!(classify(body, &senders::builtin()).1, Verdict::Poison(_)),
                "{body} should be poison"
            );
        }
    }
}
