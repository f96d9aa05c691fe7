//! What every seaf-backup service shares.
//!
//! * [`config`]: one configuration file for the whole cluster, with environment overrides;
//! * [`Secret`]: a string that never shows in logs or `Debug` output, compared in constant time;
//! * [`grpc_tls`]: TLS of the coordinator's gRPC port, for the server and its clients;
//! * [`logging`]: logs (text or JSON) and the OTLP trace export;
//! * [`metrics`]: Prometheus metrics at `GET /metrics`;
//! * [`shutdown`]: the signal (SIGTERM or Ctrl-C) that starts a graceful shutdown;
//! * [`trace_context`]: a trace carried from the gateway through the coordinator to the fetcher;
//! * [`units`]: human-readable sizes.

pub mod config;
pub mod grpc_tls;
pub mod logging;
pub mod metrics;
mod secret;
pub mod shutdown;
pub mod trace_context;
pub mod units;

pub use config::{Config, ConfigError};
pub use secret::Secret;
