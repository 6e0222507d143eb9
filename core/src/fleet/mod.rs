//! State shared by a fleet of gateway replicas: what several Envoy processes must agree on
//! (the admin API's servers, DPoP proofs seen), kept in etcd v3 instead of one process's
//! shared data. `etcd` is the protocol, `servers` the servers' poll and their snapshot,
//! `writes` an admin write and a proof's record. Pure: the adapter (`src/fleet.rs`) makes
//! the calls through the store's Envoy cluster.

pub mod etcd;
pub mod servers;
pub mod writes;

use crate::common::secret::Secret;
use crate::common::url::HttpCall;

/// `store.etcd` of the plugin configuration, compiled.
#[derive(Debug, Clone)]
pub struct EtcdStore {
    /// The Envoy cluster that reaches etcd's JSON gateway (its TLS settings carry mTLS).
    pub cluster: String,
    /// The `:authority` of the calls.
    pub authority: String,
    /// Every key the filter writes starts with it.
    pub prefix: String,
    pub timeout_ms: u64,
    /// How often one VM of each Envoy process reads the servers (seconds).
    pub poll_secs: u64,
    /// etcd user and password (`/v3/auth/authenticate`), when etcd has auth on.
    pub credentials: Option<(String, Secret)>,
}

pub const DEFAULT_PREFIX: &str = "/oauth-filter/";
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
pub const DEFAULT_POLL_SECS: u64 = 5;
/// The largest answer read (a range of every server).
pub const MAX_ANSWER: usize = 4 << 20;
/// How long an etcd token is used before the poll asks for a new one (etcd's simple tokens
/// live 300 s by default, renewed on use; JWT tokens do not renew).
pub const TOKEN_LIFE_SECS: u64 = 240;

impl EtcdStore {
    /// One JSON-gateway call, with the etcd token when there is one.
    pub fn call(&self, call: &etcd::Call, token: Option<&str>) -> HttpCall {
        let mut headers = vec![
            (":method".to_string(), "POST".to_string()),
            (":path".to_string(), call.path.to_string()),
            (":authority".to_string(), self.authority.clone()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        if let Some(t) = token {
            // etcd reads its token from `authorization` as it is (no scheme).
            headers.push(("authorization".to_string(), t.to_string()));
        }
        HttpCall { cluster: self.cluster.clone(), headers, body: Some(call.body.clone().into_bytes()), timeout_ms: self.timeout_ms }
    }

    pub fn servers_prefix(&self) -> String {
        format!("{}servers/", self.prefix)
    }

    pub fn server_key(&self, name: &str) -> String {
        format!("{}servers/{name}", self.prefix)
    }

    /// A DPoP proof's record: under the server's name, named by the proof's hash (never
    /// the `jti` itself).
    pub fn proof_key(&self, server: &str, hash: &str) -> String {
        format!("{}dpop/{server}/{hash}", self.prefix)
    }

    /// The TTL of the lease a proof is recorded under: a lease granted at `now` serves every
    /// proof whose window ends before `now + ttl - margin`.
    pub fn lease_ttl(window: u64) -> u64 {
        window.saturating_mul(2).max(60)
    }
}
