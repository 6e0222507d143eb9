//! Any bytes as a JWT payload: the filter's one-pass claims reading (jwt::payload) gives
//! jwt-simple's answer, refusal for refusal and claim for claim.
#![no_main]
use jwt_simple::prelude::JWTClaims;
use oauth_core::jwt::payload;
use oauth_core::Identity;
use serde_json::{Map, Value};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let theirs = serde_json::from_slice::<JWTClaims<Map<String, Value>>>(data).ok().map(Identity::from_jwt);
    let ours = payload::read(data);
    assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(data));
});
