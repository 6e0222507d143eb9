//! Sender-constrained tokens: DPoP (RFC 9449) proofs made here with ring (not the filter's
//! code), and certificate-bound tokens (RFC 8705) against the connection's certificate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use test_harness::{Host, Request, Vm};

const SECRET: &[u8] = b"hs-secret-for-tests";

struct Holder {
    key: EcdsaKeyPair,
    jwk: Value,
}

impl Holder {
    fn new() -> Holder {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = key.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        Holder { key, jwk }
    }

    /// RFC 7638, written out here independently of the filter.
    fn jkt(&self) -> String {
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, self.jwk["x"].as_str().unwrap(), self.jwk["y"].as_str().unwrap());
        URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(canonical.as_bytes()))
    }

    fn proof_with(&self, header: Value, claims: Value) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn proof(&self, method: &str, url: &str, token: &str, jti: &str) -> String {
        let ath = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(token.as_bytes()));
        self.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}),
            json!({"jti": jti, "htm": method, "htu": url, "iat": NOW, "ath": ath}))
    }
}

fn token(cnf: Value) -> String {
    hs256_raw(SECRET, json!({"alg": "HS256"}), json!({"sub": "alice", "exp": NOW + 600, "cnf": cnf}))
}

fn plain_token() -> String {
    hs256_raw(SECRET, json!({"alg": "HS256"}), json!({"sub": "bob", "exp": NOW + 600}))
}

fn config(extra: Value) -> String {
    let mut strategy = json!({"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}], "dpop": "optional"});
    for (k, v) in extra.as_object().unwrap() {
        strategy[k] = v.clone();
    }
    json!({"oauth_servers": {"s": {"token_strategy": strategy}}, "policies": {"p": {"oauth_server": "s", "realm": "api"}}, "default_policy": "p"}).to_string()
}

fn vm(host: &Host, extra: Value) -> Vm {
    host.vm(&config(extra)).unwrap_or_else(|vm| panic!("{}", vm.log_text()))
}

fn dpop(token: &str, proof: &str) -> Request {
    Request::get("/orders?page=2").header("authorization", format!("DPoP {token}")).header("dpop", proof)
}

fn challenges(o: &test_harness::Outcome) -> Vec<String> {
    match o {
        test_harness::Outcome::Local(r) => r.headers.iter().filter(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone()).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bound_token_with_its_proof_passes_once() {
    let host = Host::at(NOW);
    let (mut a, mut b) = (vm(&host, json!({})), vm(&host, json!({})));
    let holder = Holder::new();
    let t = token(json!({"jkt": holder.jkt()}));
    let proof = holder.proof("GET", "http://api.test/orders", &t, "j-1");
    let out = a.send(dpop(&t, &proof));
    assert!(out.is_forwarded(), "{out:?} {}", a.log_text());
    for vm in [&mut a, &mut b] {
        let out = vm.send(dpop(&t, &proof));
        assert_eq!(out.status(), 401, "a replayed proof, on either worker");
        assert_eq!(challenges(&out), ["DPoP algs=\"ES256 ES384 RS256 PS256 EdDSA\", error=\"invalid_dpop_proof\", error_description=\"the DPoP proof was used before\""]);
    }
    // A new proof for the same token: fine (and the token's verdict is cached, the proof never).
    assert!(b.send(dpop(&t, &holder.proof("GET", "http://api.test/orders", &t, "j-2"))).is_forwarded());
}

#[test]
fn proofs_that_do_not_fit_the_request_token_or_key_are_refused() {
    let host = Host::at(NOW);
    let mut vm = vm(&host, json!({}));
    let holder = Holder::new();
    let t = token(json!({"jkt": holder.jkt()}));
    let url = "http://api.test/orders";
    let ath = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(t.as_bytes()));
    let head = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.jwk});
    let mut private = holder.jwk.clone();
    private["d"] = json!("AAAA");
    for (i, (proof, why)) in [
        (holder.proof("POST", url, &t, "m"), "another method"),
        (holder.proof("GET", "http://api.test/other", &t, "u"), "another URL"),
        (holder.proof("GET", url, &plain_token(), "a"), "another token (ath)"),
        (Holder::new().proof("GET", url, &t, "k"), "another key than the token's"),
        (holder.proof_with(json!({"typ": "JWT", "alg": "ES256", "jwk": holder.jwk}), json!({"jti": "t", "htm": "GET", "htu": url, "iat": NOW, "ath": ath})), "typ"),
        (holder.proof_with(head.clone(), json!({"jti": "o", "htm": "GET", "htu": url, "iat": NOW - 301, "ath": ath})), "too old"),
        (holder.proof_with(head.clone(), json!({"jti": "f", "htm": "GET", "htu": url, "iat": NOW + 60, "ath": ath})), "from the future"),
        (holder.proof_with(head.clone(), json!({"htm": "GET", "htu": url, "iat": NOW, "ath": ath})), "no jti"),
        (holder.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}), json!({"jti": "p", "htm": "GET", "htu": url, "iat": NOW, "ath": ath})), "a private key"),
        (holder.proof("GET", url, &t, "x")[..40].to_string(), "garbage"),
    ].into_iter().enumerate() {
        let out = vm.send(dpop(&t, &proof));
        assert_eq!(out.status(), 401, "{i}: {why}");
        assert!(challenges(&out)[0].starts_with("DPoP algs="), "{why}");
    }
    let out = vm.send(Request::get("/orders").header("authorization", format!("DPoP {t}")));
    assert_eq!(out.status(), 401, "no proof");
    let two = Request::get("/orders").header("authorization", format!("DPoP {t}")).header("dpop", holder.proof("GET", url, &t, "y")).header("dpop", holder.proof("GET", url, &t, "z"));
    assert_eq!(vm.send(two).status(), 401, "two proofs");
    // An htu with the default port, another case in the host and a query still fits.
    assert!(vm.send(dpop(&t, &holder.proof("GET", "HTTP://API.test:80/orders?x", &t, "ok"))).is_forwarded());
}

