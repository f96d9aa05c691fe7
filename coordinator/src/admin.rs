//! `seafbackup.admin.v1.AdminService`: what `seaf-backup` and grpcurl talk to.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use seaf_backup_proto::admin::admin_service_server::AdminService;
use seaf_backup_proto::admin::{self, LibraryState, SyncProgress, sync_progress::Phase};
use seaf_backup_proto::{ApiError, repo_id};
use seaf_objects::RepoId;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::coordinator::{Coordinator, EventKind, QueueView};
use crate::db::{Library, now_ms};
use crate::replication::Replication;

pub struct Admin {
    pub c: Arc<Coordinator>,
    /// Ends open `Sync` streams when the coordinator shuts down (they would hold it up).
    pub shutdown: tokio_util::sync::CancellationToken,
}

fn summary(c: &Coordinator, lib: &Library, state: LibraryState) -> admin::LibrarySummary {
    let reason = match state {
        LibraryState::Failed => lib.last_error.clone().unwrap_or_default(),
        LibraryState::Syncing => match c.progress_of(&lib.repo_id) {
            Some(p) => format!(
                "commits {}/{}, fs objects {}, blocks {}, {}",
                p.commits_done,
                p.commits_total,
                p.fs_objects,
                p.blocks,
                seaf_backup_service::units::human_bytes(p.bytes)
            ),
            None => "started".into(),
        },
        _ => String::new(),
    };
    admin::LibrarySummary {
        repo_id: lib.repo_id.to_string(),
        name: lib.name.clone(),
        reason,
        attempts: lib.attempts,
        last_error: lib.last_error.clone().unwrap_or_default(),
    }
}

fn library_message(lib: &Library, state: LibraryState, skipped: Vec<admin::SkippedObject>) -> admin::Library {
    let now = now_ms();
    admin::Library {
        repo_id: lib.repo_id.to_string(),
        name: lib.name.clone(),
        store_id: lib.store_id.to_string(),
        is_virtual: lib.is_virtual,
        state: state as i32,
        backup_head: lib.backup_head.map(|h| h.to_string()).unwrap_or_default(),
        primary_head: lib.primary_head.map(|h| h.to_string()).unwrap_or_default(),
        lag_seconds: match (state, lib.behind_since) {
            (LibraryState::Synchronized | LibraryState::Deleted, _) | (_, None) => 0,
            (_, Some(since)) => ((now - since).max(0) / 1000) as u64,
        },
        last_success_unix: lib.last_success.map(|ms| ms / 1000).unwrap_or(0),
        attempts: lib.attempts,
        last_error: lib.last_error.clone().unwrap_or_default(),
        skipped,
    }
}

impl Admin {
    /// The library, asking the primary first (one early poll) if it is not known yet.
    async fn find_or_discover(&self, repo: &RepoId) -> Result<Library, ApiError> {
        if let Some(lib) = self.c.db.library(repo).await? {
            return Ok(lib);
        }
        // Wait for a poll that starts after this request (one already running may predate the library).
        let mut polls = self.c.polls.subscribe();
        let wanted = self.c.polls_started.load(std::sync::atomic::Ordering::SeqCst) + 1;
        self.c.poll_now.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(60), polls.wait_for(|done| *done >= wanted)).await;
        self.c
            .db
            .library(repo)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("library {repo} is not known: the primary does not list it")))
    }
}

/// The outcome of a sync that began at `since`, if MySQL already shows one.
async fn outcome_from_db(c: &Coordinator, repo: &RepoId, since: i64, base: &SyncProgress) -> Option<SyncProgress> {
    let lib = c.db.library(repo).await.ok()??;
    if lib.failed {
        let error = lib.last_error.unwrap_or_default();
        return Some(SyncProgress { phase: Phase::Failed as i32, error, ..base.clone() });
    }
    if lib.last_success.is_some_and(|t| t > since) {
        let head = lib.backup_head.map(|h| h.to_string()).unwrap_or_default();
        return Some(SyncProgress { phase: Phase::Done as i32, head, ..base.clone() });
    }
    None
}

