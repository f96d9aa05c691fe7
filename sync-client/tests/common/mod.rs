//! An in-process primary for the tests: the download endpoints of the sync API over a small,
//! really encoded library, served on 127.0.0.1 at both `/` and `/seafhttp/`, with a request log
//! and fault injection.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use seaf_objects::fs::{self, MODE_DIR, MODE_FILE, v1};
use seaf_objects::{Commit, Dirent, FsObject, ObjectId, RepoId, SeafDir, SeafFile, packfs};
use seaf_sync_client::{ClientConfig, RetryPolicy, SyncClient};

pub const REPO: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";
pub const OTHER_REPO: &str = "0a1b2c3d-0000-4000-8000-000000000001";
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
pub const SYNC_TOKEN: &str = "shared-sync-token";

/// The pack-fs server cut (`MAX_OBJECT_PACK_SIZE`).
pub const PACK_LIMIT: usize = 1 << 20;

/// How `pack-fs` misbehaves.
#[derive(Clone, Debug, PartialEq)]
pub enum PackMode {
    Normal,
    /// 200 with an empty body.
    Nothing,
    /// A record for this object, which nobody asked for, comes first.
    Unrequested(ObjectId, Vec<u8>),
    /// The last record loses its final bytes (HTTP framing stays consistent).
    Truncated,
}

/// Answer `status` to requests whose path and query contain `needle`, `times` times.
pub struct Fault {
    pub needle: String,
    pub status: u16,
    pub times: usize,
}

/// The library the primary serves.
#[derive(Default)]
pub struct Library {
    pub commits: HashMap<ObjectId, Vec<u8>>,
    pub fs: HashMap<ObjectId, Vec<u8>>,
    pub blocks: HashMap<ObjectId, Vec<u8>>,
    pub head: Option<ObjectId>,
    /// Other libraries' heads, for head-commits-multi.
    pub other_heads: HashMap<RepoId, ObjectId>,
}

pub struct Primary {
    pub repo: RepoId,
    pub lib: Mutex<Library>,
    /// Every request as `METHOD path?query`.
    pub log: Mutex<Vec<String>>,
    pub faults: Mutex<Vec<Fault>>,
    pub pack_mode: Mutex<PackMode>,
    pub protocol_version: AtomicU32,
    /// Answer `commit/HEAD` with `{"is_corrupted": 1}` this many times.
    pub head_corrupted: AtomicUsize,
    /// Serve blocks chunked, without Content-Length.
    pub chunked_blocks: AtomicBool,
    pub deleted: AtomicBool,
    /// Number of ids in each head-commits-multi request.
    pub multi_batches: Mutex<Vec<usize>>,
    /// Number of ids in each pack-fs request.
    pub pack_batches: Mutex<Vec<usize>>,
    pub user_agents: Mutex<HashSet<String>>,
}

pub struct Server {
    pub primary: Arc<Primary>,
    pub addr: std::net::SocketAddr,
}

