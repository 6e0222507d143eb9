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

/// Janus's access-rule predicates, the forms its users write: `claim == 'v'`, `claim != "v"`,
/// `claim in ('a', 'b')`, joined by `&&` and `||` with parentheses; values are strings,
/// numbers, `true`/`false`. Anything else is refused (the caller names the rule).
pub fn parse_janus(src: &str) -> Result<Expr, String> {
    let tokens = lex(src)?;
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err("unexpected text after the predicate".into());
    }
    Ok(e)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Eq,
    Ne,
    In,
    And,
    Or,
    Open,
    Close,
    Comma,
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' => {
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            '=' | '!' | '&' | '|' if next == Some(if c == '!' { '=' } else { c }) => {
                out.push(match c {
                    '=' => Tok::Eq,
                    '!' => Tok::Ne,
                    '&' => Tok::And,
                    _ => Tok::Or,
                });
                i += 2;
            }
            '\'' | '"' => {
                let end = chars.iter().skip(i + 1).position(|&x| x == c).ok_or("unterminated string")?;
                let s: String = chars.iter().skip(i + 1).take(end).collect();
                out.push(Tok::Lit(Value::String(s)));
                i += end + 2;
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let len = chars.iter().skip(i + 1).take_while(|x| x.is_ascii_digit() || **x == '.').count() + 1;
                let s: String = chars.iter().skip(i).take(len).collect();
                let n: Value = serde_json::from_str(&s).map_err(|_| "not a number")?;
                out.push(Tok::Lit(n));
                i += len;
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = chars.iter().skip(i).take_while(|x| x.is_alphanumeric() || **x == '_' || **x == '.' || **x == '-').count();
                let word: String = chars.iter().skip(i).take(len).collect();
                out.push(match word.as_str() {
                    "in" | "IN" => Tok::In,
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    _ => Tok::Ident(word),
                });
                i += len;
            }
            _ => return Err("unsupported operator (only ==, !=, in, && and || are)".into()),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn take(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.joined(Tok::Or, Self::and, Expr::Any)
    }

    fn and(&mut self) -> Result<Expr, String> {
        self.joined(Tok::And, Self::atom, Expr::All)
    }

    /// `next (op next)*`: one operand as it is, several joined by `wrap`.
    fn joined(&mut self, op: Tok, next: fn(&mut Self) -> Result<Expr, String>, wrap: fn(Vec<Expr>) -> Expr) -> Result<Expr, String> {
        let mut list = vec![next(self)?];
        while self.peek() == Some(&op) {
            self.pos += 1;
            list.push(next(self)?);
        }
        Ok(if list.len() == 1 { list.remove(0) } else { wrap(list) })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.take() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.take() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Ident(path)) => match self.take() {
                Some(Tok::Eq) => Ok(Expr::Claim { path, test: Test::Equals(self.literal()?) }),
                Some(Tok::Ne) => Ok(Expr::NotClaim { path, test: Test::Equals(self.literal()?) }),
                Some(Tok::In) => Ok(Expr::Claim { path, test: Test::OneOf(self.list()?) }),
                _ => Err("a claim must be followed by ==, != or in".into()),
            },
            _ => Err("expected a claim name or a parenthesis".into()),
        }
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.take() {
            Some(Tok::Lit(v)) => Ok(v),
            _ => Err("expected a string, number, true or false".into()),
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, String> {
        if self.take() != Some(Tok::Open) {
            return Err("`in` takes a parenthesized list".into());
        }
        let mut out = vec![self.literal()?];
        loop {
            match self.take() {
                Some(Tok::Comma) => out.push(self.literal()?),
                Some(Tok::Close) => return Ok(out),
                _ => return Err("a list is not closed".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(v: Value) -> Identity {
        let Value::Object(claims) = v else { panic!("an object") };
        Identity { claims }
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
    fn first_match_wins_and_the_default_follows_the_rules_kind() {
        let who = id(json!({"country": "de", "plan": "free"}));
        let rule = |p: &str, action| Rule { when: parse_janus(p).unwrap(), action };
        let rules = [rule("country == 'de'", Action::Deny), rule("plan == 'free'", Action::Allow)];
        assert_eq!(evaluate(&rules, &who), Outcome::Denied);
        let rules = [rule("plan == 'free'", Action::Allow), rule("country == 'de'", Action::Deny)];
        assert_eq!(evaluate(&rules, &who), Outcome::Allowed);
        assert_eq!(evaluate(&[rule("plan == 'pro'", Action::Allow)], &who), Outcome::Denied, "an allow list");
        assert_eq!(evaluate(&[rule("country == 'fr'", Action::Deny)], &who), Outcome::Allowed, "a deny list");
        assert_eq!(evaluate(&[], &who), Outcome::Allowed);
    }

    #[test]
    fn janus_predicates() {
        let who = id(json!({"country": "de", "plan": "pro", "level": 3, "beta": true, "org": {"name": "acme"}}));
        for (p, want) in [
            ("country == 'de'", true),
            ("country != \"de\"", false),
            ("country in ('fr', 'de')", true),
            ("country == 'de' && plan == 'free'", false),
            ("country == 'fr' || plan == 'pro'", true),
            ("(country == 'fr' || country == 'de') && level == 3", true),
            ("beta == true && org.name == 'acme'", true),
            ("missing != 'x'", true),
        ] {
            assert_eq!(parse_janus(p).unwrap().holds(&who), want, "{p}");
        }
        for bad in ["level > 2", "country =~ 'd.*'", "!beta", "country ==", "(country == 'de'", "country == 'de' extra", "len(country) == 2", "country == 'de"] {
            assert!(parse_janus(bad).is_err(), "{bad}");
        }
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
