//! From the raw configuration to the compiled one: cross-references resolved, keys parsed,
//! regexes compiled, header names checked. Every error names the JSON path.

use super::raw::{RawConfig, RawKeySetting, RawPolicy, RawRoute, RawServer, RawStrategy};
use crate::duration::Millis;
use crate::remote::{self, RemoteSource, SourceKind};
use crate::url::HttpTarget;
use super::{Config, ConfigError, Consumer, ConsumerBy, LogLevel, Policy, Server, Strategy, DEFAULT_REALM};
use super::raw::{RawClientCredentials, RawIntrospection};
use crate::client_credentials::{self as cc, AuthStyle, ClientCredentials};
use crate::introspection::{self, IntrospectionRules};
use crate::issuer::TokenIssuer;
use crate::janus::{Front, Kind};

use crate::extract::TokenSource;
use crate::jwt::verify::DEFAULT_MAX_TOKEN_BYTES;
use crate::jwt::{parse_jwks, Alg, AlgSet, JwtRules, VerifyKey};
use crate::routing::{HostMatch, PathMatch, Route};
use serde_json::Value;

type Res<T> = Result<T, ConfigError>;

fn err<T>(path: impl Into<String>, reason: impl Into<String>) -> Res<T> {
    Err(ConfigError::new(path, reason))
}

pub fn compile(raw: RawConfig) -> Res<Config> {
    let token_issuer = match raw.token_issuer {
        Some(i) => Some(super::issuer::compile("token_issuer", i)?),
        None => None,
    };
    let mut servers = Vec::new();
    for (name, s) in raw.oauth_servers {
        let path = format!("oauth_servers.{name}");
        servers.push(server(&path, name, s, token_issuer.as_ref())?);
    }
    let mut consumers: Vec<Consumer> = Vec::new();
    for (i, c) in raw.consumers.into_iter().enumerate() {
        if c.id.is_empty() || consumers.iter().any(|x| x.id == c.id) {
            return err(format!("consumers[{i}].id"), "must be non-empty and unique");
        }
        for (field, v) in [("id", Some(&c.id)), ("custom_id", c.custom_id.as_ref()), ("username", c.username.as_ref())] {
            if v.is_some_and(|v| v.chars().any(char::is_control)) {
                return err(format!("consumers[{i}].{field}"), "must not hold control characters");
            }
        }
        consumers.push(Consumer { id: c.id, custom_id: c.custom_id, username: c.username });
    }
    let mut policies = Vec::new();
    for (name, p) in raw.policies {
        let path = format!("policies.{name}");
        policies.push(policy(&path, name, p, &servers, &consumers)?);
    }
    let find = |path: &str, name: &str| -> Res<usize> {
        match policies.iter().position(|p| p.name == name) {
            Some(i) => Ok(i),
            None => err(path, format!("unknown policy `{name}`")),
        }
    };
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let path = format!("routes[{i}]");
        let policy = find(&format!("{path}.policy"), &r.policy)?;
        routes.push(route(&path, r, policy)?);
    }
    let default_policy = match &raw.default_policy {
        Some(name) => Some(find("default_policy", name)?),
        None => None,
    };
    let metadata_namespace = raw.route_metadata_namespace;
    if metadata_namespace.as_deref() == Some("") {
        return err("route_metadata_namespace", "must not be empty");
    }
    let mut mapped_headers: Vec<String> =
        policies.iter().flat_map(|p| p.claim_headers.iter().map(|(h, _)| h.clone())).collect();
    mapped_headers.sort();
    mapped_headers.dedup();
    let log_level = match raw.log_level.as_deref() {
        Some("trace") => LogLevel::Trace,
        Some("debug") => LogLevel::Debug,
        None | Some("info") => LogLevel::Info,
        Some("warn") => LogLevel::Warn,
        Some("error") => LogLevel::Error,
        Some("critical") => LogLevel::Critical,
        Some(_) => return err("log_level", "one of trace, debug, info, warn, error, critical"),
    };
    let host_crypto = raw.host_crypto.unwrap_or(true);
    Ok(Config {
        servers,
        policies,
        routes,
        default_policy,
        metadata_namespace,
        mapped_headers,
        consumers,
        token_issuer,
        log_level,
        host_crypto,
    })
}

