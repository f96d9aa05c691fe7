//! The text output of every command: pure functions from the API's messages to the lines printed.
//!
//! `status` keeps the layout of Seafile's `seaf-backup-cmd.sh status`, so what administrators (and
//! their scripts) know from it still reads the same; the other commands add their own plain layouts.
//! Every string from the server that ends up in a one-line field is passed through [`one_line`].

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use seaf_backup_proto::admin::{
    FailoverResponse, Library, LibraryState, LibrarySummary, ReplicationChannel, SkippedObject, StatusResponse,
    SyncProgress,
};
pub use seaf_backup_service::units::human_bytes;
use seaf_objects::RepoId;

/// How many hex digits of a commit id the table shows.
pub const SHORT_HEAD: usize = 12;

/// `seaf-backup status`, in the layout of `seaf-backup-cmd.sh status`.
pub fn status_text(s: &StatusResponse) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Total number of libraries: {}", s.total);
    let _ = writeln!(out, "Number of synchronized libraries: {}", s.synchronized);
    let _ = writeln!(out, "Number of libraries waiting for sync: {}", s.waiting);
    let _ = writeln!(out, "Number of libraries syncing: {}", s.syncing);
    let _ = writeln!(out, "Number of libraries failed to sync: {}", s.failed);
    out.push('\n');
    out.push_str("List of syncing libraries:\n");
    for l in &s.syncing_libraries {
        out.push_str(&syncing_line(l));
        out.push('\n');
    }
    out.push('\n');
    out.push_str("List of libraries failed to sync:\n");
    for l in &s.failed_libraries {
        out.push_str(&failed_line(l));
        out.push('\n');
    }
    if !s.replication.is_empty() || !s.replication_unknown.is_empty() {
        out.push_str("\nReplication of the backup's database:\n");
        for ch in &s.replication {
            out.push_str(&replication_line(ch));
            out.push('\n');
        }
        if !s.replication_unknown.is_empty() {
            let _ = writeln!(out, "unknown: {}", one_line(&s.replication_unknown));
        }
    }
    out
}

/// `failover`: the replication check, what was (or would be) deleted, and what remains to do.
pub fn failover_text(f: &FailoverResponse) -> String {
    let mut out = String::new();
    let done = if f.applied { "deleted" } else { "would be deleted" };
    if !f.replication_unknown.is_empty() {
        let _ = writeln!(out, "Replication into the backup's database: unknown ({})", one_line(&f.replication_unknown));
    } else if !f.replication_running.is_empty() {
        out.push_str("Replication into the backup's database: STILL RUNNING; --apply refuses until it is stopped:\n");
        for ch in &f.replication_running {
            let _ = writeln!(out, "  {}", replication_line(ch));
        }
        out.push_str(
            "  Once the primary's last changes have arrived, stop it on the backup's database with \
             `STOP ALL SLAVES;` (MariaDB) or `STOP REPLICA;` (MySQL).\n",
        );
    } else if f.is_replica {
        out.push_str("Replication into the backup's database: stopped\n");
    } else {
        out.push_str("Replication into the backup's database: none (not a replica)\n");
    }
    let _ = writeln!(out, "\nLibraries not up to date on the backup: {}", f.not_up_to_date.len());
    for l in &f.not_up_to_date {
        let name = if l.name.is_empty() { String::new() } else { format!("  \"{}\"", one_line(&l.name)) };
        let _ =
            writeln!(out, "  {}{name}  {}  ({} sync tokens)", one_line(&l.repo_id), one_line(&l.reason), l.user_tokens);
    }
    if f.has_token_table {
        let _ = writeln!(out, "\nRows of RepoUserToken in the backup's database {done}:");
        let _ = writeln!(
            out,
            "  {} sync tokens of the libraries above (their desktop clients must re-sync them)",
            f.user_tokens
        );
        let _ = writeln!(out, "  {} sync tokens the backup minted on the primary", f.backup_tokens);
    } else {
        out.push_str("\nThe backup's database has no RepoUserToken table (the primary's other tables are not there yet): nothing to delete.\n");
    }
    out.push_str("Nothing else ");
    out.push_str(if f.applied { "was changed.\n" } else { "would be changed.\n" });
    out.push_str(
        "\nTo start Seafile on the backup:\n\
         \x20 1. stop seaf-backup (coordinator, gateway, fetchers), so that no head moves any more;\n\
         \x20 2. unless replication brought them, import the primary's latest dump of seafile_db (without Repo, Branch,\n\
         \x20    RepoHead), ccnet_db and seahub_db into the backup's MySQL;\n\
         \x20 3. point the Seafile server's configuration at this database and at the backup's seafile-data;\n\
         \x20 4. start seaf-server and seahub; desktop clients re-sync the libraries listed above.\n",
    );
    if !f.applied {
        out.push_str("\nDry run: nothing was changed. `seaf-backup failover --apply` deletes the rows above.\n");
    }
    out
}

