//! The HTTP server: the download half of Seafile's sync protocol (protocol §4), plus the
//! `server-sync/repo-list` discovery endpoint of the primary contract.
//!
//! Every route is served both at the root (like seaf-server on its own port) and under
//! `/seafhttp` (like behind the usual reverse proxy). Objects are read from the data directory per
//! request, and so are branch heads, so a concurrent `commit` process is seen at once.
//!
//! Behaviour follows seaf-server where a client can tell the difference: status codes (400 for a
//! missing token, 403 for a wrong one, 444 for an unknown library, 500 for missing objects),
//! the 1 MiB cut of pack-fs responses, blocks served without verification.
//!
//! Two modes:
//!
//! * **shared-token** (`--sync-token`): the library table and heads come from the files in `db/`,
//!   one shared secret is every library's token, and `server-sync/repo-list` lists the libraries
//!   (the primary contract of primaries that serve the list);
//! * **stock** (`--database-url`): like a stock seaf-server, libraries and heads come from its
//!   tables ([`crate::seafile_db`]), a token is valid only for its library through a
//!   `RepoUserToken` row whose user owns the library, and there is no `server-sync/repo-list`
//!   (404). See [`AppState::authorize`] for the exact rules.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use seaf_objects::{FsObject, ObjectId, ObjectKind, RepoId};
use serde::Deserialize;
use sqlx::mysql::MySqlPool;
use subtle::ConstantTimeEq;
use tokio_util::io::ReaderStream;
use tracing::{debug, info, warn};

use crate::db::{self, Library};
use crate::faults::{FaultConfig, Faults};
use crate::fs_id_list::fs_id_list;
use crate::layout::Layout;
use crate::seafile_db::{self, TokenCheck};
use crate::writer::Store;

/// pack-fs stops adding objects once this many object bytes are in the response
/// (`MAX_OBJECT_PACK_SIZE` of seaf-server); the object that crosses it is still sent.
pub const PACK_FS_LIMIT: usize = 1 << 20;

/// 444: the library does not exist (seaf-server's `SEAF_HTTP_RES_REPO_DELETED`).
pub const REPO_DELETED: u16 = 444;
/// 445: the library's head cannot be loaded (`SEAF_HTTP_RES_REPO_CORRUPTED`).
pub const REPO_CORRUPTED: u16 = 445;

/// Largest request body accepted (id lists).
const MAX_BODY: usize = 64 << 20;

/// Where libraries, heads and tokens come from.
#[derive(Clone)]
pub enum Auth {
    /// Shared-token mode: `db/` files, and this secret accepted as the token of every library.
    SharedToken(String),
    /// Stock mode: seaf-server's database at this URL (`mysql://…`).
    Database(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the secret nor the URL (which may hold a password) goes to the logs.
        f.write_str(match self {
            Auth::SharedToken(_) => "SharedToken(..)",
            Auth::Database(_) => "Database(..)",
        })
    }
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub auth: Auth,
    pub faults: FaultConfig,
}

/// Shared state of all requests.
pub struct AppState {
    layout: Layout,
    store: Store,
    backend: Backend,
    faults: Faults,
}

/// The source of libraries, heads and token decisions.
enum Backend {
    Files { sync_token: String, libs: Mutex<LibCache> },
    Database(MySqlPool),
}

/// `libraries.json`, re-read when its modification time changes.
#[derive(Default)]
struct LibCache {
    mtime: Option<SystemTime>,
    list: Vec<Library>,
    by_id: HashMap<RepoId, usize>,
}

