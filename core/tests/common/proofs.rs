//! DPoP proofs for the core's tests (the harness has no p256): the fixtures' P-256 key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::common::fixture;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

/// The public JWK of the fixtures' P-256 key, as a DPoP proof embeds it.
pub fn dpop_jwk() -> Value {
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let k = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "ec256").unwrap();
    json!({"kty": "EC", "crv": "P-256", "x": k["x"], "y": k["y"]})
}

/// A DPoP proof (ES256, the fixtures' P-256 key) with these claims, signed through p256 itself.
pub fn dpop_proof(claims: Value) -> String {
    use p256::ecdsa::signature::DigestSigner;
    let pair = ES256KeyPair::from_pem(&fixture("ec256.key")).unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_jwk()});
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig: p256::ecdsa::Signature = pair.key_pair().as_ref().sign_digest(|d: &mut hmac_sha256::Hash| d.update(input.as_bytes()));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}
