//! `decide` natively, against a fake worker state: waits with their deadline and refusal,
//! answers fed straight in, the verdict cache, metrics events, filter state. What a policy does
//! with one request (outcome, challenge, upstream headers) is the scenario table
//! (core/tests/table/policies.json), run here and through the .wasm.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{claims, sign, NOW};
use oauth_core::decision::authenticate::Answered;
use oauth_core::idp::introspection::{Lookup, Slot, SlotKey};
use oauth_core::jwt::VerifyKey;
use oauth_core::{decide, decide_again, Config, Decision, Denial, Event, Identity, Now, Request, WaitOn, WorkerState};
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
    Request { headers: h.into(), ..Default::default() }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn sets(d: &Decision) -> Vec<(String, String)> {
    match d {
        Decision::Allow { edits, .. } => edits.sets().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        other => panic!("not allowed: {other:?}"),
    }
}

fn header(d: &Decision, name: &str) -> Option<String> {
    sets(d).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
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
    let Decision::Wait(w) = decide(&cfg, &r, &Now::fixed(NOW), &Fake::default()) else { panic!() };
    assert_eq!(w.on, WaitOn::Keys { server: 0, refetch: false });
    assert_eq!((w.max_wait_ms, w.denial, w.response.status), (3000, Denial::KeysUnavailable, 503));
    let Decision::Deny { denial, .. } = decide_again(&cfg, &r, &Now::fixed(NOW), &Fake::default(), None) else { panic!() };
    assert_eq!(denial, Denial::KeysUnavailable, "decided again, it never waits");
    let fake = Fake { fetched: Some(hs_key()), ..Fake::default() };
    assert!(matches!(decide_again(&cfg, &r, &Now::fixed(NOW), &fake, None), Decision::Allow { .. }));
}

#[test]
fn a_repeated_token_is_a_verdict_lookup_until_the_keys_change() {
    let cfg = remote_config();
    let t = sign("HS256", None, claims(json!({"sub": "a"})));
    let r = req("/", &[("authorization", &bearer(&t))]);
    let fake = Fake { fetched: Some(hs_key()), keys_version: Cell::new(1), may_refetch: true, ..Fake::default() };
    let first = decide(&cfg, &r, &Now::fixed(NOW), &fake);
    assert_eq!(header(&first, "x-credential-sub").as_deref(), Some("a"));
    // The keys are gone but their version is the same: the verdict holds, no check is made.
    let no_keys = Fake { fetched: Some(Vec::new()), keys_version: Cell::new(1), may_refetch: true, ..Fake::default() };
    assert_eq!(sets(&decide(&cfg, &r, &Now::fixed(NOW), &no_keys)), sets(&first));
    // New keys: the verdict is void and the token is checked again (its kid-less key is gone).
    no_keys.keys_version.set(2);
    let Decision::Wait(w) = decide(&cfg, &r, &Now::fixed(NOW), &no_keys) else { panic!() };
    assert_eq!(w.on, WaitOn::Keys { server: 0, refetch: true });
    // Never past exp.
    let late = NOW + 601;
    assert!(matches!(decide(&cfg, &r, &Now::fixed(late), &fake), Decision::Deny { denial: Denial::Expired, .. }));
}

