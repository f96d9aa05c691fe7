//! Metadata endpoints, pack-fs and error mapping against the in-test primary.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use common::*;
use seaf_objects::fs::v1;
use seaf_objects::{FsObject, ObjectError, ObjectId, ObjectKind, RepoId, SeafFile};
use seaf_sync_client::{ClientConfig, RepoListEntry, SyncClient, SyncError};

async fn start() -> (Server, Fixture) {
    let mut fx = Fixture::new();
    let lib = std::mem::take(&mut fx.lib);
    (Server::start(lib).await, fx)
}

#[tokio::test]
async fn base_url_with_and_without_prefix_and_trailing_slash() {
    let (server, fx) = start().await;
    for suffix in ["", "/", "/seafhttp", "/seafhttp/"] {
        let before = server.log().len();
        let client = server.client_at(suffix);
        assert_eq!(client.protocol_version().await.unwrap(), 2, "{suffix}");
        let repo = client.repo(repo_id(), TOKEN.into());
        assert_eq!(repo.head().await.unwrap(), fx.commit2, "{suffix}");
        assert_eq!(repo.commit(&fx.commit1).await.unwrap().root_id, fx.root1);
        assert_eq!(repo.fetch_fs(&[fx.root1]).await.unwrap().len(), 1);
        assert_eq!(repo.fs_id_list(&fx.commit1, None).await.unwrap().len(), 4);
        assert_eq!(
            *server.primary.user_agents.lock().unwrap(),
            HashSet::from([format!("seaf-backup/{}", env!("CARGO_PKG_VERSION"))])
        );
        // Every request went to the prefix that was configured, with no doubled slash.
        let log = server.log();
        let prefix = if suffix.starts_with("/seafhttp") { "/seafhttp/" } else { "/" };
        for line in &log[before..] {
            let path = line.split(' ').nth(1).unwrap();
            assert!(path.starts_with(prefix) && !path.contains("//"), "{suffix}: {line}");
            assert_eq!(path.starts_with("/seafhttp"), suffix.starts_with("/seafhttp"), "{line}");
        }
    }
}

