//! JWT verification against the fixture keys: every algorithm, rotation, claims, attacks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
use common::*;
use oauth_core::{Config, Denial};
use serde_json::{json, Value};

#[test]
fn every_algorithm_verifies() {
    let r = all();
    for alg in ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"] {
        let t = sign(alg, None, claims(json!({"sub": "alice", "scope": "a b"})));
        let id = r.verify(&t, NOW).unwrap_or_else(|d| panic!("{alg}: {d:?}"));
        assert_eq!(id.header_value("sub").as_deref(), Some("alice"), "{alg}");
    }
}

#[test]
fn wrong_key_is_a_bad_signature() {
    let t = sign("RS256-other", None, claims(json!({})));
    assert_eq!(all().verify(&t, NOW).unwrap_err(), Denial::BadSignature);
    let t = hs256_raw(b"other-secret-value", json!({"alg": "HS256"}), json!({"exp": NOW + 10}));
    assert_eq!(all().verify(&t, NOW).unwrap_err(), Denial::BadSignature);
}

#[test]
fn time_claims_use_the_host_clock_and_leeway() {
    let strict = all();
    let lenient = rules(json!({"name": "jwt", "settings": all_settings(), "leeway": 30}));
    let t = sign("ES256", None, claims(json!({})));
    assert!(strict.verify(&t, NOW + 600).is_ok());
    assert_eq!(strict.verify(&t, NOW + 601).unwrap_err(), Denial::Expired);
    assert!(lenient.verify(&t, NOW + 630).is_ok());
    assert_eq!(lenient.verify(&t, NOW + 631).unwrap_err(), Denial::Expired);
    assert_eq!(strict.verify(&t, NOW - 1).unwrap_err(), Denial::IssuedInFuture);
    assert!(lenient.verify(&t, NOW - 30).is_ok());
    let mut c = claims(json!({}));
    c.invalid_before = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(NOW + 100));
    c.issued_at = None;
    let t = sign("HS256", None, c);
    assert_eq!(strict.verify(&t, NOW).unwrap_err(), Denial::NotYetValid);
    assert!(strict.verify(&t, NOW + 100).is_ok());
}

#[test]
fn alg_none_in_any_spelling_is_refused() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = forge(json!({"alg": alg}), json!({"sub": "x", "exp": NOW + 10}), "");
        assert_eq!(all().verify(&t, NOW).unwrap_err(), Denial::AlgNone, "{alg}");
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion: the attacker uses the public PEM as the HMAC secret.
    let only_rsa = rules(json!({"name": "jwt", "settings": [{"alg": "RS256", "key": fixture("rsa.pub")}]}));
    let t = hs256_raw(fixture("rsa.pub").as_bytes(), json!({"alg": "HS256"}), json!({"exp": NOW + 10}));
    assert_eq!(only_rsa.verify(&t, NOW).unwrap_err(), Denial::NoMatchingKey);
    // And a PEM can never be configured as an HMAC secret.
    let cfg = json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": fixture("rsa.pub")}]}}}});
    let e = Config::from_json(cfg.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.path, "oauth_servers.s.token_strategy.settings[0].key");
}

#[test]
fn allow_list_and_unknown_algs() {
    let r = rules(json!({"name": "jwt", "settings": all_settings(), "allowed_algorithms": ["RS256", "EdDSA"]}));
    assert!(r.verify(&sign("RS256", None, claims(json!({}))), NOW).is_ok());
    assert_eq!(r.verify(&sign("HS256", None, claims(json!({}))), NOW).unwrap_err(), Denial::AlgNotAllowed);
    let t = forge(json!({"alg": "XS999"}), json!({}), "abc");
    assert_eq!(r.verify(&t, NOW).unwrap_err(), Denial::AlgNotAllowed);
}

#[test]
fn kid_picks_the_key_and_rotation_keeps_both() {
    let r = rules(json!({"name": "jwt", "settings": [
        {"alg": "RS256", "key": fixture("rsa2.pub"), "kid": "old"},
        {"alg": "RS256", "key": fixture("rsa.pub"), "kid": "new"},
    ]}));
    let mut c = claims(json!({}));
    c = c.with_subject("s");
    let t_new = sign("RS256", Some("new"), c.clone());
    let t_old = sign("RS256-other", Some("old"), c.clone());
    assert!(r.verify(&t_new, NOW).is_ok());
    assert!(r.verify(&t_old, NOW).is_ok());
    // A token claiming the wrong kid fails even though another key would verify it.
    let t_liar = sign("RS256", Some("old"), c.clone());
    assert_eq!(r.verify(&t_liar, NOW).unwrap_err(), Denial::BadSignature);
    let t_unknown = sign("RS256", Some("zzz"), c);
    assert_eq!(r.verify(&t_unknown, NOW).unwrap_err(), Denial::NoMatchingKey);
}

