//! What one VM (Envoy worker) holds between callbacks: the configuration, the keys fetched
//! for each server, the requests that wait, and the fetch calls in flight; and the view of it
//! that the core's decision reads (`WorkerState`).

use crate::crypto::EnvoyCrypto;
use crate::records::{Held, InFlight, Outgoing, Pending, Phase};
use crate::{host, metrics};
use oauth_core::crypto::CryptoHost;
use oauth_core::idp::client_credentials::TokenState;
use oauth_core::idp::introspection::{Lookup, SlotKey};
use oauth_core::jwt::VerifyKey;
use oauth_core::idp::remote::FetchState;
use oauth_core::decision::state::FirstUse;
use oauth_core::{Config, Event, Now, WorkerState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

#[derive(Default)]
pub struct SourceKeys {
    /// The shared fetch state as last read.
    pub state: FetchState,
    /// Version of `keys` (the stored document's).
    pub version: u64,
    pub keys: Vec<VerifyKey>,
}

pub struct Worker {
    pub config: Rc<Config>,
    pub vm_id: u64,
    pub sources: Vec<SourceKeys>,
    /// Requests that wait, by context id (their phase is owned by their HTTP context).
    pub waiting: Vec<(u32, Weak<RefCell<Phase>>)>,
    pub calls: HashMap<u32, Pending>,
    /// Introspection calls a request asked for, made by the root context (a call made from a
    /// request's own context would be cancelled when that request ends, and with it the
    /// answer every other waiter needs).
    pub outbox: Vec<Outgoing>,
    /// Those calls in flight, by token.
    pub introspections: HashMap<u32, InFlight>,
    /// This VM's wake-up queue: a request asks the root context to make its calls at once.
    pub wake_queue: Option<u32>,
    /// Endpoint requests held in their headers until their body comes (`hold`).
    pub held: Vec<Held>,
    /// The root's tick period when nothing is held (0: no tick).
    pub base_tick_ms: u32,
    /// Per policy: its client-credentials token state as last read.
    pub tokens: Vec<TokenState>,
    /// The host's signature checks, when enabled and the host passed the probe.
    pub crypto: Option<EnvoyCrypto>,
    /// The plugin configuration as the host gave it (compiled again with the servers of the
    /// admin API when they change).
    pub plugin_config: Vec<u8>,
    /// The CAS of the admin API's stored servers compiled into `config` (0 = none), or with
    /// the fleet store the version of its servers.
    pub admin_cas: u64,
    /// The fleet store's servers and the writes asked of it.
    pub fleet: crate::records::Fleet,
}

impl Worker {
    pub fn new(config: Rc<Config>, vm_id: u64, plugin_config: Vec<u8>) -> Worker {
        let sources = config.servers.iter().map(|_| SourceKeys::default()).collect();
        let tokens = config.policies.iter().map(|_| TokenState::default()).collect();
        let crypto = if config.host_crypto { EnvoyCrypto::probe() } else { None };
        Worker { config, vm_id, sources, waiting: Vec::new(), calls: HashMap::new(), outbox: Vec::new(), introspections: HashMap::new(), wake_queue: None, held: Vec::new(), base_tick_ms: 0, tokens, crypto, plugin_config, admin_cas: 0, fleet: Default::default() }
    }

    pub fn view<'a>(&'a self, now: &'a Now<'a>) -> View<'a> {
        View { worker: self, now, confirmed: None }
    }

    /// The view of a decision taken again once the fleet store answered for proof `hash`.
    pub fn view_confirmed<'a>(&'a self, now: &'a Now<'a>, hash: &'a str, first: bool) -> View<'a> {
        View { worker: self, now, confirmed: Some((hash, first)) }
    }
}

/// The worker as the core's decision sees it at one instant.
pub struct View<'a> {
    worker: &'a Worker,
    now: &'a Now<'a>,
    /// The fleet store's answer for one proof (first use or not).
    confirmed: Option<(&'a str, bool)>,
}

impl WorkerState for View<'_> {
    fn fetched(&self, server: usize) -> Option<&[VerifyKey]> {
        let src = self.worker.config.servers.get(server)?.remote.as_ref()?;
        let keys = self.worker.sources.get(server)?;
        keys.state.usable(src, self.now.get()).then_some(keys.keys.as_slice())
    }

    fn introspection(&self, _server: usize, slot: &SlotKey) -> Lookup {
        crate::shared::introspection(slot, self.now.get())
    }

    fn count(&self, event: Event) {
        metrics::inc(match event {
            Event::IntrospectionHit => metrics::INTROSPECTION_HITS,
            Event::IntrospectionMiss => metrics::INTROSPECTION_MISSES,
        });
    }

    fn crypto(&self) -> Option<&dyn CryptoHost> {
        self.worker.crypto.as_ref().map(|c| c as &dyn CryptoHost)
    }

    fn keys_version(&self, server: usize) -> u64 {
        self.worker.sources.get(server).map_or(0, |s| s.version)
    }

    fn upstream_token(&self, policy: usize) -> Option<(&str, u64)> {
        let state = self.worker.tokens.get(policy)?;
        state.usable(self.now.get()).map(|t| (t, state.version))
    }

    fn first_use(&self, key: &str, hash: &str, until: u64, now: u64) -> FirstUse {
        if let Some((_, first)) = self.confirmed.filter(|(h, _)| *h == hash) {
            return if first { FirstUse::Yes } else { FirstUse::Seen };
        }
        if !self.first_use_here(key, hash, until, now) {
            return FirstUse::Seen; // a replay to this process never costs a call
        }
        if self.worker.config.store.is_some() {
            FirstUse::Ask
        } else {
            FirstUse::Yes
        }
    }

    fn servers_pending(&self) -> bool {
        self.worker.config.store.is_some() && self.worker.config.admin.is_some() && !self.worker.fleet.state.served_by(self.worker.admin_cas)
    }

    fn peer_certificate_sha256(&self) -> Option<Vec<u8>> {
        let hex = host::property(&["connection", "sha256_peer_certificate_digest"])?;
        oauth_core::decision::binding::from_hex(&hex)
    }

    fn may_refetch(&self, server: usize) -> bool {
        let src = self.worker.config.servers.get(server).and_then(|s| s.remote.as_ref());
        let keys = self.worker.sources.get(server);
        match (src, keys) {
            (Some(src), Some(keys)) => keys.state.may_refetch(src, self.now.get()),
            _ => false,
        }
    }
}

impl View<'_> {
    /// Records the proof in this process's replay store; false when it was there.
    fn first_use_here(&self, key: &str, hash: &str, until: u64, now: u64) -> bool {
        // Under the server's lock: a slot that does not exist yet cannot be claimed by CAS.
        let lock = oauth_core::common::shared::replay_lock(key);
        if !crate::shared::lock(&lock, self.worker.vm_id) {
            return false; // fail closed: the proof cannot be recorded
        }
        let stored = host::get_shared(key).map(|(bytes, _)| bytes).unwrap_or_default();
        let fresh = match oauth_core::decision::dpop::record(&stored, hash, until, now) {
            Ok(next) => host::set_shared(key, &next, 0) == crate::host::SetShared::Done,
            Err(_) => false,
        };
        host::set_shared(&lock, b"", 0);
        fresh
    }
}
