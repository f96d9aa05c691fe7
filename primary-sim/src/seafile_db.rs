//! seaf-server's own database (protocol §3), for the simulator's stock mode.
//!
//! With `--database-url` the simulator keeps its libraries where a stock seaf-server keeps them:
//! `Repo`, `Branch` (`master` only), `RepoHead`, `RepoInfo`, `VirtualRepo`, the owner in
//! `RepoOwner` (or `OrgRepo` for an organisation library) and the sync tokens in `RepoUserToken`.
//! The DDL below is seaf-server's (`scripts/sql/mysql/seafile.sql`), column for column and key for
//! key, so a backup reading these tables sees what it would see on a real primary.
//!
//! Every value is bound (`?`), never formatted into the SQL, and every id coming out of the
//! database is parsed with [`RepoId::parse`] / [`ObjectId::parse`] before it is used as a path.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use seaf_objects::{ObjectId, RepoId};
use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, QueryBuilder, Row};

use crate::db::{self, Library};
use crate::layout::Layout;
use crate::writer::Store;

/// seaf-server's tables that the simulator uses, in creation order, with their DDL exactly as in
/// protocol §3 (every table has the surrogate `id`; InnoDB).
pub const TABLES: &[(&str, &str)] = &[
    (
        "Repo",
        "CREATE TABLE IF NOT EXISTS Repo (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(37),
            UNIQUE INDEX (repo_id)
        ) ENGINE=INNODB",
    ),
    (
        "Branch",
        "CREATE TABLE IF NOT EXISTS Branch (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            name VARCHAR(10),
            repo_id CHAR(41),
            commit_id CHAR(41),
            UNIQUE INDEX (repo_id, name)
        ) ENGINE=INNODB",
    ),
    (
        "RepoHead",
        "CREATE TABLE IF NOT EXISTS RepoHead (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(37),
            branch_name VARCHAR(10),
            UNIQUE INDEX (repo_id)
        ) ENGINE=INNODB",
    ),
    (
        "RepoOwner",
        "CREATE TABLE IF NOT EXISTS RepoOwner (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(37),
            owner_id VARCHAR(255),
            UNIQUE INDEX (repo_id),
            INDEX (owner_id)
        ) ENGINE=INNODB",
    ),
    (
        "OrgRepo",
        "CREATE TABLE IF NOT EXISTS OrgRepo (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            org_id INTEGER,
            repo_id CHAR(37),
            user VARCHAR(255),
            UNIQUE INDEX (org_id, repo_id),
            UNIQUE INDEX (repo_id),
            INDEX (org_id, user),
            INDEX (user)
        ) ENGINE=INNODB",
    ),
    (
        "RepoInfo",
        "CREATE TABLE IF NOT EXISTS RepoInfo (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(36),
            name VARCHAR(255) NOT NULL,
            update_time BIGINT,
            version INTEGER,
            is_encrypted INTEGER,
            last_modifier VARCHAR(255),
            status INTEGER DEFAULT 0,
            type VARCHAR(10),
            UNIQUE INDEX (repo_id),
            INDEX (type)
        ) ENGINE=INNODB",
    ),
    (
        "VirtualRepo",
        "CREATE TABLE IF NOT EXISTS VirtualRepo (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(36),
            origin_repo CHAR(36),
            path TEXT,
            base_commit CHAR(40),
            UNIQUE INDEX (repo_id),
            INDEX (origin_repo)
        ) ENGINE=INNODB",
    ),
    (
        "RepoUserToken",
        "CREATE TABLE IF NOT EXISTS RepoUserToken (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(37),
            email VARCHAR(255),
            token CHAR(41),
            UNIQUE INDEX (repo_id, token),
            INDEX (token),
            INDEX (email)
        ) ENGINE=INNODB",
    ),
    (
        "RepoValidSince",
        "CREATE TABLE IF NOT EXISTS RepoValidSince (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(37),
            timestamp BIGINT,
            UNIQUE INDEX (repo_id)
        ) ENGINE=INNODB",
    ),
    (
        "RepoTrash",
        "CREATE TABLE IF NOT EXISTS RepoTrash (
            id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
            repo_id CHAR(36),
            repo_name VARCHAR(255),
            head_id CHAR(40),
            owner_id VARCHAR(255),
            size BIGINT(20),
            org_id INTEGER,
            del_time BIGINT,
            UNIQUE INDEX (repo_id),
            INDEX (owner_id),
            INDEX (org_id)
        ) ENGINE=INNODB",
    ),
];

