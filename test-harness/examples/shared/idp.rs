//! The IdP `make bench` runs beside Envoy, played for the examples that measure its paths:
//! every introspection is active, every token request gets a token.

use serde_json::json;
use test_harness::{Outcome, Request, Vm};

/// Ticks, and answers every HTTP call the filter has pending as a healthy IdP would
/// (introspection: active; token endpoint: a token).
pub fn answer_calls(vm: &mut Vm, now: u64) {
    for _ in 0..3 {
        vm.tick();
        for call in vm.pending_calls() {
            let path = call.header(":path").unwrap_or("");
            let body = if path.contains("introspect") {
                json!({"active": true, "sub": "bench", "exp": now + 7200})
            } else {
                json!({"access_token": "upstream-token", "token_type": "Bearer", "expires_in": 7200})
            };
            vm.answer(call.token, 200, &[("content-type", "application/json")], body.to_string().as_bytes());
        }
    }
}

/// Sends `req`, answering the calls it waits for: its outcome once it is not paused any more
/// (or after three rounds).
pub fn send_answered(vm: &mut Vm, req: Request, now: u64) -> Outcome {
    answer_calls(vm, now);
    let mut outcome = vm.send(req);
    for _ in 0..3 {
        let Outcome::Paused { context } = outcome else { break };
        answer_calls(vm, now);
        outcome = vm.poll(context);
    }
    outcome
}