/// The Janus front of a server, when it has OAuth endpoints.
fn front(path: &str, raw: &RawServer) -> Res<Option<Front>> {
    let mut list = Vec::new();
    if let Some(e) = &raw.oauth_endpoints {
        for (field, p, kind) in [("authorize", &e.authorize, Kind::Authorize), ("token", &e.token, Kind::Token),
            ("introspection", &e.introspection, Kind::Introspection), ("revoke", &e.revoke, Kind::Revoke)] {
            if let Some(p) = p {
                if !p.listen_path.starts_with('/') {
                    return err(format!("{path}.oauth_endpoints.{field}.listen_path"), "must start with /");
                }
                list.push((p.listen_path.clone(), kind));
            }
        }
    }
    if let Some(c) = &raw.oauth_client_endpoints {
        for (field, p, kind) in [("create", &c.create, Kind::ClientCreate), ("remove", &c.remove, Kind::ClientRemove)] {
            if let Some(p) = p {
                if !p.listen_path.starts_with('/') {
                    return err(format!("{path}.oauth_client_endpoints.{field}.listen_path"), "must start with /");
                }
                list.push((p.listen_path.clone(), kind));
            }
        }
    }
    if list.is_empty() {
        for (field, set) in [("allowed_access_types", !raw.allowed_access_types.is_empty()), ("allowed_authorize_types", !raw.allowed_authorize_types.is_empty()),
            ("auth_login_redirect", raw.auth_login_redirect.is_some()), ("secrets", !raw.secrets.is_empty())] {
            if set {
                return err(format!("{path}.{field}"), "needs `oauth_endpoints` to apply to");
            }
        }
        return Ok(None);
    }
    if let Some(url) = &raw.auth_login_redirect {
        if HttpTarget::parse(url).is_none() && !url.starts_with('/') {
            return err(format!("{path}.auth_login_redirect"), "an http(s) URL or a path");
        }
        if url.chars().any(char::is_control) {
            return err(format!("{path}.auth_login_redirect"), "must not hold control characters");
        }
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

fn server(path: &str, name: String, raw: RawServer, token_issuer: Option<&TokenIssuer>) -> Res<Server> {
    let front = front(path, &raw)?;
    let path = format!("{path}.token_strategy");
    match raw.token_strategy.name.as_str() {
        "jwt" => {
            let remote = remote_source(&path, &name, &raw.token_strategy)?;
            let trust = raw.token_strategy.trust_token_issuer;
            let issuer = match (trust, token_issuer) {
                (true, None) => return err(format!("{path}.trust_token_issuer"), "there is no `token_issuer`"),
                (true, Some(i)) => Some(i),
                (false, _) => None,
            };
            let mut rules = jwt_rules(&path, raw.token_strategy, remote.is_some() || issuer.is_some())?;
            if let Some(i) = issuer {
                rules.keys.extend(i.keys.iter().map(|k| k.verify_key()));
                if rules.issuers.is_empty() {
                    rules.issuers.push(i.issuer.clone());
                }
            }
            if let Some(RemoteSource { kind: SourceKind::Discovery { issuer, .. }, .. }) = &remote {
                if rules.issuers.is_empty() {
                    rules.issuers.push(issuer.clone());
                }
            }
            let token_sources = match raw.token_sources {
                Some(list) => Some(token_sources(&format!("oauth_servers.{name}.token_sources"), list)?),
                None => None,
            };
            Ok(Server { name, strategy: Strategy::Jwt(rules), remote, token_sources, front })
        }
        "introspection" => {
            let rules = introspection_rules(&path, &name, raw.token_strategy)?;
            let token_sources = match raw.token_sources {
                Some(list) => Some(token_sources(&format!("oauth_servers.{name}.token_sources"), list)?),
                None => None,
            };
            Ok(Server { name, strategy: Strategy::Introspection(rules), remote: None, token_sources, front })
        }
        other => err(format!("{path}.name"), format!("unsupported token strategy `{other}` (supported: jwt, introspection)")),
    }
}

/// Janus `token_strategy: introspection` whose `settings` are the plugin's parameters.
fn introspection_rules(path: &str, server: &str, raw: RawStrategy) -> Res<IntrospectionRules> {
    for (field, set) in [("allowed_algorithms", raw.allowed_algorithms.is_some()), ("issuers", raw.issuers.is_some()),
        ("trust_token_issuer", raw.trust_token_issuer), ("verified_cache_size", raw.verified_cache_size.is_some()),
        ("required_claims", raw.required_claims.is_some()), ("max_token_bytes", raw.max_token_bytes.is_some()),
        ("jwks_uri", raw.jwks_uri.is_some()), ("discovery", raw.discovery.is_some()), ("require_typ", raw.require_typ.is_some()),
        ("cache_duration", raw.cache_duration.is_some()), ("refetch_cooldown", raw.refetch_cooldown.is_some()),
        ("max_stale", raw.max_stale.is_some()), ("max_wait", raw.max_wait.is_some()), ("max_jwks_bytes", raw.max_jwks_bytes.is_some())] {
        if set {
            return err(format!("{path}.{field}"), "not a setting of the introspection strategy");
        }
    }
    let settings_path = format!("{path}.settings");
    let Some(settings) = raw.settings else { return err(settings_path, "required: {\"introspection_url\", \"cluster\", …}") };
    let s: RawIntrospection = from_value(&settings_path, settings)?;
    let Some(target) = HttpTarget::parse(&s.introspection_url) else {
        return err(format!("{settings_path}.introspection_url"), "not an http(s) URL");
    };
    if s.cluster.is_empty() {
        return err(format!("{settings_path}.cluster"), "must name the Envoy cluster that reaches the IdP");
    }
    let timeout_ms = s.timeout.unwrap_or(introspection::DEFAULT_TIMEOUT_MS);
    if !(1..=60_000).contains(&timeout_ms) {
        return err(format!("{settings_path}.timeout"), "milliseconds, between 1 and 60000");
    }
    let mut custom_headers = Vec::new();
    for (name, value) in s.custom_introspection_headers {
        let p = format!("{settings_path}.custom_introspection_headers.{name}");
        let lower = header_name(&p, &name)?;
        if value.expose().chars().any(char::is_control) {
            return err(p, "must not hold control characters");
        }
        custom_headers.push((lower, value));
    }
    if s.authorization_value.as_ref().is_some_and(|v| v.expose().chars().any(char::is_control)) {
        return err(format!("{settings_path}.authorization_value"), "must not hold control characters");
    }
    let cache_slots = s.cache_slots.unwrap_or(introspection::DEFAULT_CACHE_SLOTS);
    if !(1..=1_000_000).contains(&cache_slots) {
        return err(format!("{settings_path}.cache_slots"), "must be between 1 and 1000000");
    }
    let _ = s.keepalive; // the Envoy cluster's connection settings govern keep-alive
    let shared_key = crate::shared::introspection_prefix(server, &s.introspection_url);
    Ok(IntrospectionRules {
        target,
        cluster: s.cluster,
        timeout_ms,
        authorization: s.authorization_value,
        token_type_hint: s.token_type_hint,
        ttl: s.ttl.unwrap_or(introspection::DEFAULT_TTL),
        negative_ttl: s.negative_ttl.unwrap_or(0),
        introspect_request: s.introspect_request,
        custom_headers,
        audiences: raw.audiences.unwrap_or_default(),
        leeway_secs: raw.leeway.unwrap_or(0),
        cache_slots,
        max_answer_bytes: s.max_answer_bytes.unwrap_or(introspection::DEFAULT_MAX_ANSWER_BYTES),
        max_wait_ms: s.max_wait.map_or(timeout_ms + 1000, |m| m.0),
        shared_key,
    })
}

fn client_credentials(path: &str, raw: RawClientCredentials) -> Res<ClientCredentials> {
    let Some(target) = HttpTarget::parse(&raw.token_url) else { return err(format!("{path}.token_url"), "not an http(s) URL") };
    if raw.cluster.is_empty() {
        return err(format!("{path}.cluster"), "must name the Envoy cluster that reaches the token endpoint");
    }
    if raw.client_id.is_empty() {
        return err(format!("{path}.client_id"), "must not be empty");
    }
    let scopes: Vec<String> = match raw.scopes {
        None => Vec::new(),
        Some(Value::String(s)) => s.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        Some(Value::Array(items)) => {
            let mut v = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) if !s.is_empty() => v.push(s),
                    _ => return err(format!("{path}.scopes[{i}]"), "must be a non-empty string"),
                }
            }
            v
        }
        Some(_) => return err(format!("{path}.scopes"), "a comma-separated string or a list of strings"),
    };
    let auth_style = match raw.auth_style.as_deref() {
        None | Some("basic") => AuthStyle::Basic,
        Some("body") => AuthStyle::Body,
        Some(_) => return err(format!("{path}.auth_style"), "must be \"basic\" or \"body\""),
    };
    let mut headers = Vec::new();
    for (name, value) in raw.headers {
        let p = format!("{path}.headers.{name}");
        let lower = header_name(&p, &name)?;
        if value.chars().any(char::is_control) {
            return err(p, "must not hold control characters");
        }
        headers.push((lower, value));
    }
    let refresh_fraction = raw.refresh_fraction.unwrap_or(0.5);
    if !(0.05..=0.95).contains(&refresh_fraction) {
        return err(format!("{path}.refresh_fraction"), "must be between 0.05 and 0.95");
    }
    let default_expires_in = raw.default_expires_in.unwrap_or(cc::DEFAULT_EXPIRES_IN);
    if default_expires_in == 0 {
        return err(format!("{path}.default_expires_in"), "must be at least 1 second");
    }
    let endpoint_params: Vec<(String, Vec<String>)> = raw.endpoint_params.into_iter().collect();
    let timeout_ms = raw.timeout.map_or(cc::DEFAULT_TIMEOUT_MS, |m| m.0);
    if !(1..=60_000).contains(&timeout_ms) {
        return err(format!("{path}.timeout"), "must be between 1ms and 60s");
    }
    // The key covers what makes a token different; hashed, since params may carry a secret.
    let identity = format!("{}\n{}\n{}\n{:?}\n{}", raw.token_url, raw.client_id, scopes.join(" "), endpoint_params, raw.cluster);
    let digest = hmac_sha256::Hash::hash(identity.as_bytes());
    let shared_key = crate::shared::client_token(&digest);
    Ok(ClientCredentials {
        client_id: raw.client_id,
        client_secret: raw.client_secret,
        target,
        cluster: raw.cluster,
        scopes,
        endpoint_params,
        auth_style,
        headers,
        replace_authorization: raw.replace_authorization.unwrap_or(true),
        default_expires_in,
        refresh_fraction,
        timeout_ms,
        max_wait_ms: raw.max_wait.map_or(cc::DEFAULT_MAX_WAIT_MS, |m| m.0),
        retry_on_401: raw.retry_on_401,
        shared_key,
    })
}

