//! Failover: prepares the backup's database for a stock Seafile server to run on it, as the restore
//! step of Seafile's backup procedure does by hand.
//!
//! Replication into the backup's database must be stopped first (the primary is gone, or it would
//! keep writing). Then the sync tokens (`RepoUserToken`) of every library the backup does not hold
//! at the primary's last known head are deleted, so desktop clients must re-sync those libraries
//! instead of trusting a state the server no longer has; and the tokens the backup minted on a
//! stock primary are deleted, since nothing should sync with them any more. Nothing else changes.
//! A dry run (the default) computes the same and changes nothing.

use seaf_backup_proto::ApiError;

use crate::coordinator::Coordinator;
use crate::db::FailoverPlan;
use crate::replication::{Channel, Replication};

/// What a failover did, or would do.
#[derive(Debug)]
pub struct Failover {
    pub applied: bool,
    pub is_replica: bool,
    /// Replication connections still running (an applied failover has none).
    pub running: Vec<Channel>,
    pub replication_unknown: Option<String>,
    pub plan: FailoverPlan,
}

pub async fn failover(c: &Coordinator, apply: bool) -> Result<Failover, ApiError> {
    let (is_replica, running, unknown) = match c.db.replication().await {
        Replication::None => (false, Vec::new(), None),
        Replication::Unknown(e) => (false, Vec::new(), Some(e)),
        Replication::Replica(channels) => {
            (true, channels.into_iter().filter(|ch| ch.io_running != "No" || ch.sql_running != "No").collect(), None)
        }
    };
    if apply && !running.is_empty() {
        let which: Vec<String> = running.iter().map(Channel::describe).collect();
        return Err(ApiError::FailedPrecondition(format!(
            "replication into the backup's database is still running ({}): once the primary's last changes have \
             arrived, stop it on the backup's database with `STOP ALL SLAVES;` (MariaDB) or `STOP REPLICA;` \
             (MySQL), then run failover --apply again; nothing was changed",
            which.join("; ")
        )));
    }
    let plan = c.db.failover(apply).await?;
    if apply {
        tracing::warn!(
            libraries = plan.not_up_to_date.len(),
            user_tokens = plan.user_tokens,
            backup_tokens = plan.backup_tokens,
            "failover applied: sync tokens deleted from the backup's RepoUserToken"
        );
    }
    Ok(Failover { applied: apply, is_replica, running, replication_unknown: unknown, plan })
}
