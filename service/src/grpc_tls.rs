//! TLS of the coordinator's gRPC port, at both ends.
//!
//! The coordinator serves TLS when `[coordinator] tls_cert` and `tls_key` are set, and mutual TLS
//! when `tls_client_ca` is set too. Its clients (the gateway, the fetchers, the `seaf-backup` CLI)
//! switch to TLS with an `https://` URL; they trust the system roots plus an optional extra CA, and
//! present a client certificate when given one.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::config::CoordinatorConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the {what} {}: {source}", path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_owned(), source })
}

/// The coordinator's server TLS, or `None` when `tls_cert` and `tls_key` are unset.
pub fn server_tls(c: &CoordinatorConfig) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (cert, key) = match (&c.tls_cert, &c.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if c.tls_client_ca.is_some() => {
            return Err(TlsError::Invalid(
                "[coordinator] tls_client_ca needs tls_cert and tls_key: mutual TLS is TLS first".into(),
            ));
        }
        (None, None) => return Ok(None),
        _ => {
            return Err(TlsError::Invalid(
                "[coordinator] tls_cert and tls_key go together: set both or neither".into(),
            ));
        }
    };
    let identity = Identity::from_pem(read("TLS certificate", cert)?, read("TLS key", key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &c.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read("client CA", ca)?));
    }
    Ok(Some(tls))
}

/// How a client reaches the coordinator over TLS (used only with an `https://` URL).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// An extra PEM CA to trust besides the system roots.
    pub ca_cert: Option<PathBuf>,
    /// A PEM client certificate and key, for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name to check the coordinator's certificate against, when not the URL's host (e.g. the
    /// Service's name while connecting to 127.0.0.1).
    pub domain: Option<String>,
}

impl ClientTls {
    /// The client settings of the `[coordinator]` section (the gateway's and the fetchers').
    pub fn from_config(c: &CoordinatorConfig) -> ClientTls {
        ClientTls {
            ca_cert: c.ca_cert.clone(),
            client_cert: c.client_cert.clone(),
            client_key: c.client_key.clone(),
            domain: None,
        }
    }

    fn is_set(&self) -> bool {
        self.ca_cert.is_some() || self.client_cert.is_some() || self.client_key.is_some() || self.domain.is_some()
    }
}

/// An endpoint for the coordinator at `url` (`http://` or `https://`), with TLS for `https://`.
/// TLS settings with an `http://` URL are refused rather than ignored: the operator meant TLS.
pub fn coordinator_endpoint(url: &str, tls: &ClientTls) -> Result<Endpoint, TlsError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| TlsError::Invalid(format!("invalid coordinator URL {url:?}: {e}")))?;
    if !url.starts_with("https://") {
        if tls.is_set() {
            return Err(TlsError::Invalid(format!(
                "TLS settings for the coordinator are given but its URL {url:?} is not https://"
            )));
        }
        return Ok(endpoint);
    }
    let mut config = ClientTlsConfig::new().with_native_roots();
    if let Some(ca) = &tls.ca_cert {
        config = config.ca_certificate(Certificate::from_pem(read("coordinator CA", ca)?));
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(read("client certificate", cert)?, read("client key", key)?));
        }
        (None, None) => {}
        _ => {
            return Err(TlsError::Invalid("a client certificate and its key go together: give both or neither".into()));
        }
    }
    if let Some(domain) = &tls.domain {
        config = config.domain_name(domain.clone());
    }
    endpoint.tls_config(config).map_err(|e| TlsError::Invalid(format!("TLS towards {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let mut c = CoordinatorConfig { tls_cert: Some("c.pem".into()), ..CoordinatorConfig::default() };
        assert!(server_tls(&c).unwrap_err().to_string().contains("tls_cert and tls_key go together"));
        c.tls_cert = None;
        c.tls_client_ca = Some("ca.pem".into());
        assert!(server_tls(&c).unwrap_err().to_string().contains("needs tls_cert and tls_key"));
        c.tls_client_ca = None;
        assert!(server_tls(&c).unwrap().is_none());
        c.tls_cert = Some("/nonexistent/c.pem".into());
        c.tls_key = Some("/nonexistent/k.pem".into());
        let e = server_tls(&c).unwrap_err().to_string();
        assert!(e.starts_with("reading the TLS certificate /nonexistent/c.pem"), "{e}");

        let ca = ClientTls { ca_cert: Some("ca.pem".into()), ..ClientTls::default() };
        let e = coordinator_endpoint("http://c:7070", &ca).unwrap_err().to_string();
        assert!(e.contains("is not https://"), "{e}");
        assert!(coordinator_endpoint("http://c:7070", &ClientTls::default()).is_ok());
        assert!(coordinator_endpoint("https://c:7070", &ClientTls::default()).is_ok());
        let half = ClientTls { client_cert: Some("c.pem".into()), ..ClientTls::default() };
        assert!(coordinator_endpoint("https://c:7070", &half).unwrap_err().to_string().contains("go together"));
    }
}
