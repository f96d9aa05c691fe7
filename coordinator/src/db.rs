//! MySQL: Seafile's `Repo`, `Branch`, `RepoHead` and the backup's own `seaf_backup_*` tables.
//!
//! This is the truth of the backup. Every id reaching a query here is a parsed [`RepoId`] or
//! [`ObjectId`], and every value is bound, never formatted into SQL.

use std::time::Duration;

use seaf_backup_service::Secret;
use seaf_objects::{ObjectId, RepoId};
use seaf_primary_db::{MintedToken, PrimaryLibrary};
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, QueryBuilder, Row};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A library as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    pub repo_id: RepoId,
    pub store_id: RepoId,
    pub name: String,
    pub is_virtual: bool,
    pub primary_head: Option<ObjectId>,
    pub backup_head: Option<ObjectId>,
    pub publish_seq: u64,
    pub behind_since: Option<i64>,
    pub last_success: Option<i64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed: bool,
    pub failed_head: Option<ObjectId>,
    pub force_next: bool,
    pub deleted: bool,
    /// The library's owner on a stock primary (who its sync token is minted for).
    pub owner: Option<String>,
}

/// The sync token the coordinator minted for a library on a stock primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub email: String,
    pub token: Secret,
    /// Unix ms.
    pub minted_at: i64,
}

/// An object a forced sync skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: String,
    pub id: ObjectId,
    pub reason: String,
}

/// What a failover deletes (or would) from the backup's `RepoUserToken`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailoverPlan {
    /// Libraries not up to date, each with why and its users' token count.
    pub not_up_to_date: Vec<(Library, String, u64)>,
    /// Users' tokens of those libraries.
    pub user_tokens: u64,
    /// Tokens the backup minted.
    pub backup_tokens: u64,
    /// Whether the backup's database has a `RepoUserToken` table at all.
    pub has_token_table: bool,
}

/// How a success report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// `Branch` moved to the new head (or already pointed at it).
    Published { seq: u64 },
    /// `Branch` no longer holds the head the job started from: another job moved it.
    Stale { current: Option<ObjectId> },
    /// The library is not in the state table (it never was listed or notified).
    Unknown,
}

