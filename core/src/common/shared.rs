//! Envoy's shared data, as the filter uses it: the name of every key, the id each VM (worker)
//! goes by in leases and locks, and the short lock taken while claiming an introspection slot.
//! Pure: the adapter reads and writes the bytes.

use crate::common::digest::fnv64;

/// A counter every VM increments once at start, for its id.
pub const VM_SEQUENCE: &str = "oauth_filter/vm-seq";

/// The OAuth servers added through the admin API (one JSON document for all workers).
pub const ADMIN_SERVERS: &str = "oauth_filter/admin/servers";

/// The prefix of an introspection server's keys (its slots and its lock).
pub fn introspection_prefix(server: &str, url: &str) -> String {
    format!("oauth_filter/intro/{:016x}", fnv64(format!("{server}\n{url}").as_bytes()))
}

/// Slot `n` of an introspection server.
pub fn introspection_slot(prefix: &str, n: u64) -> String {
    format!("{prefix}/{n}")
}

/// The lock around claiming one of an introspection server's slots.
pub fn introspection_lock(prefix: &str) -> String {
    format!("{prefix}/lock")
}

/// The DPoP replay slots of a server.
pub fn dpop_prefix(server: &str) -> String {
    format!("oauth_filter/dpop/{server}")
}

/// The lock of a DPoP replay slot's server (`<prefix>/<slot>` → `<prefix>/lock`).
pub fn replay_lock(slot_key: &str) -> String {
    let prefix = slot_key.rsplit_once('/').map_or(slot_key, |(p, _)| p);
    format!("{prefix}/lock")
}

/// Until when (seconds, as text) an introspection server asked not to be called (429).
pub fn introspection_backoff(prefix: &str) -> String {
    format!("{prefix}/backoff")
}

/// The token state of one client-credentials client (token URL, client id, scopes, params),
/// given as a digest of those.
pub fn client_token(digest: &[u8]) -> String {
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("oauth_filter/cc/{hex}")
}

/// The prefix of a key source's entries (one per server, cluster and URL or issuer).
pub fn keys_prefix(server: &str, cluster: &str, id: &str) -> String {
    format!("oauth_filter/keys/{:016x}", fnv64(format!("{server}\n{cluster}\n{id}").as_bytes()))
}

/// A key source's fetch state (lease, versions, backoff).
pub fn keys_state(prefix: &str) -> String {
    format!("{prefix}/state")
}

/// A key source's stored JWKS document.
pub fn keys_doc(prefix: &str) -> String {
    format!("{prefix}/doc")
}

/// The VM sequence after the stored one (absent or unreadable = 0).
pub fn next_sequence(stored: &[u8]) -> u64 {
    std::str::from_utf8(stored).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0).saturating_add(1)
}

/// A number unique to this VM among all VMs of the Envoy process: the shared sequence (whose
/// very first increment two VMs may race, since shared data has no "create if absent") mixed
/// with the host's clock.
pub fn vm_id(sequence: u64, clock_nanos: u64) -> u64 {
    (sequence << 32) ^ (clock_nanos & 0xffff_ffff)
}

/// How long a slot lock holds; an older one is stale (its holder is gone).
pub const LOCK_MS: u64 = 1000;

/// Whether VM `me` may take the lock whose stored value is `stored` at `now_ms`: free, stale,
/// or already its own.
pub fn lock_free_for(stored: &[u8], me: u64, now_ms: u64) -> bool {
    let held = std::str::from_utf8(stored).ok().and_then(|s| s.split_once(' ')).is_some_and(|(holder, until)| {
        holder != me.to_string() && until.parse::<u64>().is_ok_and(|u| now_ms < u)
    });
    !held
}

/// The lock's value while VM `me` holds it.
pub fn lock_value(me: u64, now_ms: u64) -> Vec<u8> {
    format!("{me} {}", now_ms + LOCK_MS).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_name_no_secret() {
        let p = introspection_prefix("corp", "https://idp/introspect");
        assert_ne!(p, introspection_prefix("corp2", "https://idp/introspect"));
        assert_eq!(introspection_slot(&p, 7), format!("{p}/7"));
        assert_eq!(introspection_lock(&p), format!("{p}/lock"));
        let k = keys_prefix("s", "idp", "https://idp/jwks");
        assert_ne!(keys_state(&k), keys_doc(&k));
        assert!(client_token(&[0xab; 32]).ends_with(&"ab".repeat(12)));
    }

    #[test]
    fn vm_ids_differ_by_sequence_and_clock() {
        assert_eq!(next_sequence(b""), 1);
        assert_eq!(next_sequence(b"41"), 42);
        assert_eq!(next_sequence(b"junk"), 1);
        assert_ne!(vm_id(1, 5), vm_id(2, 5));
        assert_ne!(vm_id(1, 5), vm_id(1, 6), "two VMs that raced for the same sequence");
    }

    #[test]
    fn the_lock_is_exclusive_until_stale() {
        let held = lock_value(1, 1000);
        assert!(lock_free_for(b"", 2, 1000), "never taken (the key is created empty)");
        assert!(!lock_free_for(&held, 2, 1500), "held by VM 1");
        assert!(lock_free_for(&held, 1, 1500), "its own");
        assert!(lock_free_for(&held, 2, 1000 + LOCK_MS), "stale");
        assert!(lock_free_for(b"garbage", 2, 0));
    }
}
