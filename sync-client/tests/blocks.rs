//! Block downloads: streaming into a file, hash checks, truncation and timeouts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use seaf_objects::{ObjectError, ObjectId, ObjectKind};
use seaf_sync_client::{SyncClient, SyncError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start() -> (Server, Fixture) {
    let mut fx = Fixture::new();
    let lib = std::mem::take(&mut fx.lib);
    (Server::start(lib).await, fx)
}

/// A fresh, empty destination file, as the store stages it.
async fn empty_file(dir: &tempfile::TempDir) -> (std::path::PathBuf, tokio::fs::File) {
    let path = dir.path().join("block.tmp");
    std::fs::write(&path, b"").unwrap();
    let file = tokio::fs::OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
    (path, file)
}

#[tokio::test]
async fn multi_mib_block_arrives_intact() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let want = server.primary.lib.lock().unwrap().blocks[&fx.block_big].clone();
    let dir = tempfile::tempdir().unwrap();
    for chunked in [false, true] {
        server.primary.chunked_blocks.store(chunked, Ordering::SeqCst);
        let (path, mut file) = empty_file(&dir).await;
        let n = repo.fetch_block(&fx.block_big, true, &mut file).await.unwrap();
        assert_eq!(n, want.len() as u64);
        drop(file);
        assert!(std::fs::read(&path).unwrap() == want, "chunked={chunked}");
    }
    let (path, mut file) = empty_file(&dir).await;
    assert_eq!(repo.fetch_block(&fx.block_small, true, &mut file).await.unwrap(), 35);
    assert_eq!(std::fs::read(&path).unwrap(), b"this is renamed folder.\n\naofsnmayhu");
}

#[tokio::test]
async fn wrong_hash_is_permanent_unless_verification_is_off() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    // The primary serves other bytes under block_small's id (as `skip_block_hash` does, or a
    // corrupted block store: the servers never check what they send).
    let served = pseudo_random(100_000, 3);
    server.primary.lib.lock().unwrap().blocks.insert(fx.block_small, served.clone());
    let dir = tempfile::tempdir().unwrap();

    let (_, mut file) = empty_file(&dir).await;
    let err = repo.fetch_block(&fx.block_small, true, &mut file).await.unwrap_err();
    match &err {
        SyncError::Object(ObjectError::HashMismatch { kind: ObjectKind::Block, id, actual }) => {
            assert_eq!(*id, fx.block_small);
            assert_eq!(*actual, ObjectId::hash_of(&served));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(server.count("/block/"), 1);
    assert!(err.to_string().contains(&fx.block_small.to_string()), "{err}");

    let (path, mut file) = empty_file(&dir).await;
    assert_eq!(repo.fetch_block(&fx.block_small, false, &mut file).await.unwrap(), served.len() as u64);
    drop(file);
    assert!(std::fs::read(&path).unwrap() == served);
}

#[tokio::test]
async fn missing_block_is_a_transient_500_then_check_blocks_tells() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let gone = ObjectId::hash_of(b"gone");
    let dir = tempfile::tempdir().unwrap();
    let (_, mut file) = empty_file(&dir).await;
    let err = repo.fetch_block(&gone, true, &mut file).await.unwrap_err();
    assert!(matches!(err, SyncError::Status { status: 500, .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(server.count(&format!("/block/{gone}")), 3);
    assert_eq!(repo.check_blocks(&[gone, fx.block_big]).await.unwrap(), vec![gone]);

    // Twice 500, then the block.
    server.fault(&format!("/block/{}", fx.block_big), 500, 2);
    let (_, mut file) = empty_file(&dir).await;
    assert!(repo.fetch_block(&fx.block_big, true, &mut file).await.is_ok());
    assert_eq!(server.count(&format!("/block/{}", fx.block_big)), 3);

    // 403 is not retried.
    let (_, mut file) = empty_file(&dir).await;
    let bad = server.client().repo(repo_id(), "wrong".into());
    assert!(matches!(bad.fetch_block(&fx.block_big, true, &mut file).await, Err(SyncError::Auth { status: 403, .. })));
    assert_eq!(server.count(&format!("/block/{}", fx.block_big)), 4);
}

/// What a raw-socket server does on one connection.
#[derive(Clone)]
enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
}

/// A hand-written HTTP/1.1 server on 127.0.0.1: connection `n` (from 0) plays `script(n)` after
/// reading the request head, then closes. Returns the base URL and the connection counter.
async fn raw_server(script: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static) -> (url::Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let steps = script(n);
            tokio::spawn(play(stream, steps));
        }
    });
    (url::Url::parse(&format!("http://{addr}/")).unwrap(), count)
}

