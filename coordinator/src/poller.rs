//! The poller: every `sync_poll_interval` (and at start, and when a notification names an
//! unknown library) it lists the primary's libraries and heads, records them, marks the ones the
//! primary no longer lists as deleted, and queues every library that needs a job.

use std::sync::Arc;
use std::time::Duration;

use seaf_sync_client::SyncClient;
use tokio_util::sync::CancellationToken;

use crate::coordinator::Coordinator;
use crate::db::now_ms;

/// Notifications naming unknown libraries trigger at most one early poll per this interval.
const MIN_EARLY_POLL_GAP: Duration = Duration::from_secs(2);

pub struct Poller {
    pub c: Arc<Coordinator>,
    pub client: SyncClient,
    pub sync_token: String,
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
                Ok(r) => tracing::info!(listed = r.listed, deleted = r.deleted, queued = r.queued, "primary polled"),
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
        let listed = self.client.repo_list(&self.sync_token).await?;
        self.c.db.upsert_listed(&listed, seen_at).await?;
        let deleted = self.c.db.mark_unlisted_deleted(seen_at).await?;
        for repo in &deleted {
            tracing::info!(%repo, "library no longer on the primary: marked deleted, backup kept");
            self.c.queue.forget(repo).await?;
        }
        self.c.db.unfail_changed().await?;
        let work = self.c.db.needing_work().await?;
        for repo in &work {
            self.c.schedule(repo, now_ms()).await?;
        }
        Ok(PollReport { listed: listed.len(), deleted: deleted.len(), queued: work.len() })
    }
}
