//! RFC 7662 introspection with the oauth2-introspection plugin's parameters: the call, the
//! answer, upstream and consumer headers, the shared cache and single flight across workers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};
mod support;
use support::{paused, start};
use test_harness::{Host, Outcome, Request, Vm};

const NOW: u64 = 1_800_000_000;
const AUTH: &str = "Basic Z2F0ZXdheTpnYXRld2F5LXNlY3JldA==";

fn config(settings_extra: Value) -> String {
    let mut settings = json!({
        "introspection_url": "https://idp.test/oauth/introspect", "cluster": "idp",
        "authorization_value": AUTH, "token_type_hint": "access_token", "ttl": 60, "timeout": 2000,
        "introspect_request": true, "custom_introspection_headers": {"X-Tenant": "t1"}, "keepalive": 60000});
    for (k, v) in settings_extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    json!({
        "consumers": [{"id": "c-1", "custom_id": "app-1", "username": "alice"}, {"id": "anon", "username": "anonymous"}],
        "oauth_servers": {"corp": {"token_strategy": {"name": "introspection", "settings": settings}}},
        "policies": {
            "api": {"oauth_server": "corp", "custom_claims_forward": ["department"]},
            "anon": {"oauth_server": "corp", "anonymous": "anon"},
            "byclient": {"oauth_server": "corp", "consumer_by": "client_id", "hide_credentials": true},
            "cors": {"oauth_server": "corp", "run_on_preflight": false},
            "scoped": {"oauth_server": "corp", "required_scopes": ["orders:read"]},
            "ruled": {"oauth_server": "corp", "roles": ["admin"], "roles_key": "groups",
                      "access_rules": [{"predicate": "department in ('eng', 'ops') && client_id != 'legacy'", "action": "allow"}]}
        },
        "routes": [{"path_prefix": "/anon", "policy": "anon"}, {"path_prefix": "/byclient", "policy": "byclient"},
                   {"path_prefix": "/cors", "policy": "cors"}, {"path_prefix": "/scoped", "policy": "scoped"},
                   {"path_prefix": "/ruled", "policy": "ruled"}],
        "default_policy": "api"
    }).to_string()
}

fn active(extra: Value) -> Vec<u8> {
    let mut a = json!({"active": true, "sub": "alice", "username": "alice", "client_id": "app-1", "scope": "orders:read write",
        "exp": NOW + 3600, "iat": NOW, "nbf": NOW - 5, "token_type": "Bearer", "aud": "api", "iss": "https://idp.test",
        "jti": "j-1", "department": "eng"});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a.to_string().into_bytes()
}



/// Sends a request that misses the cache, answers its call, returns the outcome.
fn introspect(vm: &mut Vm, req: Request, status: u16, body: &[u8]) -> Outcome {
    let ctx = paused(&vm.send(req));
    let calls = vm.pending_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    vm.answer(calls[0].token, status, &[("content-type", "application/json")], body);
    vm.poll(ctx)
}

#[test]
fn the_call_is_an_rfc7662_form_post_with_the_plugins_headers() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    paused(&vm.send(Request::new("PUT", "/orders/7?x=1").bearer("opaque+token/1")));
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.timeout_ms, 2000);
    assert_eq!(String::from_utf8(call.body.clone()).unwrap(), "token=opaque%2Btoken%2F1&token_type_hint=access_token");
    for (k, v) in [(":method", "POST"), (":path", "/oauth/introspect"), (":authority", "idp.test"),
        ("content-type", "application/x-www-form-urlencoded"), ("authorization", AUTH), ("x-tenant", "t1"),
        ("x-request-path", "/orders/7"), ("x-request-http-method", "PUT")] {
        assert_eq!(call.header(k), Some(v), "{k}");
    }
}

