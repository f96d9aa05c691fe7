//! End to end, the whole control plane: the simulated primary, real MariaDB and Redis, and the
//! real coordinator, gateway and fetcher processes over loopback. Each test has its own database,
//! Redis, store and processes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::{Cmd, Primary, query, tree_digest, verify};

const CONVERGE: Duration = Duration::from_secs(90);

fn served(dir: &std::path::Path, generate: &[&str], serve: &[&str]) -> Primary {
    let mut p = Primary::generate(dir, generate);
    p.serve(serve);
    p
}

/// `verify --library R --head H` for every `Branch` row: each published head's closure is complete.
fn verify_branch_heads(c: &Cluster, heads: &BTreeMap<String, String>) {
    let store_ids: BTreeMap<String, String> = c
        .primary
        .libraries()
        .iter()
        .map(|l| (l["repo_id"].as_str().unwrap().to_owned(), l["store_id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    for (repo, head) in heads {
        let mut args = vec!["--library", repo.as_str(), "--head", head.as_str()];
        if let Some(s) = store_ids.get(repo).filter(|s| !s.is_empty()) {
            args.extend(["--store-id", s.as_str()]);
        }
        let r = verify(&c.store, &args);
        assert!(r.ok(), "Branch head {head} of {repo} has an incomplete closure:\n{}{}", r.stdout, r.stderr);
    }
}

/// Initial backup of every library, then commits announced by events: every head is followed,
/// the Seafile tables equal the primary's heads, and the store is complete and byte-identical.
#[test]
fn follows_the_primary_through_events() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "6", "--seed", "11"], &[]);
    let c = Cluster::start(dir.path(), primary, &ClusterOptions::default());
    c.wait_converged(CONVERGE);

    // The poll interval is an hour: only the events can bring these commits in.
    let before = c.branch_heads();
    c.commit_with_events(&["--count", "30", "--rate", "30"]).assert_ok();
    c.wait_converged(CONVERGE);
    let after = c.branch_heads();
    assert_eq!(after.len(), 6);
    assert!(after.iter().filter(|(k, v)| before.get(*k) != Some(v)).count() >= 3, "commits moved several heads");

    // Seafile's own view: one Repo, Branch and RepoHead row per library.
    let repos: BTreeSet<String> =
        query(&c.db_url, "SELECT repo_id FROM Repo").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(repos, after.keys().cloned().collect());
    let heads = query(&c.db_url, "SELECT COUNT(*) FROM RepoHead WHERE branch_name = 'master'");
    assert_eq!(heads[0][0], "6");

    verify_branch_heads(&c, &after);
    let all = verify(&c.store, &[]);
    assert!(all.ok() && all.stdout.contains("6 libraries checked: 6 complete"), "{}{}", all.stdout, all.stderr);
    assert_eq!(tree_digest(&c.store.join("storage")), tree_digest(&c.primary.storage()), "byte-for-byte copy");
}

/// With the gateway down no event arrives; the poller alone catches up.
#[test]
fn the_poller_alone_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "4", "--seed", "12"], &[]);
    let opts = ClusterOptions { gateway: false, poll_interval: "1s".into(), ..ClusterOptions::default() };
    let c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);
    let before = c.branch_heads();
    c.primary.sim(&["commit", "--count", "8"]).assert_ok();
    assert_ne!(c.primary_heads(), before, "the commits changed the primary");
    c.wait_converged(CONVERGE);
    verify_branch_heads(&c, &c.branch_heads());
}

