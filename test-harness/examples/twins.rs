//! Records, for each path `make bench` measures, the host calls the built filter makes on one
//! request of that path, as a recording `tools/noop-filter` replays (its *twin*).
//! Run: `cargo run -p test-harness --example twins -- SCENARIOS.json OUT_DIR`, where
//! SCENARIOS.json is `{"now": secs, "scenarios": [{"name", "config", "warm": [token…],
//! "token": token|null, "variants": [token…]?}]}` (written by tools/bench.py). Writes
//! OUT_DIR/<name>.twin and prints one line per scenario: its name and the number of host calls
//! per callback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "shared/idp.rs"]
mod idp;

use serde_json::Value;
use test_harness::{Host, Request};

fn request(token: Option<&str>) -> Request {
    let r = Request::get("/").authority("127.0.0.1:10000").upstream_answers(200);
    match token {
        Some(t) => r.bearer(t),
        None => r,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec: Value = serde_json::from_slice(&std::fs::read(&args[0]).unwrap()).unwrap();
    let out = std::path::Path::new(&args[1]);
    std::fs::create_dir_all(out).unwrap();
    let now = spec["now"].as_u64().unwrap();
    for s in spec["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        // Envoy offers the filter its `verify_signature`, as here.
        let (host, _) = Host::at(now).with_envoy_crypto();
        let mut vm = host.vm(&s["config"].to_string()).unwrap_or_else(|vm| panic!("{name}: {}", vm.log_text()));
        for warm in s["warm"].as_array().into_iter().flatten() {
            let outcome = idp::send_answered(&mut vm, request(warm.as_str()), now);
            assert!(outcome.is_forwarded(), "{name}: the warm-up request was not let through: {outcome:?}");
        }
        vm.start_trace();
        let outcome = vm.send(request(s["token"].as_str()));
        let trace = vm.take_trace();
        assert!(outcome.is_forwarded(), "{name}: the measured request was not let through: {outcome:?}");
        assert!(vm.pending_calls().is_empty(), "{name}: the measured request made an HTTP call (not a hit path)");
        let mut text: String = trace.iter().map(|(cb, call)| format!("{cb} {call}\n")).collect();
        // A first-seen path's signature check, once per token of the set the filter is measured
        // with: the host's check takes longer on some signatures than on others, and a twin that
        // checked one signature over and over would price the host's work at that one's cost.
        for variant in s["variants"].as_array().into_iter().flatten() {
            vm.start_trace();
            let outcome = vm.send(request(variant.as_str()));
            let trace = vm.take_trace();
            assert!(outcome.is_forwarded(), "{name}: a variant was not let through: {outcome:?}");
            for (_, call) in trace.iter().filter(|(_, call)| call.starts_with("foreign ")) {
                text.push_str(&format!("variant {call}\n"));
            }
        }
        std::fs::write(out.join(format!("{name}.twin")), text).unwrap();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for (cb, call) in &trace {
            let op = call.split(' ').next().unwrap_or("");
            let key = format!("{cb}:{op}");
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        println!("{name}\t{}\t{}", trace.len(), summary.join(" "));
    }
}
