//! Keys fetched from the IdP (a JWKS URL, or OIDC / RFC 8414 discovery): the source's
//! configuration, the fetch state all workers share, and the steps of one fetch, run by the
//! lease machine (`lease.rs`). Pure: the adapter stores `FetchState` and makes the calls.

use crate::jwt::keys::{parse_jwks, JwksParse};
use crate::idp::lease::{Lease, Leased, Refresh, Stage, Step};
use crate::common::url::{HttpCall, HttpTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Jwks(HttpTarget),
    /// OIDC discovery from this issuer, falling back to RFC 8414.
    Discovery { issuer: String, target: HttpTarget },
}

#[derive(Debug, Clone)]
pub struct RemoteSource {
    pub kind: SourceKind,
    pub cluster: String,
    pub timeout_ms: u64,
    pub cache_duration: u64,
    pub refetch_cooldown: u64,
    pub max_stale: u64,
    pub max_wait_ms: u64,
    pub max_bytes: usize,
    /// Shared-data key prefix, unique per source.
    pub shared_key: String,
}

pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_CACHE_DURATION: u64 = 600;
pub const DEFAULT_REFETCH_COOLDOWN: u64 = 30;
pub const DEFAULT_MAX_STALE: u64 = 86_400;
pub const DEFAULT_MAX_WAIT_MS: u64 = 10_000;
pub const DEFAULT_MAX_JWKS_BYTES: usize = 256 * 1024;
const MAX_BACKOFF: u64 = 60;

/// What all workers know about one source's fetches (JSON in shared data; the document itself
/// is kept under its own key, so that reading the state on every tick stays cheap).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchState {
    #[serde(flatten)]
    pub lease: Lease,
    /// Version of the stored key document; 0 = none yet.
    pub version: u64,
    /// When the stored document was fetched (last success).
    pub fetched_at: u64,
    pub refetch_wanted: bool,
    /// When an unknown kid last asked for a refetch (for the cooldown).
    pub last_refetch: u64,
    /// The JWKS URL found by discovery.
    pub jwks_uri: Option<String>,
}