impl Server {
    pub async fn start(lib: Library) -> Server {
        let primary = Arc::new(Primary {
            repo: RepoId::parse(REPO).unwrap(),
            lib: Mutex::new(lib),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            pack_mode: Mutex::new(PackMode::Normal),
            protocol_version: AtomicU32::new(2),
            head_corrupted: AtomicUsize::new(0),
            chunked_blocks: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            multi_batches: Mutex::new(Vec::new()),
            pack_batches: Mutex::new(Vec::new()),
            user_agents: Mutex::new(HashSet::new()),
        });
        let api = Router::new()
            .route("/protocol-version", get(protocol_version))
            .route("/repo/head-commits-multi", post(head_commits_multi))
            .route("/server-sync/repo-list", get(repo_list))
            .route("/repo/{repo}/commit/{cid}", get(commit))
            .route("/repo/{repo}/fs-id-list/", get(fs_id_list))
            .route("/repo/{repo}/fs-id-list", get(fs_id_list))
            .route("/repo/{repo}/pack-fs", post(pack_fs))
            .route("/repo/{repo}/check-fs", post(check_fs))
            .route("/repo/{repo}/check-blocks", post(check_blocks))
            .route("/repo/{repo}/block/{bid}", get(block));
        let app = Router::new()
            .merge(api.clone())
            .nest("/seafhttp", api)
            .layer(middleware::from_fn_with_state(primary.clone(), log_and_faults))
            .with_state(primary.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { primary, addr }
    }

    pub fn url(&self, suffix: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{suffix}", self.addr)).unwrap()
    }

    /// A client with small retry delays (2 retries ⇒ at most 3 attempts).
    pub fn client(&self) -> SyncClient {
        self.client_at("")
    }

    pub fn client_at(&self, suffix: &str) -> SyncClient {
        SyncClient::new(test_config(self.url(suffix))).unwrap()
    }

    /// Requests whose `METHOD path?query` contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.primary.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn log(&self) -> Vec<String> {
        self.primary.log.lock().unwrap().clone()
    }

    pub fn fault(&self, needle: &str, status: u16, times: usize) {
        self.primary.faults.lock().unwrap().push(Fault { needle: needle.into(), status, times });
    }

    pub fn stored_fs(&self, id: &ObjectId) -> Vec<u8> {
        self.primary.lib.lock().unwrap().fs[id].clone()
    }

    pub fn set_pack_mode(&self, mode: PackMode) {
        *self.primary.pack_mode.lock().unwrap() = mode;
    }
}

pub fn test_config(base: url::Url) -> ClientConfig {
    ClientConfig {
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        request_timeout: Duration::from_secs(20),
        ..ClientConfig::new(base)
    }
}

