//! An in-memory library tree that turns into v1 dir objects.
//!
//! Libraries are edited here (add, edit, rename, delete by path) and then [`Tree::flush`]ed: every
//! dir changed since the last flush is encoded and written, children before parents, and the root
//! id comes back. Unchanged dirs keep their cached id, so a commit to a library with 20,000 files
//! re-encodes only the dirs on the changed paths.
//!
//! Dirents are emitted in descending byte order of their names, as both Seafile servers keep them
//! (the fs-id-list diff depends on it). An empty dir is `EMPTY_SHA1` and is never written; an empty
//! file is a file dirent with id `EMPTY_SHA1` and size 0.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use seaf_objects::fs::{Dirent, FsObject, MODE_DIR, SeafDir, v1};
use seaf_objects::{ObjectId, RepoId};

use crate::writer::Store;

/// A file version as a dir lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNode {
    /// File object id (`EMPTY_SHA1` for an empty file).
    pub id: ObjectId,
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub modifier: String,
}

/// A directory and its entries.
#[derive(Debug, Clone, Default)]
pub struct DirNode {
    /// The mtime its parent's dirent records.
    pub mtime: i64,
    pub children: BTreeMap<String, Node>,
    /// Object id as of the last flush; `None` once something below changed.
    cached: Option<ObjectId>,
}

#[derive(Debug, Clone)]
pub enum Node {
    File(FileNode),
    Dir(DirNode),
}

/// A library's whole tree. Paths are `/`-separated, relative to the root, without leading `/`.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    root: DirNode,
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut dir = &self.root;
        let parts = components(path);
        let (last, parents) = parts.split_last()?;
        for p in parents {
            match dir.children.get(*p)? {
                Node::Dir(d) => dir = d,
                Node::File(_) => return None,
            }
        }
        dir.children.get(*last)
    }

    pub fn is_dir(&self, path: &str) -> bool {
        components(path).is_empty() || matches!(self.get(path), Some(Node::Dir(_)))
    }

    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Walks to the dir at `parts`, creating missing dirs, invalidating cached ids and stamping
    /// `mtime` on every dir along the way (their contents change).
    fn dir_mut(&mut self, parts: &[&str], mtime: i64) -> Result<&mut DirNode> {
        let mut dir = &mut self.root;
        dir.cached = None;
        for p in parts {
            let node = dir
                .children
                .entry((*p).to_owned())
                .or_insert_with(|| Node::Dir(DirNode { mtime, ..DirNode::default() }));
            match node {
                Node::Dir(d) => {
                    d.cached = None;
                    d.mtime = mtime;
                    dir = d;
                }
                Node::File(_) => bail!("{p:?} is a file, not a directory"),
            }
        }
        Ok(dir)
    }

    /// Puts `node` at `path` (replacing what was there), creating parent dirs.
    pub fn insert(&mut self, path: &str, node: Node, mtime: i64) -> Result<()> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else { bail!("cannot replace the root") };
        self.dir_mut(parents, mtime)?.children.insert((*last).to_owned(), node);
        Ok(())
    }

    pub fn insert_file(&mut self, path: &str, file: FileNode) -> Result<()> {
        let mtime = file.mtime;
        self.insert(path, Node::File(file), mtime)
    }

    /// Creates an empty dir (and its parents).
    pub fn mkdir(&mut self, path: &str, mtime: i64) -> Result<()> {
        self.dir_mut(&components(path), mtime).map(|_| ())
    }

    /// Removes and returns what is at `path`.
    pub fn remove(&mut self, path: &str, mtime: i64) -> Option<Node> {
        let parts = components(path);
        let (last, parents) = parts.split_last()?;
        self.get(path)?;
        self.dir_mut(parents, mtime).ok()?.children.remove(*last)
    }

    /// Moves the entry at `from` to `to`.
    pub fn rename(&mut self, from: &str, to: &str, mtime: i64) -> Result<()> {
        if self.contains(to) {
            bail!("rename target {to:?} exists");
        }
        let Some(node) = self.remove(from, mtime) else { bail!("rename source {from:?} does not exist") };
        self.insert(to, node, mtime)
    }

    /// Every file, as `(path, node)`, in path order.
    pub fn files(&self) -> Vec<(String, &FileNode)> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut |p, n| {
            if let Node::File(f) = n {
                out.push((p.to_owned(), f));
            }
        });
        out
    }

    /// Every dir except the root, in path order.
    pub fn dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut |p, n| {
            if matches!(n, Node::Dir(_)) {
                out.push(p.to_owned());
            }
        });
        out
    }

    /// The id of the dir at `path` as of the last flush (`EMPTY_SHA1` for an empty dir).
    pub fn dir_id(&self, path: &str) -> Option<ObjectId> {
        let d = if components(path).is_empty() {
            &self.root
        } else {
            match self.get(path)? {
                Node::Dir(d) => d,
                Node::File(_) => return None,
            }
        };
        d.cached
    }

    /// Writes every changed dir object under `store_id`, children first, and returns the root id.
    pub fn flush(&mut self, store: &Store, store_id: &RepoId) -> Result<ObjectId> {
        flush_dir(&mut self.root, store, store_id)
    }

    /// Loads the tree of `root` from `store_id` (every dir is read; file objects are not).
    pub fn load(store: &Store, store_id: &RepoId, root: &ObjectId) -> Result<Tree> {
        Ok(Tree { root: load_dir(store, store_id, root, 0)? })
    }
}

