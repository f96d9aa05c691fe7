//! The admin API's token and the gRPC port's TLS, end to end: real processes, grpcurl and the CLI.

use std::path::Path;
use std::time::Duration;

use seaf_backup_tests::cluster::{Cluster, ClusterOptions, ClusterTls};
use seaf_backup_tests::tls::TestPki;
use seaf_backup_tests::{Cmd, Primary, Ran, bin, query, tool, verify};

const CONVERGE: Duration = Duration::from_secs(90);
const ADMIN_TOKEN: &str = "adm-5b0e9c1f7a3d4e2b8c6f0a1d9e7b3c5a";

/// Everything an admin call could change: the backup's library rows, `Branch`, the tokens it
/// minted and their rows on the primary, and the job queue in Redis.
fn state(c: &Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for (url, sql) in [
        (c.db_url.as_str(), "SELECT * FROM seaf_backup_library ORDER BY repo_id"),
        (c.db_url.as_str(), "SELECT * FROM Branch ORDER BY repo_id"),
        (c.db_url.as_str(), "SELECT * FROM seaf_backup_token ORDER BY repo_id"),
        (c.primary.database_url.as_deref().unwrap(), "SELECT * FROM RepoUserToken ORDER BY repo_id"),
    ] {
        out.push(format!("{sql}: {:?}", query(url, sql)));
    }
    out.push(format!("keys: {}", c.redis.cmd(&["KEYS", "*"])));
    out.push(format!("ready: {}", c.redis.cmd(&["ZRANGE", "seaf-backup:ready", "0", "-1", "WITHSCORES"])));
    out.push(format!("followup: {}", c.redis.cmd(&["SMEMBERS", "seaf-backup:followup"])));
    out
}

fn grpcurl(transport: &[&str], args: &[&str]) -> Ran {
    Cmd::new(tool("grpcurl")).args(transport).args(args).timeout(Duration::from_secs(30)).run()
}

/// `seaf-backup` with exactly these arguments and environment (nothing from the cluster).
fn cli(env: &[(&str, &str)], args: &[&str]) -> Ran {
    let mut cmd = Cmd::new(bin("seaf-backup")).args(args).timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}

/// With `[coordinator] admin_token` set, every admin RPC without the token, or with a wrong one,
/// is refused with UNAUTHENTICATED and changes nothing; health and reflection stay open; the CLI
/// (token file or environment) and grpcurl (`-H`) with the token succeed.
#[test]
fn the_admin_token_guards_every_admin_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate_stock(dir.path(), &["--libraries", "3", "--seed", "61"]);
    primary.serve(&[]);
    let opts =
        ClusterOptions { fetchers: 1, gateway: false, admin_token: Some(ADMIN_TOKEN.into()), ..Default::default() };
    let mut c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);
    assert!(c.log("coordinator").contains("tls=\"off\"") || c.log("coordinator").contains("tls=off"));

    // Work an admin call could do: a failed library to retry, a library behind to sync, tokens
    // to delete on failover.
    let libs: Vec<String> = c.primary_heads().into_keys().collect();
    let (failed, behind) = (libs[0].clone(), libs[1].clone());
    c.primary.mutate("disown", &failed, &[]);
    c.primary.sim(&["commit", "--library", &failed, "--count", "1"]).assert_ok();
    let sync = c.cli(&["sync", &failed]);
    assert_eq!(sync.code, Some(1), "{}{}", sync.stdout, sync.stderr);
    c.kill_fetcher(0);
    c.primary.sim(&["commit", "--library", &behind, "--count", "1"]).assert_ok();
    let before = state(&c);

    let addr = c.coordinator_url.trim_start_matches("http://").to_owned();
    let calls = [
        ("Status", "{}".to_owned()),
        ("Sync", format!("{{\"repo_id\":\"{behind}\"}}")),
        ("ListLibraries", "{}".to_owned()),
        ("GetLibrary", format!("{{\"repo_id\":\"{failed}\"}}")),
        ("Retry", "{}".to_owned()),
        ("Failover", "{\"apply\":true}".to_owned()),
    ];
    for (rpc, body) in &calls {
        let method = format!("seafbackup.admin.v1.AdminService/{rpc}");
        for header in [None, Some("authorization: Token wrong-token"), Some("authorization: Bearer x")] {
            let mut args = vec!["-d", body.as_str()];
            if let Some(h) = header {
                args.extend(["-H", h]);
            }
            args.extend([addr.as_str(), method.as_str()]);
            let r = grpcurl(&["-plaintext"], &args);
            assert!(!r.ok() && r.stderr.contains("Code: Unauthenticated"), "{rpc} with {header:?}: {}", r.stderr);
            assert!(!r.stdout.contains(&failed) && !r.stdout.contains(&behind), "{rpc} answered: {}", r.stdout);
        }
    }
    let url = c.coordinator_url.clone();
    for args in [
        vec!["status"],
        vec!["sync", &behind],
        vec!["libraries"],
        vec!["library", &failed],
        vec!["retry"],
        vec!["failover", "--apply"],
    ] {
        let r = cli(&[], &[&["--coordinator", &url][..], &args].concat());
        assert_eq!(r.code, Some(2), "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("missing authorization: Token <admin_token>") && r.stderr.contains("--token-file"),
            "{args:?}: {}",
            r.stderr
        );
        let wrong = cli(&[("SEAF_BACKUP_ADMIN_TOKEN", "nope")], &[&["--coordinator", &url][..], &args].concat());
        assert_eq!(wrong.code, Some(2));
        assert!(wrong.stderr.contains("invalid admin_token"), "{args:?}: {}", wrong.stderr);
    }
    assert_eq!(state(&c), before, "a refused admin call changed something");

    // Health and reflection stay open.
    let list = grpcurl(&["-plaintext"], &[&addr, "list"]);
    list.assert_ok();
    assert!(list.stdout.lines().any(|l| l == "seafbackup.admin.v1.AdminService"), "{}", list.stdout);
    let health = grpcurl(&["-plaintext"], &["-d", "{}", &addr, "grpc.health.v1.Health/Check"]);
    assert!(health.ok() && health.stdout.contains("SERVING"), "{}", health.stderr);

    // With the token: grpcurl -H, the environment, the token file.
    let header = format!("authorization: Token {ADMIN_TOKEN}");
    let status =
        grpcurl(&["-plaintext"], &["-H", &header, "-d", "{}", &addr, "seafbackup.admin.v1.AdminService/Status"]);
    status.assert_ok();
    assert_eq!(status.json()["total"].as_str(), Some("3"), "{}", status.stdout);
    let by_env = cli(&[("SEAF_BACKUP_ADMIN_TOKEN", ADMIN_TOKEN)], &["--coordinator", &url, "status"]);
    by_env.assert_ok();
    assert!(by_env.stdout.contains("failed to sync: 1"), "{}", by_env.stdout);
    let retry = c.cli(&["retry"]);
    retry.assert_ok();
    assert_ne!(state(&c), before, "the retry with the token changed nothing: the state compared is blind");
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let r = cli(&[], &["--coordinator", &url, "--token-file", &empty.display().to_string(), "status"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);

    // The token appears in no log.
    for name in ["coordinator", "fetcher-0"] {
        assert!(!c.log(name).contains(ADMIN_TOKEN), "the admin token is in the {name} log");
    }
}

