//! Kong plugin entries written as policies (`name: oauth2-introspection`, `config: {…}`, as
//! Kong's declarative configuration has them): each becomes a native policy with the plugin's
//! policy fields, an introspecting server of the same name with the others, and a route when
//! the entry names one.

use super::super::compile::check::{err, Res};
use super::Translated;
use serde_json::{json, Map, Value};

/// The plugin's parameters that belong to the policy; the rest are the server's settings.
const POLICY_FIELDS: [&str; 5] = ["hide_credentials", "anonymous", "run_on_preflight", "consumer_by", "custom_claims_forward"];

/// Kong's other plugin-entry fields: accepted, Envoy's routes do their job.
const ENTRY_FIELDS: [&str; 6] = ["service", "consumer", "protocols", "tags", "id", "instance_name"];

/// Rewrites every Kong-shaped policy of the configuration `root`.
pub fn plugin_entries(root: &mut Map<String, Value>, t: &mut Translated) -> Res<()> {
    let Some(Value::Object(policies)) = root.get("policies") else { return Ok(()) };
    let entries: Vec<String> = policies
        .iter()
        .filter(|(_, p)| p.get("name").is_some() || p.get("config").is_some())
        .map(|(n, _)| n.clone())
        .collect();
    let mut routes = Vec::new();
    for name in entries {
        let path = format!("policies.{name}");
        let server_taken = root.get("oauth_servers").and_then(|s| s.get(&name)).is_some();
        let Some(Value::Object(p)) = root.get_mut("policies").and_then(|ps| ps.get_mut(&name)) else { continue };
        let (config, route) = entry(&path, &name, p, server_taken, t)?;
        routes.extend(route.map(|r| json!({"route_name": r, "policy": name})));
        let servers = root.entry("oauth_servers").or_insert_with(|| json!({}));
        let Some(servers) = servers.as_object_mut() else { return err("oauth_servers", "must be an object") };
        servers.insert(name.clone(), json!({"token_strategy": {"name": "introspection", "settings": config}}));
        // The plugin's settings are its `config`: errors say so.
        t.moved(format!("oauth_servers.{name}.token_strategy.settings"), format!("{path}.config"));
    }
    if !routes.is_empty() {
        // A plugin on a route is the most specific rule: first.
        match root.remove("routes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(rest)) => routes.extend(rest),
            Some(_) => return err("routes", "must be a list"),
        }
        root.insert("routes".into(), Value::Array(routes));
    }
    Ok(())
}

/// One entry made a native policy in place; its `config` (the server's settings) and route.
fn entry(path: &str, name: &str, p: &mut Map<String, Value>, server_taken: bool, t: &mut Translated) -> Res<(Value, Option<Value>)> {
    if p.remove("name").as_ref().and_then(Value::as_str) != Some("oauth2-introspection") {
        return err(format!("{path}.name"), "a Kong plugin entry here is `oauth2-introspection`");
    }
    let Some(Value::Object(mut config)) = p.remove("config") else { return err(format!("{path}.config"), "required: the plugin's `config` object") };
    if p.contains_key("oauth_server") || p.contains_key("oauth_servers") || server_taken {
        return err(format!("{path}.config"), "a Kong plugin entry is its own oauth server: no `oauth_server`, and no server of the same name");
    }
    policy_fields(path, p, &mut config)?;
    match p.remove("enabled") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            // Kong's disabled plugin does not run: the route is open.
            p.insert("public".into(), Value::Bool(true));
            t.notices.push(format!("warning: {path}: enabled is false: requests pass without a token, as with Kong's disabled plugin"));
        }
        Some(_) => return err(format!("{path}.enabled"), "must be a boolean"),
    }
    let named: Vec<&str> = ENTRY_FIELDS.into_iter().filter(|f| p.remove(*f).is_some()).collect();
    if !named.is_empty() {
        t.notices.push(format!("{path}: {} of the Kong plugin entry are accepted; Envoy's routes choose the policy here", named.join(", ")));
    }
    let route = match p.remove("route") {
        None | Some(Value::Null) => None,
        Some(r @ Value::String(_)) => Some(r),
        Some(_) => return err(format!("{path}.route"), "must be a string (an Envoy route name)"),
    };
    p.insert("oauth_server".into(), Value::String(name.to_string()));
    Ok((Value::Object(config), route))
}

/// Moves the plugin's policy parameters from `config` onto the policy.
fn policy_fields(path: &str, p: &mut Map<String, Value>, config: &mut Map<String, Value>) -> Res<()> {
    for field in POLICY_FIELDS {
        let Some(v) = config.remove(field) else { continue };
        let at = format!("{path}.config.{field}");
        let v = match (field, v) {
            (_, Value::Null) => continue,
            ("hide_credentials" | "run_on_preflight", v @ Value::Bool(_)) => v,
            ("anonymous", Value::String(s)) if s.is_empty() => continue,
            ("anonymous" | "consumer_by", v @ Value::String(_)) => v,
            ("custom_claims_forward", Value::Array(list)) => {
                if let Some(i) = list.iter().position(|c| !c.is_string()) {
                    return err(format!("{at}[{i}]"), "must be a string");
                }
                Value::Array(list)
            }
            // Kong's JSON writes an empty list as `{}`.
            ("custom_claims_forward", Value::Object(m)) if m.is_empty() => continue,
            ("hide_credentials" | "run_on_preflight", _) => return err(at, "must be a boolean"),
            ("custom_claims_forward", _) => return err(at, "must be a list of claim names"),
            _ => return err(at, "must be a string"),
        };
        p.insert(field.to_string(), v);
    }
    Ok(())
}
