//! KrakenD's client credentials: the token the filter fetches and sends upstream.

use super::super::raw::RawClientCredentials;
use super::check::{self, err, Res};
use crate::idp::client_auth::ClientAuth;
use crate::idp::client_credentials::{self as cc, ClientCredentials};
use serde_json::Value;

pub fn client_credentials(path: &str, raw: RawClientCredentials) -> Res<ClientCredentials> {
    let target = check::url(format!("{path}.token_url"), &raw.token_url)?;
    let cluster = check::cluster(format!("{path}.cluster"), raw.cluster, &target)?;
    if raw.client_id.is_empty() {
        return err(format!("{path}.client_id"), "must not be empty");
    }
    let scopes: Vec<String> = match raw.scopes {
        None => Vec::new(),
        Some(Value::String(s)) => s.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        Some(Value::Array(items)) => {
            let mut v = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) if !s.is_empty() => v.push(s),
                    _ => return err(format!("{path}.scopes[{i}]"), "must be a non-empty string"),
                }
            }
            v
        }
        Some(_) => return err(format!("{path}.scopes"), "a comma-separated string or a list of strings"),
    };
    // KrakenD's Auth0 variant puts the credentials in `endpoint_params`: the server wants
    // them in the body, and a strict one refuses a request that also has Basic.
    let style = match raw.auth_style.as_deref() {
        None if raw.endpoint_params.contains_key("client_secret") => "body",
        None => "basic",
        Some(s @ ("basic" | "body" | "private_key_jwt")) => s,
        Some(_) => return err(format!("{path}.auth_style"), "must be \"basic\", \"body\" or \"private_key_jwt\""),
    };
    let auth = match (style, raw.client_assertion_key, raw.client_secret) {
        ("private_key_jwt", Some(k), None) => {
            ClientAuth::PrivateKeyJwt(super::client_auth::assertion(&format!("{path}.client_assertion_key"), &raw.client_id, &raw.token_url, k)?)
        }
        ("private_key_jwt", None, _) => return err(format!("{path}.client_assertion_key"), "required with `auth_style: private_key_jwt`"),
        ("private_key_jwt", Some(_), Some(_)) => return err(format!("{path}.client_secret"), "not with `auth_style: private_key_jwt`"),
        (_, Some(_), _) => return err(format!("{path}.client_assertion_key"), "only with `auth_style: private_key_jwt`"),
        (_, None, None) => return err(format!("{path}.client_secret"), "required"),
        ("body", None, Some(secret)) => ClientAuth::Post { client_id: raw.client_id.clone(), secret },
        (_, None, Some(secret)) => ClientAuth::Basic { client_id: raw.client_id.clone(), secret },
    };
    let headers = check::header_map(&format!("{path}.headers"), raw.headers, |v| v.as_str())?;
    let refresh_fraction = raw.refresh_fraction.unwrap_or(0.5);
    if !(0.05..=0.95).contains(&refresh_fraction) {
        return err(format!("{path}.refresh_fraction"), "must be between 0.05 and 0.95");
    }
    let default_expires_in = raw.default_expires_in.unwrap_or(cc::DEFAULT_EXPIRES_IN);
    if default_expires_in == 0 {
        return err(format!("{path}.default_expires_in"), "must be at least 1 second");
    }
    let endpoint_params: Vec<(String, Vec<String>)> =
        raw.endpoint_params.into_iter().map(|(k, v)| (k, v.iter().map(|s| s.expose().to_string()).collect())).collect();
    let timeout_ms = check::timeout_ms(format!("{path}.timeout"), raw.timeout.map_or(cc::DEFAULT_TIMEOUT_MS, |m| m.0))?;
    // The key covers what makes a token different; hashed, since params may carry a secret.
    let identity = format!("{}\n{}\n{}\n{:?}\n{}", raw.token_url, raw.client_id, scopes.join(" "), endpoint_params, cluster);
    let digest = hmac_sha256::Hash::hash(identity.as_bytes());
    let shared_key = crate::common::shared::client_token(&digest);
    Ok(ClientCredentials {
        auth,
        target,
        cluster,
        scopes,
        endpoint_params,
        headers,
        replace_authorization: raw.replace_authorization.unwrap_or(true),
        default_expires_in,
        refresh_fraction,
        timeout_ms,
        max_wait_ms: raw.max_wait.map_or(cc::DEFAULT_MAX_WAIT_MS, |m| m.0),
        retry_on_401: raw.retry_on_401,
        shared_key,
    })
}
