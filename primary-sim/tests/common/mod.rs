//! Shared test helpers: an independent checker of a generated data directory, and a handle on
//! the real `seaf-primary-sim` binary running as a server.
//!
//! The checker reads files by their Seafile paths and validates them with `seaf-objects` only; it
//! does not use the simulator's own walkers, so it can catch their mistakes.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use seaf_objects::{Commit, FsObject, ObjectId, RepoId};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_seaf-primary-sim");
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

/// Generates a tiny tree into a fresh temp dir.
pub fn tiny(seed: u64) -> (tempfile::TempDir, seaf_primary_sim::Summary) {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = seaf_primary_sim::GenerateOptions::new(tmp.path());
    opts.seed = seed;
    let summary = seaf_primary_sim::generate(&opts).unwrap();
    (tmp, summary)
}

/// A row of `db/libraries.json`, read independently.
#[derive(Debug, Clone)]
pub struct Lib {
    pub repo_id: RepoId,
    pub name: String,
    pub store_id: RepoId,
    pub is_virtual: bool,
    pub origin_repo: Option<RepoId>,
    pub origin_path: Option<String>,
    pub encrypted: bool,
}

pub fn libraries(dir: &Path) -> Vec<Lib> {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("db/libraries.json")).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            for key in
                ["repo_id", "name", "store_id", "is_virtual", "origin_repo", "origin_path", "encrypted", "version"]
            {
                assert!(l.get(key).is_some(), "libraries.json row without {key}: {l}");
            }
            let rid = |k: &str| l[k].as_str().map(|s| RepoId::parse(s).unwrap());
            Lib {
                repo_id: rid("repo_id").unwrap(),
                name: l["name"].as_str().unwrap().to_owned(),
                store_id: rid("store_id").unwrap(),
                is_virtual: l["is_virtual"].as_bool().unwrap(),
                origin_repo: rid("origin_repo"),
                origin_path: l["origin_path"].as_str().map(str::to_owned),
                encrypted: l["encrypted"].as_bool().unwrap(),
            }
        })
        .collect()
}

pub fn head(dir: &Path, repo: &RepoId) -> ObjectId {
    let s = std::fs::read_to_string(dir.join("db/branch").join(repo.as_str())).unwrap();
    assert_eq!(s.len(), 40, "branch file holds exactly 40 hex digits");
    ObjectId::parse(&s).unwrap()
}

pub fn obj_path(dir: &Path, kind: &str, repo: &RepoId, id: &ObjectId) -> PathBuf {
    let h = id.to_string();
    dir.join("seafile-data/storage").join(kind).join(repo.as_str()).join(&h[..2]).join(&h[2..])
}

pub fn read_commit(dir: &Path, repo: &RepoId, id: &ObjectId) -> Commit {
    let raw = std::fs::read(obj_path(dir, "commits", repo, id)).unwrap_or_else(|e| panic!("commit {id}: {e}"));
    Commit::parse_expected(Bytes::from(raw), id, repo).unwrap()
}

pub fn read_fs(dir: &Path, store: &RepoId, id: &ObjectId) -> FsObject {
    let raw = std::fs::read(obj_path(dir, "fs", store, id)).unwrap_or_else(|e| panic!("fs {id}: {e}"));
    seaf_objects::fs::verify(id, &raw).unwrap()
}

/// All commits of a library's history, newest first by discovery.
pub fn history(dir: &Path, repo: &RepoId) -> Vec<Commit> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![head(dir, repo)];
    let mut out = Vec::new();
    while let Some(id) = queue.pop() {
        if seen.insert(id) {
            let c = read_commit(dir, repo, &id);
            queue.extend(c.parents());
            out.push(c);
        }
    }
    out
}

/// Every `(path, id, is_dir)` of a tree (paths relative, `/`-joined), `EMPTY_SHA1` entries included.
pub fn tree_entries(dir: &Path, store: &RepoId, root: &ObjectId) -> BTreeSet<(String, ObjectId, bool)> {
    let mut out = BTreeSet::new();
    fn walk(dir: &Path, store: &RepoId, id: &ObjectId, prefix: &str, out: &mut BTreeSet<(String, ObjectId, bool)>) {
        if id.is_empty() {
            return;
        }
        let FsObject::Dir(d) = read_fs(dir, store, id) else { panic!("{id} is not a dir") };
        for e in d.dirents {
            let p = format!("{prefix}/{}", e.name);
            out.insert((p.clone(), e.id, e.is_dir()));
            if e.is_dir() {
                walk(dir, store, &e.id, &p, out);
            }
        }
    }
    walk(dir, store, root, "", &mut out);
    out
}

