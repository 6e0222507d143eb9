//! The native configuration, as it is read once `seeds/` has rewritten the seed systems' own
//! shapes (Kong plugin entries, KrakenD namespaces and roles, jwt_authn's `allow_missing*`,
//! Otoroshi's names) into it. Its field names are those of Janus (servers and token
//! strategies), Kong's oauth2-introspection (introspection settings) and jwt_authn where they
//! name the same thing. Unknown fields are refused.

use serde::Deserialize;
use serde_json::Value;
use crate::common::duration::Millis;
use std::collections::BTreeMap;

/// Janus exports write `null` (Go's nil slices and maps) where a field is unset.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub oauth_servers: BTreeMap<String, RawServer>,
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    pub default_policy: Option<String>,
    /// Route metadata namespace read from the host (`filter_metadata.<ns>.policy`).
    pub route_metadata_namespace: Option<String>,
    /// Kong-style consumers, matched by `consumer_by` after authentication.
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    /// The filter issues tokens itself (Otoroshi's Client Credential Service).
    pub token_issuer: Option<RawIssuer>,
    /// trace, debug, info (default), warn, error or critical.
    pub log_level: Option<String>,
    /// Let the host (Envoy's BoringSSL) check RS*/ES* signatures and sign (default true).
    pub host_crypto: Option<bool>,
    /// Janus's admin API for OAuth servers, served by the filter (off when absent).
    pub admin_api: Option<RawAdmin>,
    /// State shared by every replica (the admin API's servers, DPoP proofs): off when absent.
    pub store: Option<RawStore>,
    /// Servers added through the admin API (name, Janus JSON): compiled after the static
    /// ones, never in place of one.
    #[serde(skip)]
    pub dynamic_servers: BTreeMap<String, RawServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub etcd: RawEtcd,
}

