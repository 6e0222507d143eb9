//! Request bodies at the issuer's and a Janus front's token endpoints.
#![no_main]
#[path = "common.rs"]
#[macro_use]
mod common;
use oauth_core::endpoints;
use oauth_core::{Config, Request};

fn build() -> Config {
    let key = include_str!("../../test-harness/fixtures/keys/ed25519.key");
    let cfg = serde_json::json!({
        "token_issuer": {"secure": false, "defaultKeyPair": "k", "key_pairs": {"k": {"alg": "EdDSA", "private_key": key}},
            "clients": [{"client_id": "c", "client_secret": "s", "scopes": ["a"]}]},
        "oauth_servers": {"j": {"oauth_endpoints": {"token": {"listen_path": "/auth/token"}}, "secrets": {"c": "s"},
            "allowed_access_types": ["client_credentials"], "token_strategy": {"name": "jwt", "settings": {"secret": "0123456789abcdef"}}}}
    });
    common::compile(&cfg.to_string())
}

fuzz_with_config!(build(), run);

fn run(cfg: &Config, data: &[u8]) {
    let (ctype, body) = match data.split_first() {
        Some((0, rest)) => ("application/json", rest),
        Some((_, rest)) => ("application/x-www-form-urlencoded", rest),
        None => return,
    };
    for path in ["/.well-known/otoroshi/oauth/token", "/.well-known/otoroshi/oauth/token/introspect", "/auth/token"] {
        let req = Request {
            headers: vec![(":method".into(), b"POST".to_vec()), (":path".into(), path.as_bytes().to_vec()),
                ("content-type".into(), ctype.as_bytes().to_vec()), ("authorization".into(), body.to_vec())].into(),
            ..Default::default()
        };
        if let Some(ep) = endpoints::find(cfg, &req) {
            let _ = endpoints::on_headers(cfg, ep, &req, 1_800_000_000, 7, None);
            let _ = endpoints::on_body(cfg, ep, &req, body, 1_800_000_000, 7, None);
        }
    }
}
