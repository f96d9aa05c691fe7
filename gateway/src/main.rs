//! `seaf-backup-gateway --config FILE [--listen ADDR]`: serves the gateway until SIGTERM or Ctrl-C.
//! Prints `listening on <addr>` on stdout once bound (the port, when given as 0, is in that line).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use seaf_backup_gateway::{Gateway, serve};
use seaf_backup_service::{Config, logging, shutdown};

#[derive(Parser)]
#[command(name = "seaf-backup-gateway", version, about = "Accepts the primary's change notifications for seaf-backup")]
struct Args {
    /// Configuration file (default: $SEAF_BACKUP_CONFIG, then built-in defaults and environment).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address, overriding gateway.listen.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at GET /metrics on this address, overriding gateway.metrics_listen.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (listener, gw, _telemetry) = match start(args).await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {}", seaf_backup_service::logging::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    match serve(listener, gw, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", seaf_backup_service::logging::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Everything that can fail before the first request: configuration, coordinator URL, bind.
async fn start(args: Args) -> anyhow::Result<(tokio::net::TcpListener, Gateway, logging::Telemetry)> {
    let config = Config::load(args.config.as_deref())?;
    let telemetry = logging::init_service("seaf-backup-gateway", "info", &config.tracing)?;
    let gw = Gateway::from_config(&config)?;
    let addr = args.listen.unwrap_or(config.gateway.listen);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%bound, coordinator = %config.gateway.coordinator_url, "gateway started");
    let mut lines = format!("listening on {bound}\n");
    if let Some(addr) = args.metrics_listen.or(config.gateway.metrics_listen) {
        // Stops with the process: the metrics of a gateway that is draining are still worth reading.
        let metrics = seaf_backup_service::metrics::serve(addr, tokio_util::sync::CancellationToken::new()).await?;
        seaf_backup_gateway::describe_metrics();
        lines.push_str(&format!("metrics listening on {metrics}\n"));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(lines.as_bytes()).and_then(|()| out.flush()).context("writing to stdout")?;
    Ok((listener, gw, telemetry))
}
