//! `seaf-backup-fetcher`: the fetcher's command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use seaf_backup_fetcher::{FetchOptions, check, once, worker};
use seaf_objects::RepoId;
use seaf_store::{Durability, FsStore};
use seaf_sync_client::{ClientConfig, RetryPolicy, SyncClient, SyncError};

#[derive(Parser)]
#[command(
    name = "seaf-backup-fetcher",
    version,
    about = "Fetches Seafile libraries, with full history, into a seafile-data tree",
    after_help = "Exit status: 0 when every selected library is backed up (or complete), 1 when one or more \
                  failed (each is named with its reason), 2 on a usage or setup error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as a cluster worker: lease library jobs from the coordinator, fetch them into the shared
    /// store, report back; SIGTERM stops leasing and finishes or hands back the jobs in hand.
    Run(RunArgs),
    /// Back up libraries of a primary once and exit (0 only when every selected library is backed up).
    Once(Box<OnceArgs>),
    /// Check that backed-up libraries are complete: every commit, fs object and block of their
    /// history present and hash-valid (exit 0 only when all are).
    Verify(VerifyArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Configuration file (TOML; see seaf-backup.example.toml). Default: $SEAF_BACKUP_CONFIG, else
    /// defaults and SEAF_BACKUP__SECTION__KEY environment variables only.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Name of this fetcher in leases and logs, overriding [fetcher] id.
    #[arg(long)]
    id: Option<String>,
    /// Libraries fetched at once, overriding [fetcher] concurrency.
    #[arg(long)]
    concurrency: Option<usize>,
    /// The coordinator's gRPC URL, overriding [fetcher] coordinator_url.
    #[arg(long)]
    coordinator: Option<String>,
    /// The seafile-data directory, overriding [store] path.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Serve Prometheus metrics at GET /metrics on this address, overriding [fetcher] metrics_listen.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Args)]
struct OnceArgs {
    /// Sync API base URL of the primary, with or without /seafhttp (http or https).
    #[arg(long, env = "SEAF_BACKUP_PRIMARY_URL")]
    primary: url::Url,
    /// Token sent as Seafile-Repo-Token: the shared sync_token, or a library token with --library.
    #[arg(
        long,
        env = "SEAF_BACKUP_SYNC_TOKEN",
        hide_env_values = true,
        required_unless_present = "primary_database_url"
    )]
    sync_token: Option<String>,
    /// A stock Seafile primary's database (mysql://USER:PASSWORD@HOST:PORT/seafile_db): list the
    /// libraries there and mint one sync token per library in RepoUserToken (removed when the
    /// library is done). Excludes --sync-token.
    #[arg(long, env = "SEAF_BACKUP_PRIMARY_DATABASE_URL", hide_env_values = true, conflicts_with = "sync_token")]
    primary_database_url: Option<String>,
    /// The seafile-data directory to back up into (created if absent).
    #[arg(long)]
    store: PathBuf,
    /// Back up only this library (repeatable). With --sync-token only sync-protocol endpoints are
    /// used (no repo list), so the token may be one library's own.
    #[arg(long = "library")]
    libraries: Vec<RepoId>,
    /// With --library and --sync-token: the store id (origin library) of a virtual library.
    #[arg(long, requires = "libraries", conflicts_with = "primary_database_url")]
    store_id: Option<RepoId>,
    /// Skip objects the primary lacks or serves corrupt, and list them, instead of failing.
    #[arg(long)]
    force: bool,
    /// Libraries fetched at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    #[command(flatten)]
    tuning: Tuning,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct Tuning {
    /// Blocks downloaded at once per library.
    #[arg(long, default_value_t = 8)]
    block_workers: usize,
    /// pack-fs requests in flight per library.
    #[arg(long, default_value_t = 4)]
    fs_workers: usize,
    /// Do not check block SHA-1s (only for primaries with skip_block_hash).
    #[arg(long)]
    no_block_hash_check: bool,
    /// How writes are made durable: syncfs (local filesystems) or fsync (network filesystems).
    #[arg(long, default_value = "syncfs")]
    durability: Durability,
    /// Retries of a failed request before giving up on it.
    #[arg(long, default_value_t = 5)]
    retries: usize,
    /// First retry delay in milliseconds (doubles up to 10 s, with jitter).
    #[arg(long, default_value_t = 200)]
    retry_delay_ms: u64,
    /// Extra PEM root certificate to trust for an https primary.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate from the primary (testing only).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The seafile-data directory.
    #[arg(long)]
    store: PathBuf,
    /// Only this library (repeatable); default: every backed-up library.
    #[arg(long = "library")]
    libraries: Vec<RepoId>,
    /// Check this head instead of the recorded one (with exactly one --library), e.g. the head
    /// the coordinator published in MySQL's Branch table.
    #[arg(long)]
    head: Option<seaf_objects::ObjectId>,
    /// With --head: the library's store id (the origin of a virtual library).
    #[arg(long, requires = "head")]
    store_id: Option<RepoId>,
    /// Do not hash blocks, only check they exist.
    #[arg(long)]
    no_block_hash_check: bool,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The worker is a service and logs its jobs (set up with its configuration); the one-shot
    // commands print their own report.
    if !matches!(cli.command, Command::Run(_)) {
        seaf_backup_service::logging::init("warn");
    }
    let result = match cli.command {
        Command::Run(a) => run_worker(a).await.map(|()| true),
        Command::Once(a) => run_once(*a).await,
        Command::Verify(a) => run_verify(a).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {}", seaf_backup_service::logging::error_chain(&e));
            ExitCode::from(2)
        }
    }
}

