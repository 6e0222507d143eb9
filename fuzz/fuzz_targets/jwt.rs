//! Any bytes as a token, against rules with HMAC, RSA, EC and Ed25519 keys.
#![no_main]
#[path = "common.rs"]
#[macro_use]
mod common;
use oauth_core::config::Strategy;
use oauth_core::Config;

fn build() -> Config {
    let jwks = include_str!("../../test-harness/fixtures/keys/jwks.json");
    let cfg = format!(r#"{{"oauth_servers": {{"s": {{"token_strategy": {{"name": "jwt", "settings": {jwks}}}}}}}}}"#);
    common::compile(&cfg)
}

fuzz_with_config!(build(), run);

fn run(cfg: &Config, data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Some(Strategy::Jwt(rules)) = cfg.servers.first().map(|s| &s.strategy) {
        let _ = rules.verify(token, 1_800_000_000);
    }
}
