//! The primary's database as a stock seaf-server keeps it (written by the simulator's
//! `generate --database-url`, seaf-server's own DDL), on the real MariaDB of the test harness.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use seaf_backup_service::Secret;
use seaf_backup_tests::{Cmd, bin, execute, fresh_database, query};
use seaf_objects::RepoId;
use seaf_primary_db::{BadRow, GRANTS, PrimaryDb, PrimaryLibrary};

/// A generated stock primary: its directory and database URL.
fn stock_primary(hint: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(hint);
    Cmd::new(bin("seaf-primary-sim"))
        .args(["generate", "--libraries", "5", "--seed", "3", "--database-url", &url, "--out"])
        .args([dir.path()])
        .run()
        .assert_ok();
    (dir, url)
}

async fn list(db: &PrimaryDb) -> (BTreeMap<String, PrimaryLibrary>, Vec<BadRow>) {
    let rows: Vec<_> = db.libraries().try_collect().await.unwrap();
    let mut good = BTreeMap::new();
    let mut bad = Vec::new();
    for r in rows {
        match r {
            Ok(l) => {
                good.insert(l.repo_id.to_string(), l);
            }
            Err(b) => bad.push(b),
        }
    }
    (good, bad)
}

fn column(url: &str, sql: &str) -> BTreeMap<String, String> {
    query(url, sql).into_iter().map(|r| (r[0].clone(), r[1].clone())).collect()
}

#[tokio::test]
async fn lists_every_library_with_head_store_owner_and_name() {
    let (_dir, url) = stock_primary("pdb_list");
    let db = PrimaryDb::connect(&Secret::new(url.clone())).await.unwrap();
    let (libs, bad) = list(&db).await;
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(libs.len(), 5);

    let heads = column(&url, "SELECT repo_id, commit_id FROM Branch WHERE name = 'master'");
    let names = column(&url, "SELECT repo_id, name FROM RepoInfo");
    let owners = column(&url, "SELECT repo_id, owner_id FROM RepoOwner");
    let org = column(&url, "SELECT repo_id, user FROM OrgRepo");
    let origins = column(&url, "SELECT repo_id, origin_repo FROM VirtualRepo");
    assert_eq!(org.len(), 1, "one organisation library");
    assert_eq!(origins.len(), 1, "one virtual library");
    for (id, l) in &libs {
        assert_eq!(l.head.map(|h| h.to_string()).as_ref(), heads.get(id), "{id}");
        assert_eq!(Some(&l.name), names.get(id), "{id}");
        assert_eq!(l.owner.as_ref(), owners.get(id).or(org.get(id)), "{id}");
        assert_eq!(l.is_virtual, origins.contains_key(id), "{id}");
        assert_eq!(l.store_id.as_str(), origins.get(id).unwrap_or(id), "{id}");
    }

    // Damaged rows: a malformed id is skipped (and named), a missing branch and a missing owner
    // leave the library listed without them.
    let (virt, _) = origins.iter().next().unwrap();
    let (org_lib, _) = org.iter().next().unwrap();
    let plain = owners.keys().find(|k| *k != virt).unwrap().clone();
    execute(&url, "INSERT INTO Repo (repo_id) VALUES ('../../etc/passwd')");
    execute(&url, &format!("DELETE FROM Branch WHERE repo_id = '{plain}'"));
    execute(&url, &format!("DELETE FROM OrgRepo WHERE repo_id = '{org_lib}'"));
    let (after, bad) = list(&db).await;
    assert_eq!(bad, vec![BadRow { what: "library id in Repo", value: "../../etc/passwd".into() }]);
    assert_eq!(after.len(), 5);
    assert_eq!(after[&plain].head, None);
    assert_eq!(after[org_lib].owner, None);
    assert_eq!(db.owner(&RepoId::parse(org_lib).unwrap()).await.unwrap(), None);
    assert_eq!(db.owner(&RepoId::parse(&plain).unwrap()).await.unwrap().as_ref(), owners.get(&plain));
}

#[tokio::test]
async fn minted_tokens_are_written_and_deleted_with_the_documented_grants_only() {
    let (_dir, url) = stock_primary("pdb_grants");
    // A user with exactly GRANTS on this database (and nothing else).
    let database = url.rsplit('/').next().unwrap().to_owned();
    let user = format!("sb_{}", std::process::id());
    execute(&url, &format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw-{user}'"));
    execute(
        &url,
        &GRANTS
            .replace("seafile_db.", &format!("`{database}`."))
            .replace("'seaf_backup'@'%'", &format!("'{user}'@'127.0.0.1'")),
    );
    let mut limited = url::Url::parse(&url).unwrap();
    limited.set_username(&user).unwrap();
    limited.set_password(Some(&format!("pw-{user}"))).unwrap();
    let db = PrimaryDb::connect(&Secret::new(limited.to_string())).await.unwrap();

    let (libs, _) = list(&db).await;
    assert_eq!(libs.len(), 5, "SELECT on the six tables is enough to list");
    let lib = libs.values().find(|l| !l.is_virtual).unwrap();
    let owner = db.owner(&lib.repo_id).await.unwrap().expect("an owner");
    let token = PrimaryDb::new_token(&owner);
    db.insert_token(&lib.repo_id, &token).await.unwrap();
    let rows = query(&url, "SELECT repo_id, email, token FROM RepoUserToken");
    assert!(rows.contains(&vec![lib.repo_id.to_string(), owner.clone(), token.token.expose().to_owned()]), "{rows:?}");
    assert!(db.delete_token(&lib.repo_id, &token.token).await.unwrap());
    assert!(!db.delete_token(&lib.repo_id, &token.token).await.unwrap(), "deleted once");
    let rows = query(&url, "SELECT token FROM RepoUserToken");
    assert!(!rows.iter().any(|r| r[0] == token.token.expose()));

    // Nothing beyond the grants: the backup cannot change a branch on the primary.
    let err = sqlx_update_branch(limited.as_ref()).await;
    assert!(err.contains("UPDATE command denied"), "{err}");
    execute(&url, &format!("DROP USER '{user}'@'127.0.0.1'"));
}

async fn sqlx_update_branch(url: &str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::query("UPDATE Branch SET commit_id = commit_id").execute(&mut c).await.unwrap_err().to_string()
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error_without_the_password() {
    let e = PrimaryDb::connect(&Secret::new("postgres://u:hunter2@h/db")).await.err().unwrap().to_string();
    assert!(e.contains("mysql://USER:PASSWORD@HOST:PORT/DATABASE") && !e.contains("hunter2"), "{e}");
    // A closed port on loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = PrimaryDb::connect(&Secret::new(format!("mysql://u:hunter2@127.0.0.1:{port}/db"))).await.err().unwrap();
    assert!(e.is_transient(), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
