//! The configuration reference (docs/configuration.md) cannot drift from the configuration
//! structs: every field a struct accepts (read from serde's own list) must have a row in one of
//! its tables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use oauth_core::config::raw::*;
use serde::de::DeserializeOwned;

/// The fields `T` accepts, from serde's "unknown field" message.
fn fields<T: DeserializeOwned>() -> Vec<String> {
    let err = serde_json::from_str::<T>(r#"{"__probe__": 1}"#).err().expect("unknown field refused");
    let text = err.to_string();
    let list = text.split("expected one of ").nth(1).or_else(|| text.split("expected ").nth(1)).unwrap_or("");
    list.split(", ").filter_map(|f| f.trim().split('`').nth(1)).map(String::from).collect()
}

#[test]
fn every_configuration_field_has_a_reference_row() {
    let readme = std::fs::read_to_string(format!("{}/../docs/configuration.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with('|')).collect();
    let mut all = Vec::new();
    for (name, list) in [
        ("top level", fields::<RawConfig>()),
        ("oauth server", fields::<RawServer>()),
        ("jwt token_strategy", fields::<RawJwtStrategy>()),
        ("introspection token_strategy", fields::<RawIntrospectionStrategy>()),
        ("token_strategy binding", fields::<RawBinding>()),
        ("required_roles", fields::<RawRoles>()),
        ("upstream header", fields::<RawHeader>()),
        ("settings entry", fields::<RawKeySetting>()),
        ("jwks_uri", fields::<RawHttpUri>()),
        ("discovery", fields::<RawDiscovery>()),
        ("introspection settings", fields::<RawIntrospection>()),
        ("policy", fields::<RawPolicy>()),
        ("token source", fields::<RawTokenSource>()),
        ("claim_to_headers entry", fields::<RawClaimHeader>()),
        ("access rule", fields::<RawAccessRule>()),
        ("route", fields::<RawRoute>()),
        ("consumer", fields::<RawConsumer>()),
        ("etcd store", fields::<RawEtcd>()),
        ("client credentials", fields::<RawClientCredentials>()),
        ("token issuer", fields::<RawIssuer>()),
        ("key pair", fields::<RawKeyPair>()),
        ("issuer client", fields::<RawIssuerClient>()),
        ("oauth_endpoints", fields::<RawOAuthEndpoints>()),
        ("oauth_client_endpoints", fields::<RawClientEndpoints>()),
        ("proxy definition", fields::<RawProxy>()),
    ] {
        assert!(!list.is_empty(), "{name}: no fields read");
        for f in list {
            let cell = format!("`{f}`");
            if !rows.iter().any(|r| r.contains(&cell)) {
                all.push(format!("{name}.{f}"));
            }
        }
    }
    assert!(all.is_empty(), "fields without a row in docs/configuration.md: {all:?}");
}
