//! The seed systems' own shapes, rewritten into the native configuration before it is read:
//! one module per system. `raw.rs` (the native schema) knows none of them, and what a rewrite
//! leaves for the compile step is neutral (upstream headers, required roles, an error body's
//! field). A rewrite checks what only its system has, naming the path the user wrote; where it
//! moves a field, it records the move so a later error names the field as written.

mod jwt_authn;
mod kong;
mod krakend;
mod krakend_martian;
mod otoroshi;

use super::compile::check::Res;
use super::ConfigError;
use serde_json::{Map, Value};

/// What the rewrites leave beside the native configuration.
#[derive(Debug, Default)]
pub struct Translated {
    /// Configure-time notices (a Kong field accepted but not used, …).
    pub notices: Vec<String>,
    /// (native path, path as written): an error below the first is named below the second.
    moved: Vec<(String, String)>,
}

impl Translated {
    /// `e` with its path as the user wrote it.
    pub fn as_written(&self, e: ConfigError) -> ConfigError {
        let found = self.moved.iter().filter(|(native, _)| under(&e.path, native)).max_by_key(|(native, _)| native.len());
        match found {
            Some((native, written)) => e.rebase(native, written),
            None => e,
        }
    }

    fn moved(&mut self, native: String, written: String) {
        self.moved.push((native, written));
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Rewrites every seed shape in `config` (the whole plugin configuration) into the native one.
pub fn translate(config: &mut Value) -> Res<Translated> {
    let mut t = Translated::default();
    let Some(root) = config.as_object_mut() else { return Ok(t) };
    otoroshi::issuer(root)?;
    kong::plugin_entries(root, &mut t)?;
    if let Some(Value::Object(policies)) = root.get_mut("policies") {
        for (name, policy) in policies.iter_mut() {
            let Some(p) = policy.as_object_mut() else { continue };
            let path = format!("policies.{name}");
            krakend::policy(&path, p, &mut t)?;
            jwt_authn::policy(&path, p)?;
            otoroshi::policy(&path, p)?;
        }
    }
    Ok(t)
}

/// Renames `from` to `to` in `obj` (at `path`, "" for the root); both set is an error naming
/// `from`.
fn rename(path: &str, obj: &mut Map<String, Value>, from: &str, to: &str) -> Res<()> {
    let Some(v) = obj.remove(from) else { return Ok(()) };
    if obj.contains_key(to) {
        let at = if path.is_empty() { from.to_string() } else { format!("{path}.{from}") };
        return super::compile::check::err(at, format!("set `{to}` or `{from}`, not both"));
    }
    obj.insert(to.to_string(), v);
    Ok(())
}
