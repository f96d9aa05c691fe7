//! The coordinator's policy, in the order a change travels:
//! notification → queue → lease → heartbeats → report → head published in MySQL.
//!
//! The gRPC handlers (`internal.rs`, `admin.rs`) only translate to and from these methods.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use seaf_backup_proto::ApiError;
use seaf_backup_proto::admin::LibraryState;
use seaf_backup_proto::internal::{self, Job};
use seaf_backup_service::config::CoordinatorConfig;
use seaf_backup_service::trace_context;
use seaf_objects::{ObjectId, RepoId};
use tokio::sync::{Notify, broadcast, watch};

use crate::db::{Db, DbError, Library, Notified, Publish, Skipped, now_ms};
use crate::queue::{Enqueued, Holder, Queue, Renewal};
use crate::replication::Replication;
use crate::tokens::{TokenError, Tokens};

/// Something that happened to a library's job, for `Sync` streams.
#[derive(Debug, Clone)]
pub struct Event {
    pub repo: RepoId,
    /// Lease time (ms) of the job it concerns; a `Sync` waits for a job leased after it began.
    pub leased_at: i64,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Progress(internal::Progress),
    /// The attempt failed and another one is queued.
    Retrying(String),
    Done {
        head: ObjectId,
        skipped: Vec<Skipped>,
    },
    Failed(String),
}

pub struct Coordinator {
    pub db: Db,
    pub queue: Queue,
    pub cfg: CoordinatorConfig,
    /// Per-library sync tokens, when the primary is a stock seaf-server (`[primary] database_url`).
    pub tokens: Option<Tokens>,
    /// Wakes fetchers waiting in `Lease` when a job is queued.
    wake: Notify,
    /// Asks the poller for an early poll (a notification named an unknown library).
    pub poll_now: Notify,
    /// Counts started and finished polls, so a caller can wait for one that starts after it asks.
    pub polls_started: std::sync::atomic::AtomicU64,
    pub polls: watch::Sender<u64>,
    pub events: broadcast::Sender<Event>,
    /// Latest progress of each running job, for `Status`.
    progress: Mutex<HashMap<RepoId, internal::Progress>>,
    /// The backup database's replication status, refreshed by the upkeep task, for `Status`.
    pub replication: Mutex<Replication>,
    /// The oldest notification (ms) of each library not yet covered by a published head, for the
    /// notification → head latency.
    notified: Mutex<HashMap<RepoId, i64>>,
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                ApiError::Unavailable(e.to_string())
            }
            // Still conflicting after the retries: the same request may succeed later.
            ref conflict if crate::db::lock_conflict(conflict).is_some() => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub fn redis_err(e: redis::RedisError) -> ApiError {
    ApiError::Unavailable(format!("Redis: {e}"))
}

/// A job id is `<lease time ms>.<random>@<library id>`: it names its library and when it was
/// leased, so a report is understood even after Redis lost the lease.
pub fn parse_job_id(job_id: &str) -> Result<(i64, RepoId), ApiError> {
    let bad = || ApiError::InvalidArgument(format!("job_id: malformed {job_id:?}"));
    let (head, repo) = job_id.split_once('@').ok_or_else(bad)?;
    let leased_at = head.split_once('.').and_then(|(ms, _)| ms.parse::<i64>().ok()).ok_or_else(bad)?;
    // The lease time orders notifications against successes: a forged future one would hide them.
    if leased_at <= 0 || leased_at > now_ms() + 60_000 {
        return Err(ApiError::InvalidArgument(format!("job_id: lease time {leased_at} out of range")));
    }
    Ok((leased_at, seaf_backup_proto::repo_id("job_id", repo)?))
}

impl Coordinator {
    pub fn new(db: Db, queue: Queue, cfg: CoordinatorConfig) -> Coordinator {
        Coordinator {
            db,
            queue,
            cfg,
            tokens: None,
            wake: Notify::new(),
            poll_now: Notify::new(),
            polls_started: Default::default(),
            polls: watch::channel(0).0,
            events: broadcast::channel(4096).0,
            progress: Mutex::default(),
            replication: Mutex::new(Replication::None),
            notified: Mutex::default(),
        }
    }

