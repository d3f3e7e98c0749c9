//! Secrets Manager, the [`SecretStore`] port: one secret per source, holding its signing secrets
//! and static header as a JSON document (`webhook_core::config::SecretDocument`).
//!
//! It owns the GetSecretValue call and the mapping of its failures: a secret that does not exist
//! (or has no current value) is [`SecretStoreError::NotFound`], a binary one
//! [`SecretStoreError::NotText`], anything else a retryable
//! [`SecretStoreError::Unavailable`] with the service's error code and message. The value itself
//! is returned to the caller only, never logged nor put in an error. It does not parse the
//! document, nor decide when to read it again (`webhook_core::config::LiveSources` does).

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use webhook_core::ports::{SecretStore, SecretStoreError};

use crate::sdk::sdk_failure;

/// The sources' secrets in Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client from shared SDK configuration (honours `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl SecretStore for SecretsManager {
    async fn get(&self, id: &str) -> Result<String, SecretStoreError> {
        let output = match self.client.get_secret_value().secret_id(id).send().await {
            Ok(output) => output,
            Err(err) => {
                return Err(match err.as_service_error() {
                    Some(GetSecretValueError::ResourceNotFoundException(_)) => {
                        SecretStoreError::NotFound
                    }
                    _ => SecretStoreError::Unavailable(sdk_failure(&err)),
                });
            }
        };
        match (output.secret_string, output.secret_binary) {
            (Some(text), _) => Ok(text),
            (None, Some(_)) => Err(SecretStoreError::NotText),
            (None, None) => Err(SecretStoreError::NotFound),
        }
    }
}
