//! One refresh machine for everything the filter fetches on behalf of all workers (key
//! documents by JWKS URL or discovery, client-credentials tokens): a lease in shared data so
//! that one worker fetches at a time (single flight), exponential backoff after a failure, and
//! the last good value kept while it may still be used (stale use). Pure: each source says
//! when it is due and what its calls are; the adapter stores the state and makes the calls.

use crate::common::url::HttpCall;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The lease and the failure bookkeeping of one fetched value (part of its shared state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lease {
    /// The VM holding the lease, and until when (seconds); a lapsed lease is free.
    pub lease_holder: u64,
    pub lease_until: u64,
    /// Failures since the last success, and when the last one happened.
    pub failures: u32,
    pub last_failure: u64,
    /// No attempt before this (the backoff).
    pub next_attempt: u64,
    /// Attempts that finished, successful or not.
    pub fetches: u64,
}

impl Lease {
    pub fn free(&self, now: u64) -> bool {
        now >= self.lease_until
    }

    pub fn backing_off(&self, now: u64) -> bool {
        now < self.next_attempt
    }

    fn take(&mut self, holder: u64, now: u64, secs: u64) {
        self.lease_holder = holder;
        self.lease_until = now.saturating_add(secs);
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.next_attempt = 0;
        self.lease_until = 0;
        self.fetches += 1;
    }

    /// Backs off 1, 2, 4 … `max_backoff` seconds, or as long as the server asked
    /// (`Retry-After`), whichever is longer.
    fn failed(&mut self, now: u64, max_backoff: u64, retry_after: Option<u64>) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        let backoff = 1u64.checked_shl(self.failures.saturating_sub(1)).unwrap_or(max_backoff).min(max_backoff);
        self.next_attempt = now.saturating_add(backoff.max(retry_after.unwrap_or(0)));
        self.lease_until = 0;
        self.fetches += 1;
    }

    /// Whether a failure happened at or after `since` (a waiter started then gives up).
    pub fn failed_since(&self, since: u64) -> bool {
        self.failures > 0 && self.last_failure >= since
    }
}

/// Every step of every fetch, so a call in flight names what its answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// OIDC discovery (`/.well-known/openid-configuration`).
    OpenIdConfiguration,
    /// RFC 8414 metadata, after OIDC discovery found nothing.
    OAuthMetadata,
    /// The JWKS document; `discovered` is its URL when discovery found it.
    Jwks { discovered: Option<String> },
    /// A client-credentials token request.
    Token,
    /// The fleet store's login (etcd `/v3/auth/authenticate`).
    EtcdAuth,
    /// The fleet store's servers, read with this token (etcd auth on).
    EtcdRange { token: Option<crate::common::secret::Secret> },
}

/// What a fetch does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    Call(Stage, HttpCall),
    /// The fetch succeeded with this value.
    Done(T),
    /// The fetch failed; the reason is for a log line (never a secret or an answer's body).
    Fail(String),
}

/// The shared state of a fetched value: its lease, and the value itself or its version.
pub trait Leased: Default + Serialize + DeserializeOwned {
    fn lease(&self) -> &Lease;
    fn lease_mut(&mut self) -> &mut Lease;

