//! The filter in front of OAuth servers, as Janus fronts them: requests on a server's OAuth
//! endpoints (authorize, token, introspection, revoke, client create/remove) go to the OAuth
//! server (Envoy routes them); on the way the filter enforces the allowed grant and response
//! types, redirects authorize requests without a session to the login page, and adds the
//! client secret of a client that presented only its id (`secrets`).

use crate::common::codec::{percent_encode, query_pairs};
use crate::endpoints::response::{Answer, LocalResponse};
use crate::{endpoints::form, Request, Secret};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authorize,
    Token,
    Introspection,
    Revoke,
    ClientCreate,
    ClientRemove,
}

#[derive(Debug)]
pub struct Front {
    /// (listen path, endpoint kind); a listen path ending in `/*` matches below it.
    pub endpoints: Vec<(String, Kind)>,
    pub allowed_access_types: Vec<String>,
    pub allowed_authorize_types: Vec<String>,
    pub auth_login_redirect: Option<String>,
    pub session_cookie: String,
    pub secrets: Vec<(String, Secret)>,
}


fn error(status: u32, code: &str, description: &str) -> Answer {
    let mut headers = Vec::new();
    if status == 401 {
        headers.push(("www-authenticate".to_string(), "Basic realm=\"oauth\"".to_string()));
    }
    Answer::Respond(LocalResponse::json(status, headers, &json!({"error": code, "error_description": description})))
}

/// A `client_id` in the query with no `client_secret` beside it.
fn query_client_id(req: &Request) -> Option<String> {
    let query = req.path_and_query().split_once('?').map(|(_, q)| q)?;
    let pairs: Vec<(&str, &str)> = query_pairs(query).collect();
    if pairs.iter().any(|(k, _)| *k == "client_secret") {
        return None;
    }
    let (_, id) = pairs.iter().find(|(k, _)| *k == "client_id")?;
    crate::common::codec::percent_decode(id).filter(|id| !id.is_empty())
}

fn forward() -> Answer {
    Answer::Forward { remove: Vec::new(), set: Vec::new(), body: None }
}

impl Front {
    pub fn endpoint(&self, req: &Request) -> Option<Kind> {
        let path = req.path();
        self.endpoints.iter().find(|(listen, _)| matches_listen(listen, path)).map(|(_, k)| *k)
    }

    /// Whether the decision needs the request body (a token request with a body).
    pub fn needs_body(kind: Kind, req: &Request) -> bool {
        kind == Kind::Token && req.method() == "POST"
    }

    /// What the headers decide (every endpoint but a token request with a body is decided here).
    pub fn headers(&self, kind: Kind, req: &Request) -> Answer {
        match kind {
            Kind::Authorize => self.authorize(req),
            Kind::Token => match self.token_headers(req) {
                Answer::Forward { remove, set, .. } if !Self::needs_body(kind, req) => match self.token_body(req, &[]) {
                    Answer::Forward { .. } => Answer::Forward { remove, set, body: None },
                    refused => refused,
                },
                step => step,
            },
            _ => forward(),
        }
    }

    /// What the body decides, after `headers` let the request go on.
    pub fn body(&self, kind: Kind, req: &Request, body: &[u8]) -> Answer {
        match kind {
            Kind::Token => self.token_body(req, body),
            _ => forward(),
        }
    }

    fn authorize(&self, req: &Request) -> Answer {
        let query = req.path_and_query().split_once('?').map_or("", |(_, q)| q);
        let Some(decoded) = form::query_params(req) else {
            return error(400, "invalid_request", "a request parameter is malformed");
        };
        if form::repeats(&decoded, &[]) {
            return error(400, "invalid_request", "a request parameter is repeated");
        }
        let response_type = form::get(&decoded, "response_type");
        if !self.allowed_authorize_types.is_empty() {
            let ok = response_type.is_some_and(|t| self.allowed_authorize_types.iter().any(|a| a == t));
            if !ok {
                return error(400, "unsupported_response_type", "this response_type is not allowed here");
            }
        }
        if let Some(login) = &self.auth_login_redirect {
            let has_session = req.header("authorization").is_some()
                || req.header_values("cookie").filter_map(|v| std::str::from_utf8(v).ok()).any(|c| {
                    crate::common::codec::cookie_pairs(c).any(|(k, v)| k == self.session_cookie && !v.is_empty())
                });
            if !has_session {
                let sep = if login.contains('?') { '&' } else { '?' };
                let location = if query.is_empty() { login.clone() } else { format!("{login}{sep}{query}") };
                let headers = vec![("location".to_string(), location)];
                return Answer::Respond(LocalResponse { status: 302, headers, body: String::new() });
            }
        }
        forward()
    }

