//! Every configuration error, table-driven: a valid configuration with one change, the JSON
//! path the error must name, a word of its reason, and never the offending value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use oauth_core::Config;
use serde_json::{json, Value};

const SECRET: &str = "s3cr3t-value-never-logged";

fn base() -> Value {
    json!({
        "consumers": [{"id": "c1", "username": "u1"}],
        "oauth_servers": {
            "s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}},
            "i": {"token_strategy": {"name": "introspection", "settings": {"introspection_url": "http://idp/introspect", "cluster": "idp"}}}
        },
        "policies": {"p": {"oauth_server": "s"}},
        "default_policy": "p"
    })
}

/// `patch` merged into `base` (objects merged key by key; `null` removes a key).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn jwt(strategy: Value) -> Value {
    json!({"oauth_servers": {"s": {"token_strategy": strategy}}})
}

fn intro(settings: Value) -> Value {
    json!({"oauth_servers": {"i": {"token_strategy": {"settings": settings}}}})
}

fn cc(fields: Value) -> Value {
    let mut c = json!({"client_id": "gw", "client_secret": "x", "token_url": "http://idp/token", "cluster": "idp"});
    merge(&mut c, &fields);
    json!({"policies": {"p": {"upstream_client_credentials": c}}})
}

/// A token issuer with the ready e2e profile's EdDSA key pair and one client.
fn issuer(fields: Value) -> Value {
    let path = format!("{}/../filters/e2e-issuer.json", env!("CARGO_MANIFEST_DIR"));
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ed = profile["token_issuer"]["key_pairs"]["ed"].clone();
    let mut i = json!({"defaultKeyPair": "ed", "key_pairs": {"ed": ed}, "clients": [{"client_id": "a", "client_secret": "b"}]});
    merge(&mut i, &fields);
    json!({"token_issuer": i})
}

