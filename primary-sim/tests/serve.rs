//! `serve`: the real binary on loopback, answering the sync protocol over a generated tree.

mod common;

use std::collections::BTreeSet;

use common::*;
use seaf_objects::{FsObject, ObjectId, RepoId};
use serde_json::Value;

const UNKNOWN_REPO: &str = "00000000-1111-4222-8333-444444444444";

async fn get(c: &reqwest::Client, url: String) -> reqwest::Response {
    c.get(url).header("Seafile-Repo-Token", TOKEN).send().await.unwrap()
}

async fn post(c: &reqwest::Client, url: String, body: &Value) -> reqwest::Response {
    c.post(url).header("Seafile-Repo-Token", TOKEN).json(body).send().await.unwrap()
}

fn ids_json(ids: &[ObjectId]) -> Value {
    Value::Array(ids.iter().map(|i| Value::String(i.to_string())).collect())
}

#[tokio::test]
async fn metadata_endpoints_at_root_and_under_seafhttp() {
    let (dir, _) = tiny(11);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let libs = libraries(dir.path());
    for prefixed in [false, true] {
        let base = srv.base(prefixed);
        let r = c.get(format!("{base}/protocol-version")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"version": 2}"#);

        for lib in &libs {
            let r = get(&c, format!("{base}/repo/{}/commit/HEAD", lib.repo_id)).await;
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.text().await.unwrap(),
                format!(r#"{{"is_corrupted": 0, "head_commit_id": "{}"}}"#, head(dir.path(), &lib.repo_id))
            );
            let r = get(&c, format!("{base}/repo/{}/permission-check/?op=download", lib.repo_id)).await;
            assert_eq!(r.status(), 200);
        }
        let r = get(&c, format!("{base}/repo/{UNKNOWN_REPO}/commit/HEAD")).await;
        assert_eq!(r.status(), 444);
        let r = get(&c, format!("{base}/repo/{UNKNOWN_REPO}/permission-check/?op=download")).await;
        assert_eq!(r.status(), 444);
        let r = get(&c, format!("{base}/repo/{}/permission-check/?op=delete", libs[0].repo_id)).await;
        assert_eq!(r.status(), 400);

        // head-commits-multi needs no token and answers only known libraries.
        let mut ask: Vec<Value> = libs.iter().map(|l| Value::String(l.repo_id.to_string())).collect();
        ask.push(Value::String(UNKNOWN_REPO.into()));
        let r = c.post(format!("{base}/repo/head-commits-multi")).json(&ask).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let heads: Value = r.json().await.unwrap();
        let heads = heads.as_object().unwrap();
        assert_eq!(heads.len(), libs.len());
        for lib in &libs {
            assert_eq!(heads[lib.repo_id.as_str()], head(dir.path(), &lib.repo_id).to_string());
        }
        let r = c.post(format!("{base}/repo/head-commits-multi")).json(&["not-a-uuid"]).send().await.unwrap();
        assert_eq!(r.status(), 400);

        // The primary contract's discovery endpoint.
        let r = get(&c, format!("{base}/server-sync/repo-list")).await;
        assert_eq!(r.status(), 200);
        let list: Vec<Value> = r.json().await.unwrap();
        assert_eq!(list.len(), libs.len());
        for (row, lib) in list.iter().zip(&libs) {
            assert_eq!(row["repo_id"], lib.repo_id.as_str());
            assert_eq!(row["head_commit_id"], head(dir.path(), &lib.repo_id).to_string());
            assert_eq!(row["store_id"], lib.store_id.as_str());
            assert_eq!(row["is_virtual"], lib.is_virtual);
            assert_eq!(row["name"], lib.name.as_str());
        }
        let r = c.get(format!("{base}/server-sync/repo-list")).send().await.unwrap();
        assert_eq!(r.status(), 400);
    }
}

