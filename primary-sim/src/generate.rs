//! Deterministic generation of a primary's data directory.
//!
//! The same options always give a byte-identical tree: every choice and every byte of content
//! comes from ChaCha generators seeded from `--seed` (one per library, so libraries generated in
//! parallel do not disturb each other), and commit times are synthetic.
//!
//! What each library gets (see [`roles`]):
//!
//! * a history: "Created library" with the empty root, an initial upload, commits that add, edit,
//!   rename, move and delete files and folders, and a merge of a side branch forked from an older
//!   commit (two parents, `new_merge`);
//! * fixtures in the head tree: non-ASCII names, names whose byte order differs from their
//!   case-insensitive order, an empty file, empty folders, two files with identical content, files
//!   spanning several blocks (one listing the same block three times), a deep folder;
//! * the second library holds a folder that a **virtual library** shows: the virtual library has
//!   its own commits (roots = that folder's dir ids in the origin) but no fs objects or blocks of
//!   its own;
//! * the fourth library is **encrypted**: `enc_version` 2 fields in every commit, blocks of random
//!   "ciphertext" whose sizes are multiples of 16.
//!
//! Only objects that some commit reaches are written, so the store has no orphans.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seaf_objects::{ObjectId, RepoId};

use crate::commit_json::EncFields;
use crate::content::Fill;
use crate::db::{self, Library};
use crate::layout::Layout;
use crate::library::{CommitSpec, LibState, SizeDist};
use crate::names;
use crate::tree::Node;
use crate::writer::{Store, WriteStats};

/// Fixture size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scale {
    /// A few dozen files per library, ~10 commits each, 64 KiB blocks: generated in milliseconds.
    #[default]
    Tiny,
    /// About 1 GiB: four 200 MiB files and more than 20,000 small files, 8 MiB blocks, a short history.
    Bench,
    /// Many tiny files (1 to 512 bytes, 200,000 by default) in folders of 100, a short history:
    /// a library whose size is its file count, for the memory and incremental-cost benchmarks.
    ManyFiles,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The data directory `DIR` (created if missing; must not already hold a tree).
    pub out: PathBuf,
    pub libraries: usize,
    pub seed: u64,
    pub scale: Scale,
    /// Files in each library's initial upload (default by scale).
    pub files: Option<usize>,
    /// Commits on each library's main line, merge included (default by scale).
    pub commits: Option<usize>,
    /// Fixed block size in bytes (default by scale).
    pub block_size: Option<usize>,
    /// Size of each large file of the `bench` scale (default 200 MiB).
    pub large_size: Option<u64>,
}

impl GenerateOptions {
    pub fn new(out: impl Into<PathBuf>) -> GenerateOptions {
        GenerateOptions {
            out: out.into(),
            libraries: 5,
            seed: 42,
            scale: Scale::Tiny,
            files: None,
            commits: None,
            block_size: None,
            large_size: None,
        }
    }
}

/// What one library ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySummary {
    pub repo_id: RepoId,
    pub name: String,
    pub store_id: RepoId,
    pub is_virtual: bool,
    pub encrypted: bool,
    pub head: ObjectId,
    /// Commits in its history (side branches included).
    pub commits: usize,
    /// Files in the head tree.
    pub files: usize,
    /// Sum of the head tree's file sizes.
    pub bytes: u64,
}

