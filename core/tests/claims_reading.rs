//! The one-pass claims reading (jwt::payload) answers as jwt-simple's `JWTClaims` does, on the
//! payloads where the two ways of reading JSON could part: types of the registered claims,
//! null, repeats, numbers at the edges. The `claims` fuzz target tries the rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_simple::prelude::JWTClaims;
use oauth_core::jwt::payload;
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
    payload::read(p).map(Identity::from_jwt)
}

#[test]
fn the_claims_are_read_as_jwt_simple_reads_them() {
    for p in PAYLOADS {
        assert_eq!(ours(p.as_bytes()), theirs(p.as_bytes()), "{p}");
    }
}

#[test]
fn time_claims_keep_jwt_simple_s_whole_seconds() {
    let c = payload::read(br#"{"exp":1800000000.9,"iat":1799999999}"#).unwrap();
    assert_eq!(c.expires_at.unwrap().as_secs(), 1_800_000_000);
    assert_eq!(c.issued_at.unwrap().as_secs(), 1_799_999_999);
}
