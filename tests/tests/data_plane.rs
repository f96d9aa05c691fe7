//! End to end: the real simulator serves a generated primary over loopback, the real
//! `seaf-backup-fetcher once` backs it up, and the results are checked on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use seaf_backup_tests::{Primary, Proc, SYNC_TOKEN, backup_once, bin, count_files, count_objects, tree_digest, verify};
use serde_json::Value;

fn totals(report: &Value) -> (u64, u64, u64) {
    let t = &report["totals"];
    (
        t["commits"]["objects"].as_u64().unwrap(),
        t["fs"]["objects"].as_u64().unwrap(),
        t["blocks"]["objects"].as_u64().unwrap(),
    )
}

/// The whole primary, full history: every library is backed up, the checker passes, the stored
/// tree equals the primary's byte for byte, and a second run transfers nothing.
#[test]
fn backs_up_every_library_with_full_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "5", "--seed", "7"]);
    primary.serve(&[]);
    let store = dir.path().join("backup");

    let first = backup_once(&primary.url, &store, &["--json"]);
    first.assert_ok();
    let report = first.json();
    let libraries = report["libraries"].as_array().unwrap();
    assert_eq!(libraries.len(), primary.libraries().len());
    for lib in libraries {
        let repo = lib["repo_id"].as_str().unwrap();
        assert_eq!(lib["ok"], true, "{lib}");
        assert_eq!(lib["head"].as_str().unwrap(), primary.head(repo).to_string());
    }
    let (commits, fs, blocks) = totals(&report);
    assert!(commits > 0 && fs > 0 && blocks > 0, "{report}");

    // Byte-for-byte: every object of the primary, and nothing else, is in the backup.
    assert_eq!(tree_digest(&store.join("storage")), tree_digest(&primary.storage()));

    let check = verify(&store, &[]);
    check.assert_ok();
    assert!(
        check.stdout.contains(&format!("{} libraries checked: {0} complete, 0 damaged", libraries.len())),
        "{}",
        check.stdout
    );

    // Up to date: nothing is transferred.
    let again = backup_once(&primary.url, &store, &["--json"]);
    again.assert_ok();
    assert_eq!(totals(&again.json()), (0, 0, 0));
}

/// The human-readable output names each library and ends with a summary.
#[test]
fn prints_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3"]);
    primary.serve(&[]);
    let run = backup_once(&primary.url, &dir.path().join("backup"), &[]);
    run.assert_ok();
    for lib in primary.libraries() {
        let repo = lib["repo_id"].as_str().unwrap();
        assert!(
            run.stdout.lines().any(|l| l.starts_with("ok") && l.contains(repo)),
            "{repo} missing in:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("3 libraries: 3 backed up, 0 failed"), "{}", run.stdout);
}

/// New commits on the primary: the next run fetches only the new objects, still full history.
#[test]
fn incremental_run_fetches_only_new_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "2"]);
    primary.serve(&[]);
    let store = dir.path().join("backup");
    backup_once(&primary.url, &store, &[]).assert_ok();

    primary.sim(&["commit", "--count", "4"]).assert_ok();
    let run = backup_once(&primary.url, &store, &["--json"]);
    run.assert_ok();
    let (commits, fs, _) = totals(&run.json());
    assert_eq!(commits, 4, "{}", run.stdout);
    assert!(fs > 0);
    assert_eq!(tree_digest(&store.join("storage")), tree_digest(&primary.storage()));
    verify(&store, &[]).assert_ok();
}

/// Starts `seaf-backup-fetcher once` into `store` and `kill -9`s it as soon as `watched` holds at
/// least `objects` stored objects (the test fails if that takes longer than `within`).
fn kill_once_when(primary: &Primary, store: &Path, dir: &Path, watched: &Path, objects: usize, within: Duration) {
    let mut cmd = std::process::Command::new(bin("seaf-backup-fetcher"));
    cmd.args(["once", "--primary", &primary.url, "--sync-token", SYNC_TOKEN, "--store"]).arg(store);
    let mut run = Proc::start("seaf-backup-fetcher once", &mut cmd, &dir.join("once.log")).unwrap();
    let deadline = Instant::now() + within;
    while count_objects(watched) < objects {
        assert!(Instant::now() < deadline, "the backup stored fewer than {objects} objects in {}", watched.display());
        std::thread::sleep(Duration::from_millis(2));
    }
    run.kill();
}

