//! `seaf-backup-scaleout`: does adding fetchers speed a backup up?
//!
//! The same initial backup (`--libraries` small libraries, default 16) against a simulated primary
//! that delays each object request by `--latency-ms` (default 20), once per fetcher count in
//! `--fetchers` (default 1,2,4), each fetcher fetching `--concurrency` libraries at once (default
//! 2), each run on a fresh local cluster (MariaDB, Redis, coordinator, fetchers on loopback).
//! Prints each run's time, its speed-up over the first run, and how the coordinator saw its jobs
//! end (leased, published, reports retried, leases expired, MySQL transactions retried); `--json`
//! prints one JSON object instead.

use clap::Parser;
use seaf_backup_tests::scale_out::{self, ScaleOutOptions};

#[derive(Parser)]
#[command(about = "Measures initial-backup time with 1, 2, 4… fetchers against a primary with latency")]
struct Args {
    #[arg(long, default_value_t = 16)]
    libraries: usize,
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Fetcher counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    fetchers: Vec<usize>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(!args.fetchers.is_empty() && !args.fetchers.contains(&0), "--fetchers: counts of at least 1");
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let opts = ScaleOutOptions {
        libraries: args.libraries,
        latency_ms: args.latency_ms,
        concurrency: args.concurrency,
        fetchers: args.fetchers.clone(),
        seed: args.seed,
    };
    eprintln!("generating a primary with {} libraries…", opts.libraries);
    let data = scale_out::generate(&dir, &opts);
    let mut runs = Vec::new();
    for &n in &opts.fetchers {
        eprintln!("backing up with {n} fetcher(s) × {}…", opts.concurrency);
        runs.push(scale_out::run(&dir.join(format!("run-{n}")), &data, n, &opts));
    }
    let base = runs[0].seconds;
    if args.json {
        let runs: Vec<_> = runs.iter().map(|r| serde_json::json!({ "run": r, "speedup": base / r.seconds })).collect();
        println!(
            "{}",
            serde_json::json!({
                "libraries": opts.libraries, "latency_ms": opts.latency_ms, "concurrency": opts.concurrency,
                "runs": runs,
            })
        );
        return Ok(());
    }
    println!(
        "{} libraries, primary latency {} ms per request, {} libraries at once per fetcher",
        opts.libraries, opts.latency_ms, opts.concurrency
    );
    for r in &runs {
        println!(
            "{} fetcher(s): {:.2} s, {:.2}× the first run | jobs leased {}, published {}, reports retried {}, \
             stale {}, failed attempts {}, leases expired {}, MySQL transactions retried {}",
            r.fetchers,
            r.seconds,
            base / r.seconds,
            r.leased,
            r.published,
            r.unapplied,
            r.stale,
            r.failed_attempts,
            r.leases_expired,
            r.mysql_retries
        );
    }
    Ok(())
}
