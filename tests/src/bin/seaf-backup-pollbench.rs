//! `seaf-backup-pollbench`: how long the coordinator takes to poll a stock Seafile primary's
//! database, and how much memory it needs for it (the issue's target: < 2 s per poll and < 100 MiB
//! with 10,000 libraries).
//!
//! Fills a fresh database with seaf-server's own tables (`seaf_primary_sim::seafile_db::TABLES`)
//! holding `--libraries` libraries (default 10,000: `Repo`, `Branch` master with a random head,
//! `RepoHead`, `RepoInfo`, `RepoOwner`; 1 % organisation libraries in `OrgRepo` instead of
//! `RepoOwner`, 1 % virtual libraries in `VirtualRepo`), then starts a Redis and the real
//! coordinator (with `[primary] database_url`, a fresh backup database, `sync_poll_interval = 3s`)
//! on loopback. The coordinator polls at start — the **first** poll: every library is new, so each
//! is inserted and queued — and then every 3 s. Before each later, **steady** poll the benchmark
//! moves `--changed` heads (default 1,000) in the primary's `Branch`. `--polls` polls in all
//! (default 3).
//!
//! After each poll every library is marked backed up at its head in the coordinator's
//! `seaf_backup_library` (as if fetchers had run since), so a steady poll queues the changed
//! libraries only, as in a backup that keeps up; `--pending` leaves them pending instead (as if no
//! fetcher ran), so that every poll queues them all.
//!
//! Per poll it prints the coordinator's own `seconds=` (from its `primary polled` log line), what
//! the poll listed, marked deleted and queued, how many recorded heads equal the primary's
//! afterwards, and the CPU time the coordinator, MariaDB and Redis spent since the previous poll;
//! then the coordinator's peak RSS (`VmHWM`) and current RSS (`VmRSS`), and its poll metrics.
//! `--json` prints one JSON object instead. Nothing is asserted about the figures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use rand::Rng;
use seaf_backup_tests::cluster::{parse_metrics, tail};
use seaf_backup_tests::{MariaDb, Proc, Redis, SYNC_TOKEN, bin, fresh_database};
use seaf_primary_sim::seafile_db::TABLES;
use serde::Serialize;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, QueryBuilder};

