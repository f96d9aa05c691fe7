//! A stock Seafile primary's own database (seaf-server's `seafile_db`, on MySQL or MariaDB).
//!
//! A stock seaf-server has no endpoint that lists its libraries and no shared sync token, so the
//! backup reads the list from its database and writes one sync token per library into it:
//!
//! * [`PrimaryDb::libraries`] streams every library in `Repo` with its `master` head (`Branch`),
//!   store id (`VirtualRepo.origin_repo` of a virtual library), name (`RepoInfo`) and owner
//!   (`RepoOwner`, or `OrgRepo` for an organisation library) — one query, however many libraries;
//! * [`PrimaryDb::mint_token`] adds a `RepoUserToken` row for a library's current owner, the way
//!   seaf-server does when a desktop client syncs it, and [`PrimaryDb::delete_token`] removes it.
//!
//! The database user needs only `SELECT` on `Repo`, `Branch`, `VirtualRepo`, `RepoInfo`,
//! `RepoOwner`, `OrgRepo` and `SELECT, INSERT, DELETE` on `RepoUserToken` (see [`GRANTS`]).
//! Every id read here is parsed before use; every value is bound, never formatted into SQL.

use std::time::Duration;

use futures::{Stream, StreamExt};
use rand::Rng;
use seaf_backup_service::Secret;
use seaf_objects::{ObjectId, RepoId};
use sqlx::Row;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

/// The least privileges the backup needs on the primary's database, as `GRANT` statements for a
/// user `'seaf_backup'@'%'` on database `seafile_db` (adapt both names).
pub const GRANTS: &str = "\
GRANT SELECT ON seafile_db.Repo TO 'seaf_backup'@'%';
GRANT SELECT ON seafile_db.Branch TO 'seaf_backup'@'%';
GRANT SELECT ON seafile_db.VirtualRepo TO 'seaf_backup'@'%';
GRANT SELECT ON seafile_db.RepoInfo TO 'seaf_backup'@'%';
GRANT SELECT ON seafile_db.RepoOwner TO 'seaf_backup'@'%';
GRANT SELECT ON seafile_db.OrgRepo TO 'seaf_backup'@'%';
GRANT SELECT, INSERT, DELETE ON seafile_db.RepoUserToken TO 'seaf_backup'@'%';
";

#[derive(Debug, thiserror::Error)]
pub enum PrimaryDbError {
    /// The query failed; the message names the table when MySQL does (missing grant or table).
    #[error("the primary's database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the primary's database URL: {0}")]
    Url(String),
}

impl PrimaryDbError {
    /// Whether trying again later may succeed (the server is down or busy, not refusing us).
    pub fn is_transient(&self) -> bool {
        matches!(self, PrimaryDbError::Sql(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed))
    }
}

/// One library of the primary, as its database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryLibrary {
    pub repo_id: RepoId,
    /// Where its fs objects and blocks live: the origin library of a virtual library.
    pub store_id: RepoId,
    pub is_virtual: bool,
    /// `RepoInfo.name` (empty when the cache row is missing).
    pub name: String,
    /// The `master` head; `None` when the branch row is missing or malformed (the job reads
    /// `commit/HEAD` itself and learns what the primary makes of it).
    pub head: Option<ObjectId>,
    /// The user a token is minted for: `RepoOwner.owner_id`, else `OrgRepo.user`.
    pub owner: Option<String>,
}

/// Why a library without an owner cannot be backed up from a stock primary.
pub const NO_OWNER: &str =
    "the library has no owner on the primary (no RepoOwner or OrgRepo row), so no sync token can be minted for it";

/// A row of the listing that cannot be a library (its id or its origin's id is malformed). It is
/// left out of the list and logged; nothing is written for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the primary's database lists a malformed {what} {value:?}; row skipped")]
pub struct BadRow {
    pub what: &'static str,
    pub value: String,
}

/// A sync token the backup minted: 40 hex digits, valid for one library and one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintedToken {
    pub email: String,
    pub token: Secret,
}

/// How seaf-server itself resolves a library: `Repo` with its `master` branch, the store id from
/// `VirtualRepo`, the name from `RepoInfo`; plus the owner, a user's or an organisation member's.
const LIBRARIES: &str = "SELECT r.repo_id, b.commit_id, v.origin_repo, i.name, o.owner_id, g.user
     FROM Repo r
     LEFT JOIN Branch b ON b.repo_id = r.repo_id AND b.name = 'master'
     LEFT JOIN VirtualRepo v ON v.repo_id = r.repo_id
     LEFT JOIN RepoInfo i ON i.repo_id = r.repo_id
     LEFT JOIN RepoOwner o ON o.repo_id = r.repo_id
     LEFT JOIN OrgRepo g ON g.repo_id = r.repo_id";

#[derive(Clone)]
pub struct PrimaryDb {
    pool: MySqlPool,
}

