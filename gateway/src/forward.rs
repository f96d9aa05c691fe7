//! Passing `/events` on to the real notification server (`forward_url`), so that desktop clients
//! keep their live updates while the primary's single notification URL points at the gateway.
//! Best effort, like seaf-server's own sending: a failure is logged, never answered.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use tokio::sync::Semaphore;

/// One pass-on attempt, start to end.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Pass-ons in flight at once; beyond that, events are dropped (and logged) rather than queued
/// without bound while the notification server is slow.
pub const MAX_IN_FLIGHT: usize = 256;

#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    url: Url,
    /// The URL without any user or password, for log lines.
    shown: String,
    slots: Arc<Semaphore>,
}

/// Events passed on to `forward_url`, by outcome: ok, refused (non-2xx), failed (no answer),
/// dropped (too many in flight).
pub const FORWARDS: &str = "seaf_backup_gateway_forwards_total";

impl Forwarder {
    pub fn new(url: Url) -> anyhow::Result<Forwarder> {
        if !matches!(url.scheme(), "http" | "https") {
            bail!("gateway.forward_url must be http or https, not {:?}", url.scheme());
        }
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let client = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .context("building the HTTP client for forward_url")?;
        Ok(Forwarder { client, url, shown: shown.to_string(), slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) })
    }

    /// Posts `body` with the same `Authorization` (and `Content-Type`, if any) in the background.
    pub fn pass_on(&self, body: Bytes, authorization: Option<HeaderValue>, content_type: Option<HeaderValue>) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            metrics::counter!(FORWARDS, "outcome" => "dropped").increment(1);
            tracing::warn!(url = %self.shown, "too many events in flight to forward_url; one not passed on");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut req = this.client.post(this.url.clone()).body(body);
            if let Some(v) = authorization {
                req = req.header(AUTHORIZATION, v);
            }
            if let Some(v) = content_type {
                req = req.header(CONTENT_TYPE, v);
            }
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    tracing::debug!(url = %this.shown, "event passed on");
                    "ok"
                }
                Ok(resp) => {
                    tracing::warn!(url = %this.shown, status = %resp.status(), "forward_url refused an event");
                    "refused"
                }
                // Without the URL inside: reqwest's error text repeats it, user info included.
                Err(e) => {
                    tracing::warn!(url = %this.shown, error = %e.without_url(), "passing an event on failed");
                    "failed"
                }
            };
            metrics::counter!(FORWARDS, "outcome" => outcome).increment(1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_no_credentials_in_logs() {
        assert!(Forwarder::new(Url::parse("ftp://x/events").unwrap()).is_err());
        let f = Forwarder::new(Url::parse("http://user:pw@127.0.0.1:8084/events").unwrap()).unwrap();
        assert_eq!(f.shown, "http://127.0.0.1:8084/events");
    }
}
