//! The coordinator's gauges, refreshed by the upkeep task every [`REFRESH_TICKS`] of
//! `reap_interval` (10 s by default): libraries by state,
//! the backup lag, the queue, the stores it depends on and the replication of its database.
//!
//! The lag of a library is the time since the primary's head moved without the backup following
//! (`behind_since`, set by the poll or a notification, cleared when the head is published). It is
//! exported as its maximum and as counts of libraries at or below each bound — never one series
//! per library, so 100,000 libraries cost a dozen series.

use seaf_backup_proto::admin::LibraryState;

use crate::coordinator::{Coordinator, QueueView};
use crate::db::now_ms;
use crate::replication::Replication;

/// The library gauges are recomputed every this many upkeep ticks (each reads every library row).
pub const REFRESH_TICKS: u32 = 5;

/// Libraries by state: synchronized, waiting, syncing, failed, deleted.
pub const LIBRARIES: &str = "seaf_backup_libraries";
/// The largest lag of any library not deleted (0 when every one is up to date).
pub const LAG_MAX: &str = "seaf_backup_backup_lag_seconds_max";
/// Libraries lagging by more than `over` seconds (`over="0"`: every library that lags at all).
pub const LAGGING: &str = "seaf_backup_libraries_lagging";
/// Libraries queued and not leased (due now or later, follow-ups included).
pub const QUEUE_DEPTH: &str = "seaf_backup_queue_depth";
/// Libraries queued and due now: work a fetcher could take at once.
pub const QUEUE_DUE: &str = "seaf_backup_queue_due";
/// Libraries due or being fetched: the fetch slots the work needs now (what autoscaling follows).
pub const FETCHER_DEMAND: &str = "seaf_backup_fetcher_demand";
/// Leases held by fetchers.
pub const LEASES_HELD: &str = "seaf_backup_leases_held";
/// 1 while MySQL answers, else 0; the same for Redis.
pub const MYSQL_UP: &str = "seaf_backup_mysql_up";
pub const REDIS_UP: &str = "seaf_backup_redis_up";
/// When the backup's database is a replica: 1 while the thread (io, sql) runs, else 0.
pub const REPLICATION_RUNNING: &str = "seaf_backup_replication_thread_running";
/// When the backup's database is a replica: its seconds behind the source (absent when unknown).
pub const REPLICATION_BEHIND: &str = "seaf_backup_replication_seconds_behind";
/// `sync_poll_interval` in seconds, so an alert can say "no successful poll for twice the interval".
pub const POLL_INTERVAL: &str = "seaf_backup_poll_interval_seconds";
/// When this coordinator started (Unix time): an alert's reference before the first poll succeeds.
pub const START_TIME: &str = "seaf_backup_coordinator_start_time_seconds";

const LAG_BOUNDS: [&str; 8] = ["0", "60", "300", "900", "3600", "14400", "86400", "604800"];

/// Recomputes the library, lag and queue gauges.
pub async fn refresh(c: &Coordinator) -> anyhow::Result<()> {
    let libs = c.db.libraries().await?;
    let view = QueueView::load(c).await?;
    let now = now_ms();
    let mut counts = [0u64; 5];
    let mut lags = Vec::new();
    for lib in &libs {
        let slot = match view.state(lib) {
            LibraryState::Synchronized => 0,
            LibraryState::Waiting => 1,
            LibraryState::Syncing => 2,
            LibraryState::Failed => 3,
            LibraryState::Deleted | LibraryState::Unspecified => 4,
        };
        counts[slot] += 1;
        if let (false, Some(since)) = (lib.deleted, lib.behind_since) {
            lags.push((now - since).max(0) as f64 / 1000.0);
        }
    }
    for (state, n) in ["synchronized", "waiting", "syncing", "failed", "deleted"].iter().zip(counts) {
        metrics::gauge!(LIBRARIES, "state" => *state).set(n as f64);
    }
    metrics::gauge!(LAG_MAX).set(lags.iter().copied().fold(0.0, f64::max));
    for over in LAG_BOUNDS {
        let bound: f64 = over.parse().expect("a number");
        // `over="0"` counts a library whose lag began this very millisecond too.
        let n = lags.iter().filter(|l| **l > bound || bound == 0.0).count();
        metrics::gauge!(LAGGING, "over" => over).set(n as f64);
    }
    metrics::gauge!(QUEUE_DEPTH).set(view.waiting.len() as f64);
    metrics::gauge!(LEASES_HELD).set(view.leased.len() as f64);
    let due = c.queue.due(now).await?;
    metrics::gauge!(QUEUE_DUE).set(due as f64);
    metrics::gauge!(FETCHER_DEMAND).set((due as usize + view.leased.len()) as f64);
    Ok(())
}