/// The whole cluster with mutual TLS on the coordinator's port: the gateway, the fetchers and the
/// CLI reach it with the test CA and a client certificate; clients without the CA, without a
/// client certificate, with one from another CA, or in plain text are refused.
#[test]
fn the_whole_cluster_runs_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "ca");
    let other = TestPki::generate(dir.path(), "other");
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3", "--seed", "62"]);
    primary.serve(&[]);
    let opts = ClusterOptions {
        admin_token: Some(ADMIN_TOKEN.into()),
        tls: Some(ClusterTls { pki: pki.clone(), mutual: true }),
        ..Default::default()
    };
    let c = Cluster::start(dir.path(), primary, &opts);
    assert!(c.coordinator_url.starts_with("https://127.0.0.1:"), "{}", c.coordinator_url);
    assert!(c.log("coordinator").contains("mutual"), "{}", c.log("coordinator"));
    c.wait_converged(CONVERGE);
    // Evented commits go gateway → coordinator → fetchers over TLS.
    c.commit_with_events(&["--count", "3"]).assert_ok();
    c.wait_converged(CONVERGE);
    assert_eq!(c.branch_heads(), c.primary_heads());
    verify(&c.store, &[]).assert_ok();
    let status = c.cli(&["status"]);
    status.assert_ok();
    assert!(status.stdout.contains("Number of synchronized libraries: 3"), "{}", status.stdout);

    let url = c.coordinator_url.clone();
    let p = |path: &Path| path.display().to_string();
    let token = [("SEAF_BACKUP_ADMIN_TOKEN", ADMIN_TOKEN)];
    let refused = |what: &str, args: &[String], needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = cli(&token, &[&["--coordinator", &url][..], &args, &["status"]].concat());
        assert_eq!(r.code, Some(2), "{what}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("cannot reach the coordinator"), "{what}: {}", r.stderr);
        assert!(r.stderr.to_lowercase().contains(needle), "{what}: {}", r.stderr);
    };
    let client =
        |pki: &TestPki| vec!["--client-cert".into(), p(&pki.client_cert), "--client-key".into(), p(&pki.client_key)];
    refused("no CA", &client(&pki), "certificate");
    refused("no client certificate", &["--ca-cert".into(), p(&pki.ca)], "--client-cert");
    refused(
        "a client certificate of another CA",
        &[vec!["--ca-cert".into(), p(&pki.ca)], client(&other)].concat(),
        "--client-cert",
    );
    let plain = cli(&token, &["--coordinator", &url.replace("https://", "http://"), "status"]);
    assert_eq!(plain.code, Some(2), "plain text to the TLS port: {}", plain.stdout);

    // grpcurl with the CA, the client certificate and the token.
    let addr = url.trim_start_matches("https://");
    let header = format!("authorization: Token {ADMIN_TOKEN}");
    let tls = ["-cacert", &p(&pki.ca), "-cert", &p(&pki.client_cert), "-key", &p(&pki.client_key)].map(String::from);
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let ok = grpcurl(&tls, &["-H", &header, "-d", "{}", addr, "seafbackup.admin.v1.AdminService/Status"]);
    ok.assert_ok();
    assert_eq!(ok.json()["synchronized"].as_str(), Some("3"), "{}", ok.stdout);
    let no_cert = grpcurl(
        &["-cacert", &p(&pki.ca)],
        &["-H", &header, "-d", "{}", addr, "seafbackup.admin.v1.AdminService/Status"],
    );
    assert!(!no_cert.ok(), "grpcurl without a client certificate: {}", no_cert.stdout);
}
