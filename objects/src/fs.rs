//! Fs objects: files ("seafile") and directories, in both on-disk formats (protocol §1.3, §1.4).
//!
//! * v1: a zlib stream of canonical JSON; id = SHA-1 of the *inflated* bytes.
//! * v0: big-endian binary; id = SHA-1 over a different byte layout (see [`v0`]).
//!
//! The backup verifies received objects with [`verify`] and stores the received bytes. Encoders
//! exist for the primary simulator and the tests; the backup never re-encodes what it received.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use serde::Deserialize;

use crate::{ObjectError, ObjectId};

/// `S_IFMT` and the two file types Seafile traverses; other modes (symlinks) are skipped.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const MODE_FILE: u32 = 0o100644;
pub const MODE_EXEC: u32 = 0o100755;
pub const MODE_DIR: u32 = 0o040000;

/// Largest inflated v1 object we accept: bounds memory against a zlib bomb from the network.
pub const MAX_INFLATED_FS_OBJECT: u64 = 256 << 20;

/// A file object: the ordered block list of one file version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeafFile {
    pub block_ids: Vec<ObjectId>,
    pub size: u64,
}

/// A directory object: dirents sorted by name in descending byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeafDir {
    pub dirents: Vec<Dirent>,
}

/// One directory entry. v1 dirs carry `mtime`, and for files `modifier` and `size`; v0 dirs do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub id: ObjectId,
    pub mode: u32,
    pub name: String,
    pub mtime: Option<i64>,
    pub modifier: Option<String>,
    pub size: Option<i64>,
}

impl Dirent {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// A parsed fs object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsObject {
    File(SeafFile),
    Dir(SeafDir),
}

impl FsObject {
    /// The fs objects a dir references (files and dirs, the empty sentinel excluded); none for a
    /// file object.
    pub fn fs_children(&self) -> Vec<ObjectId> {
        match self {
            FsObject::File(_) => Vec::new(),
            FsObject::Dir(d) => {
                d.dirents.iter().filter(|e| (e.is_dir() || e.is_file()) && !e.id.is_empty()).map(|e| e.id).collect()
            }
        }
    }
}

/// Checks that `stored` (the bytes as stored or sent in pack-fs) is the fs object `id`, and parses it.
///
/// The format is told by the first byte: v0 objects start with a big-endian type code (0x00),
/// v1 objects with a zlib header (never 0x00).
pub fn verify(id: &ObjectId, stored: &[u8]) -> Result<FsObject, ObjectError> {
    if id.is_empty() {
        return Err(ObjectError::BadFs { id: *id, why: "the empty sentinel id is never a stored object".into() });
    }
    match stored.first() {
        None => Err(ObjectError::BadFs { id: *id, why: "empty object".into() }),
        Some(0) => v0::verify(id, stored),
        Some(_) => v1::verify(id, stored),
    }
}

/// Inflates a zlib stream, refusing output larger than `limit`.
pub fn inflate(stored: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(stored.len() * 3);
    let n = ZlibDecoder::new(stored).take(limit + 1).read_to_end(&mut out)?;
    if n as u64 > limit {
        return Err(std::io::Error::other(format!("inflates to more than {limit} bytes")));
    }
    Ok(out)
}

/// Version 1: zlib-compressed canonical JSON.
pub mod v1 {
    use super::*;

    #[derive(Deserialize)]
    struct Wire {
        #[serde(rename = "type")]
        kind: i64,
        #[serde(default)]
        version: Option<i64>,
        #[serde(default)]
        block_ids: Option<Vec<ObjectId>>,
        #[serde(default)]
        size: Option<u64>,
        #[serde(default)]
        dirents: Option<Vec<WireDirent>>,
    }

    #[derive(Deserialize)]
    struct WireDirent {
        id: ObjectId,
        mode: u32,
        name: String,
        #[serde(default)]
        mtime: Option<i64>,
        #[serde(default)]
        modifier: Option<String>,
        #[serde(default)]
        size: Option<i64>,
    }

