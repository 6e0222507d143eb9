//! The admin API's servers as the fleet store holds them (one key per server under
//! `<prefix>servers/`), and the poll that brings them to every replica: one VM of each Envoy
//! process reads the prefix every `poll_interval` under a lease in shared data (single
//! flight, backoff), the same machine as a JWKS fetch. What it read, and what this process
//! wrote since, is one state in shared data (`PollState`) that every worker compiles from.

use super::etcd::{self, Kv};
use super::{EtcdStore, MAX_ANSWER, TOKEN_LIFE_SECS};
use crate::common::secret::Secret;
use crate::common::url::HttpCall;
use crate::endpoints::admin::Store;
use crate::idp::lease::{Lease, Leased, Refresh, Stage, Step};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One server as stored, with the revision it was last written at (what a write compares).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub rev: u64,
    pub server: Value,
}

/// The shared state of the poll: its lease, the servers, and the etcd token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PollState {
    #[serde(flatten)]
    pub lease: Lease,
    /// When the last poll succeeded (0: never: the servers are not known yet).
    pub polled_at: u64,
    /// The store's revision the servers are as of (a poll that read an older one is not used).
    pub revision: u64,
    pub servers: BTreeMap<String, Stored>,
    /// Servers this process deleted since the last poll, at which revision (so an older put
    /// answered later does not bring one back).
    pub gone: BTreeMap<String, u64>,
    /// The etcd token (auth on) and when it was had.
    pub token: Option<String>,
    pub token_at: u64,
    /// A call was refused its token: the next poll logs in again, at once.
    pub token_refused: bool,
}