/// The result of a generation.
#[derive(Debug, Clone)]
pub struct Summary {
    pub libraries: Vec<LibrarySummary>,
    /// Objects written (each stored once, however many libraries or paths share it).
    pub written: WriteStats,
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.libraries {
            let kind = match (l.is_virtual, l.encrypted) {
                (true, _) => format!(" (virtual, store {})", l.store_id),
                (false, true) => " (encrypted)".to_owned(),
                _ => String::new(),
            };
            writeln!(
                f,
                "{}  {:<14} commits={:<3} files={:<6} bytes={}{kind}",
                l.repo_id,
                format!("{:?}", l.name),
                l.commits,
                l.files,
                l.bytes
            )?;
        }
        let w = &self.written;
        write!(
            f,
            "total: libraries={} commits={} files={} bytes={}; stored: {} commits, {} fs objects ({} bytes), {} blocks ({} bytes); {:.2}s",
            self.libraries.len(),
            self.libraries.iter().map(|l| l.commits).sum::<usize>(),
            self.libraries.iter().map(|l| l.files).sum::<usize>(),
            self.libraries.iter().map(|l| l.bytes).sum::<u64>(),
            w.commits,
            w.fs_objects,
            w.fs_bytes,
            w.blocks,
            w.block_bytes,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The part each library plays, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Regular,
    /// Regular, and holds the folder [`SHARED_FOLDER`] shown by a virtual library.
    Origin,
    /// A virtual library over [`SHARED_FOLDER`] of library `origin`.
    Virtual {
        origin: usize,
    },
    Encrypted,
}

/// The folder of the origin library that the virtual library shows.
pub const SHARED_FOLDER: &str = "Shared Album";

/// Roles of `n` libraries: Documents, Photos (origin), Shared Album (virtual), Private
/// (encrypted), then regular ones.
pub fn roles(n: usize) -> Vec<Role> {
    (0..n)
        .map(|i| match i {
            1 => Role::Origin,
            2 => Role::Virtual { origin: 1 },
            3 => Role::Encrypted,
            _ => Role::Regular,
        })
        .collect()
}

fn library_name(i: usize) -> String {
    match i {
        0 => "Documents".into(),
        1 => "Photos".into(),
        2 => SHARED_FOLDER.into(),
        3 => "Private".into(),
        4 => "Projects".into(),
        5 => "Team Wiki".into(),
        6 => "Archiv Zürich".into(),
        n => format!("Library {}", n + 1),
    }
}

/// Small files of the `bench` scale, over all non-virtual libraries (fixtures included).
const BENCH_SMALL_FILES: usize = 21_000;

/// Scale-dependent knobs.
#[derive(Debug, Clone)]
struct Params {
    block_size: usize,
    /// Files in each initial upload (fixtures included).
    files: usize,
    /// Main-line commits per library.
    commits: usize,
    /// Large files, spread over the non-virtual libraries, and their size.
    large_files: usize,
    large_size: u64,
    sizes: SizeDist,
    /// Edits only touch files up to this size (so a bench history does not rewrite 200 MiB files).
    edit_max: u64,
    /// Random operations per history commit.
    ops: (usize, usize),
    /// Files per leaf folder in the bulk part of the initial upload (0: place files randomly).
    bulk_per_dir: usize,
    /// Largest folder (in files) a history commit may delete.
    max_dir_delete: usize,
}

impl Params {
    fn new(o: &GenerateOptions, regular_libraries: usize) -> Params {
        match o.scale {
            Scale::Tiny => Params {
                block_size: o.block_size.unwrap_or(64 << 10),
                files: o.files.unwrap_or(40),
                commits: o.commits.unwrap_or(10),
                large_files: 0,
                large_size: 0,
                sizes: SizeDist::Mixed,
                edit_max: u64::MAX,
                ops: (1, 2),
                bulk_per_dir: 0,
                max_dir_delete: usize::MAX,
            },
            Scale::ManyFiles => Params {
                block_size: o.block_size.unwrap_or(64 << 10),
                files: o.files.unwrap_or(200_000),
                commits: o.commits.unwrap_or(3),
                large_files: 0,
                large_size: 0,
                sizes: SizeDist::Tiny,
                edit_max: 1 << 16,
                ops: (1, 2),
                bulk_per_dir: 100,
                max_dir_delete: 60,
            },
            Scale::Bench => Params {
                block_size: o.block_size.unwrap_or(8 << 20),
                files: o.files.unwrap_or(BENCH_SMALL_FILES.div_ceil(regular_libraries.max(1))),
                commits: o.commits.unwrap_or(5),
                large_files: 4,
                large_size: o.large_size.unwrap_or(200 << 20),
                sizes: SizeDist::Small,
                edit_max: 1 << 20,
                ops: (2, 4),
                bulk_per_dir: 50,
                // Keeps the head above 20,000 small files whatever the history does.
                max_dir_delete: 60,
            },
        }
    }
}

/// Generates the data directory described by `opts`.
pub fn generate(opts: &GenerateOptions) -> Result<Summary> {
    let start = Instant::now();
    if opts.libraries == 0 {
        bail!("at least one library is needed");
    }
    if opts.block_size == Some(0) {
        bail!("the block size must be positive");
    }
    let layout = Layout::new(&opts.out);
    for existing in [layout.seafile_data(), layout.db()] {
        if existing.exists() {
            bail!("{} already exists: generate into an empty directory", existing.display());
        }
    }
    std::fs::create_dir_all(layout.tmpfiles()).with_context(|| format!("creating {}", layout.tmpfiles().display()))?;
    let store = Store::new(layout.clone()).with_blocks_staged_in_place();

    let roles = roles(opts.libraries);
    let mut master = ChaCha8Rng::seed_from_u64(opts.seed);
    let ids: Vec<RepoId> = roles.iter().map(|_| names::repo_id(&mut master)).collect();
    let lib_seeds: Vec<[u8; 32]> = roles.iter().map(|_| master.random()).collect();
    let libs: Vec<Library> = roles
        .iter()
        .enumerate()
        .map(|(i, role)| {
            let origin = match role {
                Role::Virtual { origin } => Some(ids[*origin].clone()),
                _ => None,
            };
            Library {
                repo_id: ids[i].clone(),
                name: library_name(i),
                store_id: origin.clone().unwrap_or_else(|| ids[i].clone()),
                is_virtual: origin.is_some(),
                origin_path: origin.as_ref().map(|_| format!("/{SHARED_FOLDER}")),
                origin_repo: origin,
                encrypted: *role == Role::Encrypted,
                version: 1,
            }
        })
        .collect();

    let regular: Vec<usize> = (0..roles.len()).filter(|&i| !matches!(roles[i], Role::Virtual { .. })).collect();
    let params = Params::new(opts, regular.len());
    // Large files go round-robin over the non-virtual libraries.
    let mut large: BTreeMap<usize, usize> = BTreeMap::new();
    for k in 0..params.large_files {
        *large.entry(regular[k % regular.len()]).or_default() += 1;
    }

    // Each non-virtual library is generated with the virtual libraries over it, as one job.
    let jobs: Vec<usize> = regular.clone();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<LibrarySummary>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = jobs.get(k) else { break };
                    let followers: Vec<usize> =
                        (0..roles.len()).filter(|&v| roles[v] == Role::Virtual { origin: i }).collect();
                    let job = Job {
                        store: &store,
                        params: &params,
                        index: i,
                        lib: libs[i].clone(),
                        role: roles[i],
                        seed: lib_seeds[i],
                        large_files: large.get(&i).copied().unwrap_or(0),
                        followers: followers.iter().map(|&v| libs[v].clone()).collect(),
                    };
                    match job.run() {
                        Ok(sums) => results.lock().expect("results lock").extend(sums),
                        Err(e) => errors.lock().expect("errors lock").push(e.context(format!("library {i}"))),
                    }
                }
            });
        }
    });
    if let Some(e) = errors.into_inner().expect("errors lock").into_iter().next() {
        return Err(e);
    }
    let mut summaries = results.into_inner().expect("results lock");
    summaries.sort_by_key(|s| libs.iter().position(|l| l.repo_id == s.repo_id));
    for s in &summaries {
        db::write_head(&layout, &s.repo_id, &s.head, false)?;
    }
    db::save_libraries(&layout, &libs)?;
    Ok(Summary { libraries: summaries, written: store.stats(), elapsed: start.elapsed() })
}

