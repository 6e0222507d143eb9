//! Signatures checked and made by the host (Envoy's `verify_signature` and `sign`, played by
//! the harness with ring): the probe at configure time, the algorithms that go to the host,
//! a host that errs or lies, and the issuer signing through `sign`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use test_harness::{Host, Request, Vm};

/// Calls the probe makes at configure time: a good and a tampered signature for each of
/// RS256, RS384, RS512, ES256, ES384.
const PROBE_CALLS: usize = 10;

fn config(host_crypto: bool) -> String {
    json!({
        "host_crypto": host_crypto,
        "oauth_servers": {"local": {"token_strategy": {"name": "jwt", "settings": all_settings()}}},
        "policies": {"api": {"oauth_server": "local"}},
        "default_policy": "api"
    })
    .to_string()
}

fn start(host: &Host, cfg: &str) -> Vm {
    host.vm(cfg).unwrap_or_else(|vm| panic!("configure failed:\n{}", vm.log_text()))
}

fn token(alg: &str) -> String {
    sign(alg, None, claims(json!({"sub": "alice"})))
}

fn tampered(t: &str) -> String {
    let (signed, sig) = t.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", sig.into_iter().collect::<String>())
}

#[test]
fn probed_algorithms_are_verified_by_the_host_and_the_others_in_the_filter() {
    let (host, calls) = Host::at(NOW).with_envoy_crypto();
    let mut vm = start(&host, &config(true));
    assert_eq!(calls.verifies(), PROBE_CALLS);
    assert!(vm.log_text().contains("host crypto: RS256 RS384 RS512 ES256 ES384"), "{}", vm.log_text());
    for alg in ["RS256", "RS384", "RS512", "ES256", "ES384"] {
        let before = calls.verifies();
        let t = token(alg);
        let out = vm.send(Request::get("/").bearer(&t));
        assert!(out.is_forwarded(), "{alg}: {out:?}");
        assert_eq!(calls.verifies(), before + 1, "{alg} went to the host");
        // A repeated token is served from the verified-token cache: no second host call.
        assert!(vm.send(Request::get("/").bearer(&t)).is_forwarded());
        assert_eq!(calls.verifies(), before + 1, "{alg} cached");
        let out = vm.send(Request::get("/").bearer(&tampered(&t)));
        assert_eq!(out.status(), 401, "{alg} tampered: {out:?}");
        let out = vm.send(Request::get("/").bearer(&sign("RS256-other", None, claims(json!({})))));
        assert_eq!(out.status(), 401, "{alg} other key");
    }
    let before = calls.verifies();
    for alg in ["HS256", "PS256", "EdDSA"] {
        assert!(vm.send(Request::get("/").bearer(&token(alg))).is_forwarded(), "{alg}");
    }
    assert_eq!(calls.verifies(), before, "HS, PS and EdDSA stay in the filter");
}

#[test]
fn expired_tokens_are_refused_on_the_host_path_too() {
    let (host, calls) = Host::at(NOW + 601).with_envoy_crypto();
    let mut vm = start(&host, &config(true));
    let out = vm.send(Request::get("/").bearer(&token("ES256")));
    assert_eq!(out.status(), 401);
    assert!(out.reply_header("www-authenticate").unwrap().contains("expired"), "{out:?}");
    assert_eq!(calls.verifies(), PROBE_CALLS + 1);
}

#[test]
fn host_crypto_false_keeps_every_check_in_the_filter() {
    let (host, calls) = Host::at(NOW).with_envoy_crypto();
    let mut vm = start(&host, &config(false));
    assert!(vm.send(Request::get("/").bearer(&token("RS256"))).is_forwarded());
    assert_eq!(calls.verifies(), 0);
}

#[test]
fn a_host_that_lies_or_errs_is_not_trusted() {
    // Says every signature is valid: fails the probe's tampered half, so it is never asked.
    let liar = Arc::new(AtomicUsize::new(0));
    let l = liar.clone();
    let host = Host::at(NOW).with_foreign("verify_signature", Box::new(move |_| {
        l.fetch_add(1, Ordering::SeqCst);
        Some(vec![0x08, 0x01])
    }));
    let mut vm = start(&host, &config(true));
    assert!(vm.log_text().contains("host crypto: none"), "{}", vm.log_text());
    let probed = liar.load(Ordering::SeqCst);
    let out = vm.send(Request::get("/").bearer(&tampered(&token("RS256"))));
    assert_eq!(out.status(), 401);
    assert!(vm.send(Request::get("/").bearer(&token("RS256"))).is_forwarded());
    assert_eq!(liar.load(Ordering::SeqCst), probed);

    // Answers with an error status or garbage: the same, and no trap.
    for answer in [None, Some(vec![0xff, 0xff]), Some(Vec::new())] {
        let host = Host::at(NOW).with_foreign("verify_signature", Box::new(move |_| answer.clone()));
        let mut vm = start(&host, &config(true));
        assert!(vm.send(Request::get("/").bearer(&token("ES256"))).is_forwarded());
        assert_eq!(vm.send(Request::get("/").bearer(&tampered(&token("ES256")))).status(), 401);
    }
}

