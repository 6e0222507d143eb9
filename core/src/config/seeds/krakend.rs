//! KrakenD's shapes in a policy (a backend's `extra_config` is a policy as written): the
//! client-credentials namespaces and `is_disabled`, the martian block (request headers set
//! upstream), `roles` with `roles_key` and `roles_key_is_nested`, and `scopes_matcher`.

use super::super::compile::check::{err, Res};
use super::{rename, Translated};
use serde_json::{json, Map, Value};

const CLIENT_CREDENTIALS: [&str; 2] = ["github.com/devopsfaith/krakend-oauth2-clientcredentials", "auth/client-credentials"];
const MARTIAN: [&str; 2] = ["github.com/devopsfaith/krakend-martian", "modifier/martian"];

pub fn policy(path: &str, p: &mut Map<String, Value>, t: &mut Translated) -> Res<()> {
    for ns in CLIENT_CREDENTIALS {
        rename(path, p, ns, "upstream_client_credentials")?;
    }
    if let Some(Value::Object(cc)) = p.get_mut("upstream_client_credentials") {
        // KrakenD's switch: the component is off (no token is fetched or sent).
        match cc.remove("is_disabled") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                p.remove("upstream_client_credentials");
            }
            Some(_) => return err(format!("{path}.upstream_client_credentials.is_disabled"), "must be a boolean"),
        }
    }
    martian(path, p, t)?;
    roles(path, p, t)?;
    if p.contains_key("scopes_matcher") {
        rename(path, p, "scopes_matcher", "required_scopes_match")?;
        t.moved(format!("{path}.required_scopes_match"), format!("{path}.scopes_matcher"));
    }
    Ok(())
}

/// The martian block's request headers, as native `upstream_headers`.
fn martian(path: &str, p: &mut Map<String, Value>, t: &mut Translated) -> Res<()> {
    let [canonical, short] = MARTIAN;
    let block = match (p.remove(canonical), p.remove(short)) {
        (None, None) => return Ok(()),
        (Some(_), Some(_)) => return err(format!("{path}.{short}"), format!("set `{canonical}` or `{short}`, not both")),
        (Some(b), None) | (None, Some(b)) => b,
    };
    if p.contains_key("upstream_headers") {
        return err(format!("{path}.{canonical}"), "set `upstream_headers` or the martian block, not both");
    }
    let headers = super::krakend_martian::headers(&format!("{path}.{canonical}"), &block, &mut t.notices)?;
    let list = headers.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    p.insert("upstream_headers".into(), Value::Array(list));
    Ok(())
}

/// `roles` (at least one of them in the claim `roles_key`, a dotted path when
/// `roles_key_is_nested`), as native `required_roles`.
fn roles(path: &str, p: &mut Map<String, Value>, t: &mut Translated) -> Res<()> {
    let nested = p.remove("roles_key_is_nested");
    let (roles, key) = match (p.remove("roles"), p.remove("roles_key")) {
        (None, None) => return Ok(()),
        (Some(_), None) => return err(format!("{path}.roles_key"), "required with `roles`"),
        (None, Some(_)) => return err(format!("{path}.roles"), "required with `roles_key`"),
        (Some(r), Some(k)) => (r, k),
    };
    let mut required = json!({"any_of": roles, "claim": key});
    if let (Some(n), Some(r)) = (nested, required.as_object_mut()) {
        r.insert("claim_is_path".into(), n);
    }
    p.insert("required_roles".into(), required);
    t.moved(format!("{path}.required_roles.any_of"), format!("{path}.roles"));
    t.moved(format!("{path}.required_roles.claim_is_path"), format!("{path}.roles_key_is_nested"));
    t.moved(format!("{path}.required_roles.claim"), format!("{path}.roles_key"));
    Ok(())
}