fn cases() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        // top level
        (json!({"log_level": "loud"}), "log_level", "one of"),
        (json!({"route_metadata_namespace": ""}), "route_metadata_namespace", "empty"),
        (json!({"default_policy": "nope"}), "default_policy", "unknown policy"),
        (json!({"unknown_field": 1}), "unknown_field", "unknown field"),
        (json!({"consumers": [{"id": ""}]}), "consumers[0].id", "non-empty"),
        (json!({"consumers": [{"id": "a"}, {"id": "a"}]}), "consumers[1].id", "unique"),
        (json!({"consumers": [{"id": "a", "username": "x\ny"}]}), "consumers[0].username", "control"),
        // the admin API
        (json!({"admin_api": {"policy": "nope"}}), "admin_api.policy", "unknown policy"),
        (json!({"admin_api": {"policy": "p", "prefix": "admin"}}), "admin_api.prefix", "start with /"),
        (json!({"admin_api": {"policy": "p", "domain": "("}}), "admin_api.domain", "regex"),
        (json!({"admin_api": {"policy": "p"}, "policies": {"p": {"public": true}}}), "admin_api.policy", "require a token"),
        (json!({"admin_api": {"policy": "p"}, "policies": {"p": {"oauth_server": "s", "anonymous": "c1"}}}), "admin_api.policy", "require a token"),
        (json!({"admin_api": {"policy": "p"}, "policies": {"p": {"oauth_server": "s", "allow_missing": true}}}), "admin_api.policy", "require a token"),
        (json!({"admin_api": {"policy": "p"}, "policies": {"p": {"oauth_server": "s", "allow_missing_or_failed": true}}}), "admin_api.policy", "require a token"),
        (json!({"admin_api": {"policy": "p"}, "policies": {"p": {"oauth_server": "s", "run_on_preflight": false}}}), "admin_api.policy", "require a token"),
        (json!({"policies": {"p": {"oauth_server": "later"}}}), "policies.p.oauth_server", "unknown oauth server"),
        // Kong plugin entries as policies
        (json!({"policies": {"k": {"name": "key-auth", "config": {}}}}), "policies.k.name", "oauth2-introspection"),
        (json!({"policies": {"k": {"name": "oauth2-introspection"}}}), "policies.k.config", "required"),
        (json!({"policies": {"k": {"name": "oauth2-introspection", "config": {"introspection_url": "http://i/x", "anonymous": 5}}}}),
            "policies.k.config.anonymous", "string"),
        (json!({"policies": {"k": {"name": "oauth2-introspection", "config": {"introspection_url": "ftp://i/x"}}}}),
            "policies.k.config.introspection_url", "URL"),
        (json!({"policies": {"s": {"name": "oauth2-introspection", "config": {"introspection_url": "http://i/x"}}}}),
            "policies.s.config", "same name"),
        // Janus introspection settings
        (intro(json!({"introspection_url": null, "use_auth_header": true})), "oauth_servers.i.token_strategy.settings.introspection_url", "required"),
        (intro(json!({"use_custom_header": true, "header_name": "bad header"})), "oauth_servers.i.token_strategy.settings.header_name", "header"),
        // servers
        (jwt(json!({"name": "saml"})), "oauth_servers.s.token_strategy.name", "unsupported"),
        (jwt(json!({"trust_token_issuer": true})), "oauth_servers.s.token_strategy.trust_token_issuer", "token_issuer"),
        (jwt(json!({"allowed_algorithms": ["HS256", "XX999"]})), "oauth_servers.s.token_strategy.allowed_algorithms[1]", "unsupported"),
        (jwt(json!({"settings": null})), "oauth_servers.s.token_strategy.settings", "required"),
        (jwt(json!({"allowed_algorithms": ["RS256"]})), "oauth_servers.s.token_strategy.settings", "no key usable"),
        (jwt(json!({"verified_cache_size": 2_000_000})), "oauth_servers.s.token_strategy.verified_cache_size", "at most"),
        (jwt(json!({"require_typ": ""})), "oauth_servers.s.token_strategy.require_typ", "empty"),
        (jwt(json!({"max_token_bytes": 10})), "oauth_servers.s.token_strategy.max_token_bytes", "between"),
        (jwt(json!({"settings": [{"alg": "XX1", "key": SECRET}]})), "oauth_servers.s.token_strategy.settings[0].alg", "unsupported"),
        (jwt(json!({"settings": [{"alg": "HS256", "key": ""}]})), "oauth_servers.s.token_strategy.settings[0].key", "empty"),
        (jwt(json!({"settings": [{"alg": "RS256", "key": SECRET}]})), "oauth_servers.s.token_strategy.settings[0].key", ""),
        (jwt(json!({"settings": [{"alg": "HS256"}]})), "oauth_servers.s.token_strategy.settings[0]", "missing field"),
        (jwt(json!({"settings": {"keys": [{"kty": "oct", "alg": "HS256", "k": 5}]}})), "oauth_servers.s.token_strategy.settings.keys[0]", ""),
        (jwt(json!({"settings": {"secret": SECRET, "other": 1}})), "oauth_servers.s.token_strategy.settings.other", "beside"),
        (jwt(json!({"settings": {"secret": 5}})), "oauth_servers.s.token_strategy.settings.secret", "string"),
        (jwt(json!({"settings": {"secret": ""}})), "oauth_servers.s.token_strategy.settings.secret", "empty"),
        (jwt(json!({"settings": 7})), "oauth_servers.s.token_strategy.settings", "expected"),
        // remote keys
        (jwt(json!({"cache_duration": "1m"})), "oauth_servers.s.token_strategy.cache_duration", "only meaningful"),
        (jwt(json!({"jwks_uri": {"uri": "http://i/j", "cluster": "idp"}, "discovery": {"issuer": "http://i", "cluster": "idp"}})),
            "oauth_servers.s.token_strategy", "not both"),
        (jwt(json!({"jwks_uri": {"uri": "ftp://i/j", "cluster": "idp"}})), "oauth_servers.s.token_strategy.jwks_uri.uri", "http(s)"),
        (jwt(json!({"discovery": {"issuer": "nope", "cluster": "idp"}})), "oauth_servers.s.token_strategy.discovery.issuer", "http(s)"),
        (jwt(json!({"jwks_uri": {"uri": "http://i/j", "cluster": ""}})), "oauth_servers.s.token_strategy.jwks_uri.cluster", "cluster"),
        (jwt(json!({"jwks_uri": {"uri": "http://i/j", "cluster": "idp", "timeout": "2m"}})), "oauth_servers.s.token_strategy.jwks_uri.timeout", "between"),
        (jwt(json!({"jwks_uri": {"uri": "http://i/j", "cluster": "idp"}, "cache_duration": "0s"})), "oauth_servers.s.token_strategy.cache_duration", "at least"),
        (jwt(json!({"jwks_uri": {"uri": "http://i/j", "cluster": "idp"}, "max_jwks_bytes": 1})), "oauth_servers.s.token_strategy.max_jwks_bytes", "between"),
        // introspection
        (json!({"oauth_servers": {"i": {"token_strategy": {"leeway": 1, "issuers": ["x"]}}}}), "oauth_servers.i.token_strategy.issuers", "unknown field"),
        (json!({"oauth_servers": {"i": {"token_strategy": {"settings": null}}}}), "oauth_servers.i.token_strategy.settings", "required"),
        (intro(json!({"introspection_url": "idp/introspect"})), "oauth_servers.i.token_strategy.settings.introspection_url", "http(s)"),
        (intro(json!({"cluster": ""})), "oauth_servers.i.token_strategy.settings.cluster", "cluster"),
        (intro(json!({"timeout": 0})), "oauth_servers.i.token_strategy.settings.timeout", "between"),
        (intro(json!({"custom_introspection_headers": {"bad header": SECRET}})), "oauth_servers.i.token_strategy.settings.custom_introspection_headers.bad header", "header name"),
        (intro(json!({"custom_introspection_headers": {"x-tenant": format!("{SECRET}\r\nx: y")}})), "oauth_servers.i.token_strategy.settings.custom_introspection_headers.x-tenant", "control"),
        (intro(json!({"authorization_value": format!("Basic {SECRET}\n")})), "oauth_servers.i.token_strategy.settings.authorization_value", "control"),
        (intro(json!({"cache_slots": 0})), "oauth_servers.i.token_strategy.settings.cache_slots", "between"),
        (intro(json!({"max_calls_in_flight": 0})), "oauth_servers.i.token_strategy.settings.max_calls_in_flight", "between"),
        (intro(json!({"max_retry_after": 3601})), "oauth_servers.i.token_strategy.settings.max_retry_after", "at most"),
        (intro(json!({"ttl": "long"})), "oauth_servers.i.token_strategy.settings.ttl", "invalid type"),
        // Janus front
        (json!({"oauth_servers": {"s": {"oauth_endpoints": {"token": {"listen_path": "token"}}}}}), "oauth_servers.s.oauth_endpoints.token.listen_path", "start with /"),
        (json!({"oauth_servers": {"s": {"oauth_client_endpoints": {"create": {"listen_path": "c"}}}}}), "oauth_servers.s.oauth_client_endpoints.create.listen_path", "start with /"),
        (json!({"oauth_servers": {"s": {"secrets": {"app": SECRET}}}}), "oauth_servers.s.secrets", "oauth_endpoints"),
        (json!({"oauth_servers": {"s": {"oauth_endpoints": {"token": {"listen_path": "/t"}}, "auth_login_redirect": "login"}}}), "oauth_servers.s.auth_login_redirect", "URL or a path"),
        (json!({"oauth_servers": {"s": {"oauth_endpoints": {"token": {"listen_path": "/t"}}, "auth_login_redirect": "/lo\ngin"}}}), "oauth_servers.s.auth_login_redirect", "control"),
        (json!({"oauth_servers": {"s": {"token_sources": []}}}), "oauth_servers.s.token_sources", "empty"),
        // policies
        (json!({"policies": {"p": {"anonymous": "nobody"}}}), "policies.p.anonymous", "no consumer"),
        (json!({"policies": {"p": {"consumer_by": "email"}}}), "policies.p.consumer_by", "username"),
        (json!({"policies": {"p": {"oauth_servers": ["s"]}}}), "policies.p", "not both"),
        (json!({"policies": {"p": {"oauth_server": "ghost"}}}), "policies.p.oauth_server", "unknown oauth server"),
        (json!({"policies": {"p": {"oauth_server": null, "oauth_servers": ["s", "ghost"]}}}), "policies.p.oauth_servers[1]", "unknown oauth server"),
        (json!({"policies": {"p": {"oauth_server": null}}}), "policies.p.oauth_server", "required"),
        (json!({"policies": {"p": {"required_scopes": ["ok", "not\"ok"]}}}), "policies.p.required_scopes[1]", "scope"),
        (json!({"policies": {"p": {"realm": "a\"b"}}}), "policies.p.realm", "quotes"),
        (json!({"policies": {"p": {"scopes_matcher": "most"}}}), "policies.p.scopes_matcher", "any"),
        (json!({"policies": {"p": {"error_format": "xml"}}}), "policies.p.error_format", "otoroshi"),
        (json!({"policies": {"p": {"modifier/martian": {"body.Modifier": {"body": "s3cr3t-value-never-logged"}}}}}), "policies.p.github.com/devopsfaith/krakend-martian.body.Modifier", "unsupported"),
        (json!({"policies": {"p": {"modifier/martian": {"header.Modifier": {"name": "x-a"}}}}}), "policies.p.github.com/devopsfaith/krakend-martian.header.Modifier", "name"),
        (json!({"policies": {"p": {"filter_state_claims": ["email"]}}}), "policies.p.filter_state_claims", "filter_state"),
        (json!({"policies": {"p": {"filter_state": true, "filter_state_claims": ["a b"]}}}), "policies.p.filter_state_claims[0]", "spaces"),
        (json!({"policies": {"p": {"forward_payload_header": "bad header"}}}), "policies.p.forward_payload_header", "header"),
        (jwt(json!({"max_lifetime": 0})), "oauth_servers.s.token_strategy.max_lifetime", "at least"),
        (jwt(json!({"subjects": []})), "oauth_servers.s.token_strategy.subjects", "empty"),
        (jwt(json!({"subjects": {"glob": "s3cr3t-value-never-logged"}})), "oauth_servers.s.token_strategy.subjects.glob", "unknown matcher"),
        (jwt(json!({"subjects": [{"exact": "a"}, {"regex": "(s3cr3t-value-never-logged"}]})), "oauth_servers.s.token_strategy.subjects[1].regex", "regex"),
        (jwt(json!({"subjects": {"exact": 5}})), "oauth_servers.s.token_strategy.subjects.exact", "string"),
        (json!({"oauth_servers": {"i": {"token_strategy": {"max_lifetime": 60}}}}), "oauth_servers.i.token_strategy.max_lifetime", "unknown field"),
        (json!({"policies": {"p": {"roles": ["admin"]}}}), "policies.p.roles_key", "required"),
        (json!({"policies": {"p": {"roles_key": "roles"}}}), "policies.p.roles", "required"),
        (json!({"policies": {"p": {"roles": [], "roles_key": "roles"}}}), "policies.p.roles", "at least one"),
        (json!({"policies": {"p": {"roles": ["a"], "roles_key": ""}}}), "policies.p.roles_key", "empty"),
        (json!({"policies": {"p": {"required_roles": {"any_of": [], "claim": "roles"}}}}), "policies.p.required_roles.any_of", "at least one"),
        (json!({"policies": {"p": {"required_scopes_match": "most"}}}), "policies.p.required_scopes_match", "any"),
        (json!({"policies": {"p": {"pass_anonymous": "always"}}}), "policies.p.pass_anonymous", "missing"),
        (json!({"policies": {"p": {"allow_missing": "yes"}}}), "policies.p.allow_missing", "boolean"),
        (json!({"policies": {"p": {"allow_missing": true, "pass_anonymous": "missing"}}}), "policies.p.pass_anonymous", "not both"),
        (json!({"policies": {"p": {"error_body_field": ""}}}), "policies.p.error_body_field", "non-empty"),
        (json!({"policies": {"p": {"upstream_headers": [{"name": "bad header", "value": SECRET}]}}}), "policies.p.upstream_headers[0].name", "header name"),
        (json!({"policies": {"p": {"upstream_headers": [{"name": "x-a", "value": format!("{SECRET}\r\n")}]}}}), "policies.p.upstream_headers[0].value", "control"),
        (json!({"policies": {"p": {"enabled": false}}}), "policies.p.enabled", "unknown field"),
        (json!({"policies": {"p": {"auth/client-credentials": {"is_disabled": 1}}}}), "policies.p.upstream_client_credentials.is_disabled", "boolean"),
        (json!({"policies": {"p": {"access_rules": [{"predicate": "a == 's3cr3t-value-never-logged'", "action": "permit"}]}}}), "policies.p.access_rules[0].action", "allow"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow"}]}}}), "policies.p.access_rules[0]", "predicate"),
        (json!({"policies": {"p": {"access_rules": [{"predicate": "level > 's3cr3t-value-never-logged'", "action": "deny"}]}}}), "policies.p.access_rules[0].predicate", "unsupported operator"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow", "when": {"claim": "a"}}]}}}), "policies.p.access_rules[0].when", "exactly one test"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow", "when": {"claim": "a", "like": "s3cr3t-value-never-logged"}}]}}}), "policies.p.access_rules[0].when.like", "unknown test"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow", "when": {"any": [{"claim": "a", "regex": "(s3cr3t-value-never-logged"}]}}]}}}), "policies.p.access_rules[0].when.any[0].regex", "regex"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow", "when": {"all": []}}]}}}), "policies.p.access_rules[0].when.all", "non-empty"),
        (json!({"policies": {"p": {"access_rules": [{"action": "allow", "when": {"claim": "a", "one_of": "s3cr3t-value-never-logged"}}]}}}), "policies.p.access_rules[0].when.one_of", "list"),
        (json!({"policies": {"p": {"requires": "most"}}}), "policies.p.requires", "any"),
        (json!({"policies": {"p": {"claim_to_headers": [{"claim_name": "", "header_name": "x-a"}]}}}), "policies.p.claim_to_headers[0].claim_name", "empty"),
        (json!({"policies": {"p": {"claim_to_headers": [{"claim_name": "a", "header_name": "host"}]}}}), "policies.p.claim_to_headers[0].header_name", "cannot carry"),
        (json!({"policies": {"p": {"custom_claims_forward": ["a b"]}}}), "policies.p.custom_claims_forward[0]", "header name"),
        (json!({"policies": {"p": {"token_sources": [{"header": "x-t", "query": "t"}]}}}), "policies.p.token_sources[0]", "exactly one"),
        (json!({"policies": {"p": {"token_sources": [{"header": ":path"}]}}}), "policies.p.token_sources[0].header", "header name"),
        (json!({"policies": {"p": {"token_sources": []}}}), "policies.p.token_sources", "empty"),
        // client credentials
        (cc(json!({"token_url": "nope"})), "policies.p.upstream_client_credentials.token_url", "http(s)"),
        (cc(json!({"cluster": ""})), "policies.p.upstream_client_credentials.cluster", "cluster"),
        (cc(json!({"client_id": ""})), "policies.p.upstream_client_credentials.client_id", "empty"),
        (cc(json!({"scopes": ["a", ""]})), "policies.p.upstream_client_credentials.scopes[1]", "non-empty"),
        (cc(json!({"scopes": 5})), "policies.p.upstream_client_credentials.scopes", "comma-separated"),
        (cc(json!({"auth_style": "header"})), "policies.p.upstream_client_credentials.auth_style", "basic"),
        (cc(json!({"headers": {"x-a": format!("{SECRET}\n")}})), "policies.p.upstream_client_credentials.headers.x-a", "control"),
        (cc(json!({"refresh_fraction": 1.5})), "policies.p.upstream_client_credentials.refresh_fraction", "between"),
        (cc(json!({"default_expires_in": 0})), "policies.p.upstream_client_credentials.default_expires_in", "at least"),
        (cc(json!({"timeout": "2m"})), "policies.p.upstream_client_credentials.timeout", "between"),
        (cc(json!({"client_secret": 5})), "policies.p.upstream_client_credentials.client_secret", "invalid type"),
        // routes
        (json!({"routes": [{"policy": "ghost"}]}), "routes[0].policy", "unknown policy"),
        (json!({"routes": [{"policy": "p", "path_prefix": "/a", "path_exact": "/b"}]}), "routes[0]", "at most one"),
        (json!({"routes": [{"policy": "p", "path_regex": "(unclosed"}]}), "routes[0].path_regex", "bad regex"),
        // token issuer
        (issuer(json!({"domain": "(bad"})), "token_issuer.domain", "bad regex"),
        (issuer(json!({"prefix": "oauth"})), "token_issuer.prefix", "start with /"),
        (issuer(json!({"expiration": 5})), "token_issuer.expiration", "between"),
        (issuer(json!({"key_pairs": {"k": {"alg": "RS256", "private_key": SECRET}}})), "token_issuer.key_pairs.k.private_key", ""),
        (issuer(json!({"defaultKeyPair": "ghost"})), "token_issuer.default_key_pair", "no key pair"),
        (issuer(json!({"clients": [{"client_id": "", "client_secret": "b"}]})), "token_issuer.clients[0].client_id", "non-empty"),
        (issuer(json!({"clients": [{"client_id": "a", "client_secret_sha256": "zz"}]})), "token_issuer.clients[0].client_secret_sha256", "hex"),
        (issuer(json!({"clients": [{"client_id": "a"}]})), "token_issuer.clients[0]", "client_secret"),
        (issuer(json!({"clients": [{"client_id": "a", "client_secret": "b", "jwt-sign-keypair": "ghost"}]})), "token_issuer.clients[0].key_pair", "no key pair"),
        (issuer(json!({"clients": [{"client_id": "a", "client_secret": "b"}, {"client_id": "a", "client_secret": "c"}]})), "token_issuer.clients[1].client_id", "unique"),
        // the fleet store
        (json!({"store": {"etcd": {"cluster": ""}}}), "store.etcd.cluster", "Envoy cluster"),
        (json!({"store": {"etcd": {"cluster": "etcd", "prefix": "oauth"}}}), "store.etcd.prefix", "end with /"),
        (json!({"store": {"etcd": {"cluster": "etcd", "timeout": "2m"}}}), "store.etcd.timeout", "between"),
        (json!({"store": {"etcd": {"cluster": "etcd", "poll_interval": "500ms"}}}), "store.etcd.poll_interval", "whole seconds"),
        (json!({"store": {"etcd": {"cluster": "etcd", "password": SECRET}}}), "store.etcd.username", "required"),
        (json!({"store": {"etcd": {"cluster": "etcd", "username": "gw"}}}), "store.etcd.password", "required"),
        (json!({"store": {"etcd": {"cluster": "etcd", "endpoints": ["http://x"]}}}), "store.etcd.endpoints", "unknown field"),
        (json!({"store": {"redis": {}}}), "store.redis", "unknown field"),
    ]
}

