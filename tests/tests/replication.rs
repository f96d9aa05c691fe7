//! The replication guard, with two real MariaDB servers replicating: the backup's database is a
//! replica of the primary's, as Seafile's documented backup setup has it. The coordinator refuses
//! to run on a replica that replicates `Repo`, `Branch` or `RepoHead` and names the missing
//! `replicate-ignore-table` lines; on a correct replica it runs and shows the replication state,
//! and `seaf-backup failover` prepares that replica for Seafile exactly as it says.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::services::{Redis, ReplicatedPair};
use seaf_backup_tests::{Cmd, Primary, Proc, SYNC_TOKEN, bin, execute, query, tool};

const DB: &str = "seafile_db";

/// The primary's seafile database with one library's rows, created on the source.
fn primary_rows(pair: &ReplicatedPair) {
    execute(&pair.source.url, &format!("CREATE DATABASE {DB}"));
    let url = pair.source.database_url(DB);
    execute(
        &url,
        "CREATE TABLE Repo (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, repo_id CHAR(37), UNIQUE INDEX (repo_id));
         CREATE TABLE Branch (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, name VARCHAR(10), repo_id CHAR(41),
           commit_id CHAR(41), UNIQUE INDEX (repo_id, name));
         CREATE TABLE RepoOwner (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, repo_id CHAR(37), owner_id VARCHAR(255),
           UNIQUE INDEX (repo_id));
         INSERT INTO Repo (repo_id) VALUES ('6d1f2e3a-0000-4000-8000-00000000abcd');
         INSERT INTO Branch (name, repo_id, commit_id)
           VALUES ('master', '6d1f2e3a-0000-4000-8000-00000000abcd', 'cccccccccccccccccccccccccccccccccccccccc');
         INSERT INTO RepoOwner (repo_id, owner_id) VALUES ('6d1f2e3a-0000-4000-8000-00000000abcd', 'a@example.com')",
    );
    pair.wait_caught_up();
}

