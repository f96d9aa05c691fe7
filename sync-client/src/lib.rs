//! Client for the download side of Seafile's HTTP sync protocol (`seafile-protocol.md` §4).
//!
//! # Protocol subset
//!
//! Server-wide, on [`SyncClient`]:
//! * `GET protocol-version` — version 2 or later is required;
//! * `POST repo/head-commits-multi` — heads of many libraries at once, unauthenticated;
//! * `GET server-sync/repo-list` — the library list (with the shared sync token).
//!
//! Per library, on [`RepoClient`], all with `Seafile-Repo-Token: <token>`:
//! * `GET repo/<id>/commit/HEAD` and `GET repo/<id>/commit/<commit id>`;
//! * `GET repo/<id>/fs-id-list/?server-head=…[&client-head=…]`;
//! * `POST repo/<id>/pack-fs` — fs objects in the 40 + 4 + L framing, cut after ~1 MiB;
//! * `POST repo/<id>/check-fs`, `POST repo/<id>/check-blocks` — which ids the primary lacks;
//! * `GET repo/<id>/block/<block id>` — streamed to a file.
//!
//! Paths are joined to the configured base URL, which may be the file server itself
//! (`http://host:8082`) or the reverse-proxied `https://host/seafhttp`, with or without a
//! trailing slash.
//!
//! # Verification
//!
//! Nothing from the primary is trusted: commits must parse and name the requested commit and
//! library; every pack-fs record must have been requested and hash to its id; blocks must hash
//! to their id unless the deployment disables it (`skip_block_hash` primaries). A failed check
//! is [`SyncError::Object`] and is not retried. Parsing and hashing are `seaf_objects`'.
//!
//! # Retries
//!
//! Every request is retried on transient failures — network errors, truncated bodies, 5xx
//! (a 500 on pack-fs or block may mean the object is missing on the primary; callers confirm
//! with check-fs / check-blocks once retries are exhausted) and `{"is_corrupted": 1}` heads —
//! with capped exponential backoff and jitter ([`RetryPolicy`], via `backon`), logging each
//! retry with `tracing::warn!`. Permanent errors (400/403 auth, 404, 444, 445, invalid data,
//! protocol violations) return at once. [`SyncError::is_transient`] tells them apart for the
//! caller's own, coarser retry decisions.

mod block;
mod client;
mod config;
mod error;
mod repo;

pub use client::{HEAD_COMMITS_BATCH, RepoListEntry, SyncClient, describe_metrics};
pub use config::{ClientConfig, RetryPolicy};
pub use error::SyncError;
pub use repo::{CHECK_BATCH, FetchedFs, PACK_FS_BATCH, RepoClient};
