//! Data-plane benchmark: `seaf-backup-fetcher once` against `rsync -a` from an rsync daemon, on one
//! generated primary, over loopback.
//!
//! * **initial**: a full backup into a fresh store, and a full `rsync -a` of the primary's
//!   `seafile-data` into a fresh directory (order alternating over `--rounds`);
//! * **incremental**: after each of `--increments` small commits, the same two again into the same
//!   targets (ours fetches the new objects; rsync makes a pass over the whole tree);
//! * the backup is checked (`seaf-backup-fetcher verify`) at the end.
//!
//! Wall times are of the client processes; peak RSS is `ru_maxrss` from `wait4` on the client
//! (for rsync the client's forked receiver is included; the serving side is counted for neither).
//! The table goes to stdout; `--json` adds one line with every figure as a JSON object.
//!
//! Nothing is deleted between measured phases: on ext4, allocating inodes right after deleting
//! many files is slow for minutes, which would skew whichever phase comes next. Every phase writes
//! into a fresh directory and the whole working directory is removed at the very end.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use seaf_backup_tests::measure::{Run, run, tail};
use seaf_backup_tests::{Primary, Proc, SYNC_TOKEN, count_files};
use serde_json::{Value, json};

/// The rsync module serving the primary's `seafile-data`.
const MODULE: &str = "seafile-data";

#[derive(Parser)]
#[command(
    name = "seaf-backup-bench",
    about = "Data-plane benchmark: seaf-backup-fetcher once against rsync -a, initial and incremental, over loopback"
)]
struct Args {
    /// Working directory, absent or empty [default: a fresh directory under the system temp dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the working directory (dataset, backup, rsync copy, logs) at the end
    #[arg(long)]
    keep: bool,
    /// Dataset scale, passed to `seaf-primary-sim generate --scale` (tiny: a smoke run)
    #[arg(long, default_value = "bench")]
    scale: String,
    /// Initial-backup rounds: ours first in odd rounds, rsync first in even ones; the median is reported
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    rounds: u32,
    /// Incremental runs, each after one small commit; the median is reported
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=99))]
    increments: u32,
    /// Also print every figure as one JSON object, on the last line of stdout
    #[arg(long)]
    json: bool,
    /// Time limit of each command, in seconds
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seaf-backup-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A workspace binary beside this one, or in `SEAF_BACKUP_BIN_DIR`.
fn workspace_bin(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("SEAF_BACKUP_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().context("path of seaf-backup-bench")?;
            exe.parent().context("directory of seaf-backup-bench")?.to_path_buf()
        }
    };
    let path = dir.join(name);
    ensure!(
        path.exists(),
        "{} not found: build the binaries first (cargo build --release --workspace --bins)",
        path.display()
    );
    Ok(path)
}

fn rsync_version() -> Result<String> {
    let out = match Command::new("rsync").arg("--version").stdin(Stdio::null()).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("rsync not found on PATH: the benchmark compares against it (apt-get install rsync)")
        }
        Err(e) => return Err(e).context("running rsync --version"),
    };
    ensure!(out.status.success(), "rsync --version failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    Ok(first.split_whitespace().nth(2).unwrap_or("?").to_owned())
}

/// The working directory; its contents (and itself, if it was created here) are removed when
/// dropped, unless kept.
struct WorkDir {
    path: PathBuf,
    created: bool,
    keep: bool,
}

impl WorkDir {
    fn new(dir: Option<&Path>, keep: bool) -> Result<WorkDir> {
        match dir {
            None => {
                let tmp =
                    tempfile::Builder::new().prefix("seaf-backup-bench.").tempdir().context("creating a temp dir")?;
                Ok(WorkDir { path: tmp.keep(), created: true, keep })
            }
            Some(d) => {
                let created = !d.exists();
                if created {
                    std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                } else {
                    let mut entries = std::fs::read_dir(d).with_context(|| format!("reading {}", d.display()))?;
                    ensure!(entries.next().is_none(), "{} is not empty (give an absent or empty --dir)", d.display());
                }
                let path = std::fs::canonicalize(d)?;
                Ok(WorkDir { path, created, keep })
            }
        }
    }

    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
            return;
        }
        eprintln!(
            "removing {} (on ext4, creating many files stays slow for a few minutes after this: wait before the next run)",
            self.path.display()
        );
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
        } else if let Ok(entries) = std::fs::read_dir(&self.path) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }
}