impl Leased for PollState {
    fn lease(&self) -> &Lease {
        &self.lease
    }
    fn lease_mut(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

impl PollState {
    pub fn loaded(&self) -> bool {
        self.polled_at > 0
    }

    /// What the admin API compiles: the servers without their revisions.
    pub fn store(&self) -> Store {
        Store { servers: self.servers.iter().map(|(k, s)| (k.clone(), s.server.clone())).collect() }
    }

    /// A number that changes whenever the servers do: revisions only grow, so a put raises
    /// the largest one and a delete alone lowers the count.
    pub fn version(&self) -> (u64, usize) {
        (self.servers.values().map(|s| s.rev).max().unwrap_or(0), self.servers.len())
    }

    /// `version` as one number: what a worker's configuration compiled from this state is
    /// marked with.
    pub fn mark(&self) -> u64 {
        let (rev, count) = self.version();
        rev << 16 | count as u64
    }

    /// Whether a worker whose configuration is marked `compiled` serves these servers: not
    /// before the first read, nor while what a read or a write brought is not compiled yet
    /// (a request then would get 401 for a server that exists).
    pub fn served_by(&self, compiled: u64) -> bool {
        self.loaded() && self.mark() == compiled
    }

    /// A write this process made (at `revision`): `Some(server)` put, `None` deleted. An
    /// entry already newer stays.
    pub fn written(&mut self, name: &str, server: Option<Value>, revision: u64) {
        if self.servers.get(name).is_some_and(|s| s.rev > revision) || self.gone.get(name).is_some_and(|r| *r > revision) {
            return;
        }
        match server {
            Some(server) => {
                self.gone.remove(name);
                self.servers.insert(name.to_string(), Stored { rev: revision, server });
            }
            None => {
                self.servers.remove(name);
                self.gone.insert(name.to_string(), revision);
            }
        }
        self.revision = self.revision.max(revision);
    }

    /// One key as a failed write read it back (`None`: absent).
    pub fn seen(&mut self, name: &str, kv: Option<&Kv>, revision: u64) {
        match kv.and_then(|kv| Some((serde_json::from_slice::<Value>(&kv.value).ok()?, kv.mod_revision))) {
            Some((server, rev)) => self.written(name, Some(server), rev),
            None => self.written(name, None, revision),
        }
    }
}

/// What a poll brought: the servers at a revision, and the token it logged in with.
#[derive(Debug)]
pub struct Polled {
    pub revision: u64,
    pub servers: BTreeMap<String, Stored>,
    pub token: Option<Secret>,
    /// Keys under the prefix that are not a server's JSON (skipped, counted for the log).
    pub skipped: usize,
}

impl EtcdStore {
    fn range(&self, token: Option<Secret>) -> Step<Polled> {
        let call = self.call(&etcd::range_prefix(self.servers_prefix().as_bytes()), token.as_ref().map(Secret::expose));
        Step::Call(Stage::EtcdRange { token }, call)
    }

    fn read_servers(&self, body: &[u8], token: Option<Secret>) -> Step<Polled> {
        let range = match etcd::read_range(body) {
            Ok(r) => r,
            Err(e) => return Step::Fail(format!("etcd: {e:?}")),
        };
        let prefix = self.servers_prefix();
        let (mut servers, mut skipped) = (BTreeMap::new(), 0);
        for kv in range.kvs {
            let name = std::str::from_utf8(&kv.key).ok().and_then(|k| k.strip_prefix(prefix.as_str())).map(str::to_string);
            match (name, serde_json::from_slice::<Value>(&kv.value)) {
                (Some(name), Ok(server @ Value::Object(_))) => {
                    servers.insert(name, Stored { rev: kv.mod_revision, server });
                }
                _ => skipped += 1,
            }
        }
        Step::Done(Polled { revision: range.revision, servers, token, skipped })
    }
}

impl Refresh for EtcdStore {
    type State = PollState;
    type Value = Polled;

    fn wants_fetch(&self, st: &PollState, now: u64) -> bool {
        st.token_refused || st.polled_at == 0 || now >= st.polled_at.saturating_add(self.poll_secs)
    }

    fn lease_secs(&self) -> u64 {
        2 * self.timeout_ms.div_ceil(1000) + 1
    }

    fn max_backoff(&self) -> u64 {
        // Long enough to spare a store that is down, short enough that a replica that starts
        // while it is has its servers soon after it is back.
        30
    }

    fn max_answer(&self) -> usize {
        MAX_ANSWER
    }

    fn first_call(&self, st: &PollState) -> Step<Polled> {
        match (&self.credentials, &st.token) {
            (Some((name, password)), None) => Step::Call(Stage::EtcdAuth, self.call(&etcd::authenticate(name, password.expose()), None)),
            (_, token) => self.range(token.clone().map(Secret::new)),
        }
    }

    fn after_response(&self, stage: Stage, status: u32, body: &[u8]) -> Step<Polled> {
        if status != 200 {
            return Step::Fail(if status == 0 { "etcd did not answer".into() } else { format!("etcd answered {status}") });
        }
        match stage {
            Stage::EtcdAuth => match etcd::read_token(body) {
                Ok(t) => self.range(Some(Secret::new(t))),
                Err(_) => Step::Fail("etcd refused the login".into()),
            },
            Stage::EtcdRange { token } => self.read_servers(body, token),
            _ => Step::Fail("another source's answer for the servers' poll".into()),
        }
    }

    fn store(&self, st: &mut PollState, polled: Polled, now: u64) {
        if polled.revision >= st.revision {
            st.servers = polled.servers;
            st.revision = polled.revision;
            st.gone.clear();
        }
        st.polled_at = now;
        st.token_refused = false;
        if let Some(t) = polled.token {
            st.token = Some(t.expose().to_string());
            st.token_at = now;
        }
        if st.token.is_some() && now >= st.token_at.saturating_add(TOKEN_LIFE_SECS) {
            st.token = None; // the next poll logs in again
        }
    }

    fn on_failure(&self, st: &mut PollState) {
        // A refused token, or a store that lost it (restarted): log in again next time.
        st.token = None;
        st.token_refused = false;
    }

    fn state_key(&self) -> String {
        format!("oauth_filter/fleet/{:016x}", crate::common::digest::fnv64(format!("{}\n{}", self.cluster, self.prefix).as_bytes()))
    }
}

/// An etcd call as it goes out with the state's token.
pub fn with_token(store: &EtcdStore, call: &etcd::Call, st: &PollState) -> HttpCall {
    store.call(call, st.token.as_deref())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::idp::lease;
    use base64::Engine;
    use serde_json::json;

    fn store(creds: bool) -> EtcdStore {
        EtcdStore {
            cluster: "etcd".into(),
            authority: "etcd".into(),
            prefix: "/of/".into(),
            timeout_ms: 1000,
            poll_secs: 2,
            credentials: creds.then(|| ("gw".to_string(), Secret::new("pw"))),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn range(revision: u64, kvs: &[(&str, &str, u64)]) -> Vec<u8> {
        let kvs: Vec<Value> = kvs.iter().map(|(k, v, r)| json!({"key": b64(k), "value": b64(v), "mod_revision": r.to_string()})).collect();
        json!({"header": {"revision": revision.to_string()}, "kvs": kvs}).to_string().into_bytes()
    }

    fn header(call: &HttpCall, name: &str) -> Option<String> {
        call.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_poll_logs_in_then_reads_the_servers() {
        let s = store(true);
        let mut st = PollState::default();
        assert!(lease::begin(&s, &mut st, 7, 100));
        let Step::Call(stage, call) = s.first_call(&st) else { panic!() };
        assert_eq!((stage, header(&call, ":path").unwrap()), (Stage::EtcdAuth, "/v3/auth/authenticate".to_string()));
        assert_eq!(format!("{call:?}"), "HttpCall(etcd, 4 headers)", "the password is in the body, never printed");
        let Step::Call(stage, call) = s.after_response(Stage::EtcdAuth, 200, br#"{"header":{},"token":"tok.1"}"#) else { panic!() };
        assert_eq!(header(&call, "authorization").as_deref(), Some("tok.1"));
        let answer = range(9, &[("/of/servers/a", r#"{"name":"a"}"#, 4), ("/of/servers/b", "not json", 5)]);
        let Step::Done(polled) = s.after_response(stage, 200, &answer) else { panic!() };
        assert_eq!(polled.skipped, 1);
        lease::succeed(&s, &mut st, polled, 100);
        assert!(st.loaded() && st.token.as_deref() == Some("tok.1"));
        assert_eq!(st.store().servers.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(st.version(), (4, 1));
        assert!(st.served_by(st.mark()) && !st.served_by(0), "served once compiled, not before");
        assert!(!PollState::default().served_by(0), "nothing is served before the first read");
        assert!(!s.wants_fetch(&st, 101) && s.wants_fetch(&st, 102), "every poll interval");
        let Step::Call(stage, _) = s.first_call(&st) else { panic!() };
        assert!(matches!(stage, Stage::EtcdRange { token: Some(_) }), "the token is used until it is old");
        let servers = st.servers.clone();
        lease::succeed(&s, &mut st, Polled { revision: 9, servers, token: None, skipped: 0 }, 100 + TOKEN_LIFE_SECS);
        assert_eq!(st.token, None, "an old token is renewed by the next poll");
    }

    #[test]
    fn a_failed_poll_keeps_the_servers_and_backs_off() {
        let s = store(true);
        let mut st = PollState { polled_at: 50, token: Some("t".into()), ..Default::default() };
        st.written("a", Some(json!({"name": "a"})), 3);
        assert!(matches!(s.after_response(Stage::EtcdRange { token: None }, 0, b""), Step::Fail(_)));
        assert!(matches!(s.after_response(Stage::EtcdRange { token: None }, 401, b""), Step::Fail(_)));
        assert!(matches!(s.after_response(Stage::EtcdAuth, 200, br#"{"error":"etcdserver: authentication failed, invalid user ID or password","code":3}"#), Step::Fail(_)));
        lease::fail(&s, &mut st, 60, None);
        assert_eq!((st.servers.len(), st.token.clone()), (1, None), "servers kept; the token is asked again");
        assert!(st.lease.backing_off(60) && !st.lease.backing_off(61));
    }

    #[test]
    fn writes_and_polls_meet_by_revision() {
        let s = store(false);
        let mut st = PollState::default();
        st.written("a", Some(json!({"name": "a"})), 10);
        // A poll that read the store before that write does not take it back.
        lease::succeed(&s, &mut st, Polled { revision: 9, servers: BTreeMap::new(), token: None, skipped: 0 }, 5);
        assert!(st.servers.contains_key("a") && st.loaded());
        st.written("a", None, 12);
        st.written("a", Some(json!({"name": "a", "old": true})), 11);
        assert!(st.servers.is_empty(), "a delete at 12 beats a put at 11 seen later");
        st.seen("b", Some(&Kv { key: b"/of/servers/b".to_vec(), value: br#"{"name":"b"}"#.to_vec(), mod_revision: 14 }), 15);
        assert_eq!(st.servers["b"].rev, 14);
        let before = st.version();
        st.seen("b", None, 16);
        assert_ne!(st.version(), before);
        lease::succeed(&s, &mut st, Polled { revision: 20, servers: BTreeMap::new(), token: None, skipped: 0 }, 6);
        assert_eq!(st.revision, 20);
    }

    #[test]
    fn the_state_round_trips() {
        let mut st = PollState { polled_at: 3, token: Some("t".into()), ..Default::default() };
        st.written("a", Some(json!({"name": "a"})), 2);
        assert_eq!(PollState::decode(&st.encode()), st);
    }
}
