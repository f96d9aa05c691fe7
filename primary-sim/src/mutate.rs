//! Live changes: the `commit` command.
//!
//! Each commit takes the next library (round-robin over the non-virtual ones, or the one asked
//! for), adds, edits, renames or deletes a few small files, writes the new objects closure-first
//! (blocks, file objects, dirs bottom-up, the commit, each fsynced where seaf-server fsyncs) and
//! only then moves `db/branch/<id>`. With an events URL it then announces the new head the way
//! seaf-server announces it to its notification server.
//!
//! With a database URL (stock mode) the libraries and their heads come from seaf-server's tables,
//! and the `Branch` row is moved (compare-and-swap, as seaf-server does) and `RepoInfo` refreshed
//! after the objects are written; `db/branch/<id>` is moved right after, so tools reading the files
//! stay in step.
//!
//! A committed-to virtual library changes its own tree (its objects go to the origin's store);
//! merging that back into the origin is left out, as it is asynchronous on a real server too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seaf_objects::{ObjectId, RepoId};
use serde::Serialize;
use sha1::{Digest, Sha1};
use tracing::{info, warn};

use crate::db::{self, Library};
use crate::events::Notifier;
use crate::layout::Layout;
use crate::library::{CommitSpec, LibState, SizeDist};
use crate::names;
use crate::seafile_db;
use crate::writer::Store;

/// Options of the `commit` command.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    pub data: PathBuf,
    /// Only this library (virtual ones allowed); default: every non-virtual library in turn.
    pub library: Option<RepoId>,
    pub count: usize,
    /// Commits per second (default: as fast as possible).
    pub rate: Option<f64>,
    pub events_url: Option<String>,
    pub jwt_key: Option<String>,
    /// Varies the edits; the same seed on the same tree makes the same edits.
    pub seed: u64,
    pub block_size: usize,
    /// Stock mode: seaf-server's database (`mysql://…`) holds the libraries and branches.
    pub database_url: Option<String>,
}

impl CommitOptions {
    pub fn new(data: impl Into<PathBuf>) -> CommitOptions {
        CommitOptions {
            data: data.into(),
            library: None,
            count: 1,
            rate: None,
            events_url: None,
            jwt_key: None,
            seed: 0,
            block_size: 8 << 20,
            database_url: None,
        }
    }
}

/// One commit made (printed as a JSON line by the command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitRecord {
    pub repo_id: RepoId,
    pub commit_id: ObjectId,
    pub parent_id: ObjectId,
    /// Unix time in ms when the branch moved (seaf-server sends its event right after).
    pub at_ms: u64,
}

