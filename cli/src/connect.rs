//! Reaching the coordinator, and turning what can go wrong on the way into one clear sentence.

use std::error::Error as StdError;
use std::time::Duration;

use std::path::Path;

use seaf_backup_proto::TokenInterceptor;
use seaf_backup_proto::admin::admin_service_client::AdminServiceClient;
use seaf_backup_service::grpc_tls::{ClientTls, coordinator_endpoint};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::Failure;

/// The admin API client: every call carries the admin token, when there is one.
pub type Client = AdminServiceClient<InterceptedService<Channel, TokenInterceptor>>;

/// The coordinator's address as given, made explicit: `host:port` becomes `http://host:port`;
/// `http` and `https` (TLS) are accepted.
pub fn normalize_url(url: &str) -> Result<String, Failure> {
    let url = url.trim().trim_end_matches('/');
    let url = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(Failure::error(format!(
            "unsupported coordinator URL {url:?}: use http://host:port, or https://host:port with TLS"
        )));
    }
    Endpoint::from_shared(url.clone()).map_err(|e| Failure::error(format!("invalid coordinator URL {url:?}: {e}")))?;
    Ok(url)
}

/// The admin token: the first line of `--token-file`, else `SEAF_BACKUP_ADMIN_TOKEN`, else none.
pub fn admin_token(token_file: Option<&Path>) -> Result<TokenInterceptor, Failure> {
    let token = match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::error(format!("reading the token file {}: {e}", path.display())))?;
            let token = text.lines().next().unwrap_or_default().trim().to_owned();
            if token.is_empty() {
                return Err(Failure::error(format!("the token file {} is empty", path.display())));
            }
            Some(token)
        }
        None => std::env::var("SEAF_BACKUP_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    TokenInterceptor::new(token.as_deref()).map_err(|e| Failure::error(format!("the admin token: {e}")))
}

/// Opens the connection (waiting at most `timeout`), so that an unreachable coordinator is reported
/// before any request is made.
pub async fn connect(
    url: &str,
    timeout: Duration,
    tls: &ClientTls,
    token: &TokenInterceptor,
) -> Result<Client, Failure> {
    let endpoint = coordinator_endpoint(url, tls).map_err(|e| Failure::error(e.to_string()))?.connect_timeout(timeout);
    match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(AdminServiceClient::with_interceptor(channel, token.clone())),
        Ok(Err(e)) => {
            Err(Failure::error(format!("cannot reach the coordinator at {url}: {}{}", chain(&e), tls_hint(url))))
        }
        Err(_) => Err(Failure::error(format!(
            "cannot reach the coordinator at {url}: no connection within {} s",
            timeout.as_secs()
        ))),
    }
}

/// One sentence for a failed call; `what` names the call (`status`, `sync of library …`).
pub fn describe_status(status: &tonic::Status, url: &str, what: &str) -> String {
    use tonic::Code;
    let msg = status.message();
    let msg = if msg.is_empty() { status.code().description() } else { msg };
    match status.code() {
        // A local transport failure (whatever its code: a TLS refusal after the handshake is
        // UNKNOWN) carries its cause; an UNAVAILABLE the coordinator sent itself means a service it
        // depends on (MySQL, Redis) is down.
        _ if status.source().is_some() => {
            let mut why = msg.to_owned();
            if let Some(cause) = status.source().map(chain).filter(|c| !why.contains(c.as_str())) {
                why = if cause.starts_with(&why) { cause } else { format!("{why}: {cause}") };
            }
            format!("cannot reach the coordinator at {url}: {why}{}", tls_hint(url))
        }
        Code::Unavailable => format!("the coordinator at {url} cannot serve {what} now (retry later): {msg}"),
        Code::NotFound | Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => msg.to_owned(),
        Code::DeadlineExceeded => format!("the coordinator at {url} did not answer {what} in time: {msg}"),
        Code::Unimplemented => {
            format!("the service at {url} does not offer {what}; is it a seaf-backup coordinator? ({msg})")
        }
        Code::Unauthenticated => format!(
            "the coordinator at {url} refused {what}: {msg} (give its [coordinator] admin_token with --token-file FILE \
             or SEAF_BACKUP_ADMIN_TOKEN)"
        ),
        Code::PermissionDenied => format!("the coordinator at {url} refused {what}: {msg}"),
        Code::Internal => format!("the coordinator at {url} failed on {what}: {msg}"),
        code => format!("{what} failed ({}): {msg}", code.description()),
    }
}

/// Over TLS a refused client certificate shows on the client only as a closed connection, so
/// the sentence says what to check.
fn tls_hint(url: &str) -> &'static str {
    if url.starts_with("https://") {
        " (over TLS: does --ca-cert name the CA of the coordinator's certificate, and does the coordinator \
         require a client certificate, --client-cert and --client-key?)"
    } else {
        ""
    }
}

/// An error and its causes, `outer: inner: innermost`, leaving out a cause its parent already quotes.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;

    #[test]
    fn urls_are_made_explicit() {
        assert_eq!(normalize_url("http://127.0.0.1:7070").unwrap(), "http://127.0.0.1:7070");
        assert_eq!(normalize_url("coordinator:7070/").unwrap(), "http://coordinator:7070");
        assert_eq!(normalize_url("https://c:7070/").unwrap(), "https://c:7070");
        let e = normalize_url("ftp://c:7070").unwrap_err();
        assert_eq!(e.exit, Exit::Error);
        assert!(e.message.contains("unsupported coordinator URL"), "{}", e.message);
        assert!(normalize_url("http://bad host").unwrap_err().message.contains("invalid coordinator URL"));
    }

    #[test]
    fn statuses_read_clearly() {
        let url = "http://c:7070";
        let s = |code, msg: &str| describe_status(&tonic::Status::new(code, msg), url, "status");
        assert_eq!(s(tonic::Code::NotFound, "library x is unknown"), "library x is unknown");
        assert_eq!(s(tonic::Code::InvalidArgument, "repo_id: invalid library id"), "repo_id: invalid library id");
        assert_eq!(
            s(tonic::Code::Unavailable, "MySQL is down"),
            "the coordinator at http://c:7070 cannot serve status now (retry later): MySQL is down"
        );
        assert!(s(tonic::Code::Unimplemented, "").contains("does not offer status"));
        assert!(s(tonic::Code::Internal, "boom").starts_with("the coordinator at http://c:7070 failed on status"));

        let mut transport = tonic::Status::new(tonic::Code::Unavailable, "transport error");
        transport.set_source(std::sync::Arc::new(std::io::Error::other("connection refused")));
        assert_eq!(
            describe_status(&transport, url, "status"),
            "cannot reach the coordinator at http://c:7070: transport error: connection refused"
        );
    }

    #[test]
    fn chains_skip_repeats() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("transport error")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("tcp connect error"));
        assert_eq!(chain(&e), "transport error: tcp connect error");
    }
}
