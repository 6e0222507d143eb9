//! Helpers shared by the scenario files.
#![allow(dead_code, clippy::panic)]

use test_harness::{Host, Outcome, Vm};

/// A configured VM, or the test fails with the VM's log.
pub fn start(host: &Host, cfg: &str) -> Vm {
    host.vm(cfg).unwrap_or_else(|vm| panic!("configure failed:\n{}", vm.log_text()))
}

/// The context of a paused request, or the test fails.
pub fn paused(o: &Outcome) -> u32 {
    match o {
        Outcome::Paused { context } => *context,
        other => panic!("expected a paused request, got {other:?}"),
    }
}