    pub fn verify(id: &ObjectId, stored: &[u8]) -> Result<FsObject, ObjectError> {
        let bad = |why: String| ObjectError::BadFs { id: *id, why };
        let json = inflate(stored, MAX_INFLATED_FS_OBJECT).map_err(|e| bad(format!("not a zlib stream: {e}")))?;
        let actual = ObjectId::hash_of(&json);
        if actual != *id {
            return Err(ObjectError::HashMismatch { kind: crate::ObjectKind::Fs, id: *id, actual });
        }
        parse_json(&json).map_err(bad)
    }

    /// Parses inflated v1 JSON (no hash check).
    pub fn parse_json(json: &[u8]) -> Result<FsObject, String> {
        let w: Wire = serde_json::from_slice(json).map_err(|e| format!("not an fs object: {e}"))?;
        if w.version.unwrap_or(0) < 1 {
            return Err(format!("v1 fs object with version {:?}", w.version));
        }
        match w.kind {
            1 => Ok(FsObject::File(SeafFile {
                block_ids: w.block_ids.ok_or("file object without block_ids")?,
                size: w.size.ok_or("file object without size")?,
            })),
            3 => {
                let mut dirents = Vec::new();
                for d in w.dirents.ok_or("dir object without dirents")? {
                    check_name(&d.name)?;
                    if d.mode & S_IFMT == S_IFREG && d.modifier.is_none() {
                        return Err(format!("file dirent {:?} without modifier", d.name));
                    }
                    dirents.push(Dirent {
                        id: d.id,
                        mode: d.mode,
                        name: d.name,
                        mtime: d.mtime,
                        modifier: d.modifier,
                        size: d.size,
                    });
                }
                Ok(FsObject::Dir(SeafDir { dirents }))
            }
            t => Err(format!("unknown fs object type {t}")),
        }
    }

    /// Canonical JSON bytes, exactly as seaf-server writes them (sorted keys, `", "` and `": "`,
    /// raw UTF-8). Dirents are written in the order given; callers keep them sorted descending.
    pub fn to_json(obj: &FsObject) -> String {
        let mut s = String::with_capacity(256);
        match obj {
            FsObject::File(f) => {
                s.push_str("{\"block_ids\": [");
                for (i, b) in f.block_ids.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push('"');
                    s.push_str(&b.to_string());
                    s.push('"');
                }
                s.push_str(&format!("], \"size\": {}, \"type\": 1, \"version\": 1}}", f.size));
            }
            FsObject::Dir(d) => {
                s.push_str("{\"dirents\": [");
                for (i, e) in d.dirents.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(&format!("{{\"id\": \"{}\", \"mode\": {}", e.id, e.mode));
                    if let Some(m) = &e.modifier {
                        s.push_str(", \"modifier\": ");
                        push_json_string(&mut s, m);
                    }
                    if let Some(t) = e.mtime {
                        s.push_str(&format!(", \"mtime\": {t}"));
                    }
                    s.push_str(", \"name\": ");
                    push_json_string(&mut s, &e.name);
                    if let Some(n) = e.size {
                        s.push_str(&format!(", \"size\": {n}"));
                    }
                    s.push('}');
                }
                s.push_str("], \"type\": 3, \"version\": 1}");
            }
        }
        s
    }

    /// Encodes an object: `(id, stored bytes)` with zlib's default level, like both servers.
    pub fn encode(obj: &FsObject) -> (ObjectId, Vec<u8>) {
        let json = to_json(obj);
        let mut z = ZlibEncoder::new(Vec::with_capacity(json.len() / 2 + 16), Compression::default());
        z.write_all(json.as_bytes()).expect("writing to a Vec cannot fail");
        (ObjectId::hash_of(json.as_bytes()), z.finish().expect("writing to a Vec cannot fail"))
    }

    /// JSON string escaping of jansson / Python's `json.dumps(ensure_ascii=False)`.
    fn push_json_string(s: &mut String, v: &str) {
        s.push('"');
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\u{8}' => s.push_str("\\b"),
                '\u{c}' => s.push_str("\\f"),
                c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('"');
    }
}

