//! Read-change-write of a JSON state in Envoy's shared data, with compare-and-swap.

use crate::host::{self, SetShared};
use oauth_core::lease::Leased;

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
