//! `seaf-backup-fetcher run`: the stateless worker of a cluster.
//!
//! Each of `concurrency` loops leases a library job from the coordinator, reads the primary's
//! current head, fetches its closure into the shared store ([`LibraryFetch`]), heartbeats the
//! lease (with progress) every second while it works, and reports the outcome. The coordinator
//! alone publishes the head; after it confirms, the worker refreshes the library's record in the
//! store (`seaf-backup/libraries/<id>.json`), which `verify` reads.
//!
//! Shutdown (SIGTERM): no new leases; running jobs get `shutdown_grace` to finish, then they are
//! aborted and handed back, so the process exits within the lease wait plus the grace period.

use std::sync::Arc;
use std::time::Duration;

use seaf_backup_proto::internal::coordinator_service_client::CoordinatorServiceClient;
use seaf_backup_proto::internal::{self, Job, report_request::Outcome};
use seaf_objects::{ObjectId, RepoId};
use seaf_store::ObjectStore;
use seaf_store::state::StateDir;
use seaf_sync_client::{SyncClient, SyncError};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::fetch::{FetchOptions, FetchReport, FetchStats, LibraryFetch, Progress};

/// How long one `Lease` call waits for a job; it also bounds how long shutdown waits for it.
const LEASE_WAIT: Duration = Duration::from_secs(5);
/// Progress and lease renewal interval.
const HEARTBEAT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct WorkerOptions {
    pub fetcher_id: String,
    /// Libraries fetched at once.
    pub concurrency: usize,
    pub sync_token: String,
    pub fetch: FetchOptions,
    pub shutdown_grace: Duration,
}

pub struct Worker {
    pub client: SyncClient,
    pub store: Arc<dyn ObjectStore>,
    pub states: StateDir,
    pub coordinator: CoordinatorServiceClient<Channel>,
    pub opts: WorkerOptions,
}

/// How a job ended, from the fetcher's side.
enum JobEnd {
    Fetched(ObjectId, FetchReport),
    Failed {
        error: String,
        transient: bool,
        head: Option<ObjectId>,
        /// The primary refused the token (401/403).
        auth: bool,
    },
    /// Shutdown grace expired: give the job back unfinished.
    HandBack,
    /// The coordinator gave the library to another job: drop it silently.
    LeaseLost,
}

impl Worker {
    /// Runs until `shutdown` is cancelled and every job in hand is finished or handed back.
    pub async fn run(self, shutdown: CancellationToken) {
        let me = Arc::new(self);
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..me.opts.concurrency.max(1) {
            loops.spawn(me.clone().lease_loop(shutdown.clone()));
        }
        while loops.join_next().await.is_some() {}
    }

    async fn lease_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut coordinator = self.coordinator.clone();
        let mut delay = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            // An in-flight Lease is not cancelled on shutdown (the coordinator may already have
            // handed us a job); it ends within LEASE_WAIT and such a job is given back at once.
            let req = internal::LeaseRequest {
                fetcher_id: self.opts.fetcher_id.clone(),
                wait_ms: LEASE_WAIT.as_millis() as u32,
            };
            let job = match coordinator.lease(self.authed(req)).await {
                Ok(r) => {
                    delay = Duration::from_millis(200);
                    r.into_inner().job
                }
                Err(status) => {
                    tracing::warn!("leasing a job: {}: {}; retrying in {delay:?}", status.code(), status.message());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if let Some(job) = job {
                // Every line logged for the job carries its library and job id; with traces on,
                // the span joins the trace the coordinator handed over with the lease.
                let span = tracing::info_span!("job", library = %job.repo_id, job = %job.job_id, attempt = job.attempt);
                seaf_backup_service::trace_context::adopt_traceparent(&span, &job.traceparent);
                if shutdown.is_cancelled() {
                    self.hand_back(&job).instrument(span).await;
                    continue;
                }
                self.run_job(job, &shutdown).instrument(span).await;
            }
        }
    }

