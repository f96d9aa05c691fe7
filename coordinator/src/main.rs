//! `seaf-backup-coordinator`: the coordinator service.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "seaf-backup-coordinator",
    version,
    about = "The seaf-backup coordinator: polls the primary, queues library jobs in Redis, publishes branch heads in MySQL, serves the admin gRPC API"
)]
struct Cli {
    /// Configuration file (TOML; see seaf-backup.example.toml). Default: $SEAF_BACKUP_CONFIG, else
    /// defaults and SEAF_BACKUP__SECTION__KEY environment variables only.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overriding [coordinator] listen (port 0: any free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at GET /metrics on this address, overriding [coordinator]
    /// metrics_listen.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", seaf_backup_service::logging::error_chain(&e));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = seaf_backup_service::Config::load(cli.config.as_deref())?;
    // Until the end of run(): dropping it at shutdown sends the last spans.
    let _telemetry = seaf_backup_service::logging::init_service("seaf-backup-coordinator", "info", &config.tracing)?;
    if let Some(l) = cli.listen {
        config.coordinator.listen = l;
    }
    if let Some(m) = cli.metrics_listen {
        config.coordinator.metrics_listen = Some(m);
    }
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(config.coordinator.listen).await?;
    // Tests and scripts read the bound addresses (with port 0) from these lines.
    println!("listening on {}", listener.local_addr()?);
    if let Some(addr) = config.coordinator.metrics_listen {
        let bound = seaf_backup_service::metrics::serve(addr, shutdown.clone()).await?;
        seaf_backup_coordinator::gauges::describe(config.backup.sync_poll_interval);
        println!("metrics listening on {bound}");
    }
    std::io::stdout().flush()?;
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        seaf_backup_service::shutdown::signal().await;
        trigger.cancel();
    });
    seaf_backup_coordinator::server::run(config, listener, shutdown).await
}
