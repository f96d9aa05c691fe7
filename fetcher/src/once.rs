//! `seaf-backup-fetcher once`: back up libraries of a primary in one pass, without the cluster.
//!
//! Libraries come from the primary's `server-sync/repo-list` (shared token), from a stock
//! primary's own database (`--primary-database-url`: each library gets a sync token minted for its
//! owner, removed again when its backup ends), or, with `--library` and a token, from the ids given
//! (then only sync-protocol endpoints are used). Each library is fetched with full history; on
//! success its record in the store (`seaf-backup/libraries/<id>.json`) is moved to the new head.
//! A library that fails — its token refused, no owner to mint one for, an object missing — is
//! reported with its reason and the others go on.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use seaf_backup_service::Secret;
use seaf_backup_service::units::human_bytes;
use seaf_objects::{ObjectId, RepoId};
use seaf_primary_db::PrimaryDb;
use seaf_store::state::{SkippedObject, StateDir};
use seaf_store::{FsStore, ObjectStore};
use seaf_sync_client::SyncClient;
use serde::Serialize;

use crate::fetch::{FetchOptions, FetchStats, LibraryFetch, Progress};

/// One library to back up.
#[derive(Debug, Clone)]
pub struct Target {
    pub repo_id: RepoId,
    pub store_id: RepoId,
    /// The head to back up; read from the primary (`commit/HEAD`) when not known in advance.
    pub head: Option<ObjectId>,
    pub name: String,
    /// Who a token is minted for (stock primary only; `None` there: the library fails).
    pub owner: Option<String>,
}

/// How one library went.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryOutcome {
    pub repo_id: RepoId,
    pub name: String,
    pub store_id: RepoId,
    /// `None` when the library failed before its head was read.
    pub head: Option<ObjectId>,
    pub ok: bool,
    /// Why the library failed (only when `ok` is false).
    pub error: Option<String>,
    pub stats: FetchStats,
    pub skipped: Vec<SkippedObject>,
    pub seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct OnceReport {
    pub libraries: Vec<LibraryOutcome>,
    pub totals: FetchStats,
    pub seconds: f64,
}

impl OnceReport {
    pub fn all_ok(&self) -> bool {
        self.libraries.iter().all(|l| l.ok)
    }
}

/// How the primary is listed and which token each library is fetched with.
pub enum Access {
    /// One token for everything: the shared `sync_token` (repo list), or a library token given
    /// with `--library`.
    Token(Secret),
    /// A stock primary's database: listed there, one token minted per library.
    Database(PrimaryDb),
}

pub struct OnceOptions {
    pub access: Access,
    /// Only these libraries (sync-protocol endpoints only); all from the repo list when empty.
    pub libraries: Vec<RepoId>,
    /// Store id for `--library` (a virtual library's origin); default: the recorded one, or the id.
    pub store_id: Option<RepoId>,
    /// Libraries fetched at once.
    pub concurrency: usize,
    pub fetch: FetchOptions,
    /// Print a progress line on stderr every second while running.
    pub show_progress: bool,
}

/// Finds the libraries to back up.
pub async fn discover(client: &SyncClient, opts: &OnceOptions, states: &StateDir) -> anyhow::Result<Vec<Target>> {
    use anyhow::Context;
    let wanted = |r: &RepoId| opts.libraries.is_empty() || opts.libraries.contains(r);
    match &opts.access {
        Access::Database(db) => {
            let mut out = Vec::new();
            let mut rows = db.libraries();
            while let Some(row) = rows.try_next().await.context("listing the libraries in the primary's database")? {
                match row {
                    Ok(l) if wanted(&l.repo_id) => out.push(Target {
                        repo_id: l.repo_id,
                        store_id: l.store_id,
                        head: l.head,
                        name: l.name,
                        owner: l.owner,
                    }),
                    Ok(_) => {}
                    Err(bad) => tracing::warn!("{bad}"),
                }
            }
            if let Some(missing) = opts.libraries.iter().find(|r| !out.iter().any(|t| &t.repo_id == *r)) {
                anyhow::bail!("library {missing} is not in the primary's Repo table");
            }
            Ok(out)
        }
        Access::Token(token) if opts.libraries.is_empty() => {
            let list = client.repo_list(token.expose()).await.context("listing the primary's libraries")?;
            Ok(list
                .into_iter()
                .map(|e| Target {
                    repo_id: e.repo_id,
                    store_id: e.store_id,
                    head: Some(e.head_commit_id),
                    name: e.name,
                    owner: None,
                })
                .collect())
        }
        Access::Token(_) => {
            let mut out = Vec::new();
            for repo in &opts.libraries {
                let recorded = states.load(repo)?.map(|s| s.store_id);
                let store_id = opts.store_id.clone().or(recorded).unwrap_or_else(|| repo.clone());
                out.push(Target { repo_id: repo.clone(), store_id, head: None, name: String::new(), owner: None });
            }
            Ok(out)
        }
    }
}

