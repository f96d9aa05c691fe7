//! TLS towards the primary: a private CA added to the trust roots, and the test-only switch
//! that accepts any certificate.
//!
//! `data/` holds a test CA (`ca.pem`, its key discarded) and a server certificate for
//! 127.0.0.1 / localhost signed by it (`server.pem`, `server.key`), valid for 100 years.
//! To renew: make a P-256 CA with `openssl req -x509`, then a leaf with
//! `subjectAltName=IP:127.0.0.1,DNS:localhost`, `extendedKeyUsage=serverAuth`, `CA:FALSE`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use seaf_sync_client::{ClientConfig, SyncClient, SyncError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// An https server on 127.0.0.1 that answers every request with `{"version": 2}`.
async fn tls_server() -> url::Url {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(data("server.pem")).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(data("server.key")).unwrap();
    let mut config = ServerConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "{\"version\": 2}";
                let resp =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url::Url::parse(&format!("https://{addr}/seafhttp")).unwrap()
}

#[tokio::test]
async fn private_ca_is_trusted_when_configured() {
    let base = tls_server().await;
    let cfg = ClientConfig { extra_root_ca: Some(data("ca.pem")), ..common::test_config(base) };
    assert_eq!(SyncClient::new(cfg).unwrap().protocol_version().await.unwrap(), 2);
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let base = tls_server().await;
    let mut cfg = common::test_config(base);
    cfg.retry.max_retries = 0;
    let err = SyncClient::new(cfg).unwrap().protocol_version().await.unwrap_err();
    assert!(matches!(err, SyncError::Network { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn invalid_certs_can_be_accepted_for_tests() {
    let base = tls_server().await;
    let cfg = ClientConfig { danger_accept_invalid_certs: true, ..common::test_config(base) };
    assert_eq!(SyncClient::new(cfg).unwrap().protocol_version().await.unwrap(), 2);
}