async fn log_and_faults(State(p): State<Arc<Primary>>, req: Request, next: Next) -> Response {
    let line = format!(
        "{} {}{}",
        req.method(),
        req.uri().path(),
        req.uri().query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    p.log.lock().unwrap().push(line.clone());
    if let Some(ua) = req.headers().get("user-agent").and_then(|v| v.to_str().ok()) {
        p.user_agents.lock().unwrap().insert(ua.to_owned());
    }
    let injected = {
        let mut faults = p.faults.lock().unwrap();
        faults.iter_mut().find(|f| f.times > 0 && line.contains(&f.needle)).map(|f| {
            f.times -= 1;
            f.status
        })
    };
    if let Some(status) = injected {
        return (StatusCode::from_u16(status).unwrap(), format!("injected {status}")).into_response();
    }
    next.run(req).await
}

type Reply = Result<Response, (StatusCode, String)>;

fn err(status: u16, msg: &str) -> (StatusCode, String) {
    (StatusCode::from_u16(status).unwrap(), msg.to_owned())
}

/// Token check as the servers do it: missing ⇒ 400, unknown or for another library ⇒ 403;
/// then a deleted library answers 444.
fn auth(p: &Primary, repo: &str, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let Some(token) = headers.get("Seafile-Repo-Token") else {
        return Err(err(400, "Token is missing"));
    };
    if token.as_bytes().is_empty() {
        return Err(err(400, "Token is missing"));
    }
    if token != TOKEN || repo != p.repo.as_str() {
        return Err(err(403, "Access denied"));
    }
    if p.deleted.load(Ordering::SeqCst) {
        return Err(err(444, "Repo deleted"));
    }
    Ok(())
}

fn ids_from_body(body: &[u8]) -> Result<Vec<String>, (StatusCode, String)> {
    serde_json::from_slice(body).map_err(|_| err(400, "Invalid JSON"))
}

async fn protocol_version(State(p): State<Arc<Primary>>) -> String {
    format!("{{\"version\": {}}}", p.protocol_version.load(Ordering::SeqCst))
}

async fn head_commits_multi(State(p): State<Arc<Primary>>, body: Bytes) -> Reply {
    let ids = ids_from_body(&body)?;
    if ids.is_empty() {
        return Err(err(400, "empty list"));
    }
    p.multi_batches.lock().unwrap().push(ids.len());
    let lib = p.lib.lock().unwrap();
    let mut out = serde_json::Map::new();
    for id in ids {
        let repo = RepoId::parse(&id).map_err(|_| err(400, "Invalid repo id"))?;
        let head = if repo == p.repo { lib.head } else { lib.other_heads.get(&repo).copied() };
        if let Some(h) = head {
            out.insert(id, h.to_string().into());
        }
    }
    Ok(serde_json::to_string(&out).unwrap().into_response())
}

async fn repo_list(State(p): State<Arc<Primary>>, headers: HeaderMap) -> Reply {
    match headers.get("Seafile-Repo-Token") {
        None => return Err(err(400, "Token is missing")),
        Some(t) if t != SYNC_TOKEN => return Err(err(403, "Access denied")),
        _ => {}
    }
    let lib = p.lib.lock().unwrap();
    let mut list = vec![serde_json::json!({
        "repo_id": p.repo.to_string(),
        "head_commit_id": lib.head.unwrap().to_string(),
        "store_id": p.repo.to_string(),
        "name": "test library",
    })];
    for (repo, head) in &lib.other_heads {
        list.push(serde_json::json!({
            "repo_id": repo.to_string(), "head_commit_id": head.to_string(),
            "store_id": p.repo.to_string(), "is_virtual": true,
        }));
    }
    Ok(serde_json::to_string(&list).unwrap().into_response())
}

async fn commit(State(p): State<Arc<Primary>>, Path((repo, cid)): Path<(String, String)>, headers: HeaderMap) -> Reply {
    auth(&p, &repo, &headers)?;
    let lib = p.lib.lock().unwrap();
    if cid == "HEAD" {
        let corrupted = p.head_corrupted.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if corrupted {
            return Ok("{\"is_corrupted\": 1}".into_response());
        }
        let head = lib.head.ok_or_else(|| err(444, "no branch"))?;
        return Ok(format!("{{\"is_corrupted\": 0, \"head_commit_id\": \"{head}\"}}").into_response());
    }
    let id = ObjectId::parse(&cid).map_err(|_| err(400, "Invalid commit id"))?;
    let raw = lib.commits.get(&id).ok_or_else(|| err(404, "Failed to get commit"))?;
    Ok(raw.clone().into_response())
}

/// Every fs object under `id`, one entry per path (so shared objects repeat), root first.
fn walk(lib: &Library, id: &ObjectId, out: &mut Vec<ObjectId>) -> Result<(), (StatusCode, String)> {
    if id.is_empty() {
        return Ok(());
    }
    out.push(*id);
    let stored = lib.fs.get(id).ok_or_else(|| err(500, "missing dir"))?;
    if let FsObject::Dir(d) = fs::verify(id, stored).map_err(|_| err(500, "bad dir"))? {
        for e in &d.dirents {
            if e.is_dir() {
                walk(lib, &e.id, out)?;
            } else if e.is_file() && !e.id.is_empty() {
                out.push(e.id);
            }
        }
    }
    Ok(())
}

fn root_of(lib: &Library, cid: &str) -> Result<ObjectId, (StatusCode, String)> {
    let id = ObjectId::parse(cid).map_err(|_| err(400, "bad commit id"))?;
    let raw = lib.commits.get(&id).ok_or_else(|| err(500, "commit not found"))?;
    Ok(Commit::parse(raw.clone().into()).map_err(|_| err(500, "bad commit"))?.root_id)
}

/// Set semantics are enough here: the objects of server-head's tree that client-head's tree
/// lacks, with the duplicates a real path walk produces.
async fn fs_id_list(
    State(p): State<Arc<Primary>>,
    Path(repo): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    auth(&p, &repo, &headers)?;
    let server_head = q.get("server-head").ok_or_else(|| err(400, "server-head missing"))?;
    let lib = p.lib.lock().unwrap();
    let mut listed = Vec::new();
    walk(&lib, &root_of(&lib, server_head)?, &mut listed)?;
    if let Some(client_head) = q.get("client-head") {
        let mut old = Vec::new();
        walk(&lib, &root_of(&lib, client_head)?, &mut old)?;
        let old: HashSet<ObjectId> = old.into_iter().collect();
        listed.retain(|id| !old.contains(id));
    }
    let strings: Vec<String> = listed.iter().map(|id| id.to_string()).collect();
    Ok(serde_json::to_string(&strings).unwrap().into_response())
}

async fn pack_fs(State(p): State<Arc<Primary>>, Path(repo): Path<String>, headers: HeaderMap, body: Bytes) -> Reply {
    auth(&p, &repo, &headers)?;
    let ids = ids_from_body(&body)?;
    p.pack_batches.lock().unwrap().push(ids.len());
    let lib = p.lib.lock().unwrap();
    let mode = p.pack_mode.lock().unwrap().clone();
    let mut out = Vec::new();
    if let PackMode::Unrequested(id, data) = &mode {
        packfs::push_record(&mut out, id, data);
    }
    let mut total = 0usize;
    for s in ids {
        let id = ObjectId::parse(&s).map_err(|_| err(400, "Invalid fs id"))?;
        let data = lib.fs.get(&id).ok_or_else(|| err(500, "Failed to read fs object"))?;
        packfs::push_record(&mut out, &id, data);
        total += data.len();
        // The server's cut: the object that reaches the limit is still sent.
        if total >= PACK_LIMIT {
            break;
        }
    }
    match mode {
        PackMode::Nothing => out.clear(),
        PackMode::Truncated => out.truncate(out.len().saturating_sub(10)),
        _ => {}
    }
    Ok(out.into_response())
}

async fn check(p: &Primary, repo: &str, headers: &HeaderMap, body: &[u8], blocks: bool) -> Reply {
    auth(p, repo, headers)?;
    let lib = p.lib.lock().unwrap();
    let mut missing = Vec::new();
    for s in ids_from_body(body)? {
        let Ok(id) = ObjectId::parse(&s) else {
            continue;
        };
        let present = if blocks { lib.blocks.contains_key(&id) } else { id.is_empty() || lib.fs.contains_key(&id) };
        if !present {
            missing.push(s);
        }
    }
    Ok(serde_json::to_string(&missing).unwrap().into_response())
}

async fn check_fs(State(p): State<Arc<Primary>>, Path(repo): Path<String>, headers: HeaderMap, body: Bytes) -> Reply {
    check(&p, &repo, &headers, &body, false).await
}

async fn check_blocks(
    State(p): State<Arc<Primary>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    check(&p, &repo, &headers, &body, true).await
}

async fn block(State(p): State<Arc<Primary>>, Path((repo, bid)): Path<(String, String)>, headers: HeaderMap) -> Reply {
    auth(&p, &repo, &headers)?;
    let id = ObjectId::parse(&bid).map_err(|_| err(400, "Invalid block id"))?;
    let data = p.lib.lock().unwrap().blocks.get(&id).cloned().filter(|d| !d.is_empty());
    let data = data.ok_or_else(|| err(500, "Failed to read block"))?;
    if p.chunked_blocks.load(Ordering::SeqCst) {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            data.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        return Ok(Body::from_stream(futures::stream::iter(chunks)).into_response());
    }
    Ok(data.into_response())
}

// ----- building a library -----

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn file(blocks: &[&[u8]]) -> FsObject {
    FsObject::File(SeafFile {
        block_ids: blocks.iter().map(|b| ObjectId::hash_of(b)).collect(),
        size: blocks.iter().map(|b| b.len() as u64).sum(),
    })
}

/// A dir; entries are sorted by name descending as Seafile requires.
pub fn dir(entries: &[(&str, ObjectId, bool)]) -> FsObject {
    let mut dirents: Vec<Dirent> = entries
        .iter()
        .map(|(name, id, is_dir)| Dirent {
            id: *id,
            mode: if *is_dir { MODE_DIR } else { MODE_FILE },
            name: (*name).to_owned(),
            mtime: Some(1_700_000_000),
            modifier: if *is_dir { None } else { Some("admin@example.com".into()) },
            size: if *is_dir { None } else { Some(0) },
        })
        .collect();
    dirents.sort_by(|a, b| b.name.cmp(&a.name));
    FsObject::Dir(SeafDir { dirents })
}

pub fn commit_json(id: &ObjectId, repo: &str, root: &ObjectId, parent: Option<&ObjectId>) -> Vec<u8> {
    let parent = parent.map(|p| format!("\"{p}\"")).unwrap_or_else(|| "null".into());
    format!(
        "{{\"commit_id\": \"{id}\", \"root_id\": \"{root}\", \"repo_id\": \"{repo}\", \
         \"creator_name\": \"admin@example.com\", \"creator\": \"{zeros}\", \"description\": \"test\", \
         \"ctime\": 1700000000, \"parent_id\": {parent}, \"second_parent_id\": null, \
         \"repo_name\": \"backup-test\", \"repo_desc\": \"\", \"repo_category\": null, \
         \"no_local_history\": 1, \"version\": 1}}",
        zeros = "0".repeat(40)
    )
    .into_bytes()
}

/// The ids of a small two-commit library.
pub struct Fixture {
    pub lib: Library,
    pub block_small: ObjectId,
    pub block_big: ObjectId,
    pub file_a: ObjectId,
    pub file_b: ObjectId,
    pub file_c: ObjectId,
    pub sub: ObjectId,
    pub root1: ObjectId,
    pub root2: ObjectId,
    pub commit1: ObjectId,
    pub commit2: ObjectId,
}

impl Fixture {
    /// commit1: `/a.txt`, `/b.txt`, `/sub/a.txt` (the same file object twice).
    /// commit2 (head, child of commit1): adds `/c.txt`.
    pub fn new() -> Fixture {
        let mut lib = Library::default();
        let small = b"this is renamed folder.\n\naofsnmayhu".to_vec();
        let big = pseudo_random(3 * 1024 * 1024 + 12345, 7);
        let block_small = ObjectId::hash_of(&small);
        let block_big = ObjectId::hash_of(&big);
        lib.blocks.insert(block_small, small.clone());
        lib.blocks.insert(block_big, big.clone());

        let mut put = |obj: FsObject| {
            let (id, stored) = v1::encode(&obj);
            lib.fs.insert(id, stored);
            id
        };
        let file_a = put(file(&[&small]));
        let file_b = put(file(&[&small, &big]));
        let file_c = put(file(&[&big]));
        let sub = put(dir(&[("a.txt", file_a, false), ("empty", ObjectId::EMPTY, true)]));
        let root1 = put(dir(&[("a.txt", file_a, false), ("b.txt", file_b, false), ("sub", sub, true)]));
        let root2 = put(dir(&[
            ("a.txt", file_a, false),
            ("b.txt", file_b, false),
            ("c.txt", file_c, false),
            ("sub", sub, true),
        ]));

        let commit1 = ObjectId::hash_of(b"commit 1");
        let commit2 = ObjectId::hash_of(b"commit 2");
        lib.commits.insert(commit1, commit_json(&commit1, REPO, &root1, None));
        lib.commits.insert(commit2, commit_json(&commit2, REPO, &root2, Some(&commit1)));
        lib.head = Some(commit2);
        Fixture { lib, block_small, block_big, file_a, file_b, file_c, sub, root1, root2, commit1, commit2 }
    }
}

pub fn repo_id() -> RepoId {
    RepoId::parse(REPO).unwrap()
}
