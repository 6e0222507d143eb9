//! The checks every part of the configuration shares, written once: each names the JSON path
//! of the field it refuses, never its value.

use super::super::ConfigError;
use crate::common::url::HttpTarget;
use serde_json::Value;

pub type Res<T> = Result<T, ConfigError>;

pub fn err<T>(path: impl Into<String>, reason: impl Into<String>) -> Res<T> {
    Err(ConfigError::new(path, reason))
}

/// Deserializes a nested JSON value, with the error's path below `path`.
pub fn from_value<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Res<T> {
    let text = serde_json::to_vec(&v).unwrap_or_default();
    super::super::parse_json(&text, path)
}

/// A lower-cased HTTP header name (RFC 9110 token), not a pseudo-header.
pub fn header_name(path: &str, name: &str) -> Res<String> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return err(path, "not a valid header name");
    }
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "host" | "content-length" | "transfer-encoding" | "connection") {
        return err(path, "this header cannot carry claims");
    }
    Ok(lower)
}

/// A value that goes into a header or a log-free reply: no control characters (CR, LF, …).
pub fn no_control(path: impl Into<String>, value: &str) -> Res<()> {
    if value.chars().any(char::is_control) {
        return err(path, "must not hold control characters");
    }
    Ok(())
}

/// Extra headers for a call (name → value): names checked and lower-cased, values without
/// control characters.
pub fn header_map<V>(path: &str, map: impl IntoIterator<Item = (String, V)>, text: impl Fn(&V) -> &str) -> Res<Vec<(String, V)>> {
    let mut out = Vec::new();
    for (name, value) in map {
        let p = format!("{path}.{name}");
        let lower = header_name(&p, &name)?;
        no_control(p, text(&value))?;
        out.push((lower, value));
    }
    Ok(out)
}

/// A call's timeout in milliseconds: 1 ms to 60 s.
pub fn timeout_ms(path: impl Into<String>, ms: u64) -> Res<u64> {
    if !(1..=60_000).contains(&ms) {
        return err(path, "must be between 1 ms and 60 s");
    }
    Ok(ms)
}

/// An http(s) URL the filter calls (through an Envoy cluster).
pub fn url(path: impl Into<String>, url: &str) -> Res<HttpTarget> {
    HttpTarget::parse(url).map_or_else(|| err(path, "not an http(s) URL"), Ok)
}

/// The Envoy cluster a call to `target` goes through: the one named, or else the one named
/// after the URL's host (and port), so a Kong, KrakenD or Janus block that names only a URL
/// loads as written.
pub fn cluster(path: impl Into<String>, cluster: Option<String>, target: &HttpTarget) -> Res<String> {
    match cluster {
        Some(c) if c.is_empty() => err(path, "must name the Envoy cluster that reaches the IdP"),
        Some(c) => Ok(c),
        None => Ok(target.authority.clone()),
    }
}

/// A regex matched against a whole value (anchored at both ends).
pub fn whole_regex(path: impl Into<String>, pattern: &str) -> Res<regex_lite::Regex> {
    regex_lite::Regex::new(&format!("^(?:{pattern})$")).or_else(|e| err(path, format!("bad regex: {e}")))
}

/// A path the filter listens on.
pub fn listen_path(path: impl Into<String>, p: &str) -> Res<()> {
    if !p.starts_with('/') {
        return err(path, "must start with /");
    }
    Ok(())
}

/// An optional JSON value that must be absent for this kind of server.
pub fn absent(path: &str, fields: &[(&str, bool)], reason: &str) -> Res<()> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => err(format!("{path}.{field}"), reason),
        None => Ok(()),
    }
}

