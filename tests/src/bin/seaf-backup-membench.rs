//! `seaf-backup-membench`: the fetcher's peak memory on one library of many files.
//!
//! For each count given with `--files` (default 200,000 and 400,000), generates one library of
//! that many tiny files (`seaf-primary-sim generate --scale many-files`: 1 to 512 bytes each, in
//! folders of 100, a short history), serves it on loopback, backs it up with
//! `seaf-backup-fetcher once`, verifies the backup, and reads the fetcher's peak RSS (`ru_maxrss`
//! from `wait4`). Each dataset is removed after its run unless `--keep`. Prints one line per count
//! and the target, or JSON with `--json`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use seaf_backup_tests::measure::run;
use seaf_backup_tests::{Primary, SYNC_TOKEN, bin};
use serde_json::{Value, json};

/// The fetcher's peak RSS must stay under this, whatever the number of files.
const TARGET_MIB: f64 = 64.0;

#[derive(Parser)]
#[command(about = "Peak memory of seaf-backup-fetcher on one library of many files")]
struct Args {
    /// Files in the library, one run per count.
    #[arg(long, value_delimiter = ',', default_value = "200000,400000")]
    files: Vec<usize>,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep each dataset and backup.
    #[arg(long)]
    keep: bool,
    #[arg(long)]
    json: bool,
    /// Time limit of each command, in seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
}

fn main() -> ExitCode {
    match measure_all(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure_all(args: &Args) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let timeout = Duration::from_secs(args.timeout);
    let mut runs = Vec::new();
    for &files in &args.files {
        let dir = root.join(format!("files-{files}"));
        std::fs::create_dir_all(&dir)?;
        let r = measure(&dir, files, timeout)?;
        if !args.json {
            println!(
                "{files} files ({} fs objects, {} blocks): fetcher peak RSS {:.1} MiB, {:.1} s (generated in {:.1} s)",
                r["fs_objects"],
                r["blocks"],
                r["peak_rss_mib"].as_f64().unwrap_or(0.0),
                r["seconds"].as_f64().unwrap_or(0.0),
                r["generate_seconds"].as_f64().unwrap_or(0.0),
            );
        }
        runs.push(r);
        if !args.keep {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let worst = runs.iter().filter_map(|r| r["peak_rss_mib"].as_f64()).fold(0.0, f64::max);
    let met = worst < TARGET_MIB;
    if args.json {
        println!("{}", json!({ "runs": runs, "target_mib": TARGET_MIB, "met": met }));
    } else {
        println!("target: peak RSS < {TARGET_MIB} MiB at every count: {}", if met { "met" } else { "NOT met" });
    }
    Ok(())
}

fn measure(dir: &std::path::Path, files: usize, timeout: Duration) -> Result<Value> {
    let data = dir.join("primary");
    let mut gen_cmd = Command::new(bin("seaf-primary-sim"));
    gen_cmd.args(["generate", "--libraries", "1", "--scale", "many-files", "--files", &files.to_string(), "--out"]);
    gen_cmd.arg(&data);
    let generated = run("seaf-primary-sim generate", &mut gen_cmd, timeout)?.check("seaf-primary-sim generate")?;
    let mut primary = Primary { data, server: None, url: String::new(), database_url: None };
    primary.serve(&[]);
    let store = dir.join("backup");
    let mut once = Command::new(bin("seaf-backup-fetcher"));
    once.args(["once", "--primary", &primary.url, "--sync-token", SYNC_TOKEN, "--json", "--store"]).arg(&store);
    let ran = run("seaf-backup-fetcher once", &mut once, timeout)?.check("seaf-backup-fetcher once")?;
    let report = ran.json("seaf-backup-fetcher once")?;
    primary.stop();
    let mut verify = Command::new(bin("seaf-backup-fetcher"));
    verify.args(["verify", "--store"]).arg(&store);
    run("seaf-backup-fetcher verify", &mut verify, timeout)?.check("verifying the backup")?;
    let total = |kind: &str| report["totals"][kind]["objects"].as_u64().unwrap_or(0);
    let (fs_objects, blocks) = (total("fs"), total("blocks"));
    ensure!(fs_objects as usize >= files, "only {fs_objects} fs objects fetched for {files} files: {report}");
    Ok(json!({
        "files": files, "fs_objects": fs_objects, "blocks": blocks,
        "peak_rss_mib": ran.peak_rss_mib(), "seconds": ran.wall, "cpu_seconds": ran.cpu,
        "generate_seconds": generated.wall,
    }))
}
