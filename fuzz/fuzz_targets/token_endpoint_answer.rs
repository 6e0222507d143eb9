//! Token endpoint answers (RFC 6749 §5.1 / §5.2) and the shared token state.
#![no_main]
#[path = "common.rs"]
#[macro_use]
mod common;
use oauth_core::idp::client_credentials::TokenState;
use oauth_core::idp::lease::Leased;
use oauth_core::Config;

fn build() -> Config {
    let cfg = r#"{"policies": {"p": {"public": true, "upstream_client_credentials": {"client_id": "c", "client_secret": "s", "token_url": "http://idp.test/t", "cluster": "idp"}}}}"#;
    common::compile(cfg)
}

fuzz_with_config!(build(), run);

fn run(cfg: &Config, data: &[u8]) {
    if let Some(cc) = cfg.policies.first().and_then(|p| p.client_credentials.as_ref()) {
        for status in [200, 400, 0] {
            let _ = cc.parse_answer(status, data);
        }
    }
    let _ = TokenState::decode(data).usable(1_800_000_000);
}
