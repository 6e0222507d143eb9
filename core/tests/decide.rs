//! `decide` natively, against a fake worker state: policies, waits with their deadline and
//! refusal, answers fed straight in, the verdict cache, metrics events and upstream headers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{claims, sign, NOW};
use oauth_core::decision::authenticate::Answered;
use oauth_core::idp::introspection::{Lookup, Slot, SlotKey};
use oauth_core::jwt::VerifyKey;
use oauth_core::{decide, decide_again, Config, Decision, Denial, Event, Identity, Request, WaitOn, WorkerState};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

#[derive(Default)]
struct Fake {
    fetched: Option<Vec<VerifyKey>>,
    may_refetch: bool,
    keys_version: Cell<u64>,
    slots: RefCell<HashMap<String, Vec<u8>>>,
    upstream: Option<(String, u64)>,
    events: RefCell<Vec<Event>>,
}

impl WorkerState for Fake {
    fn fetched(&self, _server: usize) -> Option<&[VerifyKey]> {
        self.fetched.as_deref()
    }
    fn may_refetch(&self, _server: usize) -> bool {
        self.may_refetch
    }
    fn keys_version(&self, _server: usize) -> u64 {
        self.keys_version.get()
    }
    fn introspection(&self, _server: usize, slot: &SlotKey) -> Lookup {
        let slots = self.slots.borrow();
        slots.get(&slot.key).and_then(|b| Slot::decode(b)).map_or(Lookup::Miss, |s| s.lookup(&slot.hash, NOW))
    }
    fn upstream_token(&self, _policy: usize) -> Option<(&str, u64)> {
        self.upstream.as_ref().map(|(t, v)| (t.as_str(), *v))
    }
    fn count(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }
}

fn config(v: Value) -> Config {
    Config::from_json(v.to_string().as_bytes()).unwrap()
}

fn req(path: &str, headers: &[(&str, &str)]) -> Request {
    let mut h = vec![(":method".to_string(), b"GET".to_vec()), (":path".to_string(), path.as_bytes().to_vec()), (":authority".to_string(), b"api.test".to_vec())];
    h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())));
    Request { headers: h, ..Default::default() }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn sets(d: &Decision) -> Vec<(String, String)> {
    match d {
        Decision::Allow { edits, .. } => edits.sets().cloned().collect(),
        other => panic!("not allowed: {other:?}"),
    }
}

fn header(d: &Decision, name: &str) -> Option<String> {
    sets(d).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn jwt_config() -> Config {
    config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {
            "orders": {"oauth_server": "s", "realm": "orders", "required_scopes": ["orders:read"], "hide_credentials": true},
            "open": {"public": true}
        },
        "routes": [{"path_prefix": "/open", "policy": "open"}],
        "default_policy": "orders"
    }))
}

