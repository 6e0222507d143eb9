//! Secrets from the configuration: never printed, compared in constant time. A secret is
//! written inline (`"client_secret": "…"`) or names an environment variable of the VM
//! (`"client_secret": {"env": "IDP_CLIENT_SECRET"}`), which Envoy's
//! `vm_config.environment_variables`, Istio's `WasmPlugin.spec.vmConfig.env` and Envoy
//! Gateway's `wasm[].env.hostKeys` provide; then no manifest holds the secret itself.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::cell::Cell;
use std::fmt;

/// A configured secret (client secret, HMAC key). Its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

thread_local! {
    static FROM_ENV: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with `{"env": NAME}` secrets read from the environment when `allowed` (the plugin
/// configuration, which the operator wrote) or refused (a server added through the admin API,
/// which must not make the proxy send its environment to a URL of the caller's choosing).
pub fn with_env<T>(allowed: bool, f: impl FnOnce() -> T) -> T {
    let before = FROM_ENV.with(|c| c.replace(allowed));
    let out = f();
    FROM_ENV.with(|c| c.set(before));
    out
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, or {\"env\": \"NAME\"} naming an environment variable")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut name: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "env" || name.is_some() {
                return Err(de::Error::custom("a secret from the environment is {\"env\": \"NAME\"}, nothing else"));
            }
            name = Some(map.next_value()?);
        }
        let Some(name) = name else { return Err(de::Error::custom("a secret from the environment is {\"env\": \"NAME\"}")) };
        if !FROM_ENV.with(Cell::get) {
            return Err(de::Error::custom("a secret from the environment is only read from the plugin configuration"));
        }
        match std::env::var(&name) {
            Ok(value) if !value.is_empty() => Ok(Secret(value)),
            // The variable's name is configuration, not a secret: naming it tells the operator
            // which one the proxy lacks.
            _ => Err(de::Error::custom(format!("the environment variable `{name}` is not set (give it to the VM: Envoy's vm_config.environment_variables, Istio's vmConfig.env)"))),
        }
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the code that must use it (signing, verifying, sending).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `other` in time that depends only on the lengths.
    pub fn matches(&self, other: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), other)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Byte comparison whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_from_the_environment_only_where_allowed() {
        std::env::set_var("OAUTH_FILTER_TEST_SECRET_A", "from-env");
        let read = |allowed: bool, text: &str| with_env(allowed, || serde_json::from_str::<Secret>(text).map_err(|e| e.to_string()));
        assert_eq!(read(true, r#"{"env": "OAUTH_FILTER_TEST_SECRET_A"}"#).unwrap().expose(), "from-env");
        assert_eq!(read(false, r#""inline""#).unwrap().expose(), "inline");
        assert!(read(false, r#"{"env": "OAUTH_FILTER_TEST_SECRET_A"}"#).unwrap_err().contains("only read from the plugin configuration"));
        assert!(read(true, r#"{"env": "OAUTH_FILTER_TEST_SECRET_UNSET"}"#).unwrap_err().contains("`OAUTH_FILTER_TEST_SECRET_UNSET` is not set"));
        assert!(read(true, r#"{"env": "A", "x": 1}"#).is_err());
        assert!(read(true, r#"{}"#).is_err());
        assert!(read(true, "42").is_err());
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn compares() {
        let s = Secret::new("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
