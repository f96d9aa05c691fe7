//! Fault injection for the object endpoints: failed requests, latency, truncated bodies.
//!
//! Decisions are reproducible: each is a hash of the seed, the request (method, path and query,
//! body) and how many times that same request has been seen before. So a given run of a
//! deterministic client gets the same faults every time, independent of how concurrent requests
//! interleave, and a retry of a failed request draws afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha1::{Digest, Sha1};

/// The fault switches (all off by default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Fraction of object requests answered 500 before anything is done.
    pub fail_rate: f64,
    /// Added to every object request.
    pub latency: Duration,
    /// Fraction of block and pack-fs responses cut short (full Content-Length declared, connection
    /// closed half-way).
    pub truncate_rate: f64,
    pub seed: u64,
}

impl FaultConfig {
    pub fn is_off(&self) -> bool {
        self.fail_rate <= 0.0 && self.truncate_rate <= 0.0 && self.latency.is_zero()
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    pub fail: bool,
    pub truncate: bool,
}

/// Draws verdicts for requests.
#[derive(Debug, Default)]
pub struct Faults {
    pub config: FaultConfig,
    seen: Mutex<HashMap<[u8; 20], u64>>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Faults {
        Faults { config, seen: Mutex::new(HashMap::new()) }
    }

    /// The verdict for a request identified by `method`, `path_and_query` and `body`.
    pub fn verdict(&self, method: &str, path_and_query: &str, body: &[u8]) -> Verdict {
        if self.config.fail_rate <= 0.0 && self.config.truncate_rate <= 0.0 {
            return Verdict::default();
        }
        let key: [u8; 20] = Sha1::new()
            .chain_update(method.as_bytes())
            .chain_update([0])
            .chain_update(path_and_query.as_bytes())
            .chain_update([0])
            .chain_update(body)
            .finalize()
            .into();
        let nth = {
            let mut seen = self.seen.lock().expect("fault table lock");
            let n = seen.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        Verdict {
            fail: self.draw(&key, nth, b"fail") < self.config.fail_rate,
            truncate: self.draw(&key, nth, b"truncate") < self.config.truncate_rate,
        }
    }

    /// A uniform number in [0, 1) from the seed, the request key, its occurrence and a purpose.
    fn draw(&self, key: &[u8; 20], nth: u64, purpose: &[u8]) -> f64 {
        let h = Sha1::new()
            .chain_update(self.config.seed.to_be_bytes())
            .chain_update(key)
            .chain_update(nth.to_be_bytes())
            .chain_update(purpose)
            .finalize();
        let x = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(rate: f64, seed: u64) -> Faults {
        Faults::new(FaultConfig { fail_rate: rate, truncate_rate: rate, seed, ..FaultConfig::default() })
    }

    #[test]
    fn rates_and_reproducibility() {
        let run = |seed| {
            let f = faults(0.3, seed);
            (0..2000).map(|i| f.verdict("GET", &format!("/repo/x/block/{}", i % 500), b"")).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same verdicts");
        assert_ne!(a, run(8));
        let fails = a.iter().filter(|v| v.fail).count();
        assert!((450..750).contains(&fails), "about 30% fail: {fails}");
        assert!(faults(0.0, 1).verdict("GET", "/", b"").eq(&Verdict::default()));
        assert!(faults(1.0, 1).verdict("GET", "/", b"").fail);
    }
}