/// An error answer: a status and a short text body.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(code: u16, msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::from_u16(code).expect("valid status code"), msg.into())
    }
    fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, msg)
    }
    fn internal(msg: impl Into<String>) -> ApiError {
        ApiError::new(500, msg)
    }
    fn forbidden() -> ApiError {
        ApiError::new(403, "Access denied")
    }
    fn deleted() -> ApiError {
        ApiError::new(REPO_DELETED, "Repo not found")
    }
    fn db(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("database error: {e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

impl AppState {
    /// Opens the data directory and, in stock mode, the database; fails at start-up rather than on
    /// the first request when either is unusable.
    pub async fn new(opts: &ServeOptions) -> Result<AppState> {
        let layout = Layout::new(&opts.data);
        let backend = match &opts.auth {
            Auth::SharedToken(token) => {
                anyhow::ensure!(!token.is_empty(), "the sync token must not be empty");
                db::load_libraries(&layout).context("the data directory has no usable db/libraries.json")?;
                Backend::Files { sync_token: token.clone(), libs: Mutex::new(LibCache::default()) }
            }
            Auth::Database(url) => {
                let pool = seafile_db::connect(url, 16).await?;
                seafile_db::check_tables(&pool).await?;
                Backend::Database(pool)
            }
        };
        Ok(AppState { store: Store::new(layout.clone()), layout, backend, faults: Faults::new(opts.faults.clone()) })
    }

    /// Stock mode (seaf-server's database)?
    pub fn is_stock(&self) -> bool {
        matches!(self.backend, Backend::Database(_))
    }

    /// The current library table of the files (reloaded when the file changed).
    fn file_libraries(&self, cache: &Mutex<LibCache>) -> Result<Vec<Library>, ApiError> {
        let mut cache = cache.lock().expect("library cache lock");
        self.refresh(&mut cache)?;
        Ok(cache.list.clone())
    }

    fn refresh(&self, cache: &mut LibCache) -> Result<(), ApiError> {
        let path = self.layout.libraries();
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if cache.mtime.is_some() && cache.mtime == mtime {
            return Ok(());
        }
        let list = db::load_libraries(&self.layout).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        cache.by_id = list.iter().enumerate().map(|(i, l)| (l.repo_id.clone(), i)).collect();
        cache.list = list;
        cache.mtime = mtime;
        Ok(())
    }

    /// A servable library and its head, or `None` (unknown, deleted, or without a branch).
    async fn library(&self, id: &RepoId) -> Result<Option<(Library, ObjectId)>, ApiError> {
        match &self.backend {
            Backend::Files { libs, .. } => {
                let lib = {
                    let mut cache = libs.lock().expect("library cache lock");
                    self.refresh(&mut cache)?;
                    cache.by_id.get(id).map(|&i| cache.list[i].clone())
                };
                let Some(lib) = lib else { return Ok(None) };
                let head = db::read_head(&self.layout, id).map_err(|e| ApiError::internal(format!("{e:#}")))?;
                Ok(head.map(|h| (lib, h)))
            }
            Backend::Database(pool) => {
                Ok(seafile_db::library(pool, id).await.map_err(ApiError::db)?.map(|l| (l.lib, l.head)))
            }
        }
    }

    /// The library, or 444.
    async fn existing_repo(&self, id: &RepoId) -> Result<(Library, ObjectId), ApiError> {
        self.library(id).await?.ok_or_else(ApiError::deleted)
    }

    /// Checks the request's token for library `repo`.
    ///
    /// * No token (`Seafile-Repo-Token: T`, or `Authorization: Token T`) ⇒ 400, in both modes.
    /// * Shared-token mode: the token must equal the shared secret ⇒ else 403.
    /// * Stock mode: `SELECT email FROM RepoUserToken WHERE repo_id = ? AND token = ?` must find a
    ///   row ⇒ else 403 (unknown, revoked, or another library's token); and, when `permission` is
    ///   asked for (every endpoint but `commit/HEAD`, which seaf-server serves on a valid token
    ///   alone), that email must own the library (`RepoOwner.owner_id` or `OrgRepo.user`) ⇒ else
    ///   403. The shared secret is never accepted. Nothing is cached (seaf-server caches both
    ///   answers for 2 h; see [`seafile_db::check_token`]).
    async fn authorize(&self, headers: &HeaderMap, repo: &RepoId, permission: bool) -> Result<(), ApiError> {
        let Some(token) = token_of(headers) else { return Err(ApiError::bad_request("Missing token")) };
        match &self.backend {
            Backend::Files { sync_token, .. } => {
                if bool::from(token.as_bytes().ct_eq(sync_token.as_bytes())) {
                    Ok(())
                } else {
                    Err(ApiError::forbidden())
                }
            }
            Backend::Database(pool) => {
                // RepoUserToken.token is CHAR(41): anything longer cannot be a token.
                if token.is_empty() || token.len() > 41 {
                    return Err(ApiError::forbidden());
                }
                match seafile_db::check_token(pool, repo, token).await.map_err(ApiError::db)? {
                    TokenCheck::Owner { .. } => Ok(()),
                    TokenCheck::NoPermission { .. } if !permission => Ok(()),
                    TokenCheck::NoPermission { email } => {
                        debug!(%repo, %email, "token of a user without permission");
                        Err(ApiError::forbidden())
                    }
                    TokenCheck::Unknown => Err(ApiError::forbidden()),
                }
            }
        }
    }

    /// Token and permission check, then the library (444 when unknown or branchless).
    async fn authorized_repo(&self, headers: &HeaderMap, repo: &str) -> Result<Library, ApiError> {
        let id = parse_repo(repo)?;
        self.authorize(headers, &id, true).await?;
        Ok(self.existing_repo(&id).await?.0)
    }

    /// Heads of those of `ids` that are servable.
    async fn heads(&self, ids: &[RepoId]) -> Result<Vec<(RepoId, ObjectId)>, ApiError> {
        match &self.backend {
            Backend::Files { .. } => {
                let mut out = Vec::new();
                for id in ids {
                    if let Some((_, head)) = self.library(id).await? {
                        out.push((id.clone(), head));
                    }
                }
                Ok(out)
            }
            Backend::Database(pool) => seafile_db::heads(pool, ids).await.map_err(ApiError::db),
        }
    }
}

/// The token of a request: `Seafile-Repo-Token: T`, or `Authorization: Token T` (the second word).
fn token_of(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("seafile-repo-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.split_whitespace().nth(1)
}

fn parse_repo(s: &str) -> Result<RepoId, ApiError> {
    RepoId::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn parse_id(s: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Parses a JSON array of strings (the body of the id-list endpoints).
fn id_strings(body: &[u8]) -> Result<Vec<String>, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Invalid JSON array: {e}")))
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs filesystem-heavy work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// Builds the router (both at `/` and under `/seafhttp`).
pub fn router(state: Arc<AppState>) -> Router {
    let objects = Router::new()
        .route("/repo/{repo}/commit/{commit}", get(get_commit))
        .route("/repo/{repo}/fs-id-list", get(get_fs_id_list))
        .route("/repo/{repo}/fs-id-list/", get(get_fs_id_list))
        .route("/repo/{repo}/pack-fs", post(post_pack_fs))
        .route("/repo/{repo}/pack-fs/", post(post_pack_fs))
        .route("/repo/{repo}/check-fs", post(post_check_fs))
        .route("/repo/{repo}/check-fs/", post(post_check_fs))
        .route("/repo/{repo}/check-blocks", post(post_check_blocks))
        .route("/repo/{repo}/check-blocks/", post(post_check_blocks))
        .route("/repo/{repo}/block/{block}", get(get_block))
        .route("/repo/{repo}/block-map/{file}", get(get_block_map))
        .route_layer(middleware::from_fn_with_state(state.clone(), inject_faults));
    let meta = Router::new()
        .route("/protocol-version", get(protocol_version))
        .route("/protocol-version/", get(protocol_version))
        .route("/repo/{repo}/permission-check", get(permission_check))
        .route("/repo/{repo}/permission-check/", get(permission_check))
        .route("/repo/head-commits-multi", post(head_commits_multi))
        .route("/repo/head-commits-multi/", post(head_commits_multi));
    // A stock seaf-server has no repo list (protocol §10): the route does not exist there (404).
    let meta = if state.is_stock() {
        meta
    } else {
        meta.route("/server-sync/repo-list", get(repo_list)).route("/server-sync/repo-list/", get(repo_list))
    };
    let api = objects.merge(meta).with_state(state);
    Router::new().merge(api.clone()).nest("/seafhttp", api).layer(middleware::from_fn(log_request))
}

/// Binds, reports the bound address through `on_ready`, and serves until SIGTERM or SIGINT.
pub async fn run(opts: ServeOptions, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let state = Arc::new(AppState::new(&opts).await?);
    let listener =
        tokio::net::TcpListener::bind(opts.listen).await.with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    info!(%addr, data = %opts.data.display(), auth = ?opts.auth, faults = ?opts.faults, "serving");
    on_ready(addr);
    // Without TCP_NODELAY a response written as headers + body waits for the peer's delayed ACK
    // (~40 ms on Linux) on every small request.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await.context("serving")?;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received, shutting down"),
    }
}

async fn log_request(req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let start = Instant::now();
    let resp = next.run(req).await;
    debug!(%method, %uri, status = resp.status().as_u16(), ms = start.elapsed().as_millis() as u64, "request");
    resp
}

/// Applies the configured faults to an object request.
async fn inject_faults(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let cfg = &st.faults.config;
    // commit/HEAD shares the commit route but is a metadata call, not an object read.
    if cfg.is_off() || req.uri().path().ends_with("/commit/HEAD") {
        return next.run(req).await;
    }
    if !cfg.latency.is_zero() {
        tokio::time::sleep(cfg.latency).await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(format!("unreadable body: {e}")).into_response(),
    };
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let verdict = st.faults.verdict(parts.method.as_str(), &target, &body);
    if verdict.fail {
        debug!(%target, "injected failure");
        return ApiError::internal("injected failure").into_response();
    }
    let path = parts.uri.path().to_owned();
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let truncatable = path.contains("/block/") || path.trim_end_matches('/').ends_with("/pack-fs");
    if verdict.truncate && truncatable && resp.status() == StatusCode::OK {
        debug!(%target, "injected truncation");
        return truncate(resp);
    }
    resp
}

/// Declares the full length but sends only the first half of the body, then aborts the
/// connection, as a primary whose disk read fails mid-stream would.
fn truncate(resp: Response) -> Response {
    use axum::body::HttpBody;
    let (mut parts, body) = resp.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| body.size_hint().exact());
    let Some(len) = declared.filter(|&l| l > 0) else { return Response::from_parts(parts, body) };
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let cut = len / 2;
    let head = body.into_data_stream().scan(cut, |left, chunk| {
        let out = match chunk {
            Ok(_) if *left == 0 => None,
            Ok(mut b) => {
                if b.len() as u64 > *left {
                    b.truncate(*left as usize);
                }
                *left -= b.len() as u64;
                Some(Ok(b))
            }
            Err(e) => Some(Err(std::io::Error::other(e))),
        };
        futures::future::ready(out)
    });
    // Pause before failing so the headers and the partial body really go out on the wire (hyper
    // flushes while it waits for the next chunk); then the error makes hyper drop the connection.
    let tail = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::other("response truncated by fault injection"))
    });
    Response::from_parts(parts, Body::from_stream(head.chain(tail)))
}

