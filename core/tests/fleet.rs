//! The fleet store as the decision sees it: a DPoP proof new to the process makes the request
//! wait for etcd's record (`WaitOn::Replay`), decided again on etcd's answer; an admin request
//! never waits (503); an unknown server is a 503 until the store's servers are read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
#[path = "common/proofs.rs"]
mod proofs;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use proofs::*;
use oauth_core::decision::decide::decide_policy;
use oauth_core::decision::state::FirstUse;
use oauth_core::jwt::VerifyKey;
use oauth_core::{decide, decide_again, Config, Decision, Denial, Now, Request, WaitOn, WorkerState};
use serde_json::json;
use std::cell::RefCell;

/// A worker whose replay store answers `answer`, recording what it was asked.
struct Fake {
    answer: FirstUse,
    pending: bool,
    asked: RefCell<Vec<String>>,
}

impl WorkerState for Fake {
    fn fetched(&self, _server: usize) -> Option<&[VerifyKey]> {
        None
    }
    fn may_refetch(&self, _server: usize) -> bool {
        false
    }
    fn first_use(&self, _key: &str, hash: &str, _until: u64, _now: u64) -> FirstUse {
        self.asked.borrow_mut().push(hash.to_string());
        self.answer
    }
    fn servers_pending(&self) -> bool {
        self.pending
    }
}

fn fake(answer: FirstUse) -> Fake {
    Fake { answer, pending: false, asked: RefCell::new(Vec::new()) }
}

fn config(store: bool) -> Config {
    let mut v = json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "hs-secret-for-tests"}],
                                                   "dpop": "optional", "dpop_max_age": 60}}},
        "policies": {"p": {"oauth_server": "s"}, "dynamic": {"oauth_server": "added-later"}},
        "routes": [{"path_prefix": "/dynamic", "policy": "dynamic"}],
        "admin_api": {"policy": "p"},
        "default_policy": "p"
    });
    if store {
        v["store"] = json!({"etcd": {"cluster": "etcd", "timeout": "500ms"}});
    }
    Config::from_json(v.to_string().as_bytes()).unwrap()
}

fn thumbprint() -> String {
    let j = dpop_jwk();
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, j["x"].as_str().unwrap(), j["y"].as_str().unwrap());
    URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(canonical.as_bytes()))
}

fn request(path: &str) -> Request {
    let token = sign("HS256", None, claims(json!({"sub": "alice", "cnf": {"jkt": thumbprint()}})));
    let ath = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(token.as_bytes()));
    let proof = dpop_proof(json!({"jti": "j1", "htm": "GET", "htu": format!("https://api.test{path}"), "iat": NOW, "ath": ath}));
    let auth = format!("DPoP {token}");
    let pairs = [(":method", "GET"), (":scheme", "https"), (":authority", "api.test"), (":path", path), ("authorization", auth.as_str()), ("dpop", proof.as_str())];
    Request { headers: pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(), ..Default::default() }
}

#[test]
fn a_proof_new_to_the_process_waits_for_the_store_then_is_decided_on_its_answer() {
    let cfg = config(true);
    let req = request("/orders");
    let ask = fake(FirstUse::Ask);
    let Decision::Wait(wait) = decide(&cfg, &req, &Now::fixed(NOW), &ask) else { panic!("a wait") };
    let WaitOn::Replay(replay) = &wait.on else { panic!("{:?}", wait.on) };
    assert_eq!((replay.server, replay.until, replay.window), (0, NOW + 60, 60));
    assert_eq!(&replay.hash, &ask.asked.borrow()[0], "the hash the replay store was asked about (never the jti)");
    assert!(!replay.hash.contains("j1"));
    assert_eq!((wait.denial, wait.response.status, wait.max_wait_ms), (Denial::StoreUnavailable, 503, 2000));
    // etcd answered: a first use goes on, a proof another replica recorded is a replay.
    assert!(matches!(decide_again(&cfg, &req, &Now::fixed(NOW), &fake(FirstUse::Yes), None), Decision::Allow { .. }));
    match decide_again(&cfg, &req, &Now::fixed(NOW), &fake(FirstUse::Seen), None) {
        Decision::Deny { denial, response } => {
            assert_eq!((denial, response.status), (Denial::DpopReplay, 401));
            assert!(response.headers.iter().any(|(k, v)| k == "www-authenticate" && v.contains("invalid_dpop_proof")));
        }
        other => panic!("{other:?}"),
    }
    // Decided again after another wait (keys, introspection), the proof may still be asked for.
    assert!(matches!(decide_again(&cfg, &req, &Now::fixed(NOW), &ask, None), Decision::Wait(_)));
    // An admin request never waits: 503, never a pass.
    match decide_policy(&cfg, cfg.policy_index("p").unwrap(), &req, &Now::fixed(NOW), &ask) {
        Decision::Deny { denial, response } => assert_eq!((denial, response.status), (Denial::StoreUnavailable, 503)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_replay_seen_by_the_process_is_refused_without_a_wait() {
    let cfg = config(true);
    assert!(matches!(decide(&cfg, &request("/orders"), &Now::fixed(NOW), &fake(FirstUse::Seen)), Decision::Deny { denial: Denial::DpopReplay, .. }));
    let without = config(false);
    assert!(matches!(decide(&without, &request("/orders"), &Now::fixed(NOW), &fake(FirstUse::Yes)), Decision::Allow { .. }));
}

#[test]
fn an_unknown_server_is_503_until_the_stores_servers_are_read() {
    let cfg = config(true);
    let token = sign("HS256", None, claims(json!({"sub": "alice"})));
    let auth = format!("Bearer {token}");
    let pairs = [(":method", "GET"), (":authority", "api.test"), (":path", "/dynamic/x"), ("authorization", auth.as_str())];
    let req = Request { headers: pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(), ..Default::default() };
    let mut state = fake(FirstUse::Yes);
    state.pending = true;
    let status = |d: Decision| match d {
        Decision::Deny { denial, response } => (denial, response.status),
        other => panic!("{other:?}"),
    };
    assert_eq!(status(decide(&cfg, &req, &Now::fixed(NOW), &state)), (Denial::StoreUnavailable, 503));
    state.pending = false;
    assert_eq!(status(decide(&cfg, &req, &Now::fixed(NOW), &state)), (Denial::UnknownServer, 401));
}