    fn decode(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Something fetched under a lease.
pub trait Refresh {
    type State: Leased;
    type Value;

    /// Whether the stored value wants a fetch now (no value yet, a refresh point passed, a
    /// refetch asked for); the backoff is checked apart.
    fn wants_fetch(&self, state: &Self::State, now: u64) -> bool;
    /// How long a lease holds: long enough for every call of one fetch.
    fn lease_secs(&self) -> u64;
    fn max_backoff(&self) -> u64;
    /// The largest answer read.
    fn max_answer(&self) -> usize;
    fn first_call(&self, state: &Self::State) -> Step<Self::Value>;
    /// What follows an answer (`status` 0 = no answer: reset, timeout).
    fn after_response(&self, stage: Stage, status: u32, body: &[u8]) -> Step<Self::Value>;
    /// Records a fetched value in the state.
    fn store(&self, state: &mut Self::State, value: Self::Value, now: u64);
    /// Anything besides the lease that a failure changes.
    fn on_failure(&self, _state: &mut Self::State) {}
    /// The call as it goes out, made at `now` (`nonce` unique to it): a client assertion is
    /// signed here (RFC 7523). None when it cannot be made.
    fn finalize(&self, call: HttpCall, _now: u64, _nonce: u64, _host: Option<&dyn crate::crypto::CryptoHost>) -> Option<HttpCall> {
        Some(call)
    }
    /// The shared-data key of the state.
    fn state_key(&self) -> String;
    /// A large part of a fetched value kept under its own key (written before the state that
    /// names its version), so that reading the state stays cheap: (key, bytes).
    fn detached(&self, _state: &Self::State, _value: &Self::Value) -> Option<(String, Vec<u8>)> {
        None
    }
}

/// Takes the lease for VM `holder` when a fetch is due, not backing off and not leased to a
/// live holder; true when `holder` is to fetch now.
pub fn begin<R: Refresh>(source: &R, state: &mut R::State, holder: u64, now: u64) -> bool {
    let lease = state.lease();
    if lease.backing_off(now) || !lease.free(now) || !source.wants_fetch(state, now) {
        return false;
    }
    state.lease_mut().take(holder, now, source.lease_secs());
    true
}

/// A fetch succeeded: the value is stored and the lease released.
pub fn succeed<R: Refresh>(source: &R, state: &mut R::State, value: R::Value, now: u64) {
    source.store(state, value, now);
    state.lease_mut().succeeded();
}

/// A fetch failed: the last good value stays, the next attempt backs off (at least
/// `retry_after` seconds when the server said so), the lease is released.
pub fn fail<R: Refresh>(source: &R, state: &mut R::State, now: u64, retry_after: Option<u64>) {
    source.on_failure(state);
    state.lease_mut().failed(now, source.max_backoff(), retry_after);
}

/// The longest `Retry-After` honoured (a server cannot switch a source off for good).
pub const MAX_RETRY_AFTER: u64 = 3600;

/// How long an answer asks not to be called again: `Retry-After` in seconds on a 429 or a
/// 503 (RFC 9110 §10.2.3; an HTTP-date is not read, the usual backoff applies), at most
/// `MAX_RETRY_AFTER`; a 429 without one: one second.
pub fn retry_after(status: u32, header: Option<&str>) -> Option<u64> {
    if status != 429 && status != 503 {
        return None;
    }
    let secs = header.and_then(|h| h.trim().parse::<u64>().ok());
    match (status, secs) {
        (_, Some(s)) => Some(s.min(MAX_RETRY_AFTER)),
        (429, None) => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize, Deserialize)]
    struct Counter {
        #[serde(flatten)]
        lease: Lease,
        value: Option<u32>,
        stored_at: u64,
    }

    impl Leased for Counter {
        fn lease(&self) -> &Lease {
            &self.lease
        }
        fn lease_mut(&mut self) -> &mut Lease {
            &mut self.lease
        }
    }

    struct Source;

    impl Refresh for Source {
        type State = Counter;
        type Value = u32;
        fn wants_fetch(&self, s: &Counter, now: u64) -> bool {
            s.value.is_none() || now >= s.stored_at + 100
        }
        fn lease_secs(&self) -> u64 {
            5
        }
        fn max_backoff(&self) -> u64 {
            8
        }
        fn max_answer(&self) -> usize {
            10
        }
        fn first_call(&self, _: &Counter) -> Step<u32> {
            Step::Fail("unused".into())
        }
        fn after_response(&self, _: Stage, _: u32, _: &[u8]) -> Step<u32> {
            Step::Fail("unused".into())
        }
        fn state_key(&self) -> String {
            "k".into()
        }
        fn store(&self, s: &mut Counter, v: u32, now: u64) {
            s.value = Some(v);
            s.stored_at = now;
        }
    }

    #[test]
    fn one_holder_at_a_time_until_the_lease_lapses() {
        let mut s = Counter::default();
        assert!(begin(&Source, &mut s, 1, 1000));
        assert!(!begin(&Source, &mut s, 2, 1004), "leased to 1");
        assert!(begin(&Source, &mut s, 2, 1005), "lapsed: 1 is gone");
        assert_eq!(s.lease.lease_holder, 2);
    }

    #[test]
    fn success_releases_and_stores_failure_backs_off_and_keeps_the_value() {
        let mut s = Counter::default();
        assert!(begin(&Source, &mut s, 1, 1000));
        succeed(&Source, &mut s, 7, 1000);
        assert!(!begin(&Source, &mut s, 1, 1001), "fresh value: not due");
        assert!(begin(&Source, &mut s, 1, 1100), "refresh point");
        let mut backoffs = Vec::new();
        let mut now = 1100;
        for _ in 0..5 {
            fail(&Source, &mut s, now, None);
            let next = s.lease.next_attempt;
            backoffs.push(next - now);
            assert!(!begin(&Source, &mut s, 1, next - 1));
            now = s.lease.next_attempt;
            assert!(begin(&Source, &mut s, 1, now));
        }
        assert_eq!(backoffs, [1, 2, 4, 8, 8]);
        assert_eq!(s.value, Some(7), "the last good value stays");
        assert!(s.lease.failed_since(1100) && !s.lease.failed_since(now + 1));
        succeed(&Source, &mut s, 8, now);
        assert_eq!((s.lease.failures, s.lease.next_attempt, s.lease.fetches), (0, 0, 7));
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        assert_eq!(retry_after(429, Some(" 30 ")), Some(30));
        assert_eq!(retry_after(503, Some("7")), Some(7));
        assert_eq!(retry_after(429, None), Some(1));
        assert_eq!(retry_after(429, Some("Wed, 21 Oct 2026 07:28:00 GMT")), Some(1), "a date: the usual backoff");
        assert_eq!(retry_after(503, None), None);
        assert_eq!(retry_after(500, Some("30")), None, "only 429 and 503 ask for it");
        assert_eq!(retry_after(429, Some("999999")), Some(MAX_RETRY_AFTER));
        let mut s = Counter::default();
        assert!(begin(&Source, &mut s, 1, 1000));
        fail(&Source, &mut s, 1000, Some(30));
        assert!(!begin(&Source, &mut s, 1, 1029), "no call before the server's Retry-After");
        assert!(begin(&Source, &mut s, 1, 1030));
        fail(&Source, &mut s, 1030, Some(0));
        assert_eq!(s.lease.next_attempt, 1032, "never shorter than the usual backoff");
    }

    #[test]
    fn state_round_trips_and_garbage_is_a_fresh_state() {
        let mut s = Counter::default();
        assert!(begin(&Source, &mut s, 3, 10));
        let back = Counter::decode(&s.encode());
        assert_eq!(back.lease, s.lease);
        assert_eq!(Counter::decode(b"not json").lease, Lease::default());
    }
}
