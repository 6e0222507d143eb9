//! A policy's verdicts on tokens it let through, per worker: a repeated token is a lookup
//! plus the header writes. Keyed by the token's digest (`digest`); an entry holds the rendered identity
//! headers, and is void past the token's `exp` (plus leeway), past the introspection answer's
//! lifetime, or once the accepting server's keys changed.

use crate::common::digest::TokenDigest;
use crate::common::lru::TwoGen;
use std::cell::RefCell;
use std::borrow::Cow;
use std::rc::Rc;

/// A header the filter sets upstream: most names are the filter's own (`x-credential-sub`),
/// kept without a copy; a configured one is owned.
pub type HeaderName = Cow<'static, str>;

/// What an authenticated token yields for the request: its upstream headers, and the entries
/// later filters and access logs read (Envoy filter state `wasm.oauth_filter.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub headers: Vec<(HeaderName, String)>,
    pub state: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Verdict {
    pub headers: Rc<Rendered>,
    /// The server that accepted the token, and its keys' version then.
    pub server: usize,
    pub keys_version: u64,
    /// Last second the verdict holds.
    pub valid_until: u64,
    /// What the token is bound to (checked on every use).
    pub binding: crate::decision::binding::Binding,
    /// With `requires_all`: the other servers and what their tokens are bound to.
    pub others: Vec<(usize, crate::decision::binding::Binding)>,
    /// The token came from a header: it was read there whole (UTF-8, no comma, no control
    /// character, no whitespace at its ends), so the quick lookup may use this verdict.
    pub from_header: bool,
}

pub struct Verdicts {
    inner: RefCell<TwoGen<Verdict>>,
    /// The claims of the tokens let through lately, freed together (`keep`).
    kept: RefCell<Vec<crate::Identity>>,
}

/// How many tokens' claims `keep` holds before it frees them.
const KEPT: usize = 64;

impl std::fmt::Debug for Verdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verdicts({})", self.inner.try_borrow().map_or(0, |i| i.capacity()))
    }
}

impl Verdicts {
    pub fn new(capacity: usize) -> Verdicts {
        Verdicts { inner: RefCell::new(TwoGen::new(capacity)), kept: RefCell::new(Vec::new()) }
    }

    /// The verdict on the token with `digest`, if it still holds at `now`; `keys_version`
    /// gives a server's current keys version.
    pub fn get(&self, digest: &TokenDigest, now: u64, keys_version: impl Fn(usize) -> u64) -> Option<Verdict> {
        let mut inner = self.inner.try_borrow_mut().ok()?;
        let v = inner.get(digest)?;
        if now <= v.valid_until && v.keys_version == keys_version(v.server) {
            return Some(v.clone());
        }
        inner.remove(digest);
        None
    }

    pub fn insert(&self, digest: TokenDigest, verdict: Verdict) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.insert(digest, verdict);
        }
    }

    /// Holds the claims of a token a verdict was made on until `KEPT` are held, then frees
    /// them all. Freed by its own request, a token's claims cost it a dozen branch sites met
    /// cold (BENCHMARKS.md, the eighteenth session); freed in a batch, a warm loop. The server's
    /// verified-token cache did this before a server one policy uses alone kept none.
    pub fn keep(&self, identity: crate::Identity) {
        if let Ok(mut kept) = self.kept.try_borrow_mut() {
            if kept.len() >= KEPT {
                kept.clear();
            } else if kept.capacity() == 0 {
                kept.reserve_exact(KEPT);
            }
            kept.push(identity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_claims_are_freed_together_and_never_more_than_kept() {
        let v = Verdicts::new(8);
        let id = crate::Identity::default();
        for n in 1..=KEPT * 2 + 1 {
            v.keep(id.clone());
            let held = v.kept.borrow().len();
            assert_eq!(held, (n - 1) % KEPT + 1, "after {n}");
        }
        assert_eq!(std::rc::Rc::strong_count(&id.claims), 2, "the one held since the last batch was freed, and this one");
    }

    #[test]
    fn void_past_its_time_or_a_key_change() {
        let v = Verdicts::new(8);
        let d = [7u8; 16];
        let headers = Rc::new(Rendered { headers: vec![("x-credential-sub".into(), "a".to_string())], state: Vec::new() });
        v.insert(d, Verdict { headers, server: 1, keys_version: 3, valid_until: 100, binding: Default::default(), others: Vec::new(), from_header: true });
        assert!(v.get(&d, 100, |_| 3).is_some());
        assert!(v.get(&d, 100, |s| if s == 1 { 4 } else { 3 }).is_none(), "keys of server 1 changed");
        assert!(v.get(&d, 50, |_| 3).is_none(), "dropped once void");
        v.insert(d, Verdict { headers: Rc::default(), server: 0, keys_version: 0, valid_until: 10, binding: Default::default(), others: Vec::new(), from_header: true });
        assert!(v.get(&d, 11, |_| 0).is_none(), "past its time");
        let off = Verdicts::new(0);
        off.insert(d, Verdict { headers: Rc::default(), server: 0, keys_version: 0, valid_until: 10, binding: Default::default(), others: Vec::new(), from_header: true });
        assert!(off.get(&d, 1, |_| 0).is_none());
    }
}
