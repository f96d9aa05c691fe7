//! The filesystem backend: a `seafile-data` tree.
//!
//! A staged object is written to a temp file *beside its final path*
//! (`<2 hex>/<38 hex>.<host>.<pid>.<n>.seaf-backup.tmp`), as Seafile's own writer does: the rename
//! stays within one directory, and ext4 allocates the inodes near their directory instead of
//! crowding one staging directory (which halves the speed of a large backup). Seafile's fsck and
//! GC ignore such names. So that a crashed writer's temp files do not linger, each process keeps
//! a journal in `tmpfiles/` of the directories it staged into; opening the store removes the temp
//! files of dead writers, found through their journals.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use seaf_objects::{ObjectId, ObjectKind, RepoId};

use crate::{ObjectStore, Staged};

/// Suffix of our temp files and journals, so that clean-up never touches Seafile's own files.
const TEMP_SUFFIX: &str = ".seaf-backup.tmp";
const JOURNAL_SUFFIX: &str = ".seaf-backup.journal";
/// Journals of another host older than this belong to a crashed writer. (Several fetchers on
/// several hosts share a store; on our own host, the writer's pid tells at once.)
const STALE_AGE: Duration = Duration::from_secs(3600);
/// How many files one blocking task fsyncs in [`Durability::Fsync`] mode.
const FSYNC_CHUNK: usize = 32;
/// How many objects one blocking task stages in [`ObjectStore::stage_many`].
const STAGE_CHUNK: usize = 256;

/// How a publish barrier makes writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// One `syncfs(2)` per barrier: flushes the whole filesystem at once, much cheaper than one
    /// fsync per object on local filesystems (ext4, xfs).
    #[default]
    Syncfs,
    /// `fsync(2)` of every file and of every directory it was renamed into: for network
    /// filesystems where `syncfs` may not reach the server.
    Fsync,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "syncfs" => Ok(Durability::Syncfs),
            "fsync" => Ok(Durability::Fsync),
            other => Err(format!("unknown durability mode {other:?} (expected syncfs or fsync)")),
        }
    }
}

/// A `seafile-data` directory used as the backup's object store.
#[derive(Clone)]
pub struct FsStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    durability: Durability,
    /// Kept open for `syncfs`, which needs any descriptor on the filesystem.
    root_dir: File,
    /// `<host>.<pid>`: makes temp names unique across hosts and processes, and names the journal.
    writer: String,
    seq: AtomicU64,
    journal: Mutex<Journal>,
    /// Directories whose new entries are not yet durable (fsync mode): the last level of each
    /// publish, synced by the next barrier.
    pending_dirs: Mutex<HashSet<PathBuf>>,
}

/// The directories this process has staged into (created, and written to the journal file),
/// and its temp files not yet published or discarded.
struct Journal {
    path: PathBuf,
    file: File,
    dirs: HashSet<PathBuf>,
    live: HashSet<PathBuf>,
}

impl Inner {
    /// `syncfs(2)` on the store's filesystem (blocking).
    fn syncfs_now(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `self` keeps open for the call.
        let rc = unsafe { libc::syncfs(self.root_dir.as_raw_fd()) };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }
}

impl Drop for Inner {
    /// A clean exit removes what a crash would have left for the next writer to clean.
    fn drop(&mut self) {
        let journal = self.journal.get_mut().unwrap_or_else(|e| e.into_inner());
        for temp in journal.live.drain() {
            let _ = std::fs::remove_file(temp);
        }
        let _ = std::fs::remove_file(&journal.path);
    }
}

impl FsStore {
    /// Opens (creating if needed) the `seafile-data` tree at `root` and removes the temp files
    /// of dead writers.
    pub fn open(root: impl Into<PathBuf>, durability: Durability) -> io::Result<FsStore> {
        let root = root.into();
        for kind in [ObjectKind::Commit, ObjectKind::Fs, ObjectKind::Block] {
            std::fs::create_dir_all(root.join("storage").join(kind.dir_name()))?;
        }
        let tmp = root.join("tmpfiles");
        std::fs::create_dir_all(&tmp)?;
        let host = host_name();
        remove_dead_writers_temps(&tmp, &host);
        let writer = format!("{host}.{}", std::process::id());
        let journal_path = tmp.join(format!("{writer}{JOURNAL_SUFFIX}"));
        let file = File::options().create(true).append(true).open(&journal_path)?;
        let root_dir = File::open(&root)?;
        Ok(FsStore {
            inner: Arc::new(Inner {
                root,
                durability,
                root_dir,
                writer,
                seq: AtomicU64::new(0),
                journal: Mutex::new(Journal { path: journal_path, file, dirs: HashSet::new(), live: HashSet::new() }),
                pending_dirs: Mutex::default(),
            }),
        })
    }

