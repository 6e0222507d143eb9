//! The JOSE header of a compact JWS, read before any key is chosen. Only `alg`, `kid`, `typ`,
//! `crit` and `zip` matter; `jku`, `x5u` and `jwk` are never followed.

use crate::Denial;
use crate::common::{b64url, codec};
use crate::common::flat::{self, Flat};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;


/// Largest encoded header accepted.
const MAX_HEADER_B64: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub has_crit: bool,
    /// A `zip` member: a compressed payload (JWE's), never accepted in a JWS.
    pub has_zip: bool,
}

/// A compact JWS cut at its two dots, once: its header is read, then its signature checked,
/// from the same cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jws<'a> {
    /// The header, its dot and the payload: what the signature covers.
    pub signed: &'a str,
    pub head: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
}

impl<'a> Jws<'a> {
    /// The three parts of `token`; Malformed unless it has exactly two dots.
    pub fn cut(token: &'a str) -> Result<Jws<'a>, Denial> {
        let (head, payload, signature) = codec::three_parts(token).ok_or(Denial::Malformed)?;
        let signed = token.get(..head.len() + 1 + payload.len()).ok_or(Denial::Malformed)?;
        Ok(Jws { signed, head, payload, signature })
    }
}

/// Checks the header segment (not empty, not too long) and decodes it.
pub fn parse(jws: &Jws) -> Result<Header, Denial> {
    let head = jws.head;
    if head.is_empty() || head.len() > MAX_HEADER_B64 {
        return Err(Denial::Malformed);
    }
    let bytes = b64url::decode(head).ok_or(Denial::Malformed)?;
    match std::str::from_utf8(&bytes).ok().and_then(flat_header) {
        Some(h) => h,
        None => serde_header(&bytes),
    }
}

/// The header from the members that matter, each `Some` when present, holding its string
/// when it is one: `alg` must be a string, `kid` and `typ` strings when present.
fn header(alg: Option<Option<&str>>, kid: Option<Option<&str>>, typ: Option<Option<&str>>, has_crit: bool, has_zip: bool) -> Result<Header, Denial> {
    let text = |v: Option<Option<&str>>| match v {
        None => Ok(None),
        Some(Some(s)) => Ok(Some(s.to_owned())),
        Some(None) => Err(Denial::Malformed),
    };
    let alg = text(alg)?.ok_or(Denial::Malformed)?;
    Ok(Header { alg, kid: text(kid)?, typ: text(typ)?, has_crit, has_zip })
}

/// Any header JSON, read through serde.
fn serde_header(bytes: &[u8]) -> Result<Header, Denial> {
    let Members { alg, kid, typ, has_crit, has_zip } = serde_json::from_slice(bytes).map_err(|_| Denial::Malformed)?;
    fn text(v: &Option<Value>) -> Option<Option<&str>> {
        v.as_ref().map(Value::as_str)
    }
    header(text(&alg), text(&kid), text(&typ), has_crit, has_zip)
}

/// A flat header (every member a string, a whole number, a boolean or null: most are) read
/// without serde, as `Members` reads it; None for any other text.
fn flat_header(text: &str) -> Option<Result<Header, Denial>> {
    // Per member that matters: present, and its string if it is one.
    let (mut alg, mut kid, mut typ, mut has_crit, mut has_zip) = (None, None, None, false, false);
    for ((at, len), value) in flat::members(text)? {
        let string = match value {
            Flat::Text(at, len) => Some(flat::slice(text, at, len)?),
            _ => None,
        };
        match flat::slice(text, at, len)? {
            "alg" => alg = Some(string),
            "kid" => kid = Some(string),
            "typ" => typ = Some(string),
            "crit" => has_crit = true,
            "zip" => has_zip = true,
            _ => {}
        }
    }
    Some(header(alg, kid, typ, has_crit, has_zip))
}

/// The header object's members that matter, read in one pass without building a map: as a
/// map would hold them (a repeated member's last value wins), every other member skipped
/// (still checked to be JSON).
struct Members {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    has_crit: bool,
    has_zip: bool,
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members, A::Error> {
                let mut m = Members { alg: None, kid: None, typ: None, has_crit: false, has_zip: false };
                while let Some(key) = access.next_key::<Key>()? {
                    match key {
                        Key::Alg => m.alg = Some(access.next_value()?),
                        Key::Kid => m.kid = Some(access.next_value()?),
                        Key::Typ => m.typ = Some(access.next_value()?),
                        other => {
                            m.has_crit |= other == Key::Crit;
                            m.has_zip |= other == Key::Zip;
                            access.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(Object)
    }
}

/// A header member's name, matched without keeping it (escapes already undone).
#[derive(PartialEq, Eq)]
enum Key {
    Alg,
    Kid,
    Typ,
    Crit,
    Zip,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "alg" => Key::Alg,
                    "kid" => Key::Kid,
                    "typ" => Key::Typ,
                    "crit" => Key::Crit,
                    "zip" => Key::Zip,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(token: &str) -> Result<Header, Denial> {
        parse(&Jws::cut(token)?)
    }

    #[test]
    fn a_cut_keeps_what_the_signature_covers() {
        let jws = Jws::cut("ab.cde.fg").unwrap();
        assert_eq!((jws.signed, jws.head, jws.payload, jws.signature), ("ab.cde", "ab", "cde", "fg"));
        assert_eq!(Jws::cut("..").map(|j| j.signed), Ok("."));
        for t in ["", "a.b", "a.b.c.d"] {
            assert_eq!(Jws::cut(t), Err(Denial::Malformed), "{t}");
        }
    }

    fn enc(s: &str) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s)
    }

    #[test]
    fn reads_alg_and_kid() {
        let t = format!("{}.e30.sig", enc(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#));
        assert_eq!(read(&t), Ok(Header { alg: "RS256".into(), kid: Some("k1".into()), typ: Some("JWT".into()), has_crit: false, has_zip: false }));
    }

    #[test]
    fn reads_members_as_a_map_would() {
        // A repeated member: the last one counts; escaped names are the names; other members
        // are skipped but must be JSON.
        let t = format!("{}.e30.sig", enc(r#"{"alg":5,"\u0061lg":"ES256","crit":["x"],"jwk":{"a":[1,{"b":null}]},"zip":"DEF"}"#));
        assert_eq!(read(&t), Ok(Header { alg: "ES256".into(), kid: None, typ: None, has_crit: true, has_zip: true }));
        let t = format!("{}.e30.sig", enc(r#"{"alg":"ES256","alg":5}"#));
        assert_eq!(read(&t), Err(Denial::Malformed));
    }

    #[test]
    fn a_flat_header_is_read_as_serde_reads_it() {
        let serde = |text: &str| serde_header(text.as_bytes());
        for text in [
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"alg":"RS256","alg":"ES256"}"#,
            r#"{"alg":"RS256","alg":5}"#,
            r#"{"alg":null}"#,
            r#"{"alg":true,"alg":"HS256"}"#,
            r#"{"alg":"HS256","kid":null}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":"HS256","typ":false}"#,
            r#"{"alg":"HS256","crit":1,"zip":null}"#,
            r#"{"kid":"x"}"#,
            r#"{}"#,
            r#" { "alg" : "é" , "x" : 1 } "#,
        ] {
            assert_eq!(flat_header(text), Some(serde(text)), "{text}");
        }
        for text in [r#"{"alg":"R\u0053256"}"#, r#"{"alg":"HS256","crit":["b64"]}"#, r#"{"alg":"HS256",}"#, "[1]"] {
            assert_eq!(flat_header(text), None, "{text}");
        }
    }

    #[test]
    fn refuses_bad_shapes() {
        let h = enc(r#"{"alg":"HS256"}"#);
        for t in [
            String::new(),
            "a".into(),
            "a.b".into(),
            format!("{h}.b.c.d"),
            format!("{h}.b.c.d.e"),
            ".b.c".into(),
            "!!!.b.c".into(),
            format!("{}.b.c", enc("not json")),
            format!("{}.b.c", enc("[1]")),
            format!("{}.b.c", enc(r#"{"alg":5}"#)),
            format!("{}.b.c", enc(r#"{"alg":"HS256","kid":[1]}"#)),
            format!("{}.b.c", enc(r#"{"kid":"x"}"#)),
            format!("{}.b.c", "A".repeat(MAX_HEADER_B64 + 4)),
        ] {
            assert_eq!(read(&t), Err(Denial::Malformed), "{t}");
        }
    }
}