#[test]
fn the_clock_is_read_only_when_the_decision_needs_the_time() {
    let cfg = config(json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}]}}},
        "policies": {"p": {"oauth_server": "s"}, "open": {"public": true}},
        "routes": [{"path_prefix": "/open", "policy": "open"}],
        "default_policy": "p"
    }));
    let reads = Cell::new(0);
    let read = || {
        reads.set(reads.get() + 1);
        NOW
    };
    // A public route: decided without the time.
    let now = Now::lazy(&read);
    assert!(matches!(decide(&cfg, &req("/open", &[]), &now, &Fake::default()), Decision::Allow { .. }));
    assert_eq!(reads.get(), 0);
    // A token: its times are checked, and a repeated one's verdict holds only until its exp.
    let r = req("/", &[("authorization", &bearer(&sign("HS256", None, claims(json!({"sub": "a"})))))]);
    for _ in 0..2 {
        let now = Now::lazy(&read);
        assert!(matches!(decide(&cfg, &r, &now, &Fake::default()), Decision::Allow { .. }));
    }
    assert_eq!(reads.get(), 2, "once per decision");
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
    let Decision::Wait(w) = decide(&cfg, &r, &Now::fixed(NOW), &fake) else { panic!() };
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
    let d = decide_again(&cfg, &r, &Now::fixed(NOW), &fake, Some(&answered));
    assert_eq!(header(&d, "x-credential-sub").as_deref(), Some("svc"));
    assert_eq!(header(&d, "x-consumer-id").as_deref(), Some("c-gw"));
    assert_eq!(fake.events.borrow().len(), 1);
    // The same token again on this worker: a verdict hit, counted as a cache hit.
    assert_eq!(sets(&decide(&cfg, &r, &Now::fixed(NOW), &fake)), sets(&d));
    assert_eq!(*fake.events.borrow(), vec![Event::IntrospectionMiss, Event::IntrospectionHit]);
    // Another worker (fresh verdicts) finds the answer in shared data.
    let other_cfg = introspection_config();
    let other = Fake::default();
    other.slots.borrow_mut().insert(claim.slot.key.clone(), digested.store.clone());
    assert_eq!(sets(&decide(&other_cfg, &r, &Now::fixed(NOW), &other)), sets(&d));
    assert_eq!(*other.events.borrow(), vec![Event::IntrospectionHit]);
    // An inactive answer: 401; a failed one: 503.
    let inactive = Answered { server: 0, lookup: Lookup::Inactive };
    assert!(matches!(decide_again(&cfg, &req("/", &[("authorization", "Bearer x")]), &Now::fixed(NOW), &fake, Some(&inactive)),
        Decision::Deny { denial: Denial::Inactive, .. }));
    let failed = Answered { server: 0, lookup: Lookup::Failed };
    assert!(matches!(decide_again(&cfg, &req("/", &[("authorization", "Bearer y")]), &Now::fixed(NOW), &fake, Some(&failed)),
        Decision::Deny { denial: Denial::IdpUnavailable, .. }));
}

#[test]
fn an_introspection_hit_past_its_lifetime_is_not_reused() {
    let cfg = introspection_config();
    let r = req("/", &[("authorization", "Bearer opaque-2")]);
    let id = Identity::new(json!({"active": true, "sub": "s"}).as_object().cloned().unwrap());
    let answered = Answered { server: 0, lookup: Lookup::Hit(id, NOW + 5) };
    assert!(matches!(decide_again(&cfg, &r, &Now::fixed(NOW), &Fake::default(), Some(&answered)), Decision::Allow { .. }));
    let fake = Fake::default();
    assert!(matches!(decide(&cfg, &r, &Now::fixed(NOW + 3), &fake), Decision::Allow { .. }), "within the answer's lifetime");
    assert!(matches!(decide(&cfg, &r, &Now::fixed(NOW + 6), &fake), Decision::Wait(_)), "past it: asked again");
}

#[test]
fn the_upstream_token_is_waited_for_then_sent() {
    let cfg = config(json!({
        "policies": {"p": {"public": true, "realm": "cc", "upstream_client_credentials": {
            "client_id": "gw", "client_secret": "s3cret", "token_url": "http://idp.test/token", "cluster": "idp"}}},
        "default_policy": "p"
    }));
    let r = req("/", &[]);
    let Decision::Wait(w) = decide(&cfg, &r, &Now::fixed(NOW), &Fake::default()) else { panic!() };
    assert_eq!((w.on, w.denial), (WaitOn::UpstreamToken { policy: 0 }, Denial::UpstreamTokenUnavailable));
    assert!(w.response.headers.iter().all(|(_, v)| !v.contains("s3cret")));
    let fake = Fake { upstream: Some(("up-token".into(), 4)), ..Fake::default() };
    let d = decide(&cfg, &r, &Now::fixed(NOW), &fake);
    assert_eq!(header(&d, "authorization").as_deref(), Some("Bearer up-token"));
    let Decision::Allow { edits, .. } = d else { panic!() };
    assert_eq!(edits.upstream_token_version, Some(4));
}

