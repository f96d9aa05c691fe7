//! [`RepoClient`]: the per-library endpoints — head, commits, fs-id-list, pack-fs and the
//! check-fs / check-blocks existence probes. Block downloads are in [`crate::block`].

use std::collections::{HashSet, VecDeque};
use std::fmt;

use bytes::Bytes;
use reqwest::Method;
use seaf_objects::{Commit, FsObject, ObjectId, RepoId, fs, packfs};
use serde::Deserialize;

use crate::client::{Call, SyncClient, TokenHeader, json_body, parse_json};
use crate::error::SyncError;

/// Most ids per `pack-fs` request (what the desktop client sends; the server has no limit).
pub const PACK_FS_BATCH: usize = 100;

/// Most ids per `check-fs` / `check-blocks` request.
pub const CHECK_BATCH: usize = 1000;

/// A verified fs object as received from `pack-fs`.
#[derive(Debug, Clone)]
pub struct FetchedFs {
    pub id: ObjectId,
    /// The bytes exactly as the primary stores them (v1: zlib stream; v0: binary): store these.
    pub stored: Bytes,
    pub object: FsObject,
}

/// The endpoints of one library, authenticated with its sync token. Cheap to clone.
#[derive(Clone)]
pub struct RepoClient {
    client: SyncClient,
    repo: RepoId,
    token: TokenHeader,
}

impl fmt::Debug for RepoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoClient").field("repo", &self.repo).field("token", &"<redacted>").finish()
    }
}

impl RepoClient {
    pub(crate) fn new(client: SyncClient, repo: RepoId, token: TokenHeader) -> RepoClient {
        RepoClient { client, repo, token }
    }

    pub fn repo_id(&self) -> &RepoId {
        &self.repo
    }

    pub(crate) fn client(&self) -> &SyncClient {
        &self.client
    }

    /// A request to `repo/<id>/<suffix>` carrying the token.
    pub(crate) fn call(&self, method: Method, suffix: &str) -> Result<Call, SyncError> {
        let token = self.token.header(&format!("the sync token of library {}", self.repo))?;
        Ok(Call::new(method, format!("repo/{}/{suffix}", self.repo), self.client.request_timeout())
            .token(token)
            .repo(&self.repo))
    }

