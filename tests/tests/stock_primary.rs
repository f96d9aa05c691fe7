//! End to end against a stock Seafile primary: the simulator in stock mode (seaf-server's own tables
//! in a real MariaDB database, per-library tokens checked against `RepoUserToken` and the owner, no
//! repo list), and the whole cluster configured with only `[primary] database_url`, the primary's
//! URL and the gateway's JWT key for the primary's side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::{Cmd, Primary, bin, query, verify};

const CONVERGE: Duration = Duration::from_secs(90);

fn stock_cluster(dir: &Path, libraries: &str, opts: &ClusterOptions) -> Cluster {
    let mut primary = Primary::generate_stock(dir, &["--libraries", libraries, "--seed", "21"]);
    primary.serve(&[]);
    Cluster::start(dir, primary, opts)
}

fn primary_db(c: &Cluster) -> &str {
    c.primary.database_url.as_deref().expect("a stock primary")
}

/// `seaf_backup_token`: library → (email, token).
fn minted(c: &Cluster) -> BTreeMap<String, (String, String)> {
    query(&c.db_url, "SELECT repo_id, email, token FROM seaf_backup_token")
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect()
}

/// The primary's `RepoUserToken` rows as (library, email, token).
fn primary_tokens(c: &Cluster) -> BTreeSet<(String, String, String)> {
    query(primary_db(c), "SELECT repo_id, email, token FROM RepoUserToken")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
}

/// The primary's owner of each library (`RepoOwner`, else `OrgRepo`).
fn owners(c: &Cluster) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = query(primary_db(c), "SELECT repo_id, user FROM OrgRepo")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    out.extend(
        query(primary_db(c), "SELECT repo_id, owner_id FROM RepoOwner")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone())),
    );
    out
}

/// Waits until every library still on the primary has its head in `Branch`.
fn wait_following(c: &Cluster) {
    c.wait_for("every library on the primary to be backed up at its head", CONVERGE, || {
        let branch = c.branch_heads();
        c.primary_heads().iter().all(|(repo, head)| branch.get(repo) == Some(head))
    });
}

/// Every token the backup ever minted stays out of every log and every output.
fn assert_no_token_leaked(c: &Cluster, tokens: &BTreeSet<String>, outputs: &[String]) {
    assert!(!tokens.is_empty());
    let mut texts: Vec<(String, String)> = outputs.iter().map(|o| ("command output".to_owned(), o.clone())).collect();
    for entry in std::fs::read_dir(&c.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            texts.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    texts.push(("simulator log".into(), std::fs::read_to_string(c.primary.data.with_extension("serve.log")).unwrap()));
    for (name, text) in &texts {
        for t in tokens {
            assert!(!text.contains(t.as_str()), "a sync token appears in {name}");
        }
    }
}

/// Every library — a virtual one and an organisation library among them — is listed from the
/// primary's database, fetched with a token minted for its owner, verified, and followed through
/// events; `Branch` equals the primary's heads and no token reaches a log or an output.
#[test]
fn backs_up_a_stock_primary_from_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let c = stock_cluster(dir.path(), "5", &ClusterOptions::default());
    c.wait_converged(CONVERGE);

    // One token per library, for its owner, on the primary and in the backup's own table.
    let owners = owners(&c);
    let minted = minted(&c);
    assert_eq!(minted.len(), 5);
    let on_primary = primary_tokens(&c);
    for (repo, (email, token)) in &minted {
        assert_eq!(Some(email), owners.get(repo), "{repo}: minted for its owner");
        assert_eq!(token.len(), 40);
        assert!(on_primary.contains(&(repo.clone(), email.clone(), token.clone())), "{repo}: in RepoUserToken");
    }
    let org: Vec<Vec<String>> = query(primary_db(&c), "SELECT repo_id FROM OrgRepo");
    let virt: Vec<Vec<String>> = query(primary_db(&c), "SELECT repo_id, origin_repo FROM VirtualRepo");
    assert_eq!((org.len(), virt.len()), (1, 1));
    let branch = c.branch_heads();
    assert!(branch.contains_key(&org[0][0]) && branch.contains_key(&virt[0][0]));
    let stored: Vec<Vec<String>> = query(
        &c.db_url,
        &format!("SELECT store_id, is_virtual FROM seaf_backup_library WHERE repo_id = '{}'", virt[0][0]),
    );
    assert_eq!(stored, vec![vec![virt[0][1].clone(), "1".to_owned()]], "the virtual library's store is its origin");

    // Events bring new commits in (the poll interval is an hour).
    c.commit_with_events(&["--count", "6", "--rate", "20"]).assert_ok();
    c.wait_converged(CONVERGE);
    let all = verify(&c.store, &[]);
    assert!(all.ok() && all.stdout.contains("5 libraries checked: 5 complete"), "{}{}", all.stdout, all.stderr);
    assert_eq!(self::minted(&c), minted, "tokens are reused, not minted per job");

    // A restart reuses them too.
    let mut c = c;
    c.kill_coordinator();
    c.start_coordinator();
    c.commit_with_events(&["--count", "3"]).assert_ok();
    c.wait_converged(CONVERGE);
    assert_eq!(self::minted(&c), minted, "tokens survive a restart");

    let status = c.cli(&["status"]);
    status.assert_ok();
    assert!(status.stdout.contains("Number of synchronized libraries: 5"), "{}", status.stdout);
    let json = c.cli(&["--json", "status"]);
    let libraries = c.cli(&["--json", "libraries"]);
    let tokens = minted.values().map(|(_, t)| t.clone()).collect();
    assert_no_token_leaked(&c, &tokens, &[status.stdout, json.stdout, json.stderr, libraries.stdout]);
}

