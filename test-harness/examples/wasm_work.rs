//! The filter's own work per request, counted: wasm operators executed (wasmtime fuel) on each
//! benchmarked path, with the host's signature check (here played by ring) outside the count.
//! No clock and no noise: a cut shows as a smaller number at once. Prints Markdown.
//! Run: `OAUTH_FILTER_FUEL=1 cargo run --release -p test-harness --example wasm_work` (also part
//! of `make bench-inprocess`). To see where the operators go: `SPIN=40000 SPIN_ALG=ES256
//! OAUTH_FILTER_PERFMAP=1 OAUTH_FILTER_WASM=<a build with names> perf record …` of the same
//! example, a token checked anew on every request (SPIN_CACHED: from the caches; SPIN_PAD:
//! bytes of padding claim). A path's twin counted the same way, so that filter − twin is its
//! own work in operators: `TWIN=target/twins/<path>.twin OAUTH_FILTER_WASM=target/noop/…/
//! noop_filter.wasm` (the recordings and the build `make bench` leaves). `MEMDIFF=<path>`: the
//! stack depth and memory lines one hit writes; `COVER=<path>`: the functions one hit enters
//! (tools/hot_functions.py), and with `COVER_ALL=1` every entry (how often each is called);
//! `COVER=first:<alg>`: a first-seen token's, the caches full.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "shared/idp.rs"]
mod idp;

use common::*;
use serde_json::json;
use test_harness::{Host, Request, Vm};

const N: u64 = 200;

/// First-seen rows are counted in the steady state `make bench` measures, where distinct
/// tokens outnumber the caches: full, each new token evicting (a cache of 128 before the 200
/// tokens of a row). Until 2026-12-03 they were counted while the caches filled, which leaves
/// out what eviction frees and what a full cache costs to refill.
fn config() -> serde_json::Value {
    json!({
        "oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": all_settings(), "verified_cache_size": 128}}},
        "policies": {"p": {"oauth_server": "s", "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]}, "open": {"public": true}},
        "routes": [{"path_prefix": "/public", "policy": "open"}],
        "default_policy": "p"
    })
}

/// The introspecting policy `make bench` measures the introspection hit with.
fn introspection_config() -> serde_json::Value {
    json!({"oauth_servers": {"i": {"token_strategy": {"name": "introspection", "settings": {
        "introspection_url": "http://idp/introspect", "cluster": "idp", "ttl": 3600}}}},
        "policies": {"p": {"oauth_server": "i"}}, "default_policy": "p"})
}

/// The public route with an upstream client-credentials token `make bench` measures.
fn client_credentials_config() -> serde_json::Value {
    json!({"policies": {"p": {"public": true, "upstream_client_credentials": {
        "client_id": "bench", "client_secret": "bench-secret", "token_url": "http://idp/token", "cluster": "idp"}}},
        "default_policy": "p"})
}

/// Operators per request over `reqs` (after three to warm the caches' allocations).
fn per_request(vm: &mut Vm, reqs: &[Request]) -> u64 {
    for r in reqs.iter().take(3) {
        assert!(vm.send(r.clone()).is_forwarded());
    }
    let before = vm.fuel_used();
    for r in &reqs[3..] {
        assert!(vm.send(r.clone()).is_forwarded());
    }
    (vm.fuel_used() - before) / (reqs.len() as u64 - 3)
}

/// Operators per request over `reqs` in a VM with `cfg`, once its first request was let
/// through with the IdP's answers (introspection: active; token endpoint: a token).
/// `SEGMENTS_HITS=1`: also where one request's operators go (see `segments`).
fn warmed(host: &Host, cfg: &serde_json::Value, reqs: &[Request]) -> u64 {
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let outcome = idp::send_answered(&mut vm, reqs[0].clone(), NOW);
    assert!(outcome.is_forwarded(), "{outcome:?}");
    if std::env::var_os("SEGMENTS_HITS").is_some() {
        assert!(vm.send(reqs[1].clone()).is_forwarded());
        segments(&mut vm, reqs[2].clone());
    }
    per_request(&mut vm, reqs)
}

/// Prints where one request's operators go: the operators between one host call and the next
/// (a log line at trace level shows as `mark` with its text).
fn segments(vm: &mut Vm, req: Request) {
    vm.start_trace();
    let start = vm.fuel_used();
    assert!(vm.send(req).is_forwarded());
    let end = vm.fuel_used();
    let marks = vm.take_fuel_marks();
    let mut last = start;
    for ((callback, call), at) in vm.take_trace().iter().zip(marks) {
        let text = match call.strip_prefix("log ") {
            Some(rest) => {
                let hex = rest.split(' ').nth(1).unwrap_or("");
                let bytes: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
                format!("mark {}", String::from_utf8_lossy(&bytes))
            }
            None => call.chars().take(60).collect::<String>(),
        };
        println!("{:>7} {callback} {text}", at - last);
        last = at;
    }
    println!("{:>7} (to the end)\n{:>7} total", end - last, end - start);
}

