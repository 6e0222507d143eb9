//! Keys fetched from the IdP (a JWKS URL, or OIDC / RFC 8414 discovery): the source's
//! configuration, the fetch state all workers share, and the steps of one fetch. Pure: the
//! adapter stores `FetchState` in shared data and makes the calls.

use crate::jwt::keys::{parse_jwks, JwksParse};
use crate::url::HttpTarget;
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

/// What all workers know about one source's fetches (JSON in shared data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchState {
    pub lease_holder: u64,
    pub lease_until: u64,
    /// Version of the stored key document; 0 = none yet.
    pub version: u64,
    /// When the stored document was fetched (last success).
    pub fetched_at: u64,
    pub next_attempt: u64,
    pub failures: u32,
    pub last_failure: u64,
    pub refetch_wanted: bool,
    /// When an unknown kid last asked for a refetch (for the cooldown).
    pub last_refetch: u64,
    /// The JWKS URL found by discovery.
    pub jwks_uri: Option<String>,
    pub fetches: u64,
}

impl FetchState {
    pub fn decode(bytes: &[u8]) -> FetchState {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether a fetch should start now (a first fetch, a refresh, or an asked-for refetch).
    pub fn fetch_due(&self, src: &RemoteSource, now: u64) -> bool {
        if now < self.next_attempt {
            return false;
        }
        self.version == 0 || self.refetch_wanted || now >= self.fetched_at.saturating_add(src.cache_duration)
    }

    pub fn lease_free(&self, now: u64) -> bool {
        now >= self.lease_until
    }

    /// Takes the lease for long enough to cover discovery and the JWKS call.
    pub fn take_lease(&mut self, holder: u64, src: &RemoteSource, now: u64) {
        self.lease_holder = holder;
        self.lease_until = now + 2 * src.timeout_ms.div_ceil(1000) + 2;
    }

    pub fn succeeded(&mut self, now: u64, jwks_uri: Option<String>) {
        self.version += 1;
        self.fetched_at = now;
        self.failures = 0;
        self.next_attempt = 0;
        self.refetch_wanted = false;
        self.lease_until = 0;
        self.fetches += 1;
        if jwks_uri.is_some() {
            self.jwks_uri = jwks_uri;
        }
    }

    /// A failed fetch: the old keys stay; the next attempt backs off (1, 2, 4 … 60 s).
    pub fn failed(&mut self, now: u64) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        let backoff = 1u64.checked_shl(self.failures.saturating_sub(1)).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
        self.next_attempt = now + backoff;
        self.refetch_wanted = false;
        self.lease_until = 0;
        self.fetches += 1;
    }

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

/// One call of a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    OpenIdConfiguration,
    OAuthMetadata,
    Jwks,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Call(Stage, HttpTarget),
    /// The fetch succeeded with this JWKS document.
    Done { doc: Vec<u8> },
    Fail(String),
}

/// The first call of a fetch.
pub fn first_call(src: &RemoteSource, state: &FetchState) -> Next {
    match &src.kind {
        SourceKind::Jwks(t) => Next::Call(Stage::Jwks, t.clone()),
        SourceKind::Discovery { target, .. } => match state.jwks_uri.as_deref().and_then(HttpTarget::parse) {
            Some(t) => Next::Call(Stage::Jwks, t),
            None => {
                let path = format!("{}/.well-known/openid-configuration", target.path.trim_end_matches('/'));
                Next::Call(Stage::OpenIdConfiguration, target.with_path(&path))
            }
        },
    }
}

/// What follows an answer (`status` 0 = no answer: reset, timeout).
pub fn after_response(src: &RemoteSource, stage: Stage, status: u32, body: &[u8]) -> Next {
    if body.len() > src.max_bytes {
        return Next::Fail(format!("answer larger than {} bytes", src.max_bytes));
    }
    let issuer = match &src.kind {
        SourceKind::Discovery { issuer, target } => Some((issuer, target)),
        SourceKind::Jwks(_) => None,
    };
    match (stage, issuer) {
        (Stage::OpenIdConfiguration, Some((_, target))) if status != 200 => {
            // RFC 8414: the well-known segment goes between the host and the issuer's path.
            let issuer_path = target.path.trim_end_matches('/');
            let path = format!("/.well-known/oauth-authorization-server{issuer_path}");
            Next::Call(Stage::OAuthMetadata, target.with_path(&path))
        }
        (Stage::OpenIdConfiguration | Stage::OAuthMetadata, Some((issuer, _))) => {
            if status != 200 {
                return Next::Fail(format!("discovery answered {status}"));
            }
            match jwks_uri_from_metadata(body, issuer) {
                Ok(uri) => match HttpTarget::parse(&uri) {
                    Some(t) => Next::Call(Stage::Jwks, t),
                    None => Next::Fail("discovery gave an unusable jwks_uri".into()),
                },
                Err(e) => Next::Fail(e),
            }
        }
        (Stage::Jwks, _) => {
            if status != 200 {
                return Next::Fail(if status == 0 { "no answer".into() } else { format!("JWKS answered {status}") });
            }
            match jwks_from_bytes(body, src.max_bytes) {
                Ok(p) if !p.keys.is_empty() => Next::Done { doc: body.to_vec() },
                Ok(_) => Next::Fail("the JWKS has no usable key".into()),
                Err(e) => Next::Fail(e),
            }
        }
        (_, None) => Next::Fail("discovery stage without discovery".into()),
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

/// FNV-1a, for shared-data key names (not a security hash).
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
