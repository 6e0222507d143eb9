//! Verifies one compact JWS against an OAuth server's JWT rules: algorithm allow-list, key
//! choice by `kid` then by algorithm, signature, time claims with leeway on the host's clock,
//! issuer, audience and required claims.

use super::alg::{Alg, AlgSet};
use super::cache::VerifiedCache;
use super::header;
use super::heads::{Head, Heads};
use super::hosted;
use crate::common::claims::Time;
use crate::crypto::CryptoHost;
use super::keys::{Material, VerifyKey};
use crate::{Denial, Identity};
use jwt_simple::prelude::*;
use jwt_simple::JWTError;
use serde_json::{Map, Value};
use std::rc::Rc;

pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

#[derive(Debug)]
pub struct JwtRules {
    pub keys: Vec<VerifyKey>,
    pub algs: AlgSet,
    pub leeway_secs: u64,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub required_claims: Vec<String>,
    pub max_token_bytes: usize,
    /// Required JOSE `typ` (compared case-insensitively, "application/" prefix allowed).
    pub require_typ: Option<String>,
    /// Tokens already verified (a repeated token skips the signature check).
    pub cache: VerifiedCache,
    /// Headers already read and checked (a first-seen token of a known header skips that).
    pub heads: Heads,
    /// The longest `exp - iat` accepted (jwt_authn `max_lifetime`).
    pub max_lifetime: Option<u64>,
    /// `sub` must match one of these, when any (jwt_authn `subjects`).
    pub subjects: Vec<StringMatch>,
    /// A token without `exp` is refused (jwt_authn `require_expiration`; default true).
    pub require_expiration: bool,
}

/// Envoy's StringMatcher kinds.
#[derive(Debug)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// Anchored at both ends.
    Regex(regex_lite::Regex),
}

impl StringMatch {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            StringMatch::Exact(x) => s == x,
            StringMatch::Prefix(x) => s.starts_with(x.as_str()),
            StringMatch::Suffix(x) => s.ends_with(x.as_str()),
            StringMatch::Contains(x) => s.contains(x.as_str()),
            StringMatch::Regex(re) => re.is_match(s),
        }
    }
}

type Claims = JWTClaims<Map<String, Value>>;

impl JwtRules {
    /// Verifies `token` at `now` (seconds since the epoch, from the host) with the inline keys.
    pub fn verify(&self, token: &str, now: u64) -> Result<Identity, Denial> {
        self.verify_with_keys(token, now, &[], None)
    }

    /// Verifies `token` (whose cache key is `digest`) with the inline keys and `fetched` ones
    /// (of `keys_version`), through the verified-token cache; signatures go to `host` for the
    /// algorithms it took over.
    pub fn verify_cached(
        &self,
        token: &str,
        digest: &crate::common::digest::TokenDigest,
        now: u64,
        fetched: &[VerifyKey],
        keys_version: u64,
        host: Option<&dyn CryptoHost>,
    ) -> Result<Identity, Denial> {
        // A token too large never got into the cache: `verify_with_keys` refuses it.
        if let Some(id) = self.cache.get(digest, now, keys_version) {
            return Ok(id);
        }
        let id = self.verify_with_keys(token, now, fetched, host)?;
        if self.cache.is_on() {
            let valid_until = id.claims.secs(Time::Exp).map_or(u64::MAX, |e| e.saturating_add(self.leeway_secs));
            self.cache.insert(*digest, &id, valid_until, keys_version);
        }
        Ok(id)
    }

    /// Verifies `token` with the inline keys and `fetched` ones.
    pub fn verify_with_keys(
        &self,
        token: &str,
        now: u64,
        fetched: &[VerifyKey],
        host: Option<&dyn CryptoHost>,
    ) -> Result<Identity, Denial> {
        if token.len() > self.max_token_bytes {
            return Err(Denial::TokenTooLarge);
        }
        let jws = header::Jws::cut(token)?;
        let head = match self.heads.get(jws.head) {
            Some(head) => head,
            None => {
                let head = Rc::new(self.read_head(&jws)?);
                self.heads.put(jws.head, &head);
                head
            }
        };
        let alg = head.alg;
        let mut outcome = Err(Denial::NoMatchingKey);
        for key in candidates(self.keys.iter().chain(fetched), alg, head.kid.as_deref()) {
            let hosted = match (host, &key.spki) {
                (Some(h), Some(spki)) if h.algs().contains(alg) => hosted::verify(h, alg, spki, &jws, now, self.leeway_secs),
                _ => None,
            };
            outcome = match (hosted, &key.material) {
                (Some(r), _) => r,
                (None, Material::EdDSA(ed)) => super::eddsa::verify(ed, &jws, now, self.leeway_secs),
                // HMAC in one pass: jwt-simple's own check decodes the header and the payload
                // again (constant-time base64) and reads the claims through serde's `flatten`,
                // which made a first-seen HS256 token cost the filter twice what it does here.
                (None, Material::Hmac(secret)) => super::hmac::verify(&secret.prepared, &jws, now, self.leeway_secs),
                (None, _) => self.verify_in_vm(key, token, now),
            };
            if !matches!(outcome, Err(Denial::BadSignature)) {
                break;
            }
        }
        let identity = outcome?;
        self.check_claims(&identity, now)?;
        Ok(identity)
    }

