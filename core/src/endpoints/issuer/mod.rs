//! The filter as a token issuer, as Otoroshi's Client Credential Service: a token endpoint
//! (client_credentials), an introspection endpoint for its own tokens, and a JWKS endpoint,
//! served as local responses on hosts matching `domain`.

pub mod signing;

use crate::endpoints::form;
use crate::jwt::JwtRules;
use crate::endpoints::response::LocalResponse;
use crate::common::secret::constant_time_eq;
use crate::{Request, Secret};
use jwt_simple::prelude::{Duration, JWTClaims, UnixTimeStamp};
use regex_lite::Regex;
use serde_json::{json, Map, Value};
use signing::SigningKey;
use crate::crypto::CryptoHost;

pub const DEFAULT_PREFIX: &str = "/.well-known/otoroshi/oauth";
pub const DEFAULT_EXPIRATION_MS: u64 = 3_600_000;

#[derive(Debug)]
pub enum ClientSecret {
    Plain(Secret),
    Sha256([u8; 32]),
}

#[derive(Debug)]
pub struct IssuerClient {
    pub client_id: String,
    pub secret: ClientSecret,
    pub scopes: Vec<String>,
    /// Index of the client's own key pair (Otoroshi's `jwt-sign-keypair`).
    pub key: Option<usize>,
}

#[derive(Debug)]
pub struct TokenIssuer {
    pub domain: Option<Regex>,
    pub prefix: String,
    pub expiration_ms: u64,
    pub secure: bool,
    /// `secure` believes a client-sent `x-forwarded-proto` (only behind a proxy that sets it).
    pub trust_forwarded_proto: bool,
    pub issuer: String,
    pub audience: Option<String>,
    pub keys: Vec<SigningKey>,
    pub default_key: usize,
    pub clients: Vec<IssuerClient>,
    /// The JWKS document, rendered once.
    pub jwks: String,
    /// Verifies the issuer's own tokens (introspection, and `trust_token_issuer`).
    pub rules: JwtRules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspect,
    Jwks,
}

impl Endpoint {
    pub fn needs_body(self) -> bool {
        !matches!(self, Endpoint::Jwks)
    }
}

fn oauth_error(status: u32, code: &str, description: &str) -> LocalResponse {
    let mut headers = Vec::new();
    if status == 401 {
        headers.push(("www-authenticate".to_string(), "Basic realm=\"oauth-filter\"".to_string()));
    }
    LocalResponse::json(status, headers, &json!({"error": code, "error_description": description}))
}

impl TokenIssuer {
    /// The issuer endpoint this request is for, if any.
    pub fn endpoint(&self, req: &Request) -> Option<Endpoint> {
        let rest = req.path().strip_prefix(self.prefix.as_str())?;
        let ep = match rest {
            "/token" => Endpoint::Token,
            "/token/introspect" => Endpoint::Introspect,
            "/jwks.json" => Endpoint::Jwks,
            _ => return None,
        };
        match &self.domain {
            Some(re) if !re.is_match(&req.host()) => None,
            _ => Some(ep),
        }
    }

    /// Answers an endpoint request. `nonce` makes the token's `jti` unique.
    pub fn handle(
        &self,
        ep: Endpoint,
        req: &Request,
        body: &[u8],
        now: u64,
        nonce: u64,
        host: Option<&dyn CryptoHost>,
    ) -> LocalResponse {
        if self.secure && !is_https(req, self.trust_forwarded_proto) {
            return oauth_error(400, "invalid_request", "the token endpoints are served over https only");
        }
        let method = req.method();
        match ep {
            Endpoint::Jwks if method == "GET" || method == "HEAD" => {
                let doc: Value = serde_json::from_str(&self.jwks).unwrap_or(Value::Null);
                LocalResponse::json(200, vec![], &doc)
            }
            Endpoint::Token if method == "POST" => self.token(req, body, now, nonce, host),
            Endpoint::Introspect if method == "POST" => self.introspect(req, body, now),
            _ => oauth_error(405, "invalid_request", "method not allowed"),
        }
    }

    /// The client presenting valid credentials (Basic, or `client_id`/`client_secret` in the body).
    fn authenticate(&self, req: &Request, params: &[(String, String)]) -> Option<&IssuerClient> {
        let (id, secret) = match form::basic(req) {
            Some(pair) => pair,
            None => (form::get(params, "client_id")?.to_string(), form::get(params, "client_secret")?.to_string()),
        };
        let client = self.clients.iter().find(|c| c.client_id == id)?;
        let ok = match &client.secret {
            ClientSecret::Plain(s) => s.matches(secret.as_bytes()),
            ClientSecret::Sha256(h) => constant_time_eq(&hmac_sha256::Hash::hash(secret.as_bytes()), h),
        };
        ok.then_some(client)
    }