/// `kill -9` in the middle of a backup, then a re-run: it completes, transfers only what is
/// missing, and the store is complete.
#[test]
fn resumes_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // Enough blocks for several publish groups (512 blocks each), so a kill lands between two.
    let mut primary = Primary::generate(dir.path(), &["--libraries", "2", "--files", "1500", "--block-size", "4096"]);
    // Slow the primary down so the backup is caught in the middle.
    primary.serve(&["--latency-ms", "15"]);
    let store = dir.path().join("backup");

    let blocks_dir = store.join("storage").join("blocks");
    kill_once_when(&primary, &store, dir.path(), &blocks_dir, 64, Duration::from_secs(60));
    let stored_before = count_objects(&blocks_dir);
    let total_blocks = count_objects(&primary.storage().join("blocks"));
    assert!(
        stored_before < total_blocks,
        "killed too late to test anything ({stored_before} of {total_blocks} blocks)"
    );

    primary.stop();
    primary.serve(&[]);
    let rerun = backup_once(&primary.url, &store, &["--json"]);
    rerun.assert_ok();
    let (_, _, blocks) = totals(&rerun.json());
    assert!(
        blocks as usize <= total_blocks - stored_before,
        "re-run fetched {blocks} blocks, but only {} were missing",
        total_blocks - stored_before
    );
    verify(&store, &[]).assert_ok();
    assert_eq!(tree_digest(&store.join("storage")), tree_digest(&primary.storage()));
    // The tree equality above also proves no temp file was left beside the objects.
    assert_eq!(count_files(&store.join("tmpfiles")), 0, "the writers' journals are gone");
}

/// Every visible fs object under `fs_dir` (one library's `storage/fs/<store id>`), with the
/// closure check of each: a file's blocks, a dir's children must all be visible. Returns the
/// number of visible file and dir objects.
fn check_fs_closures(fs_dir: &Path, blocks_dir: &Path) -> (usize, usize) {
    let (mut files, mut dirs) = (0, 0);
    let visible = |root: &Path, id: &seaf_objects::ObjectId| {
        let hex = id.to_string();
        root.join(&hex[..2]).join(&hex[2..]).is_file()
    };
    for sub in std::fs::read_dir(fs_dir).into_iter().flatten().flatten() {
        for obj in std::fs::read_dir(sub.path()).unwrap().flatten() {
            let name = format!("{}{}", sub.file_name().to_string_lossy(), obj.file_name().to_string_lossy());
            let Ok(id) = seaf_objects::ObjectId::parse(&name) else { continue };
            let stored = std::fs::read(obj.path()).unwrap();
            match seaf_objects::fs::verify(&id, &stored).unwrap_or_else(|e| panic!("fs object {id}: {e}")) {
                seaf_objects::fs::FsObject::File(f) => {
                    files += 1;
                    for b in f.block_ids.iter().filter(|b| !b.is_empty()) {
                        assert!(visible(blocks_dir, b), "file object {id} is visible without its block {b}");
                    }
                }
                d @ seaf_objects::fs::FsObject::Dir(_) => {
                    dirs += 1;
                    for c in d.fs_children() {
                        assert!(visible(fs_dir, &c), "dir {id} is visible without its child {c}");
                    }
                }
            }
        }
    }
    (files, dirs)
}

