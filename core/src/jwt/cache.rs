//! Tokens already verified, so a repeated token skips the signature check: keyed by the
//! token's cache key (`digest::digest`), bounded (see `lru`), never served past the token's `exp` (plus leeway)
//! nor after the keys changed.

use crate::common::digest::TokenDigest;
use crate::common::lru::TwoGen;
use crate::Identity;
use std::cell::RefCell;

pub const DEFAULT_CAPACITY: usize = 1024;

struct Entry {
    identity: Identity,
    /// Last second the token may be used (exp + leeway), or u64::MAX without exp.
    valid_until: u64,
    keys_version: u64,
}

/// Interior mutability: the cache lives in the compiled configuration, which one VM (one
/// thread) owns.
pub struct VerifiedCache {
    inner: RefCell<TwoGen<Entry>>,
    /// Capacity 0: nothing kept, nothing looked up.
    off: bool,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifiedCache({})", self.inner.try_borrow().map_or(0, |i| i.capacity()))
    }
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache { inner: RefCell::new(TwoGen::new(capacity)), off: capacity == 0 }
    }

    /// The identity of an already verified token, if still valid at `now` with these keys.
    pub fn get(&self, key: &TokenDigest, now: u64, keys_version: u64) -> Option<Identity> {
        if self.off {
            return None;
        }
        let mut inner = self.inner.try_borrow_mut().ok()?;
        match inner.get(key) {
            Some(e) if now <= e.valid_until && e.keys_version == keys_version => Some(e.identity.clone()),
            Some(_) => {
                inner.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: TokenDigest, identity: &Identity, valid_until: u64, keys_version: u64) {
        // Capacity 0 keeps nothing (`TwoGen::insert`); `verify_cached` asks `is_on` first.
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.insert(key, Entry { identity: identity.clone(), valid_until, keys_version });
        }
    }

    /// Whether it keeps anything (its capacity is not 0).
    pub fn is_on(&self) -> bool {
        !self.off
    }

    pub fn capacity(&self) -> usize {
        self.inner.try_borrow().map_or(0, |i| i.capacity())
    }

    pub fn len(&self) -> usize {
        self.inner.try_borrow().map_or(0, |i| i.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sub: &str) -> Identity {
        Identity::new(serde_json::json!({"sub": sub}).as_object().cloned().unwrap())
    }

    #[test]
    fn bounded_expiry_and_key_versions() {
        let c = VerifiedCache::new(2);
        use crate::common::digest::digest;
        let (a, b, d) = (digest(b"a"), digest(b"b"), digest(b"d"));
        c.insert(a, &id("a"), 100, 0);
        c.insert(b, &id("b"), 100, 0);
        assert!(c.get(&b, 10, 0).is_some()); // b is now the most recent
        c.insert(d, &id("d"), 100, 0); // a goes
        assert!(c.get(&a, 10, 0).is_none());
        assert!(c.get(&d, 10, 0).is_some());
        assert!(c.get(&d, 101, 0).is_none(), "never past exp");
        c.insert(d, &id("d"), 100, 0);
        assert!(c.get(&d, 10, 1).is_none(), "keys changed");
        assert!(c.len() <= 2);
        let off = VerifiedCache::new(0);
        off.insert(a, &id("a"), 100, 0);
        assert!(off.get(&a, 1, 0).is_none());
    }
}
