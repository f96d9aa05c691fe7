//! Runs the built `seaf-backup` binary against a small in-test `AdminService` on loopback (a test
//! double with canned answers, not the coordinator) and against closed or silent ports, and checks
//! stdout, stderr and the exit status.

use std::pin::Pin;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use seaf_backup_proto::admin::admin_service_server::{AdminService, AdminServiceServer};
use seaf_backup_proto::admin::sync_progress::Phase;
use seaf_backup_proto::admin::{
    GetLibraryRequest, Library, LibraryState, LibrarySummary, ListLibrariesRequest, ListLibrariesResponse,
    RetryRequest, RetryResponse, SkippedObject, StatusRequest, StatusResponse, SyncProgress, SyncRequest,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Backed up (with one skipped block) when forced; fails without --force.
const GOOD: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";
/// Always fails.
const BAD: &str = "f690ea2c-fe4d-459a-ba1e-165cdc6df391";
/// The stream ends while still syncing.
const CUT: &str = "e2df70b5-cd80-496f-98cf-c9f038cf1307";
/// The stream reports progress, then an error status.
const BROKEN: &str = "7c1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
/// Unknown to the server.
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

const HEAD: &str = "9a3c2d4e5f60718293a4b5c6d7e8f90112233445";
const BLOCK: &str = "0b1c2d3e4f5061728394a5b6c7d8e9f001122334";
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Fake {
    sync_calls: Arc<AtomicUsize>,
}

fn progress(repo_id: &str, phase: Phase, commits_done: u64) -> SyncProgress {
    SyncProgress {
        repo_id: repo_id.into(),
        phase: phase as i32,
        commits_done,
        commits_total: 3,
        fs_objects: commits_done * 10,
        blocks: commits_done * 4,
        bytes: commits_done << 20,
        ..Default::default()
    }
}

fn canned_status() -> StatusResponse {
    StatusResponse {
        total: 12,
        synchronized: 9,
        waiting: 1,
        syncing: 1,
        failed: 1,
        syncing_libraries: vec![LibrarySummary { repo_id: GOOD.into(), ..Default::default() }],
        failed_libraries: vec![LibrarySummary {
            repo_id: BAD.into(),
            name: "Archive".into(),
            reason: "retries exhausted".into(),
            attempts: 5,
            last_error: format!("commit {HEAD} is corrupt on the primary"),
        }],
        ..Default::default()
    }
}

type ProgressStream = Pin<Box<dyn Stream<Item = Result<SyncProgress, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for Fake {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(canned_status()))
    }

    type SyncStream = ProgressStream;

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<ProgressStream>, Status> {
        self.sync_calls.fetch_add(1, Ordering::SeqCst);
        let SyncRequest { repo_id, force } = request.into_inner();
        let start = [progress(&repo_id, Phase::Queued, 0), progress(&repo_id, Phase::Syncing, 1)];
        let end = match repo_id.as_str() {
            GOOD if force => Some(SyncProgress {
                head: HEAD.into(),
                skipped: vec![SkippedObject {
                    kind: "block".into(),
                    id: BLOCK.into(),
                    reason: "missing on the primary".into(),
                }],
                ..progress(&repo_id, Phase::Done, 3)
            }),
            GOOD | BAD => Some(SyncProgress {
                error: format!("block {BLOCK} is missing on the primary"),
                ..progress(&repo_id, Phase::Failed, 1)
            }),
            CUT | BROKEN => None,
            _ => return Err(Status::not_found(format!("library {repo_id} is unknown"))),
        };
        let mut messages: Vec<Result<SyncProgress, Status>> = start.into_iter().chain(end).map(Ok).collect();
        if repo_id == BROKEN {
            messages.push(Err(Status::internal("the fetcher's lease was lost")));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(messages))))
    }

    async fn list_libraries(
        &self,
        _: Request<ListLibrariesRequest>,
    ) -> Result<Response<ListLibrariesResponse>, Status> {
        Ok(Response::new(ListLibrariesResponse { libraries: vec![] }))
    }

    async fn get_library(&self, request: Request<GetLibraryRequest>) -> Result<Response<Library>, Status> {
        let repo_id = request.into_inner().repo_id;
        if repo_id != GOOD {
            return Err(Status::not_found(format!("library {repo_id} is unknown")));
        }
        Ok(Response::new(Library { repo_id, state: LibraryState::Synchronized as i32, ..Default::default() }))
    }

    async fn retry(&self, request: Request<RetryRequest>) -> Result<Response<RetryResponse>, Status> {
        let queued = if request.into_inner().repo_id.is_empty() { 3 } else { 1 };
        Ok(Response::new(RetryResponse { queued }))
    }

    async fn failover(
        &self,
        _: Request<seaf_backup_proto::admin::FailoverRequest>,
    ) -> Result<Response<seaf_backup_proto::admin::FailoverResponse>, Status> {
        Err(Status::unimplemented("not used by these tests"))
    }
}

/// Serves a [`Fake`] on 127.0.0.1; returns its URL and its count of Sync calls.
async fn serve() -> (String, Arc<AtomicUsize>) {
    let fake = Fake::default();
    let calls = fake.sync_calls.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder().add_service(AdminServiceServer::new(fake)).serve_with_incoming(incoming),
    );
    (url, calls)
}

