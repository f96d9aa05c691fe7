//! The MySQL layer against a real MariaDB: Seafile's tables as seaf-server defines them (and left
//! alone when they exist), and the head published only as a compare-and-set.

use seaf_backup_coordinator::db::{Db, Publish, Skipped};
use seaf_backup_tests::{execute, fresh_database, query};
use seaf_objects::{ObjectId, RepoId};
use seaf_primary_db::PrimaryLibrary;

fn id(c: char) -> ObjectId {
    ObjectId::parse(&c.to_string().repeat(40)).unwrap()
}

fn listed(repo: &RepoId, head: ObjectId) -> PrimaryLibrary {
    PrimaryLibrary {
        repo_id: repo.clone(),
        head: Some(head),
        store_id: repo.clone(),
        is_virtual: false,
        name: "docs".into(),
        owner: None,
    }
}

#[tokio::test]
async fn seafile_tables_have_seaf_servers_columns_and_keys() {
    let url = fresh_database("schema");
    Db::connect(&url, 2).await.unwrap();
    let cols = query(
        &url,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('Repo', 'Branch', 'RepoHead') ORDER BY TABLE_NAME, ORDINAL_POSITION",
    );
    let cols: Vec<String> = cols.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        cols,
        [
            "Branch id bigint(20)",
            "Branch name varchar(10)",
            "Branch repo_id char(41)",
            "Branch commit_id char(41)",
            "Repo id bigint(20)",
            "Repo repo_id char(37)",
            "RepoHead id bigint(20)",
            "RepoHead repo_id char(37)",
            "RepoHead branch_name varchar(10)",
        ]
    );
    let unique = query(
        &url,
        "SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' GROUP BY TABLE_NAME, INDEX_NAME ORDER BY 1",
    );
    let unique: Vec<String> = unique.iter().map(|r| r.join(" ")).collect();
    assert!(unique.contains(&"Branch repo_id,name".to_owned()), "{unique:?}");
    assert!(unique.contains(&"Repo repo_id".to_owned()) && unique.contains(&"RepoHead repo_id".to_owned()));
}

#[tokio::test]
async fn existing_seafile_tables_are_not_altered() {
    let url = fresh_database("existing");
    execute(
        &url,
        "CREATE TABLE Branch (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, name VARCHAR(10), repo_id CHAR(41), \
         commit_id CHAR(41), extra INT, UNIQUE INDEX(repo_id, name)) ENGINE=INNODB",
    );
    execute(&url, "INSERT INTO Branch (name, repo_id, commit_id, extra) VALUES ('master', 'r', 'c', 7)");
    Db::connect(&url, 2).await.unwrap();
    assert_eq!(query(&url, "SELECT name, repo_id, commit_id, extra FROM Branch"), [["master", "r", "c", "7"]]);
}

#[tokio::test]
async fn heads_move_only_as_a_compare_and_set() {
    let url = fresh_database("cas");
    let db = Db::connect(&url, 2).await.unwrap();
    let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
    let stranger = RepoId::parse("00000000-0000-4000-8000-000000000001").unwrap();
    assert_eq!(db.publish(&stranger, None, &id('a'), &[], 1, 1).await.unwrap(), Publish::Unknown);
    db.upsert_listed(&[listed(&repo, id('a'))], 1).await.unwrap();

    assert_eq!(db.publish(&repo, None, &id('a'), &[], 10, 10).await.unwrap(), Publish::Published { seq: 1 });
    let branch = || query(&url, "SELECT commit_id FROM Branch WHERE repo_id = '3f9e4aa5-d6ba-4066-a1d6-81824f422af1'");
    assert_eq!(branch(), [[id('a').to_string()]]);
    assert_eq!(query(&url, "SELECT COUNT(*) FROM Repo"), [["1"]]);
    assert_eq!(query(&url, "SELECT branch_name FROM RepoHead"), [["master"]]);

    // Same head again (a retried report): idempotent.
    assert_eq!(db.publish(&repo, None, &id('a'), &[], 10, 11).await.unwrap(), Publish::Published { seq: 1 });
    // A job that started from a head that is no longer there: refused, Branch unchanged.
    assert_eq!(
        db.publish(&repo, Some(&id('f')), &id('b'), &[], 12, 12).await.unwrap(),
        Publish::Stale { current: Some(id('a')) }
    );
    assert_eq!(
        db.publish(&repo, None, &id('b'), &[], 12, 12).await.unwrap(),
        Publish::Stale { current: Some(id('a')) }
    );
    assert_eq!(branch(), [[id('a').to_string()]]);
    // From the right base: moves, backwards or sideways too, with the skipped objects recorded.
    let skipped = [Skipped { kind: "block".into(), id: id('e'), reason: "corrupt on the primary".into() }];
    assert_eq!(
        db.publish(&repo, Some(&id('a')), &id('0'), &skipped, 13, 13).await.unwrap(),
        Publish::Published { seq: 2 }
    );
    assert_eq!(branch(), [[id('0').to_string()]]);
    assert_eq!(db.skipped(&repo).await.unwrap(), skipped);
    let lib = db.library(&repo).await.unwrap().unwrap();
    assert_eq!((lib.backup_head, lib.publish_seq, lib.failed), (Some(id('0')), 2, false));
}

