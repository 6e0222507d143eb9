//! Keys fetched from the IdP: `jwks_uri` or `discovery`, with the cache settings.

use super::super::raw::RawJwtStrategy;
use super::check::{self, err, Res};
use crate::common::duration::Millis;
use crate::idp::remote::{self, RemoteSource, SourceKind};

/// `jwks_uri` or `discovery`, with the cache settings.
pub fn remote_source(path: &str, server: &str, raw: &RawJwtStrategy) -> Res<Option<RemoteSource>> {
    let (kind, cluster, timeout) = match (&raw.jwks_uri, &raw.discovery) {
        (None, None) => {
            let set = [("cache_duration", raw.cache_duration.is_some()), ("refetch_cooldown", raw.refetch_cooldown.is_some()),
                ("max_stale", raw.max_stale.is_some()), ("max_wait", raw.max_wait.is_some()), ("max_jwks_bytes", raw.max_jwks_bytes.is_some())];
            check::absent(path, &set, "only meaningful with `jwks_uri` or `discovery`")?;
            return Ok(None);
        }
        (Some(_), Some(_)) => return err(path, "set `jwks_uri` or `discovery`, not both"),
        (Some(j), None) => {
            let t = check::url(format!("{path}.jwks_uri.uri"), &j.uri)?;
            (SourceKind::Jwks(t), j.cluster.clone(), j.timeout)
        }
        (None, Some(d)) => {
            let t = check::url(format!("{path}.discovery.issuer"), &d.issuer)?;
            (SourceKind::Discovery { issuer: d.issuer.clone(), target: t }, d.cluster.clone(), d.timeout)
        }
    };
    let field = if raw.jwks_uri.is_some() { "jwks_uri" } else { "discovery" };
    if cluster.is_empty() {
        return err(format!("{path}.{field}.cluster"), "must name the Envoy cluster that reaches the IdP");
    }
    let timeout_ms = check::timeout_ms(format!("{path}.{field}.timeout"), timeout.unwrap_or(Millis(remote::DEFAULT_TIMEOUT_MS)).0)?;
    let secs = |v: Option<Millis>, default: u64| v.map_or(default, Millis::secs);
    let cache_duration = secs(raw.cache_duration, remote::DEFAULT_CACHE_DURATION);
    if cache_duration == 0 {
        return err(format!("{path}.cache_duration"), "must be at least 1s");
    }
    let max_bytes = raw.max_jwks_bytes.unwrap_or(remote::DEFAULT_MAX_JWKS_BYTES);
    if !(256..=8 << 20).contains(&max_bytes) {
        return err(format!("{path}.max_jwks_bytes"), "must be between 256 and 8388608");
    }
    let id = match &kind {
        SourceKind::Jwks(t) => t.to_url(),
        SourceKind::Discovery { issuer, .. } => issuer.clone(),
    };
    let shared_key = crate::common::shared::keys_prefix(server, &cluster, &id);
    Ok(Some(RemoteSource {
        kind,
        cluster,
        timeout_ms,
        cache_duration,
        refetch_cooldown: secs(raw.refetch_cooldown, remote::DEFAULT_REFETCH_COOLDOWN),
        max_stale: secs(raw.max_stale, remote::DEFAULT_MAX_STALE),
        max_wait_ms: raw.max_wait.map_or(remote::DEFAULT_MAX_WAIT_MS, |m| m.0),
        max_bytes,
        shared_key,
    }))
}