/// A configuration whose backup database is `seafile_db` on the replica.
fn config(dir: &Path, pair: &ReplicatedPair, redis: &Redis) -> std::path::PathBuf {
    let path = dir.join("seaf-backup.toml");
    let text = format!(
        "[backup]\nprimary_url = \"http://127.0.0.1:9\"\nsync_token = \"{SYNC_TOKEN}\"\n\
         [database]\nurl = \"{}\"\n[redis]\nurl = \"{}\"\n[coordinator]\nlisten = \"127.0.0.1:0\"\nreap_interval = \"250ms\"\n",
        pair.replica.database_url(DB),
        redis.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Replica options that leave out exactly the backup's three tables. (A wildcard such as `Repo%`
/// would also leave out RepoOwner and RepoUserToken.)
fn correct_filters() -> Vec<String> {
    vec![
        format!("--replicate-wild-ignore-table={DB}.RepoHea_"),
        format!("--replicate-ignore-table={DB}.Repo"),
        format!("--replicate-ignore-table={DB}.Branch"),
    ]
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_replica_that_replicates_the_backups_tables_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // Only Repo is left out: Branch and RepoHead would be overwritten by the primary's rows.
    let pair = ReplicatedPair::start(&[format!("--replicate-ignore-table={DB}.Repo")]);
    primary_rows(&pair);
    let redis = Redis::start(dir.path());
    let ran = Cmd::new(bin("seaf-backup-coordinator"))
        .args(["--config"])
        .args([config(dir.path(), &pair, &redis)])
        .timeout(Duration::from_secs(120))
        .run();
    assert_eq!(ran.code, Some(2), "{}{}", ran.stdout, ran.stderr);
    let err = &ran.stderr;
    assert!(err.contains(&format!("the backup's database `{DB}` is a replica")), "{err}");
    assert!(err.contains(&format!("  replicate-ignore-table = {DB}.Branch\n")), "{err}");
    assert!(err.contains(&format!("  replicate-ignore-table = {DB}.RepoHead")), "{err}");
    assert!(!err.contains(&format!("= {DB}.Repo\n")), "Repo is already ignored: {err}");
    assert!(err.contains(&format!("replica of 127.0.0.1:{}", pair.source.port)), "{err}");
    // Nothing was published or queued: the coordinator never served.
    assert!(!ran.stderr.contains("coordinator serving"), "{err}");
    assert_eq!(redis.dbsize(), 0);
}

#[test]
fn a_correct_replica_runs_and_shows_its_replication_state() {
    let dir = tempfile::tempdir().unwrap();
    let pair = ReplicatedPair::start(&correct_filters());
    primary_rows(&pair);
    let replica_db = pair.replica.database_url(DB);
    // The other tables replicate; the backup's own do not.
    assert_eq!(query(&replica_db, "SELECT owner_id FROM RepoOwner"), vec![vec!["a@example.com".to_owned()]]);
    assert!(query(&replica_db, "SHOW TABLES LIKE 'Branch'").is_empty());

    let redis = Redis::start(dir.path());
    let mut cmd = Command::new(bin("seaf-backup-coordinator"));
    cmd.arg("--config").arg(config(dir.path(), &pair, &redis));
    let log = dir.path().join("coordinator.log");
    let mut p = Proc::start("seaf-backup-coordinator", &mut cmd, &log).unwrap();
    let addr = p.listen_addr(Duration::from_secs(60)).unwrap();
    wait_for("the coordinator to serve", || std::fs::read_to_string(&log).unwrap().contains("coordinator serving"));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("(Repo, Branch and RepoHead not replicated)"), "{logged}");
    // Its own Branch table, on the replica: the primary's row is not there.
    assert!(query(&replica_db, "SELECT * FROM Branch").is_empty());

    let status = |args: &[&str]| {
        Cmd::new(bin("seaf-backup")).args(["--coordinator", &format!("http://{addr}")]).args(args).run()
    };
    let want = format!("replica of 127.0.0.1:{}: IO thread Yes, SQL thread Yes, 0 s behind", pair.source.port);
    wait_for("status to show the replication", || status(&["status"]).stdout.contains(&want));
    let s = status(&["status"]);
    assert!(s.stdout.contains(&format!("\nReplication of the backup's database:\n{want}\n")), "{}", s.stdout);
    let j = status(&["--json", "status"]).json();
    assert_eq!(j["replication"][0]["sql_running"], "Yes", "{j}");
    assert_eq!(j["replication"][0]["seconds_behind"], 0, "{j}");

    let health = || {
        Cmd::new(tool("grpcurl"))
            .args(["-plaintext", "-d", r#"{"service":"seafbackup.Replication"}"#, &addr, "grpc.health.v1.Health/Check"])
            .run()
            .stdout
    };
    wait_for("the replication health to be SERVING", || health().contains("\"SERVING\""));

    // The SQL thread stops: status and health say so.
    execute(&pair.replica.url, "STOP SLAVE SQL_THREAD");
    wait_for("status to show the stopped SQL thread", || status(&["status"]).stdout.contains("SQL thread No"));
    wait_for("the replication health to be NOT_SERVING", || health().contains("NOT_SERVING"));
    p.terminate();
    p.wait(Duration::from_secs(30)).unwrap();
}

fn token_rows(url: &str) -> BTreeSet<(String, String)> {
    query(url, "SELECT repo_id, token FROM RepoUserToken").into_iter().map(|r| (r[0].clone(), r[1].clone())).collect()
}

/// The seed's setup for a stock primary: the primary's database replicated into the backup's
/// (but for the three tables), the whole cluster backing the primary up, one library failed. The
/// dry run says what it would delete and changes nothing; `--apply` is refused while replication
/// runs; once it is stopped, `--apply` deletes exactly the rows the dry run named.
#[test]
fn failover_does_exactly_what_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let pair = ReplicatedPair::start(&correct_filters());
    execute(&pair.source.url, &format!("CREATE DATABASE {DB}"));
    let mut primary =
        Primary::generate_stock_in(dir.path(), &["--libraries", "4", "--seed", "31"], pair.source.database_url(DB));
    let damaged: serde_json::Value =
        serde_json::from_str(primary.sim(&["damage", "--corrupt-block"]).assert_ok().stdout.trim()).unwrap();
    let bad = damaged["library"].as_str().or(damaged["repo_id"].as_str()).expect("damaged library").to_owned();
    primary.serve(&[]);
    let replica_db = pair.replica.database_url(DB);
    let opts = ClusterOptions { database_url: Some(replica_db.clone()), ..ClusterOptions::default() };
    let c = Cluster::start(dir.path(), primary, &opts);
    c.wait_for("three libraries synchronized and one failed", Duration::from_secs(90), || {
        let s = c.cli(&["status"]).stdout;
        s.contains("Number of synchronized libraries: 3") && s.contains("Number of libraries failed to sync: 1")
    });
    pair.wait_caught_up();
    let before = token_rows(&replica_db);
    let ours: BTreeSet<(String, String)> = query(&replica_db, "SELECT repo_id, token FROM seaf_backup_token")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(ours.len(), 4, "a token minted per library, replicated back into the backup's RepoUserToken");
    assert!(ours.is_subset(&before));
    let users_of_bad = before.iter().filter(|row| row.0 == bad && !ours.contains(*row)).count();
    assert_eq!(users_of_bad, 1, "the generated owner's token of the failed library");

    // Replication still runs: the dry run says so, --apply refuses, nothing changes.
    let dry = c.cli(&["failover"]);
    dry.assert_ok();
    assert!(dry.stdout.contains("STILL RUNNING") && dry.stdout.contains("STOP ALL SLAVES"), "{}", dry.stdout);
    let refused = c.cli(&["failover", "--apply"]);
    assert_eq!(refused.code, Some(2), "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("still running") && refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(token_rows(&replica_db), before);

    execute(&pair.replica.url, "STOP ALL SLAVES");
    let dry = c.cli(&["failover"]);
    dry.assert_ok();
    let text = &dry.stdout;
    assert!(text.starts_with("Replication into the backup's database: stopped\n"), "{text}");
    assert!(text.contains("Libraries not up to date on the backup: 1\n"), "{text}");
    let line = text.lines().find(|l| l.trim_start().starts_with(&bad)).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("failed: ") && line.ends_with("(1 sync tokens)"), "{line}");
    assert!(text.contains("Rows of RepoUserToken in the backup's database would be deleted:"), "{text}");
    assert!(text.contains("  1 sync tokens of the libraries above"), "{text}");
    assert!(text.contains("  4 sync tokens the backup minted on the primary"), "{text}");
    assert!(text.contains("Dry run: nothing was changed."), "{text}");
    let j = c.cli(&["--json", "failover"]).json();
    assert_eq!((j["applied"].as_bool(), j["is_replica"].as_bool()), (Some(false), Some(true)), "{j}");
    assert_eq!((j["user_tokens"].as_u64(), j["backup_tokens"].as_u64()), (Some(1), Some(4)), "{j}");
    assert_eq!(j["not_up_to_date"][0]["repo_id"], bad.as_str());
    assert_eq!(token_rows(&replica_db), before, "a dry run changes nothing");

    let applied = c.cli(&["failover", "--apply"]);
    applied.assert_ok();
    assert!(applied.stdout.contains("Rows of RepoUserToken in the backup's database deleted:"), "{}", applied.stdout);
    assert!(applied.stdout.contains("Nothing else was changed."), "{}", applied.stdout);
    let want: BTreeSet<(String, String)> =
        before.iter().filter(|row| row.0 != bad && !ours.contains(*row)).cloned().collect();
    assert_eq!(token_rows(&replica_db), want, "exactly the printed rows were deleted");
    assert_eq!(want.len(), before.len() - 1 - 4);
    assert!(query(&replica_db, "SELECT * FROM seaf_backup_token").is_empty());
    // The primary's own database is not touched.
    assert_eq!(token_rows(&pair.source.database_url(DB)).len(), before.len());
}
