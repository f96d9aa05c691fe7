//! A finished fetch is never thrown away: when the coordinator cannot publish a report (here MySQL
//! lacks the `Branch` table for a moment), it queues the library again at once and answers
//! UNAVAILABLE, so the fetcher retries; the retry publishes, and the requeued job finds the head
//! already there. Real MariaDB and Redis, the coordinator's policy in process.

use std::time::Duration;

use seaf_backup_coordinator::coordinator::Coordinator;
use seaf_backup_coordinator::db::Db;
use seaf_backup_coordinator::queue::{Queue, Queued};
use seaf_backup_proto::internal::{ReportRequest, Success, report_request::Outcome};
use seaf_backup_service::config::CoordinatorConfig;
use seaf_backup_tests::{Redis, execute, fresh_database, query};
use seaf_objects::{ObjectId, RepoId};
use seaf_primary_db::PrimaryLibrary;

fn success(job_id: &str, head: &ObjectId, base: &str) -> ReportRequest {
    ReportRequest {
        job_id: job_id.to_owned(),
        fetcher_id: "f1".into(),
        outcome: Some(Outcome::Success(Success {
            head: head.to_string(),
            base_head: base.into(),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn an_unpublishable_report_is_retried_and_its_library_queued_at_once() {
    let url = fresh_database("unapplied");
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path());
    let db = Db::connect(&url, 4).await.unwrap();
    let queue = Queue::connect(&redis.url(), "t").await.unwrap();
    let c = Coordinator::new(db.clone(), queue.clone(), CoordinatorConfig::default());

    let repo = RepoId::parse("6d1f2e3a-0000-4000-8000-00000000abcd").unwrap();
    let head = ObjectId::parse(&"c".repeat(40)).unwrap();
    let entry = PrimaryLibrary {
        repo_id: repo.clone(),
        head: Some(head),
        store_id: repo.clone(),
        is_virtual: false,
        name: "docs".into(),
        owner: None,
    };
    db.upsert_listed(&[entry], 1).await.unwrap();
    c.schedule(&repo, 0).await.unwrap();
    let job = c.lease("f1", Duration::from_secs(1)).await.unwrap().expect("a job");

    execute(&url, "RENAME TABLE Branch TO Branch_away");
    let err = c.report(success(&job.job_id, &head, "")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    assert!(err.to_string().contains(&format!("publishing {head} for library {repo}")), "{err}");
    assert_eq!(queue.state_of(&repo).await.unwrap(), Queued::Waiting, "queued again at once, not leased");

    // While MySQL cannot say what the job is, a lease gives the library back instead of holding it.
    let err = c.lease("f2", Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err}");
    assert_eq!(queue.state_of(&repo).await.unwrap(), Queued::Waiting, "given back, not leased to nobody");

    execute(&url, "RENAME TABLE Branch_away TO Branch");
    let published = c.report(success(&job.job_id, &head, "")).await.unwrap();
    assert!(published.published && published.publish_seq == 1, "{published:?}");
    assert_eq!(
        query(&url, "SELECT repo_id, commit_id FROM Branch"),
        [[repo.to_string(), head.to_string()]],
        "the fetcher's retry published"
    );

    // The requeued job starts from the published head; its report of the same head is a no-op.
    let again = c.lease("f2", Duration::from_secs(3)).await.unwrap().expect("the requeued job");
    assert_eq!(again.base_head, head.to_string());
    let r = c.report(success(&again.job_id, &head, &again.base_head)).await.unwrap();
    assert!(r.published && r.publish_seq == 1, "{r:?}");
    assert_eq!(queue.state_of(&repo).await.unwrap(), Queued::No);
}
