//! The replication guard (invariant 6 of the design).
//!
//! Seafile's documented backup setup replicates every table of the primary's databases into the
//! backup's MySQL *except* `Repo`, `Branch` and `RepoHead`, which the backup writes itself. A
//! replica that does replicate one of them would overwrite published heads with the primary's (and
//! the primary's heads may name commits the store does not hold yet), so the coordinator reads the
//! server's replication status at start and refuses to run unless each of the three is filtered
//! out. On a correct replica the same status (threads running, seconds behind, last error) is
//! shown by `seaf-backup status` and refreshed by the upkeep task.

use sqlx::mysql::{MySqlDatabaseError, MySqlPool, MySqlRow};
use sqlx::{Column, Row};

/// The tables only the backup writes.
pub const OWN_TABLES: [&str; 3] = ["Repo", "Branch", "RepoHead"];

/// One replication connection of the backup's database server (MariaDB has one per source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channel {
    /// MariaDB's connection name (empty for the default one).
    pub name: String,
    /// `host:port` of the source.
    pub source: String,
    /// "Yes", "No" or "Connecting".
    pub io_running: String,
    pub sql_running: String,
    pub seconds_behind: Option<u64>,
    /// The last IO or SQL error, if any.
    pub last_error: String,
    filters: Filters,
}

/// The replication filters of a channel, as `SHOW SLAVE STATUS` lists them (comma-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filters {
    do_db: Vec<String>,
    ignore_db: Vec<String>,
    do_table: Vec<String>,
    ignore_table: Vec<String>,
    wild_do_table: Vec<String>,
    wild_ignore_table: Vec<String>,
}

/// What the backup's database server says about replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Not a replica.
    None,
    /// A replica, with its channels.
    Replica(Vec<Channel>),
    /// The status could not be read (the user lacks `REPLICATION CLIENT` / `SLAVE MONITOR`).
    Unknown(String),
}

impl Channel {
    /// Both threads running.
    pub fn healthy(&self) -> bool {
        self.io_running == "Yes" && self.sql_running == "Yes"
    }

    /// The backup's own tables in `database` that this channel would replicate.
    pub fn replicated_own_tables(&self, database: &str) -> Vec<&'static str> {
        OWN_TABLES.into_iter().filter(|t| self.filters.replicates(database, t)).collect()
    }

    /// One line for `status` and the logs.
    pub fn describe(&self) -> String {
        let name = if self.name.is_empty() { String::new() } else { format!(" '{}'", self.name) };
        let behind = self.seconds_behind.map(|s| format!("{s} s behind")).unwrap_or_else(|| "lag unknown".into());
        let mut line = format!(
            "replica{name} of {}: IO thread {}, SQL thread {}, {behind}",
            self.source, self.io_running, self.sql_running
        );
        if !self.last_error.is_empty() {
            line.push_str(&format!(", last error: {}", self.last_error));
        }
        line
    }
}

