//! The gateway: an HTTP service that takes change notifications from the primary and hands the
//! library ids to the coordinator over gRPC. It never touches storage, Redis or MySQL.
//!
//! Routes:
//! * `POST /events` — seaf-server's own notifications (`Authorization: Token <JWT>`), see [`events`];
//! * `POST /v1/notify` — `{"repo_ids": [...]}` with the shared `sync_token`, see [`notify`];
//! * `GET /healthz`, `GET /readyz`, `GET /ping` — probes, see [`health`].
//!
//! Every error is answered as `{"error": "<message>"}` ([`HttpError`]), and no failed request
//! sends anything to the coordinator.

pub mod auth;
pub mod body;
pub mod coordinator;
pub mod error;
pub mod events;
pub mod forward;
pub mod health;
pub mod notify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use seaf_backup_service::{Config, ConfigError, Secret};
use tonic::transport::Channel;
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use auth::JwtVerifier;
pub use error::HttpError;
pub use forward::Forwarder;

/// Bound on one request, body and coordinator call included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gateway needs from the configuration. No `Debug`: `forward_url` may carry a password.
#[derive(Clone)]
pub struct Settings {
    pub sync_token: Secret,
    /// Empty: `/events` answers 503.
    pub jwt_private_key: Secret,
    pub forward_url: Option<reqwest::Url>,
    pub max_body_bytes: usize,
}

impl Settings {
    /// The `[gateway]` section and `backup.sync_token`, which must be set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let g = &config.gateway;
        if g.max_body_bytes == 0 {
            return Err(ConfigError::Invalid("gateway.max_body_bytes must be positive".into()));
        }
        Ok(Settings {
            sync_token: config.require_sync_token()?.clone(),
            jwt_private_key: g.jwt_private_key.clone(),
            forward_url: g.forward_url.clone(),
            max_body_bytes: g.max_body_bytes,
        })
    }
}

/// The shared state of every route: cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    channel: Channel,
    sync_token: Secret,
    jwt: Option<JwtVerifier>,
    forwarder: Option<Forwarder>,
    max_body_bytes: usize,
}

impl Gateway {
    /// A gateway that notifies the coordinator over `channel` (see [`coordinator::connect_lazy`]).
    pub fn new(settings: Settings, channel: Channel) -> anyhow::Result<Gateway> {
        if settings.sync_token.is_empty() {
            bail!("the sync token must not be empty");
        }
        // It also authenticates the gateway to the coordinator, in gRPC metadata.
        seaf_backup_proto::with_token((), settings.sync_token.expose())?;
        let jwt = if settings.jwt_private_key.is_empty() {
            tracing::warn!("gateway.jwt_private_key is not set: POST /events will answer 503");
            None
        } else {
            Some(JwtVerifier::new(&settings.jwt_private_key))
        };
        let forwarder = settings.forward_url.map(Forwarder::new).transpose()?;
        Ok(Gateway {
            inner: Arc::new(Inner {
                channel,
                sync_token: settings.sync_token,
                jwt,
                forwarder,
                max_body_bytes: settings.max_body_bytes,
            }),
        })
    }

    /// From the whole configuration, with a lazy channel to `gateway.coordinator_url`. Needs a
    /// Tokio runtime (the channel's worker task starts here).
    pub fn from_config(config: &Config) -> anyhow::Result<Gateway> {
        let settings = Settings::from_config(config)?;
        let tls = seaf_backup_service::grpc_tls::ClientTls::from_config(&config.coordinator);
        let channel = coordinator::connect_lazy(&config.gateway.coordinator_url, &tls)?;
        Gateway::new(settings, channel)
    }

    pub fn channel(&self) -> &Channel {
        &self.inner.channel
    }

    pub fn sync_token(&self) -> &Secret {
        &self.inner.sync_token
    }

    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.inner.jwt.as_ref()
    }

    pub fn forwarder(&self) -> Option<&Forwarder> {
        self.inner.forwarder.as_ref()
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }
}

/// All routes, with the body limit, the request timeout and request tracing.
pub fn router(gw: Gateway) -> Router {
    let limit = gw.max_body_bytes();
    Router::new()
        .route("/events", post(events::handle))
        // The real notification server accepts the trailing slash too.
        .route("/events/", post(events::handle))
        .route("/v1/notify", post(notify::handle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/ping", get(health::ping))
        .fallback(|| async { HttpError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async { HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(count_notifications))
        .layer(
            ServiceBuilder::new()
                // 5xx answers are logged where they arise (warn); an ERROR line per failed
                // /readyz probe while the coordinator restarts would only be noise.
                .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
                .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        HttpError::new(
                            StatusCode::GATEWAY_TIMEOUT,
                            format!("request took longer than {REQUEST_TIMEOUT:?}"),
                        )
                    } else {
                        HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("request failed: {e}"))
                    }
                }))
                .timeout(REQUEST_TIMEOUT),
        )
        .with_state(gw)
}

/// Notifications received (`/events`, `/v1/notify`), by endpoint and outcome: accepted, or the
/// reason of the refusal (unauthorized, invalid, too_large, unsupported_media_type, unavailable,
/// coordinator_error, timeout, other).
pub const NOTIFICATIONS: &str = "seaf_backup_gateway_notifications_total";

/// Registers the help text of the gateway's metrics.
pub fn describe_metrics() {
    metrics::describe_counter!(
        NOTIFICATIONS,
        "Notifications received, by endpoint and outcome (accepted or the reason of the refusal)."
    );
    metrics::describe_counter!(forward::FORWARDS, "Events passed on to forward_url, by outcome.");
}

/// Counts every notification by the status it was answered with.
async fn count_notifications(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let endpoint = match req.uri().path() {
        "/events" | "/events/" => "events",
        "/v1/notify" => "notify",
        _ => return next.run(req).await,
    };
    let resp = next.run(req).await;
    let outcome = match resp.status() {
        s if s.is_success() => "accepted",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "unauthorized",
        StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => "invalid",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::BAD_GATEWAY => "coordinator_error",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        _ => "other",
    };
    metrics::counter!(NOTIFICATIONS, "endpoint" => endpoint, "outcome" => outcome).increment(1);
    resp
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(gw)).with_graceful_shutdown(shutdown).await.context("serving HTTP")
}