#[test]
fn keys_without_kid_are_all_tried() {
    let r = rules(json!({"name": "jwt", "settings": [
        {"alg": "RS256", "key": fixture("rsa2.pub")}, {"alg": "RS256", "key": fixture("rsa.pub")}]}));
    assert!(r.verify(&sign("RS256", None, claims(json!({}))), NOW).is_ok());
    assert!(r.verify(&sign("RS256", Some("any"), claims(json!({}))), NOW).is_ok());
}

#[test]
fn a_token_without_kid_is_tried_against_every_key_of_its_alg() {
    // Every key has a kid (a JWKS): a kid-less token is checked with each RS256 key, as
    // jwt_authn, jose, PyJWT and jwcrypto do; never with a key of another algorithm.
    let r = rules(json!({"name": "jwt", "settings": [
        {"alg": "RS256", "key": fixture("rsa2.pub"), "kid": "old"},
        {"alg": "ES256", "key": fixture("ec256.pub"), "kid": "ec"},
        {"alg": "RS256", "key": fixture("rsa.pub"), "kid": "new"}]}));
    assert!(r.verify(&sign("RS256", None, claims(json!({}))), NOW).is_ok());
    assert!(r.verify(&sign("ES256", None, claims(json!({}))), NOW).is_ok());
    assert_eq!(r.verify(&sign("PS256", None, claims(json!({}))), NOW).unwrap_err(), Denial::NoMatchingKey);
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let r = rules(json!({"name": "jwt", "settings": jwks}));
    for alg in ["RS256", "ES256", "ES384", "EdDSA"] {
        assert!(r.verify(&sign(alg, None, claims(json!({}))), NOW).is_ok(), "{alg}");
    }
}

#[test]
fn a_compressed_jws_is_refused() {
    let r = rules(json!({"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}}));
    let zipped = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "zip": "DEF"}), json!({"exp": NOW + 5}));
    assert_eq!(r.verify(&zipped, NOW).unwrap_err(), Denial::Compressed);
    let plain = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256"}), json!({"exp": NOW + 5}));
    assert!(r.verify(&plain, NOW).is_ok());
}

#[test]
fn issuer_audience_required_claims() {
    let r = rules(json!({"name": "jwt", "settings": {"secret": "hs-secret-for-tests"},
        "issuers": ["https://a", "https://b"], "audiences": ["api1", "api2"], "required_claims": ["tenant.id"]}));
    let ok = claims(json!({"tenant": {"id": "t"}})).with_issuer("https://b").with_audiences(["x", "api2"].into_iter().map(String::from).collect());
    assert!(r.verify(&sign("HS256", None, ok.clone()), NOW).is_ok());
    let bad_iss = ok.clone().with_issuer("https://c");
    assert_eq!(r.verify(&sign("HS256", None, bad_iss), NOW).unwrap_err(), Denial::BadIssuer);
    let bad_aud = ok.clone().with_audience("x");
    assert_eq!(r.verify(&sign("HS256", None, bad_aud), NOW).unwrap_err(), Denial::BadAudience);
    let no_claim = claims(json!({"tenant": {}})).with_issuer("https://a").with_audience("api1");
    assert_eq!(r.verify(&sign("HS256", None, no_claim), NOW).unwrap_err(), Denial::MissingClaim);
}

#[test]
fn inline_jwks() {
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let r = rules(json!({"name": "jwt", "settings": jwks}));
    for (alg, kid) in [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec256"), ("ES384", "ec384"), ("EdDSA", "ed25519")] {
        let t = sign(alg, Some(kid), claims(json!({})));
        assert!(r.verify(&t, NOW).is_ok(), "{alg}");
    }
    let t = hs256_raw(b"jwks-oct-secret", json!({"alg": "HS256", "kid": "oct"}), json!({"exp": NOW + 5}));
    assert!(r.verify(&t, NOW).is_ok());
}

