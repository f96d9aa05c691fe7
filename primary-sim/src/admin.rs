//! What administrators and seaf-server's maintenance do to libraries: the `mutate` command.
//!
//! These work on the stock-mode database (`--database-url`), so the backup's handling of each case
//! can be tested against a primary that behaves like seaf-server: a revoked token, a library given
//! to another user, a library without an owner, a deleted library (rows gone, objects left for
//! GC), and history cut short by GC (old commits and what only they reach removed from disk,
//! `RepoValidSince` set). Each operation returns a record the command prints as one JSON line.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use rand::Rng;
use seaf_objects::{ObjectId, ObjectKind, RepoId};
use serde::Serialize;
use sqlx::mysql::MySqlPool;
use tracing::info;

use crate::db;
use crate::layout::Layout;
use crate::seafile_db::{self, Owner};
use crate::walk::{Reach, history};
use crate::writer::Store;

/// One operation of the `mutate` command.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Delete every `RepoUserToken` row of the library.
    RevokeTokens { library: RepoId },
    /// Give the library to another user (`RepoOwner.owner_id` or `OrgRepo.user`).
    Transfer { library: RepoId, to: String },
    /// Delete the library's rows as seaf-server does; the objects stay.
    Delete { library: RepoId },
    /// Remove commits older than the newest `keep` on the main line, and the fs objects and
    /// blocks only they reach, from the data directory `data`; set `RepoValidSince`.
    GcHistory { data: PathBuf, library: RepoId, keep: usize },
    /// Delete the library's owner row.
    Disown { library: RepoId },
    /// Add a sync token for `email` (random 40 hex digits unless given).
    AddToken { library: RepoId, email: String, token: Option<String> },
}

/// What an operation did (printed as one JSON line).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Done {
    RevokeTokens {
        repo_id: RepoId,
        revoked: u64,
    },
    Transfer {
        repo_id: RepoId,
        from: Option<Owner>,
        to: String,
    },
    Delete {
        repo_id: RepoId,
        #[serde(flatten)]
        deleted: seafile_db::Deleted,
    },
    GcHistory {
        repo_id: RepoId,
        kept_commits: usize,
        removed_commits: usize,
        removed_fs: usize,
        removed_blocks: usize,
        /// `RepoValidSince.timestamp`: the ctime of the oldest kept main-line commit.
        valid_since: Option<i64>,
    },
    Disown {
        repo_id: RepoId,
        owner: Option<Owner>,
    },
    AddToken {
        repo_id: RepoId,
        email: String,
        token: String,
    },
}

/// Runs one operation against the database at `url`.
pub async fn run(url: &str, m: &Mutation) -> Result<Done> {
    let pool = seafile_db::connect(url, 2).await?;
    let done = apply(&pool, m).await;
    pool.close().await;
    let done = done?;
    info!(?done, "mutated");
    Ok(done)
}

async fn apply(pool: &MySqlPool, m: &Mutation) -> Result<Done> {
    match m {
        Mutation::RevokeTokens { library } => {
            let revoked = seafile_db::revoke_tokens(pool, library).await?;
            Ok(Done::RevokeTokens { repo_id: library.clone(), revoked })
        }
        Mutation::Transfer { library, to } => {
            let to = email(to)?;
            require_repo(pool, library).await?;
            let from = seafile_db::set_owner(pool, library, &to).await?;
            Ok(Done::Transfer { repo_id: library.clone(), from, to })
        }
        Mutation::Delete { library } => {
            let deleted = seafile_db::delete_library(pool, library, unix_now()?).await?;
            Ok(Done::Delete { repo_id: library.clone(), deleted })
        }
        Mutation::Disown { library } => {
            require_repo(pool, library).await?;
            let owner = seafile_db::remove_owner(pool, library).await?;
            Ok(Done::Disown { repo_id: library.clone(), owner })
        }
        Mutation::AddToken { library, email: e, token } => {
            let email = email(e)?;
            require_repo(pool, library).await?;
            let token = match token {
                Some(t) => {
                    // RepoUserToken.token is CHAR(41); seaf-server's own tokens are 40 hex digits.
                    if t.is_empty() || t.len() > 40 || !t.bytes().all(|b| b.is_ascii_graphic()) {
                        bail!("a token is 1 to 40 printable ASCII characters");
                    }
                    t.clone()
                }
                None => {
                    let bytes: [u8; 20] = rand::rng().random();
                    ObjectId::hash_of(&bytes).to_string()
                }
            };
            let mut conn = pool.acquire().await?;
            seafile_db::insert_token(&mut conn, library, &email, &token).await?;
            Ok(Done::AddToken { repo_id: library.clone(), email, token })
        }
        Mutation::GcHistory { data, library, keep } => gc_history(pool, &Layout::new(data), library, *keep).await,
    }
}

