//! One request's decision: which policy, is the token good (`authenticate`), and what goes
//! upstream (`upstream`). A pure function of (configuration, request facts, the time, what the
//! worker knows); the time is read only by a step that needs it (`Now`). When the decision
//! needs something that is not there yet, it says what to wait for, how long, and what to
//! answer if it never comes.

use crate::decision::authenticate::{self, Answered, Asked, Check, Presented};
use crate::decision::binding::{self, Binding, Bound, ReplayAsk};
use crate::decision::extract::TokenSource;
use crate::config::{AllowAnonymous, Config, Policy, DEFAULT_REALM};
use crate::idp::introspection::Claim;
use crate::decision::state::{Event, WorkerState};
use crate::decision::upstream::{self, UpstreamEdits};
use crate::common::clock::Now;
use crate::common::digest::TokenDigest;
use crate::decision::verdicts::Verdict;
use crate::{Denial, LocalResponse, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { policy: usize, edits: UpstreamEdits },
    Deny { denial: Denial, response: LocalResponse },
    /// The request must wait (only when the decision was allowed to ask for it).
    Wait(Wait),
}

/// What a request waits for, until when, and the answer when it does not come in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub on: WaitOn,
    pub max_wait_ms: u64,
    /// The refusal when the wait ends without what it waited for (deadline passed, fetch
    /// failed), with the policy's realm.
    pub denial: Denial,
    pub response: LocalResponse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOn {
    /// The keys of `server` are missing (first fetch) or lack the token's kid (`refetch`).
    Keys { server: usize, refetch: bool },
    /// No cached answer for this token: claim its slot and call the IdP, or wait for the
    /// request that already does.
    Introspection { server: usize, claim: Box<Claim> },
    /// The request may go on but its upstream token is not there yet.
    UpstreamToken { policy: usize },
    /// Its DPoP proof is new here: the fleet store records it, unless a replica did.
    Replay(ReplayAsk),
}

/// Decides a request seen for the first time; it may be asked to wait.
pub fn decide(cfg: &Config, req: &Request, now: &Now, state: &dyn WorkerState) -> Decision {
    match route(cfg, req) {
        Ok(index) => decide_in(cfg, index, req, now, state, Waits::Any, None),
        Err(refused) => refused,
    }
}

/// Decides a request again once what it waited for came (or not): it never waits again.
/// `answered` is the introspection answer this request's own call brought, if any.
pub fn decide_again(cfg: &Config, req: &Request, now: &Now, state: &dyn WorkerState, answered: Option<&Answered>) -> Decision {
    match route(cfg, req) {
        Ok(index) => decide_in(cfg, index, req, now, state, Waits::StoreOnly, answered),
        Err(refused) => refused,
    }
}

/// The policy covering the request, or its refusal.
fn route(cfg: &Config, req: &Request) -> Result<usize, Decision> {
    crate::decision::routing::select(&cfg.routes, cfg.default_policy, |n| cfg.policy_index(n), req).map_err(|d| deny(d, DEFAULT_REALM))
}

/// Decides a request under the given policy, without waiting: an admin API request (whose
/// token must be checkable at once; keys still being fetched are a 503).
pub fn decide_policy(cfg: &Config, index: usize, req: &Request, now: &Now, state: &dyn WorkerState) -> Decision {
    decide_in(cfg, index, req, now, state, Waits::Never, None)
}

/// Which waits a decision may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    /// A first decision.
    Any,
    /// A decision taken again (keys or an introspection answer came): only the fleet store's
    /// record of a DPoP proof, which only a decision that got this far can ask for.
    StoreOnly,
    /// An admin API request.
    Never,
}

fn decide_in(cfg: &Config, index: usize, req: &Request, now: &Now, state: &dyn WorkerState, waits: Waits, answered: Option<&Answered>) -> Decision {
    match cfg.policies.get(index) {
        Some(policy) => Decider { cfg, policy, index, req, now, state, may_wait: waits == Waits::Any, may_ask_store: waits != Waits::Never }.decide(answered),
        None => deny(Denial::NoPolicy, DEFAULT_REALM),
    }
}

