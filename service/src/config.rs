//! One configuration file for the whole cluster; each service reads the sections it needs.
//!
//! Sources, later ones winning: built-in defaults, the TOML file given with `--config` (or
//! `SEAF_BACKUP_CONFIG`), then environment variables named `SEAF_BACKUP__<SECTION>__<KEY>`, e.g.
//! `SEAF_BACKUP__BACKUP__SYNC_TOKEN` or `SEAF_BACKUP__DATABASE__URL` (Kubernetes secrets arrive
//! that way). Keys of the `[backup]` section are seafile.conf's own (`primary_url`, `sync_token`,
//! `sync_poll_interval`). The complete example is `seaf-backup.example.toml` at the repository root.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0} is required (set it in the file or as {1})")]
    Missing(&'static str, &'static str),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The whole configuration. Every section has defaults, so an empty file is valid; what a
/// service cannot run without is checked by the `require_*` methods when it starts.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub backup: BackupConfig,
    pub primary: PrimaryConfig,
    pub store: StoreConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub coordinator: CoordinatorConfig,
    pub gateway: GatewayConfig,
    pub fetcher: FetcherConfig,
    pub tracing: TracingConfig,
}

/// The primary, as seafile.conf's `[backup]` section names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Sync API base URL of the primary, with or without `/seafhttp` (http or https).
    pub primary_url: Option<url::Url>,
    /// The shared secret: sent as `Seafile-Repo-Token`, and accepted by the gateway's `/v1/notify`.
    pub sync_token: Secret,
    /// How often every library is checked against the primary. A bare number is hours, as in
    /// seafile.conf; a string may carry a unit ("90s", "15m", "2h").
    #[serde(deserialize_with = "hours_or_duration")]
    pub sync_poll_interval: Duration,
    /// Extra PEM root certificate to trust for an https primary.
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate from the primary (testing only).
    pub insecure_tls: bool,
    /// Check each block's SHA-1 (turn off only for primaries with `skip_block_hash`).
    pub verify_block_hashes: bool,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            primary_url: None,
            sync_token: Secret::default(),
            sync_poll_interval: Duration::from_secs(3600),
            ca_cert: None,
            insecure_tls: false,
            verify_block_hashes: true,
        }
    }
}

/// A stock Seafile primary, reached through its own database (seaf-server has no repo list and no
/// shared sync token): the coordinator lists libraries there and mints one sync token per library
/// in its `RepoUserToken` table. Unset: the primary serves `server-sync/repo-list` and accepts
/// `backup.sync_token`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrimaryConfig {
    /// `mysql://USER:PASSWORD@HOST:PORT/seafile_db`: the primary's seafile database, with the
    /// grants the README lists (read-only but for `RepoUserToken`).
    pub database_url: Secret,
}

impl PrimaryConfig {
    /// The primary's database, when the primary is a stock seaf-server.
    pub fn database_url(&self) -> Option<&Secret> {
        (!self.database_url.is_empty()).then_some(&self.database_url)
    }
}

/// The shared object store: a `seafile-data` directory every fetcher mounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// `syncfs` (local filesystems) or `fsync` (network filesystems such as NFS).
    pub durability: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: PathBuf::from("seafile-data"), durability: "syncfs".into() }
    }
}

/// The backup's MySQL (or MariaDB) seafile database: `Repo`, `Branch`, `RepoHead` and the
/// backup's own state tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `mysql://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub url: Secret,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: Secret::default(), max_connections: 8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST:PORT/DB`.
    pub url: Secret,
    /// Prefix of every key the coordinator writes, so several backups can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig { url: Secret::new("redis://127.0.0.1:6379/0"), key_prefix: "seaf-backup".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// gRPC listen address (admin API, fetchers, gateway).
    pub listen: SocketAddr,
    /// How long a fetcher's lease lasts without a heartbeat before the job is handed to another.
    #[serde(with = "humantime_str")]
    pub lease: Duration,
    /// Failed attempts (transient errors) before a library goes to the failed list.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `retry_max_delay`.
    #[serde(with = "humantime_str")]
    pub retry_delay: Duration,
    #[serde(with = "humantime_str")]
    pub retry_max_delay: Duration,
    /// How often expired leases are reaped and the queue is checked against MySQL.
    #[serde(with = "humantime_str")]
    pub reap_interval: Duration,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Required on the admin API (`authorization: Token <admin_token>`) when set; health and
    /// reflection stay open.
    pub admin_token: Secret,
    /// TLS on the gRPC port: the PEM certificate chain and its key (both or neither).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: only clients with a certificate signed by this PEM CA are served.
    pub tls_client_ca: Option<PathBuf>,
    /// For the coordinator's clients (gateway, fetchers) when `coordinator_url` is `https://`: an
    /// extra PEM CA to trust besides the system roots ...
    pub ca_cert: Option<PathBuf>,
    /// ... and the certificate and key they present when the coordinator asks (mutual TLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            listen: "127.0.0.1:7070".parse().expect("valid address"),
            lease: Duration::from_secs(30),
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(600),
            reap_interval: Duration::from_secs(2),
            metrics_listen: None,
            admin_token: Secret::default(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// HTTP listen address for `/events`, `/v1/notify`, `/healthz` and `/readyz`.
    pub listen: SocketAddr,
    pub coordinator_url: String,
    /// seaf-server's `JWT_PRIVATE_KEY`: verifies the `Authorization: Token <JWT>` of `/events`.
    pub jwt_private_key: Secret,
    /// Where to pass `/events` on (the real notification server), if anywhere.
    pub forward_url: Option<url::Url>,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when unset.
    pub metrics_listen: Option<SocketAddr>,
}

