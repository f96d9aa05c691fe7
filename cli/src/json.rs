//! The `--json` output of every command, built field by field from the API's messages.
//!
//! Enums are lowercase strings (`"synchronized"`, `"done"`), ids and heads strings (empty when
//! absent), counts numbers. Field names follow the proto so scripts can rely on either.

use seaf_backup_proto::admin::{
    FailoverResponse, Library, LibrarySummary, SkippedObject, StatusResponse, SyncProgress,
};
use serde_json::{Value, json};

use crate::text::{phase_name, state_name};

/// `status --json`.
pub fn status(s: &StatusResponse) -> Value {
    json!({
        "total": s.total,
        "synchronized": s.synchronized,
        "waiting": s.waiting,
        "syncing": s.syncing,
        "failed": s.failed,
        "syncing_libraries": s.syncing_libraries.iter().map(summary).collect::<Vec<_>>(),
        "failed_libraries": s.failed_libraries.iter().map(summary).collect::<Vec<_>>(),
        "replication": s.replication.iter().map(|ch| json!({
            "name": ch.name,
            "source": ch.source,
            "io_running": ch.io_running,
            "sql_running": ch.sql_running,
            "seconds_behind": ch.seconds_behind,
            "last_error": ch.last_error,
        })).collect::<Vec<_>>(),
        "replication_unknown": (!s.replication_unknown.is_empty()).then_some(&s.replication_unknown),
    })
}

/// `failover --json`.
pub fn failover(f: &FailoverResponse) -> Value {
    json!({
        "applied": f.applied,
        "is_replica": f.is_replica,
        "replication_running": f.replication_running.iter().map(|ch| json!({
            "name": ch.name, "source": ch.source, "io_running": ch.io_running, "sql_running": ch.sql_running,
        })).collect::<Vec<_>>(),
        "replication_unknown": (!f.replication_unknown.is_empty()).then_some(&f.replication_unknown),
        "not_up_to_date": f.not_up_to_date.iter().map(|l| json!({
            "repo_id": l.repo_id, "name": l.name, "reason": l.reason, "user_tokens": l.user_tokens,
        })).collect::<Vec<_>>(),
        "user_tokens": f.user_tokens,
        "backup_tokens": f.backup_tokens,
        "has_token_table": f.has_token_table,
    })
}

/// One entry of the syncing or failed list.
pub fn summary(l: &LibrarySummary) -> Value {
    json!({
        "repo_id": l.repo_id,
        "name": l.name,
        "reason": l.reason,
        "attempts": l.attempts,
        "last_error": l.last_error,
    })
}

/// `sync --json`: the last progress message (`repo_id` falls back to the id asked for).
pub fn progress(p: &SyncProgress, requested: &str) -> Value {
    let repo_id = if p.repo_id.is_empty() { requested } else { &p.repo_id };
    json!({
        "repo_id": repo_id,
        "phase": phase_name(p.phase),
        "commits_done": p.commits_done,
        "commits_total": p.commits_total,
        "fs_objects": p.fs_objects,
        "blocks": p.blocks,
        "bytes": p.bytes,
        "head": p.head,
        "error": p.error,
        "skipped": p.skipped.iter().map(skipped).collect::<Vec<_>>(),
    })
}

/// `library --json`, and each element of `libraries --json`.
pub fn library(l: &Library) -> Value {
    json!({
        "repo_id": l.repo_id,
        "name": l.name,
        "store_id": l.store_id,
        "is_virtual": l.is_virtual,
        "state": state_name(l.state),
        "backup_head": l.backup_head,
        "primary_head": l.primary_head,
        "lag_seconds": l.lag_seconds,
        "last_success_unix": l.last_success_unix,
        "attempts": l.attempts,
        "last_error": l.last_error,
        "skipped": l.skipped.iter().map(skipped).collect::<Vec<_>>(),
    })
}

/// `libraries --json`.
pub fn libraries(ls: &[Library]) -> Value {
    Value::Array(ls.iter().map(library).collect())
}

/// `retry --json`.
pub fn retry(queued: u32) -> Value {
    json!({ "queued": queued })
}

fn skipped(s: &SkippedObject) -> Value {
    json!({ "kind": s.kind, "id": s.id, "reason": s.reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_backup_proto::admin::LibraryState;
    use seaf_backup_proto::admin::sync_progress::Phase;

    const A: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";

    #[test]
    fn status_shape() {
        let s = StatusResponse {
            total: 3,
            synchronized: 1,
            waiting: 0,
            syncing: 1,
            failed: 1,
            syncing_libraries: vec![LibrarySummary { repo_id: A.into(), ..Default::default() }],
            failed_libraries: vec![LibrarySummary {
                repo_id: A.into(),
                name: "n".into(),
                reason: "r".into(),
                attempts: 4,
                last_error: "e".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            status(&s),
            json!({
                "total": 3, "synchronized": 1, "waiting": 0, "syncing": 1, "failed": 1,
                "syncing_libraries": [{"repo_id": A, "name": "", "reason": "", "attempts": 0, "last_error": ""}],
                "failed_libraries": [{"repo_id": A, "name": "n", "reason": "r", "attempts": 4, "last_error": "e"}],
                "replication": [], "replication_unknown": null,
            })
        );
    }

    #[test]
    fn progress_shape() {
        let p = SyncProgress {
            repo_id: String::new(),
            phase: Phase::Done as i32,
            commits_done: 5,
            commits_total: 5,
            fs_objects: 30,
            blocks: 12,
            bytes: 4096,
            head: "a".repeat(40),
            error: String::new(),
            skipped: vec![SkippedObject { kind: "block".into(), id: "b".repeat(40), reason: "missing".into() }],
        };
        assert_eq!(
            progress(&p, A),
            json!({
                "repo_id": A, "phase": "done", "commits_done": 5, "commits_total": 5, "fs_objects": 30,
                "blocks": 12, "bytes": 4096, "head": "a".repeat(40), "error": "",
                "skipped": [{"kind": "block", "id": "b".repeat(40), "reason": "missing"}],
            })
        );
        let failed = SyncProgress { repo_id: A.into(), phase: Phase::Failed as i32, ..Default::default() };
        assert_eq!(progress(&failed, "ignored")["phase"], "failed");
        assert_eq!(progress(&failed, "ignored")["repo_id"], A);
    }

    #[test]
    fn library_shapes() {
        let l = Library {
            repo_id: A.into(),
            state: LibraryState::Waiting as i32,
            lag_seconds: 60,
            last_success_unix: 1_700_000_000,
            ..Default::default()
        };
        let v = library(&l);
        assert_eq!(
            v,
            json!({
                "repo_id": A, "name": "", "store_id": "", "is_virtual": false, "state": "waiting",
                "backup_head": "", "primary_head": "", "lag_seconds": 60, "last_success_unix": 1_700_000_000,
                "attempts": 0, "last_error": "", "skipped": [],
            })
        );
        assert_eq!(libraries(&[l.clone(), l]), json!([v.clone(), v]));
        assert_eq!(libraries(&[]), json!([]));
        assert_eq!(retry(2), json!({"queued": 2}));
    }
}
