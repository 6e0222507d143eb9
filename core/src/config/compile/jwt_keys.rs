//! Janus `token_strategy: jwt`: inline keys (Janus settings, the legacy secret, a JWKS), the
//! algorithm allow-list and the token checks.

use super::super::raw::{RawKeySetting, RawJwtStrategy};
use super::super::ConfigError;
use super::check::{self, err, Res};
use crate::jwt::verify::{StringMatch, DEFAULT_MAX_TOKEN_BYTES};
use crate::jwt::{parse_jwks, Alg, AlgSet, JwtRules, VerifyKey};
use serde_json::Value;

pub fn jwt_rules(path: &str, mut raw: RawJwtStrategy, has_remote: bool) -> Res<JwtRules> {
    let algs: AlgSet = match &raw.allowed_algorithms {
        None => AlgSet::all(),
        Some(list) => {
            let mut v = Vec::new();
            for (i, name) in list.iter().enumerate() {
                match Alg::parse(name) {
                    Some(a) => v.push(a),
                    None => return err(format!("{path}.allowed_algorithms[{i}]"), format!("unsupported algorithm `{name}`")),
                }
            }
            v.into_iter().collect()
        }
    };
    let settings_path = format!("{path}.settings");
    let keys: Vec<VerifyKey> = match raw.settings {
        Some(settings) => jwt_keys(&settings_path, settings)?.into_iter().filter(|k| algs.contains(k.alg)).collect(),
        None if has_remote => Vec::new(),
        None => return err(settings_path, "required unless `jwks_uri` or `discovery` is set"),
    };
    if keys.is_empty() && !has_remote {
        return err(settings_path, "no key usable with the allowed algorithms");
    }
    let cache_size = raw.verified_cache_size.unwrap_or(crate::jwt::cache::DEFAULT_CAPACITY);
    if cache_size > 1_000_000 {
        return err(format!("{path}.verified_cache_size"), "at most 1000000");
    }
    let require_typ = match raw.require_typ {
        Some(t) if t.is_empty() => return err(format!("{path}.require_typ"), "must not be empty"),
        other => other,
    };
    let max_token_bytes = raw.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(64..=1 << 20).contains(&max_token_bytes) {
        return err(format!("{path}.max_token_bytes"), "must be between 64 and 1048576");
    }
    if raw.max_lifetime == Some(0) {
        return err(format!("{path}.max_lifetime"), "must be at least 1 second");
    }
    let subjects = match raw.subjects.take() {
        None => Vec::new(),
        Some(Value::Array(list)) if !list.is_empty() => {
            list.iter().enumerate().map(|(i, m)| string_match(&format!("{path}.subjects[{i}]"), m)).collect::<Res<_>>()?
        }
        Some(Value::Array(_)) => return err(format!("{path}.subjects"), "must not be an empty list"),
        Some(m) => vec![string_match(&format!("{path}.subjects"), &m)?],
    };
    Ok(JwtRules {
        max_lifetime: raw.max_lifetime,
        subjects,
        require_expiration: raw.require_expiration.unwrap_or(true),
        keys,
        algs,
        leeway_secs: raw.leeway.unwrap_or(0),
        issuers: raw.issuers.unwrap_or_default(),
        audiences: raw.audiences.unwrap_or_default(),
        required_claims: raw.required_claims.unwrap_or_default(),
        max_token_bytes,
        require_typ,
        cache: crate::jwt::cache::VerifiedCache::new(cache_size),
        heads: Default::default(),
    })
}

/// The Janus `settings`: a list of `{alg, key, kid?}`, the legacy `{"secret": …}` (HS256),
/// or an inline JWKS `{"keys": [...]}`.
fn jwt_keys(path: &str, settings: Value) -> Res<Vec<VerifyKey>> {
    match settings {
        Value::Array(items) => {
            let mut keys = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let p = format!("{path}[{i}]");
                let s: RawKeySetting = check::from_value(&p, item)?;
                let Some(alg) = Alg::parse(&s.alg) else {
                    return err(format!("{p}.alg"), format!("unsupported algorithm `{}`", s.alg));
                };
                keys.push(VerifyKey::from_setting(alg, s.key.expose(), s.kid).map_err(|r| ConfigError::new(format!("{p}.key"), r))?);
            }
            Ok(keys)
        }
        Value::Object(map) if map.contains_key("keys") => {
            let doc = Value::Object(map);
            let parsed = parse_jwks(&doc).map_err(|r| ConfigError::new(path, r))?;
            if let Some((i, reason)) = parsed.skipped.first() {
                return err(format!("{path}.keys[{i}]"), reason.clone());
            }
            Ok(parsed.keys.into_iter().map(VerifyKey::kept).collect())
        }
        Value::Object(map) if map.contains_key("secret") => {
            if let Some(k) = map.keys().find(|k| *k != "secret") {
                return err(format!("{path}.{k}"), "unknown field beside `secret`");
            }
            let at = format!("{path}.secret");
            let secret: crate::Secret = check::from_value(&at, map.get("secret").cloned().unwrap_or_default())?;
            Ok(vec![VerifyKey::from_setting(Alg::HS256, secret.expose(), None).map_err(|r| ConfigError::new(at, r))?])
        }
        _ => err(path, "expected a list of {alg, key}, {\"secret\": …} or a JWKS {\"keys\": [...]}"),
    }
}

/// Envoy's StringMatcher: one of `exact`, `prefix`, `suffix`, `contains`, `regex` (or
/// `safe_regex: {regex}`).
fn string_match(path: &str, v: &Value) -> Res<StringMatch> {
    let Some(obj) = v.as_object().filter(|o| o.len() == 1) else { return err(path, "must be an object with one of exact, prefix, suffix, contains, regex") };
    let Some((kind, value)) = obj.iter().next() else { return err(path, "empty matcher") };
    let at = format!("{path}.{kind}");
    let text = match (kind.as_str(), value) {
        ("safe_regex", Value::Object(o)) => o.get("regex").and_then(Value::as_str),
        (_, Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let Some(text) = text else { return err(at, "must be a string") };
    Ok(match kind.as_str() {
        "exact" => StringMatch::Exact(text.to_string()),
        "prefix" => StringMatch::Prefix(text.to_string()),
        "suffix" => StringMatch::Suffix(text.to_string()),
        "contains" => StringMatch::Contains(text.to_string()),
        "regex" | "safe_regex" => StringMatch::Regex(check::whole_regex(at, text)?),
        _ => return err(at, "unknown matcher (exact, prefix, suffix, contains, regex)"),
    })
}