/// `kill -9` of the fetcher in the middle of a large library: another fetcher finishes it after
/// the lease expires, and no `Branch` head ever points at an incomplete closure (checked while
/// it runs, each time a head moves).
#[test]
fn a_killed_fetcher_is_replaced_and_no_head_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(
        dir.path(),
        &["--libraries", "3", "--seed", "13", "--files", "400", "--commits", "12"],
        &["--latency-ms", "3"],
    );
    let opts = ClusterOptions { fetchers: 1, concurrency: 1, lease: "2s".into(), ..ClusterOptions::default() };
    let mut c = Cluster::start(dir.path(), primary, &opts);
    c.wait_for("the first job to start", Duration::from_secs(30), || c.log("fetcher-0").contains("job started"));
    std::thread::sleep(Duration::from_millis(700));
    let published_before_kill = c.branch_heads().len();
    c.kill_fetcher(0);
    assert!(published_before_kill < 3, "the kill came before everything was published");
    c.start_fetcher();

    // Watch every head as it is published, and commit meanwhile so heads keep moving.
    let mut checked: BTreeSet<(String, String)> = BTreeSet::new();
    let mut committed = false;
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let heads = c.branch_heads();
        let new: BTreeMap<String, String> = heads
            .iter()
            .filter(|(k, v)| !checked.contains(&((*k).clone(), (*v).clone())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        verify_branch_heads(&c, &new);
        checked.extend(new);
        if !committed && !heads.is_empty() {
            c.commit_with_events(&["--count", "4"]).assert_ok();
            committed = true;
        }
        if committed && heads == c.primary_heads() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no convergence; coordinator log:\n{}", c.log("coordinator"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(checked.len() >= 3, "every library's head was checked as it was published: {checked:?}");
    assert!(c.log("coordinator").contains("lease expired"), "the dead fetcher's lease was reaped");
    assert!(c.log("fetcher-1").contains("head published"), "the new fetcher finished the work");
}

/// Redis loses everything in the middle of a run: the coordinator rebuilds the queue from MySQL,
/// running fetchers re-establish their leases, and everything converges.
#[test]
fn a_redis_flush_mid_run_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "6", "--seed", "14", "--files", "150"], &["--latency-ms", "2"]);
    let opts = ClusterOptions { concurrency: 1, ..ClusterOptions::default() };
    let c = Cluster::start(dir.path(), primary, &opts);
    c.wait_for("a first head to be published", Duration::from_secs(60), || !c.branch_heads().is_empty());
    assert!(c.branch_heads().len() < 6, "the flush comes mid-run");
    c.redis.flushall();
    c.commit_with_events(&["--count", "6"]).assert_ok();
    c.redis.flushall();
    c.wait_converged(CONVERGE);
    assert!(c.log("coordinator").contains("rebuilt from MySQL"), "the queue was rebuilt");
    verify_branch_heads(&c, &c.branch_heads());
}

