//! From the raw configuration to the compiled one, by domain: cross-references resolved, keys
//! parsed, regexes compiled, header names checked. Every error names the JSON path.

mod binding;
pub(crate) mod check;
mod client_auth;
mod claim_rules;
mod client_credentials;
mod front;
mod introspection;
mod issuer;
mod jwt_keys;
mod policy;
mod predicate;
mod remote_keys;
mod routes;
mod store;

use crate::common::byteset::{dashed, ByteSet};
use super::raw::{RawAccessRule, RawBinding, RawConfig, RawIntrospectionStrategy, RawJwtStrategy, RawServer};
use serde_json::Value;
use super::{Config, Consumer, LogLevel, Server, Strategy};
use crate::jwt::VerifyKey;
use crate::endpoints::admin::AdminApi;
use crate::endpoints::issuer::TokenIssuer;
use crate::idp::remote::{RemoteSource, SourceKind};
use check::{err, Res};

/// `notices`: those of the seed rewrites, to which compiling adds its own.
pub fn compile(mut raw: RawConfig, mut notices: Vec<String>) -> Res<Config> {
    let token_issuer = match raw.token_issuer.take() {
        Some(i) => Some(issuer::compile("token_issuer", i)?),
        None => None,
    };
    let static_servers = raw.oauth_servers.len();
    let (mut servers, server_rules) = servers(&mut raw, token_issuer.as_ref(), &mut notices)?;
    let admin_policy = raw.admin_api.as_ref().map(|a| a.policy.clone());
    let consumers = consumers(std::mem::take(&mut raw.consumers))?;
    let mut policies = Vec::new();
    for (name, mut p) in std::mem::take(&mut raw.policies) {
        let path = format!("policies.{name}");
        if p.access_rules.is_empty() {
            let used = p.oauth_server.iter().chain(p.oauth_servers.iter().flatten());
            let inherited = used.filter_map(|u| server_rules.iter().find(|(n, _)| n == u)).flat_map(|(_, r)| r.iter().cloned());
            p.access_rules = inherited.collect();
        }
        policies.push(policy::policy(&path, name, p, &servers, admin_policy.is_some(), &consumers)?);
    }
    verdicts_only(&mut servers, &policies);
    let find = |path: &str, name: &str| -> Res<usize> {
        match policies.iter().position(|p| p.name == name) {
            Some(i) => Ok(i),
            None => err(path, format!("unknown policy `{name}`")),
        }
    };
    let mut routes = Vec::new();
    for (i, r) in std::mem::take(&mut raw.routes).into_iter().enumerate() {
        let path = format!("routes[{i}]");
        let policy = find(&format!("{path}.policy"), &r.policy)?;
        routes.push(routes::route(&path, r, policy)?);
    }
    let default_policy = match &raw.default_policy {
        Some(name) => Some(find("default_policy", name)?),
        None => None,
    };
    let metadata_namespace = raw.route_metadata_namespace.take();
    if metadata_namespace.as_deref() == Some("") {
        return err("route_metadata_namespace", "must not be empty");
    }
    let log_level = log_level(raw.log_level.as_deref())?;
    let admin = match raw.admin_api.take() {
        Some(a) => Some(AdminApi {
            domain: a.domain.as_deref().map(|d| check::whole_regex("admin_api.domain", d)).transpose()?,
            prefix: admin_prefix(a.prefix)?,
            policy: admin_policy_checked(&policies, find("admin_api.policy", &a.policy)?)?,
        }),
        None => None,
    };
    no_shadowing(&servers, static_servers, &routes, admin.as_ref(), token_issuer.as_ref())?;
    let store = raw.store.take().map(|s| store::etcd("store.etcd", s.etcd)).transpose()?;
    let mapped = mapped_headers(&policies);
    Ok(Config {
        servers,
        // Every identity header begins with `x` (tested in `decision::upstream`).
        spoof_first: ByteSet::of(|b| dashed(b) == b'x' || mapped.iter().any(|h| h.as_bytes().first() == Some(&dashed(b)))),
        mapped_headers: mapped,
        policies,
        routes,
        default_policy,
        metadata_namespace,
        consumers,
        token_issuer,
        log_level,
        host_crypto: raw.host_crypto.unwrap_or(true),
        notices,
        admin,
        static_servers,
        store,
    })
}

