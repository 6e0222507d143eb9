//! The small hashes shared by the caches and the shared-data keys: a token's key in this
//! worker's caches, and FNV-1a for shared-data key names.

/// A token's key in this worker's caches (verified tokens, verdicts): 128 bits from two
/// SipHash-1-3 with secret random keys of this VM, computed once per request. A keyed PRF,
/// so nobody who does not know the keys can make a token that collides with another; and
/// several times cheaper than SHA-256, which remains for what leaves the VM (introspection
/// slots in shared data).
pub type TokenDigest = [u8; 16];

thread_local! {
    static KEYS: (std::hash::RandomState, std::hash::RandomState) =
        (std::hash::RandomState::new(), std::hash::RandomState::new());
}

pub fn digest(token: &str) -> TokenDigest {
    use std::hash::BuildHasher;
    KEYS.with(|(a, b)| {
        let mut out = [0u8; 16];
        let (lo, hi) = out.split_at_mut(8);
        lo.copy_from_slice(&a.hash_one(token).to_le_bytes());
        hi.copy_from_slice(&b.hash_one(token).to_le_bytes());
        out
    })
}

/// FNV-1a, for shared-data key names (not a security hash).
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
