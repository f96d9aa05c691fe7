//! File contents: split into blocks, stored, and described by a file object.
//!
//! Splitting is fixed-size, as seaf-server does for web uploads (`fixed_block_size`), with the
//! block size a parameter so that tests get multi-block files cheaply. Contents are produced block
//! by block from a seeded RNG and written as they are produced, so a 200 MiB file never sits in
//! memory.
//!
//! Encrypted libraries hold ciphertext in their blocks. The simulator does not encrypt; it writes
//! random bytes of the length AES-CBC with PKCS#7 padding would give (the next multiple of 16 above
//! the plaintext chunk), and the file object keeps the plaintext size, as Seafile does.

use anyhow::Result;
use rand::{Rng, RngCore};
use seaf_objects::fs::{FsObject, SeafFile, v1};
use seaf_objects::{ObjectId, RepoId};

use crate::writer::Store;

/// What a file's bytes look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Random bytes (incompressible, like photos or archives).
    Random,
    /// Lines of words (so a demo shows readable text files).
    Text,
    /// One random block repeated: the file object lists the same block id several times.
    RepeatedBlock,
}

/// Writes file contents of one library's store.
pub struct ContentWriter<'a> {
    pub store: &'a Store,
    pub store_id: &'a RepoId,
    pub block_size: usize,
    pub encrypted: bool,
}

const WORDS: &[&str] = &[
    "backup",
    "seafile",
    "library",
    "commit",
    "block",
    "report",
    "draft",
    "meeting",
    "budget",
    "plan",
    "release",
    "notes",
    "Straße",
    "café",
    "naïve",
    "日本",
    "данные",
    "résumé",
    "quarter",
    "summary",
];

impl ContentWriter<'_> {
    /// Writes a file of `size` bytes and returns its file object id (`EMPTY_SHA1` for 0 bytes:
    /// an empty file has no object).
    pub fn write_file(&self, rng: &mut impl RngCore, size: u64, fill: Fill) -> Result<ObjectId> {
        if size == 0 {
            return Ok(ObjectId::EMPTY);
        }
        let mut block_ids = Vec::with_capacity(size.div_ceil(self.block_size as u64) as usize);
        let mut buf = Vec::with_capacity(self.block_size.min(size as usize) + 16);
        let mut repeated: Option<(u64, ObjectId)> = None;
        let mut left = size;
        while left > 0 {
            let chunk = left.min(self.block_size as u64) as usize;
            left -= chunk as u64;
            if fill == Fill::RepeatedBlock
                && let Some((len, id)) = repeated
                && len == chunk as u64
            {
                block_ids.push(id);
                continue;
            }
            // Ciphertext of an AES-CBC chunk: always padded, to the next multiple of 16.
            let stored_len = if self.encrypted { (chunk / 16 + 1) * 16 } else { chunk };
            buf.clear();
            buf.resize(stored_len, 0);
            match fill {
                Fill::Text if !self.encrypted => fill_text(rng, &mut buf),
                _ => rng.fill_bytes(&mut buf),
            }
            let id = ObjectId::hash_of(&buf);
            self.store.write_block(self.store_id, &id, &buf)?;
            if fill == Fill::RepeatedBlock {
                repeated = Some((chunk as u64, id));
            }
            block_ids.push(id);
        }
        let (id, stored) = v1::encode(&FsObject::File(SeafFile { block_ids, size }));
        self.store.write_fs(self.store_id, &id, &stored)?;
        Ok(id)
    }
}

/// Fills `buf` with words and line breaks, cutting the last word to fit exactly.
fn fill_text(rng: &mut impl RngCore, buf: &mut [u8]) {
    let len = buf.len();
    let mut p = 0;
    let mut line = 0;
    let mut put = |p: &mut usize, bytes: &[u8]| {
        for &b in bytes {
            if *p == buf.len() {
                return;
            }
            buf[*p] = b;
            *p += 1;
        }
    };
    while p < len {
        if line > 60 {
            put(&mut p, b"\n");
            line = 0;
        } else {
            let word = WORDS[rng.random_range(0..WORDS.len())].as_bytes();
            put(&mut p, word);
            put(&mut p, b" ");
            line += word.len() + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use seaf_objects::ObjectKind;

    fn setup() -> (tempfile::TempDir, Store, RepoId) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(Layout::new(tmp.path()));
        (tmp, store, RepoId::parse("3f9e4aa5-d6ba-4066-a1d6-81824f422af1").unwrap())
    }

    fn blocks_of(store: &Store, repo: &RepoId, id: &ObjectId) -> (Vec<ObjectId>, u64) {
        match store.read_fs(repo, id).unwrap() {
            FsObject::File(f) => (f.block_ids, f.size),
            FsObject::Dir(_) => panic!("dir"),
        }
    }

    #[test]
    fn splits_fixed_size_and_hashes_blocks() {
        let (_tmp, store, repo) = setup();
        let w = ContentWriter { store: &store, store_id: &repo, block_size: 1000, encrypted: false };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(w.write_file(&mut rng, 0, Fill::Random).unwrap(), ObjectId::EMPTY);
        let id = w.write_file(&mut rng, 2500, Fill::Text).unwrap();
        let (blocks, size) = blocks_of(&store, &repo, &id);
        assert_eq!(size, 2500);
        let sizes: Vec<usize> = blocks
            .iter()
            .map(|b| {
                let data = store.read(ObjectKind::Block, &repo, b).unwrap();
                assert_eq!(ObjectId::hash_of(&data), *b);
                data.len()
            })
            .collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);

        let rep = w.write_file(&mut rng, 3000, Fill::RepeatedBlock).unwrap();
        let (blocks, _) = blocks_of(&store, &repo, &rep);
        assert_eq!(blocks.len(), 3);
        assert!(blocks.iter().all(|b| *b == blocks[0]));
    }

    #[test]
    fn encrypted_blocks_are_padded_to_16() {
        let (_tmp, store, repo) = setup();
        let w = ContentWriter { store: &store, store_id: &repo, block_size: 1000, encrypted: true };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let id = w.write_file(&mut rng, 2032, Fill::Text).unwrap();
        let (blocks, size) = blocks_of(&store, &repo, &id);
        assert_eq!(size, 2032, "the file object keeps the plaintext size");
        let sizes: Vec<usize> = blocks.iter().map(|b| store.read(ObjectKind::Block, &repo, b).unwrap().len()).collect();
        assert_eq!(sizes, vec![1008, 1008, 48]);
    }
}