async fn play(mut stream: TcpStream, steps: Vec<Step>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    for step in steps {
        match step {
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
        }
    }
    let _ = stream.shutdown().await;
}

fn headers(content_length: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn body_shorter_than_content_length_is_retried() {
    let block = pseudo_random(200_000, 11);
    let id = ObjectId::hash_of(&block);
    let dir = tempfile::tempdir().unwrap();

    // Always cut: transient error after max_retries + 1 attempts.
    let cut = block.clone();
    let (base, count) =
        raw_server(move |_| vec![Step::Write(headers(cut.len())), Step::Write(cut[..70_000].to_vec())]).await;
    let repo = SyncClient::new(test_config(base)).unwrap().repo(repo_id(), TOKEN.into());
    let (_, mut file) = empty_file(&dir).await;
    let err = repo.fetch_block(&id, true, &mut file).await.unwrap_err();
    assert!(matches!(err, SyncError::Truncated { expected: 200_000, received: 70_000, .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // Cut once, then whole: the file holds exactly the block (the partial attempt is gone).
    let full = block.clone();
    let (base, count) = raw_server(move |n| {
        let body = if n == 0 { full[..1000].to_vec() } else { full.clone() };
        vec![Step::Write(headers(full.len())), Step::Write(body)]
    })
    .await;
    let repo = SyncClient::new(test_config(base)).unwrap().repo(repo_id(), TOKEN.into());
    let (path, mut file) = empty_file(&dir).await;
    assert_eq!(repo.fetch_block(&id, true, &mut file).await.unwrap(), block.len() as u64);
    drop(file);
    assert!(std::fs::read(&path).unwrap() == block);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn blocks_have_an_idle_timeout_but_no_total_timeout() {
    let block = pseudo_random(10 * 4096, 5);
    let id = ObjectId::hash_of(&block);
    let dir = tempfile::tempdir().unwrap();

    // Ten chunks 100 ms apart: 1 s in total, over the 400 ms request timeout, yet every wait
    // is short. Succeeds on the first attempt.
    let slow = block.clone();
    let (base, count) = raw_server(move |_| {
        let mut steps = vec![Step::Write(headers(slow.len()))];
        for c in slow.chunks(4096) {
            steps.push(Step::Sleep(Duration::from_millis(100)));
            steps.push(Step::Write(c.to_vec()));
        }
        steps
    })
    .await;
    let mut cfg = test_config(base);
    cfg.request_timeout = Duration::from_millis(400);
    let repo = SyncClient::new(cfg.clone()).unwrap().repo(repo_id(), TOKEN.into());
    let (_, mut file) = empty_file(&dir).await;
    assert_eq!(repo.fetch_block(&id, true, &mut file).await.unwrap(), block.len() as u64);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Half the body, then silence: a network error after each attempt stalls.
    let stall = block.clone();
    let (base, count) = raw_server(move |_| {
        vec![
            Step::Write(headers(stall.len())),
            Step::Write(stall[..4096].to_vec()),
            Step::Sleep(Duration::from_secs(5)),
        ]
    })
    .await;
    cfg.base_url = base;
    let repo = SyncClient::new(cfg).unwrap().repo(repo_id(), TOKEN.into());
    let (_, mut file) = empty_file(&dir).await;
    let started = std::time::Instant::now();
    let err = repo.fetch_block(&id, true, &mut file).await.unwrap_err();
    assert!(matches!(err, SyncError::Network { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test]
async fn metadata_requests_have_a_total_timeout() {
    // Headers, then a body that trickles in past the deadline.
    let (base, count) = raw_server(|_| {
        vec![
            Step::Write(headers(14)),
            Step::Write(b"{\"versi".to_vec()),
            Step::Sleep(Duration::from_millis(300)),
            Step::Write(b"on\": 2}".to_vec()),
        ]
    })
    .await;
    let mut cfg = test_config(base);
    cfg.request_timeout = Duration::from_millis(200);
    cfg.retry.max_retries = 1;
    let err = SyncClient::new(cfg).unwrap().protocol_version().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}
