//! Commits as the C seaf-server writes them (protocol §1.2).
//!
//! jansson's `json_dumps` without flags gives `", "` between members and `": "` after keys, and
//! keeps the members in the order the server inserts them. String values are escaped with
//! serde_json, which agrees with jansson for everything a commit carries. The id is computed with
//! the C algorithm ([`CommitIdInput::c_id`]), as a C server would.

use seaf_objects::commit::CommitIdInput;
use seaf_objects::{ObjectId, RepoId};

/// The creator (peer) id of commits made by the server itself.
pub const SERVER_CREATOR: &str = "0000000000000000000000000000000000000000";

/// Encryption fields of an `enc_version` 2 library (lengths as the C loader checks them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncFields {
    pub enc_version: u32,
    /// 64 hex chars.
    pub magic: String,
    /// 96 hex chars (the encrypted file key).
    pub key: String,
}

/// A commit about to be written.
#[derive(Debug, Clone)]
pub struct NewCommit {
    pub repo_id: RepoId,
    pub root_id: ObjectId,
    pub creator_name: Option<String>,
    pub creator: String,
    pub description: String,
    pub ctime: i64,
    pub parent_id: Option<ObjectId>,
    pub second_parent_id: Option<ObjectId>,
    pub repo_name: String,
    pub repo_desc: String,
    pub enc: Option<EncFields>,
    pub version: u32,
    /// Set on merge commits made by the server's merge code.
    pub new_merge: bool,
}

impl NewCommit {
    /// The commit id, C algorithm.
    pub fn id(&self) -> ObjectId {
        CommitIdInput {
            root_id: &self.root_id,
            creator: &self.creator,
            creator_name: self.creator_name.as_deref(),
            description: &self.description,
            ctime: self.ctime,
        }
        .c_id()
    }

    /// The stored bytes: C-server member order and separators, no trailing newline.
    pub fn to_json(&self, id: &ObjectId) -> String {
        let mut m = Members::default();
        m.str("commit_id", &id.to_string());
        m.str("root_id", &self.root_id.to_string());
        m.str("repo_id", self.repo_id.as_str());
        if let Some(name) = &self.creator_name {
            m.str("creator_name", name);
        }
        m.str("creator", &self.creator);
        m.str("description", &self.description);
        m.raw("ctime", &self.ctime.to_string());
        m.opt_id("parent_id", self.parent_id);
        m.opt_id("second_parent_id", self.second_parent_id);
        m.str("repo_name", &self.repo_name);
        m.str("repo_desc", &self.repo_desc);
        m.raw("repo_category", "null");
        if let Some(enc) = &self.enc {
            m.str("encrypted", "true");
            m.raw("enc_version", &enc.enc_version.to_string());
            m.str("magic", &enc.magic);
            m.str("key", &enc.key);
        }
        m.raw("no_local_history", "1");
        if self.version > 0 {
            m.raw("version", &self.version.to_string());
        }
        if self.new_merge {
            m.raw("new_merge", "1");
        }
        m.finish()
    }
}

/// Builds one JSON object member by member, in insertion order.
#[derive(Default)]
struct Members {
    out: String,
}

impl Members {
    fn key(&mut self, k: &str) {
        self.out.push_str(if self.out.is_empty() { "{" } else { ", " });
        self.out.push_str(&serde_json::to_string(k).expect("strings serialize"));
        self.out.push_str(": ");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push_str(&serde_json::to_string(v).expect("strings serialize"));
    }

    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push_str(v);
    }

    fn opt_id(&mut self, k: &str, v: Option<ObjectId>) {
        match v {
            Some(id) => self.str(k, &id.to_string()),
            None => self.raw(k, "null"),
        }
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol's C-style serialization of the TV9 commit, byte for byte.
    #[test]
    fn tv9_c_style_bytes() {
        let c = NewCommit {
            repo_id: RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap(),
            root_id: ObjectId::parse("c3fb7cf3684f14bb1d4acb775f500f628f52b7a5").unwrap(),
            creator_name: Some("admin@example.com".into()),
            creator: SERVER_CREATOR.into(),
            description: "Added \"renamed.md\"".into(),
            ctime: 1700000000,
            parent_id: Some(ObjectId::parse("1b137a913aaa7079a6580578269b1560e7ef9f1c").unwrap()),
            second_parent_id: None,
            repo_name: "backup-test".into(),
            repo_desc: String::new(),
            enc: None,
            version: 1,
            new_merge: false,
        };
        let id = c.id();
        assert_eq!(id.to_string(), "6e4743af6808cca8db2c7468f34e8363158d3533");
        let expected = r#"{"commit_id": "6e4743af6808cca8db2c7468f34e8363158d3533", "root_id": "c3fb7cf3684f14bb1d4acb775f500f628f52b7a5", "repo_id": "3f9e4aa5-d6ba-4066-a1d6-81824f422af1", "creator_name": "admin@example.com", "creator": "0000000000000000000000000000000000000000", "description": "Added \"renamed.md\"", "ctime": 1700000000, "parent_id": "1b137a913aaa7079a6580578269b1560e7ef9f1c", "second_parent_id": null, "repo_name": "backup-test", "repo_desc": "", "repo_category": null, "no_local_history": 1, "version": 1}"#;
        assert_eq!(c.to_json(&id), expected);
    }

    #[test]
    fn encrypted_merge_commit_parses() {
        let repo = RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap();
        let c = NewCommit {
            repo_id: repo.clone(),
            root_id: ObjectId::EMPTY,
            creator_name: Some("ü@example.com".into()),
            creator: SERVER_CREATOR.into(),
            description: "Auto merge by system\n\"quoted\"".into(),
            ctime: 5,
            parent_id: Some(ObjectId::hash_of(b"a")),
            second_parent_id: Some(ObjectId::hash_of(b"b")),
            repo_name: "Ü".into(),
            repo_desc: String::new(),
            enc: Some(EncFields { enc_version: 2, magic: "a".repeat(64), key: "b".repeat(96) }),
            version: 1,
            new_merge: true,
        };
        let id = c.id();
        let json = c.to_json(&id);
        assert!(json.contains(r#""repo_category": null, "encrypted": "true", "enc_version": 2, "magic": ""#));
        assert!(json.ends_with(r#""no_local_history": 1, "version": 1, "new_merge": 1}"#));
        let parsed = seaf_objects::Commit::parse_expected(bytes::Bytes::from(json), &id, &repo).unwrap();
        assert!(parsed.encrypted);
        assert_eq!(parsed.second_parent_id, Some(ObjectId::hash_of(b"b")));
        assert_eq!(parsed.description, "Auto merge by system\n\"quoted\"");
    }
}
