//! Consumer Lambda: wiring only. Configuration is read and validated once, AWS clients are built
//! once, then every batch borrows them.

use lambda_runtime::{Error, service_fn};
use shared::config::{ConsumerConfig, ProcessEnv};
use shared::consumer::Consumer;
use shared::items::ItemsTable;
use shared::store::EventsTable;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();

    let config = ConsumerConfig::from_env(&ProcessEnv)?;
    let aws = aws_config::load_from_env().await;
    let consumer = Consumer::new(
        ItemsTable::from_sdk_config(&aws, config.items_table),
        EventsTable::from_sdk_config(&aws, config.events_table),
    );
    #[cfg(feature = "fault-drill")]
    let consumer = shared::drill::arm_consumer(consumer, &ProcessEnv)?;

    lambda_runtime::run(service_fn(|event| consumer::handle(&consumer, event))).await
}
