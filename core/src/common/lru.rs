//! A bounded map from token keys (`digest::digest`) to values for the per-worker caches: two generations,
//! the newer taking inserts and hits, the older dropped whole when the newer fills half the
//! capacity. Every operation is O(1) (no scan for the least recently used entry), and an
//! entry used within the last half-capacity operations always survives.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

type Key = crate::common::digest::TokenDigest;

/// Keys are outputs of a keyed hash, already uniform: their first eight bytes are the hash.
/// A key hashes as its length (ignored) and then its bytes, read as one word.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(word) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*word);
        }
    }
    fn write_usize(&mut self, _length: usize) {}
}

type Map<V> = HashMap<Key, V, BuildHasherDefault<DigestHasher>>;

pub struct TwoGen<V> {
    capacity: usize,
    new: Map<V>,
    old: Map<V>,
}

impl<V> TwoGen<V> {
    pub fn new(capacity: usize) -> TwoGen<V> {
        TwoGen { capacity, new: Map::default(), old: Map::default() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The entry for `key`, moved to the newer generation; None when absent.
    pub fn get(&mut self, key: &Key) -> Option<&V> {
        // A key is in one generation at most (`insert`): the older one is looked at first, as
        // a hit is then one lookup in the newer (often alone) and a miss in the older.
        if let Some(v) = self.old.remove(key) {
            self.insert(*key, v);
        }
        self.new.get(key)
    }

    pub fn remove(&mut self, key: &Key) {
        self.new.remove(key);
        self.old.remove(key);
    }

    pub fn insert(&mut self, key: Key, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.old.remove(&key);
        if self.new.len() >= self.capacity.div_ceil(2) && !self.new.contains_key(&key) {
            // The older generation's table, emptied, takes the inserts from now on: it already
            // has room for half the capacity, so the newer one never grows (rehashing every
            // entry at each doubling) nor is freed and allocated again.
            std::mem::swap(&mut self.old, &mut self.new);
            self.new.clear();
        }
        self.new.insert(key, value);
    }

    pub fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> Key {
        let mut key = [0u8; 16];
        key[0] = n;
        key[15] = n;
        key
    }

    #[test]
    fn a_key_hashes_as_its_first_eight_bytes() {
        use std::hash::BuildHasher;
        let key: Key = std::array::from_fn(|i| i as u8 + 1);
        let hash = BuildHasherDefault::<DigestHasher>::default().hash_one(key);
        assert_eq!(hash, u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn bounded_and_keeps_what_is_used() {
        let mut c = TwoGen::new(4);
        c.insert(k(200), 200);
        for n in 0..100 {
            c.insert(k(n), n);
            assert_eq!(c.get(&k(200)), Some(&200), "used between inserts, never dropped");
            assert!(c.len() <= 4);
        }
        assert_eq!(c.get(&k(0)), None, "unused, it went with its generation");
        assert_eq!(c.get(&k(99)), Some(&99));
        c.remove(&k(200));
        assert_eq!(c.get(&k(200)), None);
        let mut off = TwoGen::new(0);
        off.insert(k(1), 1);
        assert!(off.is_empty());
    }
}