/// The organisation of the generated organisation library (`OrgRepo.org_id`).
pub const GENERATED_ORG_ID: i32 = 1;

/// `RepoTrash.org_id` of a library that belongs to no organisation (seaf-server's value).
pub const NO_ORG: i32 = -1;

/// Connects with a small pool (the simulator's load is light; the server gets more).
pub async fn connect(url: &str, max_connections: u32) -> Result<MySqlPool> {
    let opts: MySqlConnectOptions = url.parse().context("invalid --database-url")?;
    // One plain connection first: a pool's timeout would hide why it failed (refused, denied…).
    let probe =
        <MySqlConnection as sqlx::Connection>::connect_with(&opts).await.context("connecting to the database")?;
    sqlx::Connection::close(probe).await?;
    MySqlPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .context("connecting to the database")
}

/// Creates seaf-server's tables that do not exist yet (existing ones are left as they are).
pub async fn create_tables(pool: &MySqlPool) -> Result<()> {
    for (name, ddl) in TABLES {
        sqlx::query(ddl).execute(pool).await.with_context(|| format!("creating table {name}"))?;
    }
    Ok(())
}

/// Fails unless every table the simulator reads exists (a stock seaf-server on MySQL does not
/// create its tables either: they come from `seafile.sql`, here from `generate --database-url`).
pub async fn check_tables(pool: &MySqlPool) -> Result<()> {
    for (name, _) in TABLES {
        // A table name cannot be bound; these are the fixed names above, never input.
        sqlx::query(&format!("SELECT 1 FROM `{name}` LIMIT 1"))
            .fetch_optional(pool)
            .await
            .with_context(|| format!("table {name} is not usable (run generate --database-url first)"))?;
    }
    Ok(())
}

/// Who owns a library: a user (`RepoOwner`) or a user inside an organisation (`OrgRepo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    User { email: String },
    Org { org_id: i32, email: String },
}

impl Owner {
    pub fn email(&self) -> &str {
        match self {
            Owner::User { email } | Owner::Org { email, .. } => email,
        }
    }
}

/// Everything seaf-server's tables hold about one library.
#[derive(Debug, Clone)]
pub struct LibraryRows {
    pub lib: Library,
    pub head: ObjectId,
    /// `RepoInfo.update_time` (the head commit's ctime) and `last_modifier` (its creator name).
    pub update_time: i64,
    pub last_modifier: String,
    /// `VirtualRepo.base_commit`: the origin commit the virtual library is in step with.
    pub base_commit: Option<ObjectId>,
    pub owner: Option<Owner>,
    /// `RepoUserToken` rows: (email, token).
    pub tokens: Vec<(String, String)>,
}

/// The deterministic owner email of the `i`-th generated library (0-based).
pub fn owner_email(i: usize) -> String {
    format!("user{}@example.com", i + 1)
}

/// The deterministic sync token of `email` for `repo` in a tree generated with `seed`: 40 hex
/// digits, like seaf-server's (which are the SHA-1 of a random UUID).
pub fn generated_token(seed: u64, repo: &RepoId, email: &str) -> String {
    let mut input = b"seaf-primary-sim sync token\0".to_vec();
    input.extend_from_slice(&seed.to_be_bytes());
    input.extend_from_slice(repo.as_str().as_bytes());
    input.push(0);
    input.extend_from_slice(email.as_bytes());
    ObjectId::hash_of(&input).to_string()
}