/// What fs-id-list must return, computed from its definition: the fs objects of the server tree
/// not at the same path with the same id in the client tree, plus the server root if it differs.
pub fn expected_fs_id_list(
    dir: &Path,
    store: &RepoId,
    server_root: &ObjectId,
    client_root: &ObjectId,
    dir_only: bool,
) -> BTreeSet<ObjectId> {
    let s = tree_entries(dir, store, server_root);
    let c: BTreeSet<(String, ObjectId)> =
        tree_entries(dir, store, client_root).into_iter().map(|(p, i, _)| (p, i)).collect();
    let mut out: BTreeSet<ObjectId> = s
        .into_iter()
        .filter(|(p, id, is_dir)| !id.is_empty() && (*is_dir || !dir_only) && !c.contains(&(p.clone(), *id)))
        .map(|(_, id, _)| id)
        .collect();
    if server_root != client_root && !server_root.is_empty() {
        out.insert(*server_root);
    }
    out
}

/// Facts gathered by [`check_tree`].
#[derive(Debug, Default)]
pub struct Facts {
    pub merges: usize,
    pub encrypted_commits: usize,
    pub virtual_libraries: usize,
    pub non_ascii_names: usize,
    pub empty_files: usize,
    pub empty_dirs: usize,
    pub multi_block_files: usize,
    /// Files (paths in head trees) sharing a file id with another path.
    pub shared_file_ids: usize,
    pub commits: usize,
    pub first_commits_ok: usize,
}

/// Lists `(store or repo id, object id)` of every object file under `storage/<kind>`.
pub fn objects_on_disk(dir: &Path, kind: &str) -> BTreeSet<(String, ObjectId)> {
    let mut out = BTreeSet::new();
    let base = dir.join("seafile-data/storage").join(kind);
    let Ok(repos) = std::fs::read_dir(&base) else { return out };
    for repo in repos {
        let repo = repo.unwrap();
        let rname = repo.file_name().into_string().unwrap();
        for pre in std::fs::read_dir(repo.path()).unwrap() {
            let pre = pre.unwrap();
            let p = pre.file_name().into_string().unwrap();
            assert_eq!(p.len(), 2, "two-hex-digit directory, got {p}");
            for f in std::fs::read_dir(pre.path()).unwrap() {
                let f = f.unwrap();
                let name = f.file_name().into_string().unwrap();
                let id = ObjectId::parse(&format!("{p}{name}"))
                    .unwrap_or_else(|_| panic!("stray file {p}/{name} in {kind}"));
                out.insert((rname.clone(), id));
            }
        }
    }
    out
}

/// Validates everything in a data directory and returns what it found. Panics on any defect:
/// invalid or unreachable objects, missing reachable objects, unsorted dirents, bad commits.
pub fn check_tree(dir: &Path) -> Facts {
    let libs = libraries(dir);
    let mut facts = Facts::default();
    let mut commits = BTreeSet::new();
    let mut fs_reach: BTreeSet<(String, ObjectId)> = BTreeSet::new();
    let mut block_reach: BTreeSet<(String, ObjectId)> = BTreeSet::new();
    for lib in &libs {
        if lib.is_virtual {
            facts.virtual_libraries += 1;
            assert_eq!(Some(&lib.store_id), lib.origin_repo.as_ref());
            assert!(lib.origin_path.as_deref().is_some_and(|p| p.starts_with('/')));
        } else {
            assert_eq!(lib.store_id, lib.repo_id);
        }
        let hist = history(dir, &lib.repo_id);
        let head_root = read_commit(dir, &lib.repo_id, &head(dir, &lib.repo_id)).root_id;
        let mut ids_at: BTreeMap<ObjectId, usize> = BTreeMap::new();
        for (_, id, is_dir) in tree_entries(dir, &lib.store_id, &head_root) {
            if !is_dir && !id.is_empty() {
                *ids_at.entry(id).or_default() += 1;
            }
        }
        facts.shared_file_ids += ids_at.values().filter(|&&n| n > 1).count();
        for c in &hist {
            commits.insert((lib.repo_id.to_string(), c.id));
            facts.commits += 1;
            let json: Value = serde_json::from_slice(c.raw()).unwrap();
            assert!(c.raw().starts_with(b"{\"commit_id\": \""), "C-style serialization");
            assert_eq!(c.version, 1);
            assert_eq!(c.repo_name, lib.name);
            assert_eq!(c.encrypted, lib.encrypted, "commit {} of {}", c.id, lib.name);
            if c.encrypted {
                facts.encrypted_commits += 1;
                assert_eq!(json["encrypted"], "true");
                assert_eq!(json["enc_version"], 2);
                assert_eq!(json["magic"].as_str().unwrap().len(), 64);
                assert_eq!(json["key"].as_str().unwrap().len(), 96);
            }
            if c.second_parent_id.is_some() {
                facts.merges += 1;
                assert_eq!(json["new_merge"], 1);
            }
            if c.parent_id.is_none() {
                assert_eq!(c.description, "Created library");
                if !lib.is_virtual {
                    assert!(c.root_id.is_empty(), "a new library starts empty");
                }
                facts.first_commits_ok += 1;
            }
            for p in c.parents() {
                assert!(read_commit(dir, &lib.repo_id, &p).ctime <= c.ctime, "parents are not newer");
            }
            walk_tree(dir, lib, &c.root_id, &mut fs_reach, &mut block_reach, &mut facts);
        }
    }
    same_sets("commits", &objects_on_disk(dir, "commits"), &commits);
    same_sets("fs objects", &objects_on_disk(dir, "fs"), &fs_reach);
    same_sets("blocks", &objects_on_disk(dir, "blocks"), &block_reach);
    for lib in libs.iter().filter(|l| l.is_virtual) {
        for kind in ["fs", "blocks"] {
            assert!(
                !dir.join("seafile-data/storage").join(kind).join(lib.repo_id.as_str()).exists(),
                "virtual library {} has no {kind} store of its own",
                lib.name
            );
        }
    }
    facts
}

