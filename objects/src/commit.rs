//! Commit objects (protocol §1.2).
//!
//! A commit is kept as the exact bytes the primary sent. Commit ids are *not* content hashes (and C
//! and Go servers compute them differently), so a commit is validated by parsing it and checking
//! that its fields agree with the request, never by recomputing its id or re-serializing it.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::{ObjectError, ObjectId, RepoId};

/// A parsed commit together with its verbatim bytes.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: ObjectId,
    pub repo_id: RepoId,
    pub root_id: ObjectId,
    pub parent_id: Option<ObjectId>,
    pub second_parent_id: Option<ObjectId>,
    pub ctime: i64,
    /// Repo version (absent ⇒ 0). Version 0 libraries use binary v0 fs objects.
    pub version: u32,
    pub encrypted: bool,
    pub repo_name: String,
    pub description: String,
    pub creator_name: Option<String>,
    raw: Bytes,
}

/// The fields we read; everything else is carried in the raw bytes untouched.
#[derive(Deserialize)]
struct Wire {
    commit_id: String,
    root_id: String,
    repo_id: String,
    creator: String,
    #[serde(default)]
    creator_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    ctime: Option<i64>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    second_parent_id: Option<String>,
    #[serde(default)]
    repo_name: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    encrypted: Option<Value>,
    #[serde(default)]
    enc_version: Option<i64>,
    #[serde(default)]
    magic: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    pwd_hash: Option<String>,
}

impl Commit {
    /// Parses and validates commit bytes as both Seafile servers do when loading a commit.
    pub fn parse(raw: Bytes) -> Result<Commit, ObjectError> {
        let bad = |why: String| ObjectError::BadCommit(why);
        // The C loader replaces invalid UTF-8 with '?' and retries; parsing a lossy copy gives the
        // same acceptance while the stored bytes stay exactly as received.
        let text = String::from_utf8_lossy(&raw);
        let w: Wire = serde_json::from_str(&text).map_err(|e| bad(format!("not a commit JSON object: {e}")))?;
        let oid = |field: &str, v: &str| {
            ObjectId::parse(v).map_err(|_| bad(format!("{field} {v:?} is not a valid object id")))
        };
        let opt_oid = |field: &str, v: &Option<String>| v.as_deref().map(|s| oid(field, s)).transpose();
        let id = oid("commit_id", &w.commit_id)?;
        let repo_id = RepoId::parse(&w.repo_id).map_err(|e| bad(e.to_string()))?;
        let root_id = oid("root_id", &w.root_id)?;
        if w.creator.len() != 40 {
            return Err(bad(format!("creator must be 40 characters, got {}", w.creator.len())));
        }
        let parent_id = opt_oid("parent_id", &w.parent_id)?;
        let second_parent_id = opt_oid("second_parent_id", &w.second_parent_id)?;
        let encrypted = match &w.encrypted {
            Some(Value::String(s)) => s == "true",
            Some(Value::Bool(b)) => *b,
            _ => false,
        };
        if encrypted {
            check_encryption_fields(&w).map_err(bad)?;
        }
        Ok(Commit {
            id,
            repo_id,
            root_id,
            parent_id,
            second_parent_id,
            ctime: w.ctime.unwrap_or(0),
            version: w.version.unwrap_or(0),
            encrypted,
            repo_name: w.repo_name.unwrap_or_default(),
            description: w.description.unwrap_or_default(),
            creator_name: w.creator_name,
            raw,
        })
    }

    /// Parses and checks that the commit is the one that was asked for: its `commit_id` and
    /// `repo_id` fields must equal the request.
    pub fn parse_expected(raw: Bytes, id: &ObjectId, repo: &RepoId) -> Result<Commit, ObjectError> {
        let c = Commit::parse(raw)?;
        if c.id != *id {
            return Err(ObjectError::BadCommit(format!("requested commit {id} but its commit_id is {}", c.id)));
        }
        if c.repo_id != *repo {
            return Err(ObjectError::BadCommit(format!(
                "commit {id} belongs to library {} instead of {repo}",
                c.repo_id
            )));
        }
        Ok(c)
    }

    /// The bytes exactly as received; these are what gets stored.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// First and second parent, in that order.
    pub fn parents(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.parent_id.iter().chain(self.second_parent_id.iter()).copied()
    }
}

/// The C loader's length checks for encrypted commits (`pwd_hash` may replace `magic`).
fn check_encryption_fields(w: &Wire) -> Result<(), String> {
    let len = |v: &Option<String>| v.as_deref().map(str::len);
    let version = w.enc_version.ok_or("encrypted commit without enc_version")?;
    let has_pwd_hash = w.pwd_hash.is_some();
    let need = |field: &str, got: Option<usize>, want: usize| match got {
        Some(n) if n == want => Ok(()),
        other => Err(format!("encrypted commit (enc_version {version}): {field} must be {want} chars, got {other:?}")),
    };
    match version {
        1 => {
            if !has_pwd_hash {
                need("magic", len(&w.magic), 32)?;
            }
        }
        2..=4 => {
            if !has_pwd_hash {
                need("magic", len(&w.magic), 64)?;
            }
            need("key", len(&w.key), 96)?;
            if version >= 3 {
                need("salt", len(&w.salt), 64)?;
            }
        }
        v => return Err(format!("unknown enc_version {v}")),
    }
    Ok(())
}