/// CPU time (user + system) of a running process and of the children it has waited for, from
/// `/proc/<pid>/stat`, in seconds.
fn proc_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14..=17 of the line, 12..=15 after the name.
    let ticks: f64 = fields.get(11..15)?.iter().map(|f| f.parse::<f64>().ok()).sum::<Option<f64>>()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// `sync(2)`, timed: flushes what the previous phase left dirty, so each phase starts clean.
fn flush() -> f64 {
    let t = Instant::now();
    // SAFETY: sync(2) has no arguments and cannot fail.
    unsafe { libc::sync() };
    t.elapsed().as_secs_f64()
}

/// Files and bytes below `root` (regular files only).
fn tree_size(root: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

struct Dataset {
    bytes: u64,
    files_on_disk: u64,
    library_files: Option<u64>,
    commits: u64,
    fs_objects: u64,
    blocks: u64,
    libraries: usize,
    generate_seconds: f64,
}

/// `files=N` of the `total:` line that `seaf-primary-sim generate` prints.
fn library_files(summary: &str) -> Option<u64> {
    let line = summary.lines().find(|l| l.starts_with("total:"))?;
    line.split([' ', ';']).find_map(|w| w.strip_prefix("files=")).and_then(|n| n.parse().ok())
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Whether an rsync daemon answers on `port` within `timeout`.
fn rsyncd_greets(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("@RSYNCD:") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// An rsync daemon on a free loopback port serving `path` read-only as [`MODULE`].
fn start_rsyncd(work: &WorkDir, path: &Path) -> Result<(Proc, u16)> {
    let conf = work.join("rsyncd.conf");
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    std::fs::write(
        &conf,
        format!(
            "use chroot = no\nreverse lookup = no\nhosts allow = 127.0.0.1\nuid = {uid}\ngid = {gid}\n\
             log file = {}\n\n[{MODULE}]\npath = {}\nread only = yes\n",
            work.join("rsyncd.log").display(),
            path.display()
        ),
    )?;
    for _ in 0..3 {
        let port = free_port()?;
        let mut cmd = Command::new("rsync");
        cmd.args(["--daemon", "--no-detach", "--address", "127.0.0.1", "--port", &port.to_string(), "--config"])
            .arg(&conf);
        let proc = Proc::start("rsync --daemon", &mut cmd, &work.join("rsyncd.stderr.log"))?;
        if rsyncd_greets(port, Duration::from_secs(10)) {
            return Ok((proc, port));
        }
        drop(proc);
    }
    let log = std::fs::read_to_string(work.join("rsyncd.stderr.log")).unwrap_or_default();
    bail!("the rsync daemon did not start on 127.0.0.1:\n{}", tail(&log))
}

/// Our side of one measured phase.
struct Ours {
    run: Run,
    report: Value,
    flush_after: f64,
    /// CPU time of the simulator serving this run.
    server_cpu: f64,
}

impl Ours {
    fn total(&self, kind: &str, what: &str) -> u64 {
        self.report["totals"][kind][what].as_u64().unwrap_or(0)
    }

    fn bytes(&self) -> u64 {
        ["commits", "fs", "blocks"].iter().map(|k| self.total(k, "bytes")).sum()
    }

    fn objects(&self) -> Value {
        json!({
            "commits": self.total("commits", "objects"),
            "fs": self.total("fs", "objects"),
            "blocks": self.total("blocks", "objects"),
            "bytes": self.bytes(),
        })
    }
}

struct Rsync {
    run: Run,
    flush_after: f64,
    /// CPU time of the rsync daemon's side of this run (its forked sender, once reaped).
    server_cpu: f64,
}

struct Bench<'a> {
    args: &'a Args,
    fetcher: PathBuf,
    url: String,
    rsync_url: String,
    timeout: Duration,
    libraries: usize,
    server_pid: u32,
    rsyncd_pid: u32,
}

impl Bench<'_> {
    fn ours(&self, store: &Path, what: &str) -> Result<Ours> {
        let mut cmd = Command::new(&self.fetcher);
        cmd.args(["once", "--primary", &self.url, "--sync-token", SYNC_TOKEN, "--json", "--store"]).arg(store);
        let cpu_before = proc_cpu(self.server_pid);
        let run = run(what, &mut cmd, self.timeout)?.check(what)?;
        let server_cpu = cpu_delta(cpu_before, proc_cpu(self.server_pid));
        let report = run.json(what)?;
        let libs = report["libraries"].as_array().with_context(|| format!("{what}: no libraries in the report"))?;
        ensure!(
            libs.len() == self.libraries,
            "{what}: {} libraries in the report, {} on the primary",
            libs.len(),
            self.libraries
        );
        for l in libs {
            ensure!(l["ok"] == true, "{what}: library {} failed: {}", l["repo_id"], l["error"]);
        }
        let flush_after = flush();
        Ok(Ours { run, report, flush_after, server_cpu })
    }

    fn rsync(&self, dest: &Path, what: &str) -> Result<Rsync> {
        let mut cmd = Command::new("rsync");
        cmd.args(["-a", &self.rsync_url]).arg(format!("{}/", dest.display()));
        let cpu_before = proc_cpu(self.rsyncd_pid);
        let run = run(what, &mut cmd, self.timeout)?.check(what)?;
        let flush_after = flush();
        let server_cpu = cpu_delta(cpu_before, self.rsyncd_cpu_settled());
        Ok(Rsync { run, flush_after, server_cpu })
    }

    /// The daemon's CPU time once the sender it forked for the last connection is reaped (its
    /// time is added to the daemon's then).
    fn rsyncd_cpu_settled(&self) -> Option<f64> {
        for _ in 0..100 {
            if daemon_children(self.rsyncd_pid) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        proc_cpu(self.rsyncd_pid)
    }

    /// The two sides of one phase, in the order asked; returns (ours, rsync).
    fn both(&self, ours_first: bool, store: &Path, dest: &Path, what: &str) -> Result<(Ours, Rsync)> {
        let ours_what = format!("{what}: seaf-backup-fetcher once");
        let rsync_what = format!("{what}: rsync -a");
        if ours_first {
            let o = self.ours(store, &ours_what)?;
            let r = self.rsync(dest, &rsync_what)?;
            Ok((o, r))
        } else {
            let r = self.rsync(dest, &rsync_what)?;
            let o = self.ours(store, &ours_what)?;
            Ok((o, r))
        }
    }
}

fn cpu_delta(before: Option<f64>, after: Option<f64>) -> f64 {
    match (before, after) {
        (Some(b), Some(a)) => a - b,
        _ => f64::NAN,
    }
}

/// Number of live (or not yet reaped) children of `pid`.
fn daemon_children(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| s.split_whitespace().count())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1} s")
    } else if x >= 1.0 {
        format!("{x:.2} s")
    } else {
        format!("{x:.3} s")
    }
}