/// `jwks_uri` or `discovery`, with the cache settings.
fn remote_source(path: &str, server: &str, raw: &RawStrategy) -> Res<Option<RemoteSource>> {
    let (kind, cluster, timeout) = match (&raw.jwks_uri, &raw.discovery) {
        (None, None) => {
            for (field, set) in [("cache_duration", raw.cache_duration.is_some()), ("refetch_cooldown", raw.refetch_cooldown.is_some()),
                ("max_stale", raw.max_stale.is_some()), ("max_wait", raw.max_wait.is_some()), ("max_jwks_bytes", raw.max_jwks_bytes.is_some())] {
                if set {
                    return err(format!("{path}.{field}"), "only meaningful with `jwks_uri` or `discovery`");
                }
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => return err(path, "set `jwks_uri` or `discovery`, not both"),
        (Some(j), None) => {
            let Some(t) = HttpTarget::parse(&j.uri) else { return err(format!("{path}.jwks_uri.uri"), "not an http(s) URL") };
            (SourceKind::Jwks(t), j.cluster.clone(), j.timeout)
        }
        (None, Some(d)) => {
            let Some(t) = HttpTarget::parse(&d.issuer) else { return err(format!("{path}.discovery.issuer"), "not an http(s) URL") };
            (SourceKind::Discovery { issuer: d.issuer.clone(), target: t }, d.cluster.clone(), d.timeout)
        }
    };
    let field = if raw.jwks_uri.is_some() { "jwks_uri" } else { "discovery" };
    if cluster.is_empty() {
        return err(format!("{path}.{field}.cluster"), "must name the Envoy cluster that reaches the IdP");
    }
    let timeout_ms = timeout.unwrap_or(Millis(remote::DEFAULT_TIMEOUT_MS)).0;
    if !(1..=60_000).contains(&timeout_ms) {
        return err(format!("{path}.{field}.timeout"), "must be between 1ms and 60s");
    }
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
    let shared_key = crate::shared::keys_prefix(server, &cluster, &id);
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

fn jwt_rules(path: &str, raw: RawStrategy, has_remote: bool) -> Res<JwtRules> {
    let algs: AlgSet = match &raw.allowed_algorithms {
        None => AlgSet::all(),
        Some(list) => {
            let mut v = Vec::new();
            for (i, name) in list.iter().enumerate() {
                match Alg::parse(name) {
                    Some(a) => v.push(a),
                    None => return err(format!("{path}.allowed_algorithms[{i}]"), format!("unsupported algorithm `{name}`")),
                }
            }
            v.into_iter().collect()
        }
    };
    let settings_path = format!("{path}.settings");
    let keys: Vec<VerifyKey> = match raw.settings {
        Some(settings) => jwt_keys(&settings_path, settings)?.into_iter().filter(|k| algs.contains(k.alg)).collect(),
        None if has_remote => Vec::new(),
        None => return err(settings_path, "required unless `jwks_uri` or `discovery` is set"),
    };
    if keys.is_empty() && !has_remote {
        return err(settings_path, "no key usable with the allowed algorithms");
    }
    let cache_size = raw.verified_cache_size.unwrap_or(crate::jwt::cache::DEFAULT_CAPACITY);
    if cache_size > 1_000_000 {
        return err(format!("{path}.verified_cache_size"), "at most 1000000");
    }
    let require_typ = match raw.require_typ {
        Some(t) if t.is_empty() => return err(format!("{path}.require_typ"), "must not be empty"),
        other => other,
    };
    let max_token_bytes = raw.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(64..=1 << 20).contains(&max_token_bytes) {
        return err(format!("{path}.max_token_bytes"), "must be between 64 and 1048576");
    }
    Ok(JwtRules {
        keys,
        algs,
        leeway_secs: raw.leeway.unwrap_or(0),
        issuers: raw.issuers.unwrap_or_default(),
        audiences: raw.audiences.unwrap_or_default(),
        required_claims: raw.required_claims.unwrap_or_default(),
        max_token_bytes,
        require_typ,
        cache: crate::jwt::cache::VerifiedCache::new(cache_size),
    })
}

/// The Janus `settings`: a list of `{alg, key, kid?}`, the legacy `{"secret": …}` (HS256),
/// or an inline JWKS `{"keys": [...]}`.
fn jwt_keys(path: &str, settings: Value) -> Res<Vec<VerifyKey>> {
    match settings {
        Value::Array(items) => {
            let mut keys = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let p = format!("{path}[{i}]");
                let s: RawKeySetting = from_value(&p, item)?;
                let Some(alg) = Alg::parse(&s.alg) else {
                    return err(format!("{p}.alg"), format!("unsupported algorithm `{}`", s.alg));
                };
                keys.push(VerifyKey::from_setting(alg, s.key.expose(), s.kid).map_err(|r| ConfigError::new(format!("{p}.key"), r))?);
            }
            Ok(keys)
        }
        Value::Object(map) if map.contains_key("keys") => {
            let doc = Value::Object(map);
            let parsed = parse_jwks(&doc).map_err(|r| ConfigError::new(path, r))?;
            if let Some((i, reason)) = parsed.skipped.first() {
                return err(format!("{path}.keys[{i}]"), reason.clone());
            }
            Ok(parsed.keys)
        }
        Value::Object(map) if map.contains_key("secret") => {
            if let Some(k) = map.keys().find(|k| *k != "secret") {
                return err(format!("{path}.{k}"), "unknown field beside `secret`");
            }
            match map.get("secret") {
                Some(Value::String(s)) => Ok(vec![VerifyKey::from_setting(Alg::HS256, s, None)
                    .map_err(|r| ConfigError::new(format!("{path}.secret"), r))?]),
                _ => err(format!("{path}.secret"), "must be a string"),
            }
        }
        _ => err(path, "expected a list of {alg, key}, {\"secret\": …} or a JWKS {\"keys\": [...]}"),
    }
}

/// Deserializes a nested JSON value, with the error's path below `path`.
fn from_value<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Res<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let full = if inner == "." { path.to_string() } else { format!("{path}.{inner}") };
        ConfigError::from_serde(full, e.inner())
    })
}

