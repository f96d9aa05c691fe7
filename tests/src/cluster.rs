//! A whole seaf-backup cluster for one test: the simulated primary, a fresh MariaDB database, a
//! fresh Redis, and the real coordinator, gateway and fetcher binaries, all on free loopback ports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::services::{MariaDb, Redis, query};
use crate::tls::TestPki;
use crate::{Cmd, Primary, Proc, Ran, SYNC_TOKEN, bin};

/// seaf-server's `JWT_PRIVATE_KEY` in these tests (the simulator signs its events with it).
pub const JWT_KEY: &str = "test-jwt-private-key-0123456789";

/// The knobs a test may turn.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub fetchers: usize,
    pub gateway: bool,
    /// `sync_poll_interval`, e.g. "1h" (events only) or "1s" (poller-driven).
    pub poll_interval: String,
    pub lease: String,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub retry_delay: String,
    /// The fetchers' `shutdown_grace`.
    pub shutdown_grace: String,
    /// Serve every component's Prometheus metrics (see [`Cluster::metrics`] and
    /// [`Cluster::metrics_of`]).
    pub metrics: bool,
    /// The backup's database (default: a fresh one on the shared MariaDB), e.g. on a replica.
    pub database_url: Option<String>,
    /// `[coordinator] admin_token`; [`Cluster::cli`] then passes it with `--token-file`.
    pub admin_token: Option<String>,
    /// TLS on the coordinator's gRPC port, for every component and [`Cluster::cli`].
    pub tls: Option<ClusterTls>,
    /// The body of a `[tracing]` section (log format, OTLP endpoint), shared by every component.
    pub tracing: Option<String>,
    /// `[store] durability` ("syncfs", the default, or "fsync").
    pub durability: Option<String>,
}

/// TLS of a test cluster: the coordinator serves `pki`'s server certificate; the gateway, the
/// fetchers and the CLI trust `pki`'s CA and, with `mutual`, must present its client certificate.
#[derive(Debug, Clone)]
pub struct ClusterTls {
    pub pki: TestPki,
    pub mutual: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            fetchers: 2,
            gateway: true,
            poll_interval: "1h".into(),
            lease: "3s".into(),
            concurrency: 2,
            max_attempts: 3,
            retry_delay: "200ms".into(),
            shutdown_grace: "5s".into(),
            metrics: false,
            database_url: None,
            admin_token: None,
            tls: None,
            tracing: None,
            durability: None,
        }
    }
}

pub struct Cluster {
    pub dir: PathBuf,
    pub primary: Primary,
    /// `mysql://root@127.0.0.1:PORT/<fresh database>`.
    pub db_url: String,
    pub redis: Redis,
    /// The shared `seafile-data` store.
    pub store: PathBuf,
    pub config: PathBuf,
    pub coordinator: Option<Proc>,
    /// `http://127.0.0.1:PORT`.
    pub coordinator_url: String,
    /// `http://127.0.0.1:PORT/metrics` when [`ClusterOptions::metrics`] is on.
    pub metrics_url: Option<String>,
    pub gateway: Option<Proc>,
    pub gateway_url: String,
    pub fetchers: Vec<Option<Proc>>,
    /// `/metrics` URLs of the gateway ("gateway") and the fetchers ("fetcher-N") when
    /// [`ClusterOptions::metrics`] is on.
    pub component_metrics: BTreeMap<String, String>,
    /// A file holding the admin token, when the cluster has one.
    pub admin_token_file: Option<PathBuf>,
    pub tls: Option<ClusterTls>,
}

