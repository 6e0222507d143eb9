//! Janus OAuth servers fronted by the filter: secrets added for clients presenting their id
//! alone, allowed grant and response types, the login redirect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use test_harness::{Host, Request, Vm};

fn start() -> Vm {
    let cfg = json!({
        "oauth_servers": {"corp": {
            "name": "corp",
            "oauth_endpoints": {
                "authorize": {"listen_path": "/auth/authorize", "upstreams": {"balancing": "roundrobin", "targets": [{"target": "http://idp:8080/authorize"}]}, "strip_path": true},
                "token": {"listen_path": "/auth/token/*", "strip_path": true},
                "introspect": {"listen_path": "/auth/introspect"},
                "revoke": {"listen_path": "/auth/revoke", "hosts": ["auth.test"], "insecure_skip_verify": false, "preserve_host": true,
                           "forwarding_timeouts": {"dial_timeout": "30s", "response_header_timeout": "31s"}, "methods": ["POST"]}
            },
            "oauth_client_endpoints": {"create": {"listen_path": "/auth/clients"}},
            "allowed_access_types": ["client_credentials", "authorization_code"],
            "allowed_authorize_types": ["code"],
            "auth_login_redirect": "https://login.test/login",
            "secrets": {"app": "app-secret", "web": "web-secret"},
            "token_strategy": {"name": "jwt", "settings": {"secret": "janus-signing-secret"}}
        }},
        "policies": {"api": {"oauth_server": "corp"}}, "default_policy": "api"
    });
    Host::new().vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()))
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

#[test]
fn a_client_with_its_id_alone_gets_its_secret_added() {
    let mut vm = start();
    let form = "application/x-www-form-urlencoded";
    let out = vm.send(Request::new("POST", "/auth/token").header("authorization", basic("app", "")).header("content-type", form).body("grant_type=client_credentials"));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("authorization"), Some(basic("app", "app-secret")));
    // The seed's GET form, with the grant type in the query.
    let out = vm.send(Request::get("/auth/token?grant_type=client_credentials").header("authorization", basic("web", "")));
    assert_eq!(out.upstream("authorization"), Some(basic("web", "web-secret")));
    // In the body.
    let out = vm.send(Request::new("POST", "/auth/token").header("content-type", form).header("content-length", "40").body("grant_type=client_credentials&client_id=app"));
    let body = out.upstream_body().unwrap();
    assert_eq!(body, "grant_type=client_credentials&client_id=app&client_secret=app-secret");
    // Its headers went on before the body was read: the length it had is gone, the body goes chunked.
    assert_eq!(out.upstream("content-length"), None);
    // A client presenting its secret is left alone.
    let out = vm.send(Request::new("POST", "/auth/token").header("authorization", basic("app", "own")).header("content-type", form).body("grant_type=client_credentials"));
    assert_eq!(out.upstream("authorization"), Some(basic("app", "own")));
}

