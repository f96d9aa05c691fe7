//! `seaf-primary-sim`: a simulated Seafile primary (generate, serve, damage, commit, mutate).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Parser, Subcommand};
use seaf_objects::RepoId;
use seaf_primary_sim::admin::Mutation;
use seaf_primary_sim::damage::{DamageKind, DamageOptions, FsTarget};
use seaf_primary_sim::faults::FaultConfig;
use seaf_primary_sim::layout::Layout;
use seaf_primary_sim::mutate::CommitOptions;
use seaf_primary_sim::serve::{Auth, ServeOptions};
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
    /// Write a deterministic data directory (seafile-data/ and db/), and with --database-url also
    /// seaf-server's tables.
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
        /// Also write the libraries into seaf-server's tables in this MySQL/MariaDB database
        /// (mysql://USER[:PASS]@HOST:PORT/DB; tables created if missing): Repo, Branch, RepoHead,
        /// RepoInfo, VirtualRepo, an owner per library (RepoOwner user<N>@example.com; the last
        /// non-virtual library is an organisation library in OrgRepo, org 1) and the owner's sync
        /// token in RepoUserToken.
        #[arg(long, env = "SEAF_PRIMARY_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Serve the sync protocol over a data directory.
    ///
    /// Shared-token mode (--sync-token): libraries from db/, one secret for every library, plus
    /// server-sync/repo-list. Stock mode (--database-url): behaves like a stock seaf-server.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// Accepted as the token of every library (and for server-sync/repo-list). Required
        /// unless --database-url is given; the two exclude each other.
        #[arg(
            long,
            env = "SEAF_SYNC_TOKEN",
            hide_env_values = true,
            required_unless_present = "database_url",
            conflicts_with = "database_url"
        )]
        sync_token: Option<String>,
        /// Stock seaf-server mode: libraries and heads from seaf-server's tables in this database
        /// (as written by generate --database-url); a token is valid only for its library, through
        /// a RepoUserToken row of the library's owner (else 403; commit/HEAD needs no ownership);
        /// 444 for a deleted library; no server-sync/repo-list (404).
        #[arg(long, env = "SEAF_PRIMARY_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
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
        /// Stock mode: take libraries and heads from seaf-server's tables in this database and move
        /// the Branch row there (and RepoInfo.update_time) after each commit's objects are
        /// written; db/branch/ is kept in step.
        #[arg(long, env = "SEAF_PRIMARY_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Change a stock-mode library in seaf-server's tables (and, for gc-history, its objects on
    /// disk) and print what was done as one JSON line.
    Mutate {
        #[command(subcommand)]
        action: MutateAction,
    },
}

/// The database every `mutate` action works on.
#[derive(clap::Args)]
struct DbArg {
    /// seaf-server's database (mysql://USER[:PASS]@HOST:PORT/DB).
    #[arg(long, env = "SEAF_PRIMARY_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Subcommand)]
enum MutateAction {
    /// Delete the library's RepoUserToken rows (its sync tokens stop working at once).
    RevokeTokens {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        library: RepoId,
    },
    /// Give the library to another user (RepoOwner.owner_id, or OrgRepo.user for an organisation
    /// library); the old owner's tokens then get 403.
    Transfer {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        library: RepoId,
        /// The new owner's email.
        #[arg(long)]
        to: String,
    },
    /// Delete the library as seaf-server does: its Repo, Branch, RepoHead, RepoOwner/OrgRepo,
    /// RepoInfo, VirtualRepo, RepoUserToken and RepoValidSince rows (and those of virtual
    /// libraries over it) go, a RepoTrash row keeps its head; objects stay on disk.
    Delete {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        library: RepoId,
    },
    /// Garbage-collect old history: remove the commits older than the newest N of the main line,
    /// and the fs objects and blocks only they reach, from DIR; set RepoValidSince.
    GcHistory {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        library: RepoId,
        /// Main-line commits to keep, the head included.
        #[arg(long)]
        keep: usize,
    },
    /// Delete the library's owner row (RepoOwner or OrgRepo): a library without an owner, on
    /// which every token gets 403 except on commit/HEAD.
    Disown {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        library: RepoId,
    },
    /// Add a sync token (RepoUserToken row) for a user and print it.
    AddToken {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        library: RepoId,
        #[arg(long)]
        email: String,
        /// The token (default: 40 random hex digits, like seaf-server's).
        #[arg(long)]
        token: Option<String>,
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
        Command::Generate { out, libraries, seed, scale, files, commits, block_size, large_size, database_url } => {
            let opts = GenerateOptions { out, libraries, seed, scale, files, commits, block_size, large_size };
            if let Some(url) = &database_url {
                runtime()?.block_on(seaf_primary_sim::seafile_db::prepare(url)).context("preparing the database")?;
            }
            let summary =
                seaf_primary_sim::generate(&opts).with_context(|| format!("generating {}", opts.out.display()))?;
            if let Some(url) = database_url {
                // After the objects and db/ files: the rows point at objects that exist.
                runtime()?
                    .block_on(seaf_primary_sim::seafile_db::write_generated(&url, &Layout::new(&opts.out), seed))
                    .context("writing seaf-server's tables")?;
            }
            println!("{summary}");
        }
        Command::Serve { data, listen, sync_token, database_url, fail_rate, latency_ms, truncate_rate, fault_seed } => {
            let faults =
                FaultConfig { fail_rate, latency: Duration::from_millis(latency_ms), truncate_rate, seed: fault_seed };
            let auth = match (database_url, sync_token) {
                (Some(url), None) => Auth::Database(url),
                (None, Some(token)) => Auth::SharedToken(token),
                _ => anyhow::bail!("give exactly one of --sync-token and --database-url"),
            };
            let opts = ServeOptions { data, listen, auth, faults };
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
        Command::Commit { data, library, count, rate, events_url, jwt_key, seed, block_size, database_url } => {
            let opts =
                CommitOptions { data, library, count, rate, events_url, jwt_key, seed, block_size, database_url };
            runtime()?.block_on(seaf_primary_sim::mutate::run(&opts, |rec| {
                println!("{}", serde_json::to_string(rec).expect("records serialize"));
                let _ = std::io::stdout().flush();
            }))?;
        }
        Command::Mutate { action } => {
            let (url, m) = match action {
                MutateAction::RevokeTokens { db, library } => (db, Mutation::RevokeTokens { library }),
                MutateAction::Transfer { db, library, to } => (db, Mutation::Transfer { library, to }),
                MutateAction::Delete { db, library } => (db, Mutation::Delete { library }),
                MutateAction::GcHistory { db, data, library, keep } => {
                    (db, Mutation::GcHistory { data, library, keep })
                }
                MutateAction::Disown { db, library } => (db, Mutation::Disown { library }),
                MutateAction::AddToken { db, library, email, token } => {
                    (db, Mutation::AddToken { library, email, token })
                }
            };
            let done = runtime()?.block_on(seaf_primary_sim::admin::run(&url.database_url, &m))?;
            println!("{}", serde_json::to_string(&done)?);
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}
