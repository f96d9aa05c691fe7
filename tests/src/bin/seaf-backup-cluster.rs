//! `seaf-backup-cluster`: the whole cluster on this machine, against the simulated primary.
//!
//! Starts a MariaDB and a Redis of its own on free loopback ports, the simulator, the
//! coordinator, the gateway and two fetchers, all as real processes, in `--dir`.
//! * `up`: prints the endpoints, the configuration file and commands to try, then runs until
//!   Ctrl-C (or SIGTERM), and stops everything it started.
//! * `demo`: the initial backup, `seaf-backup status`, commits announced by events, the new heads
//!   followed, `verify` of every library; then it stops everything.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::{Primary, bin, verify};

#[derive(Parser)]
#[command(about = "Runs a whole seaf-backup cluster locally against the simulated primary")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
    /// Working directory: primary, store, configuration, logs (default: a new temporary one).
    #[arg(long, global = true)]
    dir: Option<std::path::PathBuf>,
    /// Libraries of the simulated primary.
    #[arg(long, global = true, default_value_t = 5)]
    libraries: usize,
    #[arg(long, global = true, default_value_t = 2)]
    fetchers: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start everything and keep it running until Ctrl-C.
    Up,
    /// Back up, commit with events, follow, verify, then stop.
    Demo {
        /// Commits to make after the initial backup.
        #[arg(long, default_value_t = 10)]
        commits: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            anyhow::ensure!(
                std::fs::read_dir(d)?.next().is_none(),
                "{} is not empty; give a new or empty directory",
                d.display()
            );
            d.canonicalize()?
        }
        None => tempfile::Builder::new().prefix("seaf-backup-cluster-").tempdir()?.keep(),
    };
    println!("working directory: {}", dir.display());
    let mut primary = Primary::generate(&dir, &["--libraries", &args.libraries.to_string(), "--seed", "42"]);
    primary.serve(&[]);
    println!("primary (simulator): {}  ({} libraries)", primary.url, args.libraries);
    let opts = ClusterOptions {
        fetchers: args.fetchers,
        poll_interval: "1h".into(),
        lease: "30s".into(),
        ..ClusterOptions::default()
    };
    let c = Cluster::start(&dir, primary, &opts);
    println!("MariaDB: {}", c.db_url);
    println!("Redis: {}", c.redis.url());
    println!("coordinator (gRPC): {}", c.coordinator_url);
    println!("gateway (HTTP): {}", c.gateway_url);
    println!("fetchers: {}  (store: {})", args.fetchers, c.store.display());
    println!("configuration: {}", c.config.display());

    let started = Instant::now();
    c.wait_converged(Duration::from_secs(600));
    println!("\ninitial backup of {} libraries done in {:.1} s", args.libraries, started.elapsed().as_secs_f64());
    let status = c.cli(&["status"]);
    println!("\n$ seaf-backup status\n{}", status.stdout.trim_end());

    match args.command {
        Cmd::Up => {
            let cli = bin("seaf-backup");
            println!("\nRunning. Try, in another terminal:");
            println!("  {} --coordinator {} status", cli.display(), c.coordinator_url);
            println!(
                "  {} commit --count 5 --events-url {}/events --jwt-key {} --data {}",
                bin("seaf-primary-sim").display(),
                c.gateway_url,
                seaf_backup_tests::cluster::JWT_KEY,
                c.primary.data.display()
            );
            println!("  {} verify --store {}", bin("seaf-backup-fetcher").display(), c.store.display());
            println!("Logs: {}/*.log. Stop with Ctrl-C.", dir.display());
            wait_for_signal();
            println!("stopping");
        }
        Cmd::Demo { commits } => {
            c.commit_with_events(&["--count", &commits.to_string(), "--rate", "10"]).assert_ok();
            let after_last = Instant::now();
            c.wait_converged(Duration::from_secs(300));
            println!(
                "\n{commits} commits on the primary, announced by events: all backed up {:.2} s after the last one",
                after_last.elapsed().as_secs_f64()
            );
            let status = c.cli(&["status"]);
            println!("\n$ seaf-backup status\n{}", status.stdout.trim_end());
            let check = verify(&c.store, &[]);
            println!("\n$ seaf-backup-fetcher verify --store {}\n{}", c.store.display(), check.stdout.trim_end());
            let heads = c.branch_heads();
            anyhow::ensure!(heads == c.primary_heads(), "the backup's Branch rows differ from the primary's heads");
            anyhow::ensure!(check.ok(), "verify found problems");
            println!("\nBranch rows equal the primary's {} heads; every library verified complete.", heads.len());
        }
    }
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    });
}