/// A user email as seahub stores it: lowercased, non-empty, within `VARCHAR(255)`.
fn email(s: &str) -> Result<String> {
    let e = s.trim().to_lowercase();
    if e.is_empty() || e.len() > 255 || !e.contains('@') || e.chars().any(char::is_whitespace) {
        bail!("{s:?} is not a user email");
    }
    Ok(e)
}

async fn require_repo(pool: &MySqlPool, repo: &RepoId) -> Result<()> {
    if !seafile_db::repo_exists(pool, repo).await? {
        bail!("library {repo} is not in the database");
    }
    Ok(())
}

fn unix_now() -> Result<i64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_secs() as i64)
}

/// Cuts `repo`'s history to the newest `keep` commits of its main line (first parents from the
/// head), like seaf-server's GC with a history limit: every commit of the history older than the
/// oldest kept main-line commit is removed, with the fs objects and blocks that no remaining
/// commit reaches — of this library or of any library sharing its store, deleted ones included
/// (their objects stay on disk until a GC of their own). `RepoValidSince` is set before anything
/// is removed, so a reader that sees missing objects also sees why.
async fn gc_history(pool: &MySqlPool, layout: &Layout, repo: &RepoId, keep: usize) -> Result<Done> {
    if keep == 0 {
        bail!("--keep must be at least 1 (the head is always kept)");
    }
    let lib =
        seafile_db::library(pool, repo).await?.with_context(|| format!("library {repo} is not in the database"))?;
    let store = Store::new(layout.clone());
    let head = lib.head;

    let mut main_line = Vec::new();
    let mut next = Some(head);
    while let Some(id) = next
        && main_line.len() < keep
    {
        // An earlier GC may have removed older commits already: the main line ends there.
        let c = match store.read_commit(repo, &id) {
            Ok(c) => c,
            Err(_) if !main_line.is_empty() => break,
            Err(e) => return Err(e),
        };
        next = c.parent_id;
        main_line.push(c);
    }
    let all = history(&store, repo, &head);
    let Some(cutoff) = main_line.last().filter(|_| main_line.len() == keep).map(|c| c.ctime) else {
        // The main line is not longer than what is kept: nothing to remove.
        return Ok(Done::GcHistory {
            repo_id: repo.clone(),
            kept_commits: all.len(),
            removed_commits: 0,
            removed_fs: 0,
            removed_blocks: 0,
            valid_since: None,
        });
    };
    let (kept, removed): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| c.ctime >= cutoff);
    seafile_db::set_valid_since(pool, repo, cutoff).await?;

    // What must stay: the kept commits' trees, and everything any other library over the same
    // store reaches (heads from the database and from the file mirror, which may differ for a
    // deleted library).
    let mut stays = Reach::default();
    for c in &kept {
        stays.add_tree(&store, &lib.lib.store_id, &c.root_id);
    }
    let mut others: BTreeSet<(RepoId, ObjectId)> = BTreeSet::new();
    for l in seafile_db::libraries(pool).await? {
        if l.lib.store_id == lib.lib.store_id && &l.lib.repo_id != repo {
            others.insert((l.lib.repo_id, l.head));
        }
    }
    if layout.libraries().is_file() {
        for l in db::load_libraries(layout)? {
            if l.store_id == lib.lib.store_id
                && &l.repo_id != repo
                && let Some(h) = db::read_head(layout, &l.repo_id)?
            {
                others.insert((l.repo_id, h));
            }
        }
    }
    for (other, h) in &others {
        for c in history(&store, other, h) {
            stays.add_tree(&store, &lib.lib.store_id, &c.root_id);
        }
    }

    let mut gone = Reach::default();
    for c in &removed {
        gone.add_tree(&store, &lib.lib.store_id, &c.root_id);
    }
    let fs: Vec<ObjectId> = gone.fs().difference(&stays.fs()).copied().collect();
    let blocks: Vec<ObjectId> = gone.blocks.difference(&stays.blocks).copied().collect();
    // Commits first, then what they reference, so the store never holds a commit whose tree was
    // removed before it.
    let removed_commits = remove_all(&store, ObjectKind::Commit, repo, removed.iter().map(|c| c.id))?;
    let removed_fs = remove_all(&store, ObjectKind::Fs, &lib.lib.store_id, fs)?;
    let removed_blocks = remove_all(&store, ObjectKind::Block, &lib.lib.store_id, blocks)?;
    Ok(Done::GcHistory {
        repo_id: repo.clone(),
        kept_commits: kept.len(),
        removed_commits,
        removed_fs,
        removed_blocks,
        valid_since: Some(cutoff),
    })
}

/// Removes objects, ignoring those already gone; returns how many were removed.
fn remove_all(
    store: &Store,
    kind: ObjectKind,
    repo: &RepoId,
    ids: impl IntoIterator<Item = ObjectId>,
) -> Result<usize> {
    let mut n = 0;
    for id in ids {
        let path = store.path(kind, repo, &id);
        match std::fs::remove_file(&path) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(n)
}
