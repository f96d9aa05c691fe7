//! The scale-out run: the same initial backup with 1, 2, 4… fetchers against a primary that answers
//! every object request after a delay (a primary across a network). Each run is a fresh cluster
//! (database, Redis, store) over the same generated primary; its clock starts when the first
//! fetcher starts, with every library already queued, and stops when every library's `Branch` row
//! holds the primary's head. The coordinator's counters say how each job ended.
//!
//! Used by the `seaf-backup-scaleout` benchmark and by the scale-out test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Primary;
use crate::cluster::{Cluster, ClusterOptions};

#[derive(Debug, Clone)]
pub struct ScaleOutOptions {
    pub libraries: usize,
    /// Delay the simulator adds to each object request.
    pub latency_ms: u64,
    /// Libraries fetched at once per fetcher.
    pub concurrency: usize,
    /// The fetcher counts to run, one fresh cluster each.
    pub fetchers: Vec<usize>,
    pub seed: u64,
}

/// One run's figures: its time and how the coordinator saw its jobs end.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScaleOutRun {
    pub fetchers: usize,
    pub seconds: f64,
    /// Jobs handed out.
    pub leased: u64,
    /// Reports that published a head.
    pub published: u64,
    /// Reports that could not be published at once (the fetcher retried them).
    pub unapplied: u64,
    /// Reports of a job whose head had moved (the library ran again).
    pub stale: u64,
    /// Failed attempts reported.
    pub failed_attempts: u64,
    /// Leases that expired without a report: work thrown away and done again.
    pub leases_expired: u64,
    /// MySQL transactions run again after a deadlock or lock wait timeout.
    pub mysql_retries: u64,
}

/// Generates the primary once under `dir`.
pub fn generate(dir: &Path, opts: &ScaleOutOptions) -> PathBuf {
    let primary =
        Primary::generate(dir, &["--libraries", &opts.libraries.to_string(), "--seed", &opts.seed.to_string()]);
    primary.data
}

/// One run with `fetchers` fetcher processes, in `dir` (which must be new), over the primary
/// generated in `data`.
pub fn run(dir: &Path, data: &Path, fetchers: usize, opts: &ScaleOutOptions) -> ScaleOutRun {
    std::fs::create_dir_all(dir).unwrap();
    let mut primary = Primary { data: data.to_path_buf(), server: None, url: String::new(), database_url: None };
    primary.serve(&["--latency-ms", &opts.latency_ms.to_string()]);
    let cluster_opts = ClusterOptions {
        fetchers: 0,
        gateway: false,
        concurrency: opts.concurrency,
        lease: "30s".into(),
        metrics: true,
        ..ClusterOptions::default()
    };
    let mut c = Cluster::start(dir, primary, &cluster_opts);
    // The startup poll queues every library; the clock starts once it has.
    c.wait_for("the startup poll", Duration::from_secs(60), || c.log("coordinator").contains("primary polled"));
    let started = Instant::now();
    for _ in 0..fetchers {
        c.start_fetcher();
    }
    c.wait_converged(Duration::from_secs(600));
    let seconds = started.elapsed().as_secs_f64();
    let m = c.metrics();
    let sum = |prefix: &str| -> u64 { m.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| *v as u64).sum() };
    ScaleOutRun {
        fetchers,
        seconds,
        leased: sum("seaf_backup_leases_total"),
        published: sum("seaf_backup_reports_total{outcome=\"published\"}"),
        unapplied: sum("seaf_backup_reports_total{outcome=\"unapplied\"}"),
        stale: sum("seaf_backup_reports_total{outcome=\"stale\"}"),
        failed_attempts: sum("seaf_backup_reports_total{outcome=\"retrying\"}")
            + sum("seaf_backup_reports_total{outcome=\"failed\"}"),
        leases_expired: sum("seaf_backup_leases_expired_total"),
        mysql_retries: sum("seaf_backup_mysql_transaction_retries_total"),
    }
}
