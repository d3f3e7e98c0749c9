//! The functions' HTTPS client against moto (`make test` starts it): it still reaches the plain-HTTP
//! loopback endpoint that `AWS_ENDPOINT_URL` names, with the environment's region and credentials.

#![cfg(feature = "dynamodb")]

use aws_config::BehaviorVersion;
use webhook_aws::https::amazon_roots_client;

#[tokio::test]
async fn amazon_roots_client_reaches_the_endpoint_from_the_environment() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run these tests with `make test`, which starts moto");
    assert!(
        endpoint.starts_with("http://"),
        "moto is plain HTTP on loopback"
    );
    let client = amazon_roots_client().expect("the TLS context builds");
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(client)
        .load()
        .await;
    assert_eq!(aws.endpoint_url(), Some(endpoint.as_str()));

    let tables = aws_sdk_dynamodb::Client::new(&aws)
        .list_tables()
        .limit(1)
        .send()
        .await
        .expect("moto answers through the Amazon-roots client");
    assert!(tables.table_names().len() <= 1);
}
