//! `generate`: determinism, validity of every object, and the fixtures the backup's tests rely on.

mod common;

use common::*;
use seaf_primary_sim::{GenerateOptions, Scale};

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let (a, _) = tiny(7);
    let (b, _) = tiny(7);
    let (c, _) = tiny(8);
    let (sa, sb) = (snapshot(a.path()), snapshot(b.path()));
    assert!(sa.len() > 100);
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>(), "same files");
    assert!(sa == sb, "same bytes");
    assert_ne!(sa, snapshot(c.path()));
}

#[test]
fn the_binary_is_deterministic_too_and_prints_a_summary() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let args = |d: &tempfile::TempDir| {
        run(&["generate", "--out", d.path().to_str().unwrap(), "--libraries", "4", "--seed", "3", "--scale", "tiny"])
    };
    let out = args(&a);
    args(&b);
    assert_eq!(snapshot(a.path()), snapshot(b.path()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "one line per library and a total: {out}");
    for (line, lib) in lines.iter().zip(libraries(a.path())) {
        assert!(line.starts_with(lib.repo_id.as_str()), "{line}");
        assert!(line.contains(&format!("{:?}", lib.name)) && line.contains("commits=") && line.contains("files="));
    }
    assert!(lines[4].starts_with("total: libraries=4"));
}

#[test]
fn every_object_is_valid_reachable_and_the_fixtures_exist() {
    let (dir, summary) = tiny(1);
    let facts = check_tree(dir.path());
    let libs = libraries(dir.path());
    assert_eq!(libs.len(), 5);
    assert!(facts.merges >= 4, "a merge per non-virtual library: {facts:?}");
    assert_eq!(facts.virtual_libraries, 1);
    assert!(facts.encrypted_commits >= 5);
    assert!(facts.non_ascii_names > 0 && facts.empty_files > 0 && facts.empty_dirs > 0, "{facts:?}");
    assert!(facts.multi_block_files > 0);
    assert!(facts.shared_file_ids > 0, "identical content under two names");
    assert_eq!(facts.first_commits_ok, libs.len(), "one root commit per library");

    // Summary agrees with the tree.
    assert_eq!(summary.libraries.len(), libs.len());
    for (s, l) in summary.libraries.iter().zip(&libs) {
        assert_eq!(s.repo_id, l.repo_id);
        assert_eq!(s.head, head(dir.path(), &l.repo_id));
        assert_eq!(s.commits, history(dir.path(), &l.repo_id).len());
        assert!((8..=14).contains(&s.commits) || l.is_virtual, "about ten commits: {}", s.commits);
        assert!(s.files >= if l.is_virtual { 4 } else { 20 }, "a few dozen files: {}", s.files);
    }
    assert_eq!(summary.written.commits as usize, facts.commits);
}

#[test]
fn virtual_library_roots_are_folders_of_its_origin() {
    let (dir, _) = tiny(2);
    let libs = libraries(dir.path());
    let v = libs.iter().find(|l| l.is_virtual).unwrap();
    let origin = libs.iter().find(|l| Some(&l.repo_id) == v.origin_repo.as_ref()).unwrap();
    let folder = v.origin_path.clone().unwrap();
    // Every folder id the origin's history ever had at that path.
    let mut folder_ids = std::collections::BTreeSet::new();
    for c in history(dir.path(), &origin.repo_id) {
        for (p, id, is_dir) in tree_entries(dir.path(), &origin.store_id, &c.root_id) {
            if is_dir && p == folder {
                folder_ids.insert(id);
            }
        }
    }
    let hist = history(dir.path(), &v.repo_id);
    assert!(hist.len() >= 2);
    for c in &hist {
        assert!(folder_ids.contains(&c.root_id), "virtual root {} is a version of {folder}", c.root_id);
    }
    // The head shows the origin's current folder.
    let origin_head = read_commit(dir.path(), &origin.repo_id, &head(dir.path(), &origin.repo_id));
    let current = tree_entries(dir.path(), &origin.store_id, &origin_head.root_id)
        .into_iter()
        .find(|(p, _, d)| *d && *p == folder)
        .unwrap()
        .1;
    assert_eq!(read_commit(dir.path(), &v.repo_id, &head(dir.path(), &v.repo_id)).root_id, current);
}

#[test]
fn history_edits_leave_file_versions_only_old_commits_reach() {
    let (dir, _) = tiny(4);
    for lib in libraries(dir.path()).iter().filter(|l| !l.is_virtual) {
        let head_root = read_commit(dir.path(), &lib.repo_id, &head(dir.path(), &lib.repo_id)).root_id;
        let now: std::collections::BTreeSet<_> =
            tree_entries(dir.path(), &lib.store_id, &head_root).into_iter().map(|(_, id, _)| id).collect();
        let old: std::collections::BTreeSet<_> = history(dir.path(), &lib.repo_id)
            .iter()
            .flat_map(|c| tree_entries(dir.path(), &lib.store_id, &c.root_id))
            .filter(|(_, id, is_dir)| !is_dir && !id.is_empty())
            .map(|(_, id, _)| id)
            .collect();
        assert!(old.difference(&now).next().is_some(), "{} has file versions only history reaches", lib.name);
    }
}

#[test]
fn options_shape_the_output_and_bad_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = GenerateOptions::new(tmp.path());
    o.libraries = 2;
    o.files = Some(12);
    o.commits = Some(3);
    o.block_size = Some(4096);
    let s = seaf_primary_sim::generate(&o).unwrap();
    assert_eq!(s.libraries.len(), 2);
    for l in &s.libraries {
        assert_eq!(l.commits, 4, "created, upload, merge and its side commit");
    }
    check_tree(tmp.path());
    let err = seaf_primary_sim::generate(&o).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let mut z = GenerateOptions::new(empty.path());
    z.libraries = 0;
    assert!(seaf_primary_sim::generate(&z).is_err());
}

/// The bench layout, shrunk: large files spanning many blocks, bulk folders of small files.
#[test]
fn bench_scale_layout_with_small_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = GenerateOptions::new(tmp.path());
    o.scale = Scale::Bench;
    o.files = Some(300);
    o.block_size = Some(256 << 10);
    o.large_size = Some(3 << 20);
    let s = seaf_primary_sim::generate(&o).unwrap();
    let facts = check_tree(tmp.path());
    assert!(facts.merges >= 4);
    let regular: Vec<_> = s.libraries.iter().filter(|l| !l.is_virtual).collect();
    // Whole bulk folders may have been deleted by the history.
    assert!(regular.iter().map(|l| l.files).sum::<usize>() >= 4 * 250, "{regular:?}");
    assert!(s.written.blocks > 1200);
    let big = s.libraries.iter().map(|l| l.bytes).sum::<u64>();
    assert!(big > 4 * (3 << 20), "four large files: {big}");
}