#[test]
fn a_good_token_goes_upstream_with_its_identity_and_without_spoofed_headers() {
    let cfg = jwt_config();
    let t = sign("HS256", None, claims(json!({"sub": "alice", "scope": "orders:read"})));
    let d = decide(&cfg, &req("/orders", &[("authorization", &bearer(&t)), ("x-credential-sub", "mallory")]), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    assert!(edits.remove.contains(&"x-credential-sub".to_string()), "the spoofed header goes");
    assert!(edits.remove.contains(&"authorization".to_string()), "hide_credentials");
    assert_eq!(header(&d, "x-credential-sub").as_deref(), Some("alice"));
    assert_eq!(header(&d, "x-credential-scope").as_deref(), Some("orders:read"));
    let open = decide(&cfg, &req("/open/x", &[("x-consumer-id", "forged")]), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &open else { panic!("{open:?}") };
    assert_eq!(edits.remove, vec!["x-consumer-id".to_string()], "a public route strips spoofed headers too");
}

#[test]
fn identity_headers_spelled_with_underscores_are_stripped_too() {
    let cfg = jwt_config();
    let t = sign("HS256", None, claims(json!({"sub": "alice", "scope": "orders:read"})));
    let spoofed = [("x_credential_sub", "admin"), ("X_Consumer_Id", "c-1"), ("x-credential_scope", "all"), ("x_anonymous_consumer", "true")];
    let mut headers = vec![("authorization", bearer(&t))];
    headers.extend(spoofed.iter().map(|(k, v)| (*k, v.to_string())));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = decide(&cfg, &req("/orders", &pairs), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    for (name, _) in spoofed {
        assert!(edits.remove.contains(&name.to_string()), "{name} goes");
    }
    let open = decide(&cfg, &req("/open/x", &[("x_credential_sub", "admin"), ("x_forwarded_for", "kept")]), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &open else { panic!("{open:?}") };
    assert_eq!(edits.remove, vec!["x_credential_sub".to_string()], "on a public route too; other headers stay");
}

#[test]
fn refusals_carry_the_policy_realm_and_scope() {
    let cfg = jwt_config();
    let d = decide(&cfg, &req("/orders", &[]), NOW, &Fake::default());
    let Decision::Deny { denial, response } = d else { panic!() };
    assert_eq!((denial, response.status), (Denial::MissingToken, 401));
    assert!(response.headers.contains(&("www-authenticate".into(), "Bearer realm=\"orders\"".into())));
    let t = sign("HS256", None, claims(json!({"scope": "orders:write"})));
    let Decision::Deny { denial, response } = decide(&cfg, &req("/orders", &[("authorization", &bearer(&t))]), NOW, &Fake::default()) else { panic!() };
    assert_eq!((denial, response.status), (Denial::InsufficientScope, 403));
    assert!(response.headers.iter().any(|(k, v)| k == "www-authenticate" && v.contains("scope=\"orders:read\"")));
    let Decision::Deny { denial, .. } = decide(&cfg, &req("/orders", &[("authorization", "Bearer a.b.c")]), NOW, &Fake::default()) else { panic!() };
    assert_eq!(denial, Denial::Malformed);
}

fn remote_config() -> Config {
    config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt",
            "jwks_uri": {"uri": "http://idp.test/jwks", "cluster": "idp"}, "max_wait": "3s"}}},
        "policies": {"p": {"oauth_server": "s", "realm": "keys"}},
        "default_policy": "p"
    }))
}

fn hs_key() -> Vec<VerifyKey> {
    let jwks = json!({"keys": [{"kty": "oct", "alg": "HS256", "k": "aHMtc2VjcmV0LWZvci10ZXN0cw"}]});
    oauth_core::jwt::parse_jwks(&jwks).unwrap().keys
}

#[test]
fn missing_keys_make_a_wait_with_its_deadline_and_refusal() {
    let cfg = remote_config();
    let t = sign("HS256", None, claims(json!({"sub": "a"})));
    let r = req("/", &[("authorization", &bearer(&t))]);
    let Decision::Wait(w) = decide(&cfg, &r, NOW, &Fake::default()) else { panic!() };
    assert_eq!(w.on, WaitOn::Keys { server: 0, refetch: false });
    assert_eq!((w.max_wait_ms, w.denial, w.response.status), (3000, Denial::KeysUnavailable, 503));
    let Decision::Deny { denial, .. } = decide_again(&cfg, &r, NOW, &Fake::default(), None) else { panic!() };
    assert_eq!(denial, Denial::KeysUnavailable, "decided again, it never waits");
    let fake = Fake { fetched: Some(hs_key()), ..Fake::default() };
    assert!(matches!(decide_again(&cfg, &r, NOW, &fake, None), Decision::Allow { .. }));
}

#[test]
fn a_repeated_token_is_a_verdict_lookup_until_the_keys_change() {
    let cfg = remote_config();
    let t = sign("HS256", None, claims(json!({"sub": "a"})));
    let r = req("/", &[("authorization", &bearer(&t))]);
    let fake = Fake { fetched: Some(hs_key()), keys_version: Cell::new(1), may_refetch: true, ..Fake::default() };
    let first = decide(&cfg, &r, NOW, &fake);
    assert_eq!(header(&first, "x-credential-sub").as_deref(), Some("a"));
    // The keys are gone but their version is the same: the verdict holds, no check is made.
    let no_keys = Fake { fetched: Some(Vec::new()), keys_version: Cell::new(1), may_refetch: true, ..Fake::default() };
    assert_eq!(sets(&decide(&cfg, &r, NOW, &no_keys)), sets(&first));
    // New keys: the verdict is void and the token is checked again (its kid-less key is gone).
    no_keys.keys_version.set(2);
    let Decision::Wait(w) = decide(&cfg, &r, NOW, &no_keys) else { panic!() };
    assert_eq!(w.on, WaitOn::Keys { server: 0, refetch: true });
    // Never past exp.
    let late = NOW + 601;
    assert!(matches!(decide(&cfg, &r, late, &fake), Decision::Deny { denial: Denial::Expired, .. }));
}

