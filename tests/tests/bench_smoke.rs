//! The data-plane benchmark at tiny scale: it runs to the end and prints every labelled figure.
//! Timings are not checked; rsync is required (the benchmark compares against it).

use std::time::Duration;

use seaf_backup_tests::{Cmd, bin};
use serde_json::Value;

#[test]
fn bench_runs_at_tiny_scale() {
    let rsync = std::process::Command::new("rsync").arg("--version").output();
    assert!(
        rsync.is_ok_and(|o| o.status.success()),
        "rsync is required by the benchmark smoke test: install it (apt-get install rsync)"
    );
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let ran = Cmd::new(bin("seaf-backup-bench"))
        .args(["--scale", "tiny", "--rounds", "2", "--increments", "2", "--json", "--dir"])
        .args([&work])
        .timeout(Duration::from_secs(300))
        .run();
    ran.assert_ok();
    let out = &ran.stdout;
    for label in [
        "units: MB = 10^6 bytes",
        "dataset: ",
        "initial   round 1 (ours first): seaf-backup ",
        "initial   round 2 (rsync first): seaf-backup ",
        "initial   seaf-backup ",
        "initial   rsync -a ",
        "incr.     run 1 (ours first): ",
        "incr.     run 2 (rsync first): ",
        "incr.     seaf-backup ",
        "fetcher peak RSS ",
        "verify    ok: 5 libraries checked: 5 complete, 0 damaged",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(label)),
            "no line starting with {label:?} in:\n{out}\nstderr:\n{}",
            ran.stderr
        );
    }
    for needle in
        ["fs objects/s (whole run)", "ratio rsync/ours", "(process)", "(library)", "peak RSS", "[median of 2 runs]"]
    {
        assert!(out.contains(needle), "{needle:?} missing in:\n{out}");
    }

    let figures: Value = serde_json::from_str(out.lines().last().unwrap()).expect("the last line is the JSON object");
    assert_eq!(figures["initial"]["rounds"].as_array().map(Vec::len), Some(2), "{figures}");
    assert_eq!(figures["incremental"]["runs"].as_array().map(Vec::len), Some(2), "{figures}");
    assert_eq!(figures["dataset"]["libraries"], 5);
    assert_eq!(figures["verify"]["ok"], true);
    for run in figures["incremental"]["runs"].as_array().unwrap() {
        assert!(run["seaf_backup"]["transferred"]["commits"].as_u64() >= Some(1), "{run}");
    }
    assert!(figures["fetcher_peak_rss_mib"].as_f64().is_some_and(|m| m > 0.0), "{figures}");
    // Everything the benchmark made is removed at the end.
    assert_eq!(std::fs::read_dir(&work).map(|d| d.count()).unwrap_or(0), 0);
}

/// The latency benchmark on a small cluster, without and then with metrics, JSON logs and
/// traces: both runs go to the end and report every commit's latency; the observed one exported
/// spans. Timings are not checked.
#[test]
fn latency_bench_runs_on_a_small_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Cmd::new(bin("seaf-backup-latency"))
        .args(["--libraries", "6", "--rate", "10", "--seconds", "2", "--observability", "both", "--json", "--dir"])
        .args([dir.path().join("latency")])
        .timeout(Duration::from_secs(300))
        .run();
    ran.assert_ok();
    let j: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let runs = j["runs"].as_array().unwrap_or_else(|| panic!("no runs in {j}"));
    assert_eq!(runs.iter().map(|r| r["observability"].as_str().unwrap()).collect::<Vec<_>>(), ["off", "on"], "{j}");
    for r in runs {
        assert_eq!(r["commits"], 20, "{r}");
        // The initial backup of 6 libraries, then at least one head per committed library.
        assert!(r["branch_updates_seen"].as_u64().unwrap() > 6, "{r}");
        let l = &r["latency_ms"];
        let (p50, p99, max) = (l["p50"].as_u64().unwrap(), l["p99"].as_u64().unwrap(), l["max"].as_u64().unwrap());
        assert!(p50 <= p99 && p99 <= max, "{r}");
    }
    assert!(runs[0]["spans_exported"].is_null(), "{j}");
    // At least a job span per commit that reached a fetcher.
    assert!(runs[1]["spans_exported"].as_u64().unwrap() >= 6, "{j}");
}

