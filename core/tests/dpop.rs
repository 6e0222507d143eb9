//! DPoP proofs checked natively (the core's `DpopRules::check`), signed here with the P-256 key
//! of the fixtures through p256 itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
#[path = "common/proofs.rs"]
mod proofs;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use proofs::*;
use jwt_simple::prelude::*;
use oauth_core::decision::dpop::{DpopRules, Mode};
use oauth_core::jwt::{Alg, AlgSet};
use oauth_core::{Denial, Request};
use serde_json::{json, Value};

fn rules() -> DpopRules {
    DpopRules { mode: Mode::Required, proof_algs: [Alg::ES256].into_iter().collect::<AlgSet>(), max_age: 300, leeway: 0,
        algs: "ES256".into(), prefix: "p".into(), slots: 100 }
}

fn request(proof: &str) -> Request {
    let pairs = [(":method", "GET"), (":scheme", "https"), (":authority", "api.test"), (":path", "/orders?x=1"), ("dpop", proof)];
    Request { headers: pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(), ..Default::default() }
}

#[test]
fn a_good_proof_names_its_key_and_replay_slot() {
    let token = "the-access-token";
    let ath = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(token.as_bytes()));
    let claims = json!({"jti": "j1", "htm": "GET", "htu": "https://api.test/orders", "iat": NOW, "ath": ath});
    let checked = rules().check(&request(&dpop_proof(claims.clone())), token, NOW, None).unwrap();
    let j = dpop_jwk();
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, j["x"].as_str().unwrap(), j["y"].as_str().unwrap());
    assert_eq!(checked.jkt, URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(canonical.as_bytes())));
    assert!(checked.replay_key.starts_with("p/") && checked.until == NOW + 300);
    for (field, value) in [("htm", json!("POST")), ("htu", json!("https://api.test/other")), ("ath", json!("x")), ("iat", json!(NOW - 301))] {
        let mut bad = claims.clone();
        bad[field] = value;
        assert_eq!(rules().check(&request(&dpop_proof(bad)), token, NOW, None).unwrap_err(), Denial::DpopProofInvalid, "{field}");
    }
    assert!(rules().check(&request(&dpop_proof(claims)), "another-token", NOW, None).is_err());
}

/// A proof signed with the fixtures' RSA key, PKCS#1 v1.5 (RS256) or PSS (PS256), through the
/// RSA code jwt-simple uses (superboring), independently of the filter's check.
fn rsa_proof(alg: &str, claims: Value) -> String {
    use superboring::{hash::MessageDigest, pkey::PKey, rsa::Padding, sign::Signer};
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let k = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "rsa").unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "RSA", "n": k["n"], "e": k["e"]}});
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let pair = RS256KeyPair::from_pem(&fixture("rsa.key")).unwrap();
    let pkey = PKey::from_rsa(pair.key_pair().as_ref().clone()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
    signer.set_rsa_padding(if alg == "PS256" { Padding::PKCS1_PSS } else { Padding::PKCS1 }).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap()))
}

#[test]
fn rsa_proofs_pss_included_are_checked_without_the_host() {
    let token = "the-access-token";
    let ath = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(token.as_bytes()));
    let claims = json!({"jti": "j1", "htm": "GET", "htu": "https://api.test/orders", "iat": NOW, "ath": ath});
    let rules = DpopRules { proof_algs: [Alg::RS256, Alg::PS256].into_iter().collect::<AlgSet>(), ..rules() };
    for alg in ["PS256", "RS256"] {
        let good = rsa_proof(alg, claims.clone());
        assert!(rules.check(&request(&good), token, NOW, None).is_ok(), "{alg}");
        // Another signature over the same input: refused.
        let (input, _) = good.rsplit_once('.').unwrap();
        let other = rsa_proof(alg, json!({"jti": "j2"}));
        let forged = format!("{input}.{}", other.rsplit_once('.').unwrap().1);
        assert_eq!(rules.check(&request(&forged), token, NOW, None).unwrap_err(), Denial::DpopProofInvalid, "{alg}");
    }
}