async fn run_worker(a: RunArgs) -> anyhow::Result<()> {
    let mut config = seaf_backup_service::Config::load(a.config.as_deref())?;
    // Until the end of the worker: dropping it at shutdown sends the last spans.
    let _telemetry = seaf_backup_service::logging::init_service("seaf-backup-fetcher", "info", &config.tracing)?;
    let f = &mut config.fetcher;
    if let Some(id) = a.id {
        f.id = Some(id);
    }
    if let Some(c) = a.concurrency {
        f.concurrency = c;
    }
    if let Some(c) = a.coordinator {
        f.coordinator_url = c;
    }
    if let Some(s) = a.store {
        config.store.path = s;
    }
    let f = &config.fetcher;
    let fetcher_id = f.id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let client = SyncClient::new(ClientConfig {
        retry: RetryPolicy { max_retries: f.retries, min_delay: f.retry_delay, ..RetryPolicy::default() },
        extra_root_ca: config.backup.ca_cert.clone(),
        danger_accept_invalid_certs: config.backup.insecure_tls,
        ..ClientConfig::new(config.require_primary()?.clone())
    })
    .context("setting up the HTTP client")?;
    tokio::spawn(client.clone().log_protocol_check());
    let durability: Durability = config.store.durability.parse().map_err(anyhow::Error::msg)?;
    let store = FsStore::open(&config.store.path, durability)
        .with_context(|| format!("opening the store {}", config.store.path.display()))?;
    let states = seaf_store::state::StateDir::new(store.root());
    let tls = seaf_backup_service::grpc_tls::ClientTls::from_config(&config.coordinator);
    let channel = seaf_backup_service::grpc_tls::coordinator_endpoint(&f.coordinator_url, &tls)
        .context("[fetcher] coordinator_url")?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .connect_lazy();
    let worker = worker::Worker {
        client,
        store: std::sync::Arc::new(store),
        states,
        coordinator: seaf_backup_proto::internal::coordinator_service_client::CoordinatorServiceClient::new(channel),
        opts: worker::WorkerOptions {
            fetcher_id: fetcher_id.clone(),
            concurrency: f.concurrency,
            sync_token: {
                let t = config.require_sync_token()?.expose().to_owned();
                seaf_backup_proto::with_token((), &t)?;
                t
            },
            fetch: FetchOptions {
                verify_block_hashes: config.backup.verify_block_hashes,
                block_workers: f.block_workers,
                fs_workers: f.fs_workers,
                ..FetchOptions::default()
            },
            shutdown_grace: f.shutdown_grace,
        },
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        seaf_backup_service::shutdown::signal().await;
        trigger.cancel();
    });
    if let Some(addr) = a.metrics_listen.or(f.metrics_listen) {
        // Outlives the worker's shutdown: the last counters stay readable until the process ends.
        let bound = seaf_backup_service::metrics::serve(addr, tokio_util::sync::CancellationToken::new()).await?;
        worker::describe_metrics();
        println!("metrics listening on {bound}");
    }
    // Tests and scripts wait for this line.
    println!("fetcher {fetcher_id} running against {}", f.coordinator_url);
    use std::io::Write;
    std::io::stdout().flush()?;
    worker.run(shutdown).await;
    tracing::info!("fetcher stopped");
    Ok(())
}

