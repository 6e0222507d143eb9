//! Routes: which policy a request falls under (route name, host, path, methods).

use super::super::raw::RawRoute;
use super::check::{self, err, Res};
use crate::decision::routing::{HostMatch, PathMatch, Route};

pub fn route(path: &str, raw: RawRoute, policy: usize) -> Res<Route> {
    let paths = [raw.path_prefix.is_some(), raw.path_exact.is_some(), raw.path_regex.is_some()];
    if paths.iter().filter(|x| **x).count() > 1 {
        return err(path, "set at most one of `path_prefix`, `path_exact`, `path_regex`");
    }
    let path_match = if let Some(p) = raw.path_prefix {
        Some(PathMatch::Prefix(p))
    } else if let Some(p) = raw.path_exact {
        Some(PathMatch::Exact(p))
    } else if let Some(r) = raw.path_regex {
        Some(PathMatch::Regex(check::whole_regex(format!("{path}.path_regex"), &r)?))
    } else {
        None
    };
    let host = raw.host.map(|h| {
        let h = h.to_ascii_lowercase();
        match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.to_string()),
            _ => HostMatch::Exact(h),
        }
    });
    let methods = raw.methods.map(|ms| ms.into_iter().map(|m| m.to_ascii_uppercase()).collect());
    Ok(Route { route_name: raw.route_name, host, path: path_match, methods, policy })
}
