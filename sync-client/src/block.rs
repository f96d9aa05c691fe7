//! Block downloads: `GET repo/<id>/block/<block id>`, streamed into a caller's file.
//!
//! Blocks have no size limit in the protocol (8 MiB on average, but admins can configure more),
//! so the body is never held in memory: each chunk is hashed and written as it arrives.

use std::io::SeekFrom;

use backon::RetryableWithContext;
use reqwest::Method;
use seaf_objects::{ObjectError, ObjectId, ObjectKind};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::client::{Call, check_length, log_retry, read_error};
use crate::error::SyncError;
use crate::repo::RepoClient;

/// Bytes gathered before a write to the destination file (memory per download stays bounded).
const WRITE_BUFFER: usize = 1 << 20;

impl RepoClient {
    /// Downloads block `id` into `dest` and returns its length in bytes.
    ///
    /// `dest` must be an empty file opened for writing (not in append mode). Every retry first
    /// truncates it and rewinds, so after a success it holds exactly the block; it is flushed but not fsynced
    /// (durability is the caller's business, e.g. fsync then rename into the store).
    ///
    /// Checks: the byte count against `Content-Length` when the server sends one (short ⇒
    /// [`SyncError::Truncated`], retried), and unless `verify_hash` is false (primaries with
    /// `skip_block_hash`), SHA-1 of the content against `id` (mismatch ⇒
    /// [`SyncError::Object`]`(`[`ObjectError::HashMismatch`]`)`, permanent).
    ///
    /// **On any error the content of `dest` is unspecified and must not be used.**
    ///
    /// There is no deadline for the whole download, only for each wait: the response headers
    /// and then every chunk must arrive within the configured `request_timeout`.
    pub async fn fetch_block(
        &self,
        id: &ObjectId,
        verify_hash: bool,
        dest: &mut tokio::fs::File,
    ) -> Result<u64, SyncError> {
        let call = self
            .call(Method::GET, &format!("block/{id}"))?
            .idle_timeout(self.client().request_timeout())
            .not_found(format!("block {id} of library {}", self.repo_id()));
        let call = &call;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let attempts = &attempts;
        // The file is threaded through the attempts as backon's context: each attempt borrows
        // it mutably in turn.
        let attempt = with_file(move |dest| async move {
            let retry = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
            let r = self.block_attempt(call, id, verify_hash, retry, &mut *dest).await;
            (dest, r)
        });
        let (_, result) = attempt
            .retry(self.client().retry_policy().backoff())
            .context(dest)
            .when(SyncError::is_transient)
            .notify(|e: &SyncError, delay| log_retry(&call.endpoint, e, delay))
            .await;
        result
    }

    async fn block_attempt(
        &self,
        call: &Call,
        id: &ObjectId,
        verify_hash: bool,
        retry: bool,
        dest: &mut tokio::fs::File,
    ) -> Result<u64, SyncError> {
        if retry {
            dest.set_len(0).await.map_err(SyncError::Io)?;
            dest.seek(SeekFrom::Start(0)).await.map_err(SyncError::Io)?;
        }
        let mut resp = self.client().send(call).await?;
        let expected = resp.content_length();
        let idle = self.client().request_timeout();
        let mut hasher = Sha1::new();
        let mut received = 0u64;
        // Chunks are gathered up to WRITE_BUFFER before each write: every write of a tokio File
        // is a hop to a blocking thread, and most blocks then take a single one.
        let mut pending = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
                Err(_) => {
                    return Err(SyncError::Network {
                        endpoint: call.endpoint.clone(),
                        message: format!("no data for {idle:?} after {received} bytes"),
                    });
                }
                Ok(Err(e)) => return Err(read_error(&call.endpoint, e, expected, received)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            hasher.update(&chunk);
            received += chunk.len() as u64;
            if pending.is_empty() && chunk.len() >= WRITE_BUFFER {
                dest.write_all(&chunk).await.map_err(SyncError::Io)?;
                continue;
            }
            pending.extend_from_slice(&chunk);
            if pending.len() >= WRITE_BUFFER {
                dest.write_all(&pending).await.map_err(SyncError::Io)?;
                pending.clear();
            }
        }
        if !pending.is_empty() {
            dest.write_all(&pending).await.map_err(SyncError::Io)?;
        }
        // tokio's File hands writes to a background thread; flush waits for the last one.
        dest.flush().await.map_err(SyncError::Io)?;
        check_length(&call.endpoint, expected, received)?;
        if verify_hash {
            let actual = ObjectId::from_bytes(hasher.finalize().into());
            if actual != *id {
                return Err(SyncError::Object(ObjectError::HashMismatch { kind: ObjectKind::Block, id: *id, actual }));
            }
        }
        Ok(received)
    }
}

/// Pins the attempt closure to one borrow lifetime of the file (a closure whose argument type
/// is written inline would be inferred as generic over every lifetime, and its future could not
/// hold the borrow).
fn with_file<'f, F, Fut>(f: F) -> F
where
    F: FnMut(&'f mut tokio::fs::File) -> Fut,
    Fut: std::future::Future<Output = (&'f mut tokio::fs::File, Result<u64, SyncError>)>,
{
    f
}