/// The rows for a generated data directory: one owner and one token per library; the last
/// non-virtual library (when there are at least two) belongs to organisation
/// [`GENERATED_ORG_ID`] instead of a plain user, so both ownership tables are exercised.
pub fn generated_rows(layout: &Layout, seed: u64) -> Result<Vec<LibraryRows>> {
    let store = Store::new(layout.clone());
    let libs = db::load_libraries(layout)?;
    let regular: Vec<usize> = (0..libs.len()).filter(|&i| !libs[i].is_virtual).collect();
    let org_lib = if regular.len() >= 2 { regular.last().copied() } else { None };
    let heads: HashMap<RepoId, ObjectId> = libs
        .iter()
        .map(|l| {
            let h =
                db::read_head(layout, &l.repo_id)?.with_context(|| format!("library {} has no branch", l.repo_id))?;
            Ok((l.repo_id.clone(), h))
        })
        .collect::<Result<_>>()?;
    libs.iter()
        .enumerate()
        .map(|(i, lib)| {
            let head = heads[&lib.repo_id];
            let commit = store.read_commit(&lib.repo_id, &head)?;
            let email = owner_email(i);
            let owner = if Some(i) == org_lib {
                Owner::Org { org_id: GENERATED_ORG_ID, email: email.clone() }
            } else {
                Owner::User { email: email.clone() }
            };
            let base_commit = lib.origin_repo.as_ref().and_then(|o| heads.get(o)).copied();
            Ok(LibraryRows {
                lib: lib.clone(),
                head,
                update_time: commit.ctime,
                last_modifier: commit.creator_name.clone().unwrap_or_default(),
                base_commit,
                tokens: vec![(email, generated_token(seed, &lib.repo_id, &owner_email(i)))],
                owner: Some(owner),
            })
        })
        .collect()
}

/// Connects to `url` and creates the tables, so that `generate` fails before writing any file
/// when the database is unusable.
pub async fn prepare(url: &str) -> Result<()> {
    let pool = connect(url, 1).await?;
    let created = create_tables(&pool).await;
    pool.close().await;
    created
}

/// Creates the tables and writes the rows of a generated data directory, in one transaction.
pub async fn write_generated(url: &str, layout: &Layout, seed: u64) -> Result<()> {
    let rows = generated_rows(layout, seed)?;
    let pool = connect(url, 2).await?;
    create_tables(&pool).await?;
    let mut tx = pool.begin().await?;
    for r in &rows {
        insert_library(&mut tx, r).await.with_context(|| format!("writing the rows of {}", r.lib.repo_id))?;
    }
    tx.commit().await?;
    pool.close().await;
    Ok(())
}

