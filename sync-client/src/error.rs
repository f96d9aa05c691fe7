//! Errors of the sync client, and which of them are worth retrying.
//!
//! Every message names the endpoint (method and path, which carry the library and object ids)
//! or the library concerned. Tokens travel in headers only and never appear in a message.

use seaf_objects::{ObjectError, RepoId};

/// Why a sync-protocol call failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Connect failure, reset, timeout, or a body that could not be read. Transient.
    #[error("network error on {endpoint}: {message}")]
    Network { endpoint: String, message: String },

    /// An HTTP status with no more specific meaning. Transient for 5xx (and 429).
    #[error("primary answered HTTP {status} to {endpoint}{}", body_suffix(.body))]
    Status { endpoint: String, status: u16, body: String },

    /// 404: the object does not exist on the primary (for commits: history truncated by GC).
    #[error("{what} not found on the primary (HTTP 404)")]
    NotFound { what: String },

    /// `protocol-version` answered 404: the base URL has no sync API. The hint says whether the
    /// other form of the URL (with or without `/seafhttp`) has one.
    #[error("no sync API at {base} (GET protocol-version answered HTTP 404); {hint}")]
    WrongBaseUrl { base: String, hint: String },

    /// 444: the library no longer exists on the primary.
    #[error("library {0} is deleted on the primary (HTTP 444)")]
    RepoDeleted(RepoId),

    /// 445: the primary marked the library corrupted (its head cannot be loaded).
    #[error("library {0} is corrupted on the primary (HTTP 445); the primary's admin should run seaf-fsck")]
    RepoCorrupted(RepoId),

    /// `commit/HEAD` answered `{"is_corrupted": 1}`: a database error on the primary. Transient.
    #[error(
        "primary could not read the head of library {0} (is_corrupted: 1, usually a database error on the primary)"
    )]
    HeadCorrupted(RepoId),

    /// 403 (or a proxy's 401), or 400 when no token was sent: the token is unknown, revoked (e.g. by
    /// `seaf-fsck --repair`), for another library, or its user lacks permission. Never retried.
    #[error("primary refused access to {endpoint} (HTTP {status}); check the sync token and the user's permission on the library{}", body_suffix(.body))]
    Auth { endpoint: String, status: u16, body: String },

    /// The primary sent an object that fails validation (hash mismatch, bad commit, bad framing).
    #[error("primary sent invalid data: {0}")]
    Object(#[source] ObjectError),

    /// A response that does not follow the protocol (bad JSON, unrequested record, no progress…).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The body ended before the announced `Content-Length`. Transient.
    #[error("response to {endpoint} was cut short: received {received} of {expected} bytes")]
    Truncated { endpoint: String, expected: u64, received: u64 },

    /// Writing the caller's local file failed.
    #[error("local file error: {0}")]
    Io(#[source] std::io::Error),

    /// The client cannot be built (bad URL scheme, unreadable CA file, …).
    #[error("invalid sync client configuration: {0}")]
    Config(String),
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

impl SyncError {
    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Network { .. } | SyncError::Truncated { .. } | SyncError::HeadCorrupted(_) => true,
            // 429 comes from rate-limiting proxies in front of the primary.
            SyncError::Status { status, .. } => (500..=599).contains(status) || *status == 429,
            _ => false,
        }
    }

    /// A short stable name for metrics and job reports.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Network { .. } => "network",
            SyncError::Status { .. } => "status",
            SyncError::NotFound { .. } | SyncError::WrongBaseUrl { .. } => "not_found",
            SyncError::RepoDeleted(_) => "repo_deleted",
            SyncError::RepoCorrupted(_) => "repo_corrupted",
            SyncError::HeadCorrupted(_) => "head_corrupted",
            SyncError::Auth { .. } => "auth",
            SyncError::Object(_) => "object",
            SyncError::Protocol(_) => "protocol",
            SyncError::Truncated { .. } => "truncated",
            SyncError::Io(_) => "io",
            SyncError::Config(_) => "config",
        }
    }

    /// The HTTP status behind this error, if it came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            SyncError::Status { status, .. } | SyncError::Auth { status, .. } => Some(*status),
            SyncError::NotFound { .. } | SyncError::WrongBaseUrl { .. } => Some(404),
            SyncError::RepoDeleted(_) => Some(444),
            SyncError::RepoCorrupted(_) => Some(445),
            _ => None,
        }
    }

    /// A network error from reqwest, with its cause chain spelled out (reqwest's own message is
    /// terse, the useful part — "connection refused", "certificate unknown" — is in the sources).
    pub(crate) fn network(endpoint: &str, err: reqwest::Error) -> SyncError {
        let err = err.without_url();
        let mut message = if err.is_timeout() { "timed out".to_owned() } else { err.to_string() };
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        SyncError::Network { endpoint: endpoint.to_owned(), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transience() {
        let status = |s| SyncError::Status { endpoint: "GET x".into(), status: s, body: String::new() };
        for s in [500, 502, 503, 504, 429] {
            assert!(status(s).is_transient(), "{s}");
        }
        for s in [400, 409, 418] {
            assert!(!status(s).is_transient(), "{s}");
        }
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        assert!(SyncError::HeadCorrupted(repo.clone()).is_transient());
        assert!(!SyncError::RepoCorrupted(repo.clone()).is_transient());
        assert!(!SyncError::RepoDeleted(repo).is_transient());
        assert!(!SyncError::Auth { endpoint: "GET x".into(), status: 403, body: String::new() }.is_transient());
        assert!(SyncError::Truncated { endpoint: "GET x".into(), expected: 2, received: 1 }.is_transient());
    }

    #[test]
    fn messages() {
        let e = SyncError::Status { endpoint: "GET repo/r/block/b".into(), status: 500, body: "oops".into() };
        assert_eq!(e.to_string(), "primary answered HTTP 500 to GET repo/r/block/b: oops");
        let e = SyncError::Status { endpoint: "GET x".into(), status: 502, body: String::new() };
        assert_eq!(e.to_string(), "primary answered HTTP 502 to GET x");
        assert_eq!(e.kind(), "status");
    }
}
