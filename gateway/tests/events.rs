//! `POST /events` against a recording coordinator: good events reach it as one change, every bad
//! request gets its 4xx with a JSON error and reaches nothing; `forward_url` gets what was sent.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::json;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn repo_update_reaches_the_coordinator_as_one_change() {
    bounded(async {
        let coord = start_coordinator().await;
        let gw = start_gateway(&config(&coord.url)).await;
        // seaf-server sets no Content-Type, so curl sends its form default: it must still work.
        let resp = gw
            .client
            .post(gw.url("/events"))
            .header("authorization", format!("Token {}", jwt(KEY)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(repo_update(REPO_A, COMMIT))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(resp).await;
        assert_eq!((status, body), (200, json!({ "accepted": 1 })));
        let calls = coord.recorder.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].source, "events");
        assert_eq!(calls[0].changes.len(), 1);
        assert_eq!((calls[0].changes[0].repo_id.as_str(), calls[0].changes[0].commit_id.as_str()), (REPO_A, COMMIT));

        // The trailing-slash form the real notification server also accepts.
        let resp = gw
            .client
            .post(gw.url("/events/"))
            .header("authorization", format!("Token {}", jwt(KEY)))
            .body(repo_update(REPO_B, COMMIT))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(coord.recorder.calls()[1].changes[0].repo_id, REPO_B);
    })
    .await;
}

#[tokio::test]
async fn other_event_types_are_accepted_but_not_forwarded() {
    bounded(async {
        let coord = start_coordinator().await;
        let gw = start_gateway(&config(&coord.url)).await;
        for body in [
            json!({ "type": "file-lock-changed", "content": { "repo_id": REPO_A, "path": "/a", "change_event": "locked" } }),
            json!({ "type": "folder-perm-changed", "content": { "repo_id": REPO_A } }),
            json!({ "type": "comment-update", "content": {} }),
        ] {
            let resp = gw
                .client
                .post(gw.url("/events"))
                .header("authorization", format!("Token {}", jwt(KEY)))
                .json(&body)
                .send()
                .await
                .unwrap();
            let (status, answer) = status_json(resp).await;
            assert_eq!((status, answer), (200, json!({ "accepted": 0 })), "{body}");
        }
        assert!(coord.recorder.calls().is_empty());
    })
    .await;
}