fn introspection_config() -> Config {
    config(json!({
        "consumers": [{"id": "c-gw", "custom_id": "gateway"}],
        "oauth_servers": {"corp": {"token_strategy": {"name": "introspection", "settings": {
            "introspection_url": "http://idp.test/introspect", "cluster": "idp", "ttl": 60, "timeout": 2000}}}},
        "policies": {"p": {"oauth_server": "corp", "realm": "corp", "consumer_by": "client_id"}},
        "default_policy": "p"
    }))
}

#[test]
fn introspection_misses_claim_a_call_and_its_answer_is_fed_straight_in() {
    let cfg = introspection_config();
    let r = req("/", &[("authorization", "Bearer opaque-1")]);
    let fake = Fake::default();
    let Decision::Wait(w) = decide(&cfg, &r, NOW, &fake) else { panic!() };
    let WaitOn::Introspection { server, claim } = &w.on else { panic!() };
    assert_eq!((*server, w.denial, w.response.status), (0, Denial::IdpUnavailable, 503));
    assert_eq!(claim.call.cluster, "idp");
    assert_eq!(claim.call.body.as_deref(), Some(&b"token=opaque-1"[..]));
    assert!(!claim.slot.key.contains("opaque-1") && !claim.slot.hash.contains("opaque-1"));
    assert_eq!(*fake.events.borrow(), vec![Event::IntrospectionMiss]);
    // The answer arrives: decided with it, not with the (still empty) cache, and not counted again.
    let rules = cfg.introspection(0).unwrap();
    let digested = rules.digest(&claim.slot.hash, 200, br#"{"active": true, "client_id": "gateway", "sub": "svc"}"#, NOW, None);
    let answered = Answered { server: 0, lookup: digested.lookup.clone() };
    let d = decide_again(&cfg, &r, NOW, &fake, Some(&answered));
    assert_eq!(header(&d, "x-credential-sub").as_deref(), Some("svc"));
    assert_eq!(header(&d, "x-consumer-id").as_deref(), Some("c-gw"));
    assert_eq!(fake.events.borrow().len(), 1);
    // The same token again on this worker: a verdict hit, counted as a cache hit.
    assert_eq!(sets(&decide(&cfg, &r, NOW, &fake)), sets(&d));
    assert_eq!(*fake.events.borrow(), vec![Event::IntrospectionMiss, Event::IntrospectionHit]);
    // Another worker (fresh verdicts) finds the answer in shared data.
    let other_cfg = introspection_config();
    let other = Fake::default();
    other.slots.borrow_mut().insert(claim.slot.key.clone(), digested.store.clone());
    assert_eq!(sets(&decide(&other_cfg, &r, NOW, &other)), sets(&d));
    assert_eq!(*other.events.borrow(), vec![Event::IntrospectionHit]);
    // An inactive answer: 401; a failed one: 503.
    let inactive = Answered { server: 0, lookup: Lookup::Inactive };
    assert!(matches!(decide_again(&cfg, &req("/", &[("authorization", "Bearer x")]), NOW, &fake, Some(&inactive)),
        Decision::Deny { denial: Denial::Inactive, .. }));
    let failed = Answered { server: 0, lookup: Lookup::Failed };
    assert!(matches!(decide_again(&cfg, &req("/", &[("authorization", "Bearer y")]), NOW, &fake, Some(&failed)),
        Decision::Deny { denial: Denial::IdpUnavailable, .. }));
}

#[test]
fn an_introspection_hit_past_its_lifetime_is_not_reused() {
    let cfg = introspection_config();
    let r = req("/", &[("authorization", "Bearer opaque-2")]);
    let id = Identity::new(json!({"active": true, "sub": "s"}).as_object().cloned().unwrap());
    let answered = Answered { server: 0, lookup: Lookup::Hit(id, NOW + 5) };
    assert!(matches!(decide_again(&cfg, &r, NOW, &Fake::default(), Some(&answered)), Decision::Allow { .. }));
    let fake = Fake::default();
    assert!(matches!(decide(&cfg, &r, NOW + 3, &fake), Decision::Allow { .. }), "within the answer's lifetime");
    assert!(matches!(decide(&cfg, &r, NOW + 6, &fake), Decision::Wait(_)), "past it: asked again");
}

#[test]
fn the_upstream_token_is_waited_for_then_sent() {
    let cfg = config(json!({
        "policies": {"p": {"public": true, "realm": "cc", "upstream_client_credentials": {
            "client_id": "gw", "client_secret": "s3cret", "token_url": "http://idp.test/token", "cluster": "idp"}}},
        "default_policy": "p"
    }));
    let r = req("/", &[]);
    let Decision::Wait(w) = decide(&cfg, &r, NOW, &Fake::default()) else { panic!() };
    assert_eq!((w.on, w.denial), (WaitOn::UpstreamToken { policy: 0 }, Denial::UpstreamTokenUnavailable));
    assert!(w.response.headers.iter().all(|(_, v)| !v.contains("s3cret")));
    let fake = Fake { upstream: Some(("up-token".into(), 4)), ..Fake::default() };
    let d = decide(&cfg, &r, NOW, &fake);
    assert_eq!(header(&d, "authorization").as_deref(), Some("Bearer up-token"));
    let Decision::Allow { edits, .. } = d else { panic!() };
    assert_eq!(edits.upstream_token_version, Some(4));
}

#[test]
fn anonymous_goes_on_for_401_only() {
    let cfg = config(json!({
        "consumers": [{"id": "anon", "username": "anonymous"}],
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {"p": {"oauth_server": "s", "anonymous": "anon", "required_scopes": ["x"]}},
        "default_policy": "p"
    }));
    let d = decide(&cfg, &req("/", &[]), NOW, &Fake::default());
    assert_eq!(header(&d, "x-consumer-id").as_deref(), Some("anon"));
    assert_eq!(header(&d, "x-anonymous-consumer").as_deref(), Some("true"));
    let t = sign("HS256", None, claims(json!({"scope": "y"})));
    assert!(matches!(decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), NOW, &Fake::default()),
        Decision::Deny { denial: Denial::InsufficientScope, .. }));
}

