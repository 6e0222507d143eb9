//! JWT validation through the built .wasm where the host matters: every algorithm family, the
//! host clock, route names and metadata, configure-time refusals and warnings. What a policy
//! makes of one request is the scenario table (core/tests/table/policies.json), run through
//! the .wasm by tests/scenarios.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
use test_harness::{Host, Request, Vm};

fn config() -> Value {
    json!({
        "oauth_servers": {
            "local": {"token_strategy": {"name": "jwt", "settings": all_settings(), "leeway": 5}},
            "strict": {"token_strategy": {"name": "jwt", "settings": [{"alg": "ES256", "key": fixture("ec256.pub")}],
                        "issuers": ["https://issuer.test"], "audiences": ["orders"]}}
        },
        "policies": {
            "api": {"oauth_server": "local", "realm": "api",
                    "claim_to_headers": [{"header_name": "x-user-roles", "claim_name": "realm_access.roles"}],
                    "custom_claims_forward": ["email"]},
            "hidden": {"oauth_server": "local", "hide_credentials": true},
            "by-query": {"oauth_server": "local", "hide_credentials": true, "token_sources": [{"query": "access_token"}]},
            "by-cookie": {"oauth_server": "local", "hide_credentials": true, "token_sources": [{"cookie": "at"}]},
            "orders": {"oauth_server": "strict"},
            "open": {"public": true}
        },
        "routes": [
            {"path_prefix": "/public", "policy": "open"},
            {"route_name": "orders-route", "policy": "orders"},
            {"path_prefix": "/hidden", "policy": "hidden"},
            {"path_prefix": "/q", "policy": "by-query"},
            {"path_prefix": "/c", "policy": "by-cookie"}
        ],
        "default_policy": "api",
        "route_metadata_namespace": "oauth_filter"
    })
}

fn vm() -> (Host, Vm) {
    let host = Host::at(NOW);
    let vm = host.vm(&config().to_string()).unwrap_or_else(|vm| panic!("configure failed:\n{}", vm.log_text()));
    (host, vm)
}

fn token(alg: &str) -> String {
    sign(alg, None, claims(json!({"sub": "alice", "scope": "read write", "client_id": "app1",
        "email": "a@x.io", "realm_access": {"roles": ["admin", "dev"]}})).with_issuer("https://issuer.test").with_jwt_id("j1"))
}

#[test]
fn valid_tokens_of_each_family_pass_with_credential_headers() {
    let (_h, mut vm) = vm();
    for alg in ["HS256", "RS256", "ES256", "EdDSA", "PS384", "ES384"] {
        let out = vm.send(Request::get("/orders").bearer(&token(alg)));
        assert!(out.is_forwarded(), "{alg}: {out:?}");
        assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"));
        assert_eq!(out.upstream("x-credential-iss").as_deref(), Some("https://issuer.test"));
        assert_eq!(out.upstream("x-credential-scope").as_deref(), Some("read write"));
        assert_eq!(out.upstream("x-credential-client-id").as_deref(), Some("app1"));
        assert_eq!(out.upstream("x-credential-jti").as_deref(), Some("j1"));
        assert_eq!(out.upstream("x-credential-exp"), Some((NOW + 600).to_string()));
        assert_eq!(out.upstream("x-credential-iat"), Some(NOW.to_string()));
        assert_eq!(out.upstream("x-user-roles").as_deref(), Some("admin,dev"));
        assert_eq!(out.upstream("x-credential-email").as_deref(), Some("a@x.io"));
        // Without hide_credentials the token goes on.
        assert!(out.upstream("authorization").is_some());
    }
}

#[test]
fn the_host_clock_decides_expiry() {
    let (host, mut vm) = vm();
    let t = token("ES256");
    assert!(vm.send(Request::get("/x").bearer(&t)).is_forwarded());
    host.clock.advance_secs(600 + 5); // exp + leeway: still good
    assert!(vm.send(Request::get("/x").bearer(&t)).is_forwarded());
    host.clock.advance_secs(1);
    assert_eq!(vm.send(Request::get("/x").bearer(&t)).status(), 401);
}

#[test]
fn policy_by_route_name_and_by_route_metadata() {
    let (_h, mut vm) = vm();
    let strict_ok = sign("ES256", None, claims(json!({})).with_issuer("https://issuer.test").with_audience("orders"));
    let hs = token("HS256");
    // Route name → the strict policy: HS256 is not among its keys, its audience is required.
    let out = vm.send(Request::get("/any").route_name("orders-route").bearer(&hs));
    assert_eq!(out.status(), 401);
    assert!(vm.send(Request::get("/any").route_name("orders-route").bearer(&strict_ok)).is_forwarded());
    // Route metadata wins over rules: /public would be open, metadata makes it "orders".
    let out = vm.send(Request::get("/public").metadata("oauth_filter", "policy", "orders"));
    assert_eq!(out.status(), 401);
    let out = vm.send(Request::get("/x").metadata("oauth_filter", "policy", "open"));
    assert!(out.is_forwarded());
    // An unknown policy named by the host: refused, not waved through.
    let out = vm.send(Request::get("/public").metadata("oauth_filter", "policy", "nope"));
    assert_eq!(out.status(), 403);
    // Without `route_metadata_namespace` the filter never reads route metadata.
    let mut cfg = config();
    cfg.as_object_mut().unwrap().remove("route_metadata_namespace");
    let mut plain = Host::at(NOW).vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert!(plain.send(Request::get("/public").metadata("oauth_filter", "policy", "orders")).is_forwarded());
}