#[test]
fn malformed_tokens_never_panic() {
    let r = all();
    let long = "a".repeat(9000);
    let cases = ["", ".", "..", "a.b.c", "a.b", "a.b.c.d.e", &long, "eyJhbGciOiJIUzI1NiJ9.!!!.abc",
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJzb29uIn0.abc", "eyJhbGciOiJIUzI1NiJ9..", "é.é.é"];
    for c in cases {
        assert!(r.verify(c, NOW).is_err(), "{c}");
    }
    assert_eq!(r.verify(&long, NOW).unwrap_err(), Denial::TokenTooLarge);
    // exp of the wrong JSON type, correctly signed: refused, not trusted.
    let t = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256"}), json!({"exp": "tomorrow"}));
    assert_eq!(r.verify(&t, NOW).unwrap_err(), Denial::Malformed);
    let t = hs256_raw(b"hs-secret-for-tests", json!({"alg": "HS256", "crit": ["exp"]}), json!({"exp": NOW + 5}));
    assert_eq!(r.verify(&t, NOW).unwrap_err(), Denial::UnsupportedCritical);
}

#[test]
fn the_eddsa_check_agrees_with_jwt_simple() {
    // The filter checks Ed25519 with curve25519-dalek; jwt-simple (ed25519-compact) is the
    // reference: the same tokens pass and fail.
    use jwt_simple::prelude::{Ed25519PublicKey, EdDSAPublicKeyLike, JWTClaims, VerificationOptions, UnixTimeStamp};
    let r = all();
    let reference = Ed25519PublicKey::from_pem(&fixture("ed25519.pub")).unwrap();
    let good = sign("EdDSA", None, claims(json!({"sub": "alice"})));
    let (signed, sig) = good.rsplit_once('.').unwrap();
    let mut cases = vec![good.clone(), format!("{signed}.{}", &sig[..sig.len() - 2]), format!("{signed}.AAAA")];
    for i in [0, 5, 40, 80] {
        let mut s: Vec<char> = sig.chars().collect();
        s[i] = if s[i] == 'x' { 'y' } else { 'x' };
        cases.push(format!("{signed}.{}", s.into_iter().collect::<String>()));
    }
    let (head, _) = signed.split_once('.').unwrap();
    cases.push(format!("{head}.{}.{sig}", base64::engine::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r#"{"sub":"mallory"}"#)));
    for now in [NOW - 1, NOW, NOW + 601] {
        for t in &cases {
            let o = VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(now)), time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(0)), ..Default::default() };
            let expected: Result<JWTClaims<serde_json::Map<String, Value>>, _> = reference.verify_token(t, Some(o));
            let got = r.verify(t, now);
            assert_eq!(expected.is_ok(), got.is_ok(), "{t} at {now}: {got:?}");
        }
    }
}

#[test]
fn expiration_lifetime_and_subjects() {
    use jwt_simple::prelude::UnixTimeStamp;
    let hs = json!([{"alg": "HS256", "key": "hs-secret-for-tests"}]);
    let strategy = |extra: Value| {
        let mut s = json!({"name": "jwt", "settings": hs.clone()});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        rules(s)
    };
    let mut no_exp = claims(json!({"sub": "alice"}));
    no_exp.expires_at = None;
    let no_exp = sign("HS256", None, no_exp);
    assert_eq!(strategy(json!({})).verify(&no_exp, NOW).unwrap_err(), Denial::NoExpiration, "required by default");
    assert!(strategy(json!({"require_expiration": false})).verify(&no_exp, NOW).is_ok());
    assert_eq!(strategy(json!({"require_expiration": false, "max_lifetime": 60})).verify(&no_exp, NOW).unwrap_err(), Denial::NoExpiration);
    let ten_minutes = sign("HS256", None, claims(json!({"sub": "alice"})));
    assert_eq!(strategy(json!({"max_lifetime": 599})).verify(&ten_minutes, NOW).unwrap_err(), Denial::LifetimeTooLong);
    assert!(strategy(json!({"max_lifetime": 600})).verify(&ten_minutes, NOW).is_ok());
    let mut no_iat = claims(json!({"sub": "alice"}));
    no_iat.issued_at = None;
    no_iat.expires_at = Some(UnixTimeStamp::from_secs(NOW + 100));
    let no_iat = sign("HS256", None, no_iat);
    assert!(strategy(json!({"max_lifetime": 100})).verify(&no_iat, NOW).is_ok(), "without iat: exp - now");
    let subjects = strategy(json!({"subjects": [{"prefix": "spiffe://corp/"}, {"exact": "alice"}, {"safe_regex": {"regex": "svc-[0-9]+"}}]}));
    for (sub, ok) in [("alice", true), ("spiffe://corp/api", true), ("svc-42", true), ("svc-42x", false), ("bob", false)] {
        let t = sign("HS256", None, claims(json!({"sub": sub})));
        assert_eq!(subjects.verify(&t, NOW).is_ok(), ok, "{sub}");
    }
    let anonymous = sign("HS256", None, claims(json!({})));
    assert_eq!(subjects.verify(&anonymous, NOW).unwrap_err(), Denial::SubjectNotAllowed);
    assert!(strategy(json!({"subjects": {"suffix": "@corp"}})).verify(&sign("HS256", None, claims(json!({"sub": "a@corp"}))), NOW).is_ok());
}

