//! RFC 7662 token introspection, as Kong's oauth2-introspection plugin does it: the request
//! to the IdP, the answer's meaning, and the shared-data cache entry with its lifetime.
//! Pure: the adapter makes the call and stores the entries.

use crate::common::codec::percent_encode;
use crate::idp::client_auth::ClientAuth;
use crate::common::url::{HttpCall, HttpTarget};
use crate::{Identity, Request, Secret};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::rc::Rc;

pub const DEFAULT_TTL: u64 = 60;
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_CACHE_SLOTS: u64 = 10_000;
/// Inactive answers are kept this long by default: a random token asked twice costs one call.
pub const DEFAULT_NEGATIVE_TTL: u64 = 10;
/// Introspection calls one worker has in flight for one server; beyond, 503 at once.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 64;
/// The longest pause a server's `Retry-After` imposes on introspection (seconds).
pub const DEFAULT_MAX_RETRY_AFTER: u64 = 30;
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024;
/// `ttl: 0` keeps an entry until the token's `exp`; without `exp`, at most this long.
pub const MAX_ENTRY_LIFETIME: u64 = 86_400;

#[derive(Debug)]
pub struct IntrospectionRules {
    pub target: HttpTarget,
    pub cluster: String,
    /// How the call authenticates (added as it goes out: `outgoing`).
    pub auth: ClientAuth,
    pub token_in: TokenIn,
    pub timeout_ms: u64,
    pub token_type_hint: Option<String>,
    pub ttl: u64,
    pub negative_ttl: u64,
    pub introspect_request: bool,
    pub custom_headers: Vec<(String, Secret)>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    pub cache_slots: u64,
    pub max_answer_bytes: usize,
    pub max_wait_ms: u64,
    pub shared_key: String,
    pub max_calls_in_flight: usize,
    pub max_retry_after: u64,
}

/// Where the introspection call carries the token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenIn {
    /// A POST form parameter (RFC 7662: `token`).
    Form(String),
    /// A GET with the token in this header, after `prefix` (Janus).
    Header { name: String, prefix: String },
}

/// What the IdP said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Active(Identity),
    Inactive,
    /// No usable answer: non-200, not JSON, too large, no answer.
    Unavailable(String),
}

/// A cache slot in shared data (JSON). Slots are few and fixed (`cache_slots`), so the key
/// space is bounded; a token's slot also names the token's hash, so a slot reused by
/// another token is a miss, not a wrong answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub hash: String,
    pub until: u64,
    pub state: SlotState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// One worker is asking the IdP (`holder`); the others wait.
    Pending { holder: u64 },
    /// Shared with the `Identity` a lookup gives (serde's `rc`: the map is not copied).
    Active { claims: Rc<crate::common::claims::Claims> },
    Inactive,
    /// The IdP could not answer; waiters get 503.
    Failed,
}

/// Where a token's answer lives in shared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotKey {
    pub key: String,
    pub hash: String,
}

/// A slot to claim and the call to make once claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub lock_key: String,
    /// Where the server's backoff (after a 429) is kept.
    pub backoff_key: String,
    pub slot: SlotKey,
    /// How long a pending slot holds off other askers.
    pub pending_secs: u64,
    pub call: HttpCall,
    pub max_answer_bytes: usize,
    /// Calls this worker may have in flight for the server.
    pub max_in_flight: usize,
}

/// What a request that finds no answer may do with the token's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotUse {
    /// Take it (empty, expired, failed, or holding an inactive answer) and call.
    Claim,
    /// Another request's call for this token is pending: wait for its answer.
    Wait,
    /// It holds another token's live answer or pending call: call without caching, so that
    /// new tokens (a flood of random ones) never evict the answers good tokens live on.
    Uncached,
}

impl Claim {
    /// The pending slot that claims the token for `holder` (a VM id).
    pub fn pending_slot(&self, holder: u64, now: u64) -> Vec<u8> {
        Slot { hash: self.slot.hash.clone(), until: now + self.pending_secs, state: SlotState::Pending { holder } }.encode()
    }

    /// The slot written when the call cannot even be made: waiters get 503 at once.
    pub fn failed_slot(&self, now: u64) -> Vec<u8> {
        Slot { hash: self.slot.hash.clone(), until: now + 1, state: SlotState::Failed }.encode()
    }

