//! A JWT's claims read from its payload JSON in one pass, exactly as jwt-simple's `JWTClaims`
//! reads them (serde's `flatten` there buffers the whole payload and converts it twice): `iat`, `exp`, `nbf` are
//! numbers (a negative integer refused, a fraction cut); `iss`, `sub`, `jti`, `nonce` are a
//! string or null; `aud` is a string or an array of strings; none of these may appear twice;
//! every other member goes to `custom`, the last of a repeated name winning. The same answer
//! as jwt-simple's reading is checked in core/tests/claims_reading.rs and by the `claims`
//! fuzz target.

use crate::common::claims::{self, Claims, Held, Member, Span, Times};
use crate::common::flat::{self, Flat};
use crate::Identity;
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::cell::OnceCell;

const REGISTERED: [&str; 8] = ["iat", "exp", "nbf", "iss", "sub", "aud", "jti", "nonce"];

/// The registered names' tags, in the same order (each under eight bytes, so a tag is its
/// name). Built at compile time: an index out of range would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const REGISTERED_TAGS: [u64; 8] = {
    let mut tags = [0; 8];
    let mut i = 0;
    while i < 8 {
        tags[i] = claims::tag(REGISTERED[i].as_bytes());
        i += 1;
    }
    tags
};

/// A multiplier sending the eight registered tags to eight different slots (its top three
/// bits), found by a search: a name is then one multiplication and one comparison from its
/// index, where a scan compared it with each tag (`each_registered_name_has_a_slot_of_its_own`).
const SPREAD: u64 = 0xed2f_89d9_4a2f_20ab;

const fn slot(tag: u64) -> usize {
    (tag.wrapping_mul(SPREAD) >> 61) as usize
}

/// Per slot: the registered tag there and its index in REGISTERED.
#[allow(clippy::indexing_slicing)]
const BY_SLOT: [(u64, usize); 8] = {
    let mut by_slot = [(0, 0); 8];
    let mut i = 0;
    while i < 8 {
        by_slot[slot(REGISTERED_TAGS[i])] = (REGISTERED_TAGS[i], i);
        i += 1;
    }
    by_slot
};

/// The index in REGISTERED of the name whose tag is `tag`, if it is one of them.
fn registered_index(tag: u64) -> Option<usize> {
    let (t, i) = BY_SLOT.get(slot(tag)).copied()?;
    (t == tag).then_some(i)
}

/// The claims of a payload as the filter keeps them, or None where jwt-simple refuses it: the
/// same claims as `Identity::from_jwt` of jwt-simple's reading (whole seconds, a null
/// `iss`/`sub`/`jti`/`nonce` absent, an `aud` array sorted without repeats). The payload is
/// kept as text and a string without escapes stays a place in it: no map, no copy of a name
/// or of such a string (the larger part of a first-seen token's own work when they were made).
pub fn read(bytes: &[u8]) -> Option<Identity> {
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    read_text(text)
}

/// As `read`, taking the decoded payload as it is.
pub fn read_owned(bytes: Vec<u8>) -> Option<Identity> {
    read_text(String::from_utf8(bytes).ok()?)
}

fn read_text(text: String) -> Option<Identity> {
    // A flat object (most payloads): read without serde, each member admitted as it is read.
    let mut admitted = Admitted { members: Vec::with_capacity(16), seen: 0, times: [None; 3] };
    let (members, times) = match flat::each(&text, |key, value| admitted.admit_flat(key, &text, value)) {
        Ok(()) => (admitted.members, admitted.times),
        Err(Some(_refused)) => return None,
        Err(None) => {
            let mut de = serde_json::Deserializer::from_str(&text);
            let read = Object { base: &text }.deserialize(&mut de).ok()?;
            de.end().ok()?;
            read
        }
    };
    Some(Identity::of(Claims::read(text, members, times)))
}

/// The members read so far, the registered claims checked and normalized: a registered claim
/// given twice, or of the wrong type, is refused.
#[derive(Default)]
struct Admitted {
    members: Vec<Member>,
    seen: u8,
    /// `iat`, `exp`, `nbf` as kept (`Claims::secs`).
    times: Times,
}

const WRONG_TYPE: &str = "a registered claim of the wrong type";