/// One replication connection: `replica of HOST:PORT: IO thread Yes, SQL thread Yes, 0 s behind`.
pub fn replication_line(ch: &ReplicationChannel) -> String {
    let name = if ch.name.is_empty() { String::new() } else { format!(" '{}'", one_line(&ch.name)) };
    let behind = ch.seconds_behind.map(|s| format!("{s} s behind")).unwrap_or_else(|| "lag unknown".into());
    let mut line = format!(
        "replica{name} of {}: IO thread {}, SQL thread {}, {behind}",
        one_line(&ch.source),
        one_line(&ch.io_running),
        one_line(&ch.sql_running)
    );
    if !ch.last_error.is_empty() {
        line.push_str(", last error: ");
        line.push_str(&one_line(&ch.last_error));
    }
    line
}

/// One syncing library: its id, then its name and what it is doing when known (two spaces apart).
pub fn syncing_line(l: &LibrarySummary) -> String {
    let mut line = one_line(&l.repo_id);
    for extra in [&l.name, &l.reason] {
        if !extra.is_empty() {
            line.push_str("  ");
            line.push_str(&one_line(extra));
        }
    }
    line
}

/// One failed library: `<id>  <reason>  (attempts: N)`, the reason being the last error if any.
pub fn failed_line(l: &LibrarySummary) -> String {
    let reason = if l.last_error.is_empty() { &l.reason } else { &l.last_error };
    let mut line = one_line(&l.repo_id);
    if !reason.is_empty() {
        line.push_str("  ");
        line.push_str(&one_line(reason));
    }
    let _ = write!(line, "  (attempts: {})", l.attempts);
    line
}

/// The final lines of a sync that ended in `PHASE_DONE`: the head, then every skipped object.
pub fn sync_done_text(repo_id: &RepoId, last: &SyncProgress) -> String {
    let mut out = format!("Library {repo_id} is backed up: head {}\n", one_line(&last.head));
    if !last.skipped.is_empty() {
        let n = last.skipped.len();
        let objects = if n == 1 { "object" } else { "objects" };
        let _ = writeln!(out, "Skipped {n} {objects} the primary lacks or serves corrupt:");
        for s in &last.skipped {
            out.push_str(&skipped_line(s));
            out.push('\n');
        }
    }
    out
}

/// `  <kind> <id>: <reason>`.
pub fn skipped_line(s: &SkippedObject) -> String {
    format!("  {} {}: {}", one_line(&s.kind), one_line(&s.id), one_line(&s.reason))
}

/// What a sync that ended in `PHASE_FAILED` prints after `error: `.
pub fn sync_failed_message(repo_id: &RepoId, last: &SyncProgress) -> String {
    let why = if last.error.is_empty() { "no reason given" } else { &last.error };
    format!("library {repo_id} failed to sync: {}", one_line(why))
}

/// The progress display's message for one progress message (the bar itself shows the commits).
pub fn progress_message(p: &SyncProgress) -> String {
    format!("{} fs objects, {} blocks, {}", p.fs_objects, p.blocks, human_bytes(p.bytes))
}

/// `seaf-backup libraries`: one row per library, columns aligned.
pub fn libraries_table(libraries: &[Library]) -> String {
    if libraries.is_empty() {
        return "No libraries.\n".to_owned();
    }
    let header = ["LIBRARY", "STATE", "BACKUP HEAD", "PRIMARY HEAD", "LAG", "NAME"].map(str::to_owned);
    let rows = libraries.iter().map(|l| {
        [
            one_line(&l.repo_id),
            state_name(l.state).to_owned(),
            short_head(&l.backup_head),
            short_head(&l.primary_head),
            human_duration(l.lag_seconds),
            one_line(&l.name),
        ]
    });
    table(std::iter::once(header).chain(rows).collect())
}

