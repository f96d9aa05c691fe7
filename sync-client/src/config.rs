//! Client configuration: where the primary is, timeouts, TLS trust and the retry policy.

use std::path::PathBuf;
use std::time::Duration;

use backon::{Backoff, BackoffBuilder, ExponentialBuilder};

/// How to reach one primary's sync API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The sync base URL: `http://host:8082` (the file server's own port) or
    /// `https://host/seafhttp` (behind the usual reverse proxy). A trailing slash is optional.
    pub base_url: url::Url,
    /// Limit for establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Total limit for one metadata request (`commit`, `pack-fs`, `check-*`, …). `fs-id-list`
    /// gets six times this (the server computes the whole list before sending a byte). Block
    /// downloads have no total limit; instead each read (headers, then every chunk) must arrive
    /// within this duration, so a multi-GiB block on a slow link still completes.
    pub request_timeout: Duration,
    /// Retries of transient failures (network, 5xx, truncated bodies).
    pub retry: RetryPolicy,
    /// A PEM file (one or more certificates) added to the system trust roots, for a primary whose
    /// certificate is signed by a private CA.
    pub extra_root_ca: Option<PathBuf>,
    /// Accept any server certificate. Only for self-signed test primaries.
    pub danger_accept_invalid_certs: bool,
    pub user_agent: String,
}

impl ClientConfig {
    /// The defaults, for the given base URL.
    pub fn new(base_url: url::Url) -> Self {
        ClientConfig {
            base_url,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            extra_root_ca: None,
            danger_accept_invalid_certs: false,
            user_agent: concat!("seaf-backup/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Default for ClientConfig {
    /// Defaults with the file server's standard local address as base URL.
    fn default() -> Self {
        ClientConfig::new(url::Url::parse("http://127.0.0.1:8082/").expect("a valid literal URL"))
    }
}

/// Capped exponential backoff with jitter for transient failures.
///
/// Attempt `n` (counting retries from 0) waits `min(max_delay, d + jitter)` where
/// `d = min_delay · 2ⁿ` (itself capped at `max_delay`) and `jitter` is uniform in `[0, d)`;
/// the jitter spreads out fetchers that failed together (e.g. when the primary restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` disables retrying. A request is tried at most
    /// `max_retries + 1` times.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 5, min_delay: Duration::from_millis(100), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The sequence of delays between attempts, as a `backon` backoff.
    pub fn backoff(&self) -> impl Backoff + use<> {
        let max = self.max_delay.max(self.min_delay);
        ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.min_delay)
            .with_max_delay(max)
            .with_max_times(self.max_retries)
            .with_jitter()
            .build()
            // backon adds the jitter on top of the capped delay; clamp again so `max_delay` is a
            // real upper bound.
            .map(move |d| d.min(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = ClientConfig::default();
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_secs(300));
        assert_eq!(
            c.retry,
            RetryPolicy { max_retries: 5, min_delay: Duration::from_millis(100), max_delay: Duration::from_secs(10) }
        );
        assert!(!c.danger_accept_invalid_certs);
        assert!(c.user_agent.starts_with("seaf-backup/"));
    }

    #[test]
    fn backoff_is_capped_jittered_and_bounded() {
        let p =
            RetryPolicy { max_retries: 8, min_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        let delays: Vec<Duration> = p.backoff().collect();
        assert_eq!(delays.len(), 8);
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] < Duration::from_millis(200));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(1)));
        // Late attempts sit at the cap.
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(1));
        assert_eq!(RetryPolicy { max_retries: 0, ..p }.backoff().count(), 0);
    }
}