#[test]
fn short_hmac_secrets_as_janus_takes_them() {
    // Janus's own example secret; tokens made with the short key by hand (jwt-simple refuses to).
    let token = |alg: &str, secret: &[u8], c: Value| {
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        let signed = format!("{head}.{body}");
        let mac: Vec<u8> = match alg {
            "HS256" => hmac_sha256::HMAC::mac(signed.as_bytes(), secret).to_vec(),
            "HS384" => hmac_sha512::sha384::HMAC::mac(signed.as_bytes(), secret).to_vec(),
            _ => hmac_sha512::HMAC::mac(signed.as_bytes(), secret).to_vec(),
        };
        format!("{signed}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
    };
    use base64::Engine;
    let claims = json!({"sub": "alice", "iat": NOW, "exp": NOW + 60});
    for alg in ["HS256", "HS384", "HS512"] {
        let r = rules(json!({"name": "jwt", "settings": [{"alg": alg, "key": "secret"}]}));
        assert_eq!(r.verify(&token(alg, b"secret", claims.clone()), NOW).unwrap().claims.get("sub").unwrap(), "alice", "{alg}");
        assert_eq!(r.verify(&token(alg, b"secreT", claims.clone()), NOW).unwrap_err(), Denial::BadSignature, "{alg}");
        assert_eq!(r.verify(&token(alg, b"secret", json!({"sub": "a", "exp": NOW - 10})), NOW).unwrap_err(), Denial::Expired, "{alg}");
    }
    let legacy = rules(json!({"name": "jwt", "settings": {"secret": "secret"}}));
    assert!(legacy.verify(&token("HS256", b"secret", claims.clone()), NOW).is_ok());
}

/// The header of each token is read once per set of rules (`jwt::heads`): a token whose header
/// was seen before gets the answer rules that never saw it give, whatever came before it.
#[test]
fn a_header_read_before_gives_the_same_answers() {
    let secret: &[u8] = b"hs-secret-for-tests";
    let typed = || rules(json!({"name": "jwt", "settings": all_settings(), "require_typ": "at+jwt"}));
    let tokens = [
        sign("RS256", None, claims(json!({"sub": "a"}))),
        sign("RS256", None, claims(json!({"sub": "b"}))),
        sign("RS256-other", None, claims(json!({"sub": "c"}))),
        sign("ES256", Some("k"), claims(json!({}))),
        sign("ES256", Some("k"), claims(json!({"exp": NOW - 100}))),
        hs256_raw(secret, json!({"alg": "HS256"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256"}), json!({"exp": NOW - 5})),
        hs256_raw(b"other-secret-value", json!({"alg": "HS256"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256", "zip": "DEF"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256", "crit": ["exp"]}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "none"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256", "typ": "at+jwt"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256", "typ": "JWT"}), json!({"exp": NOW + 5})),
        hs256_raw(secret, json!({"alg": "HS256", "typ": "other"}), json!({"exp": NOW + 5})),
    ];
    for make in [all as fn() -> oauth_core::jwt::JwtRules, typed] {
        let seen = make();
        for round in 0..3 {
            for t in &tokens {
                let fresh = make().verify(t, NOW).map(|id| id.header_value("sub"));
                assert_eq!(seen.verify(t, NOW).map(|id| id.header_value("sub")), fresh, "round {round}: {t}");
            }
        }
    }
}
