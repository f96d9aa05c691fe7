//! Strong identifiers: library ids and object ids.
//!
//! Every id that comes from the network, a config file or an admin is parsed into one of these
//! types before it is used to build a path, a URL or an SQL statement. Parsing is strict: Seafile's
//! own route regexes accept lowercase only, so uppercase is rejected rather than folded.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha1::{Digest, Sha1};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid library id {0:?}: expected a lowercase UUID (8-4-4-4-12 hex digits)")]
    Repo(String),
    #[error("invalid object id {0:?}: expected 40 lowercase hex digits")]
    Object(String),
}

/// A library (repo) id: a lowercase UUID string such as `3f9e4aa5-d6ba-4066-a1d6-81824f422af1`.
///
/// Also used for store ids (the id under which a library's fs objects and blocks live).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId(String);

impl RepoId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            });
        if ok { Ok(RepoId(s.to_owned())) } else { Err(IdError::Repo(truncate(s))) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepoId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        RepoId::parse(s)
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoId({})", self.0)
    }
}

/// A 20-byte object id (commit, fs object or block), rendered as 40 lowercase hex digits.
///
/// [`ObjectId::EMPTY`] (all zeros) is Seafile's sentinel for the empty file, the empty dir and the
/// empty root. It is never stored and never requested.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 20]);

impl ObjectId {
    /// The all-zeros sentinel (`EMPTY_SHA1`).
    pub const EMPTY: ObjectId = ObjectId([0; 20]);

    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::parse_bytes(s.as_bytes()).ok_or_else(|| IdError::Object(truncate(s)))
    }

    /// Parses 40 lowercase hex ASCII bytes; `None` for anything else.
    pub fn parse_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(ObjectId(out))
    }

    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        ObjectId(bytes)
    }

    /// SHA-1 of `data` as an id (how fs object and block ids are derived).
    pub fn hash_of(data: &[u8]) -> Self {
        ObjectId(Sha1::digest(data).into())
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == [0; 20]
    }

    /// The 40-char lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The same, without allocating.
    pub fn hex_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        hex::encode_to_slice(self.0, &mut out).expect("40 bytes hold 20 hex-encoded bytes");
        out
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Keeps error messages short when a caller sends a huge bogus id.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl FromStr for ObjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ObjectId::parse(s)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex_bytes();
        f.write_str(std::str::from_utf8(&hex).expect("hex is ASCII"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ObjectId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for RepoId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RepoId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The three object stores of a seafile-data tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Commit,
    Fs,
    Block,
}

impl ObjectKind {
    /// The directory name under `storage/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commits",
            ObjectKind::Fs => "fs",
            ObjectKind::Block => "blocks",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Fs => "fs object",
            ObjectKind::Block => "block",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").is_ok());
        for bad in [
            "3F9E4AA5-D6BA-4066-A1D6-81824F422AF1",
            "3f9e4aa5d6ba4066a1d681824f422af1",
            "3f9e4aa5-d6ba-4066-a1d6-81824f422af",
            "../../../../etc/passwd-aaaaaaaaaaaaaaaaa",
            "3f9e4aa5-d6ba-4066-a1d6-81824f422ag1",
            "",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_ids() {
        let s = "f8d2d17acad4d83188bee1c9863827b82c593e1f";
        let id = ObjectId::parse(s).unwrap();
        assert_eq!(id.to_string(), s);
        assert!(!id.is_empty());
        assert!(ObjectId::parse(&"0".repeat(40)).unwrap().is_empty());
        assert!(ObjectId::parse(&s.to_uppercase()).is_err());
        assert!(ObjectId::parse(&s[..39]).is_err());
        assert!(ObjectId::parse("../f8d2d17acad4d83188bee1c9863827b82c593e").is_err());
    }

    /// TV3: a real block's id is the SHA-1 of its content.
    #[test]
    fn tv3_block_id() {
        let content = b"this is renamed folder.\n\naofsnmayhu";
        assert_eq!(content.len(), 35);
        assert_eq!(ObjectId::hash_of(content).to_string(), "b3fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd");
    }
}