/// A JWT server that one policy uses, alone: that policy's verdicts keep every token the
/// server's verified-token cache would be asked for again (the same digest, lifetime and keys
/// version), so the server keeps none, and a first-seen token skips a lookup and an insert.
/// A token the policy then refused (scopes, claim rules) is checked again when it comes back,
/// as any token it cannot accept is.
fn verdicts_only(servers: &mut [Server], policies: &[super::Policy]) {
    for (i, server) in servers.iter_mut().enumerate() {
        let mut users = policies.iter().filter(|p| p.servers.contains(&i));
        let alone = matches!((users.next(), users.next()), (Some(p), None) if p.servers.len() == 1);
        if let (true, Strategy::Jwt(rules)) = (alone, &mut server.strategy) {
            rules.cache = crate::jwt::cache::VerifiedCache::new(0);
        }
    }
}

/// Janus's access rules kept on a server, by server name: they apply to the policies that
/// use it and have none of their own.
type ServerRules = Vec<(String, Vec<RawAccessRule>)>;

/// The OAuth servers: the static ones, then those added through the admin API (checked exactly
/// as the static ones, never shadowing one).
fn servers(raw: &mut RawConfig, token_issuer: Option<&TokenIssuer>, notices: &mut Vec<String>) -> Res<(Vec<Server>, ServerRules)> {
    let mut servers = Vec::new();
    let mut server_rules = Vec::new();
    let statics = std::mem::take(&mut raw.oauth_servers);
    let added = std::mem::take(&mut raw.dynamic_servers).into_iter().filter(|(n, _)| !statics.contains_key(n)).collect::<Vec<_>>();
    let statics = statics.into_iter().map(|(n, s)| (n, s, true));
    for (name, mut s, from_env) in statics.chain(added.into_iter().map(|(n, s)| (n, s, false))) {
        let path = format!("oauth_servers.{name}");
        let rules = std::mem::take(&mut s.access_rules);
        for (i, r) in rules.iter().enumerate() {
            claim_rules::rule(&format!("{path}.access_rules[{i}]"), r.clone())?;
        }
        server_rules.push((name.clone(), rules));
        servers.push(crate::common::secret::with_env(from_env, || server(&path, name, s, token_issuer, notices))?);
    }
    Ok((servers, server_rules))
}

/// Kong's consumers: each known by its `id` (else `username`, else `custom_id`), unique.
fn consumers(raw: Vec<super::raw::RawConsumer>) -> Res<Vec<Consumer>> {
    let mut consumers: Vec<Consumer> = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let id = c.id.or_else(|| c.username.clone()).or_else(|| c.custom_id.clone()).unwrap_or_default();
        if id.is_empty() || consumers.iter().any(|x| x.id == id) {
            return err(format!("consumers[{i}].id"), "must be non-empty and unique");
        }
        for (field, v) in [("id", Some(&id)), ("custom_id", c.custom_id.as_ref()), ("username", c.username.as_ref())] {
            if let Some(v) = v {
                check::no_control(format!("consumers[{i}].{field}"), v)?;
            }
        }
        consumers.push(Consumer { id, custom_id: c.custom_id, username: c.username });
    }
    Ok(consumers)
}

/// Headers only the filter may set: the mapped claims and the verified payload. Kept dashed
/// (lower-case already): a request's header is read dashed too, so `x_user` and `x-user` are
/// both the mapped `x_user`.
fn mapped_headers(policies: &[super::Policy]) -> Vec<String> {
    let mut headers: Vec<String> = policies
        .iter()
        .flat_map(|p| p.claim_headers.iter().map(|(h, _)| h.clone()).chain(p.forward_payload_header.iter().cloned()))
        .map(|h| h.replace('_', "-"))
        .collect();
    headers.sort();
    headers.dedup();
    headers
}

