//! Plugin configurations: parse and compile, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = oauth_core::Config::from_json(data) {
        let _ = e.to_string();
    }
});