    /// Whether a call that could not connect is made once more: no answer at all (`status`
    /// 0), or Envoy's own 503 for a connection that failed (not the IdP's), that came back
    /// fast (not a timeout), and was not retried already.
    pub fn retry(&self, status: u32, body: &[u8], elapsed_ms: u64, retried: bool) -> bool {
        let not_connected = status == 0
            || (status == 503
                && body.starts_with(b"upstream connect error or disconnect/reset before headers")
                && body.windows(18).any(|w| w == b"connection failure"));
        not_connected && !retried && elapsed_ms < self.call.timeout_ms / 2
    }

    /// Whether the server's stored backoff (`Retry-After` of a 429), as read from
    /// `backoff_key`, forbids a call at `now`.
    pub fn backing_off(stored: Option<&[u8]>, now: u64) -> bool {
        stored.and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok()).is_some_and(|until| now < until)
    }

    /// What the slot as read (`current`) lets this request do.
    pub fn slot_use(&self, current: Option<&[u8]>, now: u64) -> SlotUse {
        let Some(slot) = current.and_then(Slot::decode) else { return SlotUse::Claim };
        if now >= slot.until {
            return SlotUse::Claim;
        }
        match (&slot.state, slot.hash == self.slot.hash) {
            (SlotState::Pending { .. }, true) => SlotUse::Wait,
            (SlotState::Pending { .. } | SlotState::Active { .. }, false) => SlotUse::Uncached,
            _ => SlotUse::Claim,
        }
    }
}

/// An answer, digested.
#[derive(Debug, Clone, PartialEq)]
pub struct Digested {
    /// What it means for the request that asked.
    pub lookup: Lookup,
    /// The slot to write for everyone.
    pub store: Vec<u8>,
    /// Why it is unusable, when it is (never the body itself).
    pub failure: Option<String>,
    /// The server asked not to be called for a while: (key, until) to write for everyone.
    pub backoff: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The token is active, with these claims; the answer holds until (not including) the
    /// second given.
    Hit(Identity, u64),
    Inactive,
    Failed,
    Pending,
    Miss,
}

impl Slot {
    pub fn decode(bytes: &[u8]) -> Option<Slot> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// What this slot says about the token with `hash` at `now`.
    pub fn lookup(&self, hash: &str, now: u64) -> Lookup {
        if self.hash != hash || now >= self.until {
            return Lookup::Miss;
        }
        match &self.state {
            SlotState::Pending { .. } => Lookup::Pending,
            SlotState::Active { claims } => Lookup::Hit(Identity { claims: Rc::clone(claims) }, self.until),
            SlotState::Inactive => Lookup::Inactive,
            SlotState::Failed => Lookup::Failed,
        }
    }
}

impl IntrospectionRules {
    /// The token's cache slot (key in shared data) and the token's hash (SHA-256, the same in
    /// every VM; the token itself is never stored or logged).
    pub fn slot_key(&self, token: &str) -> SlotKey {
        let digest = hmac_sha256::Hash::hash(token.as_bytes());
        let hash = URL_SAFE_NO_PAD.encode(digest);
        let n = digest.iter().take(8).fold(0u64, |a, b| (a << 8) | u64::from(*b));
        let slot = n % self.cache_slots.max(1);
        SlotKey { key: crate::common::shared::introspection_slot(&self.shared_key, slot), hash }
    }

    /// The shared-data key of the short lock taken while claiming one of this server's slots.
    pub fn lock_key(&self) -> String {
        crate::common::shared::introspection_lock(&self.shared_key)
    }

    /// Everything the adapter needs to claim `slot` and make the call for `token` (the call
    /// without its client authentication, which `outgoing` adds when it is made).
    pub fn claim(&self, slot: SlotKey, token: &str, req: &Request) -> Claim {
        let (headers, body) = self.request(token, req);
        Claim {
            lock_key: self.lock_key(),
            backoff_key: self.backoff_key(),
            slot,
            // Long enough for the call and its one retry.
            pending_secs: 2 * self.timeout_ms.div_ceil(1000) + 1,
            call: HttpCall { cluster: self.cluster.clone(), headers, body: (!body.is_empty()).then_some(body), timeout_ms: self.timeout_ms },
            max_answer_bytes: self.max_answer_bytes,
            max_in_flight: self.max_calls_in_flight,
        }
    }

