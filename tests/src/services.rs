//! Real MariaDB and Redis servers for the tests, on free loopback ports, with fresh state per test.
//!
//! * [`MariaDb::shared`] is one `mariadbd` per test process, started on first use and shared by every
//!   test in it; or an external server when `SEAF_BACKUP_TEST_MYSQL_URL` is set (for example
//!   `mysql://root@127.0.0.1:23306`, without a database part). Each test takes its own database from
//!   [`fresh_database`], so tests never see each other's tables.
//! * [`query`] and [`execute`] run SQL from synchronous test code and return rows as strings.
//! * [`Redis::start`] is a fresh `redis-server` per call (they start in a fraction of a second),
//!   killed when dropped. `SEAF_BACKUP_TEST_REDIS_URL` is deliberately ignored: tests flush and count
//!   keys, so each needs a server of its own.
//! * [`spawn_tied`] starts a child process that dies with the test process, however that ends.
//!
//! The servers need the Debian packages `mariadb-server` and `redis-server`.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
use sqlx::{Connection, Row};

/// Environment variable naming an external MariaDB/MySQL server to use instead of starting one.
pub const MYSQL_URL_ENV: &str = "SEAF_BACKUP_TEST_MYSQL_URL";

/// How long a server may take to answer after it was started.
const MARIADB_START_TIMEOUT: Duration = Duration::from_secs(30);
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for one [`query`] or [`execute`] call, connection included.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a server is started on another port when the picked one was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------------------------
// Children that die with the test process
// ---------------------------------------------------------------------------------------------

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that the child is killed (SIGKILL) when the test process ends, whether it exits
/// normally, panics, aborts, or is itself killed.
///
/// This uses the Linux parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`, set in the child
/// between `fork` and `exec`). The kernel sends that signal when the *thread* that forked the child
/// ends, not the process — and the test harness runs every test on a thread of its own, so a server
/// forked by a test would die with that test. All children are therefore forked by one spawner
/// thread that lives as long as the process. Unlike an exit hook, this also covers a test process
/// that is killed (Ctrl-C, a CI timeout), so no server outlives it.
pub fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the hook only makes async-signal-safe system calls and does not allocate.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The spawner thread cannot end before the process does; if the process is already
                // gone, the signal was missed, so do not start.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("test-child-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop (and the thread) lasts until the process
                // exits.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("starting the child spawner thread");
        tx
    });
    let (reply, answer) = mpsc::channel();
    spawner.send((cmd, reply)).map_err(|_| io::Error::other("the child spawner thread has stopped"))?;
    answer.recv().map_err(|_| io::Error::other("the child spawner thread has stopped"))?
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener.local_addr().expect("local address").port()
}

fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

/// `name` from `PATH`, or from the sbin directories, which are often missing from a user's `PATH`.
pub(crate) fn find_program(name: &str, package: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            return Ok(candidate);
        }
    }
    Err(format!("{name} not found: install the Debian package {package} (apt-get install {package})"))
}