impl Admitted {
    /// The member named `key` (in `text`) with `value`.
    fn admit(&mut self, key: Span, text: &str, value: Held) -> Result<(), &'static str> {
        let name = key.of(text).ok_or("a name outside the payload")?;
        let t = claims::tag(name.as_bytes());
        let Some(i) = self.registered(t)? else {
            self.members.push(Member::named(key, t, value));
            return Ok(());
        };
        let value = match value {
            // A string: right for every registered claim but the times.
            Held::Text(..) if i < TIMES_END => return Err(WRONG_TYPE),
            Held::Text(..) => value,
            Held::Value(mut v) => {
                if !registered(i, &mut v) {
                    return Err(WRONG_TYPE);
                }
                if let Some(at) = self.times.get_mut(i) {
                    *at = v.as_u64();
                }
                if v.is_null() {
                    return Ok(());
                }
                Held::Value(v)
            }
        };
        self.members.push(Member::named(key, t, value));
        Ok(())
    }

    /// `admit` of a member of a flat object, its value as `flat` read it: the same checks as
    /// `registered` makes on the JSON value, made on the four kinds a flat member can be.
    fn admit_flat(&mut self, (at, len): (u32, u32), text: &str, value: Flat) -> Result<(), &'static str> {
        let name = flat::slice(text, at, len).ok_or("a name outside the payload")?;
        let t = claims::tag(name.as_bytes());
        let value = match (self.registered(t)?, value) {
            // The times: whole seconds, held at u32::MAX (`whole_seconds`).
            (Some(i @ 0..TIMES_END), Flat::Whole(n)) => {
                let secs = n.min(u64::from(u32::MAX));
                if let Some(at) = self.times.get_mut(i) {
                    *at = Some(secs);
                }
                Held::Value(Value::from(secs))
            }
            (Some(0..TIMES_END), _) => return Err(WRONG_TYPE),
            // `aud`, `iss`, `sub`, `jti`, `nonce`: a string; the last four may be null (left out).
            (Some(_), Flat::Text(at, len)) => Held::Text(at, len, OnceCell::new()),
            (Some(i), Flat::Null) if i != AUD => return Ok(()),
            (Some(_), _) => return Err(WRONG_TYPE),
            (None, Flat::Text(at, len)) => Held::Text(at, len, OnceCell::new()),
            (None, Flat::Whole(n)) => Held::Value(Value::from(n)),
            (None, Flat::Bool(b)) => Held::Value(Value::Bool(b)),
            (None, Flat::Null) => Held::Value(Value::Null),
        };
        self.members.push(Member::named(Span::At(at, len), t, value));
        Ok(())
    }

    /// The index in REGISTERED of the claim whose name has tag `t`, now seen; an error when it
    /// was seen before.
    fn registered(&mut self, t: u64) -> Result<Option<usize>, &'static str> {
        let Some(i) = registered_index(t) else { return Ok(None) };
        if self.seen & (1 << i) != 0 {
            return Err("a registered claim given twice");
        }
        self.seen |= 1 << i;
        Ok(Some(i))
    }
}

/// Where `s`, borrowed from `base`, stands in it.
fn place<E: Error>(base: &str, s: &str) -> Result<(u32, u32), E> {
    let at = (s.as_ptr() as usize).checked_sub(base.as_ptr() as usize).filter(|at| at + s.len() <= base.len());
    match (at.and_then(|a| u32::try_from(a).ok()), u32::try_from(s.len())) {
        (Some(at), Ok(len)) => Ok((at, len)),
        _ => Err(E::custom("a string outside the payload")),
    }
}

/// The payload's object, the registered claims checked and normalized as they are read: a
/// registered claim given twice is an error.
struct Object<'b> {
    base: &'b str,
}

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = (Vec<Member>, Times);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(Vec<Member>, Times), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = (Vec<Member>, Times);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(Vec<Member>, Times), A::Error> {
        let mut admitted = Admitted::default();
        while let Some(key) = access.next_key_seed(Key { base: self.base })? {
            let value = access.next_value_seed(Member1 { base: self.base })?;
            admitted.admit(key, self.base, value).map_err(A::Error::custom)?;
        }
        Ok((admitted.members, admitted.times))
    }
}