/// Makes `opts.count` commits, calling `on_commit` after each (once its branch has moved and its
/// event was sent or has failed).
pub async fn run(opts: &CommitOptions, mut on_commit: impl FnMut(&CommitRecord)) -> Result<Vec<CommitRecord>> {
    let layout = Layout::new(&opts.data);
    let store = Store::new(layout.clone()).with_sync_commits(true);
    let pool = match &opts.database_url {
        Some(url) => Some(seafile_db::connect(url, 2).await?),
        None => None,
    };
    let libs = match &pool {
        Some(pool) => seafile_db::libraries(pool).await?.into_iter().map(|l| l.lib).collect(),
        None => db::load_libraries(&layout)?,
    };
    let targets: Vec<Library> = match &opts.library {
        Some(id) => vec![libs.iter().find(|l| &l.repo_id == id).cloned().with_context(|| format!("no library {id}"))?],
        None => libs.iter().filter(|l| !l.is_virtual).cloned().collect(),
    };
    if targets.is_empty() {
        bail!("no library to commit to");
    }
    let notifier = match (&opts.events_url, &opts.jwt_key) {
        (Some(url), Some(key)) => Some(Notifier::new(url, key)?),
        (Some(_), None) => bail!("--events-url needs --jwt-key"),
        _ => None,
    };
    let mut ticker = match opts.rate {
        Some(r) if r > 0.0 && r.is_finite() => {
            let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(t)
        }
        Some(r) => bail!("--rate must be a positive number, got {r}"),
        None => None,
    };

    let mut states: HashMap<RepoId, LibState> = HashMap::new();
    let mut out = Vec::with_capacity(opts.count);
    for n in 0..opts.count {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let lib = &targets[n % targets.len()];
        let head = match &pool {
            Some(pool) => seafile_db::branch_head(pool, &lib.repo_id).await?,
            None => db::read_head(&layout, &lib.repo_id)?,
        };
        let head = head.with_context(|| format!("library {} has no branch", lib.repo_id))?;
        let (rec, ctime, modifier) = commit_once(&store, lib, head, &mut states, opts)?;
        // The objects are on disk: now the branch moves, first where seaf-server keeps it.
        if let Some(pool) = &pool {
            seafile_db::move_head(pool, &rec.repo_id, &head, &rec.commit_id, ctime, &modifier).await?;
        }
        db::write_head(&layout, &rec.repo_id, &rec.commit_id, true)?;
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_millis() as u64;
        info!(repo = %rec.repo_id, commit = %rec.commit_id, "committed");
        let rec = CommitRecord { at_ms, ..rec };
        if let Some(notifier) = &notifier
            && let Err(e) = notifier.repo_update(&rec.repo_id, &rec.commit_id).await
        {
            // Best effort, like seaf-server: log and go on.
            warn!("notification for {} failed: {e:#}", rec.repo_id);
        }
        on_commit(&rec);
        out.push(rec);
    }
    Ok(out)
}

/// One commit on top of `head` of `lib`: load (or reuse) its state, edit, write the objects.
/// Returns the record (its `at_ms` still unset), the commit's ctime and its creator; moving the
/// branch is the caller's.
fn commit_once(
    store: &Store,
    lib: &Library,
    head: ObjectId,
    states: &mut HashMap<RepoId, LibState>,
    opts: &CommitOptions,
) -> Result<(CommitRecord, i64, String)> {
    // Someone else (another commit process) may have moved the branch: reload then.
    if states.get(&lib.repo_id).and_then(|s| s.head) != Some(head) {
        states.insert(lib.repo_id.clone(), LibState::load(store, lib.clone(), head)?);
    }
    let state = states.get_mut(&lib.repo_id).expect("just inserted");
    let mut seed = [0u8; 32];
    seed[..20]
        .copy_from_slice(&Sha1::new().chain_update(opts.seed.to_be_bytes()).chain_update(head.as_bytes()).finalize());
    let mut rng = ChaCha8Rng::from_seed(seed);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_secs() as i64;
    // Never older than the head: ids hash the time, and histories are walked newest first.
    let ctime = now.max(state.head_ctime + 1);
    let who = names::person(&mut rng);
    let bs = opts.block_size;
    let mut descriptions = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let done = match rng.random_range(0..100) {
            0..35 => None,
            35..65 => state.op_edit(store, &mut rng, bs, 1 << 20, SizeDist::Small, who, ctime)?,
            65..85 => state.op_rename(&mut rng, ctime)?,
            _ => state.op_delete(&mut rng, ctime)?,
        };
        let d = match done {
            Some(d) => d,
            None => {
                let n = rng.random_range(1..=3);
                state.op_add(store, &mut rng, bs, n, SizeDist::Small, who, ctime)?
            }
        };
        descriptions.push(d);
    }
    let spec = CommitSpec {
        description: descriptions.join("\n"),
        creator_name: who.to_owned(),
        ctime,
        second_parent: None,
        new_merge: false,
    };
    let id = state.commit(store, spec)?;
    let rec = CommitRecord { repo_id: lib.repo_id.clone(), commit_id: id, parent_id: head, at_ms: 0 };
    Ok((rec, ctime, who.to_owned()))
}
