//! The fetcher: pulls libraries from a Seafile primary into the backup's object store.
//!
//! * [`fetch`]: one library's full-history fetch — the heart of the data plane;
//! * [`once`]: the one-shot backup of a whole primary (`seaf-backup-fetcher once`);
//! * [`check`]: the consistency checker over backed-up libraries (`seaf-backup-fetcher verify`);
//! * [`worker`]: the cluster worker that leases jobs from the coordinator (`seaf-backup-fetcher run`).
//!
//! The fetcher never writes branch heads: a fetch returns the head whose closure it made durable,
//! and whoever owns the heads (the coordinator, or the one-shot command's library records)
//! publishes it.

pub mod check;
mod error;
pub mod fetch;
pub mod once;
pub mod worker;

pub use error::FetchError;
pub use fetch::{FetchOptions, FetchReport, FetchStats, LibraryFetch, Progress, Transfer};
