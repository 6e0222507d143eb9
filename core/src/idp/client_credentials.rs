//! The gateway as an OAuth client (RFC 6749 §4.4, KrakenD's client credentials): the token
//! request, the answer, and the shared token state, refreshed by the lease machine
//! (`lease.rs`) ahead of expiry. Pure: the adapter stores `TokenState` and makes the calls.

use crate::common::codec::percent_encode;
use crate::idp::lease::{Lease, Leased, Refresh, Stage, Step};
use crate::common::url::{HttpCall, HttpTarget};
use crate::idp::client_auth::ClientAuth;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_EXPIRES_IN: u64 = 300;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_WAIT_MS: u64 = 5_000;
const MAX_BACKOFF: u64 = 30;
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug)]
pub struct ClientCredentials {
    /// How the token call authenticates (added as it goes out); it names the client.
    pub auth: ClientAuth,
    pub target: HttpTarget,
    pub cluster: String,
    pub scopes: Vec<String>,
    /// Extra form parameters: name → values (e.g. `audience`).
    pub endpoint_params: Vec<(String, Vec<String>)>,
    /// Extra headers for the token request (e.g. `Accept: application/json`).
    pub headers: Vec<(String, String)>,
    pub replace_authorization: bool,
    pub default_expires_in: u64,
    /// Refresh when this fraction of the lifetime has passed (0 < f < 1).
    pub refresh_fraction: f64,
    pub timeout_ms: u64,
    pub max_wait_ms: u64,
    pub retry_on_401: bool,
    /// Shared-data key for this (token_url, client_id, scopes, params).
    pub shared_key: String,
}

/// A token answer (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub access_token: String,
    pub expires_in: u64,
}

/// The token and its fetch bookkeeping, for all workers (JSON in shared data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenState {
    #[serde(flatten)]
    pub lease: Lease,
    pub token: Option<String>,
    pub fetched_at: u64,
    pub expires_at: u64,
    pub version: u64,
}