    /// A coordinator for a stock primary: each job carries the library's own sync token.
    pub fn with_tokens(mut self, tokens: Tokens) -> Coordinator {
        self.tokens = Some(tokens);
        self
    }

    fn emit(&self, repo: &RepoId, leased_at: i64, kind: EventKind) {
        let _ = self.events.send(Event { repo: repo.clone(), leased_at, kind });
    }

    /// Queues a library now (or as a follow-up of its running job) and wakes a fetcher.
    pub async fn schedule(&self, repo: &RepoId, due_ms: i64) -> Result<Enqueued, ApiError> {
        let e = self.queue.enqueue(repo, due_ms).await.map_err(redis_err)?;
        self.wake.notify_waiters();
        Ok(e)
    }

    /// Notifications from the gateway. Every id is checked before anything is queued.
    pub async fn notify(&self, changes: &[internal::Change], source: &str) -> Result<u32, ApiError> {
        let mut parsed = Vec::with_capacity(changes.len());
        for c in changes {
            let repo = seaf_backup_proto::repo_id("repo_id", &c.repo_id)?;
            let commit = match c.commit_id.as_str() {
                "" => None,
                s => Some(seaf_backup_proto::object_id("commit_id", s)?),
            };
            parsed.push((repo, commit));
        }
        let now = now_ms();
        let mut accepted = 0;
        for (repo, commit) in parsed {
            match self.db.note_notified(&repo, commit.as_ref(), now).await? {
                Notified::Queue => {
                    self.notified.lock().expect("notified lock").entry(repo.clone()).or_insert(now);
                    // Before the job can be leased, so that its fetcher joins this trace.
                    if let Some(tp) = trace_context::traceparent(&tracing::Span::current())
                        && let Err(e) = self.queue.remember_trace(&repo, &tp).await
                    {
                        tracing::debug!(%repo, "keeping the trace context: {e}");
                    }
                    self.schedule(&repo, now).await?;
                    accepted += 1;
                }
                Notified::Ignore(why) => tracing::debug!(%repo, source, why, "notification ignored"),
                Notified::Unknown => {
                    tracing::info!(%repo, source, "notification for a library not known yet; polling the primary");
                    self.poll_now.notify_one();
                }
            }
        }
        Ok(accepted)
    }

