//! The JOSE header of a compact JWS, read before any key is chosen. Only `alg`, `kid`, `typ`,
//! `crit` and `zip` matter; `jku`, `x5u` and `jwk` are never followed.

use crate::Denial;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

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

/// Checks the compact shape (three non-empty-header segments) and decodes the header.
pub fn parse(token: &str) -> Result<Header, Denial> {
    let mut parts = token.split('.');
    let (Some(head), Some(_payload), Some(_sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Denial::Malformed);
    };
    if head.is_empty() || head.len() > MAX_HEADER_B64 {
        return Err(Denial::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(head).map_err(|_| Denial::Malformed)?;
    let map: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| Denial::Malformed)?;
    let alg = match map.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(Denial::Malformed),
    };
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(Denial::Malformed),
    };
    let typ = match map.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(Denial::Malformed),
    };
    Ok(Header { alg, kid, typ, has_crit: map.contains_key("crit"), has_zip: map.contains_key("zip") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_alg_and_kid() {
        let t = format!("{}.e30.sig", enc(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#));
        assert_eq!(parse(&t), Ok(Header { alg: "RS256".into(), kid: Some("k1".into()), typ: Some("JWT".into()), has_crit: false, has_zip: false }));
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
            assert_eq!(parse(&t), Err(Denial::Malformed), "{t}");
        }
    }
}