#[test]
fn the_issuer_signs_through_the_host_and_its_tokens_verify() {
    let (host, calls) = Host::at(NOW).with_envoy_crypto();
    let cfg = json!({
        "token_issuer": {
            "secure": false, "issuer": "https://gw.test", "defaultKeyPair": "rsa",
            "key_pairs": {"rsa": {"alg": "RS256", "private_key": fixture("rsa.key")},
                          "ec": {"alg": "ES256", "private_key": fixture("ec256.key")}},
            "clients": [{"client_id": "rs", "client_secret": "rs-secret"},
                        {"client_id": "es", "client_secret": "es-secret", "key_pair": "ec"}]
        },
        "oauth_servers": {"self": {"token_strategy": {"name": "jwt", "trust_token_issuer": true}}},
        "policies": {"api": {"oauth_server": "self"}},
        "default_policy": "api"
    });
    let mut vm = start(&host, &cfg.to_string());
    for (client, secret) in [("rs", "rs-secret"), ("es", "es-secret")] {
        let body = format!("grant_type=client_credentials&client_id={client}&client_secret={secret}");
        let req = Request::new("POST", "/.well-known/otoroshi/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let signs = calls.signs();
        let out = vm.send(req);
        assert_eq!(out.status(), 200, "{out:?}");
        assert_eq!(calls.signs(), signs + 1, "{client} signed by the host");
        let t = out.reply_json()["access_token"].as_str().unwrap().to_string();
        // Verified independently of the filter, with jwt-simple and the public key.
        let o = Some(VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(NOW)), ..Default::default() });
        let claims: JWTClaims<Map<String, Value>> = match client {
            "rs" => RS256PublicKey::from_pem(&fixture("rsa.pub")).unwrap().verify_token(&t, o).unwrap(),
            _ => ES256PublicKey::from_pem(&fixture("ec256.pub")).unwrap().verify_token(&t, o).unwrap(),
        };
        assert_eq!(claims.subject.as_deref(), Some(client));
        assert!(vm.send(Request::get("/api").bearer(&t)).is_forwarded());
    }
}

#[test]
fn a_signature_the_host_gets_wrong_is_never_handed_out() {
    // verify_signature is right (ring), sign answers a well-formed but wrong signature: the
    // issuer's own check through verify_signature refuses it and the filter signs instead.
    let (verify, _, _) = test_harness::crypto::envoy_crypto();
    let signs = Arc::new(AtomicUsize::new(0));
    let s = signs.clone();
    let bad_sign: test_harness::state::ForeignFn = Box::new(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
        let mut answer = vec![0x08, 0x01, 0x12, 0x46, 0x30, 0x44, 0x02, 0x20];
        answer.extend_from_slice(&[0x11; 32]);
        answer.extend_from_slice(&[0x02, 0x20]);
        answer.extend_from_slice(&[0x22; 32]);
        Some(answer)
    });
    let host = Host::at(NOW).with_foreign("verify_signature", verify).with_foreign("sign", bad_sign);
    let cfg = json!({
        "token_issuer": {"secure": false, "issuer": "https://gw.test", "defaultKeyPair": "ec",
                         "key_pairs": {"ec": {"alg": "ES256", "private_key": fixture("ec256.key")}},
                         "clients": [{"client_id": "es", "client_secret": "es-secret"}]}
    });
    let mut vm = start(&host, &cfg.to_string());
    let req = Request::new("POST", "/.well-known/otoroshi/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=es&client_secret=es-secret");
    let out = vm.send(req);
    assert_eq!(out.status(), 200, "{out:?}");
    let t = out.reply_json()["access_token"].as_str().unwrap().to_string();
    let o = Some(VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(NOW)), ..Default::default() });
    let claims: JWTClaims<Map<String, Value>> = ES256PublicKey::from_pem(&fixture("ec256.pub")).unwrap().verify_token(&t, o).unwrap();
    assert_eq!(claims.subject.as_deref(), Some("es"));
    assert_eq!(signs.load(Ordering::SeqCst), 1, "the host was asked first");
}
