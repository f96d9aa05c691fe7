//! `seaf-backup-latency`: notification → head committed, measured on a real local cluster.
//!
//! Starts the simulated primary (`--libraries`, default 100), a MariaDB, a Redis, the coordinator,
//! the gateway and `--fetchers` fetchers (default 2) on loopback; backs everything up; then the
//! simulator commits at `--rate` commits/s (default 50) across all libraries for `--seconds`,
//! sending seaf-server's repo-update event after each. A watcher polls the backup's `Branch` table
//! every 5 ms; a commit's latency runs from the moment the primary's branch moved to the first
//! time the backup's `Branch` row shows it (or a later commit of the same library). Prints
//! p50/p95/p99/max, or JSON with `--json`.
//!
//! `--observability off|on|both`: with `on`, every component serves its Prometheus metrics,
//! writes JSON logs and exports its spans over OTLP to a collector in this process; `both`
//! measures the same workload without, then with, side by side.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use seaf_backup_tests::cluster::{Cluster, ClusterOptions, JWT_KEY};
use seaf_backup_tests::otlp::Collector;
use seaf_backup_tests::{Primary, bin, query};

#[derive(Parser)]
#[command(about = "Measures notification → head committed latency on a local cluster")]
struct Args {
    #[arg(long, default_value_t = 100)]
    libraries: usize,
    /// Commits per second, spread round-robin over the libraries.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// How long to commit.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 2)]
    fetchers: usize,
    /// Libraries fetched at once per fetcher.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
    /// The store's durability: syncfs (the default) or fsync.
    #[arg(long, default_value = "syncfs")]
    durability: String,
    /// Metrics, JSON logs and OTLP traces: off, on, or both (one run each, side by side).
    #[arg(long, value_enum, default_value_t = Observability::Off)]
    observability: Observability,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Observability {
    Off,
    On,
    Both,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let modes: &[bool] = match args.observability {
        Observability::Off => &[false],
        Observability::On => &[true],
        Observability::Both => &[false, true],
    };
    let mut runs = Vec::new();
    for &observed in modes {
        let run_dir = dir.join(if observed { "observed" } else { "plain" });
        std::fs::create_dir_all(&run_dir)?;
        let r = measure(&args, &run_dir, observed)?;
        if !args.json {
            let l = &r["latency_ms"];
            println!(
                "observability {}: {} commits in {:.1} s ({:.1}/s) across {} libraries, {} fetchers × {} libraries at once",
                if observed { "on (metrics, JSON logs, OTLP traces)" } else { "off" },
                r["commits"],
                r["commit_seconds"].as_f64().unwrap_or(0.0),
                r["achieved_rate"].as_f64().unwrap_or(0.0),
                args.libraries,
                args.fetchers,
                args.concurrency
            );
            println!(
                "  notification → head committed: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms, mean {:.0} ms",
                l["p50"],
                l["p95"],
                l["p99"],
                l["max"],
                l["mean"].as_f64().unwrap_or(0.0)
            );
            println!(
                "  Branch updates seen: {} (a head can cover several commits of its library)",
                r["branch_updates_seen"]
            );
            if observed {
                println!("  spans exported: {}", r["spans_exported"]);
            }
        }
        runs.push(r);
    }
    if args.json {
        println!("{}", serde_json::json!({ "runs": runs }));
    }
    Ok(())
}

/// One measurement on a fresh primary and cluster in `dir`.
fn measure(args: &Args, dir: &std::path::Path, observed: bool) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating a primary with {} libraries…", args.libraries);
    let mut primary = Primary::generate(dir, &["--libraries", &args.libraries.to_string(), "--seed", "99"]);
    primary.serve(&[]);
    let collector = observed.then(Collector::start);
    let opts = ClusterOptions {
        fetchers: args.fetchers,
        concurrency: args.concurrency,
        lease: "10s".into(),
        metrics: observed,
        durability: Some(args.durability.clone()),
        tracing: collector.as_ref().map(|c| format!("log_format = \"json\"\notlp_endpoint = \"{}\"", c.endpoint)),
        ..ClusterOptions::default()
    };
    let c = Cluster::start(dir, primary, &opts);
    let started = Instant::now();
    c.wait_converged(Duration::from_secs(600));
    eprintln!("initial backup of {} libraries: {:.1} s", args.libraries, started.elapsed().as_secs_f64());