/// `seaf-backup library <id>`: `key: value` lines, then the skipped objects.
pub fn library_text(l: &Library) -> String {
    let or_none = |s: &str| if s.is_empty() { "(none)".to_owned() } else { one_line(s) };
    let store = if l.is_virtual { format!("{} (virtual library)", or_none(&l.store_id)) } else { or_none(&l.store_id) };
    let last_success = match u64::try_from(l.last_success_unix) {
        Ok(secs) if secs > 0 => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string(),
        _ => "never".to_owned(),
    };
    let rows = [
        ("Library", one_line(&l.repo_id)),
        ("Name", one_line(&l.name)),
        ("State", state_name(l.state).to_owned()),
        ("Store", store),
        ("Backup head", or_none(&l.backup_head)),
        ("Primary head", or_none(&l.primary_head)),
        ("Lag", human_duration(l.lag_seconds)),
        ("Last success", last_success),
        ("Attempts", l.attempts.to_string()),
        ("Last error", or_none(&l.last_error)),
        ("Skipped objects", l.skipped.len().to_string()),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{:<width$} {value}", format!("{key}:"));
    }
    for s in &l.skipped {
        out.push_str(&skipped_line(s));
        out.push('\n');
    }
    out
}

/// `seaf-backup retry`.
pub fn retry_text(queued: u32) -> String {
    let libraries = if queued == 1 { "library" } else { "libraries" };
    format!("Queued {queued} {libraries} for another attempt.\n")
}

/// A library state as the CLI names it: `synchronized`, `waiting`, … (`unknown` for values this
/// build does not know).
pub fn state_name(state: i32) -> &'static str {
    match LibraryState::try_from(state) {
        Ok(LibraryState::Unspecified) => "unspecified",
        Ok(LibraryState::Synchronized) => "synchronized",
        Ok(LibraryState::Waiting) => "waiting",
        Ok(LibraryState::Syncing) => "syncing",
        Ok(LibraryState::Failed) => "failed",
        Ok(LibraryState::Deleted) => "deleted",
        Err(_) => "unknown",
    }
}

/// A sync phase as the CLI names it: `queued`, `syncing`, `done`, `failed`.
pub fn phase_name(phase: i32) -> &'static str {
    use seaf_backup_proto::admin::sync_progress::Phase;
    match Phase::try_from(phase) {
        Ok(Phase::Unspecified) => "unspecified",
        Ok(Phase::Queued) => "queued",
        Ok(Phase::Syncing) => "syncing",
        Ok(Phase::Done) => "done",
        Ok(Phase::Failed) => "failed",
        Err(_) => "unknown",
    }
}

/// A duration in its two largest units: `0s`, `45s`, `3m 20s`, `2h 5m`, `4d 3h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The first [`SHORT_HEAD`] characters of a commit id, `-` when there is none.
pub fn short_head(head: &str) -> String {
    if head.is_empty() { "-".to_owned() } else { one_line(head).chars().take(SHORT_HEAD).collect() }
}

