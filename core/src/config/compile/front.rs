//! Janus's OAuth endpoints fronted by the filter (`oauth_endpoints`, `secrets`, …).

use super::super::raw::RawServer;
use super::check::{self, err, Res};
use crate::janus::{Front, Kind};
use crate::url::HttpTarget;

/// The Janus front of a server, when it has OAuth endpoints.
pub fn front(path: &str, raw: &RawServer) -> Res<Option<Front>> {
    let mut list = Vec::new();
    if let Some(e) = &raw.oauth_endpoints {
        for (field, p, kind) in [("authorize", &e.authorize, Kind::Authorize), ("token", &e.token, Kind::Token),
            ("introspection", &e.introspection, Kind::Introspection), ("revoke", &e.revoke, Kind::Revoke)] {
            if let Some(p) = p {
                check::listen_path(format!("{path}.oauth_endpoints.{field}.listen_path"), &p.listen_path)?;
                list.push((p.listen_path.clone(), kind));
            }
        }
    }
    if let Some(c) = &raw.oauth_client_endpoints {
        for (field, p, kind) in [("create", &c.create, Kind::ClientCreate), ("remove", &c.remove, Kind::ClientRemove)] {
            if let Some(p) = p {
                check::listen_path(format!("{path}.oauth_client_endpoints.{field}.listen_path"), &p.listen_path)?;
                list.push((p.listen_path.clone(), kind));
            }
        }
    }
    if list.is_empty() {
        let set = [("allowed_access_types", !raw.allowed_access_types.is_empty()), ("allowed_authorize_types", !raw.allowed_authorize_types.is_empty()),
            ("auth_login_redirect", raw.auth_login_redirect.is_some()), ("secrets", !raw.secrets.is_empty())];
        check::absent(path, &set, "needs `oauth_endpoints` to apply to")?;
        return Ok(None);
    }
    if let Some(url) = &raw.auth_login_redirect {
        if HttpTarget::parse(url).is_none() && !url.starts_with('/') {
            return err(format!("{path}.auth_login_redirect"), "an http(s) URL or a path");
        }
        check::no_control(format!("{path}.auth_login_redirect"), url)?;
    }
    Ok(Some(Front {
        endpoints: list,
        allowed_access_types: raw.allowed_access_types.clone(),
        allowed_authorize_types: raw.allowed_authorize_types.clone(),
        auth_login_redirect: raw.auth_login_redirect.clone(),
        session_cookie: raw.session_cookie.clone().unwrap_or_else(|| "session".into()),
        secrets: raw.secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }))
}