impl Leased for TokenState {
    fn lease(&self) -> &Lease {
        &self.lease
    }
    fn lease_mut(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

impl TokenState {
    /// The token, if it may still be sent: never at or past its expiry.
    pub fn usable(&self, now: u64) -> Option<&str> {
        self.token.as_deref().filter(|_| now < self.expires_at)
    }

    /// The upstream refused the token of `version`: drop it, so the next fetch is immediate.
    pub fn drop_token(&mut self, version: u64) -> bool {
        if self.version != version || self.token.is_none() {
            return false;
        }
        self.token = None;
        self.lease.next_attempt = 0;
        true
    }
}

impl Refresh for ClientCredentials {
    type State = TokenState;
    type Value = Grant;

    /// No usable token, or the refresh point (`refresh_fraction` of its lifetime) has passed.
    fn wants_fetch(&self, st: &TokenState, now: u64) -> bool {
        if st.usable(now).is_none() {
            return true;
        }
        let life = st.expires_at.saturating_sub(st.fetched_at) as f64;
        now as f64 >= st.fetched_at as f64 + life * self.refresh_fraction
    }

    fn lease_secs(&self) -> u64 {
        self.timeout_ms.div_ceil(1000) + 1
    }

    fn max_backoff(&self) -> u64 {
        MAX_BACKOFF
    }

    fn max_answer(&self) -> usize {
        MAX_ANSWER
    }

    fn first_call(&self, _: &TokenState) -> Step<Grant> {
        let (headers, body) = self.request();
        Step::Call(Stage::Token, HttpCall { cluster: self.cluster.clone(), headers, body: Some(body), timeout_ms: self.timeout_ms })
    }

    fn after_response(&self, stage: Stage, status: u32, body: &[u8]) -> Step<Grant> {
        if stage != Stage::Token {
            return Step::Fail("a key answer for a token request".into());
        }
        match self.parse_answer(status, body) {
            Ok(grant) => Step::Done(grant),
            Err(why) => Step::Fail(why),
        }
    }

    fn store(&self, st: &mut TokenState, grant: Grant, now: u64) {
        st.token = Some(grant.access_token);
        st.fetched_at = now;
        st.expires_at = now.saturating_add(grant.expires_in);
        st.version += 1;
    }

    fn state_key(&self) -> String {
        self.shared_key.clone()
    }

    fn finalize(&self, call: HttpCall, now: u64, nonce: u64, host: Option<&dyn crate::crypto::CryptoHost>) -> Option<HttpCall> {
        self.auth.apply(call, now, nonce, host)
    }
}

impl ClientCredentials {
    /// The client the token is for (named in log lines).
    pub fn client_id(&self) -> &str {
        self.auth.client_id().unwrap_or_default()
    }

    /// The token request: a form POST (RFC 6749 §4.4.2), before `auth` is added (`finalize`).
    pub fn request(&self) -> (Vec<(String, String)>, Vec<u8>) {
        let mut headers = vec![
            (":method".to_string(), "POST".to_string()),
            (":path".to_string(), self.target.path.clone()),
            (":authority".to_string(), self.target.authority.clone()),
            ("content-type".to_string(), "application/x-www-form-urlencoded".to_string()),
        ];
        let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        if !self.scopes.is_empty() {
            form.push(("scope".to_string(), self.scopes.join(" ")));
        }
        for (name, values) in &self.endpoint_params {
            // As KrakenD's client: the body's credentials are the configured ones, once.
            if self.auth.in_body() && (name == "client_id" || name == "client_secret") {
                continue;
            }
            for v in values {
                form.push((name.clone(), v.clone()));
            }
        }
        headers.extend(self.headers.iter().cloned());
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        (headers, body.join("&").into_bytes())
    }

    /// The token endpoint's answer: the grant, or a reason to log (the RFC 6749 §5.2 `error`
    /// code when there is one; never the secret, never the body).
    pub fn parse_answer(&self, status: u32, body: &[u8]) -> Result<Grant, String> {
        if body.len() > MAX_ANSWER {
            return Err("answer too large".into());
        }
        let json: Option<Value> = serde_json::from_slice(body).ok();
        if status != 200 {
            let code = json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str).filter(|c| is_error_code(c));
            return Err(match (status, code) {
                (0, _) => "no answer".into(),
                (s, Some(code)) => format!("answered {s} with error `{code}`"),
                (s, None) => format!("answered {s}"),
            });
        }
        let Some(Value::Object(j)) = json else { return Err("answer is not a JSON object".into()) };
        let token = match j.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() && !t.chars().any(|c| c.is_control() || c == ' ') => t.clone(),
            _ => return Err("answer has no usable access_token".into()),
        };
        if let Some(tt) = j.get("token_type").and_then(Value::as_str) {
            if !tt.eq_ignore_ascii_case("bearer") {
                return Err("token_type is not Bearer".into());
            }
        }
        let expires_in = match j.get("expires_in") {
            None | Some(Value::Null) => self.default_expires_in,
            Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
                Some(n) if n > 0 => n,
                _ => return Err("expires_in is not a positive number".into()),
            },
        };
        Ok(Grant { access_token: token, expires_in })
    }
}