/// One request's decision under one policy: what every step reads, held once.
struct Decider<'a> {
    cfg: &'a Config,
    policy: &'a Policy,
    /// The policy's index (what the worker keys upstream tokens by).
    index: usize,
    req: &'a Request,
    /// Read only by a step that needs the time (not on a public route).
    now: &'a Now<'a>,
    state: &'a dyn WorkerState,
    /// A first decision may ask the request to wait; a second one decides with what is there.
    may_wait: bool,
    /// Whether it may wait for the fleet store to record a DPoP proof.
    may_ask_store: bool,
}

impl Decider<'_> {
    fn decide(&self, answered: Option<&Answered>) -> Decision {
        let (cfg, policy, state) = (self.cfg, self.policy, self.state);
        let mut edits = UpstreamEdits { remove: upstream::spoofable_headers(cfg, self.req), ..UpstreamEdits::default() };
        if policy.public || (!policy.run_on_preflight && is_preflight(self.req)) {
            return self.with_upstream_token(edits);
        }
        // A request that will wait for the upstream token is decided whole once it is there, so a
        // DPoP proof is recorded once, by that decision (recorded now, the second decision would
        // take it for a replay).
        if let (true, Some(cc)) = (self.may_wait, &policy.client_credentials) {
            let proves = policy.servers.iter().any(|s| cfg.servers.get(*s).is_some_and(|s| s.binding.dpop.is_some()));
            if proves && state.upstream_token(self.index).is_none() {
                return self.wait(WaitOn::UpstreamToken { policy: self.index }, cc.max_wait_ms, Denial::UpstreamTokenUnavailable);
            }
        }
        // The token of a policy that reads one header, seen before, leaving nothing to do but
        // the header writes: a lookup, its value not read (see `authenticate::quick`).
        let quick = authenticate::quick(cfg, policy, self.req);
        let looked_up = quick.as_ref().map(|q| (q.digest, self.verdict(&q.digest)));
        if let Some((_, Some(v))) = &looked_up {
            if self.leaves_only_writes(v) {
                self.count_hit(v);
                edits.identity = Some(v.headers.clone());
                return self.with_upstream_token(edits);
            }
        }
        self.read_whole(answered, edits, quick, looked_up)
    }

    /// The rest of `decide`, for a token not decided by the quick lookup: read from every
    /// source, then a lookup or its checks. Out of line (`inline(never)`): a hit runs through
    /// less code.
    #[inline(never)]
    fn read_whole(&self, answered: Option<&Answered>, mut edits: UpstreamEdits, quick: Option<authenticate::Quick>, looked_up: Option<(TokenDigest, Option<Verdict>)>) -> Decision {
        let (cfg, policy, state) = (self.cfg, self.policy, self.state);
        let presented = match authenticate::present(cfg, policy, self.req, quick.as_ref()) {
            Ok(p) => p,
            Err(d) => return self.refused(d, edits),
        };
        // A single token seen before under this policy: a lookup (made above for the same token).
        let single = single(&presented).copied();
        let verdict = match (single, looked_up) {
            (Some(d), Some((q, v))) if d == q => v,
            (d, _) => d.and_then(|d| self.verdict(&d)),
        };
        if let Some(v) = verdict {
            self.count_hit(&v);
            // A bound token proves its holder on every request.
            if let Err(b) = self.bound_all(&presented, (v.server, &v.binding), &v.others) {
                return self.unbound(b, edits);
            }
            edits.identity = Some(v.headers);
            return self.allowed(&presented, edits);
        }
        let asked = Asked { now: self.now.get(), state, may_wait: self.may_wait, answered };
        match authenticate::authenticate(cfg, policy, &presented, &asked) {
            Ok(a) => {
                let binding = Binding::of(&a.identity);
                if let Err(b) = self.bound_all(&presented, (a.server, &binding), &a.others) {
                    return self.unbound(b, edits);
                }
                let scopes = a.identity.scopes();
                if !crate::decision::rules::has_scopes(scopes.as_deref(), &policy.required_scopes, policy.claim_rules.any_scope) {
                    return self.refuse(Denial::InsufficientScope);
                }
                if let Err(d) = policy.claim_rules.check(&a.identity) {
                    return self.refuse(d);
                }
                let headers = upstream::render(cfg, policy, &a.identity, scopes);
                if let Some(d) = single {
                    let keys_version = state.keys_version(a.server);
                    let from_header = presented.tokens.iter().all(|(_, f, _)| matches!(f.source, TokenSource::Header { .. }));
                    let verdict = Verdict { headers: headers.clone(), server: a.server, keys_version, valid_until: a.valid_until, binding, others: a.others, from_header };
                    policy.verdicts.insert(d, verdict);
                    policy.verdicts.keep(a.identity);
                }
                edits.identity = Some(headers);
                self.allowed(&presented, edits)
            }
            Err(Check::Denied(d)) => self.refused(d, edits),
            Err(Check::Keys { server, refetch }) => {
                let max_wait_ms = cfg.servers.get(server).and_then(|s| s.remote.as_ref()).map_or(0, |r| r.max_wait_ms);
                self.wait(WaitOn::Keys { server, refetch }, max_wait_ms, Denial::KeysUnavailable)
            }
            Err(Check::Introspect { server, slot, token }) => match cfg.introspection(server) {
                Some(rules) => {
                    let claim = Box::new(rules.claim(slot, &token, self.req));
                    self.wait(WaitOn::Introspection { server, claim }, rules.max_wait_ms, Denial::IdpUnavailable)
                }
                None => self.refuse(Denial::IdpUnavailable),
            },
        }
    }

    /// The policy's verdict on the token with `digest`, if one holds.
    fn verdict(&self, digest: &TokenDigest) -> Option<Verdict> {
        self.policy.verdicts.get(digest, self.now.get(), |s| self.state.keys_version(s))
    }

    /// Whether a verdict found by the quick lookup may be used: on a token read from the
    /// header before, leaving nothing to do but the header writes (no binding to prove, no
    /// credential to hide). Else the token is read whole.
    fn leaves_only_writes(&self, v: &Verdict) -> bool {
        let proves = self.cfg.servers.get(v.server).is_none_or(|s| !s.binding.nothing_to_prove(&v.binding));
        v.from_header && !self.policy.hide_credentials && v.others.is_empty() && !proves
    }

    /// A verdict used: an introspection hit, on a request's first decision.
    fn count_hit(&self, v: &Verdict) {
        if self.may_wait && self.cfg.introspection(v.server).is_some() {
            self.state.count(Event::IntrospectionHit);
        }
    }

    /// Whether the request holds what the token of `server` is bound to (DPoP key, client
    /// certificate); a token bound to nothing passes unless the server asks for a binding.
    fn bound(&self, presented: &Presented, server: usize, binding: &Binding) -> Result<(), Bound> {
        let Some(rules) = self.cfg.servers.get(server).map(|s| &s.binding) else { return Ok(()) };
        if rules.nothing_to_prove(binding) {
            return Ok(()); // the common case
        }
        let found = presented.tokens.iter().find(|(s, _, _)| *s == server).or(presented.tokens.first());
        let Some((_, found, _)) = found else { return Err(Denial::MissingToken.into()) };
        binding::check(rules, binding, *found.source == TokenSource::dpop(), &found.token, self.req, self.now.get(), self.state).map_err(|b| match b {
            Bound::Ask(ask) => Bound::Ask(ReplayAsk { server, ..ask }),
            denied => denied,
        })
    }

    /// A token whose binding does not hold (refused), or whose DPoP proof the fleet store
    /// must record first (a wait; 503 when the request may not wait).
    fn unbound(&self, bound: Bound, edits: UpstreamEdits) -> Decision {
        match bound {
            Bound::Denied(d) => self.refused(d, edits),
            Bound::Ask(ask) => match &self.cfg.store {
                Some(store) if self.may_ask_store => self.wait(WaitOn::Replay(ask), store.timeout_ms.saturating_mul(2) + 1000, Denial::StoreUnavailable),
                _ => self.refuse(Denial::StoreUnavailable),
            },
        }
    }

    /// `bound` for the server that accepted the token and, with `requires_all`, for every other
    /// server with its own token's binding: each server's binding rules hold.
    fn bound_all(&self, presented: &Presented, main: (usize, &Binding), others: &[(usize, Binding)]) -> Result<(), Bound> {
        self.bound(presented, main.0, main.1)?;
        others.iter().try_for_each(|(server, binding)| self.bound(presented, *server, binding))
    }

    fn allowed(&self, presented: &Presented, mut edits: UpstreamEdits) -> Decision {
        if self.policy.hide_credentials {
            upstream::hide_all(presented.tokens.iter().map(|(_, f, _)| f), self.req, &mut edits);
        }
        self.with_upstream_token(edits)
    }

    /// A failed authentication: Kong's `anonymous` lets a 401 go on as that consumer (never a
    /// 503, an unknown outcome, nor a 403).
    fn refused(&self, denial: Denial, mut edits: UpstreamEdits) -> Decision {
        match self.policy.anonymous.and_then(|i| self.cfg.consumers.get(i)) {
            Some(consumer) if denial.status() == 401 => {
                upstream::anonymous(consumer, &mut edits);
                self.with_upstream_token(edits)
            }
            _ if lets_anonymous_through(self.policy.allow, denial) => {
                edits.set.push(("x-anonymous-consumer".into(), "true".into()));
                self.with_upstream_token(edits)
            }
            _ => self.refuse(denial),
        }
    }

    /// KrakenD's client credentials: the fetched token goes upstream in `Authorization`.
    fn with_upstream_token(&self, mut edits: UpstreamEdits) -> Decision {
        let (policy, index) = (self.policy, self.index);
        edits.set.extend(policy.upstream_headers.iter().map(|(k, v)| (k.clone().into(), v.clone())));
        let Some(cc) = &policy.client_credentials else { return Decision::Allow { policy: index, edits } };
        if upstream::keeps_client_authorization(policy, self.req, &edits) {
            return Decision::Allow { policy: index, edits };
        }
        match self.state.upstream_token(index) {
            Some((token, version)) => {
                upstream::put_upstream_token(&mut edits, token, version);
                Decision::Allow { policy: index, edits }
            }
            None if self.may_wait => self.wait(WaitOn::UpstreamToken { policy: index }, cc.max_wait_ms, Denial::UpstreamTokenUnavailable),
            None => self.refuse(Denial::UpstreamTokenUnavailable),
        }
    }

    fn wait(&self, on: WaitOn, max_wait_ms: u64, denial: Denial) -> Decision {
        Decision::Wait(Wait { on, max_wait_ms, denial, response: self.policy.refusals.render(denial) })
    }

    /// A refusal under the policy: its realm, challenges and error shape.
    fn refuse(&self, denial: Denial) -> Decision {
        Decision::Deny { denial, response: self.policy.refusals.render(denial) }
    }
}

/// The digest of the token presented, when there is one token (found by one server or
/// several): the verdict cache's key.
fn single<'p>(p: &'p Presented) -> Option<&'p crate::common::digest::TokenDigest> {
    let (_, _, first) = p.tokens.first()?;
    p.tokens.iter().all(|(_, _, d)| d == first).then_some(first)
}

/// jwt_authn's `allow_missing` / `allow_missing_or_failed`: a missing token, or one that failed
/// its checks (401), goes on anonymous; never a request refused for another reason (400, 503).
fn lets_anonymous_through(allow: AllowAnonymous, denial: Denial) -> bool {
    match allow {
        AllowAnonymous::Never => false,
        AllowAnonymous::Missing => denial == Denial::MissingToken,
        AllowAnonymous::MissingOrFailed => denial.status() == 401,
    }
}

/// What Kong's `run_on_preflight: false` skips: every OPTIONS request, as Kong's plugin does
/// (not only those that carry CORS preflight headers).
fn is_preflight(req: &Request) -> bool {
    req.method() == "OPTIONS"
}

/// A refusal before any policy applies (no route, unknown policy).
fn deny(denial: Denial, realm: &str) -> Decision {
    Decision::Deny { denial, response: denial.respond(realm, "") }
}
