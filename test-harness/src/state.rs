//! Host state: per VM (one Envoy worker) and shared between VMs (one Envoy process).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The clock every VM of one host reads, proxy-wasm's and WASI's alike; tests move it.
#[derive(Clone, Debug)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    pub fn at_secs(secs: u64) -> Clock {
        Clock(Arc::new(AtomicU64::new(secs * 1_000_000_000)))
    }
    pub fn nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn secs(&self) -> u64 {
        self.nanos() / 1_000_000_000
    }
    pub fn advance_secs(&self, secs: u64) {
        self.0.fetch_add(secs * 1_000_000_000, Ordering::SeqCst);
    }
    pub fn advance_millis(&self, ms: u64) {
        self.0.fetch_add(ms * 1_000_000, Ordering::SeqCst);
    }
}

/// Shared data and queues, as Envoy keeps them per process: a value and its CAS per key.
#[derive(Default, Debug)]
pub struct Shared {
    pub data: HashMap<String, (Vec<u8>, u32)>,
    pub next_cas: u32,
    pub queues: BTreeMap<String, u32>,
    pub queue_items: HashMap<u32, VecDeque<Vec<u8>>>,
    /// (vm index, context id) that registered each queue (its `on_queue_ready` is delivered
    /// to that VM after the callback that enqueued).
    pub queue_owner: HashMap<u32, (usize, u32)>,
    pub cas_mismatches: u64,
}

/// One `dispatch_http_call`, as the filter made it.
#[derive(Clone, Debug)]
pub struct HttpCall {
    pub token: u32,
    pub context_id: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub details: String,
}

#[derive(Clone, Debug)]
pub struct Metric {
    pub kind: u32,
    pub name: String,
    pub value: i64,
}

pub type ForeignFn = Box<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// One request's host-side state.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    pub request_body: Vec<u8>,
    pub local_reply: Option<LocalReply>,
    pub continued: bool,
    /// The request headers as they went on when the headers callback continued with a body to
    /// follow: what Envoy sends upstream (later header changes are lost).
    pub sent_headers: Option<Vec<(String, Vec<u8>)>>,
}

/// What one VM's host side holds.
pub struct HostState {
    pub vm_index: usize,
    pub clock: Clock,
    pub shared: Arc<Mutex<Shared>>,
    pub logs: Vec<(u32, String)>,
    pub log_level: u32,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub properties: HashMap<String, Vec<u8>>,
    /// Per HTTP context: its request as the filter left it.
    pub streams: HashMap<u32, Stream>,
    pub calls: Vec<HttpCall>,
    pub answered: Vec<u32>,
    pub next_token: u32,
    /// The answer being delivered through `on_http_call_response`.
    pub call_answer: Option<(Vec<(String, String)>, Vec<u8>)>,
    pub tick_period_ms: u32,
    pub metrics: Vec<Metric>,
    pub effective_context: u32,
    pub foreign: Arc<HashMap<String, ForeignFn>>,
    /// Set when an HTTP call is refused (as Envoy does for an unknown cluster).
    pub unknown_clusters: Vec<String>,
    /// The callback the host is delivering (`request_headers`, `response_headers`, …).
    pub callback: &'static str,
    /// When set, every host call the filter makes, as (callback, call) in the order made:
    /// `make bench` replays it from a twin filter (`tools/noop-filter`) that does nothing else.
    pub trace: Option<Vec<(&'static str, String)>>,
    /// With a trace and fuel counted: the fuel used by the time of each traced call.
    pub fuel_at: Option<Vec<u64>>,
    /// When set, the functions entered, in order, by a build instrumented to call
    /// `cover.enter(index)` on entering each function (tools/hot_functions.py makes it).
    pub entered: Option<Vec<u32>>,
}

impl HostState {
    /// Records a host call when tracing: its name, then its arguments hex-encoded.
    pub fn note(&mut self, op: &str, args: &[&[u8]]) {
        let callback = self.callback;
        if let Some(trace) = self.trace.as_mut() {
            let mut line = op.to_string();
            for a in args {
                line.push(' ');
                line.push_str(&hex(a));
            }
            trace.push((callback, line));
        }
    }

    /// The stream of the effective context (created empty if unknown).
    pub fn stream(&mut self) -> &mut Stream {
        self.streams.entry(self.effective_context).or_default()
    }

    pub fn new(vm_index: usize, clock: Clock, shared: Arc<Mutex<Shared>>, foreign: Arc<HashMap<String, ForeignFn>>) -> Self {
        HostState {
            vm_index,
            clock,
            shared,
            logs: Vec::new(),
            log_level: 0,
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            properties: HashMap::new(),
            streams: HashMap::new(),
            calls: Vec::new(),
            answered: Vec::new(),
            next_token: 1,
            call_answer: None,
            tick_period_ms: 0,
            metrics: Vec::new(),
            effective_context: 0,
            foreign,
            unknown_clusters: Vec::new(),
            callback: "",
            trace: None,
            fuel_at: None,
            entered: None,
        }
    }
}

/// Hex, and `-` for no bytes (so every argument is one word).
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
