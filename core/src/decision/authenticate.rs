//! Who is this: each server's token found and checked (inline or fetched keys, or an
//! introspection answer), any one server accepting (or, with `requires_all`, every one).

use crate::config::{Config, Policy, Strategy};
use crate::common::digest::{digest, TokenDigest};
use crate::decision::extract::{self, Found, TokenSource};
use crate::idp::introspection::{Lookup, SlotKey};
use crate::decision::state::{Event, WorkerState};
use crate::{Denial, Identity, Request};
use serde_json::Value;

/// The tokens a request carries for a policy: (server index, token, its digest).
pub struct Presented<'a> {
    pub tokens: Vec<(usize, Found<'a>, TokenDigest)>,
    /// A server of the policy found no token in its sources.
    pub missing: bool,
}

/// Why a token is not accepted (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Denied(Denial),
    /// The keys of `server` are missing or lack the token's kid (`refetch`).
    Keys { server: usize, refetch: bool },
    /// No cached answer for this token at introspection server `server`.
    Introspect { server: usize, slot: SlotKey, token: String },
}

/// An introspection answer that arrived for this request, used instead of the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub server: usize,
    pub lookup: Lookup,
}

/// One authenticated request: the identity and the server whose answer it is (the first one
/// with `requires_all`), with how long that answer may be reused.
pub struct Authenticated {
    pub identity: Identity,
    pub server: usize,
    pub valid_until: u64,
    /// With `requires_all`: what each other server's token is bound to (each server's binding
    /// rules apply to its own token; the merged claims hold only the first `cnf`).
    pub others: Vec<(usize, crate::decision::binding::Binding)>,
}

/// The token of a policy that reads one header (one server, one header source, and perhaps
/// query parameters the request has none of) when the request has that header once: its
/// bytes, located without reading the value as text, and their digest. A token seen before is
/// then a verdict lookup with no scan of the value: a verdict on a token that header gave
/// (`Verdict::from_header`) is on one scanned then (UTF-8, no comma, no control character),
/// and a value holding the same token around ASCII whitespace and the scheme reads as that
/// same token (`extract::header_token`).
pub struct Quick<'a> {
    pub token: &'a [u8],
    pub digest: TokenDigest,
    /// The header's whole value, and the source it is read for.
    value: &'a [u8],
    source: &'a TokenSource,
    server: usize,
}

impl<'a> Quick<'a> {
    /// The token as `present` finds it, when the header's value leaves nothing to read
    /// closer: ASCII, no comma, no control character. Its only whitespace is then the space,
    /// which `extract` trims as `extract::header_token` does, and the one value of the policy's
    /// one header source (with no query to read) is all `extract` reads: the same token. None
    /// when the value needs `extract`'s reading.
    fn presented(&self) -> Option<Found<'a>> {
        if !crate::common::codec::plain(self.value) {
            return None;
        }
        let token = std::str::from_utf8(self.token).ok()?;
        Some(Found { token: std::borrow::Cow::Borrowed(token), source: self.source })
    }
}

pub fn quick<'a>(cfg: &'a Config, policy: &'a Policy, req: &'a Request) -> Option<Quick<'a>> {
    let [server] = policy.servers.as_slice() else { return None };
    let sources = cfg.servers.get(*server)?.token_sources.as_deref().unwrap_or(&policy.sources);
    let mut header = None;
    for source in sources {
        match source {
            TokenSource::Header { name, prefix } if header.is_none() => header = Some((source, name, prefix)),
            // Introspecting policies also read `?access_token=`: nothing to read without a query.
            TokenSource::Query(_) if !req.headers.first(":path").is_some_and(|p| p.contains(&b'?')) => {}
            _ => return None,
        }
    }
    let (source, name, prefix) = header?;
    let value = req.headers.only(name)?;
    let token = extract::header_token(value, prefix.as_deref())?;
    Some(Quick { token, digest: digest(token), value, source, server: *server })
}

