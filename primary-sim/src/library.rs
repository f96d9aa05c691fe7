//! One library being written to: its tree, its head, and the edits people make.
//!
//! Both the generator (scripted history) and the `commit` command (live changes) drive a
//! [`LibState`]. Every commit writes its objects closure-first: blocks and file objects while an
//! edit is made, the changed dirs bottom-up in [`LibState::commit`], then the commit object. Moving
//! the branch is left to the caller, after the commit is on disk.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use rand::Rng;
use rand::seq::IndexedRandom;
use seaf_objects::ObjectId;
use seaf_objects::fs::MODE_FILE;

use crate::commit_json::{EncFields, NewCommit, SERVER_CREATOR};
use crate::content::{ContentWriter, Fill};
use crate::db::Library;
use crate::names;
use crate::tree::{FileNode, Node, Tree};
use crate::writer::Store;

/// File sizes of the files people add and edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    /// Mostly small, some spanning several blocks, a few empty: the `tiny` fixture.
    Mixed,
    /// 1 to 16 KiB (the many small files of the `bench` fixture).
    Small,
    /// 1 to 512 bytes (the `many-files` fixture).
    Tiny,
}

impl SizeDist {
    pub fn sample(self, rng: &mut impl Rng, block_size: usize) -> u64 {
        let block = block_size as u64;
        match self {
            SizeDist::Mixed => match rng.random_range(0..100) {
                0..5 => 0,
                5..65 => rng.random_range(1..4096),
                65..90 => rng.random_range(4096..block.max(4097)),
                _ => rng.random_range(block..block * 4),
            },
            SizeDist::Small => rng.random_range(1024..=16384),
            SizeDist::Tiny => rng.random_range(1..=512),
        }
    }
}

/// How a commit is described and who made it.
#[derive(Debug, Clone)]
pub struct CommitSpec {
    pub description: String,
    pub creator_name: String,
    pub ctime: i64,
    pub second_parent: Option<ObjectId>,
    pub new_merge: bool,
}

/// A library with its working tree.
#[derive(Debug, Clone)]
pub struct LibState {
    pub lib: Library,
    pub tree: Tree,
    pub head: Option<ObjectId>,
    /// ctime of the head commit (new commits are never older).
    pub head_ctime: i64,
    pub repo_desc: String,
    pub enc: Option<EncFields>,
    /// Paths the random edits leave alone (fixtures such as the empty file, and folders that
    /// virtual libraries show).
    pub protected: BTreeSet<String>,
    /// File objects written since the last commit. Editing or deleting one of them again before
    /// the commit would leave it stored but unreachable, which a real server never does.
    fresh: BTreeSet<ObjectId>,
}

impl LibState {
    /// A library that has no commit yet.
    pub fn new(lib: Library, enc: Option<EncFields>) -> LibState {
        LibState {
            lib,
            tree: Tree::new(),
            head: None,
            head_ctime: 0,
            repo_desc: String::new(),
            enc,
            protected: BTreeSet::new(),
            fresh: BTreeSet::new(),
        }
    }

    /// Loads a library's head commit and whole tree from the store.
    pub fn load(store: &Store, lib: Library, head: ObjectId) -> Result<LibState> {
        let commit = store.read_commit(&lib.repo_id, &head)?;
        let tree = Tree::load(store, &lib.store_id, &commit.root_id)
            .with_context(|| format!("loading the tree of {} at {head}", lib.repo_id))?;
        // Encryption parameters and the description are carried over from the head, as the
        // server copies them from the repo into every new commit.
        let json: serde_json::Value = serde_json::from_slice(commit.raw())?;
        let s = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let enc = if commit.encrypted {
            Some(EncFields {
                enc_version: json.get("enc_version").and_then(|v| v.as_u64()).unwrap_or(2) as u32,
                magic: s("magic").unwrap_or_default(),
                key: s("key").unwrap_or_default(),
            })
        } else {
            None
        };
        // Keep the fixtures a generated tree has: empty files, and files sharing their content
        // with another path.
        let mut by_id: std::collections::HashMap<ObjectId, usize> = std::collections::HashMap::new();
        for (_, f) in tree.files() {
            *by_id.entry(f.id).or_default() += 1;
        }
        let protected =
            tree.files().into_iter().filter(|(_, f)| f.id.is_empty() || by_id[&f.id] > 1).map(|(p, _)| p).collect();
        Ok(LibState {
            repo_desc: s("repo_desc").unwrap_or_default(),
            lib,
            tree,
            head: Some(head),
            head_ctime: commit.ctime,
            enc,
            protected,
            fresh: BTreeSet::new(),
        })
    }

    /// Flushes the tree and writes a commit on top of the head; returns the new commit id.
    pub fn commit(&mut self, store: &Store, spec: CommitSpec) -> Result<ObjectId> {
        let root = self.tree.flush(store, &self.lib.store_id)?;
        self.commit_root(store, root, spec)
    }