#[test]
fn a_missing_role_and_a_denying_rule_are_counted_apart() {
    // Both are 403 access_denied (core/tests/table/policies.json); the metrics tell them apart.
    assert_ne!(Denial::MissingRole.metric(), Denial::RuleDenied.metric());
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
    let d = decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), &Now::fixed(NOW), &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    let state: Vec<(String, String)> = edits.state().cloned().collect();
    assert_eq!(state, [("oauth_filter.sub", "alice"), ("oauth_filter.iss", "https://idp"), ("oauth_filter.client_id", "app"),
        ("oauth_filter.scope", "a b"), ("oauth_filter.claims.email", "a@x")].map(|(k, v)| (k.to_string(), v.to_string())));
    let payload = header(&d, "x-jwt-payload").unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["email"].as_str()), (Some("alice"), Some("a@x")));
    // A client's own payload header never reaches the upstream, on a public route either.
    let d = decide(&cfg, &req("/open", &[("x-jwt-payload", "eyJzdWIiOiJyb290In0")]), &Now::fixed(NOW), &Fake::default());
    let Decision::Allow { edits, .. } = &d else { panic!("{d:?}") };
    assert!(edits.remove.iter().any(|h| h == "x-jwt-payload") && edits.state().next().is_none());
}


#[test]
fn a_repeated_token_found_the_quick_way_gets_what_reading_it_whole_gets() {
    let cfg = |hide: bool| {
        config(json!({"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": common::all_settings()}}},
            "policies": {"p": {"oauth_server": "s", "hide_credentials": hide}}, "default_policy": "p"}))
    };
    let (open, hiding) = (cfg(false), cfg(true));
    let t = sign("HS256", None, claims(json!({"sub": "a"})));
    let b = bearer(&t);
    let allowed = sets(&decide(&open, &req("/", &[("authorization", &b)]), &Now::fixed(NOW), &Fake::default()));
    // Whitespace around the scheme and the token, any case of the scheme: the same token.
    for v in [format!("bearer \t{t}  "), format!(" BEARER {t}\r\n"), format!("Bearer {t}\u{a0}")] {
        assert_eq!(sets(&decide(&open, &req("/", &[("authorization", &v)]), &Now::fixed(NOW), &Fake::default())), allowed, "{v:?}");
    }
    // What reading the value whole refuses is refused with the token seen before.
    let denied = |headers: &[(&str, &str)]| match decide(&open, &req("/", headers), &Now::fixed(NOW), &Fake::default()) {
        Decision::Deny { denial, .. } => denial,
        other => panic!("{other:?}"),
    };
    assert_eq!(denied(&[("authorization", &b), ("authorization", &b)]), Denial::MultipleTokens);
    assert_eq!(denied(&[("authorization", &format!("{b},{b}"))]), Denial::MultipleTokens);
    assert_eq!(denied(&[("authorization", &format!("{b}\0"))]), Denial::Malformed);
    // A policy that hides the credential hides it from a repeated token too.
    for _ in 0..2 {
        let Decision::Allow { edits, .. } = decide(&hiding, &req("/", &[("authorization", &b)]), &Now::fixed(NOW), &Fake::default()) else { panic!() };
        assert!(edits.remove.iter().any(|h| h == "authorization"), "{:?}", edits.remove);
    }
}

