//! Any bytes as a token, against rules with HMAC, RSA, EC and Ed25519 keys.
#![no_main]
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use oauth_core::config::Strategy;
use oauth_core::Config;

fn build() -> Config {
    let jwks = include_str!("../../test-harness/fixtures/keys/jwks.json");
    let cfg = format!(r#"{{"oauth_servers": {{"s": {{"token_strategy": {{"name": "jwt", "settings": {jwks}}}}}}}}}"#);
    common::compile(&cfg)
}

thread_local! {
    static CONFIG: Config = build();
}

fuzz_target!(|data: &[u8]| {
    CONFIG.with(|cfg| run(cfg, data));
});

fn run(cfg: &Config, data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Some(Strategy::Jwt(rules)) = cfg.servers.first().map(|s| &s.strategy) {
        let _ = rules.verify(token, 1_800_000_000);
    }
}