    /// `GET commit/HEAD`: the id of the library's current head commit.
    ///
    /// `{"is_corrupted": 1}` (a database error on the primary) is the transient
    /// [`SyncError::HeadCorrupted`], retried like a 5xx.
    pub async fn head(&self) -> Result<ObjectId, SyncError> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            is_corrupted: serde_json::Value,
            #[serde(default)]
            head_commit_id: Option<String>,
        }
        let call = self.call(Method::GET, "commit/HEAD")?;
        self.client
            .retrying(&call.endpoint, || async {
                let body = self.client.fetch(&call).await?;
                let head: Head = parse_json(&call.endpoint, &body)?;
                let corrupted = match &head.is_corrupted {
                    serde_json::Value::Bool(b) => *b,
                    serde_json::Value::Number(n) => n.as_i64() != Some(0),
                    _ => false,
                };
                if corrupted {
                    return Err(SyncError::HeadCorrupted(self.repo.clone()));
                }
                match head.head_commit_id.as_deref().map(ObjectId::parse) {
                    Some(Ok(id)) => Ok(id),
                    Some(Err(e)) => Err(SyncError::Protocol(format!("{}: {e}", call.endpoint))),
                    None => Err(SyncError::Protocol(format!("{}: the answer has no head_commit_id", call.endpoint))),
                }
            })
            .await
    }

    /// `GET commit/<id>`, validated: it must parse, and its `commit_id` and `repo_id` must be the
    /// ones requested. 404 (absent, e.g. history truncated) is [`SyncError::NotFound`].
    pub async fn commit(&self, id: &ObjectId) -> Result<Commit, SyncError> {
        let call =
            self.call(Method::GET, &format!("commit/{id}"))?.not_found(format!("commit {id} of library {}", self.repo));
        self.client
            .retrying(&call.endpoint, || async {
                let body = self.client.fetch(&call).await?;
                Commit::parse_expected(body, id, &self.repo).map_err(SyncError::Object)
            })
            .await
    }

    /// `GET fs-id-list/?server-head=…[&client-head=…]`: the fs objects of `server_head`'s tree
    /// that are not at the same path in `client_head`'s tree. Duplicates are removed (first
    /// occurrence kept) and the empty sentinel is dropped.
    pub async fn fs_id_list(
        &self,
        server_head: &ObjectId,
        client_head: Option<&ObjectId>,
    ) -> Result<Vec<ObjectId>, SyncError> {
        let mut call = self
            .call(Method::GET, "fs-id-list/")?
            .query("server-head", server_head.to_string())
            .timeout_total(self.client.fs_id_list_timeout());
        if let Some(c) = client_head {
            call = call.query("client-head", c.to_string());
        }
        let ids: Vec<ObjectId> = self.client.get_json(&call).await?;
        Ok(dedup(&ids, true))
    }

    /// One `POST pack-fs` for `ids` (callers pass at most [`PACK_FS_BATCH`]).
    ///
    /// Every record must have been requested and must verify against its id. The answer may
    /// hold fewer objects than asked: the server stops after about 1 MiB. Use
    /// [`fetch_fs`](Self::fetch_fs) to get all of them.
    pub async fn pack_fs(&self, ids: &[ObjectId]) -> Result<Vec<FetchedFs>, SyncError> {
        // The sentinel is never stored; asking for it fails the whole request with 500.
        let wanted = dedup(ids, true);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let call = self.call(Method::POST, "pack-fs")?.body(json_body(&wanted)?);
        let wanted: HashSet<ObjectId> = wanted.into_iter().collect();
        self.client
            .retrying(&call.endpoint, || async {
                let body = self.client.fetch(&call).await?;
                let wanted = wanted.clone();
                let endpoint = call.endpoint.clone();
                // Inflating and hashing up to a few MiB is CPU work: keep it off the reactor.
                tokio::task::spawn_blocking(move || unpack(&endpoint, &wanted, body))
                    .await
                    .map_err(|e| SyncError::Protocol(format!("verifying the pack-fs answer failed: {e}")))?
            })
            .await
    }

    /// All of `ids` (duplicates fetched once, the empty sentinel skipped), via as many
    /// `pack-fs` requests of at most [`PACK_FS_BATCH`] ids as needed. Ids the server left out
    /// of an answer are asked again; an answer with none of the requested ids is an error,
    /// so the loop always ends. Results come in arrival order.
    pub async fn fetch_fs(&self, ids: &[ObjectId]) -> Result<Vec<FetchedFs>, SyncError> {
        let mut queue: VecDeque<ObjectId> = dedup(ids, true).into();
        let mut out = Vec::with_capacity(queue.len());
        while !queue.is_empty() {
            let n = queue.len().min(PACK_FS_BATCH);
            let batch: Vec<ObjectId> = queue.drain(..n).collect();
            let got = self.pack_fs(&batch).await?;
            if got.is_empty() {
                return Err(SyncError::Protocol(format!(
                    "pack-fs of library {} returned none of the {} requested fs objects (first: {}); giving up instead of asking again",
                    self.repo,
                    batch.len(),
                    batch[0]
                )));
            }
            let arrived: HashSet<ObjectId> = got.iter().map(|f| f.id).collect();
            // Unreturned ids go first in the next request, in their original order.
            for id in batch.iter().rev().filter(|id| !arrived.contains(id)) {
                queue.push_front(*id);
            }
            out.extend(got);
        }
        Ok(out)
    }

    /// `POST check-fs` in batches of [`CHECK_BATCH`]: the ids the primary does **not** have.
    /// The empty sentinel always counts as present.
    pub async fn check_fs(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, SyncError> {
        self.check("check-fs", &dedup(ids, true)).await
    }

    /// `POST check-blocks` in batches of [`CHECK_BATCH`]: the ids the primary does **not** have.
    pub async fn check_blocks(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, SyncError> {
        self.check("check-blocks", &dedup(ids, false)).await
    }

    async fn check(&self, endpoint: &str, ids: &[ObjectId]) -> Result<Vec<ObjectId>, SyncError> {
        let mut missing = Vec::new();
        for batch in ids.chunks(CHECK_BATCH) {
            let call = self.call(Method::POST, endpoint)?.body(json_body(batch)?);
            let answer: Vec<ObjectId> = self.client.get_json(&call).await?;
            let asked: HashSet<&ObjectId> = batch.iter().collect();
            missing.extend(answer.into_iter().filter(|id| asked.contains(id)));
        }
        Ok(dedup(&missing, false))
    }
}

/// Splits and verifies a pack-fs body.
fn unpack(endpoint: &str, wanted: &HashSet<ObjectId>, body: Bytes) -> Result<Vec<FetchedFs>, SyncError> {
    let records = packfs::parse(&body).map_err(SyncError::Object)?;
    let mut seen = HashSet::with_capacity(records.len());
    let mut out = Vec::with_capacity(records.len());
    for (id, data) in records {
        if !wanted.contains(&id) {
            return Err(SyncError::Protocol(format!(
                "{endpoint}: the answer holds fs object {id}, which was not requested"
            )));
        }
        if !seen.insert(id) {
            continue;
        }
        let object = fs::verify(&id, data).map_err(SyncError::Object)?;
        out.push(FetchedFs { id, stored: body.slice_ref(data), object });
    }
    Ok(out)
}

/// Removes duplicates keeping the first occurrence, and optionally the empty sentinel.
fn dedup(ids: &[ObjectId], drop_empty: bool) -> Vec<ObjectId> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter().filter(|id| !(drop_empty && id.is_empty()) && seen.insert(**id)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_order() {
        let a = ObjectId::hash_of(b"a");
        let b = ObjectId::hash_of(b"b");
        let ids = [b, ObjectId::EMPTY, a, b, a, ObjectId::EMPTY];
        assert_eq!(dedup(&ids, true), vec![b, a]);
        assert_eq!(dedup(&ids, false), vec![b, ObjectId::EMPTY, a]);
    }
}
