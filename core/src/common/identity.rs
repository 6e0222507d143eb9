//! What a checked token says about its holder: its claims as one JSON object, whatever the
//! token kind, with lookups by dotted path and rendering into header values.

use crate::common::claims::{Claim, Claims, Named};
use jwt_simple::claims::{Audiences, JWTClaims};
use serde_json::{Map, Value};
use std::rc::Rc;

/// Longest value written into an upstream header.
pub const MAX_HEADER_VALUE: usize = 8192;

/// Shared, not copied: the verified-token cache, the verdicts and the request hold one set of
/// claims.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub claims: Rc<Claims>,
}

impl Identity {
    pub fn new(claims: Map<String, Value>) -> Identity {
        Identity::of(Claims::new(claims))
    }

    pub fn of(claims: Claims) -> Identity {
        Identity { claims: Rc::new(claims) }
    }

    pub fn from_jwt(c: JWTClaims<Map<String, Value>>) -> Identity {
        let mut claims = c.custom;
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                claims.insert(k.to_string(), v);
            }
        };
        put("iss", c.issuer.map(Value::String));
        put("sub", c.subject.map(Value::String));
        put("jti", c.jwt_id.map(Value::String));
        put("nonce", c.nonce.map(Value::String));
        put("exp", c.expires_at.map(|t| Value::from(t.as_secs())));
        put("iat", c.issued_at.map(|t| Value::from(t.as_secs())));
        put("nbf", c.invalid_before.map(|t| Value::from(t.as_secs())));
        put(
            "aud",
            c.audiences.map(|a| match a {
                Audiences::AsString(s) => Value::String(s),
                Audiences::AsSet(set) => {
                    let mut v: Vec<String> = set.into_iter().collect();
                    v.sort();
                    Value::from(v)
                }
            }),
        );
        Identity::new(claims)
    }

    /// The claim at a dotted path ("realm_access.roles"); a top-level name containing dots
    /// (as some IdPs use, "https://example.com/roles") is found too.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.claims.get(path).or_else(|| self.nested(path))
    }

    /// The claim at a dotted path, under a first name without dots.
    fn nested(&self, path: &str) -> Option<&Value> {
        // A name without a dot was the one lookup (most claims, and every one of Kong's).
        let (first, rest) = path.split_once('.')?;
        let mut cur = self.claims.get(first)?;
        for p in rest.split('.') {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// The claim as a header value: strings as they are, numbers and booleans printed,
    /// arrays comma-joined, objects as JSON. None when absent, null, too long, or holding
    /// characters that must never reach a header (CR, LF, other controls).
    pub fn header_value(&self, path: &str) -> Option<String> {
        match self.claims.lookup(path) {
            Some(c) => as_header(c),
            None => render(self.nested(path)?, ","),
        }
    }

    /// `header_value` of a top-level claim named while compiling (no dotted path).
    pub fn header_value_of(&self, named: &Named) -> Option<String> {
        as_header(self.claims.lookup_named(named)?)
    }

    /// The granted scopes: `scope` (space-separated) or `scp` (array or string).
    pub fn scopes(&self) -> Option<String> {
        const SCOPE: Named = Named::new("scope");
        match self.claims.lookup_named(&SCOPE) {
            Some(Claim::Text(s)) => safe(s),
            Some(Claim::Value(Value::String(s))) => safe(s),
            _ => render(self.claims.get("scp")?, " "),
        }
    }
}

fn as_header(c: Claim) -> Option<String> {
    match c {
        Claim::Text(s) => safe(s),
        Claim::Value(v) => render(v, ","),
    }
}

fn render(v: &Value, sep: &str) -> Option<String> {
    let out = match v {
        Value::Null => return None,
        Value::String(s) => return safe(s),
        // Times and other whole numbers: printed without the formatting machinery.
        Value::Number(n) if n.is_u64() => return n.as_u64().map(decimal),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter(|i| !i.is_null())
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            parts.join(sep)
        }
        other => other.to_string(),
    };
    is_safe(&out).then_some(out)
}

/// `n` in decimal, as serde_json prints it.
fn decimal(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while let Some(d) = at.checked_sub(1).and_then(|i| digits.get_mut(i)) {
        *d = b'0' + (n % 10) as u8;
        at -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.get(at..).and_then(|d| std::str::from_utf8(d).ok()).unwrap_or_default().to_owned()
}

/// `s` as a header value, unless too long or holding a control character other than tab
/// (Unicode's: C0, DEL and C1, the last encoded as C2 80 to C2 9F).
fn safe(s: &str) -> Option<String> {
    is_safe(s).then(|| s.to_owned())
}

fn is_safe(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= MAX_HEADER_VALUE
        && !b.iter().enumerate().any(|(i, &c)| {
            (c < 0x20 && c != b'\t') || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(v: Value) -> Identity {
        Identity::new(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn dotted_paths_arrays_and_numbers() {
        let i = id(json!({"realm_access": {"roles": ["a", "b"]}, "n": 5, "ok": true,
                          "https://x.io/tenant": "t1", "o": {"k": 1}}));
        assert_eq!(i.header_value("realm_access.roles").as_deref(), Some("a,b"));
        assert_eq!(i.header_value("n").as_deref(), Some("5"));
        assert_eq!(i.header_value("ok").as_deref(), Some("true"));
        assert_eq!(i.header_value("https://x.io/tenant").as_deref(), Some("t1"));
        assert_eq!(i.header_value("o").as_deref(), Some("{\"k\":1}"));
        assert_eq!(i.header_value("missing"), None);
        assert_eq!(i.header_value("realm_access.nope"), None);
    }

    #[test]
    fn the_byte_scan_refuses_exactly_unicode_control_characters_but_tab() {
        for c in (0u32..0x800).chain(0x2000..0x2100).chain([0xfeff, 0x1_f600]).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            let was = !s.chars().any(|c| c.is_control() && c != '\t');
            assert_eq!(safe(&s).is_some(), was, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn whole_numbers_print_as_serde_json_prints_them() {
        for n in [0u64, 7, 10, 99, 1_800_000_000, u64::MAX] {
            assert_eq!(decimal(n), Value::from(n).to_string());
        }
        assert_eq!(id(json!({"n": 5, "m": -5, "f": 1.5})).header_value("n").as_deref(), Some("5"));
        assert_eq!(id(json!({"m": -5})).header_value("m").as_deref(), Some("-5"));
        assert_eq!(id(json!({"f": 1.5})).header_value("f").as_deref(), Some("1.5"));
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        let i = id(json!({"a": "x\r\nX-Injected: 1", "b": "tab\tok", "c": ["ok", "bad\n"]}));
        assert_eq!(i.header_value("a"), None);
        assert_eq!(i.header_value("b").as_deref(), Some("tab\tok"));
        assert_eq!(i.header_value("c"), None);
        assert_eq!(id(json!({"a": "x".repeat(MAX_HEADER_VALUE + 1)})).header_value("a"), None);
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(id(json!({"scope": "a b"})).scopes().as_deref(), Some("a b"));
        assert_eq!(id(json!({"scp": ["a", "b"]})).scopes().as_deref(), Some("a b"));
        assert_eq!(id(json!({})).scopes(), None);
    }
}