/// The administrator's commands: `status` in the seed's layout with the right numbers, a failing
/// library in the failed list with its reason, `sync` blocking until the head is published, and
/// `sync --force` completing a library with a corrupt block and reporting the skipped block.
#[test]
fn status_sync_and_sync_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3", "--seed", "15"]);
    let victim: serde_json::Value =
        serde_json::from_str(primary.sim(&["damage", "--corrupt-block"]).assert_ok().stdout.trim()).unwrap();
    let bad = victim["library"].as_str().or(victim["repo_id"].as_str()).expect("damaged library").to_owned();
    let block = victim["id"].as_str().or(victim["object_id"].as_str()).expect("damaged object").to_owned();
    primary.serve(&[]);
    let c = Cluster::start(dir.path(), primary, &ClusterOptions::default());
    let good: Vec<String> = c.primary_heads().into_keys().filter(|k| *k != bad).collect();

    c.wait_for("two libraries synchronized and one failed", CONVERGE, || {
        let s = c.cli(&["status"]);
        s.ok() && s.stdout.contains("Number of synchronized libraries: 2") && s.stdout.contains("failed to sync: 1")
    });
    let status = c.cli(&["status"]);
    status.assert_ok();
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(lines[0], "Total number of libraries: 3", "{}", status.stdout);
    assert_eq!(lines[1], "Number of synchronized libraries: 2");
    assert_eq!(lines[2], "Number of libraries waiting for sync: 0");
    assert_eq!(lines[3], "Number of libraries syncing: 0");
    assert_eq!(lines[4], "Number of libraries failed to sync: 1");
    let syncing_at = lines.iter().position(|l| *l == "List of syncing libraries:").expect("syncing list");
    let failed_at = lines.iter().position(|l| *l == "List of libraries failed to sync:").expect("failed list");
    assert!(syncing_at < failed_at);
    let failed_lines = &lines[failed_at + 1..];
    assert!(
        failed_lines.iter().any(|l| l.starts_with(&bad) && l.contains("corrupt") && l.contains(&block)),
        "the failed library is listed with its reason:\n{}",
        status.stdout
    );
    let json = c.cli(&["--json", "status"]);
    let j = json.assert_ok().json();
    assert_eq!((j["total"].as_u64(), j["synchronized"].as_u64(), j["failed"].as_u64()), (Some(3), Some(2), Some(1)));
    assert_eq!(j["failed_libraries"][0]["repo_id"], bad.as_str());

    // A plain sync of the damaged library fails again, with the reason, and a non-zero exit.
    let again = c.cli(&["sync", &bad]);
    assert_eq!(again.code, Some(1), "{}{}", again.stdout, again.stderr);
    assert!(again.stderr.contains("corrupt") && again.stderr.contains(&block), "{}", again.stderr);

    // sync blocks until the head is published: commit without events, then sync.
    c.primary.sim(&["commit", "--library", &good[0], "--count", "2"]).assert_ok();
    let want = c.primary.head(&good[0]).to_string();
    assert_ne!(c.branch_heads().get(&good[0]), Some(&want));
    let sync = c.cli(&["sync", &good[0]]);
    sync.assert_ok();
    assert_eq!(c.branch_heads().get(&good[0]), Some(&want), "published when sync returned");
    assert!(sync.stdout.contains(&want), "{}", sync.stdout);

    // sync --force completes the damaged library and names the skipped block.
    let forced = c.cli(&["sync", "--force", &bad]);
    forced.assert_ok();
    assert!(forced.stdout.contains(&block), "the skipped block is reported:\n{}", forced.stdout);
    assert_eq!(c.branch_heads().get(&bad), Some(&c.primary.head(&bad).to_string()));
    let lib = c.cli(&["--json", "library", &bad]);
    let skipped = &lib.assert_ok().json()["skipped"];
    assert_eq!(skipped[0]["id"], block.as_str(), "{skipped}");
    let status = c.cli(&["status"]);
    assert!(status.stdout.contains("Number of synchronized libraries: 3"), "{}", status.stdout);
    assert!(status.stdout.contains("Number of libraries failed to sync: 0"), "{}", status.stdout);

    // Bad input from the administrator: a clear error, exit 2, nothing changed.
    let invalid = c.cli(&["sync", "not-a-library"]);
    assert_eq!(invalid.code, Some(2), "{}", invalid.stderr);
    let unknown = c.cli(&["sync", "00000000-0000-4000-8000-000000000000"]);
    assert_ne!(unknown.code, Some(0));
    assert!(unknown.stderr.contains("not known"), "{}", unknown.stderr);
}