    /// The checks on a token's JOSE header (`alg` allowed and not `none`, no `crit`, no `zip`,
    /// the `typ` wanted): what they make of it, or the refusal.
    fn read_head(&self, jws: &header::Jws) -> Result<Head, Denial> {
        let head = header::parse(jws)?;
        if head.alg.eq_ignore_ascii_case("none") {
            return Err(Denial::AlgNone);
        }
        let alg = Alg::parse(&head.alg).ok_or(Denial::AlgNotAllowed)?;
        if !self.algs.contains(alg) {
            return Err(Denial::AlgNotAllowed);
        }
        if head.has_crit {
            return Err(Denial::UnsupportedCritical);
        }
        if head.has_zip {
            return Err(Denial::Compressed);
        }
        if let Some(want) = &self.require_typ {
            let typ = head.typ.as_deref().unwrap_or("");
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            if !typ.eq_ignore_ascii_case(want) {
                return Err(Denial::BadType);
            }
        }
        if let Some(typ) = &head.typ {
            // As jwt-simple: a `typ`, when present, names a JWT ("JWT" or "…+JWT", any case).
            let suffix = typ.len().checked_sub(4).and_then(|at| typ.get(at..));
            if !typ.eq_ignore_ascii_case("JWT") && !suffix.is_some_and(|s| s.eq_ignore_ascii_case("+JWT")) {
                return Err(Denial::Malformed);
            }
        }
        Ok(Head { alg, kid: head.kid })
    }

    /// A signature the host does not check, by jwt-simple in the VM. Out of line (also from
    /// wasm-opt, the Makefile's NO_INLINE): its code for every algorithm made
    /// `verify_with_keys` a 45 KB function that a token checked by the host ran through.
    #[inline(never)]
    fn verify_in_vm(&self, key: &VerifyKey, token: &str, now: u64) -> Result<Identity, Denial> {
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(self.leeway_secs)),
            artificial_time: Some(UnixTimeStamp::from_secs(now)),
            max_token_length: Some(self.max_token_bytes),
            ..Default::default()
        };
        verify_with(key, token, options).map(Identity::from_jwt).map_err(to_denial)
    }

    fn check_claims(&self, id: &Identity, now: u64) -> Result<(), Denial> {
        let exp = id.claims.secs(Time::Exp);
        if exp.is_none() && (self.require_expiration || self.max_lifetime.is_some()) {
            return Err(Denial::NoExpiration);
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime, exp) {
            // Without `iat`, the lifetime left is what counts.
            let from = id.claims.secs(Time::Iat).unwrap_or(now);
            if exp.saturating_sub(from) > max {
                return Err(Denial::LifetimeTooLong);
            }
        }
        if !self.subjects.is_empty() {
            let sub = id.claims.get("sub").and_then(Value::as_str);
            if !sub.is_some_and(|s| self.subjects.iter().any(|m| m.matches(s))) {
                return Err(Denial::SubjectNotAllowed);
            }
        }
        if !self.issuers.is_empty() {
            let iss = id.claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| self.issuers.iter().any(|x| x == i)) {
                return Err(Denial::BadIssuer);
            }
        }
        if !self.audiences.is_empty() {
            let ok = match id.claims.get("aud") {
                Some(Value::String(a)) => self.audiences.contains(a),
                Some(Value::Array(list)) => {
                    list.iter().filter_map(Value::as_str).any(|a| self.audiences.iter().any(|x| x == a))
                }
                _ => false,
            };
            if !ok {
                return Err(Denial::BadAudience);
            }
        }
        if self.required_claims.iter().any(|c| id.get(c).is_none_or(Value::is_null)) {
            return Err(Denial::MissingClaim);
        }
        Ok(())
    }
}

/// The keys a token may be checked with, always only those bound to its algorithm: with a
/// `kid`, the keys of that kid (else, a kid nobody has, the keys configured without one);
/// without a `kid`, every key (as jwt_authn, jose, PyJWT and jwcrypto do).
fn candidates<'a, I>(keys: I, alg: Alg, kid: Option<&'a str>) -> impl Iterator<Item = &'a VerifyKey>
where
    I: Iterator<Item = &'a VerifyKey> + Clone,
{
    let by_kid = kid.is_some() && keys.clone().any(|k| k.alg == alg && k.kid.as_deref() == kid);
    keys.filter(move |k| {
        k.alg == alg
            && match kid {
                None => true,
                Some(_) if by_kid => k.kid.as_deref() == kid,
                Some(_) => k.kid.is_none(),
            }
    })
}

fn verify_with(key: &VerifyKey, token: &str, o: VerificationOptions) -> Result<Claims, jwt_simple::Error> {
    let o = Some(o);
    match &key.material {
        Material::RS256(k) => k.verify_token(token, o),
        Material::RS384(k) => k.verify_token(token, o),
        Material::RS512(k) => k.verify_token(token, o),
        Material::PS256(k) => k.verify_token(token, o),
        Material::PS384(k) => k.verify_token(token, o),
        Material::PS512(k) => k.verify_token(token, o),
        Material::ES256(k) => k.verify_token(token, o),
        Material::ES384(k) => k.verify_token(token, o),
        // Checked by `eddsa` and `hmac` before this is reached.
        Material::EdDSA(_) | Material::Hmac(_) => Err(JWTError::InvalidSignature.into()),
    }
}

fn to_denial(err: jwt_simple::Error) -> Denial {
    match err.downcast_ref::<JWTError>() {
        Some(JWTError::InvalidSignature | JWTError::InvalidAuthenticationTag) => Denial::BadSignature,
        Some(JWTError::TokenHasExpired) => Denial::Expired,
        Some(JWTError::TokenNotValidYet) => Denial::NotYetValid,
        Some(JWTError::ClockDrift) => Denial::IssuedInFuture,
        Some(JWTError::TokenTooLong) | Some(JWTError::HeaderTooLarge) => Denial::TokenTooLarge,
        Some(JWTError::UnknownCriticalExtension) => Denial::UnsupportedCritical,
        Some(JWTError::AlgorithmMismatch) => Denial::NoMatchingKey,
        _ => Denial::Malformed,
    }
}
