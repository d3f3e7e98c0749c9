//! The SDK configuration a deployed function builds its clients from, and its HTTPS client.
//!
//! The SDK's default client loads the host's whole certificate store while the clients are built
//! (on Debian the CA bundle and every file of `/etc/ssl/certs`, about 290): half of a function's
//! start-up (docs/BENCHMARKS.md). Every endpoint a function calls (DynamoDB, SQS, Secrets Manager,
//! and STS for the credential chain) serves a certificate that chains to Amazon Trust Services'
//! roots, so the functions trust those five roots, compiled in, and read no certificate file. The
//! client is otherwise the SDK's default one: hyper 1 and rustls on aws-lc-rs, plain HTTP allowed
//! (moto on loopback), endpoints, region and credentials from the environment as before.
//!
//! A host that needs roots of its own (a TLS-inspecting proxy, a local HTTPS endpoint) names them
//! with `SSL_CERT_FILE` or `SSL_CERT_DIR`: the function then uses the SDK's default client, which
//! loads that store (and honours the proxy variables).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, HttpClientError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Root CA 1, 2, 3 and 4 and Starfield Services Root Certificate Authority - G2 (PEM): the
/// roots Amazon Trust Services' certificates chain to, as AWS lists them for its endpoints. Their
/// SHA-256 fingerprints, in that order (`openssl x509 -noout -fingerprint -sha256`):
/// 8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E,
/// 1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4,
/// 18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4,
/// E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092,
/// 568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("amazon_trust_services.pem");

/// The variables that name a certificate store of the host's own.
const HOST_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The SDK's HTTPS client (rustls on aws-lc-rs) trusting Amazon Trust Services' roots only.
///
/// # Errors
/// When the TLS context cannot be built (it has no fallible input today).
pub fn amazon_roots_client() -> Result<SharedHttpClient, HttpClientError> {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS))
        .build()?;
    Ok(Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

/// The SDK configuration from the environment, with [`amazon_roots_client`] unless
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` names a certificate store of the host's own.
///
/// # Errors
/// As [`amazon_roots_client`].
pub async fn load_config() -> Result<SdkConfig, HttpClientError> {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = if HOST_STORE_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        loader
    } else {
        loader.http_client(amazon_roots_client()?)
    };
    Ok(loader.load().await)
}