/// A size in decimal units.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 { format!("{:.2} GB", b / 1e9) } else { format!("{:.2} MB", b / 1e6) }
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

fn order(ours_first: bool) -> &'static str {
    if ours_first { "ours first" } else { "rsync first" }
}

fn bench(args: &Args) -> Result<()> {
    let rsync_version = rsync_version()?;
    let sim = workspace_bin("seaf-primary-sim")?;
    let fetcher = workspace_bin("seaf-backup-fetcher")?;
    let timeout = Duration::from_secs(args.timeout);
    let work = WorkDir::new(args.dir.as_deref(), args.keep)?;
    eprintln!("working directory {}", work.path.display());

    // The dataset.
    let data = work.join("primary");
    eprintln!("generating the dataset (scale {})…", args.scale);
    let mut cmd = Command::new(&sim);
    cmd.args(["generate", "--scale", &args.scale, "--out"]).arg(&data);
    let generated = run("seaf-primary-sim generate", &mut cmd, timeout)?.check("seaf-primary-sim generate")?;
    let seafile_data = data.join("seafile-data");
    let storage = seafile_data.join("storage");
    let (files_on_disk, bytes) = tree_size(&seafile_data);
    let primary = Primary { data: data.clone(), server: None, url: String::new(), database_url: None };
    let dataset = Dataset {
        bytes,
        files_on_disk,
        library_files: library_files(&generated.stdout),
        commits: tree_size(&storage.join("commits")).0,
        fs_objects: tree_size(&storage.join("fs")).0,
        blocks: tree_size(&storage.join("blocks")).0,
        libraries: primary.libraries().len(),
        generate_seconds: generated.wall,
    };

    // The two servers.
    let mut cmd = Command::new(&sim);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--sync-token", SYNC_TOKEN, "--data"]).arg(&data);
    let mut server = Proc::start("seaf-primary-sim serve", &mut cmd, &work.join("serve.log"))?;
    let line = server.wait_for_line("listening on", Duration::from_secs(30))?;
    let addr = line.rsplit(' ').next().context("listening on ADDR")?.trim().to_owned();
    let (rsyncd, port) = start_rsyncd(&work, &seafile_data)?;
    let b = Bench {
        args,
        fetcher: fetcher.clone(),
        url: format!("http://{addr}"),
        rsync_url: format!("rsync://127.0.0.1:{port}/{MODULE}/"),
        timeout,
        libraries: dataset.libraries,
        server_pid: server.pid(),
        rsyncd_pid: rsyncd.pid(),
    };

    // Initial: fresh targets every round; nothing is deleted until the end.
    flush();
    let mut initial = Vec::new();
    for round in 1..=args.rounds {
        let ours_first = round % 2 == 1;
        eprintln!("initial round {round} of {} ({})…", args.rounds, order(ours_first));
        let store = work.join(&format!("backup-r{round}"));
        let dest = work.join(&format!("rsync-r{round}"));
        let (o, r) = b.both(ours_first, &store, &dest, &format!("initial round {round}"))?;
        initial.push((ours_first, o, r, store, dest));
    }
    let (_, _, _, store, dest) = initial.last().expect("at least one round");
    let (store, dest) = (store.clone(), dest.clone());

    // Incremental: one small commit, then both again into the same targets.
    let mut increments = Vec::new();
    for i in 1..=args.increments {
        let mut cmd = Command::new(&sim);
        cmd.args(["commit", "--count", "1", "--seed", &i.to_string(), "--data"]).arg(&data);
        let committed = run("seaf-primary-sim commit", &mut cmd, timeout)?.check("seaf-primary-sim commit")?;
        let rec: Value = committed
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .context("seaf-primary-sim commit printed no commit")?;
        let repo = rec["repo_id"].as_str().context("commit record without repo_id")?.to_owned();
        let commit = rec["commit_id"].as_str().context("commit record without commit_id")?.to_owned();
        flush();
        let ours_first = i % 2 == 1;
        eprintln!("incremental run {i} of {} ({})…", args.increments, order(ours_first));
        let (o, r) = b.both(ours_first, &store, &dest, &format!("incremental run {i}"))?;
        let lib = o.report["libraries"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["repo_id"] == repo.as_str()))
            .cloned()
            .with_context(|| format!("incremental run {i}: library {repo} missing in the report"))?;
        ensure!(
            lib["head"] == commit.as_str(),
            "incremental run {i}: library {repo} backed up at {}, the primary is at {commit}",
            lib["head"]
        );
        ensure!(o.total("commits", "objects") >= 1, "incremental run {i}: the new commit was not fetched");
        increments.push((ours_first, repo, lib, o, r));
    }

    // Checks (not timed in the figures).
    eprintln!("verifying the backup…");
    let mut cmd = Command::new(&fetcher);
    cmd.args(["verify", "--store"]).arg(&store);
    let verified = run("seaf-backup-fetcher verify", &mut cmd, timeout)?.check("seaf-backup-fetcher verify")?;
    let verify_line = verified.stdout.lines().rev().find(|l| l.contains("libraries checked")).unwrap_or("").to_owned();
    let primary_files = count_files(&seafile_data);
    let rsync_files = count_files(&dest);
    ensure!(rsync_files == primary_files, "the rsync copy has {rsync_files} files, the primary {primary_files}");
    let primary_objects = count_files(&storage);
    let stored_objects = count_files(&store.join("storage"));
    ensure!(
        stored_objects == primary_objects,
        "the backup holds {stored_objects} object files, the primary {primary_objects}"
    );

    drop(rsyncd);
    drop(server);

    report(&b, &rsync_version, &dataset, &initial, &increments, &verified, &verify_line);
    drop(work);
    Ok(())
}

