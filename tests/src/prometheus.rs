//! A real Prometheus (Debian's `prometheus` package) on a free loopback port, scraping a cluster's
//! components every second and evaluating the Helm chart's alert rules, so that the alerts and the
//! dashboard are checked against what the product really exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Cmd, Proc, tool};

/// A running Prometheus, stopped when dropped.
pub struct Prometheus {
    _proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

/// One scrape job: its `job` label and the `/metrics` URLs of its instances. Every series also
/// gets `namespace="backup"`, as a ServiceMonitor in that namespace would give it.
pub struct ScrapeJob {
    pub job: String,
    pub metrics_urls: Vec<String>,
}

/// The namespace label of every scraped series (and the chart's release namespace in
/// [`chart_rules`]).
pub const NAMESPACE: &str = "backup";

impl Prometheus {
    /// Starts Prometheus in `dir` with these jobs and, when given, a rule file; returns once it is
    /// ready.
    pub fn start(dir: &Path, jobs: &[ScrapeJob], rules: Option<&Path>) -> Prometheus {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for j in jobs {
            let hosts: Vec<String> = j
                .metrics_urls
                .iter()
                .map(|u| {
                    let host = u.trim_start_matches("http://").trim_end_matches("/metrics");
                    format!("\"{host}\"")
                })
                .collect();
            config += &format!(
                "  - job_name: \"{}\"\n    static_configs:\n      - targets: [{}]\n        labels: {{namespace: \"{NAMESPACE}\"}}\n",
                j.job,
                hosts.join(", ")
            );
        }
        if let Some(rules) = rules {
            config += &format!("rule_files: [\"{}\"]\n", rules.display());
        }
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();

        let port = crate::services::free_port();
        let mut cmd = std::process::Command::new(
            crate::services::find_program("prometheus", "prometheus").unwrap_or_else(|e| panic!("{e}")),
        );
        cmd.arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let proc = Proc::start("prometheus", &mut cmd, &dir.join("prometheus.log")).expect("starting prometheus");
        let p = Prometheus { _proc: proc, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("{}/-/ready", p.url)).is_err() {
            assert!(Instant::now() < deadline, "prometheus not ready after 30 s: see {}", dir.display());
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// An instant query: its result vector, or Prometheus's error.
    pub fn try_query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/query", self.url), &[("query", expr)]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&get(url.as_str())?).map_err(|e| e.to_string())?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// [`Prometheus::try_query`], panicking on an error.
    pub fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        self.try_query(expr).unwrap_or_else(|e| panic!("query {expr}: {e}"))
    }

    /// Every alert Prometheus reports, firing or pending.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&get(&format!("{}/api/v1/alerts", self.url)).unwrap()).unwrap();
        v["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// The names of the alerts firing now.
    pub fn firing(&self) -> BTreeSet<String> {
        self.alerts()
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["labels"]["alertname"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// When the rule group was last evaluated (it changes with every evaluation).
    pub fn last_rule_evaluation(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&get(&format!("{}/api/v1/rules", self.url)).unwrap()).unwrap();
        v["data"]["groups"][0]["lastEvaluation"].as_str().unwrap_or_default().to_owned()
    }

    /// Names of every metric Prometheus has stored.
    pub fn metric_names(&self) -> BTreeSet<String> {
        let v: serde_json::Value =
            serde_json::from_str(&get(&format!("{}/api/v1/label/__name__/values", self.url)).unwrap()).unwrap();
        v["data"].as_array().unwrap().iter().filter_map(|n| n.as_str().map(str::to_owned)).collect()
    }
}

/// The chart's PrometheusRule rendered by `helm template` (release "rel" in [`NAMESPACE`], with
/// `--set` overrides under `metrics.prometheusRule.`), written as a Prometheus rule file in `dir`.
pub fn chart_rules(dir: &Path, overrides: &[&str]) -> PathBuf {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("helm/seaf-backup");
    let mut args = vec![
        "template".to_owned(),
        "rel".into(),
        chart.display().to_string(),
        "--namespace".into(),
        NAMESPACE.into(),
        "--show-only".into(),
        "templates/prometheusrule.yaml".into(),
    ];
    for (k, v) in [
        ("backup.primaryUrl", "http://primary:8082"),
        ("backup.syncToken", "t"),
        ("database.url", "mysql://u:p@db/seafile_db"),
        ("redis.url", "redis://redis:6379/0"),
        ("metrics.prometheusRule.enabled", "true"),
    ] {
        args.extend(["--set".into(), format!("{k}={v}")]);
    }
    for o in overrides {
        args.extend(["--set".into(), format!("metrics.prometheusRule.{o}")]);
    }
    let home = dir.join("helm-home");
    let ran = Cmd::new(tool("helm"))
        .args(&args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .timeout(Duration::from_secs(60))
        .run();
    ran.assert_ok();
    // The rule file is the PrometheusRule's `spec:` (its last key), one indent level out.
    let (_, spec) = ran.stdout.split_once("\nspec:\n").expect("a PrometheusRule with a spec");
    let rules: String = spec.lines().map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l))).collect();
    let file = dir.join("rules.yaml");
    std::fs::write(&file, rules).unwrap();
    file
}

fn get(url: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new().get(url).timeout(Duration::from_secs(10)).send().await;
        let r = r.and_then(|r| r.error_for_status()).map_err(|e| e.to_string())?;
        r.text().await.map_err(|e| e.to_string())
    })
}
