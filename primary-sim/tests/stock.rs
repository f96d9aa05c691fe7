//! Stock seaf-server mode: libraries in seaf-server's own tables on a real MariaDB (started by the
//! `seaf-backup-tests` harness on loopback), the binary serving them with per-library tokens, and
//! the `mutate` actions (revoke, transfer, disown, delete, gc-history) changing what it serves.
//!
//! SQL in these tests selects whole tables and filters in Rust; the one UPDATE formats in only a
//! parsed commit id and a row number.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use seaf_backup_tests::{execute, fresh_database, query};
use seaf_objects::{ObjectId, RepoId};
use seaf_primary_sim::seafile_db::{generated_token, owner_email};
use serde_json::Value;

const SEED: u64 = 5;
const UNKNOWN_REPO: &str = "00000000-1111-4222-8333-444444444444";

/// Generates a tiny tree with `--database-url` into a fresh directory and database; returns the
/// directory, the URL and what `generate` printed.
fn generate_stock(hint: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(hint);
    let out =
        run(&["generate", "--out", dir.path().to_str().unwrap(), "--seed", &SEED.to_string(), "--database-url", &url]);
    (dir, url, out)
}

/// Runs `mutate ACTION --database-url URL ARGS…` and parses its JSON line.
fn mutate(url: &str, action: &str, args: &[&str]) -> Value {
    let mut all = vec!["mutate", action, "--database-url", url];
    all.extend_from_slice(args);
    let out = run(&all);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {out}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["action"], action, "{v}");
    v
}

/// The rows of `table` (all columns but `id`), as strings.
fn rows(url: &str, table: &str, columns: &str) -> Vec<Vec<String>> {
    query(url, &format!("SELECT {columns} FROM {table} ORDER BY id"))
}

/// The rows of `table` whose first selected column is `repo`.
fn rows_of(url: &str, table: &str, columns: &str, repo: &RepoId) -> Vec<Vec<String>> {
    rows(url, table, columns).into_iter().filter(|r| r[0] == repo.as_str()).collect()
}

/// The owner's generated token of the `i`-th library.
fn owner_token(lib: &Lib, i: usize) -> String {
    generated_token(SEED, &lib.repo_id, &owner_email(i))
}

async fn get(c: &reqwest::Client, url: String, token: &str) -> reqwest::Response {
    c.get(url).header("Seafile-Repo-Token", token).send().await.unwrap()
}

async fn status(c: &reqwest::Client, url: String, token: &str) -> u16 {
    get(c, url, token).await.status().as_u16()
}

/// Statuses of commit/HEAD, commit/<head>, permission-check and fs-id-list for `lib` with `token`.
async fn statuses(c: &reqwest::Client, srv: &Server, dir: &Path, lib: &Lib, token: &str) -> [u16; 4] {
    let base = format!("{}/repo/{}", srv.base(false), lib.repo_id);
    let h = head(dir, &lib.repo_id);
    [
        status(c, format!("{base}/commit/HEAD"), token).await,
        status(c, format!("{base}/commit/{h}"), token).await,
        status(c, format!("{base}/permission-check/?op=download"), token).await,
        status(c, format!("{base}/fs-id-list/?server-head={h}"), token).await,
    ]
}

async fn heads_multi(c: &reqwest::Client, srv: &Server, ids: &[&str]) -> serde_json::Map<String, Value> {
    let r = c.post(format!("{}/repo/head-commits-multi", srv.base(true))).json(ids).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap().as_object().unwrap().clone()
}

