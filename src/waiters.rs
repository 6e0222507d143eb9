//! The requests of this worker that wait (for keys, an introspection answer, an upstream
//! token): decided again when what they wait for arrives, refused with their wait's own
//! answer (503, the policy's realm) when it fails or their time is up. A request that ends
//! while waiting drops its phase, and with it its place here.

use crate::apply;
use crate::host;
use crate::records::{Phase, Waiting};
use crate::worker::Worker;
use oauth_core::decision::authenticate::Answered;
use oauth_core::decision::binding::ReplayAsk;
use oauth_core::idp::introspection::Lookup;
use oauth_core::{decide_again, Now, WaitOn};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub fn add(w: &mut Worker, context_id: u32, phase: &Rc<RefCell<Phase>>) {
    w.waiting.push((context_id, Rc::downgrade(phase)));
}

enum Verdict {
    Wait,
    Decide(Option<Answered>),
    /// The fleet store said whether the request's DPoP proof was seen by another replica.
    Confirmed(bool),
    GiveUp,
}

fn verdict(w: &Worker, waiting: &Waiting, now: u64, now_ms: u64) -> Verdict {
    let late = now_ms >= waiting.deadline_ms;
    match &waiting.wait.on {
        WaitOn::Keys { server, .. } => {
            let keys = w.sources.get(*server);
            if keys.is_some_and(|k| k.version > waiting.keys_version) {
                Verdict::Decide(None)
            } else if late || keys.is_some_and(|k| k.state.lease.failed_since(waiting.since_secs)) {
                Verdict::GiveUp
            } else {
                Verdict::Wait
            }
        }
        WaitOn::UpstreamToken { policy } => {
            let state = w.tokens.get(*policy);
            if state.is_some_and(|s| s.usable(now).is_some()) {
                Verdict::Decide(None)
            } else if late || state.is_some_and(|s| s.lease.failed_since(waiting.since_secs)) {
                Verdict::GiveUp
            } else {
                Verdict::Wait
            }
        }
        WaitOn::Replay(ask) => match w.fleet.replays.get(&ask.hash) {
            Some(Some(first)) => Verdict::Confirmed(*first),
            Some(None) => Verdict::GiveUp,
            None if late => Verdict::GiveUp,
            None => Verdict::Wait,
        },
        WaitOn::Introspection { server, claim } => {
            let lookup = crate::shared::introspection(&claim.slot, now);
            // This worker's own call for the token answers it (through `answered`), whatever
            // the slot shows (an uncached call's slot holds another token).
            let calling = w.outbox.iter().any(|o| o.claim.slot.hash == claim.slot.hash)
                || w.introspections.values().any(|f| f.claim.slot.hash == claim.slot.hash);
            match lookup {
                Lookup::Pending | Lookup::Miss if calling && !late => Verdict::Wait,
                Lookup::Pending if !late => Verdict::Wait,
                Lookup::Pending | Lookup::Miss => Verdict::GiveUp,
                lookup => Verdict::Decide(Some(Answered { server: *server, lookup })),
            }
        }
    }
}