/// etcd v3 through its JSON gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEtcd {
    /// The Envoy cluster that reaches etcd (its client certificate, for mTLS).
    pub cluster: String,
    /// The calls' `:authority`; default the cluster's name.
    pub authority: Option<String>,
    /// Before every key the filter writes; default `/oauth-filter/`.
    pub prefix: Option<String>,
    pub timeout: Option<Millis>,
    pub poll_interval: Option<Millis>,
    pub username: Option<String>,
    pub password: Option<crate::common::secret::Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The policy an admin request's token must pass.
    pub policy: String,
    /// Hosts it is served on (a regex, whole host); default any.
    pub domain: Option<String>,
    /// Before `/oauth/servers`; default none.
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    /// Hosts the endpoints are served on (a regex, whole host); default any.
    pub domain: Option<String>,
    pub prefix: Option<String>,
    /// Token lifetime in milliseconds (Otoroshi's unit).
    pub expiration: Option<u64>,
    /// Refuse plain-HTTP requests (Otoroshi's default: true).
    pub secure: Option<bool>,
    /// `secure` believes `x-forwarded-proto` (set it only behind a proxy that sets the header).
    #[serde(default)]
    pub trust_forwarded_proto: bool,
    /// The `iss` of issued tokens.
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub default_key_pair: String,
    pub key_pairs: BTreeMap<String, RawKeyPair>,
    pub clients: Vec<RawIssuerClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyPair {
    /// RS256, ES256 or EdDSA.
    pub alg: String,
    /// PKCS#8 PEM.
    pub private_key: crate::Secret,
    pub kid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuerClient {
    pub client_id: String,
    pub client_secret: Option<crate::Secret>,
    /// Hex SHA-256 of the secret, instead of the secret.
    pub client_secret_sha256: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub key_pair: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    /// Kong's consumer id; default the username, else the custom_id (Kong's declarative
    /// consumers often name neither id).
    pub id: Option<String>,
    pub custom_id: Option<String>,
    pub username: Option<String>,
}

/// `token_strategy.settings` for `name: "introspection"`: the oauth2-introspection plugin's
/// parameters, with the Envoy cluster that reaches `introspection_url`; or Janus's settings,
/// whose URL is the server's `introspect` endpoint upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntrospection {
    /// Janus: the first target of `oauth_endpoints.introspect.upstreams`.
    pub introspection_url: Option<String>,
    /// Default: the cluster named after the URL's host and port.
    pub cluster: Option<String>,
    /// Janus: a GET with the token in `Authorization: <auth_header_type> <token>`.
    #[serde(default, deserialize_with = "null_default")]
    pub use_auth_header: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub auth_header_type: String,
    /// Janus: a GET with the token in the header `header_name`.
    #[serde(default, deserialize_with = "null_default")]
    pub use_custom_header: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub header_name: String,
    /// Janus: the token as the form parameter `param_name` (a POST, as RFC 7662); also what
    /// no flag at all means, so only accepted.
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "null_default")]
    pub use_body: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub param_name: String,
    pub authorization_value: Option<crate::Secret>,
    pub token_type_hint: Option<String>,
    /// Seconds; 0 = until the token's `exp`.
    pub ttl: Option<u64>,
    /// Seconds to cache inactive answers (default 10); 0 = not cached.
    pub negative_ttl: Option<u64>,
    /// Calls one worker may have in flight to this server; beyond, 503 at once (default 64).
    pub max_calls_in_flight: Option<usize>,
    /// Seconds: the longest pause a `Retry-After` imposes (default 30; 0 = none).
    pub max_retry_after: Option<u64>,
    /// Milliseconds, as the plugin has it.
    pub timeout: Option<u64>,
    /// Milliseconds; the Envoy cluster's business here (accepted for compatibility).
    pub keepalive: Option<u64>,
    #[serde(default)]
    pub introspect_request: bool,
    #[serde(default)]
    pub custom_introspection_headers: BTreeMap<String, crate::Secret>,
    /// RFC 7523 `private_key_jwt` for the call: the client id and the key of its assertion.
    pub client_id: Option<String>,
    pub client_assertion_key: Option<RawKeyPair>,
    pub cache_slots: Option<u64>,
    pub max_answer_bytes: Option<usize>,
    pub max_wait: Option<Millis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Janus names its servers inside the object too; accepted, the map key is the name.
    #[allow(dead_code)]
    pub name: Option<String>,
    /// `name` picks the strategy (`RawJwtStrategy` or `RawIntrospectionStrategy`); the
    /// sender-constraint fields (`RawBinding`) go with either.
    pub token_strategy: Value,
    pub oauth_endpoints: Option<RawOAuthEndpoints>,
    pub oauth_client_endpoints: Option<RawClientEndpoints>,
    #[serde(default, deserialize_with = "null_default")]
    pub allowed_access_types: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub allowed_authorize_types: Vec<String>,
    /// Janus exports write "" when unset.
    #[serde(default, deserialize_with = "null_default")]
    pub auth_login_redirect: String,
    /// The cookie that marks a login session at the authorize endpoint (default "session").
    pub session_cookie: Option<String>,
    /// client_id → client_secret, so a client can authenticate with its id alone.
    #[serde(default, deserialize_with = "null_default")]
    pub secrets: BTreeMap<String, crate::Secret>,
    /// Janus: rules on the claims of this server's tokens, for the policies that use it and
    /// have none of their own.
    #[serde(default, deserialize_with = "null_default")]
    pub access_rules: Vec<RawAccessRule>,
    /// Janus: `{domains, methods, …, enabled}`; Envoy's CORS filter does this.
    pub cors_meta: Option<Value>,
    /// Janus: `{limit, enabled}`; Envoy's rate limit filters do this.
    pub rate_limit: Option<Value>,
    /// Where this server's tokens are, when not where the policy says (as jwt_authn
    /// providers have their own `from_headers`).
    pub token_sources: Option<Vec<RawTokenSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuthEndpoints {
    pub authorize: Option<RawProxy>,
    pub token: Option<RawProxy>,
    /// Janus exports name it `introspect`.
    #[serde(alias = "introspect")]
    pub introspection: Option<RawProxy>,
    pub revoke: Option<RawProxy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientEndpoints {
    pub create: Option<RawProxy>,
    pub remove: Option<RawProxy>,
}

/// A Janus proxy definition. Envoy routes the request (upstream, strip_path); the filter
/// only needs the listen path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    pub listen_path: String,
    pub upstreams: Option<Value>,
    pub strip_path: Option<bool>,
    pub append_path: Option<bool>,
    pub preserve_host: Option<bool>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub insecure_skip_verify: Option<bool>,
    /// Janus's `{dial_timeout, response_header_timeout}`.
    pub forwarding_timeouts: Option<Value>,
    pub enable_load_balancing: Option<bool>,
}

