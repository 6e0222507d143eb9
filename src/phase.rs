//! One request's state, owned by its HTTP context and advanced by the host's events: its
//! headers (decide), its body (OAuth endpoints), and the root context's ticks, fetches and
//! introspection answers (for a request that waits).

use crate::{apply, fetch, host, introspect, waiters};
use crate::records::{Phase, Waiting};
use crate::worker::Worker;
use oauth_core::{decide, Decision, Now, Request, WaitOn};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

/// What the headers bring: decided now, or paused while waiting.
pub fn start(w: &mut Worker, id: u32, phase: &Rc<RefCell<Phase>>, request: Request) -> Action {
    // The clock is read only if the decision needs the time (not on a public route).
    let read = host::now_secs;
    let now = Now::lazy(&read);
    let decision = decide(&w.config, &request, &now, &w.view(&now));
    let Decision::Wait(wait) = decision else {
        let (action, next) = apply::now(id, &decision);
        set(phase, next);
        return action;
    };
    wait_for(w, id, phase, request, wait, &now)
}

/// A request that must wait: what it waits for is asked for, and it pauses. Out of the line
/// of a decision made at once (`inline(never)`): a hit runs through less code.
#[inline(never)]
fn wait_for(w: &mut Worker, id: u32, phase: &Rc<RefCell<Phase>>, request: Request, wait: oauth_core::Wait, now: &Now) -> Action {
    let mut keys_version = 0;
    match &wait.on {
        WaitOn::Keys { server, refetch } => {
            if *refetch {
                fetch::request_refetch(w, *server);
            }
            keys_version = w.sources.get(*server).map_or(0, |s| s.version);
        }
        WaitOn::Introspection { server, claim } => match introspect::start(w, *server, claim) {
            introspect::Started::Waiting => {}
            introspect::Started::Failed => {
                apply::deny(id, wait.denial, &wait.response);
                set(phase, Phase::Answered);
                return Action::Pause;
            }
        },
        WaitOn::UpstreamToken { .. } => {}
        WaitOn::Replay(ask) => crate::fleet::record(w, ask),
    }
    let deadline_ms = host::now_millis() + wait.max_wait_ms;
    set(phase, Phase::Waiting(Waiting { request, wait, since_secs: now.get(), deadline_ms, keys_version }));
    waiters::add(w, id, phase);
    Action::Pause
}

fn set(phase: &Rc<RefCell<Phase>>, next: Phase) {
    if let Ok(mut p) = phase.try_borrow_mut() {
        *p = next;
    }
}