/// One non-virtual library and the virtual libraries over it.
struct Job<'a> {
    store: &'a Store,
    params: &'a Params,
    index: usize,
    lib: Library,
    role: Role,
    seed: [u8; 32],
    large_files: usize,
    followers: Vec<Library>,
}

/// A virtual library tracking a folder of the library being generated.
struct Follower {
    state: LibState,
    folder: String,
    commits: usize,
}

/// The state of one job while it runs.
struct Gen<'a> {
    store: &'a Store,
    p: &'a Params,
    rng: ChaCha8Rng,
    state: LibState,
    ctime: i64,
    commits: usize,
    followers: Vec<Follower>,
}

impl Job<'_> {
    fn run(self) -> Result<Vec<LibrarySummary>> {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        let enc = (self.role == Role::Encrypted).then(|| EncFields {
            enc_version: 2,
            magic: names::random_hex(&mut rng, 32),
            key: names::random_hex(&mut rng, 48),
        });
        let followers = self
            .followers
            .iter()
            .map(|l| Follower { state: LibState::new(l.clone(), None), folder: SHARED_FOLDER.to_owned(), commits: 0 })
            .collect();
        let mut g = Gen {
            store: self.store,
            p: self.params,
            // Synthetic times: each library starts a week after the previous one.
            ctime: 1_700_000_000 + self.index as i64 * 7 * 86_400,
            rng,
            state: LibState::new(self.lib.clone(), enc),
            commits: 0,
            followers,
        };
        g.history(self.role == Role::Origin, self.large_files)?;
        g.summaries()
    }
}

