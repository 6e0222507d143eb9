//! Counters through proxy-wasm metrics, all under the `oauth_filter.` prefix (Envoy shows
//! them in `/stats` as `wasmcustom.oauth_filter.*`). Each VM defines its own ids; Envoy sums
//! the counters of one name.
//!
//! A count is added up in the VM and handed to Envoy on the root's tick (`flush`, at least
//! once a second: `setup::COUNTERS_TICK_MS`), so a request makes no metric call of its own.

use std::cell::RefCell;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

const COUNTER: u32 = 0;

pub const ALLOWED: &str = "oauth_filter.requests_allowed";
pub const DENIED: &str = "oauth_filter.requests_denied";
pub const INTROSPECTION_CALLS: &str = "oauth_filter.introspection.calls";
pub const INTROSPECTION_FAILURES: &str = "oauth_filter.introspection.failures";
pub const INTROSPECTION_HITS: &str = "oauth_filter.introspection.cache_hits";
pub const INTROSPECTION_MISSES: &str = "oauth_filter.introspection.cache_misses";
pub const JWKS_FETCHES: &str = "oauth_filter.jwks.fetches";
pub const JWKS_FAILURES: &str = "oauth_filter.jwks.failures";
pub const CC_FETCHES: &str = "oauth_filter.client_credentials.fetches";
pub const CC_FAILURES: &str = "oauth_filter.client_credentials.failures";
pub const TOKENS_ISSUED: &str = "oauth_filter.tokens_issued";
pub const STORE_POLLS: &str = "oauth_filter.store.polls";
pub const STORE_CALLS: &str = "oauth_filter.store.calls";
pub const STORE_FAILURES: &str = "oauth_filter.store.failures";

/// A counter this VM defined, and what it counted since the last flush.
struct Counter {
    name: &'static str,
    id: u32,
    pending: i64,
}

thread_local! {
    /// Every counter this VM defined; few, and looked up by the name's address first, so
    /// counting costs no hashing.
    static COUNTERS: RefCell<Vec<Counter>> = const { RefCell::new(Vec::new()) };
}

/// The index of counter `name` in `counters`, defining it with the host on first use.
fn index(counters: &mut Vec<Counter>, name: &'static str) -> Option<usize> {
    if let Some(at) = counters.iter().position(|c| std::ptr::eq(c.name, name) || c.name == name) {
        return Some(at);
    }
    let mut id = 0u32;
    // SAFETY: pointer and length come from a live string; `id` is valid for writes.
    let status = unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) };
    if status != 0 {
        return None;
    }
    counters.push(Counter { name, id, pending: 0 });
    Some(counters.len() - 1)
}

/// Adds one to the counter `name` (defined on first use); Envoy sees it at the next `flush`.
/// A host that refuses the counter is ignored.
pub fn inc(name: &'static str) {
    COUNTERS.with(|counters| {
        let Ok(mut counters) = counters.try_borrow_mut() else { return };
        if let Some(c) = index(&mut counters, name).and_then(|at| counters.get_mut(at)) {
            c.pending = c.pending.saturating_add(1);
        }
    });
}

/// Hands Envoy what each counter counted since the last flush (on the root's tick, and when
/// the host ends the root context).
pub fn flush() {
    COUNTERS.with(|counters| {
        let Ok(mut counters) = counters.try_borrow_mut() else { return };
        for c in counters.iter_mut().filter(|c| c.pending != 0) {
            // SAFETY: no pointers.
            unsafe {
                proxy_increment_metric(c.id, c.pending);
            }
            c.pending = 0;
        }
    });
}

/// A denial, counted in total and by reason (`oauth_filter.denied.<reason>`).
pub fn denied(denial: oauth_core::Denial) {
    inc(DENIED);
    inc(denial.metric());
}

/// Defines the fixed counters at start, so they show as 0 before anything happens.
pub fn define_all() {
    COUNTERS.with(|counters| {
        let Ok(mut counters) = counters.try_borrow_mut() else { return };
        for name in [ALLOWED, DENIED, INTROSPECTION_CALLS, INTROSPECTION_FAILURES, INTROSPECTION_HITS, INTROSPECTION_MISSES,
            JWKS_FETCHES, JWKS_FAILURES, CC_FETCHES, CC_FAILURES, TOKENS_ISSUED, STORE_POLLS, STORE_CALLS, STORE_FAILURES] {
            index(&mut counters, name);
        }
    });
}