impl Leased for FetchState {
    fn lease(&self) -> &Lease {
        &self.lease
    }
    fn lease_mut(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

impl FetchState {
    /// Whether an unknown kid may ask for a refetch now.
    pub fn may_refetch(&self, src: &RemoteSource, now: u64) -> bool {
        self.last_refetch == 0 || now >= self.last_refetch.saturating_add(src.refetch_cooldown)
    }

    /// Asks for a refetch on behalf of an unknown kid; false within the cooldown.
    pub fn request_refetch(&mut self, src: &RemoteSource, now: u64) -> bool {
        if !self.may_refetch(src, now) {
            return false;
        }
        self.last_refetch = now;
        self.refetch_wanted = true;
        true
    }

    /// Whether the stored keys may still be used (not older than `max_stale`).
    pub fn usable(&self, src: &RemoteSource, now: u64) -> bool {
        self.version > 0 && now <= self.fetched_at.saturating_add(src.max_stale)
    }
}

/// A fetched key document, and the JWKS URL discovery found for it.
#[derive(Debug, PartialEq, Eq)]
pub struct KeysFetched {
    pub doc: Vec<u8>,
    pub jwks_uri: Option<String>,
}

impl Refresh for RemoteSource {
    type State = FetchState;
    type Value = KeysFetched;

    /// A first fetch, a refresh after `cache_duration`, or a refetch an unknown kid asked for.
    fn wants_fetch(&self, st: &FetchState, now: u64) -> bool {
        st.version == 0 || st.refetch_wanted || now >= st.fetched_at.saturating_add(self.cache_duration)
    }

    /// Discovery and the JWKS call.
    fn lease_secs(&self) -> u64 {
        2 * self.timeout_ms.div_ceil(1000) + 2
    }

    fn max_backoff(&self) -> u64 {
        MAX_BACKOFF
    }

    fn max_answer(&self) -> usize {
        self.max_bytes
    }

    fn first_call(&self, state: &FetchState) -> Step<KeysFetched> {
        match &self.kind {
            SourceKind::Jwks(t) => Step::Call(Stage::Jwks { discovered: None }, self.get(t)),
            SourceKind::Discovery { target, .. } => match state.jwks_uri.as_deref().and_then(HttpTarget::parse) {
                Some(t) => Step::Call(Stage::Jwks { discovered: None }, self.get(&t)),
                None => {
                    let path = format!("{}/.well-known/openid-configuration", target.path.trim_end_matches('/'));
                    Step::Call(Stage::OpenIdConfiguration, self.get(&target.with_path(&path)))
                }
            },
        }
    }

    fn after_response(&self, stage: Stage, status: u32, body: &[u8]) -> Step<KeysFetched> {
        if body.len() > self.max_bytes {
            return Step::Fail(format!("answer larger than {} bytes", self.max_bytes));
        }
        let discovery = match &self.kind {
            SourceKind::Discovery { issuer, target } => Some((issuer, target)),
            SourceKind::Jwks(_) => None,
        };
        match (stage, discovery) {
            (Stage::OpenIdConfiguration, Some((_, target))) if status != 200 => {
                // RFC 8414: the well-known segment goes between the host and the issuer's path.
                let issuer_path = target.path.trim_end_matches('/');
                let path = format!("/.well-known/oauth-authorization-server{issuer_path}");
                Step::Call(Stage::OAuthMetadata, self.get(&target.with_path(&path)))
            }
            (Stage::OpenIdConfiguration | Stage::OAuthMetadata, Some((issuer, _))) => {
                if status != 200 {
                    return Step::Fail(format!("discovery answered {status}"));
                }
                match jwks_uri_from_metadata(body, issuer) {
                    Ok(uri) => match HttpTarget::parse(&uri) {
                        Some(t) => Step::Call(Stage::Jwks { discovered: Some(t.to_url()) }, self.get(&t)),
                        None => Step::Fail("discovery gave an unusable jwks_uri".into()),
                    },
                    Err(e) => Step::Fail(e),
                }
            }
            (Stage::Jwks { discovered }, _) => {
                if status != 200 {
                    return Step::Fail(if status == 0 { "no answer".into() } else { format!("JWKS answered {status}") });
                }
                match jwks_from_bytes(body, self.max_bytes) {
                    Ok(p) if !p.keys.is_empty() => Step::Done(KeysFetched { doc: body.to_vec(), jwks_uri: discovered }),
                    Ok(_) => Step::Fail("the JWKS has no usable key".into()),
                    Err(e) => Step::Fail(e),
                }
            }
            (Stage::Token | Stage::EtcdAuth | Stage::EtcdRange { .. }, _) => Step::Fail("another source's answer for a key source".into()),
            (_, None) => Step::Fail("discovery stage without discovery".into()),
        }
    }

    fn store(&self, st: &mut FetchState, value: KeysFetched, now: u64) {
        st.version += 1;
        st.fetched_at = now;
        st.refetch_wanted = false;
        if value.jwks_uri.is_some() {
            st.jwks_uri = value.jwks_uri;
        }
    }

    fn on_failure(&self, st: &mut FetchState) {
        st.refetch_wanted = false;
    }

    /// The document goes under its own key, with the version it will have.
    fn detached(&self, st: &FetchState, value: &KeysFetched) -> Option<(String, Vec<u8>)> {
        Some((crate::common::shared::keys_doc(&self.shared_key), encode_doc(st.version + 1, &value.doc)))
    }

    fn state_key(&self) -> String {
        crate::common::shared::keys_state(&self.shared_key)
    }
}

impl RemoteSource {
    fn get(&self, target: &HttpTarget) -> HttpCall {
        HttpCall::get_json(&self.cluster, target, self.timeout_ms)
    }

    pub fn doc_key(&self) -> String {
        crate::common::shared::keys_doc(&self.shared_key)
    }
}

/// `jwks_uri` from an OIDC / RFC 8414 metadata document whose `issuer` must be `issuer`.
pub fn jwks_uri_from_metadata(body: &[u8], issuer: &str) -> Result<String, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "discovery answer is not JSON".to_string())?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("discovery document names another issuer".into());
    }
    doc.get("jwks_uri")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| "discovery document has no jwks_uri".into())
}

/// Parses a JWKS answer, bounded in size; bad members are skipped (`skipped` says why).
pub fn jwks_from_bytes(body: &[u8], max: usize) -> Result<JwksParse, String> {
    if body.len() > max {
        return Err(format!("JWKS larger than {max} bytes"));
    }
    let doc: Value = serde_json::from_slice(body).map_err(|_| "JWKS answer is not JSON".to_string())?;
    parse_jwks(&doc)
}

/// A stored key document: "<version>\n<JWKS bytes>".
pub fn encode_doc(version: u64, doc: &[u8]) -> Vec<u8> {
    let mut out = format!("{version}\n").into_bytes();
    out.extend_from_slice(doc);
    out
}

