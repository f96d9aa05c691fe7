//! The simulator's stand-in for seaf-server's database: the library table (what `Repo`,
//! `VirtualRepo` and `RepoInfo` hold, as `db/libraries.json`) and the `master` branch of each
//! library (`Branch`, as `db/branch/<repo_id>` holding the head commit id).
//!
//! Branch files are replaced by temp file + rename, so the HTTP server reading them per request
//! always sees either the old or the new head, never a torn write.

use std::fs;

use anyhow::{Context, Result, bail};
use seaf_objects::{ObjectId, RepoId};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::writer::write_atomic;

/// One row of `db/libraries.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub repo_id: RepoId,
    pub name: String,
    /// Where fs objects and blocks live: the repo itself, or the origin of a virtual library.
    pub store_id: RepoId,
    pub is_virtual: bool,
    /// The origin library of a virtual library (`VirtualRepo.origin_repo`), else null.
    pub origin_repo: Option<RepoId>,
    /// The folder of the origin the virtual library shows (`VirtualRepo.path`, starting with
    /// `/`), else null.
    pub origin_path: Option<String>,
    pub encrypted: bool,
    /// Repo version (1: v1 fs objects).
    pub version: u32,
}

/// Reads `db/libraries.json`.
pub fn load_libraries(layout: &Layout) -> Result<Vec<Library>> {
    let path = layout.libraries();
    let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let libs: Vec<Library> = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    for l in &libs {
        if l.is_virtual != l.origin_repo.is_some() {
            bail!("library {}: is_virtual and origin_repo disagree", l.repo_id);
        }
        if l.is_virtual && Some(&l.store_id) != l.origin_repo.as_ref() {
            bail!("virtual library {}: store_id must be its origin", l.repo_id);
        }
    }
    Ok(libs)
}

/// Writes `db/libraries.json` (pretty-printed: people read it during demos).
pub fn save_libraries(layout: &Layout, libs: &[Library]) -> Result<()> {
    fs::create_dir_all(layout.db())?;
    let mut text = serde_json::to_vec_pretty(libs)?;
    text.push(b'\n');
    let dest = layout.libraries();
    let tmp = layout.db().join(format!(".libraries.json.{}", std::process::id()));
    write_atomic(&tmp, &dest, &text, false).with_context(|| format!("writing {}", dest.display()))
}

/// The head commit of `repo`, or `None` when it has no branch.
pub fn read_head(layout: &Layout, repo: &RepoId) -> Result<Option<ObjectId>> {
    let path = layout.branch(repo);
    match fs::read_to_string(&path) {
        Ok(s) => {
            let id = ObjectId::parse(s.trim()).with_context(|| format!("bad head in {}", path.display()))?;
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Moves `repo`'s branch to `head` atomically (temp file + rename; fsynced when `sync`).
pub fn write_head(layout: &Layout, repo: &RepoId, head: &ObjectId, sync: bool) -> Result<()> {
    let dir = layout.branches();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dest = layout.branch(repo);
    // Staged in db/, not db/branch/, so that listing the branches never shows a temp file.
    let tmp = layout.db().join(format!(".branch-{repo}.{}", std::process::id()));
    write_atomic(&tmp, &dest, head.to_string().as_bytes(), sync).with_context(|| format!("writing {}", dest.display()))
}