/// Inserts one library, in the order seaf-server creates one (`Branch`, `RepoHead`, `Repo`,
/// `RepoInfo`), then the virtual-library row, the owner and the tokens.
pub async fn insert_library(conn: &mut MySqlConnection, r: &LibraryRows) -> Result<()> {
    let repo = r.lib.repo_id.as_str();
    sqlx::query("INSERT INTO Branch (name, repo_id, commit_id) VALUES ('master', ?, ?)")
        .bind(repo)
        .bind(r.head.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO RepoHead (repo_id, branch_name) VALUES (?, 'master')")
        .bind(repo)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO Repo (repo_id) VALUES (?)").bind(repo).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO RepoInfo (repo_id, name, update_time, version, is_encrypted, last_modifier, status, type)
         VALUES (?, ?, ?, ?, ?, ?, 0, NULL)",
    )
    .bind(repo)
    .bind(&r.lib.name)
    .bind(r.update_time)
    .bind(r.lib.version as i32)
    .bind(r.lib.encrypted as i32)
    .bind(&r.last_modifier)
    .execute(&mut *conn)
    .await?;
    if let Some(origin) = &r.lib.origin_repo {
        sqlx::query("INSERT INTO VirtualRepo (repo_id, origin_repo, path, base_commit) VALUES (?, ?, ?, ?)")
            .bind(repo)
            .bind(origin.as_str())
            .bind(r.lib.origin_path.as_deref().unwrap_or("/"))
            .bind(r.base_commit.map(|c| c.to_string()))
            .execute(&mut *conn)
            .await?;
    }
    match &r.owner {
        Some(Owner::User { email }) => {
            sqlx::query("INSERT INTO RepoOwner (repo_id, owner_id) VALUES (?, ?)")
                .bind(repo)
                .bind(email)
                .execute(&mut *conn)
                .await?;
        }
        Some(Owner::Org { org_id, email }) => {
            sqlx::query("INSERT INTO OrgRepo (org_id, repo_id, user) VALUES (?, ?, ?)")
                .bind(org_id)
                .bind(repo)
                .bind(email)
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    for (email, token) in &r.tokens {
        insert_token(&mut *conn, &r.lib.repo_id, email, token).await?;
    }
    Ok(())
}

/// Adds a `RepoUserToken` row.
pub async fn insert_token(conn: &mut MySqlConnection, repo: &RepoId, email: &str, token: &str) -> Result<()> {
    sqlx::query("INSERT INTO RepoUserToken (repo_id, email, token) VALUES (?, ?, ?)")
        .bind(repo.as_str())
        .bind(email)
        .bind(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// A servable library (a `Repo` row with a `master` branch) and its head.
#[derive(Debug, Clone)]
pub struct DbLibrary {
    pub lib: Library,
    pub head: ObjectId,
}

/// How seaf-server loads a repo (`get_repo_from_db`): `Repo` joined with its `master` branch, the
/// store id from `VirtualRepo`, name and flags from `RepoInfo`. No branch ⇒ not servable.
const LIBRARY_SELECT: &str = "SELECT r.repo_id, b.commit_id, v.origin_repo, v.path, i.name, i.is_encrypted, i.version
     FROM Repo r
     JOIN Branch b ON b.repo_id = r.repo_id AND b.name = 'master'
     LEFT JOIN VirtualRepo v ON v.repo_id = r.repo_id
     LEFT JOIN RepoInfo i ON i.repo_id = r.repo_id";

fn library_of(row: &sqlx::mysql::MySqlRow) -> Result<DbLibrary> {
    let repo_s: String = row.try_get(0)?;
    let repo_id = RepoId::parse(repo_s.trim()).with_context(|| format!("bad repo id {repo_s:?} in Repo"))?;
    let head_s: String = row.try_get(1)?;
    let head = ObjectId::parse(head_s.trim()).with_context(|| format!("bad head of {repo_id} in Branch"))?;
    let origin = row
        .try_get::<Option<String>, _>(2)?
        .map(|s| RepoId::parse(s.trim()).with_context(|| format!("bad origin of {repo_id} in VirtualRepo")))
        .transpose()?;
    let path: Option<String> = row.try_get(3)?;
    let name: Option<String> = row.try_get(4)?;
    let encrypted: Option<i64> = row.try_get(5)?;
    let version: Option<i64> = row.try_get(6)?;
    let lib = Library {
        store_id: origin.clone().unwrap_or_else(|| repo_id.clone()),
        is_virtual: origin.is_some(),
        origin_path: origin.as_ref().map(|_| path.unwrap_or_else(|| "/".to_owned())),
        origin_repo: origin,
        name: name.unwrap_or_default(),
        encrypted: encrypted.unwrap_or(0) != 0,
        version: version.and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
        repo_id,
    };
    Ok(DbLibrary { lib, head })
}

/// Every servable library, in creation order.
pub async fn libraries(pool: &MySqlPool) -> Result<Vec<DbLibrary>> {
    let rows = sqlx::query(&format!("{LIBRARY_SELECT} ORDER BY r.id")).fetch_all(pool).await?;
    rows.iter().map(library_of).collect()
}

/// One servable library, or `None` (no `Repo` row, or no `master` branch).
pub async fn library(pool: &MySqlPool, id: &RepoId) -> Result<Option<DbLibrary>> {
    let row =
        sqlx::query(&format!("{LIBRARY_SELECT} WHERE r.repo_id = ?")).bind(id.as_str()).fetch_optional(pool).await?;
    row.as_ref().map(library_of).transpose()
}

/// Heads of those of `ids` that are servable (`head-commits-multi`).
pub async fn heads(pool: &MySqlPool, ids: &[RepoId]) -> Result<Vec<(RepoId, ObjectId)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT r.repo_id, b.commit_id FROM Repo r JOIN Branch b ON b.repo_id = r.repo_id AND b.name = 'master'
         WHERE r.repo_id IN (",
    );
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    q.push(")");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let r: String = row.try_get(0)?;
            let c: String = row.try_get(1)?;
            Ok((RepoId::parse(r.trim())?, ObjectId::parse(c.trim())?))
        })
        .collect()
}

/// The `master` head of `repo` as stored in `Branch` (whether or not `Repo` has the row).
pub async fn branch_head(pool: &MySqlPool, repo: &RepoId) -> Result<Option<ObjectId>> {
    let row = sqlx::query("SELECT commit_id FROM Branch WHERE repo_id = ? AND name = 'master'")
        .bind(repo.as_str())
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => {
            let s: String = row.try_get(0)?;
            Ok(Some(ObjectId::parse(s.trim()).with_context(|| format!("bad head of {repo} in Branch"))?))
        }
        None => Ok(None),
    }
}

