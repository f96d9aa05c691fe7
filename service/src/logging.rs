//! Logs and traces.
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `info`): text lines (without colour codes
//! unless stderr is a terminal) or, with `[tracing] log_format = "json"`, one JSON object per line
//! carrying the fields of the spans around the event (a job's `library` and `job`). With
//! `[tracing] otlp_endpoint`, spans are also exported over OTLP/gRPC; [`crate::trace_context`]
//! carries a trace from one service to the next.

use std::io::IsTerminal;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TracingConfig};

/// Text logs to stderr, for commands without a configuration (the CLI, one-shot commands).
pub fn init(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default_filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn filter(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
}

/// Keeps the trace exporter running; dropping it sends the spans still buffered (at shutdown).
#[must_use = "dropping the guard stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: flushing the last traces: {e}");
        }
    }
}

/// Logs (and traces, when configured) of a service named `service` (`seaf-backup-coordinator`,
/// …, the `service.name` of its spans). Call it inside the Tokio runtime: the exporter uses it.
pub fn init_service(service: &'static str, default_filter: &str, cfg: &TracingConfig) -> anyhow::Result<Telemetry> {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match cfg.log_format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).boxed(),
        // The span list puts the job's library and job id on every line logged inside the job.
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).with_span_list(true).boxed(),
    };
    let provider = match &cfg.otlp_endpoint {
        Some(endpoint) => Some(otlp_provider(service, endpoint, cfg.sample_ratio)?),
        None => None,
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter(default_filter))
        .with(fmt)
        .with(otel)
        .try_init()
        .context("setting up the logs")?;
    crate::trace_context::install(provider.is_some());
    if let Some(endpoint) = &cfg.otlp_endpoint {
        tracing::info!(endpoint, sample_ratio = cfg.sample_ratio, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

fn otlp_provider(service: &'static str, endpoint: &str, ratio: f64) -> anyhow::Result<SdkTracerProvider> {
    let url = url::Url::parse(endpoint).with_context(|| format!("[tracing] otlp_endpoint {endpoint:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("[tracing] otlp_endpoint must be an http:// or https:// URL, not {endpoint:?}");
    }
    if !(0.0..=1.0).contains(&ratio) {
        anyhow::bail!("[tracing] sample_ratio must be between 0.0 and 1.0, not {ratio}");
    }
    let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint);
    if url.scheme() == "https" {
        exporter = exporter.with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
    }
    let exporter = exporter.build().context("setting up the OTLP exporter")?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // A trace started upstream (the gateway's notification) keeps the upstream decision.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))))
        .with_resource(resource)
        .build())
}

/// An error with its causes, as one line, leaving out causes whose text the line already holds
/// (many errors repeat their source in their own message).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_causes_are_left_out() {
        let io = std::io::Error::other("Connection refused");
        let e =
            anyhow::Error::new(io).context("error communicating with database: Connection refused").context("MySQL");
        assert_eq!(super::error_chain(&e), "MySQL: error communicating with database: Connection refused");
    }
}
