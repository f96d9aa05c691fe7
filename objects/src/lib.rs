//! Seafile's object model, as the backup needs it.
//!
//! * [`RepoId`], [`ObjectId`]: strictly validated ids, shared by every crate;
//! * [`Commit`]: parsed commits that keep their received bytes verbatim;
//! * [`fs`]: file and dir objects in the v1 (zlib JSON) and v0 (binary) formats, with verification;
//! * [`packfs`]: the framing of `pack-fs` responses.
//!
//! Formats are those of `seafile-protocol.md`; every test vector of its §9 is a unit test here.

pub mod commit;
pub mod fs;
mod id;
pub mod packfs;

pub use commit::Commit;
pub use fs::{Dirent, FsObject, SeafDir, SeafFile};
pub use id::{IdError, ObjectId, ObjectKind, RepoId};

/// Why an object received from a primary (or found in the store) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("invalid commit: {0}")]
    BadCommit(String),
    #[error("invalid fs object {id}: {why}")]
    BadFs { id: ObjectId, why: String },
    #[error("{kind} {id} does not match its content (SHA-1 is {actual})")]
    HashMismatch { kind: ObjectKind, id: ObjectId, actual: ObjectId },
    #[error("malformed pack-fs body: {0}")]
    BadPack(String),
}
