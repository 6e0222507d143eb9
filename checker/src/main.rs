//! `oauth-filter-check FILE…`: compiles each plugin configuration with the filter's own core and
//! prints what the filter would log at configure time — each error with its JSON path and
//! reason, the notices — and never a value. A FILE is a plugin configuration (JSON), or YAML
//! holding Istio `WasmPlugin`s (`spec.pluginConfig`) or Envoy Gateway `EnvoyExtensionPolicy`s
//! (`spec.wasm[].config`), one or more documents. Exit status: 0 when every configuration
//! loads, 1 when one does not, 2 when a file cannot be read or holds no configuration.

use oauth_core::Config;
use serde_json::Value;
use std::process::ExitCode;

/// A configuration found in a file: where it is, and its JSON text.
struct Found {
    label: String,
    json: Vec<u8>,
}

/// The configurations a file holds, or why none could be read.
fn configurations(path: &str, text: &str) -> Result<Vec<Found>, String> {
    // A plugin configuration as the filter receives it: JSON, read as the filter reads it.
    if serde_json::from_str::<Value>(text).is_ok() {
        return Ok(vec![Found { label: path.to_string(), json: text.as_bytes().to_vec() }]);
    }
    let mut found = Vec::new();
    for (n, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("{path}: not JSON, nor YAML ({})", yaml_error(&e)))?;
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("unnamed");
        match value.get("kind").and_then(Value::as_str) {
            Some("WasmPlugin") => {
                let cfg = value.pointer("/spec/pluginConfig").ok_or(format!("{path}: WasmPlugin {name} has no spec.pluginConfig"))?;
                found.push(Found { label: format!("{path}: WasmPlugin {name}"), json: cfg.to_string().into_bytes() });
            }
            Some("EnvoyExtensionPolicy") => {
                let wasm = value.pointer("/spec/wasm").and_then(Value::as_array).ok_or(format!("{path}: EnvoyExtensionPolicy {name} has no spec.wasm"))?;
                for (i, w) in wasm.iter().enumerate() {
                    // Envoy Gateway passes `config` to the filter as JSON text.
                    let cfg = w.get("config").ok_or(format!("{path}: EnvoyExtensionPolicy {name} has no spec.wasm[{i}].config"))?;
                    found.push(Found { label: format!("{path}: EnvoyExtensionPolicy {name} wasm[{i}]"), json: cfg.to_string().into_bytes() });
                }
            }
            Some(_) => {} // another object of the same file (a ServiceEntry, a Secret, …)
            None if value.is_object() => found.push(Found { label: format!("{path} (document {})", n + 1), json: value.to_string().into_bytes() }),
            None => {}
        }
    }
    if found.is_empty() {
        return Err(format!("{path}: no plugin configuration, WasmPlugin or EnvoyExtensionPolicy in it"));
    }
    Ok(found)
}

/// A YAML error's position without its text (which may quote a value).
fn yaml_error(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(l) => format!("line {}, column {}", l.line(), l.column()),
        None => "unreadable".to_string(),
    }
}

/// Compiles one configuration; prints what the filter would log. True when it loads.
fn check(found: &Found) -> bool {
    match Config::from_json(&found.json) {
        Ok(cfg) => {
            println!(
                "{}: ok ({} oauth servers, {} policies, {} routes)",
                found.label,
                cfg.servers.len(),
                cfg.policies.len(),
                cfg.routes.len()
            );
            for notice in &cfg.notices {
                println!("  {notice}");
            }
            true
        }
        Err(e) => {
            println!("{}: {e}", found.label);
            false
        }
    }
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: oauth-filter-check FILE… (a plugin configuration, or a WasmPlugin / EnvoyExtensionPolicy YAML)");
        return ExitCode::from(2);
    }
    let mut status = 0u8;
    for path in &paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                status = 2;
                continue;
            }
        };
        match configurations(path, &text) {
            Ok(all) => {
                for found in &all {
                    if !check(found) && status == 0 {
                        status = 1;
                    }
                }
            }
            Err(why) => {
                eprintln!("{why}");
                status = 2;
            }
        }
    }
    ExitCode::from(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_configuration_in_each_form() {
        let json = r#"{"policies": {"p": {"public": true}}, "default_policy": "p"}"#;
        assert_eq!(configurations("a.json", json).unwrap().len(), 1);
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: idp}}\n---\n\
             kind: WasmPlugin\nmetadata: {{name: w}}\nspec:\n  pluginConfig: {json}\n---\n\
             kind: EnvoyExtensionPolicy\nmetadata: {{name: e}}\nspec:\n  wasm:\n  - config: {json}\n  - config: {json}\n"
        );
        let found = configurations("m.yaml", &yaml).unwrap();
        let labels: Vec<&str> = found.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["m.yaml: WasmPlugin w", "m.yaml: EnvoyExtensionPolicy e wasm[0]", "m.yaml: EnvoyExtensionPolicy e wasm[1]"]);
        assert!(found.iter().all(check));
        assert!(configurations("x.yaml", "kind: Service\n").is_err());
    }

    #[test]
    fn an_error_names_the_path_never_the_value() {
        let bad = Found { label: "f".into(), json: br#"{"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "leeway": "sekrit-value"}}}}"#.to_vec() };
        let err = Config::from_json(&bad.json).err().unwrap().to_string();
        assert!(err.contains("oauth_servers.s.token_strategy.leeway") && !err.contains("sekrit"), "{err}");
        assert!(!check(&bad));
    }
}
