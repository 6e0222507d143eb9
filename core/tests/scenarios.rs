//! The scenario table (core/tests/table/policies.json) through the native core; the wasmtime
//! harness runs the same table through the built .wasm (test-harness/tests/scenarios.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
#[path = "table/mod.rs"]
mod table;

use common::NOW;
use oauth_core::{decide, Config, Decision, NothingFetched, Now, Request};
use table::{Case, Seen};

/// The request's headers as they go upstream: the removals, then the sets (which replace).
fn upstream(mut headers: Vec<(String, String)>, d: &Decision) -> Vec<(String, String)> {
    let Decision::Allow { edits, .. } = d else { return Vec::new() };
    headers.retain(|(k, _)| !edits.remove.contains(k));
    for (k, v) in edits.sets() {
        headers.retain(|(h, _)| h != k);
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}

fn send(cfg: &Config, case: &Case) -> Seen {
    let mut headers = vec![(":method".to_string(), case.method.clone()), (":path".to_string(), case.path.clone()),
        (":authority".to_string(), case.authority.clone()), (":scheme".to_string(), "http".to_string())];
    headers.extend(case.headers.iter().cloned());
    let req = Request {
        headers: headers.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect(),
        route_name: case.route_name.clone(),
        ..Default::default()
    };
    let d = decide(cfg, &req, &Now::fixed(NOW), &NothingFetched);
    match &d {
        Decision::Allow { .. } => Seen { status: 200, upstream: upstream(headers, &d), reply_headers: Vec::new(), body: String::new() },
        Decision::Deny { response, .. } => Seen { status: response.status, upstream: Vec::new(), reply_headers: response.headers.clone(), body: response.body.clone() },
        Decision::Wait(w) => panic!("{}: waits ({w:?}): the table's cases never wait", case.name),
    }
}

#[test]
fn the_scenario_table_natively() {
    let mut wrong = Vec::new();
    let mut ran = 0;
    for g in table::groups() {
        let cfg = Config::from_json(g.config.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        for case in &g.cases {
            wrong.extend(table::check(&g.name, case, &send(&cfg, case)));
            ran += 1;
        }
    }
    assert!(ran >= 30, "{ran} cases");
    assert!(wrong.is_empty(), "{} of {ran} cases:\n{}", wrong.len(), wrong.join("\n"));
}