/// Janus `token_strategy: jwt`: `settings` are inline keys; the rest, the token checks and
/// where keys are fetched.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwtStrategy {
    pub name: String,
    pub settings: Option<Value>,
    /// Seconds of clock skew allowed on exp, nbf and iat.
    pub leeway: Option<u64>,
    pub allowed_algorithms: Option<Vec<String>>,
    pub issuers: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub required_claims: Option<Vec<String>>,
    pub max_token_bytes: Option<usize>,
    /// Keys from a JWKS URL, given as Envoy gives an `http_uri`.
    pub jwks_uri: Option<RawHttpUri>,
    /// Keys found through OIDC discovery (RFC 8414 as the fallback).
    pub discovery: Option<RawDiscovery>,
    pub cache_duration: Option<Millis>,
    pub refetch_cooldown: Option<Millis>,
    pub max_stale: Option<Millis>,
    /// How long a request may wait for keys being fetched before it gets 503.
    pub max_wait: Option<Millis>,
    pub max_jwks_bytes: Option<usize>,
    /// Required JOSE `typ`, e.g. "at+jwt" for RFC 9068 access tokens.
    pub require_typ: Option<String>,
    /// How many verified tokens each worker remembers (0 = none), in the server's cache and the
    /// verdicts of the policies using it (only the verdicts when one policy uses it alone); default 1024.
    pub verified_cache_size: Option<usize>,
    /// Trust the tokens of this filter's own `token_issuer`.
    #[serde(default)]
    pub trust_token_issuer: bool,
    /// Envoy jwt_authn's: the longest `exp - iat` accepted, in seconds.
    pub max_lifetime: Option<u64>,
    /// Envoy jwt_authn's: `sub` must match one of these (a matcher or a list of them).
    pub subjects: Option<Value>,
    /// A token without `exp` is refused unless this is false.
    pub require_expiration: Option<bool>,
}

/// Janus `token_strategy: introspection`: `settings` are the oauth2-introspection plugin's
/// parameters (`RawIntrospection`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntrospectionStrategy {
    pub name: String,
    pub settings: Option<Value>,
    /// Seconds of clock skew allowed on the answer's exp, nbf and iat.
    pub leeway: Option<u64>,
    pub audiences: Option<Vec<String>>,
}

/// Sender-constrained tokens, in a `token_strategy` of either kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    /// RFC 9449: "disabled" (default), "optional" or "required".
    pub dpop: Option<String>,
    /// The algorithms a DPoP proof may use (default ES256, ES384, RS256, PS256, EdDSA).
    pub dpop_algs: Option<Vec<String>>,
    /// Seconds a DPoP proof's `iat` may be old (default 300).
    pub dpop_max_age: Option<u64>,
    /// Slots of the DPoP replay store in shared data (default 10000).
    pub dpop_replay_slots: Option<u64>,
    /// RFC 8705: "optional" (default: a bound token is checked) or "required".
    pub certificate_bound: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpUri {
    pub uri: String,
    pub cluster: String,
    pub timeout: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    pub issuer: String,
    pub cluster: String,
    pub timeout: Option<Millis>,
}

