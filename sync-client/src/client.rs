//! [`SyncClient`]: the connection pool towards one primary, the server-wide endpoints, and the
//! request plumbing (URL joining, headers, status mapping, bounded body reads, retries) that
//! [`RepoClient`](crate::RepoClient) builds on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response};
use seaf_objects::{ObjectId, RepoId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{ClientConfig, RetryPolicy};
use crate::error::SyncError;
use crate::repo::RepoClient;

/// The authentication header of the sync API.
pub(crate) const TOKEN_HEADER: &str = "Seafile-Repo-Token";

/// `head-commits-multi` batch size: keeps request bodies small (≈ 20 KiB) on large sites.
pub const HEAD_COMMITS_BATCH: usize = 500;

/// Largest response body read into memory; only a misbehaving server gets near it (a
/// `fs-id-list` of ten million objects is about 430 MiB).
const MAX_BODY: usize = 1 << 30;

/// How much of an error body is quoted in an error message.
const ERROR_BODY_CHARS: usize = 200;

/// `fs-id-list` computes a whole tree diff before answering; the desktop client allows it 1800 s
/// on incremental syncs, i.e. six times its normal 300 s.
const FS_ID_LIST_TIMEOUT_FACTOR: u32 = 6;

/// A client for one primary's sync API. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct SyncClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Normalised: http(s), no query or fragment, path ending in `/`.
    base: Url,
    request_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncClient").field("base_url", &self.inner.base.as_str()).finish_non_exhaustive()
    }
}

/// One entry of `server-sync/repo-list`: a library, its head and where its objects live.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RepoListEntry {
    pub repo_id: RepoId,
    pub head_commit_id: ObjectId,
    /// Equal to `repo_id`, except for virtual libraries (their origin's id).
    pub store_id: RepoId,
    #[serde(default)]
    pub is_virtual: bool,
    #[serde(default)]
    pub name: String,
}