#[test]
fn bad_configurations_are_refused_with_one_line_naming_the_field() {
    let host = Host::at(NOW);
    let secret = "very-secret-value-123";
    let cases = [
        (json!({"policies": {"p": {"oauth_server": "nope"}}}), "policies.p.oauth_server"),
        (json!({"unknown_field": 1}), "unknown field `unknown_field`"),
        (json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": secret, "extra": 1}]}}}}),
            "oauth_servers.s.token_strategy.settings[0]"),
        (json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "RS256", "key": secret}]}}}}),
            "oauth_servers.s.token_strategy.settings[0].key"),
        (json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": 12345}}}}}),
            "oauth_servers.s.token_strategy.settings.secret"),
        (json!({"routes": [{"path_regex": "(", "policy": "p"}], "policies": {"p": {"public": true}}}), "routes[0].path_regex"),
        (json!({"default_policy": "missing"}), "default_policy"),
        (json!({"policies": {"p": {"public": true, "realm": "a\"b"}}}), "policies.p.realm"),
    ];
    for (cfg, field) in cases {
        let vm = match host.vm(&cfg.to_string()) {
            Ok(_) => panic!("accepted: {cfg}"),
            Err(vm) => vm,
        };
        let errors: Vec<_> = vm.logs().iter().filter(|(l, _)| *l >= 4).collect();
        assert_eq!(errors.len(), 1, "{cfg}: {:?}", vm.logs());
        assert!(errors[0].1.contains(field), "{}: wanted {field}", errors[0].1);
        assert!(!vm.log_text().contains(secret));
    }
    let vm = host.vm("not json").err().unwrap();
    assert!(vm.log_text().contains("invalid configuration"));
    let vm = host.vm(&json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": 5}]}}}}).to_string()).err().unwrap();
    assert!(vm.log_text().contains("settings[0].key"), "{}", vm.log_text());
}

#[test]
fn no_policy_means_refused() {
    let host = Host::at(NOW);
    let mut vm = host.vm(&json!({"policies": {"p": {"public": true}}, "routes": [{"path_prefix": "/open", "policy": "p"}]}).to_string())
        .unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert!(vm.send(Request::get("/open/x")).is_forwarded());
    assert_eq!(vm.send(Request::get("/other")).status(), 403);
}

#[test]
fn expiration_is_required_lifetime_bounded_and_subjects_matched() {
    let cfg = json!({
        "oauth_servers": {
            "strict": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}],
                       "max_lifetime": 600, "subjects": [{"prefix": "svc-"}]}},
            "lax": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}], "require_expiration": false}}
        },
        "policies": {"strict": {"oauth_server": "strict", "realm": "strict"}, "lax": {"oauth_server": "lax"}},
        "routes": [{"path_prefix": "/lax", "policy": "lax"}],
        "default_policy": "strict"
    });
    let host = Host::at(NOW);
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let mut no_exp = claims(json!({"sub": "svc-a"}));
    no_exp.expires_at = None;
    let no_exp = sign("HS256", None, no_exp);
    let long = {
        let mut c = claims(json!({"sub": "svc-a"}));
        c.expires_at = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(NOW + 3600));
        sign("HS256", None, c)
    };
    let cases = [
        ("/", sign("HS256", None, claims(json!({"sub": "svc-a"}))), 200, ""),
        ("/", no_exp.clone(), 401, "the access token has no expiration"),
        ("/", long, 401, "the access token's lifetime is too long"),
        ("/", sign("HS256", None, claims(json!({"sub": "alice"}))), 401, "the token's subject is not accepted"),
        ("/lax", no_exp, 200, ""),
    ];
    for (path, token, status, why) in cases {
        let out = vm.send(Request::get(path).bearer(&token));
        assert_eq!(out.status(), status, "{path} {why}");
        if status == 401 {
            let challenge = out.reply_header("www-authenticate").unwrap();
            assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains(why), "{challenge}");
        }
    }
}

#[test]
fn janus_example_secret_is_accepted_with_one_warning_that_never_names_it() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let cfg = json!({"oauth_servers": {"janus": {"token_strategy": {"name": "jwt", "settings": {"secret": "secret"}}}},
        "policies": {"p": {"oauth_server": "janus"}}, "default_policy": "p"});
    let host = Host::at(NOW);
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"sub": "alice", "exp": NOW + 60}).to_string()));
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(hmac_sha256::HMAC::mac(signed.as_bytes(), b"secret")));
    let out = vm.send(Request::get("/").bearer(&token));
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"), "{out:?}");
    let log = vm.log_text();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("shorter than 12 bytes")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("oauth server janus") && !log.contains("\"secret\"") && !warnings[0].contains(": secret"));
}