/// A member's name: its place in the payload, or unescaped.
struct Key<'b> {
    base: &'b str,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Span;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Span, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Span;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a name")
    }
    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Span, E> {
        let (at, len) = place(self.base, s)?;
        Ok(Span::At(at, len))
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<Span, E> {
        Ok(Span::Own(s.into()))
    }
}

/// A member's value: a string without escapes as its place in the payload; anything else as
/// serde_json's `Value` reads it (the same deserializer, so the same numbers and depth limit).
struct Member1<'b> {
    base: &'b str,
}

impl<'de> DeserializeSeed<'de> for Member1<'_> {
    type Value = Held;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Held, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member1<'_> {
    type Value = Held;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Held, E> {
        let (at, len) = place(self.base, s)?;
        Ok(Held::Text(at, len, OnceCell::new()))
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<Held, E> {
        Ok(Held::Value(Value::String(s.to_owned())))
    }
    fn visit_string<E: Error>(self, s: String) -> Result<Held, E> {
        Ok(Held::Value(Value::String(s)))
    }
    fn visit_bool<E: Error>(self, b: bool) -> Result<Held, E> {
        Ok(Held::Value(Value::Bool(b)))
    }
    fn visit_i64<E: Error>(self, n: i64) -> Result<Held, E> {
        Ok(Held::Value(Value::from(n)))
    }
    fn visit_u64<E: Error>(self, n: u64) -> Result<Held, E> {
        Ok(Held::Value(Value::from(n)))
    }
    fn visit_f64<E: Error>(self, n: f64) -> Result<Held, E> {
        Ok(Held::Value(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)))
    }
    fn visit_unit<E: Error>(self) -> Result<Held, E> {
        Ok(Held::Value(Value::Null))
    }
    fn visit_none<E: Error>(self) -> Result<Held, E> {
        Ok(Held::Value(Value::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Held, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(access)).map(Held::Value)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Held, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(access)).map(Held::Value)
    }
}

/// The registered claim at `index` in REGISTERED checked and normalized in place (false:
/// refused). A null `iss`, `sub`, `jti` or `nonce` stays null here and is left out by the
/// caller.
fn registered(index: usize, v: &mut Value) -> bool {
    match index {
        0..TIMES_END => whole_seconds(v).is_some(),
        AUD => match v {
            Value::String(_) => true,
            Value::Array(items) if items.iter().all(Value::is_string) => {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                items.dedup();
                true
            }
            _ => false,
        },
        _ => matches!(v, Value::String(_) | Value::Null),
    }
}

/// In REGISTERED: the times come first (`iat`, `exp`, `nbf`), then `aud` is at 5.
const TIMES_END: usize = 3;
const AUD: usize = 5;

/// A time claim: a non-negative number, kept as whole seconds as jwt-simple keeps them (a
/// fraction cut; beyond u32::MAX seconds, in the year 2106, held at u32::MAX); anything else
/// (null and negatives included): None.
fn whole_seconds(v: &mut Value) -> Option<()> {
    const MAX: u64 = u32::MAX as u64;
    let Value::Number(n) = v else { return None };
    let secs = match n.as_u64() {
        Some(s) if s <= MAX => return Some(()),
        Some(s) => s,
        None if n.is_i64() => return None, // negative
        None => n.as_f64()? as u64,
    };
    *v = Value::from(secs.min(MAX));
    Some(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_registered_name_has_a_slot_of_its_own() {
        for (i, name) in super::REGISTERED.iter().enumerate() {
            assert_eq!(super::registered_index(crate::common::claims::tag(name.as_bytes())), Some(i), "{name}");
        }
        assert_eq!((super::REGISTERED[super::AUD], &super::REGISTERED[..super::TIMES_END]), ("aud", &["iat", "exp", "nbf"][..]));
        for other in ["", "iad", "ia", "iatt", "nonces", "scope", "sub2", "Sub", "aud\0"] {
            assert_eq!(super::registered_index(crate::common::claims::tag(other.as_bytes())), None, "{other}");
        }
    }

    #[test]
    fn each_registered_tag_is_its_name_s() {
        for (name, t) in super::REGISTERED.iter().zip(super::REGISTERED_TAGS) {
            assert_eq!(crate::common::claims::tag(name.as_bytes()), t, "{name}");
        }
    }
}
