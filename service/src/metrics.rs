//! Prometheus metrics: every service records through the `metrics` facade (`metrics::counter!` …)
//! and, when `metrics_listen` is set, serves them as Prometheus text at `GET /metrics`.
//!
//! Unset, no recorder is installed and recording costs next to nothing.

use std::net::SocketAddr;

use anyhow::Context;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Installs the process-wide Prometheus recorder and serves `/metrics` on `addr` until `shutdown`.
/// Returns the bound address (port 0 picks a free one). Call once per process.
pub async fn serve(addr: SocketAddr, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let handle = install()?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the metrics listener {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route("/metrics", get(move || render(handle.clone())));
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!("metrics listener: {e}");
        }
    });
    Ok(bound)
}

/// Buckets of every `*_seconds` histogram: from a fast request (5 ms) to a long initial backup.
const SECONDS_BUCKETS: [f64; 16] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0];

fn install() -> anyhow::Result<PrometheusHandle> {
    // Histograms, not the exporter's default summaries: buckets aggregate across replicas.
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .context("histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
    // The exporter buffers histogram samples until its upkeep folds them in; run it periodically,
    // as the crate asks, so the buffers stay bounded between scrapes.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

async fn render(handle: PrometheusHandle) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
