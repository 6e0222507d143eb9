//! Authorization on claims, after authentication: predicates on claim values (equality, one
//! of, contains, prefix, regex; combined with all/any), access rules with allow/deny actions
//! (first match wins), and KrakenD's roles. The same for every kind of token: the claims are
//! the identity's (a JWT's payload, an introspection answer, the filter's own tokens).

use crate::{Denial, Identity};
use regex_lite::Regex;
use serde_json::Value;

/// What a policy asks of an authenticated token's claims besides its scopes.
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    pub access_rules: Vec<Rule>,
    pub roles: Option<Roles>,
    /// Any of the policy's `required_scopes` is enough (KrakenD `scopes_matcher: any`).
    pub any_scope: bool,
}

impl ClaimRules {
    /// The roles, then the access rules.
    pub fn check(&self, id: &Identity) -> Result<(), Denial> {
        if self.roles.as_ref().is_some_and(|r| !r.granted(id)) {
            return Err(Denial::MissingRole);
        }
        match evaluate(&self.access_rules, id) {
            Outcome::Allowed => Ok(()),
            Outcome::Denied => Err(Denial::RuleDenied),
        }
    }
}

/// A predicate on the identity's claims.
#[derive(Debug, Clone)]
pub enum Expr {
    Claim { path: String, test: Test },
    /// Not the claim test: Janus's `!=` (true when the claim is absent).
    NotClaim { path: String, test: Test },
    All(Vec<Expr>),
    Any(Vec<Expr>),
}

/// A test on one claim's value.
#[derive(Debug, Clone)]
pub enum Test {
    /// The value is this one (JSON equality).
    Equals(Value),
    /// The value is one of these; an array claim when any of its elements is.
    OneOf(Vec<Value>),
    /// An array claim holds this element; a string claim holds this space-separated word.
    Contains(Value),
    /// A string claim (or an element of an array claim) starts with this.
    Prefix(String),
    /// A string claim (or an element of an array claim) matches this, anchored at both ends.
    Regex(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub when: Expr,
    pub action: Action,
}

/// What the rules say about an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// A deny rule matched, or no rule matched while some rule allows.
    Denied,
}

/// Access rules in order: the first whose predicate holds decides. When none holds, the
/// request is denied if any rule allows (the rules then list who may pass) and allowed if all
/// of them deny (they then list who may not).
pub fn evaluate(rules: &[Rule], id: &Identity) -> Outcome {
    for r in rules {
        if r.when.holds(id) {
            return if r.action == Action::Allow { Outcome::Allowed } else { Outcome::Denied };
        }
    }
    if rules.iter().any(|r| r.action == Action::Allow) {
        Outcome::Denied
    } else {
        Outcome::Allowed
    }
}

impl Expr {
    pub fn holds(&self, id: &Identity) -> bool {
        match self {
            Expr::Claim { path, test } => id.get(path).is_some_and(|v| test.holds(v)),
            Expr::NotClaim { path, test } => !id.get(path).is_some_and(|v| test.holds(v)),
            Expr::All(list) => list.iter().all(|e| e.holds(id)),
            Expr::Any(list) => list.iter().any(|e| e.holds(id)),
        }
    }
}

impl Test {
    pub fn holds(&self, v: &Value) -> bool {
        match self {
            Test::Equals(x) => v == x,
            Test::OneOf(list) => match v {
                Value::Array(items) => items.iter().any(|i| list.contains(i)),
                v => list.contains(v),
            },
            Test::Contains(x) => match (v, x) {
                (Value::Array(items), x) => items.contains(x),
                (Value::String(s), Value::String(word)) => s.split_whitespace().any(|w| w == word),
                _ => false,
            },
            Test::Prefix(p) => strings(v).any(|s| s.starts_with(p.as_str())),
            Test::Regex(re) => strings(v).any(|s| re.is_match(s)),
        }
    }
}