/// What administrators and seaf-server do to libraries, each while the backup runs: a revoked
/// token and an ownership transfer are met with a fresh token for the current owner; a deleted
/// library is marked deleted (backup kept) and its token removed; a library without an owner is
/// reported failed with that reason until it gets one; history cut by GC on the primary leaves the
/// backup's full history in place.
#[test]
fn revoked_transferred_deleted_ownerless_and_gc_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ClusterOptions { poll_interval: "1s".into(), metrics: true, ..ClusterOptions::default() };
    let c = stock_cluster(dir.path(), "7", &opts);
    c.wait_converged(CONVERGE);
    let virtual_lib = query(primary_db(&c), "SELECT repo_id FROM VirtualRepo")[0][0].clone();
    let origin_lib = query(primary_db(&c), "SELECT origin_repo FROM VirtualRepo")[0][0].clone();
    let plain: Vec<String> = c.branch_heads().into_keys().filter(|r| *r != virtual_lib && *r != origin_lib).collect();
    let [revoked, transferred, deleted, ownerless, gced] = <[String; 5]>::try_from(plain.clone()).unwrap_or_else(|p| {
        panic!("five plain libraries expected, got {p:?}");
    });
    let before = minted(&c);
    let mut every_token: BTreeSet<String> = before.values().map(|(_, t)| t.clone()).collect();

    // Revoked: the next job is refused, a new token is minted, the library converges.
    c.primary.mutate("revoke-tokens", &revoked, &[]);
    // Transferred: the old owner's token is refused; the new one is minted for the new owner.
    c.primary.mutate("transfer", &transferred, &["--to", "new.owner@example.com"]);
    // Without an owner: no token can be minted.
    c.primary.mutate("disown", &ownerless, &[]);
    // History cut on the primary: only the newest two main-line commits remain there.
    let data = c.primary.data.display().to_string();
    let gc = c.primary.mutate("gc-history", &gced, &["--data", &data, "--keep", "2"]);
    assert!(gc["removed_commits"].as_u64().unwrap() > 0, "{gc}");
    for repo in [&revoked, &transferred, &ownerless, &gced] {
        c.commit_with_events(&["--library", repo, "--count", "1"]).assert_ok();
    }
    // Deleted: gone from Repo (and seaf-server removes its tokens with it).
    c.primary.mutate("delete", &deleted, &[]);

    c.wait_for("the revoked, transferred and gc'd libraries to follow", CONVERGE, || {
        let branch = c.branch_heads();
        let primary = c.primary_heads();
        [&revoked, &transferred, &gced].iter().all(|r| branch.get(*r) == primary.get(*r))
    });
    let now = minted(&c);
    assert_ne!(now[&revoked].1, before[&revoked].1, "a fresh token replaced the revoked one");
    assert_eq!(now[&transferred].0, "new.owner@example.com", "minted for the new owner");
    assert_ne!(now[&transferred].1, before[&transferred].1);
    every_token.extend(now.values().map(|(_, t)| t.clone()));
    let on_primary = primary_tokens(&c);
    for r in [&revoked, &transferred] {
        assert!(on_primary.contains(&(r.clone(), now[r].0.clone(), now[r].1.clone())), "{r}");
        assert!(!on_primary.iter().any(|(repo, _, t)| repo == r && *t == before[r].1), "{r}: the old token is gone");
    }
    let m = c.metrics();
    assert!(m.get("seaf_backup_tokens_refused_total").copied().unwrap_or(0.0) >= 2.0, "{m:?}");

    // The deleted library: marked deleted, backup kept, token gone from both tables.
    c.wait_for("the deleted library to be marked deleted and its token removed", CONVERGE, || {
        let row = query(&c.db_url, &format!("SELECT deleted FROM seaf_backup_library WHERE repo_id = '{deleted}'"));
        row == vec![vec!["1".to_owned()]] && !minted(&c).contains_key(&deleted)
    });
    assert!(c.branch_heads().contains_key(&deleted), "its Branch row stays");
    assert!(!primary_tokens(&c).iter().any(|(r, _, _)| *r == deleted));

    // The library without an owner: failed, with the reason, in status.
    c.wait_for("the library without an owner to be reported failed", CONVERGE, || {
        c.cli(&["status"]).stdout.contains("Number of libraries failed to sync: 1")
    });
    let status = c.cli(&["status"]);
    let line = status.stdout.lines().find(|l| l.starts_with(&ownerless)).unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(line.contains("no owner on the primary"), "{line}");
    assert!(!minted(&c).contains_key(&ownerless), "its refused token was removed");

    // Given an owner again, it is retried at the next poll and converges.
    c.primary.mutate("transfer", &ownerless, &["--to", "adopter@example.com"]);
    c.wait_for("the adopted library to follow", CONVERGE, || {
        c.branch_heads().get(&ownerless) == c.primary_heads().get(&ownerless)
    });
    assert_eq!(minted(&c)[&ownerless].0, "adopter@example.com");
    wait_following(&c);

    // The gc'd library keeps its whole history in the backup.
    let check = verify(&c.store, &["--library", &gced]);
    assert!(check.ok(), "{}{}", check.stdout, check.stderr);
    every_token.extend(minted(&c).values().map(|(_, t)| t.clone()));
    let status = c.cli(&["--json", "status"]);
    assert_no_token_leaked(&c, &every_token, &[status.stdout, status.stderr]);
}