#[test]
fn an_unknown_client_id_is_invalid_client_not_a_crash() {
    let mut vm = start();
    let out = vm.send(Request::new("POST", "/auth/token").header("authorization", basic("ghost", "")).header("content-type", "application/x-www-form-urlencoded").body("grant_type=client_credentials"));
    assert_eq!(out.status(), 401);
    assert_eq!(out.reply_json()["error"], "invalid_client");
    let out = vm.send(Request::new("POST", "/auth/token").header("content-type", "application/json").body(r#"{"grant_type":"client_credentials","client_id":"ghost"}"#));
    assert_eq!(out.status(), 401);
}

#[test]
fn only_allowed_grant_and_response_types() {
    let mut vm = start();
    let out = vm.send(Request::new("POST", "/auth/token").header("authorization", basic("app", "app-secret")).header("content-type", "application/x-www-form-urlencoded").body("grant_type=password&username=u&password=p"));
    assert_eq!(out.status(), 400);
    assert_eq!(out.reply_json()["error"], "unsupported_grant_type");
    let out = vm.send(Request::get("/auth/authorize?response_type=token&client_id=app").header("cookie", "session=s1"));
    assert_eq!(out.status(), 400);
    assert_eq!(out.reply_json()["error"], "unsupported_response_type");
}

#[test]
fn authorize_without_a_session_goes_to_the_login_page() {
    let mut vm = start();
    let out = vm.send(Request::get("/auth/authorize?response_type=code&client_id=app&state=xyz"));
    assert_eq!(out.status(), 302);
    assert_eq!(out.reply_header("location").as_deref(), Some("https://login.test/login?response_type=code&client_id=app&state=xyz"));
    let out = vm.send(Request::get("/auth/authorize?response_type=code&client_id=app").header("cookie", "a=1; session=s1"));
    assert!(out.is_forwarded());
}

#[test]
fn other_endpoints_pass_and_apis_use_the_token_strategy() {
    let mut vm = start();
    assert!(vm.send(Request::new("POST", "/auth/introspect").body("token=x")).is_forwarded());
    assert!(vm.send(Request::new("POST", "/auth/clients").body("{}")).is_forwarded());
    assert_eq!(vm.send(Request::get("/api/orders")).status(), 401);
}

#[test]
fn spoofed_identity_headers_never_reach_the_oauth_server() {
    let mut vm = start();
    let out = vm.send(Request::new("POST", "/auth/introspect").header("x-credential-sub", "admin").header("x-consumer-id", "c").body("token=x"));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!((out.upstream("x-credential-sub"), out.upstream("x-consumer-id")), (None, None));
    let out = vm.send(Request::get("/auth/token?grant_type=client_credentials").header("authorization", basic("web", "")).header("x-credential-scope", "all"));
    assert_eq!(out.upstream("x-credential-scope"), None);
}

#[test]
fn janus_proxy_fields_load_and_are_named_once_in_the_log() {
    let vm = start();
    let lines: Vec<String> = vm.log_text().lines().filter(|l| l.contains("job of Envoy's route")).map(String::from).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("forwarding_timeouts, hosts, insecure_skip_verify, methods, preserve_host, strip_path, upstreams"), "{}", lines[0]);
}

#[test]
fn a_client_id_in_the_query_gets_its_secret_as_janus_does() {
    let mut vm = start();
    let out = vm.send(Request::new("POST", "/auth/token?client_id=app").header("content-type", "application/x-www-form-urlencoded").body("grant_type=client_credentials"));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("authorization"), Some(basic("app", "app-secret")));
    assert_eq!(out.upstream_body().unwrap(), "grant_type=client_credentials", "the body is left alone");
    let out = vm.send(Request::get("/auth/token?grant_type=client_credentials&client_id=ghost"));
    assert_eq!(out.status(), 401);
}

/// A server as `GET /oauth/servers` of a real Janus returns it: every endpoint written (unused
/// ones with an empty listen path), Go's nulls and empty strings, `cors_meta`, `rate_limit`
/// and `access_rules` on the server; and Janus's introspection strategy settings.
fn janus_export(settings: serde_json::Value) -> serde_json::Value {
    let unused = json!({"preserve_host": false, "listen_path": "", "upstreams": {"balancing": "", "targets": []},
        "insecure_skip_verify": false, "strip_path": false, "append_path": false, "enable_load_balancing": false,
        "methods": ["GET"], "hosts": [], "forwarding_timeouts": {"dial_timeout": "0s", "response_header_timeout": "0s"}});
    json!({
        "name": "remote", "oauth_endpoints": {
            "authorize": unused, "token": unused, "revoke": unused,
            "introspect": {"preserve_host": false, "listen_path": "", "insecure_skip_verify": false, "strip_path": false,
                "append_path": false, "enable_load_balancing": false, "methods": null, "hosts": null,
                "upstreams": {"balancing": "roundrobin", "targets": [{"target": "http://auth-service:8080/token/info", "weight": 0}]}}},
        "oauth_client_endpoints": {"create": null, "remove": null},
        "allowed_access_types": null, "allowed_authorize_types": null, "auth_login_redirect": "", "secrets": null,
        "cors_meta": {"domains": null, "methods": null, "request_headers": null, "exposed_headers": null, "options_passthrough": false, "enabled": false},
        "rate_limit": {"limit": "", "enabled": false},
        "token_strategy": {"name": "introspection", "settings": settings, "leeway": 0},
        "access_rules": [{"predicate": "country == 'de'", "action": "deny"}]
    })
}

fn introspecting(settings: serde_json::Value) -> Vm {
    let cfg = json!({"oauth_servers": {"remote": janus_export(settings)}, "policies": {"api": {"oauth_server": "remote"}}, "default_policy": "api"});
    Host::new().vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()))
}

fn asked(vm: &mut Vm, token: &str) -> (u32, test_harness::HttpCall) {
    let out = vm.send(Request::get("/orders").bearer(token));
    let test_harness::Outcome::Paused { context: ctx } = out else { panic!("{out:?}") };
    let calls = vm.pending_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    (ctx, calls[0].clone())
}