    /// Writes a commit with the given root (whose objects must already be stored).
    pub fn commit_root(&mut self, store: &Store, root: ObjectId, spec: CommitSpec) -> Result<ObjectId> {
        let c = NewCommit {
            repo_id: self.lib.repo_id.clone(),
            root_id: root,
            creator_name: Some(spec.creator_name),
            creator: SERVER_CREATOR.to_owned(),
            description: spec.description,
            ctime: spec.ctime,
            parent_id: self.head,
            second_parent_id: spec.second_parent,
            repo_name: self.lib.name.clone(),
            repo_desc: self.repo_desc.clone(),
            enc: self.enc.clone(),
            version: self.lib.version,
            new_merge: spec.new_merge,
        };
        let id = c.id();
        store.write_commit(&self.lib.repo_id, &id, c.to_json(&id).as_bytes())?;
        self.head = Some(id);
        self.head_ctime = spec.ctime;
        self.fresh.clear();
        Ok(id)
    }

    fn writer<'a>(&'a self, store: &'a Store, block_size: usize) -> ContentWriter<'a> {
        ContentWriter { store, store_id: &self.lib.store_id, block_size, encrypted: self.enc.is_some() }
    }

    /// Writes a new file's contents and puts it at `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn put_file(
        &mut self,
        store: &Store,
        rng: &mut impl Rng,
        block_size: usize,
        path: &str,
        size: u64,
        fill: Fill,
        modifier: &str,
        mtime: i64,
    ) -> Result<()> {
        let id = self.writer(store, block_size).write_file(rng, size, fill)?;
        if !id.is_empty() {
            self.fresh.insert(id);
        }
        self.tree.insert_file(path, FileNode { id, mode: MODE_FILE, size, mtime, modifier: modifier.to_owned() })
    }

    fn is_protected(&self, path: &str) -> bool {
        self.protected.contains(path)
    }

    /// A dir that holds a protected path (or is one) must not be removed or renamed.
    fn holds_protected(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.protected.iter().any(|p| p == dir || p.starts_with(&prefix))
    }

    /// Files the random edits may touch, only those up to `max_size` bytes, and (unless
    /// `fresh_ok`) none written since the last commit.
    fn editable_files(&self, max_size: u64, fresh_ok: bool) -> Vec<String> {
        self.tree
            .files()
            .into_iter()
            .filter(|(p, f)| !self.is_protected(p) && f.size <= max_size && (fresh_ok || !self.fresh.contains(&f.id)))
            .map(|(p, _)| p)
            .collect()
    }

    /// Dirs holding (at any depth) a file written since the last commit.
    fn dirs_holding_fresh(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (p, f) in self.tree.files() {
            if self.fresh.contains(&f.id) {
                let mut d = names::parent(&p);
                while !d.is_empty() {
                    out.insert(d.to_owned());
                    d = names::parent(d);
                }
            }
        }
        out
    }

    /// A random existing dir ("" = root) to put something in, at most `max_depth` deep.
    pub fn random_dir(&self, rng: &mut impl Rng, max_depth: usize) -> String {
        let mut dirs: Vec<String> =
            self.tree.dirs().into_iter().filter(|d| d.split('/').count() <= max_depth).collect();
        dirs.push(String::new());
        dirs.choose(rng).expect("non-empty").clone()
    }

    /// A free name for a new file in `dir`.
    pub fn free_file_name(&self, rng: &mut impl Rng, dir: &str) -> String {
        names::file_name(rng, |n| self.tree.contains(&names::join(dir, n)))
    }

    /// Adds `n` files with sizes from `size`; returns the change description.
    #[allow(clippy::too_many_arguments)]
    pub fn op_add(
        &mut self,
        store: &Store,
        rng: &mut impl Rng,
        block_size: usize,
        n: usize,
        size: SizeDist,
        who: &str,
        mtime: i64,
    ) -> Result<String> {
        let mut first = None;
        for _ in 0..n {
            let mut dir = self.random_dir(rng, 3);
            if rng.random_bool(0.2) && dir.split('/').count() < 4 {
                let sub = names::dir_name(rng, |d| self.tree.contains(&names::join(&dir, d)));
                dir = names::join(&dir, &sub);
            }
            let name = self.free_file_name(rng, &dir);
            let sz = size.sample(rng, block_size);
            let fill = if name.ends_with(".txt") || name.ends_with(".md") { Fill::Text } else { Fill::Random };
            self.put_file(store, rng, block_size, &names::join(&dir, &name), sz, fill, who, mtime)?;
            first.get_or_insert(name);
        }
        let first = first.unwrap_or_default();
        Ok(match n {
            1 => format!("Added \"{first}\"."),
            _ => format!("Added \"{first}\" and {} more files.", n - 1),
        })
    }

    /// Replaces the contents of a random small file; `None` if there is none.
    #[allow(clippy::too_many_arguments)]
    pub fn op_edit(
        &mut self,
        store: &Store,
        rng: &mut impl Rng,
        block_size: usize,
        max_size: u64,
        size: SizeDist,
        who: &str,
        mtime: i64,
    ) -> Result<Option<String>> {
        let candidates = self.editable_files(max_size, false);
        let Some(path) = candidates.choose(rng).cloned() else { return Ok(None) };
        let mut sz = size.sample(rng, block_size);
        if sz == 0 {
            sz = 1;
        }
        let fill = if path.ends_with(".txt") || path.ends_with(".md") { Fill::Text } else { Fill::Random };
        self.put_file(store, rng, block_size, &path, sz, fill, who, mtime)?;
        Ok(Some(format!("Modified \"{}\".", names::base(&path))))
    }

    /// Renames a random file within its dir, or moves it to another dir.
    pub fn op_rename(&mut self, rng: &mut impl Rng, mtime: i64) -> Result<Option<String>> {
        let candidates = self.editable_files(u64::MAX, true);
        let Some(from) = candidates.choose(rng).cloned() else { return Ok(None) };
        if rng.random_bool(0.5) {
            let dir = names::parent(&from).to_owned();
            let name = self.free_file_name(rng, &dir);
            self.tree.rename(&from, &names::join(&dir, &name), mtime)?;
            Ok(Some(format!("Renamed \"{}\" to \"{name}\".", names::base(&from))))
        } else {
            let dir = self.random_dir(rng, 3);
            let base = names::base(&from).to_owned();
            let to = names::join(&dir, &base);
            if self.tree.contains(&to) || dir == names::parent(&from) {
                return Ok(None);
            }
            self.tree.rename(&from, &to, mtime)?;
            Ok(Some(format!("Moved \"{base}\".")))
        }
    }

    /// Deletes a random file, never leaving its dir empty (so folders shown by virtual
    /// libraries and fixtures keep their shape).
    pub fn op_delete(&mut self, rng: &mut impl Rng, mtime: i64) -> Result<Option<String>> {
        let mut per_dir: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let files = self.tree.files();
        for (p, _) in &files {
            *per_dir.entry(names::parent(p)).or_default() += 1;
        }
        let candidates: Vec<String> = self
            .editable_files(u64::MAX, false)
            .into_iter()
            .filter(|p| {
                let dir = names::parent(p);
                dir.is_empty() || per_dir.get(dir).copied().unwrap_or(0) > 1
            })
            .collect();
        let Some(path) = candidates.choose(rng).cloned() else { return Ok(None) };
        self.tree.remove(&path, mtime);
        Ok(Some(format!("Deleted \"{}\".", names::base(&path))))
    }

    /// Removes a random dir (and everything in it) that holds nothing protected and at most
    /// `max_files` files.
    pub fn op_delete_dir(&mut self, rng: &mut impl Rng, max_files: usize, mtime: i64) -> Result<Option<String>> {
        let fresh = self.dirs_holding_fresh();
        let files = self.tree.files();
        let count = |d: &str| {
            let prefix = format!("{d}/");
            files.iter().filter(|(p, _)| p.starts_with(&prefix)).count()
        };
        let candidates: Vec<String> = self
            .tree
            .dirs()
            .into_iter()
            .filter(|d| !self.holds_protected(d) && !fresh.contains(d) && count(d) <= max_files)
            .collect();
        let Some(dir) = candidates.choose(rng).cloned() else { return Ok(None) };
        self.tree.remove(&dir, mtime);
        Ok(Some(format!("Removed directory \"{}\".", names::base(&dir))))
    }

    /// Renames a random dir that holds nothing protected.
    pub fn op_rename_dir(&mut self, rng: &mut impl Rng, mtime: i64) -> Result<Option<String>> {
        let candidates: Vec<String> = self.tree.dirs().into_iter().filter(|d| !self.holds_protected(d)).collect();
        let Some(from) = candidates.choose(rng).cloned() else { return Ok(None) };
        let parent = names::parent(&from).to_owned();
        let name = names::dir_name(rng, |d| self.tree.contains(&names::join(&parent, d)));
        self.tree.rename(&from, &names::join(&parent, &name), mtime)?;
        Ok(Some(format!("Renamed directory \"{}\" to \"{name}\".", names::base(&from))))
    }

    /// Creates an empty dir.
    pub fn op_mkdir(&mut self, rng: &mut impl Rng, mtime: i64) -> Result<String> {
        let parent = self.random_dir(rng, 2);
        let name = names::dir_name(rng, |d| self.tree.contains(&names::join(&parent, d)));
        self.tree.mkdir(&names::join(&parent, &name), mtime)?;
        Ok(format!("Added directory \"{name}\"."))
    }

    /// Copies what `other` has at `path` into this tree (a merge taking the other side's change).
    pub fn take_from(&mut self, other: &Tree, path: &str, mtime: i64) -> Result<()> {
        match other.get(path) {
            Some(node @ Node::File(_)) | Some(node @ Node::Dir(_)) => self.tree.insert(path, node.clone(), mtime),
            None => bail!("{path:?} is not in the other tree"),
        }
    }
}