#[test]
fn bearer_is_for_unbound_tokens_and_not_where_dpop_is_required() {
    let host = Host::at(NOW);
    let holder = Holder::new();
    let bound = token(json!({"jkt": holder.jkt()}));
    let mut vm = vm(&host, json!({}));
    let out = vm.send(Request::get("/orders").bearer(&bound));
    assert_eq!(out.status(), 401, "a bound token used as a bearer token");
    assert_eq!(challenges(&out), ["DPoP algs=\"ES256 ES384 RS256 PS256 EdDSA\", error=\"invalid_token\", error_description=\"the access token must be presented with a DPoP proof\""]);
    assert!(vm.send(Request::get("/orders").bearer(&plain_token())).is_forwarded(), "optional: unbound bearer tokens pass");
    let out = vm.send(Request::get("/orders"));
    assert_eq!(challenges(&out), ["Bearer realm=\"api\"", "DPoP algs=\"ES256 ES384 RS256 PS256 EdDSA\""], "both schemes offered");
    let mut required = self::vm(&host, json!({"dpop": "required", "dpop_algs": ["ES256"]}));
    assert_eq!(required.send(Request::get("/orders").bearer(&plain_token())).status(), 401);
    let unbound_as_dpop = dpop(&plain_token(), &holder.proof("GET", "http://api.test/orders", &plain_token(), "u"));
    assert_eq!(required.send(unbound_as_dpop).status(), 401, "DPoP with a token bound to nothing");
    // A server without DPoP refuses tokens bound to a key: they cannot be checked there.
    let mut off = self::vm(&host, json!({"dpop": "disabled"}));
    assert_eq!(off.send(Request::get("/orders").bearer(&bound)).status(), 401);
    assert!(off.send(Request::get("/orders").bearer(&plain_token())).is_forwarded());
}

#[test]
fn certificate_bound_tokens_need_that_certificate() {
    let host = Host::at(NOW);
    let digest = hmac_sha256::Hash::hash(b"the client certificate's DER");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let t = token(json!({"x5t#S256": URL_SAFE_NO_PAD.encode(digest)}));
    let mut vm = vm(&host, json!({"dpop": "disabled"}));
    assert!(vm.send(Request::get("/orders").bearer(&t).client_certificate_sha256(&hex)).is_forwarded());
    assert!(vm.send(Request::get("/orders").bearer(&t).client_certificate_sha256(&hex.to_uppercase())).is_forwarded());
    let other: String = hmac_sha256::Hash::hash(b"another").iter().map(|b| format!("{b:02x}")).collect();
    let out = vm.send(Request::get("/orders").bearer(&t).client_certificate_sha256(&other));
    assert_eq!(out.status(), 401);
    assert_eq!(out.reply_json()["error_description"], "the access token is bound to another client certificate");
    assert_eq!(vm.send(Request::get("/orders").bearer(&t)).status(), 401, "no certificate (plain TCP)");
    assert!(vm.send(Request::get("/orders").bearer(&plain_token())).is_forwarded(), "optional: unbound tokens pass");
    let mut required = self::vm(&host, json!({"dpop": "disabled", "certificate_bound": "required"}));
    let out = required.send(Request::get("/orders").bearer(&plain_token()).client_certificate_sha256(&hex));
    assert_eq!(out.reply_json()["error_description"], "the access token is not bound to a client certificate");
}

