//! The consistency checker: is a library's whole history in the store, and is every object valid?
//!
//! Stronger than Seafile's own fsck, which checks only the head tree: every commit reachable from
//! the head must be present and parse, and every fs object and block reachable from each of those
//! commits must be present and hash-valid. Objects a forced sync recorded as skipped (the primary
//! lacked them) are reported separately, not as damage.

use std::collections::HashSet;

use seaf_objects::{Commit, FsObject, ObjectId, ObjectKind, RepoId, fs};
use serde::Serialize;

use crate::ObjectStore;

/// At most this many problems are listed; the count covers them all.
const MAX_LISTED_PROBLEMS: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Hash every block (off only for primaries with `skip_block_hash`).
    pub verify_block_hashes: bool,
    /// Ids recorded as skipped: their absence is expected.
    pub skipped: HashSet<ObjectId>,
}

/// One missing or damaged object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ObjectKind,
    pub id: ObjectId,
    /// What is wrong: "missing", or why the object is invalid.
    pub issue: String,
    /// The commit or fs object that references it (`None` for the head itself).
    pub referenced_by: Option<ObjectId>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub commits: u64,
    pub fs_objects: u64,
    pub blocks: u64,
    pub block_bytes: u64,
    /// Skipped objects that were referenced (and, as expected, absent or skipped).
    pub skipped_seen: u64,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, kind: ObjectKind, id: ObjectId, issue: impl Into<String>, referenced_by: Option<ObjectId>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(Problem { kind, id, issue: issue.into(), referenced_by });
        }
    }
}

