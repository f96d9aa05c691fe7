//! Test scaffolding: a recording stand-in for the coordinator (gRPC, loopback), a gateway served on
//! a loopback port, JWT minting, and a bound on every test.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use seaf_backup_gateway::Gateway;
use seaf_backup_proto::internal::coordinator_service_server::{CoordinatorService, CoordinatorServiceServer};
use seaf_backup_proto::internal::*;
use seaf_backup_service::{Config, Secret};
use tonic::{Request, Response, Status};
use tonic_health::server::HealthReporter;

pub const KEY: &str = "test-jwt-private-key";
pub const SYNC_TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
pub const REPO_A: &str = "3f9e4aa5-d6ba-4066-a1d6-81824f422af1";
pub const REPO_B: &str = "00000000-0000-4000-8000-000000000001";
pub const COMMIT: &str = "6e4743af6808cca8db2c7468f34e8363158d3533";

/// Runs `f` with a hard bound, so a hang fails the test instead of stalling the suite.
pub async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("test took longer than 30 s");
}

/// Records every Notify call; answers `accepted` = number of changes, or the configured failure.
#[derive(Clone, Default)]
pub struct Recorder {
    pub calls: Arc<Mutex<Vec<NotifyRequest>>>,
    pub fail_with: Arc<Mutex<Option<Status>>>,
}

impl Recorder {
    pub fn calls(&self) -> Vec<NotifyRequest> {
        self.calls.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl CoordinatorService for Recorder {
    async fn notify(&self, request: Request<NotifyRequest>) -> Result<Response<NotifyResponse>, Status> {
        if let Some(status) = self.fail_with.lock().unwrap().clone() {
            return Err(status);
        }
        let req = request.into_inner();
        let accepted = req.changes.len() as u32;
        self.calls.lock().unwrap().push(req);
        Ok(Response::new(NotifyResponse { accepted }))
    }

    async fn lease(&self, _: Request<LeaseRequest>) -> Result<Response<LeaseResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn heartbeat(&self, _: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn report(&self, _: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// The recording coordinator on a loopback port, with the standard gRPC health service.
pub struct FakeCoordinator {
    pub url: String,
    pub recorder: Recorder,
    pub health: HealthReporter,
}

pub async fn start_coordinator() -> FakeCoordinator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let recorder = Recorder::default();
    let (health, health_service) = tonic_health::server::health_reporter();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(CoordinatorServiceServer::new(recorder.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.unwrap() });
    FakeCoordinator { url, recorder, health }
}

/// A loopback URL where nothing listens.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// The configuration a test gateway starts from: a JWT key, the sync token, `coordinator_url`.
pub fn config(coordinator_url: &str) -> Config {
    let mut c = Config::default();
    c.backup.sync_token = Secret::new(SYNC_TOKEN);
    c.gateway.coordinator_url = coordinator_url.to_owned();
    c.gateway.jwt_private_key = Secret::new(KEY);
    c
}

/// A running gateway and a client for it.
pub struct TestGateway {
    pub base: String,
    pub client: reqwest::Client,
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub async fn start_gateway(config: &Config) -> TestGateway {
    let gw = Gateway::from_config(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(seaf_backup_gateway::serve(listener, gw, std::future::pending()));
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    TestGateway { base, client }
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token as seaf-server mints it: HS256, `exp` only.
pub fn jwt(key: &str) -> String {
    jwt_with(Algorithm::HS256, key, serde_json::json!({ "exp": now() + 300 }))
}

pub fn jwt_with(alg: Algorithm, key: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

pub fn repo_update(repo: &str, commit: &str) -> String {
    serde_json::json!({ "type": "repo-update", "content": { "repo_id": repo, "commit_id": commit } }).to_string()
}

/// Status and parsed JSON body of a response, asserting the body is JSON.
pub async fn status_json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "status {status}: content type {ct:?}, body {text:?}");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}: body {text:?} is not JSON: {e}")))
}

/// The `error` message of a JSON error answer with the expected status.
pub async fn expect_error(resp: reqwest::Response, want: u16) -> String {
    let (status, body) = status_json(resp).await;
    assert_eq!(status, want, "body {body}");
    body["error"].as_str().unwrap_or_else(|| panic!("no error message in {body}")).to_owned()
}
