//! Policies (what a request must carry and what goes upstream) and token sources.

use super::super::raw::{RawPolicy, RawTokenSource};
use super::super::{AllowAnonymous, Consumer, ConsumerBy, Policy, Server, Strategy, DEFAULT_REALM};
use super::check::{self, err, Res};
use crate::decision::denial::{ErrorShape, Refusals};
use crate::decision::extract::TokenSource;

pub fn policy(path: &str, name: String, mut raw: RawPolicy, servers: &[Server], admin: bool, consumers: &[Consumer]) -> Res<Policy> {
    let upstream_headers = upstream_headers(path, std::mem::take(&mut raw.upstream_headers))?;
    let claim_rules = super::claim_rules::claim_rules(path, &mut raw)?;
    let (filter_state, forward_payload_header) = state_outputs(path, &mut raw)?;
    let anonymous = match &raw.anonymous {
        None => None,
        Some(id) => match consumers.iter().position(|c| &c.id == id) {
            Some(i) => Some(i),
            None => return err(format!("{path}.anonymous"), format!("no consumer with id `{id}` in `consumers`")),
        },
    };
    let consumer_by = match raw.consumer_by.as_deref() {
        None | Some("username") => ConsumerBy::Username,
        Some("client_id") => ConsumerBy::ClientId,
        Some(_) => return err(format!("{path}.consumer_by"), "must be \"username\" or \"client_id\""),
    };
    let server_ids = server_ids(path, &raw, servers, admin)?;
    // KrakenD: a backend with client credentials alone is public ("unless you protect it
    // with JWT"): the policy says only what goes upstream.
    if server_ids.is_empty() && !raw.public && raw.upstream_client_credentials.is_none() {
        return err(format!("{path}.oauth_server"), "required unless the policy is public");
    }
    raw.public |= server_ids.is_empty();
    let refusals = refusals(path, &raw, &server_ids, servers)?;
    let sources = sources(path, raw.token_sources.take(), &server_ids, servers, !refusals.dpop_algs.is_empty())?;
    let requires_all = match raw.requires.as_deref() {
        None | Some("any") => false,
        Some("all") => true,
        Some(_) => return err(format!("{path}.requires"), "must be \"any\" or \"all\""),
    };
    let claim_headers = claim_headers(path, std::mem::take(&mut raw.claim_to_headers), std::mem::take(&mut raw.custom_claims_forward))?;
    // Verdicts are kept as long as the policy's servers keep verified tokens
    // (`verified_cache_size: 0` turns both off).
    let verdict_capacity = server_ids
        .iter()
        .filter_map(|&i| match servers.get(i).map(|s| &s.strategy) {
            Some(Strategy::Jwt(r)) => Some(r.cache.capacity()),
            _ => None,
        })
        .min()
        .unwrap_or(crate::jwt::cache::DEFAULT_CAPACITY);
    Ok(Policy {
        verdicts: crate::decision::verdicts::Verdicts::new(verdict_capacity),
        name,
        public: raw.public,
        servers: server_ids,
        requires_all,
        hide_credentials: raw.hide_credentials,
        required_scopes: raw.required_scopes,
        anonymous,
        run_on_preflight: raw.run_on_preflight.unwrap_or(true),
        consumer_by,
        upstream_headers,
        refusals,
        client_credentials: match raw.upstream_client_credentials {
            Some(c) => Some(super::client_credentials::client_credentials(&format!("{path}.upstream_client_credentials"), c)?),
            None => None,
        },
        sources,
        claim_headers,
        claim_rules,
        filter_state,
        forward_payload_header,
        allow: match raw.pass_anonymous.as_deref() {
            None => AllowAnonymous::Never,
            Some("missing") => AllowAnonymous::Missing,
            Some("missing_or_failed") => AllowAnonymous::MissingOrFailed,
            Some(_) => return err(format!("{path}.pass_anonymous"), "must be \"missing\" or \"missing_or_failed\""),
        },
    })
}