#[test]
fn an_active_token_goes_upstream_with_credential_and_consumer_headers() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let req = Request::get("/orders").bearer("tok-1").header("x-consumer-id", "spoofed").header("x-credential-sub", "mallory");
    let out = introspect(&mut vm, req, 200, &active(json!({})));
    assert!(out.is_forwarded(), "{out:?}");
    for (h, v) in [("x-credential-scope", "orders:read write"), ("x-credential-client-id", "app-1"), ("x-credential-username", "alice"),
        ("x-credential-token-type", "Bearer"), ("x-credential-exp", &(NOW + 3600).to_string()), ("x-credential-iat", &NOW.to_string()),
        ("x-credential-nbf", &(NOW - 5).to_string()), ("x-credential-sub", "alice"), ("x-credential-aud", "api"),
        ("x-credential-iss", "https://idp.test"), ("x-credential-jti", "j-1"), ("x-credential-department", "eng"),
        ("x-consumer-id", "c-1"), ("x-consumer-custom-id", "app-1"), ("x-consumer-username", "alice")] {
        assert_eq!(out.upstream(h).as_deref(), Some(v), "{h}");
        assert_eq!(out.upstream_count(h), 1, "{h}");
    }
    assert_eq!(out.upstream("authorization").as_deref(), Some("Bearer tok-1"));
    let logs = vm.log_text();
    assert!(!logs.contains("tok-1") && !logs.contains(AUTH), "no token or secret in the log");
}

#[test]
fn answers_are_cached_for_min_ttl_and_exp() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    assert!(introspect(&mut vm, Request::get("/").bearer("t1"), 200, &active(json!({}))).is_forwarded());
    host.clock.advance_secs(59);
    assert!(vm.send(Request::get("/").bearer("t1")).is_forwarded(), "a hit: no call");
    assert_eq!(vm.calls().len(), 1);
    host.clock.advance_secs(1);
    assert!(introspect(&mut vm, Request::get("/").bearer("t1"), 200, &active(json!({}))).is_forwarded(), "ttl over: a new call");
    // exp sooner than ttl: the entry lives until exp.
    let t0 = host.clock.secs();
    assert!(introspect(&mut vm, Request::get("/").bearer("t2"), 200, &active(json!({"exp": t0 + 10}))).is_forwarded());
    host.clock.advance_secs(9);
    assert!(vm.send(Request::get("/").bearer("t2")).is_forwarded());
    host.clock.advance_secs(1);
    paused(&vm.send(Request::get("/").bearer("t2")));
}

#[test]
fn ttl_zero_means_until_exp() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"ttl": 0})));
    assert!(introspect(&mut vm, Request::get("/").bearer("t"), 200, &active(json!({"exp": NOW + 500}))).is_forwarded());
    host.clock.advance_secs(499);
    assert!(vm.send(Request::get("/").bearer("t")).is_forwarded());
    assert_eq!(vm.calls().len(), 1);
}

