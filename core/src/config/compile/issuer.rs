//! Compiling `token_issuer`: key pairs parsed, clients checked, the JWKS rendered once.

use super::super::raw::RawIssuer;
use super::super::ConfigError;
use super::check::{self, err, Res};
use crate::endpoints::issuer::signing::SigningKey;
use crate::endpoints::issuer::{ClientSecret, IssuerClient, TokenIssuer, DEFAULT_EXPIRATION_MS, DEFAULT_PREFIX};
use crate::jwt::verify::DEFAULT_MAX_TOKEN_BYTES;
use crate::jwt::{Alg, JwtRules};
use serde_json::{json, Value};

pub fn compile(path: &str, raw: RawIssuer) -> Res<TokenIssuer> {
    let domain = match raw.domain.as_deref() {
        None | Some("*") | Some(".*") => None,
        // Otoroshi's wildcards (`*.oto.tools`), where the text is not a regex.
        Some(d) if d.contains('*') && regex_lite::Regex::new(d).is_err() => {
            Some(check::whole_regex(format!("{path}.domain"), &d.replace('.', "\\.").replace('*', ".*"))?)
        }
        Some(d) => Some(check::whole_regex(format!("{path}.domain"), d)?),
    };
    let prefix = raw.prefix.unwrap_or_else(|| DEFAULT_PREFIX.into()).trim_end_matches('/').to_string();
    if !prefix.starts_with('/') {
        return err(format!("{path}.prefix"), "must start with /");
    }
    let expiration_ms = raw.expiration.unwrap_or(DEFAULT_EXPIRATION_MS);
    if !(1000..=31_536_000_000).contains(&expiration_ms) {
        return err(format!("{path}.expiration"), "milliseconds, between 1000 and one year");
    }
    let mut names = Vec::new();
    let mut keys = Vec::new();
    for (name, kp) in raw.key_pairs {
        let kid = kp.kid.unwrap_or_else(|| name.clone());
        let key = SigningKey::from_pem(&kp.alg, kp.private_key.expose(), kid)
            .map_err(|r| ConfigError::new(format!("{path}.key_pairs.{name}.private_key"), r))?;
        names.push(name);
        keys.push(key);
    }
    let Some(default_key) = names.iter().position(|n| *n == raw.default_key_pair) else {
        return err(format!("{path}.default_key_pair"), format!("no key pair named `{}`", raw.default_key_pair));
    };
    let mut clients: Vec<IssuerClient> = Vec::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        let p = format!("{path}.clients[{i}]");
        if c.client_id.is_empty() || clients.iter().any(|x| x.client_id == c.client_id) {
            return err(format!("{p}.client_id"), "must be non-empty and unique");
        }
        let secret = match (c.client_secret, c.client_secret_sha256) {
            (Some(s), None) => ClientSecret::Plain(s),
            (None, Some(h)) => ClientSecret::Sha256(hex32(&h).ok_or_else(|| ConfigError::new(format!("{p}.client_secret_sha256"), "64 hex digits"))?),
            _ => return err(p, "set one of `client_secret`, `client_secret_sha256`"),
        };
        let key = match &c.key_pair {
            None => None,
            Some(k) => match names.iter().position(|n| n == k) {
                Some(i) => Some(i),
                None => return err(format!("{p}.key_pair"), format!("no key pair named `{k}`")),
            },
        };
        clients.push(IssuerClient { client_id: c.client_id, secret, scopes: c.scopes, key });
    }
    let jwks: Vec<Value> = keys.iter().map(SigningKey::public_jwk).collect();
    let issuer = raw.issuer.unwrap_or_else(|| "oauth-filter".into());
    let rules = JwtRules {
        keys: keys.iter().map(SigningKey::verify_key).collect(),
        algs: [Alg::RS256, Alg::ES256, Alg::EdDSA].into_iter().collect(),
        leeway_secs: 0,
        issuers: vec![issuer.clone()],
        audiences: raw.audience.iter().cloned().collect(),
        required_claims: Vec::new(),
        max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        require_typ: None,
        cache: crate::jwt::cache::VerifiedCache::new(0),
        heads: Default::default(),
        max_lifetime: None,
        subjects: Vec::new(),
        require_expiration: true,
    };
    Ok(TokenIssuer {
        domain,
        prefix,
        expiration_ms,
        secure: raw.secure.unwrap_or(true),
        trust_forwarded_proto: raw.trust_forwarded_proto,
        issuer,
        audience: raw.audience,
        keys,
        default_key,
        clients,
        jwks: json!({"keys": jwks}).to_string(),
        rules,
    })
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    // Digits only (no sign, which `from_str_radix` would take).
    crate::decision::binding::from_hex(s.as_bytes())?.try_into().ok()
}
