//! The poller: every `sync_poll_interval` (and at start, and when a notification names an
//! unknown library) it lists the primary's libraries and heads, records them, marks the ones the
//! primary no longer lists as deleted (removing their sync tokens from a stock primary), and
//! queues every library that needs a job.
//!
//! The list comes from the primary's `server-sync/repo-list` with the shared token, or, for a
//! stock seaf-server, from its own database in one streaming query ([`Source`]).

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use seaf_primary_db::{PrimaryDb, PrimaryLibrary};
use seaf_sync_client::{RepoListEntry, SyncClient};
use tokio_util::sync::CancellationToken;

use crate::coordinator::Coordinator;
use crate::db::now_ms;

/// Notifications naming unknown libraries trigger at most one early poll per this interval.
const MIN_EARLY_POLL_GAP: Duration = Duration::from_secs(2);

/// Where the list of libraries comes from.
pub enum Source {
    /// `server-sync/repo-list`, with the shared sync token.
    RepoList { client: SyncClient, sync_token: String },
    /// A stock primary's own database.
    Database(PrimaryDb),
}

/// How long each successful poll took (list, record, mark deletions, queue).
pub const POLL_SECONDS: &str = "seaf_backup_poll_duration_seconds";
/// When the last poll succeeded (Unix seconds): alert when it is older than 2× the interval.
pub const POLL_LAST_SUCCESS: &str = "seaf_backup_poll_last_success_timestamp_seconds";
/// Libraries the last successful poll listed.
pub const POLL_LIBRARIES: &str = "seaf_backup_poll_libraries";

/// Libraries recorded per MySQL statement while the list streams in.
const CHUNK: usize = 500;

pub struct Poller {
    pub c: Arc<Coordinator>,
    pub source: Source,
    pub interval: Duration,
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct PollReport {
    pub listed: usize,
    pub deleted: usize,
    pub queued: usize,
}

impl Poller {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let started = tokio::time::Instant::now();
            self.c.polls_started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match self.poll_once().await {
                Ok(r) => {
                    let seconds = started.elapsed().as_secs_f64();
                    metrics::histogram!(POLL_SECONDS).record(seconds);
                    metrics::gauge!(POLL_LIBRARIES).set(r.listed as f64);
                    metrics::gauge!(POLL_LAST_SUCCESS).set(now_ms() as f64 / 1000.0);
                    tracing::info!(
                        listed = r.listed,
                        deleted = r.deleted,
                        queued = r.queued,
                        seconds,
                        "primary polled"
                    );
                }
                Err(e) => tracing::warn!(
                    "polling the primary failed (will retry): {}",
                    seaf_backup_service::logging::error_chain(&e)
                ),
            }
            self.c.polls.send_modify(|n| *n += 1);
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.c.poll_now.notified() => {
                    tokio::time::sleep_until(started + MIN_EARLY_POLL_GAP).await;
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }

    pub async fn poll_once(&self) -> anyhow::Result<PollReport> {
        let seen_at = now_ms();
        let listed = self.record_list(seen_at).await?;
        let deleted = self.c.db.mark_unlisted_deleted(seen_at).await?;
        for repo in &deleted {
            tracing::info!(%repo, "library no longer on the primary: marked deleted, backup kept");
            self.c.queue.forget(repo).await?;
        }
        if let Some(tokens) = &self.c.tokens {
            // Also those a crash left behind after marking them deleted.
            for repo in self.c.db.deleted_with_tokens().await? {
                tokens.forget(&self.c.db, &repo).await?;
            }
        }
        self.c.db.unfail_changed().await?;
        let work = self.c.db.needing_work().await?;
        for repo in &work {
            self.c.schedule(repo, now_ms()).await?;
        }
        Ok(PollReport { listed, deleted: deleted.len(), queued: work.len() })
    }

    /// Lists the primary's libraries and records them with `seen_at`, [`CHUNK`] at a time as they
    /// stream in; returns how many were listed. A malformed row is logged and left out.
    async fn record_list(&self, seen_at: i64) -> anyhow::Result<usize> {
        let mut rows = match &self.source {
            Source::RepoList { client, sync_token } => {
                let list = client.repo_list(sync_token).await?;
                futures::stream::iter(list.into_iter().map(|e| Ok(Ok(from_repo_list(e))))).boxed()
            }
            Source::Database(db) => db.libraries().boxed(),
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut listed = 0;
        while let Some(row) = rows.try_next().await? {
            match row {
                Ok(lib) => chunk.push(lib),
                Err(bad) => tracing::warn!("{bad}"),
            }
            if chunk.len() == CHUNK {
                self.c.db.upsert_listed(&chunk, seen_at).await?;
                listed += chunk.len();
                chunk.clear();
            }
        }
        self.c.db.upsert_listed(&chunk, seen_at).await?;
        Ok(listed + chunk.len())
    }
}

fn from_repo_list(e: RepoListEntry) -> PrimaryLibrary {
    PrimaryLibrary {
        repo_id: e.repo_id,
        store_id: e.store_id,
        is_virtual: e.is_virtual,
        name: e.name,
        head: Some(e.head_commit_id),
        owner: None,
    }
}
