//! Every component's Prometheus metrics, scraped during a real cluster run against a stock primary:
//! the values must follow from what the run did.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use seaf_backup_tests::Primary;
use seaf_backup_tests::cluster::{Cluster, ClusterOptions};

const CONVERGE: Duration = Duration::from_secs(90);

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

/// The sum of a metric over every fetcher.
fn over_fetchers(c: &Cluster, key: &str) -> f64 {
    c.component_metrics.keys().filter(|k| k.starts_with("fetcher-")).map(|f| get(&c.metrics_of(f), key)).sum()
}

/// `promtool check metrics` (Prometheus's own linter) on a component's text; panics with its
/// findings unless it passes.
fn promtool_check(component: &str, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; tests/deps.sh installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics on the {component}'s /metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Total size of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                n += meta.len();
            }
        }
    }
    n
}

#[test]
fn every_component_exports_what_the_run_did() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate_stock(dir.path(), &["--libraries", "4", "--seed", "41"]);
    primary.serve(&[]);
    let opts = ClusterOptions { metrics: true, ..ClusterOptions::default() };
    let mut c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);

    // Coordinator: the libraries by state, its stores, the poll.
    c.wait_for("the library gauges", CONVERGE, || {
        get(&c.metrics(), "seaf_backup_libraries{state=\"synchronized\"}") == 4.0
    });
    let m = c.metrics();
    for (key, want) in [
        ("seaf_backup_libraries{state=\"failed\"}", 0.0),
        ("seaf_backup_mysql_up", 1.0),
        ("seaf_backup_redis_up", 1.0),
        ("seaf_backup_poll_libraries", 4.0),
        ("seaf_backup_backup_lag_seconds_max", 0.0),
        ("seaf_backup_libraries_lagging{over=\"0\"}", 0.0),
        ("seaf_backup_leases_held", 0.0),
        ("seaf_backup_queue_due", 0.0),
        ("seaf_backup_fetcher_demand", 0.0),
        ("seaf_backup_poll_interval_seconds", 3600.0),
    ] {
        assert_eq!(get(&m, key), want, "{key}");
    }
    assert!(get(&m, "seaf_backup_poll_last_success_timestamp_seconds") > 1.7e9);
    assert!(get(&m, "seaf_backup_coordinator_start_time_seconds") > 1.7e9);

    // Fetchers: the block bytes they fetched are the store's blocks. The virtual library shares
    // its origin's store, and when the two jobs run at once both may fetch the same missing
    // blocks: at most that one store's bytes are counted twice.
    let blocks = c.store.join("storage").join("blocks");
    let stored = bytes_under(&blocks) as f64;
    let largest_store =
        std::fs::read_dir(&blocks).unwrap().flatten().map(|d| bytes_under(&d.path())).max().unwrap() as f64;
    assert!(stored > 0.0);
    let fetched = over_fetchers(&c, "seaf_backup_fetched_bytes_total{kind=\"block\"}");
    assert!(fetched >= stored && fetched <= stored + largest_store, "fetched {fetched}, stored {stored}");
    assert_eq!(over_fetchers(&c, "seaf_backup_fetcher_jobs_total{outcome=\"published\"}"), 4.0);
    assert!(over_fetchers(&c, "seaf_backup_primary_requests_total{outcome=\"ok\"}") > 0.0);
    assert!(over_fetchers(&c, "seaf_backup_primary_request_duration_seconds_count") > 0.0);
    assert!(over_fetchers(&c, "seaf_backup_store_barrier_duration_seconds_count") > 0.0);
    assert_eq!(over_fetchers(&c, "seaf_backup_fetcher_jobs_running"), 0.0);
    let text = c.metrics_text("fetcher-0");
    assert!(text.contains("# TYPE seaf_backup_primary_request_duration_seconds histogram"), "{text}");

    // With every fetcher stopped, an evented commit makes the lag rise; it falls once one runs.
    for i in 0..c.fetchers.len() {
        c.kill_fetcher(i);
    }
    c.commit_with_events(&["--count", "2"]).assert_ok();
    let gw = c.metrics_of("gateway");
    assert_eq!(get(&gw, "seaf_backup_gateway_notifications_total{endpoint=\"events\",outcome=\"accepted\"}"), 2.0);
    c.wait_for("the lag to show", CONVERGE, || get(&c.metrics(), "seaf_backup_backup_lag_seconds_max") > 0.0);
    let first = get(&c.metrics(), "seaf_backup_backup_lag_seconds_max");
    c.wait_for("the lag to rise", CONVERGE, || get(&c.metrics(), "seaf_backup_backup_lag_seconds_max") > first);
    assert!(get(&c.metrics(), "seaf_backup_libraries_lagging{over=\"0\"}") >= 1.0);
    let m = c.metrics();
    assert!(get(&m, "seaf_backup_queue_depth") >= 1.0);
    assert!(get(&m, "seaf_backup_queue_due") >= 1.0);
    assert_eq!(get(&m, "seaf_backup_fetcher_demand"), get(&m, "seaf_backup_queue_due"), "no lease is held");
    c.start_fetcher();
    c.wait_converged(CONVERGE);
    c.wait_for("the lag to fall back", CONVERGE, || {
        let m = c.metrics();
        get(&m, "seaf_backup_backup_lag_seconds_max") == 0.0
            && get(&m, "seaf_backup_libraries_lagging{over=\"0\"}") == 0.0
    });
    assert!(get(&c.metrics(), "seaf_backup_publish_latency_seconds_count") >= 1.0);

    // A library that cannot be backed up (no owner on the primary) raises the failed gauge.
    let lib = c.primary_heads().into_keys().next().unwrap();
    c.primary.mutate("disown", &lib, &[]);
    c.commit_with_events(&["--library", &lib, "--count", "1"]).assert_ok();
    c.wait_for("the failed gauge", CONVERGE, || get(&c.metrics(), "seaf_backup_libraries{state=\"failed\"}") == 1.0);
    assert_eq!(get(&c.metrics(), "seaf_backup_libraries_lagging{over=\"0\"}"), 1.0);

    // Bad input to the gateway is counted by reason.
    let refused = seaf_backup_tests::cluster::post(&format!("{}/events", c.gateway_url), "Token nope", "{}");
    assert_eq!(refused, 401);
    let gw = c.metrics_of("gateway");
    assert_eq!(get(&gw, "seaf_backup_gateway_notifications_total{endpoint=\"events\",outcome=\"unauthorized\"}"), 1.0);

    // Every exposition passes Prometheus's own checks (fetcher-2 is the one started after the stop).
    for component in ["coordinator", "gateway", "fetcher-2"] {
        promtool_check(component, &c.metrics_text(component));
    }
}
