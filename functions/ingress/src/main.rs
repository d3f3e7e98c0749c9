//! Ingress Lambda: wiring only. Configuration is read and validated once, AWS clients are built
//! once, then every invocation borrows them.
//!
//! The function takes the function-URL event itself rather than going through `lambda_http`, whose
//! request conversion panics on a body flagged base64 that is not; here such a body gets a 400.

use lambda_runtime::{Error, service_fn};
use webhook_aws::{EventQueue, EventsTable};
use webhook_core::config::{IngressConfig, ProcessEnv};
use webhook_core::ingress::Ingress;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();

    let config = IngressConfig::from_env(&ProcessEnv)?;
    let aws = aws_config::load_from_env().await;
    let table = EventsTable::from_sdk_config(&aws, config.events_table.clone());
    let queue = EventQueue::from_sdk_config(&aws, config.queue_url.clone());
    #[cfg(feature = "fault-drill")]
    let queue = webhook_tools::drill::arm_ingress(queue, &ProcessEnv)?;
    let ingress = Ingress::new(config, table, queue);

    lambda_runtime::run(service_fn(|event| ingress::handle(&ingress, event))).await
}
