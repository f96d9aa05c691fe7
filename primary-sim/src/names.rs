//! File and folder names, people's emails, library ids.
//!
//! Names mix ASCII of both cases (so descending byte order differs from case-insensitive order),
//! multi-byte UTF-8 (accents, CJK, Cyrillic, emoji) and spaces, because that is what breaks naive
//! path and JSON handling.

use rand::Rng;
use rand::seq::IndexedRandom;
use seaf_objects::RepoId;

const STEMS: &[&str] = &[
    "report",
    "Notes",
    "budget",
    "photo",
    "draft",
    "summary",
    "plan",
    "invoice",
    "scan",
    "Diagram",
    "backup",
    "slides",
    "todo",
    "data",
    "Über",
    "résumé",
    "naïve café",
    "Привет",
    "日本語メモ",
    "Ελληνικά",
    "😀 smile",
    "contract",
    "README",
    "minutes",
    "zeta",
];

const EXTS: &[&str] = &[".txt", ".md", ".pdf", ".jpg", ".png", ".docx", ".xlsx", ".bin", ".csv", ""];

const DIRS: &[&str] = &[
    "docs",
    "Photos",
    "2023",
    "2024",
    "archive",
    "projects",
    "src",
    "music",
    "Übersicht",
    "日本語",
    "emoji 🎉",
    "tmp",
    "Zürich trip",
    "misc",
];

/// People who modify files (dirent `modifier`, commit `creator_name`).
pub const PEOPLE: &[&str] = &["alice@example.com", "bob@example.com", "chloé@example.com"];

/// A random file name; unique among `taken` (a suffix is added if needed).
pub fn file_name(rng: &mut impl Rng, taken: impl Fn(&str) -> bool) -> String {
    let stem = STEMS.choose(rng).expect("non-empty");
    let ext = EXTS.choose(rng).expect("non-empty");
    unique(format!("{stem}-{}{ext}", rng.random_range(1..1000)), taken)
}

/// A random folder name; unique among `taken`.
pub fn dir_name(rng: &mut impl Rng, taken: impl Fn(&str) -> bool) -> String {
    unique((*DIRS.choose(rng).expect("non-empty")).to_owned(), taken)
}

fn unique(base: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&base) {
        return base;
    }
    (2..).map(|n| format!("{base} ({n})")).find(|c| !taken(c)).expect("some suffix is free")
}

/// A random person.
pub fn person(rng: &mut impl Rng) -> &'static str {
    PEOPLE.choose(rng).expect("non-empty")
}

/// A random lowercase UUID (version 4 layout), as seaf-server makes library ids.
pub fn repo_id(rng: &mut impl Rng) -> RepoId {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    RepoId::parse(&format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
        .expect("formatted as a UUID")
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(rng: &mut impl Rng, n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
    hex(&bytes)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Joins a dir path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// The last component of a path.
pub fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent dir of a path (`""` for the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}