/// Decides again every waiting request whose wait is over.
pub fn resolve(w: &mut Worker) {
    if w.waiting.is_empty() {
        return;
    }
    let (now, now_ms) = (host::now_secs(), host::now_millis());
    let waiting = std::mem::take(&mut w.waiting);
    let mut still: Vec<(u32, Weak<RefCell<Phase>>)> = Vec::with_capacity(waiting.len());
    for (id, weak) in waiting {
        let Some(phase) = weak.upgrade() else { continue }; // the request is gone
        let Ok(mut p) = phase.try_borrow_mut() else {
            still.push((id, weak));
            continue;
        };
        if let Phase::AdminWrite { deadline_ms } = &*p {
            match crate::fleet::admin_verdict(w, id, *deadline_ms, now_ms) {
                Some(next) => *p = next,
                None => still.push((id, weak.clone())),
            }
            continue;
        }
        let Phase::Waiting(waiting) = &*p else { continue };
        let next = match verdict(w, waiting, now, now_ms) {
            Verdict::Wait => {
                still.push((id, weak));
                continue;
            }
            Verdict::Decide(answered) => {
                let clock = Now::fixed(now);
                let decision = decide_again(&w.config, &waiting.request, &clock, &w.view(&clock), answered.as_ref());
                match again(&decision, waiting, now) {
                    Some((next, ask)) => {
                        crate::fleet::record(w, &ask);
                        still.push((id, weak));
                        next
                    }
                    None => apply::later(id, &decision, &waiting.wait),
                }
            }
            Verdict::Confirmed(first) => {
                let WaitOn::Replay(ask) = &waiting.wait.on else { continue };
                let hash = ask.hash.clone();
                let clock = Now::fixed(now);
                let decision = decide_again(&w.config, &waiting.request, &clock, &w.view_confirmed(&clock, &hash, first), None);
                w.fleet.replays.remove(&hash);
                apply::later(id, &decision, &waiting.wait)
            }
            Verdict::GiveUp => {
                if let WaitOn::Replay(ask) = &waiting.wait.on {
                    w.fleet.replays.remove(&ask.hash);
                }
                apply::give_up(id, &waiting.wait)
            }
        };
        *p = next;
    }
    // Requests that began waiting meanwhile stay too.
    still.append(&mut w.waiting);
    w.waiting = still;
}

/// This worker's introspection call for the token `hash` of `server` was answered: every
/// request here waiting for that token is decided on the answer itself (not on the shared
/// slot, which another token may have taken meanwhile); then the rest as usual.
pub fn answered(w: &mut Worker, server: usize, hash: &str, lookup: &Lookup) {
    let now = host::now_secs();
    let answered = Answered { server, lookup: lookup.clone() };
    let mut asks = Vec::new();
    for (id, weak) in &w.waiting {
        let Some(phase) = weak.upgrade() else { continue };
        let Ok(mut p) = phase.try_borrow_mut() else { continue };
        let Phase::Waiting(waiting) = &*p else { continue };
        let WaitOn::Introspection { server: s, claim } = &waiting.wait.on else { continue };
        if *s != server || claim.slot.hash != hash {
            continue;
        }
        let clock = Now::fixed(now);
        let decision = decide_again(&w.config, &waiting.request, &clock, &w.view(&clock), Some(&answered));
        *p = match again(&decision, waiting, now) {
            Some((next, ask)) => {
                asks.push(ask);
                next // still in `waiting`: resolved when the store answers
            }
            None => apply::later(*id, &decision, &waiting.wait),
        };
    }
    for ask in &asks {
        crate::fleet::record(w, ask);
    }
    resolve(w);
}

/// Requests waiting on a server at `first` or after give up (the admin API changed those).
/// Whether any did (the effective context then changed).
pub fn give_up_servers_from(w: &mut Worker, first: usize) -> bool {
    let mut any = false;
    for (id, weak) in &w.waiting {
        let Some(phase) = weak.upgrade() else { continue };
        let Ok(mut p) = phase.try_borrow_mut() else { continue };
        let Phase::Waiting(waiting) = &*p else { continue };
        let server = match &waiting.wait.on {
            WaitOn::Keys { server, .. } | WaitOn::Introspection { server, .. } => *server,
            WaitOn::Replay(ask) => ask.server,
            WaitOn::UpstreamToken { .. } => continue,
        };
        if server >= first {
            *p = apply::give_up(*id, &waiting.wait);
            any = true;
        }
    }
    any
}

/// A request decided again after its keys or its introspection answer came, whose DPoP proof
/// is new here: it waits once more, for the fleet store to record the proof. Its next phase;
/// None for any other decision.
/// The proof to record goes with it (`fleet::record`).
fn again(decision: &oauth_core::Decision, waiting: &Waiting, now: u64) -> Option<(Phase, ReplayAsk)> {
    let oauth_core::Decision::Wait(wait) = decision else { return None };
    let WaitOn::Replay(ask) = &wait.on else { return None };
    let deadline_ms = host::now_millis() + wait.max_wait_ms;
    let next = Phase::Waiting(Waiting { request: waiting.request.clone(), wait: wait.clone(), since_secs: now, deadline_ms, keys_version: 0 });
    Some((next, ask.clone()))
}
