//! The notification seaf-server sends after every branch update (protocol §7.2):
//! `POST <url>` with body `{"type":"repo-update","content":{"repo_id":…,"commit_id":…}}` and
//! header `Authorization: Token <JWT>`, the JWT signed HS256 with the shared `JWT_PRIVATE_KEY` and
//! expiring 300 s later. Delivery is best effort, as on the real server: the caller logs a failure
//! and carries on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use seaf_objects::{ObjectId, RepoId};
use serde::{Deserialize, Serialize};

/// How long a notification token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Claims of the notification token (the notification server checks signature and `exp` only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub exp: u64,
}

/// Sends `repo-update` events to one URL.
#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: String,
    key: EncodingKey,
}

impl Notifier {
    pub fn new(url: &str, jwt_key: &str) -> Result<Notifier> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid events URL {url:?}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("events URL {url:?} must be http or https");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Notifier { client, url: url.to_owned(), key: EncodingKey::from_secret(jwt_key.as_bytes()) })
    }

    /// A fresh token, valid for [`TOKEN_LIFETIME`].
    pub fn token(&self) -> Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?;
        let claims = Claims { exp: (now + TOKEN_LIFETIME).as_secs() };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key).context("signing the token")
    }

    /// Posts one `repo-update` event; an error or a non-2xx answer is an `Err`.
    pub async fn repo_update(&self, repo: &RepoId, commit: &ObjectId) -> Result<()> {
        let body = serde_json::json!({
            "type": "repo-update",
            "content": { "repo_id": repo, "commit_id": commit },
        });
        let resp = self
            .client
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, format!("Token {}", self.token()?))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("posting to {}", self.url))?;
        if !resp.status().is_success() {
            bail!("{} answered {}", self.url, resp.status());
        }
        Ok(())
    }
}
