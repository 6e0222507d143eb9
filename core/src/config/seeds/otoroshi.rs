//! Otoroshi's names: `ClientCredentialService` (the token issuer) with its `defaultKeyPair`
//! and clients' `jwt-sign-keypair`, and a policy's `error_format: otoroshi` (refusals as
//! `{"Otoroshi-Error": "…"}`), as native `error_body_field`.

use super::super::compile::check::{err, Res};
use super::rename;
use serde_json::{Map, Value};

pub fn issuer(root: &mut Map<String, Value>) -> Res<()> {
    rename("", root, "ClientCredentialService", "token_issuer")?;
    let Some(Value::Object(issuer)) = root.get_mut("token_issuer") else { return Ok(()) };
    rename("token_issuer", issuer, "defaultKeyPair", "default_key_pair")?;
    if let Some(Value::Array(clients)) = issuer.get_mut("clients") {
        for (i, c) in clients.iter_mut().enumerate() {
            if let Some(c) = c.as_object_mut() {
                rename(&format!("token_issuer.clients[{i}]"), c, "jwt-sign-keypair", "key_pair")?;
            }
        }
    }
    Ok(())
}

pub fn policy(path: &str, p: &mut Map<String, Value>) -> Res<()> {
    match p.remove("error_format") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(f)) if f == "oauth" => Ok(()),
        Some(Value::String(f)) if f == "otoroshi" => {
            if p.contains_key("error_body_field") {
                return err(format!("{path}.error_format"), "set `error_format` or `error_body_field`, not both");
            }
            p.insert("error_body_field".into(), Value::String("Otoroshi-Error".into()));
            Ok(())
        }
        Some(_) => err(format!("{path}.error_format"), "must be \"oauth\" or \"otoroshi\""),
    }
}