    /// What the headers of a token request decide, before its body is read. Envoy passes the
    /// headers on before the body arrives (a plain `WasmPlugin` cannot hold them), so every
    /// header change is made here: a known client that presented its id alone in Basic gets
    /// its secret there, an unknown one is refused; when the secret may go into the body
    /// instead, `content-length` goes (the body's length will change).
    pub fn token_headers(&self, req: &Request) -> Answer {
        if self.secrets.is_empty() {
            return forward();
        }
        // Janus takes the client id from Basic with an empty secret, or from `?client_id=`.
        let id = match form::basic(req) {
            Some((_, secret)) if !secret.is_empty() => return forward(),
            Some((id, _)) => Some(id),
            None => query_client_id(req),
        };
        match id {
            Some(id) => match self.secret_of(&id) {
                Some(s) => Answer::Forward { remove: Vec::new(), set: vec![("authorization".into(), crate::idp::client_auth::basic(&id, s.expose()))], body: None },
                None => error(401, "invalid_client", "unknown client"),
            },
            None if Self::needs_body(Kind::Token, req) => Answer::Forward { remove: vec!["content-length".into()], set: Vec::new(), body: None },
            None => forward(),
        }
    }

    /// Then the whole request: the grant type checked, and a client id in the body given its
    /// secret there. Never a header change (the headers are gone by now).
    pub fn token_body(&self, req: &Request, body: &[u8]) -> Answer {
        let Some(mut params) = form::query_params(req) else {
            return error(400, "invalid_request", "a request parameter is repeated or malformed");
        };
        let from_body = if body.is_empty() { Vec::new() } else {
            match form::params(req, body) {
                Some(p) => p,
                None => return error(400, "invalid_request", "the body is not a form or a JSON object, or repeats a parameter"),
            }
        };
        // What is checked is what the OAuth server acts on: every parameter once, in the query
        // or the body, never in both (a grant type in the query and another in the body would
        // pass the check on one and be acted on by the other).
        if form::repeats(&params, &from_body) {
            return error(400, "invalid_request", "a request parameter is repeated or malformed");
        }
        params.extend(from_body.iter().cloned());
        if !self.allowed_access_types.is_empty() {
            let ok = form::get(&params, "grant_type").is_some_and(|g| self.allowed_access_types.iter().any(|a| a == g));
            if !ok {
                return error(400, "unsupported_grant_type", "this grant type is not allowed here");
            }
        }
        if self.secrets.is_empty() || form::basic(req).is_some() || query_client_id(req).is_some() {
            return forward();
        }
        // A client that presents its id alone in the body gets its secret added (Janus `secrets`).
        match (form::get(&from_body, "client_id"), form::get(&from_body, "client_secret")) {
            (Some(id), None) => match self.secret_of(id) {
                Some(s) => {
                    let ctype = req.header("content-type").unwrap_or("").to_ascii_lowercase();
                    let new_body = if ctype.starts_with("application/json") {
                        // form::params accepted the body, so it is a JSON object.
                        let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
                        map.insert("client_secret".into(), serde_json::Value::String(s.expose().to_string()));
                        serde_json::Value::Object(map).to_string().into_bytes()
                    } else {
                        let mut b = body.to_vec();
                        b.extend_from_slice(format!("&client_secret={}", percent_encode(s.expose())).as_bytes());
                        b
                    };
                    Answer::Forward { remove: Vec::new(), set: Vec::new(), body: Some(new_body) }
                }
                None => error(401, "invalid_client", "unknown client"),
            },
            _ => forward(),
        }
    }

    fn secret_of(&self, id: &str) -> Option<&Secret> {
        self.secrets.iter().find(|(k, _)| k == id).map(|(_, s)| s)
    }
}

/// Janus listen paths: "/auth/token" (that path and below it) or "/auth/token/*".
fn matches_listen(listen: &str, path: &str) -> bool {
    let base = listen.trim_end_matches('*').trim_end_matches('/');
    path == base || path.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_paths() {
        assert!(matches_listen("/auth/token/*", "/auth/token"));
        assert!(matches_listen("/auth/token/*", "/auth/token/x"));
        assert!(matches_listen("/auth/token", "/auth/token"));
        assert!(!matches_listen("/auth/token", "/auth/tokens"));
    }
}
