//! RFC 7662 answers, and the cache slots they become.
#![no_main]
#[path = "common.rs"]
#[macro_use]
mod common;
use oauth_core::idp::introspection::Slot;
use oauth_core::Config;

fn build() -> Config {
    let cfg = r#"{"oauth_servers": {"i": {"token_strategy": {"name": "introspection", "settings": {"introspection_url": "http://idp.test/i", "cluster": "idp"}}}}}"#;
    common::compile(cfg)
}

fuzz_with_config!(build(), run);

fn run(cfg: &Config, data: &[u8]) {
    if let Some(oauth_core::config::Strategy::Introspection(r)) = cfg.servers.first().map(|s| &s.strategy) {
        let answer = r.parse_answer(200, data);
        if let Some(slot) = r.slot_for(&answer, "h".into(), 1_800_000_000) {
            let _ = Slot::decode(&slot.encode()).map(|s| s.lookup("h", 1_800_000_000));
        }
        if let oauth_core::idp::introspection::Answer::Active(id) = answer {
            let _ = r.check(&id, 1_800_000_000);
            let _ = (id.header_value("sub"), id.scopes());
        }
    }
    let _ = Slot::decode(data);
}