    async fn run_job(&self, job: Job, shutdown: &CancellationToken) {
        let (repo, store_id) = match (RepoId::parse(&job.repo_id), RepoId::parse(&job.store_id)) {
            (Ok(r), Ok(s)) => (r, s),
            _ => {
                let error = format!("malformed job from the coordinator: {:?} / {:?}", job.repo_id, job.store_id);
                self.report(&job, Outcome::Failure(internal::Failure { error, ..Default::default() })).await;
                return;
            }
        };
        tracing::info!(%repo, attempt = job.attempt, force = job.force, "job started");
        let started = std::time::Instant::now();
        metrics::gauge!(JOBS_RUNNING).increment(1.0);
        // A stock primary: the library's own token, minted by the coordinator; else the shared one.
        let token = if job.sync_token.is_empty() { &self.opts.sync_token } else { &job.sync_token };
        let repo_client = self.client.repo(repo.clone(), token.clone());
        let fetch = LibraryFetch::new(
            repo_client.clone(),
            self.store.clone(),
            store_id.clone(),
            FetchOptions { force: job.force, ..self.opts.fetch.clone() },
        );
        let lost = CancellationToken::new();
        let beats = tokio::spawn(
            heartbeats(
                self.coordinator.clone(),
                self.opts.sync_token.clone(),
                job.job_id.clone(),
                self.opts.fetcher_id.clone(),
                fetch.progress(),
                lost.clone(),
            )
            .in_current_span(),
        );

        // The head is read after the lease: every notification before the lease is covered.
        let work = async {
            let head = match repo_client.head().await {
                Ok(h) => h,
                Err(e) => {
                    let (transient, auth) = (e.is_transient(), matches!(e, SyncError::Auth { .. }));
                    let error = format!("reading the primary's head: {e}");
                    return JobEnd::Failed { error, transient, head: None, auth };
                }
            };
            match fetch.run(head).await {
                Ok(report) => JobEnd::Fetched(head, report),
                Err(e) => JobEnd::Failed {
                    error: e.to_string(),
                    transient: e.is_transient(),
                    head: Some(head),
                    auth: e.is_auth(),
                },
            }
        };
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(self.opts.shutdown_grace).await;
        };
        let end = tokio::select! {
            end = work => end,
            _ = lost.cancelled() => JobEnd::LeaseLost,
            _ = grace => JobEnd::HandBack,
        };
        beats.abort();
        let seconds = started.elapsed().as_secs_f64();
        metrics::gauge!(JOBS_RUNNING).decrement(1.0);
        metrics::histogram!(JOB_SECONDS).record(seconds);
        record_fetched(&fetch.progress().stats());

        match end {
            JobEnd::Fetched(head, report) => {
                let s = &report.stats;
                let transferred = wire_progress(s, s.commits.objects);
                let skipped = report
                    .skipped
                    .iter()
                    .map(|k| internal::SkippedObject {
                        kind: k.kind.to_string(),
                        id: k.id.to_string(),
                        reason: k.reason.clone(),
                    })
                    .collect();
                let success = internal::Success {
                    head: head.to_string(),
                    transferred: Some(transferred),
                    skipped,
                    base_head: job.base_head.clone(),
                };
                let answer = self.report(&job, Outcome::Success(success)).await;
                let outcome = match &answer {
                    Some(r) if r.published => "published",
                    Some(_) => "stale",
                    None => "unreported",
                };
                metrics::counter!(JOBS, "outcome" => outcome).increment(1);
                match answer {
                    Some(r) if r.published => {
                        tracing::info!(%repo, %head, commits = s.commits.objects, fs = s.fs.objects, blocks = s.blocks.objects, seconds, "head published");
                        if let Err(e) = self.states.record_head(&repo, &store_id, head, &report.skipped, r.publish_seq)
                        {
                            tracing::warn!(%repo, "updating the library record in the store: {e}");
                        }
                    }
                    Some(_) => tracing::info!(%repo, %head, "the coordinator did not publish this head (stale job)"),
                    None => {}
                }
            }
            JobEnd::Failed { error, transient, head, auth } => {
                // Only the coordinator can replace a library token; a refused shared token is a
                // configuration error it cannot fix.
                let token_refused = auth && !job.sync_token.is_empty();
                let outcome = if token_refused {
                    "token_refused"
                } else if transient {
                    "failed_transient"
                } else {
                    "failed"
                };
                metrics::counter!(JOBS, "outcome" => outcome).increment(1);
                tracing::warn!(%repo, transient, token_refused, seconds, "job failed: {error}");
                let failure = internal::Failure {
                    error,
                    transient: transient || token_refused,
                    head: head.map(|h| h.to_string()).unwrap_or_default(),
                    handed_back: false,
                    token_refused,
                };
                self.report(&job, Outcome::Failure(failure)).await;
            }
            JobEnd::HandBack => {
                metrics::counter!(JOBS, "outcome" => "handed_back").increment(1);
                self.hand_back(&job).await
            }
            JobEnd::LeaseLost => {
                metrics::counter!(JOBS, "outcome" => "lease_lost").increment(1);
                tracing::info!(%repo, "lease lost to another job; stopped")
            }
        }
    }

    /// A request with the shared token the coordinator's internal API asks for (checked at start
    /// to be printable, see `main.rs`).
    /// A request with the sync token and the current span's trace context.
    fn authed<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = seaf_backup_proto::with_token(message, &self.opts.sync_token).expect("a printable sync token");
        seaf_backup_service::trace_context::inject(&tracing::Span::current(), &mut req);
        req
    }

    async fn hand_back(&self, job: &Job) {
        tracing::info!(repo = job.repo_id, "shutting down: job handed back unfinished");
        let failure = internal::Failure {
            error: "handed back: the fetcher was shutting down".into(),
            transient: true,
            handed_back: true,
            ..Default::default()
        };
        self.report(job, Outcome::Failure(failure)).await;
    }

    /// Reports a job's outcome, retrying for up to a minute while the coordinator is unreachable
    /// (a success is idempotent: the compare-and-set accepts the same head twice).
    async fn report(&self, job: &Job, outcome: Outcome) -> Option<internal::ReportResponse> {
        use backon::Retryable;
        let send = || async {
            let req = internal::ReportRequest {
                job_id: job.job_id.clone(),
                fetcher_id: self.opts.fetcher_id.clone(),
                outcome: Some(outcome.clone()),
            };
            self.coordinator.clone().report(self.authed(req)).await
        };
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_total_delay(Some(Duration::from_secs(60)))
            .without_max_times()
            .with_jitter();
        // Unavailable: the coordinator (or its MySQL or Redis) is down, or it could not publish yet;
        // the others: the connection broke mid-call. Retrying is safe, reports being idempotent.
        let retryable = |s: &tonic::Status| {
            matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Aborted | tonic::Code::DeadlineExceeded
            )
        };
        let sent = send.retry(backoff).when(retryable).notify(|s: &tonic::Status, delay| {
            tracing::info!(
                repo = job.repo_id,
                "reporting the job: {}: {}; retrying in {delay:?}",
                s.code(),
                s.message()
            );
        });
        match sent.await {
            Ok(r) => Some(r.into_inner()),
            Err(s) => {
                tracing::warn!(repo = job.repo_id, "reporting the job: {}: {}", s.code(), s.message());
                None
            }
        }
    }
}

