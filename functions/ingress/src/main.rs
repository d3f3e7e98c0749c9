//! Ingress Lambda: wiring only. Configuration is read and validated once, AWS clients are built
//! once, then every invocation borrows them. Sources whose credentials are in Secrets Manager
//! (`SOURCE_<NAME>_SECRET_ARN`) have their secrets read before the first invocation (a missing or
//! malformed one stops start-up) and again every `SECRETS_REFRESH_SECONDS`.
//!
//! The function takes the function-URL event itself rather than going through `lambda_http`, whose
//! request conversion panics on a body flagged base64 that is not; here such a body gets a 400.

use lambda_runtime::{Error, service_fn};
use webhook_aws::{EventQueue, EventsTable, SecretsManager};
use webhook_core::clock::system_clock;
use webhook_core::config::{IngressConfig, LiveSources, ProcessEnv};
use webhook_core::ingress::Ingress;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();

    let config = IngressConfig::from_env(&ProcessEnv)?;
    let aws = webhook_aws::https::load_config().await?;
    let table = EventsTable::from_sdk_config(&aws, config.events_table.clone());
    let queue = EventQueue::from_sdk_config(&aws, config.queue_url.clone());
    #[cfg(feature = "fault-drill")]
    let queue = webhook_tools::drill::arm_ingress(queue, &ProcessEnv)?;
    let sources = if config.secret_sources.is_empty() {
        None
    } else {
        let store = SecretsManager::from_sdk_config(&aws);
        Some(LiveSources::load(&config, store, system_clock()).await?)
    };
    let mut ingress = Ingress::new(config, table, queue);
    if let Some(sources) = sources {
        ingress = ingress.with_sources(sources);
    }

    lambda_runtime::run(service_fn(|event| ingress::handle(&ingress, event))).await
}
