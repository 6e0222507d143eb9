//! Counters through proxy-wasm metrics, all under the `oauth_filter.` prefix (Envoy shows
//! them in `/stats` as `wasmcustom.oauth_filter.*`). Each VM defines its own ids; Envoy sums
//! the counters of one name.

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

thread_local! {
    /// (name, id) of every counter this VM defined; few, and looked up by the name's address
    /// first, so counting costs no hashing.
    static IDS: RefCell<Vec<(&'static str, u32)>> = const { RefCell::new(Vec::new()) };
}

fn id(name: &'static str) -> Option<u32> {
    let known = IDS.with(|ids| {
        ids.try_borrow().ok().and_then(|ids| {
            ids.iter().find(|(n, _)| std::ptr::eq(*n, name) || *n == name).map(|(_, id)| *id)
        })
    });
    if known.is_some() {
        return known;
    }
    let mut id = 0u32;
    // SAFETY: pointer and length come from a live string; `id` is valid for writes.
    let status = unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) };
    if status != 0 {
        return None;
    }
    IDS.with(|ids| {
        if let Ok(mut ids) = ids.try_borrow_mut() {
            ids.push((name, id));
        }
    });
    Some(id)
}

/// Adds one to the counter `name` (defined on first use); a host that refuses is ignored.
pub fn inc(name: &'static str) {
    if let Some(id) = id(name) {
        // SAFETY: no pointers.
        unsafe {
            proxy_increment_metric(id, 1);
        }
    }
}

/// A denial, counted in total and by reason (`oauth_filter.denied.<reason>`).
pub fn denied(denial: oauth_core::Denial) {
    inc(DENIED);
    inc(denial.metric());
}

/// Defines the fixed counters at start, so they show as 0 before anything happens.
pub fn define_all() {
    for name in [ALLOWED, DENIED, INTROSPECTION_CALLS, INTROSPECTION_FAILURES, INTROSPECTION_HITS, INTROSPECTION_MISSES,
        JWKS_FETCHES, JWKS_FAILURES, CC_FETCHES, CC_FAILURES, TOKENS_ISSUED, STORE_POLLS, STORE_CALLS, STORE_FAILURES] {
        id(name);
    }
}