/// The coordinator's `sync_poll_interval`; the changes for the next poll are made within it.
const POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Rows per multi-row INSERT (and heads per UPDATE) while filling and changing the primary.
const ROWS_PER_STATEMENT: usize = 1000;
/// One library in this many is an organisation library, and one in this many a virtual one.
const ONE_IN: usize = 100;
/// How long a single poll may take before the benchmark gives up.
const POLL_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Parser)]
#[command(about = "Measures the coordinator's poll of a stock Seafile primary's database: seconds per poll, peak RSS")]
struct Args {
    /// Libraries in the primary's database.
    #[arg(long, default_value_t = 10_000)]
    libraries: usize,
    /// Heads moved in the primary's `Branch` before each steady poll.
    #[arg(long, default_value_t = 1000)]
    changed: usize,
    /// Polls measured in all: the first one, then steady ones.
    #[arg(long, default_value_t = 3)]
    polls: usize,
    /// Leave every library pending after the first poll (as if no fetcher ran): each steady poll
    /// then queues them all.
    #[arg(long)]
    pending: bool,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Who owns a generated library, as seaf-server records it.
enum Kind {
    /// `RepoOwner`.
    User,
    /// `OrgRepo` (organisation 1) instead of `RepoOwner`.
    Org,
    /// `VirtualRepo` over the library at this index (a shared sub-folder); owned like its origin.
    Virtual { origin: usize },
}

struct Library {
    id: String,
    head: String,
    owner: String,
    kind: Kind,
}

/// One poll as the coordinator logged it, with what the benchmark saw around it.
#[derive(Debug, Clone, Serialize)]
struct Poll {
    poll: usize,
    /// "first" (every library new) or "steady" (every library known, `changed` heads moved).
    kind: &'static str,
    /// The coordinator's own measure: list, record, mark deletions, queue.
    seconds: f64,
    listed: u64,
    deleted: u64,
    queued: u64,
    /// Heads moved in the primary before this poll.
    changed_before: usize,
    /// Libraries whose head recorded by the coordinator equals the primary's after this poll.
    heads_current: u64,
    /// CPU time (user + system) since the previous poll's line (for the first: since the start).
    coordinator_cpu_seconds: f64,
    mariadb_cpu_seconds: Option<f64>,
    redis_cpu_seconds: f64,
    /// The coordinator's RSS just after this poll.
    coordinator_rss_mib: f64,
}

/// The fields of a `primary polled` line: `listed=N deleted=N queued=N seconds=F`.
#[derive(Debug, Clone, Copy)]
struct Polled {
    listed: u64,
    deleted: u64,
    queued: u64,
    seconds: f64,
}

fn parse_polled(line: &str) -> Option<Polled> {
    let field =
        |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')));
    Some(Polled {
        listed: field("listed")?.parse().ok()?,
        deleted: field("deleted")?.parse().ok()?,
        queued: field("queued")?.parse().ok()?,
        seconds: field("seconds")?.parse().ok()?,
    })
}

/// A lowercase UUID v4, as seaf-server makes library ids.
fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn hex40(rng: &mut impl Rng) -> String {
    let b: [u8; 20] = rng.random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn generate(n: usize, rng: &mut impl Rng) -> Vec<Library> {
    let mut libs: Vec<Library> = (0..n)
        .map(|i| Library {
            id: uuid_v4(rng),
            head: hex40(rng),
            owner: format!("user{}@example.com", i / 10),
            kind: match i % ONE_IN {
                0 => Kind::Org,
                // Over the user library just before it.
                51 => Kind::Virtual { origin: i - 1 },
                _ => Kind::User,
            },
        })
        .collect();
    for i in 0..n {
        if let Kind::Virtual { origin } = libs[i].kind {
            libs[i].owner = libs[origin].owner.clone();
        }
    }
    libs
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// seaf-server's tables with the libraries, in one transaction, [`ROWS_PER_STATEMENT`] rows per
/// INSERT.
async fn fill(pool: &MySqlPool, libs: &[Library]) -> anyhow::Result<()> {
    for (name, ddl) in TABLES {
        sqlx::query(ddl).execute(pool).await.with_context(|| format!("creating table {name}"))?;
    }
    let now = unix_seconds();
    let mut tx = pool.begin().await?;
    let indexed: Vec<(usize, &Library)> = libs.iter().enumerate().collect();
    for chunk in indexed.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO Repo (repo_id) ");
        q.push_values(chunk, |mut b, (_, l)| {
            b.push_bind(&l.id);
        });
        q.build().execute(&mut *tx).await.context("INSERT INTO Repo")?;

        let mut q: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO Branch (name, repo_id, commit_id) ");
        q.push_values(chunk, |mut b, (_, l)| {
            b.push_bind("master").push_bind(&l.id).push_bind(&l.head);
        });
        q.build().execute(&mut *tx).await.context("INSERT INTO Branch")?;

        let mut q: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO RepoHead (repo_id, branch_name) ");
        q.push_values(chunk, |mut b, (_, l)| {
            b.push_bind(&l.id).push_bind("master");
        });
        q.build().execute(&mut *tx).await.context("INSERT INTO RepoHead")?;

        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO RepoInfo (repo_id, name, update_time, version, is_encrypted, last_modifier, status) ",
        );
        q.push_values(chunk, |mut b, (i, l)| {
            let name = match l.kind {
                Kind::Virtual { .. } => format!("x (library {i})"),
                _ => format!("library {i}"),
            };
            b.push_bind(&l.id)
                .push_bind(name)
                .push_bind(now)
                .push_bind(1)
                .push_bind(0)
                .push_bind(&l.owner)
                .push_bind(0);
        });
        q.build().execute(&mut *tx).await.context("INSERT INTO RepoInfo")?;

        let owned: Vec<_> = chunk.iter().filter(|(_, l)| !matches!(l.kind, Kind::Org)).collect();
        if !owned.is_empty() {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO RepoOwner (repo_id, owner_id) ");
            q.push_values(owned, |mut b, (_, l)| {
                b.push_bind(&l.id).push_bind(&l.owner);
            });
            q.build().execute(&mut *tx).await.context("INSERT INTO RepoOwner")?;
        }

        let org: Vec<_> = chunk.iter().filter(|(_, l)| matches!(l.kind, Kind::Org)).collect();
        if !org.is_empty() {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO OrgRepo (org_id, repo_id, user) ");
            q.push_values(org, |mut b, (_, l)| {
                b.push_bind(1).push_bind(&l.id).push_bind(&l.owner);
            });
            q.build().execute(&mut *tx).await.context("INSERT INTO OrgRepo")?;
        }

        let virt: Vec<_> = chunk
            .iter()
            .filter_map(|(_, l)| match l.kind {
                Kind::Virtual { origin } => Some((l, &libs[origin])),
                _ => None,
            })
            .collect();
        if !virt.is_empty() {
            let mut q: QueryBuilder<MySql> =
                QueryBuilder::new("INSERT INTO VirtualRepo (repo_id, origin_repo, path, base_commit) ");
            q.push_values(virt, |mut b, (l, origin)| {
                b.push_bind(&l.id).push_bind(&origin.id).push_bind("/x").push_bind(&origin.head);
            });
            q.build().execute(&mut *tx).await.context("INSERT INTO VirtualRepo")?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Moves `count` distinct heads in the primary's `Branch` (one transaction, so a poll sees all of
/// them or none).
async fn change_heads(pool: &MySqlPool, libs: &mut [Library], count: usize, rng: &mut impl Rng) -> anyhow::Result<()> {
    let count = count.min(libs.len());
    let picked = rand::seq::index::sample(rng, libs.len(), count).into_vec();
    for &i in &picked {
        libs[i].head = hex40(rng);
    }
    let mut tx = pool.begin().await?;
    for chunk in picked.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new("UPDATE Branch SET commit_id = CASE repo_id");
        for &i in chunk {
            q.push(" WHEN ").push_bind(&libs[i].id).push(" THEN ").push_bind(&libs[i].head);
        }
        q.push(" END WHERE name = 'master' AND repo_id IN (");
        let mut ids = q.separated(", ");
        for &i in chunk {
            ids.push_bind(&libs[i].id);
        }
        q.push(")");
        let done = q.build().execute(&mut *tx).await.context("UPDATE Branch")?;
        anyhow::ensure!(
            done.rows_affected() == chunk.len() as u64,
            "UPDATE Branch changed {} rows",
            done.rows_affected()
        );
    }
    tx.commit().await?;
    Ok(())
}

/// The database part of a `mysql://…/<database>` URL.
fn database_name(url: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    let name = u.path().trim_start_matches('/');
    anyhow::ensure!(
        !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
        "unexpected database in {url}"
    );
    Ok(name.to_owned())
}

/// Reads the coordinator's log for its `primary polled` lines.
struct PollLog {
    path: PathBuf,
    seen: usize,
}

impl PollLog {
    /// Waits for the next `primary polled` line and returns its fields.
    fn next(&mut self, pid: u32, timeout: Duration) -> anyhow::Result<Polled> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            // Only complete lines: the coordinator may be writing the last one.
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            if let Some(line) = complete.lines().filter(|l| l.contains("primary polled")).nth(self.seen) {
                self.seen += 1;
                return parse_polled(line).with_context(|| format!("cannot read the poll line {line:?}"));
            }
            if !alive(pid) {
                bail!("the coordinator exited\n--- coordinator log (tail) ---\n{}", tail(&text, 40));
            }
            if Instant::now() > deadline {
                bail!(
                    "no `primary polled` line within {timeout:?}\n--- coordinator log (tail) ---\n{}",
                    tail(&text, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether `pid` runs (neither gone nor a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// User + system CPU time of a running process, in seconds (`/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    // After the command: state is field 3, utime field 14, stime field 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(14) + ticks(15)) as f64 / hz
}

/// A `/proc/<pid>/status` figure in kB (`VmHWM`, `VmRSS`), as MiB.
fn status_mib(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(kib as f64 / 1024.0)
}

/// CPU time of the processes around the coordinator, to see where a poll's time goes.
#[derive(Clone, Copy)]
struct Cpu {
    coordinator: f64,
    mariadb: Option<f64>,
    redis: f64,
}

impl Cpu {
    fn now(coordinator: u32, mariadb: Option<u32>, redis: u32) -> Cpu {
        Cpu { coordinator: cpu_seconds(coordinator), mariadb: mariadb.map(cpu_seconds), redis: cpu_seconds(redis) }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.libraries > 0, "--libraries: at least 1");
    anyhow::ensure!(args.polls > 0, "--polls: at least 1");
    anyhow::ensure!(args.changed <= args.libraries, "--changed: at most --libraries");
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut rng = rand::rng();

    // 1. The primary's database.
    let mariadb = MariaDb::shared();
    let primary_url = fresh_database("pollbench_primary");
    let mut libs = generate(args.libraries, &mut rng);
    let orgs = libs.iter().filter(|l| matches!(l.kind, Kind::Org)).count();
    let virtuals = libs.iter().filter(|l| matches!(l.kind, Kind::Virtual { .. })).count();
    eprintln!("filling the primary's database with {} libraries…", args.libraries);
    let pool = rt.block_on(MySqlPoolOptions::new().max_connections(2).connect(&primary_url))?;
    let started = Instant::now();
    rt.block_on(fill(&pool, &libs))?;
    let fill_seconds = started.elapsed().as_secs_f64();
    eprintln!("filled in {fill_seconds:.2} s");

    // 2. Redis and the coordinator.
    let redis_dir = dir.join("redis");
    std::fs::create_dir_all(&redis_dir)?;
    let redis = Redis::start(&redis_dir);
    let backup_url = fresh_database("pollbench_backup");
    let config = dir.join("seaf-backup.toml");
    std::fs::write(
        &config,
        format!(
            r#"[backup]
primary_url = "http://127.0.0.1:9"
sync_token = "{SYNC_TOKEN}"
sync_poll_interval = "{poll}s"

[primary]
database_url = "{primary_url}"

[store]
path = "{store}"

[database]
url = "{backup_url}"

[redis]
url = "{redis}"

[coordinator]
listen = "127.0.0.1:0"
"#,
            poll = POLL_INTERVAL.as_secs(),
            store = dir.join("store").display(),
            redis = redis.url(),
        ),
    )?;
    let log_path = dir.join("coordinator.log");
    let mut cmd = std::process::Command::new(bin("seaf-backup-coordinator"));
    cmd.arg("--config").arg(&config).args(["--metrics-listen", "127.0.0.1:0"]);
    // CPU times count from here for the first poll (the coordinator's from its start).
    let mut cpu = Cpu { coordinator: 0.0, mariadb: mariadb.pid().map(cpu_seconds), redis: cpu_seconds(redis.pid()) };
    let mut coordinator = Proc::start("seaf-backup-coordinator", &mut cmd, &log_path)?;
    let pid = coordinator.pid();
    coordinator.listen_addr(Duration::from_secs(60))?;
    let metrics_addr = coordinator.address_line("metrics listening on", Duration::from_secs(10))?;
    eprintln!("coordinator started (pid {pid}); waiting for its polls…");

    // 3. The polls.
    let primary_db = database_name(&primary_url)?;
    let backup_db = database_name(&backup_url)?;
    let current_heads = format!(
        "SELECT COUNT(*) FROM `{primary_db}`.Branch b JOIN `{backup_db}`.seaf_backup_library l \
         ON l.repo_id = b.repo_id WHERE b.name = 'master' AND l.primary_head = b.commit_id AND l.deleted = 0"
    );
    let mut log = PollLog { path: log_path.clone(), seen: 0 };
    let mut polls = Vec::new();
    let mut changed_before = 0;
    for n in 1..=args.polls {
        let p = log.next(pid, POLL_TIMEOUT)?;
        let seen_at = Instant::now();
        let now = Cpu::now(pid, mariadb.pid(), redis.pid());
        let heads_current: i64 = rt.block_on(sqlx::query_scalar(&current_heads).fetch_one(&pool))?;
        polls.push(Poll {
            poll: n,
            kind: if n == 1 { "first" } else { "steady" },
            seconds: p.seconds,
            listed: p.listed,
            deleted: p.deleted,
            queued: p.queued,
            changed_before,
            heads_current: heads_current as u64,
            coordinator_cpu_seconds: now.coordinator - cpu.coordinator,
            mariadb_cpu_seconds: now.mariadb.zip(cpu.mariadb).map(|(a, b)| a - b),
            redis_cpu_seconds: now.redis - cpu.redis,
            coordinator_rss_mib: status_mib(pid, "VmRSS")?,
        });
        eprintln!("poll {n}: {:.3} s, listed {}, queued {}", p.seconds, p.listed, p.queued);
        if n == args.polls {
            break;
        }
        if !args.pending {
            // As if fetchers had backed every library up at its head since this poll.
            let sql = format!(
                "UPDATE `{backup_db}`.seaf_backup_library SET backup_head = primary_head, behind_since = NULL, \
                 last_success = ? WHERE deleted = 0"
            );
            let ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
            rt.block_on(sqlx::query(&sql).bind(ms).execute(&pool))?;
        }
        rt.block_on(change_heads(&pool, &mut libs, args.changed, &mut rng))?;
        changed_before = args.changed;
        let took = seen_at.elapsed();
        if took + Duration::from_millis(500) > POLL_INTERVAL {
            eprintln!("warning: preparing poll {} took {took:?}; the poll may have started before it", n + 1);
        }
        // The next poll's CPU times count from here, without the preparation above.
        cpu = Cpu::now(pid, mariadb.pid(), redis.pid());
    }

    // 4. Memory and metrics.
    let peak_rss_mib = status_mib(pid, "VmHWM")?;
    let rss_mib = status_mib(pid, "VmRSS")?;
    let metrics = rt.block_on(async {
        let url = format!("http://{metrics_addr}/metrics");
        let r = reqwest::Client::new().get(&url).timeout(Duration::from_secs(10)).send().await?;
        anyhow::Ok(parse_metrics(&r.error_for_status()?.text().await?))
    })?;
    let metric = |name: &str| metrics.get(name).copied();

    // 5. Stop.
    coordinator.terminate();
    let stopped = coordinator.wait(Duration::from_secs(30));
    drop(coordinator);
    drop(redis);
    rt.block_on(pool.close());
    if let Err(e) = stopped {
        eprintln!("warning: {e}");
    }
    report(&args, orgs, virtuals, fill_seconds, &polls, peak_rss_mib, rss_mib, &metric, &log_path);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    orgs: usize,
    virtuals: usize,
    fill_seconds: f64,
    polls: &[Poll],
    peak_rss_mib: f64,
    rss_mib: f64,
    metric: &dyn Fn(&str) -> Option<f64>,
    log: &Path,
) {
    let poll_count = metric("seaf_backup_poll_duration_seconds_count");
    let poll_sum = metric("seaf_backup_poll_duration_seconds_sum");
    let poll_libraries = metric("seaf_backup_poll_libraries");
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "libraries": args.libraries, "organisation_libraries": orgs, "virtual_libraries": virtuals,
                "changed": args.changed, "pending": args.pending, "fill_seconds": fill_seconds,
                "poll_interval_seconds": POLL_INTERVAL.as_secs(),
                "polls": polls,
                "coordinator": { "peak_rss_mib": peak_rss_mib, "rss_mib": rss_mib },
                "metrics": {
                    "poll_duration_seconds_count": poll_count, "poll_duration_seconds_sum": poll_sum,
                    "poll_libraries": poll_libraries,
                },
                "target": { "seconds_per_poll": 2.0, "peak_rss_mib": 100.0 },
            })
        );
        return;
    }
    println!(
        "{} libraries in a stock primary's database ({orgs} organisation, {virtuals} virtual); {} heads moved \
         before each steady poll; {}",
        args.libraries,
        args.changed,
        if args.pending { "libraries left pending (no fetcher)" } else { "libraries marked backed up after each poll" }
    );
    println!("fill: {fill_seconds:.2} s (not part of the figures)");
    println!(
        "{:>4}  {:<6}  {:>8}  {:>7}  {:>7}  {:>7}  {:>13}  {:>11}  {:>11}  {:>9}  {:>7}",
        "poll",
        "kind",
        "seconds",
        "listed",
        "deleted",
        "queued",
        "heads current",
        "coord. CPU",
        "MariaDB CPU",
        "Redis CPU",
        "RSS MiB"
    );
    for p in polls {
        println!(
            "{:>4}  {:<6}  {:>8.3}  {:>7}  {:>7}  {:>7}  {:>13}  {:>10.2}s  {:>11}  {:>8.2}s  {:>7.1}",
            p.poll,
            p.kind,
            p.seconds,
            p.listed,
            p.deleted,
            p.queued,
            format!("{}/{}", p.heads_current, args.libraries),
            p.coordinator_cpu_seconds,
            p.mariadb_cpu_seconds.map_or_else(|| "-".to_owned(), |s| format!("{s:.2}s")),
            p.redis_cpu_seconds,
            p.coordinator_rss_mib
        );
    }
    println!("coordinator peak RSS: {peak_rss_mib:.1} MiB (VmHWM); current RSS {rss_mib:.1} MiB (VmRSS)");
    let show = |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"));
    println!(
        "metrics: seaf_backup_poll_duration_seconds count {}, sum {} s; seaf_backup_poll_libraries {}",
        show(poll_count, 0),
        show(poll_sum, 3),
        show(poll_libraries, 0)
    );
    println!("target: < 2 s per poll and < 100 MiB");
    if args.dir.is_some() {
        println!("coordinator log: {}", log.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_poll_line() {
        let line = "2025-01-01T00:00:00.000000Z  INFO seaf_backup_coordinator::poller: primary polled \
                    listed=10000 deleted=2 queued=9998 seconds=1.234";
        let p = parse_polled(line).unwrap();
        assert_eq!((p.listed, p.deleted, p.queued), (10000, 2, 9998));
        assert_eq!(p.seconds, 1.234);
        assert!(parse_polled("primary polled listed=1").is_none());
    }

    #[test]
    fn ids_look_like_seafiles() {
        let mut rng = rand::rng();
        let id = uuid_v4(&mut rng);
        assert_eq!(id.len(), 36);
        assert!(seaf_objects::RepoId::parse(&id).is_ok(), "{id}");
        assert_eq!(&id[14..15], "4");
        assert!(hex40(&mut rng).bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let libs = generate(300, &mut rng);
        assert_eq!(libs.iter().filter(|l| matches!(l.kind, Kind::Org)).count(), 3);
        assert_eq!(libs.iter().filter(|l| matches!(l.kind, Kind::Virtual { .. })).count(), 3);
    }
}
