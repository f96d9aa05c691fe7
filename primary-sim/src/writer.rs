//! Reading and writing objects in the `seafile-data` tree, the way seaf-server does.
//!
//! Writes go to a temp file that is renamed over the final name, so a concurrent reader (the
//! simulator's own HTTP server, or a backup reading the tree) never sees half an object. Commits
//! and fs objects are staged next to their final path, blocks under `tmpfiles/` as seaf-server
//! does (protocol §2.2) — except during bulk generation, where one shared staging directory for
//! tens of thousands of blocks doubles the run time, so blocks are staged next to their final
//! path too (readers cannot tell the difference).
//! An object that already exists is not rewritten: ids name content, so it is the same object.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use bytes::Bytes;
use seaf_objects::fs::SeafDir;
use seaf_objects::{Commit, FsObject, ObjectId, ObjectKind, RepoId};

use crate::layout::Layout;

/// Counts of what a [`Store`] wrote (objects that already existed are not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub fs_objects: u64,
    pub blocks: u64,
    /// Bytes of block content written.
    pub block_bytes: u64,
    /// Bytes of stored fs objects written (compressed, as on disk).
    pub fs_bytes: u64,
}

/// Access to the three object stores of one data directory.
#[derive(Debug)]
pub struct Store {
    layout: Layout,
    /// fsync commits (and their directory) before the rename returns, like seaf-server does for
    /// commits it creates. Generation skips it: a crash there just means generating again.
    sync_commits: bool,
    /// Stage blocks in `tmpfiles/` (else next to their final path).
    blocks_via_tmpfiles: bool,
    commits: AtomicU64,
    fs_objects: AtomicU64,
    blocks: AtomicU64,
    block_bytes: AtomicU64,
    fs_bytes: AtomicU64,
    tmp_seq: AtomicU64,
}

impl Store {
    pub fn new(layout: Layout) -> Store {
        Store {
            layout,
            sync_commits: false,
            blocks_via_tmpfiles: true,
            commits: AtomicU64::new(0),
            fs_objects: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            block_bytes: AtomicU64::new(0),
            fs_bytes: AtomicU64::new(0),
            tmp_seq: AtomicU64::new(0),
        }
    }

    /// Makes commit writes durable (file and directory fsync) before they are renamed in place.
    pub fn with_sync_commits(mut self, on: bool) -> Store {
        self.sync_commits = on;
        self
    }

    /// Stages blocks next to their final path instead of in `tmpfiles/` (for bulk writing).
    pub fn with_blocks_staged_in_place(mut self) -> Store {
        self.blocks_via_tmpfiles = false;
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.commits.load(Ordering::Relaxed),
            fs_objects: self.fs_objects.load(Ordering::Relaxed),
            blocks: self.blocks.load(Ordering::Relaxed),
            block_bytes: self.block_bytes.load(Ordering::Relaxed),
            fs_bytes: self.fs_bytes.load(Ordering::Relaxed),
        }
    }

    pub fn path(&self, kind: ObjectKind, repo: &RepoId, id: &ObjectId) -> PathBuf {
        self.layout.object(kind, repo, id)
    }

    pub fn exists(&self, kind: ObjectKind, repo: &RepoId, id: &ObjectId) -> bool {
        self.path(kind, repo, id).is_file()
    }

    /// The stored bytes of an object.
    pub fn read(&self, kind: ObjectKind, repo: &RepoId, id: &ObjectId) -> io::Result<Vec<u8>> {
        fs::read(self.path(kind, repo, id))
    }

    /// Loads and parses a commit of `repo`.
    pub fn read_commit(&self, repo: &RepoId, id: &ObjectId) -> Result<Commit> {
        let raw = self.read(ObjectKind::Commit, repo, id).with_context(|| format!("reading commit {id} of {repo}"))?;
        Commit::parse_expected(Bytes::from(raw), id, repo).with_context(|| format!("parsing commit {id} of {repo}"))
    }

    /// Loads, verifies and parses an fs object of `store_id`.
    pub fn read_fs(&self, store_id: &RepoId, id: &ObjectId) -> Result<FsObject> {
        let raw =
            self.read(ObjectKind::Fs, store_id, id).with_context(|| format!("reading fs object {id} of {store_id}"))?;
        seaf_objects::fs::verify(id, &raw).with_context(|| format!("fs object {id} of {store_id}"))
    }

    /// Loads a dir object; `EMPTY_SHA1` is the empty dir and is never read from disk.
    pub fn read_dir(&self, store_id: &RepoId, id: &ObjectId) -> Result<SeafDir> {
        if id.is_empty() {
            return Ok(SeafDir { dirents: Vec::new() });
        }
        match self.read_fs(store_id, id)? {
            FsObject::Dir(d) => Ok(d),
            FsObject::File(_) => anyhow::bail!("fs object {id} of {store_id} is a file where a dir was expected"),
        }
    }

    pub fn write_commit(&self, repo: &RepoId, id: &ObjectId, json: &[u8]) -> Result<bool> {
        let wrote = self.write(ObjectKind::Commit, repo, id, json)?;
        if wrote {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(wrote)
    }

    pub fn write_fs(&self, store_id: &RepoId, id: &ObjectId, stored: &[u8]) -> Result<bool> {
        let wrote = self.write(ObjectKind::Fs, store_id, id, stored)?;
        if wrote {
            self.fs_objects.fetch_add(1, Ordering::Relaxed);
            self.fs_bytes.fetch_add(stored.len() as u64, Ordering::Relaxed);
        }
        Ok(wrote)
    }

    pub fn write_block(&self, store_id: &RepoId, id: &ObjectId, data: &[u8]) -> Result<bool> {
        let wrote = self.write(ObjectKind::Block, store_id, id, data)?;
        if wrote {
            self.blocks.fetch_add(1, Ordering::Relaxed);
            self.block_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        Ok(wrote)
    }

    fn write(&self, kind: ObjectKind, repo: &RepoId, id: &ObjectId, data: &[u8]) -> Result<bool> {
        let path = self.path(kind, repo, id);
        if path.is_file() {
            return Ok(false);
        }
        let dir = path.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = match kind {
            ObjectKind::Block if self.blocks_via_tmpfiles => {
                let t = self.layout.tmpfiles();
                fs::create_dir_all(&t).with_context(|| format!("creating {}", t.display()))?;
                t.join(format!("{id}.{}-{seq}", std::process::id()))
            }
            _ => dir.join(format!("{}.{}-{seq}", path.file_name().unwrap().to_string_lossy(), std::process::id())),
        };
        let sync = self.sync_commits && kind == ObjectKind::Commit;
        write_atomic(&tmp, &path, data, sync).with_context(|| format!("writing {kind} {id}"))?;
        Ok(true)
    }
}

/// Writes `data` to `tmp`, optionally fsyncs it, renames it to `dest` and (with `sync`) fsyncs
/// the destination directory so the rename itself is durable. The temp file is removed on error.
pub fn write_atomic(tmp: &Path, dest: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let result = (|| {
        let mut f = fs::File::create(tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(tmp, dest)?;
        if sync && let Some(dir) = dest.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}