/// A server-provided string made safe for one line of a terminal: control characters (newlines,
/// escape sequences) become spaces.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Rows of cells, left-aligned in columns two spaces apart; the last column is not padded.
fn table(rows: Vec<[String; 6]>) -> String {
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_backup_proto::admin::sync_progress::Phase;

    const A: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";
    const B: &str = "f690ea2c-fe4d-459a-ba1e-165cdc6df391";
    const C: &str = "e2df70b5-cd80-496f-98cf-c9f038cf1307";

    fn summary(repo_id: &str) -> LibrarySummary {
        LibrarySummary { repo_id: repo_id.into(), ..Default::default() }
    }

    #[test]
    fn failover_says_what_it_would_delete_and_what_remains() {
        let f = FailoverResponse {
            is_replica: true,
            not_up_to_date: vec![seaf_backup_proto::admin::FailoverLibrary {
                repo_id: A.into(),
                name: "Photos".into(),
                reason: "failed: block 0a1b is corrupt on the primary".into(),
                user_tokens: 2,
            }],
            user_tokens: 2,
            backup_tokens: 5,
            has_token_table: true,
            ..Default::default()
        };
        let text = failover_text(&f);
        let want = format!(
            "Replication into the backup's database: stopped\n\
             \n\
             Libraries not up to date on the backup: 1\n\
             \x20 {A}  \"Photos\"  failed: block 0a1b is corrupt on the primary  (2 sync tokens)\n\
             \n\
             Rows of RepoUserToken in the backup's database would be deleted:\n\
             \x20 2 sync tokens of the libraries above (their desktop clients must re-sync them)\n\
             \x20 5 sync tokens the backup minted on the primary\n\
             Nothing else would be changed.\n"
        );
        assert!(text.starts_with(&want), "{text}");
        assert!(
            text.ends_with("Dry run: nothing was changed. `seaf-backup failover --apply` deletes the rows above.\n")
        );
        let applied = failover_text(&FailoverResponse { applied: true, ..f });
        assert!(applied.contains("database deleted:\n") && applied.contains("Nothing else was changed.\n"));
        assert!(!applied.contains("Dry run"));
    }

    #[test]
    fn status_shows_replication_only_on_a_replica() {
        let plain = StatusResponse::default();
        assert!(!status_text(&plain).contains("Replication"));
        let replica = StatusResponse {
            replication: vec![ReplicationChannel {
                source: "db1:3306".into(),
                io_running: "Yes".into(),
                sql_running: "No".into(),
                seconds_behind: None,
                last_error: "Duplicate entry\n'x'".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = status_text(&replica);
        assert!(
            text.ends_with(
                "\nReplication of the backup's database:\nreplica of db1:3306: IO thread Yes, SQL thread No, lag unknown, \
                 last error: Duplicate entry 'x'\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_has_the_seaf_backup_cmd_layout() {
        let s = StatusResponse {
            total: 12,
            synchronized: 9,
            waiting: 1,
            syncing: 1,
            failed: 1,
            syncing_libraries: vec![summary(A)],
            failed_libraries: vec![LibrarySummary {
                repo_id: B.into(),
                name: "Docs".into(),
                reason: "retries exhausted".into(),
                attempts: 5,
                last_error: "block 0a1b missing on the primary".into(),
            }],
            ..Default::default()
        };
        let expected = format!(
            "Total number of libraries: 12\n\
             Number of synchronized libraries: 9\n\
             Number of libraries waiting for sync: 1\n\
             Number of libraries syncing: 1\n\
             Number of libraries failed to sync: 1\n\
             \n\
             List of syncing libraries:\n\
             {A}\n\
             \n\
             List of libraries failed to sync:\n\
             {B}  block 0a1b missing on the primary  (attempts: 5)\n"
        );
        assert_eq!(status_text(&s), expected);
    }

    #[test]
    fn empty_status_keeps_both_headings() {
        let expected = "Total number of libraries: 0\n\
                        Number of synchronized libraries: 0\n\
                        Number of libraries waiting for sync: 0\n\
                        Number of libraries syncing: 0\n\
                        Number of libraries failed to sync: 0\n\
                        \n\
                        List of syncing libraries:\n\
                        \n\
                        List of libraries failed to sync:\n";
        assert_eq!(status_text(&StatusResponse::default()), expected);
    }

    #[test]
    fn list_lines() {
        assert_eq!(syncing_line(&summary(A)), A);
        let l = LibrarySummary { name: "Photos".into(), reason: "fetching blocks".into(), ..summary(A) };
        assert_eq!(syncing_line(&l), format!("{A}  Photos  fetching blocks"));
        // The last error wins over the generic reason; without either only the attempts remain.
        let l = LibrarySummary { reason: "primary unreachable".into(), attempts: 3, ..summary(C) };
        assert_eq!(failed_line(&l), format!("{C}  primary unreachable  (attempts: 3)"));
        assert_eq!(failed_line(&summary(C)), format!("{C}  (attempts: 0)"));
        let l = LibrarySummary { last_error: "line one\nline two\x1b[31m".into(), attempts: 1, ..summary(C) };
        assert_eq!(failed_line(&l), format!("{C}  line one line two [31m  (attempts: 1)"));
    }

    #[test]
    fn sync_final_lines() {
        let id = RepoId::parse(A).unwrap();
        let head = "a".repeat(40);
        let mut done =
            SyncProgress { repo_id: A.into(), phase: Phase::Done as i32, head: head.clone(), ..Default::default() };
        assert_eq!(sync_done_text(&id, &done), format!("Library {A} is backed up: head {head}\n"));
        done.skipped = vec![
            SkippedObject { kind: "block".into(), id: "b".repeat(40), reason: "missing on the primary".into() },
            SkippedObject { kind: "fs".into(), id: "c".repeat(40), reason: "content does not match its id".into() },
        ];
        let expected = format!(
            "Library {A} is backed up: head {head}\n\
             Skipped 2 objects the primary lacks or serves corrupt:\n  \
             block {b}: missing on the primary\n  \
             fs {c}: content does not match its id\n",
            b = "b".repeat(40),
            c = "c".repeat(40)
        );
        assert_eq!(sync_done_text(&id, &done), expected);
        done.skipped.truncate(1);
        assert!(sync_done_text(&id, &done).contains("\nSkipped 1 object the primary lacks or serves corrupt:\n"));

        let failed =
            SyncProgress { phase: Phase::Failed as i32, error: "commit x is corrupt".into(), ..Default::default() };
        assert_eq!(sync_failed_message(&id, &failed), format!("library {A} failed to sync: commit x is corrupt"));
        let failed = SyncProgress { phase: Phase::Failed as i32, ..Default::default() };
        assert_eq!(sync_failed_message(&id, &failed), format!("library {A} failed to sync: no reason given"));
    }

    #[test]
    fn libraries_table_is_aligned() {
        let libs = [
            Library {
                repo_id: A.into(),
                name: "My Library".into(),
                state: LibraryState::Synchronized as i32,
                backup_head: "0123456789abcdef0123456789abcdef01234567".into(),
                primary_head: "0123456789abcdef0123456789abcdef01234567".into(),
                ..Default::default()
            },
            Library {
                repo_id: B.into(),
                state: LibraryState::Failed as i32,
                primary_head: "fedcba9876543210fedcba9876543210fedcba98".into(),
                lag_seconds: 7_500,
                ..Default::default()
            },
        ];
        let expected = format!(
            "LIBRARY                               STATE         BACKUP HEAD   PRIMARY HEAD  LAG    NAME\n\
             {A}  synchronized  0123456789ab  0123456789ab  0s     My Library\n\
             {B}  failed        -             fedcba987654  2h 5m\n"
        );
        assert_eq!(libraries_table(&libs), expected);
        assert_eq!(libraries_table(&[]), "No libraries.\n");
    }

    #[test]
    fn library_details() {
        let l = Library {
            repo_id: A.into(),
            name: "Docs".into(),
            store_id: C.into(),
            is_virtual: true,
            state: LibraryState::Synchronized as i32,
            backup_head: "1".repeat(40),
            primary_head: "1".repeat(40),
            lag_seconds: 0,
            last_success_unix: 1_700_000_000,
            attempts: 0,
            last_error: String::new(),
            skipped: vec![SkippedObject { kind: "block".into(), id: "b".repeat(40), reason: "missing".into() }],
        };
        let expected = format!(
            "Library:         {A}\n\
             Name:            Docs\n\
             State:           synchronized\n\
             Store:           {C} (virtual library)\n\
             Backup head:     {h}\n\
             Primary head:    {h}\n\
             Lag:             0s\n\
             Last success:    2023-11-14T22:13:20Z\n\
             Attempts:        0\n\
             Last error:      (none)\n\
             Skipped objects: 1\n  \
             block {b}: missing\n",
            h = "1".repeat(40),
            b = "b".repeat(40)
        );
        assert_eq!(library_text(&l), expected);
        let fresh = Library { repo_id: B.into(), ..Default::default() };
        let text = library_text(&fresh);
        assert!(text.contains("Backup head:     (none)\n") && text.contains("Last success:    never\n"), "{text}");
    }

    #[test]
    fn small_formats() {
        assert_eq!(retry_text(0), "Queued 0 libraries for another attempt.\n");
        assert_eq!(retry_text(1), "Queued 1 library for another attempt.\n");
        assert_eq!(retry_text(7), "Queued 7 libraries for another attempt.\n");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(200), "3m 20s");
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(short_head(""), "-");
        assert_eq!(short_head(&"ab".repeat(20)), "abababababab");
        assert_eq!(state_name(LibraryState::Deleted as i32), "deleted");
        assert_eq!(state_name(99), "unknown");
        assert_eq!(phase_name(Phase::Done as i32), "done");
        assert_eq!(phase_name(Phase::Queued as i32), "queued");
        assert_eq!(phase_name(-1), "unknown");
        let p = SyncProgress { fs_objects: 10, blocks: 4, bytes: 2 << 20, ..Default::default() };
        assert_eq!(progress_message(&p), "10 fs objects, 4 blocks, 2.0 MiB");
    }
}
