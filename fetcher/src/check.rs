//! `seaf-backup-fetcher verify`: run the consistency checker over backed-up libraries.

use std::collections::HashSet;

use seaf_objects::RepoId;
use seaf_store::FsStore;
use seaf_store::state::StateDir;
use seaf_store::verify::{VerifyOptions, VerifyReport, verify_library};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct LibraryCheck {
    pub repo_id: RepoId,
    pub ok: bool,
    pub error: Option<String>,
    pub report: Option<VerifyReport>,
}

/// A head to check instead of the recorded one (e.g. the `Branch` head in MySQL).
#[derive(Debug, Clone)]
pub struct GivenHead {
    pub head: seaf_objects::ObjectId,
    /// The store id (origin of a virtual library); default: the recorded one, else the library id.
    pub store_id: Option<RepoId>,
}

/// Checks the given libraries (every recorded one when `only` is empty) from their recorded head,
/// or, for one library, from `given`.
pub async fn check(
    store: &FsStore,
    only: &[RepoId],
    verify_block_hashes: bool,
    given: Option<GivenHead>,
) -> anyhow::Result<Vec<LibraryCheck>> {
    let states = StateDir::new(store.root());
    let mut records = states.list()?;
    if let Some(g) = given {
        let [repo] = only else { anyhow::bail!("--head needs exactly one --library") };
        let mut state = match records.iter().find(|s| &s.repo_id == repo) {
            Some(s) => s.clone(),
            None => seaf_store::state::LibraryState::new(repo.clone(), repo.clone()),
        };
        state.head = Some(g.head);
        if let Some(s) = g.store_id {
            state.store_id = s;
        }
        records = vec![state];
    }
    let selected: Vec<RepoId> =
        if only.is_empty() { records.iter().map(|s| s.repo_id.clone()).collect() } else { only.to_vec() };
    let mut out = Vec::new();
    for repo in selected {
        let Some(state) = records.iter().find(|s| s.repo_id == repo) else {
            out.push(LibraryCheck {
                repo_id: repo,
                ok: false,
                error: Some("no backup of this library in the store".into()),
                report: None,
            });
            continue;
        };
        let Some(head) = state.head else {
            out.push(LibraryCheck {
                repo_id: repo,
                ok: false,
                error: Some("library was never backed up completely".into()),
                report: None,
            });
            continue;
        };
        let opts =
            VerifyOptions { verify_block_hashes, skipped: state.skipped.iter().map(|s| s.id).collect::<HashSet<_>>() };
        let report = verify_library(store, &repo, &state.store_id, &head, &opts).await?;
        out.push(LibraryCheck { repo_id: repo, ok: report.is_ok(), error: None, report: Some(report) });
    }
    Ok(out)
}

pub fn check_line(c: &LibraryCheck) -> String {
    match (&c.report, &c.error) {
        (_, Some(e)) => format!("FAILED  {}: {e}", c.repo_id),
        (Some(r), None) => {
            let mut line = format!(
                "{}{}: checked commits {}, fs objects {}, blocks {}",
                if r.is_ok() { "ok      " } else { "DAMAGED " },
                c.repo_id,
                r.commits,
                r.fs_objects,
                r.blocks
            );
            if r.skipped_seen > 0 {
                line.push_str(&format!("; skipped objects referenced {} (skipped by a forced sync)", r.skipped_seen));
            }
            if !r.is_ok() {
                line.push_str(&format!(", {} problems:", r.problem_count));
                for p in r.problems.iter().take(20) {
                    let by = p.referenced_by.map(|b| format!(" (referenced by {b})")).unwrap_or_default();
                    line.push_str(&format!("\n          {} {}: {}{by}", p.kind, p.id, p.issue));
                }
            }
            line
        }
        (None, None) => format!("FAILED  {}", c.repo_id),
    }
}