async fn run_once(a: OnceArgs) -> anyhow::Result<bool> {
    let t = &a.tuning;
    let client = SyncClient::new(ClientConfig {
        retry: RetryPolicy {
            max_retries: t.retries,
            min_delay: Duration::from_millis(t.retry_delay_ms),
            ..RetryPolicy::default()
        },
        extra_root_ca: t.ca_cert.clone(),
        danger_accept_invalid_certs: t.insecure,
        ..ClientConfig::new(a.primary.clone())
    })
    .context("setting up the HTTP client")?;
    // A base URL without a sync API (or too old a protocol) is a setup error, whatever the
    // libraries; anything else (the primary busy or down) shows in each library's outcome.
    match client.protocol_version().await {
        Err(e @ (SyncError::WrongBaseUrl { .. } | SyncError::Protocol(_))) => {
            return Err(anyhow::Error::new(e).context("checking the primary"));
        }
        Err(e) => tracing::warn!("checking the primary: {e}"),
        Ok(_) => {}
    }
    let store =
        FsStore::open(&a.store, t.durability).with_context(|| format!("opening the store {}", a.store.display()))?;
    let access = match (a.primary_database_url, a.sync_token) {
        (Some(url), _) => once::Access::Database(
            seaf_primary_db::PrimaryDb::connect(&seaf_backup_service::Secret::new(url))
                .await
                .context("connecting to the primary's database")?,
        ),
        (None, Some(token)) => once::Access::Token(seaf_backup_service::Secret::new(token)),
        (None, None) => anyhow::bail!("give --sync-token or --primary-database-url"),
    };
    let opts = once::OnceOptions {
        access,
        libraries: a.libraries,
        store_id: a.store_id,
        concurrency: a.concurrency,
        fetch: FetchOptions {
            force: a.force,
            verify_block_hashes: !t.no_block_hash_check,
            block_workers: t.block_workers,
            fs_workers: t.fs_workers,
            ..FetchOptions::default()
        },
        show_progress: !a.json,
    };
    let states = seaf_store::state::StateDir::new(store.root());
    let targets = once::discover(&client, &opts, &states).await?;
    let report = once::run(&client, store, targets, &opts, a.json).await;
    if opts.show_progress && std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", once::summary_line(&report));
    }
    Ok(report.all_ok())
}

async fn run_verify(a: VerifyArgs) -> anyhow::Result<bool> {
    if !a.store.join("storage").is_dir() {
        anyhow::bail!("{} is not a seafile-data directory (no storage/ inside)", a.store.display());
    }
    let store = FsStore::open(&a.store, Durability::Syncfs)?;
    let given = a.head.map(|head| check::GivenHead { head, store_id: a.store_id });
    let checks = check::check(&store, &a.libraries, !a.no_block_hash_check, given).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            println!("{}", check::check_line(c));
        }
        let bad = checks.iter().filter(|c| !c.ok).count();
        println!("{} libraries checked: {} complete, {bad} damaged or missing", checks.len(), checks.len() - bad);
    }
    Ok(checks.iter().all(|c| c.ok))
}
