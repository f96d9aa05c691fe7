//! What a library's history and trees reach: commits, dirs, file objects, blocks.
//!
//! The walks tolerate damage: a commit, dir or file object that is missing or does not verify is
//! recorded as unreadable and not descended into, so a damaged tree can still be inspected (the
//! `damage` command walks trees it may already have damaged).

use std::collections::{BTreeSet, VecDeque};

use seaf_objects::{Commit, FsObject, ObjectId, RepoId};

use crate::writer::Store;

/// Objects reached by one or more walks.
#[derive(Debug, Default, Clone)]
pub struct Reach {
    pub dirs: BTreeSet<ObjectId>,
    pub files: BTreeSet<ObjectId>,
    pub blocks: BTreeSet<ObjectId>,
    /// fs objects that were referenced but could not be read or verified.
    pub unreadable: BTreeSet<ObjectId>,
}

impl Reach {
    /// Every fs object (dirs and files).
    pub fn fs(&self) -> BTreeSet<ObjectId> {
        self.dirs.union(&self.files).copied().collect()
    }

    /// Adds everything under dir `root` of `store_id`.
    pub fn add_tree(&mut self, store: &Store, store_id: &RepoId, root: &ObjectId) {
        let mut queue = VecDeque::from([*root]);
        while let Some(dir) = queue.pop_front() {
            if dir.is_empty() || !self.dirs.insert(dir) {
                continue;
            }
            let Ok(FsObject::Dir(d)) = store.read_fs(store_id, &dir) else {
                self.unreadable.insert(dir);
                continue;
            };
            for e in d.dirents {
                if e.id.is_empty() {
                    continue;
                }
                if e.is_dir() {
                    queue.push_back(e.id);
                } else if e.is_file() && self.files.insert(e.id) {
                    match store.read_fs(store_id, &e.id) {
                        Ok(FsObject::File(f)) => self.blocks.extend(f.block_ids),
                        _ => {
                            self.unreadable.insert(e.id);
                        }
                    }
                }
            }
        }
    }
}

/// Every commit reachable from `head` through both parents (unreadable commits are skipped).
pub fn history(store: &Store, repo: &RepoId, head: &ObjectId) -> Vec<Commit> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut queue = VecDeque::from([*head]);
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        if let Ok(c) = store.read_commit(repo, &id) {
            queue.extend(c.parents());
            out.push(c);
        }
    }
    out
}
