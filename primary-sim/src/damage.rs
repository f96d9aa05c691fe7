//! Damaging the store on purpose: the `damage` command.
//!
//! Picks one object deterministically and really damages it on disk: flips bytes in place
//! (corrupt) or deletes the file (remove). The victim is the object with the smallest id among
//! the candidates that are still present and intact, so repeated runs damage different objects
//! and the same tree always yields the same sequence of victims.
//!
//! Candidates are taken from the head tree, or with `old` from history only: objects some commit
//! of the library reaches that no head tree sharing the store reaches (for example the blocks of a
//! file version that was later edited). Damage to those shows up only to a backup that keeps the
//! full history.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use seaf_objects::{ObjectId, ObjectKind, RepoId};
use serde::Serialize;

use crate::db::{self, Library};
use crate::layout::Layout;
use crate::walk::{Reach, history};
use crate::writer::Store;

/// What to do to the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DamageKind {
    CorruptBlock,
    RemoveBlock,
    CorruptFs,
    RemoveFs,
}

impl DamageKind {
    fn is_block(self) -> bool {
        matches!(self, DamageKind::CorruptBlock | DamageKind::RemoveBlock)
    }
    fn is_corrupt(self) -> bool {
        matches!(self, DamageKind::CorruptBlock | DamageKind::CorruptFs)
    }
}

/// Which fs objects may be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FsTarget {
    /// File objects (a damaged file, the rest of the tree intact).
    #[default]
    File,
    /// Dir objects other than a root (a damaged subtree: fs-id-list then fails).
    Dir,
}

#[derive(Debug, Clone)]
pub struct DamageOptions {
    pub data: PathBuf,
    pub kind: DamageKind,
    /// Default: the first library (in `libraries.json` order) that has a candidate.
    pub library: Option<RepoId>,
    pub old: bool,
    pub fs_target: FsTarget,
}

/// The damage done (printed as one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub repo_id: RepoId,
    /// `"block"` or `"fs"`.
    pub kind: &'static str,
    pub id: ObjectId,
    /// `"corrupt"` or `"remove"`.
    pub action: &'static str,
}

/// Picks a victim and damages it.
pub fn damage(opts: &DamageOptions) -> Result<Damage> {
    let layout = Layout::new(&opts.data);
    let store = Store::new(layout.clone());
    let libs = db::load_libraries(&layout)?;
    let order: Vec<&Library> = match &opts.library {
        Some(id) => vec![libs.iter().find(|l| &l.repo_id == id).with_context(|| format!("no library {id}"))?],
        None => libs.iter().collect(),
    };
    for lib in order {
        if let Some(id) = pick(&layout, &store, &libs, lib, opts)? {
            let kind = if opts.kind.is_block() { ObjectKind::Block } else { ObjectKind::Fs };
            let path = store.path(kind, &lib.store_id, &id);
            if opts.kind.is_corrupt() {
                corrupt(&store, kind, &lib.store_id, &id)?;
            } else {
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            return Ok(Damage {
                repo_id: lib.repo_id.clone(),
                kind: if opts.kind.is_block() { "block" } else { "fs" },
                id,
                action: if opts.kind.is_corrupt() { "corrupt" } else { "remove" },
            });
        }
    }
    bail!("no intact {:?} candidate{} found", opts.kind, if opts.old { " in old history" } else { "" })
}

fn head_tree(layout: &Layout, store: &Store, lib: &Library, reach: &mut Reach) -> Result<()> {
    if let Some(head) = db::read_head(layout, &lib.repo_id)?
        && let Ok(c) = store.read_commit(&lib.repo_id, &head)
    {
        reach.add_tree(store, &lib.store_id, &c.root_id);
    }
    Ok(())
}

fn pick(
    layout: &Layout,
    store: &Store,
    libs: &[Library],
    lib: &Library,
    opts: &DamageOptions,
) -> Result<Option<ObjectId>> {
    let mut head = Reach::default();
    head_tree(layout, store, lib, &mut head)?;
    let mut roots = BTreeSet::new();
    let candidates = if opts.old {
        // Exclude whatever any head tree over the same store uses, not just this library's.
        let mut current = Reach::default();
        for other in libs.iter().filter(|l| l.store_id == lib.store_id) {
            head_tree(layout, store, other, &mut current)?;
        }
        let mut all = Reach::default();
        if let Some(h) = db::read_head(layout, &lib.repo_id)? {
            for c in history(store, &lib.repo_id, &h) {
                roots.insert(c.root_id);
                all.add_tree(store, &lib.store_id, &c.root_id);
            }
        }
        select(&all, opts).difference(&select(&current, opts)).copied().collect::<BTreeSet<_>>()
    } else {
        if let Some(h) = db::read_head(layout, &lib.repo_id)?
            && let Ok(c) = store.read_commit(&lib.repo_id, &h)
        {
            roots.insert(c.root_id);
        }
        select(&head, opts)
    };
    let kind = if opts.kind.is_block() { ObjectKind::Block } else { ObjectKind::Fs };
    for id in candidates {
        if opts.fs_target == FsTarget::Dir && !opts.kind.is_block() && roots.contains(&id) {
            continue;
        }
        if intact(store, kind, &lib.store_id, &id) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn select(reach: &Reach, opts: &DamageOptions) -> BTreeSet<ObjectId> {
    if opts.kind.is_block() {
        reach.blocks.clone()
    } else if opts.fs_target == FsTarget::Dir {
        reach.dirs.clone()
    } else {
        reach.files.clone()
    }
}

/// Present and matching its id.
fn intact(store: &Store, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> bool {
    match kind {
        ObjectKind::Block => store.read(kind, store_id, id).is_ok_and(|b| ObjectId::hash_of(&b) == *id),
        _ => store.read_fs(store_id, id).is_ok(),
    }
}

/// Flips bytes in the middle of the object, in place, until it no longer verifies.
fn corrupt(store: &Store, kind: ObjectKind, store_id: &RepoId, id: &ObjectId) -> Result<()> {
    let path = store.path(kind, store_id, id);
    let mut f =
        OpenOptions::new().read(true).write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata()?.len();
    if len == 0 {
        bail!("{} is empty", path.display());
    }
    let mut pos = len / 2;
    for _ in 0..len {
        let mut b = [0u8];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut b)?;
        f.seek(SeekFrom::Start(pos))?;
        f.write_all(&[!b[0]])?;
        f.sync_all()?;
        if !intact(store, kind, store_id, id) {
            return Ok(());
        }
        // A flip that zlib happens to tolerate: flip the next byte too.
        pos = (pos + 1) % len;
    }
    bail!("{} still verifies after flipping every byte", path.display())
}
