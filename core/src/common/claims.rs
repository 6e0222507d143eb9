//! A token's claims as the filter holds them: a JSON object. Claims given as a map (an
//! introspection answer, a merged identity) stay one; a JWT's payload is kept as its own text
//! with each member's place in it (`jwt::payload` reads it), so a string claim is a slice of
//! that text until something asks for it as a JSON value. Every lookup answers as a map of the
//! same members would: the last of a repeated name wins.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::cell::OnceCell;

#[derive(Clone, Default)]
pub struct Claims(Repr);

#[derive(Clone)]
enum Repr {
    Map(Map<String, Value>),
    /// `times`: the members `iat`, `exp` and `nbf` in whole seconds, as read with the rest.
    Read { text: String, members: Vec<Member>, times: Times },
}

/// `iat`, `exp`, `nbf`, in this order: each in whole seconds, when present.
pub(crate) type Times = [Option<u64>; 3];

/// A time claim: `Claims::secs` of a payload reads it where the payload's reading put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    Iat = 0,
    Exp = 1,
    Nbf = 2,
}

impl Time {
    pub const fn name(self) -> &'static str {
        match self {
            Time::Iat => "iat",
            Time::Exp => "exp",
            Time::Nbf => "nbf",
        }
    }
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Map(Map::new())
    }
}

/// One member of a payload read from `text`.
#[derive(Clone)]
pub(crate) struct Member {
    /// The name's length and first bytes (`tag`): most lookups compare only this.
    tag: u64,
    key: Span,
    value: Held,
}

impl Member {
    /// The member named `key`, whose name has `tag`, with `value`.
    pub(crate) fn named(key: Span, tag: u64, value: Held) -> Member {
        Member { tag, key, value }
    }
}

/// A name's length (its low byte) and first seven bytes in one word: equal names have equal
/// tags, and names of up to seven bytes with equal tags are equal.
pub(crate) const fn tag(name: &[u8]) -> u64 {
    let mut t = if name.len() > 255 { 255 } else { name.len() as u64 };
    let (mut rest, mut shift) = (name, 8);
    while let [b, tail @ ..] = rest {
        if shift > 56 {
            break;
        }
        t |= (*b as u64) << shift;
        (rest, shift) = (tail, shift + 8);
    }
    t
}

/// A string of the payload: where it stands in the text (no escapes in it), or unescaped.
#[derive(Clone)]
pub(crate) enum Span {
    At(u32, u32),
    Own(Box<str>),
}

/// A member's value: a string without escapes as its place in the text (made a JSON value
/// the first time one is asked for), anything else as its JSON value.
#[derive(Clone)]
pub(crate) enum Held {
    Text(u32, u32, OnceCell<Value>),
    Value(Value),
}

impl Span {
    pub(crate) fn of<'a>(&'a self, text: &'a str) -> Option<&'a str> {
        match self {
            Span::At(at, len) => slice(text, *at, *len),
            Span::Own(s) => Some(s),
        }
    }

    /// Whether this name is `name` (a place was checked to be within the text when it was
    /// read).
    fn is(&self, text: &str, name: &[u8]) -> bool {
        match self {
            Span::At(at, len) => {
                *len as usize == name.len() && text.as_bytes().get(*at as usize..(*at as usize).saturating_add(name.len())) == Some(name)
            }
            Span::Own(s) => s.as_bytes() == name,
        }
    }
}

/// A claim found by name: a string as its text, anything else as its JSON value.
pub enum Claim<'a> {
    Text(&'a str),
    Value(&'a Value),
}

impl Held {
    fn value<'a>(&'a self, text: &str) -> Option<&'a Value> {
        match self {
            Held::Value(v) => Some(v),
            Held::Text(at, len, cell) => Some(cell.get_or_init(|| Value::String(slice(text, *at, *len).unwrap_or("").to_owned()))),
        }
    }
}

use crate::common::flat::slice;

impl Claims {
    pub fn new(map: Map<String, Value>) -> Claims {
        Claims(Repr::Map(map))
    }

    /// Claims read from `text` by `jwt::payload`.
    pub(crate) fn read(text: String, members: Vec<Member>, times: Times) -> Claims {
        Claims(Repr::Read { text, members, times })
    }

    /// The time claim `t` in whole seconds, when it is a number of them (`get(t.name())` as
    /// a u64), without a lookup in a payload's members.
    pub fn secs(&self, t: Time) -> Option<u64> {
        match &self.0 {
            Repr::Map(m) => m.get(t.name()).and_then(Value::as_u64),
            Repr::Read { times, .. } => times.get(t as usize).copied().flatten(),
        }
    }