    /// The `seafile-data` directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// `storage/<kind>/<store id>/<id[0:2]>/<id[2:40]>`, Seafile's path for an object.
    pub fn object_path(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> PathBuf {
        object_path(&self.inner.root, kind, store_id, id)
    }

    /// A fresh temp path beside the object's final path, its directory created and journaled.
    /// Runs on a blocking thread.
    fn temp_path(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> io::Result<PathBuf> {
        let dest = self.object_path(kind, store_id, id);
        let dir = dest.parent().expect("object paths have a parent");
        {
            let mut journal = self.inner.journal.lock().expect("journal lock");
            if !journal.dirs.contains(dir) {
                // Journal first: a crash between the two leaves a harmless extra line.
                writeln!(journal.file, "{}", dir.display())?;
                let created = create_dirs(dir)?;
                if self.inner.durability == Durability::Fsync {
                    self.inner.pending_dirs.lock().expect("pending dirs lock").extend(created);
                }
                journal.dirs.insert(dir.to_path_buf());
            }
        }
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let name = dest.file_name().expect("object file name").to_string_lossy();
        let temp = dir.join(format!("{name}.{}.{n}{TEMP_SUFFIX}", self.inner.writer));
        self.inner.journal.lock().expect("journal lock").live.insert(temp.clone());
        Ok(temp)
    }

    /// Forgets temp files that were renamed or removed.
    fn done_with(&self, temps: impl IntoIterator<Item = PathBuf>) {
        let mut journal = self.inner.journal.lock().expect("journal lock");
        for t in temps {
            journal.live.remove(&t);
        }
    }

    /// Writes `data` to a fresh temp file beside the object's final path (blocking).
    fn stage_now(&self, kind: ObjectKind, store_id: &RepoId, id: ObjectId, data: &[u8]) -> io::Result<Staged> {
        let temp = self.temp_path(kind, store_id, &id)?;
        File::create(&temp)?.write_all(data)?;
        Ok(Staged { kind, store_id: store_id.clone(), id, temp })
    }

    /// Makes the renames into `dirs`, and every rename published before, durable (timed in
    /// [`BARRIER_SECONDS`]).
    async fn sync_names(&self, dirs: HashSet<PathBuf>) -> io::Result<()> {
        let started = std::time::Instant::now();
        let result = self.sync_names_untimed(dirs).await;
        metrics::histogram!(BARRIER_SECONDS).record(started.elapsed().as_secs_f64());
        result
    }

    async fn sync_names_untimed(&self, mut dirs: HashSet<PathBuf>) -> io::Result<()> {
        match self.inner.durability {
            Durability::Syncfs => self.syncfs().await,
            Durability::Fsync => {
                dirs.extend(std::mem::take(&mut *self.inner.pending_dirs.lock().expect("pending dirs lock")));
                let result = fsync_all(dirs.iter().cloned().collect(), true).await;
                if result.is_err() {
                    self.inner.pending_dirs.lock().expect("pending dirs lock").extend(dirs);
                }
                result
            }
        }
    }

    /// [`ObjectStore::publish`] in fsync mode: every temp file fsynced (in parallel), then each
    /// level renamed and its directories fsynced before the next.
    async fn publish_fsync(&self, levels: Vec<Vec<Staged>>) -> io::Result<()> {
        fsync_all(levels.iter().flatten().map(|s| s.temp.clone()).collect(), false).await?;
        self.sync_names(HashSet::new()).await?;
        let last = levels.len() - 1;
        for (i, level) in levels.into_iter().enumerate() {
            let root = self.inner.root.clone();
            let (touched, renamed) = blocking(move || {
                let mut touched = HashSet::new();
                for s in &level {
                    let dest = object_path(&root, s.kind, &s.store_id, &s.id);
                    std::fs::rename(&s.temp, &dest)?;
                    touched.insert(dest.parent().expect("object paths have a parent").to_path_buf());
                }
                Ok((touched, level.into_iter().map(|s| s.temp)))
            })
            .await?;
            self.done_with(renamed);
            if i < last {
                self.sync_names(touched).await?;
            } else {
                self.inner.pending_dirs.lock().expect("pending dirs lock").extend(touched);
            }
        }
        Ok(())
    }

    /// [`ObjectStore::publish`] in syncfs mode, in one blocking task: barriers and renames
    /// alternate without a thread hop between them (most of the cost of a small commit).
    async fn publish_syncfs(&self, levels: Vec<Vec<Staged>>) -> io::Result<()> {
        let inner = self.inner.clone();
        let renamed = blocking(move || {
            let last = levels.len() - 1;
            let mut renamed = Vec::new();
            let mut result = inner.syncfs_now();
            for (i, level) in levels.into_iter().enumerate() {
                if result.is_err() {
                    break;
                }
                for s in level {
                    result = std::fs::rename(&s.temp, object_path(&inner.root, s.kind, &s.store_id, &s.id));
                    if result.is_err() {
                        break;
                    }
                    renamed.push(s.temp);
                }
                if result.is_ok() && i < last {
                    result = inner.syncfs_now();
                }
            }
            Ok((renamed, result))
        })
        .await?;
        let (renamed, result) = renamed;
        self.done_with(renamed);
        result
    }

    async fn syncfs(&self) -> io::Result<()> {
        let inner = self.inner.clone();
        blocking(move || inner.syncfs_now()).await
    }
}

/// Time of each durability barrier (a `syncfs`, or the directory fsyncs of one level).
pub const BARRIER_SECONDS: &str = "seaf_backup_store_barrier_duration_seconds";

/// Registers the help text of the store's metrics.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        BARRIER_SECONDS,
        metrics::Unit::Seconds,
        "Time of each durability barrier of the store (a syncfs, or one level's directory fsyncs)."
    );
}

