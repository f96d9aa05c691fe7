//! A simulated Seafile primary server.
//!
//! The backup's tests, benchmarks and demo need a Seafile primary that behaves like the real one
//! on disk and on the wire, can be damaged on purpose, and starts in milliseconds. This crate is
//! that primary:
//!
//! * [`generate`] writes a deterministic `seafile-data` tree (commits, v1 fs objects, blocks) plus a
//!   tiny "database" (`db/libraries.json`, `db/branch/<repo_id>`), see [`layout`];
//! * [`serve`] answers the download half of the HTTP sync protocol over that tree, with
//!   [`faults`] injected on request;
//! * [`mutate`] keeps committing to libraries, like users would, and announces each new head to
//!   a notification endpoint ([`events`]);
//! * [`damage`] corrupts or deletes chosen objects on disk, to exercise the backup's error paths;
//! * [`seafile_db`] keeps the libraries in seaf-server's own MySQL/MariaDB tables instead (stock
//!   mode, `--database-url`): `serve` then behaves like a stock seaf-server (per-library tokens, no
//!   repo list), and [`admin`] revokes tokens, transfers, disowns and deletes libraries and cuts
//!   history short as seaf-server's GC does.
//!
//! Object formats and ids come from `seaf-objects`; only what a real primary adds (C-server commit
//! serialization, tree building, the fs-id-list diff) lives here.

pub mod admin;
pub mod commit_json;
pub mod content;
pub mod damage;
pub mod db;
pub mod events;
pub mod faults;
pub mod fs_id_list;
pub mod generate;
pub mod layout;
pub mod library;
pub mod mutate;
pub mod names;
pub mod seafile_db;
pub mod serve;
pub mod tree;
pub mod walk;
pub mod writer;

pub use generate::{GenerateOptions, Scale, Summary, generate};
