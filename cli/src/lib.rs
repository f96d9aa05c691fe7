//! `seaf-backup`: the administrator's command line of a seaf-backup cluster.
//!
//! It talks to the coordinator's admin API (`seafbackup.admin.v1.AdminService`) and imitates
//! Seafile Pro's `seaf-backup-cmd.sh`: `status`, `sync [--force] <library id>`, plus `libraries`,
//! `library <id>` and `retry [<id>]`.
//!
//! * [`args`]: the command line and its help texts;
//! * [`connect`]: reaching the coordinator, and wording call failures;
//! * [`commands`]: running each command;
//! * [`text`], [`json`]: the two output forms, as pure functions of the API's messages;
//! * [`progress`]: the live display of a running sync.
//!
//! Exit status ([`Exit`]): 0 success; 1 a sync failed or its progress stream broke; 2 a usage
//! error, an invalid id, an unreachable coordinator or a refused request.

pub mod args;
pub mod commands;
pub mod connect;
pub mod json;
pub mod progress;
pub mod text;

pub use args::Cli;

/// The process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// The library failed to sync, or its progress stream ended before a final phase.
    SyncFailed = 1,
    /// A usage error, an invalid id, an unreachable coordinator, or an error answer to a call.
    Error = 2,
}

/// Why a command did not succeed: the sentence printed after `error: `, and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    /// A usage, connection or request error (exit 2).
    pub fn error(message: impl Into<String>) -> Failure {
        Failure { exit: Exit::Error, message: message.into() }
    }

    /// A sync that failed or whose stream broke (exit 1).
    pub fn sync(message: impl Into<String>) -> Failure {
        Failure { exit: Exit::SyncFailed, message: message.into() }
    }
}

/// Runs the parsed command line, prints any failure on stderr, and returns the exit status.
pub async fn run(cli: Cli) -> Exit {
    match commands::run(&cli).await {
        Ok(()) => Exit::Success,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.exit
        }
    }
}