fn log_level(raw: Option<&str>) -> Res<LogLevel> {
    Ok(match raw {
        Some("trace") => LogLevel::Trace,
        Some("debug") => LogLevel::Debug,
        None | Some("info") => LogLevel::Info,
        Some("warn") => LogLevel::Warn,
        Some("error") => LogLevel::Error,
        Some("critical") => LogLevel::Critical,
        Some(_) => return err("log_level", "one of trace, debug, info, warn, error, critical"),
    })
}

fn admin_prefix(prefix: Option<String>) -> Res<String> {
    let p = prefix.unwrap_or_default();
    if !p.is_empty() && (!p.starts_with('/') || p.ends_with('/')) {
        return err("admin_api.prefix", "must start with / and not end with one");
    }
    check::no_control("admin_api.prefix", &p)?;
    Ok(p)
}

fn server(path: &str, name: String, mut raw: RawServer, token_issuer: Option<&TokenIssuer>, notices: &mut Vec<String>) -> Res<Server> {
    let front = front::front(path, &raw, notices)?;
    let path = format!("{path}.token_strategy");
    let (kind, strategy, bound) = strategy_parts(&path, std::mem::take(&mut raw.token_strategy))?;
    let token_sources = match raw.token_sources.take() {
        Some(list) => Some(policy::token_sources(&format!("oauth_servers.{name}.token_sources"), list)?),
        None => None,
    };
    match kind.as_str() {
        "jwt" => {
            let strategy: RawJwtStrategy = check::from_value(&path, strategy)?;
            let binding = binding::rules(&path, &name, &bound, strategy.leeway.unwrap_or(0))?;
            let remote = remote_keys::remote_source(&path, &name, &strategy)?;
            let trust = strategy.trust_token_issuer;
            let issuer = match (trust, token_issuer) {
                (true, None) => return err(format!("{path}.trust_token_issuer"), "there is no `token_issuer`"),
                (true, Some(i)) => Some(i),
                (false, _) => None,
            };
            let mut rules = jwt_keys::jwt_rules(&path, strategy, remote.is_some() || issuer.is_some())?;
            if rules.keys.iter().any(VerifyKey::is_short_hmac) {
                notices.push(format!("warning: oauth server {name}: an HMAC secret is shorter than 12 bytes (accepted as Janus does); use a longer one"));
            }
            if let Some(i) = issuer {
                rules.keys.extend(i.keys.iter().map(|k| k.verify_key().kept()));
                if rules.issuers.is_empty() {
                    rules.issuers.push(i.issuer.clone());
                }
            }
            if let Some(RemoteSource { kind: SourceKind::Discovery { issuer, .. }, .. }) = &remote {
                if rules.issuers.is_empty() {
                    rules.issuers.push(issuer.clone());
                }
            }
            Ok(Server { name, strategy: Strategy::Jwt(rules), remote, token_sources, front, binding })
        }
        "introspection" => {
            let upstream = front::introspect_upstream(&raw);
            let strategy: RawIntrospectionStrategy = check::from_value(&path, strategy)?;
            let binding = binding::rules(&path, &name, &bound, strategy.leeway.unwrap_or(0))?;
            let rules = introspection::introspection_rules(&path, &name, strategy, upstream.as_deref())?;
            Ok(Server { name, strategy: Strategy::Introspection(rules), remote: None, token_sources, front, binding })
        }
        other => err(format!("{path}.name"), format!("unsupported token strategy `{other}` (supported: jwt, introspection)")),
    }
}