/// grpcurl (1.8.6, reflection v1alpha) lists, describes and calls the coordinator, and its health
/// check answers SERVING.
#[test]
fn grpcurl_lists_describes_and_calls() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "2", "--seed", "16"], &[]);
    let c = Cluster::start(dir.path(), primary, &ClusterOptions { gateway: false, ..ClusterOptions::default() });
    c.wait_converged(CONVERGE);
    let addr = c.coordinator_url.trim_start_matches("http://").to_owned();
    let grpcurl = |args: &[&str]| {
        Cmd::new(seaf_backup_tests::tool("grpcurl"))
            .args(["-plaintext"])
            .args(args)
            .timeout(Duration::from_secs(30))
            .run()
    };
    let list = grpcurl(&[&addr, "list"]);
    list.assert_ok();
    for svc in [
        "seafbackup.admin.v1.AdminService",
        "seafbackup.internal.v1.CoordinatorService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(list.stdout.lines().any(|l| l == svc), "{svc} missing from:\n{}", list.stdout);
    }
    let describe = grpcurl(&[&addr, "describe", "seafbackup.admin.v1.AdminService"]);
    describe.assert_ok();
    assert!(
        describe.stdout.contains("rpc Sync ( .seafbackup.admin.v1.SyncRequest ) returns ( stream"),
        "{}",
        describe.stdout
    );
    let status = grpcurl(&["-d", "{}", &addr, "seafbackup.admin.v1.AdminService/Status"]);
    status.assert_ok();
    let j = status.json();
    assert_eq!((j["total"].as_str(), j["synchronized"].as_str()), (Some("2"), Some("2")), "{}", status.stdout);
    for service in ["", "seafbackup.admin.v1.AdminService"] {
        let body = format!("{{\"service\":\"{service}\"}}");
        let health = grpcurl(&["-d", &body, &addr, "grpc.health.v1.Health/Check"]);
        health.assert_ok();
        assert!(health.stdout.contains("\"SERVING\""), "{}", health.stdout);
    }
    // The internal API wants the shared token: a forged Report must not move a head.
    let lease =
        ["-d", "{\"fetcher_id\":\"intruder\",\"wait_ms\":1}", &addr, "seafbackup.internal.v1.CoordinatorService/Lease"];
    let anonymous = grpcurl(&lease);
    assert!(!anonymous.ok() && anonymous.stderr.contains("Unauthenticated"), "{}", anonymous.stderr);
    let wrong = grpcurl(&[&["-H", "authorization: Token wrong"][..], &lease[..]].concat());
    assert!(!wrong.ok() && wrong.stderr.contains("Unauthenticated"), "{}", wrong.stderr);
    let right_header = format!("authorization: Token {}", seaf_backup_tests::SYNC_TOKEN);
    let right = grpcurl(&[&["-H", right_header.as_str()][..], &lease[..]].concat());
    right.assert_ok();
    let bad = grpcurl(&["-d", "{\"repo_id\":\"../../etc\"}", &addr, "seafbackup.admin.v1.AdminService/GetLibrary"]);
    assert!(!bad.ok() && bad.stderr.contains("InvalidArgument"), "{}", bad.stderr);
}

