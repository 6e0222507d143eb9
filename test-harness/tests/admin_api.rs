//! Janus's admin API (`/oauth/servers`): authenticated by a policy, stored in shared data,
//! picked up by every worker, validated like the static configuration, never shadowing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
use test_harness::{Host, Request, Vm};

const ADMIN_KEY: &[u8] = b"admin-signing-key-0123456789";

fn config() -> String {
    json!({
        "oauth_servers": {"admins": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "admin-signing-key-0123456789"}]}}},
        "policies": {"admin": {"oauth_server": "admins", "required_scopes": ["admin"]}, "api": {"oauth_server": "local"}},
        "admin_api": {"policy": "admin"},
        "default_policy": "api"
    })
    .to_string()
}

/// Janus's own example server (examples/front-proxy-auth/auth/auth.json).
fn auth_json(key: &str) -> Value {
    json!({"name": "local",
        "oauth_endpoints": {"token": {"preserve_host": false, "listen_path": "/auth/token",
            "upstreams": {"balancing": "roundrobin", "targets": [{"target": "http://auth-service:8080/token"}]},
            "strip_path": true, "append_path": false, "enable_load_balancing": false, "methods": ["GET", "POST"]}},
        "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": key}]}})
}

fn hs256(secret: &[u8], scope: &str) -> String {
    hs256_raw(secret, json!({"alg": "HS256", "typ": "JWT"}), json!({"sub": "u", "scope": scope, "exp": NOW + 3600}))
}

fn admin(method: &str, path: &str) -> Request {
    Request::new(method, path).bearer(&hs256(ADMIN_KEY, "admin"))
}

fn workers() -> (Host, Vm, Vm) {
    let host = Host::at(NOW);
    let a = host.vm(&config()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let b = host.vm(&config()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    (host, a, b)
}

#[test]
fn admin_requests_need_a_token_the_admin_policy_accepts() {
    let (_h, mut a, _) = workers();
    assert_eq!(a.send(Request::get("/oauth/servers")).status(), 401);
    assert_eq!(a.send(Request::get("/oauth/servers").bearer(&hs256(ADMIN_KEY, "read"))).status(), 403);
    assert_eq!(a.send(Request::get("/oauth/servers").bearer(&hs256(b"another-key-0123456789", "admin"))).status(), 401);
    let out = a.send(admin("GET", "/oauth/servers"));
    assert_eq!((out.status(), out.reply_json()), (200, json!([])));
    assert_eq!(a.send(admin("PATCH", "/oauth/servers/local")).status(), 405);
}

#[test]
fn a_server_added_on_one_worker_is_used_by_both_then_updated_and_deleted() {
    let (_h, mut a, mut b) = workers();
    let old = hs256(b"secret", "read");
    assert_eq!(b.send(Request::get("/orders").bearer(&old)).status(), 401, "no server `local` yet");
    let out = a.send(admin("POST", "/oauth/servers").body(auth_json("secret").to_string()));
    assert_eq!(out.status(), 201, "{out:?}");
    assert!(a.send(Request::get("/orders").bearer(&old)).is_forwarded(), "this worker at once");
    b.tick();
    assert!(b.send(Request::get("/orders").bearer(&old)).is_forwarded(), "the other on its tick");
    let listed = b.send(admin("GET", "/oauth/servers")).reply_json();
    assert_eq!(listed, json!([auth_json("secret")]));
    assert_eq!(b.send(admin("GET", "/oauth/servers/local")).reply_json(), auth_json("secret"));
    // Janus's token endpoint of the added server is served too.
    let out = a.send(Request::get("/auth/token?grant_type=password"));
    assert!(out.is_forwarded(), "{out:?}");

    // New keys: the old token is refused on both workers, a new one accepted.
    let update = json!({"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "rotated-key-0123456789"}]}});
    assert_eq!(b.send(admin("PUT", "/oauth/servers/local").body(update.to_string())).status(), 200);
    a.tick();
    let new = hs256(b"rotated-key-0123456789", "read");
    for vm in [&mut a, &mut b] {
        assert_eq!(vm.send(Request::get("/orders").bearer(&old)).status(), 401);
        assert!(vm.send(Request::get("/orders").bearer(&new)).is_forwarded());
    }
    assert_eq!(a.send(admin("DELETE", "/oauth/servers/local")).status(), 204);
    b.tick();
    for vm in [&mut a, &mut b] {
        let out = vm.send(Request::get("/orders").bearer(&new));
        assert_eq!(out.status(), 401, "deleted");
        assert!(out.reply_header("www-authenticate").unwrap().contains("invalid_token"));
    }
    assert_eq!(a.send(admin("GET", "/oauth/servers/local")).status(), 404);
    assert_eq!(a.send(admin("DELETE", "/oauth/servers/local")).status(), 404);
}

#[test]
fn a_bad_server_is_400_naming_the_field_and_changes_nothing() {
    let (_h, mut a, _) = workers();
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(auth_json("secret").to_string())).status(), 201);
    let mut bad = auth_json("secret");
    bad["name"] = json!("other");
    bad["token_strategy"]["settings"][0]["alg"] = json!("HS999");
    let out = a.send(admin("POST", "/oauth/servers").body(bad.to_string()));
    assert_eq!(out.status(), 400);
    let error = out.reply_json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("oauth_servers.other.token_strategy.settings[0].alg"), "{error}");
    let bad_key = json!({"token_strategy": {"settings": [{"alg": "RS256", "key": "not-a-pem-and-secret"}]}});
    let out = a.send(admin("PUT", "/oauth/servers/local").body(bad_key.to_string()));
    assert_eq!(out.status(), 400);
    assert!(!out.reply_json().to_string().contains("not-a-pem-and-secret"), "never the value");
    assert_eq!(a.send(admin("GET", "/oauth/servers")).reply_json(), json!([auth_json("secret")]), "nothing changed");
    assert!(a.send(Request::get("/orders").bearer(&hs256(b"secret", "r"))).is_forwarded());
    for body in ["not json", "[]", r#"{"token_strategy": {"name": "jwt", "settings": {"secret": "s"}}}"#] {
        assert_eq!(a.send(admin("POST", "/oauth/servers").body(body)).status(), 400, "{body}");
    }
    assert!(!a.log_text().contains("secret\""), "no key in the log");
}

#[test]
fn static_servers_are_never_shadowed_nor_changed() {
    let (_h, mut a, _) = workers();
    let mut clash = auth_json("secret");
    clash["name"] = json!("admins");
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(clash.to_string())).status(), 409);
    assert_eq!(a.send(admin("PUT", "/oauth/servers/admins").body("{}")).status(), 409);
    assert_eq!(a.send(admin("DELETE", "/oauth/servers/admins")).status(), 409);
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(auth_json("secret").to_string())).status(), 201);
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(auth_json("secret").to_string())).status(), 409, "Janus: name already registered");
    assert_eq!(a.send(admin("GET", "/oauth/servers")).status(), 200, "the admin token still works");
}

