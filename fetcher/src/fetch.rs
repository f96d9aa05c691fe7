//! Fetching one library's full history into the store (protocol §5.4).
//!
//! 1. Walk the history from the new head through both parents, stopping at commits already in the
//!    store (by the closure invariant, a stored commit has its whole tree and history).
//! 2. Order the new commits parents-first.
//! 3. For each commit: list the fs objects it has beyond a locally complete parent
//!    (`fs-id-list`; a client-side tree walk over `pack-fs` when that fails) and fetch the missing
//!    ones. Every [`FS_BATCH`] fetched objects (whichever commits they came from): stream and
//!    verify their missing blocks, publish the blocks and then the batch's file objects, and stage
//!    its dirs. Memory holds one batch, not a whole commit: a commit of 400,000 files costs what
//!    one of [`FS_BATCH`] does, plus a few bytes per folder.
//! 4. Once every new commit is staged (or every [`COMMITS_PER_PUBLISH`]), publish the dirs of all
//!    of them from the deepest up, then the commits one by one, parents first. Each level is
//!    durable before the next, so the barriers of a job are one set of dir levels plus one per
//!    commit, not a whole set per commit.
//!
//! A crash at any point leaves only complete closures visible, so a re-run resumes where the
//! last durable level ended. In `force` mode, objects the primary lacks or serves corrupt are
//! skipped and reported instead of failing the library.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use seaf_objects::{Commit, FsObject, ObjectError, ObjectId, ObjectKind, RepoId};
use seaf_store::state::SkippedObject;
use seaf_store::{ObjectStore, Staged};
use seaf_sync_client::{FetchedFs, PACK_FS_BATCH, RepoClient, SyncError};
use serde::Serialize;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::FetchError;

/// A group of downloaded blocks is published once it holds this many bytes.
const BLOCK_GROUP_BYTES: u64 = 64 << 20;

/// The knobs of a library fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Skip (and report) objects the primary lacks or serves corrupt instead of failing.
    pub force: bool,
    /// Check each block's SHA-1 (turn off only for primaries with `skip_block_hash`).
    pub verify_block_hashes: bool,
    /// Blocks downloaded at once.
    pub block_workers: usize,
    /// pack-fs requests in flight at once.
    pub fs_workers: usize,
    /// Commit objects requested at once while walking the history.
    pub commit_workers: usize,
    /// Downloaded blocks are made durable and visible in groups of at most this many (or 64 MiB),
    /// while further downloads go on; a crash loses at most the blocks not yet published.
    pub block_publish_batch: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            force: false,
            verify_block_hashes: true,
            block_workers: 8,
            fs_workers: 4,
            commit_workers: 8,
            block_publish_batch: 512,
        }
    }
}

/// fs objects fetched, and their file objects and blocks made durable, before the next ones are
/// fetched: what bounds the memory of a large commit.
pub const FS_BATCH: usize = 4096;

/// Commits staged before their dirs and themselves are published: bounds the work a crash
/// makes the next run redo, and the staged dirs held in memory.
pub const COMMITS_PER_PUBLISH: usize = 256;

/// What a job has fetched and not yet published.
#[derive(Default)]
struct Pending {
    /// fs objects not yet stored, with the commit each was fetched for (for error messages).
    batch: HashMap<ObjectId, FetchedFs>,
    commit_of: HashMap<ObjectId, ObjectId>,
    dirs: FetchedDirs,
    /// Staged commits, parents first.
    commits: Vec<Staged>,
}

/// The dirs fetched and not yet published: staged (in temp files, not visible), with the subdirs
/// each lists, to publish them deepest first with their commits.
#[derive(Default)]
struct FetchedDirs {
    staged: Vec<Staged>,
    /// Dir id → the ids its dirents mark as dirs.
    subdirs: HashMap<ObjectId, Vec<ObjectId>>,
}

/// Objects and bytes transferred from the primary (and stored), per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchStats {
    pub commits: Transfer,
    pub fs: Transfer,
    pub blocks: Transfer,
}