    /// What an answer means for the request that asked, and the slot to store for everyone.
    /// An answer that is not cached (inactive without `negative_ttl`) is still stored for
    /// this second, so that concurrent waiters get it.
    /// `retry_after`: what a 429 or 503 asked for (`lease::retry_after`).
    pub fn digest(&self, hash: &str, status: u32, body: &[u8], now: u64, retry_after: Option<u64>) -> Digested {
        let answer = self.parse_answer(status, body);
        let slot = self.slot_for(&answer, hash.to_string(), now).unwrap_or(Slot {
            hash: hash.to_string(),
            until: now + 1,
            state: SlotState::Inactive,
        });
        let (lookup, failure) = match answer {
            Answer::Active(id) => (Lookup::Hit(id, slot.until), None),
            Answer::Inactive => (Lookup::Inactive, None),
            Answer::Unavailable(why) => (Lookup::Failed, Some(why)),
        };
        // At most `max_retry_after`: a server asking for an hour would stop every introspection.
        let backoff = retry_after
            .map(|secs| secs.min(self.max_retry_after))
            .filter(|secs| *secs > 0)
            .map(|secs| (self.backoff_key(), now.saturating_add(secs).to_string().into_bytes()));
        Digested { lookup, store: slot.encode(), failure, backoff }
    }

    /// `call` as it goes out at `now`, authenticated (`nonce` unique to it: a retry is
    /// signed afresh). None when it cannot be authenticated: no call, the waiters get 503.
    pub fn outgoing(&self, call: &HttpCall, now: u64, nonce: u64, host: Option<&dyn crate::crypto::CryptoHost>) -> Option<HttpCall> {
        self.auth.apply(call.clone(), now, nonce, host)
    }

    /// The shared-data key of this server's backoff.
    pub fn backoff_key(&self) -> String {
        crate::common::shared::introspection_backoff(&self.shared_key)
    }