#[test]
fn without_admin_api_the_paths_are_ordinary_requests() {
    let host = Host::at(NOW);
    let cfg = json!({"oauth_servers": {"admins": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "admin-signing-key-0123456789"}]}}},
        "policies": {"api": {"oauth_server": "admins"}}, "default_policy": "api"});
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let out = vm.send(admin("GET", "/oauth/servers"));
    assert!(out.is_forwarded(), "{out:?}");
    let bad = json!({"oauth_servers": {}, "policies": {"api": {"oauth_server": "nowhere"}}});
    assert!(host.vm(&bad.to_string()).is_err(), "an unknown server is an error without the admin API");
}

#[test]
fn a_new_plugin_configuration_keeps_the_stored_servers_and_its_static_ones_win() {
    let (host, mut a, _) = workers();
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(auth_json("secret").to_string())).status(), 201);
    // A new configuration in the same Envoy (its shared data stays): the server is there at once.
    let mut b = host.vm(&config()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert!(b.send(Request::get("/orders").bearer(&hs256(b"secret", "r"))).is_forwarded());
    // One whose plugin configuration now has its own `local`: the static one is used.
    let mut cfg: Value = serde_json::from_str(&config()).unwrap();
    cfg["oauth_servers"]["local"] = json!({"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "static-local-key-0123"}]}});
    let mut c = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert_eq!(c.send(Request::get("/orders").bearer(&hs256(b"secret", "r"))).status(), 401);
    assert!(c.send(Request::get("/orders").bearer(&hs256(b"static-local-key-0123", "r"))).is_forwarded());
    assert_eq!(c.send(admin("DELETE", "/oauth/servers/local")).status(), 409, "static here");
}

#[test]
fn requests_waiting_for_an_added_servers_keys_get_503_when_it_changes() {
    let (_h, mut a, _) = workers();
    let remote = json!({"name": "local", "token_strategy": {"name": "jwt", "jwks_uri": {"uri": "https://idp.test/jwks", "cluster": "idp"}}});
    assert_eq!(a.send(admin("POST", "/oauth/servers").body(remote.to_string())).status(), 201);
    let out = a.send(Request::get("/orders").bearer(&sign("RS256", Some("rsa"), claims(json!({})))));
    let test_harness::Outcome::Paused { context } = out else { panic!("waits for the first keys: {out:?}") };
    assert_eq!(a.send(admin("PUT", "/oauth/servers/local").body(r#"{"token_strategy": {"max_wait": "20s"}}"#)).status(), 200);
    assert_eq!(a.poll(context).status(), 503);
}

#[test]
fn the_admin_credential_never_goes_on_from_any_token_source() {
    let cfg = json!({
        "oauth_servers": {"admins": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "admin-signing-key-0123456789"}]}}},
        "policies": {"admin": {"oauth_server": "admins", "required_scopes": ["admin"],
            "token_sources": [{"query": "admin_token"}, {"header": "x-admin-token"}, {"cookie": "adm"}]},
            "api": {"oauth_server": "admins"}},
        "admin_api": {"policy": "admin"},
        "default_policy": "api"
    })
    .to_string();
    let host = Host::at(NOW);
    let mut vm = host.vm(&cfg).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let token = hs256(ADMIN_KEY, "admin");
    for req in [
        Request::new("POST", &format!("/oauth/servers?admin_token={token}")),
        Request::new("POST", "/oauth/servers").header("x-admin-token", &token),
        Request::new("POST", "/oauth/servers").header("cookie", format!("adm={token}")),
    ] {
        let out = vm.send(req.header("x_credential_sub", "admin").body(auth_json("secret").to_string()));
        assert_eq!(out.status(), 201, "{out:?}");
        let sent = vm.headers_sent_before_body().expect("the headers went on to read the body");
        assert!(sent.iter().all(|(k, v)| !v.contains(&token) && k != "x_credential_sub"), "{sent:?}");
        vm.send(Request::new("DELETE", "/oauth/servers/local").header("x-admin-token", &token));
    }
}

#[test]
fn dot_segment_names_are_refused() {
    let (_h, mut a, _) = workers();
    for name in [".", ".."] {
        let mut server = auth_json("secret");
        server["name"] = json!(name);
        assert_eq!(a.send(admin("POST", "/oauth/servers").body(server.to_string())).status(), 400, "{name}");
    }
}