#[tokio::test]
async fn tokens_missing_wrong_and_both_header_forms() {
    let (dir, _) = tiny(12);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let lib = &libraries(dir.path())[0];
    let h = head(dir.path(), &lib.repo_id);
    for path in [format!("commit/{h}"), "commit/HEAD".into(), format!("fs-id-list/?server-head={h}")] {
        let url = format!("{}/repo/{}/{path}", srv.base(true), lib.repo_id);
        assert_eq!(c.get(&url).send().await.unwrap().status(), 400, "{path}: no token");
        let wrong = c.get(&url).header("Seafile-Repo-Token", "f".repeat(40)).send().await.unwrap();
        assert_eq!(wrong.status(), 403, "{path}: wrong token");
        let short = c.get(&url).header("Seafile-Repo-Token", &TOKEN[..39]).send().await.unwrap();
        assert_eq!(short.status(), 403, "{path}: a prefix of the token");
        let auth = c.get(&url).header("Authorization", format!("Token {TOKEN}")).send().await.unwrap();
        assert_eq!(auth.status(), 200, "{path}: Authorization: Token");
        let bad_auth = c.get(&url).header("Authorization", "Token nope").send().await.unwrap();
        assert_eq!(bad_auth.status(), 403);
    }
    let r = c
        .post(format!("{}/repo/{}/pack-fs", srv.base(false), lib.repo_id))
        .json(&[h.to_string()])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn commits_blocks_block_maps_and_checks() {
    let (dir, _) = tiny(13);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    for lib in libraries(dir.path()) {
        let base = format!("{}/repo/{}", srv.base(lib.is_virtual), lib.repo_id);
        for commit in history(dir.path(), &lib.repo_id) {
            let r = get(&c, format!("{base}/commit/{}", commit.id)).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.bytes().await.unwrap(), commit.raw(), "stored bytes verbatim");
        }
        let missing = ObjectId::hash_of(b"no such commit");
        assert_eq!(get(&c, format!("{base}/commit/{missing}")).await.status(), 404);

        let root = read_commit(dir.path(), &lib.repo_id, &head(dir.path(), &lib.repo_id)).root_id;
        let mut files = BTreeSet::new();
        for (_, id, is_dir) in tree_entries(dir.path(), &lib.store_id, &root) {
            if !is_dir && !id.is_empty() {
                files.insert(id);
            }
        }
        let mut blocks = BTreeSet::new();
        for f in files.iter().take(8) {
            let FsObject::File(file) = read_fs(dir.path(), &lib.store_id, f) else { panic!() };
            let r = get(&c, format!("{base}/block-map/{f}")).await;
            assert_eq!(r.status(), 200);
            let sizes: Vec<u64> = r.json().await.unwrap();
            assert_eq!(sizes.len(), file.block_ids.len());
            for (b, size) in file.block_ids.iter().zip(sizes) {
                let r = get(&c, format!("{base}/block/{b}")).await;
                assert_eq!(r.status(), 200);
                assert_eq!(r.content_length(), Some(size));
                let data = r.bytes().await.unwrap();
                assert_eq!(data.len() as u64, size);
                assert_eq!(ObjectId::hash_of(&data), *b);
                blocks.insert(*b);
            }
        }
        assert_eq!(get(&c, format!("{base}/block-map/{}", ObjectId::EMPTY)).await.text().await.unwrap(), "[]");
        assert_eq!(get(&c, format!("{base}/block-map/{missing}")).await.status(), 404);
        assert_eq!(get(&c, format!("{base}/block/{missing}")).await.status(), 500);

        // check-fs / check-blocks list exactly what is missing; invalid ids are skipped.
        let mut ask: Vec<Value> = files.iter().map(|i| Value::String(i.to_string())).collect();
        ask.push(Value::String(missing.to_string()));
        ask.push(Value::String(ObjectId::EMPTY.to_string()));
        ask.push(Value::String("XYZ".into()));
        let r = post(&c, format!("{base}/check-fs"), &Value::Array(ask)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Vec<String>>().await.unwrap(), vec![missing.to_string()]);
        let mut ask: Vec<Value> = blocks.iter().map(|i| Value::String(i.to_string())).collect();
        ask.push(Value::String(missing.to_string()));
        let r = post(&c, format!("{base}/check-blocks"), &Value::Array(ask)).await;
        assert_eq!(r.json::<Vec<String>>().await.unwrap(), vec![missing.to_string()]);
    }
}

