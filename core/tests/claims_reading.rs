//! The one-pass claims reading (jwt::payload) answers as jwt-simple's `JWTClaims` does, on the
//! payloads where the two ways of reading JSON could part: types of the registered claims,
//! null, repeats, numbers at the edges. The `claims` fuzz target tries the rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_simple::prelude::JWTClaims;
use oauth_core::jwt::payload;
use oauth_core::common::claims::Time;
use oauth_core::Identity;
use serde_json::{Map, Value};

const PAYLOADS: &[&str] = &[
    r#"{}"#,
    r#"{"sub":"alice","exp":1800000600,"iat":1800000000,"scope":"read write"}"#,
    r#"{"exp":1.8e9}"#,
    r#"{"exp":1800000000.9}"#,
    r#"{"exp":-1}"#,
    r#"{"exp":-1.5}"#,
    r#"{"exp":-0}"#,
    r#"{"exp":-0.0}"#,
    r#"{"exp":0}"#,
    r#"{"exp":1e2}"#,
    r#"{"exp":"1800000000"}"#,
    r#"{"exp":null}"#,
    r#"{"exp":true}"#,
    r#"{"exp":[1]}"#,
    r#"{"exp":4294967296}"#,
    r#"{"exp":18446744073709551615}"#,
    r#"{"exp":18446744073709551616}"#,
    r#"{"exp":1e400}"#,
    r#"{"iat":1,"nbf":2,"exp":3}"#,
    r#"{"iss":null}"#,
    r#"{"iss":5}"#,
    r#"{"sub":{"a":1}}"#,
    r#"{"jti":"j","nonce":"n"}"#,
    r#"{"nonce":[]}"#,
    r#"{"aud":"x"}"#,
    r#"{"aud":["b","a","a"]}"#,
    r#"{"aud":[]}"#,
    r#"{"aud":[1]}"#,
    r#"{"aud":["a",null]}"#,
    r#"{"aud":null}"#,
    r#"{"aud":{}}"#,
    r#"{"exp":1,"exp":2}"#,
    r#"{"sub":"a","sub":"b"}"#,
    r#"{"aud":"a","aud":"b"}"#,
    r#"{"iss":null,"iss":"x"}"#,
    r#"{"x":1,"x":2}"#,
    r#"{"o":{"k":1,"k":2}}"#,
    r#"{"realm_access":{"roles":["a","b"]},"email":"a@b"}"#,
    r#"{"sub":"\u0061\n"}"#,
    r#"{"\u0065xp":5,"exp":6}"#,
    r#"{"\u0065xp":"5"}"#,
    r#"{"s\u0075b":"x","sub":"y"}"#,
    r#"{"a\u0062":"x","ab":"y"}"#,
    r#"{"ab":"y","a\u0062":"x"}"#,
    r#"{"x":"plain","x":"esc\"aped","y":"esc\"aped","y":"plain"}"#,
    r#"{"x":1,"x":"s","x":null}"#,
    r#"{"x":"é ü \ud83d\ude00","y":"\ud800"}"#,
    r#"{"x":1e400}"#,
    r#"{"x":[1e400]}"#,
    r#"{"x":{"y":[1,2,{"z":"w"}]},"x":{"q":null}}"#,
    r#"{"x":123456789012345678901234567890}"#,
    r#"{"x":-9223372036854775809,"y":-1,"z":1.5}"#,
    r#"{"x":true,"y":false,"z":null}"#,
    r#"{"aud":"a\"b","iss":"i\/x","jti":"\u0000"}"#,
    r#"[]"#,
    r#"[1800000000]"#,
    r#""text""#,
    r#"5"#,
    r#"null"#,
    r#"{} x"#,
    r#"  {"a":1}  "#,
    r#"{"a":1,}"#,
    r#""#,
];

fn theirs(p: &[u8]) -> Option<Identity> {
    serde_json::from_slice::<JWTClaims<Map<String, Value>>>(p).ok().map(Identity::from_jwt)
}

fn ours(p: &[u8]) -> Option<Identity> {
    payload::read(p)
}

