//! The server side of `GET fs-id-list` (protocol §4.4): which fs objects of `server-head`'s tree
//! are not at the same path with the same id in `client-head`'s tree.
//!
//! A two-way diff walks both trees' dirs in lock-step, merging the dirents of each pair by name
//! (both lists are sorted descending). Per name:
//!
//! * equal id, mode and mtime on both sides: nothing below can differ, skip;
//! * a file on the server side whose id the client side lacks at that name: listed (unless
//!   `dir_only`);
//! * likewise a dir;
//! * if either side is a dir, recurse into the pair (a missing side is an empty dir).
//!
//! The server root is listed last when it differs from the client root, as the C server does.
//! Duplicates are kept (the same object at two paths is listed twice), and a dir that cannot be
//! read on either side fails the whole request, as on a real server.

use std::cmp::Ordering;

use seaf_objects::fs::Dirent;
use seaf_objects::{ObjectId, RepoId};

use crate::writer::Store;

/// A dir of either tree is missing or unreadable.
#[derive(Debug, thiserror::Error)]
#[error("dir {id} cannot be read: {why}")]
pub struct MissingDir {
    pub id: ObjectId,
    pub why: String,
}

/// Computes the list for the trees `server_root` and `client_root` (`EMPTY_SHA1` if no
/// client-head) of `store_id`.
pub fn fs_id_list(
    store: &Store,
    store_id: &RepoId,
    server_root: &ObjectId,
    client_root: &ObjectId,
    dir_only: bool,
) -> Result<Vec<ObjectId>, MissingDir> {
    let mut out = Vec::new();
    let mut diff = Diff { store, store_id, dir_only, out: &mut out };
    diff.dirs(server_root, client_root)?;
    if server_root != client_root && !server_root.is_empty() {
        out.push(*server_root);
    }
    Ok(out)
}

fn file(e: Option<&Dirent>) -> Option<&Dirent> {
    e.filter(|e| e.is_file())
}

fn dir(e: Option<&Dirent>) -> Option<&Dirent> {
    e.filter(|e| e.is_dir())
}

struct Diff<'a> {
    store: &'a Store,
    store_id: &'a RepoId,
    dir_only: bool,
    out: &'a mut Vec<ObjectId>,
}

impl Diff<'_> {
    fn load(&self, id: &ObjectId) -> Result<Vec<Dirent>, MissingDir> {
        self.store
            .read_dir(self.store_id, id)
            .map(|d| d.dirents)
            .map_err(|e| MissingDir { id: *id, why: format!("{e:#}") })
    }

    fn dirs(&mut self, server: &ObjectId, client: &ObjectId) -> Result<(), MissingDir> {
        let s = self.load(server)?;
        let c = self.load(client)?;
        let (mut i, mut j) = (0, 0);
        while i < s.len() || j < c.len() {
            // Both lists descend: the larger name comes first.
            let order = match (s.get(i), c.get(j)) {
                (Some(a), Some(b)) => b.name.as_bytes().cmp(a.name.as_bytes()),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            let (e1, e2) = match order {
                Ordering::Less => {
                    i += 1;
                    (Some(&s[i - 1]), None)
                }
                Ordering::Greater => {
                    j += 1;
                    (None, Some(&c[j - 1]))
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (Some(&s[i - 1]), Some(&c[j - 1]))
                }
            };
            self.entry(e1, e2)?;
        }
        Ok(())
    }

    fn entry(&mut self, e1: Option<&Dirent>, e2: Option<&Dirent>) -> Result<(), MissingDir> {
        if let (Some(a), Some(b)) = (e1, e2)
            && a.id == b.id
            && a.mode == b.mode
            && a.mtime == b.mtime
        {
            return Ok(());
        }
        if !self.dir_only
            && let Some(f1) = file(e1)
            && file(e2).is_none_or(|f2| f2.id != f1.id)
            && !f1.id.is_empty()
        {
            self.out.push(f1.id);
        }
        if let Some(d1) = dir(e1)
            && dir(e2).is_none_or(|d2| d2.id != d1.id)
            && !d1.id.is_empty()
        {
            self.out.push(d1.id);
        }
        let (d1, d2) = (dir(e1), dir(e2));
        if d1.is_some() || d2.is_some() {
            let empty = ObjectId::EMPTY;
            self.dirs(d1.map_or(&empty, |d| &d.id), d2.map_or(&empty, |d| &d.id))?;
        }
        Ok(())
    }
}
