//! The Redis queue against a real Redis: one job per library in flight, follow-ups coalesce,
//! expired leases are reaped, leases lost with Redis are re-established by their holder.

use seaf_backup_coordinator::queue::{Enqueued, Holder, Queue, Queued, Renewal};
use seaf_backup_tests::Redis;
use seaf_objects::RepoId;

fn repo(n: u8) -> RepoId {
    RepoId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap()
}

async fn queue() -> (tempfile::TempDir, Redis, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path());
    let q = Queue::connect(&redis.url(), "t").await.unwrap();
    (dir, redis, q)
}

#[tokio::test]
async fn one_job_per_library_and_follow_ups_coalesce() {
    let (_d, _r, q) = queue().await;
    let (a, b) = (repo(1), repo(2));
    assert_eq!(q.enqueue(&a, 100).await.unwrap(), Enqueued::Ready);
    assert_eq!(q.enqueue(&a, 50).await.unwrap(), Enqueued::Ready, "queued twice, still one entry");
    assert_eq!(q.enqueue(&b, 200).await.unwrap(), Enqueued::Ready);
    assert_eq!(q.snapshot().await.unwrap().0.len(), 2);

    // Due order, and nothing before it is due.
    assert_eq!(q.lease(10, 1000, "j1@", "f").await.unwrap(), None, "not due yet");
    assert_eq!(q.lease(300, 1000, "j1@", "f").await.unwrap().as_deref(), Some(a.to_string().as_str()));
    let job_a = format!("j1@{a}");
    assert_eq!(q.state_of(&a).await.unwrap(), Queued::Leased);

    // Notifications while leased: one follow-up, however many arrive; never a second lease.
    for _ in 0..3 {
        assert_eq!(q.enqueue(&a, 300).await.unwrap(), Enqueued::FollowUp);
    }
    assert_eq!(q.lease(300, 1000, "j2@", "g").await.unwrap().as_deref(), Some(b.to_string().as_str()));
    assert_eq!(q.lease(300, 1000, "j3@", "g").await.unwrap(), None, "a is leased, b is leased");
    assert_eq!(q.finish(&a, &job_a).await.unwrap(), (Holder::This, true), "one follow-up due");
    assert_eq!(q.finish(&a, &job_a).await.unwrap(), (Holder::Nobody, false), "finishing twice is harmless");
    assert_eq!(q.state_of(&a).await.unwrap(), Queued::No);
}

#[tokio::test]
async fn expired_leases_are_reaped_and_stale_holders_told_to_stop() {
    let (_d, _r, q) = queue().await;
    let a = repo(3);
    q.enqueue(&a, 0).await.unwrap();
    let id = q.lease(1000, 500, "old@", "f1").await.unwrap().unwrap();
    assert_eq!(id, a.to_string());
    assert_eq!(q.renew(&a, &format!("old@{a}"), 1000, 2000, "f1").await.unwrap(), Renewal::Renewed);
    assert!(q.reap(1999).await.unwrap().is_empty(), "renewed until 2000");
    assert_eq!(q.reap(2001).await.unwrap(), vec![a.to_string()]);
    assert_eq!(q.state_of(&a).await.unwrap(), Queued::Waiting, "back in the queue");
    q.lease(2001, 500, "new@", "f2").await.unwrap().unwrap();
    assert_eq!(q.renew(&a, &format!("old@{a}"), 1000, 3000, "f1").await.unwrap(), Renewal::Lost);
    assert_eq!(q.finish(&a, &format!("old@{a}")).await.unwrap(), (Holder::Other, false));
    assert_eq!(q.state_of(&a).await.unwrap(), Queued::Leased, "the new holder keeps it");
}

#[tokio::test]
async fn a_flushed_queue_is_noticed_and_leases_are_adopted() {
    let (_d, redis, q) = queue().await;
    let a = repo(4);
    assert!(!q.is_alive().await.unwrap());
    q.set_alive().await.unwrap();
    q.enqueue(&a, 0).await.unwrap();
    q.lease(10, 10_000, "j@", "f").await.unwrap().unwrap();
    redis.flushall();
    assert!(!q.is_alive().await.unwrap(), "the marker tells the coordinator to rebuild");
    // The rebuild queues the library again and sets the marker; the running job's heartbeat takes
    // the library back, and the queued work becomes its follow-up instead of being dropped.
    q.enqueue(&a, 0).await.unwrap();
    q.set_alive().await.unwrap();
    assert_eq!(q.renew(&a, &format!("j@{a}"), 10, 20_000, "f").await.unwrap(), Renewal::Adopted);
    assert_eq!(q.state_of(&a).await.unwrap(), Queued::Leased);
    assert_eq!(q.lease(10, 10_000, "k@", "g").await.unwrap(), None, "not handed out twice");
    assert_eq!(q.finish(&a, &format!("j@{a}")).await.unwrap(), (Holder::This, true), "the follow-up survived");
    // A late heartbeat after the job ended normally does not resurrect the lease.
    let now = seaf_backup_coordinator::db::now_ms();
    assert_eq!(q.renew(&a, &format!("j@{a}"), now, now + 10_000, "f").await.unwrap(), Renewal::Lost);
}