/// The replication gauges, from the status the upkeep task just read.
pub fn replication(r: &Replication) {
    let Replication::Replica(channels) = r else { return };
    let running = |f: fn(&crate::replication::Channel) -> &str| channels.iter().all(|ch| f(ch) == "Yes");
    metrics::gauge!(REPLICATION_RUNNING, "thread" => "io").set(running(|ch| &ch.io_running) as u8 as f64);
    metrics::gauge!(REPLICATION_RUNNING, "thread" => "sql").set(running(|ch| &ch.sql_running) as u8 as f64);
    if let Some(behind) = channels.iter().filter_map(|ch| ch.seconds_behind).max() {
        metrics::gauge!(REPLICATION_BEHIND).set(behind as f64);
    }
}

/// Registers the help text and unit of every coordinator metric (shown by `/metrics`), sets the
/// constant gauges, and starts the counters the alerts read at 0: a counter that has never moved
/// must still be a series, or `increase()` over it is empty rather than 0.
pub fn describe(sync_poll_interval: std::time::Duration) {
    use crate::coordinator::{LEASES, LEASES_EXPIRED, PUBLISH_SECONDS, REPORTS};
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(LIBRARIES, "Libraries by state: synchronized, waiting, syncing, failed, deleted.");
    describe_gauge!(
        LAG_MAX,
        Unit::Seconds,
        "The largest backup lag of a library: time since its head moved on the primary without the backup following."
    );
    describe_gauge!(LAGGING, "Libraries whose backup lags by more than `over` seconds.");
    describe_gauge!(QUEUE_DEPTH, "Libraries queued and not leased.");
    describe_gauge!(LEASES_HELD, "Leases held by fetchers.");
    describe_gauge!(QUEUE_DUE, "Libraries queued, not leased, and due now (not waiting for a retry).");
    describe_gauge!(FETCHER_DEMAND, "Libraries due or being fetched: the fetch slots the work needs now.");
    describe_gauge!(POLL_INTERVAL, Unit::Seconds, "The configured sync_poll_interval.");
    describe_gauge!(START_TIME, Unit::Seconds, "When this coordinator started (Unix time).");
    metrics::gauge!(POLL_INTERVAL).set(sync_poll_interval.as_secs_f64());
    metrics::gauge!(START_TIME).set(now_ms() as f64 / 1000.0);
    metrics::counter!(LEASES).absolute(0);
    metrics::counter!(LEASES_EXPIRED).absolute(0);
    describe_gauge!(MYSQL_UP, "1 while the backup's MySQL answers.");
    describe_gauge!(REDIS_UP, "1 while Redis answers.");
    describe_gauge!(REPLICATION_RUNNING, "On a replica: 1 while the replication thread runs.");
    describe_gauge!(REPLICATION_BEHIND, Unit::Seconds, "On a replica: how far it is behind its source.");
    describe_histogram!(PUBLISH_SECONDS, Unit::Seconds, "Notification to head published.");
    describe_counter!(LEASES, "Jobs handed to fetchers.");
    describe_counter!(LEASES_EXPIRED, "Leases that expired without a report; the library was queued again.");
    describe_counter!(REPORTS, "Job reports by outcome.");
    describe_histogram!(crate::poller::POLL_SECONDS, Unit::Seconds, "Time of each successful poll of the primary.");
    describe_gauge!(crate::poller::POLL_LIBRARIES, "Libraries the last successful poll listed.");
    describe_gauge!(crate::poller::POLL_LAST_SUCCESS, Unit::Seconds, "When the last poll succeeded (Unix time).");
    describe_counter!(crate::tokens::TOKENS_MINTED, "Sync tokens minted on a stock primary.");
    describe_counter!(crate::tokens::TOKENS_REFUSED, "Sync tokens the primary refused; each was replaced.");
    describe_counter!(
        crate::db::TRANSACTION_RETRIES,
        "MySQL transactions run again after a deadlock or lock wait timeout."
    );
    seaf_sync_client::describe_metrics();
}