/// Objects on disk must be exactly the reachable ones; shows a few of each difference.
fn same_sets(what: &str, on_disk: &BTreeSet<(String, ObjectId)>, reachable: &BTreeSet<(String, ObjectId)>) {
    let orphans: Vec<_> = on_disk.difference(reachable).take(5).collect();
    let missing: Vec<_> = reachable.difference(on_disk).take(5).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "{what}: unreachable on disk {orphans:?}, reachable but missing {missing:?}"
    );
}

fn walk_tree(
    dir: &Path,
    lib: &Lib,
    root: &ObjectId,
    fs_reach: &mut BTreeSet<(String, ObjectId)>,
    block_reach: &mut BTreeSet<(String, ObjectId)>,
    facts: &mut Facts,
) {
    let store = lib.store_id.to_string();
    let mut stack = vec![*root];
    while let Some(id) = stack.pop() {
        if id.is_empty() || !fs_reach.insert((store.clone(), id)) {
            continue;
        }
        let FsObject::Dir(d) = read_fs(dir, &lib.store_id, &id) else { panic!("{id} should be a dir") };
        let names: Vec<&[u8]> = d.dirents.iter().map(|e| e.name.as_bytes()).collect();
        assert!(names.windows(2).all(|w| w[0] > w[1]), "dirents of {id} sorted descending: {names:?}");
        for e in &d.dirents {
            assert!(e.mtime.is_some());
            if !e.name.is_ascii() {
                facts.non_ascii_names += 1;
            }
            if e.is_dir() {
                assert!(e.modifier.is_none() && e.size.is_none(), "dir dirents have id, mode, mtime, name only");
                if e.id.is_empty() {
                    facts.empty_dirs += 1;
                }
                stack.push(e.id);
                continue;
            }
            assert!(e.is_file());
            if e.id.is_empty() {
                facts.empty_files += 1;
                assert_eq!(e.size, Some(0));
                continue;
            }
            if !fs_reach.insert((store.clone(), e.id)) {
                continue;
            }
            let FsObject::File(f) = read_fs(dir, &lib.store_id, &e.id) else { panic!("{} should be a file", e.id) };
            assert_eq!(e.size, Some(f.size as i64), "dirent size = file object size");
            if f.block_ids.len() > 1 {
                facts.multi_block_files += 1;
            }
            let mut stored = 0u64;
            for b in &f.block_ids {
                let data = std::fs::read(obj_path(dir, "blocks", &lib.store_id, b))
                    .unwrap_or_else(|e| panic!("block {b}: {e}"));
                assert_eq!(ObjectId::hash_of(&data), *b, "block id = SHA-1 of content");
                assert!(!data.is_empty());
                if lib.encrypted {
                    assert_eq!(data.len() % 16, 0, "ciphertext blocks are multiples of 16");
                }
                stored += data.len() as u64;
                block_reach.insert((store.clone(), *b));
            }
            if !lib.encrypted {
                assert_eq!(stored, f.size, "plain file size = sum of its blocks");
            } else {
                assert!(stored > f.size && stored - f.size <= 16 * f.block_ids.len() as u64);
            }
        }
    }
}

/// Every file under `dir` with its bytes (for comparing whole trees).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().join(""), Vec::new());
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Runs the binary with `args` and returns its stdout (panics on failure).
pub fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The server binary, running until dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    stdout: mpsc::Receiver<String>,
}

impl Server {
    /// Shared-token mode, with [`TOKEN`].
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::spawn(data, &["--sync-token", TOKEN], extra)
    }

    /// Stock seaf-server mode over the database at `url`.
    pub fn start_stock(data: &Path, url: &str, extra: &[&str]) -> Server {
        Server::spawn(data, &["--database-url", url], extra)
    }

    fn spawn(data: &Path, auth: &[&str], extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(auth)
            .args(extra)
            // The stock-mode URL is passed explicitly; an inherited one must not interfere.
            .env_remove("SEAF_SYNC_TOKEN")
            .env_remove("SEAF_PRIMARY_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("the server prints its address");
        let addr =
            line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
        Server { child, addr, stdout: rx }
    }

    /// The base URL, with or without the `/seafhttp` prefix.
    pub fn base(&self, prefixed: bool) -> String {
        format!("http://{}{}", self.addr, if prefixed { "/seafhttp" } else { "" })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        for _ in 0..100 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}
