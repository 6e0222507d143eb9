//! Signature checks through a host (as Envoy's `verify_signature`): the same answers as the
//! pure-Rust path for every token, the probe that decides which algorithms go to the host, and
//! a host that errs or lies never letting a token through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use jwt_simple::prelude::*;
use oauth_core::crypto::{self, probe::probe, CryptoHost, Verdict};
use oauth_core::jwt::{Alg, AlgSet};
use oauth_core::Denial;
use serde_json::{json, Map, Value};
use std::cell::Cell;

/// A host that checks signatures correctly: it rebuilds the JWS from what it is given (the
/// DER signature turned back into R‖S) and verifies it with jwt-simple.
struct TrueHost {
    algs: AlgSet,
    calls: Cell<usize>,
}

impl TrueHost {
    fn new(algs: AlgSet) -> Self {
        TrueHost { algs, calls: Cell::new(0) }
    }
}

impl CryptoHost for TrueHost {
    fn algs(&self) -> AlgSet {
        self.algs
    }
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], text: &[u8]) -> Verdict {
        self.calls.set(self.calls.get() + 1);
        let text = std::str::from_utf8(text).unwrap();
        let token = |raw: &[u8]| format!("{text}.{}", URL_SAFE_NO_PAD.encode(raw));
        let ok = |r: Result<JWTClaims<Map<String, Value>>, jwt_simple::Error>| r.is_ok();
        let o = || Some(VerificationOptions { accept_future: true, artificial_time: Some(UnixTimeStamp::from_secs(NOW)), ..Default::default() });
        let head: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text.split('.').next().unwrap()).unwrap()).unwrap();
        let valid = match (head["alg"].as_str().unwrap(), hash) {
            ("RS256", "sha256") => ok(RS256PublicKey::from_der(spki).unwrap().verify_token(&token(sig), o())),
            ("RS384", "sha384") => ok(RS384PublicKey::from_der(spki).unwrap().verify_token(&token(sig), o())),
            ("RS512", "sha512") => ok(RS512PublicKey::from_der(spki).unwrap().verify_token(&token(sig), o())),
            ("ES256", "sha256") => match crypto::der::der_to_raw(sig, 32) {
                Some(raw) => ok(ES256PublicKey::from_der(spki).unwrap().verify_token(&token(&raw), o())),
                None => return Verdict::Unavailable,
            },
            ("ES384", "sha384") => match crypto::der::der_to_raw(sig, 48) {
                Some(raw) => ok(ES384PublicKey::from_der(spki).unwrap().verify_token(&token(&raw), o())),
                None => return Verdict::Unavailable,
            },
            other => panic!("the host was asked about {other:?}"),
        };
        if valid { Verdict::Valid } else { Verdict::Invalid }
    }
}

/// A host that always gives the same answer.
struct Constant(Verdict);

impl CryptoHost for Constant {
    fn algs(&self) -> AlgSet {
        crypto::host_capable()
    }
    fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> Verdict {
        self.0
    }
}

#[test]
fn the_probe_takes_what_a_true_host_verifies_and_nothing_from_a_wrong_one() {
    let host = TrueHost::new(crypto::host_capable());
    let passed = probe(&host);
    for a in [Alg::RS256, Alg::RS384, Alg::RS512, Alg::ES256, Alg::ES384] {
        assert!(passed.contains(a), "{a:?}");
    }
    for a in [Alg::HS256, Alg::PS256, Alg::EdDSA] {
        assert!(!passed.contains(a), "{a:?}");
    }
    for verdict in [Verdict::Valid, Verdict::Invalid, Verdict::Unavailable] {
        let passed = probe(&Constant(verdict));
        assert!(Alg::ALL.iter().all(|a| !passed.contains(*a)), "{verdict:?}");
    }
}

