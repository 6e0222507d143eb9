//! JWKS documents as an IdP might send them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oauth_core::idp::remote::jwks_from_bytes(data, 1 << 20);
    let _ = oauth_core::idp::remote::jwks_uri_from_metadata(data, "https://idp.test");
});