/// A dirent name must be one path component: it becomes part of a path when a library is served.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("invalid dirent name {name:?}"));
    }
    Ok(())
}

/// Version 0: the legacy binary format (big-endian on disk, a different layout hashed for the id).
pub mod v0 {
    use super::*;

    const TYPE_FILE: u32 = 1;
    const TYPE_DIR: u32 = 3;

    pub fn verify(id: &ObjectId, stored: &[u8]) -> Result<FsObject, ObjectError> {
        let bad = |why: &str| ObjectError::BadFs { id: *id, why: why.to_owned() };
        if stored.len() < 4 {
            return Err(bad("v0 object shorter than its type field"));
        }
        let obj = match be32(&stored[0..4]) {
            TYPE_FILE => parse_file(stored).ok_or_else(|| bad("malformed v0 file object"))?,
            TYPE_DIR => parse_dir(stored).map_err(|e| bad(&e))?,
            t => return Err(bad(&format!("unknown v0 object type {t}"))),
        };
        let actual = id_of(&obj);
        if actual != *id {
            return Err(ObjectError::HashMismatch { kind: crate::ObjectKind::Fs, id: *id, actual });
        }
        Ok(obj)
    }

    fn be32(b: &[u8]) -> u32 {
        u32::from_be_bytes(b.try_into().expect("4 bytes"))
    }

    fn parse_file(b: &[u8]) -> Option<FsObject> {
        if b.len() < 12 || !(b.len() - 12).is_multiple_of(20) {
            return None;
        }
        let size = u64::from_be_bytes(b[4..12].try_into().ok()?);
        let block_ids =
            b[12..].chunks_exact(20).map(|c| ObjectId::from_bytes(c.try_into().expect("20 bytes"))).collect();
        Some(FsObject::File(SeafFile { block_ids, size }))
    }

    fn parse_dir(b: &[u8]) -> Result<FsObject, String> {
        let mut dirents = Vec::new();
        let mut p = 4;
        // Seafile's reader loops while more than 48 bytes (mode + id + name length) remain.
        while b.len() - p > 48 {
            let mode = be32(&b[p..p + 4]);
            let id = ObjectId::parse_bytes(&b[p + 4..p + 44]).ok_or("v0 dirent with an invalid id")?;
            let len = be32(&b[p + 44..p + 48]) as usize;
            p += 48;
            if len > 255 || b.len() - p < len {
                return Err("v0 dirent name overruns the object".into());
            }
            let name = String::from_utf8(b[p..p + len].to_vec()).map_err(|_| "v0 dirent name is not UTF-8")?;
            check_name(&name)?;
            p += len;
            dirents.push(Dirent { id, mode, name, mtime: None, modifier: None, size: None });
        }
        if p != b.len() {
            return Err("trailing bytes after the last v0 dirent".into());
        }
        Ok(FsObject::Dir(SeafDir { dirents }))
    }

    /// The v0 id: file = SHA-1 of the raw block ids; dir = SHA-1 of each entry's
    /// `id (40 ASCII) ‖ name ‖ mode (little-endian)`.
    pub fn id_of(obj: &FsObject) -> ObjectId {
        use sha1::{Digest, Sha1};
        let mut h = Sha1::new();
        match obj {
            FsObject::File(f) => f.block_ids.iter().for_each(|b| h.update(b.as_bytes())),
            FsObject::Dir(d) => {
                for e in &d.dirents {
                    h.update(e.id.hex_bytes());
                    h.update(e.name.as_bytes());
                    h.update(e.mode.to_le_bytes());
                }
            }
        }
        ObjectId::from_bytes(h.finalize().into())
    }