pub(crate) fn object_path(root: &Path, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> PathBuf {
    let hex = id.to_hex();
    root.join("storage").join(kind.dir_name()).join(store_id.as_str()).join(&hex[..2]).join(&hex[2..])
}

/// `create_dir_all` that returns the parents of the directories it created: their new entries
/// must be made durable too.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    std::fs::create_dir_all(dir)?;
    Ok(missing.iter().filter_map(|m| m.parent().map(Path::to_path_buf)).collect())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// fsyncs files (or directories) in parallel on the blocking pool.
async fn fsync_all(paths: Vec<PathBuf>, dirs: bool) -> io::Result<()> {
    let tasks: Vec<_> = paths
        .chunks(FSYNC_CHUNK)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            tokio::task::spawn_blocking(move || {
                for p in chunk {
                    let f = if dirs { File::open(&p)? } else { File::options().read(true).write(true).open(&p)? };
                    f.sync_all()?;
                }
                io::Result::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(io::Error::other)??;
    }
    Ok(())
}

/// This host's name, reduced to characters that are safe in a file name.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let raw = if rc == 0 { &buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())] } else { b"localhost" };
    raw.iter().map(|&b| if b.is_ascii_alphanumeric() || b == b'-' { b as char } else { '_' }).collect()
}

/// Removes the temp files of dead writers: on this host, writers whose process is gone; from
/// elsewhere, writers whose journal is older than [`STALE_AGE`]. Each journal lists the
/// directories to look in, so the tree is never scanned as a whole.
fn remove_dead_writers_temps(tmp: &Path, host: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(writer) = name.to_str().and_then(|n| n.strip_suffix(JOURNAL_SUFFIX)) else { continue };
        let dead_here = writer.rsplit_once('.').is_some_and(|(h, pid)| {
            h == host && pid.parse::<u32>().is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        });
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_AGE);
        if !(dead_here || old) {
            continue;
        }
        let marker = format!(".{writer}.");
        let dirs = std::fs::read_to_string(e.path()).unwrap_or_default();
        for dir in dirs.lines().collect::<HashSet<_>>() {
            let Ok(files) = std::fs::read_dir(dir) else { continue };
            for f in files.flatten() {
                let n = f.file_name();
                let n = n.to_string_lossy();
                if n.ends_with(TEMP_SUFFIX) && n.contains(&marker) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn contains_many(&self, kind: ObjectKind, store_id: &RepoId, ids: &[ObjectId]) -> io::Result<Vec<bool>> {
        let root = self.inner.root.clone();
        let store_id = store_id.clone();
        let ids = ids.to_vec();
        blocking(move || ids.iter().map(|id| object_path(&root, kind, &store_id, id).try_exists()).collect()).await
    }

    async fn get(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> io::Result<Option<Bytes>> {
        let path = self.object_path(kind, store_id, id);
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stage(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId, data: Bytes) -> io::Result<Staged> {
        let (this, store, id) = (self.clone(), store_id.clone(), *id);
        blocking(move || this.stage_now(kind, &store, id, &data)).await
    }

    async fn stage_many(
        &self,
        kind: ObjectKind,
        store_id: &RepoId,
        objects: Vec<(ObjectId, Bytes)>,
    ) -> io::Result<Vec<Staged>> {
        // One blocking task per chunk, chunks in parallel: small fs objects cost a file create and
        // a write each, and a thread hop per object would cost as much again.
        let tasks: Vec<_> = objects
            .chunks(STAGE_CHUNK)
            .map(|chunk| {
                let (this, store, chunk) = (self.clone(), store_id.clone(), chunk.to_vec());
                tokio::task::spawn_blocking(move || {
                    chunk
                        .into_iter()
                        .map(|(id, data)| this.stage_now(kind, &store, id, &data))
                        .collect::<io::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(objects.len());
        let mut first_error = None;
        for t in tasks {
            match t.await.map_err(io::Error::other).and_then(|r| r) {
                Ok(staged) => out.extend(staged),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(out),
            Some(e) => {
                self.discard(out).await;
                Err(e)
            }
        }
    }

    async fn stage_block(&self, store_id: &RepoId, id: &ObjectId) -> io::Result<(Staged, tokio::fs::File)> {
        let (this, store, oid) = (self.clone(), store_id.clone(), *id);
        let (temp, file) = blocking(move || {
            let temp = this.temp_path(ObjectKind::Block, &store, &oid)?;
            let file = File::create(&temp)?;
            Ok((temp, file))
        })
        .await?;
        Ok((
            Staged { kind: ObjectKind::Block, store_id: store_id.clone(), id: *id, temp },
            tokio::fs::File::from_std(file),
        ))
    }

    async fn publish(&self, levels: Vec<Vec<Staged>>) -> io::Result<()> {
        let levels: Vec<Vec<Staged>> = levels.into_iter().filter(|l| !l.is_empty()).collect();
        if levels.is_empty() {
            return Ok(());
        }
        match self.inner.durability {
            Durability::Syncfs => self.publish_syncfs(levels).await,
            Durability::Fsync => self.publish_fsync(levels).await,
        }
    }

    async fn flush(&self) -> io::Result<()> {
        self.sync_names(HashSet::new()).await
    }

    async fn discard(&self, staged: Vec<Staged>) {
        let temps: Vec<PathBuf> = staged.into_iter().map(|s| s.temp).collect();
        let removed = blocking(move || {
            for t in &temps {
                let _ = std::fs::remove_file(t);
            }
            Ok(temps)
        })
        .await;
        if let Ok(temps) = removed {
            self.done_with(temps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Temp files anywhere below `root`.
    pub(super) fn temp_files(root: &Path) -> usize {
        let mut n = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else if e.file_name().to_string_lossy().ends_with(TEMP_SUFFIX) {
                    n += 1;
                }
            }
        }
        n
    }

    fn repo() -> RepoId {
        RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap()
    }

    async fn publish_one(store: &FsStore, kind: ObjectKind, data: &'static [u8]) -> ObjectId {
        let id = ObjectId::hash_of(data);
        let before = store.contains(kind, &repo(), &id).await.unwrap();
        let s = store.stage(kind, &repo(), &id, Bytes::from_static(data)).await.unwrap();
        assert_eq!(store.contains(kind, &repo(), &id).await.unwrap(), before, "staging changes nothing visible");
        store.publish(vec![vec![s]]).await.unwrap();
        assert!(store.contains(kind, &repo(), &id).await.unwrap());
        id
    }

    #[tokio::test]
    async fn layout_is_seafile_data() {
        for durability in [Durability::Syncfs, Durability::Fsync] {
            let dir = tempfile::tempdir().unwrap();
            let store = FsStore::open(dir.path(), durability).unwrap();
            let id = publish_one(&store, ObjectKind::Block, b"this is renamed folder.\n\naofsnmayhu").await;
            let expected = dir
                .path()
                .join("storage/blocks/3f9e4aa5-d6ba-4066-a1d6-81824f422af1/b3/fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd");
            assert_eq!(std::fs::read(&expected).unwrap(), b"this is renamed folder.\n\naofsnmayhu");
            assert_eq!(
                store.get(ObjectKind::Block, &repo(), &id).await.unwrap().unwrap().as_ref(),
                std::fs::read(&expected).unwrap()
            );
            assert_eq!(temp_files(dir.path()), 0, "no temp file left");
        }
    }

    #[tokio::test]
    async fn republish_and_discard() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), Durability::Syncfs).unwrap();
        let id = publish_one(&store, ObjectKind::Fs, b"abc").await;
        publish_one(&store, ObjectKind::Fs, b"abc").await;
        assert!(store.contains(ObjectKind::Fs, &repo(), &id).await.unwrap());
        let other = ObjectId::hash_of(b"xyz");
        let s = store.stage(ObjectKind::Fs, &repo(), &other, Bytes::from_static(b"xyz")).await.unwrap();
        store.discard(vec![s]).await;
        assert!(!store.contains(ObjectKind::Fs, &repo(), &other).await.unwrap());
        assert_eq!(temp_files(dir.path()), 0);
        assert_eq!(store.contains_many(ObjectKind::Fs, &repo(), &[other, id]).await.unwrap(), vec![false, true]);
    }

    #[tokio::test]
    async fn block_staging_streams_into_a_temp_file() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), Durability::Fsync).unwrap();
        let id = ObjectId::hash_of(b"hello world");
        let (staged, mut f) = store.stage_block(&repo(), &id).await.unwrap();
        f.write_all(b"hello ").await.unwrap();
        f.write_all(b"world").await.unwrap();
        f.flush().await.unwrap();
        drop(f);
        store.publish(vec![vec![staged]]).await.unwrap();
        assert_eq!(store.get(ObjectKind::Block, &repo(), &id).await.unwrap().unwrap().as_ref(), b"hello world");
    }
}

#[cfg(test)]
mod stale_temp_tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap()
    }

    /// A writer that died after staging leaves temp files beside their objects; the next open
    /// finds them through its journal and removes them, and leaves a live writer's alone.
    #[tokio::test]
    async fn temps_of_dead_local_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let live = FsStore::open(dir.path(), Durability::Syncfs).unwrap();
        let staged =
            live.stage(ObjectKind::Fs, &repo(), &ObjectId::hash_of(b"a"), Bytes::from_static(b"a")).await.unwrap();

        // Forge a dead writer of this host: same files a crashed process would leave.
        let dead = format!("{}.999999999", host_name());
        let id = ObjectId::hash_of(b"b");
        let dest = object_path(dir.path(), ObjectKind::Block, &repo(), &id);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let orphan =
            dest.with_file_name(format!("{}.{dead}.0{TEMP_SUFFIX}", dest.file_name().unwrap().to_string_lossy()));
        std::fs::write(&orphan, b"b").unwrap();
        let seafile_temp = dest.with_file_name("0123456789012345678901234567890123456x.Xy12ab");
        std::fs::write(&seafile_temp, b"c").unwrap();
        std::fs::write(
            dir.path().join("tmpfiles").join(format!("{dead}{JOURNAL_SUFFIX}")),
            format!("{}\n", dest.parent().unwrap().display()),
        )
        .unwrap();

        let _other = FsStore::open(dir.path(), Durability::Syncfs).unwrap();
        assert!(!orphan.exists(), "a dead writer's temp file is removed");
        assert!(staged.temp.exists(), "a live writer's temp file is kept");
        assert!(seafile_temp.exists(), "Seafile's own temp files are never touched");
        assert!(!dir.path().join("tmpfiles").join(format!("{dead}{JOURNAL_SUFFIX}")).exists());
    }
}