/// `seaf-backup-fetcher once --primary-database-url`: every library listed from the database and
/// fetched with a token minted for the run and removed after it; a library without an owner fails
/// alone, with its reason (exit 1).
#[test]
fn once_against_a_stock_primary() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate_stock(dir.path(), &["--libraries", "4", "--seed", "22"]);
    primary.serve(&[]);
    let url = primary.database_url.clone().unwrap();
    let heads = primary.heads();
    let virtual_lib = query(&url, "SELECT repo_id FROM VirtualRepo")[0][0].clone();
    // Two libraries of plain users (RepoOwner rows), neither of them virtual.
    let users: Vec<String> = query(&url, "SELECT repo_id FROM RepoOwner ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .filter(|r| *r != virtual_lib)
        .collect();
    let (ownerless, other) = (users[0].clone(), users[1].clone());
    primary.mutate("disown", &ownerless, &[]);
    let tokens_before = query(&url, "SELECT repo_id, email, token FROM RepoUserToken ORDER BY id");

    let store = dir.path().join("store");
    let once = |extra: &[&str]| {
        Cmd::new(bin("seaf-backup-fetcher"))
            .args(["once", "--primary", &primary.url, "--primary-database-url", &url, "--store"])
            .args([store.as_os_str()])
            .args(extra)
            .run()
    };
    let ran = once(&["--json"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    let report = ran.json();
    let libs = report["libraries"].as_array().unwrap();
    assert_eq!(libs.len(), 4);
    for lib in libs {
        let repo = lib["repo_id"].as_str().unwrap();
        if repo == ownerless {
            assert_eq!(lib["ok"], false);
            assert!(lib["error"].as_str().unwrap().contains("no owner on the primary"), "{lib}");
        } else {
            assert_eq!(lib["ok"], true, "{lib}");
            assert_eq!(lib["head"].as_str(), heads.get(repo).map(String::as_str));
        }
    }
    assert_eq!(
        query(&url, "SELECT repo_id, email, token FROM RepoUserToken ORDER BY id"),
        tokens_before,
        "the run's tokens are removed again"
    );
    let check = verify(&store, &[]);
    assert!(check.stdout.contains("3 libraries checked: 3 complete"), "{}{}", check.stdout, check.stderr);

    // --library picks from the database listing; an id not there is a usage error.
    let ran = once(&["--library", &other]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("1 libraries: 1 backed up, 0 failed"), "{}", ran.stdout);
    let ran = once(&["--library", "00000000-1111-4222-8333-444444444444"]);
    assert_eq!(ran.code, Some(2), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("not in the primary's Repo table"), "{}", ran.stderr);

    // A library token given for one library: the other library named is refused, alone.
    let token = primary.mutate("add-token", &other, &["--email", &owners_email(&url, &other)])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ran = Cmd::new(bin("seaf-backup-fetcher"))
        .args(["once", "--primary", &primary.url, "--sync-token", &token, "--library", &other, "--library", &ownerless])
        .args(["--store"])
        .args([store.as_os_str()])
        .run();
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    let failed = ran.stdout.lines().find(|l| l.starts_with("FAILED")).unwrap_or_else(|| panic!("{}", ran.stdout));
    assert!(failed.contains(&ownerless) && failed.contains("HTTP 403"), "{failed}");
    assert!(ran.stdout.lines().any(|l| l.starts_with("ok") && l.contains(other.as_str())), "{}", ran.stdout);
}

fn owners_email(url: &str, repo: &str) -> String {
    query(url, &format!("SELECT owner_id FROM RepoOwner WHERE repo_id = '{repo}'"))[0][0].clone()
}