    /// Encodes an object in the v0 layout: `(id, stored bytes)`.
    pub fn encode(obj: &FsObject) -> (ObjectId, Vec<u8>) {
        let mut out = Vec::new();
        match obj {
            FsObject::File(f) => {
                out.extend_from_slice(&TYPE_FILE.to_be_bytes());
                out.extend_from_slice(&f.size.to_be_bytes());
                f.block_ids.iter().for_each(|b| out.extend_from_slice(b.as_bytes()));
            }
            FsObject::Dir(d) => {
                out.extend_from_slice(&TYPE_DIR.to_be_bytes());
                for e in &d.dirents {
                    out.extend_from_slice(&e.mode.to_be_bytes());
                    out.extend_from_slice(&e.id.hex_bytes());
                    out.extend_from_slice(&(e.name.len() as u32).to_be_bytes());
                    out.extend_from_slice(e.name.as_bytes());
                }
            }
        }
        (id_of(obj), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> ObjectId {
        ObjectId::parse(s).unwrap()
    }

    const TV2_HEX: &str = "789cab564acac94fce8ecf4c2956b25288564a324e0322c3147320344e364f4a4c31b730364f49334f33354e344ab1484ab13031374a4a518ad551502aceac4a05ea323605b24b2a0b406c4320b32cb5a838333f0fc4ab050082c01c35";
    const TV2_JSON: &str =
        r#"{"block_ids": ["b3fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd"], "size": 35, "type": 1, "version": 1}"#;
    const TV2_ID: &str = "f8d2d17acad4d83188bee1c9863827b82c593e1f";

    fn tv5_dir() -> FsObject {
        FsObject::Dir(SeafDir {
            dirents: vec![
                Dirent {
                    id: oid(TV2_ID),
                    mode: 33188,
                    name: "renamed.md".into(),
                    mtime: Some(1517211693),
                    modifier: Some("admin@admin.com".into()),
                    size: Some(35),
                },
                Dirent {
                    id: ObjectId::EMPTY,
                    mode: 16384,
                    name: "empty".into(),
                    mtime: Some(1517211693),
                    modifier: None,
                    size: None,
                },
            ],
        })
    }

    #[test]
    fn tv1_empty_sentinel_is_never_an_object() {
        assert!(verify(&ObjectId::EMPTY, b"x").is_err());
    }

    #[test]
    fn tv2_real_file_object() {
        let stored = hex::decode(TV2_HEX).unwrap();
        assert_eq!(stored.len(), 93);
        let obj = verify(&oid(TV2_ID), &stored).unwrap();
        let file =
            FsObject::File(SeafFile { block_ids: vec![oid("b3fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd")], size: 35 });
        assert_eq!(obj, file);
        assert_eq!(v1::to_json(&file), TV2_JSON);
        assert_eq!(TV2_JSON.len(), 96);
        let (id, bytes) = v1::encode(&file);
        assert_eq!(id, oid(TV2_ID));
        assert_eq!(&bytes[..2], &[0x78, 0x9c]);
        // Corrupt one byte of the compressed stream: rejected, whatever the failure mode.
        let mut bad = stored.clone();
        bad[40] ^= 0x55;
        assert!(verify(&oid(TV2_ID), &bad).is_err());
        assert!(verify(&oid(TV2_ID), &stored[..92]).is_err());
    }

    #[test]
    fn tv5_dir_json_and_id() {
        let json = v1::to_json(&tv5_dir());
        assert_eq!(
            json,
            r#"{"dirents": [{"id": "f8d2d17acad4d83188bee1c9863827b82c593e1f", "mode": 33188, "modifier": "admin@admin.com", "mtime": 1517211693, "name": "renamed.md", "size": 35}, {"id": "0000000000000000000000000000000000000000", "mode": 16384, "mtime": 1517211693, "name": "empty"}], "type": 3, "version": 1}"#
        );
        assert_eq!(json.len(), 296);
        let (id, stored) = v1::encode(&tv5_dir());
        assert_eq!(id, oid("c3fb7cf3684f14bb1d4acb775f500f628f52b7a5"));
        assert_eq!(verify(&id, &stored).unwrap(), tv5_dir());
        assert_eq!(tv5_dir().fs_children(), vec![oid(TV2_ID)], "the empty sentinel is not a child");
    }

    #[test]
    fn tv6_non_ascii_name() {
        let dir = FsObject::Dir(SeafDir {
            dirents: vec![Dirent {
                id: ObjectId::EMPTY,
                mode: 33188,
                name: "Über.txt".into(),
                mtime: Some(1700000000),
                modifier: Some("u@example.com".into()),
                size: Some(0),
            }],
        });
        let json = v1::to_json(&dir);
        assert!(json.contains("\"name\": \"Über.txt\""));
        assert_eq!(v1::encode(&dir).0, oid("18db9a182013deb725b7d04fabe7b34e5b343da9"));
    }

    #[test]
    fn tv7_real_dir_json() {
        let json = r#"{"dirents": [{"id": "0000000000000000000000000000000000000000", "mode": 33188, "modifier": "admin@admin.com", "mtime": 1517211693, "name": "added_folder", "size": 0}], "type": 3, "version": 1}"#;
        let id = ObjectId::hash_of(json.as_bytes());
        assert_eq!(id, oid("eacb722df281748facbae4d6ca9ade44f20fee1b"));
        let obj = v1::parse_json(json.as_bytes()).unwrap();
        assert_eq!(v1::to_json(&obj), json, "parse ∘ serialize is the identity on canonical bytes");
    }

    #[test]
    fn tv10_v0_dir() {
        let (id, stored) = v0::encode(&tv5_dir_v0());
        assert_eq!(id, oid("69eca12190a1b0aef60d0d5fa82a52ae2a7a40ad"));
        assert_eq!(stored.len(), 115);
        assert_eq!(&stored[..8], &[0, 0, 0, 3, 0, 0, 0x81, 0xa4]);
        assert_eq!(verify(&id, &stored).unwrap(), tv5_dir_v0());
        assert!(verify(&id, &stored[..114]).is_err());
    }

    fn tv5_dir_v0() -> FsObject {
        let FsObject::Dir(mut d) = tv5_dir() else { unreachable!() };
        for e in &mut d.dirents {
            (e.mtime, e.modifier, e.size) = (None, None, None);
        }
        FsObject::Dir(d)
    }

    #[test]
    fn tv11_v0_file() {
        let file = FsObject::File(SeafFile {
            block_ids: vec![
                oid("b3fb3f1d7d7d3c7bad7837df7f53a2d8bd8472bd"),
                oid(&format!("0ae2c82d{}3c8d", "0".repeat(28))),
            ],
            size: 68,
        });
        // The vector abbreviates the second block id; check the layout and the hashing rule.
        let (id, stored) = v0::encode(&file);
        assert_eq!(stored.len(), 52);
        assert_eq!(&stored[..12], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x44]);
        let FsObject::File(f) = &file else { unreachable!() };
        let mut raw = Vec::new();
        f.block_ids.iter().for_each(|b| raw.extend_from_slice(b.as_bytes()));
        assert_eq!(id, ObjectId::hash_of(&raw), "size is not hashed");
        assert_eq!(verify(&id, &stored).unwrap(), file);
    }

    #[test]
    fn rejects_bad_names_and_types() {
        for name in ["..", "a/b", ""] {
            let json = format!(
                r#"{{"dirents": [{{"id": "{}", "mode": 16384, "mtime": 1, "name": "{name}"}}], "type": 3, "version": 1}}"#,
                "0".repeat(40)
            );
            assert!(v1::parse_json(json.as_bytes()).is_err(), "{name}");
        }
        assert!(v1::parse_json(br#"{"type": 2, "version": 1}"#).is_err());
        assert!(v1::parse_json(br#"{"block_ids": [], "size": 0, "type": 1}"#).is_err(), "version missing");
        let no_modifier = format!(
            r#"{{"dirents": [{{"id": "{}", "mode": 33188, "mtime": 1, "name": "f", "size": 0}}], "type": 3, "version": 1}}"#,
            "0".repeat(40)
        );
        assert!(v1::parse_json(no_modifier.as_bytes()).is_err());
    }

    #[test]
    fn zlib_bomb_is_bounded() {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&vec![b' '; 1 << 20]).unwrap();
        let stored = z.finish().unwrap();
        assert!(inflate(&stored, 1000).is_err());
        assert_eq!(inflate(&stored, 1 << 20).unwrap().len(), 1 << 20);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        // Any single path component: unicode, quotes, backslashes and control characters included.
        "[^/\u{0}]{1,40}".prop_filter("not . or ..", |n| n != "." && n != "..")
    }

    fn dirent() -> impl Strategy<Value = Dirent> {
        (
            any::<[u8; 20]>(),
            name(),
            0i64..(1 << 40),
            prop_oneof![Just(MODE_FILE), Just(MODE_EXEC), Just(MODE_DIR)],
            "[a-z@.]{0,20}",
            0i64..(1 << 50),
        )
            .prop_map(|(id, name, mtime, mode, modifier, size)| {
                let file = mode != MODE_DIR;
                Dirent {
                    id: ObjectId::from_bytes(id),
                    mode,
                    name,
                    mtime: Some(mtime),
                    modifier: file.then_some(modifier),
                    size: file.then_some(size),
                }
            })
    }

    fn dir() -> impl Strategy<Value = FsObject> {
        proptest::collection::vec(dirent(), 1..12).prop_map(|mut dirents| {
            // Seafile's order: names unique, descending by bytes.
            dirents.sort_by(|a, b| b.name.as_bytes().cmp(a.name.as_bytes()));
            dirents.dedup_by(|a, b| a.name == b.name);
            FsObject::Dir(SeafDir { dirents })
        })
    }

    fn file() -> impl Strategy<Value = FsObject> {
        (proptest::collection::vec(any::<[u8; 20]>(), 0..20), any::<u64>()).prop_map(|(ids, size)| {
            FsObject::File(SeafFile { block_ids: ids.into_iter().map(ObjectId::from_bytes).collect(), size })
        })
    }

    proptest! {
        /// serialize → store → verify gives back the same object, and its JSON is a fixed point.
        #[test]
        fn v1_round_trip(obj in prop_oneof![dir(), file()]) {
            let (id, stored) = v1::encode(&obj);
            let back = verify(&id, &stored).unwrap();
            prop_assert_eq!(&back, &obj);
            let json = v1::to_json(&obj);
            prop_assert_eq!(v1::to_json(&v1::parse_json(json.as_bytes()).unwrap()), json.clone());
            // The JSON is valid for any JSON parser, with keys in sorted order.
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            prop_assert_eq!(keys, sorted);
        }

        /// The v0 binary form round-trips too (names up to 255 bytes, no mtime/modifier/size).
        #[test]
        fn v0_round_trip(obj in prop_oneof![dir(), file()]) {
            let obj = match obj {
                FsObject::Dir(mut d) => {
                    for e in &mut d.dirents {
                        (e.mtime, e.modifier, e.size) = (None, None, None);
                    }
                    FsObject::Dir(d)
                }
                f => f,
            };
            let (id, stored) = v0::encode(&obj);
            prop_assert_eq!(verify(&id, &stored).unwrap(), obj);
        }

        /// A flipped byte of the stored (compressed) bytes is either caught or harmless: if the
        /// object still verifies, it is exactly the original object (e.g. only padding bits of the
        /// last deflate byte changed).
        #[test]
        fn v1_stream_corruption(obj in dir(), at in any::<usize>(), flip in 1u8..=255) {
            let (id, mut stored) = v1::encode(&obj);
            let i = at % stored.len();
            stored[i] ^= flip;
            if let Ok(back) = verify(&id, &stored) {
                prop_assert_eq!(back, obj);
            }
        }

        /// Different content under the same id, validly compressed, is always rejected.
        #[test]
        fn v1_content_corruption(obj in dir(), at in any::<usize>(), flip in 1u8..=127) {
            let (id, _) = v1::encode(&obj);
            let mut json = v1::to_json(&obj).into_bytes();
            let i = at % json.len();
            json[i] ^= flip;
            let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
            z.write_all(&json).unwrap();
            prop_assert!(verify(&id, &z.finish().unwrap()).is_err());
        }
    }
}
