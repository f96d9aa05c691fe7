//! The command line: global options and the commands, with the help an administrator reads.

use clap::{Args, Parser, Subcommand, ValueEnum};
use seaf_backup_proto::admin::LibraryState;
use seaf_objects::RepoId;

/// The address used when neither `--coordinator` nor `SEAF_BACKUP_COORDINATOR` is given.
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:7070";

const EXIT_CODES: &str = "\
Exit status:
  0  success (for sync: the library is backed up)
  1  sync: the library failed to sync, or the progress stream broke before the end
  2  usage error, invalid library id, coordinator unreachable, or the coordinator refused the request";

#[derive(Debug, Parser)]
#[command(
    name = "seaf-backup",
    version,
    about = "Administers a seaf-backup cluster through its coordinator (like Seafile's seaf-backup-cmd.sh)",
    long_about = "Administers a seaf-backup cluster through the gRPC admin API of its coordinator: shows the \
                  backup status, backs up one library on demand (optionally skipping corrupt objects), lists \
                  libraries and puts failed ones back in the queue. The commands imitate Seafile Pro's \
                  seaf-backup-cmd.sh.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Args)]
pub struct Global {
    /// The coordinator's gRPC address (http://host:port, or https://host:port when it serves TLS;
    /// "http://" is assumed when no scheme is given).
    #[arg(long, global = true, env = "SEAF_BACKUP_COORDINATOR", default_value = DEFAULT_COORDINATOR, value_name = "URL")]
    pub coordinator: String,
    /// A file holding the admin token ([coordinator] admin_token); without it the token is taken from
    /// the environment variable SEAF_BACKUP_ADMIN_TOKEN, if set.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// With an https:// coordinator: an extra PEM CA to trust besides the system roots.
    #[arg(long, global = true, env = "SEAF_BACKUP_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// With an https:// coordinator that requires mutual TLS: the PEM client certificate ...
    #[arg(long, global = true, env = "SEAF_BACKUP_CLIENT_CERT", value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// ... and its key.
    #[arg(long, global = true, env = "SEAF_BACKUP_CLIENT_KEY", value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
    /// With an https:// coordinator: the name its certificate must carry, when not the URL's host.
    #[arg(long, global = true, env = "SEAF_BACKUP_TLS_DOMAIN", value_name = "NAME")]
    pub tls_domain: Option<String>,
    /// Print machine-readable JSON on stdout instead of text (errors still go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the connection to the coordinator and for each answer; sync waits this long
    /// only for its progress stream to open, then as long as the backup takes.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show how many libraries are synchronized, waiting, syncing and failed, and list the syncing and
    /// failed ones (with the reason and the number of attempts).
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Back up one library now and wait until it is backed up or has failed.
    #[command(
        long_about = "Schedules a backup of one library and waits until it is backed up or has failed, showing \
                      its progress on stderr when that is a terminal. On success it prints the backed-up head.\n\n\
                      A backup that keeps failing is usually caused by objects the primary lacks or serves \
                      corrupt. Run seaf-fsck on the primary for that library first, then sync --force: the \
                      backup then skips such objects, completes, and lists every object it skipped.",
        after_help = EXIT_CODES
    )]
    Sync(SyncArgs),
    /// List libraries with their state, backup and primary heads, and how far behind the backup is.
    #[command(after_help = EXIT_CODES)]
    Libraries(LibrariesArgs),
    /// Show everything known about one library, including the objects a forced sync skipped.
    #[command(after_help = EXIT_CODES)]
    Library(LibraryArgs),
    /// Put a failed library, or every failed library, back in the queue for another attempt.
    #[command(after_help = EXIT_CODES)]
    Retry(RetryArgs),
    /// Prepare the backup's database for Seafile to run on it (switch-over); a dry run unless --apply.
    #[command(
        long_about = "Prepares the backup's database for a Seafile server to run on it, as the restore step of \
                      Seafile's backup procedure: checks that replication into the backup's database is \
                      stopped (or says how to stop it), lists the libraries the backup does not hold at the \
                      primary's last known head (failed or behind), deletes their sync tokens (RepoUserToken) \
                      so that desktop clients re-sync them, and deletes the tokens the backup minted on a stock \
                      primary. Nothing else is changed. Without --apply it only prints what it would delete; \
                      with --apply it prints what it deleted, then what remains to do to start Seafile.",
        after_help = EXIT_CODES
    )]
    Failover(FailoverArgs),
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// Delete the tokens (default: a dry run that changes nothing).
    #[arg(long)]
    pub apply: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Skip objects the primary lacks or serves corrupt instead of failing, and list them.
    #[arg(long)]
    pub force: bool,
    /// The library to back up (a lowercase UUID).
    #[arg(value_name = "LIBRARY_ID")]
    pub repo_id: RepoId,
}