type Initial = (bool, Ours, Rsync, PathBuf, PathBuf);
type Increment = (bool, String, Value, Ours, Rsync);

fn report(
    b: &Bench,
    rsync_version: &str,
    d: &Dataset,
    initial: &[Initial],
    increments: &[Increment],
    verified: &Run,
    verify_line: &str,
) {
    let args = b.args;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut out = Vec::new();
    out.push(format!(
        "seaf-backup data-plane benchmark: scale {}, {} initial round(s), {} incremental run(s); {cpus} CPUs; rsync {rsync_version}",
        args.scale, args.rounds, args.increments
    ));
    out.push(
        "units: MB = 10^6 bytes, GB = 10^9 bytes (data, rates); MiB = 2^20 bytes (memory); times are wall clock"
            .to_owned(),
    );
    let files = d.library_files.map(|n| format!("{} files, ", thousands(n))).unwrap_or_default();
    out.push(format!(
        "dataset: {}, {files}{} fs objects, {} blocks, {} commits, {} libraries ({} files on disk; generated in {})",
        size(d.bytes),
        thousands(d.fs_objects),
        thousands(d.blocks),
        thousands(d.commits),
        d.libraries,
        thousands(d.files_on_disk),
        secs(d.generate_seconds)
    ));

    // Initial.
    let ratio = |r: &Rsync, o: &Ours| r.run.wall / o.run.wall;
    let multi = initial.len() > 1;
    if multi {
        for (i, (first, o, r, ..)) in initial.iter().enumerate() {
            out.push(format!(
                "initial   round {} ({}): seaf-backup {}  rsync -a {}  ratio {:.2}",
                i + 1,
                order(*first),
                secs(o.run.wall),
                secs(r.run.wall),
                ratio(r, o)
            ));
        }
    }
    let suffix = if multi { format!("  [median of {} rounds]", initial.len()) } else { String::new() };
    let ours_wall = median(initial.iter().map(|(_, o, ..)| o.run.wall).collect());
    let rsync_wall = median(initial.iter().map(|(_, _, r, ..)| r.run.wall).collect());
    let init_ratio = median(initial.iter().map(|(_, o, r, ..)| ratio(r, o)).collect());
    let first = &initial[0].1;
    let ours_bytes = first.bytes();
    let ours_fs = first.total("fs", "objects");
    let ours_rss = initial.iter().map(|(_, o, ..)| o.run.peak_rss_mib()).fold(0.0, f64::max);
    let rsync_rss = initial.iter().map(|(_, _, r, ..)| r.run.peak_rss_mib()).fold(0.0, f64::max);
    let ours_flush = median(initial.iter().map(|(_, o, ..)| o.flush_after).collect());
    let rsync_flush = median(initial.iter().map(|(_, _, r, ..)| r.flush_after).collect());
    out.push(format!(
        "initial   seaf-backup {}  {:.1} MB/s  {} fs objects/s (whole run)  peak RSS {:.0} MiB{suffix}",
        secs(ours_wall),
        mb(ours_bytes as f64) / ours_wall,
        thousands((ours_fs as f64 / ours_wall).round() as u64),
        ours_rss,
    ));
    out.push(format!(
        "initial   rsync -a    {}  {:.1} MB/s  peak RSS {:.0} MiB  ratio rsync/ours {:.2} (target >= 1.0: {}){suffix}",
        secs(rsync_wall),
        mb(d.bytes as f64) / rsync_wall,
        rsync_rss,
        init_ratio,
        met(init_ratio >= 1.0)
    ));
    out.push(format!(
        "initial   cpu: seaf-backup {} (sys {}) + simulator {};  rsync client {} (sys {}) + daemon {};  sync(2) afterwards, untimed: ours {}, rsync {}{suffix}",
        secs(median(initial.iter().map(|(_, o, ..)| o.run.cpu).collect())),
        secs(median(initial.iter().map(|(_, o, ..)| o.run.cpu_sys).collect())),
        secs(median(initial.iter().map(|(_, o, ..)| o.server_cpu).collect())),
        secs(median(initial.iter().map(|(_, _, r, ..)| r.run.cpu).collect())),
        secs(median(initial.iter().map(|(_, _, r, ..)| r.run.cpu_sys).collect())),
        secs(median(initial.iter().map(|(_, _, r, ..)| r.server_cpu).collect())),
        secs(ours_flush),
        secs(rsync_flush),
    ));

    // Incremental.
    let mut inc_json = Vec::new();
    for (i, (first, repo, lib, o, r)) in increments.iter().enumerate() {
        let lib_secs = lib["seconds"].as_f64().unwrap_or(f64::NAN);
        out.push(format!(
            "incr.     run {} ({}): {} {}: fetched commits {}, fs objects {}, blocks {}, {:.2} MB  seaf-backup {} (process) / {} (library)  rsync -a {}  ratio {:.1}",
            i + 1,
            order(*first),
            lib["name"].as_str().unwrap_or("?"),
            &repo[..repo.len().min(8)],
            o.total("commits", "objects"),
            o.total("fs", "objects"),
            o.total("blocks", "objects"),
            mb(o.bytes() as f64),
            secs(o.run.wall),
            secs(lib_secs),
            secs(r.run.wall),
            ratio(r, o)
        ));
        inc_json.push(json!({
            "order": order(*first),
            "repo_id": repo,
            "library": lib["name"],
            "seaf_backup": {
                "process_seconds": o.run.wall,
                "library_seconds": lib_secs,
                "report_seconds": o.report["seconds"],
                "transferred": o.objects(),
                "peak_rss_mib": o.run.peak_rss_mib(),
                "cpu_seconds": o.run.cpu,
                "cpu_sys_seconds": o.run.cpu_sys,
                "simulator_cpu_seconds": o.server_cpu,
            },
            "rsync": {
                "seconds": r.run.wall,
                "peak_rss_mib": r.run.peak_rss_mib(),
                "cpu_seconds": r.run.cpu,
                "cpu_sys_seconds": r.run.cpu_sys,
                "daemon_cpu_seconds": r.server_cpu,
            },
            "ratio_rsync_over_ours": ratio(r, o),
        }));
    }
    let inc_ours = median(increments.iter().map(|(.., o, _)| o.run.wall).collect());
    let inc_lib = median(increments.iter().map(|(_, _, l, ..)| l["seconds"].as_f64().unwrap_or(f64::NAN)).collect());
    let inc_rsync = median(increments.iter().map(|(.., r)| r.run.wall).collect());
    let inc_ratio = median(increments.iter().map(|(.., o, r)| ratio(r, o)).collect());
    out.push(format!(
        "incr.     seaf-backup {} (process) / {} (library)   rsync -a {}   ratio {:.1} (target >= 100: {})  [median of {} runs]",
        secs(inc_ours),
        secs(inc_lib),
        secs(inc_rsync),
        inc_ratio,
        met(inc_ratio >= 100.0),
        increments.len()
    ));
    out.push(format!(
        "incr.     cpu: seaf-backup {} + simulator {};  rsync client {} + daemon {}  [median of {} runs]",
        secs(median(increments.iter().map(|(.., o, _)| o.run.cpu).collect())),
        secs(median(increments.iter().map(|(.., o, _)| o.server_cpu).collect())),
        secs(median(increments.iter().map(|(.., r)| r.run.cpu).collect())),
        secs(median(increments.iter().map(|(.., r)| r.server_cpu).collect())),
        increments.len()
    ));

    let fetcher_rss = initial
        .iter()
        .map(|(_, o, ..)| o.run.peak_rss_mib())
        .chain(increments.iter().map(|(.., o, _)| o.run.peak_rss_mib()))
        .fold(0.0, f64::max);
    out.push(format!("fetcher peak RSS {fetcher_rss:.0} MiB (target < 64 MiB: {})", met(fetcher_rss < 64.0)));
    out.push(format!("verify    ok: {verify_line} ({}, not part of the figures)", secs(verified.wall)));

    for l in &out {
        println!("{l}");
    }

    if args.json {
        let rounds: Vec<Value> = initial
            .iter()
            .map(|(first, o, r, ..)| {
                json!({
                    "order": order(*first),
                    "seaf_backup": {
                        "seconds": o.run.wall,
                        "report_seconds": o.report["seconds"],
                        "mb_per_s": mb(o.bytes() as f64) / o.run.wall,
                        "fs_objects_per_s_whole_run": o.total("fs", "objects") as f64 / o.run.wall,
                        "transferred": o.objects(),
                        "peak_rss_mib": o.run.peak_rss_mib(),
                        "sync_afterwards_seconds": o.flush_after,
                        "cpu_seconds": o.run.cpu,
                        "cpu_sys_seconds": o.run.cpu_sys,
                        "simulator_cpu_seconds": o.server_cpu,
                        "libraries": o.report["libraries"].as_array().map(|ls| ls.iter().map(|l| json!({
                            "repo_id": l["repo_id"],
                            "name": l["name"],
                            "seconds": l["seconds"],
                            "stats": l["stats"],
                        })).collect::<Vec<_>>()),
                    },
                    "rsync": {
                        "seconds": r.run.wall,
                        "mb_per_s": mb(d.bytes as f64) / r.run.wall,
                        "peak_rss_mib": r.run.peak_rss_mib(),
                        "sync_afterwards_seconds": r.flush_after,
                        "cpu_seconds": r.run.cpu,
                        "cpu_sys_seconds": r.run.cpu_sys,
                        "daemon_cpu_seconds": r.server_cpu,
                    },
                    "ratio_rsync_over_ours": ratio(r, o),
                })
            })
            .collect();
        let all = json!({
            "units": { "data": "MB = 10^6 bytes", "memory": "MiB = 2^20 bytes", "time": "wall-clock seconds" },
            "scale": args.scale,
            "cpus": cpus,
            "rsync_version": rsync_version,
            "dataset": {
                "bytes": d.bytes,
                "library_files": d.library_files,
                "files_on_disk": d.files_on_disk,
                "commits": d.commits,
                "fs_objects": d.fs_objects,
                "blocks": d.blocks,
                "libraries": d.libraries,
                "generate_seconds": d.generate_seconds,
            },
            "initial": {
                "rounds": rounds,
                "median": {
                    "seaf_backup_seconds": ours_wall,
                    "seaf_backup_mb_per_s": mb(ours_bytes as f64) / ours_wall,
                    "seaf_backup_fs_objects_per_s_whole_run": ours_fs as f64 / ours_wall,
                    "rsync_seconds": rsync_wall,
                    "rsync_mb_per_s": mb(d.bytes as f64) / rsync_wall,
                    "ratio_rsync_over_ours": init_ratio,
                },
                "seaf_backup_peak_rss_mib": ours_rss,
                "rsync_peak_rss_mib": rsync_rss,
                "target_ratio": 1.0,
            },
            "incremental": {
                "runs": inc_json,
                "median": {
                    "seaf_backup_process_seconds": inc_ours,
                    "seaf_backup_library_seconds": inc_lib,
                    "rsync_seconds": inc_rsync,
                    "ratio_rsync_over_ours": inc_ratio,
                },
                "target_ratio": 100.0,
            },
            "fetcher_peak_rss_mib": fetcher_rss,
            "target_fetcher_peak_rss_mib": 64.0,
            "verify": { "ok": true, "seconds": verified.wall, "summary": verify_line },
        });
        println!("{all}");
    }
}