fn policy(path: &str, name: String, raw: RawPolicy, servers: &[Server], consumers: &[Consumer]) -> Res<Policy> {
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
    let names: Vec<(String, String)> = match (&raw.oauth_server, &raw.oauth_servers) {
        (Some(_), Some(_)) => return err(path, "set `oauth_server` or `oauth_servers`, not both"),
        (Some(s), None) => vec![(format!("{path}.oauth_server"), s.clone())],
        (None, Some(list)) => list.iter().enumerate().map(|(i, s)| (format!("{path}.oauth_servers[{i}]"), s.clone())).collect(),
        (None, None) => Vec::new(),
    };
    let mut server_ids = Vec::new();
    for (p, s) in &names {
        match servers.iter().position(|x| &x.name == s) {
            Some(i) => server_ids.push(i),
            None => return err(p.clone(), format!("unknown oauth server `{s}`")),
        }
    }
    if server_ids.is_empty() && !raw.public {
        return err(format!("{path}.oauth_server"), "required unless the policy is public");
    }
    for (i, scope) in raw.required_scopes.iter().enumerate() {
        // RFC 6749 §3.3 scope-token characters, so the challenge's quoted string stays intact.
        if scope.is_empty() || !scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
            return err(format!("{path}.required_scopes[{i}]"), "not a valid scope token");
        }
    }
    let scope_challenge = raw.required_scopes.join(" ");
    let realm = raw.realm.unwrap_or_else(|| DEFAULT_REALM.into());
    if realm.is_empty() || realm.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return err(format!("{path}.realm"), "must be non-empty, without quotes, backslashes or control characters");
    }
    let sources = match raw.token_sources {
        None => vec![TokenSource::bearer()],
        Some(list) => token_sources(&format!("{path}.token_sources"), list)?,
    };
    let requires_all = match raw.requires.as_deref() {
        None | Some("any") => false,
        Some("all") => true,
        Some(_) => return err(format!("{path}.requires"), "must be \"any\" or \"all\""),
    };
    let mut claim_headers = Vec::new();
    for (i, c) in raw.claim_to_headers.into_iter().enumerate() {
        let p = format!("{path}.claim_to_headers[{i}]");
        if c.claim_name.is_empty() {
            return err(format!("{p}.claim_name"), "must not be empty");
        }
        claim_headers.push((header_name(&format!("{p}.header_name"), &c.header_name)?, c.claim_name));
    }
    for (i, claim) in raw.custom_claims_forward.into_iter().enumerate() {
        let p = format!("{path}.custom_claims_forward[{i}]");
        let header = format!("x-credential-{}", claim.replace(['.', '_'], "-"));
        claim_headers.push((header_name(&p, &header)?, claim));
    }
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
        verdicts: crate::verdicts::Verdicts::new(verdict_capacity),
        name,
        public: raw.public,
        servers: server_ids,
        requires_all,
        hide_credentials: raw.hide_credentials,
        required_scopes: raw.required_scopes,
        scope_challenge,
        anonymous,
        run_on_preflight: raw.run_on_preflight.unwrap_or(true),
        consumer_by,
        client_credentials: match raw.upstream_client_credentials {
            Some(c) => Some(client_credentials(&format!("{path}.upstream_client_credentials"), c)?),
            None => None,
        },
        realm,
        sources,
        claim_headers,
    })
}