/// The string itself, or the string elements of an array.
fn strings(v: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match v {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}

/// KrakenD's roles: the claim at `key` (a dotted path when `nested`, else one top-level name)
/// must hold at least one of `roles` (an array claim, or a space-separated string).
#[derive(Debug, Clone)]
pub struct Roles {
    pub roles: Vec<String>,
    pub key: String,
    pub nested: bool,
}

impl Roles {
    pub fn granted(&self, id: &Identity) -> bool {
        let claim = if self.nested { nested(id, &self.key) } else { id.claims.get(&self.key) };
        let has = |r: &str| match claim {
            Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(r)),
            Some(Value::String(s)) => s.split_whitespace().any(|w| w == r),
            _ => false,
        };
        self.roles.iter().any(|r| has(r))
    }
}

/// The claim at a dotted path, each segment one level down (no literal dotted name).
fn nested<'a>(id: &'a Identity, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = id.claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// Whether the token's `granted` scopes (`scope` or `scp`, as `Identity::scopes` reads them)
/// hold the required ones: all of them, or any one with `any`.
pub fn has_scopes(granted: Option<&str>, required: &[String], any: bool) -> bool {
    if required.is_empty() {
        return true;
    }
    let granted = granted.unwrap_or_default();
    let has = |r: &String| granted.split_whitespace().any(|g| g == r);
    if any {
        required.iter().any(has)
    } else {
        required.iter().all(has)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(v: Value) -> Identity {
        let Value::Object(claims) = v else { panic!("an object") };
        Identity::new(claims)
    }

    fn anchored(re: &str) -> Result<Regex, regex_lite::Error> {
        Regex::new(&format!("^(?:{re})$"))
    }

    fn claim(path: &str, test: Test) -> Expr {
        Expr::Claim { path: path.into(), test }
    }

    #[test]
    fn tests_on_values() {
        let who = id(json!({"sub": "alice", "tenant": {"id": "t1"}, "roles": ["admin", "dev"], "scope": "read write", "age": 42}));
        assert!(claim("tenant.id", Test::Equals(json!("t1"))).holds(&who));
        assert!(!claim("tenant.id", Test::Equals(json!("t2"))).holds(&who));
        assert!(claim("roles", Test::OneOf(vec![json!("ops"), json!("dev")])).holds(&who));
        assert!(claim("sub", Test::OneOf(vec![json!("bob"), json!("alice")])).holds(&who));
        assert!(claim("roles", Test::Contains(json!("admin"))).holds(&who));
        assert!(claim("scope", Test::Contains(json!("write"))).holds(&who));
        assert!(!claim("scope", Test::Contains(json!("writ"))).holds(&who));
        assert!(claim("roles", Test::Prefix("adm".into())).holds(&who));
        assert!(claim("sub", Test::Regex(anchored("al.*").unwrap())).holds(&who));
        assert!(!claim("sub", Test::Regex(anchored("lic").unwrap())).holds(&who), "anchored");
        assert!(claim("age", Test::Equals(json!(42))).holds(&who));
        assert!(!claim("missing", Test::Prefix(String::new())).holds(&who));
        assert!(Expr::NotClaim { path: "missing".into(), test: Test::Equals(json!("x")) }.holds(&who));
        let both = Expr::All(vec![claim("sub", Test::Equals(json!("alice"))), claim("roles", Test::Contains(json!("ops")))]);
        assert!(!both.holds(&who));
        let either = Expr::Any(vec![claim("sub", Test::Equals(json!("bob"))), claim("roles", Test::Contains(json!("dev")))]);
        assert!(either.holds(&who));
    }

    #[test]
    fn krakend_roles() {
        let who = id(json!({"realm_access": {"roles": ["user", "admin"]}, "realm_access.roles": ["flat"], "groups": "a b"}));
        let roles = |key: &str, nested, r: &[&str]| Roles { roles: r.iter().map(|s| s.to_string()).collect(), key: key.into(), nested };
        assert!(roles("realm_access.roles", true, &["guest", "admin"]).granted(&who));
        assert!(!roles("realm_access.roles", true, &["flat"]).granted(&who));
        assert!(roles("realm_access.roles", false, &["flat"]).granted(&who), "not nested: the key is one name");
        assert!(roles("groups", false, &["b"]).granted(&who));
        assert!(!roles("groups", false, &["c"]).granted(&who));
    }
}