/// The scale-out benchmark with 3 libraries, 1 and 2 fetchers: it runs to the end and reports both
/// runs with the coordinator's job counters. Timings are not checked.
#[test]
fn scaleout_bench_runs_with_one_and_two_fetchers() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Cmd::new(bin("seaf-backup-scaleout"))
        .args(["--libraries", "3", "--latency-ms", "5", "--fetchers", "1,2", "--json", "--dir"])
        .args([dir.path().join("scaleout")])
        .timeout(Duration::from_secs(300))
        .run();
    ran.assert_ok();
    let j: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let runs = j["runs"].as_array().unwrap_or_else(|| panic!("no runs in {j}"));
    assert_eq!(runs.iter().map(|r| r["run"]["fetchers"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "{j}");
    for r in runs {
        assert_eq!((r["run"]["leased"].as_u64(), r["run"]["published"].as_u64()), (Some(3), Some(3)), "{j}");
        assert!(r["run"]["seconds"].as_f64().unwrap() > 0.0 && r["speedup"].as_f64().unwrap() > 0.0, "{j}");
    }
    assert_eq!(runs[0]["speedup"].as_f64(), Some(1.0), "{j}");
}

/// The poll benchmark on a stock primary's database of 300 libraries, two polls: it runs to the end
/// and reports both polls and the coordinator's peak RSS. Timings are not checked.
#[test]
fn pollbench_runs_on_a_small_primary_database() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Cmd::new(bin("seaf-backup-pollbench"))
        .args(["--libraries", "300", "--changed", "30", "--polls", "2", "--json", "--dir"])
        .args([dir.path().join("pollbench")])
        .timeout(Duration::from_secs(300))
        .run();
    ran.assert_ok();
    let j: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let polls = j["polls"].as_array().unwrap_or_else(|| panic!("no polls in {j}"));
    assert_eq!(polls.len(), 2, "{j}");
    for p in polls {
        assert_eq!(p["listed"], 300, "{j}");
        assert!(p["seconds"].as_f64().is_some_and(|s| s > 0.0), "{j}");
    }
    assert_eq!((polls[0]["kind"].as_str(), polls[0]["queued"].as_u64()), (Some("first"), Some(300)), "{j}");
    assert!(polls[1..].iter().any(|p| p["kind"] == "steady" && p["queued"].as_u64() >= Some(30)), "{j}");
    assert!(j["coordinator"]["peak_rss_mib"].as_f64().is_some_and(|m| m > 0.0), "{j}");
}

/// The memory benchmark at 2,000 and 4,000 files: both runs back up and verify the library and
/// report the fetcher's peak RSS. Memory is reported, not checked here.
#[test]
fn memory_bench_runs_at_two_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Cmd::new(bin("seaf-backup-membench"))
        .args(["--files", "2000,4000", "--json", "--dir"])
        .args([dir.path().join("membench")])
        .timeout(Duration::from_secs(300))
        .run();
    ran.assert_ok();
    let j: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let runs = j["runs"].as_array().unwrap_or_else(|| panic!("no runs in {j}"));
    assert_eq!(runs.iter().map(|r| r["files"].as_u64().unwrap()).collect::<Vec<_>>(), [2000, 4000], "{j}");
    for r in runs {
        assert!(r["fs_objects"].as_u64().unwrap() >= r["files"].as_u64().unwrap(), "{r}");
        assert!(r["blocks"].as_u64().unwrap() > 0 && r["peak_rss_mib"].as_f64().unwrap() > 1.0, "{r}");
    }
    assert_eq!(j["target_mib"], 64.0);
    // The datasets are removed after each run.
    assert_eq!(std::fs::read_dir(dir.path().join("membench")).unwrap().count(), 0);
}
