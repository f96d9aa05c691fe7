//! `POST /v1/notify` and the probes (`/healthz`, `/readyz`, `/ping`) against a recording
//! coordinator.

mod common;

use common::*;
use serde_json::json;
use tonic_health::ServingStatus;

#[tokio::test]
async fn notify_sends_the_distinct_ids() {
    bounded(async {
        let coord = start_coordinator().await;
        let gw = start_gateway(&config(&coord.url)).await;
        let resp = gw
            .client
            .post(gw.url("/v1/notify"))
            .header("authorization", format!("Token {SYNC_TOKEN}"))
            .json(&json!({ "repo_ids": [REPO_A, REPO_B] }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(resp).await;
        assert_eq!((status, body), (200, json!({ "accepted": 2 })));
        let calls = coord.recorder.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].source, "notify");
        let ids: Vec<_> = calls[0].changes.iter().map(|c| (c.repo_id.as_str(), c.commit_id.as_str())).collect();
        assert_eq!(ids, [(REPO_A, ""), (REPO_B, "")]);

        // Seafile-Repo-Token works as well; duplicates collapse into one change.
        let resp = gw
            .client
            .post(gw.url("/v1/notify"))
            .header("seafile-repo-token", SYNC_TOKEN)
            .json(&json!({ "repo_ids": [REPO_B, REPO_B, REPO_B] }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(resp).await;
        assert_eq!((status, body), (200, json!({ "accepted": 1 })));
        assert_eq!(coord.recorder.calls()[1].changes.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn bad_notify_requests_get_4xx_json_and_reach_nothing() {
    bounded(async {
        let coord = start_coordinator().await;
        let mut cfg = config(&coord.url);
        cfg.gateway.max_body_bytes = 4096;
        let gw = start_gateway(&cfg).await;
        let good = json!({ "repo_ids": [REPO_A] }).to_string();
        let token = format!("Token {SYNC_TOKEN}");
        let many: Vec<String> = (0..1001).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
        let json = "application/json";

        // (Authorization header, content type, body, expected status, expected message start)
        let cases: Vec<(Option<String>, &str, String, u16, &str)> = vec![
            (None, json, good.clone(), 401, "missing Authorization header"),
            (Some("Token wrong-token".into()), json, good.clone(), 401, "invalid token"),
            (Some(format!("Token {SYNC_TOKEN}x")), json, good.clone(), 401, "invalid token"),
            (Some(format!("Token {}", jwt(KEY))), json, good.clone(), 401, "invalid token"),
            (Some(SYNC_TOKEN.into()), json, good.clone(), 401, "Authorization header must be"),
            (Some(token.clone()), "text/plain", good.clone(), 415, "expected Content-Type: application/json"),
            (Some(token.clone()), json, "{\"repo_ids\": [".into(), 400, "malformed JSON body"),
            (
                Some(token.clone()),
                json,
                json!({ "repo_id": REPO_A }).to_string(),
                400,
                "unexpected JSON body: missing field `repo_ids`",
            ),
            (Some(token.clone()), json, json!({ "repo_ids": REPO_A }).to_string(), 400, "unexpected JSON body"),
            (Some(token.clone()), json, json!({ "repo_ids": [] }).to_string(), 400, "repo_ids is empty"),
            (
                Some(token.clone()),
                json,
                json!({ "repo_ids": [REPO_A, "../etc"] }).to_string(),
                400,
                "repo_ids[1]: invalid library id \"../etc\"",
            ),
            (
                Some(token.clone()),
                json,
                json!({ "repo_ids": ["1; DROP TABLE Repo"] }).to_string(),
                400,
                "repo_ids[0]: invalid library id",
            ),
            (Some(token.clone()), json, json!({ "repo_ids": [REPO_A, 7] }).to_string(), 400, "unexpected JSON body"),
            (
                Some(token.clone()),
                json,
                json!({ "repo_ids": many }).to_string(),
                413,
                "request body is larger than 4096 bytes",
            ),
        ];
        for (auth, ct, body, want, msg) in cases {
            let mut req = gw.client.post(gw.url("/v1/notify")).header("content-type", ct).body(body.clone());
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let got = expect_error(req.send().await.unwrap(), want).await;
            assert!(got.starts_with(msg), "body {body:.80}: got {got:?}, want {msg:?}");
            assert!(!got.contains(SYNC_TOKEN), "an error echoes the token: {got}");
        }
        let resp =
            gw.client.post(gw.url("/v1/notify")).header("seafile-repo-token", "nope").body(good).send().await.unwrap();
        assert_eq!(expect_error(resp, 401).await, "invalid token");
        assert!(
            coord.recorder.calls().is_empty(),
            "bad requests reached the coordinator: {:?}",
            coord.recorder.calls()
        );
    })
    .await;
}

#[tokio::test]
async fn more_than_1000_ids_are_refused() {
    bounded(async {
        let coord = start_coordinator().await;
        let gw = start_gateway(&config(&coord.url)).await;
        let many: Vec<String> = (0..1001).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
        let resp = gw
            .client
            .post(gw.url("/v1/notify"))
            .header("authorization", format!("Token {SYNC_TOKEN}"))
            .json(&json!({ "repo_ids": many }))
            .send()
            .await
            .unwrap();
        assert!(expect_error(resp, 400).await.contains("at most 1000"));
        assert!(coord.recorder.calls().is_empty());
    })
    .await;
}

#[tokio::test]
async fn notify_with_the_coordinator_down_is_503() {
    bounded(async {
        let gw = start_gateway(&config(&dead_url().await)).await;
        let resp = gw
            .client
            .post(gw.url("/v1/notify"))
            .header("authorization", format!("Token {SYNC_TOKEN}"))
            .json(&json!({ "repo_ids": [REPO_A] }))
            .send()
            .await
            .unwrap();
        assert!(expect_error(resp, 503).await.starts_with("coordinator unavailable"));
    })
    .await;
}

#[tokio::test]
async fn probes() {
    bounded(async {
        let coord = start_coordinator().await;
        let gw = start_gateway(&config(&coord.url)).await;
        let get = |path: &str| gw.client.get(gw.url(path)).send();
        assert_eq!(status_json(get("/healthz").await.unwrap()).await, (200, json!({ "status": "ok" })));
        assert_eq!(status_json(get("/ping").await.unwrap()).await, (200, json!({ "ret": "pong" })));
        assert_eq!(status_json(get("/readyz").await.unwrap()).await, (200, json!({ "status": "ready" })));

        coord.health.set_service_status("", ServingStatus::NotServing).await;
        assert!(expect_error(get("/readyz").await.unwrap(), 503).await.contains("NOT_SERVING"));

        assert_eq!(expect_error(get("/nowhere").await.unwrap(), 404).await, "no such route");
        assert_eq!(expect_error(get("/events").await.unwrap(), 405).await, "method not allowed");
    })
    .await;
}

#[tokio::test]
async fn readyz_is_503_while_the_coordinator_is_down() {
    bounded(async {
        let gw = start_gateway(&config(&dead_url().await)).await;
        let started = std::time::Instant::now();
        let msg = expect_error(gw.client.get(gw.url("/readyz")).send().await.unwrap(), 503).await;
        assert!(msg.starts_with("coordinator health check"), "{msg}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "readyz took {:?}", started.elapsed());
        // The process itself is alive all the same.
        assert_eq!(gw.client.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    })
    .await;
}