#[test]
fn inactive_and_out_of_date_answers_are_401() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"negative_ttl": 0})));
    let out = introspect(&mut vm, Request::get("/").bearer("dead"), 200, br#"{"active": false}"#);
    assert_eq!(out.status(), 401);
    assert!(out.reply_header("www-authenticate").unwrap().contains("error=\"invalid_token\", error_description=\"the access token is not active\""));
    host.clock.advance_secs(2);
    assert_eq!(introspect(&mut vm, Request::get("/").bearer("dead"), 200, br#"{"active": false}"#).status(), 401,
        "not cached with negative_ttl 0: a new call");
    let out = introspect(&mut vm, Request::get("/").bearer("old"), 200, &active(json!({"exp": NOW - 1})));
    assert_eq!(out.status(), 401);
    let out = introspect(&mut vm, Request::get("/").bearer("future"), 200, &active(json!({"nbf": NOW + 100})));
    assert_eq!(out.status(), 401);
}

#[test]
fn negative_ttl_caches_inactive_answers() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"negative_ttl": 30})));
    assert_eq!(introspect(&mut vm, Request::get("/").bearer("dead"), 200, br#"{"active": false}"#).status(), 401);
    host.clock.advance_secs(29);
    assert_eq!(vm.send(Request::get("/").bearer("dead")).status(), 401);
    assert_eq!(vm.calls().len(), 1);
}

#[test]
fn an_idp_that_cannot_answer_means_503_never_200() {
    for (status, body) in [(500u16, &b"{}"[..]), (200, b"not json"), (200, b"{\"active\": \"yes\"}"), (401, b"{\"error\":\"invalid_client\"}")] {
        let host = Host::at(NOW);
        let mut vm = start(&host, &config(json!({})));
        let out = introspect(&mut vm, Request::get("/anon").bearer("t"), status, body);
        assert_eq!(out.status(), 503, "{status}");
        assert_eq!(out.reply_json()["error"], "temporarily_unavailable");
    }
    // No answer at all (timeout, reset), the one retry included.
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let ctx = paused(&vm.send(Request::get("/").bearer("t")));
    for _ in 0..2 {
        let t = vm.pending_calls()[0].token;
        vm.fail_call(t);
    }
    assert_eq!(vm.poll(ctx).status(), 503);
    // An unknown cluster: Envoy refuses the call.
    let host = Host::at(NOW);
    let mut vm = host.vm(&config(json!({"cluster": "nowhere"}))).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    vm_refuse_cluster(&mut vm, "nowhere");
    assert_eq!(vm.send(Request::get("/").bearer("t")).status(), 503);
}

fn vm_refuse_cluster(vm: &mut Vm, cluster: &str) {
    vm.refuse_cluster(cluster);
}

#[test]
fn one_call_per_miss_across_workers() {
    let host = Host::at(NOW);
    let cfg = config(json!({}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    let a1 = paused(&a.send(Request::get("/").bearer("shared")));
    let a2 = paused(&a.send(Request::get("/").bearer("shared")));
    let b1 = paused(&b.send(Request::get("/").bearer("shared")));
    assert_eq!(a.calls().len() + b.calls().len(), 1, "one call for three requests on two workers");
    let t = a.pending_calls()[0].token;
    a.answer(t, 200, &[], &active(json!({})));
    assert!(a.poll(a1).is_forwarded());
    assert!(a.poll(a2).is_forwarded(), "a waiter on the same worker resumes with the answer");
    paused(&b.poll(b1));
    b.tick();
    let out = b.poll(b1);
    assert!(out.is_forwarded(), "the other worker learns of it on its tick: {out:?}");
    assert_eq!(out.upstream("x-credential-sub").as_deref(), Some("alice"));
}

#[test]
fn waiters_get_503_when_the_call_fails_or_takes_too_long() {
    let host = Host::at(NOW);
    let cfg = config(json!({}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    paused(&a.send(Request::get("/").bearer("slow")));
    let b1 = paused(&b.send(Request::get("/").bearer("slow")));
    host.clock.advance_millis(3000); // timeout 2 s + 1 s
    b.tick();
    assert_eq!(b.poll(b1).status(), 503);
}

#[test]
fn anonymous_consumer_on_failure() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let out = introspect(&mut vm, Request::get("/anon").bearer("dead").header("x-credential-sub", "mallory"), 200, br#"{"active": false}"#);
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream("x-consumer-id").as_deref(), Some("anon"));
    assert_eq!(out.upstream("x-consumer-username").as_deref(), Some("anonymous"));
    assert_eq!(out.upstream("x-anonymous-consumer").as_deref(), Some("true"));
    assert_eq!(out.upstream("x-credential-sub"), None);
    let out = vm.send(Request::get("/anon"));
    assert_eq!(out.upstream("x-anonymous-consumer").as_deref(), Some("true"));
}

#[test]
fn consumer_by_client_id_and_hide_credentials() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let out = introspect(&mut vm, Request::get("/byclient").bearer("t"), 200, &active(json!({"username": "someone-else"})));
    assert_eq!(out.upstream("x-consumer-id").as_deref(), Some("c-1"));
    assert_eq!(out.upstream("authorization"), None);
}

#[test]
fn preflight_passes_when_run_on_preflight_is_false() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let pre = |path: &str| Request::new("OPTIONS", path).header("origin", "https://app.test").header("access-control-request-method", "POST");
    assert!(vm.send(pre("/cors/x")).is_forwarded());
    assert_eq!(vm.send(pre("/x")).status(), 401, "run_on_preflight defaults to true");
    assert!(vm.send(Request::new("OPTIONS", "/cors/x")).is_forwarded(), "every OPTIONS, as Kong skips them");
    assert_eq!(vm.send(Request::new("GET", "/cors/x")).status(), 401);
    assert!(vm.calls().is_empty());
}

#[test]
fn required_scopes_and_bad_config() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    assert!(introspect(&mut vm, Request::get("/scoped").bearer("a"), 200, &active(json!({}))).is_forwarded());
    let out = introspect(&mut vm, Request::get("/scoped").bearer("b"), 200, &active(json!({"scope": "write"})));
    assert_eq!(out.status(), 403);
    let bad = host.vm(&config(json!({"introspection_url": "not a url"}))).err().unwrap();
    assert!(bad.log_text().contains("settings.introspection_url"));
    let bad = host.vm(&config(json!({"ttl": "x"}))).err().unwrap();
    assert!(bad.log_text().contains("settings.ttl"));
    assert!(!bad.log_text().contains(AUTH));
}

#[test]
fn a_waiting_request_with_a_body_stays_paused_until_decided() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let out = vm.send(Request::new("POST", "/orders").bearer("tok").header("content-type", "application/json").body(r#"{"a":1}"#));
    let ctx = paused(&out);
    let t = vm.pending_calls()[0].token;
    vm.answer(t, 200, &[], br#"{"active": false}"#);
    assert_eq!(vm.poll(ctx).status(), 401, "the body never let the request through");
}

#[test]
fn roles_and_access_rules_apply_to_the_introspection_answer() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let out = introspect(&mut vm, Request::get("/ruled").bearer("tok-ok"), 200, &active(json!({"groups": ["dev", "admin"]})));
    assert!(out.is_forwarded(), "{out:?}");
    let cases = [
        ("tok-norole", json!({"groups": ["dev"]}), "the token holds none of the required roles"),
        ("tok-dept", json!({"groups": ["admin"], "department": "sales"}), "the token's claims are not allowed here"),
        ("tok-legacy", json!({"groups": ["admin"], "client_id": "legacy"}), "the token's claims are not allowed here"),
    ];
    for (token, claims, why) in cases {
        let out = introspect(&mut vm, Request::get("/ruled").bearer(token), 200, &active(claims));
        assert_eq!(out.status(), 403, "{token}");
        let challenge = out.reply_header("www-authenticate").unwrap();
        assert!(challenge.contains("error=\"access_denied\"") && challenge.contains(why), "{challenge}");
    }
    vm.tick(); // counters reach the host on the tick
    assert_eq!(vm.metric("oauth_filter.denied.missing_role"), Some(1));
    assert_eq!(vm.metric("oauth_filter.denied.rule_denied"), Some(2));
    // A refused token stays refused from the cache, without a second call.
    let out = vm.send(Request::get("/ruled").bearer("tok-dept"));
    assert_eq!(out.status(), 403);
    assert!(vm.pending_calls().is_empty());
}

#[test]
fn an_introspected_identity_goes_to_filter_state_and_the_payload_header() {
    let host = Host::at(NOW);
    let mut cfg: Value = serde_json::from_str(&config(json!({}))).unwrap();
    cfg["policies"]["api"]["filter_state"] = json!(true);
    cfg["policies"]["api"]["filter_state_claims"] = json!(["department"]);
    cfg["policies"]["api"]["forward_payload_header"] = json!("x-token-payload");
    let mut vm = start(&host, &cfg.to_string());
    let out = introspect(&mut vm, Request::get("/orders").bearer("tok-s").header("x-token-payload", "forged"), 200, &active(json!({})));
    assert!(out.is_forwarded(), "{out:?}");
    for (k, v) in [("oauth_filter.sub", "alice"), ("oauth_filter.client_id", "app-1"), ("oauth_filter.scope", "orders:read write"),
        ("oauth_filter.iss", "https://idp.test"), ("oauth_filter.claims.department", "eng")] {
        assert_eq!(vm.property_set(k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(out.upstream_count("x-token-payload"), 1);
    assert_ne!(out.upstream("x-token-payload").as_deref(), Some("forged"));
}

#[test]
fn the_token_may_come_in_the_access_token_query_parameter_as_kong_takes_it() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let out = introspect(&mut vm, Request::get("/byclient/x?access_token=tok-q&page=2"), 200, &active(json!({})));
    assert!(out.is_forwarded(), "{out:?}");
    assert_eq!(out.upstream(":path").as_deref(), Some("/byclient/x?page=2"), "hide_credentials takes it out of the query");
    let out = vm.send(Request::get("/x?access_token=tok-q").bearer("tok-h"));
    assert_eq!(out.status(), 400, "two tokens");
}

#[test]
fn a_429_stops_calls_on_every_worker_until_retry_after() {
    let host = Host::at(NOW);
    let mut a = start(&host, &config(json!({})));
    let mut b = start(&host, &config(json!({})));
    let out = introspect(&mut a, Request::get("/").bearer("t1"), 429, b"");
    assert_eq!(out.status(), 503);
    let calls = a.calls().len();
    for vm in [&mut a, &mut b] {
        for token in ["t2", "t3"] {
            let out = vm.send(Request::get("/").bearer(token));
            assert_eq!(out.status(), 503, "{out:?}");
        }
    }
    assert_eq!(a.calls().len() + b.calls().len(), calls, "no call while the server asked for a pause");
    host.clock.advance_secs(1);
    assert!(introspect(&mut b, Request::get("/").bearer("t2"), 200, &active(json!({}))).is_forwarded(), "then calls again");
}

#[test]
fn a_call_that_fails_to_connect_is_made_once_more() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({})));
    let ctx = paused(&vm.send(Request::get("/").bearer("t1")));
    let first = vm.pending_calls()[0].token;
    paused(&vm.fail_call(first));
    let retry = vm.pending_calls();
    assert_eq!(retry.len(), 1, "one more call: {retry:?}");
    vm.answer(retry[0].token, 200, &[], &active(json!({})));
    assert!(vm.poll(ctx).is_forwarded());
    // Both attempts fail: 503, and no third call.
    let ctx = paused(&vm.send(Request::get("/").bearer("t2")));
    let first = vm.pending_calls()[0].token;
    vm.fail_call(first);
    let second = vm.pending_calls()[0].token;
    vm.fail_call(second);
    assert_eq!(vm.poll(ctx).status(), 503);
    assert!(vm.pending_calls().is_empty());
    // A call that timed out (the full timeout passed) is not repeated.
    let ctx = paused(&vm.send(Request::get("/").bearer("t3")));
    let first = vm.pending_calls()[0].token;
    host.clock.advance_millis(2000);
    vm.fail_call(first);
    assert!(vm.pending_calls().is_empty());
    assert_eq!(vm.poll(ctx).status(), 503);
}

#[test]
fn private_key_jwt_authenticates_the_introspection_call() {
    use jwt_simple::prelude::*;
    let key = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/rsa.key")).unwrap();
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"authorization_value": null, "client_id": "gateway-jwt",
        "client_assertion_key": {"alg": "RS256", "private_key": key}})));
    paused(&vm.send(Request::get("/").bearer("t1")));
    let call = vm.pending_calls()[0].clone();
    assert_eq!(call.header("authorization"), None);
    let body = String::from_utf8(call.body).unwrap();
    assert!(body.starts_with("token=t1&token_type_hint=access_token&client_id=gateway-jwt&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="), "{body}");
    let assertion = body.rsplit("client_assertion=").next().unwrap();
    let public = RS256PublicKey::from_pem(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/rsa.pub")).unwrap()).unwrap();
    let opts = VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(NOW)), ..Default::default() };
    let claims = public.verify_token::<NoCustomClaims>(assertion, Some(opts)).unwrap();
    assert!(claims.audiences.unwrap().contains(&["https://idp.test/oauth/introspect".to_string()].into_iter().collect()));
    assert_eq!(Token::decode_metadata(assertion).unwrap().key_id(), None, "no kid configured, none sent");
}