#[test]
fn the_claims_are_read_as_jwt_simple_reads_them() {
    for p in PAYLOADS {
        let (ours, theirs) = (ours(p.as_bytes()), theirs(p.as_bytes()));
        assert_eq!(ours, theirs, "{p}");
        // The time claims kept aside answer as the members do.
        if let Some(id) = ours {
            let times = [Time::Iat, Time::Exp, Time::Nbf].map(|t| id.claims.get(t.name()).and_then(Value::as_u64));
            assert_eq!(id.claims.times(), times, "{p}");
            assert_eq!([Time::Iat, Time::Exp, Time::Nbf].map(|t| id.claims.secs(t)), times, "{p}");
        }
    }
    // serde_json's depth limit: the payload's object is one level.
    for depth in [125, 126, 127, 128, 129] {
        let p = format!("{{\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(ours(p.as_bytes()), theirs(p.as_bytes()), "depth {depth}");
    }
    // Invalid UTF-8, in a string and outside one.
    for p in [&b"{\"x\":\"\xff\"}"[..], b"{\"x\":1}\xff", b"{\"\xc3\":1}"] {
        assert_eq!(ours(p), theirs(p), "{p:?}");
    }
}

#[test]
fn a_string_claim_is_read_without_a_copy_and_answers_the_same() {
    let c = payload::read(br#"{"sub":"alice","x":"a\"b","x2":"plain","n":5}"#).unwrap();
    assert_eq!(c.claims.text("sub"), Some("alice"));
    assert_eq!(c.claims.text("x"), Some("a\"b"));
    assert_eq!(c.claims.get("x2"), Some(&Value::from("plain")));
    assert_eq!(c.claims.text("n"), None);
    assert_eq!(c.header_value("n").as_deref(), Some("5"));
}

#[test]
fn time_claims_keep_jwt_simple_s_whole_seconds() {
    let c = payload::read(br#"{"exp":1800000000.9,"iat":1799999999}"#).unwrap();
    assert_eq!(*c.claims.get("exp").unwrap(), 1_800_000_000u64);
    assert_eq!(*c.claims.get("iat").unwrap(), 1_799_999_999u64);
}

/// HMAC tokens are checked in one pass by the filter (`jwt::hmac`), not by jwt-simple's
/// `verify_token`: both must let the same tokens through, with the same claims.
#[test]
fn hmac_tokens_are_judged_as_jwt_simple_judges_them() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jwt_simple::prelude::{Duration, HS256Key, MACLike, UnixTimeStamp, VerificationOptions};
    use oauth_core::config::Strategy;
    use oauth_core::Config;

    const SECRET: &str = "a-secret-of-thirty-two-bytes-xyz";
    const NOW: u64 = 1_800_000_000;
    let cfg = format!(r#"{{"oauth_servers": {{"s": {{"token_strategy": {{"name": "jwt", "leeway": 5, "settings": [{{"alg": "HS256", "key": "{SECRET}"}}]}}}}}}}}"#);
    let cfg = Config::from_json(cfg.as_bytes()).unwrap();
    let Strategy::Jwt(rules) = &cfg.servers[0].strategy else { panic!("a JWT server") };
    let sign = |header: &str, payload: &str, key: &str| {
        let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac_sha256::HMAC::mac(signed.as_bytes(), key.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
    };
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    let cases = [
        sign(h, r#"{"sub":"alice","exp":1800000600,"iat":1800000000}"#, SECRET),
        sign(h, r#"{"sub":"alice","exp":1800000600}"#, "another-secret-of-32-bytes-abcde"),
        sign(h, r#"{"exp":1799999996}"#, SECRET),
        sign(h, r#"{"exp":1799999994}"#, SECRET),
        sign(h, r#"{"exp":1800000600,"nbf":1800000004}"#, SECRET),
        sign(h, r#"{"exp":1800000600,"nbf":1800000006}"#, SECRET),
        sign(h, r#"{"exp":1800000600,"iat":1800000004}"#, SECRET),
        sign(h, r#"{"exp":1800000600,"iat":1800000006}"#, SECRET),
        sign(h, r#"{"exp":1800000600.7,"aud":["b","a"],"iss":"i","scope":"read"}"#, SECRET),
        sign(h, r#"{"exp":1800000600,"exp":1800000700}"#, SECRET),
        sign(h, r#"{"exp":-1}"#, SECRET),
        sign(h, r#"{"exp":"soon"}"#, SECRET),
        sign(h, r#"not json"#, SECRET),
        sign(r#"{"alg":"HS256","typ":"at+jwt"}"#, r#"{"exp":1800000600}"#, SECRET),
        sign(r#"{"alg":"HS256","typ":"JOSE"}"#, r#"{"exp":1800000600}"#, SECRET),
        sign(r#"{"alg":"HS256","crit":["x"]}"#, r#"{"exp":1800000600}"#, SECRET),
        sign(r#"{"alg":"HS384"}"#, r#"{"exp":1800000600}"#, SECRET),
        format!("{}x", sign(h, r#"{"exp":1800000600}"#, SECRET)),
        format!("{}.more", sign(h, r#"{"exp":1800000600}"#, SECRET)),
    ];
    let key = HS256Key::from_bytes(SECRET.as_bytes());
    for token in &cases {
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(5)),
            artificial_time: Some(UnixTimeStamp::from_secs(NOW)),
            ..Default::default()
        };
        let theirs = key.verify_token::<Map<String, Value>>(token, Some(options)).ok().map(Identity::from_jwt);
        let ours = rules.verify(token, NOW).ok();
        assert_eq!(ours, theirs, "{token}");
    }
}