impl SyncClient {
    /// Builds the client. Fails on a base URL that is not plain http(s) or carries credentials,
    /// or an unreadable or invalid `extra_root_ca` file. Does not contact the primary.
    pub fn new(cfg: ClientConfig) -> Result<Self, SyncError> {
        let base = normalize_base(cfg.base_url)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(cfg.user_agent.as_str())
            .connect_timeout(cfg.connect_timeout)
            // Long fs-id-list computations leave connections idle; keepalive finds dead peers.
            .tcp_keepalive(Duration::from_secs(60))
            // The token is a custom header that reqwest would forward to any redirect target.
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(cfg.danger_accept_invalid_certs);
        let mut extra = Vec::new();
        if let Some(path) = &cfg.extra_root_ca {
            let pem = std::fs::read(path)
                .map_err(|e| SyncError::Config(format!("cannot read extra root CA file {}: {e}", path.display())))?;
            extra = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                SyncError::Config(format!("extra root CA file {} is not valid PEM: {e}", path.display()))
            })?;
            if extra.is_empty() {
                return Err(SyncError::Config(format!("extra root CA file {} holds no certificate", path.display())));
            }
        }
        builder = if base.scheme() == "https" {
            builder.tls_certs_merge(extra)
        } else {
            // A plain-http primary needs no system trust store; not loading it lets the client
            // start on hosts that have none.
            builder.tls_certs_only(extra)
        };
        let http = builder.build().map_err(|e| SyncError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SyncClient { inner: Arc::new(Inner { http, base, request_timeout: cfg.request_timeout, retry: cfg.retry }) })
    }

    /// The normalised base URL (always ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// `GET protocol-version`; the primary must speak version 2 or later.
    pub async fn protocol_version(&self) -> Result<u32, SyncError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let call = Call::new(Method::GET, "protocol-version".into(), self.request_timeout());
        let v: Version = match self.get_json(&call).await {
            Err(SyncError::NotFound { .. }) => return Err(self.wrong_base_url().await),
            other => other?,
        };
        if v.version < 2 {
            return Err(SyncError::Protocol(format!(
                "the primary at {} speaks sync protocol version {}; version 2 or later is required",
                self.inner.base, v.version
            )));
        }
        Ok(v.version)
    }

    /// For services at start: checks the primary's sync API answers and logs a warning naming the
    /// problem if not (the service keeps running: the primary may come up later).
    pub async fn log_protocol_check(self) {
        match self.protocol_version().await {
            Ok(v) => tracing::info!(primary = %self.inner.base, version = v, "primary's sync API answers"),
            Err(e) => tracing::warn!("the primary's sync API: {e}"),
        }
    }

    /// The error for a base URL without a sync API: says whether the other form of the URL (with
    /// `/seafhttp` added or removed) has one, which is the usual mistake.
    async fn wrong_base_url(&self) -> SyncError {
        let base = &self.inner.base;
        let other = match base.path().strip_suffix("/seafhttp/") {
            Some(prefix) => base.join(&format!("{prefix}/")).ok(),
            None => base.join("seafhttp/").ok(),
        }
        .filter(|o| o != base);
        let answers = match &other {
            Some(o) => match o.join("protocol-version") {
                Ok(u) => self.inner.http.get(u).timeout(self.request_timeout()).send().await.ok(),
                Err(_) => None,
            }
            .is_some_and(|r| r.status().is_success()),
            None => false,
        };
        let hint = match (other, answers) {
            (Some(o), true) => format!("it answers at {o}: use that as the primary URL"),
            (Some(o), false) => format!("nor does {o}: check the primary URL's host, port and path"),
            (None, _) => "check the primary URL".to_owned(),
        };
        SyncError::WrongBaseUrl { base: base.to_string(), hint }
    }

    /// `POST repo/head-commits-multi` (unauthenticated), in batches of [`HEAD_COMMITS_BATCH`].
    ///
    /// Libraries missing from the result are deleted on the primary (or have no branch).
    pub async fn head_commits_multi(&self, repos: &[RepoId]) -> Result<HashMap<RepoId, ObjectId>, SyncError> {
        let mut seen = HashSet::new();
        let wanted: Vec<&RepoId> = repos.iter().filter(|r| seen.insert(*r)).collect();
        let mut out = HashMap::with_capacity(wanted.len());
        for batch in wanted.chunks(HEAD_COMMITS_BATCH) {
            let body = json_body(&batch)?;
            let call = Call::new(Method::POST, "repo/head-commits-multi".into(), self.request_timeout()).body(body);
            let heads: HashMap<RepoId, ObjectId> = self.get_json(&call).await?;
            // Only what was asked: the caller treats absence as deletion, presence as a head.
            out.extend(heads.into_iter().filter(|(r, _)| seen.contains(r)));
        }
        Ok(out)
    }

    /// `GET server-sync/repo-list` with the shared sync token: every library with its head.
    ///
    /// The body is a JSON array of [`RepoListEntry`]; an object `{"repos": [...]}` is accepted too.
    pub async fn repo_list(&self, sync_token: &str) -> Result<Vec<RepoListEntry>, SyncError> {
        let token = TokenHeader::new(sync_token).header("the shared sync token")?;
        let call = Call::new(Method::GET, "server-sync/repo-list".into(), self.request_timeout()).token(token);
        let value: serde_json::Value = self.get_json(&call).await?;
        let list = match value {
            serde_json::Value::Object(mut m) if m.get("repos").is_some_and(|v| v.is_array()) => {
                m.remove("repos").expect("checked above")
            }
            v => v,
        };
        serde_json::from_value(list)
            .map_err(|e| SyncError::Protocol(format!("{}: unexpected response body: {e}", call.endpoint)))
    }

    /// A client for one library's endpoints, authenticated with that library's token.
    pub fn repo(&self, repo: RepoId, token: String) -> RepoClient {
        RepoClient::new(self.clone(), repo, TokenHeader::new(&token))
    }

    // ----- plumbing shared with RepoClient -----

    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    pub(crate) fn fs_id_list_timeout(&self) -> Duration {
        self.inner.request_timeout.saturating_mul(FS_ID_LIST_TIMEOUT_FACTOR)
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    fn url(&self, call: &Call) -> Result<Url, SyncError> {
        let mut url = self
            .inner
            .base
            .join(&call.path)
            .map_err(|e| SyncError::Config(format!("cannot build the URL of {}: {e}", call.endpoint)))?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends one attempt of `call` and maps a non-2xx status to its error; counts it by outcome
    /// class and times it (until the response headers).
    pub(crate) async fn send(&self, call: &Call) -> Result<Response, SyncError> {
        let started = std::time::Instant::now();
        let result = self.send_once(call).await;
        metrics::histogram!(REQUEST_SECONDS).record(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SyncError::Auth { .. }) => "auth",
            Err(SyncError::NotFound { .. } | SyncError::RepoDeleted(_)) => "missing",
            Err(SyncError::Network { .. }) => "network",
            Err(e) if e.status().is_some_and(|s| s >= 500) => "server_error",
            Err(_) => "other",
        };
        metrics::counter!(REQUESTS, "outcome" => outcome).increment(1);
        result
    }

    async fn send_once(&self, call: &Call) -> Result<Response, SyncError> {
        let mut req = self.inner.http.request(call.method.clone(), self.url(call)?);
        if let Some(token) = &call.token {
            req = req.header(TOKEN_HEADER, token.clone());
        }
        if let Some(body) = &call.body {
            req = req.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let resp = match call.timeout {
            Timeout::Total(d) => req.timeout(d).send().await,
            Timeout::Idle(d) => tokio::time::timeout(d, req.send()).await.map_err(|_| SyncError::Network {
                endpoint: call.endpoint.clone(),
                message: format!("no response within {d:?}"),
            })?,
        }
        .map_err(|e| SyncError::network(&call.endpoint, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = error_snippet(resp, self.request_timeout()).await;
        Err(match (status, &call.repo) {
            // 401 only comes from an authenticating proxy in front of the primary.
            (401 | 403, _) => SyncError::Auth { endpoint: call.endpoint.clone(), status, body },
            // The servers answer 400 to a missing token; with a token, 400 is a plain bad request.
            (400, _) if call.token_missing => SyncError::Auth { endpoint: call.endpoint.clone(), status, body },
            (404, _) => SyncError::NotFound { what: call.not_found.clone().unwrap_or_else(|| call.endpoint.clone()) },
            (444, Some(repo)) => SyncError::RepoDeleted(repo.clone()),
            (445, Some(repo)) => SyncError::RepoCorrupted(repo.clone()),
            _ => SyncError::Status { endpoint: call.endpoint.clone(), status, body },
        })
    }

    /// One attempt: send and read the whole body (bounded, length-checked).
    pub(crate) async fn fetch(&self, call: &Call) -> Result<Bytes, SyncError> {
        let mut resp = self.send(call).await?;
        let expected = resp.content_length();
        let mut buf = BytesMut::with_capacity(expected.map_or(0, |n| n.min(1 << 20) as usize));
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > MAX_BODY {
                        return Err(SyncError::Protocol(format!(
                            "{}: response body exceeds {} MiB",
                            call.endpoint,
                            MAX_BODY >> 20
                        )));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(read_error(&call.endpoint, e, expected, buf.len() as u64)),
            }
        }
        check_length(&call.endpoint, expected, buf.len() as u64)?;
        Ok(buf.freeze())
    }

    /// `fetch` + JSON decoding, retried on transient errors. Bad JSON is a permanent error.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, SyncError> {
        self.retrying(&call.endpoint, move || async move {
            let body = self.fetch(call).await?;
            parse_json(&call.endpoint, &body)
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the retry policy is exhausted.
    pub(crate) async fn retrying<T, F, Fut>(&self, endpoint: &str, attempt: F) -> Result<T, SyncError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SyncError>>,
    {
        attempt
            .retry(self.inner.retry.backoff())
            .when(SyncError::is_transient)
            .notify(|e: &SyncError, delay: Duration| log_retry(endpoint, e, delay))
            .await
    }
}

/// Requests to the primary by outcome class: ok, auth (401/403), missing (404/444), network,
/// server_error (5xx), other; plus `retried` for each retry of a transient failure.
pub const REQUESTS: &str = "seaf_backup_primary_requests_total";
/// Time to the response headers of each request to the primary.
pub const REQUEST_SECONDS: &str = "seaf_backup_primary_request_duration_seconds";

/// Registers the help text of the client's metrics.
pub fn describe_metrics() {
    metrics::describe_counter!(REQUESTS, "Requests to the primary by outcome class, and retries.");
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to the response headers of each request to the primary."
    );
}

pub(crate) fn log_retry(endpoint: &str, e: &SyncError, delay: Duration) {
    metrics::counter!(REQUESTS, "outcome" => "retried").increment(1);
    tracing::warn!(endpoint, kind = e.kind(), delay_ms = delay.as_millis() as u64, error = %e, "transient sync error, retrying");
}

/// A body read failure: when the length was announced, say how much was missing.
pub(crate) fn read_error(endpoint: &str, e: reqwest::Error, expected: Option<u64>, received: u64) -> SyncError {
    match expected {
        Some(expected) if received < expected && !e.is_timeout() => {
            SyncError::Truncated { endpoint: endpoint.to_owned(), expected, received }
        }
        _ => SyncError::network(endpoint, e),
    }
}

pub(crate) fn check_length(endpoint: &str, expected: Option<u64>, received: u64) -> Result<(), SyncError> {
    match expected {
        Some(expected) if expected != received => {
            Err(SyncError::Truncated { endpoint: endpoint.to_owned(), expected, received })
        }
        _ => Ok(()),
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, SyncError> {
    serde_json::from_slice(body)
        .map_err(|e| SyncError::Protocol(format!("{endpoint}: unexpected response body ({e}): {}", quote(body))))
}

pub(crate) fn json_body<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, SyncError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| SyncError::Protocol(format!("cannot encode a request body: {e}")))
}

/// The first characters of a body, on one line, for an error message.
fn quote(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_CHARS * 4)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_BODY_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Reads at most ~1 KiB of an error response, never waiting longer than `limit`.
async fn error_snippet(mut resp: Response, limit: Duration) -> String {
    let mut buf = Vec::new();
    let read = async {
        while buf.len() < 1024 {
            match resp.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    quote(&buf)
}

fn normalize_base(mut url: Url) -> Result<Url, SyncError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SyncError::Config(format!("base URL {url} must use http or https")));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(SyncError::Config(format!("base URL {url} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SyncError::Config("base URL must not contain credentials".into()));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A token turned into a header value once, marked sensitive so it is never logged.
#[derive(Clone)]
pub(crate) enum TokenHeader {
    Value(HeaderValue),
    Missing,
    Invalid,
}

impl TokenHeader {
    pub(crate) fn new(token: &str) -> TokenHeader {
        if token.is_empty() {
            return TokenHeader::Missing;
        }
        match HeaderValue::from_str(token) {
            Ok(mut v) => {
                v.set_sensitive(true);
                TokenHeader::Value(v)
            }
            Err(_) => TokenHeader::Invalid,
        }
    }

    /// The header to send (`None`: no token, which the primary answers with 400).
    pub(crate) fn header(&self, whose: &str) -> Result<Option<HeaderValue>, SyncError> {
        match self {
            TokenHeader::Value(v) => Ok(Some(v.clone())),
            TokenHeader::Missing => Ok(None),
            TokenHeader::Invalid => {
                Err(SyncError::Config(format!("{whose} contains characters that cannot be sent in an HTTP header")))
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Timeout {
    /// A deadline for the whole exchange, body included.
    Total(Duration),
    /// No deadline; each wait (for the headers, then for every body chunk) is bounded instead.
    Idle(Duration),
}

/// One request, rebuilt identically for every retry.
pub(crate) struct Call {
    pub method: Method,
    /// Relative to the base URL, no leading `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    pub token: Option<HeaderValue>,
    /// A repo endpoint called without a token: its 400 means "missing token".
    pub token_missing: bool,
    /// Maps 444/445 to `RepoDeleted`/`RepoCorrupted`.
    pub repo: Option<RepoId>,
    /// What a 404 means, for the message.
    pub not_found: Option<String>,
    pub timeout: Timeout,
    /// `METHOD path` for messages and logs (ids only, never the token).
    pub endpoint: String,
}

impl Call {
    pub(crate) fn new(method: Method, path: String, timeout: Duration) -> Call {
        let endpoint = format!("{method} {path}");
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            token: None,
            token_missing: false,
            repo: None,
            not_found: None,
            timeout: Timeout::Total(timeout),
            endpoint,
        }
    }

    pub(crate) fn body(mut self, body: Bytes) -> Call {
        self.body = Some(body);
        self
    }

    pub(crate) fn token(mut self, token: Option<HeaderValue>) -> Call {
        self.token_missing = token.is_none();
        self.token = token;
        self
    }

    pub(crate) fn repo(mut self, repo: &RepoId) -> Call {
        self.repo = Some(repo.clone());
        self
    }

    pub(crate) fn not_found(mut self, what: String) -> Call {
        self.not_found = Some(what);
        self
    }

    pub(crate) fn query(mut self, key: &'static str, value: String) -> Call {
        self.endpoint = format!("{}{}{key}={value}", self.endpoint, if self.query.is_empty() { '?' } else { '&' });
        self.query.push((key, value));
        self
    }

    pub(crate) fn timeout_total(mut self, d: Duration) -> Call {
        self.timeout = Timeout::Total(d);
        self
    }

    pub(crate) fn idle_timeout(mut self, d: Duration) -> Call {
        self.timeout = Timeout::Idle(d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        for (input, want) in [
            ("http://127.0.0.1:8082", "http://127.0.0.1:8082/"),
            ("http://127.0.0.1:8082/", "http://127.0.0.1:8082/"),
            ("https://host/seafhttp", "https://host/seafhttp/"),
            ("https://host/seafhttp/", "https://host/seafhttp/"),
            ("https://host/seafhttp?x=1#f", "https://host/seafhttp/"),
        ] {
            let base = normalize_base(Url::parse(input).unwrap()).unwrap();
            assert_eq!(base.as_str(), want, "{input}");
            assert_eq!(
                base.join("repo/head-commits-multi").unwrap().path(),
                format!("{}repo/head-commits-multi", base.path())
            );
        }
        for bad in ["ftp://host/", "http://user:pw@host/", "data:text/plain,x"] {
            assert!(matches!(normalize_base(Url::parse(bad).unwrap()), Err(SyncError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        assert!(matches!(TokenHeader::new(""), TokenHeader::Missing));
        assert!(matches!(TokenHeader::new("a\nb"), TokenHeader::Invalid));
        let TokenHeader::Value(v) = TokenHeader::new("0123abcd") else { panic!() };
        assert!(v.is_sensitive());
        assert!(TokenHeader::new("a\nb").header("token").unwrap_err().to_string().contains("token"));
    }

    #[test]
    fn quoting_is_short_and_single_line() {
        let long = "x\n".repeat(1000);
        let q = quote(long.as_bytes());
        assert!(q.chars().count() <= ERROR_BODY_CHARS);
        assert!(!q.contains('\n'));
    }
}
