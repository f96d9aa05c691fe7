//! `commit`: live changes move branches, keep the store valid, and announce themselves with
//! seaf-server's notification (a JWT-authenticated POST).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::*;
use seaf_objects::ObjectId;
use serde_json::Value;

type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A stand-in notification server on 127.0.0.1 that records what it receives.
async fn listener() -> (String, Received, tokio::task::JoinHandle<()>) {
    let got: Received = Arc::default();
    let app = Router::new()
        .route(
            "/events",
            post(|State(got): State<Received>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                got.lock().unwrap().push((auth, serde_json::from_slice(&body).unwrap()));
                "ok"
            }),
        )
        .with_state(got.clone());
    let sock = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", sock.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(sock, app).await.unwrap();
    });
    (url, got, task)
}

fn commit_lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn run_async(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

#[tokio::test]
async fn commits_move_branches_stay_valid_and_are_announced() {
    let (dir, _) = tiny(21);
    let data = dir.path().to_str().unwrap().to_owned();
    let libs = libraries(dir.path());
    let before: Vec<ObjectId> = libs.iter().map(|l| head(dir.path(), &l.repo_id)).collect();
    let (url, got, task) = listener().await;
    let key = "jwt-secret-for-tests";

    let out = run_async(
        ["commit", "--data", &data, "--count", "6", "--events-url", &url, "--jwt-key", key]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await;
    let lines = commit_lines(&out);
    assert_eq!(lines.len(), 6);

    // Round-robin over the non-virtual libraries, each commit on top of the previous head.
    let regular: Vec<_> = libs.iter().filter(|l| !l.is_virtual).collect();
    for (n, line) in lines.iter().enumerate() {
        let lib = regular[n % regular.len()];
        assert_eq!(line["repo_id"], lib.repo_id.as_str());
        let id = ObjectId::parse(line["commit_id"].as_str().unwrap()).unwrap();
        let commit = read_commit(dir.path(), &lib.repo_id, &id);
        assert_eq!(commit.parent_id.map(|p| p.to_string()).as_deref(), line["parent_id"].as_str());
        assert!(!commit.description.is_empty());
        if n < regular.len() {
            let i = libs.iter().position(|l| l.repo_id == lib.repo_id).unwrap();
            assert_eq!(commit.parent_id, Some(before[i]));
        }
    }
    for lib in &libs {
        let last = lines.iter().rev().find(|l| l["repo_id"] == lib.repo_id.as_str());
        match last {
            Some(l) => assert_eq!(head(dir.path(), &lib.repo_id).to_string(), l["commit_id"]),
            None => assert!(lib.is_virtual, "virtual libraries are left alone"),
        }
    }
    // New objects are valid, and nothing unreachable was written.
    check_tree(dir.path());

    // Six events, each with a valid HS256 token expiring five minutes out.
    let events = got.lock().unwrap().clone();
    assert_eq!(events.len(), 6);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for ((auth, body), line) in events.iter().zip(&lines) {
        assert_eq!(body["type"], "repo-update");
        assert_eq!(body["content"]["repo_id"], line["repo_id"]);
        assert_eq!(body["content"]["commit_id"], line["commit_id"]);
        let token = auth.as_deref().and_then(|a| a.strip_prefix("Token ")).expect("Authorization: Token <JWT>");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims = ["exp".to_owned()].into();
        let data =
            jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()), &v).unwrap();
        let exp = data.claims["exp"].as_u64().unwrap();
        assert!((now + 290..=now + 310).contains(&exp), "exp = now + 300 s");
        let wrong = jsonwebtoken::DecodingKey::from_secret(b"another key");
        assert!(jsonwebtoken::decode::<Value>(token, &wrong, &v).is_err());
    }
    task.abort();
}

#[tokio::test]
async fn one_library_at_a_rate_and_events_are_best_effort() {
    let (dir, _) = tiny(22);
    let data = dir.path().to_str().unwrap().to_owned();
    let libs = libraries(dir.path());
    let virt = libs.iter().find(|l| l.is_virtual).unwrap();
    // Nothing listens on this port: every POST fails, the commits still happen.
    let closed = {
        let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let t = Instant::now();
    let out = run_async(
        [
            "commit",
            "--data",
            &data,
            "--library",
            virt.repo_id.as_str(),
            "--count",
            "3",
            "--rate",
            "10",
            "--events-url",
            &format!("http://{closed}/events"),
            "--jwt-key",
            "k",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(200), "three commits at 10/s take at least 0.2 s");
    let lines = commit_lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["repo_id"] == virt.repo_id.as_str()));
    assert_eq!(head(dir.path(), &virt.repo_id).to_string(), lines[2]["commit_id"]);
    // A virtual library's new objects go to its origin's store.
    check_tree(dir.path());
}

#[test]
fn commit_to_an_encrypted_library_keeps_its_fields() {
    let (dir, _) = tiny(23);
    let libs = libraries(dir.path());
    let enc = libs.iter().find(|l| l.encrypted).unwrap();
    let old = read_commit(dir.path(), &enc.repo_id, &head(dir.path(), &enc.repo_id));
    run(&["commit", "--data", dir.path().to_str().unwrap(), "--library", enc.repo_id.as_str(), "--count", "2"]);
    let new = read_commit(dir.path(), &enc.repo_id, &head(dir.path(), &enc.repo_id));
    assert!(new.encrypted);
    let field = |c: &seaf_objects::Commit, k: &str| serde_json::from_slice::<Value>(c.raw()).unwrap()[k].clone();
    for k in ["magic", "key", "enc_version"] {
        assert_eq!(field(&old, k), field(&new, k));
    }
    assert!(new.ctime > old.ctime);
    check_tree(dir.path());
}
