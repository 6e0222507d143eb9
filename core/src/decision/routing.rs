//! Which policy covers a request: the host's route metadata first, then the configured rules
//! in order (route name, host, path, method; first match wins), then `default_policy`.

use crate::{Denial, Request};
use regex_lite::Regex;

#[derive(Debug)]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
    /// Anchored: the whole path must match.
    Regex(Regex),
}

/// A host pattern: exact, or `*.suffix` for any subdomain.
#[derive(Debug, PartialEq, Eq)]
pub enum HostMatch {
    Exact(String),
    Suffix(String),
}

#[derive(Debug)]
pub struct Route {
    pub route_name: Option<String>,
    pub host: Option<HostMatch>,
    pub path: Option<PathMatch>,
    /// Upper-case method names; None matches any.
    pub methods: Option<Vec<String>>,
    pub policy: usize,
}

impl Route {
    pub fn matches(&self, req: &Request, host: &str) -> bool {
        if let Some(name) = &self.route_name {
            if req.route_name.as_deref() != Some(name.as_str()) {
                return false;
            }
        }
        if let Some(h) = &self.host {
            let ok = match h {
                HostMatch::Exact(e) => host == e,
                HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
            };
            if !ok {
                return false;
            }
        }
        if let Some(p) = &self.path {
            let path = req.path();
            let ok = match p {
                PathMatch::Prefix(pre) => path.starts_with(pre.as_str()),
                PathMatch::Exact(e) => path == e,
                PathMatch::Regex(r) => r.is_match(path),
            };
            if !ok {
                return false;
            }
        }
        match &self.methods {
            Some(ms) => ms.iter().any(|m| m == req.method()),
            None => true,
        }
    }
}

/// The index of the policy for `req`.
pub fn select(
    routes: &[Route],
    default_policy: Option<usize>,
    find_policy: impl Fn(&str) -> Option<usize>,
    req: &Request,
) -> Result<usize, Denial> {
    if let Some(name) = &req.metadata_policy {
        return find_policy(name).ok_or(Denial::UnknownPolicy);
    }
    // The host is lower-cased (an allocation) only when a route matches on it.
    let host = if routes.iter().any(|r| r.host.is_some()) { req.host() } else { String::new() };
    routes
        .iter()
        .find(|r| r.matches(req, &host))
        .map(|r| r.policy)
        .or(default_policy)
        .ok_or(Denial::NoPolicy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, host: &str, route: Option<&str>) -> Request {
        Request {
            headers: vec![
                (":method".into(), method.into()),
                (":path".into(), path.into()),
                (":authority".into(), host.into()),
            ]
            .into(),
            route_name: route.map(String::from),
            metadata_policy: None,
        }
    }

    fn route(policy: usize) -> Route {
        Route { route_name: None, host: None, path: None, methods: None, policy }
    }

    #[test]
    fn first_match_wins_then_default() {
        let routes = vec![
            Route { route_name: Some("orders".into()), ..route(0) },
            Route { path: Some(PathMatch::Prefix("/public".into())), ..route(1) },
            Route { host: Some(HostMatch::Suffix(".example.com".into())), methods: Some(vec!["POST".into()]), ..route(2) },
            Route { path: Some(PathMatch::Regex(Regex::new("^(?:/v[0-9]+/items)$").unwrap())), ..route(3) },
            Route { path: Some(PathMatch::Exact("/exact".into())), ..route(4) },
        ];
        let none = |_: &str| None;
        let sel = |r: &Request| select(&routes, Some(9), none, r);
        assert_eq!(sel(&req("GET", "/public/x", "h", Some("orders"))), Ok(0));
        assert_eq!(sel(&req("GET", "/public/x?q", "h", None)), Ok(1));
        assert_eq!(sel(&req("POST", "/a", "api.example.com:443", None)), Ok(2));
        assert_eq!(sel(&req("GET", "/a", "api.example.com", None)), Ok(9));
        assert_eq!(sel(&req("POST", "/a", "example.com", None)), Ok(9));
        assert_eq!(sel(&req("GET", "/v2/items", "h", None)), Ok(3));
        assert_eq!(sel(&req("GET", "/v2/items/1", "h", None)), Ok(9));
        assert_eq!(sel(&req("GET", "/exact", "h", None)), Ok(4));
        assert_eq!(select(&routes, None, none, &req("GET", "/", "h", None)), Err(Denial::NoPolicy));
    }

    #[test]
    fn route_metadata_comes_first() {
        let mut r = req("GET", "/public", "h", Some("orders"));
        r.metadata_policy = Some("p7".into());
        let find = |n: &str| (n == "p7").then_some(7);
        assert_eq!(select(&[route(1)], Some(0), find, &r), Ok(7));
        r.metadata_policy = Some("nope".into());
        assert_eq!(select(&[route(1)], Some(0), find, &r), Err(Denial::UnknownPolicy));
    }
}