#[tokio::test]
async fn fs_id_list_matches_its_definition() {
    let (dir, _) = tiny(14);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let mut compared = 0;
    for lib in libraries(dir.path()) {
        let base = format!("{}/repo/{}", srv.base(compared % 2 == 0), lib.repo_id);
        for commit in history(dir.path(), &lib.repo_id) {
            let mut bases: Vec<Option<ObjectId>> = commit.parents().map(Some).collect();
            bases.push(None);
            for client_head in bases {
                for dir_only in [false, true] {
                    let mut url = format!("{base}/fs-id-list/?server-head={}", commit.id);
                    if let Some(ch) = client_head {
                        url.push_str(&format!("&client-head={ch}"));
                    }
                    if dir_only {
                        url.push_str("&dir-only=1");
                    }
                    let r = get(&c, url).await;
                    assert_eq!(r.status(), 200);
                    let got: Vec<String> = r.json().await.unwrap();
                    let got: BTreeSet<ObjectId> = got.iter().map(|s| ObjectId::parse(s).unwrap()).collect();
                    let client_root = client_head
                        .map(|ch| read_commit(dir.path(), &lib.repo_id, &ch).root_id)
                        .unwrap_or(ObjectId::EMPTY);
                    let want = expected_fs_id_list(dir.path(), &lib.store_id, &commit.root_id, &client_root, dir_only);
                    assert_eq!(got, want, "{} at {} vs {client_head:?} (dir-only {dir_only})", lib.name, commit.id);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 150, "{compared}");

    let lib = &libraries(dir.path())[0];
    let base = format!("{}/repo/{}", srv.base(false), lib.repo_id);
    assert_eq!(get(&c, format!("{base}/fs-id-list/")).await.status(), 400, "server-head is required");
    let nope = ObjectId::hash_of(b"nope");
    assert_eq!(get(&c, format!("{base}/fs-id-list/?server-head={nope}")).await.status(), 500);
    let h = head(dir.path(), &lib.repo_id);
    assert_eq!(get(&c, format!("{base}/fs-id-list/?server-head={h}&client-head={nope}")).await.status(), 500);
}

#[tokio::test]
async fn pack_fs_returns_stored_bytes_in_order_and_stops_after_one_mib() {
    let (dir, _) = tiny(15);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let libs = libraries(dir.path());
    let lib = libs.iter().find(|l| l.is_virtual).unwrap();
    let root = read_commit(dir.path(), &lib.repo_id, &head(dir.path(), &lib.repo_id)).root_id;
    let mut ids: Vec<ObjectId> = tree_entries(dir.path(), &lib.store_id, &root)
        .into_iter()
        .filter(|(_, id, _)| !id.is_empty())
        .map(|(_, id, _)| id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ids.insert(0, root);
    let stored = |id: &ObjectId| std::fs::read(obj_path(dir.path(), "fs", &lib.store_id, id)).unwrap();
    let url = format!("{}/repo/{}/pack-fs", srv.base(true), lib.repo_id);

    // A small request comes back whole, in request order, as stored (the virtual library's
    // objects are read from its origin's store).
    let r = post(&c, url.clone(), &ids_json(&ids)).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let records = seaf_objects::packfs::parse(&body).unwrap();
    assert_eq!(records.iter().map(|(i, _)| *i).collect::<Vec<_>>(), ids);
    for (id, data) in &records {
        assert_eq!(*data, &stored(id)[..]);
        seaf_objects::fs::verify(id, data).unwrap();
    }

    // Enough repeats of the same ids to pass 1 MiB: the response ends with the object whose
    // bytes reach the limit.
    let sizes: Vec<usize> = ids.iter().map(|i| stored(i).len()).collect();
    let per_round: usize = sizes.iter().sum();
    let rounds = (1 << 20) / per_round + 3;
    let many: Vec<ObjectId> = (0..rounds).flat_map(|_| ids.iter().copied()).collect();
    let mut total = 0;
    let mut expect = 0;
    for (k, _) in many.iter().enumerate() {
        total += sizes[k % ids.len()];
        expect = k + 1;
        if total >= 1 << 20 {
            break;
        }
    }
    assert!(expect < many.len());
    let r = post(&c, url.clone(), &ids_json(&many)).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let records = seaf_objects::packfs::parse(&body).unwrap();
    assert_eq!(records.len(), expect, "cut right after the crossing object");
    assert_eq!(records.iter().map(|(i, _)| *i).collect::<Vec<_>>(), many[..expect]);
    let object_bytes: usize = records.iter().map(|(_, d)| d.len()).sum();
    assert!(object_bytes >= 1 << 20 && object_bytes - records.last().unwrap().1.len() < 1 << 20);

    // Bad requests.
    assert_eq!(post(&c, url.clone(), &ids_json(&[ObjectId::EMPTY])).await.status(), 400);
    assert_eq!(post(&c, url.clone(), &serde_json::json!(["ABC"])).await.status(), 400);
    assert_eq!(post(&c, url.clone(), &serde_json::json!({"not": "a list"})).await.status(), 400);
    assert_eq!(post(&c, url.clone(), &ids_json(&[root, ObjectId::hash_of(b"missing")])).await.status(), 500);
    let mut past_the_cut = many.clone();
    past_the_cut.push(ObjectId::hash_of(b"missing"));
    assert_eq!(
        post(&c, url.clone(), &ids_json(&past_the_cut)).await.status(),
        500,
        "missing anywhere fails the request"
    );
}

fn damage(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["damage", "--data", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    serde_json::from_str(out.trim()).unwrap()
}

#[tokio::test]
async fn damaged_objects_are_served_like_seaf_server_serves_them() {
    let (dir, _) = tiny(16);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let libs = libraries(dir.path());
    let lib_of = |v: &Value| libs.iter().find(|l| l.repo_id.as_str() == v["repo_id"]).unwrap().clone();
    let id_of = |v: &Value| ObjectId::parse(v["id"].as_str().unwrap()).unwrap();

    // A corrupt block is still served with 200: only its hash gives it away.
    let d = damage(dir.path(), &["--corrupt-block"]);
    assert_eq!((d["kind"].as_str(), d["action"].as_str()), (Some("block"), Some("corrupt")));
    let (lib, id) = (lib_of(&d), id_of(&d));
    let r = get(&c, format!("{}/repo/{}/block/{id}", srv.base(false), lib.repo_id)).await;
    assert_eq!(r.status(), 200);
    let data = r.bytes().await.unwrap();
    assert!(!data.is_empty());
    assert_ne!(ObjectId::hash_of(&data), id);
    let head_root = read_commit(dir.path(), &lib.repo_id, &head(dir.path(), &lib.repo_id)).root_id;
    let in_head = |id: &ObjectId| {
        tree_entries(dir.path(), &lib.store_id, &head_root).iter().any(|(_, i, is_dir)| {
            i == id
                || (!is_dir
                    && !i.is_empty()
                    && matches!(read_fs_opt(dir.path(), &lib.store_id, i), Some(FsObject::File(f)) if f.block_ids.contains(id)))
        })
    };
    assert!(in_head(&id), "without --old the victim is in the head tree");

    // A second run picks another victim (the first is no longer intact).
    let d2 = damage(dir.path(), &["--corrupt-block"]);
    assert_ne!(d2["id"], d["id"]);

    // A removed block: 500, and check-blocks names it.
    let d = damage(dir.path(), &["--remove-block", "--library", lib.repo_id.as_str()]);
    let id = id_of(&d);
    assert_eq!(d["repo_id"], lib.repo_id.as_str());
    let base = format!("{}/repo/{}", srv.base(true), lib.repo_id);
    assert_eq!(get(&c, format!("{base}/block/{id}")).await.status(), 500);
    let r = post(&c, format!("{base}/check-blocks"), &ids_json(&[id])).await;
    assert_eq!(r.json::<Vec<String>>().await.unwrap(), vec![id.to_string()]);

    // A removed file object: pack-fs fails with 500, check-fs names it.
    let d = damage(dir.path(), &["--remove-fs"]);
    assert_eq!((d["kind"].as_str(), d["action"].as_str()), (Some("fs"), Some("remove")));
    let (lib, id) = (lib_of(&d), id_of(&d));
    let base = format!("{}/repo/{}", srv.base(false), lib.repo_id);
    assert_eq!(post(&c, format!("{base}/pack-fs"), &ids_json(&[id])).await.status(), 500);
    let r = post(&c, format!("{base}/check-fs"), &ids_json(&[id])).await;
    assert_eq!(r.json::<Vec<String>>().await.unwrap(), vec![id.to_string()]);
    assert_eq!(get(&c, format!("{base}/block-map/{id}")).await.status(), 404);

    // A corrupt fs object is served as stored and fails verification.
    let d = damage(dir.path(), &["--corrupt-fs"]);
    let (lib, id) = (lib_of(&d), id_of(&d));
    let r = post(&c, format!("{}/repo/{}/pack-fs", srv.base(false), lib.repo_id), &ids_json(&[id])).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let records = seaf_objects::packfs::parse(&body).unwrap();
    assert!(seaf_objects::fs::verify(&id, records[0].1).is_err());

    // A removed dir: fs-id-list over that tree fails with 500.
    let d = damage(dir.path(), &["--remove-fs", "--fs-target", "dir"]);
    let lib = lib_of(&d);
    let h = head(dir.path(), &lib.repo_id);
    let r = get(&c, format!("{}/repo/{}/fs-id-list/?server-head={h}", srv.base(false), lib.repo_id)).await;
    assert_eq!(r.status(), 500);
}

fn read_fs_opt(dir: &std::path::Path, store: &RepoId, id: &ObjectId) -> Option<FsObject> {
    let raw = std::fs::read(obj_path(dir, "fs", store, id)).ok()?;
    seaf_objects::fs::verify(id, &raw).ok()
}

#[test]
fn old_damage_hits_only_history() {
    let (dir, _) = tiny(17);
    let libs = libraries(dir.path());
    for args in [
        &["--corrupt-block", "--old"][..],
        &["--remove-fs", "--old"],
        &["--remove-block", "--old"],
        &["--corrupt-fs", "--old"],
    ] {
        let d = damage(dir.path(), args);
        let id = ObjectId::parse(d["id"].as_str().unwrap()).unwrap();
        let lib = libs.iter().find(|l| l.repo_id.as_str() == d["repo_id"]).unwrap();
        // Not used by any head tree over that store...
        for other in libs.iter().filter(|l| l.store_id == lib.store_id) {
            let root = read_commit(dir.path(), &other.repo_id, &head(dir.path(), &other.repo_id)).root_id;
            for (_, i, is_dir) in tree_entries(dir.path(), &other.store_id, &root) {
                assert_ne!(i, id, "{args:?}: victim in a head tree");
                if !is_dir
                    && !i.is_empty()
                    && d["kind"] == "block"
                    && let Some(FsObject::File(f)) = read_fs_opt(dir.path(), &other.store_id, &i)
                {
                    assert!(!f.block_ids.contains(&id), "{args:?}: victim block in a head file");
                }
            }
        }
        // ...but by some old commit of the library.
        let reached = history(dir.path(), &lib.repo_id).iter().any(|c| {
            tree_entries(dir.path(), &lib.store_id, &c.root_id).iter().any(|(_, i, is_dir)| {
                *i == id
                    || (!is_dir
                        && !i.is_empty()
                        && matches!(read_fs_opt(dir.path(), &lib.store_id, i), Some(FsObject::File(f)) if f.block_ids.contains(&id)))
            })
        });
        assert!(reached, "{args:?}: the victim is in history");
    }
}

#[tokio::test]
async fn faults_fail_truncate_and_delay_reproducibly() {
    let (dir, _) = tiny(18);
    let lib = libraries(dir.path())[0].clone();
    let h = head(dir.path(), &lib.repo_id);
    let root = read_commit(dir.path(), &lib.repo_id, &h).root_id;
    let FsObject::Dir(d) = read_fs(dir.path(), &lib.store_id, &root) else { panic!() };
    let file = d.dirents.iter().find(|e| e.is_file() && !e.id.is_empty()).unwrap().id;
    let FsObject::File(f) = read_fs(dir.path(), &lib.store_id, &file) else { panic!() };
    let block = f.block_ids[0];
    let c = client();

    // Everything fails: object endpoints answer 500; metadata endpoints are untouched.
    let srv = Server::start(dir.path(), &["--fail-rate", "1"]);
    let base = format!("{}/repo/{}", srv.base(true), lib.repo_id);
    assert_eq!(get(&c, format!("{base}/commit/{h}")).await.status(), 500);
    assert_eq!(get(&c, format!("{base}/block/{block}")).await.status(), 500);
    assert_eq!(post(&c, format!("{base}/pack-fs"), &ids_json(&[root])).await.status(), 500);
    assert_eq!(get(&c, format!("{base}/commit/HEAD")).await.status(), 200);
    assert_eq!(c.get(format!("{}/protocol-version", srv.base(true))).send().await.unwrap().status(), 200);
    drop(srv);

    // Every block and pack-fs response is cut short of its declared length.
    let srv = Server::start(dir.path(), &["--truncate-rate", "1"]);
    let base = format!("{}/repo/{}", srv.base(false), lib.repo_id);
    for url in [format!("{base}/block/{block}")] {
        let r = get(&c, url).await;
        assert_eq!(r.status(), 200);
        let declared = r.content_length().unwrap();
        // Either the body comes back short, or (more likely) the client reports the connection
        // closing before the declared length.
        if let Ok(b) = r.bytes().await {
            assert!((b.len() as u64) < declared);
        }
    }
    let r = post(&c, format!("{base}/pack-fs"), &ids_json(&[root, file])).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "a truncated pack-fs body is an incomplete message");
    assert_eq!(get(&c, format!("{base}/commit/{h}")).await.status(), 200, "commits are not truncated");
    drop(srv);

    // Latency is added per object request.
    let srv = Server::start(dir.path(), &["--latency-ms", "150"]);
    let t = std::time::Instant::now();
    assert_eq!(get(&c, format!("{}/repo/{}/commit/{h}", srv.base(false), lib.repo_id)).await.status(), 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
    drop(srv);

    // A fractional rate with a seed gives the same sequence on every run.
    let pattern = |seed: &'static str| {
        let dir = dir.path().to_owned();
        let lib = lib.clone();
        async move {
            let srv = Server::start(&dir, &["--fail-rate", "0.5", "--fault-seed", seed]);
            let mut out = Vec::new();
            for _ in 0..40 {
                out.push(
                    get(&client(), format!("{}/repo/{}/commit/{h}", srv.base(false), lib.repo_id))
                        .await
                        .status()
                        .as_u16(),
                );
            }
            out
        }
    };
    let a = pattern("5").await;
    assert_eq!(a, pattern("5").await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
    assert_ne!(a, pattern("6").await);
}

#[tokio::test]
async fn sees_new_heads_without_restart_and_stops_on_sigterm() {
    let (dir, _) = tiny(19);
    let srv = Server::start(dir.path(), &[]);
    let c = client();
    let lib = libraries(dir.path())[0].clone();
    let before = head(dir.path(), &lib.repo_id);
    run(&["commit", "--data", dir.path().to_str().unwrap(), "--library", lib.repo_id.as_str()]);
    let after = head(dir.path(), &lib.repo_id);
    assert_ne!(before, after);
    let r = get(&c, format!("{}/repo/{}/commit/HEAD", srv.base(true), lib.repo_id)).await;
    assert!(r.text().await.unwrap().contains(&after.to_string()));
    let status = srv.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}