/// Live counters of a running fetch, readable from another task (progress display, admin API).
#[derive(Debug, Default)]
pub struct Progress {
    pub commits_total: AtomicU64,
    pub commits_done: AtomicU64,
    pub commit_bytes: AtomicU64,
    pub fs_objects: AtomicU64,
    pub fs_bytes: AtomicU64,
    pub blocks: AtomicU64,
    pub block_bytes: AtomicU64,
}

impl Progress {
    pub fn stats(&self) -> FetchStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FetchStats {
            commits: Transfer { objects: get(&self.commits_done), bytes: get(&self.commit_bytes) },
            fs: Transfer { objects: get(&self.fs_objects), bytes: get(&self.fs_bytes) },
            blocks: Transfer { objects: get(&self.blocks), bytes: get(&self.block_bytes) },
        }
    }
}

/// What a successful fetch did.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    /// The head whose whole closure is now durable in the store.
    pub head: ObjectId,
    pub stats: FetchStats,
    /// Objects skipped in force mode (empty otherwise).
    pub skipped: Vec<SkippedObject>,
}

/// One library fetch: the primary's view of library `repo`, and the store to fill.
pub struct LibraryFetch {
    client: RepoClient,
    store: Arc<dyn ObjectStore>,
    repo: RepoId,
    /// Where fs objects and blocks live: the origin library for a virtual library.
    store_id: RepoId,
    opts: FetchOptions,
    progress: Arc<Progress>,
    skipped: std::sync::Mutex<Vec<SkippedObject>>,
}