#[test]
fn claim_rules_roles_and_scope_matcher_after_authentication() {
    let cfg = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {"p": {
            "oauth_server": "s", "realm": "api",
            "required_scopes": ["a", "b"], "scopes_matcher": "any",
            "roles": ["admin", "ops"], "roles_key": "realm_access.roles", "roles_key_is_nested": true,
            "access_rules": [
                {"predicate": "country == 'de'", "action": "deny"},
                {"when": {"claim": "plan", "one_of": ["pro", "team"]}, "action": "allow"}
            ]
        }},
        "default_policy": "p"
    }));
    let ask = |extra: Value| {
        let mut c = json!({"scope": "b", "realm_access": {"roles": ["ops"]}, "plan": "pro", "country": "fr"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        let t = sign("HS256", None, claims(c));
        decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), NOW, &Fake::default())
    };
    assert!(matches!(ask(json!({})), Decision::Allow { .. }), "any one scope, one role, an allow rule");
    for (extra, want, code) in [
        (json!({"scope": "c"}), Denial::InsufficientScope, "insufficient_scope"),
        (json!({"realm_access": {"roles": ["user"]}}), Denial::MissingRole, "access_denied"),
        (json!({"country": "de"}), Denial::RuleDenied, "access_denied"),
        (json!({"plan": "free"}), Denial::RuleDenied, "access_denied"),
    ] {
        let Decision::Deny { denial, response } = ask(extra.clone()) else { panic!("{extra} let through") };
        assert_eq!(denial, want, "{extra}");
        assert_eq!(response.status, 403);
        let challenge = response.headers.iter().find(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone()).unwrap();
        assert!(challenge.starts_with("Bearer realm=\"api\"") && challenge.contains(&format!("error=\"{code}\"")), "{challenge}");
    }
    assert_ne!(Denial::MissingRole.metric(), Denial::RuleDenied.metric());
}