/// Every bad request to the gateway gets a 4xx and enqueues nothing (the Redis queue stays empty
/// and no library is marked notified); the same request done right enqueues the library.
#[test]
fn gateway_bad_input_enqueues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "2", "--seed", "17"], &[]);
    let mut c = Cluster::start(dir.path(), primary, &ClusterOptions { fetchers: 1, ..ClusterOptions::default() });
    c.wait_converged(CONVERGE);
    c.kill_fetcher(0);
    let repo = c.primary_heads().into_keys().next().unwrap();
    let queued = |c: &Cluster| {
        let ready = c.redis.cmd(&["ZCARD", "seaf-backup:ready"]);
        let followup = c.redis.cmd(&["SCARD", "seaf-backup:followup"]);
        let notified = query(&c.db_url, "SELECT COUNT(*) FROM seaf_backup_library WHERE notified_at IS NOT NULL");
        (ready.trim().to_owned(), followup.trim().to_owned(), notified[0][0].clone())
    };
    let empty = ("0".to_owned(), "0".to_owned(), "0".to_owned());
    assert_eq!(queued(&c), empty);

    let token = seaf_backup_tests::SYNC_TOKEN;
    let good_jwt = seaf_backup_tests::cluster::jwt(seaf_backup_tests::cluster::JWT_KEY, 300);
    let other_jwt = seaf_backup_tests::cluster::jwt("another-key", 300);
    let expired_jwt = seaf_backup_tests::cluster::jwt(seaf_backup_tests::cluster::JWT_KEY, -600);
    let event =
        format!(r#"{{"type":"repo-update","content":{{"repo_id":"{repo}","commit_id":"{}"}}}}"#, "ab".repeat(20));
    let notify = format!(r#"{{"repo_ids":["{repo}"]}}"#);
    let big = format!(r#"{{"repo_ids":["{repo}"],"pad":"{}"}}"#, "x".repeat(200_000));
    let cases: Vec<(&str, String, String, &str, u16)> = vec![
        ("/v1/notify", format!("Token {}", "0".repeat(40)), notify.clone(), "wrong sync token", 401),
        ("/v1/notify", String::new(), notify.clone(), "no token", 401),
        ("/v1/notify", format!("Token {token}"), "{\"repo_ids\": [".into(), "malformed JSON", 400),
        ("/v1/notify", format!("Token {token}"), r#"{"repo_ids":["../../etc/passwd"]}"#.into(), "invalid id", 400),
        (
            "/v1/notify",
            format!("Token {token}"),
            format!(r#"{{"repo_ids":["{repo}","x'; DROP TABLE Branch; --"]}}"#),
            "one invalid id",
            400,
        ),
        ("/v1/notify", format!("Token {token}"), big.clone(), "oversized body", 413),
        ("/events", format!("Token {other_jwt}"), event.clone(), "JWT signed with another key", 401),
        ("/events", format!("Token {expired_jwt}"), event.clone(), "expired JWT", 401),
        ("/events", "Token not.a.jwt".into(), event.clone(), "garbage JWT", 401),
        ("/events", format!("Token {good_jwt}"), "{\"type\":\"repo-update\"".into(), "malformed event", 400),
        ("/events", format!("Token {good_jwt}"), event.replace(&repo, "not-a-uuid"), "invalid repo id in event", 400),
    ];
    for (path, auth, body, what, want) in &cases {
        let code = seaf_backup_tests::cluster::post(&format!("{}{path}", c.gateway_url), auth, body);
        assert_eq!(code, *want, "{what}");
        assert_eq!(queued(&c), empty, "{what} enqueued something");
    }
    // Done right, the same requests enqueue the library.
    assert_eq!(
        seaf_backup_tests::cluster::post(&format!("{}/events", c.gateway_url), &format!("Token {good_jwt}"), &event),
        200
    );
    let (ready, _, notified) = queued(&c);
    assert_eq!((ready.as_str(), notified.as_str()), ("1", "1"));
    assert_eq!(
        seaf_backup_tests::cluster::post(&format!("{}/v1/notify", c.gateway_url), &format!("Token {token}"), &notify),
        200
    );
}

/// SIGTERM: a fetcher stops leasing and exits within its bound, handing back unfinished work,
/// which another fetcher completes.
#[test]
fn a_terminated_fetcher_hands_its_job_back() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "1", "--seed", "18", "--files", "600"], &["--latency-ms", "20"]);
    let opts = ClusterOptions { fetchers: 1, gateway: false, shutdown_grace: "1s".into(), ..ClusterOptions::default() };
    let mut c = Cluster::start(dir.path(), primary, &opts);
    c.wait_for("the job to start", Duration::from_secs(30), || c.log("fetcher-0").contains("job started"));
    let stopping = std::time::Instant::now();
    c.fetchers[0].as_ref().unwrap().terminate();
    let status = c.fetchers[0].as_mut().unwrap().wait(Duration::from_secs(30)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let took = stopping.elapsed();
    // Within the bound Kubernetes gives (30 s): lease wait (5 s) + shutdown_grace + reporting.
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let log = c.log("fetcher-0");
    assert!(log.contains("job handed back unfinished"), "{log}");
    assert!(c.branch_heads().is_empty(), "nothing was published by the stopped fetcher");
    assert!(c.log("coordinator").contains("job handed back; queued again"));
    c.start_fetcher();
    c.wait_converged(CONVERGE);
    verify_branch_heads(&c, &c.branch_heads());
}

/// seaf-fsck on the primary restored a library to an older state (its head moved backwards): the
/// backup follows it and publishes the older head instead of failing the library.
#[test]
fn a_head_restored_to_an_older_commit_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "2", "--seed", "19"], &[]);
    let c = Cluster::start(dir.path(), primary, &ClusterOptions::default());
    c.wait_converged(CONVERGE);
    let repo = c
        .primary_heads()
        .into_keys()
        .find(|r| c.primary.libraries().iter().any(|l| l["repo_id"] == r.as_str() && l["is_virtual"] != true))
        .unwrap();
    let head = c.primary.head(&repo).to_string();
    let bytes =
        std::fs::read(c.primary.storage().join("commits").join(&repo).join(&head[..2]).join(&head[2..])).unwrap();
    let commit: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let older = commit["parent_id"].as_str().expect("the head has a parent").to_owned();
    // What seaf-fsck does to the primary: the branch points at an older commit again.
    std::fs::write(c.primary.data.join("db").join("branch").join(&repo), &older).unwrap();
    let code = seaf_backup_tests::cluster::post(
        &format!("{}/v1/notify", c.gateway_url),
        &format!("Token {}", seaf_backup_tests::SYNC_TOKEN),
        &format!(r#"{{"repo_ids":["{repo}"]}}"#),
    );
    assert_eq!(code, 200);
    c.wait_for("the older head to be published", CONVERGE, || c.branch_heads().get(&repo) == Some(&older));
    let lib = c.cli(&["--json", "library", &repo]);
    let j = lib.assert_ok().json();
    assert_eq!((j["state"].as_str(), j["backup_head"].as_str()), (Some("synchronized"), Some(older.as_str())), "{j}");
    verify_branch_heads(&c, &c.branch_heads());
}