#[test]
fn every_configuration_error_names_its_path_and_never_the_value() {
    assert!(Config::from_json(base().to_string().as_bytes()).is_ok(), "the base configuration is valid");
    let mut failures = Vec::new();
    // With OAUTH_FILTER_ERROR_CASES=FILE, each refused configuration and its error are written
    // there: e2e/test_schema.py checks that the JSON Schema refuses the cases about shape too.
    let mut written = Vec::new();
    for (patch, path, word) in cases() {
        let mut cfg = base();
        merge(&mut cfg, &patch);
        match Config::from_json(cfg.to_string().as_bytes()) {
            Ok(_) => failures.push(format!("{patch}: accepted, expected an error at `{path}`")),
            Err(e) => {
                written.push(json!({"config": cfg, "path": e.path, "reason": e.reason}));
                let text = e.to_string();
                if e.path != path || !e.reason.contains(word) {
                    failures.push(format!("{patch}: got `{}`: {}, expected `{path}` with `{word}`", e.path, e.reason));
                }
                if text.contains(SECRET) || text.contains('\n') {
                    failures.push(format!("{patch}: the message holds the value: {text}"));
                }
            }
        }
    }
    if let Some(out) = std::env::var_os("OAUTH_FILTER_ERROR_CASES") {
        std::fs::write(out, Value::Array(written).to_string()).unwrap();
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases().len(), failures.join("\n"));
}