/// A commit far larger than one fetch batch: its file objects become visible batch by batch,
/// each after its blocks, and its dirs only at the end. `kill -9` between batches leaves only
/// complete closures, and the re-run fetches only the rest.
#[test]
fn a_large_commit_is_stored_batch_by_batch_and_resumes_between_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "1", "--scale", "many-files", "--files", "10000"]);
    primary.serve(&["--latency-ms", "2"]);
    let store = dir.path().join("backup");
    let fs_root = store.join("storage").join("fs");
    // The first batch's file objects appear together, once their blocks are durable.
    kill_once_when(&primary, &store, dir.path(), &fs_root, 1000, Duration::from_secs(120));
    let repo = std::fs::read_dir(&fs_root).unwrap().flatten().next().unwrap().path();
    let blocks = store.join("storage").join("blocks").join(repo.file_name().unwrap());
    let total_fs = count_objects(&primary.storage().join("fs"));
    let (files, dirs) = check_fs_closures(&repo, &blocks);
    assert!(files + dirs < total_fs, "killed too late to test anything ({files} + {dirs} of {total_fs})");
    // A dir is published only after every batch of its commit: none yet, bar the small first
    // commits' trees (all of which are complete, as checked above).
    assert!(dirs < 20, "{dirs} dirs visible in the middle of the large commit");

    primary.stop();
    primary.serve(&[]);
    let rerun = backup_once(&primary.url, &store, &["--json"]);
    rerun.assert_ok();
    let (_, fs, _) = totals(&rerun.json());
    assert!(
        fs as usize <= total_fs - files,
        "re-run fetched {fs} fs objects; {files} file objects were already stored"
    );
    verify(&store, &[]).assert_ok();
    assert_eq!(tree_digest(&store.join("storage")), tree_digest(&primary.storage()));
    let name = repo.file_name().unwrap();
    let on_primary =
        check_fs_closures(&primary.storage().join("fs").join(name), &primary.storage().join("blocks").join(name));
    assert_eq!(check_fs_closures(&repo, &blocks), on_primary);
    assert!(on_primary.0 > 9_000, "{on_primary:?}: not the large commit the test needs");
}

fn damage(primary: &Primary, args: &[&str]) -> Value {
    let mut all = vec!["damage"];
    all.extend_from_slice(args);
    let ran = primary.sim(&all);
    ran.assert_ok();
    serde_json::from_str(ran.stdout.trim()).unwrap()
}

/// A block corrupted on the primary (served with 200, like seaf-server does): the library fails
/// naming the block and nothing corrupt is stored; `--force` completes and lists it as skipped.
#[test]
fn corrupt_block_fails_then_force_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "2"]);
    let victim = damage(&primary, &["--corrupt-block"]);
    let (repo, block) = (victim["repo_id"].as_str().unwrap(), victim["id"].as_str().unwrap());
    primary.serve(&[]);
    let store = dir.path().join("backup");

    let run = backup_once(&primary.url, &store, &["--library", repo]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(block) && run.stdout.contains("corrupt"),
        "the error must name the block:\n{}",
        run.stdout
    );
    let block_path = store.join("storage/blocks").join(repo).join(&block[..2]).join(&block[2..]);
    assert!(!block_path.exists(), "a corrupt block was stored");
    // Nothing names the absent block: no commit was published whose tree needs it.
    assert!(!store.join("seaf-backup/libraries").join(format!("{repo}.json")).exists());

    let forced = backup_once(&primary.url, &store, &["--library", repo, "--force", "--json"]);
    forced.assert_ok();
    let lib = &forced.json()["libraries"][0];
    let skipped = lib["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{lib}");
    assert_eq!((skipped[0]["kind"].as_str(), skipped[0]["id"].as_str()), (Some("block"), Some(block)));
    assert!(!block_path.exists());
    let check = verify(&store, &["--library", repo]);
    check.assert_ok();
    assert!(check.stdout.contains("skipped objects referenced 1 "), "{}", check.stdout);
}