#[tokio::test]
async fn failures_count_up_to_the_failed_list_and_deleted_libraries_are_kept() {
    let url = fresh_database("fail");
    let db = Db::connect(&url, 2).await.unwrap();
    let (a, b) = (
        RepoId::parse("00000000-0000-4000-8000-00000000000a").unwrap(),
        RepoId::parse("00000000-0000-4000-8000-00000000000b").unwrap(),
    );
    db.upsert_listed(&[listed(&a, id('1')), listed(&b, id('2'))], 100).await.unwrap();
    assert_eq!(db.record_failure(&a, "timeout", Some(&id('1')), false, 3).await.unwrap(), (false, 1));
    assert_eq!(db.record_failure(&a, "timeout", Some(&id('1')), false, 3).await.unwrap(), (false, 2));
    assert_eq!(db.record_failure(&a, "timeout", Some(&id('1')), false, 3).await.unwrap(), (true, 3));
    assert_eq!(db.record_failure(&b, "block corrupt", Some(&id('2')), true, 3).await.unwrap(), (true, 1), "permanent");
    assert!(db.needing_work().await.unwrap().is_empty(), "failed libraries wait for an administrator");

    // A new head on the primary gives a failed library another chance; an unlisted one is deleted.
    db.upsert_listed(&[listed(&a, id('3'))], 200).await.unwrap();
    assert_eq!(db.mark_unlisted_deleted(200).await.unwrap(), vec![b.clone()]);
    assert_eq!(db.unfail_changed().await.unwrap(), 1);
    assert_eq!(db.needing_work().await.unwrap(), vec![a.clone()]);
    let gone = db.library(&b).await.unwrap().unwrap();
    assert!(gone.deleted, "marked, not removed");
    assert_eq!(db.retry_failed(None, 300).await.unwrap(), Vec::<RepoId>::new(), "deleted libraries are not retried");
}

/// Many libraries' first heads, then their second heads, published at once from many tasks (as
/// many fetchers' reports arrive together during an initial backup): none fails, none is stale,
/// and every row ends right. A publish that locks the gaps of absent `Branch` keys deadlocks here
/// on its first round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_neither_deadlock_nor_lose_a_report() {
    const LIBRARIES: usize = 120;
    const TASKS: usize = 24;
    let url = fresh_database("concurrent");
    let db = Db::connect(&url, TASKS as u32).await.unwrap();
    let repos: Vec<RepoId> = (0..LIBRARIES)
        .map(|i| RepoId::parse(&format!("{:08x}-0000-4000-8000-{:012x}", i * 7919, i)).unwrap())
        .collect();
    let head = |round: usize, i: usize| ObjectId::parse(&format!("{:02x}{:038x}", round, i)).unwrap();
    let entries: Vec<PrimaryLibrary> = repos.iter().enumerate().map(|(i, r)| listed(r, head(2, i))).collect();
    db.upsert_listed(&entries, 1).await.unwrap();

    for round in 1..=2 {
        // Interleaved so that neighbouring keys are published by different tasks at the same time.
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..TASKS {
            let (db, repos) = (db.clone(), repos.clone());
            tasks.spawn(async move {
                let mut outcomes = Vec::new();
                for i in (t..LIBRARIES).step_by(TASKS) {
                    let base = (round > 1).then(|| head(round - 1, i));
                    let got = db.publish(&repos[i], base.as_ref(), &head(round, i), &[], 10, 10).await;
                    outcomes.push((i, got.map_err(|e| e.to_string())));
                }
                outcomes
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            outcomes.extend(done.unwrap());
        }
        assert_eq!(outcomes.len(), LIBRARIES);
        for (i, got) in outcomes {
            assert_eq!(got, Ok(Publish::Published { seq: round as u64 }), "round {round}, library {i}");
        }
        let rows = query(&url, "SELECT repo_id, commit_id FROM Branch WHERE name = 'master' ORDER BY repo_id");
        let mut want: Vec<Vec<String>> =
            repos.iter().enumerate().map(|(i, r)| vec![r.to_string(), head(round, i).to_string()]).collect();
        want.sort();
        assert_eq!(rows, want, "round {round}");
    }
    let counts = query(
        &url,
        "SELECT (SELECT COUNT(*) FROM Repo), (SELECT COUNT(*) FROM RepoHead WHERE branch_name = 'master'), \
         (SELECT COUNT(*) FROM seaf_backup_library WHERE backup_head = primary_head AND publish_seq = 2)",
    );
    assert_eq!(counts, [[LIBRARIES.to_string(), LIBRARIES.to_string(), LIBRARIES.to_string()]]);
}
