//! The job queue in Redis: a cache of work, rebuilt from MySQL whenever it is lost.
//!
//! Keys (under the configured prefix `P`):
//! * `P:ready` — sorted set of library ids waiting for a fetcher, scored by the time (ms) they
//!   become due (now, or later after a failure's backoff);
//! * `P:leases` — sorted set of leased library ids, scored by lease expiry (ms);
//! * `P:lease:<id>` — hash of the lease: `job_id`, `fetcher`;
//! * `P:followup` — set of leased libraries notified again meanwhile: they get one more job when
//!   the current one ends (notifications coalesce);
//! * `P:alive` — a marker; when it is missing, Redis lost its data and the queue is rebuilt;
//! * `P:trace` — hash of library id → the `traceparent` of the notification that queued it, taken
//!   by the lease (only while traces are exported; losing it loses only the link).
//!
//! A library is in at most one of `ready` and `leases`, so at most one job per library is in
//! flight. Each step that reads and writes is one Lua script, so it is atomic in Redis.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use seaf_objects::RepoId;

pub type RedisResult<T> = Result<T, redis::RedisError>;

#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    prefix: String,
    scripts: std::sync::Arc<Scripts>,
}

/// The Lua scripts, hashed once (every call sends only the hash, the body when Redis lacks it).
struct Scripts {
    enqueue: Script,
    lease: Script,
    renew: Script,
    finish: Script,
    reap: Script,
}

/// Where an enqueued library went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Waiting for a fetcher.
    Ready,
    /// Leased right now: it gets one follow-up job when the current one ends.
    FollowUp,
}

/// The queue's view of one library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    No,
    Waiting,
    Leased,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The lease was gone (Redis lost it) and nobody else holds the library: it is this job's again.
    Adopted,
    /// Another job holds the library: stop.
    Lost,
}

/// Who held a lease when a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    This,
    /// Nobody: Redis lost the lease (flushed or restarted).
    Nobody,
    /// Another job: this one's lease expired and the library was handed on.
    Other,
}

const ENQUEUE: &str = r#"
-- KEYS: ready, lease:<id>, followup; ARGV: id, due
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[1])
  return 2
end
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
return 1
"#;

const LEASE: &str = r#"
-- KEYS: ready, leases; ARGV: now, expiry, job_id, fetcher, lease key prefix
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
local id = due[1]
redis.call('ZREM', KEYS[1], id)
redis.call('ZADD', KEYS[2], ARGV[2], id)
redis.call('HSET', ARGV[5] .. id, 'job_id', ARGV[3] .. id, 'fetcher', ARGV[4])
return id
"#;

const RENEW: &str = r#"
-- KEYS: lease:<id>, leases, ready, followup, alive; ARGV: id, job_id, expiry, fetcher, leased_at
local holder = redis.call('HGET', KEYS[1], 'job_id')
if holder == ARGV[2] then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
if holder then return 0 end
-- Nobody holds it. Adopt it only if Redis lost its data after this job was leased (the marker is
-- gone or newer); otherwise the lease ended normally and this is a late heartbeat.
local alive = redis.call('GET', KEYS[5])
if alive and tonumber(alive) <= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], 'job_id', ARGV[2], 'fetcher', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
-- Work queued meanwhile (the rebuild, a notification) is not dropped: it becomes the follow-up.
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then redis.call('SADD', KEYS[4], ARGV[1]) end
return 2
"#;

const FINISH: &str = r#"
-- KEYS: lease:<id>, leases, followup; ARGV: id, job_id
-- Returns {held, followup}: held is 1 when this job held the lease, 0 when nobody did (Redis lost
-- it), -1 when another job holds it; followup is 1 when a follow-up job is due.
local holder = redis.call('HGET', KEYS[1], 'job_id')
if holder ~= ARGV[2] then
  if holder then return {-1, 0} end
  return {0, redis.call('SREM', KEYS[3], ARGV[1])}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {1, redis.call('SREM', KEYS[3], ARGV[1])}
"#;

const REAP: &str = r#"
-- KEYS: leases, ready, followup; ARGV: now, lease key prefix
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[2] .. id)
  redis.call('SREM', KEYS[3], id)
  redis.call('ZADD', KEYS[2], 'LT', ARGV[1], id)
end
return expired
"#;

impl Queue {
    pub async fn connect(url: &str, prefix: &str) -> RedisResult<Queue> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let scripts = Scripts {
            enqueue: Script::new(ENQUEUE),
            lease: Script::new(LEASE),
            renew: Script::new(RENEW),
            finish: Script::new(FINISH),
            reap: Script::new(REAP),
        };
        Ok(Queue { conn, prefix: prefix.to_owned(), scripts: std::sync::Arc::new(scripts) })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn lease_key(&self, repo: &str) -> String {
        format!("{}:lease:{repo}", self.prefix)
    }

    /// Whether the queue's marker is present (false: Redis lost its data, or it is new).
    pub async fn is_alive(&self) -> RedisResult<bool> {
        self.conn.clone().exists(self.key("alive")).await
    }

    pub async fn set_alive(&self) -> RedisResult<()> {
        self.conn.clone().set(self.key("alive"), crate::db::now_ms()).await
    }

