//! Carrying a trace from one service to the next (W3C trace context).
//!
//! The gateway puts its span's context in the `traceparent` metadata of its `Notify` call; the
//! coordinator keeps it with the queued library, hands it to the fetcher in the leased `Job`, and
//! the fetcher sends its job span's context back with its `Report`. So one trace runs from the
//! notification to the published head. Everything here does nothing when tracing is off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn install(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether spans are exported (`[tracing] otlp_endpoint`): callers skip the work of carrying a
/// context (a Redis round trip in the coordinator) when they are not.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(k, v);
        }
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Adds `span`'s trace context to a request's metadata.
pub fn inject<T>(span: &tracing::Span, req: &mut tonic::Request<T>) {
    if enabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut MetadataInjector(req.metadata_mut()));
    }
}

/// Makes `span` part of the trace whose context a request carries, if it carries one.
pub fn adopt_from_metadata(span: &tracing::Span, metadata: &MetadataMap) {
    if enabled() {
        adopt(span, &MetadataExtractor(metadata));
    }
}

/// Sets `span`'s parent to the context `carrier` holds, when it holds a valid one.
fn adopt(span: &tracing::Span, carrier: &dyn Extractor) {
    let cx = TraceContextPropagator::new().extract(carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// `span`'s context as a `traceparent` value, when it is recorded.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` part of the trace named by a `traceparent` value (ignored when empty or malformed).
pub fn adopt_traceparent(span: &tracing::Span, traceparent: &str) {
    if enabled() && !traceparent.is_empty() {
        adopt(span, &HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]));
    }
}