#[test]
fn allow_missing_and_allow_missing_or_failed() {
    let cfg = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {
            "strict": {"oauth_server": "s"},
            "missing": {"oauth_server": "s", "allow_missing": true, "required_scopes": ["a"]},
            "failed": {"oauth_server": "s", "allow_missing_or_failed": true}
        },
        "routes": [{"path_prefix": "/missing", "policy": "missing"}, {"path_prefix": "/failed", "policy": "failed"}],
        "default_policy": "strict"
    }));
    let good = bearer(&sign("HS256", None, claims(json!({"sub": "alice", "scope": "a"}))));
    let mut expired = claims(json!({"sub": "alice"}));
    expired.expires_at = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(NOW - 100));
    let bad = bearer(&sign("HS256", None, expired));
    let ask = |path: &str, auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a), ("x-credential-sub", "mallory")]).unwrap_or(vec![("x-credential-sub", "mallory")]);
        decide(&cfg, &req(path, &headers), NOW, &Fake::default())
    };
    let anonymous = |d: &Decision| matches!(d, Decision::Allow { edits, .. }
        if edits.sets().any(|(k, v)| k == "x-anonymous-consumer" && v == "true") && edits.remove.iter().any(|h| h == "x-credential-sub")
            && !edits.sets().any(|(k, _)| k.starts_with("x-credential-")));
    assert!(matches!(ask("/", None), Decision::Deny { denial: Denial::MissingToken, .. }));
    assert!(anonymous(&ask("/missing", None)), "no token: on, anonymous, the spoofed header removed");
    assert!(matches!(ask("/missing", Some(&bad)), Decision::Deny { denial: Denial::Expired, .. }), "a bad token is still refused");
    assert_eq!(header(&ask("/missing", Some(&good)), "x-credential-sub").as_deref(), Some("alice"));
    assert!(anonymous(&ask("/failed", None)));
    assert!(anonymous(&ask("/failed", Some(&bad))), "a failed token: on, anonymous");
    assert_eq!(header(&ask("/failed", Some(&good)), "x-credential-sub").as_deref(), Some("alice"));
}

#[test]
fn filter_state_and_the_verified_payload() {
    use base64::Engine;
    let cfg = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {
            "p": {"oauth_server": "s", "filter_state": true, "filter_state_claims": ["email"], "forward_payload_header": "x-jwt-payload"},
            "open": {"public": true}
        },
        "routes": [{"path_prefix": "/open", "policy": "open"}],
        "default_policy": "p"
    }));
    let t = sign("HS256", None, claims(json!({"sub": "alice", "iss": "https://idp", "scope": "a b", "email": "a@x", "client_id": "app"})));
    let d = decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    let state: Vec<(String, String)> = edits.state().cloned().collect();
    assert_eq!(state, [("oauth_filter.sub", "alice"), ("oauth_filter.iss", "https://idp"), ("oauth_filter.client_id", "app"),
        ("oauth_filter.scope", "a b"), ("oauth_filter.claims.email", "a@x")].map(|(k, v)| (k.to_string(), v.to_string())));
    let payload = header(&d, "x-jwt-payload").unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["email"].as_str()), (Some("alice"), Some("a@x")));
    // A client's own payload header never reaches the upstream, on a public route either.
    let d = decide(&cfg, &req("/open", &[("x-jwt-payload", "eyJzdWIiOiJyb290In0")]), NOW, &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    assert!(edits.remove.iter().any(|h| h == "x-jwt-payload") && edits.state().next().is_none());
}

#[test]
fn krakend_martian_headers_go_upstream_and_is_disabled_turns_the_token_off() {
    // The block as the KrakenD seed writes it.
    let martian = json!({"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": false, "modifiers": [
        {"header.Modifier": {"scope": ["request"], "name": "Accept", "value": "application/json"}}]}});
    let cfg = config(json!({
        "policies": {"p": {"public": true, "github.com/devopsfaith/krakend-martian": martian,
            "upstream_client_credentials": {"client_id": "c", "client_secret": "s", "token_url": "http://idp/token", "cluster": "idp", "is_disabled": true}}},
        "default_policy": "p"
    }));
    let d = decide(&cfg, &req("/", &[]), NOW, &Fake::default());
    assert_eq!(header(&d, "accept").as_deref(), Some("application/json"));
    assert_eq!(header(&d, "authorization"), None, "disabled: no token waited for or sent");
    assert!(cfg.policies[0].client_credentials.is_none());
}

#[test]
fn otoroshi_error_shape_per_policy() {
    let cfg = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {"p": {"oauth_server": "s", "realm": "api", "error_format": "otoroshi"}},
        "default_policy": "p"
    }));
    let Decision::Deny { response, .. } = decide(&cfg, &req("/", &[]), NOW, &Fake::default()) else { panic!() };
    assert_eq!(response.status, 401);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body, json!({"Otoroshi-Error": "no access token in the request"}));
    assert!(response.headers.iter().any(|(k, v)| k == "www-authenticate" && v == "Bearer realm=\"api\""), "the challenge stays");
}
