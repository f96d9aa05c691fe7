//! `POST /events`: the notifications seaf-server sends to its notification server (protocol §7.2).
//! `repo-update` becomes one `Change` for the coordinator; the other types (`file-lock-changed`,
//! `folder-perm-changed`, `comment-update`, ...) only matter to desktop clients, so they are
//! accepted and, like every authenticated well-formed event, passed on to `forward_url` if set.

use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::{Json, http::StatusCode};
use seaf_backup_proto::internal::Change;
use seaf_objects::{ObjectId, RepoId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{Body, parse_json};
use crate::error::HttpError;
use crate::{Gateway, coordinator};

/// A request whose `Authorization: Token <JWT>` passed [`crate::auth::JwtVerifier`].
pub struct EventAuth;

impl FromRequestParts<Gateway> for EventAuth {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<EventAuth, HttpError> {
        let Some(verifier) = gw.jwt() else {
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway.jwt_private_key is not configured, so /events cannot verify seaf-server's tokens",
            ));
        };
        verifier.check(&parts.headers).inspect_err(|e| tracing::warn!(reason = %e.message, "/events refused"))?;
        Ok(EventAuth)
    }
}

/// The envelope every event shares.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct RepoUpdate {
    repo_id: String,
    commit_id: String,
}

fn repo_update(content: Value) -> Result<Change, HttpError> {
    let u: RepoUpdate =
        serde_json::from_value(content).map_err(|e| HttpError::bad_request(format!("repo-update content: {e}")))?;
    let repo = RepoId::parse(&u.repo_id).map_err(|e| HttpError::bad_request(format!("content.repo_id: {e}")))?;
    let commit =
        ObjectId::parse(&u.commit_id).map_err(|e| HttpError::bad_request(format!("content.commit_id: {e}")))?;
    Ok(Change { repo_id: repo.to_string(), commit_id: commit.to_string() })
}

/// Answers `{"accepted": N}`: the changes the coordinator took (0 for event types it never sees).
pub async fn handle(
    State(gw): State<Gateway>,
    _auth: EventAuth,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>, HttpError> {
    let event: Event = parse_json(&body)?;
    let change = match event.kind.as_str() {
        "repo-update" => Some(repo_update(event.content)?),
        _ => None,
    };
    if let Some(f) = gw.forwarder() {
        f.pass_on(body, headers.get(AUTHORIZATION).cloned(), headers.get(CONTENT_TYPE).cloned());
    }
    let Some(change) = change else {
        tracing::debug!(kind = %event.kind.chars().take(64).collect::<String>(), "event accepted, not for the coordinator");
        return Ok(Json(json!({ "accepted": 0 })));
    };
    let (repo, commit) = (change.repo_id.clone(), change.commit_id.clone());
    let accepted = coordinator::notify(gw.channel(), gw.sync_token(), vec![change], "events").await?;
    tracing::info!(%repo, %commit, accepted, "repo-update forwarded");
    Ok(Json(json!({ "accepted": accepted })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_update_content_is_validated() {
        let good = json!({ "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "commit_id": "a".repeat(40) });
        let c = repo_update(good).unwrap();
        assert_eq!((c.repo_id.as_str(), c.commit_id.len()), ("3f9e4aa5-d6ba-4066-a1d6-81824f422af1", 40));
        let e = repo_update(json!({ "repo_id": "../etc", "commit_id": "a".repeat(40) })).unwrap_err();
        assert!(e.message.starts_with("content.repo_id: invalid library id"), "{}", e.message);
        let e =
            repo_update(json!({ "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "commit_id": "HEAD" })).unwrap_err();
        assert!(e.message.starts_with("content.commit_id: invalid object id"), "{}", e.message);
        let e = repo_update(json!({ "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1" })).unwrap_err();
        assert_eq!(e.message, "repo-update content: missing field `commit_id`");
        assert_eq!(repo_update(Value::Null).unwrap_err().status, StatusCode::BAD_REQUEST);
    }
}
