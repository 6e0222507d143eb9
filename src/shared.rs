//! Read-change-write of a JSON state in Envoy's shared data, with compare-and-swap.

use crate::host::{self, SetShared};
use oauth_core::idp::lease::Leased;

/// Applies `change` to the state at `key` (a fresh default when absent) and writes it back
/// with CAS, retrying on conflicts a few times. None when `change` declines (returns false),
/// on repeated conflicts, or when the host refuses the write.
pub fn update<T: Leased>(key: &str, mut change: impl FnMut(&mut T) -> bool) -> Option<T> {
    for _ in 0..8 {
        let (bytes, cas) = host::get_shared(key).unwrap_or_default();
        let mut state = T::decode(&bytes);
        if !change(&mut state) {
            return None;
        }
        match host::set_shared(key, &state.encode(), cas) {
            SetShared::Done => return Some(state),
            SetShared::CasMismatch => continue,
            SetShared::Failed => return None,
        }
    }
    None
}

/// Takes a short lock (a key that exists from the start, so CAS applies to it) around a
/// read-check-write of a key that may not exist yet: shared data has no "create if absent",
/// and a write with CAS 0 always succeeds.
pub fn lock(key: &str, me: u64) -> bool {
    for _ in 0..64 {
        let Some((bytes, cas)) = host::get_shared(key) else { return false };
        let now_ms = host::now_millis();
        if oauth_core::common::shared::lock_free_for(&bytes, me, now_ms) && host::set_shared(key, &oauth_core::common::shared::lock_value(me, now_ms), cas) == SetShared::Done {
            return true;
        }
    }
    false
}


/// Creates `key` with `init` when absent, so that later writes can compare-and-swap on it
/// (shared data has no "create if absent", and a write with CAS 0 always succeeds).
pub fn ensure(key: &str, init: &[u8]) {
    if host::get_shared(key).is_none() {
        host::set_shared(key, init, 0);
    }
}

/// At configuration: the lock keys of the DPoP replay stores exist, so CAS applies to them.
pub fn init_replay_locks(cfg: &oauth_core::Config) {
    for server in &cfg.servers {
        if let Some(d) = &server.binding.dpop {
            ensure(&oauth_core::common::shared::replay_lock(&format!("{}/0", d.prefix)), b"");
        }
    }
}

/// What a token's introspection slot says now (to a request deciding, or to a waiter).
pub fn introspection(slot: &oauth_core::idp::introspection::SlotKey, now: u64) -> oauth_core::idp::introspection::Lookup {
    use oauth_core::idp::introspection::{Lookup, Slot};
    host::get_shared(&slot.key).and_then(|(bytes, _)| Slot::decode(&bytes)).map_or(Lookup::Miss, |s| s.lookup(&slot.hash, now))
}