/// Checks the history of library `repo` from `head`. Commits are read under `repo`, fs objects
/// and blocks under `store_id` (the origin of a virtual library).
pub async fn verify_library(
    store: &dyn ObjectStore,
    repo: &RepoId,
    store_id: &RepoId,
    head: &ObjectId,
    opts: &VerifyOptions,
) -> std::io::Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut commits = vec![(*head, None)];
    let mut seen_commits = HashSet::new();
    let mut seen_fs = HashSet::new();
    let mut seen_blocks = HashSet::new();

    while let Some((cid, child)) = commits.pop() {
        if !seen_commits.insert(cid) {
            continue;
        }
        if opts.skipped.contains(&cid) {
            report.skipped_seen += 1;
            continue;
        }
        let Some(raw) = store.get(ObjectKind::Commit, repo, &cid).await? else {
            report.problem(ObjectKind::Commit, cid, "missing", child);
            continue;
        };
        let commit = match Commit::parse_expected(raw, &cid, repo) {
            Ok(c) => c,
            Err(e) => {
                report.problem(ObjectKind::Commit, cid, e.to_string(), child);
                continue;
            }
        };
        report.commits += 1;
        commits.extend(commit.parents().map(|p| (p, Some(cid))));
        if !commit.root_id.is_empty() {
            walk_tree(store, store_id, commit.root_id, cid, opts, &mut seen_fs, &mut seen_blocks, &mut report).await?;
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn walk_tree(
    store: &dyn ObjectStore,
    store_id: &RepoId,
    root: ObjectId,
    commit: ObjectId,
    opts: &VerifyOptions,
    seen_fs: &mut HashSet<ObjectId>,
    seen_blocks: &mut HashSet<ObjectId>,
    report: &mut VerifyReport,
) -> std::io::Result<()> {
    let mut stack = vec![(root, commit)];
    while let Some((id, parent)) = stack.pop() {
        if !seen_fs.insert(id) {
            continue;
        }
        if opts.skipped.contains(&id) {
            report.skipped_seen += 1;
            continue;
        }
        let Some(stored) = store.get(ObjectKind::Fs, store_id, &id).await? else {
            report.problem(ObjectKind::Fs, id, "missing", Some(parent));
            continue;
        };
        match fs::verify(&id, &stored) {
            Err(e) => report.problem(ObjectKind::Fs, id, e.to_string(), Some(parent)),
            Ok(obj @ FsObject::Dir(_)) => {
                report.fs_objects += 1;
                stack.extend(obj.fs_children().into_iter().map(|child| (child, id)));
            }
            Ok(FsObject::File(file)) => {
                report.fs_objects += 1;
                for b in file.block_ids {
                    if b.is_empty() || !seen_blocks.insert(b) {
                        continue;
                    }
                    check_block(store, store_id, b, id, opts, report).await?;
                }
            }
        }
    }
    Ok(())
}

async fn check_block(
    store: &dyn ObjectStore,
    store_id: &RepoId,
    id: ObjectId,
    file: ObjectId,
    opts: &VerifyOptions,
    report: &mut VerifyReport,
) -> std::io::Result<()> {
    if opts.skipped.contains(&id) {
        report.skipped_seen += 1;
        return Ok(());
    }
    if !opts.verify_block_hashes {
        if store.contains(ObjectKind::Block, store_id, &id).await? {
            report.blocks += 1;
        } else {
            report.problem(ObjectKind::Block, id, "missing", Some(file));
        }
        return Ok(());
    }
    match store.get(ObjectKind::Block, store_id, &id).await? {
        None => report.problem(ObjectKind::Block, id, "missing", Some(file)),
        Some(data) => {
            let actual = ObjectId::hash_of(&data);
            if actual == id {
                report.blocks += 1;
                report.block_bytes += data.len() as u64;
            } else {
                report.problem(ObjectKind::Block, id, format!("content hashes to {actual}"), Some(file));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, FsStore};
    use bytes::Bytes;
    use seaf_objects::{Dirent, SeafDir, SeafFile};

    struct Lib {
        _dir: tempfile::TempDir,
        store: FsStore,
        repo: RepoId,
        head: ObjectId,
        file: ObjectId,
        block: ObjectId,
    }

    /// One commit → root dir → one file → one block, published in closure order.
    async fn library() -> Lib {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path(), Durability::Syncfs).unwrap();
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        let block_data = Bytes::from_static(b"block content");
        let block = ObjectId::hash_of(&block_data);
        let (file, file_bytes) = fs::v1::encode(&FsObject::File(SeafFile { block_ids: vec![block], size: 13 }));
        let (root, root_bytes) = fs::v1::encode(&FsObject::Dir(SeafDir {
            dirents: vec![Dirent {
                id: file,
                mode: fs::MODE_FILE,
                name: "a.txt".into(),
                mtime: Some(1),
                modifier: Some("a@b.c".into()),
                size: Some(13),
            }],
        }));
        let head = ObjectId::hash_of(b"commit");
        let commit = format!(
            r#"{{"commit_id": "{head}", "root_id": "{root}", "repo_id": "{repo}", "creator": "{z}", "ctime": 1, "parent_id": null, "version": 1}}"#,
            z = ObjectId::EMPTY
        );
        let levels = vec![
            vec![store.stage(ObjectKind::Block, &repo, &block, block_data).await.unwrap()],
            vec![store.stage(ObjectKind::Fs, &repo, &file, file_bytes.into()).await.unwrap()],
            vec![store.stage(ObjectKind::Fs, &repo, &root, root_bytes.into()).await.unwrap()],
            vec![store.stage(ObjectKind::Commit, &repo, &head, commit.into()).await.unwrap()],
        ];
        store.publish(levels).await.unwrap();
        Lib { _dir: dir, store, repo, head, file, block }
    }

    fn opts() -> VerifyOptions {
        VerifyOptions { verify_block_hashes: true, skipped: HashSet::new() }
    }

    #[tokio::test]
    async fn complete_library_passes() {
        let l = library().await;
        let r = verify_library(&l.store, &l.repo, &l.repo, &l.head, &opts()).await.unwrap();
        assert!(r.is_ok(), "{r:?}");
        assert_eq!((r.commits, r.fs_objects, r.blocks, r.block_bytes), (1, 2, 1, 13));
    }

    #[tokio::test]
    async fn corrupt_and_missing_objects_are_named() {
        let l = library().await;
        let block_path = l.store.object_path(ObjectKind::Block, &l.repo, &l.block);
        std::fs::write(&block_path, b"block c0ntent").unwrap();
        let r = verify_library(&l.store, &l.repo, &l.repo, &l.head, &opts()).await.unwrap();
        assert_eq!(r.problem_count, 1);
        assert_eq!(
            (r.problems[0].kind, r.problems[0].id, r.problems[0].referenced_by),
            (ObjectKind::Block, l.block, Some(l.file))
        );

        std::fs::remove_file(&block_path).unwrap();
        let r = verify_library(&l.store, &l.repo, &l.repo, &l.head, &opts()).await.unwrap();
        assert_eq!(r.problems[0].issue, "missing");
        let skipped = VerifyOptions { skipped: [l.block].into(), ..opts() };
        let r = verify_library(&l.store, &l.repo, &l.repo, &l.head, &skipped).await.unwrap();
        assert!(r.is_ok());
        assert_eq!(r.skipped_seen, 1);

        std::fs::write(l.store.object_path(ObjectKind::Fs, &l.repo, &l.file), b"garbage").unwrap();
        let r = verify_library(&l.store, &l.repo, &l.repo, &l.head, &opts()).await.unwrap();
        assert_eq!((r.problem_count, r.problems[0].kind, r.problems[0].id), (1, ObjectKind::Fs, l.file));

        let r = verify_library(&l.store, &l.repo, &l.repo, &ObjectId::hash_of(b"nope"), &opts()).await.unwrap();
        assert_eq!((r.problem_count, r.problems[0].kind), (1, ObjectKind::Commit));
    }
}