/// An fs object of old history missing on the primary (as after GC): same two behaviours.
#[test]
fn missing_old_fs_object_fails_then_force_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "2"]);
    let victim = damage(&primary, &["--remove-fs", "--old"]);
    let (repo, id) = (victim["repo_id"].as_str().unwrap(), victim["id"].as_str().unwrap());
    primary.serve(&[]);
    let store = dir.path().join("backup");

    let run = backup_once(&primary.url, &store, &["--library", repo]);
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains(id) && run.stdout.contains("missing on the primary"), "{}", run.stdout);

    let forced = backup_once(&primary.url, &store, &["--library", repo, "--force", "--json"]);
    forced.assert_ok();
    let skipped = forced.json()["libraries"][0]["skipped"].clone();
    assert_eq!(skipped.as_array().unwrap().len(), 1, "{skipped}");
    assert_eq!(skipped[0]["id"].as_str(), Some(id));
    assert_eq!(skipped[0]["kind"].as_str(), Some("fs"));
    verify(&store, &["--library", repo]).assert_ok();
    // Without the skip record the same store is reported damaged, naming the object.
    let record = store.join("seaf-backup/libraries").join(format!("{repo}.json"));
    let mut state: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    state["skipped"] = Value::Array(vec![]);
    std::fs::write(&record, serde_json::to_vec(&state).unwrap()).unwrap();
    let damaged = verify(&store, &["--library", repo]);
    assert_eq!(damaged.code, Some(1));
    assert!(damaged.stdout.contains(id), "{}", damaged.stdout);
}

/// A flaky primary (500s and truncated bodies): retries make the backup complete and exact.
#[test]
fn survives_errors_and_truncated_responses() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3"]);
    primary.serve(&["--fail-rate", "0.15", "--truncate-rate", "0.15", "--fault-seed", "3"]);
    let store = dir.path().join("backup");
    let run = seaf_backup_tests::Cmd::new(bin("seaf-backup-fetcher"))
        .args([
            "once",
            "--primary",
            &primary.url,
            "--sync-token",
            SYNC_TOKEN,
            "--retries",
            "10",
            "--retry-delay-ms",
            "5",
            "--store",
        ])
        .args([&store])
        .run();
    run.assert_ok();
    verify(&store, &[]).assert_ok();
    assert_eq!(tree_digest(&store.join("storage")), tree_digest(&primary.storage()));
}

/// `--library` uses only sync-protocol endpoints, behind the `/seafhttp` prefix too; a virtual
/// library keeps its commits under its own id and its fs objects and blocks under the origin's.
#[test]
fn single_library_mode_and_virtual_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "3"]);
    primary.serve(&[]);
    let store = dir.path().join("backup");
    let libs = primary.libraries();
    let virt = libs.iter().find(|l| l["is_virtual"] == true).expect("the simulator makes a virtual library");
    let (vid, origin) = (virt["repo_id"].as_str().unwrap(), virt["origin_repo"].as_str().unwrap());

    let url = format!("{}/seafhttp/", primary.url);
    backup_once(&url, &store, &["--library", origin]).assert_ok();
    backup_once(&url, &store, &["--library", vid, "--store-id", origin]).assert_ok();
    assert!(store.join("storage/commits").join(vid).is_dir());
    assert!(!store.join("storage/fs").join(vid).exists(), "virtual library objects belong under the origin");
    let check = verify(&store, &["--library", vid, "--library", origin]);
    check.assert_ok();
}

/// Bad input from an administrator or a wrong token: a clear error, and nothing is stored.
#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "1"]);
    primary.serve(&[]);
    let store = dir.path().join("backup");

    let bad_id = backup_once(&primary.url, &store, &["--library", "../../etc/passwd"]);
    assert_eq!(bad_id.code, Some(2));
    assert!(bad_id.stderr.contains("invalid library id"), "{}", bad_id.stderr);
    assert!(!store.exists(), "nothing may be created for invalid input");

    let wrong_token = seaf_backup_tests::Cmd::new(bin("seaf-backup-fetcher"))
        .args(["once", "--primary", &primary.url, "--sync-token", "not-the-token", "--store"])
        .args([&store])
        .run();
    assert_ne!(wrong_token.code, Some(0));
    assert!(
        wrong_token.stderr.contains("403") || wrong_token.stderr.to_lowercase().contains("token"),
        "{}",
        wrong_token.stderr
    );
    assert!(!wrong_token.stderr.contains("not-the-token"), "secrets never appear in output");
    assert_eq!(count_files(&store.join("storage")), 0);
}