impl Filters {
    /// Whether a change to `db.table` passes these filters (MySQL's rules for row-based events:
    /// database filters first, then table filters).
    fn replicates(&self, db: &str, table: &str) -> bool {
        if !self.do_db.is_empty() && !self.do_db.iter().any(|d| d == db) {
            return false;
        }
        if self.ignore_db.iter().any(|d| d == db) {
            return false;
        }
        let name = format!("{db}.{table}");
        if !self.do_table.is_empty() || !self.wild_do_table.is_empty() {
            return self.do_table.contains(&name) || self.wild_do_table.iter().any(|p| like(p, &name));
        }
        !(self.ignore_table.contains(&name) || self.wild_ignore_table.iter().any(|p| like(p, &name)))
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes the next.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some(('\\', rest)) if !rest.is_empty() => t.first() == Some(&rest[0]) && go(&rest[1..], &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    go(&p, &t)
}

/// Reads the server's replication status: `SHOW ALL SLAVES STATUS` (MariaDB), else `SHOW REPLICA
/// STATUS` (MySQL 8.0.22+), else `SHOW SLAVE STATUS`.
pub async fn status(pool: &MySqlPool) -> Replication {
    let mut last = String::new();
    for sql in ["SHOW ALL SLAVES STATUS", "SHOW REPLICA STATUS", "SHOW SLAVE STATUS"] {
        match sqlx::query(sql).fetch_all(pool).await {
            Ok(rows) if rows.is_empty() => return Replication::None,
            Ok(rows) => return Replication::Replica(rows.iter().map(channel).collect()),
            // 1064: this server does not know the statement; try the next form.
            Err(sqlx::Error::Database(d))
                if d.try_downcast_ref::<MySqlDatabaseError>().is_some_and(|m| m.number() == 1064) =>
            {
                last = d.to_string();
            }
            Err(e) => return Replication::Unknown(e.to_string()),
        }
    }
    Replication::Unknown(last)
}

/// The error that stops the coordinator when a channel replicates the backup's own tables.
pub fn refusal(database: &str, channels: &[Channel]) -> Option<String> {
    let mut lines = Vec::new();
    let mut where_ = Vec::new();
    for ch in channels {
        let tables = ch.replicated_own_tables(database);
        if tables.is_empty() {
            continue;
        }
        where_.push(ch.describe());
        for t in tables {
            let line = format!("  replicate-ignore-table = {database}.{t}");
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    Some(format!(
        "the backup's database `{database}` is a replica that replicates the tables the backup alone writes \
         ({}); the primary's rows would overwrite the heads this backup publishes. Add to the replica's server \
         configuration ([mysqld] section, or `replicate-ignore-table` per connection) and restart it:\n{}",
        where_.join("; "),
        lines.join("\n")
    ))
}

fn channel(row: &MySqlRow) -> Channel {
    let text = |names: &[&str]| -> String {
        for n in names {
            if row.columns().iter().any(|c| c.name() == *n) {
                if let Ok(Some(s)) = row.try_get::<Option<String>, _>(*n) {
                    return s;
                }
                if let Ok(Some(v)) = row.try_get::<Option<i64>, _>(*n) {
                    return v.to_string();
                }
                if let Ok(Some(v)) = row.try_get::<Option<u64>, _>(*n) {
                    return v.to_string();
                }
                if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(*n) {
                    return String::from_utf8_lossy(&b).into_owned();
                }
            }
        }
        String::new()
    };
    let list = |names: &[&str]| -> Vec<String> {
        text(names).split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    };
    let last_error = [text(&["Last_SQL_Error"]), text(&["Last_IO_Error"]), text(&["Last_Error"])]
        .into_iter()
        .find(|e| !e.is_empty())
        .unwrap_or_default();
    Channel {
        name: text(&["Connection_name", "Channel_Name"]),
        source: format!("{}:{}", text(&["Master_Host", "Source_Host"]), text(&["Master_Port", "Source_Port"])),
        io_running: text(&["Slave_IO_Running", "Replica_IO_Running"]),
        sql_running: text(&["Slave_SQL_Running", "Replica_SQL_Running"]),
        seconds_behind: text(&["Seconds_Behind_Master", "Seconds_Behind_Source"]).parse().ok(),
        last_error,
        filters: Filters {
            do_db: list(&["Replicate_Do_DB"]),
            ignore_db: list(&["Replicate_Ignore_DB"]),
            do_table: list(&["Replicate_Do_Table"]),
            ignore_table: list(&["Replicate_Ignore_Table"]),
            wild_do_table: list(&["Replicate_Wild_Do_Table"]),
            wild_ignore_table: list(&["Replicate_Wild_Ignore_Table"]),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(f: impl FnOnce(&mut Filters)) -> Channel {
        let mut ch = Channel { source: "db1:3306".into(), io_running: "Yes".into(), ..Default::default() };
        f(&mut ch.filters);
        ch
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn like_patterns() {
        assert!(like("seafile_db.%", "seafile_db.Branch"));
        assert!(like("seafile\\_db.Repo%", "seafile_db.RepoHead"));
        assert!(!like("seafile\\_db.Repo%", "seafileXdb.RepoHead"));
        assert!(like("s_afile_db.Branch", "seafile_db.Branch"));
        assert!(!like("seafile_db.Branch", "seafile_db.BranchX"));
    }

    #[test]
    fn which_own_tables_a_channel_replicates() {
        let all = filters(|_| {});
        assert_eq!(all.replicated_own_tables("seafile_db"), vec!["Repo", "Branch", "RepoHead"]);
        let right = filters(|f| {
            f.ignore_table = strings(&["seafile_db.Repo", "seafile_db.Branch", "seafile_db.RepoHead"]);
        });
        assert!(right.replicated_own_tables("seafile_db").is_empty());
        let wild = filters(|f| f.wild_ignore_table = strings(&["seafile_db.Repo%", "seafile_db.Bran%"]));
        assert!(wild.replicated_own_tables("seafile_db").is_empty());
        let one_missing = filters(|f| f.ignore_table = strings(&["seafile_db.Repo", "seafile_db.RepoHead"]));
        assert_eq!(one_missing.replicated_own_tables("seafile_db"), vec!["Branch"]);
        // Filters for another database protect nothing here.
        let other_db = filters(|f| f.ignore_table = strings(&["other.Repo", "other.Branch", "other.RepoHead"]));
        assert_eq!(other_db.replicated_own_tables("seafile_db").len(), 3);
        let ignored_db = filters(|f| f.ignore_db = strings(&["seafile_db"]));
        assert!(ignored_db.replicated_own_tables("seafile_db").is_empty());
        let do_db_elsewhere = filters(|f| f.do_db = strings(&["ccnet_db"]));
        assert!(do_db_elsewhere.replicated_own_tables("seafile_db").is_empty());
        let do_tables = filters(|f| f.wild_do_table = strings(&["seafile_db.Repo%"]));
        assert_eq!(do_tables.replicated_own_tables("seafile_db"), vec!["Repo", "RepoHead"]);
    }

    #[test]
    fn the_refusal_names_the_missing_lines_only() {
        let ch = filters(|f| f.ignore_table = strings(&["seafile_db.Repo"]));
        let text = refusal("seafile_db", &[ch]).unwrap();
        assert!(text.contains("replica of db1:3306"), "{text}");
        assert!(text.ends_with(
            "\n  replicate-ignore-table = seafile_db.Branch\n  replicate-ignore-table = seafile_db.RepoHead"
        ));
        assert!(!text.contains("= seafile_db.Repo\n"), "{text}");
        let right = filters(|f| {
            f.wild_ignore_table = strings(&["seafile_db.Repo", "seafile_db.Branch", "seafile_db.RepoHead"])
        });
        assert_eq!(refusal("seafile_db", &[right]), None);
    }
}