#[test]
fn new_tokens_never_evict_a_good_tokens_answer() {
    // One slot for every token: each new token falls on the good token's answer. Worker b has
    // no verdict of its own for the good token: it lives on the shared answer.
    let host = Host::at(NOW);
    let cfg = config(json!({"cache_slots": 1}));
    let (mut a, mut b) = (start(&host, &cfg), start(&host, &cfg));
    assert!(introspect(&mut a, Request::get("/").bearer("good"), 200, &active(json!({}))).is_forwarded());
    for bogus in ["r1", "r2", "r3"] {
        assert_eq!(introspect(&mut a, Request::get("/").bearer(bogus), 200, br#"{"active": false}"#).status(), 401);
    }
    let out = b.send(Request::get("/").bearer("good"));
    assert!(out.is_forwarded(), "the good token's shared answer is still there: {out:?}");
    assert_eq!(a.calls().len() + b.calls().len(), 4, "one call per token, none again for the good one");
    // Two requests for the same new token while its uncached call is out: both get its answer.
    let first = paused(&a.send(Request::get("/").bearer("r4")));
    let second = paused(&a.send(Request::get("/").bearer("r4")));
    let calls = a.pending_calls();
    assert_eq!(calls.len(), 2, "uncached: no single flight for it");
    a.tick();
    paused(&a.poll(first));
    a.answer(calls[0].token, 200, &[], br#"{"active": false}"#);
    assert_eq!(a.poll(first).status(), 401);
    assert_eq!(a.poll(second).status(), 401);
}

#[test]
fn calls_in_flight_are_capped_per_worker() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"max_calls_in_flight": 2})));
    let a = paused(&vm.send(Request::get("/").bearer("t1")));
    paused(&vm.send(Request::get("/").bearer("t2")));
    let out = vm.send(Request::get("/").bearer("t3"));
    assert_eq!(out.status(), 503, "a third call at once would pass the cap: {out:?}");
    let again = paused(&vm.send(Request::get("/").bearer("t1")));
    assert_eq!(vm.calls().len(), 2);
    let t = vm.pending_calls()[0].token;
    vm.answer(t, 200, &[], &active(json!({})));
    assert!(vm.poll(a).is_forwarded());
    assert!(vm.poll(again).is_forwarded(), "a request for a token already asked about waits for it, cap or not");
    paused(&vm.send(Request::get("/").bearer("t3")));
}

#[test]
fn a_retry_after_pauses_introspection_at_most_max_retry_after() {
    let host = Host::at(NOW);
    let mut vm = start(&host, &config(json!({"max_retry_after": 5})));
    let ctx = paused(&vm.send(Request::get("/").bearer("t1")));
    let t = vm.pending_calls()[0].token;
    vm.answer(t, 429, &[("retry-after", "3600")], b"");
    assert_eq!(vm.poll(ctx).status(), 503);
    host.clock.advance_secs(4);
    assert_eq!(vm.send(Request::get("/").bearer("t2")).status(), 503, "still paused");
    host.clock.advance_secs(1);
    assert!(introspect(&mut vm, Request::get("/").bearer("t2"), 200, &active(json!({}))).is_forwarded(), "five seconds, not an hour");
}