#[derive(Debug, Args)]
pub struct LibrariesArgs {
    /// Only libraries in this state (default: all).
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
}

#[derive(Debug, Args)]
pub struct LibraryArgs {
    /// The library to show (a lowercase UUID).
    #[arg(value_name = "LIBRARY_ID")]
    pub repo_id: RepoId,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The failed library to retry (a lowercase UUID); every failed library when omitted.
    #[arg(value_name = "LIBRARY_ID")]
    pub repo_id: Option<RepoId>,
}

/// The states `libraries --state` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    /// The backup head equals the primary head.
    Synchronized,
    /// Queued, not yet picked up by a fetcher.
    Waiting,
    /// Being fetched.
    Syncing,
    /// Retries exhausted (see `library <id>` for the error).
    Failed,
    /// Gone from the primary; its backup data is kept.
    Deleted,
}

impl From<StateFilter> for LibraryState {
    fn from(s: StateFilter) -> LibraryState {
        match s {
            StateFilter::Synchronized => LibraryState::Synchronized,
            StateFilter::Waiting => LibraryState::Waiting,
            StateFilter::Syncing => LibraryState::Syncing,
            StateFilter::Failed => LibraryState::Failed,
            StateFilter::Deleted => LibraryState::Deleted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const ID: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("seaf-backup").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sync_force_with_an_id() {
        let cli = parse(&["sync", "--force", ID]).unwrap();
        match cli.command {
            Command::Sync(a) => assert_eq!((a.force, a.repo_id.as_str()), (true, ID)),
            other => panic!("{other:?}"),
        }
        if std::env::var_os("SEAF_BACKUP_COORDINATOR").is_none() {
            assert_eq!(cli.global.coordinator, DEFAULT_COORDINATOR);
        }
        assert_eq!(cli.global.timeout, 10);
        assert!(!cli.global.json);
        let Command::Sync(a) = parse(&["sync", ID]).unwrap().command else { panic!() };
        assert!(!a.force);
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let a = parse(&["--json", "--coordinator", "http://10.0.0.1:9", "status"]).unwrap();
        let b = parse(&["status", "--json", "--coordinator", "http://10.0.0.1:9", "--timeout", "3"]).unwrap();
        for cli in [&a, &b] {
            assert!(cli.global.json);
            assert_eq!(cli.global.coordinator, "http://10.0.0.1:9");
            assert!(matches!(cli.command, Command::Status));
        }
        assert_eq!(b.global.timeout, 3);
    }

    #[test]
    fn invalid_ids_are_usage_errors() {
        for args in [
            &["sync", "not-a-uuid"][..],
            &["sync", "--force", "3F9E4AA5-D6BA-4066-A1D6-81824F422AF1"],
            &["library", "../etc"],
            &["retry", "x"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains("invalid library id"), "{err}");
        }
        assert_eq!(parse(&["sync"]).unwrap_err().exit_code(), 2, "the id is required");
        assert_eq!(parse(&["status", "--timeout", "0"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn libraries_state_and_retry_id_are_optional() {
        let Command::Libraries(a) = parse(&["libraries"]).unwrap().command else { panic!() };
        assert_eq!(a.state, None);
        let Command::Libraries(a) = parse(&["libraries", "--state", "failed"]).unwrap().command else { panic!() };
        assert_eq!(a.state.map(LibraryState::from), Some(LibraryState::Failed));
        assert!(parse(&["libraries", "--state", "broken"]).is_err());
        let Command::Retry(a) = parse(&["retry"]).unwrap().command else { panic!() };
        assert!(a.repo_id.is_none());
        let Command::Retry(a) = parse(&["retry", ID]).unwrap().command else { panic!() };
        assert_eq!(a.repo_id.unwrap().as_str(), ID);
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
        for cmd in ["status", "sync", "libraries", "library", "retry", "--coordinator", "--json", "--timeout"] {
            assert!(help.contains(cmd), "{cmd} missing from\n{help}");
        }
        let mut root = Cli::command();
        let sync = root.find_subcommand_mut("sync").unwrap().render_long_help().to_string();
        assert!(sync.contains("--force") && sync.contains("seaf-fsck") && sync.contains("Exit status:"), "{sync}");
    }
}
