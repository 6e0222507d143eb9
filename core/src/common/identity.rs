//! What a checked token says about its holder: its claims as one JSON object, whatever the
//! token kind, with lookups by dotted path and rendering into header values.

use jwt_simple::claims::{Audiences, JWTClaims};
use serde_json::{Map, Value};
use std::rc::Rc;

/// Longest value written into an upstream header.
pub const MAX_HEADER_VALUE: usize = 8192;

/// Shared, not copied: the verified-token cache, the verdicts and the request hold one map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub claims: Rc<Map<String, Value>>,
}

impl Identity {
    pub fn new(claims: Map<String, Value>) -> Identity {
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
        if let Some(v) = self.claims.get(path) {
            return Some(v);
        }
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
        render(self.get(path)?, ",")
    }

    /// The granted scopes: `scope` (space-separated) or `scp` (array or string).
    pub fn scopes(&self) -> Option<String> {
        match self.claims.get("scope") {
            Some(Value::String(s)) => safe(s.clone()),
            _ => render(self.claims.get("scp")?, " "),
        }
    }
}

fn render(v: &Value, sep: &str) -> Option<String> {
    let out = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
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
    safe(out)
}

fn safe(s: String) -> Option<String> {
    let ok = s.len() <= MAX_HEADER_VALUE && !s.chars().any(|c| c.is_control() && c != '\t');
    ok.then_some(s)
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