impl LibraryFetch {
    pub fn new(client: RepoClient, store: Arc<dyn ObjectStore>, store_id: RepoId, opts: FetchOptions) -> Self {
        let repo = client.repo_id().clone();
        LibraryFetch { client, store, repo, store_id, opts, progress: Arc::default(), skipped: Default::default() }
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Fetches everything `head` needs that the store lacks.
    pub async fn run(&self, head: ObjectId) -> Result<FetchReport, FetchError> {
        let started = std::time::Instant::now();
        let commits = self.collect_history(head).instrument(tracing::info_span!("history", %head)).await?;
        tracing::debug!(repo = %self.repo, new_commits = commits.len(), ms = started.elapsed().as_secs_f64() * 1e3, "history walked");
        let up_to_date = commits.is_empty();
        self.progress.commits_total.store(commits.len() as u64, Ordering::Relaxed);
        let mut complete = HashSet::new();
        let mut pending = Pending::default();
        for commit in commits {
            self.fetch_commit(&commit, &complete, &mut pending)
                .instrument(tracing::debug_span!("commit", commit = %commit.id))
                .await?;
            complete.insert(commit.id);
            self.progress.commits_done.fetch_add(1, Ordering::Relaxed);
            if pending.commits.len() >= COMMITS_PER_PUBLISH || pending.dirs.staged.len() >= 16 * FS_BATCH {
                self.publish_pending(&mut pending).await?;
            }
        }
        self.publish_pending(&mut pending).await?;
        if !up_to_date {
            self.store
                .flush()
                .instrument(tracing::info_span!("durability_barrier"))
                .await
                .map_err(FetchError::store("making the new objects durable"))?;
        }
        let skipped = std::mem::take(&mut *self.skipped.lock().expect("skip list lock"));
        Ok(FetchReport { head, stats: self.progress.stats(), skipped })
    }

    // ---- history -------------------------------------------------------------------------

    /// The commits reachable from `head` that the store lacks, parents before children.
    async fn collect_history(&self, head: ObjectId) -> Result<Vec<Commit>, FetchError> {
        let mut found: HashMap<ObjectId, Commit> = HashMap::new();
        // For error messages: who references a commit.
        let mut child_of: HashMap<ObjectId, ObjectId> = HashMap::new();
        let mut seen = HashSet::from([head]);
        let mut frontier = vec![head];
        while !frontier.is_empty() {
            let wanted = self.missing(ObjectKind::Commit, &self.repo, frontier).await?;
            let results: Vec<(ObjectId, Result<Commit, SyncError>)> = futures::stream::iter(wanted)
                .map(|id| async move { (id, self.client.commit(&id).await) })
                .buffer_unordered(self.opts.commit_workers.max(1))
                .collect()
                .await;
            let mut next = Vec::new();
            for (id, result) in results {
                match result {
                    Ok(c) => {
                        for p in c.parents() {
                            child_of.entry(p).or_insert(id);
                            if seen.insert(p) {
                                next.push(p);
                            }
                        }
                        found.insert(id, c);
                    }
                    Err(e) => {
                        let referenced_by = match child_of.get(&id) {
                            Some(child) => format!("commit {child}"),
                            None => "the branch head".to_owned(),
                        };
                        let missing = matches!(e, SyncError::NotFound { .. });
                        let corrupt = matches!(e, SyncError::Object(_));
                        // The head itself cannot be skipped: there would be nothing to publish.
                        if id == head || !(missing || corrupt) {
                            return Err(FetchError::sync(format!("fetching commit {id} ({referenced_by})"))(e));
                        }
                        let reason = if missing { "missing on the primary".to_owned() } else { e.to_string() };
                        self.skip_or_fail(ObjectKind::Commit, id, referenced_by, reason, corrupt)?;
                    }
                }
            }
            frontier = next;
        }
        Ok(topological(found))
    }

    // ---- one commit ----------------------------------------------------------------------

    /// Fetches what `commit` adds beyond a complete parent into `pending`, storing full batches,
    /// and stages the commit.
    async fn fetch_commit(
        &self,
        commit: &Commit,
        complete: &HashSet<ObjectId>,
        pending: &mut Pending,
    ) -> Result<(), FetchError> {
        let started = std::time::Instant::now();
        let mut fs_count = 0;
        if !commit.root_id.is_empty() {
            let base = self.complete_parent(commit, complete).await?;
            match self.client.fs_id_list(&commit.id, base.as_ref()).await {
                Ok(ids) => {
                    let mut missing = self.missing(ObjectKind::Fs, &self.store_id, ids).await?;
                    // Fetched for an earlier commit of this job and not yet visible (a moved
                    // file, a restored folder): not again.
                    missing.retain(|id| !pending.batch.contains_key(id) && !pending.dirs.subdirs.contains_key(id));
                    fs_count = missing.len();
                    for chunk in missing.chunks(FS_BATCH) {
                        let fetched = self.fetch_fs_set(chunk.to_vec(), commit.id).await?;
                        self.add_to_batch(fetched, commit.id, pending).await?;
                    }
                }
                Err(e @ (SyncError::Auth { .. } | SyncError::RepoDeleted(_))) => {
                    return Err(FetchError::sync(format!("listing fs objects of commit {}", commit.id))(e));
                }
                Err(e) => {
                    // fs-id-list is only an optimisation: pack-fs serves any fs object, so walk
                    // the tree ourselves (also the only way on a Go primary for v0 libraries).
                    tracing::warn!(repo = %self.repo, commit = %commit.id, error = %e, "fs-id-list failed; walking the tree instead");
                    let fetched = self.walk_tree(commit.root_id, commit.id).await?;
                    fs_count = fetched.len();
                    self.add_to_batch(fetched, commit.id, pending).await?;
                }
            }
        }
        let staged = self
            .store
            .stage(ObjectKind::Commit, &self.repo, &commit.id, commit.raw().clone())
            .await
            .map_err(FetchError::store(format!("staging commit {}", commit.id)))?;
        pending.commits.push(staged);
        self.progress.commit_bytes.fetch_add(commit.raw().len() as u64, Ordering::Relaxed);
        tracing::debug!(
            repo = %self.repo, commit = %commit.id, fs = fs_count,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "commit staged"
        );
        Ok(())
    }

    /// Adds fetched fs objects to the pending batch, storing it once it is full.
    async fn add_to_batch(
        &self,
        fetched: HashMap<ObjectId, FetchedFs>,
        commit: ObjectId,
        pending: &mut Pending,
    ) -> Result<(), FetchError> {
        for (id, f) in fetched {
            pending.commit_of.insert(id, commit);
            pending.batch.insert(id, f);
        }
        if pending.batch.len() >= FS_BATCH {
            self.store_pending_batch(pending).await?;
        }
        Ok(())
    }

    async fn store_pending_batch(&self, pending: &mut Pending) -> Result<(), FetchError> {
        let batch = std::mem::take(&mut pending.batch);
        let commit_of = std::mem::take(&mut pending.commit_of);
        self.store_batch(batch, &commit_of, &mut pending.dirs).await
    }

    /// Publishes what is pending: the last batch, then the dirs of every staged commit from the
    /// deepest up, then the commits one level each, parents first (a commit's closure includes
    /// its parents: a crash must never leave a child visible without them).
    async fn publish_pending(&self, pending: &mut Pending) -> Result<(), FetchError> {
        if !pending.batch.is_empty() {
            self.store_pending_batch(pending).await?;
        }
        let mut levels = dir_levels(std::mem::take(&mut pending.dirs));
        levels.extend(std::mem::take(&mut pending.commits).into_iter().map(|c| vec![c]));
        if levels.is_empty() {
            return Ok(());
        }
        self.publish(levels).await
    }

    /// Makes one batch of fetched fs objects safe to forget: their missing blocks and then their
    /// file objects become durable and visible (a file's closure is its blocks), and the dirs are
    /// staged until their commits are published (a dir's closure is everything below it).
    async fn store_batch(
        &self,
        fetched: HashMap<ObjectId, FetchedFs>,
        commit_of: &HashMap<ObjectId, ObjectId>,
        dirs: &mut FetchedDirs,
    ) -> Result<(), FetchError> {
        let last_blocks = self.fetch_blocks(&fetched, commit_of).await?;
        let (mut files, mut dir_objects) = (Vec::new(), Vec::new());
        for (id, f) in fetched {
            match f.object {
                FsObject::File(_) => files.push((id, f.stored)),
                FsObject::Dir(d) => {
                    let subdirs = d.dirents.iter().filter(|e| e.is_dir() && !e.id.is_empty()).map(|e| e.id).collect();
                    dirs.subdirs.insert(id, subdirs);
                    dir_objects.push((id, f.stored));
                }
            }
        }
        let staged_files = self
            .store
            .stage_many(ObjectKind::Fs, &self.store_id, files)
            .await
            .map_err(FetchError::store("staging file objects"))?;
        let staged_dirs = self
            .store
            .stage_many(ObjectKind::Fs, &self.store_id, dir_objects)
            .await
            .map_err(FetchError::store("staging dir objects"))?;
        dirs.staged.extend(staged_dirs);
        // An empty level would still cost a durability barrier.
        let levels: Vec<Vec<Staged>> = [last_blocks, staged_files].into_iter().filter(|l| !l.is_empty()).collect();
        if levels.is_empty() {
            return Ok(());
        }
        self.publish(levels).await
    }

    /// A parent whose closure is complete in the store, first parent preferred.
    async fn complete_parent(
        &self,
        commit: &Commit,
        complete: &HashSet<ObjectId>,
    ) -> Result<Option<ObjectId>, FetchError> {
        for p in commit.parents() {
            if complete.contains(&p) || self.contains(ObjectKind::Commit, &self.repo, &[p]).await?[0] {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Client-side tree walk: breadth-first from `root`, fetching every object the store lacks.
    async fn walk_tree(&self, root: ObjectId, commit: ObjectId) -> Result<HashMap<ObjectId, FetchedFs>, FetchError> {
        let mut out: HashMap<ObjectId, FetchedFs> = HashMap::new();
        let mut queue = self.missing(ObjectKind::Fs, &self.store_id, vec![root]).await?;
        while !queue.is_empty() {
            let got = self.fetch_fs_set(queue, commit).await?;
            let mut children = Vec::new();
            let mut queued = HashSet::new();
            for f in got.values() {
                for child in f.object.fs_children() {
                    if !out.contains_key(&child) && !got.contains_key(&child) && queued.insert(child) {
                        children.push(child);
                    }
                }
            }
            out.extend(got);
            queue = self.missing(ObjectKind::Fs, &self.store_id, children).await?;
        }
        Ok(out)
    }

    /// Fetches and verifies fs objects, several pack-fs requests in flight.
    async fn fetch_fs_set(
        &self,
        ids: Vec<ObjectId>,
        commit: ObjectId,
    ) -> Result<HashMap<ObjectId, FetchedFs>, FetchError> {
        let chunks: Vec<Vec<ObjectId>> = ids.chunks(PACK_FS_BATCH).map(<[_]>::to_vec).collect();
        let results: Vec<Vec<FetchedFs>> = futures::stream::iter(chunks)
            .map(|chunk| self.fetch_fs_chunk(chunk, commit))
            .buffer_unordered(self.opts.fs_workers.max(1))
            .try_collect()
            .await?;
        let mut out = HashMap::new();
        for f in results.into_iter().flatten() {
            self.progress.fs_objects.fetch_add(1, Ordering::Relaxed);
            self.progress.fs_bytes.fetch_add(f.stored.len() as u64, Ordering::Relaxed);
            out.insert(f.id, f);
        }
        Ok(out)
    }

    /// One batch of fs objects; objects the primary lacks or serves corrupt are skipped in force
    /// mode and the rest fetched again.
    async fn fetch_fs_chunk(&self, mut ids: Vec<ObjectId>, commit: ObjectId) -> Result<Vec<FetchedFs>, FetchError> {
        let referenced_by = || format!("commit {commit}");
        loop {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let err = match self.client.fetch_fs(&ids).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match &err {
                SyncError::Object(ObjectError::HashMismatch { id, .. } | ObjectError::BadFs { id, .. }) => {
                    let id = *id;
                    self.skip_or_fail(ObjectKind::Fs, id, referenced_by(), err.to_string(), true)?;
                    ids.retain(|x| *x != id);
                }
                e if e.is_transient() => {
                    // Retries are exhausted: is an object of this batch missing on the primary?
                    let missing = self
                        .client
                        .check_fs(&ids)
                        .await
                        .map_err(FetchError::sync(format!("checking fs objects of commit {commit}")))?;
                    if missing.is_empty() {
                        return Err(FetchError::sync(format!("fetching fs objects of commit {commit}"))(err));
                    }
                    for id in &missing {
                        self.skip_or_fail(
                            ObjectKind::Fs,
                            *id,
                            referenced_by(),
                            "missing on the primary".into(),
                            false,
                        )?;
                    }
                    ids.retain(|x| !missing.contains(x));
                }
                _ => return Err(FetchError::sync(format!("fetching fs objects of commit {commit}"))(err)),
            }
        }
    }

    /// Downloads the blocks of the fetched file objects that the store lacks, publishing them in
    /// groups as they arrive. Returns the last group, staged but not yet published.
    async fn fetch_blocks(
        &self,
        fetched: &HashMap<ObjectId, FetchedFs>,
        commit_of: &HashMap<ObjectId, ObjectId>,
    ) -> Result<Vec<Staged>, FetchError> {
        let mut owner: HashMap<ObjectId, ObjectId> = HashMap::new();
        for f in fetched.values() {
            if let FsObject::File(file) = &f.object {
                for b in &file.block_ids {
                    if !b.is_empty() {
                        owner.entry(*b).or_insert(f.id);
                    }
                }
            }
        }
        let mut wanted =
            self.missing(ObjectKind::Block, &self.store_id, owner.keys().copied().collect()).await?.into_iter();

        // Downloads go on while a publisher task makes finished blocks durable in groups.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let publisher = tokio::spawn(publish_blocks(self.store.clone(), rx, self.opts.block_publish_batch.max(1)));
        let mut tasks = JoinSet::new();
        let mut failure = None;
        loop {
            while failure.is_none() && tasks.len() < self.opts.block_workers.max(1) {
                let Some(id) = wanted.next() else { break };
                tasks.spawn(download_block(
                    self.client.clone(),
                    self.store.clone(),
                    self.store_id.clone(),
                    id,
                    self.opts.verify_block_hashes,
                ));
            }
            let Some(joined) = tasks.join_next().await else { break };
            let (id, result) =
                joined.map_err(|e| FetchError::store("block download task")(std::io::Error::other(e)))?;
            match result {
                Ok((staged, n)) => {
                    self.progress.blocks.fetch_add(1, Ordering::Relaxed);
                    self.progress.block_bytes.fetch_add(n, Ordering::Relaxed);
                    // A send fails only when the publisher stopped on an error, reported below.
                    let _ = tx.send((staged, n));
                }
                Err(err) => {
                    let file = owner[&id];
                    let referenced_by = match commit_of.get(&file) {
                        Some(commit) => format!("file {file} in commit {commit}"),
                        None => format!("file {file}"),
                    };
                    if let Err(e) = self.block_failed(id, referenced_by, err).await {
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        drop(tx);
        let published =
            publisher.await.map_err(|e| FetchError::store("block publisher task")(std::io::Error::other(e)))?;
        match (failure, published) {
            (None, Ok(last_group)) => Ok(last_group),
            (Some(e), Ok(last_group)) => {
                // Blocks reference nothing: keep what was downloaded, less to fetch next time.
                self.publish(vec![last_group]).await?;
                Err(e)
            }
            (_, Err(e)) => Err(FetchError::store("publishing blocks")(e)),
        }
    }

    async fn block_failed(&self, id: ObjectId, referenced_by: String, err: SyncError) -> Result<(), FetchError> {
        if let SyncError::Object(_) = err {
            return self.skip_or_fail(ObjectKind::Block, id, referenced_by, err.to_string(), true);
        }
        if err.is_transient() {
            let missing =
                self.client.check_blocks(&[id]).await.map_err(FetchError::sync(format!("checking block {id}")))?;
            if missing.contains(&id) {
                return self.skip_or_fail(ObjectKind::Block, id, referenced_by, "missing on the primary".into(), false);
            }
        }
        Err(FetchError::sync(format!("fetching block {id} ({referenced_by})"))(err))
    }

    // ---- helpers -------------------------------------------------------------------------

    async fn contains(&self, kind: ObjectKind, store_id: &RepoId, ids: &[ObjectId]) -> Result<Vec<bool>, FetchError> {
        self.store.contains_many(kind, store_id, ids).await.map_err(FetchError::store(format!("checking {kind}s")))
    }

    /// The ids among `ids` that the store lacks, in order.
    async fn missing(
        &self,
        kind: ObjectKind,
        store_id: &RepoId,
        ids: Vec<ObjectId>,
    ) -> Result<Vec<ObjectId>, FetchError> {
        let present = self.contains(kind, store_id, &ids).await?;
        Ok(ids.into_iter().zip(present).filter(|(_, p)| !p).map(|(id, _)| id).collect())
    }

    async fn publish(&self, levels: Vec<Vec<Staged>>) -> Result<(), FetchError> {
        self.store.publish(levels).await.map_err(FetchError::store("publishing objects"))
    }

    /// In force mode, records the object as skipped; otherwise the library fails naming it.
    fn skip_or_fail(
        &self,
        kind: ObjectKind,
        id: ObjectId,
        referenced_by: String,
        reason: String,
        corrupt: bool,
    ) -> Result<(), FetchError> {
        if !self.opts.force {
            return Err(if corrupt {
                FetchError::CorruptOnPrimary { kind, id, referenced_by, detail: reason }
            } else {
                FetchError::MissingOnPrimary { kind, id, referenced_by }
            });
        }
        tracing::warn!(repo = %self.repo, %kind, %id, %reason, "skipping object (force)");
        let mut skipped = self.skipped.lock().expect("skip list lock");
        if !skipped.iter().any(|s| s.id == id && s.kind == kind) {
            skipped.push(SkippedObject { kind, id, reason: format!("{reason} (referenced by {referenced_by})") });
        }
        Ok(())
    }
}

/// Publishes staged blocks in groups of `max_group` blocks or [`BLOCK_GROUP_BYTES`], whichever
/// comes first, while downloads go on: one durability barrier per group rather than per block.
/// The last, partial group is returned unpublished when the sender closes.
async fn publish_blocks(
    store: Arc<dyn ObjectStore>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(Staged, u64)>,
    max_group: usize,
) -> std::io::Result<Vec<Staged>> {
    loop {
        let (mut group, mut bytes) = (Vec::new(), 0);
        while group.len() < max_group && bytes < BLOCK_GROUP_BYTES {
            match rx.recv().await {
                Some((s, n)) => {
                    group.push(s);
                    bytes += n;
                }
                None => return Ok(group),
            }
        }
        if let Err(e) = store.publish(vec![group]).await {
            rx.close();
            let mut rest = Vec::new();
            while let Some((s, _)) = rx.recv().await {
                rest.push(s);
            }
            store.discard(rest).await;
            return Err(e);
        }
    }
}

/// Streams one block into a staged temp file; the temp file is removed on failure.
async fn download_block(
    client: RepoClient,
    store: Arc<dyn ObjectStore>,
    store_id: RepoId,
    id: ObjectId,
    verify: bool,
) -> (ObjectId, Result<(Staged, u64), SyncError>) {
    let (staged, mut file) = match store.stage_block(&store_id, &id).await {
        Ok(s) => s,
        Err(e) => return (id, Err(SyncError::Io(e))),
    };
    let result = client.fetch_block(&id, verify, &mut file).await;
    drop(file);
    match result {
        Ok(n) => (id, Ok((staged, n))),
        Err(e) => {
            store.discard(vec![staged]).await;
            (id, Err(e))
        }
    }
}

/// Kahn's algorithm over the fetched sub-DAG: every commit after its fetched parents. Ties are
/// broken by ctime then id, so runs are reproducible (ctime alone is client-supplied and can lie).
fn topological(found: HashMap<ObjectId, Commit>) -> Vec<Commit> {
    let mut indegree: HashMap<ObjectId, usize> = HashMap::new();
    let mut children: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    for c in found.values() {
        let parents: HashSet<ObjectId> = c.parents().filter(|p| found.contains_key(p)).collect();
        indegree.insert(c.id, parents.len());
        for p in parents {
            children.entry(p).or_default().push(c.id);
        }
    }
    let key = |id: &ObjectId| (found[id].ctime, *id);
    let mut ready: std::collections::BTreeSet<(i64, ObjectId)> =
        indegree.iter().filter(|(_, d)| **d == 0).map(|(id, _)| key(id)).collect();
    let mut order = Vec::with_capacity(found.len());
    while let Some(first) = ready.pop_first() {
        let id = first.1;
        for child in children.get(&id).into_iter().flatten() {
            let d = indegree.get_mut(child).expect("child is indexed");
            *d -= 1;
            if *d == 0 {
                ready.insert(key(child));
            }
        }
        order.push(id);
    }
    let mut found = found;
    order.into_iter().map(|id| found.remove(&id).expect("ordered ids come from the map")).collect()
}

/// The staged dirs of a job's commits as publish levels: a dir after every fetched dir below it
/// (its height among the fetched dirs; dirs already in the store count as height 0).
fn dir_levels(dirs: FetchedDirs) -> Vec<Vec<Staged>> {
    let FetchedDirs { staged, subdirs } = dirs;
    let mut heights: HashMap<ObjectId, u32> = HashMap::with_capacity(subdirs.len());
    for &start in subdirs.keys() {
        if heights.contains_key(&start) {
            continue;
        }
        // Iterative post-order, so deep trees cannot overflow the stack.
        let mut stack = vec![(start, false)];
        while let Some((id, expanded)) = stack.pop() {
            if heights.contains_key(&id) {
                continue;
            }
            let fetched_subdirs = || subdirs[&id].iter().copied().filter(|c| subdirs.contains_key(c));
            if expanded {
                let h = fetched_subdirs().map(|c| heights.get(&c).copied().unwrap_or(0)).max().unwrap_or(0) + 1;
                heights.insert(id, h);
            } else {
                stack.push((id, true));
                stack.extend(fetched_subdirs().filter(|c| !heights.contains_key(c)).map(|c| (c, false)));
            }
        }
    }
    let max = heights.values().copied().max().unwrap_or(0) as usize;
    let mut levels: Vec<Vec<Staged>> = (0..max).map(|_| Vec::new()).collect();
    for s in staged {
        levels[heights[&s.id] as usize - 1].push(s);
    }
    levels
}
