//! Finding a name among many in logarithmic time, whatever names a peer chooses.
//!
//! The scanner looks names up in two growing lists: the attribute names of one start tag
//! (XML 1.0 "Unique Att Spec") and the namespace prefixes in scope (Namespaces in XML 1.0,
//! section 6). Both are short in real streams, where a linear search is fastest; but a peer
//! may make them long (thousands of declarations inside the default limits), and a linear
//! search per name then costs CPU quadratic in the bytes received. Past a few entries the
//! list gets a [`NameIndex`].
//!
//! The index is an ordered map from a 64-bit hash of the name to the newest entry with that
//! hash; entries whose hashes collide are chained. An ordered map has no buckets for a peer
//! to flood: to lengthen a chain it must find full 64-bit collisions, which costs about 2^32
//! hash computations for two names and far more for each one after. The hash is keyed with
//! fixed keys, so the core stays deterministic.

use std::collections::BTreeMap;
use std::hash::Hasher;

/// Below this many entries a linear search is cheaper than hashing.
pub(crate) const LINEAR: usize = 8;

const NONE: u32 = u32::MAX;

/// The hash under which a name is indexed.
pub(crate) fn hash(name: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(name);
    h.finish()
}

/// The hash of a name made of several parts (a namespace and a local name, say).
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for part in parts {
        h.write_usize(part.len());
        h.write(part);
    }
    h.finish()
}

/// An index over the first [`len`](Self::len) entries of a list that grows and shrinks at
/// its end; each entry is known by the hash of its name.
#[derive(Debug, Default, Clone)]
pub(crate) struct NameIndex {
    newest: BTreeMap<u64, u32>,
    /// For each indexed entry: the next older entry with the same hash, or `NONE`.
    older: Vec<u32>,
    /// The hash of each indexed entry, so that popping needs no access to the names.
    hashes: Vec<u64>,
}

impl NameIndex {
    /// How many entries, from the start of the list, are indexed.
    #[inline]
    pub fn len(&self) -> usize {
        self.older.len()
    }

    /// Indexes the next entry of the list, whose name hashes to `hash`.
    pub fn push(&mut self, hash: u64) {
        let idx = self.older.len() as u32;
        let older = self.newest.insert(hash, idx).unwrap_or(NONE);
        self.older.push(older);
        self.hashes.push(hash);
    }

    /// Forgets the entries from `len` on (the list was truncated to `len`).
    pub fn truncate(&mut self, len: usize) {
        while self.older.len() > len {
            let (Some(older), Some(hash)) = (self.older.pop(), self.hashes.pop()) else {
                break;
            };
            if older == NONE {
                self.newest.remove(&hash);
            } else {
                self.newest.insert(hash, older);
            }
        }
    }

    /// The entries whose names hash to `hash`, newest first: the caller compares the names.
    pub fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let mut next = self.newest.get(&hash).copied().unwrap_or(NONE);
        core::iter::from_fn(move || {
            let idx = next;
            if idx == NONE {
                return None;
            }
            next = self.older.get(idx as usize).copied().unwrap_or(NONE);
            Some(idx as usize)
        })
    }

    /// Forgets everything and gives the memory back.
    pub fn release(&mut self) {
        // Most units never index a name: nothing to give back then.
        if self.older.capacity() != 0 || self.hashes.capacity() != 0 || !self.newest.is_empty() {
            *self = NameIndex::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_entry_and_forgets_popped_ones() {
        let names: [&[u8]; 5] = [b"a", b"b", b"a", b"c", b"a"];
        let mut index = NameIndex::default();
        for n in names {
            index.push(hash(n));
        }
        let found = |index: &NameIndex, n: &[u8]| -> Vec<usize> {
            index
                .candidates(hash(n))
                .filter(|&i| names[i] == n)
                .collect()
        };
        assert_eq!(found(&index, b"a"), [4, 2, 0]);
        assert_eq!(found(&index, b"c"), [3]);
        index.truncate(3);
        assert_eq!(found(&index, b"a"), [2, 0]);
        assert_eq!(found(&index, b"c"), Vec::<usize>::new());
        index.truncate(0);
        assert_eq!(index.len(), 0);
        assert!(index.newest.is_empty());
    }

    #[test]
    fn colliding_hashes_are_chained_not_lost() {
        let mut index = NameIndex::default();
        index.push(7);
        index.push(7);
        index.push(9);
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), [1, 0]);
        index.truncate(1);
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), [0]);
        assert_eq!(index.candidates(9).count(), 0);
    }
}
