//! Header maps in the proxy-wasm wire format, then token extraction from every kind of source.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oauth_core::decision::extract::{extract, TokenSource};
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
});
