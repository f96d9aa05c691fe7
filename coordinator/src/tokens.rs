//! Sync tokens for a stock primary: one per library, minted by the coordinator for the library's
//! current owner into the primary's `RepoUserToken`, and handed to the fetcher with each lease.
//!
//! Every token the backup places on the primary is written to `seaf_backup_token` first and removed
//! there only after it is gone from the primary, so a crash at any step leaves no token unknown
//! (failover and deleted libraries clean up from that table). A stored token is reused across
//! jobs and restarts until the primary refuses it; then [`Tokens::refused`] removes it and the next
//! lease mints a fresh one for whoever owns the library by then.
//!
//! Tokens are [`Secret`]s: they reach a log line, an error or an admin answer nowhere.

use seaf_backup_service::Secret;
use seaf_objects::RepoId;
use seaf_primary_db::{PrimaryDb, PrimaryDbError};

use crate::db::{Db, DbError, now_ms};

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Neither `RepoOwner` nor `OrgRepo` names an owner: seaf-server would refuse any token.
    #[error("{}; give it an owner on the primary and it is retried at the next poll", seaf_primary_db::NO_OWNER)]
    NoOwner,
    #[error(transparent)]
    Primary(#[from] PrimaryDbError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Tokens minted into the primary's `RepoUserToken`.
pub const TOKENS_MINTED: &str = "seaf_backup_tokens_minted_total";
/// Tokens the primary refused (revoked, ownership changed) and that were replaced.
pub const TOKENS_REFUSED: &str = "seaf_backup_tokens_refused_total";

pub struct Tokens {
    pub primary: PrimaryDb,
}

impl Tokens {
    /// The token a job for `repo` uses: the stored one, or one minted now for the current owner.
    pub async fn for_job(&self, db: &Db, repo: &RepoId) -> Result<Secret, TokenError> {
        if let Some(t) = db.token(repo).await? {
            return Ok(t.token);
        }
        let owner = self.primary.owner(repo).await?.ok_or(TokenError::NoOwner)?;
        let minted = PrimaryDb::new_token(&owner);
        db.save_token(repo, &minted, now_ms()).await?;
        self.primary.insert_token(repo, &minted).await?;
        metrics::counter!(TOKENS_MINTED).increment(1);
        tracing::info!(%repo, owner, "sync token minted on the primary");
        Ok(minted.token)
    }

    /// The primary refused `repo`'s token: removes it (from the primary, then from our table) so
    /// the next lease mints another. Returns when the refused token was minted (Unix ms), if one
    /// was stored.
    pub async fn refused(&self, db: &Db, repo: &RepoId) -> Result<Option<i64>, TokenError> {
        let Some(t) = db.token(repo).await? else { return Ok(None) };
        metrics::counter!(TOKENS_REFUSED).increment(1);
        self.remove(db, repo, &t.token).await?;
        Ok(Some(t.minted_at))
    }

    /// Removes `repo`'s token everywhere (the library was deleted on the primary).
    pub async fn forget(&self, db: &Db, repo: &RepoId) -> Result<(), TokenError> {
        if let Some(t) = db.token(repo).await? {
            self.remove(db, repo, &t.token).await?;
            tracing::info!(%repo, "sync token of a deleted library removed from the primary");
        }
        Ok(())
    }

    async fn remove(&self, db: &Db, repo: &RepoId, token: &Secret) -> Result<(), TokenError> {
        self.primary.delete_token(repo, token).await?;
        db.drop_token(repo, token).await?;
        Ok(())
    }
}