fn token_sources(path: &str, list: Vec<super::raw::RawTokenSource>) -> Res<Vec<TokenSource>> {
    let mut v = Vec::new();
    for (i, s) in list.into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        v.push(match (s.header, s.query, s.cookie, s.prefix) {
            (Some(h), None, None, prefix) => TokenSource::Header { name: header_name(&format!("{p}.header"), &h)?, prefix },
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

/// A lower-cased HTTP header name (RFC 9110 token), not a pseudo-header.
fn header_name(path: &str, name: &str) -> Res<String> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return err(path, "not a valid header name");
    }
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "host" | "content-length" | "transfer-encoding" | "connection") {
        return err(path, "this header cannot carry claims");
    }
    Ok(lower)
}

fn route(path: &str, raw: RawRoute, policy: usize) -> Res<Route> {
    let paths = [raw.path_prefix.is_some(), raw.path_exact.is_some(), raw.path_regex.is_some()];
    if paths.iter().filter(|x| **x).count() > 1 {
        return err(path, "set at most one of `path_prefix`, `path_exact`, `path_regex`");
    }
    let path_match = if let Some(p) = raw.path_prefix {
        Some(PathMatch::Prefix(p))
    } else if let Some(p) = raw.path_exact {
        Some(PathMatch::Exact(p))
    } else if let Some(r) = raw.path_regex {
        match regex_lite::Regex::new(&format!("^(?:{r})$")) {
            Ok(re) => Some(PathMatch::Regex(re)),
            Err(e) => return err(format!("{path}.path_regex"), format!("bad regex: {e}")),
        }
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
