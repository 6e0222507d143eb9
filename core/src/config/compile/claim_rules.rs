//! Authorization on claims: access rules (Janus predicates or structured `when`), required
//! roles and how the required scopes match. Errors name the rule's path, never its values.

use super::super::raw::{RawAccessRule, RawPolicy};
use super::check::{err, whole_regex, Res};
use super::predicate::parse_janus;
use crate::decision::rules::{Action, ClaimRules, Expr, Roles, Rule, Test};
use serde_json::Value;

pub fn claim_rules(path: &str, raw: &mut RawPolicy) -> Res<ClaimRules> {
    let mut access_rules = Vec::new();
    for (i, r) in std::mem::take(&mut raw.access_rules).into_iter().enumerate() {
        access_rules.push(rule(&format!("{path}.access_rules[{i}]"), r)?);
    }
    let roles = match raw.required_roles.take() {
        None => None,
        Some(r) => {
            let at = format!("{path}.required_roles");
            if r.any_of.is_empty() || r.any_of.iter().any(String::is_empty) {
                return err(format!("{at}.any_of"), "must list at least one non-empty role");
            }
            if r.claim.is_empty() {
                return err(format!("{at}.claim"), "must not be empty");
            }
            Some(Roles { roles: r.any_of, key: r.claim, nested: r.claim_is_path.unwrap_or(false) })
        }
    };
    let any_scope = match raw.required_scopes_match.as_deref() {
        None | Some("all") => false,
        Some("any") => true,
        Some(_) => return err(format!("{path}.required_scopes_match"), "must be \"all\" or \"any\""),
    };
    Ok(ClaimRules { access_rules, roles, any_scope })
}

pub fn rule(path: &str, r: RawAccessRule) -> Res<Rule> {
    let action = match r.action.as_str() {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        _ => return err(format!("{path}.action"), "must be \"allow\" or \"deny\""),
    };
    let when = match (r.predicate, r.when) {
        (Some(p), None) => parse_janus(&p).or_else(|why| err(format!("{path}.predicate"), why))?,
        (None, Some(w)) => expr(&format!("{path}.when"), &w, 0)?,
        _ => return err(path, "set `predicate` (Janus syntax) or `when`, one of them"),
    };
    Ok(Rule { when, action })
}

const MAX_DEPTH: usize = 8;

/// `{"all": [...]}`, `{"any": [...]}`, or `{"claim": "a.b", <one test>}` with the test one of
/// `equals`, `one_of`, `contains`, `prefix`, `regex`.
fn expr(path: &str, v: &Value, depth: usize) -> Res<Expr> {
    if depth > MAX_DEPTH {
        return err(path, "nested too deeply");
    }
    let Some(obj) = v.as_object() else { return err(path, "must be an object") };
    let list = |key: &str, items: &Value| -> Res<Vec<Expr>> {
        let Some(items) = items.as_array().filter(|a| !a.is_empty()) else { return err(format!("{path}.{key}"), "must be a non-empty list") };
        items.iter().enumerate().map(|(i, e)| expr(&format!("{path}.{key}[{i}]"), e, depth + 1)).collect()
    };
    if obj.len() == 1 {
        if let Some(items) = obj.get("all") {
            return Ok(Expr::All(list("all", items)?));
        }
        if let Some(items) = obj.get("any") {
            return Ok(Expr::Any(list("any", items)?));
        }
    }
    let claim = match obj.get("claim") {
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        Some(_) => return err(format!("{path}.claim"), "must be a non-empty string"),
        None => return err(path, "needs `claim` and one test, or `all` / `any`"),
    };
    let tests: Vec<(&String, &Value)> = obj.iter().filter(|(k, _)| k.as_str() != "claim").collect();
    let [(name, value)] = tests.as_slice() else { return err(path, "needs exactly one test beside `claim`") };
    let at = format!("{path}.{name}");
    let test = match name.as_str() {
        "equals" => Test::Equals((*value).clone()),
        "contains" => Test::Contains((*value).clone()),
        "one_of" => match value.as_array() {
            Some(a) if !a.is_empty() => Test::OneOf(a.clone()),
            _ => return err(at, "must be a non-empty list"),
        },
        "prefix" => match value.as_str() {
            Some(p) => Test::Prefix(p.to_string()),
            None => return err(at, "must be a string"),
        },
        "regex" => match value.as_str() {
            Some(re) => Test::Regex(whole_regex(at, re)?),
            None => return err(at, "must be a string"),
        },
        _ => return err(at, "unknown test (equals, one_of, contains, prefix, regex)"),
    };
    Ok(Expr::Claim { path: claim, test })
}
