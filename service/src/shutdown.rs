//! The graceful-shutdown trigger. Kubernetes sends SIGTERM and waits `terminationGracePeriodSeconds`
//! (30 s by default) before SIGKILL; each service stops taking new work when this resolves and
//! finishes or hands back what it holds within its own bound.

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received, shutting down"),
    }
}
