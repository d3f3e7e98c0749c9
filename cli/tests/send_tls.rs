//! `webhookctl send` over TLS: a test CA and a server certificate for 127.0.0.1 are made here, an
//! HTTPS server on loopback records what it receives, and the real binary is run as an operator
//! would run it against a deployed function URL. No AWS endpoint is involved.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use webhook_core::headers::Headers;
use webhook_core::verify::{SigningKey, StandardWebhooks};

/// The Legitmark signing secret of these tests (a test value, never a deployed one).
const SECRET: &str = "whsec_c2VuZC10bHMgdGVzdCBzaWduaW5nIGtleSAzMiBieQ==";

/// A hang guard only: every wait below ends as soon as the event arrives.
const GUARD: Duration = Duration::from_secs(60);

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events/payloads/legitmark/state_change_qc_pending.json")
}

/// What the server saw on one connection.
#[derive(Debug)]
enum Seen {
    Request {
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The TLS handshake did not complete (the client refused the certificate).
    HandshakeFailed(String),
}

struct TlsServer {
    port: u16,
    /// The test CA's certificate, PEM, in a file of its own.
    ca_pem: PathBuf,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl TlsServer {
    /// A test CA, a certificate for 127.0.0.1 issued by it, and an HTTPS server on a free
    /// loopback port that answers every request 200 `{"status":"accepted"}`.
    async fn start(name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "webhookctl send_tls test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("send_tls");
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = dir.join(format!("{name}-{}-ca.pem", std::process::id()));
        std::fs::write(&ca_pem, ca_cert.pem()).unwrap();

        let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(err) => {
                            let _ = tx.send(Seen::HandshakeFailed(err.to_string()));
                            return;
                        }
                    };
                    let service = service_fn(move |request: Request<Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes().to_vec();
                            let headers = parts
                                .headers
                                .iter()
                                .map(|(name, value)| {
                                    let value = value.to_str().unwrap_or_default().to_owned();
                                    (name.as_str().to_owned(), value)
                                })
                                .collect();
                            let _ = tx.send(Seen::Request {
                                path: parts.uri.path().to_owned(),
                                headers,
                                body,
                            });
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                                br#"{"status":"accepted"}"#,
                            ))))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { port, ca_pem, seen }
    }

    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(GUARD, self.seen.recv())
            .await
            .expect("the server saw nothing")
            .expect("the server stopped")
    }
}

/// Runs the real binary with only the settings `send` reads (and no proxy between it and
/// loopback).
async fn webhookctl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_webhookctl"));
        command.args(&args).env("SOURCE_LEGITMARK_SECRETS", SECRET);
        for var in [
            "INGRESS_URL",
            "SOURCE_LEGITMARK_PAYLOAD",
            "SOURCE_LEGITMARK_SCHEME",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            command.env_remove(var);
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn send_args(url: &str, ca_pem: Option<&PathBuf>) -> Vec<String> {
    let mut args = vec!["send".to_owned(), "--url".to_owned(), url.to_owned()];
    if let Some(path) = ca_pem {
        args.extend(["--ca-cert".to_owned(), path.display().to_string()]);
    }
    args.push(sample().display().to_string());
    args
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn now_s() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Asserts that `seen` is a delivery of the sample to `/webhooks/legitmark`, signed with the
/// Legitmark secret as Svix signs.
fn assert_signed_delivery(seen: Seen) {
    let Seen::Request {
        path,
        headers,
        body,
    } = seen
    else {
        panic!("expected a request, the server saw {seen:?}");
    };
    assert_eq!(path, "/webhooks/legitmark");
    assert_eq!(body, std::fs::read(sample()).unwrap(), "the sample's bytes");
    let verifier = StandardWebhooks::new(vec![SigningKey::from_whsec(SECRET).unwrap()]).unwrap();
    let headers = Headers::from_pairs(headers);
    let verified = verifier
        .verify(&body, &headers, now_s())
        .unwrap_or_else(|e| panic!("the delivery does not verify: {e}"));
    assert_eq!(verified.key_index, Some(0));
    assert!(
        verified.message_id.is_some_and(|id| id.starts_with("msg_")),
        "a fresh Svix message id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_the_test_ca_delivers_a_signed_request_over_tls() {
    let mut server = TlsServer::start("trusted").await;

    // The webhook URL itself, as the stack's output gives it.
    let url = format!("https://127.0.0.1:{}/webhooks/legitmark", server.port);
    let output = webhookctl(send_args(&url, Some(&server.ca_pem))).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "send failed: {stderr}");
    assert_eq!(stdout.trim(), r#"200 {"status":"accepted"}"#);
    assert_signed_delivery(server.next_seen().await);

    // The base URL: send appends /webhooks/{source}; and the webhook URL with a trailing slash.
    for url in [
        format!("https://127.0.0.1:{}/", server.port),
        format!("{url}/"),
    ] {
        let output = webhookctl(send_args(&url, Some(&server.ca_pem))).await;
        assert!(
            output.status.success(),
            "send failed: {}",
            text(&output.stderr)
        );
        assert_signed_delivery(server.next_seen().await);
    }

    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_without_the_ca_fails_on_the_certificate() {
    let mut server = TlsServer::start("untrusted").await;
    let url = format!("https://127.0.0.1:{}/webhooks/legitmark", server.port);

    let output = webhookctl(send_args(&url, None)).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "send succeeded without the CA");
    assert!(
        stderr.contains("TLS certificate refused") && stderr.contains("--ca-cert"),
        "not a clear certificate error: {stderr}"
    );
    assert!(!stderr.contains(SECRET), "the secret was printed");

    // The client refused the handshake, naming the unknown CA: no request reached the server.
    assert!(
        stderr.contains("UnknownIssuer"),
        "the cause is missing: {stderr}"
    );
    match server.next_seen().await {
        Seen::HandshakeFailed(why) => assert!(why.contains("UnknownCA"), "{why}"),
        seen => panic!("expected a refused handshake, the server saw {seen:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_refuses_the_webhook_url_of_another_source() {
    let mut server = TlsServer::start("other-source").await;
    let url = format!("https://127.0.0.1:{}/webhooks/cr3dentials", server.port);

    let output = webhookctl(send_args(&url, Some(&server.ca_pem))).await;
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "a Legitmark sample went to Cr3dentials"
    );
    assert!(
        stderr.contains("source cr3dentials") && stderr.contains("--source"),
        "not a clear message: {stderr}"
    );

    // Nothing was sent: the next thing the server sees is the delivery to the right URL.
    let url = format!("https://127.0.0.1:{}/webhooks/legitmark", server.port);
    let output = webhookctl(send_args(&url, Some(&server.ca_pem))).await;
    assert!(
        output.status.success(),
        "send failed: {}",
        text(&output.stderr)
    );
    assert_signed_delivery(server.next_seen().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_refuses_a_ca_file_without_a_certificate() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("send_tls");
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&not_pem, "not a certificate\n").unwrap();

    let output = webhookctl(send_args("https://127.0.0.1:9/", Some(&not_pem))).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--ca-cert") && stderr.contains("no PEM certificate"),
        "not a clear message: {stderr}"
    );
}
