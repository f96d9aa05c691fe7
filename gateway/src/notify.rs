//! `POST /v1/notify`: libraries to back up now, for scripts and primaries other than seaf-server.
//! Authenticated with the shared `sync_token`; all ids are checked before any is sent, so a
//! request with one bad id changes nothing.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use seaf_backup_proto::internal::Change;
use seaf_objects::RepoId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{Body, parse_json, require_json};
use crate::error::HttpError;
use crate::{Gateway, auth, coordinator};

/// Ids per request; larger batches are split by the caller.
pub const MAX_IDS: usize = 1000;

/// A request carrying the shared sync token.
pub struct SyncAuth;

impl FromRequestParts<Gateway> for SyncAuth {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<SyncAuth, HttpError> {
        auth::check_sync_token(gw.sync_token(), &parts.headers)
            .inspect_err(|e| tracing::warn!(reason = %e.message, "/v1/notify refused"))?;
        Ok(SyncAuth)
    }
}

#[derive(Deserialize)]
struct NotifyBody {
    repo_ids: Vec<String>,
}

/// The distinct library ids of a request, in their first order; the first bad one is named.
fn changes(ids: &[String]) -> Result<Vec<Change>, HttpError> {
    if ids.is_empty() {
        return Err(HttpError::bad_request(format!("repo_ids is empty: give 1 to {MAX_IDS} library ids")));
    }
    if ids.len() > MAX_IDS {
        return Err(HttpError::bad_request(format!("repo_ids has {} ids; at most {MAX_IDS} per request", ids.len())));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let repo = RepoId::parse(id).map_err(|e| HttpError::bad_request(format!("repo_ids[{i}]: {e}")))?;
        if seen.insert(repo.clone()) {
            out.push(Change { repo_id: repo.to_string(), commit_id: String::new() });
        }
    }
    Ok(out)
}

/// Answers `{"accepted": N}`, N as the coordinator counts it.
pub async fn handle(
    State(gw): State<Gateway>,
    _auth: SyncAuth,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>, HttpError> {
    require_json(&headers)?;
    let req: NotifyBody = parse_json(&body)?;
    let changes = changes(&req.repo_ids)?;
    let ids = changes.len();
    let first = changes[0].repo_id.clone();
    let accepted = coordinator::notify(gw.channel(), gw.sync_token(), changes, "notify").await?;
    tracing::info!(ids, first = %first, accepted, "notify forwarded");
    Ok(Json(json!({ "accepted": accepted })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";
    const B: &str = "00000000-0000-4000-8000-000000000001";

    #[test]
    fn ids_are_checked_and_collapsed() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = changes(&ids(&[A, B, A])).unwrap();
        assert_eq!(c.iter().map(|c| c.repo_id.as_str()).collect::<Vec<_>>(), [A, B]);
        let e = changes(&ids(&[A, "'; DROP TABLE Repo; --"])).unwrap_err();
        assert!(e.message.starts_with("repo_ids[1]: invalid library id"), "{}", e.message);
        assert!(changes(&[]).unwrap_err().message.starts_with("repo_ids is empty"));
        assert!(changes(&vec![A.to_string(); MAX_IDS]).is_ok());
        assert!(changes(&vec![A.to_string(); MAX_IDS + 1]).unwrap_err().message.contains("at most 1000"));
    }
}
