//! Any bytes as a JWT payload: the filter's one-pass claims reading (jwt::payload, a flat
//! object without serde, anything else with it) gives jwt-simple's answer, refusal for refusal
//! and claim for claim. The same bytes as base64url text: the filter's decoder
//! (common::b64url) gives the base64 crate's answer.
#![no_main]
use jwt_simple::prelude::JWTClaims;
use oauth_core::jwt::payload;
use oauth_core::Identity;
use serde_json::{Map, Value};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let theirs = serde_json::from_slice::<JWTClaims<Map<String, Value>>>(data).ok().map(Identity::from_jwt);
    let ours = payload::read(data);
    assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(data));
    if let Some(id) = &ours {
        use oauth_core::common::claims::Time;
        for t in [Time::Iat, Time::Exp, Time::Nbf] {
            assert_eq!(id.claims.secs(t), id.claims.get(t.name()).and_then(Value::as_u64), "{}", t.name());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        use base64::Engine;
        let want = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok();
        assert_eq!(oauth_core::common::b64url::decode(text), want, "{text:?}");
    }
});
