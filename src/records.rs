//! What the worker and its requests keep between callbacks: a request's phase, the calls in
//! flight and the requests held for their body. Plain data: the modules that act on it
//! (`phase`, `fetch`, `introspect`, `hold`) take the `Worker` that stores it.

use oauth_core::endpoints::OAuthEndpoint;
use oauth_core::idp::introspection::Claim;
use oauth_core::idp::lease::Stage;
use oauth_core::{Request, Wait};
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Weak;

/// One request's phase, owned by its HTTP context (and seen by the worker while it waits).
pub enum Phase {
    /// Nothing seen yet.
    Start,
    /// An OAuth endpoint request waiting for its body.
    Endpoint { ep: OAuthEndpoint, request: Request },
    /// An admin API request (already authenticated) waiting for its body.
    Admin { op: oauth_core::endpoints::admin::Op },
    /// Paused until what it waits for arrives, or its deadline.
    Waiting(Waiting),
    /// An admin API request whose write the fleet store has not answered yet.
    AdminWrite { deadline_ms: u64 },
    /// Let through; the client-credentials token sent upstream, if any: (policy, version).
    Allowed { injected: Option<(usize, u64)> },
    /// Answered by the filter itself.
    Answered,
}

pub struct Waiting {
    pub request: Request,
    pub wait: Wait,
    pub since_secs: u64,
    pub deadline_ms: u64,
    /// The worker's keys version for the awaited server when the wait began.
    pub keys_version: u64,
}

/// One fetched value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The keys of server `n`.
    Keys(usize),
    /// The client-credentials token of policy `n`.
    Token(usize),
    /// The fleet store's servers (and its login).
    Fleet,
}

/// A call in flight from the root context: which fetch, and which of its steps.
pub struct Pending {
    pub job: Job,
    pub stage: Stage,
}

/// One held request: its context, whether it is still held (cleared when its body comes),
/// and when it is let go.
pub struct Held {
    pub context: u32,
    pub waiting_for_body: Weak<Cell<bool>>,
    pub release_ms: u64,
}

/// A call asked for by a request, to be made by the root context.
pub struct Outgoing {
    pub server: usize,
    pub claim: Box<Claim>,
    /// Whether the answer goes into the token's slot (claimed for it).
    pub cached: bool,
}

/// A call in flight from the root context.
pub struct InFlight {
    pub server: usize,
    pub claim: Box<Claim>,
    pub cached: bool,
    pub started_ms: u64,
    /// Whether this is the one retry after a failed connection.
    pub retried: bool,
}

/// One write a request asked of the fleet store (`fleet`).
pub enum FleetAsk {
    /// Record a DPoP proof (at most one retry, after its lease was found gone).
    Replay { ask: oauth_core::decision::binding::ReplayAsk, retried: bool },
    /// An admin operation's write for request `context`, with what to run again if it loses a
    /// race and what to answer when it is made.
    /// `call` is built with the revision of the very server the change was made on.
    Admin { context: u32, op: oauth_core::endpoints::admin::Op, body: Vec<u8>, change: oauth_core::fleet::writes::Change, call: oauth_core::fleet::etcd::Call, response: oauth_core::LocalResponse, tries: u32 },
    /// A lease for proofs.
    Lease { ttl: u64 },
}

/// What this worker keeps of the fleet store (`fleet`).
#[derive(Default)]
pub struct Fleet {
    /// The shared poll state as last read (servers, token).
    pub state: oauth_core::fleet::servers::PollState,
    pub outbox: Vec<FleetAsk>,
    pub in_flight: HashMap<u32, FleetAsk>,
    /// The lease proofs are recorded under, and until when it may be used (seconds).
    pub lease: Option<(i64, u64)>,
    /// Proof hashes answered: Some(first use) or None (the store could not say).
    pub replays: HashMap<String, Option<bool>>,
    /// Admin answers for the requests that wait for them, by context.
    pub admin_answers: HashMap<u32, oauth_core::LocalResponse>,
}