/// The owner of `repo`: its `RepoOwner` row, else its `OrgRepo` row.
pub async fn owner(conn: &mut MySqlConnection, repo: &RepoId) -> Result<Option<Owner>> {
    if let Some(row) = sqlx::query("SELECT owner_id FROM RepoOwner WHERE repo_id = ?")
        .bind(repo.as_str())
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(Some(Owner::User { email: row.try_get(0)? }));
    }
    let row = sqlx::query("SELECT org_id, user FROM OrgRepo WHERE repo_id = ?")
        .bind(repo.as_str())
        .fetch_optional(conn)
        .await?;
    row.map(|row| Ok(Owner::Org { org_id: row.try_get::<i32, _>(0)?, email: row.try_get(1)? })).transpose()
}

/// What the database says about a sync token presented for a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// No `RepoUserToken` row for (library, token): unknown, revoked, or another library's.
    Unknown,
    /// A valid token whose user has no permission on the library (not its owner).
    NoPermission { email: String },
    /// A valid token of the library's owner.
    Owner { email: String },
}

/// Validates `token` for `repo` as seaf-server does, from the database on every call.
///
/// seaf-server answers from a cache (token → (repo, email) for 2 h, successful permission checks
/// for 2 h), so there a revoked token or a transferred library may keep working for up to two
/// hours. The simulator keeps no cache: every request sees the tables as they are, which makes the
/// revoke and transfer cases testable without waiting.
///
/// Permission is modelled by ownership only: the token's email must be the library's owner
/// (`RepoOwner.owner_id`, or `OrgRepo.user` for an organisation library; a virtual library has its
/// own owner row). Shares, groups and public libraries, which also grant permission on a real
/// server, are not simulated. Emails compare case-insensitively (seaf-server lowercases them).
pub async fn check_token(pool: &MySqlPool, repo: &RepoId, token: &str) -> Result<TokenCheck> {
    let row = sqlx::query(
        "SELECT t.email, o.owner_id, g.user
         FROM RepoUserToken t
         LEFT JOIN RepoOwner o ON o.repo_id = t.repo_id
         LEFT JOIN OrgRepo g ON g.repo_id = t.repo_id
         WHERE t.repo_id = ? AND t.token = ?",
    )
    .bind(repo.as_str())
    .bind(token)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(TokenCheck::Unknown) };
    let email: Option<String> = row.try_get(0)?;
    let email = email.unwrap_or_default().to_lowercase();
    let owners: [Option<String>; 2] = [row.try_get(1)?, row.try_get(2)?];
    let owns = !email.is_empty() && owners.iter().flatten().any(|o| o.to_lowercase() == email);
    Ok(if owns { TokenCheck::Owner { email } } else { TokenCheck::NoPermission { email } })
}

