//! The plugin configuration: parsed from JSON (`raw`), then checked and compiled once
//! (`compile`) into what the per-request path uses.

mod compile;
pub mod error;
mod json_path;
pub mod raw;
mod seeds;

pub use error::ConfigError;

use crate::decision::extract::TokenSource;
use crate::idp::client_credentials::ClientCredentials;
use crate::idp::introspection::IntrospectionRules;
use crate::endpoints::issuer::TokenIssuer;
use crate::endpoints::janus::Front;
use crate::jwt::JwtRules;
use crate::idp::remote::RemoteSource;
use crate::decision::routing::Route;

pub const DEFAULT_REALM: &str = "oauth-filter";

#[derive(Debug)]
pub struct Config {
    pub servers: Vec<Server>,
    pub policies: Vec<Policy>,
    pub routes: Vec<Route>,
    pub default_policy: Option<usize>,
    /// `filter_metadata.<namespace>.policy` in the route metadata names a policy; read from
    /// the host only when set (a property lookup on every request otherwise).
    pub metadata_namespace: Option<String>,
    /// Every header name a policy maps claims to, dashed: removed from client requests in any
    /// spelling.
    pub mapped_headers: Vec<String>,
    /// The bytes that, read dashed, begin one of them or an identity header (`x`).
    pub spoof_first: crate::common::byteset::ByteSet,
    pub consumers: Vec<Consumer>,
    pub token_issuer: Option<TokenIssuer>,
    pub log_level: LogLevel,
    /// Whether signatures may be checked (and made) by the host when it passes the probe.
    pub host_crypto: bool,
    /// Lines for the log at configure time about fields accepted but done elsewhere (never a
    /// value, only paths and field names).
    pub notices: Vec<String>,
    /// Janus's admin API, when enabled.
    pub admin: Option<crate::endpoints::admin::AdminApi>,
    /// How many of `servers` come from the plugin configuration; those added through the
    /// admin API follow them.
    pub static_servers: usize,
    /// The fleet store (etcd): the admin API's servers and DPoP proofs shared by replicas.
    pub store: Option<crate::fleet::EtcdStore>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub strategy: Strategy,
    /// Keys fetched from the IdP, beside (or instead of) inline ones.
    pub remote: Option<RemoteSource>,
    /// The server's own token sources; None = the policy's.
    pub token_sources: Option<Vec<TokenSource>>,
    /// Janus OAuth endpoints fronted by the filter.
    pub front: Option<Front>,
    /// DPoP and certificate-bound tokens.
    pub binding: crate::decision::binding::BindingRules,
}

// One per configured server, built once at configure time: the variants' sizes cost nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Strategy {
    Jwt(JwtRules),
    Introspection(IntrospectionRules),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub custom_id: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerBy {
    Username,
    ClientId,
}

#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub public: bool,
    /// The servers that may accept the token (any of them; the token's `iss` picks).
    pub servers: Vec<usize>,
    /// Every server must accept a token (jwt_authn's `requires_all`); else any one.
    pub requires_all: bool,
    pub hide_credentials: bool,
    /// Scopes the token must grant, and their space-joined form for the challenge.
    pub required_scopes: Vec<String>,
    /// The consumer (index) a failed authentication falls back to.
    pub anonymous: Option<usize>,
    pub run_on_preflight: bool,
    pub consumer_by: ConsumerBy,
    /// A token the gateway fetches and sends upstream.
    pub client_credentials: Option<ClientCredentials>,
    pub sources: Vec<TokenSource>,
    /// How its refusals are worded (realm, challenges, body).
    pub refusals: crate::decision::denial::Refusals,
    /// (header name, claim path) pairs, from `claim_to_headers` and `custom_claims_forward`.
    pub claim_headers: Vec<(String, String)>,
    /// This worker's verdicts on tokens the policy let through.
    pub verdicts: crate::decision::verdicts::Verdicts,
    /// Roles, access rules and the scope matcher, checked after authentication.
    pub claim_rules: crate::decision::rules::ClaimRules,
    /// Which failed authentications still go on, anonymous (jwt_authn's `allow_missing*`).
    pub allow: AllowAnonymous,
    /// Filter state on: the further claims to write beside sub, iss, client_id and scope.
    pub filter_state: Option<Vec<String>>,
    /// The header that carries the verified claims (base64url JSON).
    pub forward_payload_header: Option<String>,
    /// Headers set on every request this policy lets through (KrakenD's martian modifiers).
    pub upstream_headers: Vec<(String, String)>,
}

/// Envoy jwt_authn's optional authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllowAnonymous {
    /// Every request needs a good token.
    #[default]
    Never,
    /// No token: on, anonymous; a token that fails is still refused.
    Missing,
    /// No token, or one that fails its checks: on, anonymous. An IdP that cannot be reached
    /// (503) still refuses: a token that cannot be checked is never waved through.
    MissingOrFailed,
}

#[inline(never)]
fn parse(bytes: &[u8]) -> Result<raw::RawConfig, ConfigError> {
    parse_json(bytes, "")
}

/// Deserializes `bytes`, an error naming its JSON path below `prefix`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, ConfigError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let inner = json_path::at(bytes, e.line(), e.column());
        let path = match (prefix, inner.as_str()) {
            ("", p) => p.to_string(),
            (pre, "(root)") => pre.to_string(),
            (pre, p) if p.starts_with('[') => format!("{pre}{p}"),
            (pre, p) => format!("{pre}.{p}"),
        };
        ConfigError::from_serde(path, &e)
    })
}

impl Config {
    /// Parses and compiles a plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        Config::with_store(bytes, &crate::endpoints::admin::Store::default())
    }

    /// The plugin configuration with the servers added through the admin API.
    pub fn with_store(bytes: &[u8], store: &crate::endpoints::admin::Store) -> Result<Config, ConfigError> {
        // Secrets may name environment variables in the plugin configuration only; the
        // compiler turns this off for the servers added through the admin API.
        crate::common::secret::with_env(true, || {
            let mut written: serde_json::Value = parse_json(bytes, "")?;
            let mut translated = seeds::translate(&mut written)?;
            let mut raw: raw::RawConfig = compile::check::from_value("", written).map_err(|e| translated.as_written(e))?;
            if !store.servers.is_empty() {
                // Read as the plugin configuration is read (one parser in the .wasm, and the same
                // error paths: `oauth_servers.<name>.…`).
                let added = serde_json::to_vec(&serde_json::json!({ "oauth_servers": store.servers })).unwrap_or_default();
                raw.dynamic_servers = crate::common::secret::with_env(false, || parse(&added))?.oauth_servers;
            }
            let notices = std::mem::take(&mut translated.notices);
            compile::compile(raw, notices).map_err(|e| translated.as_written(e))
        })
    }

    /// Whether `name` is a server of the plugin configuration.
    pub fn is_static_server(&self, name: &str) -> bool {
        self.servers.iter().take(self.static_servers).any(|s| s.name == name)
    }

    /// Whether any rule matches on the route name (so the host must be asked for it).
    pub fn uses_route_names(&self) -> bool {
        self.routes.iter().any(|r| r.route_name.is_some())
    }

    /// The introspection rules of server `index`, if it introspects.
    pub fn introspection(&self, index: usize) -> Option<&IntrospectionRules> {
        match self.servers.get(index).map(|s| &s.strategy) {
            Some(Strategy::Introspection(r)) => Some(r),
            _ => None,
        }
    }

    pub fn policy_index(&self, name: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.name == name)
    }
}
