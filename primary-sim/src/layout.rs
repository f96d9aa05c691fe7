//! Where everything lives under the simulator's data directory `DIR`:
//!
//! ```text
//! DIR/seafile-data/storage/commits/<repo_id>/<id[0:2]>/<id[2:40]>   commit JSON
//! DIR/seafile-data/storage/fs/<store_id>/<id[0:2]>/<id[2:40]>       zlib JSON fs objects (v1)
//! DIR/seafile-data/storage/blocks/<store_id>/<id[0:2]>/<id[2:40]>   raw blocks
//! DIR/seafile-data/tmpfiles/                                        block temp files
//! DIR/db/libraries.json                                             the library table
//! DIR/db/branch/<repo_id>                                           head commit id (40 hex)
//! ```
//!
//! The `seafile-data` part is byte-for-byte what a Seafile server keeps; `db/` stands in for the
//! `Repo`, `Branch` and `VirtualRepo` tables. In stock mode (`--database-url`) the real tables
//! exist too ([`crate::seafile_db`]) and are the source of truth; `db/` is kept in step with them.

use std::path::{Path, PathBuf};

use seaf_objects::{ObjectId, ObjectKind, RepoId};

/// Paths of one simulator data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// `DIR` itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/seafile-data`.
    pub fn seafile_data(&self) -> PathBuf {
        self.root.join("seafile-data")
    }

    /// `DIR/seafile-data/storage/<kind>`.
    pub fn storage(&self, kind: ObjectKind) -> PathBuf {
        self.seafile_data().join("storage").join(kind.dir_name())
    }

    /// `DIR/seafile-data/tmpfiles`, where blocks are staged before their rename (as seaf-server).
    pub fn tmpfiles(&self) -> PathBuf {
        self.seafile_data().join("tmpfiles")
    }

    /// The file of object `id` of `kind`, under `repo` (the repo id for commits, the store id for
    /// fs objects and blocks).
    pub fn object(&self, kind: ObjectKind, repo: &RepoId, id: &ObjectId) -> PathBuf {
        let hex = id.to_string();
        self.storage(kind).join(repo.as_str()).join(&hex[..2]).join(&hex[2..])
    }

    /// `DIR/db`.
    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    /// `DIR/db/libraries.json`.
    pub fn libraries(&self) -> PathBuf {
        self.db().join("libraries.json")
    }

    /// `DIR/db/branch`.
    pub fn branches(&self) -> PathBuf {
        self.db().join("branch")
    }

    /// `DIR/db/branch/<repo_id>`.
    pub fn branch(&self, repo: &RepoId) -> PathBuf {
        self.branches().join(repo.as_str())
    }
}