/// Headers set on the request that goes upstream.
fn upstream_headers(path: &str, listed: Vec<super::super::raw::RawHeader>) -> Res<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, h) in listed.into_iter().enumerate() {
        let at = format!("{path}.upstream_headers[{i}]");
        let name = check::header_name(&format!("{at}.name"), &h.name.to_ascii_lowercase())?;
        check::no_control(format!("{at}.value"), &h.value)?;
        out.push((name, h.value));
    }
    Ok(out)
}

/// What the policy writes for later filters: filter state (and its further claims), and the
/// header carrying the verified claims.
fn state_outputs(path: &str, raw: &mut RawPolicy) -> Res<(Option<Vec<String>>, Option<String>)> {
    for (i, c) in raw.filter_state_claims.iter().enumerate() {
        if c.is_empty() || c.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
            return err(format!("{path}.filter_state_claims[{i}]"), "must be a claim path without spaces or control characters");
        }
    }
    if !raw.filter_state && !raw.filter_state_claims.is_empty() {
        return err(format!("{path}.filter_state_claims"), "needs `filter_state: true`");
    }
    let filter_state = raw.filter_state.then(|| std::mem::take(&mut raw.filter_state_claims));
    let forward_payload_header = match raw.forward_payload_header.take() {
        Some(h) => Some(check::header_name(&format!("{path}.forward_payload_header"), &h)?),
        None => None,
    };
    Ok((filter_state, forward_payload_header))
}

/// The servers the policy names (`oauth_server` or `oauth_servers`), as indexes.
fn server_ids(path: &str, raw: &RawPolicy, servers: &[Server], admin: bool) -> Res<Vec<usize>> {
    let names: Vec<(String, String)> = match (&raw.oauth_server, &raw.oauth_servers) {
        (Some(_), Some(_)) => return err(path, "set `oauth_server` or `oauth_servers`, not both"),
        (Some(s), None) => vec![(format!("{path}.oauth_server"), s.clone())],
        (None, Some(list)) => list.iter().enumerate().map(|(i, s)| (format!("{path}.oauth_servers[{i}]"), s.clone())).collect(),
        (None, None) => Vec::new(),
    };
    let mut ids = Vec::new();
    for (p, s) in &names {
        match servers.iter().position(|x| &x.name == s) {
            Some(i) => ids.push(i),
            // With the admin API, a server may be added later: until then its tokens are
            // refused (401, `UnknownServer`).
            None if admin => ids.push(usize::MAX),
            None => return err(p.clone(), format!("unknown oauth server `{s}`")),
        }
    }
    Ok(ids)
}

/// How the policy words its refusals: realm, required scopes (as the challenge quotes them),
/// the DPoP challenge of its servers, and the body's shape.
fn refusals(path: &str, raw: &RawPolicy, server_ids: &[usize], servers: &[Server]) -> Res<Refusals> {
    for (i, scope) in raw.required_scopes.iter().enumerate() {
        // RFC 6749 §3.3 scope-token characters, so the challenge's quoted string stays intact.
        if scope.is_empty() || !scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
            return err(format!("{path}.required_scopes[{i}]"), "not a valid scope token");
        }
    }
    let realm = raw.realm.clone().unwrap_or_else(|| DEFAULT_REALM.into());
    if realm.is_empty() || realm.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return err(format!("{path}.realm"), "must be non-empty, without quotes, backslashes or control characters");
    }
    // RFC 9449: where a server takes DPoP, the challenge names the proof algorithms.
    let dpop_algs = server_ids
        .iter()
        .filter_map(|&i| servers.get(i).and_then(|s| s.binding.dpop.as_ref()))
        .map(|d| d.algs.clone())
        .next()
        .unwrap_or_default();
    let shape = match &raw.error_body_field {
        None => ErrorShape::OAuth,
        Some(f) if !f.is_empty() && !f.chars().any(char::is_control) => ErrorShape::DescriptionUnder(f.clone()),
        Some(_) => return err(format!("{path}.error_body_field"), "must be a non-empty name without control characters"),
    };
    Ok(Refusals { realm, scope: raw.required_scopes.join(" "), dpop_algs, shape })
}

