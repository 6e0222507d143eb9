//! The checker as users run it: every configuration and rendered manifest in the repository
//! checks clean, and a broken one exits 1 naming the field, never its value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    all.sort();
    all
}

fn check(args: &[&Path]) -> (i32, String) {
    check_with(args, &[])
}

fn check_with(args: &[&Path], env: &[(String, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oauth-filter-check")).args(args).envs(env.iter().cloned()).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// The variables a rendered configuration names, with the profile's values at those places.
fn secrets(rendered: &Value, profile: &Value, env: &mut Vec<(String, String)>) {
    match (rendered, profile) {
        (Value::Object(r), Value::String(v)) if r.len() == 1 => {
            env.push((r["env"].as_str().unwrap().to_string(), v.clone()));
        }
        (Value::Object(r), Value::Object(p)) => r.iter().for_each(|(k, v)| secrets(v, &p[k], env)),
        (Value::Array(r), Value::Array(p)) => r.iter().zip(p).for_each(|(a, b)| secrets(a, b, env)),
        _ => {}
    }
}

#[test]
fn every_profile_and_rendered_manifest_checks_clean() {
    let mut all = files("filters", "json");
    let manifests = [files("envoy-config/istio", "yaml"), files("envoy-config/envoy-gateway", "yaml")].concat();
    assert!(manifests.len() >= 10, "{manifests:?}");
    // The manifests name their secrets as the proxy's environment variables: the checker reads
    // them from its own environment, here the profiles' values.
    let mut env = Vec::new();
    for m in &manifests {
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(m).unwrap()).unwrap();
        let config = doc.pointer("/spec/pluginConfig").or_else(|| doc.pointer("/spec/wasm/0/config")).unwrap();
        let profile: Value = serde_json::from_str(&std::fs::read_to_string(root().join("filters").join(m.file_name().unwrap()).with_extension("json")).unwrap()).unwrap();
        secrets(config, &profile, &mut env);
    }
    assert!(env.len() >= 10, "{env:?}");
    let (code, out) = check(&manifests.iter().map(PathBuf::as_path).collect::<Vec<_>>()[..1]);
    assert_eq!(code, 1, "without the variables, a manifest that names them does not load: {out}");
    assert!(out.contains("is not set"), "{out}");
    all.extend(manifests);
    let args: Vec<&Path> = all.iter().map(PathBuf::as_path).collect();
    let (code, out) = check_with(&args, &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(": ok (")).count(), all.len(), "{out}");
}

#[test]
fn a_broken_configuration_exits_1_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("oauth-filter-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\nspec:\n  pluginConfig:\n    \
         oauth_servers: {s: {token_strategy: {name: jwt, settings: [{alg: HS256, key: top-secret-key-material}], leeway: soon}}}\n",
    )
    .unwrap();
    let (code, out) = check(&[&bad]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("WasmPlugin w: invalid configuration at `oauth_servers.s.token_strategy.leeway`"), "{out}");
    assert!(!out.contains("top-secret") && !out.contains("soon"), "{out}");
    let (code, out) = check(&[&dir.join("absent.json")]);
    assert_eq!(code, 2, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