/// Finds each server's token (its own sources, or the policy's). `quick`: a token already
/// located and hashed: taken as it is when its header's value is plain (`Quick::presented`),
/// else its digest is reused when it is the very token found.
pub fn present<'a>(cfg: &'a Config, policy: &'a Policy, req: &'a Request, quick: Option<&Quick<'a>>) -> Result<Presented<'a>, Denial> {
    if let Some((q, found)) = quick.and_then(|q| Some((q, q.presented()?))) {
        return Ok(Presented { tokens: vec![(q.server, found, q.digest)], missing: false });
    }
    // Room for every server's token: growing the list made the allocator run twice.
    let mut tokens = Vec::with_capacity(policy.servers.len());
    let mut missing = false;
    for &i in &policy.servers {
        let sources = cfg.servers.get(i).and_then(|s| s.token_sources.as_deref()).unwrap_or(&policy.sources);
        match extract::extract(sources, req)? {
            Some(f) => {
                // The same token found by several servers is hashed once.
                let known = tokens.iter().find(|(_, g, _): &&(usize, Found, TokenDigest)| g.token == f.token).map(|(_, _, d)| *d);
                let hashed = quick.filter(|q| std::ptr::eq(q.token, f.token.as_bytes())).map(|q| q.digest);
                let d = known.or(hashed).unwrap_or_else(|| digest(f.token.as_bytes()));
                tokens.push((i, f, d));
            }
            None => missing = true,
        }
    }
    if tokens.is_empty() || (policy.requires_all && missing) {
        return Err(Denial::MissingToken);
    }
    Ok(Presented { tokens, missing })
}

/// What a check reads besides the configuration and the token.
pub struct Asked<'a> {
    pub now: u64,
    /// What the worker knows: fetched keys, introspection answers, the host's crypto.
    pub state: &'a dyn WorkerState,
    /// A first decision may wait for keys or an introspection answer; a second may not.
    pub may_wait: bool,
    /// The introspection answer the request's own call brought, if any.
    pub answered: Option<&'a Answered>,
}

/// Checks the presented tokens: any one server accepting its token is enough, or with
/// `requires_all` every server must (claims merged, first server first).
pub fn authenticate(cfg: &Config, policy: &Policy, presented: &Presented, asked: &Asked) -> Result<Authenticated, Check> {
    let check = |i: usize, f: &Found, d: &TokenDigest| check_one(cfg, i, &f.token, d, asked);
    if policy.requires_all {
        let mut merged = serde_json::Map::new();
        let mut until = u64::MAX;
        let mut first = None;
        let mut others = Vec::new();
        for (i, f, d) in &presented.tokens {
            let one = check(*i, f, d)?;
            until = until.min(one.valid_until);
            if first.is_some() {
                others.push((*i, crate::decision::binding::Binding::of(&one.identity)));
            }
            first.get_or_insert(*i);
            for (k, v) in one.identity.claims.to_map() {
                merged.entry(k).or_insert(v);
            }
        }
        return Ok(Authenticated { identity: Identity::new(merged), server: first.unwrap_or(0), valid_until: until, others });
    }
    if let [(i, f, d)] = presented.tokens.as_slice() {
        return check(*i, f, d); // one token (most requests): no order to make
    }
    let mut order: Vec<usize> = (0..presented.tokens.len()).collect();
    if order.len() > 1 {
        order.sort_by_key(|&n| presented.tokens.get(n).map_or(3, |(i, f, _)| issuer_rank(cfg, *i, &f.token)));
    }
    let mut first = None;
    for n in order {
        let Some((i, f, d)) = presented.tokens.get(n) else { continue };
        match check(*i, f, d) {
            Ok(a) => return Ok(a),
            Err(Check::Denied(d)) => {
                first.get_or_insert(d);
            }
            Err(wait) => return Err(wait),
        }
    }
    Err(Check::Denied(first.unwrap_or(Denial::MissingToken)))
}