pub fn decode_doc(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let nl = bytes.iter().position(|b| *b == b'\n')?;
    let version = std::str::from_utf8(bytes.get(..nl)?).ok()?.parse().ok()?;
    Some((version, bytes.get(nl + 1..)?))
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::lease;

    const JWKS: &[u8] = br#"{"keys":[{"kty":"oct","alg":"HS256","kid":"a","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}"#;

    fn source(kind: SourceKind) -> RemoteSource {
        RemoteSource {
            kind,
            cluster: "idp".into(),
            timeout_ms: 2000,
            cache_duration: 600,
            refetch_cooldown: 30,
            max_stale: 3600,
            max_wait_ms: 1000,
            max_bytes: 4096,
            shared_key: "oauth_filter/keys/x".into(),
        }
    }

    fn path(step: &Step<KeysFetched>) -> (Stage, String) {
        match step {
            Step::Call(stage, call) => {
                let p = call.headers.iter().find(|(k, _)| k == ":path").map(|(_, v)| v.clone()).unwrap_or_default();
                (stage.clone(), p)
            }
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn discovery_then_rfc8414_then_the_jwks_it_names() {
        let target = HttpTarget::parse("http://idp.test/realms/r").unwrap();
        let src = source(SourceKind::Discovery { issuer: "http://idp.test/realms/r".into(), target });
        let mut st = FetchState::default();
        assert!(lease::begin(&src, &mut st, 1, 100));
        let first = src.first_call(&st);
        assert_eq!(path(&first), (Stage::OpenIdConfiguration, "/realms/r/.well-known/openid-configuration".into()));
        let second = src.after_response(Stage::OpenIdConfiguration, 404, b"");
        assert_eq!(path(&second), (Stage::OAuthMetadata, "/.well-known/oauth-authorization-server/realms/r".into()));
        let other_issuer = br#"{"issuer":"http://evil.test","jwks_uri":"http://idp.test/k"}"#;
        assert!(matches!(src.after_response(Stage::OAuthMetadata, 200, other_issuer), Step::Fail(_)));
        let meta = br#"{"issuer":"http://idp.test/realms/r","jwks_uri":"http://idp.test/realms/r/certs"}"#;
        let third = src.after_response(Stage::OAuthMetadata, 200, meta);
        let discovered = Some("http://idp.test/realms/r/certs".to_string());
        assert_eq!(path(&third), (Stage::Jwks { discovered: discovered.clone() }, "/realms/r/certs".into()));
        let Step::Done(value) = src.after_response(Stage::Jwks { discovered: discovered.clone() }, 200, JWKS) else { panic!("done") };
        assert_eq!(src.detached(&st, &value), Some(("oauth_filter/keys/x/doc".into(), encode_doc(1, JWKS))));
        lease::succeed(&src, &mut st, value, 100);
        assert_eq!((st.version, st.jwks_uri.clone()), (1, discovered));
        assert_eq!(path(&src.first_call(&st)).1, "/realms/r/certs", "discovery is not repeated");
    }

    #[test]
    fn refetch_on_an_unknown_kid_within_the_cooldown_and_stale_keys() {
        let src = source(SourceKind::Jwks(HttpTarget::parse("http://idp.test/jwks").unwrap()));
        let mut st = FetchState::default();
        assert!(lease::begin(&src, &mut st, 1, 100));
        lease::succeed(&src, &mut st, KeysFetched { doc: JWKS.to_vec(), jwks_uri: None }, 100);
        assert!(!lease::begin(&src, &mut st, 1, 101));
        assert!(st.request_refetch(&src, 101));
        assert!(!st.request_refetch(&src, 120), "cooldown");
        assert!(lease::begin(&src, &mut st, 1, 101));
        lease::fail(&src, &mut st, 101, None);
        assert!(!st.refetch_wanted && st.usable(&src, 101), "a failure keeps the last good keys");
        assert!(st.usable(&src, 3700) && !st.usable(&src, 3701), "max_stale");
        assert!(lease::begin(&src, &mut st, 1, 700), "cache_duration");
    }

    #[test]
    fn bad_answers_fail() {
        let src = source(SourceKind::Jwks(HttpTarget::parse("http://idp.test/jwks").unwrap()));
        let jwks = Stage::Jwks { discovered: None };
        for (status, body) in [(0, &b""[..]), (500, JWKS), (200, b"[]"), (200, br#"{"keys":[]}"#), (200, &[b' '; 5000][..])] {
            assert!(matches!(src.after_response(jwks.clone(), status, body), Step::Fail(_)), "{status}");
        }
        assert!(matches!(src.after_response(Stage::OpenIdConfiguration, 200, b"{}"), Step::Fail(_)), "no discovery here");
    }
}
