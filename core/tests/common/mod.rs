//! Test helpers: the fixture keys and token minting with jwt-simple.
#![allow(dead_code)]

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};

pub fn fixture(name: &str) -> String {
    let path = format!("{}/../test-harness/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub const NOW: u64 = 1_800_000_000;

/// Claims with iat = NOW and exp = NOW + 600, plus `extra`.
pub fn claims(extra: Value) -> JWTClaims<Map<String, Value>> {
    let mut c = Claims::with_custom_claims(extra.as_object().cloned().unwrap_or_default(), Duration::from_secs(600));
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW));
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW + 600));
    c
}

pub fn sign(alg: &str, kid: Option<&str>, c: JWTClaims<Map<String, Value>>) -> String {
    macro_rules! pair {
        ($t:ty, $pem:expr) => {{
            let mut k = <$t>::from_pem(&fixture($pem)).unwrap();
            if let Some(kid) = kid { k = k.with_key_id(kid); }
            k.sign(c).unwrap()
        }};
    }
    match alg {
        "HS256" => { let mut k = HS256Key::from_bytes(b"hs-secret-for-tests"); if let Some(kid) = kid { k = k.with_key_id(kid); } k.authenticate(c).unwrap() }
        "HS384" => HS384Key::from_bytes(b"hs-secret-for-tests").authenticate(c).unwrap(),
        "HS512" => HS512Key::from_bytes(b"hs-secret-for-tests").authenticate(c).unwrap(),
        "RS256" => pair!(RS256KeyPair, "rsa.key"),
        "RS384" => pair!(RS384KeyPair, "rsa.key"),
        "RS512" => pair!(RS512KeyPair, "rsa.key"),
        "PS256" => pair!(PS256KeyPair, "rsa.key"),
        "PS384" => pair!(PS384KeyPair, "rsa.key"),
        "PS512" => pair!(PS512KeyPair, "rsa.key"),
        "ES256" => pair!(ES256KeyPair, "ec256.key"),
        "ES384" => pair!(ES384KeyPair, "ec384.key"),
        "EdDSA" => pair!(Ed25519KeyPair, "ed25519.key"),
        "RS256-other" => pair!(RS256KeyPair, "rsa2.key"),
        other => panic!("no key for {other}"),
    }
}

/// A token with an arbitrary header and payload and a given signature segment.
pub fn forge(header: Value, payload: Value, sig: &str) -> String {
    format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()), sig)
}

/// An HS256 token signed with `secret` over an arbitrary header and payload.
pub fn hs256_raw(secret: &[u8], header: Value, payload: Value) -> String {
    let signing = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let mac = hmac_sha256::HMAC::mac(signing.as_bytes(), secret);
    format!("{signing}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The keys for every algorithm, as Janus settings.
pub fn all_settings() -> Value {
    let mut v = vec![json!({"alg": "HS256", "key": "hs-secret-for-tests"}), json!({"alg": "HS384", "key": "hs-secret-for-tests"}), json!({"alg": "HS512", "key": "hs-secret-for-tests"})];
    for a in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        v.push(json!({"alg": a, "key": fixture("rsa.pub")}));
    }
    v.push(json!({"alg": "ES256", "key": fixture("ec256.pub")}));
    v.push(json!({"alg": "ES384", "key": fixture("ec384.pub")}));
    v.push(json!({"alg": "EdDSA", "key": fixture("ed25519.pub")}));
    Value::from(v)
}

/// The JWT rules of a one-server configuration with this `token_strategy`.
pub fn rules(strategy: Value) -> oauth_core::jwt::JwtRules {
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": strategy}}});
    let cfg = oauth_core::Config::from_json(cfg.to_string().as_bytes()).unwrap();
    match cfg.servers.into_iter().next().unwrap().strategy {
        oauth_core::config::Strategy::Jwt(r) => r,
        oauth_core::config::Strategy::Introspection(_) => panic!("not a jwt server"),
    }
}

/// Rules with a key for every algorithm.
pub fn all() -> oauth_core::jwt::JwtRules {
    rules(json!({"name": "jwt", "settings": all_settings()}))
}