/// The token a library is fetched with, and (stock primary) the one minted for it, to remove
/// when the library is done.
async fn token_for(access: &Access, t: &Target) -> Result<(Secret, Option<Secret>), String> {
    match access {
        Access::Token(token) => Ok((token.clone(), None)),
        Access::Database(db) => {
            let owner = t.owner.as_deref().ok_or_else(|| seaf_primary_db::NO_OWNER.to_owned())?;
            let minted = PrimaryDb::new_token(owner);
            db.insert_token(&t.repo_id, &minted).await.map_err(|e| format!("minting a sync token: {e}"))?;
            Ok((minted.token.clone(), Some(minted.token)))
        }
    }
}

/// Backs up every target, `concurrency` at a time, printing one line per library as it finishes
/// (unless `quiet`).
pub async fn run(
    client: &SyncClient,
    store: FsStore,
    targets: Vec<Target>,
    opts: &OnceOptions,
    quiet: bool,
) -> OnceReport {
    let started = Instant::now();
    let states = StateDir::new(store.root());
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let running: Arc<std::sync::Mutex<Vec<Arc<Progress>>>> = Arc::default();
    let ticker = opts.show_progress.then(|| tokio::spawn(show_progress(running.clone(), targets.len())));

    let outcomes: Vec<LibraryOutcome> = futures::stream::iter(targets)
        .map(|t| {
            let (store, states, running) = (store.clone(), states.clone(), running.clone());
            async move {
                let started = Instant::now();
                let outcome = match token_for(&opts.access, &t).await {
                    Err(error) => failed(&t, error, started),
                    Ok((token, minted)) => {
                        let repo = client.repo(t.repo_id.clone(), token.expose().to_owned());
                        let fetch = LibraryFetch::new(repo.clone(), store, t.store_id.clone(), opts.fetch.clone());
                        running.lock().expect("progress list lock").push(fetch.progress());
                        let outcome = backup_one(&repo, &fetch, &t, &states).await;
                        if let (Access::Database(db), Some(minted)) = (&opts.access, minted) {
                            // The token served this run only; a crash before this line leaves it
                            // in RepoUserToken, harmless but for the row.
                            if let Err(e) = db.delete_token(&t.repo_id, &minted).await {
                                tracing::warn!(repo = %t.repo_id, "removing the run's sync token from the primary: {e}");
                            }
                        }
                        outcome
                    }
                };
                if !quiet {
                    println!("{}", outcome_line(&outcome));
                }
                outcome
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    if let Some(t) = ticker {
        t.abort();
    }
    let mut totals = FetchStats::default();
    for o in &outcomes {
        for (sum, add) in [
            (&mut totals.commits, &o.stats.commits),
            (&mut totals.fs, &o.stats.fs),
            (&mut totals.blocks, &o.stats.blocks),
        ] {
            sum.objects += add.objects;
            sum.bytes += add.bytes;
        }
    }
    let mut libraries = outcomes;
    libraries.sort_by(|a, b| a.repo_id.cmp(&b.repo_id));
    OnceReport { libraries, totals, seconds: started.elapsed().as_secs_f64() }
}

/// The outcome of a library that failed before anything was fetched.
fn failed(t: &Target, error: String, started: Instant) -> LibraryOutcome {
    LibraryOutcome {
        repo_id: t.repo_id.clone(),
        name: t.name.clone(),
        store_id: t.store_id.clone(),
        head: t.head,
        ok: false,
        error: Some(error),
        stats: FetchStats::default(),
        skipped: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn backup_one(
    repo: &seaf_sync_client::RepoClient,
    fetch: &LibraryFetch,
    t: &Target,
    states: &StateDir,
) -> LibraryOutcome {
    let started = Instant::now();
    let head = match t.head {
        Some(h) => h,
        None => match repo.head().await {
            Ok(h) => h,
            Err(e) => return failed(t, format!("reading the head of library {}: {e}", t.repo_id), started),
        },
    };
    let result = fetch.run(head).await;
    let mut outcome = LibraryOutcome {
        repo_id: t.repo_id.clone(),
        name: t.name.clone(),
        store_id: t.store_id.clone(),
        head: Some(head),
        ok: false,
        error: None,
        stats: fetch.progress().stats(),
        skipped: Vec::new(),
        seconds: 0.0,
    };
    match result {
        Ok(report) => {
            let recorded = states.record_head(&t.repo_id, &t.store_id, head, &report.skipped, 0);
            match recorded {
                Ok(()) => outcome.ok = true,
                Err(e) => outcome.error = Some(format!("recording the new head: {e}")),
            }
            outcome.stats = report.stats;
            outcome.skipped = report.skipped;
        }
        Err(e) => outcome.error = Some(e.to_string()),
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

pub fn outcome_line(o: &LibraryOutcome) -> String {
    let name = if o.name.is_empty() { String::new() } else { format!(" \"{}\"", o.name) };
    if !o.ok {
        return format!("FAILED  {}{name}: {}", o.repo_id, o.error.as_deref().unwrap_or("unknown error"));
    }
    let mut line = format!(
        "ok      {}{name}: head {}; fetched commits {}, fs objects {}, blocks {} ({}) in {:.1} s",
        o.repo_id,
        o.head.map(|h| h.to_string()[..12].to_owned()).unwrap_or_default(),
        o.stats.commits.objects,
        o.stats.fs.objects,
        o.stats.blocks.objects,
        human_bytes(o.stats.blocks.bytes + o.stats.fs.bytes + o.stats.commits.bytes),
        o.seconds
    );
    if !o.skipped.is_empty() {
        line.push_str(&format!(", {} objects skipped:", o.skipped.len()));
        for s in &o.skipped {
            line.push_str(&format!("\n          skipped {} {}: {}", s.kind, s.id, s.reason));
        }
    }
    line
}

pub fn summary_line(r: &OnceReport) -> String {
    let failed = r.libraries.iter().filter(|l| !l.ok).count();
    let bytes = r.totals.commits.bytes + r.totals.fs.bytes + r.totals.blocks.bytes;
    format!(
        "{} libraries: {} backed up, {failed} failed; fetched commits {}, fs objects {}, blocks {}, {} in {:.1} s ({}/s)",
        r.libraries.len(),
        r.libraries.len() - failed,
        r.totals.commits.objects,
        r.totals.fs.objects,
        r.totals.blocks.objects,
        human_bytes(bytes),
        r.seconds,
        human_bytes((bytes as f64 / r.seconds.max(1e-3)) as u64),
    )
}

/// A one-line progress display on stderr, only when stderr is a terminal.
async fn show_progress(running: Arc<std::sync::Mutex<Vec<Arc<Progress>>>>, libraries: usize) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let all = running.lock().expect("progress list lock").clone();
        let (mut done, mut total, mut fs, mut blocks, mut bytes) = (0, 0, 0, 0, 0);
        for p in &all {
            let s = p.stats();
            done += s.commits.objects;
            total += p.commits_total.load(std::sync::atomic::Ordering::Relaxed);
            fs += s.fs.objects;
            blocks += s.blocks.objects;
            bytes += s.blocks.bytes + s.fs.bytes;
        }
        eprint!(
            "\r{}/{libraries} libraries started: {done}/{total} commits, {fs} fs objects, {blocks} blocks, {}   ",
            all.len(),
            human_bytes(bytes)
        );
    }
}
