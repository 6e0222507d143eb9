//! Tokens already verified, so a repeated token skips the signature check: keyed by the
//! token's SHA-256, bounded (least recently used out first), never served past the token's
//! `exp` (plus leeway) nor after the keys changed.

use crate::Identity;
use std::cell::RefCell;
use std::collections::HashMap;

pub const DEFAULT_CAPACITY: usize = 1024;

struct Entry {
    identity: Identity,
    /// Last second the token may be used (exp + leeway), or u64::MAX without exp.
    valid_until: u64,
    keys_version: u64,
    last_used: u64,
}

/// Interior mutability: the cache lives in the compiled configuration, which one VM (one
/// thread) owns.
pub struct VerifiedCache {
    capacity: usize,
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<[u8; 32], Entry>,
    clock: u64,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifiedCache({})", self.capacity)
    }
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache { capacity, inner: RefCell::new(Inner::default()) }
    }

    pub fn key(token: &str) -> [u8; 32] {
        hmac_sha256::Hash::hash(token.as_bytes())
    }

    /// The identity of an already verified token, if still valid at `now` with these keys.
    pub fn get(&self, key: &[u8; 32], now: u64, keys_version: u64) -> Option<Identity> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.try_borrow_mut().ok()?;
        inner.clock += 1;
        let clock = inner.clock;
        let fresh = match inner.map.get_mut(key) {
            Some(e) if now <= e.valid_until && e.keys_version == keys_version => {
                e.last_used = clock;
                return Some(e.identity.clone());
            }
            Some(_) => false,
            None => return None,
        };
        if !fresh {
            inner.map.remove(key);
        }
        None
    }

    pub fn insert(&self, key: [u8; 32], identity: &Identity, valid_until: u64, keys_version: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.try_borrow_mut() else { return };
        if inner.map.len() >= self.capacity && !inner.map.contains_key(&key) {
            if let Some(oldest) = inner.map.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| *k) {
                inner.map.remove(&oldest);
            }
        }
        inner.clock += 1;
        let last_used = inner.clock;
        inner.map.insert(key, Entry { identity: identity.clone(), valid_until, keys_version, last_used });
    }

    pub fn len(&self) -> usize {
        self.inner.try_borrow().map_or(0, |i| i.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sub: &str) -> Identity {
        Identity { claims: serde_json::json!({"sub": sub}).as_object().cloned().unwrap() }
    }

    #[test]
    fn bounded_lru_expiry_and_key_versions() {
        let c = VerifiedCache::new(2);
        let (a, b, d) = (VerifiedCache::key("a"), VerifiedCache::key("b"), VerifiedCache::key("d"));
        c.insert(a, &id("a"), 100, 0);
        c.insert(b, &id("b"), 100, 0);
        assert!(c.get(&a, 10, 0).is_some()); // a is now the most recent
        c.insert(d, &id("d"), 100, 0); // evicts b
        assert!(c.get(&b, 10, 0).is_none());
        assert!(c.get(&a, 10, 0).is_some());
        assert!(c.get(&a, 101, 0).is_none(), "never past exp");
        assert!(c.get(&d, 10, 1).is_none(), "keys changed");
        assert!(c.len() <= 2);
        let off = VerifiedCache::new(0);
        off.insert(a, &id("a"), 100, 0);
        assert!(off.get(&a, 1, 0).is_none());
    }
}
