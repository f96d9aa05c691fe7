//! The backup's object store and its consistency checker.
//!
//! * [`ObjectStore`]: what the fetcher and the checker need from a store: existence checks, reads,
//!   and *staged* writes that become visible in closure order through [`ObjectStore::publish`].
//! * [`FsStore`]: the filesystem backend, laid out exactly as a `seafile-data` tree
//!   (`storage/{commits,fs,blocks}/<store id>/<2 hex>/<38 hex>`), so a stock Seafile server can
//!   serve it. An S3 backend can implement the same trait.
//! * [`verify`]: checks that a library's whole history is present and hash-valid.
//! * [`state`]: the small per-library record (backed-up head, skipped objects) kept beside the tree.
//!
//! ## Durability and closure
//!
//! An object is first written under a temporary name in `tmpfiles/`, then renamed into
//! `storage/`. [`ObjectStore::publish`] takes the staged objects as *levels* (blocks, then file
//! objects, then dirs from the deepest up, then the commit) and makes each level durable before
//! the next one is renamed into place. So after a crash at any instruction, every object visible in
//! `storage/` has durable content and everything it references is durable too: the existence of
//! an object proves that its whole closure is present. [`ObjectStore::flush`] makes the last
//! level's names durable too, before a head is reported.

mod fs_store;
pub mod state;
pub mod verify;

use async_trait::async_trait;
use bytes::Bytes;
use seaf_objects::{ObjectId, ObjectKind, RepoId};

pub use fs_store::{BARRIER_SECONDS, Durability, FsStore, describe_metrics};

/// An object written under a temporary name, not yet visible in the store.
#[derive(Debug)]
pub struct Staged {
    pub kind: ObjectKind,
    pub store_id: RepoId,
    pub id: ObjectId,
    temp: std::path::PathBuf,
}

/// The operations the fetcher and the checker need from an object store.
///
/// `store_id` is the library's own id for commits, and its store id (the origin library of a
/// virtual library) for fs objects and blocks; callers pass whichever applies.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Whether each object is present (visible), in the order asked.
    async fn contains_many(&self, kind: ObjectKind, store_id: &RepoId, ids: &[ObjectId]) -> std::io::Result<Vec<bool>>;

    async fn contains(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> std::io::Result<bool> {
        Ok(self.contains_many(kind, store_id, std::slice::from_ref(id)).await?[0])
    }

    /// The stored bytes, or `None` when absent.
    async fn get(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> std::io::Result<Option<Bytes>>;

    /// Writes `data` under a temporary name. Nothing becomes visible until [`publish`](Self::publish).
    async fn stage(&self, kind: ObjectKind, store_id: &RepoId, id: &ObjectId, data: Bytes) -> std::io::Result<Staged>;

    /// [`stage`](Self::stage) for many objects of one kind and store, in as few blocking calls as
    /// the backend can manage.
    async fn stage_many(
        &self,
        kind: ObjectKind,
        store_id: &RepoId,
        objects: Vec<(ObjectId, Bytes)>,
    ) -> std::io::Result<Vec<Staged>> {
        let mut out = Vec::with_capacity(objects.len());
        for (id, data) in objects {
            out.push(self.stage(kind, store_id, &id, data).await?);
        }
        Ok(out)
    }

    /// Creates an empty temporary file for a block, for the caller to stream the content into.
    async fn stage_block(&self, store_id: &RepoId, id: &ObjectId) -> std::io::Result<(Staged, tokio::fs::File)>;

    /// Makes staged objects visible, level by level: every object of a level is durable (content
    /// and name) before any object of the next level is renamed into place, and before any object
    /// of a later `publish`. An object already present is replaced by its identical copy.
    ///
    /// The names of the *last* level are made durable lazily, by the next `publish` or by
    /// [`flush`](Self::flush): nothing references them yet, so a crash can only lose them.
    async fn publish(&self, levels: Vec<Vec<Staged>>) -> std::io::Result<()>;

    /// Makes everything published so far durable. Call it before telling anyone that a head's
    /// closure is in the store.
    async fn flush(&self) -> std::io::Result<()>;

    /// Removes staged objects that will not be published.
    async fn discard(&self, staged: Vec<Staged>);
}
