//! `seaf-primary-sim`: a simulated Seafile primary (generate, serve, damage, commit).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Parser, Subcommand};
use seaf_objects::RepoId;
use seaf_primary_sim::damage::{DamageKind, DamageOptions, FsTarget};
use seaf_primary_sim::faults::FaultConfig;
use seaf_primary_sim::mutate::CommitOptions;
use seaf_primary_sim::serve::ServeOptions;
use seaf_primary_sim::{GenerateOptions, Scale};

#[derive(Parser)]
#[command(
    version,
    about = "A simulated Seafile primary: generates a seafile-data tree and serves the sync protocol over it"
)]
struct Cli {
    /// Log at debug level (every request); RUST_LOG overrides.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic data directory (seafile-data/ and db/).
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5)]
        libraries: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = Scale::Tiny)]
        scale: Scale,
        /// Files in each library's initial upload.
        #[arg(long)]
        files: Option<usize>,
        /// Commits on each library's main line (merge included).
        #[arg(long)]
        commits: Option<usize>,
        /// Fixed block size in bytes.
        #[arg(long)]
        block_size: Option<usize>,
        /// Size of each of the four large files of the bench scale, in bytes.
        #[arg(long)]
        large_size: Option<u64>,
    },
    /// Serve the sync protocol over a data directory.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// Accepted as the token of every library (and for server-sync/repo-list).
        #[arg(long, env = "SEAF_SYNC_TOKEN", hide_env_values = true)]
        sync_token: String,
        /// Fraction of object requests answered 500.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Delay added to each object request.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Fraction of block and pack-fs responses cut short.
        #[arg(long, default_value_t = 0.0)]
        truncate_rate: f64,
        /// Seed of the fault decisions.
        #[arg(long, default_value_t = 0)]
        fault_seed: u64,
    },
    /// Damage one object on disk and print what was damaged as a JSON line.
    #[command(group(ArgGroup::new("what").required(true).args(["corrupt_block", "remove_block", "corrupt_fs", "remove_fs"])))]
    Damage {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        corrupt_block: bool,
        #[arg(long)]
        remove_block: bool,
        #[arg(long)]
        corrupt_fs: bool,
        #[arg(long)]
        remove_fs: bool,
        #[arg(long)]
        library: Option<RepoId>,
        /// Pick an object only old history reaches (not any head tree).
        #[arg(long)]
        old: bool,
        /// For fs damage: a file object or a (non-root) dir object.
        #[arg(long, value_enum, default_value_t = FsTarget::File)]
        fs_target: FsTarget,
    },
    /// Make commits to libraries and print one JSON line per commit.
    Commit {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        library: Option<RepoId>,
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Commits per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Where to POST repo-update events (e.g. http://127.0.0.1:PORT/events).
        #[arg(long, requires = "jwt_key")]
        events_url: Option<String>,
        /// HS256 key of the event tokens (JWT_PRIVATE_KEY of seaf-server).
        #[arg(long, env = "JWT_PRIVATE_KEY", hide_env_values = true)]
        jwt_key: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 8 << 20)]
        block_size: usize,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let default = if cli.verbose { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match cli.command {
        Command::Generate { out, libraries, seed, scale, files, commits, block_size, large_size } => {
            let opts = GenerateOptions { out, libraries, seed, scale, files, commits, block_size, large_size };
            let summary =
                seaf_primary_sim::generate(&opts).with_context(|| format!("generating {}", opts.out.display()))?;
            println!("{summary}");
        }
        Command::Serve { data, listen, sync_token, fail_rate, latency_ms, truncate_rate, fault_seed } => {
            let faults =
                FaultConfig { fail_rate, latency: Duration::from_millis(latency_ms), truncate_rate, seed: fault_seed };
            let opts = ServeOptions { data, listen, sync_token, faults };
            runtime()?.block_on(seaf_primary_sim::serve::run(opts, |addr| {
                println!("listening on {addr}");
                let _ = std::io::stdout().flush();
            }))?;
        }
        Command::Damage { data, corrupt_block, remove_block, corrupt_fs, remove_fs, library, old, fs_target } => {
            let kind = match (corrupt_block, remove_block, corrupt_fs, remove_fs) {
                (true, ..) => DamageKind::CorruptBlock,
                (_, true, ..) => DamageKind::RemoveBlock,
                (_, _, true, _) => DamageKind::CorruptFs,
                _ => DamageKind::RemoveFs,
            };
            let opts = DamageOptions { data, kind, library, old, fs_target };
            let done = seaf_primary_sim::damage::damage(&opts).context("damaging the store")?;
            println!("{}", serde_json::to_string(&done)?);
        }
        Command::Commit { data, library, count, rate, events_url, jwt_key, seed, block_size } => {
            let opts = CommitOptions { data, library, count, rate, events_url, jwt_key, seed, block_size };
            runtime()?.block_on(seaf_primary_sim::mutate::run(&opts, |rec| {
                println!("{}", serde_json::to_string(rec).expect("records serialize"));
                let _ = std::io::stdout().flush();
            }))?;
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}
