//! Each seed system's own shapes are rewritten into the native configuration before it is
//! read (core/src/config/seeds/): a configuration written the seed's way compiles to exactly
//! what its native form compiles to (the notices are compared on their own: the seed form may
//! add one about a field it accepts but does not use).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use oauth_core::Config;
use serde_json::{json, Value};

/// The compiled configuration (as Debug prints it, without its notices) and its notices.
fn compiled(v: &Value) -> (String, Vec<String>) {
    match Config::from_json(v.to_string().as_bytes()) {
        Ok(mut c) => {
            let notices = std::mem::take(&mut c.notices);
            (format!("{c:?}"), notices)
        }
        Err(e) => panic!("{v}: {e}"),
    }
}

fn jwt_server() -> Value {
    json!({"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "a-secret-of-enough-length"}]}})
}

/// Same compiled configuration; the seed form's notices are the native form's and `extra`.
fn same_noting(seed: Value, native: Value, extra: &[&str]) {
    let ((s, mut sn), (n, nn)) = (compiled(&seed), compiled(&native));
    assert_eq!(s, n, "{seed}");
    for e in extra {
        let at = sn.iter().position(|x| x.contains(e)).unwrap_or_else(|| panic!("no notice `{e}` in {sn:?}"));
        sn.remove(at);
    }
    assert_eq!(sn, nn);
}

fn same(seed: Value, native: Value) {
    same_noting(seed, native, &[]);
}

#[test]
fn krakend_shapes_are_native_fields() {
    let cc = json!({"client_id": "c", "client_secret": "s", "token_url": "http://idp/token"});
    for ns in ["github.com/devopsfaith/krakend-oauth2-clientcredentials", "auth/client-credentials"] {
        same(json!({"policies": {"p": {ns: cc}}}), json!({"policies": {"p": {"upstream_client_credentials": cc}}}));
    }
    let mut off = cc.clone();
    off["is_disabled"] = json!(true);
    same(json!({"policies": {"p": {"auth/client-credentials": off, "public": true}}}), json!({"policies": {"p": {"public": true}}}));
    let martian = json!({"fifo.Group": {"modifiers": [
        {"header.Modifier": {"scope": ["request"], "name": "X-Tenant", "value": "a"}},
        {"header.Modifier": {"scope": ["response"], "name": "X-Out", "value": "b"}}]}});
    let seed = json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "modifier/martian": martian}}});
    let native = json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "upstream_headers": [{"name": "x-tenant", "value": "a"}]}}});
    same_noting(seed, native, &["modifiers[1].header.Modifier: response-scoped modifiers are not applied"]);
    same(
        json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "roles": ["admin"], "roles_key": "realm_access.roles", "roles_key_is_nested": true, "scopes_matcher": "any", "required_scopes": ["a", "b"]}}}),
        json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "required_roles": {"any_of": ["admin"], "claim": "realm_access.roles", "claim_is_path": true}, "required_scopes_match": "any", "required_scopes": ["a", "b"]}}}),
    );
}

#[test]
fn jwt_authn_and_otoroshi_shapes_are_native_fields() {
    for (flags, pass) in [(json!({"allow_missing": true}), "missing"), (json!({"allow_missing_or_failed": true}), "missing_or_failed"),
        (json!({"allow_missing": true, "allow_missing_or_failed": true}), "missing_or_failed")] {
        let mut p = json!({"oauth_server": "s"});
        for (k, v) in flags.as_object().unwrap() {
            p[k] = v.clone();
        }
        same(json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": p}}),
            json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "pass_anonymous": pass}}}));
    }
    same(json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "error_format": "otoroshi"}}}),
        json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "error_body_field": "Otoroshi-Error"}}}));
    same(json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s", "error_format": "oauth"}}}),
        json!({"oauth_servers": {"s": jwt_server()}, "policies": {"p": {"oauth_server": "s"}}}));
}

#[test]
fn kong_plugin_entries_are_a_policy_a_server_and_a_route() {
    let config = json!({"introspection_url": "http://idp/introspect", "cluster": "idp", "hide_credentials": true, "anonymous": ""});
    same_noting(
        json!({"policies": {"k": {"name": "oauth2-introspection", "config": config, "route": "r1", "tags": ["x"]}}, "routes": [{"path_prefix": "/", "policy": "k"}]}),
        json!({"oauth_servers": {"k": {"token_strategy": {"name": "introspection", "settings": {"introspection_url": "http://idp/introspect", "cluster": "idp"}}}},
            "policies": {"k": {"oauth_server": "k", "hide_credentials": true}},
            "routes": [{"route_name": "r1", "policy": "k"}, {"path_prefix": "/", "policy": "k"}]}),
        &["policies.k: tags of the Kong plugin entry are accepted"],
    );
}