/// By hand: `forward_url` may carry a password, which must not reach a log line.
impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let forward = self.forward_url.as_ref().map(|u| {
            let mut u = u.clone();
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        });
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("coordinator_url", &self.coordinator_url)
            .field("jwt_private_key", &self.jwt_private_key)
            .field("forward_url", &forward)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "127.0.0.1:8083".parse().expect("valid address"),
            coordinator_url: "http://127.0.0.1:7070".into(),
            jwt_private_key: Secret::default(),
            forward_url: None,
            max_body_bytes: 64 * 1024,
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetcherConfig {
    pub coordinator_url: String,
    /// Name of this fetcher in leases and logs; default `<hostname>-<pid>`.
    pub id: Option<String>,
    /// Libraries fetched at once by this process.
    pub concurrency: usize,
    /// Blocks downloaded at once per library.
    pub block_workers: usize,
    /// pack-fs requests in flight per library.
    pub fs_workers: usize,
    /// Retries of a failed request to the primary before the job fails.
    pub retries: usize,
    #[serde(with = "humantime_str")]
    pub retry_delay: Duration,
    /// After SIGTERM: how long running jobs may take to finish before they are handed back.
    #[serde(with = "humantime_str")]
    pub shutdown_grace: Duration,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when unset.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            coordinator_url: "http://127.0.0.1:7070".into(),
            id: None,
            concurrency: 2,
            block_workers: 8,
            fs_workers: 4,
            retries: 5,
            retry_delay: Duration::from_millis(200),
            shutdown_grace: Duration::from_secs(20),
            metrics_listen: None,
        }
    }
}

/// Logs and traces of every service (`[tracing]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// `text` (one human-readable line per event) or `json` (one JSON object per line, with the
    /// fields of the spans around it: a job's library and job id), for log shippers.
    pub log_format: LogFormat,
    /// An OTLP/gRPC collector (`http://otel-collector:4317`, or https): every service exports
    /// its spans there, one trace per job from the notification to the published head. Off when
    /// unset.
    pub otlp_endpoint: Option<String>,
    /// The share of new traces recorded, 0.0 to 1.0 (a trace started upstream keeps the
    /// upstream decision).
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig { log_format: LogFormat::Text, otlp_endpoint: None, sample_ratio: 1.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Loads defaults, then `file` (or the file named by `SEAF_BACKUP_CONFIG`), then the
    /// `SEAF_BACKUP__SECTION__KEY` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os("SEAF_BACKUP_CONFIG").map(PathBuf::from);
        let mut b = config::Config::builder();
        if let Some(path) = file.map(Path::to_path_buf).or(from_env) {
            if !path.is_file() {
                return Err(ConfigError::Invalid(format!("{} is not a readable file", path.display())));
            }
            b = b.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        b = b.add_source(
            config::Environment::with_prefix("SEAF_BACKUP").prefix_separator("__").separator("__").try_parsing(true),
        );
        Ok(b.build()?.try_deserialize()?)
    }

    pub fn require_primary(&self) -> Result<&url::Url, ConfigError> {
        self.backup
            .primary_url
            .as_ref()
            .ok_or(ConfigError::Missing("backup.primary_url", "SEAF_BACKUP__BACKUP__PRIMARY_URL"))
    }

    pub fn require_sync_token(&self) -> Result<&Secret, ConfigError> {
        if self.backup.sync_token.is_empty() {
            return Err(ConfigError::Missing("backup.sync_token", "SEAF_BACKUP__BACKUP__SYNC_TOKEN"));
        }
        Ok(&self.backup.sync_token)
    }

    pub fn require_database(&self) -> Result<&Secret, ConfigError> {
        if self.database.url.is_empty() {
            return Err(ConfigError::Missing("database.url", "SEAF_BACKUP__DATABASE__URL"));
        }
        Ok(&self.database.url)
    }
}

/// seafile.conf gives `sync_poll_interval` in hours; finer units are accepted as strings.
fn hours_or_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Hours(f64),
        Text(String),
    }
    let out = match Raw::deserialize(d)? {
        Raw::Hours(h) if h.is_finite() && h > 0.0 => Duration::from_secs_f64(h * 3600.0),
        Raw::Hours(h) => return Err(serde::de::Error::custom(format!("sync_poll_interval must be positive, not {h}"))),
        Raw::Text(s) => match s.trim().parse::<f64>() {
            Ok(h) if h.is_finite() && h > 0.0 => Duration::from_secs_f64(h * 3600.0),
            _ => humantime::parse_duration(s.trim()).map_err(|e| {
                serde::de::Error::custom(format!("sync_poll_interval {s:?}: {e} (give hours, or e.g. \"30s\")"))
            })?,
        },
    };
    if out.is_zero() {
        return Err(serde::de::Error::custom("sync_poll_interval must be positive"));
    }
    Ok(out)
}