/// `kill -9` of the coordinator mid-run, with commits (and their events) while it is down: after
/// a restart the running jobs report, the poll at start finds what the lost events announced, and
/// every head converges.
#[test]
fn a_killed_coordinator_restarts_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "4", "--seed", "20", "--files", "150"], &["--latency-ms", "2"]);
    let mut c = Cluster::start(dir.path(), primary, &ClusterOptions { concurrency: 1, ..ClusterOptions::default() });
    c.wait_for("a first head to be published", Duration::from_secs(60), || !c.branch_heads().is_empty());
    c.kill_coordinator();
    // The gateway cannot deliver these events (503): only the restarted coordinator's poll can.
    let commits = c.commit_with_events(&["--count", "4"]);
    commits.assert_ok();
    c.start_coordinator();
    c.wait_converged(CONVERGE);
    verify_branch_heads(&c, &c.branch_heads());
    let status = c.cli(&["status"]);
    assert!(status.stdout.contains("Number of synchronized libraries: 4"), "{}", status.stdout);
}

/// A library deleted on the primary is marked deleted at the next poll: it leaves the counts, and
/// its backup (objects, `Branch` row) is kept and still complete.
#[test]
fn a_library_deleted_on_the_primary_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let primary = served(dir.path(), &["--libraries", "3", "--seed", "21"], &[]);
    let opts = ClusterOptions { gateway: false, poll_interval: "1s".into(), ..ClusterOptions::default() };
    let c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);
    let before = c.branch_heads();
    let listed = c.primary.libraries();
    let gone = listed.iter().find(|l| l["is_virtual"] != true).unwrap()["repo_id"].as_str().unwrap().to_owned();
    let kept: Vec<&serde_json::Value> = listed.iter().filter(|l| l["repo_id"] != gone.as_str()).collect();
    let path = c.primary.data.join("db").join("libraries.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&kept).unwrap()).unwrap();

    c.wait_for("the library to be marked deleted", CONVERGE, || {
        let lib = c.cli(&["--json", "library", &gone]);
        lib.ok() && lib.json()["state"] == "deleted"
    });
    let status = c.cli(&["--json", "status"]).assert_ok().json();
    assert_eq!(status["total"].as_u64(), Some(listed.len() as u64 - 1), "{status}");
    assert_eq!(c.branch_heads(), before, "no Branch row is removed or moved");
    verify_branch_heads(&c, &before);
}
