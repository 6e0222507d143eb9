//! Kong plugin entries written as policies (`name: oauth2-introspection`, `config: {…}`, as
//! Kong's declarative configuration has them): each becomes a policy with the plugin's
//! policy fields and an introspecting server of the same name with the others.

use super::super::raw::{RawConfig, RawPolicy, RawRoute, RawServer, RawStrategy};
use super::check::{err, Res};
use serde_json::{Map, Value};

/// The plugin's parameters that belong to the policy; the rest are the server's settings.
const POLICY_FIELDS: [&str; 5] = ["hide_credentials", "anonymous", "run_on_preflight", "consumer_by", "custom_claims_forward"];

/// Turns every Kong-shaped policy of `raw` into a policy and a server; their names.
pub fn expand(raw: &mut RawConfig, notices: &mut Vec<String>) -> Res<Vec<String>> {
    let mut routes = Vec::new();
    let mut names = Vec::new();
    for (name, p) in raw.policies.iter_mut() {
        if p.name.is_none() && p.config.is_none() {
            continue;
        }
        let path = format!("policies.{name}");
        if p.name.as_deref() != Some("oauth2-introspection") {
            return err(format!("{path}.name"), "a Kong plugin entry here is `oauth2-introspection`");
        }
        let Some(Value::Object(mut config)) = p.config.take() else { return err(format!("{path}.config"), "required: the plugin's `config` object") };
        if p.oauth_server.is_some() || p.oauth_servers.is_some() || raw.oauth_servers.contains_key(name) {
            return err(format!("{path}.config"), "a Kong plugin entry is its own oauth server: no `oauth_server`, and no server of the same name");
        }
        policy_fields(&path, p, &mut config)?;
        if p.enabled == Some(false) {
            // Kong's disabled plugin does not run: the route is open.
            p.public = true;
            notices.push(format!("warning: {path}: enabled is false: requests pass without a token, as with Kong's disabled plugin"));
        }
        let others = [("service", p.service.is_some()), ("consumer", p.consumer.is_some()), ("protocols", p.protocols.is_some()),
            ("tags", p.tags.is_some()), ("id", p.id.is_some()), ("instance_name", p.instance_name.is_some())];
        let named: Vec<&str> = others.iter().filter(|(_, set)| *set).map(|(f, _)| *f).collect();
        if !named.is_empty() {
            notices.push(format!("{path}: {} of the Kong plugin entry are accepted; Envoy's routes choose the policy here", named.join(", ")));
        }
        if let Some(route) = p.route.take() {
            routes.push(RawRoute { route_name: Some(route), policy: name.clone(), ..RawRoute::default() });
        }
        p.oauth_server = Some(name.clone());
        let strategy = RawStrategy { name: "introspection".into(), settings: Some(Value::Object(config)), ..RawStrategy::default() };
        raw.oauth_servers.insert(name.clone(), RawServer { token_strategy: strategy, ..RawServer::default() });
        names.push(name.clone());
    }
    // A plugin on a route is the most specific rule: first.
    routes.append(&mut raw.routes);
    raw.routes = routes;
    Ok(names)
}

/// Moves the plugin's policy parameters from `config` onto the policy.
fn policy_fields(path: &str, p: &mut RawPolicy, config: &mut Map<String, Value>) -> Res<()> {
    for field in POLICY_FIELDS {
        let Some(v) = config.remove(field) else { continue };
        let at = format!("{path}.config.{field}");
        match (field, v) {
            (_, Value::Null) => {}
            ("hide_credentials", Value::Bool(b)) => p.hide_credentials = b,
            ("run_on_preflight", Value::Bool(b)) => p.run_on_preflight = Some(b),
            ("anonymous", Value::String(s)) => p.anonymous = Some(s).filter(|s| !s.is_empty()),
            ("consumer_by", Value::String(s)) => p.consumer_by = Some(s),
            ("custom_claims_forward", Value::Array(list)) => {
                for (i, c) in list.into_iter().enumerate() {
                    match c {
                        Value::String(c) => p.custom_claims_forward.push(c),
                        _ => return err(format!("{at}[{i}]"), "must be a string"),
                    }
                }
            }
            // Kong's JSON writes an empty list as `{}`.
            ("custom_claims_forward", Value::Object(m)) if m.is_empty() => {}
            ("hide_credentials" | "run_on_preflight", _) => return err(at, "must be a boolean"),
            ("custom_claims_forward", _) => return err(at, "must be a list of claim names"),
            _ => return err(at, "must be a string"),
        }
    }
    Ok(())
}
