//! Harness for the end-to-end tests and benchmarks: runs the real binaries over loopback.
//!
//! * [`bin`] finds a workspace binary in the same target directory as the running test;
//! * [`Proc`] owns a started process and kills it (by its pid) when dropped;
//! * [`Primary`] generates a simulated primary and serves it on a free loopback port;
//! * [`Cmd`] runs a command to completion with a time limit;
//! * [`tree_digest`] summarises a directory tree for byte-for-byte comparisons.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seaf_objects::ObjectId;

pub mod cluster;
pub mod measure;
pub mod otlp;
pub mod prometheus;
pub mod scale_out;
pub mod services;
pub mod tls;
pub use services::{MariaDb, Redis, execute, fresh_database, query, try_query};

/// The shared secret the simulated primary accepts in these tests.
pub const SYNC_TOKEN: &str = "3c1f0d6a9b8e7f6d5c4b3a2918e7d6c5b4a39281";

/// A workspace binary, from `SEAF_BACKUP_BIN_DIR` or the target directory of the running test
/// (`target/<profile>/deps/<test>` ⇒ `target/<profile>/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("SEAF_BACKUP_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // Tests run from target/<profile>/deps/, the harness's own tools from target/<profile>/.
            let exe = std::env::current_exe().expect("path of the running program");
            let dir = exe.parent().expect("a binary lives in a directory");
            if dir.ends_with("deps") {
                dir.parent().expect("target/<profile>").to_path_buf()
            } else {
                dir.to_path_buf()
            }
        }
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build the binaries first (cargo build --workspace --bins, same profile as the tests)",
        path.display()
    );
    path
}

/// A running child process, killed when dropped. Its stdout lines are readable through
/// [`Proc::wait_for_line`]; stderr goes to a log file in the test's directory.
pub struct Proc {
    child: Child,
    name: String,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn start(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<Proc> {
        let stderr = std::fs::File::create(log)?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc { child, name: name.to_owned(), lines })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line containing `needle` and returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        self.wait_for_match(|l| l.contains(needle), &format!("{needle:?}"), timeout)
    }

    /// Waits for the `listening on ADDR` line every service prints once bound, and returns ADDR.
    pub fn listen_addr(&mut self, timeout: Duration) -> anyhow::Result<String> {
        self.address_line("listening on", timeout)
    }

    /// Waits for a line `<prefix> ADDR` (e.g. "metrics listening on") and returns ADDR.
    pub fn address_line(&mut self, prefix: &str, timeout: Duration) -> anyhow::Result<String> {
        let line = self.wait_for_match(|l| l.starts_with(prefix), &format!("{prefix:?}"), timeout)?;
        Ok(line.rsplit(' ').next().unwrap_or_default().trim().to_owned())
    }

