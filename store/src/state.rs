//! The per-library backup record kept beside the object tree, in `seaf-backup/libraries/`.
//!
//! It holds what the object tree alone cannot tell: the head whose closure was last made durable,
//! and the objects the primary lacked or served corrupt that a `--force` sync skipped. Seafile
//! ignores the directory, so the tree stays a plain `seafile-data` tree.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use seaf_objects::{ObjectId, ObjectKind, RepoId};
use serde::{Deserialize, Serialize};

/// An object a forced sync could not get from the primary, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedObject {
    pub kind: ObjectKind,
    pub id: ObjectId,
    pub reason: String,
}

/// What the backup knows about one library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryState {
    pub repo_id: RepoId,
    pub store_id: RepoId,
    /// The newest head whose whole closure is durable in the store.
    pub head: Option<ObjectId>,
    #[serde(default)]
    pub skipped: Vec<SkippedObject>,
    /// Seconds since the epoch of the last successful sync.
    #[serde(default)]
    pub synced_at: i64,
    /// In a cluster: the coordinator's sequence number of the published head this record holds,
    /// so that a late writer never replaces a newer record (0 for one-shot backups).
    #[serde(default)]
    pub publish_seq: u64,
}

impl LibraryState {
    pub fn new(repo_id: RepoId, store_id: RepoId) -> Self {
        LibraryState { repo_id, store_id, head: None, skipped: Vec::new(), synced_at: 0, publish_seq: 0 }
    }

    /// Adds skipped objects, keeping each id once.
    pub fn add_skipped(&mut self, more: impl IntoIterator<Item = SkippedObject>) {
        for s in more {
            if !self.skipped.iter().any(|k| k.kind == s.kind && k.id == s.id) {
                self.skipped.push(s);
            }
        }
    }
}

/// The directory of library records inside a `seafile-data` tree.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(seafile_data: &Path) -> Self {
        StateDir { dir: seafile_data.join("seaf-backup").join("libraries") }
    }

    fn path(&self, repo: &RepoId) -> PathBuf {
        self.dir.join(format!("{repo}.json"))
    }

    pub fn load(&self, repo: &RepoId) -> io::Result<Option<LibraryState>> {
        match std::fs::read(self.path(repo)) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.path(repo).display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the record durably: temp file, fsync, rename, directory fsync.
    pub fn save(&self, state: &LibraryState) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&state.repo_id);
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).map_err(io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Moves a library's record to `head`, whose closure is durable, adding the objects a forced
    /// sync skipped. `publish_seq` orders the writers of a cluster (0 for one-shot backups): a
    /// record with a higher one is never replaced. An unchanged record is not rewritten, so an
    /// up-to-date library costs no write.
    pub fn record_head(
        &self,
        repo: &RepoId,
        store_id: &RepoId,
        head: ObjectId,
        skipped: &[SkippedObject],
        publish_seq: u64,
    ) -> io::Result<()> {
        let old = self.load(repo)?;
        if old.as_ref().is_some_and(|o| o.publish_seq > publish_seq) {
            return Ok(());
        }
        let mut state = old.clone().unwrap_or_else(|| LibraryState::new(repo.clone(), store_id.clone()));
        state.store_id = store_id.clone();
        state.head = Some(head);
        state.publish_seq = publish_seq;
        state.add_skipped(skipped.iter().cloned());
        if old.as_ref().is_some_and(|o| {
            o.head == state.head
                && o.store_id == state.store_id
                && o.skipped == state.skipped
                && o.publish_seq == publish_seq
        }) {
            return Ok(());
        }
        state.synced_at =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        self.save(&state)
    }

    /// Every recorded library, sorted by id.
    pub fn list(&self) -> io::Result<Vec<LibraryState>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for e in entries {
            let name = e?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if let Ok(repo) = RepoId::parse(id) {
                out.extend(self.load(&repo)?);
            }
        }
        out.sort_by(|a, b| a.repo_id.cmp(&b.repo_id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_list() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path());
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        assert_eq!(states.load(&repo).unwrap(), None);
        let mut s = LibraryState::new(repo.clone(), repo.clone());
        s.head = Some(ObjectId::hash_of(b"x"));
        let skipped = SkippedObject { kind: ObjectKind::Block, id: ObjectId::hash_of(b"y"), reason: "missing".into() };
        s.add_skipped([skipped.clone(), skipped]);
        assert_eq!(s.skipped.len(), 1);
        states.save(&s).unwrap();
        assert_eq!(states.load(&repo).unwrap(), Some(s.clone()));
        assert_eq!(states.list().unwrap(), vec![s]);
    }
}
