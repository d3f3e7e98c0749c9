//! Consumer Lambda: wiring only. Configuration is read and validated once, AWS clients are built
//! once, then every batch borrows them.

use lambda_runtime::{Error, service_fn};
use webhook_aws::{EventBridgeBus, EventsTable, ItemsTable};
use webhook_core::config::{ConsumerConfig, ProcessEnv};
use webhook_core::consumer::Consumer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();

    let config = ConsumerConfig::from_env(&ProcessEnv)?;
    let aws = webhook_aws::https::load_config().await?;
    let items = ItemsTable::from_sdk_config(&aws, config.items_table);
    let events = EventsTable::from_sdk_config(&aws, config.events_table);
    #[cfg(feature = "fault-drill")]
    let (events, items) = webhook_tools::drill::arm_consumer(events, items, &ProcessEnv)?;
    let bus = EventBridgeBus::from_sdk_config(&aws, config.event_bus, config.event_source_prefix);
    let consumer = Consumer::new(items, events).with_bus(bus);

    lambda_runtime::run(service_fn(|event| consumer::handle(&consumer, event))).await
}
