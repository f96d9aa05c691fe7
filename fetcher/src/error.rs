//! Why a library fetch failed, worded for the administrator who reads it.

use seaf_objects::{ObjectId, ObjectKind, RepoId};
use seaf_sync_client::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The primary lacks an object the history references (corruption, or history truncated by GC).
    #[error(
        "{kind} {id} (referenced by {referenced_by}) is missing on the primary; run seaf-fsck on the primary for this library, or sync with --force to skip it"
    )]
    MissingOnPrimary { kind: ObjectKind, id: ObjectId, referenced_by: String },

    /// The primary serves an object whose content does not match its id.
    #[error(
        "{kind} {id} (referenced by {referenced_by}) is corrupt on the primary: {detail}; run seaf-fsck on the primary for this library, or sync with --force to skip it"
    )]
    CorruptOnPrimary { kind: ObjectKind, id: ObjectId, referenced_by: String, detail: String },

    #[error("{context}: {source}")]
    Sync {
        context: String,
        #[source]
        source: SyncError,
    },

    #[error("object store: {context}: {source}")]
    Store {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("library {0} is being stopped")]
    Cancelled(RepoId),
}

impl FetchError {
    pub(crate) fn sync(context: impl Into<String>) -> impl FnOnce(SyncError) -> FetchError {
        let context = context.into();
        move |source| FetchError::Sync { context, source }
    }

    pub(crate) fn store(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FetchError {
        let context = context.into();
        move |source| FetchError::Store { context, source }
    }

    /// Whether the primary refused the token (401/403): it may be revoked, or its user no longer
    /// allowed on the library.
    pub fn is_auth(&self) -> bool {
        matches!(self, FetchError::Sync { source: SyncError::Auth { .. }, .. })
    }

    /// Whether running the same fetch again later may succeed without anyone acting.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Sync { source, .. } => source.is_transient(),
            FetchError::Store { .. } | FetchError::Cancelled(_) => true,
            FetchError::MissingOnPrimary { .. } | FetchError::CorruptOnPrimary { .. } => false,
        }
    }
}