async fn protocol_version() -> Response {
    json("{\"version\": 2}".to_owned())
}

#[derive(Deserialize)]
struct PermissionQuery {
    op: Option<String>,
}

/// `GET permission-check/?op=download|upload`: 444 unknown, 445 corrupt head, then token and
/// permission (seaf-server's order).
async fn permission_check(
    State(st): State<Arc<AppState>>,
    Path(repo): Path<String>,
    Query(q): Query<PermissionQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let id = parse_repo(&repo)?;
    match q.op.as_deref() {
        Some("download") | Some("upload") => {}
        _ => return Err(ApiError::bad_request("op must be download or upload")),
    }
    let (lib, head) = st.existing_repo(&id).await?;
    if st.store.read_commit(&lib.repo_id, &head).is_err() {
        return Err(ApiError::new(REPO_CORRUPTED, "Repo is corrupted"));
    }
    st.authorize(&headers, &id, true).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET commit/HEAD` and `GET commit/<id>`.
async fn get_commit(
    State(st): State<Arc<AppState>>,
    Path((repo, commit)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    if commit == "HEAD" {
        return head_commit(&st, &repo, &headers).await;
    }
    let lib = st.authorized_repo(&headers, &repo).await?;
    let id = parse_id(&commit)?;
    match st.store.read(ObjectKind::Commit, &lib.repo_id, &id) {
        Ok(bytes) => Ok(json_bytes(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::new(404, "Commit not found")),
        Err(e) => Err(ApiError::internal(format!("reading commit {id}: {e}"))),
    }
}

/// `GET commit/HEAD`: a valid token is enough, seaf-server does not check permission here.
///
/// Shared-token mode checks the token, then the library (444). Stock mode checks that a token is
/// present (400), then the library (444), then the token (403): seaf-server validates the token
/// first, but from its 2 h cache, so a client that was syncing a library it just deleted gets 444
/// from it, not 403; without a cache (and with the deleted library's tokens gone with its rows)
/// the simulator gives the same answer by looking at the library first.
async fn head_commit(st: &AppState, repo: &str, headers: &HeaderMap) -> ApiResult {
    let id = parse_repo(repo)?;
    let head = if st.is_stock() {
        if token_of(headers).is_none() {
            return Err(ApiError::bad_request("Missing token"));
        }
        let (_, head) = st.existing_repo(&id).await?;
        st.authorize(headers, &id, false).await?;
        head
    } else {
        st.authorize(headers, &id, false).await?;
        st.existing_repo(&id).await?.1
    };
    Ok(json(format!("{{\"is_corrupted\": 0, \"head_commit_id\": \"{head}\"}}")))
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// `POST repo/head-commits-multi`: no token; heads of the known libraries among the ids sent
/// (from `Branch` in stock mode).
async fn head_commits_multi(State(st): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let ids = id_strings(&body)?;
    if ids.is_empty() {
        return Err(ApiError::bad_request("empty repo id list"));
    }
    let ids: Vec<RepoId> = ids.iter().map(|s| parse_repo(s)).collect::<Result<_, _>>()?;
    let mut out = serde_json::Map::new();
    for (id, head) in st.heads(&ids).await? {
        out.insert(id.to_string(), head.to_string().into());
    }
    Ok(json(serde_json::Value::Object(out).to_string()))
}

#[derive(Deserialize)]
struct FsIdListQuery {
    #[serde(rename = "server-head")]
    server_head: Option<String>,
    #[serde(rename = "client-head")]
    client_head: Option<String>,
    #[serde(rename = "dir-only")]
    dir_only: Option<String>,
}

/// `GET fs-id-list/?server-head=..[&client-head=..][&dir-only=1]`.
async fn get_fs_id_list(
    State(st): State<Arc<AppState>>,
    Path(repo): Path<String>,
    Query(q): Query<FsIdListQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let lib = st.authorized_repo(&headers, &repo).await?;
    let server = parse_id(q.server_head.as_deref().ok_or_else(|| ApiError::bad_request("Invalid server-head"))?)?;
    let client = q.client_head.as_deref().map(parse_id).transpose()?;
    let dir_only = q.dir_only.is_some();
    let ids = blocking(move || {
        // Commits come from the library's own store, trees from its store id.
        let root_of = |c: &ObjectId| {
            st.store
                .read_commit(&lib.repo_id, c)
                .map(|c| c.root_id)
                .map_err(|e| ApiError::internal(format!("Failed to load commit: {e:#}")))
        };
        let s = root_of(&server)?;
        let c = client.as_ref().map(root_of).transpose()?.unwrap_or(ObjectId::EMPTY);
        fs_id_list(&st.store, &lib.store_id, &s, &c, dir_only).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let list: Vec<String> = ids.iter().map(ObjectId::to_string).collect();
    Ok(json(serde_json::to_string(&list).expect("strings serialize")))
}

/// `POST pack-fs`: the requested fs objects, in order, until 1 MiB of object bytes is reached.
async fn post_pack_fs(
    State(st): State<Arc<AppState>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let lib = st.authorized_repo(&headers, &repo).await?;
    let mut ids = Vec::new();
    for s in id_strings(&body)? {
        let id = parse_id(&s)?;
        if id.is_empty() {
            return Err(ApiError::bad_request("the empty id is not an object"));
        }
        ids.push(id);
    }
    let out = blocking(move || {
        // A missing object fails the whole request, even one past the 1 MiB cut.
        if let Some(id) = ids.iter().find(|id| !st.store.exists(ObjectKind::Fs, &lib.store_id, id)) {
            return Err(ApiError::internal(format!("Failed to find fs object {id}")));
        }
        let mut out = Vec::new();
        let mut object_bytes = 0usize;
        for id in &ids {
            let data = st
                .store
                .read(ObjectKind::Fs, &lib.store_id, id)
                .map_err(|e| ApiError::internal(format!("Failed to read fs object {id}: {e}")))?;
            seaf_objects::packfs::push_record(&mut out, id, &data);
            object_bytes += data.len();
            if object_bytes >= PACK_FS_LIMIT {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_LENGTH, HeaderValue::from(out.len())),
        ],
        out,
    )
        .into_response())
}

/// `POST check-fs`: the ids the store lacks (the empty id is always present).
async fn post_check_fs(
    State(st): State<Arc<AppState>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_present(st, repo, headers, body, ObjectKind::Fs).await
}

/// `POST check-blocks`: the ids the store lacks.
async fn post_check_blocks(
    State(st): State<Arc<AppState>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_present(st, repo, headers, body, ObjectKind::Block).await
}

async fn check_present(
    st: Arc<AppState>,
    repo: String,
    headers: HeaderMap,
    body: Bytes,
    kind: ObjectKind,
) -> ApiResult {
    let lib = st.authorized_repo(&headers, &repo).await?;
    // Invalid ids are skipped, as seaf-server does.
    let ids: Vec<ObjectId> = id_strings(&body)?.iter().filter_map(|s| ObjectId::parse(s).ok()).collect();
    let missing = blocking(move || {
        Ok(ids
            .into_iter()
            .filter(|id| {
                let present = (kind == ObjectKind::Fs && id.is_empty()) || st.store.exists(kind, &lib.store_id, id);
                !present
            })
            .map(|id| id.to_string())
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(json(serde_json::to_string(&missing).expect("strings serialize")))
}

/// Blocks up to this size are served from one read rather than streamed.
const SMALL_BLOCK: u64 = 1 << 20;

/// `GET block/<id>`: the stored bytes, streamed, never verified (a corrupt block is served as is).
async fn get_block(
    State(st): State<Arc<AppState>>,
    Path((repo, block)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let lib = st.authorized_repo(&headers, &repo).await?;
    let id = parse_id(&block)?;
    let path = st.store.path(ObjectKind::Block, &lib.store_id, &id);
    // Small blocks (most of them) are read in one go; large ones are streamed.
    let opened = blocking(move || {
        let fail = |what: &str, e: std::io::Error| ApiError::internal(format!("Failed to {what} block {id}: {e}"));
        let mut file = std::fs::File::open(&path).map_err(|e| fail("open", e))?;
        let len = file.metadata().map_err(|e| fail("stat", e))?.len();
        if len == 0 {
            return Err(ApiError::internal(format!("block {id} is empty")));
        }
        if len <= SMALL_BLOCK {
            let mut data = Vec::with_capacity(len as usize);
            std::io::Read::read_to_end(&mut file, &mut data).map_err(|e| fail("read", e))?;
            Ok((len, Err(data)))
        } else {
            Ok((len, Ok(file)))
        }
    })
    .await?;
    let (len, body) = match opened {
        (len, Err(data)) => (len, Body::from(data)),
        (len, Ok(file)) => {
            (len, Body::from_stream(ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10)))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
        ],
        body,
    )
        .into_response())
}

/// `GET block-map/<file id>`: the sizes of the file's blocks (404 no file object, 500 no block).
async fn get_block_map(
    State(st): State<Arc<AppState>>,
    Path((repo, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let lib = st.authorized_repo(&headers, &repo).await?;
    let id = parse_id(&file)?;
    if id.is_empty() {
        return Ok(json("[]".to_owned()));
    }
    let sizes = blocking(move || {
        let blocks = match st.store.read_fs(&lib.store_id, &id) {
            Ok(FsObject::File(f)) => f.block_ids,
            _ => return Err(ApiError::new(404, "Failed to get file")),
        };
        blocks
            .iter()
            .map(|b| {
                std::fs::metadata(st.store.path(ObjectKind::Block, &lib.store_id, b))
                    .map(|m| m.len())
                    .map_err(|e| ApiError::internal(format!("Failed to stat block {b}: {e}")))
            })
            .collect::<Result<Vec<u64>, _>>()
    })
    .await?;
    Ok(json(serde_json::to_string(&sizes).expect("numbers serialize")))
}

/// `GET server-sync/repo-list`: every library with its head and store (sync token required).
async fn repo_list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let Backend::Files { libs, sync_token } = &st.backend else {
        return Err(ApiError::new(404, "Not Found"));
    };
    let Some(token) = token_of(&headers) else { return Err(ApiError::bad_request("Missing token")) };
    if !bool::from(token.as_bytes().ct_eq(sync_token.as_bytes())) {
        return Err(ApiError::forbidden());
    }
    let mut out = Vec::new();
    for l in st.file_libraries(libs)? {
        let head = db::read_head(&st.layout, &l.repo_id).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        if let Some(head) = head {
            out.push(serde_json::json!({
                "repo_id": l.repo_id,
                "head_commit_id": head,
                "store_id": l.store_id,
                "is_virtual": l.is_virtual,
                "name": l.name,
            }));
        }
    }
    Ok(json(serde_json::Value::Array(out).to_string()))
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("data", &self.layout.root()).finish_non_exhaustive()
    }
}