#[test]
fn a_token_let_through_from_the_query_is_read_whole_when_it_comes_in_the_header() {
    // An introspecting policy reads the header and `?access_token=`. A token accepted from the
    // query may hold a comma; in the Authorization header a comma means two headers joined, so
    // the verdict on it is not used without reading the value (which refuses it).
    let cfg = introspection_config();
    let fake = Fake::default();
    let by_query = req("/?access_token=a%2Cb", &[]);
    let Decision::Wait(w) = decide(&cfg, &by_query, &Now::fixed(NOW), &fake) else { panic!() };
    let WaitOn::Introspection { claim, .. } = &w.on else { panic!() };
    let rules = cfg.introspection(0).unwrap();
    let digested = rules.digest(&claim.slot.hash, 200, br#"{"active": true, "sub": "svc"}"#, NOW, None);
    let answered = Answered { server: 0, lookup: digested.lookup };
    assert!(matches!(decide_again(&cfg, &by_query, &Now::fixed(NOW), &fake, Some(&answered)), Decision::Allow { .. }));
    assert!(matches!(decide(&cfg, &by_query, &Now::fixed(NOW), &fake), Decision::Allow { .. }), "a verdict hit by the query");
    let by_header = req("/", &[("authorization", "Bearer a,b")]);
    assert!(matches!(decide(&cfg, &by_header, &Now::fixed(NOW), &fake), Decision::Deny { denial: Denial::MultipleTokens, .. }));
    // A token let through from the header: the same answer with or without a query string.
    let r = req("/", &[("authorization", "Bearer opaque-3")]);
    let Decision::Wait(w) = decide(&cfg, &r, &Now::fixed(NOW), &fake) else { panic!() };
    let WaitOn::Introspection { claim, .. } = &w.on else { panic!() };
    let digested = rules.digest(&claim.slot.hash, 200, br#"{"active": true, "sub": "svc"}"#, NOW, None);
    let first = decide_again(&cfg, &r, &Now::fixed(NOW), &fake, Some(&Answered { server: 0, lookup: digested.lookup }));
    assert_eq!(sets(&decide(&cfg, &r, &Now::fixed(NOW), &fake)), sets(&first));
    assert_eq!(sets(&decide(&cfg, &req("/x?q=1", &[("authorization", "Bearer opaque-3")]), &Now::fixed(NOW), &fake)), sets(&first));
    let both = req("/x?access_token=opaque-3", &[("authorization", "Bearer opaque-3")]);
    assert!(matches!(decide(&cfg, &both, &Now::fixed(NOW), &fake), Decision::Deny { denial: Denial::MultipleTokens, .. }));
}

#[test]
fn a_server_one_policy_uses_alone_keeps_its_tokens_in_that_policy_s_verdicts_only() {
    let server = json!({"token_strategy": {"name": "jwt", "jwks_uri": {"uri": "http://idp.test/jwks", "cluster": "idp"}}});
    let cfg = config(json!({
        "oauth_servers": {"alone": server, "shared": server, "paired": server},
        "policies": {
            "a": {"oauth_server": "alone"},
            "b": {"oauth_server": "shared"}, "c": {"oauth_server": "shared"},
            "d": {"oauth_servers": ["paired", "shared"]},
        },
        "routes": [{"path_prefix": "/b", "policy": "b"}, {"path_prefix": "/c", "policy": "c"}],
        "default_policy": "a"
    }));
    let cached = |name: &str| match cfg.servers.iter().find(|s| s.name == name).map(|s| &s.strategy) {
        Some(oauth_core::config::Strategy::Jwt(r)) => r.cache.is_on(),
        _ => panic!("{name}"),
    };
    assert_eq!((cached("alone"), cached("shared"), cached("paired")), (false, true, true));
    // A token checked under one policy of a shared server is not checked again under the other
    // while the keys keep their version (here: they are gone, and the token still passes).
    let t = sign("HS256", None, claims(json!({"sub": "a"})));
    let fake = Fake { fetched: Some(hs_key()), keys_version: Cell::new(1), ..Fake::default() };
    assert_eq!(header(&decide(&cfg, &req("/b", &[("authorization", &bearer(&t))]), &Now::fixed(NOW), &fake), "x-credential-sub").as_deref(), Some("a"));
    let no_keys = Fake { fetched: Some(Vec::new()), keys_version: Cell::new(1), ..Fake::default() };
    assert_eq!(header(&decide(&cfg, &req("/c", &[("authorization", &bearer(&t))]), &Now::fixed(NOW), &no_keys), "x-credential-sub").as_deref(), Some("a"));
    // A token of the server used alone: its policy's verdict answers it again.
    assert_eq!(header(&decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), &Now::fixed(NOW), &fake), "x-credential-sub").as_deref(), Some("a"));
    assert_eq!(header(&decide(&cfg, &req("/", &[("authorization", &bearer(&t))]), &Now::fixed(NOW), &no_keys), "x-credential-sub").as_deref(), Some("a"));
}
