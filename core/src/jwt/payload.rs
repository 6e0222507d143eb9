//! A JWT's claims read from its payload JSON in one pass, exactly as jwt-simple's `JWTClaims`
//! reads them (serde's `flatten` there buffers the whole payload and converts it twice, the
//! larger part of a first-seen token's own work in the filter): `iat`, `exp`, `nbf` are
//! numbers (a negative integer refused, a fraction cut); `iss`, `sub`, `jti`, `nonce` are a
//! string or null; `aud` is a string or an array of strings; none of these may appear twice;
//! every other member goes to `custom`, the last of a repeated name winning. The same answer
//! as jwt-simple's reading is checked in core/tests/claims_reading.rs and by the `claims`
//! fuzz target.

use jwt_simple::prelude::{Audiences, JWTClaims, UnixTimeStamp};
use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;

const REGISTERED: [&str; 8] = ["iat", "exp", "nbf", "iss", "sub", "aud", "jti", "nonce"];

/// The payload's members; a registered claim given twice is an error.
struct Members(Map<String, Value>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if REGISTERED.contains(&key.as_str()) && map.contains_key(&key) {
                        return Err(A::Error::custom("a registered claim given twice"));
                    }
                    map.insert(key, value);
                }
                Ok(Members(map))
            }
        }
        d.deserialize_map(Object)
    }
}

/// The claims of a payload, or None where jwt-simple refuses it.
pub fn read(bytes: &[u8]) -> Option<JWTClaims<Map<String, Value>>> {
    let Members(mut custom) = serde_json::from_slice(bytes).ok()?;
    let mut take = |name: &str| custom.remove(name);
    let (iat, exp, nbf) = (take("iat"), take("exp"), take("nbf"));
    let (iss, sub, aud, jti, nonce) = (take("iss"), take("sub"), take("aud"), take("jti"), take("nonce"));
    Some(JWTClaims {
        issued_at: time(iat)?,
        expires_at: time(exp)?,
        invalid_before: time(nbf)?,
        issuer: text(iss)?,
        subject: text(sub)?,
        audiences: audiences(aud)?,
        jwt_id: text(jti)?,
        nonce: text(nonce)?,
        custom,
    })
}

/// Absent: Some(None); a number: Some(Some(t)); anything else (null included): None.
fn time(v: Option<Value>) -> Option<Option<UnixTimeStamp>> {
    let Some(v) = v else { return Some(None) };
    let Value::Number(n) = v else { return None };
    if let Some(secs) = n.as_u64() {
        return Some(Some(UnixTimeStamp::from_secs(secs)));
    }
    if n.is_i64() {
        return None; // negative
    }
    // As jwt-simple: a fraction (or an integer too large for u64) cut to whole seconds.
    n.as_f64().map(|f| Some(UnixTimeStamp::from_secs(f as u64)))
}

/// Absent or null: Some(None); a string: Some(Some(s)); anything else: None.
fn text(v: Option<Value>) -> Option<Option<String>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => None,
    }
}

/// Absent: Some(None); a string or an array of strings: Some(Some(a)); anything else: None.
fn audiences(v: Option<Value>) -> Option<Option<Audiences>> {
    let Some(v) = v else { return Some(None) };
    match v {
        Value::String(s) => Some(Some(Audiences::AsString(s))),
        Value::Array(items) => {
            let mut set = HashSet::with_capacity(items.len());
            for item in items {
                let Value::String(s) = item else { return None };
                set.insert(s);
            }
            Some(Some(Audiences::AsSet(set)))
        }
        _ => None,
    }
}
