//! The filesystem backend: a `seafile-data` tree.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use seaf_objects::{ObjectId, ObjectKind, RepoId};

use crate::{ObjectStore, Staged};

/// Suffix of our temporary files, so that start-up clean-up never touches Seafile's own.
const TEMP_SUFFIX: &str = ".seaf-backup.tmp";
/// Temp files of another host older than this are left-overs of a crashed writer. (Several
/// fetchers on several hosts share a store, so a younger one may belong to a live writer; on our
/// own host, the writer's pid tells at once.)
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// How many files one blocking task fsyncs in [`Durability::Fsync`] mode.
const FSYNC_CHUNK: usize = 32;

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
    tmp: PathBuf,
    durability: Durability,
    /// Kept open for `syncfs`, which needs any descriptor on the filesystem.
    root_dir: File,
    /// Makes temp names unique across hosts and processes (host, pid) and within one (counter).
    host: String,
    pid: u32,
    seq: AtomicU64,
}

impl FsStore {
    /// Opens (creating if needed) the `seafile-data` tree at `root` and removes stale temp files.
    pub fn open(root: impl Into<PathBuf>, durability: Durability) -> io::Result<FsStore> {
        let root = root.into();
        for kind in [ObjectKind::Commit, ObjectKind::Fs, ObjectKind::Block] {
            std::fs::create_dir_all(root.join("storage").join(kind.dir_name()))?;
        }
        let tmp = root.join("tmpfiles");
        std::fs::create_dir_all(&tmp)?;
        let host = host_name();
        remove_stale_temps(&tmp, &host);
        let root_dir = File::open(&root)?;
        Ok(FsStore {
            inner: Arc::new(Inner { root, tmp, durability, root_dir, host, pid: std::process::id(), seq: AtomicU64::new(0) }),
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

    fn temp_path(&self, kind: ObjectKind, id: &ObjectId) -> PathBuf {
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let Inner { host, pid, .. } = &*self.inner;
        self.inner.tmp.join(format!("{}-{id}.{host}.{pid}.{n}{TEMP_SUFFIX}", kind.dir_name()))
    }

    /// Makes the content of `files` durable.
    async fn sync_contents(&self, files: Vec<PathBuf>) -> io::Result<()> {
        match self.inner.durability {
            Durability::Syncfs => self.syncfs().await,
            Durability::Fsync => fsync_all(files, false).await,
        }
    }

    /// Makes the renames into `dirs` durable.
    async fn sync_names(&self, dirs: Vec<PathBuf>) -> io::Result<()> {
        match self.inner.durability {
            Durability::Syncfs => self.syncfs().await,
            Durability::Fsync => fsync_all(dirs, true).await,
        }
    }

    async fn syncfs(&self) -> io::Result<()> {
        let inner = self.inner.clone();
        blocking(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: syncfs only reads the descriptor, which `inner` keeps open for the call.
            let rc = unsafe { libc::syncfs(inner.root_dir.as_raw_fd()) };
            if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
        })
        .await
    }
}

pub(crate) fn object_path(root: &Path, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> PathBuf {
    let hex = id.to_hex();
    root.join("storage").join(kind.dir_name()).join(store_id.as_str()).join(&hex[..2]).join(&hex[2..])
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

/// Removes temp files left by dead writers: on this host, those whose process is gone; from
/// elsewhere, those older than [`STALE_TEMP_AGE`].
fn remove_stale_temps(tmp: &Path, host: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(TEMP_SUFFIX)) else { continue };
        // <kind>-<id>.<host>.<pid>.<n>
        let mut parts = stem.rsplitn(4, '.');
        let (_n, pid, writer_host) = (parts.next(), parts.next(), parts.next());
        let dead_here = writer_host == Some(host)
            && pid.and_then(|p| p.parse::<u32>().ok()).is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP_AGE)
            .unwrap_or(false);
        if dead_here || old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Renames a staged file into place, creating the fan-out directories on first use.
/// Returns the directories whose entries changed (for fsync mode).
fn rename_into_place(temp: &Path, dest: &Path, touched: &mut HashSet<PathBuf>) -> io::Result<()> {
    let parent = dest.parent().expect("object paths have a parent");
    match std::fs::rename(temp, dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && temp.exists() => {
            // A new `<store id>/<2 hex>` directory: its own entry in its parent must be durable too.
            let mut created = parent.to_path_buf();
            while !created.exists() {
                if let Some(up) = created.parent() {
                    touched.insert(up.to_path_buf());
                }
                if !created.pop() {
                    break;
                }
            }
            std::fs::create_dir_all(parent)?;
            std::fs::rename(temp, dest)?;
        }
        other => other?,
    }
    touched.insert(parent.to_path_buf());
    Ok(())
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
        let temp = self.temp_path(kind, id);
        let path = temp.clone();
        blocking(move || {
            let mut f = File::create(&path)?;
            f.write_all(&data)
        })
        .await?;
        Ok(Staged { kind, store_id: store_id.clone(), id: *id, temp })
    }

    async fn stage_block(&self, store_id: &RepoId, id: &ObjectId) -> io::Result<(Staged, tokio::fs::File)> {
        let temp = self.temp_path(ObjectKind::Block, id);
        let file = tokio::fs::File::create(&temp).await?;
        Ok((Staged { kind: ObjectKind::Block, store_id: store_id.clone(), id: *id, temp }, file))
    }

    async fn publish(&self, levels: Vec<Vec<Staged>>) -> io::Result<()> {
        let all: Vec<PathBuf> = levels.iter().flatten().map(|s| s.temp.clone()).collect();
        if all.is_empty() {
            return Ok(());
        }
        self.sync_contents(all).await?;
        for level in levels {
            if level.is_empty() {
                continue;
            }
            let root = self.inner.root.clone();
            let touched = blocking(move || {
                let mut touched = HashSet::new();
                for s in &level {
                    rename_into_place(&s.temp, &object_path(&root, s.kind, &s.store_id, &s.id), &mut touched)?;
                }
                Ok(touched)
            })
            .await?;
            self.sync_names(touched.into_iter().collect()).await?;
        }
        Ok(())
    }

    async fn discard(&self, staged: Vec<Staged>) {
        let _ = blocking(move || {
            for s in staged {
                let _ = std::fs::remove_file(&s.temp);
            }
            Ok(())
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(store.get(ObjectKind::Block, &repo(), &id).await.unwrap().unwrap().as_ref(), std::fs::read(&expected).unwrap());
            assert_eq!(std::fs::read_dir(dir.path().join("tmpfiles")).unwrap().count(), 0, "no temp file left");
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
        assert_eq!(std::fs::read_dir(dir.path().join("tmpfiles")).unwrap().count(), 0);
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

    #[test]
    fn temps_of_dead_local_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmpfiles");
        std::fs::create_dir_all(&tmp).unwrap();
        let host = host_name();
        let id = "b3fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd";
        let dead = tmp.join(format!("blocks-{id}.{host}.999999999.0{TEMP_SUFFIX}"));
        let alive = tmp.join(format!("blocks-{id}.{host}.{}.0{TEMP_SUFFIX}", std::process::id()));
        let remote = tmp.join(format!("blocks-{id}.another-host.1.0{TEMP_SUFFIX}"));
        let seafiles = tmp.join(format!("{id}.Xy12ab"));
        for p in [&dead, &alive, &remote, &seafiles] {
            std::fs::write(p, b"x").unwrap();
        }
        FsStore::open(dir.path(), Durability::Syncfs).unwrap();
        assert!(!dead.exists(), "a dead writer's temp file is removed");
        assert!(alive.exists() && remote.exists(), "live or foreign writers' temp files are kept while young");
        assert!(seafiles.exists(), "Seafile's own temp files are never touched");
    }
}