/// One server's check of one token, with its inline and fetched keys or its introspection
/// answer.
fn check_one(cfg: &Config, index: usize, token: &str, digest: &TokenDigest, asked: &Asked) -> Result<Authenticated, Check> {
    let &Asked { now, state, may_wait, answered } = asked;
    let Some(server) = cfg.servers.get(index) else {
        // Perhaps one the fleet store holds, not read yet: the token cannot be checked now.
        return Err(Check::Denied(if state.servers_pending() { Denial::StoreUnavailable } else { Denial::UnknownServer }));
    };
    let rules = match &server.strategy {
        Strategy::Jwt(rules) => rules,
        Strategy::Introspection(rules) => {
            let (lookup, slot) = match answered.filter(|a| a.server == index) {
                Some(a) => (a.lookup.clone(), None),
                None => {
                    let slot = rules.slot_key(token);
                    let lookup = state.introspection(index, &slot);
                    let event = match lookup {
                        Lookup::Hit(..) | Lookup::Inactive => Some(Event::IntrospectionHit),
                        Lookup::Miss | Lookup::Pending => Some(Event::IntrospectionMiss),
                        Lookup::Failed => None,
                    };
                    // Counted on a request's first look only: a request decided again (its own
                    // answer arrived, or another worker's) was already counted.
                    if let Some(e) = event.filter(|_| may_wait) {
                        state.count(e);
                    }
                    (lookup, Some(slot))
                }
            };
            return match (lookup, slot) {
                (Lookup::Hit(id, until), _) => {
                    rules.check(&id, now).map_err(Check::Denied)?;
                    // The slot's `until` is the first second it no longer holds.
                    let valid_until = until.saturating_sub(1).min(exp_until(&id, rules.leeway_secs));
                    Ok(Authenticated { identity: id, server: index, valid_until, others: Vec::new() })
                }
                (Lookup::Inactive, _) => Err(Check::Denied(Denial::Inactive)),
                (Lookup::Failed, _) => Err(Check::Denied(Denial::IdpUnavailable)),
                (Lookup::Pending | Lookup::Miss, Some(slot)) if may_wait => {
                    Err(Check::Introspect { server: index, slot, token: token.to_string() })
                }
                (Lookup::Pending | Lookup::Miss, _) => Err(Check::Denied(Denial::IdpUnavailable)),
            };
        }
    };
    let result = match (&server.remote, state.fetched(index)) {
        (None, _) => rules.verify_cached(token, digest, now, &[], 0, state.crypto()),
        (Some(_), Some(fetched)) => {
            match rules.verify_cached(token, digest, now, fetched, state.keys_version(index), state.crypto()) {
                Err(Denial::NoMatchingKey) if may_wait && state.may_refetch(index) => {
                    return Err(Check::Keys { server: index, refetch: true })
                }
                other => other,
            }
        }
        (Some(_), None) => match rules.verify_with_keys(token, now, &[], state.crypto()) {
            Err(Denial::NoMatchingKey) if may_wait => return Err(Check::Keys { server: index, refetch: false }),
            Err(Denial::NoMatchingKey) => Err(Denial::KeysUnavailable),
            other => other,
        },
    };
    let identity = result.map_err(Check::Denied)?;
    let valid_until = exp_until(&identity, rules.leeway_secs);
    Ok(Authenticated { identity, server: index, valid_until, others: Vec::new() })
}

/// The last second a token with these claims may be used: `exp` plus leeway, or forever.
fn exp_until(id: &Identity, leeway: u64) -> u64 {
    id.claims.secs(crate::common::claims::Time::Exp).map_or(u64::MAX, |e| e.saturating_add(leeway))
}

/// Which servers to try first for a token (any-of): those whose `issuers` name the token's
/// unverified `iss` (0), then those without an issuer list (1), then the others (2).
fn issuer_rank(cfg: &Config, index: usize, token: &str) -> u8 {
    let issuers = match cfg.servers.get(index).map(|s| &s.strategy) {
        Some(Strategy::Jwt(r)) => r.issuers.as_slice(),
        Some(Strategy::Introspection(_)) | None => &[],
    };
    if issuers.is_empty() {
        return 1;
    }
    match unverified_issuer(token) {
        Some(iss) if issuers.contains(&iss) => 0,
        _ => 2,
    }
}

/// The `iss` of a token's payload, read before any check; only used to choose a server.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::common::b64url::decode(payload)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(String::from)
}