/// Jobs running in this process.
pub const JOBS_RUNNING: &str = "seaf_backup_fetcher_jobs_running";
/// Jobs ended, by outcome: published, stale, unreported, failed, failed_transient, token_refused,
/// handed_back, lease_lost.
pub const JOBS: &str = "seaf_backup_fetcher_jobs_total";
/// How long each job ran, from its start to its end (before the report).
pub const JOB_SECONDS: &str = "seaf_backup_fetcher_job_duration_seconds";
/// Objects fetched from the primary, verified and stored, by kind (commit, fs, block).
pub const FETCHED_OBJECTS: &str = "seaf_backup_fetched_objects_total";
/// Their bytes as received (fs objects compressed, as stored), by kind.
pub const FETCHED_BYTES: &str = "seaf_backup_fetched_bytes_total";

/// Registers the help text of every fetcher metric (its client's and its store's included).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(JOBS_RUNNING, "Jobs in progress in this fetcher.");
    describe_counter!(JOBS, "Jobs ended, by outcome.");
    describe_histogram!(JOB_SECONDS, Unit::Seconds, "Time of each job, start to end.");
    describe_counter!(FETCHED_OBJECTS, "Objects fetched, verified and stored, by kind.");
    describe_counter!(FETCHED_BYTES, Unit::Bytes, "Bytes of the objects fetched and stored, by kind.");
    seaf_sync_client::describe_metrics();
    seaf_store::describe_metrics();
}

fn record_fetched(s: &FetchStats) {
    for (kind, c) in [("commit", &s.commits), ("fs", &s.fs), ("block", &s.blocks)] {
        metrics::counter!(FETCHED_OBJECTS, "kind" => kind).increment(c.objects);
        metrics::counter!(FETCHED_BYTES, "kind" => kind).increment(c.bytes);
    }
}

/// A fetch's counters as the coordinator's `Progress` message.
fn wire_progress(s: &FetchStats, commits_total: u64) -> internal::Progress {
    internal::Progress {
        commits_done: s.commits.objects,
        commits_total,
        fs_objects: s.fs.objects,
        blocks: s.blocks.objects,
        bytes: s.commits.bytes + s.fs.bytes + s.blocks.bytes,
    }
}

/// Renews the lease every second with the fetch's progress; cancels `lost` if the coordinator
/// says the lease went to another job.
async fn heartbeats(
    mut coordinator: CoordinatorServiceClient<Channel>,
    token: String,
    job_id: String,
    fetcher_id: String,
    progress: Arc<Progress>,
    lost: CancellationToken,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.tick().await;
    loop {
        tick.tick().await;
        let p = wire_progress(&progress.stats(), progress.commits_total.load(std::sync::atomic::Ordering::Relaxed));
        let req =
            internal::HeartbeatRequest { job_id: job_id.clone(), fetcher_id: fetcher_id.clone(), progress: Some(p) };
        let req = seaf_backup_proto::with_token(req, &token).expect("a printable sync token");
        match coordinator.heartbeat(req).await {
            Ok(r) if !r.get_ref().keep_going => {
                lost.cancel();
                return;
            }
            Ok(_) => {}
            // A missed heartbeat is harmless until the lease expires; the next one may get through.
            Err(s) => tracing::warn!("heartbeat: {}: {}", s.code(), s.message()),
        }
    }
}