#[test]
fn generate_writes_seaf_servers_tables_and_rows() {
    let (dir, url, out) = generate_stock("gen_rows");
    // stdout is the same summary as without a database.
    let plain = tempfile::tempdir().unwrap();
    let plain_out = run(&["generate", "--out", plain.path().to_str().unwrap(), "--seed", &SEED.to_string()]);
    let strip_time = |s: &str| s.lines().map(|l| l.rsplit_once(';').map_or(l, |p| p.0).to_owned()).collect::<Vec<_>>();
    assert_eq!(strip_time(&out), strip_time(&plain_out));
    assert_eq!(snapshot(dir.path()), snapshot(plain.path()), "the data directory does not change");

    // Columns and keys exactly as seafile-protocol.md §3 (MariaDB's spelling of the types).
    let db = url.rsplit('/').next().unwrap().to_owned();
    let columns: Vec<Vec<String>> = query(
        &url,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, ''), EXTRA, TABLE_SCHEMA
         FROM information_schema.COLUMNS ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .into_iter()
    .filter(|r| r[6] == db)
    .collect();
    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &columns {
        let mut col = format!("{} {}", r[1], r[2]);
        if r[3] == "NO" {
            col.push_str(" NOT NULL");
        }
        if !r[4].is_empty() && r[4] != "NULL" {
            col.push_str(&format!(" DEFAULT {}", r[4]));
        }
        if !r[5].is_empty() {
            col.push_str(&format!(" {}", r[5]));
        }
        by_table.entry(r[0].clone()).or_default().push(col);
    }
    let id = "id bigint(20) NOT NULL auto_increment";
    let want: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("Repo", vec![id, "repo_id char(37)"]),
        ("Branch", vec![id, "name varchar(10)", "repo_id char(41)", "commit_id char(41)"]),
        ("RepoHead", vec![id, "repo_id char(37)", "branch_name varchar(10)"]),
        ("RepoOwner", vec![id, "repo_id char(37)", "owner_id varchar(255)"]),
        ("OrgRepo", vec![id, "org_id int(11)", "repo_id char(37)", "user varchar(255)"]),
        (
            "RepoInfo",
            vec![
                id,
                "repo_id char(36)",
                "name varchar(255) NOT NULL",
                "update_time bigint(20)",
                "version int(11)",
                "is_encrypted int(11)",
                "last_modifier varchar(255)",
                "status int(11) DEFAULT 0",
                "type varchar(10)",
            ],
        ),
        ("VirtualRepo", vec![id, "repo_id char(36)", "origin_repo char(36)", "path text", "base_commit char(40)"]),
        ("RepoUserToken", vec![id, "repo_id char(37)", "email varchar(255)", "token char(41)"]),
        ("RepoValidSince", vec![id, "repo_id char(37)", "timestamp bigint(20)"]),
        (
            "RepoTrash",
            vec![
                id,
                "repo_id char(36)",
                "repo_name varchar(255)",
                "head_id char(40)",
                "owner_id varchar(255)",
                "size bigint(20)",
                "org_id int(11)",
                "del_time bigint(20)",
            ],
        ),
    ]);
    let got: BTreeMap<&str, Vec<&str>> =
        by_table.iter().map(|(t, c)| (t.as_str(), c.iter().map(String::as_str).collect())).collect();
    assert_eq!(got, want);

    let mut keys: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for r in query(
        &url,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, TABLE_SCHEMA FROM information_schema.STATISTICS
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    ) {
        if r[4] == db {
            keys.entry((r[0].clone(), r[1].clone())).or_insert_with(|| (r[2] == "0", Vec::new())).1.push(r[3].clone());
        }
    }
    let mut got: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for ((table, _), (unique, cols)) in &keys {
        let kind = if *unique { "UNIQUE" } else { "INDEX" };
        got.entry(table.as_str()).or_default().insert(format!("{kind}({})", cols.join(", ")));
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let pk = "UNIQUE(id)";
    let want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        ("Repo", set(&[pk, "UNIQUE(repo_id)"])),
        ("Branch", set(&[pk, "UNIQUE(repo_id, name)"])),
        ("RepoHead", set(&[pk, "UNIQUE(repo_id)"])),
        ("RepoOwner", set(&[pk, "UNIQUE(repo_id)", "INDEX(owner_id)"])),
        ("OrgRepo", set(&[pk, "UNIQUE(org_id, repo_id)", "UNIQUE(repo_id)", "INDEX(org_id, user)", "INDEX(user)"])),
        ("RepoInfo", set(&[pk, "UNIQUE(repo_id)", "INDEX(type)"])),
        ("VirtualRepo", set(&[pk, "UNIQUE(repo_id)", "INDEX(origin_repo)"])),
        ("RepoUserToken", set(&[pk, "UNIQUE(repo_id, token)", "INDEX(token)", "INDEX(email)"])),
        ("RepoValidSince", set(&[pk, "UNIQUE(repo_id)"])),
        ("RepoTrash", set(&[pk, "UNIQUE(repo_id)", "INDEX(owner_id)", "INDEX(org_id)"])),
    ]);
    assert_eq!(got, want);

    // The rows.
    let libs = libraries(dir.path());
    assert_eq!(libs.len(), 5);
    let ids: Vec<String> = libs.iter().map(|l| l.repo_id.to_string()).collect();
    assert_eq!(rows(&url, "Repo", "repo_id").concat(), ids);
    let branches = rows(&url, "Branch", "repo_id, name, commit_id");
    let heads = rows(&url, "RepoHead", "repo_id, branch_name");
    let infos =
        rows(&url, "RepoInfo", "repo_id, name, update_time, version, is_encrypted, last_modifier, status, type");
    assert_eq!((branches.len(), heads.len(), infos.len()), (5, 5, 5));
    for (i, lib) in libs.iter().enumerate() {
        let h = head(dir.path(), &lib.repo_id);
        assert_eq!(branches[i], vec![ids[i].clone(), "master".into(), h.to_string()]);
        assert_eq!(heads[i], vec![ids[i].clone(), "master".into()]);
        let c = read_commit(dir.path(), &lib.repo_id, &h);
        let want = [
            ids[i].clone(),
            lib.name.clone(),
            c.ctime.to_string(),
            "1".into(),
            (lib.encrypted as u8).to_string(),
            c.creator_name.clone().unwrap(),
            "0".into(),
            "NULL".into(),
        ];
        assert_eq!(infos[i], want);
    }
    let virt: Vec<&Lib> = libs.iter().filter(|l| l.is_virtual).collect();
    assert_eq!(virt.len(), 1);
    let origin = virt[0].origin_repo.clone().unwrap();
    assert_eq!(
        rows(&url, "VirtualRepo", "repo_id, origin_repo, path, base_commit"),
        vec![vec![
            virt[0].repo_id.to_string(),
            origin.to_string(),
            "/Shared Album".into(),
            head(dir.path(), &origin).to_string()
        ]]
    );
    // Owners: user<N>@example.com, the last non-virtual library (index 4) in organisation 1.
    let owners = rows(&url, "RepoOwner", "repo_id, owner_id");
    let want: Vec<Vec<String>> = (0..4).map(|i| vec![ids[i].clone(), owner_email(i)]).collect();
    assert_eq!(owners, want);
    assert_eq!(rows(&url, "OrgRepo", "org_id, repo_id, user"), vec![vec!["1".into(), ids[4].clone(), owner_email(4)]]);
    let tokens = rows(&url, "RepoUserToken", "repo_id, email, token");
    let want: Vec<Vec<String>> =
        libs.iter().enumerate().map(|(i, l)| vec![ids[i].clone(), owner_email(i), owner_token(l, i)]).collect();
    assert_eq!(tokens, want);
    assert!(tokens.iter().all(|t| t[2].len() == 40 && t[2].bytes().all(|b| b.is_ascii_hexdigit())));
    for empty in ["RepoValidSince", "RepoTrash"] {
        assert!(rows(&url, empty, "repo_id").is_empty());
    }
}