    fn token(&self, req: &Request, body: &[u8], now: u64, nonce: u64, host: Option<&dyn CryptoHost>) -> LocalResponse {
        let Some(params) = form::params(req, body) else {
            return oauth_error(400, "invalid_request", "the body is not a form or a JSON object, or repeats a parameter");
        };
        let Some(client) = self.authenticate(req, &params) else {
            return oauth_error(401, "invalid_client", "client authentication failed");
        };
        match form::get(&params, "grant_type") {
            Some("client_credentials") => {}
            Some(_) => return oauth_error(400, "unsupported_grant_type", "only client_credentials is supported"),
            None => return oauth_error(400, "invalid_request", "grant_type is missing"),
        }
        let scopes: Vec<&str> = match form::get(&params, "scope") {
            Some(s) => s.split_whitespace().collect(),
            None => client.scopes.iter().map(String::as_str).collect(),
        };
        if scopes.iter().any(|s| !client.scopes.iter().any(|c| c == s)) {
            return oauth_error(400, "invalid_scope", "a requested scope is not allowed for this client");
        }
        let key = client.key.and_then(|i| self.keys.get(i)).or_else(|| self.keys.get(self.default_key));
        let Some(key) = key else { return oauth_error(500, "server_error", "no signing key") };
        let expires_in = self.expiration_ms / 1000;
        let mut custom = Map::new();
        if !scopes.is_empty() {
            custom.insert("scope".into(), Value::String(scopes.join(" ")));
        }
        custom.insert("client_id".into(), Value::String(client.client_id.clone()));
        let mut claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(now)),
            expires_at: Some(UnixTimeStamp::from_secs(now) + Duration::from_millis(self.expiration_ms)),
            invalid_before: None,
            issuer: Some(self.issuer.clone()),
            subject: Some(client.client_id.clone()),
            audiences: None,
            jwt_id: Some(format!("{:016x}{:08x}", nonce, now as u32)),
            nonce: None,
            custom,
        };
        if let Some(aud) = &self.audience {
            claims = claims.with_audience(aud);
        }
        match key.sign(claims, host) {
            Ok(token) => {
                let mut answer = Map::new();
                answer.insert("access_token".into(), Value::String(token));
                answer.insert("token_type".into(), Value::String("Bearer".into()));
                answer.insert("expires_in".into(), Value::from(expires_in));
                if !scopes.is_empty() {
                    answer.insert("scope".into(), Value::String(scopes.join(" ")));
                }
                LocalResponse::json(200, vec![("pragma".into(), "no-cache".into())], &Value::Object(answer))
            }
            Err(_) => oauth_error(500, "server_error", "the token could not be signed"),
        }
    }

    /// RFC 7662 for the issuer's own tokens; the caller must be a known client.
    fn introspect(&self, req: &Request, body: &[u8], now: u64) -> LocalResponse {
        let Some(params) = form::params(req, body) else {
            return oauth_error(400, "invalid_request", "the body is not a form or a JSON object, or repeats a parameter");
        };
        if self.authenticate(req, &params).is_none() {
            return oauth_error(401, "invalid_client", "client authentication failed");
        }
        let Some(token) = form::get(&params, "token") else {
            return oauth_error(400, "invalid_request", "token is missing");
        };
        match self.rules.verify(token, now) {
            Ok(id) => {
                let mut answer = std::rc::Rc::unwrap_or_clone(id.claims).into_map();
                answer.insert("active".into(), Value::Bool(true));
                answer.insert("token_type".into(), Value::String("Bearer".into()));
                LocalResponse::json(200, vec![], &Value::Object(answer))
            }
            Err(_) => LocalResponse::json(200, vec![], &json!({"active": false})),
        }
    }
}

/// The request came over https: Envoy's `:scheme`, or `x-forwarded-proto` only when the
/// configuration trusts it (a client can send that header itself).
fn is_https(req: &Request, trust_forwarded_proto: bool) -> bool {
    (trust_forwarded_proto && req.header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https")))
        || req.header(":scheme").is_some_and(|s| s.eq_ignore_ascii_case("https"))
}
