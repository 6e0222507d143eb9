//! The scenario table (core/tests/table/policies.json) through the built .wasm on wasmtime;
//! the native core runs the same table (core/tests/scenarios.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../core/tests/table/mod.rs"]
mod table;

use common::NOW;
use table::{Case, Seen};
use test_harness::{Host, Outcome, Request, Vm};

fn send(vm: &mut Vm, case: &Case) -> Seen {
    let mut req = Request::new(&case.method, &case.path).authority(&case.authority);
    for (k, v) in &case.headers {
        req = req.header(k, v);
    }
    if let Some(r) = &case.route_name {
        req = req.route_name(r);
    }
    match vm.send(req) {
        Outcome::Forwarded { headers, .. } => Seen {
            status: 200,
            upstream: headers.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect(),
            reply_headers: Vec::new(),
            body: String::new(),
        },
        Outcome::Local(r) => Seen { status: r.status, upstream: Vec::new(), reply_headers: r.headers, body: String::from_utf8_lossy(&r.body).into_owned() },
        Outcome::Paused { .. } => panic!("{}: paused: the table's cases never wait", case.name),
    }
}

#[test]
fn the_scenario_table_through_the_wasm() {
    let mut wrong = Vec::new();
    let mut ran = 0;
    for g in table::groups() {
        let host = Host::at(NOW);
        let mut vm = host.vm(&g.config).unwrap_or_else(|vm| panic!("{}: configure failed:\n{}", g.name, vm.log_text()));
        for case in &g.cases {
            wrong.extend(table::check(&g.name, case, &send(&mut vm, case)));
            ran += 1;
        }
    }
    assert!(ran >= 30, "{ran} cases");
    assert!(wrong.is_empty(), "{} of {ran} cases:\n{}", wrong.len(), wrong.join("\n"));
}