#[tokio::test]
async fn stock_serve_checks_tokens_like_seaf_server() {
    let (dir, url, _) = generate_stock("serve_tokens");
    let srv = Server::start_stock(dir.path(), &url, &[]);
    let c = client();
    let libs = libraries(dir.path());
    let (a, b) = (&libs[0], &libs[1]);
    let (ta, tb) = (owner_token(a, 0), owner_token(b, 1));
    let ha = head(dir.path(), &a.repo_id);

    assert_eq!(c.get(format!("{}/protocol-version", srv.base(true))).send().await.unwrap().status(), 200);
    // Missing token: 400 everywhere that needs one.
    for path in [format!("commit/{ha}"), "commit/HEAD".into(), format!("fs-id-list/?server-head={ha}")] {
        let r = c.get(format!("{}/repo/{}/{path}", srv.base(false), a.repo_id)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
    }
    // Every library's owner token works on its own library, both header forms, both prefixes.
    for (i, lib) in libs.iter().enumerate() {
        let t = owner_token(lib, i);
        assert_eq!(statuses(&c, &srv, dir.path(), lib, &t).await, [200; 4], "{} with its owner's token", lib.name);
        let base = format!("{}/repo/{}", srv.base(true), lib.repo_id);
        let r =
            c.get(format!("{base}/commit/HEAD")).header("Authorization", format!("Token {t}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.text().await.unwrap(),
            format!(r#"{{"is_corrupted": 0, "head_commit_id": "{}"}}"#, head(dir.path(), &lib.repo_id))
        );
    }
    // The object endpoints, with the owner token of A.
    let base = format!("{}/repo/{}", srv.base(false), a.repo_id);
    let commit = read_commit(dir.path(), &a.repo_id, &ha);
    let r = get(&c, format!("{base}/commit/{ha}"), &ta).await;
    assert_eq!(r.bytes().await.unwrap(), commit.raw());
    let r = get(&c, format!("{base}/fs-id-list/?server-head={ha}"), &ta).await;
    let listed: Vec<String> = r.json().await.unwrap();
    let listed: BTreeSet<ObjectId> = listed.iter().map(|s| ObjectId::parse(s).unwrap()).collect();
    assert_eq!(listed, expected_fs_id_list(dir.path(), &a.store_id, &commit.root_id, &ObjectId::EMPTY, false));
    let files: Vec<ObjectId> = tree_entries(dir.path(), &a.store_id, &commit.root_id)
        .into_iter()
        .filter(|(_, id, is_dir)| !is_dir && !id.is_empty())
        .map(|(_, id, _)| id)
        .take(3)
        .collect();
    let body = Value::Array(files.iter().map(|f| Value::String(f.to_string())).collect());
    for ep in ["pack-fs", "check-fs", "check-blocks"] {
        let r = c.post(format!("{base}/{ep}")).header("Seafile-Repo-Token", &ta).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{ep}");
        let r = c.post(format!("{base}/{ep}")).header("Seafile-Repo-Token", &tb).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 403, "{ep} with another library's token");
    }
    let seaf_objects::FsObject::File(f) = read_fs(dir.path(), &a.store_id, &files[0]) else { panic!("a file") };
    assert_eq!(status(&c, format!("{base}/block-map/{}", files[0]), &ta).await, 200);
    assert_eq!(status(&c, format!("{base}/block/{}", f.block_ids[0]), &ta).await, 200);
    assert_eq!(status(&c, format!("{base}/block/{}", f.block_ids[0]), &tb).await, 403);

    // Another library's token: 403, commit/HEAD included (no RepoUserToken row for this library).
    assert_eq!(statuses(&c, &srv, dir.path(), a, &tb).await, [403; 4]);
    // The shared secret of the other mode is no token here.
    assert_eq!(statuses(&c, &srv, dir.path(), a, TOKEN).await, [403; 4]);
    // A valid token of a user who does not own the library: only commit/HEAD (token alone) works.
    let added = mutate(&url, "add-token", &["--library", a.repo_id.as_str(), "--email", "Stranger@Example.com"]);
    assert_eq!(added["email"], "stranger@example.com");
    let stranger = added["token"].as_str().unwrap().to_owned();
    assert_eq!(stranger.len(), 40);
    assert_eq!(statuses(&c, &srv, dir.path(), a, &stranger).await, [200, 403, 403, 403]);
    assert!(rows_of(&url, "RepoUserToken", "repo_id, email, token", &a.repo_id).contains(&vec![
        a.repo_id.to_string(),
        "stranger@example.com".into(),
        stranger.clone()
    ]));
    // An owner's email in another case still owns it (seaf-server lowercases emails).
    let upper =
        mutate(&url, "add-token", &["--library", b.repo_id.as_str(), "--email", "USER2@example.com", "--token", "t0"]);
    assert_eq!(upper["token"], "t0");
    assert_eq!(statuses(&c, &srv, dir.path(), b, "t0").await, [200; 4]);

    // No repo list on a stock server.
    for prefixed in [false, true] {
        let r = get(&c, format!("{}/server-sync/repo-list", srv.base(prefixed)), &ta).await;
        assert_eq!(r.status(), 404);
        let r = get(&c, format!("{}/server-sync/repo-list", srv.base(prefixed)), TOKEN).await;
        assert_eq!(r.status(), 404);
    }
    // head-commits-multi: no token, heads from Branch, unknown ids dropped.
    let mut ask: Vec<&str> = libs.iter().map(|l| l.repo_id.as_str()).collect();
    ask.push(UNKNOWN_REPO);
    let heads = heads_multi(&c, &srv, &ask).await;
    assert_eq!(heads.len(), 5);
    for l in &libs {
        assert_eq!(heads[l.repo_id.as_str()], head(dir.path(), &l.repo_id).to_string());
    }
    let r = c.post(format!("{}/repo/head-commits-multi", srv.base(false))).json(&["nope"]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Unknown library: 444 where seaf-server says so, 403 on the object endpoints (no token row).
    let base = format!("{}/repo/{UNKNOWN_REPO}", srv.base(false));
    assert_eq!(status(&c, format!("{base}/commit/HEAD"), &ta).await, 444);
    assert_eq!(status(&c, format!("{base}/permission-check/?op=download"), &ta).await, 444);
    assert_eq!(status(&c, format!("{base}/commit/{ha}"), &ta).await, 403);

    // The head moves in the database only: the server follows the database, not the files.
    let first = history(dir.path(), &a.repo_id).into_iter().find(|c| c.parent_id.is_none()).unwrap();
    let mut fields: Vec<String> = rows_of(&url, "Branch", "repo_id, id", &a.repo_id).concat();
    let row_id: u64 = fields.pop().unwrap().parse().unwrap();
    let sql = format!("UPDATE Branch SET commit_id = '{}' WHERE id = {row_id}", first.id);
    assert_eq!(execute(&url, &sql), 1);
    let r = get(&c, format!("{}/repo/{}/commit/HEAD", srv.base(false), a.repo_id), &ta).await;
    assert!(r.text().await.unwrap().contains(&first.id.to_string()));
    assert_eq!(heads_multi(&c, &srv, &[a.repo_id.as_str()]).await[a.repo_id.as_str()], first.id.to_string());
    drop(srv);
}

#[tokio::test]
async fn revoke_transfer_disown_and_delete_change_what_is_served() {
    let (dir, url, _) = generate_stock("mutations");
    let srv = Server::start_stock(dir.path(), &url, &[]);
    let c = client();
    let libs = libraries(dir.path());
    let tokens: Vec<String> = libs.iter().enumerate().map(|(i, l)| owner_token(l, i)).collect();
    for (lib, t) in libs.iter().zip(&tokens) {
        assert_eq!(statuses(&c, &srv, dir.path(), lib, t).await, [200; 4]);
    }

    // revoke-tokens: the rows go, the token is refused at once (no cache), HEAD included.
    let a = &libs[0];
    let done = mutate(&url, "revoke-tokens", &["--library", a.repo_id.as_str()]);
    assert_eq!(done["repo_id"], a.repo_id.as_str());
    assert_eq!(done["revoked"], 1);
    assert!(rows_of(&url, "RepoUserToken", "repo_id", &a.repo_id).is_empty());
    assert_eq!(statuses(&c, &srv, dir.path(), a, &tokens[0]).await, [403; 4]);

    // transfer: the old owner's token is still a token (HEAD) but gives no permission.
    let p = &libs[1];
    let done = mutate(&url, "transfer", &["--library", p.repo_id.as_str(), "--to", "new.owner@example.com"]);
    assert_eq!(done["from"], serde_json::json!({"kind": "user", "email": owner_email(1)}));
    assert_eq!(done["to"], "new.owner@example.com");
    assert_eq!(
        rows_of(&url, "RepoOwner", "repo_id, owner_id", &p.repo_id),
        vec![vec![p.repo_id.to_string(), "new.owner@example.com".into()]]
    );
    assert_eq!(statuses(&c, &srv, dir.path(), p, &tokens[1]).await, [200, 403, 403, 403]);
    let new = mutate(&url, "add-token", &["--library", p.repo_id.as_str(), "--email", "new.owner@example.com"]);
    let new = new["token"].as_str().unwrap().to_owned();
    assert_eq!(statuses(&c, &srv, dir.path(), p, &new).await, [200; 4]);

    // transfer of the organisation library changes OrgRepo.user and keeps it in the organisation.
    let org = &libs[4];
    let done = mutate(&url, "transfer", &["--library", org.repo_id.as_str(), "--to", "boss@example.com"]);
    assert_eq!(done["from"], serde_json::json!({"kind": "org", "org_id": 1, "email": owner_email(4)}));
    assert_eq!(
        rows_of(&url, "OrgRepo", "repo_id, org_id, user", &org.repo_id),
        vec![vec![org.repo_id.to_string(), "1".into(), "boss@example.com".into()]]
    );
    assert!(rows_of(&url, "RepoOwner", "repo_id", &org.repo_id).is_empty());
    assert_eq!(statuses(&c, &srv, dir.path(), org, &tokens[4]).await, [200, 403, 403, 403]);

    // disown: a library without an owner; only commit/HEAD answers (protocol §10).
    let enc = &libs[3];
    let done = mutate(&url, "disown", &["--library", enc.repo_id.as_str()]);
    assert_eq!(done["owner"]["email"], owner_email(3));
    assert!(rows_of(&url, "RepoOwner", "repo_id", &enc.repo_id).is_empty());
    assert_eq!(statuses(&c, &srv, dir.path(), enc, &tokens[3]).await, [200, 403, 403, 403]);
    // Giving it an owner again makes the token work.
    let done = mutate(&url, "transfer", &["--library", enc.repo_id.as_str(), "--to", &owner_email(3)]);
    assert_eq!(done["from"], Value::Null);
    assert_eq!(statuses(&c, &srv, dir.path(), enc, &tokens[3]).await, [200; 4]);

    // delete the origin library: it and its virtual library are gone (444), objects stay, trash kept.
    let virt = libs.iter().find(|l| l.is_virtual).unwrap();
    assert_eq!(virt.origin_repo.as_ref(), Some(&p.repo_id));
    let p_head = head(dir.path(), &p.repo_id);
    let done = mutate(&url, "delete", &["--library", p.repo_id.as_str()]);
    assert_eq!(done["head_id"], p_head.to_string());
    assert_eq!(done["repo_name"], "Photos");
    assert_eq!(done["virtual_deleted"], serde_json::json!([virt.repo_id.as_str()]));
    for lib in [p, virt] {
        for table in ["Repo", "Branch", "RepoHead", "RepoOwner", "OrgRepo", "RepoInfo", "VirtualRepo", "RepoUserToken"]
        {
            assert!(rows_of(&url, table, "repo_id", &lib.repo_id).is_empty(), "{table} row of {} left", lib.name);
        }
        let base = format!("{}/repo/{}", srv.base(false), lib.repo_id);
        let t = if lib.repo_id == p.repo_id { &new } else { &tokens[2] };
        assert_eq!(status(&c, format!("{base}/commit/HEAD"), t).await, 444);
        assert_eq!(status(&c, format!("{base}/permission-check/?op=download"), t).await, 444);
        assert_eq!(status(&c, format!("{base}/commit/{}", head(dir.path(), &lib.repo_id)), t).await, 403);
        // The objects stay for GC.
        assert!(obj_path(dir.path(), "commits", &lib.repo_id, &head(dir.path(), &lib.repo_id)).is_file());
    }
    let trash = rows(&url, "RepoTrash", "repo_id, repo_name, head_id, owner_id, size, org_id");
    assert_eq!(
        trash,
        vec![vec![
            p.repo_id.to_string(),
            "Photos".into(),
            p_head.to_string(),
            "new.owner@example.com".into(),
            "0".into(),
            "-1".into()
        ]]
    );
    let ask: Vec<&str> = libs.iter().map(|l| l.repo_id.as_str()).collect();
    let heads = heads_multi(&c, &srv, &ask).await;
    let mut left: Vec<&str> = heads.keys().map(String::as_str).collect();
    left.sort();
    let mut want = vec![libs[0].repo_id.as_str(), libs[3].repo_id.as_str(), libs[4].repo_id.as_str()];
    want.sort();
    assert_eq!(left, want);
    // Deleting it again is an error, not a second trash row.
    let again = std::process::Command::new(BIN)
        .args(["mutate", "delete", "--database-url", &url, "--library", p.repo_id.as_str()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(rows(&url, "RepoTrash", "repo_id").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_moves_the_branch_in_the_database() {
    let (dir, url, _) = generate_stock("commit_branch");
    let srv = Server::start_stock(dir.path(), &url, &[]);
    let c = client();
    let libs = libraries(dir.path());
    let a = &libs[0];
    let before = head(dir.path(), &a.repo_id);
    let data = dir.path().to_str().unwrap().to_owned();

    // A notification listener, to see the same events as in shared-token mode.
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let app = axum::Router::new()
        .route(
            "/events",
            axum::routing::post(
                |axum::extract::State(got): axum::extract::State<std::sync::Arc<std::sync::Mutex<Vec<Value>>>>,
                 body: axum::body::Bytes| async move {
                    got.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let sock = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let events = format!("http://{}/events", sock.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(sock, app).await.unwrap() });

    let args: Vec<String> = [
        "commit",
        "--data",
        &data,
        "--database-url",
        &url,
        "--library",
        a.repo_id.as_str(),
        "--count",
        "3",
        "--events-url",
        &events,
        "--jwt-key",
        "k",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out =
        tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
    let recs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["parent_id"], before.to_string());
    for w in recs.windows(2) {
        assert_eq!(w[1]["parent_id"], w[0]["commit_id"]);
    }
    let new = ObjectId::parse(recs[2]["commit_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        rows_of(&url, "Branch", "repo_id, name, commit_id", &a.repo_id),
        vec![vec![a.repo_id.to_string(), "master".into(), new.to_string()]]
    );
    assert_eq!(head(dir.path(), &a.repo_id), new, "the file branch is kept in step");
    let commit = read_commit(dir.path(), &a.repo_id, &new);
    assert_eq!(
        rows_of(&url, "RepoInfo", "repo_id, update_time, last_modifier", &a.repo_id),
        vec![vec![a.repo_id.to_string(), commit.ctime.to_string(), commit.creator_name.clone().unwrap()]]
    );
    let events: Vec<Value> = got.lock().unwrap().clone();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        serde_json::json!({"type": "repo-update", "content": {"repo_id": a.repo_id.as_str(), "commit_id": new.to_string()}})
    );
    let t = owner_token(a, 0);
    let r = get(&c, format!("{}/repo/{}/commit/HEAD", srv.base(false), a.repo_id), &t).await;
    assert!(r.text().await.unwrap().contains(&new.to_string()));
    assert_eq!(heads_multi(&c, &srv, &[a.repo_id.as_str()]).await[a.repo_id.as_str()], new.to_string());
    check_tree(dir.path());

    // Without --library it commits round-robin to the non-virtual libraries of the database.
    let out = run(&["commit", "--data", &data, "--database-url", &url, "--count", "4"]);
    let repos: BTreeSet<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["repo_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(repos, libs.iter().filter(|l| !l.is_virtual).map(|l| l.repo_id.to_string()).collect());
    let branches = rows(&url, "Branch", "repo_id, commit_id");
    for l in &libs {
        let row = branches.iter().find(|r| r[0] == l.repo_id.as_str()).unwrap();
        assert_eq!(row[1], head(dir.path(), &l.repo_id).to_string(), "{}: database and file agree", l.name);
    }
    task.abort();
}

/// The main line (first parents) from the head, newest first.
fn main_line(dir: &Path, repo: &RepoId) -> Vec<ObjectId> {
    let mut out = vec![head(dir, repo)];
    while let Some(p) = read_commit(dir, repo, out.last().unwrap()).parent_id {
        out.push(p);
    }
    out
}

/// Every fs object and block the given commits' trees reach.
fn reach(dir: &Path, lib: &Lib, commits: &[ObjectId]) -> (BTreeSet<ObjectId>, BTreeSet<ObjectId>) {
    let mut fs = BTreeSet::new();
    let mut blocks = BTreeSet::new();
    for c in commits {
        let root = read_commit(dir, &lib.repo_id, c).root_id;
        if !root.is_empty() {
            fs.insert(root);
        }
        for (_, id, is_dir) in tree_entries(dir, &lib.store_id, &root) {
            if id.is_empty() {
                continue;
            }
            fs.insert(id);
            if !is_dir && let seaf_objects::FsObject::File(f) = read_fs(dir, &lib.store_id, &id) {
                blocks.extend(f.block_ids);
            }
        }
    }
    (fs, blocks)
}

#[tokio::test]
async fn gc_history_removes_old_commits_and_what_only_they_reach() {
    let (dir, url, _) = generate_stock("gc_history");
    let d = dir.path();
    let srv = Server::start_stock(d, &url, &[]);
    let c = client();
    let libs = libraries(d);
    let a = &libs[0];
    let all: Vec<ObjectId> = history(d, &a.repo_id).iter().map(|c| c.id).collect();
    let line = main_line(d, &a.repo_id);
    assert!(line.len() >= 8, "a history worth cutting: {}", line.len());
    let cutoff = read_commit(d, &a.repo_id, &line[2]).ctime;
    let keep: Vec<ObjectId> = all.iter().copied().filter(|id| read_commit(d, &a.repo_id, id).ctime >= cutoff).collect();
    let drop_: Vec<ObjectId> = all.iter().copied().filter(|id| !keep.contains(id)).collect();
    assert!(keep.len() >= 3 && !drop_.is_empty());
    let (keep_fs, keep_blocks) = reach(d, a, &keep);
    let (all_fs, all_blocks) = reach(d, a, &all);
    let fs_before = objects_on_disk(d, "fs").len();
    let blocks_before = objects_on_disk(d, "blocks").len();

    let done =
        mutate(&url, "gc-history", &["--data", d.to_str().unwrap(), "--library", a.repo_id.as_str(), "--keep", "3"]);
    assert_eq!(done["kept_commits"], keep.len());
    assert_eq!(done["removed_commits"], drop_.len());
    assert_eq!(done["valid_since"], cutoff);
    // Exactly what only the removed commits reached is gone (Documents shares its store with no one).
    let want_fs = all_fs.difference(&keep_fs).count();
    let want_blocks = all_blocks.difference(&keep_blocks).count();
    assert!(want_fs > 0 && want_blocks > 0, "old history holds objects of its own");
    assert_eq!(done["removed_fs"], want_fs);
    assert_eq!(done["removed_blocks"], want_blocks);
    assert_eq!(objects_on_disk(d, "fs").len(), fs_before - want_fs);
    assert_eq!(objects_on_disk(d, "blocks").len(), blocks_before - want_blocks);
    for id in &keep {
        assert!(obj_path(d, "commits", &a.repo_id, id).is_file());
    }
    for id in &drop_ {
        assert!(!obj_path(d, "commits", &a.repo_id, id).exists());
    }
    // The kept history is complete: walking it reads every object (read_fs panics otherwise).
    assert_eq!(reach(d, a, &keep), (keep_fs, keep_blocks));
    assert_eq!(
        rows_of(&url, "RepoValidSince", "repo_id, timestamp", &a.repo_id),
        vec![vec![a.repo_id.to_string(), cutoff.to_string()]]
    );
    // What a backup sees: old commits 404, the kept ones and fs-id-list over them 200.
    let t = owner_token(a, 0);
    let base = format!("{}/repo/{}", srv.base(false), a.repo_id);
    assert_eq!(status(&c, format!("{base}/commit/{}", drop_[0]), &t).await, 404);
    assert_eq!(status(&c, format!("{base}/commit/{}", line[2]), &t).await, 200);
    let url_list = format!("{base}/fs-id-list/?server-head={}&client-head={}", line[0], line[2]);
    assert_eq!(status(&c, url_list, &t).await, 200);
    // A second, shorter cut starts from what is left.
    let done =
        mutate(&url, "gc-history", &["--data", d.to_str().unwrap(), "--library", a.repo_id.as_str(), "--keep", "2"]);
    assert_eq!(done["kept_commits"].as_u64().unwrap() + done["removed_commits"].as_u64().unwrap(), keep.len() as u64);

    // On the origin of a virtual library, nothing the virtual library's history reaches goes.
    let origin = &libs[1];
    let virt = libs.iter().find(|l| l.is_virtual).unwrap();
    let virt_all: Vec<ObjectId> = history(d, &virt.repo_id).iter().map(|c| c.id).collect();
    let virt_reach = reach(d, virt, &virt_all);
    let done = mutate(
        &url,
        "gc-history",
        &["--data", d.to_str().unwrap(), "--library", origin.repo_id.as_str(), "--keep", "1"],
    );
    assert!(done["removed_commits"].as_u64().unwrap() > 0);
    assert_eq!(reach(d, virt, &virt_all), virt_reach, "the virtual library's history is intact");
    let origin_head = read_commit(d, &origin.repo_id, &head(d, &origin.repo_id));
    assert!(
        !obj_path(d, "commits", &origin.repo_id, &origin_head.parent_id.unwrap()).exists(),
        "only the head is left"
    );
    check_virtual_store_untouched(d, virt);
}

/// The virtual library still has no fs or block store of its own.
fn check_virtual_store_untouched(dir: &Path, virt: &Lib) {
    for kind in ["fs", "blocks"] {
        assert!(!dir.join("seafile-data/storage").join(kind).join(virt.repo_id.as_str()).exists());
    }
}

#[test]
fn serve_needs_exactly_one_mode() {
    let (dir, url, _) = generate_stock("serve_modes");
    let d = dir.path().to_str().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data", d, "--listen", "127.0.0.1:0"])
        .env_remove("SEAF_SYNC_TOKEN")
        .env_remove("SEAF_PRIMARY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "neither --sync-token nor --database-url");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data", d, "--listen", "127.0.0.1:0", "--sync-token", TOKEN, "--database-url", &url])
        .env_remove("SEAF_SYNC_TOKEN")
        .env_remove("SEAF_PRIMARY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the shared token is not accepted in stock mode");
    // A database without seaf-server's tables is refused at start-up.
    let empty = fresh_database("serve_empty");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data", d, "--listen", "127.0.0.1:0", "--database-url", &empty])
        .env_remove("SEAF_SYNC_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Repo"), "{}", String::from_utf8_lossy(&out.stderr));
}