    // Watch Branch every 5 ms: (time seen, library, head).
    let seen: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, stop, url) = (seen.clone(), stop.clone(), c.db_url.clone());
        std::thread::spawn(move || {
            let mut last: HashMap<String, String> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                let rows = query(&url, "SELECT repo_id, commit_id FROM Branch WHERE name = 'master'");
                let t = now_ms();
                for r in rows {
                    if last.get(&r[0]) != Some(&r[1]) {
                        seen.lock().unwrap().push((t, r[0].clone(), r[1].clone()));
                        last.insert(r[0].clone(), r[1].clone());
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let count = (args.rate * args.seconds as f64).round() as usize;
    eprintln!("committing {count} times at {} commits/s with events…", args.rate);
    let events = format!("{}/events", c.gateway_url);
    let mut sim = Command::new(bin("seaf-primary-sim"))
        .args(["commit", "--count", &count.to_string(), "--rate", &args.rate.to_string()])
        .args(["--events-url", &events, "--jwt-key", JWT_KEY, "--data"])
        .arg(&c.primary.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the simulator's commit command")?;
    let mut commits: Vec<(u64, String, String)> = Vec::new();
    for line in std::io::BufReader::new(sim.stdout.take().expect("piped")).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        commits.push((
            v["at_ms"].as_u64().context("at_ms")?,
            v["repo_id"].as_str().context("repo_id")?.to_owned(),
            v["commit_id"].as_str().context("commit_id")?.to_owned(),
        ));
    }
    let status = sim.wait()?;
    anyhow::ensure!(status.success(), "the simulator's commit command failed: {status}");
    let commit_seconds =
        (commits.last().map(|c| c.0).unwrap_or(0) - commits.first().map(|c| c.0).unwrap_or(0)) as f64 / 1e3;
    c.wait_converged(Duration::from_secs(300));
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher thread");

    // Each commit's position in its library's sequence; a head seen at position ≥ k covers commit k.
    let mut position: HashMap<(String, String), usize> = HashMap::new();
    let mut per_lib: HashMap<String, usize> = HashMap::new();
    for (_, repo, id) in &commits {
        let n = per_lib.entry(repo.clone()).or_default();
        position.insert((repo.clone(), id.clone()), *n);
        *n += 1;
    }
    let seen = seen.lock().unwrap();
    let mut latencies = Vec::with_capacity(commits.len());
    for (at, repo, id) in &commits {
        let k = position[&(repo.clone(), id.clone())];
        let covered = seen
            .iter()
            .filter(|(_, r, _)| r == repo)
            .find(|(_, r, h)| position.get(&(r.clone(), h.clone())).is_some_and(|&i| i >= k))
            .map(|(t, _, _)| *t);
        let t = covered.with_context(|| format!("commit {id} of {repo} was never seen in Branch"))?;
        latencies.push(t.saturating_sub(*at));
    }
    latencies.sort_unstable();
    let (p50, p95, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 95.0), percentile(&latencies, 99.0));
    let max = latencies.last().copied().unwrap_or(0);
    let mean = latencies.iter().sum::<u64>() as f64 / latencies.len().max(1) as f64;
    let publishes = seen.len();
    // The batch exporters send every 5 s: wait for the last batch before counting.
    if let Some(col) = &collector {
        std::thread::sleep(Duration::from_secs(6));
        if col.spans().is_empty() {
            anyhow::bail!("observability on, yet no span reached the collector");
        }
    }
    Ok(serde_json::json!({
        "observability": if observed { "on" } else { "off" },
        "libraries": args.libraries, "fetchers": args.fetchers, "concurrency": args.concurrency,
        "commits": commits.len(), "commit_seconds": commit_seconds,
        "achieved_rate": commits.len() as f64 / commit_seconds.max(1e-3),
        "branch_updates_seen": publishes,
        "spans_exported": collector.as_ref().map(|c| c.spans().len()),
        "latency_ms": { "p50": p50, "p95": p95, "p99": p99, "max": max, "mean": mean },
    }))
}
