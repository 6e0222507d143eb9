//! What one VM (Envoy worker) holds between callbacks: the configuration, the keys fetched
//! for each server, requests waiting for keys, and the fetch calls in flight.

use crate::crypto::EnvoyCrypto;
use crate::{host, metrics};
use oauth_core::config::Strategy;
use oauth_core::crypto::CryptoHost;
use oauth_core::client_credentials::TokenState;
use oauth_core::introspection::{Lookup, Slot};
use oauth_core::jwt::VerifyKey;
use oauth_core::remote::{FetchState, Stage};
use oauth_core::{Config, KeyStore, Request};
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub struct SourceKeys {
    /// The shared fetch state as last read.
    pub state: FetchState,
    /// Version of `keys` (the stored document's).
    pub version: u64,
    pub keys: Vec<VerifyKey>,
}

/// A request paused until keys arrive or another worker's introspection answers.
pub struct Waiter {
    pub context_id: u32,
    pub request: Request,
    pub server: usize,
    pub kind: WaitFor,
    pub since_secs: u64,
    pub deadline_ms: u64,
}

pub enum WaitFor {
    /// Keys newer than this version.
    Keys { version_at_start: u64 },
    /// The answer for this token's cache slot.
    Introspection { slot_key: String, hash: String },
    /// A client-credentials token for the policy's upstream.
    UpstreamToken { policy: usize },
}

/// A call in flight from the root context.
pub enum Pending {
    /// A key fetch for `server`.
    Keys {
        server: usize,
        stage: Stage,
        /// The JWKS URL this call fetches, when discovery found it.
        discovered: Option<String>,
    },
    /// A client-credentials token for `policy`.
    Token { policy: usize },
}

pub struct Worker {
    pub config: Rc<Config>,
    pub vm_id: u64,
    pub sources: Vec<SourceKeys>,
    pub waiters: Vec<Waiter>,
    pub calls: HashMap<u32, Pending>,
    /// Per policy: its client-credentials token state as last read.
    pub tokens: Vec<TokenState>,
    /// The host's signature checks, when enabled and the host passed the probe.
    pub crypto: Option<EnvoyCrypto>,
}

impl Worker {
    pub fn new(config: Rc<Config>, vm_id: u64) -> Worker {
        let sources = config.servers.iter().map(|_| SourceKeys::default()).collect();
        let tokens = config.policies.iter().map(|_| TokenState::default()).collect();
        let crypto = if config.host_crypto { EnvoyCrypto::probe() } else { None };
        Worker { config, vm_id, sources, waiters: Vec::new(), calls: HashMap::new(), tokens, crypto }
    }

    pub fn keys_at(&self, now: u64) -> WorkerKeys<'_> {
        WorkerKeys { worker: self, now }
    }
}

/// The worker's fetched keys as the core sees them at one instant.
pub struct WorkerKeys<'a> {
    worker: &'a Worker,
    now: u64,
}

impl KeyStore for WorkerKeys<'_> {
    fn fetched(&self, server: usize) -> Option<&[VerifyKey]> {
        let src = self.worker.config.servers.get(server)?.remote.as_ref()?;
        let keys = self.worker.sources.get(server)?;
        keys.state.usable(src, self.now).then_some(keys.keys.as_slice())
    }

    fn introspection(&self, server: usize, token: &str) -> Lookup {
        let Some(Strategy::Introspection(rules)) = self.worker.config.servers.get(server).map(|s| &s.strategy) else {
            return Lookup::Miss;
        };
        let (key, hash) = rules.cache_key(token);
        let lookup = host::get_shared(&key)
            .and_then(|(bytes, _)| Slot::decode(&bytes))
            .map_or(Lookup::Miss, |slot| slot.lookup(&hash, self.now));
        match lookup {
            Lookup::Hit(_) | Lookup::Inactive => metrics::inc(metrics::INTROSPECTION_HITS),
            Lookup::Miss => metrics::inc(metrics::INTROSPECTION_MISSES),
            Lookup::Pending | Lookup::Failed => {}
        }
        lookup
    }

    fn crypto(&self) -> Option<&dyn CryptoHost> {
        self.worker.crypto.as_ref().map(|c| c as &dyn CryptoHost)
    }

    fn keys_version(&self, server: usize) -> u64 {
        self.worker.sources.get(server).map_or(0, |s| s.version)
    }

    fn upstream_token(&self, policy: usize) -> Option<(String, u64)> {
        let state = self.worker.tokens.get(policy)?;
        state.usable(self.now).map(|t| (t.to_string(), state.version))
    }

    fn may_refetch(&self, server: usize) -> bool {
        let src = self.worker.config.servers.get(server).and_then(|s| s.remote.as_ref());
        let keys = self.worker.sources.get(server);
        match (src, keys) {
            (Some(src), Some(keys)) => keys.state.may_refetch(src, self.now),
            _ => false,
        }
    }
}