    /// Hands `fetcher` the next due job, waiting up to `wait` for one.
    pub async fn lease(&self, fetcher: &str, wait: Duration) -> Result<Option<Job>, ApiError> {
        let deadline = tokio::time::Instant::now() + wait.min(Duration::from_secs(60));
        let lease_ms = self.cfg.lease.as_millis() as i64;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let now = now_ms();
            let prefix = format!("{now}.{:08x}@", rand::random::<u32>());
            if let Some(id) = self.queue.lease(now, lease_ms, &prefix, fetcher).await.map_err(redis_err)? {
                let job_id = format!("{prefix}{id}");
                match self.job_for(&id, &job_id, lease_ms).await {
                    Ok(Some(mut job)) => {
                        metrics::counter!(LEASES).increment(1);
                        let span = tracing::info_span!("lease", library = %job.repo_id, job = %job.job_id, fetcher);
                        if trace_context::enabled() {
                            self.join_notification_trace(&job.repo_id, &span).await;
                            job.traceparent = trace_context::traceparent(&span).unwrap_or_default();
                        }
                        span.in_scope(|| tracing::info!(fetcher, attempt = job.attempt, "job leased"));
                        return Ok(Some(job));
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        // MySQL could not say what the job is: give the library back rather than
                        // leave it leased to nobody until the lease runs out.
                        if let Ok(repo) = RepoId::parse(&id) {
                            self.give_back(&repo, &job_id, now_ms() + 1000).await;
                        }
                        return Err(e);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    /// Makes a lease's span part of the trace of the notification that queued the library.
    async fn join_notification_trace(&self, repo: &str, span: &tracing::Span) {
        let Ok(repo) = RepoId::parse(repo) else { return };
        match self.queue.take_trace(&repo).await {
            Ok(Some(tp)) => trace_context::adopt_traceparent(span, &tp),
            Ok(None) => {}
            Err(e) => tracing::debug!(%repo, "reading the trace context: {e}"),
        }
    }

    /// The job for a leased library, or None (lease dropped) if there is nothing to do for it.
    async fn job_for(&self, id: &str, job_id: &str, lease_ms: i64) -> Result<Option<Job>, ApiError> {
        let repo = match RepoId::parse(id) {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(id, "dropping a malformed library id found in the queue");
                return Ok(None);
            }
        };
        let lib = self.db.library(&repo).await?;
        let Some(lib) = lib.filter(|l| !l.deleted && !l.failed) else {
            let (_, followup) = self.queue.finish(&repo, job_id).await.map_err(redis_err)?;
            if followup {
                // A notification raced this check; the next lease looks at MySQL again.
                self.schedule(&repo, now_ms()).await?;
            } else {
                let why = "the library is failed or deleted on the primary; nothing to do".to_owned();
                self.emit(&repo, now_ms(), EventKind::Failed(why));
            }
            return Ok(None);
        };
        let base = match self.db.branch_head(&repo).await {
            Ok(b) => b,
            // A Branch row that is not a commit id: no job can start from it; an administrator must look.
            Err(e @ DbError::Corrupt { .. }) => {
                let error = e.to_string();
                tracing::error!(%repo, "{error}");
                self.db.record_failure(&repo, &error, None, true, self.cfg.max_attempts).await?;
                self.queue.finish(&repo, job_id).await.map_err(redis_err)?;
                self.emit(&repo, now_ms(), EventKind::Failed(error));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let sync_token = match &self.tokens {
            None => String::new(),
            Some(tokens) => match tokens.for_job(&self.db, &repo).await {
                Ok(t) => t.expose().to_owned(),
                Err(e @ TokenError::NoOwner) => {
                    let error = e.to_string();
                    tracing::warn!(%repo, "{error}");
                    self.db
                        .record_failure(&repo, &error, lib.primary_head.as_ref(), true, self.cfg.max_attempts)
                        .await?;
                    self.queue.finish(&repo, job_id).await.map_err(redis_err)?;
                    self.emit(&repo, now_ms(), EventKind::Failed(error));
                    return Ok(None);
                }
                Err(e) => return Err(ApiError::Unavailable(format!("a sync token for library {repo}: {e}"))),
            },
        };
        Ok(Some(Job {
            job_id: job_id.to_owned(),
            repo_id: repo.to_string(),
            store_id: lib.store_id.to_string(),
            head: lib.primary_head.map(|h| h.to_string()).unwrap_or_default(),
            force: lib.force_next,
            attempt: lib.attempts + 1,
            lease_ms: lease_ms as u64,
            base_head: base.map(|h| h.to_string()).unwrap_or_default(),
            sync_token,
            traceparent: String::new(),
        }))
    }

    /// Keeps a lease alive. False: the library was handed to another job; stop.
    pub async fn heartbeat(
        &self,
        job_id: &str,
        fetcher: &str,
        progress: Option<internal::Progress>,
    ) -> Result<bool, ApiError> {
        let (leased_at, repo) = parse_job_id(job_id)?;
        let expiry = now_ms() + self.cfg.lease.as_millis() as i64;
        let renewal = self.queue.renew(&repo, job_id, leased_at, expiry, fetcher).await.map_err(redis_err)?;
        if renewal == Renewal::Lost {
            tracing::info!(%repo, fetcher, "heartbeat for a lease held by another job; telling the fetcher to stop");
            return Ok(false);
        }
        if renewal == Renewal::Adopted {
            tracing::info!(%repo, fetcher, "lease re-established after Redis lost it");
        }
        if let Some(p) = progress {
            self.progress.lock().expect("progress lock").insert(repo.clone(), p);
            self.emit(&repo, leased_at, EventKind::Progress(p));
        }
        Ok(true)
    }

    pub fn progress_of(&self, repo: &RepoId) -> Option<internal::Progress> {
        self.progress.lock().expect("progress lock").get(repo).copied()
    }

    /// A job's outcome. On success the head is published — the one place heads move.
    pub async fn report(&self, req: internal::ReportRequest) -> Result<internal::ReportResponse, ApiError> {
        use internal::report_request::Outcome;
        let (leased_at, repo) = parse_job_id(&req.job_id)?;
        let outcome = req.outcome.ok_or_else(|| ApiError::InvalidArgument("outcome: missing".into()))?;
        let now = now_ms();
        match outcome {
            Outcome::Success(s) => {
                let head = seaf_backup_proto::object_id("success.head", &s.head)?;
                let base = match s.base_head.as_str() {
                    "" => None,
                    b => Some(seaf_backup_proto::object_id("success.base_head", b)?),
                };
                let skipped = s
                    .skipped
                    .iter()
                    .map(|k| {
                        if !matches!(k.kind.as_str(), "commit" | "fs" | "block") {
                            return Err(ApiError::InvalidArgument(format!("skipped.kind: unknown {:?}", k.kind)));
                        }
                        Ok(Skipped {
                            kind: k.kind.clone(),
                            id: seaf_backup_proto::object_id("skipped.id", &k.id)?,
                            reason: k.reason.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(refusal) = self.replication_refusal() {
                    return Err(self.unapplied(&repo, &head, &req.job_id, refusal).await);
                }
                let published = match self.db.publish(&repo, base.as_ref(), &head, &skipped, leased_at, now).await {
                    Ok(p) => p,
                    Err(e) => return Err(self.unapplied(&repo, &head, &req.job_id, e).await),
                };
                let (_, followup) = self.queue.finish(&repo, &req.job_id).await.map_err(redis_err)?;
                self.progress.lock().expect("progress lock").remove(&repo);
                match published {
                    Publish::Published { seq } => {
                        metrics::counter!(REPORTS, "outcome" => "published").increment(1);
                        self.record_publish_latency(&repo, leased_at, now);
                        tracing::info!(%repo, %head, fetcher = req.fetcher_id, followup, "head published");
                        if followup {
                            self.schedule(&repo, now).await?;
                        }
                        self.emit(&repo, leased_at, EventKind::Done { head, skipped });
                        Ok(internal::ReportResponse { published: true, publish_seq: seq })
                    }
                    Publish::Stale { current } => {
                        metrics::counter!(REPORTS, "outcome" => "stale").increment(1);
                        tracing::warn!(%repo, %head, current = ?current.map(|c| c.to_string()),
                            "stale report: the head moved since the job began; scheduling the library again");
                        self.schedule(&repo, now).await?;
                        Ok(internal::ReportResponse { published: false, publish_seq: 0 })
                    }
                    Publish::Unknown => Err(ApiError::NotFound(format!("library {repo} is not known"))),
                }
            }
            Outcome::Failure(f) => {
                let head = match f.head.as_str() {
                    "" => None,
                    h => Some(seaf_backup_proto::object_id("failure.head", h)?),
                };
                let (holder, followup) = self.queue.finish(&repo, &req.job_id).await.map_err(redis_err)?;
                self.progress.lock().expect("progress lock").remove(&repo);
                if holder == Holder::Other {
                    metrics::counter!(REPORTS, "outcome" => "ignored").increment(1);
                    tracing::info!(%repo, fetcher = req.fetcher_id, "failure report of a job whose lease was handed on; ignored");
                    return Ok(internal::ReportResponse::default());
                }
                if f.handed_back {
                    metrics::counter!(REPORTS, "outcome" => "handed_back").increment(1);
                    tracing::info!(%repo, fetcher = req.fetcher_id, "job handed back; queued again");
                    self.schedule(&repo, now).await?;
                    self.emit(&repo, leased_at, EventKind::Retrying(f.error));
                    return Ok(internal::ReportResponse::default());
                }
                if f.token_refused && self.token_replaced(&repo, leased_at).await? {
                    metrics::counter!(REPORTS, "outcome" => "token_replaced").increment(1);
                    self.schedule(&repo, now).await?;
                    self.emit(&repo, leased_at, EventKind::Retrying(f.error));
                    return Ok(internal::ReportResponse::default());
                }
                let (failed, attempts) =
                    self.db.record_failure(&repo, &f.error, head.as_ref(), !f.transient, self.cfg.max_attempts).await?;
                if failed {
                    metrics::counter!(REPORTS, "outcome" => "failed").increment(1);
                    tracing::warn!(%repo, attempts, error = f.error, "library failed to sync");
                    self.emit(&repo, leased_at, EventKind::Failed(f.error));
                } else {
                    metrics::counter!(REPORTS, "outcome" => "retrying").increment(1);
                    let due = if followup { now } else { now + backoff(&self.cfg, attempts).as_millis() as i64 };
                    tracing::info!(%repo, attempts, error = f.error, retry_in_ms = due - now, "attempt failed; will retry");
                    self.schedule(&repo, due).await?;
                    self.emit(&repo, leased_at, EventKind::Retrying(f.error));
                }
                Ok(internal::ReportResponse::default())
            }
        }
    }

    /// Observes notification → head for the oldest notification this job covered (one made before
    /// its lease: the job read the primary's head after it).
    fn record_publish_latency(&self, repo: &RepoId, leased_at: i64, now: i64) {
        let mut notified = self.notified.lock().expect("notified lock");
        if let Some(&at) = notified.get(repo)
            && at <= leased_at
        {
            notified.remove(repo);
            metrics::histogram!(PUBLISH_SECONDS).record((now - at).max(0) as f64 / 1000.0);
        }
    }

    /// The primary refused the job's token. A token older than the job (revoked since, or its
    /// user no longer owns the library) is replaced and the library queued again at once, without
    /// counting an attempt: true. A token minted for this very job and refused already is a real
    /// failure (the primary does not accept what the backup writes in its database): false, and
    /// it counts as a transient failed attempt; the next attempt gets a fresh token too.
    async fn token_replaced(&self, repo: &RepoId, leased_at: i64) -> Result<bool, ApiError> {
        let Some(tokens) = &self.tokens else { return Ok(false) };
        match tokens.refused(&self.db, repo).await {
            Ok(Some(minted_at)) if minted_at < leased_at => {
                tracing::info!(%repo, "the primary refused the library's sync token; minting a new one");
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(ApiError::Unavailable(format!("replacing the sync token of library {repo}: {e}"))),
        }
    }

    /// Why no head may be published now: the backup's database became a replica of the primary's
    /// own tables (see [`crate::replication`]); `None` normally.
    pub fn replication_refusal(&self) -> Option<String> {
        match &*self.replication.lock().expect("replication lock") {
            Replication::Replica(channels) => crate::replication::refusal(self.db.database(), channels),
            _ => None,
        }
    }

    /// A success report that could not be published (MySQL down, lock conflicts beyond the
    /// retries, or replication that would overwrite the head). The fetched closure is durable in
    /// the store, so nothing is dropped: the library is queued again at once (its next fetch finds
    /// every object in place and only reports), and the fetcher is told to retry the report
    /// (Unavailable); whichever comes first publishes, and the compare-and-set makes the other a
    /// no-op.
    async fn unapplied(&self, repo: &RepoId, head: &ObjectId, job_id: &str, e: impl std::fmt::Display) -> ApiError {
        metrics::counter!(REPORTS, "outcome" => "unapplied").increment(1);
        let error = format!("publishing {head} for library {repo}: {e}");
        tracing::warn!(%repo, %head, "{error}; queued again, and the fetcher retries its report");
        self.give_back(repo, job_id, now_ms()).await;
        ApiError::Unavailable(error)
    }

    /// Ends `job_id`'s lease and queues the library again, due at `due_ms`, when a job cannot go
    /// on. Should Redis fail too, the lease's expiry is the fallback.
    async fn give_back(&self, repo: &RepoId, job_id: &str, due_ms: i64) {
        let back = async {
            self.queue.finish(repo, job_id).await?;
            self.queue.enqueue(repo, due_ms).await
        };
        match back.await {
            Ok(_) => self.wake.notify_waiters(),
            Err(e) => tracing::warn!(%repo, "giving the library back to the queue: {e}"),
        }
    }
}

/// The queue's contents at one moment, to tell waiting from syncing.
pub struct QueueView {
    pub waiting: HashSet<String>,
    pub leased: HashSet<String>,
}

impl QueueView {
    pub async fn load(c: &Coordinator) -> Result<QueueView, ApiError> {
        let (ready, leased, followup) = c.queue.snapshot().await.map_err(redis_err)?;
        Ok(QueueView { waiting: ready.into_iter().chain(followup).collect(), leased: leased.into_iter().collect() })
    }

    pub fn state(&self, lib: &Library) -> LibraryState {
        let id = lib.repo_id.to_string();
        if lib.deleted {
            LibraryState::Deleted
        } else if lib.failed {
            LibraryState::Failed
        } else if self.leased.contains(&id) {
            LibraryState::Syncing
        } else if self.waiting.contains(&id)
            || lib.backup_head.is_none()
            || lib.force_next
            || lib.primary_head != lib.backup_head
        {
            LibraryState::Waiting
        } else {
            LibraryState::Synchronized
        }
    }
}

/// Reports by outcome: published, stale, unapplied, retrying, failed, handed_back, ignored,
/// token_replaced.
pub const REPORTS: &str = "seaf_backup_reports_total";
/// Notification → head published, for each notification a published head covered first.
pub const PUBLISH_SECONDS: &str = "seaf_backup_publish_latency_seconds";
/// Jobs handed to fetchers.
pub const LEASES: &str = "seaf_backup_leases_total";
/// Leases that expired without a report (their fetcher died or hung): the library was queued again.
pub const LEASES_EXPIRED: &str = "seaf_backup_leases_expired_total";

/// Delay before attempt `attempts + 1`: doubling from `retry_delay`, capped at `retry_max_delay`,
/// with jitter in its upper half so libraries that failed together do not retry together.
pub fn backoff(cfg: &CoordinatorConfig, attempts: u32) -> Duration {
    let exp = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    let d = cfg.retry_delay.saturating_mul(exp).min(cfg.retry_max_delay);
    d / 2 + d.mul_f64(rand::random::<f64>() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_name_their_library_and_lease_time() {
        let (at, repo) = parse_job_id("1700000000123.0badcafe@3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        assert_eq!((at, repo.to_string().as_str()), (1700000000123, "3f9e4aa5-d6ba-4066-a1d6-81824f422af1"));
        for bad in ["", "x@3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "1.a@../../etc", "1.a"] {
            assert_eq!(parse_job_id(bad).unwrap_err().code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let cfg = CoordinatorConfig {
            retry_delay: Duration::from_secs(4),
            retry_max_delay: Duration::from_secs(30),
            ..CoordinatorConfig::default()
        };
        for _ in 0..200 {
            let d1 = backoff(&cfg, 1);
            assert!(d1 >= Duration::from_secs(2) && d1 <= Duration::from_secs(4), "{d1:?}");
            let d3 = backoff(&cfg, 3);
            assert!(d3 >= Duration::from_secs(8) && d3 <= Duration::from_secs(16), "{d3:?}");
            let d40 = backoff(&cfg, 40);
            assert!(d40 >= Duration::from_secs(15) && d40 <= Duration::from_secs(30), "{d40:?}");
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(&cfg, 2).as_millis()).collect();
        assert!(spread.len() > 5, "retries are jittered");
    }
}
