//! What the worker and its requests keep between callbacks: a request's phase, the calls in
//! flight and the requests held for their body. Plain data: the modules that act on it
//! (`phase`, `fetch`, `introspect`, `hold`) take the `Worker` that stores it.

use oauth_core::endpoints::OAuthEndpoint;
use oauth_core::idp::introspection::Claim;
use oauth_core::idp::lease::Stage;
use oauth_core::{Request, Wait};
use std::cell::Cell;
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
