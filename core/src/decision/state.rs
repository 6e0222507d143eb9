//! What a worker knows besides the configuration, as the decision sees it: keys fetched from
//! the IdP, cached introspection answers, the upstream's client-credentials token and the
//! host's signature checks. The adapter implements it over its own state and shared data;
//! tests implement it with plain values.

use crate::crypto::CryptoHost;
use crate::idp::introspection::{Lookup, SlotKey};
use crate::jwt::VerifyKey;

/// Something the decision observed that a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request's first look found the token's introspection answer cached (shared data or
    /// this worker's verdict cache).
    IntrospectionHit,
    /// A request's first look found no answer (none, or another request is asking).
    IntrospectionMiss,
}

/// Whether a DPoP proof is used for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    Yes,
    Seen,
    /// First here (and recorded here); the fleet store must say whether another replica saw it.
    Ask,
}

pub trait WorkerState {
    /// Fetched keys for `server`; None when none may be used (none yet, or older than
    /// `max_stale`).
    fn fetched(&self, server: usize) -> Option<&[VerifyKey]>;
    /// Whether an unknown kid may ask for a refetch for `server` now (cooldown).
    fn may_refetch(&self, server: usize) -> bool;
    /// The version of `server`'s fetched keys (cached verifications of older keys are void).
    fn keys_version(&self, _server: usize) -> u64 {
        0
    }
    /// The host's signature checks, when it offers them (the algorithms it passed the probe).
    fn crypto(&self) -> Option<&dyn CryptoHost> {
        None
    }
    /// The cached introspection answer in `slot` of introspection server `server`.
    fn introspection(&self, _server: usize, _slot: &SlotKey) -> Lookup {
        Lookup::Miss
    }
    /// The client-credentials token for `policy`'s upstream and its version, if usable now.
    fn upstream_token(&self, _policy: usize) -> Option<(&str, u64)> {
        None
    }
    /// Counts an event (metrics); nothing by default.
    fn count(&self, _event: Event) {}
    /// Records a DPoP proof's `jti` (as `hash` in the replay slot `key`, kept until `until`):
    /// whether it was seen before, on any worker (or, with the fleet store, to be asked).
    fn first_use(&self, _key: &str, _hash: &str, _until: u64, _now: u64) -> FirstUse {
        FirstUse::Yes
    }
    /// Whether the fleet store's servers are not read yet, or read and not compiled into the
    /// configuration yet (a policy's unknown server may be one of them: 503, not 401).
    fn servers_pending(&self) -> bool {
        false
    }
    /// The SHA-256 of the connection's client certificate (DER), when there is one.
    fn peer_certificate_sha256(&self) -> Option<Vec<u8>> {
        None
    }
}

/// For configurations without anything fetched.
pub struct NothingFetched;

impl WorkerState for NothingFetched {
    fn fetched(&self, _server: usize) -> Option<&[VerifyKey]> {
        None
    }
    fn may_refetch(&self, _server: usize) -> bool {
        false
    }
}