fn walk<'a>(dir: &'a DirNode, prefix: &str, f: &mut impl FnMut(&str, &'a Node)) {
    for (name, node) in &dir.children {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        f(&path, node);
        if let Node::Dir(d) = node {
            walk(d, &path, f);
        }
    }
}

fn flush_dir(dir: &mut DirNode, store: &Store, store_id: &RepoId) -> Result<ObjectId> {
    if let Some(id) = dir.cached {
        return Ok(id);
    }
    let mut dirents = Vec::with_capacity(dir.children.len());
    // BTreeMap<String, _> iterates in ascending byte order; Seafile wants descending.
    for (name, node) in dir.children.iter_mut().rev() {
        dirents.push(match node {
            Node::File(f) => Dirent {
                id: f.id,
                mode: f.mode,
                name: name.clone(),
                mtime: Some(f.mtime),
                modifier: Some(f.modifier.clone()),
                size: Some(f.size as i64),
            },
            Node::Dir(d) => Dirent {
                id: flush_dir(d, store, store_id)?,
                mode: MODE_DIR,
                name: name.clone(),
                mtime: Some(d.mtime),
                modifier: None,
                size: None,
            },
        });
    }
    let id = if dirents.is_empty() {
        ObjectId::EMPTY
    } else {
        let (id, stored) = v1::encode(&FsObject::Dir(SeafDir { dirents }));
        store.write_fs(store_id, &id, &stored)?;
        id
    };
    dir.cached = Some(id);
    Ok(id)
}

fn load_dir(store: &Store, store_id: &RepoId, id: &ObjectId, mtime: i64) -> Result<DirNode> {
    let mut node = DirNode { mtime, children: BTreeMap::new(), cached: Some(*id) };
    for e in store.read_dir(store_id, id)?.dirents {
        let mtime = e.mtime.unwrap_or(0);
        let child = if e.is_dir() {
            Node::Dir(load_dir(store, store_id, &e.id, mtime)?)
        } else if e.is_file() {
            Node::File(FileNode {
                id: e.id,
                mode: e.mode,
                size: e.size.unwrap_or(0).max(0) as u64,
                mtime,
                modifier: e.modifier.unwrap_or_default(),
            })
        } else {
            // Symlinks and other legacy modes: Seafile's traversal skips them, and so do we.
            continue;
        };
        node.children.insert(e.name, child);
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn file(id: ObjectId, size: u64) -> FileNode {
        FileNode { id, mode: seaf_objects::fs::MODE_FILE, size, mtime: 1517211693, modifier: "admin@admin.com".into() }
    }

    /// TV5 of the protocol, built through the tree: `renamed.md` then the empty dir `empty`.
    #[test]
    fn tv5_through_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(Layout::new(tmp.path()));
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        let mut t = Tree::new();
        t.insert_file("renamed.md", file(ObjectId::parse("f8d2d17acad4d83188bee1c9863827b82c593e1f").unwrap(), 35))
            .unwrap();
        t.mkdir("empty", 1517211693).unwrap();
        let root = t.flush(&store, &repo).unwrap();
        assert_eq!(root.to_string(), "c3fb7cf3684f14bb1d4acb775f500f628f52b7a5");
        assert_eq!(t.dir_id("empty"), Some(ObjectId::EMPTY));
        let loaded = Tree::load(&store, &repo, &root).unwrap();
        assert_eq!(loaded.files().len(), 1);
        assert_eq!(loaded.dirs(), vec!["empty".to_owned()]);
    }

    #[test]
    fn edits_invalidate_only_their_path() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(Layout::new(tmp.path()));
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        let mut t = Tree::new();
        t.insert_file("a/x", file(ObjectId::hash_of(b"x"), 1)).unwrap();
        t.insert_file("b/y", file(ObjectId::hash_of(b"y"), 1)).unwrap();
        let r1 = t.flush(&store, &repo).unwrap();
        let b1 = t.dir_id("b").unwrap();
        t.insert_file("a/z", file(ObjectId::hash_of(b"z"), 1)).unwrap();
        assert_eq!(t.dir_id("a"), None);
        assert_eq!(t.dir_id("b"), Some(b1));
        let r2 = t.flush(&store, &repo).unwrap();
        assert_ne!(r1, r2);
        t.rename("a/z", "b/z", 1517211693).unwrap();
        assert!(t.contains("b/z") && !t.contains("a/z"));
        assert!(t.remove("a", 1).is_some());
        assert_eq!(t.files().len(), 2);
    }
}
