//! Each seed system's configuration as its documentation writes it, loaded unchanged: a
//! KrakenD backend's `extra_config` as a policy, a Kong plugin entry as a policy, Otoroshi's
//! Client Credential Service block. (Janus's servers: janus.rs and admin_api.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::json;
use test_harness::{Host, Request, Vm};

const NOW: u64 = 1_800_000_000;

fn vm(cfg: serde_json::Value) -> Vm {
    Host::at(NOW).vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()))
}

#[test]
fn krakend_auth0_extra_config_is_a_policy_as_written() {
    // KrakenD's Auth0 example, namespaces and all.
    let extra_config = json!({
        "github.com/devopsfaith/krakend-oauth2-clientcredentials": {
            "client_id": "YOUR-CLIENT-ID", "client_secret": "YOUR-CLIENT-SECRET",
            "token_url": "https://custom.auth0.tld/token_endpoint",
            "endpoint_params": {"client_id": ["YOUR-CLIENT-ID"], "client_secret": ["YOUR-CLIENT-SECRET"], "audience": ["YOUR-AUDIENCE"]}
        },
        "github.com/devopsfaith/krakend-martian": {"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": false,
            "modifiers": [{"header.Modifier": {"scope": ["request"], "name": "Accept", "value": "application/json"}}]}}
    });
    let mut vm = vm(json!({"policies": {"backend": extra_config}, "default_policy": "backend"}));
    vm.tick();
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.cluster, "custom.auth0.tld", "the cluster named after the token URL's host");
    assert_eq!(call.header("authorization"), None, "credentials in the body only, as Auth0 wants them");
    assert_eq!(String::from_utf8(call.body).unwrap(),
        "grant_type=client_credentials&audience=YOUR-AUDIENCE&client_id=YOUR-CLIENT-ID&client_secret=YOUR-CLIENT-SECRET");
    vm.answer(call.token, 200, &[], br#"{"access_token": "T1", "token_type": "Bearer", "expires_in": 3600}"#);
    let out = vm.send(Request::get("/endpoint"));
    assert_eq!(out.upstream("authorization").as_deref(), Some("Bearer T1"));
    assert_eq!(out.upstream("accept").as_deref(), Some("application/json"), "the martian modifier on the backend request");
}

#[test]
fn a_kong_plugin_entry_is_a_policy_with_its_introspecting_server() {
    let plugin = json!({"name": "oauth2-introspection", "route": "orders-route", "enabled": true, "protocols": ["http", "https"],
        "config": {"introspection_url": "https://idp.test/introspect", "authorization_value": "Basic Z3c6cw==", "token_type_hint": "access_token",
            "ttl": 60, "hide_credentials": true, "timeout": 10000, "keepalive": 60000, "anonymous": null, "run_on_preflight": false,
            "consumer_by": "username", "introspect_request": false, "custom_introspection_headers": {}, "custom_claims_forward": {}}});
    let mut vm = vm(json!({"consumers": [{"id": "c1", "username": "alice"}], "policies": {"kong": plugin,
        "open": {"public": true}}, "default_policy": "open"}));
    assert!(vm.log_text().contains("policies.kong: protocols of the Kong plugin entry are accepted"), "{}", vm.log_text());
    assert!(vm.send(Request::get("/orders")).is_forwarded(), "another route: not the plugin's");
    assert!(vm.send(Request::new("OPTIONS", "/orders").route_name("orders-route")).is_forwarded(), "run_on_preflight: false");
    let out = vm.send(Request::get("/orders").route_name("orders-route").bearer("opaque"));
    let test_harness::Outcome::Paused { context } = out else { panic!("{out:?}") };
    let call = vm.pending_calls()[0].clone();
    assert_eq!((call.cluster.as_str(), call.header("authorization")), ("idp.test", Some("Basic Z3c6cw==")));
    vm.answer(call.token, 200, &[], br#"{"active": true, "username": "alice", "sub": "alice"}"#);
    let out = vm.poll(context);
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("x-consumer-id").as_deref(), Some("c1"));
    assert_eq!(out.upstream("authorization"), None, "hide_credentials");
    assert_eq!(vm.send(Request::get("/orders").route_name("orders-route")).status(), 401);
}

#[test]
fn kong_plugin_entries_that_cannot_work_are_named() {
    for (plugin, path) in [
        (json!({"name": "jwt", "config": {}}), "policies.p.name"),
        (json!({"name": "oauth2-introspection"}), "policies.p.config"),
        (json!({"name": "oauth2-introspection", "config": {"introspection_url": "https://i/x", "hide_credentials": "yes"}}), "policies.p.config.hide_credentials"),
        (json!({"name": "oauth2-introspection", "config": {"introspection_url": "https://i/x", "ttl": "60"}}), "policies.p.config.ttl"),
    ] {
        let vm = Host::new().vm(&json!({"policies": {"p": plugin}}).to_string()).err().expect("refused");
        assert!(vm.log_text().contains(path), "{path}: {}", vm.log_text());
    }
}

#[test]
fn otoroshis_client_credential_service_block_with_its_defaults_and_wildcards() {
    let pair = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/rsa.key")).unwrap();
    let service = |domain: &str| json!({"ClientCredentialService": {"domain": domain, "expiration": 3600000,
        "defaultKeyPair": "otoroshi-jwt-signing", "secure": false,
        "key_pairs": {"otoroshi-jwt-signing": {"alg": "RS256", "private_key": pair}},
        "clients": [{"client_id": "my-id", "client_secret": "my-secret"}]},
        "policies": {"open": {"public": true}}, "default_policy": "open"});
    for (domain, host, served) in [("*", "anything.test", true), ("*.oto.tools", "oauth.oto.tools", true), ("*.oto.tools", "oto.tools.evil", false),
        ("oauth.oto.tools", "oauth.oto.tools", true), ("oauth.oto.tools", "foo.oto.tools", false)] {
        let mut vm = vm(service(domain));
        let out = vm.send(Request::new("POST", "/.well-known/otoroshi/oauth/token").authority(host).header("content-type", "application/json")
            .body(r#"{"grant_type": "client_credentials", "client_id": "my-id", "client_secret": "my-secret"}"#));
        assert_eq!(!out.is_forwarded(), served, "{domain} on {host}: {out:?}");
        if served {
            assert_eq!(out.status(), 200);
            assert_eq!(out.reply_json()["expires_in"], 3600);
        }
    }
}

#[test]
fn a_disabled_kong_plugin_lets_requests_through_and_says_so() {
    let plugin = json!({"name": "oauth2-introspection", "enabled": false, "config": {"introspection_url": "https://idp.test/introspect"}});
    let mut vm = vm(json!({"policies": {"kong": plugin}, "default_policy": "kong"}));
    assert!(vm.send(Request::get("/orders")).is_forwarded());
    assert!(vm.log_text().contains("policies.kong: enabled is false: requests pass without a token"), "{}", vm.log_text());
}

#[test]
fn janus_cors_and_rate_limits_are_named_when_enabled() {
    let server = json!({"token_strategy": {"name": "jwt", "settings": {"secret": "janus-signing-secret"}},
        "oauth_endpoints": {"token": {"listen_path": "/auth/token"}},
        "cors_meta": {"domains": ["*"], "enabled": true}, "rate_limit": {"limit": "10-S", "enabled": true}});
    let vm = vm(json!({"oauth_servers": {"corp": server}}));
    let log = vm.log_text();
    for field in ["cors_meta", "rate_limit"] {
        assert!(log.contains(&format!("oauth_servers.corp.{field}: Envoy's filters do this")), "{field}: {log}");
    }
}