    /// The introspection call: headers and form body (RFC 7662 §2.1), or Janus's GET with
    /// the token in a header.
    pub fn request(&self, token: &str, req: &Request) -> (Vec<(String, String)>, Vec<u8>) {
        let method = if matches!(self.token_in, TokenIn::Form(_)) { "POST" } else { "GET" };
        let mut headers = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), self.target.path.clone()),
            (":authority".to_string(), self.target.authority.clone()),
            ("accept".to_string(), "application/json".to_string()),
        ];
        for (name, value) in &self.custom_headers {
            headers.push((name.clone(), value.expose().to_string()));
        }
        if self.introspect_request {
            headers.push(("x-request-path".to_string(), req.path().to_string()));
            headers.push(("x-request-http-method".to_string(), req.method().to_string()));
        }
        let param = match &self.token_in {
            TokenIn::Form(param) => param,
            TokenIn::Header { name, prefix } => {
                headers.push((name.clone(), format!("{prefix}{token}")));
                return (headers, Vec::new());
            }
        };
        headers.push(("content-type".to_string(), "application/x-www-form-urlencoded".to_string()));
        let mut body = format!("{}={}", percent_encode(param), percent_encode(token));
        if let Some(hint) = &self.token_type_hint {
            body.push_str(&format!("&token_type_hint={}", percent_encode(hint)));
        }
        (headers, body.into_bytes())
    }

    /// What an answer means (`status` 0 = no answer).
    pub fn parse_answer(&self, status: u32, body: &[u8]) -> Answer {
        if status != 200 {
            return Answer::Unavailable(if status == 0 { "no answer".into() } else { format!("answered {status}") });
        }
        if body.len() > self.max_answer_bytes {
            return Answer::Unavailable("answer too large".into());
        }
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(body) else {
            return Answer::Unavailable("answer is not a JSON object".into());
        };
        match claims.get("active") {
            Some(Value::Bool(true)) => Answer::Active(Identity::new(claims)),
            Some(Value::Bool(false)) => Answer::Inactive,
            _ => Answer::Unavailable("answer has no boolean `active`".into()),
        }
    }

    /// The slot that records `answer` for the token with `hash`; None when it is not cached
    /// (an inactive answer without `negative_ttl`).
    pub fn slot_for(&self, answer: &Answer, hash: String, now: u64) -> Option<Slot> {
        let (until, state) = match answer {
            Answer::Active(id) => {
                let exp = id.claims.get("exp").and_then(Value::as_u64);
                let life = match (self.ttl, exp) {
                    (0, Some(exp)) => exp.saturating_sub(now),
                    (0, None) => MAX_ENTRY_LIFETIME,
                    (ttl, Some(exp)) => ttl.min(exp.saturating_sub(now)),
                    (ttl, None) => ttl,
                };
                // At least a second, so the requests waiting for this answer get it; every hit
                // checks `exp` again anyway.
                (now + life.max(1), SlotState::Active { claims: Rc::clone(&id.claims) })
            }
            Answer::Inactive if self.negative_ttl > 0 => (now + self.negative_ttl, SlotState::Inactive),
            Answer::Inactive => return None,
            Answer::Unavailable(_) => (now + 1, SlotState::Failed),
        };
        Some(Slot { hash, until, state })
    }

    /// Checks an active answer's own claims: `exp`, `nbf` (with leeway) and audience.
    pub fn check(&self, id: &Identity, now: u64) -> Result<(), crate::Denial> {
        use crate::Denial;
        if let Some(exp) = id.claims.get("exp").and_then(Value::as_u64) {
            if now > exp.saturating_add(self.leeway_secs) {
                return Err(Denial::Expired);
            }
        }
        if let Some(nbf) = id.claims.get("nbf").and_then(Value::as_u64) {
            if now.saturating_add(self.leeway_secs) < nbf {
                return Err(Denial::NotYetValid);
            }
        }
        if !self.audiences.is_empty() {
            let ok = match id.claims.get("aud") {
                Some(Value::String(a)) => self.audiences.contains(a),
                Some(Value::Array(l)) => l.iter().filter_map(Value::as_str).any(|a| self.audiences.iter().any(|x| x == a)),
                _ => false,
            };
            if !ok {
                return Err(Denial::BadAudience);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(ttl: u64, negative_ttl: u64) -> IntrospectionRules {
        IntrospectionRules {
            target: HttpTarget::parse("https://idp.test/oauth/introspect").unwrap(),
            cluster: "idp".into(),
            token_in: TokenIn::Form("token".into()),
            auth: ClientAuth::Header(Secret::new("Basic Z3c6cw==")),
            timeout_ms: 10_000,
            token_type_hint: Some("access_token".into()),
            ttl,
            negative_ttl,
            introspect_request: true,
            custom_headers: vec![("x-tenant".into(), Secret::new("t1"))],
            audiences: vec![],
            leeway_secs: 0,
            cache_slots: 100,
            max_answer_bytes: 1024,
            max_wait_ms: 11_000,
            shared_key: "k".into(),
            max_calls_in_flight: 64,
            max_retry_after: 30,
        }
    }

    #[test]
    fn only_a_fast_connection_failure_is_retried_once() {
        let r = rules(60, 0);
        let claim = r.claim(r.slot_key("t"), "t", &Request::default());
        let envoy_503 = b"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused";
        assert!(claim.retry(0, b"", 10, false), "no answer, fast");
        assert!(claim.retry(503, envoy_503, 10, false), "Envoy's own 503 for a refused connection");
        assert!(!claim.retry(0, b"", 10, true), "once");
        assert!(!claim.retry(0, b"", 9_000, false), "a timeout is not repeated");
        assert!(!claim.retry(503, b"{\"error\": \"busy\"}", 10, false), "the IdP's own 503");
        assert!(!claim.retry(503, b"upstream connect error or disconnect/reset before headers. reset reason: overflow", 10, false));
        assert!(!claim.retry(500, b"", 10, false));
    }

    #[test]
    fn the_request_is_an_rfc7662_form_post() {
        let req = Request { headers: vec![(":method".into(), b"PUT".to_vec()), (":path".into(), b"/a/b?c".to_vec())].into(), ..Default::default() };
        let r = rules(60, 0);
        let call = r.claim(r.slot_key("to+k/en="), "to+k/en=", &req).call;
        let call = r.outgoing(&call, 0, 0, None).unwrap();
        let (h, body) = (call.headers, call.body.unwrap_or_default());
        assert_eq!(String::from_utf8(body).unwrap(), "token=to%2Bk%2Fen%3D&token_type_hint=access_token");
        for (k, v) in [(":method", "POST"), (":path", "/oauth/introspect"), (":authority", "idp.test"),
            ("authorization", "Basic Z3c6cw=="), ("x-tenant", "t1"), ("x-request-path", "/a/b"), ("x-request-http-method", "PUT")] {
            assert!(h.contains(&(k.to_string(), v.to_string())), "{k}");
        }
    }

    #[test]
    fn answers() {
        let r = rules(60, 0);
        assert!(matches!(r.parse_answer(200, br#"{"active":true,"sub":"a"}"#), Answer::Active(_)));
        assert_eq!(r.parse_answer(200, br#"{"active":false}"#), Answer::Inactive);
        for (s, b) in [(500, &b"{}"[..]), (200, b"nope"), (200, b"[1]"), (200, br#"{"active":"yes"}"#), (0, b"")] {
            assert!(matches!(r.parse_answer(s, b), Answer::Unavailable(_)), "{s}");
        }
        assert!(matches!(r.parse_answer(200, &vec![b' '; 2000]), Answer::Unavailable(_)));
    }

    #[test]
    fn entry_lifetime_is_min_of_ttl_and_exp() {
        let now = 1000;
        let active = |exp: Option<u64>| {
            let mut c = json!({"active": true});
            if let Some(e) = exp { c["exp"] = json!(e); }
            Answer::Active(Identity::new(c.as_object().cloned().unwrap()))
        };
        assert_eq!(rules(60, 0).slot_for(&active(Some(1030)), "h".into(), now).unwrap().until, 1030);
        assert_eq!(rules(60, 0).slot_for(&active(Some(5000)), "h".into(), now).unwrap().until, 1060);
        assert_eq!(rules(0, 0).slot_for(&active(Some(5000)), "h".into(), now).unwrap().until, 5000);
        assert_eq!(rules(0, 0).slot_for(&active(None), "h".into(), now).unwrap().until, now + MAX_ENTRY_LIFETIME);
        assert_eq!(rules(60, 0).slot_for(&Answer::Inactive, "h".into(), now), None);
        assert_eq!(rules(60, 30).slot_for(&Answer::Inactive, "h".into(), now).unwrap().until, 1030);
    }

    #[test]
    fn slots_hold_hashes_and_expire() {
        let r = rules(60, 0);
        let SlotKey { key, hash } = r.slot_key("secret-token");
        assert!(!key.contains("secret-token") && !hash.contains("secret-token"));
        assert_eq!(r.slot_key("secret-token"), SlotKey { key, hash: hash.clone() });
        let slot = r.slot_for(&Answer::Inactive, hash.clone(), 0);
        assert!(slot.is_none());
        let s = Slot { hash: hash.clone(), until: 10, state: SlotState::Inactive };
        assert_eq!(s.lookup(&hash, 9), Lookup::Inactive);
        assert_eq!(s.lookup(&hash, 10), Lookup::Miss);
        assert_eq!(s.lookup("other", 9), Lookup::Miss);
        assert_eq!(Slot::decode(&s.encode()), Some(s));
    }

    #[test]
    fn a_claim_waits_for_a_pending_call_and_digests_answers() {
        let r = rules(60, 0);
        let req = Request::default();
        let claim = r.claim(r.slot_key("t"), "t", &req);
        assert_eq!(claim.lock_key, "k/lock");
        assert_eq!(claim.slot_use(None, 100), SlotUse::Claim);
        let pending = claim.pending_slot(7, 100);
        assert_eq!(claim.slot_use(Some(&pending), 100), SlotUse::Wait, "another request is asking");
        assert_eq!(claim.slot_use(Some(&pending), 100 + claim.pending_secs), SlotUse::Claim, "its call timed out");
        assert_eq!(claim.slot_use(Some(b"garbage"), 100), SlotUse::Claim);
        // Another token's live answer or pending call is never evicted by a new token.
        let other = r.claim(r.slot_key("u"), "u", &req);
        assert_eq!(claim.slot_use(Some(&other.pending_slot(7, 100)), 100), SlotUse::Uncached);
        let active = r.digest(&other.slot.hash, 200, br#"{"active":true,"sub":"a","exp":130}"#, 100, None).store;
        assert_eq!(claim.slot_use(Some(&active), 120), SlotUse::Uncached);
        assert_eq!(claim.slot_use(Some(&active), 130), SlotUse::Claim, "expired");
        let inactive = r.digest(&other.slot.hash, 200, br#"{"active":false}"#, 100, None).store;
        assert_eq!(claim.slot_use(Some(&inactive), 100), SlotUse::Claim, "an inactive answer may go");
        let d = r.digest(&claim.slot.hash, 200, br#"{"active":true,"sub":"a","exp":130}"#, 100, None);
        assert!(matches!(d.lookup, Lookup::Hit(_, 130)));
        assert_eq!(Slot::decode(&d.store).map(|s| s.lookup(&claim.slot.hash, 101)), Some(d.lookup.clone()));
        let d = r.digest(&claim.slot.hash, 200, br#"{"active":false}"#, 100, None);
        assert_eq!((d.lookup, d.failure), (Lookup::Inactive, None));
        assert_eq!(Slot::decode(&d.store).map(|s| s.lookup(&claim.slot.hash, 100)), Some(Lookup::Inactive), "kept a second");
        let d = r.digest(&claim.slot.hash, 503, b"", 100, None);
        assert_eq!(d.lookup, Lookup::Failed);
        assert!(d.failure.is_some());
    }
}