/// What `path` gained after byte `from`, at most its last 4 KiB.
fn log_since(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let start = from.max(len.saturating_sub(4096));
        if f.seek(SeekFrom::Start(start)).is_ok() {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// A log file for a child's stdout and stderr, appended to.
fn log_stdio(path: &Path) -> io::Result<(Stdio, Stdio)> {
    let out = File::options().create(true).append(true).open(path)?;
    let err = out.try_clone()?;
    Ok((out.into(), err.into()))
}

fn bind_failed(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("Bind on TCP/IP port")
}

// ---------------------------------------------------------------------------------------------
// MariaDB
// ---------------------------------------------------------------------------------------------

/// The MariaDB server of this test process: its own, or the external one named by
/// [`MYSQL_URL_ENV`].
pub struct MariaDb {
    /// `mysql://root@127.0.0.1:PORT`, without a database.
    url: String,
    own: Option<OwnMariaDb>,
}

struct OwnMariaDb {
    port: u16,
    pid: u32,
    dir: PathBuf,
    /// Never waited on: the process ends with the test process (see [`stop_own_mariadb`]).
    _child: Child,
}

/// Pid of this process's own `mariadbd`, for the exit hook; 0 when there is none.
static MARIADB_PID: AtomicI32 = AtomicI32::new(0);
/// Temporary directory of this process's own `mariadbd`, removed by the exit hook.
static MARIADB_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Exit hook: statics are never dropped, so the shared server is stopped here on a normal exit (the
/// test harness ends with `exit`, which runs these hooks). It is killed outright, since its data is
/// thrown away, and its directory removed. If the process dies without running exit hooks, the
/// parent-death signal of [`spawn_tied`] still kills the server; only the directory is left behind.
extern "C" fn stop_own_mariadb() {
    let pid = MARIADB_PID.swap(0, Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: `pid` is our own unreaped child, so it cannot name another process.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    if let Some(dir) = MARIADB_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl MariaDb {
    /// The server shared by all tests of this process, started on first use (about a second).
    /// Panics with the reason if it cannot be started or reached.
    pub fn shared() -> &'static MariaDb {
        static SHARED: OnceLock<Result<MariaDb, String>> = OnceLock::new();
        // A failure is kept too, so every test reports it at once instead of retrying the start.
        match SHARED.get_or_init(|| match std::env::var(MYSQL_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => MariaDb::external(url.trim()),
            _ => MariaDb::start_own(),
        }) {
            Ok(db) => db,
            Err(e) => panic!("test MariaDB: {e}"),
        }
    }

    /// The server's URL without a database, e.g. `mysql://root@127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this is the external server named by [`MYSQL_URL_ENV`].
    pub fn is_external(&self) -> bool {
        self.own.is_none()
    }

    /// Port of the server this process started (`None` for an external one).
    pub fn port(&self) -> Option<u16> {
        self.own.as_ref().map(|o| o.port)
    }

    /// Pid of the server this process started (`None` for an external one).
    pub fn pid(&self) -> Option<u32> {
        self.own.as_ref().map(|o| o.pid)
    }

    /// Directory of the server this process started, with `error.log` (`None` for an external one).
    pub fn dir(&self) -> Option<&Path> {
        self.own.as_ref().map(|o| o.dir.as_path())
    }

    /// Creates a new, empty database named `sbt_<hint>_<pid>_<n>` and returns its URL,
    /// `mysql://root@127.0.0.1:PORT/<name>`. On the server this process started, databases vanish
    /// with it; on an external server they are left behind (all are named `sbt_…`).
    pub fn fresh_database(&self, name_hint: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let hint = sanitize_hint(name_hint);
        let pid = std::process::id();
        for _ in 0..1000 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("sbt_{hint}_{pid}_{n}");
            let sql = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
            match block_on(|| run_sql(&self.url, &sql, false)) {
                Ok(_) => return with_database(&self.url, &name),
                // 1007: the name is taken, on an external server (an earlier run, or another machine
                // whose test process had the same pid).
                Err(e) if mysql_error_number(&e) == Some(1007) => continue,
                Err(e) => panic!("creating database {name} on {}: {e}", self.url),
            }
        }
        panic!("no free database name for hint {name_hint:?} on {}", self.url)
    }

    fn external(url: &str) -> Result<MariaDb, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{MYSQL_URL_ENV}={url:?} is not a URL: {e}"))?;
        if parsed.scheme() != "mysql" {
            return Err(format!("{MYSQL_URL_ENV}={url:?} should be a mysql:// URL"));
        }
        let url = with_database(url, "");
        block_on(|| run_sql(&url, "SELECT 1", true))
            .map_err(|e| format!("the server of {MYSQL_URL_ENV} ({url}) does not answer: {e}"))?;
        Ok(MariaDb { url, own: None })
    }

    fn start_own() -> Result<MariaDb, String> {
        let dir = tempfile::Builder::new()
            .prefix("seaf-backup-mariadb-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?
            .keep();
        // Register the exit hook before anything can be left behind.
        if MARIADB_DIR.set(dir.clone()).is_ok() {
            // SAFETY: registers a plain `extern "C"` function.
            unsafe { libc::atexit(stop_own_mariadb) };
        }
        let extra = ["--skip-log-bin".to_owned()];
        let (port, child) = launch_mariadb(&dir, &extra, |pid| MARIADB_PID.store(pid as i32, Ordering::SeqCst))?;
        let pid = child.id();
        let own = OwnMariaDb { port, pid, dir: dir.clone(), _child: child };
        Ok(MariaDb { url: format!("mysql://root@127.0.0.1:{port}"), own: Some(own) })
    }
}

/// Installs a data directory in `dir` and starts `mariadbd` on a free loopback port with `extra`
/// options; `spawned` learns each server pid as soon as it runs. Returns the port and the process.
fn launch_mariadb(dir: &Path, extra: &[String], spawned: impl Fn(u32)) -> Result<(u16, Child), String> {
    let install_db = find_program("mariadb-install-db", "mariadb-server")?;
    let mariadbd = find_program("mariadbd", "mariadb-server")?;
    // mariadbd refuses to run as root unless told to; for any other user it runs as that user.
    let as_root = unsafe { libc::geteuid() } == 0;
    let data = dir.join("data");

    let mut install = Command::new(&install_db);
    install
        .arg("--no-defaults")
        .arg(opt("--datadir=", &data))
        .args(as_root.then_some("--user=root"))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .args(INNODB_OPTIONS);
    let install_log = dir.join("install.log");
    let (out, err) = log_stdio(&install_log).map_err(|e| format!("creating {}: {e}", install_log.display()))?;
    install.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = spawn_tied(install).map_err(|e| format!("starting {}: {e}", install_db.display()))?;
    let status = wait_child(&mut child, MARIADB_START_TIMEOUT)
        .ok_or_else(|| format!("mariadb-install-db did not finish within {MARIADB_START_TIMEOUT:?}"))?;
    if !status.success() {
        return Err(format!("mariadb-install-db failed ({status}):\n{}", log_since(&install_log, 0)));
    }

    let error_log = dir.join("error.log");
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let url = format!("mysql://root@127.0.0.1:{port}");
        let mut cmd = Command::new(&mariadbd);
        cmd.arg("--no-defaults")
            .args(as_root.then_some("--user=root"))
            .arg(opt("--datadir=", &data))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(opt("--socket=", &dir.join("mysqld.sock")))
            .arg(opt("--pid-file=", &dir.join("mysqld.pid")))
            .arg(opt("--log-error=", &error_log))
            .arg(opt("--tmpdir=", dir))
            .args(INNODB_OPTIONS)
            .args([
                "--skip-name-resolve",
                "--max-connections=500",
                // What Debian's packaged configuration sets, which --no-defaults leaves out.
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
            ])
            .args(extra);
        let log_start = file_len(&error_log);
        let (out, err) = log_stdio(&dir.join("mariadbd.out")).map_err(|e| format!("creating a log file: {e}"))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = spawn_tied(cmd).map_err(|e| format!("starting {}: {e}", mariadbd.display()))?;
        spawned(child.id());

        let deadline = Instant::now() + MARIADB_START_TIMEOUT;
        let mut last_error = String::from("the port never accepted a connection");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                spawned(0);
                let log = log_since(&error_log, log_start);
                if bind_failed(&log) {
                    break; // the port was taken after it was picked: try another
                }
                return Err(format!("mariadbd exited ({status}) while starting:\n{log}"));
            }
            if port_accepts(port) {
                match block_on(|| run_sql(&url, "SELECT 1", true)) {
                    Ok(_) => return Ok((port, child)),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                spawned(0);
                let log = log_since(&error_log, log_start);
                return Err(format!("mariadbd did not answer within {MARIADB_START_TIMEOUT:?} ({last_error}):\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    Err(format!("mariadbd could not bind a free port in {PORT_ATTEMPTS} attempts"))
}

/// A MariaDB server of one test, beside the shared one: for tests that need a server of their
/// own configuration (replication). It is killed when dropped (and, like every server the harness
/// starts, when the test process dies).
pub struct ExtraMariaDb {
    /// `mysql://root@127.0.0.1:PORT`, without a database.
    pub url: String,
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ExtraMariaDb {
    /// Starts a server with `extra` options (e.g. `--server-id=2`, `--log-bin=…`).
    pub fn start(extra: &[String]) -> ExtraMariaDb {
        let dir = tempfile::Builder::new().prefix("seaf-backup-mariadb-").tempdir().expect("a temporary directory");
        let (port, child) = launch_mariadb(dir.path(), extra, |_| {}).unwrap_or_else(|e| panic!("test MariaDB: {e}"));
        ExtraMariaDb { url: format!("mysql://root@127.0.0.1:{port}"), port, child, _dir: dir }
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.url, name)
    }
}

impl Drop for ExtraMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A source server and a replica of it, replicating from the start of the source's binlog (so
/// everything created on the source appears on the replica), with the replica's filter options
/// given at its start (e.g. `--replicate-ignore-table=seafile_db.Branch`).
pub struct ReplicatedPair {
    pub source: ExtraMariaDb,
    pub replica: ExtraMariaDb,
}

impl ReplicatedPair {
    pub fn start(replica_options: &[String]) -> ReplicatedPair {
        let source = ExtraMariaDb::start(&[
            "--server-id=1".to_owned(),
            "--log-bin=binlog".to_owned(),
            "--binlog-format=ROW".to_owned(),
        ]);
        let mut opts = vec!["--server-id=2".to_owned(), "--skip-log-bin".to_owned()];
        opts.extend_from_slice(replica_options);
        let replica = ExtraMariaDb::start(&opts);
        execute(
            &source.url,
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
        );
        execute(
            &replica.url,
            &format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
                 MASTER_PASSWORD='replpw', MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=4; START SLAVE",
                source.port
            ),
        );
        ReplicatedPair { source, replica }
    }

    /// Waits until the replica has applied everything the source wrote so far.
    pub fn wait_caught_up(&self) {
        let pos = query(&self.source.url, "SELECT @@gtid_binlog_pos")[0][0].clone();
        let done = query(&self.replica.url, &format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"));
        assert_eq!(done[0][0], "0", "the replica did not catch up with {pos} within 30 s");
    }
}

/// Small and fast InnoDB, for `mariadb-install-db` (which passes them on to the server it bootstraps
/// with, so the data directory is created at this size: 34 MB instead of 114 MB) and for `mariadbd`.
/// Durability is irrelevant for throw-away data: no fsyncs, no doublewrite buffer.
const INNODB_OPTIONS: [&str; 5] = [
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-flush-method=nosync",
    "--innodb-doublewrite=0",
];

/// `--name=` followed by a path.
fn opt(name: &str, path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(name);
    s.push(path);
    s
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Database-name part from a free-form hint: `[a-z0-9_]`, at most 24 characters (names stay within
/// MariaDB's 64).
fn sanitize_hint(hint: &str) -> String {
    let s: String = hint
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '_' })
        .take(24)
        .collect();
    if s.is_empty() { "db".to_owned() } else { s }
}

/// `url` with its path replaced by `/<database>` (no path for an empty name).
fn with_database(url: &str, database: &str) -> String {
    let mut u = url::Url::parse(url).unwrap_or_else(|e| panic!("{url:?} is not a URL: {e}"));
    u.set_path(if database.is_empty() { "" } else { database });
    u.to_string()
}

/// A new database on the shared server (see [`MariaDb::fresh_database`]); returns its URL.
pub fn fresh_database(name_hint: &str) -> String {
    MariaDb::shared().fresh_database(name_hint)
}

/// Runs `sql` (one or more `;`-separated statements) on `url` and returns every row as strings, in
/// MySQL's text form (numbers as digits, dates as `YYYY-MM-DD …`, bytes that are not UTF-8 lossily);
/// SQL NULL is `"NULL"`. Panics on an error. Usable from synchronous and async tests alike.
#[track_caller]
pub fn query(url: &str, sql: &str) -> Vec<Vec<String>> {
    try_query(url, sql).unwrap_or_else(|e| panic!("SQL failed on {url}: {e}\n{sql}"))
}

/// [`query`] that returns the error text instead of panicking.
pub fn try_query(url: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
    match block_on(|| run_sql(url, sql, true)) {
        Ok(Outcome::Rows(rows)) => Ok(rows),
        Ok(Outcome::Affected(_)) => unreachable!("rows were asked for"),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs statements on `url` and returns how many rows they changed. Panics on an error.
#[track_caller]
pub fn execute(url: &str, sql: &str) -> u64 {
    match block_on(|| run_sql(url, sql, false)) {
        Ok(Outcome::Affected(n)) => n,
        Ok(Outcome::Rows(_)) => unreachable!("no rows were asked for"),
        Err(e) => panic!("SQL failed on {url}: {e}\n{sql}"),
    }
}

enum Outcome {
    Rows(Vec<Vec<String>>),
    Affected(u64),
}

#[derive(Debug)]
enum SqlError {
    Sqlx(sqlx::Error),
    Timeout,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::Sqlx(e) => write!(f, "{e}"),
            SqlError::Timeout => write!(f, "no answer within {QUERY_TIMEOUT:?}"),
        }
    }
}

fn mysql_error_number(e: &SqlError) -> Option<u16> {
    match e {
        SqlError::Sqlx(e) => e.as_database_error()?.try_downcast_ref::<MySqlDatabaseError>().map(|d| d.number()),
        SqlError::Timeout => None,
    }
}

/// One connection, the statements (text protocol, so every value arrives as text), disconnect.
async fn run_sql(url: &str, sql: &str, rows: bool) -> Result<Outcome, SqlError> {
    let work = async {
        let mut conn = MySqlConnection::connect(url).await?;
        let outcome = if rows {
            let rows = sqlx::raw_sql(sql).fetch_all(&mut conn).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut cells = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    let cell: Option<Vec<u8>> = row.try_get_unchecked(i)?;
                    cells.push(cell.map_or_else(|| "NULL".to_owned(), |b| String::from_utf8_lossy(&b).into_owned()));
                }
                out.push(cells);
            }
            Outcome::Rows(out)
        } else {
            Outcome::Affected(sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected())
        };
        let _ = conn.close().await;
        Ok::<_, sqlx::Error>(outcome)
    };
    match tokio::time::timeout(QUERY_TIMEOUT, work).await {
        Ok(r) => r.map_err(SqlError::Sqlx),
        Err(_) => Err(SqlError::Timeout),
    }
}

/// Runs a future to completion on a small runtime of its own, on a thread of its own, so that it
/// works from plain tests and from inside another runtime (`#[tokio::test]`) alike.
/// The future is made on that thread, so it need not be `Send`.
fn block_on<M, F>(make: M) -> F::Output
where
    M: FnOnce() -> F + Send,
    F: Future,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building a tokio runtime")
                .block_on(make())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/// A `redis-server` of one's own on a free loopback port, in the foreground as a child of this
/// process, killed (by its pid) when dropped and in any case when the test process ends. Nothing is
/// persisted. Its output goes to `redis-<port>.log` in the directory it was started with.
pub struct Redis {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Redis {
    /// Starts a fresh, empty server, its working directory and log in `dir` (which must exist).
    /// Panics if it does not answer `PING` within 10 s.
    pub fn start(dir: &Path) -> Redis {
        let program = find_program("redis-server", "redis-server").unwrap_or_else(|e| panic!("test Redis: {e}"));
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log = dir.join(format!("redis-{port}.log"));
            let log_start = file_len(&log);
            let (out, err) = log_stdio(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
            let mut cmd = Command::new(&program);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--protected-mode", "no", "--dir"])
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let mut child = spawn_tied(cmd).unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            let deadline = Instant::now() + REDIS_START_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let text = log_since(&log, log_start);
                    if bind_failed(&text) {
                        break; // the port was taken after it was picked: try another
                    }
                    panic!("redis-server exited ({status}) while starting:\n{text}");
                }
                if port_accepts(port) && redis_answers(port) {
                    return Redis { child, port, log };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("redis-server did not answer PING within {REDIS_START_TIMEOUT:?}:\n{}", log_since(&log, 0));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server could not bind a free port in {PORT_ATTEMPTS} attempts")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// A client of the `redis` crate for this server.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid Redis URL")
    }

    /// Runs one command and returns its reply as text, for assertions: strings as they are, integers
    /// in decimal, `OK` for a status, `(nil)` for a missing value, and the elements of arrays, sets
    /// and maps one per line. Panics on an error reply.
    #[track_caller]
    pub fn cmd(&self, args: &[&str]) -> String {
        self.try_cmd(args).unwrap_or_else(|e| panic!("Redis {args:?}: {e}"))
    }

    /// [`Redis::cmd`] that returns the error (an error reply or a connection problem) as text.
    pub fn try_cmd(&self, args: &[&str]) -> Result<String, String> {
        self.value(args).map(|v| render(&v)).map_err(|e| e.to_string())
    }

    /// Runs one command and returns its reply as the `redis` crate's value.
    pub fn value(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        redis_command(&self.client(), args)
    }

    /// `FLUSHALL`: empties every database.
    pub fn flushall(&self) {
        self.cmd(&["FLUSHALL"]);
    }

    /// `DBSIZE` of database 0.
    pub fn dbsize(&self) -> u64 {
        let n = self.cmd(&["DBSIZE"]);
        n.parse().unwrap_or_else(|_| panic!("DBSIZE answered {n:?}"))
    }

    /// Stops the server (as dropping it does).
    pub fn stop(self) {}
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One command on a connection of its own.
fn redis_command(client: &redis::Client, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let (name, rest) = args.split_first().expect("a Redis command");
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut cmd = redis::cmd(name);
    for a in rest {
        cmd.arg(*a);
    }
    cmd.query(&mut conn)
}

fn redis_answers(port: u16) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).expect("a valid Redis URL");
    redis_command(&client, &["PING"]).is_ok_and(|v| render(&v) == "PONG")
}

fn render(v: &redis::Value) -> String {
    use redis::Value;
    match v {
        Value::Nil => "(nil)".to_owned(),
        Value::Int(n) => n.to_string(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".to_owned(),
        Value::Double(d) => d.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) | Value::Set(items) | Value::Push { data: items, .. } => {
            items.iter().map(render).collect::<Vec<_>>().join("\n")
        }
        Value::Map(pairs) => pairs.iter().flat_map(|(k, v)| [render(k), render(v)]).collect::<Vec<_>>().join("\n"),
        Value::Attribute { data, .. } => render(data),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuses(port: u16) -> bool {
        !port_accepts(port)
    }

    /// Whether `pid` is gone (or a zombie nobody has reaped yet).
    fn dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        f()
    }

    #[test]
    fn hints_become_valid_names() {
        assert_eq!(sanitize_hint("Fetch-Once pass.1"), "fetch_once_pass_1");
        assert_eq!(sanitize_hint(""), "db");
        assert_eq!(sanitize_hint(&"x".repeat(100)).len(), 24);
        assert_eq!(with_database("mysql://root@127.0.0.1:23306", "sbt_a"), "mysql://root@127.0.0.1:23306/sbt_a");
        assert_eq!(with_database("mysql://root@127.0.0.1:23306/", "sbt_a"), "mysql://root@127.0.0.1:23306/sbt_a");
        assert_eq!(with_database("mysql://root@127.0.0.1:23306/old", ""), "mysql://root@127.0.0.1:23306");
    }

    #[test]
    fn missing_programs_name_their_package() {
        let err = find_program("no-such-server-program", "mariadb-server").unwrap_err();
        assert!(err.contains("apt-get install mariadb-server"), "{err}");
        assert!(find_program("redis-server", "redis-server").is_ok());
    }

    #[test]
    fn fresh_databases_are_separate() {
        let t0 = Instant::now();
        let server = MariaDb::shared();
        eprintln!("MariaDB ready after {:?} at {}", t0.elapsed(), server.url());
        let a = fresh_database("Isolation A");
        let b = fresh_database("isolation-b");
        assert_ne!(a, b);
        let name_a = a.rsplit('/').next().unwrap();
        assert!(name_a.starts_with("sbt_isolation_a_"), "{a}");
        assert!(name_a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'), "{a}");

        execute(&a, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NULL, d DATETIME NULL)");
        let changed = execute(&a, "INSERT INTO t VALUES (1, 'x', '2024-05-06 07:08:09'), (2, NULL, NULL)");
        assert_eq!(changed, 2);
        assert_eq!(
            query(&a, "SELECT id, v, d FROM t ORDER BY id"),
            [["1", "x", "2024-05-06 07:08:09"], ["2", "NULL", "NULL"]]
        );
        assert_eq!(query(&a, "SELECT DATABASE(), @@character_set_database")[0], [name_a, "utf8mb4"]);

        let in_b =
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 't'";
        assert_eq!(query(&b, in_b), [["0"]]);
        assert_eq!(query(&a, in_b), [["1"]]);
        let err = try_query(&b, "SELECT * FROM t").unwrap_err();
        assert!(err.contains("doesn't exist"), "{err}");
    }

    #[tokio::test]
    async fn query_works_inside_a_runtime() {
        let db = fresh_database("in_runtime");
        assert_eq!(query(&db, "SELECT 1 + 1, NULL, 'é'"), [["2", "NULL", "é"]]);
    }

    #[test]
    fn redis_set_get_flush_and_stop() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let redis = Redis::start(dir.path());
        eprintln!("Redis ready after {:?} at {}", t0.elapsed(), redis.url());
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
        assert_eq!(redis.cmd(&["SET", "k", "v"]), "OK");
        assert_eq!(redis.cmd(&["GET", "k"]), "v");
        assert_eq!(redis.cmd(&["GET", "missing"]), "(nil)");
        assert_eq!(redis.cmd(&["RPUSH", "l", "a", "b"]), "2");
        assert_eq!(redis.cmd(&["LRANGE", "l", "0", "-1"]), "a\nb");
        assert!(redis.try_cmd(&["INCR", "k"]).is_err());
        assert_eq!(redis.dbsize(), 2);
        redis.flushall();
        assert_eq!(redis.dbsize(), 0);
        assert!(redis.log().exists());

        let (port, pid) = (redis.port(), redis.pid());
        drop(redis);
        assert!(refuses(port), "port {port} still accepts connections after drop");
        assert!(dead(pid), "redis-server {pid} still runs after drop");
    }

    #[test]
    fn redis_servers_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let one = Redis::start(dir.path());
        let two = Redis::start(dir.path());
        assert_ne!(one.port(), two.port());
        one.cmd(&["SET", "k", "1"]);
        assert_eq!(two.dbsize(), 0);
        assert_eq!(one.dbsize(), 1);
    }

    /// The spawner thread outlives the thread that asked for a child, so a child started from a
    /// short-lived test thread keeps running.
    #[test]
    fn tied_children_outlive_the_thread_that_started_them() {
        let mut child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            spawn_tied(cmd).expect("sleep")
        })
        .join()
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "the child died with the thread that started it");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn servers_die_with_the_test_process() {
        if MariaDb::shared().is_external() {
            return;
        }
        for how in ["exit", "kill"] {
            let out_dir = tempfile::tempdir().unwrap();
            let out_path = out_dir.path().join("helper.out");
            // A process of its own that starts both servers, then exits or dies as `how` says.
            let mut cmd = Command::new(crate::bin("seaf-backup-test-services"));
            cmd.arg(how)
                .stdin(Stdio::null())
                .stdout(File::create(&out_path).unwrap())
                .stderr(File::create(out_dir.path().join("helper.err")).unwrap());
            let mut helper = cmd.spawn().unwrap();
            wait_child(&mut helper, Duration::from_secs(60)).expect("the helper finishes");
            let out = std::fs::read_to_string(&out_path).unwrap();
            let err = std::fs::read_to_string(out_dir.path().join("helper.err")).unwrap();
            let line = out
                .lines()
                .find_map(|l| l.strip_prefix("SERVERS "))
                .unwrap_or_else(|| panic!("helper output:\n{out}\n{err}"))
                .to_owned();
            let f: Vec<&str> = line.split(' ').collect();
            let (db_pid, db_port, redis_pid, redis_port) =
                (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap());
            let db_dir = PathBuf::from(f[4]);
            assert!(wait_until(Duration::from_secs(5), || dead(db_pid)), "{how}: mariadbd {db_pid} survived");
            assert!(wait_until(Duration::from_secs(5), || dead(redis_pid)), "{how}: redis {redis_pid} survived");
            // A multi-threaded process shows as a zombie before its last thread has closed its sockets.
            let closed = wait_until(Duration::from_secs(5), || refuses(db_port) && refuses(redis_port));
            assert!(closed, "{how}: a port still accepts connections");
            if how == "exit" {
                assert!(!db_dir.exists(), "{how}: {} was left behind", db_dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&db_dir);
            }
        }
    }
}