    fn wait_for_match(&mut self, f: impl Fn(&str) -> bool, what: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if f(&line) => return Ok(line),
                Ok(_) => continue,
                Err(_) => bail!("{} did not print {what} within {timeout:?}", self.name),
            }
        }
    }

    /// SIGTERM, as Kubernetes stops a pod.
    pub fn terminate(&self) {
        // SAFETY: the pid is our own child, not yet reaped (reaping happens only in kill/wait).
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// `kill -9`, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.kill();
                bail!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Remaining stdout, after the process exited.
    pub fn rest_of_stdout(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A command run to completion, with a time limit.
pub struct Cmd {
    cmd: Command,
    timeout: Duration,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the command's output unless it exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "command failed ({:?})\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Cmd {
    pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Cmd {
        Cmd { cmd: Command::new(program), timeout: Duration::from_secs(300) }
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.cmd.env(key, value);
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    pub fn run(mut self) -> Ran {
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", self.cmd));
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(s) = child.try_wait().expect("waiting for a child") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{:?} did not finish within {:?}", self.cmd, self.timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Ran { code: status.code(), stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
    }
}

/// A test tool installed by `tests/tools.sh` into `.ci/` (grpcurl, helm, kubernetes-validate).
pub fn tool(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    for dir in [".ci/venv/bin", ".ci/bin"] {
        let p = root.join(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run tests/tools.sh (tests/run.sh does) first")
}

/// A generated primary and, once [`Primary::serve`]d, its running simulator.
pub struct Primary {
    /// The simulator's data directory (`seafile-data/` and `db/` inside).
    pub data: PathBuf,
    pub server: Option<Proc>,
    /// The sync API base URL, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    /// A stock primary ([`Primary::generate_stock`]): seaf-server's own database, where its
    /// libraries, heads, owners and sync tokens are.
    pub database_url: Option<String>,
}

impl Primary {
    /// `seaf-primary-sim generate --out <dir>/primary <args>`.
    pub fn generate(dir: &Path, args: &[&str]) -> Primary {
        let data = dir.join("primary");
        Cmd::new(bin("seaf-primary-sim")).args(["generate", "--out"]).arg_path(&data).args(args).run().assert_ok();
        Primary { data, server: None, url: String::new(), database_url: None }
    }

    /// A stock primary: `generate` also writes seaf-server's tables into a fresh database, and
    /// [`Primary::serve`] serves like a stock seaf-server (per-library tokens, no repo list).
    pub fn generate_stock(dir: &Path, args: &[&str]) -> Primary {
        Primary::generate_stock_in(dir, args, crate::services::fresh_database("stock_primary"))
    }

    /// [`Primary::generate_stock`] into the (existing, empty) database at `url`.
    pub fn generate_stock_in(dir: &Path, args: &[&str], url: String) -> Primary {
        let mut p = Primary::generate(dir, &[args, &["--database-url", url.as_str()]].concat());
        p.database_url = Some(url);
        p
    }

    /// Starts `seaf-primary-sim serve` on a free loopback port with extra flags (faults).
    pub fn serve(&mut self, extra: &[&str]) -> &mut Primary {
        let mut cmd = Command::new(bin("seaf-primary-sim"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(&self.data).args(extra);
        match &self.database_url {
            Some(url) => cmd.args(["--database-url", url]),
            None => cmd.args(["--sync-token", SYNC_TOKEN]),
        };
        let log = self.data.with_extension("serve.log");
        let mut proc = Proc::start("seaf-primary-sim serve", &mut cmd, &log).expect("starting the simulator");
        let addr = proc.listen_addr(Duration::from_secs(30)).expect("simulator start");
        self.url = format!("http://{addr}");
        self.server = Some(proc);
        self
    }

    pub fn stop(&mut self) {
        self.server = None;
    }

    pub fn storage(&self) -> PathBuf {
        self.data.join("seafile-data").join("storage")
    }

    /// `seaf-primary-sim <args…> --data <data>`, e.g. `damage` or `commit` (on a stock primary,
    /// with its database: `commit` moves the `Branch` row there).
    pub fn sim(&self, args: &[&str]) -> Ran {
        self.sim_cmd().args(args).args(["--data"]).arg_path(&self.data).run()
    }

    /// `seaf-primary-sim mutate <action> --library <repo> <args…>` on a stock primary (revoke-tokens,
    /// transfer, delete, disown, gc-history, add-token); returns its JSON line.
    pub fn mutate(&self, action: &str, repo: &str, args: &[&str]) -> serde_json::Value {
        let ran = self.sim_cmd().args(["mutate", action, "--library", repo]).args(args).run();
        ran.assert_ok();
        serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("mutate {action}: {e}: {}", ran.stdout))
    }

    fn sim_cmd(&self) -> Cmd {
        let cmd = Cmd::new(bin("seaf-primary-sim"));
        match &self.database_url {
            Some(url) => cmd.env("SEAF_PRIMARY_DATABASE_URL", url),
            None => cmd,
        }
    }

    /// The libraries of the simulated primary's database.
    pub fn libraries(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.data.join("db").join("libraries.json")).expect("db/libraries.json");
        serde_json::from_str(&text).expect("libraries.json is JSON")
    }

    /// The primary's libraries and their current heads: library id → head. On a stock primary,
    /// from its database (a deleted library is gone from it).
    pub fn heads(&self) -> BTreeMap<String, String> {
        if let Some(url) = &self.database_url {
            return crate::services::query(
                url,
                "SELECT r.repo_id, b.commit_id FROM Repo r JOIN Branch b ON b.repo_id = r.repo_id AND b.name = 'master'",
            )
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        }
        self.libraries()
            .iter()
            .map(|l| {
                let id = l["repo_id"].as_str().expect("repo_id").to_owned();
                let head = self.head(&id).to_string();
                (id, head)
            })
            .collect()
    }

    /// The primary's current head of a library.
    pub fn head(&self, repo: &str) -> ObjectId {
        let text = std::fs::read_to_string(self.data.join("db").join("branch").join(repo)).expect("branch file");
        ObjectId::parse(text.trim()).expect("branch file holds an id")
    }
}

trait ArgPath {
    fn arg_path(self, p: &Path) -> Self;
}

impl ArgPath for Cmd {
    fn arg_path(mut self, p: &Path) -> Cmd {
        self.cmd.arg(p);
        self
    }
}

/// `seaf-backup-fetcher once --primary <url> --sync-token <token> --store <store> <extra>`.
pub fn backup_once(primary_url: &str, store: &Path, extra: &[&str]) -> Ran {
    Cmd::new(bin("seaf-backup-fetcher"))
        .args([
            "once",
            "--primary",
            primary_url,
            "--sync-token",
            SYNC_TOKEN,
            "--retries",
            "2",
            "--retry-delay-ms",
            "20",
            "--store",
        ])
        .arg_path(store)
        .args(extra)
        .run()
}

/// `seaf-backup-fetcher verify --store <store> <extra>`.
pub fn verify(store: &Path, extra: &[&str]) -> Ran {
    Cmd::new(bin("seaf-backup-fetcher")).args(["verify", "--store"]).arg_path(store).args(extra).run()
}

/// Every regular file below `root`, by relative path, with its SHA-1.
pub fn tree_digest(root: &Path) -> BTreeMap<PathBuf, ObjectId> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                out.insert(path.strip_prefix(root).expect("below root").to_path_buf(), ObjectId::hash_of(&data));
            }
        }
    }
    out
}

/// Number of stored objects below `root`: files named as Seafile names them (38 hex digits in a
/// two-hex-digit directory), so temp files do not count.
pub fn count_objects(root: &Path) -> usize {
    // Names only: a writer may be renaming temp files away while this runs.
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            match e.file_type() {
                Ok(ft) if ft.is_dir() => stack.push(e.path()),
                Ok(ft) if ft.is_file() => {
                    let name = name.to_string_lossy();
                    n += usize::from(name.len() == 38 && name.bytes().all(|b| b.is_ascii_hexdigit()));
                }
                _ => {}
            }
        }
    }
    n
}

/// Number of regular files below `root`.
pub fn count_files(root: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(ft) if ft.is_dir() => stack.push(e.path()),
                Ok(ft) if ft.is_file() => n += 1,
                _ => {}
            }
        }
    }
    n
}
