//! Header maps in the proxy-wasm wire format, then token extraction from every kind of source;
//! and a token located as bytes (`header_token`, the quick path) that could have been accepted
//! is the token read as text from the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oauth_core::decision::extract::{extract, header_token, TokenSource};
use oauth_core::decision::request::{Headers, Request};

fuzz_target!(|data: &[u8]| {
    let headers = Headers::from_wire(data.to_vec()).unwrap_or_else(|| {
        vec![("authorization".into(), data.to_vec()), ("cookie".into(), data.to_vec()), (":path".into(), data.to_vec())].into()
    });
    let req = Request { headers, ..Default::default() };
    let sources = [TokenSource::bearer(), TokenSource::Query("t".into()), TokenSource::Cookie("t".into()),
        TokenSource::Header { name: "x-token".into(), prefix: None }];
    let _ = extract(&sources, &req);
    let _ = (req.path(), req.host(), req.method());
    for source in [TokenSource::bearer(), TokenSource::Header { name: "authorization".into(), prefix: None }] {
        let TokenSource::Header { prefix, .. } = &source else { continue };
        let one = Request { headers: vec![("authorization".into(), data.to_vec())].into(), ..Default::default() };
        let Some(fast) = header_token(data, prefix.as_deref()) else { continue };
        // What a verdict's token can be: UTF-8, no comma, no control character, no whitespace
        // at its ends.
        let Ok(text) = std::str::from_utf8(fast) else { continue };
        if text.contains(',') || text.bytes().any(|b| b.is_ascii_control()) || text.trim() != text {
            continue;
        }
        let slow = extract(std::slice::from_ref(&source), &one).map(|f| f.map(|f| f.token.into_owned()));
        assert_eq!(slow, Ok(Some(text.to_string())));
    }
});