/// The fields that go into a commit id. Primaries compute ids this way; the backup never does.
pub struct CommitIdInput<'a> {
    pub root_id: &'a ObjectId,
    /// The 40-character creator (peer) id.
    pub creator: &'a str,
    pub creator_name: Option<&'a str>,
    pub description: &'a str,
    pub ctime: i64,
}

impl CommitIdInput<'_> {
    /// `compute_commit_id` of the C server and desktop client: each string with its NUL byte.
    pub fn c_id(&self) -> ObjectId {
        self.hash(true)
    }

    /// `computeCommitID` of the Go file server: the same fields without NUL bytes.
    pub fn go_id(&self) -> ObjectId {
        self.hash(false)
    }

    fn hash(&self, nul: bool) -> ObjectId {
        let mut h = Sha1::new();
        let mut put = |s: &[u8]| {
            h.update(s);
            if nul {
                h.update([0u8]);
            }
        };
        put(self.root_id.to_string().as_bytes());
        put(self.creator.as_bytes());
        // C skips a NULL creator_name entirely; Go writes the empty string, which hashes alike.
        if let Some(name) = self.creator_name {
            put(name.as_bytes());
        }
        put(self.description.as_bytes());
        h.update(self.ctime.to_be_bytes());
        ObjectId::from_bytes(h.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZERO: &str = "0000000000000000000000000000000000000000";

    /// TV8, a real commit in old jansson hash order.
    const TV8: &str = r#"{"commit_id": "03d5a857ccc2764e69a124cd8f3360aea1d5595f", "ctime": 1517210898, "description": "Added \"create_deleted_file.md\"", "repo_desc": "", "root_id": "d9d1cd4f7281f194a226ebe1727de5351b0f6238", "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "creator": "0000000000000000000000000000000000000000", "repo_category": null, "creator_name": "admin@admin.com", "parent_id": "928fc8c308d441b224b9238d47938cc6ac944950", "second_parent_id": null, "repo_name": "obj_test", "no_local_history": 1, "version": 1}"#;

    fn oid(s: &str) -> ObjectId {
        ObjectId::parse(s).unwrap()
    }

    #[test]
    fn tv8_parse_and_c_id() {
        let c = Commit::parse(Bytes::from_static(TV8.as_bytes())).unwrap();
        assert_eq!(c.id, oid("03d5a857ccc2764e69a124cd8f3360aea1d5595f"));
        assert_eq!(c.root_id, oid("d9d1cd4f7281f194a226ebe1727de5351b0f6238"));
        assert_eq!(c.parent_id, Some(oid("928fc8c308d441b224b9238d47938cc6ac944950")));
        assert_eq!(c.second_parent_id, None);
        assert_eq!(c.version, 1);
        assert_eq!(c.ctime, 1517210898);
        assert_eq!(c.raw().as_ref(), TV8.as_bytes(), "raw bytes are kept verbatim");
        let input = CommitIdInput {
            root_id: &c.root_id,
            creator: ZERO,
            creator_name: c.creator_name.as_deref(),
            description: &c.description,
            ctime: c.ctime,
        };
        assert_eq!(input.c_id(), c.id);
        assert_eq!(1517210898i64.to_be_bytes(), [0, 0, 0, 0, 0x5a, 0x6e, 0xcd, 0x12]);
    }

    #[test]
    fn tv9_c_and_go_ids() {
        let root = oid("c3fb7cf3684f14bb1d4acb775f500f628f52b7a5");
        let input = CommitIdInput {
            root_id: &root,
            creator: ZERO,
            creator_name: Some("admin@example.com"),
            description: "Added \"renamed.md\"",
            ctime: 1700000000,
        };
        assert_eq!(input.c_id(), oid("6e4743af6808cca8db2c7468f34e8363158d3533"));
        assert_eq!(input.go_id(), oid("73052591317a4d3823538efcf94b9c7d724d3d91"));

        let created = CommitIdInput {
            root_id: &ObjectId::EMPTY,
            creator: ZERO,
            creator_name: Some("admin@example.com"),
            description: "Created library",
            ctime: 1700000000,
        };
        assert_eq!(created.c_id(), oid("1b137a913aaa7079a6580578269b1560e7ef9f1c"));

        let anonymous = CommitIdInput { root_id: &root, creator: ZERO, creator_name: None, description: "x", ctime: 0 };
        assert_eq!(anonymous.c_id(), oid("1304ee9278c7ff73f9e8070b38dfb1ceed2b27b6"));
    }

    #[test]
    fn tv9_both_serializations_parse() {
        let c_style = r#"{"commit_id": "6e4743af6808cca8db2c7468f34e8363158d3533", "root_id": "c3fb7cf3684f14bb1d4acb775f500f628f52b7a5", "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "creator_name": "admin@example.com", "creator": "0000000000000000000000000000000000000000", "description": "Added \"renamed.md\"", "ctime": 1700000000, "parent_id": "1b137a913aaa7079a6580578269b1560e7ef9f1c", "second_parent_id": null, "repo_name": "backup-test", "repo_desc": "", "repo_category": null, "no_local_history": 1, "version": 1}"#;
        let go_style = r#"{"commit_id":"6e4743af6808cca8db2c7468f34e8363158d3533","repo_id":"3f9e4aa5-d6ba-4066-a1d6-81824f422af1","root_id":"c3fb7cf3684f14bb1d4acb775f500f628f52b7a5","creator_name":"admin@example.com","creator":"0000000000000000000000000000000000000000","description":"Added \"renamed.md\"","ctime":1700000000,"parent_id":"1b137a913aaa7079a6580578269b1560e7ef9f1c","second_parent_id":null,"repo_name":"backup-test","repo_desc":"","repo_category":"","encrypted":"false","version":1}"#;
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        let id = oid("6e4743af6808cca8db2c7468f34e8363158d3533");
        for s in [c_style, go_style] {
            let c = Commit::parse_expected(Bytes::copy_from_slice(s.as_bytes()), &id, &repo).unwrap();
            assert!(!c.encrypted);
            assert_eq!(c.parents().collect::<Vec<_>>(), vec![oid("1b137a913aaa7079a6580578269b1560e7ef9f1c")]);
            assert_eq!(c.repo_name, "backup-test");
        }
        let other = RepoId::parse("00000000-0000-0000-0000-000000000000").unwrap();
        assert!(Commit::parse_expected(Bytes::from(c_style), &id, &other).is_err());
        assert!(Commit::parse_expected(Bytes::from(c_style), &ObjectId::EMPTY, &repo).is_err());
    }

    #[test]
    fn encrypted_field_shapes() {
        let base = |extra: &str| {
            format!(
                r#"{{"commit_id": "{id}", "root_id": "{ZERO}", "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "creator": "{ZERO}", "ctime": 1, "parent_id": null, "encrypted": "true"{extra}}}"#,
                id = "6e4743af6808cca8db2c7468f34e8363158d3533"
            )
        };
        let h = |n: usize| "a".repeat(n);
        let ok = [
            format!(r#", "enc_version": 1, "magic": "{}""#, h(32)),
            format!(r#", "enc_version": 2, "magic": "{}", "key": "{}""#, h(64), h(96)),
            format!(r#", "enc_version": 3, "magic": "{}", "key": "{}", "salt": "{}""#, h(64), h(96), h(64)),
            format!(
                r#", "enc_version": 4, "pwd_hash": "{}", "pwd_hash_algo": "argon2id", "pwd_hash_params": "2,102400,8", "key": "{}", "salt": "{}""#,
                h(64),
                h(96),
                h(64)
            ),
        ];
        for extra in ok {
            let c = Commit::parse(Bytes::from(base(&extra))).unwrap();
            assert!(c.encrypted);
        }
        let bad = [
            String::new(),
            format!(r#", "enc_version": 2, "magic": "{}", "key": "{}""#, h(32), h(96)),
            format!(r#", "enc_version": 3, "magic": "{}", "key": "{}""#, h(64), h(96)),
            format!(r#", "enc_version": 9, "magic": "{}""#, h(64)),
        ];
        for extra in bad {
            assert!(Commit::parse(Bytes::from(base(&extra))).is_err(), "{extra}");
        }
    }

    #[test]
    fn rejects_malformed() {
        let good = TV8.to_owned();
        for (from, to) in [
            ("\"creator\": \"0000000000000000000000000000000000000000\"", "\"creator\": \"000\""),
            ("d9d1cd4f7281f194a226ebe1727de5351b0f6238", "D9D1CD4F7281F194A226EBE1727DE5351B0F6238"),
            ("928fc8c308d441b224b9238d47938cc6ac944950", "../../etc"),
            ("3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "not-a-uuid"),
        ] {
            let s = good.replace(from, to);
            assert_ne!(s, good);
            assert!(Commit::parse(Bytes::from(s)).is_err(), "{to}");
        }
        assert!(Commit::parse(Bytes::from_static(b"")).is_err());
        assert!(Commit::parse(Bytes::from_static(b"[]")).is_err());
        assert!(Commit::parse(Bytes::from_static(b"{\"is_corrupted\": 1}")).is_err());
    }
}
