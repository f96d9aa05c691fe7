//! The `seaf-backup-gateway` binary: the `listening on` line, startup errors (exit 2), and a clean
//! exit on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn gateway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seaf-backup-gateway"));
    // No SEAF_BACKUP_* from the environment running the tests.
    cmd.env_clear().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn serves_after_printing_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seaf-backup.toml");
    std::fs::write(&path, "[backup]\nsync_token = \"tok\"\n[gateway]\ncoordinator_url = \"http://127.0.0.1:9\"\n")
        .unwrap();
    let mut child = gateway().arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line =
        tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("no address line").unwrap();
    let addr = line.as_deref().and_then(|l| l.strip_prefix("listening on ")).expect("listening on <addr>").to_owned();

    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let resp = client.get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // No jwt_private_key in this file: /events says so.
    let resp = client.post(format!("http://{addr}/events")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("jwt_private_key is not configured"), "{body}");

    let pid = child.id().unwrap() as libc::pid_t;
    // SAFETY: sends a signal to the child this test spawned and still holds.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status =
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("no exit on SIGTERM").unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_missing_sync_token_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seaf-backup.toml");
    std::fs::write(&path, "[gateway]\njwt_private_key = \"k\"\n").unwrap();
    let child = gateway().arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]).spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: configuration: backup.sync_token is required"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout before a successful bind");

    let child = gateway().args(["--config", "no-such-file.toml"]).spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}