/// MEMDIFF=<path>: the memory one hit writes. The stack (below 1 MiB, empty between callbacks)
/// is filled with a pattern first, so its depth shows; the rest is compared with a copy, by
/// 64-byte lines.
fn memdiff(vm: &mut Vm, req: Request) {
    const STACK: usize = 1 << 20;
    vm.memory_mut()[..STACK - 16].fill(0xa5);
    let before = vm.memory_mut().to_vec();
    assert!(vm.send(req).is_forwarded());
    let after = vm.memory_mut().to_vec();
    let deepest = after[..STACK].iter().position(|b| *b != 0xa5).unwrap_or(STACK);
    let stack_lines = (0..STACK / 64).filter(|l| after[l * 64..l * 64 + 64] != before[l * 64..l * 64 + 64]).count();
    let heap: Vec<usize> = (STACK / 64..before.len().min(after.len()) / 64).filter(|l| after[l * 64..l * 64 + 64] != before[l * 64..l * 64 + 64]).collect();
    let pages: std::collections::BTreeSet<usize> = heap.iter().map(|l| l * 64 / 4096).collect();
    println!("stack depth {} bytes, stack lines written {stack_lines}; heap lines written {} in {} pages: {:?}", STACK - deepest, heap.len(), pages.len(), pages);
}

/// The configuration and request of a hit path without a JWT, by name.
fn untokened_path(path: &str) -> Option<(serde_json::Value, Request)> {
    match path {
        "public" => Some((config(), Request::get("/public/x"))),
        "introspection" => Some((introspection_config(), Request::get("/").bearer("opaque-token"))),
        "client-credentials" => Some((client_credentials_config(), Request::get("/").upstream_answers(200))),
        _ => None,
    }
}

/// A hit path by name (`public`, `introspection`, `client-credentials`, or an algorithm: its
/// repeated token), in a VM whose first request on it was let through.
fn hit_path(path: &str) -> (Vm, Request) {
    let (host, _) = Host::at(NOW).with_envoy_crypto();
    let (cfg, req) = untokened_path(path)
        .unwrap_or_else(|| (config(), Request::get("/").bearer(&sign(path, None, claims(json!({"sub": "alice", "scope": "a b"}))))));
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    assert!(idp::send_answered(&mut vm, req.clone(), NOW).is_forwarded());
    for _ in 0..5 {
        assert!(vm.send(req.clone()).is_forwarded());
    }
    (vm, req)
}

