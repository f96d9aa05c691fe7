//! Background upkeep, every `reap_interval`:
//! * rebuild the queue from MySQL when Redis lost it (its marker key is gone);
//! * put libraries whose lease expired (their fetcher died) back in the queue;
//! * refresh the backup database's replication status (for `status`), and stop serving should a
//!   replica start replicating the backup's own tables;
//! * every [`crate::gauges::REFRESH_TICKS`] ticks, refresh the metrics' gauges;
//! * report health: SERVING only while MySQL and Redis both answer (and replication, on a
//!   replica, leaves the backup's tables alone). The service [`REPLICATION_SERVICE`] is SERVING
//!   while a replica's IO and SQL threads both run, NOT_SERVING when one stopped.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;

use crate::coordinator::Coordinator;
use crate::db::now_ms;
use crate::replication::Replication;

/// The services whose health follows MySQL and Redis. The server as a whole (service name `""`)
/// stays SERVING while the process runs: a liveness probe must not restart the coordinator
/// because the database is down.
pub const SERVICES: [&str; 2] = ["seafbackup.admin.v1.AdminService", "seafbackup.internal.v1.CoordinatorService"];

/// The health service name that follows the replication threads of a replica (not registered
/// when the backup's database is not a replica).
pub const REPLICATION_SERVICE: &str = "seafbackup.Replication";

pub async fn run(c: Arc<Coordinator>, health: HealthReporter, shutdown: CancellationToken) {
    let mut serving = None;
    let mut replicating = None;
    let mut ticks = 0u32;
    loop {
        let r = c.db.replication().await;
        crate::gauges::replication(&r);
        if let Replication::Replica(channels) = &r {
            let healthy = channels.iter().all(|ch| ch.healthy());
            if replicating != Some(healthy) {
                if !healthy {
                    for ch in channels {
                        tracing::warn!("replication of the backup's database: {}", ch.describe());
                    }
                }
                let status = if healthy {
                    tonic_health::ServingStatus::Serving
                } else {
                    tonic_health::ServingStatus::NotServing
                };
                health.set_service_status(REPLICATION_SERVICE, status).await;
                replicating = Some(healthy);
            }
        }
        *c.replication.lock().expect("replication lock") = r;
        let ok = match tick(&c).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("upkeep: {}", seaf_backup_service::logging::error_chain(&e));
                false
            }
        };
        if ok
            && ticks.is_multiple_of(crate::gauges::REFRESH_TICKS)
            && let Err(e) = crate::gauges::refresh(&c).await
        {
            tracing::warn!("refreshing the metrics: {}", seaf_backup_service::logging::error_chain(&e));
        }
        ticks = ticks.wrapping_add(1);
        if serving != Some(ok) {
            let status =
                if ok { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
            for s in SERVICES {
                health.set_service_status(s, status).await;
            }
            serving = Some(ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(c.cfg.reap_interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn tick(c: &Coordinator) -> anyhow::Result<()> {
    let mysql = c.db.ping().await;
    metrics::gauge!(crate::gauges::MYSQL_UP).set(mysql.is_ok() as u8 as f64);
    let redis = c.queue.ping().await;
    metrics::gauge!(crate::gauges::REDIS_UP).set(redis.is_ok() as u8 as f64);
    mysql?;
    redis?;
    if let Some(refusal) = c.replication_refusal() {
        anyhow::bail!(refusal);
    }
    if !c.queue.is_alive().await? {
        rebuild(c).await?;
    }
    for id in c.queue.reap(now_ms()).await? {
        metrics::counter!(crate::coordinator::LEASES_EXPIRED).increment(1);
        tracing::warn!(repo = id, "lease expired (fetcher gone?); library queued again");
    }
    Ok(())
}

/// Refills the queue from MySQL: every library that needs a job gets one. Leases that Redis lost
/// are taken back by their fetchers' next heartbeat.
pub async fn rebuild(c: &Coordinator) -> anyhow::Result<usize> {
    let work = c.db.needing_work().await?;
    for repo in &work {
        c.schedule(repo, now_ms()).await?;
    }
    // Only once the queue is full again: a rebuild cut short by an error is retried next tick.
    c.queue.set_alive().await?;
    tracing::warn!(queued = work.len(), "job queue rebuilt from MySQL (Redis was empty)");
    Ok(work.len())
}
