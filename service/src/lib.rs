//! What every seaf-backup service shares.
//!
//! * [`config`]: one configuration file for the whole cluster, with environment overrides;
//! * [`Secret`]: a string that never shows in logs or `Debug` output, compared in constant time;
//! * [`grpc_tls`]: TLS of the coordinator's gRPC port, for the server and its clients;
//! * [`logging`]: the services' log setup;
//! * [`metrics`]: Prometheus metrics at `GET /metrics`;
//! * [`shutdown`]: the signal (SIGTERM or Ctrl-C) that starts a graceful shutdown;
//! * [`units`]: human-readable sizes.

pub mod config;
pub mod grpc_tls;
pub mod logging;
pub mod metrics;
mod secret;
pub mod shutdown;
pub mod units;

pub use config::{Config, ConfigError};
pub use secret::Secret;
