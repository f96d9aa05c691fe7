//! Running a client process to completion with its wall time, CPU time and peak RSS (from
//! `wait4`'s rusage), for the benchmarks.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A finished client process.
pub struct Run {
    /// From just before the spawn to the exit (not to the end of its output).
    pub wall: f64,
    /// `ru_maxrss` of the process and the children it waited for, in KiB.
    pub peak_rss_kib: u64,
    /// User + system CPU time of the process and the children it waited for, in seconds.
    pub cpu: f64,
    /// The system part of `cpu`.
    pub cpu_sys: f64,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }

    pub fn check(self, what: &str) -> Result<Run> {
        if self.code == Some(0) {
            return Ok(self);
        }
        let how = match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(s)) => format!("signal {s}"),
            _ => "unknown status".to_owned(),
        };
        bail!("{what} failed ({how})\nstdout:\n{}\nstderr:\n{}", tail(&self.stdout), tail(&self.stderr))
    }

    pub fn json(&self, what: &str) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("{what}: stdout is not JSON:\n{}", tail(&self.stdout)))
    }
}

pub fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(4000);
    let start = (start..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
    &s[start..]
}

fn read_all(r: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            s = String::from_utf8_lossy(&buf).into_owned();
        }
        let _ = tx.send(s);
    });
    rx
}

/// Waits for the exit of `pid` without reaping it, then reaps it with `wait4` for its rusage.
/// The pid stays ours until `reaped` is set (under its lock), so a kill after a timeout can never
/// reach another process.
fn reap(pid: libc::pid_t, reaped: &Mutex<bool>) -> std::io::Result<(Instant, libc::c_int, libc::rusage)> {
    let mut waited = false;
    for _ in 0..10_000 {
        // SAFETY: `info` is a valid, writable siginfo_t.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            waited = true;
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if !waited {
        return Err(std::io::Error::other("waitid kept being interrupted"));
    }
    let end = Instant::now();
    let mut flag = reaped.lock().unwrap_or_else(|e| e.into_inner());
    let mut status: libc::c_int = 0;
    // SAFETY: `usage` is a valid, writable rusage; the child has exited, so this returns at once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(std::io::Error::last_os_error());
    }
    *flag = true;
    Ok((end, status, usage))
}

/// Runs `cmd` to completion (killed after `timeout`), timing it and reading its peak RSS.
pub fn run(what: &str, cmd: &mut Command, timeout: Duration) -> Result<Run> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let pid = child.id() as libc::pid_t;
    let out = read_all(child.stdout.take());
    let err = read_all(child.stderr.take());
    let reaped = Arc::new(Mutex::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let reaped = Arc::clone(&reaped);
        std::thread::spawn(move || {
            let _ = tx.send(reap(pid, &reaped));
        });
    }
    let waited = match rx.recv_timeout(timeout) {
        Ok(w) => w,
        Err(_) => {
            {
                let reaped = reaped.lock().unwrap_or_else(|e| e.into_inner());
                if !*reaped {
                    // SAFETY: plain kill(2) of our own, not yet reaped, child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = rx.recv_timeout(Duration::from_secs(10));
            bail!("{what} did not finish within {timeout:?} (killed)");
        }
    };
    let (end, status, usage) = waited.with_context(|| format!("waiting for {what}"))?;
    drop(child);
    let collect = |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Run {
        wall: end.duration_since(start).as_secs_f64(),
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        cpu_sys: timeval(usage.ru_stime),
        code,
        signal,
        stdout: collect(out),
        stderr: collect(err),
    })
}

fn timeval(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}