/// One entry of the Janus `settings` list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySetting {
    pub alg: String,
    pub key: crate::Secret,
    pub kid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub oauth_server: Option<String>,
    /// Several servers: the token's `iss` picks one; any of them may accept the token.
    pub oauth_servers: Option<Vec<String>>,
    /// With `oauth_servers`: "any" (default) or "all" of them must accept a token.
    pub requires: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// A consumer id: when authentication fails, the request goes on as this consumer.
    pub anonymous: Option<String>,
    /// false: CORS preflight requests pass without a token.
    pub run_on_preflight: Option<bool>,
    /// `username` (default) or `client_id`.
    pub consumer_by: Option<String>,
    /// The gateway fetches a client-credentials token and sends it upstream.
    pub upstream_client_credentials: Option<RawClientCredentials>,
    #[serde(default)]
    pub hide_credentials: bool,
    pub realm: Option<String>,
    pub token_sources: Option<Vec<RawTokenSource>>,
    #[serde(default)]
    pub claim_to_headers: Vec<RawClaimHeader>,
    #[serde(default)]
    pub custom_claims_forward: Vec<String>,
    /// Rules on the token's claims, first match wins (Janus `access_rules`).
    #[serde(default)]
    pub access_rules: Vec<RawAccessRule>,
    /// At least one of these roles in a claim.
    pub required_roles: Option<RawRoles>,
    /// "all" (default) or "any" of `required_scopes`.
    pub required_scopes_match: Option<String>,
    /// "missing": a request without a token goes on, anonymous; "missing_or_failed": also one
    /// whose token fails its checks. Default: neither.
    pub pass_anonymous: Option<String>,
    /// Write the identity to Envoy filter state (`wasm.oauth_filter.*`).
    #[serde(default)]
    pub filter_state: bool,
    /// Further claims for filter state (`wasm.oauth_filter.claims.<claim>`).
    #[serde(default)]
    pub filter_state_claims: Vec<String>,
    /// Envoy jwt_authn's: the verified claims as base64url JSON in this header.
    pub forward_payload_header: Option<String>,
    /// Headers set on the request that goes upstream.
    #[serde(default)]
    pub upstream_headers: Vec<RawHeader>,
    /// Refusals as `{"<field>": "<description>"}` instead of RFC 6749/6750's JSON.
    pub error_body_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoles {
    pub claim: String,
    pub any_of: Vec<String>,
    /// `claim` is a dotted path into nested objects (default: one claim's name, dots and all).
    pub claim_is_path: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    pub name: String,
    pub value: String,
}

/// An access rule: Janus's `predicate` string, or a structured `when`; and its action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessRule {
    pub predicate: Option<String>,
    pub when: Option<Value>,
    pub action: String,
}

/// KrakenD's client-credentials settings, with the Envoy cluster that reaches `token_url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientCredentials {
    pub client_id: String,
    /// Not with `auth_style: private_key_jwt`.
    pub client_secret: Option<crate::Secret>,
    /// RFC 7523 `private_key_jwt`: the key the client assertion is signed with.
    pub client_assertion_key: Option<RawKeyPair>,
    pub token_url: String,
    /// Default: the cluster named after `token_url`'s host and port.
    pub cluster: Option<String>,
    /// "a,b" (KrakenD) or ["a", "b"].
    pub scopes: Option<Value>,
    /// Extra form parameters; the Auth0 variant's `client_secret` is one, so each value is a
    /// secret (inline or from the environment).
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, Vec<crate::Secret>>,
    /// "basic" (default) or "body".
    pub auth_style: Option<String>,
    /// Extra headers for the token request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub replace_authorization: Option<bool>,
    /// Seconds, when the answer has no `expires_in`.
    pub default_expires_in: Option<u64>,
    pub refresh_fraction: Option<f64>,
    pub timeout: Option<Millis>,
    pub max_wait: Option<Millis>,
    #[serde(default)]
    pub retry_on_401: bool,
}

/// Where a token may be found: exactly one of `header`, `query`, `cookie`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokenSource {
    pub header: Option<String>,
    /// For `header`: the scheme before the token, e.g. "Bearer " (matched case-insensitively).
    pub prefix: Option<String>,
    pub query: Option<String>,
    pub cookie: Option<String>,
}

/// Envoy jwt_authn's `claim_to_headers` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaimHeader {
    pub header_name: String,
    pub claim_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub route_name: Option<String>,
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub path_exact: Option<String>,
    pub path_regex: Option<String>,
    pub methods: Option<Vec<String>>,
    pub policy: String,
}
