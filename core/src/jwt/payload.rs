//! A JWT's claims read from its payload JSON in one pass, exactly as jwt-simple's `JWTClaims`
//! reads them (serde's `flatten` there buffers the whole payload and converts it twice, the
//! larger part of a first-seen token's own work in the filter): `iat`, `exp`, `nbf` are
//! numbers (a negative integer refused, a fraction cut); `iss`, `sub`, `jti`, `nonce` are a
//! string or null; `aud` is a string or an array of strings; none of these may appear twice;
//! every other member goes to `custom`, the last of a repeated name winning. The same answer
//! as jwt-simple's reading is checked in core/tests/claims_reading.rs and by the `claims`
//! fuzz target.

use crate::Identity;
use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use serde_json::{Map, Value};

const REGISTERED: [&str; 8] = ["iat", "exp", "nbf", "iss", "sub", "aud", "jti", "nonce"];

/// The payload's claims, the registered ones checked and normalized as they are read: a
/// registered claim given twice is an error.
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
                let mut seen = 0u8;
                while let Some(key) = access.next_key::<String>()? {
                    let mut value: Value = access.next_value()?;
                    let Some(i) = REGISTERED.iter().position(|r| *r == key) else {
                        map.insert(key, value);
                        continue;
                    };
                    if seen & (1 << i) != 0 {
                        return Err(A::Error::custom("a registered claim given twice"));
                    }
                    seen |= 1 << i;
                    if !registered(&key, &mut value) {
                        return Err(A::Error::custom("a registered claim of the wrong type"));
                    }
                    if !value.is_null() {
                        map.insert(key, value);
                    }
                }
                Ok(Members(map))
            }
        }
        d.deserialize_map(Object)
    }
}

/// The claims of a payload as the filter keeps them, or None where jwt-simple refuses it: the
/// same `Identity` as `Identity::from_jwt` of jwt-simple's reading (whole seconds, a null
/// `iss`/`sub`/`jti`/`nonce` absent, an `aud` array sorted without repeats), built in place.
pub fn read(bytes: &[u8]) -> Option<Identity> {
    let Members(claims) = serde_json::from_slice(bytes).ok()?;
    Some(Identity::new(claims))
}

/// A registered claim checked and normalized in place (false: refused). A null `iss`, `sub`,
/// `jti` or `nonce` stays null here and is left out by the caller.
fn registered(name: &str, v: &mut Value) -> bool {
    match name {
        "iat" | "exp" | "nbf" => whole_seconds(v).is_some(),
        "aud" => match v {
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