/// Whether `repo` has a `Repo` row (seaf-server answers 444 when it has not).
pub async fn repo_exists(pool: &MySqlPool, repo: &RepoId) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM Repo WHERE repo_id = ?").bind(repo.as_str()).fetch_optional(pool).await?;
    Ok(row.is_some())
}

/// Moves `repo`'s `master` branch from `old` to `new` as seaf-server does: a transaction with
/// `SELECT … FOR UPDATE` then `UPDATE` (compare-and-swap on the old head), and refreshes the
/// `RepoInfo` cache of the head commit (`update_time` = its ctime, `last_modifier`).
pub async fn move_head(
    pool: &MySqlPool,
    repo: &RepoId,
    old: &ObjectId,
    new: &ObjectId,
    update_time: i64,
    last_modifier: &str,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT commit_id FROM Branch WHERE name = 'master' AND repo_id = ? FOR UPDATE")
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let current: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
    match current {
        None => bail!("library {repo} has no master branch in the database"),
        Some(c) if c.trim() != old.to_string() => {
            bail!("the branch of {repo} moved from {old} to {} meanwhile", c.trim())
        }
        Some(_) => {}
    }
    sqlx::query("UPDATE Branch SET commit_id = ? WHERE name = 'master' AND repo_id = ?")
        .bind(new.to_string())
        .bind(repo.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE RepoInfo SET update_time = ?, last_modifier = ? WHERE repo_id = ?")
        .bind(update_time)
        .bind(last_modifier)
        .bind(repo.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes every `RepoUserToken` row of `repo`; returns how many there were.
pub async fn revoke_tokens(pool: &MySqlPool, repo: &RepoId) -> Result<u64> {
    let done = sqlx::query("DELETE FROM RepoUserToken WHERE repo_id = ?").bind(repo.as_str()).execute(pool).await?;
    Ok(done.rows_affected())
}

/// Gives `repo` to `email`, keeping its kind of ownership (a user library stays a user library,
/// an organisation library stays in its organisation); a library without an owner becomes a user
/// library. Returns the previous owner.
pub async fn set_owner(pool: &MySqlPool, repo: &RepoId, email: &str) -> Result<Option<Owner>> {
    let mut tx = pool.begin().await?;
    let before = owner(&mut tx, repo).await?;
    match &before {
        Some(Owner::User { .. }) => {
            sqlx::query("UPDATE RepoOwner SET owner_id = ? WHERE repo_id = ?")
                .bind(email)
                .bind(repo.as_str())
                .execute(&mut *tx)
                .await?;
        }
        Some(Owner::Org { .. }) => {
            sqlx::query("UPDATE OrgRepo SET user = ? WHERE repo_id = ?")
                .bind(email)
                .bind(repo.as_str())
                .execute(&mut *tx)
                .await?;
        }
        None => {
            sqlx::query("INSERT INTO RepoOwner (repo_id, owner_id) VALUES (?, ?)")
                .bind(repo.as_str())
                .bind(email)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(before)
}

/// Deletes the owner row of `repo` (`RepoOwner` and `OrgRepo`); returns the owner it had.
pub async fn remove_owner(pool: &MySqlPool, repo: &RepoId) -> Result<Option<Owner>> {
    let mut tx = pool.begin().await?;
    let before = owner(&mut tx, repo).await?;
    for sql in ["DELETE FROM RepoOwner WHERE repo_id = ?", "DELETE FROM OrgRepo WHERE repo_id = ?"] {
        sqlx::query(sql).bind(repo.as_str()).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// What [`delete_library`] removed.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub head_id: ObjectId,
    pub repo_name: String,
    pub owner: Option<Owner>,
    /// Virtual libraries over the deleted one, deleted with it (they cannot outlive their origin).
    pub virtual_deleted: Vec<RepoId>,
}

/// The per-library rows seaf-server removes when a library is deleted (objects stay for GC).
const DELETE_ROWS: &[&str] = &[
    "DELETE FROM Repo WHERE repo_id = ?",
    "DELETE FROM Branch WHERE repo_id = ?",
    "DELETE FROM RepoHead WHERE repo_id = ?",
    "DELETE FROM RepoOwner WHERE repo_id = ?",
    "DELETE FROM OrgRepo WHERE repo_id = ?",
    "DELETE FROM RepoInfo WHERE repo_id = ?",
    "DELETE FROM VirtualRepo WHERE repo_id = ?",
    "DELETE FROM RepoUserToken WHERE repo_id = ?",
    "DELETE FROM RepoValidSince WHERE repo_id = ?",
];

/// Deletes a library as seaf-server does (`seaf_repo_manager_del_repo`): its rows in `Repo`,
/// `Branch`, `RepoHead`, `RepoOwner`/`OrgRepo`, `RepoInfo`, `VirtualRepo`, `RepoUserToken` and
/// `RepoValidSince` go, a `RepoTrash` row keeps its head, name and owner; virtual libraries over it
/// are deleted too (without trash rows). No object is touched. One transaction.
pub async fn delete_library(pool: &MySqlPool, repo: &RepoId, now: i64) -> Result<Deleted> {
    let mut tx = pool.begin().await?;
    let exists = sqlx::query("SELECT 1 FROM Repo WHERE repo_id = ? FOR UPDATE")
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        bail!("library {repo} is not in the database");
    }
    let head = sqlx::query("SELECT commit_id FROM Branch WHERE repo_id = ? AND name = 'master'")
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?
        .with_context(|| format!("library {repo} has no master branch"))?;
    let head_id = ObjectId::parse(head.trim())?;
    let repo_name: String = sqlx::query("SELECT name FROM RepoInfo WHERE repo_id = ?")
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or_default();
    let owner = owner(&mut tx, repo).await?;
    let children: Vec<String> = sqlx::query("SELECT repo_id FROM VirtualRepo WHERE origin_repo = ?")
        .bind(repo.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let children: Vec<RepoId> = children.iter().map(|c| RepoId::parse(c.trim())).collect::<Result<_, _>>()?;
    for id in std::iter::once(repo).chain(&children) {
        for sql in DELETE_ROWS {
            sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
        }
    }
    let (owner_id, org_id) = match &owner {
        Some(Owner::User { email }) => (Some(email.as_str()), NO_ORG),
        Some(Owner::Org { org_id, email }) => (Some(email.as_str()), *org_id),
        None => (None, NO_ORG),
    };
    // REPLACE, as a library restored from the trash and deleted again already has a trash row.
    sqlx::query(
        "REPLACE INTO RepoTrash (repo_id, repo_name, head_id, owner_id, size, org_id, del_time)
         VALUES (?, ?, ?, ?, 0, ?, ?)",
    )
    .bind(repo.as_str())
    .bind(&repo_name)
    .bind(head_id.to_string())
    .bind(owner_id)
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Deleted { head_id, repo_name, owner, virtual_deleted: children })
}

/// Records that `repo`'s history before `timestamp` may have lost objects (`RepoValidSince`, as
/// seaf-server's GC sets it).
pub async fn set_valid_since(pool: &MySqlPool, repo: &RepoId, timestamp: i64) -> Result<()> {
    sqlx::query("REPLACE INTO RepoValidSince (repo_id, timestamp) VALUES (?, ?)")
        .bind(repo.as_str())
        .bind(timestamp)
        .execute(pool)
        .await?;
    Ok(())
}
