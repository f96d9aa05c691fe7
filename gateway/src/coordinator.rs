//! The gateway's two calls to the coordinator: `Notify`, and the gRPC health check behind
//! `/readyz`. The channel connects lazily, so the gateway starts (and answers `/healthz`) while the
//! coordinator is still down.

use std::time::Duration;

use anyhow::Context;
use seaf_backup_proto::internal::coordinator_service_client::CoordinatorServiceClient;
use seaf_backup_proto::internal::{Change, NotifyRequest};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tracing::Instrument;

use seaf_backup_service::Secret;
use seaf_backup_service::grpc_tls::{ClientTls, coordinator_endpoint};

use crate::error::HttpError;

/// Connecting to the coordinator; loopback or in-cluster, so a short bound.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Any one call. seaf-server gives up on an event after about a second, so this is already long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `/readyz` waits for the health check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// A lazily connecting channel to the coordinator at `url` (`http://host:port`, or `https://`
/// with `tls`).
pub fn connect_lazy(url: &str, tls: &ClientTls) -> anyhow::Result<Channel> {
    let endpoint = coordinator_endpoint(url, tls).context("[gateway] coordinator_url")?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).timeout(CALL_TIMEOUT).connect_lazy())
}

/// Sends `changes` to the coordinator; returns how many it accepted.
///
/// The call runs in its own task: a client that hangs up (seaf-server waits about a second) drops
/// the request future, and the change must reach the coordinator all the same.
pub async fn notify(channel: &Channel, token: &Secret, changes: Vec<Change>, source: &str) -> Result<u32, HttpError> {
    let mut client = CoordinatorServiceClient::new(channel.clone());
    // The root of the job's trace: the coordinator and then the fetcher join it.
    let span = tracing::info_span!("notify", source, changes = changes.len(), library = tracing::field::Empty);
    if let [one] = changes.as_slice() {
        span.record("library", one.repo_id.as_str());
    }
    let mut request =
        seaf_backup_proto::with_token(NotifyRequest { changes, source: source.to_owned() }, token.expose())
            .map_err(|e| HttpError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    seaf_backup_service::trace_context::inject(&span, &mut request);
    let call = tokio::spawn(async move { client.notify(request).await }.instrument(span));
    match call.await {
        Ok(Ok(resp)) => Ok(resp.into_inner().accepted),
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "coordinator Notify failed");
            Err(HttpError::from_coordinator(&status))
        }
        Err(e) => {
            Err(HttpError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("notify task failed: {e}")))
        }
    }
}

/// `Ok` when the coordinator's overall health (service `""`) is SERVING; otherwise why not.
pub async fn ready(channel: &Channel) -> Result<(), String> {
    let mut client = HealthClient::new(channel.clone());
    let check = client.check(HealthCheckRequest { service: String::new() });
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Err(_) => Err(format!("coordinator health check took longer than {READY_TIMEOUT:?}")),
        Ok(Err(status)) => Err(format!("coordinator health check failed: {}", status.message())),
        Ok(Ok(resp)) => match resp.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("coordinator is {}", other.as_str_name())),
        },
    }
}