impl Gen<'_> {
    fn tick(&mut self) -> i64 {
        self.ctime += self.rng.random_range(600..86_400);
        self.ctime
    }

    fn commit(&mut self, description: String, who: &str, second_parent: Option<ObjectId>) -> Result<ObjectId> {
        let spec = CommitSpec {
            description: description.clone(),
            creator_name: who.to_owned(),
            ctime: self.ctime,
            second_parent,
            new_merge: second_parent.is_some(),
        };
        let id = self.state.commit(self.store, spec)?;
        self.commits += 1;
        self.sync_followers(&description, who)?;
        Ok(id)
    }

    /// Gives each virtual library a commit when its folder changed in the origin (the server
    /// merges origin changes into virtual libraries after each origin commit).
    fn sync_followers(&mut self, description: &str, who: &str) -> Result<()> {
        for f in &mut self.followers {
            let Some(root) = self.state.tree.dir_id(&f.folder) else { continue };
            let description = match f.state.head {
                None => "Created library".to_owned(),
                Some(head) => {
                    if self.store.read_commit(&f.state.lib.repo_id, &head)?.root_id == root {
                        continue;
                    }
                    description.to_owned()
                }
            };
            let spec = CommitSpec {
                description,
                creator_name: who.to_owned(),
                ctime: self.ctime + 1,
                second_parent: None,
                new_merge: false,
            };
            f.state.commit_root(self.store, root, spec)?;
            f.commits += 1;
        }
        Ok(())
    }

    fn who(&mut self) -> &'static str {
        names::person(&mut self.rng)
    }

    fn put(&mut self, path: &str, size: u64, fill: Fill, protect: bool) -> Result<()> {
        let who = self.who();
        let (store, bs, mtime) = (self.store, self.p.block_size, self.ctime);
        self.state.put_file(store, &mut self.rng, bs, path, size, fill, who, mtime)?;
        if protect {
            self.state.protected.insert(path.to_owned());
        }
        Ok(())
    }

    fn history(&mut self, origin: bool, large_files: usize) -> Result<()> {
        let owner = self.who();
        self.commit("Created library".into(), owner, None)?;
        if self.p.commits < 2 {
            return Ok(());
        }
        self.tick();
        let added = self.initial_upload(origin, large_files)?;
        self.commit(format!("Added \"README.md\" and {} more files.", added - 1), owner, None)?;
        if self.p.commits < 3 {
            return Ok(());
        }
        // History commits are indices 2..commits-1; the merge is the last; the side branch forks
        // off three commits before it.
        let merge_at = self.p.commits - 1;
        let fork_at = merge_at.saturating_sub(3).max(1);
        let mut fork = (fork_at == 1).then(|| self.state.clone());
        for k in 2..merge_at {
            self.tick();
            let who = self.who();
            let mut descriptions = Vec::new();
            if k == 2 {
                // At least one edit, so old history holds file versions the head no longer has.
                if let Some(d) = self.edit(who)? {
                    descriptions.push(d);
                }
                if origin {
                    descriptions.push(self.add_in(SHARED_FOLDER, who)?);
                }
            }
            let n = self.rng.random_range(self.p.ops.0..=self.p.ops.1);
            for _ in 0..n {
                descriptions.push(self.random_op(who)?);
            }
            self.commit(descriptions.join("\n"), who, None)?;
            if k == fork_at {
                fork = Some(self.state.clone());
            }
        }
        let fork = fork.expect("the fork point is a commit before the merge");
        self.merge(fork, origin)
    }

    /// A side branch from `fork` adds one file; the main line then merges it.
    fn merge(&mut self, fork: LibState, origin: bool) -> Result<()> {
        let mut side = fork;
        let dir = if origin { SHARED_FOLDER } else { "" };
        let name = names::file_name(&mut self.rng, |n| {
            let p = names::join(dir, &format!("from laptop - {n}"));
            side.tree.contains(&p) || self.state.tree.contains(&p)
        });
        let path = names::join(dir, &format!("from laptop - {name}"));
        let who = self.who();
        let side_time = self.tick();
        let size = self.p.sizes.sample(&mut self.rng, self.p.block_size);
        side.put_file(self.store, &mut self.rng, self.p.block_size, &path, size, Fill::Random, who, side_time)?;
        let side_id = side.commit(
            self.store,
            CommitSpec {
                description: format!("Added \"{}\".", names::base(&path)),
                creator_name: who.to_owned(),
                ctime: side_time,
                second_parent: None,
                new_merge: false,
            },
        )?;
        self.commits += 1;
        self.tick();
        let mtime = self.ctime;
        self.state.take_from(&side.tree, &path, mtime)?;
        self.commit("Auto merge by system".into(), who, Some(side_id))?;
        Ok(())
    }

    fn edit(&mut self, who: &str) -> Result<Option<String>> {
        let (store, bs, max, sizes, mtime) = (self.store, self.p.block_size, self.p.edit_max, self.p.sizes, self.ctime);
        self.state.op_edit(store, &mut self.rng, bs, max, sizes, who, mtime)
    }

    fn add_in(&mut self, dir: &str, who: &str) -> Result<String> {
        let name = self.state.free_file_name(&mut self.rng, dir);
        let size = self.p.sizes.sample(&mut self.rng, self.p.block_size).max(1);
        let (store, bs, mtime) = (self.store, self.p.block_size, self.ctime);
        self.state.put_file(store, &mut self.rng, bs, &names::join(dir, &name), size, Fill::Random, who, mtime)?;
        Ok(format!("Added \"{name}\"."))
    }

    fn random_op(&mut self, who: &str) -> Result<String> {
        let (store, bs, sizes, mtime) = (self.store, self.p.block_size, self.p.sizes, self.ctime);
        let roll = self.rng.random_range(0..100);
        let done = match roll {
            0..30 => None,
            30..55 => self.edit(who)?,
            55..72 => self.state.op_rename(&mut self.rng, mtime)?,
            72..84 => self.state.op_delete(&mut self.rng, mtime)?,
            84..89 => self.state.op_delete_dir(&mut self.rng, self.p.max_dir_delete, mtime)?,
            89..94 => self.state.op_rename_dir(&mut self.rng, mtime)?,
            _ => Some(self.state.op_mkdir(&mut self.rng, mtime)?),
        };
        match done {
            Some(d) => Ok(d),
            None => {
                let n = self.rng.random_range(1..=3);
                self.state.op_add(store, &mut self.rng, bs, n, sizes, who, mtime)
            }
        }
    }

    /// The first upload: fixtures, the origin's shared folder, large files, then ordinary files.
    /// Returns how many files were added.
    fn initial_upload(&mut self, origin: bool, large_files: usize) -> Result<usize> {
        let bs = self.p.block_size as u64;
        let text = |rng: &mut ChaCha8Rng| rng.random_range(200..4000);
        for path in [
            "README.md",
            "Über.txt",
            "日本語/メモ.txt",
            "🎉 party.md",
            "Zebra.txt",
            "apple.txt",
            "Apple.txt",
            "naïve café.md",
            "docs/deep/er/and/deeper/leaf.txt",
        ] {
            let size = text(&mut self.rng);
            self.put(path, size, Fill::Text, true)?;
        }
        self.put("empty.txt", 0, Fill::Random, true)?;
        let size = text(&mut self.rng);
        self.put("docs/a.txt", size, Fill::Text, true)?;
        // Same content under another name: the same file object (and blocks) twice.
        let Some(Node::File(copy)) = self.state.tree.get("docs/a.txt").cloned() else { unreachable!("just added") };
        self.state.tree.insert_file("docs/copy of a.txt", copy)?;
        self.state.protected.insert("docs/copy of a.txt".into());
        for dir in ["日本語/空", "docs/empty folder"] {
            self.state.tree.mkdir(dir, self.ctime)?;
            self.state.protected.insert(dir.into());
        }
        if bs <= 1 << 20 {
            self.put("docs/multi-block.bin", bs * 3 + bs / 2, Fill::Random, true)?;
            self.put("docs/exactly two blocks.bin", bs * 2, Fill::Random, true)?;
            self.put("docs/repeated.bin", bs * 3, Fill::RepeatedBlock, true)?;
        }
        if origin {
            self.state.protected.insert(SHARED_FOLDER.into());
            for (p, protect) in
                [("cover.jpg", true), ("2024/beach.jpg", false), ("2024/😀 smile.png", false), ("notes.txt", false)]
            {
                let size = self.p.sizes.sample(&mut self.rng, self.p.block_size).max(1);
                self.put(&names::join(SHARED_FOLDER, p), size, Fill::Random, protect)?;
            }
        }
        for k in 0..large_files {
            self.put(&format!("Videos/recording-{}.mp4", k + 1), self.p.large_size, Fill::Random, false)?;
        }
        let mut added = self.state.tree.files().len();
        let bulk = self.p.files.saturating_sub(added);
        let (store, bs, sizes, mtime) = (self.store, self.p.block_size, self.p.sizes, self.ctime);
        // The dirs a file may go to, as `random_dir(3)` lists them (root last), kept up to date as
        // subdirs are made: one binary search per new dir instead of a walk of the whole tree per
        // file, which made large libraries quadratic. The same seed gives the same library.
        let mut dirs = if self.p.bulk_per_dir == 0 {
            let mut d: Vec<String> = self.state.tree.dirs().into_iter().filter(|d| depth(d) <= 3).collect();
            d.push(String::new());
            d
        } else {
            Vec::new()
        };
        for k in 0..bulk {
            let dir = if let Some(leaf) = k.checked_div(self.p.bulk_per_dir) {
                format!("archive/{}/batch {:03}", leaf / 20, leaf % 20)
            } else {
                let mut d = dirs.choose(&mut self.rng).expect("the root at least").clone();
                if self.rng.random_bool(0.15) && depth(&d) < 4 {
                    let sub = names::dir_name(&mut self.rng, |s| self.state.tree.contains(&names::join(&d, s)));
                    d = names::join(&d, &sub);
                    if depth(&d) <= 3 {
                        let sorted = &dirs[..dirs.len() - 1];
                        let at = sorted.partition_point(|x| x.split('/').cmp(d.split('/')).is_lt());
                        dirs.insert(at, d.clone());
                    }
                }
                d
            };
            let name = self.state.free_file_name(&mut self.rng, &dir);
            let size = sizes.sample(&mut self.rng, bs);
            let fill = if name.ends_with(".txt") || name.ends_with(".md") { Fill::Text } else { Fill::Random };
            let who = self.who();
            self.state.put_file(store, &mut self.rng, bs, &names::join(&dir, &name), size, fill, who, mtime)?;
            added += 1;
        }
        Ok(added)
    }

    fn summaries(&self) -> Result<Vec<LibrarySummary>> {
        let files = self.state.tree.files();
        let mut out = vec![LibrarySummary {
            repo_id: self.state.lib.repo_id.clone(),
            name: self.state.lib.name.clone(),
            store_id: self.state.lib.store_id.clone(),
            is_virtual: false,
            encrypted: self.state.enc.is_some(),
            head: self.state.head.context("no commit was made")?,
            commits: self.commits,
            files: files.len(),
            bytes: files.iter().map(|(_, f)| f.size).sum(),
        }];
        for f in &self.followers {
            let Some(head) = f.state.head else { continue };
            let prefix = format!("{}/", f.folder);
            let inside: Vec<_> = files.iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
            out.push(LibrarySummary {
                repo_id: f.state.lib.repo_id.clone(),
                name: f.state.lib.name.clone(),
                store_id: f.state.lib.store_id.clone(),
                is_virtual: true,
                encrypted: false,
                head,
                commits: f.commits,
                files: inside.len(),
                bytes: inside.iter().map(|(_, f)| f.size).sum(),
            });
        }
        Ok(out)
    }
}

/// A path's depth as `random_dir` counts it (the root and top-level entries are both 1).
fn depth(path: &str) -> usize {
    path.split('/').count()
}
