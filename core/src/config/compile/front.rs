//! Janus's OAuth endpoints fronted by the filter (`oauth_endpoints`, `secrets`, …).

use super::super::raw::{RawProxy, RawServer};
use super::check::{self, err, Res};
use crate::endpoints::janus::{Front, Kind};
use crate::common::url::HttpTarget;

/// The Janus front of a server, when it has OAuth endpoints.
pub fn front(path: &str, raw: &RawServer, notices: &mut Vec<String>) -> Res<Option<Front>> {
    let mut list = Vec::new();
    let mut routed: Vec<&str> = Vec::new();
    if let Some(e) = &raw.oauth_endpoints {
        for (field, p, kind) in [("authorize", &e.authorize, Kind::Authorize), ("token", &e.token, Kind::Token),
            ("introspection", &e.introspection, Kind::Introspection), ("revoke", &e.revoke, Kind::Revoke)] {
            // A Janus export writes every endpoint, an unused one with an empty listen path.
            if let Some(p) = p.as_ref().filter(|p| !p.listen_path.is_empty()) {
                check::listen_path(format!("{path}.oauth_endpoints.{field}.listen_path"), &p.listen_path)?;
                list.push((p.listen_path.clone(), kind));
                routed.extend(route_fields(p));
            }
        }
    }
    if let Some(c) = &raw.oauth_client_endpoints {
        for (field, p, kind) in [("create", &c.create, Kind::ClientCreate), ("remove", &c.remove, Kind::ClientRemove)] {
            if let Some(p) = p.as_ref().filter(|p| !p.listen_path.is_empty()) {
                check::listen_path(format!("{path}.oauth_client_endpoints.{field}.listen_path"), &p.listen_path)?;
                list.push((p.listen_path.clone(), kind));
                routed.extend(route_fields(p));
            }
        }
    }
    for (field, v) in [("cors_meta", &raw.cors_meta), ("rate_limit", &raw.rate_limit)] {
        if v.as_ref().and_then(|v| v.get("enabled")).and_then(serde_json::Value::as_bool) == Some(true) {
            notices.push(format!("{path}.{field}: Envoy's filters do this (CORS, rate limits), not this one; it is not applied"));
        }
    }
    routed.sort_unstable();
    routed.dedup();
    if !routed.is_empty() {
        notices.push(format!("{path}: {} of its endpoints are the job of Envoy's route to the OAuth server, not of the filter", routed.join(", ")));
    }
    if list.is_empty() {
        let set = [("allowed_access_types", !raw.allowed_access_types.is_empty()), ("allowed_authorize_types", !raw.allowed_authorize_types.is_empty()),
            ("auth_login_redirect", !raw.auth_login_redirect.is_empty()), ("secrets", !raw.secrets.is_empty())];
        check::absent(path, &set, "needs `oauth_endpoints` to apply to")?;
        return Ok(None);
    }
    let redirect = Some(raw.auth_login_redirect.clone()).filter(|r| !r.is_empty());
    if let Some(url) = &redirect {
        if HttpTarget::parse(url).is_none() && !url.starts_with('/') {
            return err(format!("{path}.auth_login_redirect"), "an http(s) URL or a path");
        }
        check::no_control(format!("{path}.auth_login_redirect"), url)?;
    }
    Ok(Some(Front {
        endpoints: list,
        allowed_access_types: raw.allowed_access_types.clone(),
        allowed_authorize_types: raw.allowed_authorize_types.clone(),
        auth_login_redirect: redirect,
        session_cookie: raw.session_cookie.clone().unwrap_or_else(|| "session".into()),
        secrets: raw.secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }))
}

/// The Janus proxy fields a definition sets that Envoy's route does (the filter only matches
/// `listen_path`).
fn route_fields(p: &RawProxy) -> Vec<&'static str> {
    [("upstreams", p.upstreams.is_some()), ("strip_path", p.strip_path.is_some()), ("append_path", p.append_path.is_some()),
        ("preserve_host", p.preserve_host.is_some()), ("methods", p.methods.is_some()), ("hosts", p.hosts.is_some()),
        ("insecure_skip_verify", p.insecure_skip_verify.is_some()), ("forwarding_timeouts", p.forwarding_timeouts.is_some()),
        ("enable_load_balancing", p.enable_load_balancing.is_some())]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect()
}

/// The first target of the Janus `introspect` endpoint's upstreams: where Janus's
/// introspection strategy sends its calls.
pub fn introspect_upstream(raw: &RawServer) -> Option<String> {
    let upstreams = raw.oauth_endpoints.as_ref()?.introspection.as_ref()?.upstreams.as_ref()?;
    upstreams.get("targets")?.get(0)?.get("target")?.as_str().map(String::from)
}