    /// `secs` of `iat`, `exp` and `nbf`, in this order.
    pub fn times(&self) -> [Option<u64>; 3] {
        match &self.0 {
            Repr::Map(_) => [Time::Iat, Time::Exp, Time::Nbf].map(|t| self.secs(t)),
            Repr::Read { times, .. } => *times,
        }
    }

    /// The member named `name` (the last one of that name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match &self.0 {
            Repr::Map(m) => m.get(name),
            Repr::Read { text, members, .. } => find(text, members, name)?.value.value(text),
        }
    }

    /// The member named `name` when it is a string, without making it a JSON value.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.lookup(name)? {
            Claim::Text(s) => Some(s),
            Claim::Value(v) => v.as_str(),
        }
    }

    /// `lookup` of a name known while compiling.
    pub fn lookup_named(&self, named: &Named) -> Option<Claim<'_>> {
        self.lookup_tagged(named.name, named.tag)
    }

    /// The member named `name`, a string without making it a JSON value.
    pub fn lookup(&self, name: &str) -> Option<Claim<'_>> {
        self.lookup_tagged(name, tag(name.as_bytes()))
    }

    fn lookup_tagged(&self, name: &str, t: u64) -> Option<Claim<'_>> {
        match &self.0 {
            Repr::Map(m) => m.get(name).map(Claim::Value),
            Repr::Read { text, members, .. } => match &find_tagged(text, members, name, t)?.value {
                Held::Text(at, len, _) => slice(text, *at, *len).map(Claim::Text),
                Held::Value(v) => Some(Claim::Value(v)),
            },
        }
    }

    /// The claims as a map (sorted by name, each name once).
    pub fn to_map(&self) -> Map<String, Value> {
        match &self.0 {
            Repr::Map(m) => m.clone(),
            Repr::Read { .. } => self.clone().into_map(),
        }
    }

    pub fn into_map(self) -> Map<String, Value> {
        match self.0 {
            Repr::Map(m) => m,
            Repr::Read { text, members, .. } => {
                let mut map = Map::new();
                for m in members {
                    let (Some(k), Some(v)) = (m.key.of(&text), m.value.value(&text)) else { continue };
                    map.insert(k.to_owned(), v.clone());
                }
                map
            }
        }
    }
}

fn find<'a>(text: &str, members: &'a [Member], name: &str) -> Option<&'a Member> {
    find_tagged(text, members, name, tag(name.as_bytes()))
}

fn find_tagged<'a>(text: &str, members: &'a [Member], name: &str, t: u64) -> Option<&'a Member> {
    members.iter().rev().find(|m| m.tag == t && (name.len() <= 7 || m.key.is(text, name.as_bytes())))
}

/// A claim name known while compiling, with its tag worked out then: the claims every token's
/// identity headers read are looked up without computing it each time.
#[derive(Debug, Clone, Copy)]
pub struct Named {
    pub name: &'static str,
    tag: u64,
}

impl Named {
    pub const fn new(name: &'static str) -> Named {
        Named { name, tag: tag(name.as_bytes()) }
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Claims) -> bool {
        match (&self.0, &other.0) {
            (Repr::Map(a), Repr::Map(b)) => a == b,
            _ => self.to_map() == other.to_map(),
        }
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.0 {
            Repr::Map(m) => m.fmt(f),
            Repr::Read { .. } => self.to_map().fmt(f),
        }
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Map(m) => m.serialize(s),
            Repr::Read { .. } => self.to_map().serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(Claims::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_member_answers_as_a_map_would() {
        let text = r#"{"a":"x","a":"y","n":1}"#.to_string();
        let members = vec![
            Member::named(Span::At(2, 1), tag(b"a"), Held::Text(6, 1, OnceCell::new())),
            Member::named(Span::Own("a".into()), tag(b"a"), Held::Text(14, 1, OnceCell::new())),
            Member::named(Span::At(18, 1), tag(b"n"), Held::Value(Value::from(1))),
        ];
        let c = Claims::read(text, members, [None; 3]);
        assert_eq!(c.text("a"), Some("y"));
        assert_eq!(c.get("a"), Some(&Value::from("y")));
        assert_eq!(c.get("n"), Some(&Value::from(1)));
        assert_eq!(c.text("n"), None);
        assert_eq!(c.get("b"), None);
        assert_eq!(tag(b"abcdefgh"), tag(b"abcdefgX"));
        assert_ne!(tag(b"abc"), tag(b"abd"));
        assert_ne!(tag(b"ab"), tag(b"ab\0"));
        assert_eq!(c, Claims::new(serde_json::json!({"a": "y", "n": 1}).as_object().cloned().unwrap_or_default()));
        assert_eq!(serde_json::to_string(&c).ok().as_deref(), Some(r#"{"a":"y","n":1}"#));
    }
}