impl Cluster {
    /// Starts everything against a primary that is already served.
    pub fn start(dir: &Path, primary: Primary, opts: &ClusterOptions) -> Cluster {
        let hint = dir.file_name().and_then(|n| n.to_str()).unwrap_or("cluster").to_owned();
        let db_url = opts.database_url.clone().unwrap_or_else(|| MariaDb::shared().fresh_database(&hint));
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir).unwrap();
        let redis = Redis::start(&redis_dir);
        let store = dir.join("store");
        let config = dir.join("seaf-backup.toml");
        let text = format!(
            r#"[backup]
primary_url = "{primary}"
sync_token = "{SYNC_TOKEN}"
sync_poll_interval = "{poll}"

[store]
path = "{store}"
durability = "{durability}"

[database]
url = "{db_url}"

[redis]
url = "{redis}"

[coordinator]
listen = "127.0.0.1:0"
lease = "{lease}"
max_attempts = {attempts}
retry_delay = "{retry}"
retry_max_delay = "2s"
reap_interval = "250ms"

[gateway]
listen = "127.0.0.1:0"
jwt_private_key = "{JWT_KEY}"

[fetcher]
concurrency = {concurrency}
retries = 2
retry_delay = "50ms"
shutdown_grace = "{grace}"
"#,
            primary = primary.url,
            poll = opts.poll_interval,
            store = store.display(),
            redis = redis.url(),
            lease = opts.lease,
            attempts = opts.max_attempts,
            retry = opts.retry_delay,
            concurrency = opts.concurrency,
            grace = opts.shutdown_grace,
            durability = opts.durability.as_deref().unwrap_or("syncfs"),
        );
        // A stock primary: listed from its database, with per-library tokens.
        let mut text = match &primary.database_url {
            Some(url) => format!("{text}\n[primary]\ndatabase_url = \"{url}\"\n"),
            None => text,
        };
        if let Some(t) = &opts.tracing {
            text = format!("{text}\n[tracing]\n{t}\n");
        }
        // More keys of the [coordinator] section, added after its last fixed one.
        let mut coordinator_extra = Vec::new();
        let admin_token_file = opts.admin_token.as_ref().map(|t| {
            coordinator_extra.push(format!("admin_token = \"{t}\""));
            let file = dir.join("admin-token");
            std::fs::write(&file, format!("{t}\n")).unwrap();
            file
        });
        if let Some(tls) = &opts.tls {
            let p = &tls.pki;
            let pem = |k: &str, v: &Path| format!("{k} = \"{}\"", v.display());
            coordinator_extra.extend([
                pem("tls_cert", &p.server_cert),
                pem("tls_key", &p.server_key),
                pem("ca_cert", &p.ca),
            ]);
            if tls.mutual {
                coordinator_extra.extend([
                    pem("tls_client_ca", &p.ca),
                    pem("client_cert", &p.client_cert),
                    pem("client_key", &p.client_key),
                ]);
            }
        }
        let reap = "reap_interval = \"250ms\"\n";
        text = text.replacen(
            reap,
            &format!("{reap}{}", coordinator_extra.iter().map(|l| format!("{l}\n")).collect::<String>()),
            1,
        );
        std::fs::write(&config, text).unwrap();
        let mut c = Cluster {
            dir: dir.to_path_buf(),
            primary,
            db_url,
            redis,
            store,
            config,
            coordinator: None,
            coordinator_url: String::new(),
            metrics_url: opts.metrics.then(String::new),
            gateway: None,
            gateway_url: String::new(),
            fetchers: Vec::new(),
            component_metrics: BTreeMap::new(),
            admin_token_file,
            tls: opts.tls.clone(),
        };
        c.start_coordinator();
        if opts.gateway {
            c.start_gateway();
        }
        for _ in 0..opts.fetchers {
            c.start_fetcher();
        }
        c
    }

    pub fn start_coordinator(&mut self) {
        let mut cmd = Command::new(bin("seaf-backup-coordinator"));
        cmd.arg("--config").arg(&self.config);
        if let Some((_, addr)) = self.coordinator_url.split_once("://") {
            // A restart keeps the address the fetchers and the gateway know.
            cmd.args(["--listen", addr]);
        }
        if self.metrics_url.is_some() {
            cmd.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        let log = self.dir.join("coordinator.log");
        let _ = std::fs::rename(&log, self.dir.join("coordinator.previous.log"));
        let mut p = Proc::start("seaf-backup-coordinator", &mut cmd, &log).unwrap();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let addr = p.listen_addr(Duration::from_secs(60)).expect("coordinator start");
        self.coordinator_url = format!("{scheme}://{addr}");
        if self.metrics_url.is_some() {
            let addr = p.address_line("metrics listening on", Duration::from_secs(10)).expect("metrics listener");
            self.metrics_url = Some(format!("http://{addr}/metrics"));
        }
        self.coordinator = Some(p);
        // It binds first, then connects MySQL (creating the tables) and Redis before serving.
        self.wait_for("the coordinator to serve", Duration::from_secs(60), || {
            self.log("coordinator").contains("coordinator serving")
        });
    }

    /// `kill -9` of the coordinator; [`Cluster::start_coordinator`] brings it back on its address.
    pub fn kill_coordinator(&mut self) {
        if let Some(mut p) = self.coordinator.take() {
            p.kill();
        }
    }

    pub fn start_gateway(&mut self) {
        let mut cmd = Command::new(bin("seaf-backup-gateway"));
        cmd.arg("--config").arg(&self.config).env("SEAF_BACKUP__GATEWAY__COORDINATOR_URL", &self.coordinator_url);
        if self.metrics_url.is_some() {
            cmd.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        let log = self.dir.join("gateway.log");
        let mut p = Proc::start("seaf-backup-gateway", &mut cmd, &log).unwrap();
        self.gateway_url = format!("http://{}", p.listen_addr(Duration::from_secs(60)).expect("gateway start"));
        if self.metrics_url.is_some() {
            let addr = p.address_line("metrics listening on", Duration::from_secs(10)).expect("gateway metrics");
            self.component_metrics.insert("gateway".into(), format!("http://{addr}/metrics"));
        }
        self.gateway = Some(p);
    }

    pub fn stop_gateway(&mut self) {
        self.gateway = None;
    }

    /// Starts one more fetcher; returns its index in `fetchers`.
    pub fn start_fetcher(&mut self) -> usize {
        let i = self.fetchers.len();
        let name = format!("fetcher-{i}");
        let mut cmd = Command::new(bin("seaf-backup-fetcher"));
        cmd.args(["run", "--id", &name, "--coordinator", &self.coordinator_url, "--config"]).arg(&self.config);
        if self.metrics_url.is_some() {
            cmd.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        let log = self.dir.join(format!("{name}.log"));
        let mut p = Proc::start(&name, &mut cmd, &log).unwrap();
        if self.metrics_url.is_some() {
            let addr = p.address_line("metrics listening on", Duration::from_secs(30)).expect("fetcher metrics");
            self.component_metrics.insert(name.clone(), format!("http://{addr}/metrics"));
        }
        p.wait_for_line("running", Duration::from_secs(30)).unwrap();
        self.fetchers.push(Some(p));
        i
    }

    /// `kill -9` of fetcher `i`.
    pub fn kill_fetcher(&mut self, i: usize) {
        if let Some(mut p) = self.fetchers[i].take() {
            p.kill();
        }
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// `Branch` rows: library id → head.
    pub fn branch_heads(&self) -> BTreeMap<String, String> {
        query(&self.db_url, "SELECT repo_id, commit_id FROM Branch WHERE name = 'master'")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    }

    /// The primary's current heads: library id → head.
    pub fn primary_heads(&self) -> BTreeMap<String, String> {
        self.primary.heads()
    }

    /// Polls `f` every 50 ms until it holds; panics with `what` and the logs after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n--- coordinator log (tail) ---\n{}",
                    tail(&self.log("coordinator"), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every `Branch` row equals the primary's head.
    pub fn wait_converged(&self, timeout: Duration) {
        self.wait_for("every Branch head to equal the primary's", timeout, || {
            self.branch_heads() == self.primary_heads()
        });
    }

    /// The coordinator's metrics: each sample line of `/metrics` as `name{labels}` → value.
    /// Counters not yet incremented are absent (read them with `unwrap_or(0.0)`).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        parse_metrics(&scrape(self.metrics_url.as_deref().expect("a cluster started with ClusterOptions::metrics")))
    }

    /// The metrics text of a component: "coordinator", "gateway" or "fetcher-N".
    pub fn metrics_text(&self, component: &str) -> String {
        let url = match component {
            "coordinator" => self.metrics_url.clone(),
            other => self.component_metrics.get(other).cloned(),
        };
        scrape(&url.unwrap_or_else(|| panic!("no metrics for {component}: start with ClusterOptions::metrics")))
    }

    /// [`Cluster::metrics`] of a component.
    pub fn metrics_of(&self, component: &str) -> BTreeMap<String, f64> {
        parse_metrics(&self.metrics_text(component))
    }

    /// `seaf-backup --coordinator URL <args>`.
    /// `seaf-backup --coordinator URL [the cluster's token and TLS files] ARGS`.
    pub fn cli(&self, args: &[&str]) -> Ran {
        let mut access = Vec::new();
        if let Some(file) = &self.admin_token_file {
            access.extend(["--token-file".to_owned(), file.display().to_string()]);
        }
        if let Some(tls) = &self.tls {
            access.extend(["--ca-cert".to_owned(), tls.pki.ca.display().to_string()]);
            if tls.mutual {
                access.extend(["--client-cert".to_owned(), tls.pki.client_cert.display().to_string()]);
                access.extend(["--client-key".to_owned(), tls.pki.client_key.display().to_string()]);
            }
        }
        Cmd::new(bin("seaf-backup"))
            .args(["--coordinator", &self.coordinator_url])
            .args(&access)
            .args(args)
            .timeout(Duration::from_secs(120))
            .run()
    }

    /// `seaf-primary-sim commit <args>`, sending repo-update events to the gateway.
    pub fn commit_with_events(&self, args: &[&str]) -> Ran {
        let events = format!("{}/events", self.gateway_url);
        let mut all = vec!["commit", "--events-url", events.as_str(), "--jwt-key", JWT_KEY];
        all.extend_from_slice(args);
        self.primary.sim(&all)
    }
}

/// `GET url` → its body; panics on an error.
pub fn scrape(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new().get(url).timeout(Duration::from_secs(10)).send().await;
        r.and_then(|r| r.error_for_status()).unwrap_or_else(|e| panic!("GET {url}: {e}")).text().await.unwrap()
    })
}

/// Prometheus text format → `name{labels}` → value (comments skipped).
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A notification token as seaf-server mints it: HS256 over `{"exp": now + exp_in_secs}`.
pub fn jwt(key: &str, exp_in_secs: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = serde_json::json!({ "exp": now + exp_in_secs });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("signing a token")
}

/// POSTs a JSON body with an `Authorization` header (none when empty); returns the status code.
pub fn post(url: &str, authorization: &str, body: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(20))
            .body(body.to_owned());
        if !authorization.is_empty() {
            req = req.header("authorization", authorization);
        }
        req.send().await.map(|r| r.status().as_u16()).unwrap_or_else(|e| panic!("POST {url}: {e}"))
    })
}