/// What a notification should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// Schedule a job.
    Queue,
    /// Nothing to do (why, for the logs).
    Ignore(&'static str),
    /// Not a library we know: a poll will tell whether it exists.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("MySQL: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("MySQL schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("MySQL holds an invalid {what} {value:?} for library {repo}")]
    Corrupt { what: &'static str, value: String, repo: String },
}

#[derive(Clone)]
pub struct Db {
    pool: MySqlPool,
    /// The database's name (`DATABASE()`), for the replication guard.
    database: String,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

const LIBRARY_COLUMNS: &str = "repo_id, store_id, name, is_virtual, primary_head, backup_head, publish_seq, \
     behind_since, last_success, attempts, last_error, failed, failed_head, force_next, deleted, owner";

/// The rows whose library needs a job: what the queue is rebuilt from after Redis lost it.
const NEEDS_WORK: &str = "deleted = 0 AND failed = 0 AND (backup_head IS NULL OR force_next = 1 \
     OR primary_head IS NULL OR primary_head <> backup_head \
     OR (notified_at IS NOT NULL AND (synced_from IS NULL OR notified_at > synced_from)))";

/// MySQL's answer when it broke a lock cycle (1213) or gave up waiting for a lock (1205): the work
/// was rolled back and the same transaction may simply run again.
pub fn lock_conflict(e: &DbError) -> Option<&'static str> {
    let DbError::Sql(sqlx::Error::Database(d)) = e else { return None };
    match d.try_downcast_ref::<MySqlDatabaseError>()?.number() {
        1213 => Some("deadlock"),
        1205 => Some("lock_wait_timeout"),
        _ => None,
    }
}

/// Transactions run again after a lock conflict, by transaction and reason.
pub const TRANSACTION_RETRIES: &str = "seaf_backup_mysql_transaction_retries_total";

/// Tries of a transaction that keeps meeting lock conflicts, before the error reaches the caller.
const CONFLICT_TRIES: usize = 6;

impl Db {
    /// Runs a transaction (`attempt`, which begins and commits it) again after a lock conflict, up
    /// to [`CONFLICT_TRIES`] times with a short jittered backoff. Each retry is logged and counted in
    /// `seaf_backup_mysql_transaction_retries_total`, so conflicts show if they come back.
    async fn retrying<T, F, Fut>(&self, transaction: &'static str, attempt: F) -> Result<T, DbError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DbError>>,
    {
        use backon::Retryable;
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(5))
            .with_max_delay(Duration::from_millis(500))
            .with_max_times(CONFLICT_TRIES - 1)
            .with_jitter();
        attempt
            .retry(backoff)
            .when(|e| lock_conflict(e).is_some())
            .notify(|e, delay| {
                let reason = lock_conflict(e).unwrap_or("other");
                metrics::counter!(TRANSACTION_RETRIES, "transaction" => transaction, "reason" => reason).increment(1);
                tracing::warn!(transaction, reason, ?delay, "MySQL rolled the transaction back; running it again");
            })
            .await
    }

    /// Connects and brings the schema up to date (creating Seafile's tables only if absent).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        let opts: MySqlConnectOptions = url.parse()?;
        // One plain connection first: a pool's timeout would hide why it failed (refused, denied…).
        sqlx::Connection::close(<sqlx::MySqlConnection as sqlx::Connection>::connect_with(&opts).await?).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&pool).await?;
        Ok(Db { pool, database: database.unwrap_or_default() })
    }

    /// The name of the backup's database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The replication status of the backup's database server (see [`crate::replication`]).
    pub async fn replication(&self) -> crate::replication::Replication {
        crate::replication::status(&self.pool).await
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records what a poll of the primary listed. New libraries are added; known ones get their
    /// name, store, owner and primary head refreshed, and are no longer deleted if they were. A
    /// new owner gives a failed library another chance (it may have failed for want of one).
    pub async fn upsert_listed(&self, entries: &[PrimaryLibrary], seen_at: i64) -> Result<(), DbError> {
        for chunk in entries.chunks(500) {
            self.retrying("record the poll", || async move {
                let mut q: QueryBuilder<MySql> = QueryBuilder::new(
                    "INSERT INTO seaf_backup_library \
                     (repo_id, store_id, name, is_virtual, primary_head, owner, seen_at, behind_since) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.repo_id.to_string())
                        .push_bind(e.store_id.to_string())
                        .push_bind(truncate(&e.name, 255))
                        .push_bind(e.is_virtual as i8)
                        .push_bind(e.head.map(|h| h.to_string()))
                        .push_bind(e.owner.as_deref().map(|o| truncate(o, 255)))
                        .push_bind(seen_at)
                        .push_bind(seen_at);
                });
                // Assignments apply left to right: `failed` and `attempts` compare the old owner.
                q.push(
                    " ON DUPLICATE KEY UPDATE store_id = VALUES(store_id), name = VALUES(name), \
                     is_virtual = VALUES(is_virtual), deleted = 0, seen_at = VALUES(seen_at), \
                     behind_since = IF(backup_head <=> VALUES(primary_head), NULL, IFNULL(behind_since, VALUES(seen_at))), \
                     primary_head = VALUES(primary_head), \
                     failed = IF(owner <=> VALUES(owner), failed, 0), \
                     attempts = IF(owner <=> VALUES(owner), attempts, 0), owner = VALUES(owner)",
                );
                q.build().execute(&self.pool).await?;
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// Marks libraries that the poll at `seen_at` did not list as deleted on the primary. Their
    /// objects and `Branch` rows are kept. Returns how many were marked.
    pub async fn mark_unlisted_deleted(&self, seen_at: i64) -> Result<Vec<RepoId>, DbError> {
        self.retrying("mark deleted libraries", || async move {
            let mut tx = self.pool.begin().await?;
            let rows =
                sqlx::query("SELECT repo_id FROM seaf_backup_library WHERE deleted = 0 AND seen_at < ? FOR UPDATE")
                    .bind(seen_at)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query(
                "UPDATE seaf_backup_library SET deleted = 1, behind_since = NULL WHERE deleted = 0 AND seen_at < ?",
            )
            .bind(seen_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.iter().map(|r| parse_repo(r.get::<String, _>(0).as_str(), "repo_id")).collect()
        })
        .await
    }

    pub async fn library(&self, repo: &RepoId) -> Result<Option<Library>, DbError> {
        let row = sqlx::query(&format!("SELECT {LIBRARY_COLUMNS} FROM seaf_backup_library WHERE repo_id = ?"))
            .bind(repo.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| library_from_row(&r)).transpose()
    }

    pub async fn libraries(&self) -> Result<Vec<Library>, DbError> {
        let rows = sqlx::query(&format!("SELECT {LIBRARY_COLUMNS} FROM seaf_backup_library ORDER BY repo_id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(library_from_row).collect()
    }

    /// Libraries that need a job (see [`NEEDS_WORK`]).
    pub async fn needing_work(&self) -> Result<Vec<RepoId>, DbError> {
        let rows = sqlx::query(&format!("SELECT repo_id FROM seaf_backup_library WHERE {NEEDS_WORK}"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse_repo(r.get::<String, _>(0).as_str(), "repo_id")).collect()
    }

    /// Gives failed libraries whose primary head moved past the failed one another chance.
    pub async fn unfail_changed(&self) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE seaf_backup_library SET failed = 0, attempts = 0 \
             WHERE failed = 1 AND deleted = 0 AND failed_head IS NOT NULL AND primary_head <> failed_head",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records a notification and says whether it needs a job. A failed library is retried only
    /// for a head other than the one that failed.
    pub async fn note_notified(&self, repo: &RepoId, commit: Option<&ObjectId>, now: i64) -> Result<Notified, DbError> {
        let Some(lib) = self.library(repo).await? else { return Ok(Notified::Unknown) };
        if lib.deleted {
            return Ok(Notified::Unknown);
        }
        if let Some(c) = commit {
            if lib.backup_head.as_ref() == Some(c) {
                return Ok(Notified::Ignore("already backed up at this head"));
            }
            if lib.failed && lib.failed_head.as_ref() == Some(c) {
                return Ok(Notified::Ignore("this head already failed; use sync --force or retry"));
            }
        } else if lib.failed {
            return Ok(Notified::Ignore("library failed; use sync --force or retry"));
        }
        sqlx::query(
            "UPDATE seaf_backup_library SET notified_at = ?, attempts = IF(failed = 1, 0, attempts), failed = 0, \
             behind_since = IFNULL(behind_since, ?) WHERE repo_id = ?",
        )
        .bind(now)
        .bind(now)
        .bind(repo.to_string())
        .execute(&self.pool)
        .await?;
        Ok(Notified::Queue)
    }

    /// An administrator asked for a sync: clear a failure, optionally force, and mark it notified.
    /// Returns false when the library is unknown.
    pub async fn request_sync(&self, repo: &RepoId, force: bool, now: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE seaf_backup_library SET notified_at = ?, failed = 0, attempts = 0, \
             force_next = IF(?, 1, force_next) WHERE repo_id = ?",
        )
        .bind(now)
        .bind(force)
        .bind(repo.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Puts failed libraries (one, or all) back to work. Returns which.
    pub async fn retry_failed(&self, repo: Option<&RepoId>, now: i64) -> Result<Vec<RepoId>, DbError> {
        self.retrying("retry failed libraries", || async move {
            let mut tx = self.pool.begin().await?;
            let rows = match repo {
                Some(r) => {
                    sqlx::query("SELECT repo_id FROM seaf_backup_library WHERE failed = 1 AND repo_id = ? FOR UPDATE")
                        .bind(r.to_string())
                        .fetch_all(&mut *tx)
                        .await?
                }
                None => {
                    sqlx::query("SELECT repo_id FROM seaf_backup_library WHERE failed = 1 AND deleted = 0 FOR UPDATE")
                        .fetch_all(&mut *tx)
                        .await?
                }
            };
            let ids: Vec<RepoId> =
                rows.iter().map(|r| parse_repo(r.get::<String, _>(0).as_str(), "repo_id")).collect::<Result<_, _>>()?;
            for id in &ids {
                sqlx::query(
                    "UPDATE seaf_backup_library SET failed = 0, attempts = 0, notified_at = ? WHERE repo_id = ?",
                )
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(ids)
        })
        .await
    }

    /// The head `Branch` holds for the library (the base of a new job).
    pub async fn branch_head(&self, repo: &RepoId) -> Result<Option<ObjectId>, DbError> {
        let row = sqlx::query("SELECT commit_id FROM Branch WHERE repo_id = ? AND name = 'master'")
            .bind(repo.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_object(r.get::<Option<String>, _>(0).unwrap_or_default().as_str(), "Branch.commit_id", repo))
            .transpose()
    }

    /// Publishes `head` as the library's branch head, in one transaction with its state, as a
    /// compare-and-set on `base` (the `Branch` head the job started from). Called only after the
    /// fetcher reported the whole closure of `head` durable in the store.
    ///
    /// A deadlock or lock wait timeout retries the whole transaction (see [`Db::retrying`]).
    pub async fn publish(
        &self,
        repo: &RepoId,
        base: Option<&ObjectId>,
        head: &ObjectId,
        skipped: &[Skipped],
        synced_from: i64,
        now: i64,
    ) -> Result<Publish, DbError> {
        self.retrying("publish", || self.publish_once(repo, base, head, skipped, synced_from, now)).await
    }

    /// One attempt of [`Db::publish`]. It takes no gap locks, so concurrent publishes of different
    /// libraries never wait for each other:
    /// * the library's own state row, which always exists, is the lock (a unique-key lookup of an
    ///   existing row locks that row only), and serializes the publishes of one library;
    /// * `Branch`, `RepoHead` and `Repo` are then read without locking (only the coordinator writes
    ///   them, and always under that row lock, so the read is current) and written by key: an
    ///   `UPDATE` of a row that exists, an `INSERT` of a key that does not. A locking read or an
    ///   `INSERT … ON DUPLICATE KEY` of an absent key would lock the gap around it, and two first
    ///   publishes into one gap would deadlock.
    async fn publish_once(
        &self,
        repo: &RepoId,
        base: Option<&ObjectId>,
        head: &ObjectId,
        skipped: &[Skipped],
        synced_from: i64,
        now: i64,
    ) -> Result<Publish, DbError> {
        let repo_s = repo.to_string();
        let mut tx = self.pool.begin().await?;
        let Some(state) = sqlx::query("SELECT publish_seq FROM seaf_backup_library WHERE repo_id = ? FOR UPDATE")
            .bind(&repo_s)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(Publish::Unknown);
        };
        let seq: u64 = state.get(0);
        let seafile = sqlx::query(
            "SELECT (SELECT commit_id FROM Branch WHERE repo_id = ? AND name = 'master'), \
             (SELECT branch_name FROM RepoHead WHERE repo_id = ?), \
             EXISTS (SELECT 1 FROM Repo WHERE repo_id = ?)",
        )
        .bind(&repo_s)
        .bind(&repo_s)
        .bind(&repo_s)
        .fetch_one(&mut *tx)
        .await?;
        let current =
            seafile.get::<Option<String>, _>(0).map(|c| parse_object(&c, "Branch.commit_id", repo)).transpose()?;
        let repo_head: Option<String> = seafile.get(1);
        let repo_row = seafile.get::<i64, _>(2) != 0;

        let already = current.as_ref() == Some(head);
        if !already && current.as_ref() != base {
            return Ok(Publish::Stale { current });
        }
        let seq = if already { seq } else { seq + 1 };
        if !already {
            // The order seaf-server itself uses when it creates a library: Branch, RepoHead, Repo.
            let branch = if current.is_some() {
                "UPDATE Branch SET commit_id = ? WHERE repo_id = ? AND name = 'master'"
            } else {
                "INSERT INTO Branch (commit_id, repo_id, name) VALUES (?, ?, 'master')"
            };
            sqlx::query(branch).bind(head.to_string()).bind(&repo_s).execute(&mut *tx).await?;
            match repo_head.as_deref() {
                Some("master") => {}
                Some(_) => {
                    sqlx::query("UPDATE RepoHead SET branch_name = 'master' WHERE repo_id = ?")
                        .bind(&repo_s)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("INSERT INTO RepoHead (repo_id, branch_name) VALUES (?, 'master')")
                        .bind(&repo_s)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if !repo_row {
                sqlx::query("INSERT INTO Repo (repo_id) VALUES (?)").bind(&repo_s).execute(&mut *tx).await?;
            }
        }
        sqlx::query(
            "UPDATE seaf_backup_library SET backup_head = ?, primary_head = ?, publish_seq = ?, \
             synced_from = GREATEST(IFNULL(synced_from, 0), ?), last_success = ?, attempts = 0, last_error = NULL, \
             failed = 0, failed_head = NULL, \
             force_next = IF(notified_at IS NOT NULL AND notified_at > ?, force_next, 0), \
             behind_since = IF(notified_at IS NOT NULL AND notified_at > ?, behind_since, NULL) \
             WHERE repo_id = ?",
        )
        .bind(head.to_string())
        .bind(head.to_string())
        .bind(seq)
        .bind(synced_from)
        .bind(now)
        .bind(synced_from)
        .bind(synced_from)
        .bind(&repo_s)
        .execute(&mut *tx)
        .await?;
        for s in skipped {
            sqlx::query(
                "INSERT INTO seaf_backup_skipped (repo_id, kind, object_id, reason, recorded_at) VALUES (?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE reason = VALUES(reason)",
            )
            .bind(&repo_s)
            .bind(&s.kind)
            .bind(s.id.to_string())
            .bind(&s.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Publish::Published { seq })
    }

    /// Records a failed attempt. The library goes to the failed list when the failure is
    /// permanent or the attempts are used up; returns (failed, attempts).
    pub async fn record_failure(
        &self,
        repo: &RepoId,
        error: &str,
        head: Option<&ObjectId>,
        permanent: bool,
        max_attempts: u32,
    ) -> Result<(bool, u32), DbError> {
        self.retrying("record a failure", || async move {
            let mut tx = self.pool.begin().await?;
            let Some(row) = sqlx::query("SELECT attempts FROM seaf_backup_library WHERE repo_id = ? FOR UPDATE")
                .bind(repo.to_string())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok((false, 0));
            };
            let attempts: u32 = row.get::<u32, _>(0) + 1;
            let failed = permanent || attempts >= max_attempts;
            sqlx::query(
                "UPDATE seaf_backup_library SET attempts = ?, last_error = ?, failed = ?, \
                 failed_head = IF(?, ?, failed_head) WHERE repo_id = ?",
            )
            .bind(attempts)
            .bind(truncate(error, 4000))
            .bind(failed as i8)
            .bind(failed)
            .bind(head.map(|h| h.to_string()))
            .bind(repo.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((failed, attempts))
        })
        .await
    }

    /// The token minted for `repo`, if any.
    pub async fn token(&self, repo: &RepoId) -> Result<Option<StoredToken>, DbError> {
        let row = sqlx::query("SELECT email, token, minted_at FROM seaf_backup_token WHERE repo_id = ?")
            .bind(repo.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| StoredToken { email: r.get(0), token: Secret::new(r.get::<String, _>(1)), minted_at: r.get(2) }))
    }

    /// Records the token minted for `repo` (replacing the previous one), before it is placed on
    /// the primary: whatever the backup writes there is known here first.
    pub async fn save_token(&self, repo: &RepoId, t: &MintedToken, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO seaf_backup_token (repo_id, email, token, minted_at) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE email = VALUES(email), token = VALUES(token), minted_at = VALUES(minted_at)",
        )
        .bind(repo.as_str())
        .bind(&t.email)
        .bind(t.token.expose())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets `repo`'s token if it is still `token` (after it was removed from the primary).
    pub async fn drop_token(&self, repo: &RepoId, token: &Secret) -> Result<(), DbError> {
        sqlx::query("DELETE FROM seaf_backup_token WHERE repo_id = ? AND token = ?")
            .bind(repo.as_str())
            .bind(token.expose())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Libraries marked deleted that still have a token (the poll removes them from the primary).
    pub async fn deleted_with_tokens(&self) -> Result<Vec<RepoId>, DbError> {
        let rows = sqlx::query(
            "SELECT t.repo_id FROM seaf_backup_token t JOIN seaf_backup_library l ON l.repo_id = t.repo_id \
             WHERE l.deleted = 1",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| parse_repo(r.get::<String, _>(0).as_str(), "seaf_backup_token.repo_id")).collect()
    }

    /// The failover's work, in one transaction: the libraries the backup does not hold at the
    /// primary's last known head (failed, never backed up, behind, or notified since the last
    /// backup), their users' tokens and the backup's own tokens in `RepoUserToken`; with `apply`,
    /// those rows are deleted (and `seaf_backup_token` emptied) in the same transaction, so the
    /// counts returned are exactly what was deleted.
    pub async fn failover(&self, apply: bool) -> Result<FailoverPlan, DbError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {LIBRARY_COLUMNS} FROM seaf_backup_library WHERE deleted = 0 AND (failed = 1 \
             OR backup_head IS NULL OR primary_head IS NULL OR primary_head <> backup_head \
             OR (notified_at IS NOT NULL AND (synced_from IS NULL OR notified_at > synced_from))) \
             ORDER BY repo_id FOR UPDATE"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let libs: Vec<Library> = rows.iter().map(library_from_row).collect::<Result<_, _>>()?;
        let has_token_table = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'RepoUserToken'",
        )
        .fetch_one(&mut *tx)
        .await?
            > 0;
        let mut plan = FailoverPlan { has_token_table, ..FailoverPlan::default() };
        // A user's token is any RepoUserToken row of the library that the backup did not mint.
        const USERS: &str = "FROM RepoUserToken u WHERE NOT EXISTS \
             (SELECT 1 FROM seaf_backup_token t WHERE t.repo_id = u.repo_id AND t.token = u.token)";
        const OURS: &str = "RepoUserToken u JOIN seaf_backup_token t ON t.repo_id = u.repo_id AND t.token = u.token";
        let mut counts = std::collections::HashMap::new();
        if has_token_table && !libs.is_empty() {
            let mut q: QueryBuilder<MySql> =
                QueryBuilder::new(format!("SELECT u.repo_id, COUNT(*) {USERS} AND u.repo_id IN ("));
            let mut ids = q.separated(", ");
            for l in &libs {
                ids.push_bind(l.repo_id.to_string());
            }
            q.push(") GROUP BY u.repo_id");
            for r in q.build().fetch_all(&mut *tx).await? {
                counts.insert(r.get::<String, _>(0).trim().to_owned(), r.get::<i64, _>(1) as u64);
            }
        }
        if has_token_table {
            plan.backup_tokens =
                sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {OURS}")).fetch_one(&mut *tx).await? as u64;
        }
        for l in libs {
            let reason = if l.failed {
                format!("failed: {}", l.last_error.as_deref().unwrap_or("no error recorded"))
            } else if l.backup_head.is_none() {
                "never backed up".to_owned()
            } else if l.primary_head.is_some() && l.primary_head != l.backup_head {
                format!(
                    "behind: the backup holds {}, the primary {}",
                    l.backup_head.map(|h| h.to_string()).unwrap_or_default(),
                    l.primary_head.map(|h| h.to_string()).unwrap_or_default()
                )
            } else {
                "a change on the primary is not backed up yet".to_owned()
            };
            let n = counts.get(l.repo_id.as_str()).copied().unwrap_or(0);
            plan.user_tokens += n;
            plan.not_up_to_date.push((l, reason, n));
        }
        if apply {
            if has_token_table {
                sqlx::query(&format!("DELETE u FROM {OURS}")).execute(&mut *tx).await?;
                if !plan.not_up_to_date.is_empty() {
                    let mut q: QueryBuilder<MySql> = QueryBuilder::new("DELETE FROM RepoUserToken WHERE repo_id IN (");
                    let mut ids = q.separated(", ");
                    for (l, _, _) in &plan.not_up_to_date {
                        ids.push_bind(l.repo_id.to_string());
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
            }
            sqlx::query("DELETE FROM seaf_backup_token").execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(plan)
    }

    pub async fn skipped(&self, repo: &RepoId) -> Result<Vec<Skipped>, DbError> {
        let rows = sqlx::query(
            "SELECT kind, object_id, reason FROM seaf_backup_skipped WHERE repo_id = ? ORDER BY kind, object_id",
        )
        .bind(repo.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Skipped {
                    kind: r.get(0),
                    id: parse_object(r.get::<String, _>(1).as_str(), "skipped object id", repo)?,
                    reason: r.get(2),
                })
            })
            .collect()
    }
}

fn library_from_row(r: &sqlx::mysql::MySqlRow) -> Result<Library, DbError> {
    let repo_id = parse_repo(r.get::<String, _>("repo_id").as_str(), "repo_id")?;
    let opt_obj = |col: &'static str| -> Result<Option<ObjectId>, DbError> {
        r.get::<Option<String>, _>(col).map(|s| parse_object(&s, col, &repo_id)).transpose()
    };
    Ok(Library {
        store_id: parse_repo(r.get::<String, _>("store_id").as_str(), "store_id")?,
        name: r.get("name"),
        is_virtual: r.get::<i8, _>("is_virtual") != 0,
        primary_head: opt_obj("primary_head")?,
        backup_head: opt_obj("backup_head")?,
        publish_seq: r.get("publish_seq"),
        behind_since: r.get("behind_since"),
        last_success: r.get("last_success"),
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        failed: r.get::<i8, _>("failed") != 0,
        failed_head: opt_obj("failed_head")?,
        force_next: r.get::<i8, _>("force_next") != 0,
        deleted: r.get::<i8, _>("deleted") != 0,
        owner: r.get("owner"),
        repo_id,
    })
}

fn parse_repo(s: &str, what: &'static str) -> Result<RepoId, DbError> {
    RepoId::parse(s.trim()).map_err(|_| DbError::Corrupt { what, value: s.into(), repo: s.into() })
}

fn parse_object(s: &str, what: &'static str, repo: &RepoId) -> Result<ObjectId, DbError> {
    ObjectId::parse(s.trim()).map_err(|_| DbError::Corrupt { what, value: s.into(), repo: repo.to_string() })
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