/// A loopback URL where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Runs the binary with `args` (after `--coordinator url`), at most [`LIMIT`].
async fn run(url: &str, args: &[&str]) -> Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_seaf-backup"))
        .arg("--coordinator")
        .arg(url)
        .args(args)
        .env_remove("SEAF_BACKUP_COORDINATOR")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(LIMIT, child).await.expect("seaf-backup finished in time").expect("seaf-backup ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_sync_prints_the_head_and_the_skipped_block() {
    let (url, calls) = serve().await;
    let out = run(&url, &["sync", "--force", GOOD]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Library {GOOD} is backed up: head {HEAD}\n\
             Skipped 1 object the primary lacks or serves corrupt:\n  \
             block {BLOCK}: missing on the primary\n"
        )
    );
    assert_eq!(stderr(&out), "", "no progress display when stderr is not a terminal");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_sync_as_json() {
    let (url, _) = serve().await;
    let out = run(&url, &["sync", "--force", GOOD, "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "repo_id": GOOD, "phase": "done", "commits_done": 3, "commits_total": 3, "fs_objects": 30,
            "blocks": 12, "bytes": 3 << 20, "head": HEAD, "error": "",
            "skipped": [{"kind": "block", "id": BLOCK, "reason": "missing on the primary"}],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sync_exits_1_with_the_reason() {
    let (url, _) = serve().await;
    for (id, args) in [(BAD, &["sync", "--force", BAD][..]), (GOOD, &["sync", GOOD])] {
        let out = run(&url, args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&out), "");
        assert_eq!(
            stderr(&out),
            format!("error: library {id} failed to sync: block {BLOCK} is missing on the primary\n")
        );
    }
    let out = run(&url, &["--json", "sync", BAD]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["phase"].as_str(), v["repo_id"].as_str()), (Some("failed"), Some(BAD)));
    assert_eq!(v["error"], format!("block {BLOCK} is missing on the primary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_a_final_phase_exits_1() {
    let (url, _) = serve().await;
    let out = run(&url, &["sync", CUT]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: the coordinator ended the progress stream of library {CUT}")), "{err}");
    assert!(err.contains("(last phase: syncing)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_progress_is_a_broken_stream() {
    let (url, _) = serve().await;
    let out = run(&url, &["sync", BROKEN]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: the progress stream of library {BROKEN} broke: ")), "{err}");
    assert!(err.contains("the fetcher's lease was lost"), "{err}");
    // With --json the last progress message is still printed.
    let out = run(&url, &["sync", BROKEN, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["phase"].as_str(), v["commits_done"].as_u64()), (Some("syncing"), Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_exit_2_with_the_servers_message() {
    let (url, _) = serve().await;
    let out = run(&url, &["sync", UNKNOWN]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("error: library {UNKNOWN} is unknown\n"));
    let out = run(&url, &["library", UNKNOWN]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("error: library {UNKNOWN} is unknown\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_against_a_canned_response() {
    let (url, _) = serve().await;
    let out = run(&url, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Total number of libraries: 12\n\
             Number of synchronized libraries: 9\n\
             Number of libraries waiting for sync: 1\n\
             Number of libraries syncing: 1\n\
             Number of libraries failed to sync: 1\n\
             \n\
             List of syncing libraries:\n\
             {GOOD}\n\
             \n\
             List of libraries failed to sync:\n\
             {BAD}  commit {HEAD} is corrupt on the primary  (attempts: 5)\n"
        )
    );
    let out = run(&url, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["total"].as_u64(), v["failed"].as_u64()), (Some(12), Some(1)));
    assert_eq!(v["failed_libraries"][0]["attempts"], 5);
    assert_eq!(v["syncing_libraries"][0]["repo_id"], GOOD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_library() {
    let (url, _) = serve().await;
    let out = run(&url, &["retry"]).await;
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "Queued 3 libraries for another attempt.\n".into()));
    let out = run(&url, &["retry", BAD, "--json"]).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!({"queued": 1}));
    let out = run(&url, &["library", GOOD]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("State:           synchronized\n"), "{}", stdout(&out));
    let out = run(&url, &["libraries", "--state", "failed"]).await;
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "No libraries.\n".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_are_rejected_before_anything_is_sent() {
    let (url, calls) = serve().await;
    for args in [&["sync", "--force", "not-a-library"][..], &["sync", "3F9E4AA5-D6BA-4066-A1D6-81824F422AF1"]] {
        let out = run(&url, args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("invalid library id"), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing reached the server");

    // Against a closed port, an invalid id is still a usage error, not a connection error.
    let closed = closed_port();
    let out = run(&closed, &["sync", "--force", "'; DROP TABLE Branch; --"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("invalid library id") && !err.contains("cannot reach"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_coordinator_exits_2() {
    let closed = closed_port();
    let out = run(&closed, &["sync", GOOD]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: cannot reach the coordinator at {closed}: ")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_coordinator_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let out = run(&url, &["status", "--timeout", "1"]).await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let err = stderr(&out);
    assert!(err.contains(&url) && (err.contains("within 1 s") || err.contains("cannot reach")), "{err}");
    holder.abort();
}
