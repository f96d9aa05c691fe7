//! The coordinator: the one component that decides what to back up and that moves branch heads.
//!
//! Follow a change through it:
//! 1. [`coordinator::Coordinator::notify`] (from the gateway) or the [`poller`] finds a library
//!    that changed, records it in MySQL ([`db`]) and queues it in Redis ([`queue`]);
//! 2. a fetcher takes it with [`coordinator::Coordinator::lease`] and keeps the lease alive with
//!    heartbeats; the [`upkeep`] task re-queues leases that expire, and rebuilds the queue from
//!    MySQL if Redis lost it;
//! 3. the fetcher's report lands in [`coordinator::Coordinator::report`], which publishes the
//!    head in `Branch` (compare-and-set, one transaction with the library's state) — or counts a
//!    failed attempt and retries with backoff, up to the failed list.
//!
//! Administrators see and steer it through [`admin`] (`seafbackup.admin.v1`); the fetchers and
//! the gateway through [`internal`] (`seafbackup.internal.v1`). [`server`] wires it all up.

pub mod admin;
pub mod coordinator;
pub mod db;
pub mod failover;
pub mod gauges;
pub mod internal;
pub mod poller;
pub mod queue;
pub mod replication;
pub mod server;
pub mod tokens;
pub mod upkeep;