/// A `token_strategy` split: its kind (`name`), the fields of that kind, and the
/// sender-constraint fields, which go with either kind.
fn strategy_parts(path: &str, v: Value) -> Res<(String, Value, RawBinding)> {
    const BINDING: [&str; 5] = ["dpop", "dpop_algs", "dpop_max_age", "dpop_replay_slots", "certificate_bound"];
    let Value::Object(mut fields) = v else { return err(path, "must be an object: {\"name\": \"jwt\" or \"introspection\", …}") };
    let kind = match fields.get("name") {
        Some(Value::String(k)) => k.clone(),
        _ => return err(format!("{path}.name"), "required: \"jwt\" or \"introspection\""),
    };
    let binding: serde_json::Map<String, Value> = BINDING.iter().filter_map(|f| fields.remove(*f).map(|v| (f.to_string(), v))).collect();
    let binding = check::from_value(path, Value::Object(binding))?;
    Ok((kind, Value::Object(fields), binding))
}

/// The admin API's policy must require a good token on every request: one that may let a
/// request through without one (public, anonymous, pass_anonymous, OPTIONS skipped) would let
/// anybody change the servers.
fn admin_policy_checked(policies: &[super::Policy], index: usize) -> Res<usize> {
    let Some(p) = policies.get(index) else { return Ok(index) };
    let anonymous = p.public || p.anonymous.is_some() || p.allow != crate::config::AllowAnonymous::Never || !p.run_on_preflight;
    if anonymous {
        return err(
            "admin_api.policy",
            "must require a token on every request (not public, anonymous, pass_anonymous (jwt_authn's allow_missing*) or run_on_preflight: false)",
        );
    }
    Ok(index)
}

/// A server added through the admin API never takes a path the plugin configuration covers:
/// a front endpoint (listen path, and the login redirect of its authorize endpoint) is answered
/// before any policy, so one at `/` or under a route, a static server's endpoint, the issuer or
/// the admin API would take those paths out of their policy's hands.
fn no_shadowing(servers: &[Server], static_servers: usize, routes: &[crate::decision::routing::Route], admin: Option<&AdminApi>, issuer: Option<&TokenIssuer>) -> Res<()> {
    use crate::decision::routing::PathMatch;
    let base = |listen: &str| listen.trim_end_matches('*').trim_end_matches('/').to_string();
    let overlaps = |a: &str, b: &str| {
        let under = |x: &str, y: &str| x == y || x.strip_prefix(y).is_some_and(|r| r.starts_with('/') || y.ends_with('/'));
        under(a, b) || under(b, a)
    };
    let mut taken: Vec<String> = servers.iter().take(static_servers).filter_map(|s| s.front.as_ref()).flat_map(|f| f.endpoints.iter().map(|(l, _)| base(l))).collect();
    taken.extend(admin.map(|a| format!("{}/oauth/servers", a.prefix)));
    if let Some(i) = issuer {
        taken.extend(["/token", "/token/introspect", "/jwks.json"].map(|e| format!("{}{e}", i.prefix)));
    }
    for s in servers.iter().skip(static_servers) {
        let Some(front) = &s.front else { continue };
        for (listen, _) in &front.endpoints {
            let path = base(listen);
            let shadows = path.is_empty()
                || taken.iter().any(|t| overlaps(&path, t))
                || routes.iter().any(|r| match &r.path {
                    // A route's prefix is a plain string prefix ("/protected" covers "/protectedness").
                    Some(PathMatch::Prefix(p)) => path.starts_with(p.as_str()) || *p == path || p.starts_with(&format!("{path}/")),
                    Some(PathMatch::Exact(e)) => overlaps(&path, e),
                    Some(PathMatch::Regex(re)) => re.is_match(&path) || re.is_match(&format!("{path}/x")),
                    None => false,
                });
            if shadows {
                return err(
                    format!("oauth_servers.{}.oauth_endpoints", s.name),
                    "a listen_path takes a path the plugin configuration covers (a route, a static server's endpoint, the issuer or the admin API): servers added through the admin API never shadow it",
                );
            }
        }
    }
    Ok(())
}