type SyncStream = Pin<Box<dyn Stream<Item = Result<SyncProgress, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for Admin {
    async fn status(&self, _: Request<admin::StatusRequest>) -> Result<Response<admin::StatusResponse>, Status> {
        let libs = self.c.db.libraries().await.map_err(ApiError::from)?;
        let view = QueueView::load(&self.c).await?;
        let mut out = admin::StatusResponse::default();
        for lib in libs.iter().filter(|l| !l.deleted) {
            out.total += 1;
            let state = view.state(lib);
            match state {
                LibraryState::Synchronized => out.synchronized += 1,
                LibraryState::Waiting => out.waiting += 1,
                LibraryState::Syncing => {
                    out.syncing += 1;
                    out.syncing_libraries.push(summary(&self.c, lib, state));
                }
                LibraryState::Failed => {
                    out.failed += 1;
                    out.failed_libraries.push(summary(&self.c, lib, state));
                }
                LibraryState::Deleted | LibraryState::Unspecified => {}
            }
        }
        match &*self.c.replication.lock().expect("replication lock") {
            Replication::None => {}
            Replication::Unknown(why) => out.replication_unknown = why.clone(),
            Replication::Replica(channels) => out.replication = channels.iter().map(wire_channel).collect(),
        }
        Ok(Response::new(out))
    }

    type SyncStream = SyncStream;

    async fn sync(&self, req: Request<admin::SyncRequest>) -> Result<Response<SyncStream>, Status> {
        let req = req.into_inner();
        let repo = repo_id("repo_id", &req.repo_id)?;
        let lib = self.find_or_discover(&repo).await?;
        if lib.deleted {
            return Err(ApiError::FailedPrecondition(format!(
                "library {repo} was deleted on the primary; its backup is kept but cannot be synced"
            ))
            .into());
        }
        let mut events = self.c.events.subscribe();
        let since = now_ms();
        // A job leased in the same millisecond as this request could be the one already running.
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.c.db.request_sync(&repo, req.force, now_ms()).await.map_err(ApiError::from)?;
        self.c.schedule(&repo, now_ms()).await?;
        tracing::info!(%repo, force = req.force, "sync requested");

        let (tx, rx) = tokio::sync::mpsc::channel::<Result<SyncProgress, Status>>(16);
        let base = SyncProgress { repo_id: repo.to_string(), ..Default::default() };
        let _ = tx.send(Ok(SyncProgress { phase: Phase::Queued as i32, ..base.clone() })).await;
        let (c, shutdown) = (self.c.clone(), self.shutdown.clone());
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    ev = events.recv() => ev,
                    _ = tx.closed() => return,
                    _ = shutdown.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("the coordinator is shutting down"))).await;
                        return;
                    }
                };
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => {
                        // Events were missed, perhaps the outcome: ask MySQL instead.
                        if let Some(last) = outcome_from_db(&c, &repo, since, &base).await {
                            let _ = tx.send(Ok(last)).await;
                            return;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if ev.repo != repo || ev.leased_at <= since {
                    continue;
                }
                let (msg, last) = match ev.kind {
                    EventKind::Progress(p) => (
                        SyncProgress {
                            phase: Phase::Syncing as i32,
                            commits_done: p.commits_done,
                            commits_total: p.commits_total,
                            fs_objects: p.fs_objects,
                            blocks: p.blocks,
                            bytes: p.bytes,
                            ..base.clone()
                        },
                        false,
                    ),
                    EventKind::Retrying(error) => {
                        (SyncProgress { phase: Phase::Queued as i32, error, ..base.clone() }, false)
                    }
                    EventKind::Done { head, skipped } => (
                        SyncProgress {
                            phase: Phase::Done as i32,
                            head: head.to_string(),
                            skipped: skipped
                                .into_iter()
                                .map(|s| admin::SkippedObject { kind: s.kind, id: s.id.to_string(), reason: s.reason })
                                .collect(),
                            ..base.clone()
                        },
                        true,
                    ),
                    EventKind::Failed(error) => {
                        (SyncProgress { phase: Phase::Failed as i32, error, ..base.clone() }, true)
                    }
                };
                if tx.send(Ok(msg)).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn list_libraries(
        &self,
        req: Request<admin::ListLibrariesRequest>,
    ) -> Result<Response<admin::ListLibrariesResponse>, Status> {
        let wanted = LibraryState::try_from(req.into_inner().state)
            .map_err(|_| ApiError::InvalidArgument("state: unknown value".into()))?;
        let libs = self.c.db.libraries().await.map_err(ApiError::from)?;
        let view = QueueView::load(&self.c).await?;
        let libraries = libs
            .iter()
            .map(|l| (l, view.state(l)))
            .filter(|(_, s)| wanted == LibraryState::Unspecified || *s == wanted)
            .map(|(l, s)| library_message(l, s, Vec::new()))
            .collect();
        Ok(Response::new(admin::ListLibrariesResponse { libraries }))
    }

    async fn get_library(&self, req: Request<admin::GetLibraryRequest>) -> Result<Response<admin::Library>, Status> {
        let repo = repo_id("repo_id", &req.into_inner().repo_id)?;
        let lib = self
            .c
            .db
            .library(&repo)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("library {repo} is not known")))?;
        let view = QueueView::load(&self.c).await?;
        let skipped = self
            .c
            .db
            .skipped(&repo)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|s| admin::SkippedObject { kind: s.kind, id: s.id.to_string(), reason: s.reason })
            .collect();
        Ok(Response::new(library_message(&lib, view.state(&lib), skipped)))
    }

    async fn retry(&self, req: Request<admin::RetryRequest>) -> Result<Response<admin::RetryResponse>, Status> {
        let req = req.into_inner();
        let one = match req.repo_id.as_str() {
            "" => None,
            s => Some(repo_id("repo_id", s)?),
        };
        if let Some(r) = &one
            && self.c.db.library(r).await.map_err(ApiError::from)?.is_none()
        {
            return Err(ApiError::NotFound(format!("library {r} is not known")).into());
        }
        let ids = self.c.db.retry_failed(one.as_ref(), now_ms()).await.map_err(ApiError::from)?;
        for id in &ids {
            self.c.schedule(id, now_ms()).await?;
        }
        tracing::info!(count = ids.len(), "failed libraries queued again");
        Ok(Response::new(admin::RetryResponse { queued: ids.len() as u32 }))
    }

    async fn failover(
        &self,
        req: Request<admin::FailoverRequest>,
    ) -> Result<Response<admin::FailoverResponse>, Status> {
        let f = crate::failover::failover(&self.c, req.into_inner().apply).await?;
        Ok(Response::new(admin::FailoverResponse {
            applied: f.applied,
            is_replica: f.is_replica,
            replication_running: f.running.iter().map(wire_channel).collect(),
            replication_unknown: f.replication_unknown.unwrap_or_default(),
            not_up_to_date: f
                .plan
                .not_up_to_date
                .iter()
                .map(|(l, reason, n)| admin::FailoverLibrary {
                    repo_id: l.repo_id.to_string(),
                    name: l.name.clone(),
                    reason: reason.clone(),
                    user_tokens: *n,
                })
                .collect(),
            user_tokens: f.plan.user_tokens,
            backup_tokens: f.plan.backup_tokens,
            has_token_table: f.plan.has_token_table,
        }))
    }
}

fn wire_channel(ch: &crate::replication::Channel) -> admin::ReplicationChannel {
    admin::ReplicationChannel {
        name: ch.name.clone(),
        source: ch.source.clone(),
        io_running: ch.io_running.clone(),
        sql_running: ch.sql_running.clone(),
        seconds_behind: ch.seconds_behind,
        last_error: ch.last_error.clone(),
    }
}