/// `first:<alg>`: a VM whose caches are full of first-seen tokens (200, more than they hold),
/// and one more such token.
fn first_seen_path(alg: &str) -> (Vm, Request) {
    let (host, _) = Host::at(NOW).with_envoy_crypto();
    let mut vm = host.vm(&config().to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    for i in 0..N as u32 {
        assert!(vm.send(fresh(alg, i)).is_forwarded());
    }
    (vm, fresh(alg, N as u32))
}

/// The i-th first-seen token of `alg`, in its request.
fn fresh(alg: &str, i: u32) -> Request {
    Request::get("/").bearer(&sign(alg, None, claims(json!({"sub": "alice", "scope": "a b", "n": i}))))
}

fn main() {
    if let Ok(path) = std::env::var("COVER") {
        // tools/hot_functions.py: the functions one hit of a path enters (an instrumented build),
        // one index per line, in the order first entered.
        let (mut vm, req) = match path.strip_prefix("first:") {
            Some(alg) => first_seen_path(alg),
            None => hit_path(&path),
        };
        vm.start_cover();
        assert!(vm.send(req).is_forwarded());
        // `COVER_ALL=1`: every entry, a function as often as it was entered.
        let entered = if std::env::var_os("COVER_ALL").is_some() { vm.take_entries() } else { vm.take_cover() };
        for f in entered {
            println!("{f}");
        }
        return;
    }
    if let Ok(path) = std::env::var("MEMDIFF") {
        if let Some(alg) = path.strip_prefix("first:") {
            // Two first-seen tokens, one after the other.
            let (mut vm, req) = first_seen_path(alg);
            memdiff(&mut vm, req);
            memdiff(&mut vm, fresh(alg, N as u32 + 1));
            return;
        }
        let (mut vm, req) = hit_path(&path);
        memdiff(&mut vm, req.clone());
        memdiff(&mut vm, req);
        return;
    }
    if let Ok(n) = std::env::var("SPIN") {
        // Profiling aid: a SPIN_ALG token (SPIN_PAD bytes of padding claim) sent n times, checked
        // anew each time unless SPIN_CACHED (with OAUTH_FILTER_PERFMAP). SPIN_PATH=public,
        // introspection or client-credentials: that hit path n times instead.
        let (host, _) = Host::at(NOW).with_envoy_crypto();
        let n: u32 = n.parse().unwrap();
        let (cfg, req) = match std::env::var("SPIN_PATH") {
            Ok(path) => untokened_path(&path).unwrap_or_else(|| panic!("SPIN_PATH: no path {path}")),
            Err(_) => return spin_token(&host, n),
        };
        let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
        assert!(idp::send_answered(&mut vm, req.clone(), NOW).is_forwarded());
        for _ in 0..n {
            assert!(vm.send(req.clone()).is_forwarded());
        }
        return;
    }
    assert!(std::env::var_os("OAUTH_FILTER_FUEL").is_some(), "set OAUTH_FILTER_FUEL=1");
    if let Ok(twin) = std::env::var("TWIN") {
        // A twin's operators per request, then where one request's go.
        let (host, _) = Host::at(NOW).with_envoy_crypto();
        let mut vm = host.vm(&std::fs::read_to_string(twin).unwrap()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
        let reqs: Vec<Request> = (0..N).map(|_| Request::get("/").upstream_answers(200)).collect();
        println!("{}", per_request(&mut vm, &reqs));
        segments(&mut vm, reqs[0].clone());
        return;
    }
    if let Ok(spec) = std::env::var("SEGMENTS") {
        // Where one first-seen request's operators go: the operators between one host call
        // and the next (after 50 first-seen tokens, so the caches are warm). `SEGMENTS=RS256:repeated`
        // traces the same token's second request instead (a cache hit).
        let (alg, repeated) = match spec.split_once(':') {
            Some((alg, mode)) => (alg.to_string(), mode == "repeated"),
            None => (spec.clone(), false),
        };
        let (host, _) = Host::at(NOW).with_envoy_crypto();
        let mut vm = host.vm(&config().to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
        for i in 0..50 {
            assert!(vm.send(fresh(&alg, i)).is_forwarded());
        }
        let req = fresh(&alg, 1000);
        if repeated {
            assert!(vm.send(fresh(&alg, 1000)).is_forwarded());
        }
        segments(&mut vm, req);
        return;
    }
    let (host, _) = Host::at(NOW).with_envoy_crypto();
    let mut vm = host.vm(&config().to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    println!("| path | wasm operators per request |\n| --- | --- |");
    let public: Vec<Request> = (0..N).map(|_| Request::get("/public/x")).collect();
    println!("| public route | {} |", per_request(&mut vm, &public));
    // The other two hit paths `make bench` measures, configured as it configures them.
    let introspection = introspection_config();
    let hit: Vec<Request> = (0..N).map(|_| Request::get("/").bearer("opaque-token")).collect();
    println!("| introspection (cache hit) | {} |", warmed(&host, &introspection, &hit));
    let client_credentials = client_credentials_config();
    let cached: Vec<Request> = (0..N).map(|_| Request::get("/").upstream_answers(200)).collect();
    println!("| client credentials (cached token) | {} |", warmed(&host, &client_credentials, &cached));
    for alg in ["HS256", "RS256", "ES256", "ES384", "EdDSA"] {
        let one = sign(alg, None, claims(json!({"sub": "alice", "scope": "a b"})));
        let repeated: Vec<Request> = (0..N).map(|_| Request::get("/").bearer(&one)).collect();
        println!("| {alg} repeated | {} |", per_request(&mut vm, &repeated));
        let fresh: Vec<Request> = (0..N as u32).map(|i| fresh(alg, i)).collect();
        println!("| {alg} first-seen | {} |", per_request(&mut vm, &fresh));
    }
}

/// `SPIN`'s token path: a SPIN_ALG token sent `n` times (see `main`).
fn spin_token(host: &Host, n: u32) {
    let mut cfg = config();
    if std::env::var_os("SPIN_CACHED").is_none() {
        cfg["oauth_servers"]["s"]["token_strategy"]["verified_cache_size"] = json!(0);
    }
    let mut vm = host.vm(&cfg.to_string()).unwrap_or_else(|vm| panic!("{}", vm.log_text()));
    let alg = std::env::var("SPIN_ALG").unwrap_or_else(|_| "HS256".into());
    let pad = "p".repeat(std::env::var("SPIN_PAD").map_or(0, |p| p.parse().unwrap()));
    let one = sign(&alg, None, claims(json!({"sub": "alice", "scope": "a b", "pad": pad})));
    for _ in 0..n {
        assert!(vm.send(Request::get("/").bearer(&one)).is_forwarded());
    }
}