#[tokio::test]
async fn bad_requests_get_4xx_json_and_reach_nothing() {
    bounded(async {
        let coord = start_coordinator().await;
        let mut cfg = config(&coord.url);
        cfg.gateway.max_body_bytes = 1024;
        let gw = start_gateway(&cfg).await;
        let good = repo_update(REPO_A, COMMIT);
        let exp = now() + 300;
        let none_alg = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&format!(r#"{{"exp":{exp}}}"#)));
        let oversized = json!({ "type": "repo-update", "content": { "repo_id": REPO_A, "commit_id": COMMIT, "pad": "x".repeat(2000) } });

        // (Authorization header, body, expected status, expected message start)
        let cases: Vec<(Option<String>, String, u16, &str)> = vec![
            (None, good.clone(), 401, "missing Authorization header"),
            (Some(format!("Token {}", jwt("another-key"))), good.clone(), 401, "invalid token"),
            (Some(format!("Token {}", jwt_with(Algorithm::HS256, KEY, json!({ "exp": now() - 120 })))), good.clone(), 401, "token expired"),
            (Some(format!("Token {none_alg}")), good.clone(), 401, "invalid token"),
            (Some(format!("Token {}", jwt_with(Algorithm::HS512, KEY, json!({ "exp": exp })))), good.clone(), 401, "invalid token"),
            (Some(format!("Token {}", jwt_with(Algorithm::HS256, KEY, json!({ "sub": "x" })))), good.clone(), 401, "invalid token"),
            (Some(format!("Bearer {}", jwt(KEY))), good.clone(), 401, "Authorization header must be"),
            (Some(format!("Token {SYNC_TOKEN}")), good.clone(), 401, "invalid token"),
            (Some(format!("Token {}", jwt(KEY))), "{\"type\": \"repo-update\", ".into(), 400, "malformed JSON body"),
            (Some(format!("Token {}", jwt(KEY))), "".into(), 400, "empty request body"),
            (Some(format!("Token {}", jwt(KEY))), "[1,2]".into(), 400, "unexpected JSON body"),
            (Some(format!("Token {}", jwt(KEY))), json!({ "type": 5 }).to_string(), 400, "unexpected JSON body"),
            (Some(format!("Token {}", jwt(KEY))), repo_update("../etc", COMMIT), 400, "content.repo_id: invalid library id"),
            (Some(format!("Token {}", jwt(KEY))), repo_update("'; DROP TABLE Branch; --", COMMIT), 400, "content.repo_id: invalid library id"),
            (Some(format!("Token {}", jwt(KEY))), repo_update(&REPO_A.to_uppercase(), COMMIT), 400, "content.repo_id"),
            (Some(format!("Token {}", jwt(KEY))), repo_update(REPO_A, "../../commits/x"), 400, "content.commit_id: invalid object id"),
            (Some(format!("Token {}", jwt(KEY))), repo_update(REPO_A, &"a".repeat(41)), 400, "content.commit_id"),
            (Some(format!("Token {}", jwt(KEY))), json!({ "type": "repo-update", "content": { "repo_id": REPO_A } }).to_string(), 400, "repo-update content: missing field `commit_id`"),
            (Some(format!("Token {}", jwt(KEY))), oversized.to_string(), 413, "request body is larger than 1024 bytes"),
        ];
        for (auth, body, want, msg) in cases {
            let mut req = gw.client.post(gw.url("/events")).header("content-type", "application/json").body(body.clone());
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let got = expect_error(req.send().await.unwrap(), want).await;
            assert!(got.starts_with(msg), "body {body:.80}: got {got:?}, want {msg:?}");
            assert!(!got.contains(KEY) && !got.contains(SYNC_TOKEN), "an error echoes a secret: {got}");
        }
        assert!(coord.recorder.calls().is_empty(), "bad requests reached the coordinator: {:?}", coord.recorder.calls());
    })
    .await;
}

#[tokio::test]
async fn without_a_jwt_key_events_are_refused_with_503() {
    bounded(async {
        let coord = start_coordinator().await;
        let mut cfg = config(&coord.url);
        cfg.gateway.jwt_private_key = Default::default();
        let gw = start_gateway(&cfg).await;
        let resp = gw
            .client
            .post(gw.url("/events"))
            .header("authorization", format!("Token {}", jwt(KEY)))
            .body(repo_update(REPO_A, COMMIT))
            .send()
            .await
            .unwrap();
        let msg = expect_error(resp, 503).await;
        assert!(msg.contains("jwt_private_key is not configured"), "{msg}");
        assert!(coord.recorder.calls().is_empty());
    })
    .await;
}

#[tokio::test]
async fn coordinator_failures_are_503_or_502() {
    bounded(async {
        let gw = start_gateway(&config(&dead_url().await)).await;
        let send = |gw: &TestGateway| {
            gw.client
                .post(gw.url("/events"))
                .header("authorization", format!("Token {}", jwt(KEY)))
                .body(repo_update(REPO_A, COMMIT))
                .send()
        };
        let msg = expect_error(send(&gw).await.unwrap(), 503).await;
        assert!(msg.starts_with("coordinator unavailable"), "{msg}");

        let coord = start_coordinator().await;
        *coord.recorder.fail_with.lock().unwrap() = Some(tonic::Status::internal("broken"));
        let gw = start_gateway(&config(&coord.url)).await;
        let msg = expect_error(send(&gw).await.unwrap(), 502).await;
        assert!(msg.contains("broken"), "{msg}");
        *coord.recorder.fail_with.lock().unwrap() = Some(tonic::Status::unavailable("redis down"));
        assert_eq!(expect_error(send(&gw).await.unwrap(), 503).await, "coordinator unavailable: redis down");
    })
    .await;
}

/// A loopback HTTP server that hands each request's Authorization header and body to the test.
async fn start_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<(Option<String>, Bytes)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                let _ = tx.send((auth, body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

#[tokio::test]
async fn events_are_passed_on_to_forward_url() {
    bounded(async {
        let coord = start_coordinator().await;
        let (url, mut received) = start_receiver().await;
        let mut cfg = config(&coord.url);
        cfg.gateway.forward_url = Some(url.parse().unwrap());
        let gw = start_gateway(&cfg).await;

        for body in [repo_update(REPO_A, COMMIT), json!({ "type": "file-lock-changed", "content": {} }).to_string()] {
            let auth = format!("Token {}", jwt(KEY));
            let resp = gw
                .client
                .post(gw.url("/events"))
                .header("authorization", &auth)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let (got_auth, got_body) =
                tokio::time::timeout(Duration::from_secs(5), received.recv()).await.expect("not passed on").unwrap();
            assert_eq!(got_auth.as_deref(), Some(auth.as_str()));
            assert_eq!(got_body, body.as_bytes());
        }
        assert_eq!(coord.recorder.calls().len(), 1, "only the repo-update goes to the coordinator");

        // Refused events are not passed on.
        let resp = gw.client.post(gw.url("/events")).body(repo_update(REPO_A, COMMIT)).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let resp = gw
            .client
            .post(gw.url("/events"))
            .header("authorization", format!("Token {}", jwt(KEY)))
            .body(repo_update("../etc", COMMIT))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(tokio::time::timeout(Duration::from_millis(300), received.recv()).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_dead_forward_url_does_not_fail_the_event() {
    bounded(async {
        let coord = start_coordinator().await;
        let mut cfg = config(&coord.url);
        cfg.gateway.forward_url = Some(format!("{}/events", dead_url().await).parse().unwrap());
        let gw = start_gateway(&cfg).await;
        let resp = gw
            .client
            .post(gw.url("/events"))
            .header("authorization", format!("Token {}", jwt(KEY)))
            .body(repo_update(REPO_A, COMMIT))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(resp).await;
        assert_eq!((status, body), (200, json!({ "accepted": 1 })));
        assert_eq!(coord.recorder.calls().len(), 1);
    })
    .await;
}