/// Where the policy finds tokens: `token_sources`, or the bearer header (and, where every
/// server introspects, `?access_token=`); with DPoP, `Authorization: DPoP` too.
fn sources(path: &str, listed: Option<Vec<RawTokenSource>>, server_ids: &[usize], servers: &[Server], dpop: bool) -> Res<Vec<TokenSource>> {
    // Opaque tokens are also read from the query (RFC 6750 §2.3), as introspecting gateways
    // (Kong's oauth2-introspection) do, unless `token_sources` says otherwise.
    let introspecting = !server_ids.is_empty()
        && server_ids.iter().all(|&i| matches!(servers.get(i).map(|s| &s.strategy), Some(Strategy::Introspection(_))));
    let mut sources = match listed {
        None if introspecting => vec![TokenSource::bearer(), TokenSource::Query("access_token".into())],
        None => vec![TokenSource::bearer()],
        Some(list) => token_sources(&format!("{path}.token_sources"), list)?,
    };
    if dpop && sources.contains(&TokenSource::bearer()) {
        sources.push(TokenSource::dpop());
    }
    Ok(sources)
}

/// The identity headers the policy adds: `claim_to_headers` and `custom_claims_forward`.
fn claim_headers(path: &str, listed: Vec<super::super::raw::RawClaimHeader>, forwarded: Vec<String>) -> Res<Vec<(String, String)>> {
    let mut headers = Vec::new();
    for (i, c) in listed.into_iter().enumerate() {
        let p = format!("{path}.claim_to_headers[{i}]");
        if c.claim_name.is_empty() {
            return err(format!("{p}.claim_name"), "must not be empty");
        }
        headers.push((check::header_name(&format!("{p}.header_name"), &c.header_name)?, c.claim_name));
    }
    for (i, claim) in forwarded.into_iter().enumerate() {
        let p = format!("{path}.custom_claims_forward[{i}]");
        let header = format!("x-credential-{}", claim.replace(['.', '_'], "-"));
        headers.push((check::header_name(&p, &header)?, claim));
    }
    Ok(headers)
}

pub fn token_sources(path: &str, list: Vec<RawTokenSource>) -> Res<Vec<TokenSource>> {
    let mut v = Vec::new();
    for (i, s) in list.into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        v.push(match (s.header, s.query, s.cookie, s.prefix) {
            (Some(h), None, None, prefix) => {
                let prefix = prefix.map(|pre| pre.trim_end().to_string());
                TokenSource::Header { name: check::header_name(&format!("{p}.header"), &h)?, prefix }
            }
            (None, Some(q), None, None) if !q.is_empty() => TokenSource::Query(q),
            (None, None, Some(c), None) if !c.is_empty() => TokenSource::Cookie(c),
            _ => return err(p, "set exactly one of `header`, `query`, `cookie` (`prefix` goes with `header`)"),
        });
    }
    if v.is_empty() {
        return err(path, "must not be empty");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_is_kept_without_its_trailing_whitespace() {
        let source = |prefix: &str| RawTokenSource { header: Some("authorization".into()), prefix: Some(prefix.into()), query: None, cookie: None };
        // Matched the same either way, so both name the DPoP scheme a bound token needs.
        for prefix in ["DPoP", "DPoP ", "DPoP \t"] {
            assert_eq!(token_sources("t", vec![source(prefix)]).ok(), Some(vec![TokenSource::dpop()]), "{prefix:?}");
        }
        assert_eq!(token_sources("t", vec![source("Bearer ")]).ok(), Some(vec![TokenSource::bearer()]));
    }
}
