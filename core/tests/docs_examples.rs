//! The configurations the README and docs/ show load as shown: every ```json block that is a
//! whole plugin configuration compiles with the filter's core; a block that is a part of one
//! (a strategy, a policy) must at least be JSON. A block that elides ("…" for a PEM key) shows
//! a shape and is left out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use oauth_core::Config;
use serde_json::Value;

const TOP_LEVEL: [&str; 11] = [
    "oauth_servers", "policies", "routes", "default_policy", "consumers", "token_issuer",
    "ClientCredentialService", "admin_api", "log_level", "host_crypto", "route_metadata_namespace",
];

/// (file, the text of each ```json block).
fn blocks() -> Vec<(String, String)> {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let mut files = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(format!("{root}/docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(format!("{root}/{f}")).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("```json\n") {
            let body = &rest[at + 8..];
            let end = body.find("\n```").unwrap();
            out.push((f.clone(), body[..end].to_string()));
            rest = &body[end..];
        }
    }
    out
}

fn set_named_variables(v: &Value) {
    match v {
        Value::Object(m) if m.len() == 1 && m.get("env").is_some_and(Value::is_string) => {
            std::env::set_var(m["env"].as_str().unwrap(), "docs-example-secret-value-0123456789");
        }
        Value::Object(m) => m.values().for_each(set_named_variables),
        Value::Array(a) => a.iter().for_each(set_named_variables),
        _ => {}
    }
}

#[test]
fn every_whole_configuration_in_the_docs_compiles() {
    let mut whole = 0;
    let mut failures = Vec::new();
    for (file, text) in blocks() {
        // An example that elides (a PEM key written "…") shows a shape, not a configuration.
        if text.contains('…') {
            continue;
        }
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{file}: a json block is not JSON ({e}): {}", text.lines().next().unwrap_or("")));
                continue;
            }
        };
        let Some(obj) = value.as_object() else { continue };
        if obj.is_empty() || !obj.keys().all(|k| TOP_LEVEL.contains(&k.as_str())) || !obj.contains_key("policies") {
            continue;
        }
        whole += 1;
        // A secret named as an environment variable gets a stand-in value (the docs name
        // variables for string secrets; a PEM key is written out, elided).
        set_named_variables(&value);
        if let Err(e) = Config::from_json(text.as_bytes()) {
            failures.push(format!("{file}: {e}: {}", text.lines().next().unwrap_or("")));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The README's first configuration, at least, is one of them.
    assert!(whole >= 2, "only {whole} whole configurations found");
}