    /// Queues a library due at `due_ms` (an earlier due time wins), or marks a follow-up if it
    /// is leased.
    pub async fn enqueue(&self, repo: &RepoId, due_ms: i64) -> RedisResult<Enqueued> {
        let id = repo.to_string();
        let r: i64 = self
            .scripts
            .enqueue
            .key(self.key("ready"))
            .key(self.lease_key(&id))
            .key(self.key("followup"))
            .arg(&id)
            .arg(due_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(if r == 2 { Enqueued::FollowUp } else { Enqueued::Ready })
    }

    /// Leases the first due library to `fetcher`; the job id is `job_prefix` + the library id.
    pub async fn lease(
        &self,
        now_ms: i64,
        lease_ms: i64,
        job_prefix: &str,
        fetcher: &str,
    ) -> RedisResult<Option<String>> {
        self.scripts
            .lease
            .key(self.key("ready"))
            .key(self.key("leases"))
            .arg(now_ms)
            .arg(now_ms + lease_ms)
            .arg(job_prefix)
            .arg(fetcher)
            .arg(self.lease_key(""))
            .invoke_async(&mut self.conn.clone())
            .await
    }

    /// Extends a job's lease to `expiry_ms`; re-establishes it if Redis lost it after `leased_at`.
    pub async fn renew(
        &self,
        repo: &RepoId,
        job_id: &str,
        leased_at: i64,
        expiry_ms: i64,
        fetcher: &str,
    ) -> RedisResult<Renewal> {
        let id = repo.to_string();
        let r: i64 = self
            .scripts
            .renew
            .key(self.lease_key(&id))
            .key(self.key("leases"))
            .key(self.key("ready"))
            .key(self.key("followup"))
            .key(self.key("alive"))
            .arg(&id)
            .arg(job_id)
            .arg(expiry_ms)
            .arg(fetcher)
            .arg(leased_at)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match r {
            1 => Renewal::Renewed,
            2 => Renewal::Adopted,
            _ => Renewal::Lost,
        })
    }

    /// Ends a job's lease. Returns who held it, and whether a follow-up job is due.
    pub async fn finish(&self, repo: &RepoId, job_id: &str) -> RedisResult<(Holder, bool)> {
        let id = repo.to_string();
        let (held, followup): (i64, i64) = self
            .scripts
            .finish
            .key(self.lease_key(&id))
            .key(self.key("leases"))
            .key(self.key("followup"))
            .arg(&id)
            .arg(job_id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let holder = match held {
            1 => Holder::This,
            0 => Holder::Nobody,
            _ => Holder::Other,
        };
        Ok((holder, followup == 1))
    }

    /// Puts libraries whose lease expired back in the queue, due now.
    pub async fn reap(&self, now_ms: i64) -> RedisResult<Vec<String>> {
        self.scripts
            .reap
            .key(self.key("leases"))
            .key(self.key("ready"))
            .key(self.key("followup"))
            .arg(now_ms)
            .arg(self.lease_key(""))
            .invoke_async(&mut self.conn.clone())
            .await
    }

    /// Drops a library from the queue (it was deleted on the primary, or it is unknown).
    pub async fn forget(&self, repo: &RepoId) -> RedisResult<()> {
        let id = repo.to_string();
        let mut c = self.conn.clone();
        redis::pipe()
            .zrem(self.key("ready"), &id)
            .srem(self.key("followup"), &id)
            .hdel(self.key("trace"), &id)
            .query_async::<()>(&mut c)
            .await
    }

    /// Keeps the trace context of the notification that queued `repo`, for its next job; the
    /// first one wins when notifications coalesce.
    pub async fn remember_trace(&self, repo: &RepoId, traceparent: &str) -> RedisResult<()> {
        self.conn.clone().hset_nx(self.key("trace"), repo.to_string(), traceparent).await
    }

    /// Takes the trace context kept for `repo`'s next job, if any.
    pub async fn take_trace(&self, repo: &RepoId) -> RedisResult<Option<String>> {
        let id = repo.to_string();
        let (tp, _): (Option<String>, i64) = redis::pipe()
            .atomic()
            .hget(self.key("trace"), &id)
            .hdel(self.key("trace"), &id)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(tp)
    }

    /// Waiting and leased library ids, for the admin API.
    pub async fn snapshot(&self) -> RedisResult<(Vec<String>, Vec<String>, Vec<String>)> {
        let mut c = self.conn.clone();
        let (ready, leased, followup): (Vec<String>, Vec<String>, Vec<String>) = redis::pipe()
            .zrange(self.key("ready"), 0, -1)
            .zrange(self.key("leases"), 0, -1)
            .smembers(self.key("followup"))
            .query_async(&mut c)
            .await?;
        Ok((ready, leased, followup))
    }

    /// How many waiting libraries are due by `now_ms` (not held back by a retry's backoff).
    pub async fn due(&self, now_ms: i64) -> RedisResult<u64> {
        self.conn.clone().zcount(self.key("ready"), "-inf", now_ms).await
    }

    pub async fn state_of(&self, repo: &RepoId) -> RedisResult<Queued> {
        let id = repo.to_string();
        let mut c = self.conn.clone();
        let (ready, leased): (Option<f64>, Option<f64>) =
            redis::pipe().zscore(self.key("ready"), &id).zscore(self.key("leases"), &id).query_async(&mut c).await?;
        Ok(if leased.is_some() {
            Queued::Leased
        } else if ready.is_some() {
            Queued::Waiting
        } else {
            Queued::No
        })
    }

    pub async fn ping(&self) -> RedisResult<()> {
        redis::cmd("PING").query_async::<String>(&mut self.conn.clone()).await.map(|_| ())
    }
}
