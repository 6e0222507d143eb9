//! The JOSE headers of the last tokens verified, each read and checked once. An issuer signs
//! every token of one key under the same header (`{"alg":"RS256","kid":"k1","typ":"JWT"}`), so
//! a token seen for the first time finds its header segment here, byte for byte, and skips
//! its base64url decoding, its JSON reading and the checks on it: less code per first-seen
//! token (what such a token costs in Envoy is the code it runs, BENCHMARKS.md).
//!
//! Only a header that passed every check is kept, with what the checks made of it; the
//! outcome depends on nothing but the segment's bytes and the rules that own this cache, so a
//! header found here gets the answer reading it again would give. A handful of slots, taken
//! in turn: a client sending many headers only makes others read theirs again.

use super::alg::Alg;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Headers kept per set of JWT rules.
const SLOTS: usize = 4;
/// A longer header segment is read every time (no issuer's header is this long).
const MAX_SEGMENT: usize = 512;

/// What the checks made of a header that passed them.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub alg: Alg,
    pub kid: Option<String>,
}

/// A kept header: its segment (base64url, as in the token) and what the checks made of it.
type Slot = Option<(Box<str>, Rc<Head>)>;

/// Interior mutability: as the verified-token cache, it lives in the compiled configuration,
/// which one VM (one thread) owns.
#[derive(Default)]
pub struct Heads {
    slots: RefCell<[Slot; SLOTS]>,
    next: Cell<usize>,
}

impl std::fmt::Debug for Heads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heads")
    }
}

impl Heads {
    /// The checked header whose segment is `segment`, if kept.
    pub fn get(&self, segment: &str) -> Option<Rc<Head>> {
        let slots = self.slots.try_borrow().ok()?;
        slots.iter().flatten().find(|(s, _)| **s == *segment).map(|(_, h)| Rc::clone(h))
    }

    /// Keeps `head`, the checked header of `segment`, in the next slot.
    pub fn put(&self, segment: &str, head: &Rc<Head>) {
        let Ok(mut slots) = self.slots.try_borrow_mut() else { return };
        if segment.len() > MAX_SEGMENT {
            return;
        }
        let at = self.next.get() % SLOTS;
        if let Some(slot) = slots.get_mut(at) {
            *slot = Some((segment.into(), Rc::clone(head)));
        }
        self.next.set(at + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kid: &str) -> Rc<Head> {
        Rc::new(Head { alg: Alg::RS256, kid: Some(kid.into()) })
    }

    #[test]
    fn keeps_the_last_headers_by_their_exact_segment() {
        let heads = Heads::default();
        assert_eq!(heads.get("a"), None);
        heads.put("a", &head("1"));
        assert_eq!(heads.get("a"), Some(head("1")));
        assert_eq!(heads.get("A"), None);
        assert_eq!(heads.get("a "), None);
        for s in ["b", "c", "d"] {
            heads.put(s, &head(s));
        }
        assert_eq!(heads.get("a"), Some(head("1")));
        heads.put("e", &head("e"));
        assert_eq!(heads.get("a"), None, "the oldest slot is taken");
        assert_eq!(heads.get("e"), Some(head("e")));
        heads.put(&"x".repeat(MAX_SEGMENT + 1), &head("x"));
        assert_eq!(heads.get(&"x".repeat(MAX_SEGMENT + 1)), None);
    }
}