/// Durations as human-readable strings ("30s", "5m", "250ms").
mod humantime_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map_err(|e| serde::de::Error::custom(format!("duration {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn defaults_and_seafile_conf_keys() {
        let c = load(
            r#"
            [backup]
            primary_url = "https://primary.example.com/seafhttp"
            sync_token = "s3cr3t"
            sync_poll_interval = 3
            [coordinator]
            lease = "45s"
            "#,
        )
        .unwrap();
        assert_eq!(c.backup.sync_poll_interval, Duration::from_secs(3 * 3600));
        assert_eq!(c.backup.sync_token.expose(), "s3cr3t");
        assert_eq!(c.coordinator.lease, Duration::from_secs(45));
        assert_eq!(c.coordinator.max_attempts, 5);
        assert_eq!(c.fetcher.concurrency, 2);
        assert!(!format!("{c:?}").contains("s3cr3t"), "secrets never appear in Debug output");
        assert!(c.primary.database_url().is_none(), "a shared-token primary by default");
        let c = load("[primary]\ndatabase_url = \"mysql://b:pw0rd@db:3306/seafile_db\"\n").unwrap();
        assert_eq!(c.primary.database_url().map(|u| u.expose()), Some("mysql://b:pw0rd@db:3306/seafile_db"));
        assert!(!format!("{c:?}").contains("pw0rd"));
        let c = load("[gateway]\nforward_url = \"http://user:pa55@127.0.0.1:8084/events\"\n").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("pa55") && shown.contains("127.0.0.1:8084/events"), "{shown}");
    }

    #[test]
    fn poll_interval_units() {
        for (v, want) in [("\"90s\"", 90), ("\"15m\"", 900), ("0.5", 1800), ("\"2\"", 7200)] {
            let c = load(&format!("[backup]\nsync_poll_interval = {v}\n")).unwrap();
            assert_eq!(c.backup.sync_poll_interval, Duration::from_secs(want), "{v}");
        }
        for bad in ["0", "-1", "\"soon\""] {
            let err = load(&format!("[backup]\nsync_poll_interval = {bad}\n")).unwrap_err();
            assert!(err.to_string().contains("sync_poll_interval"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_values_are_named() {
        let err = load("[backup]\nsync_tokn = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("sync_tokn"), "{err}");
        let c = load("").unwrap();
        assert_eq!(
            c.require_sync_token().unwrap_err().to_string(),
            "configuration: backup.sync_token is required (set it in the file or as SEAF_BACKUP__BACKUP__SYNC_TOKEN)"
        );
        assert!(Config::load(Some(Path::new("/nonexistent/seaf-backup.toml"))).is_err());
    }

    #[test]
    fn tracing_section() {
        let c = load("").unwrap();
        assert_eq!(
            (c.tracing.log_format, c.tracing.otlp_endpoint, c.tracing.sample_ratio),
            (LogFormat::Text, None, 1.0)
        );
        // The chart writes a whole ratio as an integer.
        let c =
            load("[tracing]\nlog_format = \"json\"\notlp_endpoint = \"http://otel:4317\"\nsample_ratio = 1\n").unwrap();
        assert_eq!(c.tracing.log_format, LogFormat::Json);
        assert_eq!(c.tracing.otlp_endpoint.as_deref(), Some("http://otel:4317"));
        assert_eq!(c.tracing.sample_ratio, 1.0);
        let err = load("[tracing]\nlog_format = \"xml\"\n").unwrap_err();
        assert!(err.to_string().contains("xml"), "{err}");
    }
}

#[cfg(test)]
mod example {
    /// The documented example file parses, and says every key there is.
    #[test]
    fn example_file_is_complete_and_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seaf-backup.example.toml");
        let c = super::Config::load(Some(&path)).unwrap();
        assert_eq!(c.backup.sync_poll_interval, std::time::Duration::from_secs(3600));
        assert_eq!(c.coordinator.lease, std::time::Duration::from_secs(30));
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "primary_url",
            "sync_token",
            "database_url",
            "sync_poll_interval",
            "ca_cert",
            "insecure_tls",
            "verify_block_hashes",
            "durability",
            "max_connections",
            "key_prefix",
            "lease",
            "max_attempts",
            "retry_delay",
            "retry_max_delay",
            "reap_interval",
            "metrics_listen",
            "coordinator_url",
            "jwt_private_key",
            "forward_url",
            "max_body_bytes",
            "concurrency",
            "block_workers",
            "fs_workers",
            "retries",
            "shutdown_grace",
            "admin_token",
            "tls_cert",
            "tls_client_ca",
            "log_format",
            "otlp_endpoint",
            "sample_ratio",
        ] {
            assert!(text.contains(&format!("{key} =")), "{key} is not documented in the example file");
        }
    }
}
