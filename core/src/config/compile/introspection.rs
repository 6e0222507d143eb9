//! Janus `token_strategy: introspection`, whose `settings` are the oauth2-introspection
//! plugin's parameters.

use super::super::raw::{RawIntrospection, RawIntrospectionStrategy};
use super::check::{self, err, Res};
use crate::idp::client_auth::ClientAuth;
use crate::idp::introspection::{self, IntrospectionRules, TokenIn};

/// Janus `token_strategy: introspection` whose `settings` are the plugin's parameters.
/// `upstream` is the URL of the server's Janus `introspect` endpoint, if it has one.
pub fn introspection_rules(path: &str, server: &str, raw: RawIntrospectionStrategy, upstream: Option<&str>) -> Res<IntrospectionRules> {
    let settings_path = format!("{path}.settings");
    let Some(settings) = raw.settings else { return err(settings_path, "required: {\"introspection_url\", \"cluster\", …}") };
    let mut s: RawIntrospection = check::from_value(&settings_path, settings)?;
    let url_path = format!("{settings_path}.introspection_url");
    let Some(url) = s.introspection_url.as_deref().or(upstream) else {
        return err(url_path, "required (or, as in Janus, the first target of `oauth_endpoints.introspect.upstreams`)");
    };
    let target = check::url(url_path, url)?;
    let token_in = token_in(&settings_path, &s)?;
    let auth = match (s.client_assertion_key.take(), &s.client_id, s.authorization_value.take()) {
        (Some(_), Some(_), Some(_)) => {
            return err(format!("{settings_path}.authorization_value"), "not with `client_assertion_key` (the call authenticates with its assertion)")
        }
        (Some(key), Some(id), None) => {
            ClientAuth::PrivateKeyJwt(super::client_auth::assertion(&format!("{settings_path}.client_assertion_key"), id, url, key)?)
        }
        (Some(_), None, _) => return err(format!("{settings_path}.client_id"), "required with `client_assertion_key`"),
        (None, Some(_), _) => return err(format!("{settings_path}.client_assertion_key"), "required with `client_id`"),
        (None, None, Some(value)) => {
            check::no_control(format!("{settings_path}.authorization_value"), value.expose())?;
            ClientAuth::Header(value)
        }
        (None, None, None) => ClientAuth::None,
    };
    let cluster = check::cluster(format!("{settings_path}.cluster"), s.cluster.clone(), &target)?;
    // Kong's `timeout` is in milliseconds.
    let timeout_ms = check::timeout_ms(format!("{settings_path}.timeout"), s.timeout.unwrap_or(introspection::DEFAULT_TIMEOUT_MS))?;
    let custom_headers = check::header_map(
        &format!("{settings_path}.custom_introspection_headers"),
        s.custom_introspection_headers,
        |v| v.expose(),
    )?;
    let cache_slots = s.cache_slots.unwrap_or(introspection::DEFAULT_CACHE_SLOTS);
    if !(1..=1_000_000).contains(&cache_slots) {
        return err(format!("{settings_path}.cache_slots"), "must be between 1 and 1000000");
    }
    let max_calls_in_flight = s.max_calls_in_flight.unwrap_or(introspection::DEFAULT_MAX_CALLS_IN_FLIGHT);
    if !(1..=100_000).contains(&max_calls_in_flight) {
        return err(format!("{settings_path}.max_calls_in_flight"), "must be between 1 and 100000");
    }
    let max_retry_after = s.max_retry_after.unwrap_or(introspection::DEFAULT_MAX_RETRY_AFTER);
    if max_retry_after > 3600 {
        return err(format!("{settings_path}.max_retry_after"), "must be at most 3600 (seconds)");
    }
    let _ = s.keepalive; // the Envoy cluster's connection settings govern keep-alive
    let shared_key = crate::common::shared::introspection_prefix(server, url);
    Ok(IntrospectionRules {
        target,
        cluster,
        token_in,
        auth,
        timeout_ms,
        token_type_hint: s.token_type_hint,
        ttl: s.ttl.unwrap_or(introspection::DEFAULT_TTL),
        negative_ttl: s.negative_ttl.unwrap_or(introspection::DEFAULT_NEGATIVE_TTL),
        introspect_request: s.introspect_request,
        custom_headers,
        audiences: raw.audiences.unwrap_or_default(),
        leeway_secs: raw.leeway.unwrap_or(0),
        cache_slots,
        max_answer_bytes: s.max_answer_bytes.unwrap_or(introspection::DEFAULT_MAX_ANSWER_BYTES),
        max_wait_ms: s.max_wait.map_or(timeout_ms + 1000, |m| m.0),
        shared_key,
        max_calls_in_flight,
        max_retry_after,
    })
}

/// Where the call carries the token: Janus's `use_auth_header` / `use_custom_header` (a GET,
/// as Janus calls), else a form parameter (`param_name`, default `token`: RFC 7662's POST).
fn token_in(path: &str, s: &RawIntrospection) -> Res<TokenIn> {
    if s.use_auth_header {
        if s.authorization_value.is_some() {
            return err(format!("{path}.authorization_value"), "cannot be set with `use_auth_header` (the token goes in `Authorization`)");
        }
        let scheme = if s.auth_header_type.is_empty() { "Bearer" } else { s.auth_header_type.as_str() };
        check::no_control(format!("{path}.auth_header_type"), scheme)?;
        return Ok(TokenIn::Header { name: "authorization".into(), prefix: format!("{scheme} ") });
    }
    if s.use_custom_header {
        let name = check::header_name(&format!("{path}.header_name"), &s.header_name)?;
        return Ok(TokenIn::Header { name, prefix: String::new() });
    }
    // Janus's `use_body`, or no flag at all: a form parameter.
    let param = if s.param_name.is_empty() { "token" } else { s.param_name.as_str() };
    Ok(TokenIn::Form(param.to_string()))
}