#[test]
fn janus_introspection_with_the_token_in_the_authorization_header_is_a_get_to_the_introspect_upstream() {
    let mut vm = introspecting(json!({"use_auth_header": true, "auth_header_type": "Bearer", "use_custom_header": false,
        "header_name": "", "use_body": false, "param_name": ""}));
    let (ctx, call) = asked(&mut vm, "opaque-1");
    assert_eq!(call.cluster, "auth-service:8080", "the cluster named after the upstream's host");
    for (k, v) in [(":method", "GET"), (":path", "/token/info"), (":authority", "auth-service:8080"), ("authorization", "Bearer opaque-1")] {
        assert_eq!(call.header(k), Some(v), "{k}");
    }
    assert!(call.body.is_empty() && call.header("content-type").is_none());
    vm.answer(call.token, 200, &[], br#"{"active": true, "sub": "alice", "country": "fr"}"#);
    assert!(vm.poll(ctx).is_forwarded());
    let (ctx, call) = asked(&mut vm, "opaque-2");
    vm.answer(call.token, 200, &[], br#"{"active": true, "sub": "bob", "country": "de"}"#);
    assert_eq!(vm.poll(ctx).status(), 403, "the server's access rules apply to the policy that uses it");
}

#[test]
fn janus_introspection_with_a_custom_header_or_a_form_parameter() {
    let mut vm = introspecting(json!({"use_custom_header": true, "header_name": "X-Token"}));
    let (_, call) = asked(&mut vm, "opaque-1");
    assert_eq!((call.header(":method"), call.header("x-token"), call.header("authorization")), (Some("GET"), Some("opaque-1"), None));
    let mut vm = introspecting(json!({"use_body": true, "param_name": "access_token"}));
    let (_, call) = asked(&mut vm, "opaque+1");
    assert_eq!(call.header(":method"), Some("POST"));
    assert_eq!(String::from_utf8(call.body).unwrap(), "access_token=opaque%2B1");
    let mut vm = introspecting(json!({}));
    let (_, call) = asked(&mut vm, "t");
    assert_eq!(String::from_utf8(call.body).unwrap(), "token=t", "no flag: RFC 7662's form");
}

#[test]
fn janus_introspection_settings_that_cannot_work_are_named() {
    for (settings, path) in [
        (json!({"use_custom_header": true, "header_name": ""}), "settings.header_name"),
        (json!({"use_auth_header": true, "authorization_value": "Basic x"}), "settings.authorization_value"),
    ] {
        let cfg = json!({"oauth_servers": {"remote": janus_export(settings)}});
        let vm = Host::new().vm(&cfg.to_string()).err().expect("refused");
        assert!(vm.log_text().contains(&format!("oauth_servers.remote.token_strategy.{path}")), "{}", vm.log_text());
    }
    let mut no_url = janus_export(json!({"use_auth_header": true}));
    no_url["oauth_endpoints"]["introspect"] = serde_json::Value::Null;
    let vm = Host::new().vm(&json!({"oauth_servers": {"remote": no_url}}).to_string()).err().expect("refused");
    assert!(vm.log_text().contains("settings.introspection_url"), "{}", vm.log_text());
}

#[test]
fn repeated_or_conflicting_parameters_are_invalid_request() {
    let mut vm = start();
    let form = "application/x-www-form-urlencoded";
    // The check must not pass on the query while the server acts on the body.
    for (path, body) in [
        ("/auth/token?grant_type=authorization_code", "grant_type=client_credentials&client_id=web"),
        ("/auth/token", "grant_type=client_credentials&grant_type=password&client_id=web"),
        ("/auth/token", "grant_type=client_credentials&GRANT_TYPE=password&client_id=web"),
        ("/auth/token", "grant_type=client_credentials&grant-type=password&client_id=web"),
        ("/auth/token", "grant_type=client_credentials&grant%5Ftype=password&client_id=web"),
        ("/auth/token?client_id=app", "grant_type=client_credentials&client_id=web"),
    ] {
        let out = vm.send(Request::new("POST", path).header("content-type", form).body(body));
        assert_eq!(out.status(), 400, "{path} {body}: {out:?}");
        assert_eq!(out.reply_json()["error"], "invalid_request");
    }
    let out = vm.send(Request::get("/auth/token?grant_type=client_credentials&grant_type=password").header("authorization", basic("web", "")));
    assert_eq!(out.status(), 400);
    for q in ["response_type=code&response_type=token", "response_type=code&Response_Type=token", "response_type=co%de"] {
        let out = vm.send(Request::get(&format!("/auth/authorize?{q}&client_id=app")).header("cookie", "session=s1"));
        assert_eq!(out.status(), 400, "{q}");
        assert_eq!(out.reply_json()["error"], "invalid_request");
    }
    // One of each is fine.
    let out = vm.send(Request::new("POST", "/auth/token").header("content-type", form).body("grant_type=client_credentials&client_id=web"));
    assert!(out.is_forwarded(), "{out:?}");
}