#[test]
fn servers_added_through_the_admin_api_never_shadow_a_covered_path() {
    use oauth_core::endpoints::admin::Store;
    let plugin = json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]},
            "oauth_endpoints": {"token": {"listen_path": "/auth/token"}}}},
        "policies": {"p": {"oauth_server": "s"}, "admin": {"oauth_server": "s"}},
        "routes": [{"path_prefix": "/protected", "policy": "p"}],
        "admin_api": {"policy": "admin", "prefix": "/admin"},
        "default_policy": "p"
    })
    .to_string();
    let added = |listen: &str| {
        let mut store = Store::default();
        store.servers.insert("x".into(), json!({"name": "x", "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "another-secret-for-tests"}]},
            "oauth_endpoints": {"authorize": {"listen_path": listen}}, "auth_login_redirect": "https://evil.test/"}));
        Config::with_store(plugin.as_bytes(), &store)
    };
    for listen in ["/", "/*", "/protected", "/protected/x/*", "/auth/token", "/auth", "/admin/oauth/servers", "/admin/*", "/protectedness"] {
        let e = added(listen).err().unwrap_or_else(|| panic!("{listen} must be refused"));
        assert!(e.to_string().contains("oauth_servers.x.oauth_endpoints"), "{listen}: {e}");
    }
    for listen in ["/x-auth/authorize", "/auth2/authorize", "/protect"] {
        assert!(added(listen).is_ok(), "{listen} takes nothing covered");
    }
}