/// RFC 6749 §5.2 error codes are printable ASCII without quotes or backslashes.
fn is_error_code(c: &str) -> bool {
    !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::lease;
    use crate::Secret;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn basic() -> ClientAuth {
        ClientAuth::Basic { client_id: "my id".into(), secret: Secret::new("s3cr3t:+") }
    }

    fn cc(style: ClientAuth) -> ClientCredentials {
        ClientCredentials {
            auth: style,
            target: HttpTarget::parse("https://idp.test/oauth/token").unwrap(),
            cluster: "idp".into(),
            scopes: vec!["a".into(), "b".into()],
            endpoint_params: vec![("audience".into(), vec!["api1".into(), "api2".into()])],
            headers: vec![("accept".into(), "application/json".into())],
            replace_authorization: true,
            default_expires_in: 300,
            refresh_fraction: 0.5,
            timeout_ms: 5000,
            max_wait_ms: 5000,
            retry_on_401: false,
            shared_key: "k".into(),
        }
    }

    #[test]
    fn basic_and_body_requests() {
        let outgoing = |c: ClientCredentials| {
            let Step::Call(_, call) = c.first_call(&TokenState::default()) else { panic!("a call") };
            let call = c.finalize(call, 0, 0, None).unwrap();
            (call.headers, String::from_utf8(call.body.unwrap()).unwrap())
        };
        let (h, body) = outgoing(cc(basic()));
        assert_eq!(body, "grant_type=client_credentials&scope=a%20b&audience=api1&audience=api2");
        let basic = h.iter().find(|(k, _)| k == "authorization").unwrap().1.clone();
        let decoded = String::from_utf8(STANDARD.decode(basic.trim_start_matches("Basic ")).unwrap()).unwrap();
        assert_eq!(decoded, "my%20id:s3cr3t%3A%2B");
        assert!(h.contains(&("accept".into(), "application/json".into())));
        let (h, body) = outgoing(cc(ClientAuth::Post { client_id: "my id".into(), secret: Secret::new("s3cr3t:+") }));
        assert!(!h.iter().any(|(k, _)| k == "authorization"));
        assert!(body.ends_with("&client_id=my%20id&client_secret=s3cr3t%3A%2B"), "{body}");
    }

    #[test]
    fn answers() {
        let c = cc(basic());
        assert_eq!(c.parse_answer(200, br#"{"access_token":"t","token_type":"Bearer","expires_in":60}"#), Ok(Grant { access_token: "t".into(), expires_in: 60 }));
        assert_eq!(c.parse_answer(200, br#"{"access_token":"t"}"#).unwrap().expires_in, 300);
        assert_eq!(c.parse_answer(200, br#"{"access_token":"t","expires_in":"90"}"#).unwrap().expires_in, 90);
        let e = c.parse_answer(401, br#"{"error":"invalid_client","error_description":"bad s3cr3t"}"#).unwrap_err();
        assert_eq!(e, "answered 401 with error `invalid_client`");
        for (s, b) in [(200, &b"x"[..]), (200, br#"{"token_type":"Bearer"}"#), (200, br#"{"access_token":"a b"}"#),
            (200, br#"{"access_token":"t","token_type":"mac"}"#), (200, br#"{"access_token":"t","expires_in":-5}"#), (0, b"")] {
            assert!(c.parse_answer(s, b).is_err(), "{}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn refresh_and_expiry() {
        let c = cc(basic());
        let mut s = TokenState::default();
        assert!(lease::begin(&c, &mut s, 1, 100));
        lease::succeed(&c, &mut s, Grant { access_token: "t".into(), expires_in: 100 }, 1000);
        assert_eq!(s.usable(1099), Some("t"));
        assert_eq!(s.usable(1100), None, "never past expiry");
        assert!(!lease::begin(&c, &mut s, 1, 1049));
        assert!(lease::begin(&c, &mut s, 1, 1050), "at half the lifetime");
        lease::fail(&c, &mut s, 1050, None);
        assert_eq!(s.usable(1050), Some("t"), "kept until it expires");
        assert!(!lease::begin(&c, &mut s, 1, 1050));
        assert!(lease::begin(&c, &mut s, 1, 1051));
        lease::fail(&c, &mut s, 1051, None);
        assert_eq!(s.lease.next_attempt, 1053);
        assert!(s.drop_token(1));
        assert!(!s.drop_token(1));
        assert!(lease::begin(&c, &mut s, 1, 1052), "a dropped token is fetched at once");
    }

    #[test]
    fn one_call_and_its_answer() {
        let c = cc(ClientAuth::Post { client_id: "my id".into(), secret: Secret::new("s3cr3t:+") });
        let Step::Call(stage, call) = c.first_call(&TokenState::default()) else { panic!("a call") };
        assert_eq!((stage.clone(), call.cluster.as_str(), call.timeout_ms), (Stage::Token, "idp", 5000));
        assert!(call.body.is_some());
        assert_eq!(c.after_response(stage.clone(), 200, br#"{"access_token":"t"}"#), Step::Done(Grant { access_token: "t".into(), expires_in: 300 }));
        assert!(matches!(c.after_response(stage, 500, b""), Step::Fail(_)));
        assert!(matches!(c.after_response(Stage::OAuthMetadata, 200, br#"{"access_token":"t"}"#), Step::Fail(_)));
    }
}