impl PrimaryDb {
    /// Connects to `url` (`mysql://USER:PASSWORD@HOST:PORT/seafile_db`). The URL never appears in
    /// an error, since it carries a password.
    pub async fn connect(url: &Secret) -> Result<PrimaryDb, PrimaryDbError> {
        let bad = || PrimaryDbError::Url("not a mysql://USER:PASSWORD@HOST:PORT/DATABASE URL".into());
        if !url.expose().starts_with("mysql://") && !url.expose().starts_with("mariadb://") {
            return Err(bad());
        }
        let opts: MySqlConnectOptions = url.expose().parse().map_err(|_| bad())?;
        // One plain connection first: a pool's timeout would hide why it failed (refused, denied…).
        sqlx::Connection::close(<sqlx::MySqlConnection as sqlx::Connection>::connect_with(&opts).await?).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(PrimaryDb { pool })
    }

    /// Every library in `Repo`, streamed row by row (one query): memory does not grow with the
    /// number of libraries. Malformed rows come as `Ok(Err(BadRow))` for the caller to log.
    pub fn libraries(&self) -> impl Stream<Item = Result<Result<PrimaryLibrary, BadRow>, PrimaryDbError>> + '_ {
        sqlx::query(LIBRARIES).fetch(&self.pool).map(|row| Ok(library_of(&row?)?))
    }

    /// The library's owner now (`None`: no owner row, or no such library).
    pub async fn owner(&self, repo: &RepoId) -> Result<Option<String>, PrimaryDbError> {
        let row = sqlx::query(
            "SELECT o.owner_id, g.user FROM Repo r
             LEFT JOIN RepoOwner o ON o.repo_id = r.repo_id
             LEFT JOIN OrgRepo g ON g.repo_id = r.repo_id
             WHERE r.repo_id = ?",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => owner_of(r.try_get(0)?, r.try_get(1)?),
            None => None,
        })
    }

    /// A fresh token (40 hex digits from the OS-seeded CSPRNG), not yet written anywhere.
    pub fn new_token(email: &str) -> MintedToken {
        let bytes: [u8; 20] = rand::rng().random();
        MintedToken { email: email.to_owned(), token: Secret::new(hex::encode(bytes)) }
    }

    /// Writes `token` into `RepoUserToken` for `repo`: from then on the primary accepts it on
    /// that library for as long as its user has permission there.
    pub async fn insert_token(&self, repo: &RepoId, token: &MintedToken) -> Result<(), PrimaryDbError> {
        sqlx::query("INSERT INTO RepoUserToken (repo_id, email, token) VALUES (?, ?, ?)")
            .bind(repo.as_str())
            .bind(&token.email)
            .bind(token.token.expose())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a token of `repo` from `RepoUserToken`; true if it was there.
    pub async fn delete_token(&self, repo: &RepoId, token: &Secret) -> Result<bool, PrimaryDbError> {
        let done = sqlx::query("DELETE FROM RepoUserToken WHERE repo_id = ? AND token = ?")
            .bind(repo.as_str())
            .bind(token.expose())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

fn owner_of(user: Option<String>, org_user: Option<String>) -> Option<String> {
    let present = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    present(user).or_else(|| present(org_user))
}

fn library_of(row: &sqlx::mysql::MySqlRow) -> Result<Result<PrimaryLibrary, BadRow>, sqlx::Error> {
    let repo: Option<String> = row.try_get(0)?;
    let head: Option<String> = row.try_get(1)?;
    let origin: Option<String> = row.try_get(2)?;
    let name: Option<String> = row.try_get(3)?;
    let owner = owner_of(row.try_get(4)?, row.try_get(5)?);
    let repo = repo.unwrap_or_default();
    let Ok(repo_id) = RepoId::parse(repo.trim()) else {
        return Ok(Err(BadRow { what: "library id in Repo", value: repo }));
    };
    let store_id = match origin.as_deref().map(str::trim) {
        None => repo_id.clone(),
        Some(o) => match RepoId::parse(o) {
            Ok(o) => o,
            Err(_) => return Ok(Err(BadRow { what: "VirtualRepo.origin_repo", value: o.to_owned() })),
        },
    };
    Ok(Ok(PrimaryLibrary {
        is_virtual: origin.is_some(),
        store_id,
        name: name.unwrap_or_default(),
        head: head.and_then(|h| ObjectId::parse(h.trim()).ok()),
        owner,
        repo_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_40_hex_and_differ() {
        let a = PrimaryDb::new_token("a@example.com");
        let b = PrimaryDb::new_token("a@example.com");
        assert_eq!(a.token.expose().len(), 40);
        assert!(a.token.expose().bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a.token, b.token);
        assert!(!format!("{a:?}").contains(a.token.expose()), "Debug must not print the token");
    }

    #[test]
    fn owner_prefers_the_user_row_and_ignores_blanks() {
        assert_eq!(owner_of(Some("u@x".into()), Some("o@x".into())).as_deref(), Some("u@x"));
        assert_eq!(owner_of(None, Some(" o@x ".into())).as_deref(), Some("o@x"));
        assert_eq!(owner_of(Some("".into()), Some("o@x".into())).as_deref(), Some("o@x"));
        assert_eq!(owner_of(Some(" ".into()), None), None);
        assert_eq!(owner_of(None, None), None);
    }
}
