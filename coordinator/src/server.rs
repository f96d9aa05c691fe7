//! Assembles the coordinator: connects MySQL and Redis, starts the poller and the upkeep task,
//! and serves the gRPC APIs with health and reflection (v1 and v1alpha, which grpcurl 1.8 uses).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use seaf_backup_proto::admin::admin_service_server::AdminServiceServer;
use seaf_backup_proto::internal::coordinator_service_server::CoordinatorServiceServer;
use seaf_backup_proto::require_token;
use seaf_backup_service::Config;
use seaf_sync_client::{ClientConfig, SyncClient};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::coordinator::Coordinator;
use crate::db::Db;
use crate::internal::Internal;
use crate::poller::{Poller, Source};
use crate::queue::Queue;
use crate::replication::{self, Replication};
use crate::tokens::Tokens;
use crate::upkeep;
use seaf_primary_db::PrimaryDb;

/// Retries `connect` for up to a minute (in a cluster the database may start after us), or until
/// shutdown.
async fn with_retries<T, F, Fut>(what: &str, shutdown: &CancellationToken, connect: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    use backon::Retryable;
    let backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_total_delay(Some(Duration::from_secs(60)))
        .without_max_times();
    let attempts = connect.retry(backoff).notify(|e: &anyhow::Error, delay| {
        tracing::warn!("{what}: {}; retrying in {delay:?}", seaf_backup_service::logging::error_chain(e));
    });
    tokio::select! {
        r = attempts => r.map_err(|e| e.context(format!("{what}: gave up after a minute"))),
        _ = shutdown.cancelled() => anyhow::bail!("{what}: stopped by shutdown"),
    }
}

/// Refuses to run on a replica that replicates `Repo`, `Branch` or `RepoHead` (design invariant 6):
/// the primary's rows would overwrite the heads the backup publishes.
async fn guard_replication(db: &Db) -> anyhow::Result<()> {
    match db.replication().await {
        Replication::None => {}
        Replication::Replica(channels) => {
            if let Some(refusal) = replication::refusal(db.database(), &channels) {
                anyhow::bail!(refusal);
            }
            for ch in &channels {
                tracing::info!(
                    "the backup's database is a {} (Repo, Branch and RepoHead not replicated)",
                    ch.describe()
                );
            }
        }
        Replication::Unknown(e) => tracing::warn!(
            "cannot read the replication status of the backup's database ({e}); grant the coordinator's MySQL user \
             REPLICATION CLIENT (MySQL) or SLAVE MONITOR (MariaDB) so that it can check that Repo, Branch and \
             RepoHead are not replicated into it"
        ),
    }
    Ok(())
}

/// Runs the coordinator on `listener` until `shutdown` is cancelled.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Certificates are read first: a wrong path fails the start at once, not after MySQL.
    let server_tls = seaf_backup_service::grpc_tls::server_tls(&config.coordinator)?;
    let primary = config.require_primary()?.clone();
    let internal_token = config.require_sync_token()?.clone();
    let token = internal_token.expose().to_owned();
    let db_url = config.require_database()?.expose().to_owned();
    let db = with_retries("connecting to MySQL", &shutdown, || async {
        Db::connect(&db_url, config.database.max_connections).await.map_err(anyhow::Error::from)
    })
    .await?;
    guard_replication(&db).await?;
    let redis_url = config.redis.url.expose().to_owned();
    let queue = with_retries("connecting to Redis", &shutdown, || async {
        Queue::connect(&redis_url, &config.redis.key_prefix).await.map_err(anyhow::Error::from)
    })
    .await?;
    let client = SyncClient::new(ClientConfig {
        extra_root_ca: config.backup.ca_cert.clone(),
        danger_accept_invalid_certs: config.backup.insecure_tls,
        request_timeout: Duration::from_secs(120),
        ..ClientConfig::new(primary)
    })
    .context("setting up the client of the primary")?;
    tokio::spawn(client.clone().log_protocol_check());

    // A stock primary is listed from its database, and each library gets its own sync token.
    let mut c = Coordinator::new(db, queue, config.coordinator.clone());
    let source = match config.primary.database_url() {
        Some(url) => {
            let primary = with_retries("connecting to the primary's database", &shutdown, || async {
                PrimaryDb::connect(url).await.map_err(anyhow::Error::from)
            })
            .await?;
            c = c.with_tokens(Tokens { primary: primary.clone() });
            Source::Database(primary)
        }
        None => Source::RepoList { client, sync_token: token },
    };
    let c = Arc::new(c);
    upkeep::rebuild(&c).await.context("filling the job queue from MySQL")?;

    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(seaf_backup_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(seaf_backup_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let poller = Poller { c: c.clone(), source, interval: config.backup.sync_poll_interval };
    let tasks =
        [tokio::spawn(poller.run(shutdown.clone())), tokio::spawn(upkeep::run(c.clone(), health, shutdown.clone()))];

    let admin = Admin { c: c.clone(), shutdown: shutdown.clone() };
    let admin_token = Some(config.coordinator.admin_token.clone()).filter(|t| !t.is_empty());
    if admin_token.is_none() {
        tracing::warn!(
            "the admin API is open to anyone who can reach {}: set [coordinator] admin_token",
            listener.local_addr()?
        );
    }
    let tls = match (&server_tls, &config.coordinator.tls_client_ca) {
        (None, _) => "off",
        (Some(_), None) => "on",
        (Some(_), Some(_)) => "mutual",
    };
    tracing::info!(addr = %listener.local_addr()?, tls, poll_interval = ?config.backup.sync_poll_interval, "coordinator serving");
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = server_tls {
        server = server.tls_config(tls).context("[coordinator] TLS")?;
    }
    server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(AdminServiceServer::with_interceptor(admin, move |req: tonic::Request<()>| {
            // Health and reflection stay open (probes, grpcurl list); the admin API needs the
            // admin token once one is configured.
            match &admin_token {
                Some(t) => require_token(req, "admin_token", |c| t.matches(c)),
                None => Ok(req),
            }
        }))
        .add_service(CoordinatorServiceServer::with_interceptor(Internal { c }, move |req: tonic::Request<()>| {
            // The gateway and the fetchers prove themselves with the shared sync token: a forged
            // Report could otherwise publish a head whose closure is not in the store.
            require_token(req, "sync_token", |c| internal_token.matches(c))
        }))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
