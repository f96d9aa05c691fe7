//! The Helm chart's alerts and Grafana dashboard on a real Prometheus scraping a real cluster:
//! every dashboard query runs against what the components export, and the alerts fire when the
//! fetchers are gone while work waits, then resolve once a fetcher is back.

use std::collections::BTreeSet;
use std::time::Duration;

use seaf_backup_tests::Primary;
use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::prometheus::{NAMESPACE, Prometheus, ScrapeJob, chart_rules};

const CONVERGE: Duration = Duration::from_secs(90);

/// The `seaf_backup_…` metric names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in expr.match_indices("seaf_backup_") {
        let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        names.insert(name);
    }
    names
}

#[test]
fn chart_alerts_fire_and_resolve_and_the_dashboard_queries_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3", "--seed", "53"]);
    primary.serve(&[]);
    let opts = ClusterOptions { metrics: true, ..ClusterOptions::default() };
    let mut c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);
    // An evented commit too, so the gateway's and the publish latency's series exist.
    c.commit_with_events(&["--count", "1"]).assert_ok();
    c.wait_converged(CONVERGE);

    // The chart's rules, with thresholds a test can reach: lag above 2 s, everything at once.
    let rules = chart_rules(
        dir.path(),
        &["lagThresholdSeconds=2", "lagFor=0s", "fetchersIdleFor=0s", "downFor=0s", "failedFor=0s"],
    );
    let fetchers: Vec<String> =
        c.component_metrics.iter().filter(|(k, _)| k.starts_with("fetcher-")).map(|(_, v)| v.clone()).collect();
    assert_eq!(fetchers.len(), 2);
    let jobs = [
        ScrapeJob { job: "rel-seaf-backup-coordinator".into(), metrics_urls: vec![c.metrics_url.clone().unwrap()] },
        ScrapeJob { job: "rel-seaf-backup-gateway".into(), metrics_urls: vec![c.component_metrics["gateway"].clone()] },
        ScrapeJob { job: "rel-seaf-backup-fetcher".into(), metrics_urls: fetchers },
    ];
    let prom = Prometheus::start(dir.path(), &jobs, Some(&rules));
    c.wait_for("every target scraped", CONVERGE, || {
        prom.query("up == 1").len() == 4 && !prom.query("seaf_backup_libraries").is_empty()
    });
    // A few rule evaluations over a healthy cluster: nothing fires.
    let mut seen = BTreeSet::new();
    c.wait_for("three rule evaluations", CONVERGE, || {
        seen.insert(prom.last_rule_evaluation());
        seen.len() > 3
    });
    assert_eq!(prom.firing(), BTreeSet::new(), "alerts on a healthy cluster: {:?}", prom.alerts());

    // Every dashboard query is valid PromQL over series that exist (the replication panel
    // only has data when the backup's database is a replica).
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../helm/seaf-backup/dashboards/seaf-backup.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().replace("$namespace", NAMESPACE).replace("$__rate_interval", "1m"));
        }
    }
    assert!(exprs.len() > 15, "{exprs:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let empty: Vec<&String> =
            exprs.iter().filter(|e| !e.contains("replication") && prom.query(e).is_empty()).collect();
        if empty.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "dashboard queries without data after 30 s: {empty:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // ... and every metric the alerts read exists, but the replica's.
    let stored = prom.metric_names();
    let rule_text = std::fs::read_to_string(&rules).unwrap();
    for name in metric_names(&rule_text) {
        assert!(
            name.contains("replication") || stored.contains(&name),
            "the alerts read {name}, which nothing exports"
        );
    }

    // The fetchers die while commits arrive: the lag rises over the threshold, work waits with
    // no lease, and the fetchers' targets are down.
    for i in 0..c.fetchers.len() {
        c.kill_fetcher(i);
    }
    c.commit_with_events(&["--count", "2"]).assert_ok();
    let want: BTreeSet<String> =
        ["SeafBackupLagHigh", "SeafBackupFetchersIdle", "SeafBackupTargetDown"].map(String::from).into();
    c.wait_for("the alerts to fire", CONVERGE, || prom.firing().is_superset(&want));
    let down: BTreeSet<String> = prom
        .alerts()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "SeafBackupTargetDown")
        .map(|a| a["labels"]["job"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(down, BTreeSet::from(["rel-seaf-backup-fetcher".to_owned()]));
    let firing = prom.firing();
    for calm in ["SeafBackupLibraryFailed", "SeafBackupMysqlDown", "SeafBackupRedisDown", "SeafBackupPollStale"] {
        assert!(!firing.contains(calm), "{calm} fires: {:?}", prom.alerts());
    }

    // A fetcher is back: the backup catches up and the lag and idle alerts resolve.
    c.start_fetcher();
    c.wait_converged(CONVERGE);
    c.wait_for("the alerts to resolve", CONVERGE, || {
        let f = prom.firing();
        !f.contains("SeafBackupLagHigh") && !f.contains("SeafBackupFetchersIdle")
    });
}
