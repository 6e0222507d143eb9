//! Envoy `jwt_authn`'s requirement flags on a policy: `allow_missing` and
//! `allow_missing_or_failed`, as native `pass_anonymous`.

use super::super::compile::check::{err, Res};
use serde_json::{Map, Value};

pub fn policy(path: &str, p: &mut Map<String, Value>) -> Res<()> {
    let mut flag = |field: &str| match p.remove(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => err(format!("{path}.{field}"), "must be a boolean"),
    };
    let missing = flag("allow_missing")?;
    let or_failed = flag("allow_missing_or_failed")?;
    let pass = match (or_failed, missing) {
        (true, _) => "missing_or_failed",
        (false, true) => "missing",
        (false, false) => return Ok(()),
    };
    if p.contains_key("pass_anonymous") {
        return err(format!("{path}.pass_anonymous"), "set `pass_anonymous` or jwt_authn's `allow_missing*`, not both");
    }
    p.insert("pass_anonymous".into(), Value::String(pass.into()));
    Ok(())
}