#[test]
fn both_paths_give_the_same_answer_for_every_token() {
    let host = TrueHost::new(crypto::host_capable());
    let r = all();
    let mut tokens = Vec::new();
    for alg in ["HS256", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "RS256-other"] {
        tokens.push(sign(alg, None, claims(json!({"sub": "alice"}))));
        let mut c = claims(json!({}));
        c.invalid_before = Some(UnixTimeStamp::from_secs(NOW + 100));
        tokens.push(sign(alg, None, c));
    }
    let good = sign("ES256", None, claims(json!({"sub": "alice"})));
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    tokens.push(format!("{head}.{payload}.{}", &sig[..sig.len() - 4]));
    tokens.push(format!("{head}.{payload}.{sig}AAAA"));
    tokens.push(format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(r#"{"sub":"mallory","exp":1900000000}"#)));
    tokens.push(format!("{head}.{payload}.!!"));
    tokens.push(forge(json!({"alg": "RS256", "typ": "JOSE"}), json!({}), "AAAA"));
    for now in [NOW - 31, NOW, NOW + 100, NOW + 601] {
        for t in &tokens {
            let pure = r.verify_with_keys(t, now, &[], None).map(|id| id.claims);
            let hosted = r.verify_with_keys(t, now, &[], Some(&host)).map(|id| id.claims);
            assert_eq!(pure, hosted, "{t} at {now}");
        }
    }
    assert!(host.calls.get() > 0);
}

#[test]
fn only_the_probed_algorithms_reach_the_host() {
    let host = TrueHost::new([Alg::ES256].into_iter().collect());
    let r = all();
    for alg in ["RS256", "ES384", "HS256", "EdDSA", "PS256"] {
        assert!(r.verify_with_keys(&sign(alg, None, claims(json!({}))), NOW, &[], Some(&host)).is_ok());
    }
    assert_eq!(host.calls.get(), 0);
    assert!(r.verify_with_keys(&sign("ES256", None, claims(json!({}))), NOW, &[], Some(&host)).is_ok());
    assert_eq!(host.calls.get(), 1);
}

#[test]
fn a_host_that_errs_falls_back_and_one_that_says_invalid_refuses() {
    let r = all();
    let t = sign("RS256", None, claims(json!({"sub": "alice"})));
    assert!(r.verify_with_keys(&t, NOW, &[], Some(&Constant(Verdict::Unavailable))).is_ok());
    let forged = sign("RS256-other", None, claims(json!({})));
    assert_eq!(r.verify_with_keys(&forged, NOW, &[], Some(&Constant(Verdict::Unavailable))).unwrap_err(), Denial::BadSignature);
    assert_eq!(r.verify_with_keys(&t, NOW, &[], Some(&Constant(Verdict::Invalid))).unwrap_err(), Denial::BadSignature);
}

#[test]
fn claims_are_still_checked_after_the_host_says_valid() {
    // Even a host that wrongly calls every signature valid cannot extend a token's life or
    // skip the issuer, audience and required claims.
    let r = rules(json!({"name": "jwt", "settings": all_settings(), "issuers": ["https://idp"], "audiences": ["api"]}));
    let yes = Constant(Verdict::Valid);
    let t = sign("ES256", None, claims(json!({"iss": "https://idp", "aud": "api"})));
    assert!(r.verify_with_keys(&t, NOW, &[], Some(&yes)).is_ok());
    assert_eq!(r.verify_with_keys(&t, NOW + 601, &[], Some(&yes)).unwrap_err(), Denial::Expired);
    assert_eq!(r.verify_with_keys(&t, NOW - 1, &[], Some(&yes)).unwrap_err(), Denial::IssuedInFuture);
    let t = sign("ES256", None, claims(json!({"iss": "https://evil", "aud": "api"})));
    assert_eq!(r.verify_with_keys(&t, NOW, &[], Some(&yes)).unwrap_err(), Denial::BadIssuer);
}

#[test]
fn a_signature_the_host_refuses_is_refused_as_such_whatever_the_payload() {
    // The signature's answer comes first: an expired or unreadable payload under a signature
    // the host refuses is a bad signature; once the host says valid, the payload's own answer.
    let r = all();
    let no = Constant(Verdict::Invalid);
    let t = sign("ES256", None, claims(json!({})));
    assert_eq!(r.verify_with_keys(&t, NOW + 601, &[], Some(&no)).unwrap_err(), Denial::BadSignature, "expired");
    let (head, rest) = t.split_once('.').unwrap();
    let signature = rest.rsplit('.').next().unwrap();
    for payload in ["bm90IGpzb24", "e30", "!!"] {
        let odd = format!("{head}.{payload}.{signature}");
        assert_eq!(r.verify_with_keys(&odd, NOW, &[], Some(&no)).unwrap_err(), Denial::BadSignature, "{payload}");
        let yes = Constant(Verdict::Valid);
        let read = r.verify_with_keys(&odd, NOW, &[], Some(&yes));
        assert_ne!(read.as_ref().err(), Some(&Denial::BadSignature), "{payload}: read once the host says valid");
    }
}

#[test]
fn signing_through_the_host_converts_der_to_jws() {
    struct Signer;
    impl CryptoHost for Signer {
        fn algs(&self) -> AlgSet {
            crypto::host_capable()
        }
        fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> Verdict {
            Verdict::Unavailable
        }
        fn sign(&self, hash: &str, pem: &str, _text: &[u8]) -> Option<Vec<u8>> {
            assert_eq!(hash, "sha256");
            assert!(pem.starts_with("-----BEGIN"));
            crypto::der::raw_to_der(&[7u8; 64], 32)
        }
    }
    assert_eq!(crypto::sign_jws(&Signer, Alg::ES256, "-----BEGIN", b"x"), Some(vec![7u8; 64]));
    assert_eq!(crypto::sign_jws(&Signer, Alg::EdDSA, "-----BEGIN", b"x"), None);
}