#[test]
fn a_proof_waiting_for_the_upstream_token_is_recorded_once() {
    let host = Host::at(NOW);
    let cfg = json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}], "dpop": "optional"}}},
        "policies": {"p": {"oauth_server": "s", "realm": "api", "upstream_client_credentials": {"client_id": "gw", "client_secret": "x",
            "token_url": "http://idp.test/token", "cluster": "idp"}}},
        "default_policy": "p"}).to_string();
    let mut vm = host.vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let holder = Holder::new();
    let t = token(json!({"jkt": holder.jkt()}));
    let proof = holder.proof("GET", "http://api.test/orders", &t, "j-1");
    // The first request after start waits for the upstream token.
    let ctx = match vm.send(dpop(&t, &proof)) {
        test_harness::Outcome::Paused { context } => context,
        other => panic!("expected a wait for the upstream token: {other:?}"),
    };
    vm.tick();
    let call = vm.pending_calls().into_iter().find(|c| c.cluster == "idp").expect("the token call");
    vm.answer(call.token, 200, &[("content-type", "application/json")], br#"{"access_token": "T-up", "token_type": "Bearer", "expires_in": 100}"#);
    let out = vm.poll(ctx);
    assert!(out.is_forwarded(), "its own proof is not a replay of itself: {out:?}");
    assert_eq!(out.upstream("authorization").as_deref(), Some("Bearer T-up"));
    assert_eq!(vm.send(dpop(&t, &proof)).status(), 401, "a real replay still is");
}

#[test]
fn requires_all_checks_every_servers_binding_rules() {
    let host = Host::at(NOW);
    let hs = json!([{"alg": "HS256", "key": "hs-secret-for-tests"}]);
    let cfg = json!({
        "oauth_servers": {"a": {"token_strategy": {"name": "jwt", "settings": hs, "dpop": "optional"}},
                          "b": {"token_strategy": {"name": "jwt", "settings": hs, "dpop": "required"}}},
        "policies": {"both": {"oauth_servers": ["a", "b"], "requires": "all", "realm": "api"},
                     "either": {"oauth_servers": ["a", "b"], "realm": "api"}},
        "routes": [{"path_prefix": "/either", "policy": "either"}],
        "default_policy": "both"}).to_string();
    let mut vm = host.vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let plain = plain_token();
    for _ in 0..2 {
        // Twice: the second time from the verdict cache.
        let out = vm.send(Request::get("/orders").bearer(&plain));
        assert_eq!(out.status(), 401, "server b takes DPoP only, and all must accept: {out:?}");
    }
    assert!(vm.send(Request::get("/either").bearer(&plain)).is_forwarded(), "with any, server a's acceptance is enough");
    let holder = Holder::new();
    let t = token(json!({"jkt": holder.jkt()}));
    let proof = holder.proof("GET", "http://api.test/orders", &t, "j-1");
    assert!(vm.send(dpop(&t, &proof)).is_forwarded(), "a bound token with its proof satisfies both servers");
    assert_eq!(vm.send(dpop(&t, &proof)).status(), 401, "and its proof is used once");
}

#[test]
fn a_key_flooding_proofs_does_not_deny_another_key() {
    let host = Host::at(NOW);
    // Every proof in one replay slot: the flood lands where the other key's proofs do.
    let mut vm = vm(&host, json!({"dpop_replay_slots": 1}));
    let (flooder, other) = (Holder::new(), Holder::new());
    let (tf, to) = (token(json!({"jkt": flooder.jkt()})), token(json!({"jkt": other.jkt()})));
    let url = "http://api.test/orders";
    let mut refused = 0;
    for i in 0..40 {
        let out = vm.send(dpop(&tf, &flooder.proof("GET", url, &tf, &format!("f-{i}"))));
        if out.status() == 401 {
            refused += 1;
        }
        if i % 12 == 0 {
            let proof = other.proof("GET", url, &to, &format!("o-{i}"));
            assert!(vm.send(dpop(&to, &proof)).is_forwarded(), "the other key passes during the flood ({i})");
            assert_eq!(vm.send(dpop(&to, &proof)).status(), 401, "and its replays are still refused ({i})");
        }
    }
    assert!(refused > 0, "the flooding key is the one refused once the slot is full");
}