#[test]
fn secrets_from_the_environment_in_the_plugin_configuration_only() {
    use oauth_core::endpoints::admin::Store;
    std::env::set_var("OAUTH_FILTER_TEST_HS_KEY", "hs-secret-for-tests-from-env");
    std::env::set_var("OAUTH_FILTER_TEST_CC_SECRET", "cc-secret");
    let from_env = |name: &str| json!({"env": name});
    // Every kind of secret field: an HMAC key, the legacy secret, a client secret, an issuer
    // client's secret, the introspection call's Authorization, a Janus client secret.
    let mut cfg = base();
    merge(&mut cfg, &json!({
        "oauth_servers": {
            "s": {"token_strategy": {"settings": [{"alg": "HS256", "key": from_env("OAUTH_FILTER_TEST_HS_KEY")}]},
                  "oauth_endpoints": {"token": {"listen_path": "/t"}}, "secrets": {"c": from_env("OAUTH_FILTER_TEST_CC_SECRET")}},
            "l": {"token_strategy": {"name": "jwt", "settings": {"secret": from_env("OAUTH_FILTER_TEST_HS_KEY")}}},
            "i": {"token_strategy": {"settings": {"authorization_value": from_env("OAUTH_FILTER_TEST_CC_SECRET")}}}
        },
        "policies": {"p": {"upstream_client_credentials": {"client_id": "gw", "client_secret": from_env("OAUTH_FILTER_TEST_CC_SECRET"),
                                                            "token_url": "http://idp/token", "cluster": "idp"}}}
    }));
    assert!(Config::from_json(cfg.to_string().as_bytes()).is_ok(), "{:?}", Config::from_json(cfg.to_string().as_bytes()).err());
    // A variable the VM lacks: the field's path and the variable's name.
    for (patch, path) in [
        (json!({"oauth_servers": {"s": {"token_strategy": {"settings": [{"alg": "HS256", "key": {"env": "OAUTH_FILTER_TEST_UNSET"}}]}}}}),
         "oauth_servers.s.token_strategy.settings[0].key"),
        (cc(json!({"client_secret": {"env": "OAUTH_FILTER_TEST_UNSET"}})), "policies.p.upstream_client_credentials.client_secret"),
        (issuer(json!({"clients": [{"client_id": "a", "client_secret": {"env": "OAUTH_FILTER_TEST_UNSET"}}]})), "token_issuer.clients[0].client_secret"),
    ] {
        let mut c = base();
        merge(&mut c, &patch);
        let e = Config::from_json(c.to_string().as_bytes()).err().unwrap_or_else(|| panic!("{patch}: accepted"));
        assert!(e.path.starts_with(path) && e.reason.contains("`OAUTH_FILTER_TEST_UNSET` is not set"), "{patch}: {e}");
    }
    // A server added through the admin API cannot read the proxy's environment.
    let mut store = Store::default();
    store.servers.insert("x".into(), json!({"name": "x", "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": from_env("OAUTH_FILTER_TEST_HS_KEY")}]}}));
    let Err(e) = Config::with_store(base().to_string().as_bytes(), &store) else { panic!("refused") };
    assert!(e.to_string().contains("oauth_servers.x") && e.reason.contains("only read from the plugin configuration"), "{e}");
}
