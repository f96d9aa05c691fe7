//! Scale-out without lost work: the same initial backup with 1, 2 and 4 fetchers (two libraries at
//! once each) against a primary with 20 ms per request. Every library is leased once and published
//! by that job's report (on its first delivery or a retry of it), never by a lease running out.
//! Publishes racing in MySQL once deadlocked here, and the finished work was thrown away.

use seaf_backup_tests::scale_out::{self, ScaleOutOptions};

#[test]
fn every_report_is_published_with_one_two_and_four_fetchers() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ScaleOutOptions { libraries: 16, latency_ms: 20, concurrency: 2, fetchers: vec![1, 2, 4], seed: 7 };
    let data = scale_out::generate(dir.path(), &opts);
    for &n in &opts.fetchers {
        let r = scale_out::run(&dir.path().join(format!("run-{n}")), &data, n, &opts);
        eprintln!("{r:?}");
        let libraries = opts.libraries as u64;
        assert_eq!((r.leased, r.published), (libraries, libraries), "one job and one publish per library: {r:?}");
        assert_eq!(r.leases_expired, 0, "no work waited for a lease to expire: {r:?}");
        assert_eq!((r.stale, r.failed_attempts), (0, 0), "{r:?}");
    }
}