#[tokio::test]
async fn protocol_version_below_two_is_a_permanent_error() {
    let (server, _) = start().await;
    server.primary.protocol_version.store(1, Ordering::SeqCst);
    let err = server.client().protocol_version().await.unwrap_err();
    assert!(matches!(err, SyncError::Protocol(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("version 1"), "{err}");
    assert_eq!(server.count("protocol-version"), 1);
}

#[tokio::test]
async fn wrong_base_url_reads_as_not_found_and_names_the_url() {
    let (server, _) = start().await;
    let err = server.client_at("/seafdav").protocol_version().await.unwrap_err();
    assert!(matches!(err, SyncError::WrongBaseUrl { .. }) && !err.is_transient(), "{err:?}");
    let root = server.client_at("").base_url().clone();
    assert_eq!(
        err.to_string(),
        format!(
            "no sync API at {root}seafdav/ (GET protocol-version answered HTTP 404); nor does {root}seafdav/seafhttp/: \
             check the primary URL's host, port and path"
        )
    );

    // The other form of the URL (here: one /seafhttp less) answers: the error names it.
    let err = server.client_at("/seafhttp/seafhttp").protocol_version().await.unwrap_err();
    let good = format!("{root}seafhttp/");
    assert_eq!(
        err.to_string(),
        format!(
            "no sync API at {good}seafhttp/ (GET protocol-version answered HTTP 404); it answers at {good}: \
             use that as the primary URL"
        )
    );
}

#[tokio::test]
async fn head_and_corrupted_head() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    assert_eq!(repo.head().await.unwrap(), fx.commit2);

    // One {"is_corrupted": 1}, then a good answer: retried transparently.
    server.primary.head_corrupted.store(1, Ordering::SeqCst);
    let before = server.count("commit/HEAD");
    assert_eq!(repo.head().await.unwrap(), fx.commit2);
    assert_eq!(server.count("commit/HEAD") - before, 2);

    // Always corrupted: a transient error after max_retries + 1 attempts.
    server.primary.head_corrupted.store(usize::MAX, Ordering::SeqCst);
    let before = server.count("commit/HEAD");
    let err = repo.head().await.unwrap_err();
    assert!(matches!(&err, SyncError::HeadCorrupted(r) if r.as_str() == REPO), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(server.count("commit/HEAD") - before, 3);
}

#[tokio::test]
async fn commits_are_validated() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let c = repo.commit(&fx.commit2).await.unwrap();
    assert_eq!(c.id, fx.commit2);
    assert_eq!(c.parent_id, Some(fx.commit1));
    assert_eq!(c.raw().as_ref(), &server.primary.lib.lock().unwrap().commits[&fx.commit2][..]);

    // Stored under one id, claiming another.
    let liar = ObjectId::hash_of(b"liar");
    server.primary.lib.lock().unwrap().commits.insert(liar, commit_json(&fx.commit1, REPO, &fx.root1, None));
    let err = repo.commit(&liar).await.unwrap_err();
    assert!(matches!(err, SyncError::Object(ObjectError::BadCommit(_))), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(server.count(&format!("commit/{liar}")), 1);

    // A commit of another library.
    let foreign = ObjectId::hash_of(b"foreign");
    server.primary.lib.lock().unwrap().commits.insert(foreign, commit_json(&foreign, OTHER_REPO, &fx.root1, None));
    assert!(matches!(repo.commit(&foreign).await, Err(SyncError::Object(ObjectError::BadCommit(_)))));

    // Not JSON at all.
    let junk = ObjectId::hash_of(b"junk");
    server.primary.lib.lock().unwrap().commits.insert(junk, b"<html>".to_vec());
    assert!(matches!(repo.commit(&junk).await, Err(SyncError::Object(_))));
}

#[tokio::test]
async fn status_mapping() {
    let (server, fx) = start().await;
    let client = server.client();

    // 404 on a commit.
    let absent = ObjectId::hash_of(b"absent");
    let repo = client.repo(repo_id(), TOKEN.into());
    let err = repo.commit(&absent).await.unwrap_err();
    assert!(matches!(&err, SyncError::NotFound { what } if what.contains(&absent.to_string()) && what.contains(REPO)));
    assert_eq!(err.kind(), "not_found");
    assert_eq!(server.count(&format!("commit/{absent}")), 1);

    // 403: wrong token, exactly one attempt, and the token is in no message.
    let bad = client.repo(repo_id(), "not-the-token".into());
    let before = server.log().len();
    let err = bad.commit(&fx.commit1).await.unwrap_err();
    assert!(matches!(err, SyncError::Auth { status: 403, .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(server.log().len() - before, 1);
    assert!(!err.to_string().contains("not-the-token"));
    assert!(!format!("{bad:?}").contains("not-the-token"));

    // 400 for a missing token is an auth error too.
    let none = client.repo(repo_id(), String::new());
    let before = server.log().len();
    assert!(matches!(none.head().await, Err(SyncError::Auth { status: 400, .. })));
    assert_eq!(server.log().len() - before, 1);

    // A token that cannot be a header value never leaves the process.
    let before = server.log().len();
    assert!(matches!(client.repo(repo_id(), "a\nb".into()).head().await, Err(SyncError::Config(_))));
    assert_eq!(server.log().len(), before);

    // 445 from the primary.
    server.fault("commit/HEAD", 445, 1);
    let err = repo.head().await.unwrap_err();
    assert!(matches!(&err, SyncError::RepoCorrupted(r) if r.as_str() == REPO), "{err:?}");
    assert!(!err.is_transient());

    // 444: the library is gone.
    server.primary.deleted.store(true, Ordering::SeqCst);
    let before = server.count("commit/HEAD");
    let err = repo.head().await.unwrap_err();
    assert!(matches!(&err, SyncError::RepoDeleted(r) if r.as_str() == REPO), "{err:?}");
    assert_eq!(server.count("commit/HEAD") - before, 1);
    assert!(err.to_string().contains(REPO));
}

#[tokio::test]
async fn transient_500s_are_retried() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());

    // Twice 500, then 200.
    server.fault(&format!("commit/{}", fx.commit1), 500, 2);
    assert_eq!(repo.commit(&fx.commit1).await.unwrap().id, fx.commit1);
    assert_eq!(server.count(&format!("commit/{}", fx.commit1)), 3);

    // 500 forever: max_retries + 1 attempts, then a transient error naming the endpoint.
    server.fault("pack-fs", 500, usize::MAX);
    let err = repo.pack_fs(&[fx.root1]).await.unwrap_err();
    assert!(matches!(err, SyncError::Status { status: 500, .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("pack-fs") && err.to_string().contains(REPO), "{err}");
    assert!(err.to_string().contains("injected 500"), "{err}");
    assert_eq!(server.count("pack-fs"), 3);

    // 502/503 from a proxy are retried the same way.
    server.fault("fs-id-list", 503, 1);
    server.fault("fs-id-list", 502, 1);
    assert_eq!(repo.fs_id_list(&fx.commit1, None).await.unwrap().len(), 4);
    assert_eq!(server.count("fs-id-list"), 3);
}

#[tokio::test]
async fn retries_can_be_disabled() {
    let (server, _) = start().await;
    let mut cfg = test_config(server.url(""));
    cfg.retry.max_retries = 0;
    let repo = SyncClient::new(cfg).unwrap().repo(repo_id(), TOKEN.into());
    server.fault("commit/HEAD", 500, usize::MAX);
    assert!(repo.head().await.unwrap_err().is_transient());
    assert_eq!(server.count("commit/HEAD"), 1);
}

#[tokio::test]
async fn connection_refused_is_a_transient_network_error() {
    // A port nobody listens on: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let client = SyncClient::new(test_config(url::Url::parse(&format!("http://{addr}")).unwrap())).unwrap();
    let err = client.protocol_version().await.unwrap_err();
    assert!(matches!(err, SyncError::Network { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(err.kind(), "network");
}

#[tokio::test]
async fn fs_id_list_dedupes_and_passes_client_head() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());

    // Full tree: root, a.txt, b.txt, sub, sub/a.txt (= a.txt) — five entries, four objects.
    let full = repo.fs_id_list(&fx.commit1, None).await.unwrap();
    assert_eq!(full.len(), 4, "{full:?}");
    assert_eq!(full.iter().collect::<HashSet<_>>(), [fx.root1, fx.file_a, fx.file_b, fx.sub].iter().collect());
    assert!(!full.contains(&ObjectId::EMPTY));

    let delta = repo.fs_id_list(&fx.commit2, Some(&fx.commit1)).await.unwrap();
    assert_eq!(delta.iter().collect::<HashSet<_>>(), [fx.root2, fx.file_c].iter().collect());
    let line = server.log().into_iter().find(|l| l.contains("client-head")).unwrap();
    assert!(line.contains(&format!("/fs-id-list/?server-head={}&client-head={}", fx.commit2, fx.commit1)), "{line}");

    // An unknown client-head is a 500 on the primary.
    let err = repo.fs_id_list(&fx.commit2, Some(&ObjectId::hash_of(b"nope"))).await.unwrap_err();
    assert!(matches!(err, SyncError::Status { status: 500, .. }));
}

#[tokio::test]
async fn pack_fs_verifies_and_returns_stored_bytes() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let ids = [fx.root1, fx.file_a, fx.sub, ObjectId::EMPTY, fx.file_a];
    let got = repo.pack_fs(&ids).await.unwrap();
    assert_eq!(got.iter().map(|f| f.id).collect::<Vec<_>>(), vec![fx.root1, fx.file_a, fx.sub]);
    for f in &got {
        assert_eq!(f.stored.as_ref(), &server.stored_fs(&f.id)[..]);
    }
    assert!(matches!(&got[1].object, FsObject::File(SeafFile { block_ids, .. }) if block_ids == &[fx.block_small]));
    assert!(matches!(&got[0].object, FsObject::Dir(_)));
    // Nothing to ask: no request at all.
    let before = server.count("pack-fs");
    assert!(repo.pack_fs(&[ObjectId::EMPTY]).await.unwrap().is_empty());
    assert_eq!(server.count("pack-fs"), before);
}

/// File objects whose stored form is about 300 KiB each (random block ids barely compress).
fn big_fs_objects(lib: &mut Library, n: usize) -> Vec<ObjectId> {
    (0..n)
        .map(|i| {
            let block_ids = pseudo_random(20 * 14_000, 100 + i as u64)
                .chunks(20)
                .map(|c| ObjectId::from_bytes(c.try_into().unwrap()))
                .collect();
            let (id, stored) = v1::encode(&FsObject::File(SeafFile { block_ids, size: 1 }));
            assert!(stored.len() > 250_000);
            lib.fs.insert(id, stored);
            id
        })
        .collect()
}

#[tokio::test]
async fn fetch_fs_survives_the_one_mib_cut() {
    let mut fx = Fixture::new();
    let big = big_fs_objects(&mut fx.lib, 10);
    let mut ids: Vec<ObjectId> = big.clone();
    ids.extend([fx.root1, fx.file_a, fx.file_b, fx.sub]);
    // Duplicates in the input are fetched once.
    ids.extend([big[3], fx.file_a, big[0]]);
    let server = Server::start(std::mem::take(&mut fx.lib)).await;
    let repo = server.client().repo(repo_id(), TOKEN.into());

    let got = repo.fetch_fs(&ids).await.unwrap();
    let unique: HashSet<ObjectId> = ids.iter().copied().collect();
    assert_eq!(got.len(), unique.len());
    assert_eq!(got.iter().map(|f| f.id).collect::<HashSet<_>>(), unique);
    for f in &got {
        assert_eq!(f.stored.as_ref(), &server.stored_fs(&f.id)[..]);
    }
    // ~3 MiB at ≤ ~1.3 MiB per answer: the cut really happened, and every id was asked for
    // only until it came.
    let requests = server.count("pack-fs");
    assert!((3..=6).contains(&requests), "{requests} pack-fs requests");
    let asked: usize = server.primary.pack_batches.lock().unwrap().iter().sum();
    assert!(asked > unique.len(), "ids left out by the cut were asked again");

    // pack_fs alone returns the partial answer.
    let part = repo.pack_fs(&big).await.unwrap();
    assert!(!part.is_empty() && part.len() < big.len(), "{}", part.len());
    assert_eq!(part.iter().map(|f| f.id).collect::<Vec<_>>(), big[..part.len()].to_vec());
}

#[tokio::test]
async fn fetch_fs_asks_at_most_a_hundred_ids_at_a_time() {
    let mut fx = Fixture::new();
    let ids: Vec<ObjectId> = (0..250u32)
        .map(|i| {
            let (id, stored) = v1::encode(&file(&[&i.to_be_bytes()]));
            fx.lib.fs.insert(id, stored);
            id
        })
        .collect();
    let server = Server::start(std::mem::take(&mut fx.lib)).await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let got = repo.fetch_fs(&ids).await.unwrap();
    assert_eq!(got.iter().map(|f| f.id).collect::<Vec<_>>(), ids);
    assert_eq!(*server.primary.pack_batches.lock().unwrap(), vec![100, 100, 50]);
}

#[tokio::test]
async fn fetch_fs_fails_instead_of_looping_when_nothing_comes() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    server.set_pack_mode(PackMode::Nothing);
    let err = repo.fetch_fs(&[fx.root1, fx.sub]).await.unwrap_err();
    assert!(matches!(err, SyncError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains(REPO), "{err}");
    assert_eq!(server.count("pack-fs"), 1);
}

#[tokio::test]
async fn unrequested_record_is_rejected() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let stored = server.primary.lib.lock().unwrap().fs[&fx.file_b].clone();
    server.set_pack_mode(PackMode::Unrequested(fx.file_b, stored));
    let err = repo.fetch_fs(&[fx.root1]).await.unwrap_err();
    assert!(matches!(err, SyncError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains(&fx.file_b.to_string()), "{err}");
    assert!(!err.is_transient());
    assert_eq!(server.count("pack-fs"), 1);
}

#[tokio::test]
async fn truncated_pack_is_rejected() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    server.set_pack_mode(PackMode::Truncated);
    let err = repo.fetch_fs(&[fx.root1, fx.file_a]).await.unwrap_err();
    assert!(matches!(err, SyncError::Object(ObjectError::BadPack(_))), "{err:?}");
}

#[tokio::test]
async fn corrupted_fs_object_is_rejected_without_retry() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    // file_a's id now serves file_c's bytes: a valid object, but not this one.
    {
        let mut lib = server.primary.lib.lock().unwrap();
        let other = lib.fs[&fx.file_c].clone();
        lib.fs.insert(fx.file_a, other);
    }
    let err = repo.fetch_fs(&[fx.file_b, fx.file_a]).await.unwrap_err();
    match &err {
        SyncError::Object(ObjectError::HashMismatch { kind: ObjectKind::Fs, id, actual }) => {
            assert_eq!(*id, fx.file_a);
            assert_eq!(*actual, fx.file_c);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(server.count("pack-fs"), 1);
    assert!(err.to_string().contains(&fx.file_a.to_string()));
}

#[tokio::test]
async fn check_fs_and_check_blocks_report_missing_ids() {
    let (server, fx) = start().await;
    let repo = server.client().repo(repo_id(), TOKEN.into());
    let gone_fs = ObjectId::hash_of(b"gone fs");
    let gone_block = ObjectId::hash_of(b"gone block");
    assert_eq!(repo.check_fs(&[fx.root1, gone_fs, ObjectId::EMPTY, fx.file_a, gone_fs]).await.unwrap(), vec![gone_fs]);
    assert_eq!(repo.check_blocks(&[fx.block_small, gone_block, fx.block_big]).await.unwrap(), vec![gone_block]);
    assert!(repo.check_blocks(&[]).await.unwrap().is_empty());

    // Batches of 1000.
    let many: Vec<ObjectId> = (0..2500u32).map(|i| ObjectId::hash_of(&i.to_be_bytes())).collect();
    let before = server.count("check-blocks");
    assert_eq!(repo.check_blocks(&many).await.unwrap(), many);
    assert_eq!(server.count("check-blocks") - before, 3);
}

#[tokio::test]
async fn head_commits_multi_batches_and_parses() {
    let mut fx = Fixture::new();
    let other = RepoId::parse(OTHER_REPO).unwrap();
    fx.lib.other_heads.insert(other.clone(), fx.commit1);
    let server = Server::start(std::mem::take(&mut fx.lib)).await;
    let client = server.client();

    let unknown = RepoId::parse("ffffffff-ffff-4fff-8fff-ffffffffffff").unwrap();
    let heads = client.head_commits_multi(&[repo_id(), other.clone(), unknown.clone(), repo_id()]).await.unwrap();
    assert_eq!(heads.len(), 2);
    assert_eq!(heads[&repo_id()], fx.commit2);
    assert_eq!(heads[&other], fx.commit1);
    assert!(!heads.contains_key(&unknown));
    // No token on this endpoint.
    assert_eq!(*server.primary.multi_batches.lock().unwrap(), vec![3]);

    // 1200 libraries ⇒ 500 + 500 + 200.
    let mut many: Vec<RepoId> =
        (0..1199u32).map(|i| RepoId::parse(&format!("{i:08x}-0000-4000-8000-000000000000")).unwrap()).collect();
    many.push(repo_id());
    server.primary.multi_batches.lock().unwrap().clear();
    let heads = client.head_commits_multi(&many).await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(*server.primary.multi_batches.lock().unwrap(), vec![500, 500, 200]);

    assert!(client.head_commits_multi(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn repo_list_parses_and_needs_the_sync_token() {
    let mut fx = Fixture::new();
    let other = RepoId::parse(OTHER_REPO).unwrap();
    fx.lib.other_heads.insert(other.clone(), fx.commit1);
    let server = Server::start(std::mem::take(&mut fx.lib)).await;
    let client = server.client();
    let list = client.repo_list(SYNC_TOKEN).await.unwrap();
    assert_eq!(
        list,
        vec![
            RepoListEntry {
                repo_id: repo_id(),
                head_commit_id: fx.commit2,
                store_id: repo_id(),
                is_virtual: false,
                name: "test library".into()
            },
            RepoListEntry {
                repo_id: other,
                head_commit_id: fx.commit1,
                store_id: repo_id(),
                is_virtual: true,
                name: String::new()
            },
        ]
    );
    let err = client.repo_list("wrong").await.unwrap_err();
    assert!(matches!(err, SyncError::Auth { status: 403, .. }), "{err:?}");
    assert!(matches!(client.repo_list("").await, Err(SyncError::Auth { status: 400, .. })));
}

#[tokio::test]
async fn client_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, b"hello").unwrap();
    let base = url::Url::parse("https://127.0.0.1:1/seafhttp").unwrap();
    for path in [dir.path().join("absent.pem"), not_pem] {
        let cfg = ClientConfig { extra_root_ca: Some(path), ..ClientConfig::new(base.clone()) };
        assert!(matches!(SyncClient::new(cfg), Err(SyncError::Config(_))));
    }
    let ftp = ClientConfig::new(url::Url::parse("ftp://127.0.0.1/").unwrap());
    assert!(matches!(SyncClient::new(ftp), Err(SyncError::Config(_))));
    let client = SyncClient::new(ClientConfig::new(base)).unwrap();
    assert_eq!(client.base_url().as_str(), "https://127.0.0.1:1/seafhttp/");
}
