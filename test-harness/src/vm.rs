//! One VM = one Envoy worker: an instance of the built `.wasm` with its root context.
//! Requests run as scenarios; outcomes are read from the host state.

use crate::state::{Clock, ForeignFn, HostState, HttpCall, LocalReply, Shared};
use crate::{abi, wasi};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::{Config, Engine, Instance, Linker, Module, Store, TypedFunc};

pub const ROOT_ID: u32 = 1;

/// The compiled module, once per test process.
fn compiled() -> &'static (Engine, Module) {
    static CELL: OnceLock<(Engine, Module)> = OnceLock::new();
    CELL.get_or_init(|| {
        let path = std::env::var("OAUTH_FILTER_WASM").unwrap_or_else(|_| {
            format!("{}/../target/wasm32-wasip1/release/oauth_filter.wasm", env!("CARGO_MANIFEST_DIR"))
        });
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {path}: {e} (run `make build` first)"));
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        // OAUTH_FILTER_PERFMAP=1: optimized code and a perf map, so `perf record` of a harness
        // run names the filter's functions (profiling the .wasm while working).
        if std::env::var_os("OAUTH_FILTER_PERFMAP").is_some() {
            config.cranelift_opt_level(wasmtime::OptLevel::Speed);
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // OAUTH_FILTER_FUEL=1: count the wasm operators the filter executes (`Vm::fuel_used`), a
        // measure of its own work with no host time and no noise in it.
        if counts_fuel() {
            config.consume_fuel(true);
        }
        let engine = Engine::new(&config).unwrap_or_else(|e| panic!("engine: {e}"));
        let module = match std::env::var_os("OAUTH_FILTER_PERFMAP") {
            None => compiled_once(&engine, &bytes),
            Some(_) => Module::new(&engine, &bytes).unwrap_or_else(|e| panic!("module: {e}")),
        };
        (engine, module)
    })
}

/// The module compiled by Cranelift once for every test process: kept under
/// target/harness-modules/, named by a hash of the .wasm and of what the engine compiles for
/// (wasmtime's version and configuration), and loaded from there by the next process. Each
/// harness test file is a process of its own, and compiling the filter is most of its time.
fn compiled_once(engine: &Engine, bytes: &[u8]) -> Module {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/harness-modules"));
    let path = dir.join(format!("{:016x}.cwasm", hasher.finish()));
    // SAFETY: the file is one this function wrote with `Module::serialize` for an engine with
    // the same compatibility hash (its name says so); wasmtime checks its header again.
    if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
        return module;
    }
    let module = Module::new(engine, bytes).unwrap_or_else(|e| panic!("module: {e}"));
    // Written whole under another name, then renamed: a process reading it never sees a part.
    // A failure to keep it only costs the next process a compilation.
    if let (Ok(()), Ok(serialized)) = (std::fs::create_dir_all(&dir), module.serialize()) {
        let partial = dir.join(format!("{}.partial", std::process::id()));
        if std::fs::write(&partial, serialized).is_ok() && std::fs::rename(&partial, &path).is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        forget_old(&dir, 4);
    }
    module
}

/// Leaves the `keep` newest compiled modules under `dir` (each build of the .wasm adds one).
fn forget_old(dir: &std::path::Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut modules: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    modules.sort();
    for (_, old) in modules.iter().rev().skip(keep) {
        let _ = std::fs::remove_file(old);
    }
}

fn counts_fuel() -> bool {
    std::env::var_os("OAUTH_FILTER_FUEL").is_some()
}

/// One Envoy process: a clock and shared data for all its VMs (workers).
#[derive(Clone)]
pub struct Host {
    pub clock: Clock,
    pub shared: Arc<Mutex<Shared>>,
    foreign: Arc<HashMap<String, ForeignFn>>,
    vms: Arc<Mutex<usize>>,
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Host {
    /// A host whose clock starts at a fixed instant (2027-01-15).
    pub fn new() -> Host {
        Host::at(1_800_000_000)
    }

    pub fn at(secs: u64) -> Host {
        Host {
            clock: Clock::at_secs(secs),
            shared: Arc::default(),
            foreign: Arc::new(HashMap::new()),
            vms: Arc::default(),
        }
    }

    /// Offers a foreign function (as Envoy offers `verify_signature`); before any VM starts.
    pub fn with_foreign(mut self, name: &str, f: ForeignFn) -> Host {
        let mut map: HashMap<String, ForeignFn> = HashMap::new();
        if let Some(old) = Arc::get_mut(&mut self.foreign) {
            map.extend(old.drain());
        }
        map.insert(name.to_string(), f);
        self.foreign = Arc::new(map);
        self
    }

    /// Offers Envoy's `verify_signature` and `sign` (backed by ring); their call counts.
    pub fn with_envoy_crypto(self) -> (Host, std::sync::Arc<crate::crypto::CryptoCalls>) {
        let (verify, sign, calls) = crate::crypto::envoy_crypto();
        (self.with_foreign("verify_signature", verify).with_foreign("sign", sign), calls)
    }

    /// Starts a VM and configures its root context. Err carries the VM's log when
    /// `on_configure` refused the configuration.
    pub fn vm(&self, config: &str) -> Result<Vm, Vm> {
        let index = {
            let mut n = self.vms.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n - 1
        };
        let (engine, module) = compiled();
        let state = HostState::new(index, self.clock.clone(), self.shared.clone(), self.foreign.clone());
        let mut store = Store::new(engine, state);
        if counts_fuel() {
            store.set_fuel(u64::MAX).unwrap_or_else(|e| panic!("fuel: {e}"));
        }
        let mut linker = Linker::new(engine);
        abi::link(&mut linker).unwrap_or_else(|e| panic!("link: {e}"));
        wasi::link(&mut linker).unwrap_or_else(|e| panic!("link: {e}"));
        linker.define_unknown_imports_as_traps(module).unwrap_or_else(|e| panic!("link: {e}"));
        let instance = linker.instantiate(&mut store, module).unwrap_or_else(|e| panic!("instantiate: {e}"));
        let mut vm = Vm { store, instance, next_context: ROOT_ID + 1, finished: HashMap::new(), sent_before_body: None };
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut vm.store, "_initialize") {
            let r = init.call(&mut vm.store, ());
            vm.trap_check(r);
        }
        vm.store.data_mut().plugin_config = config.as_bytes().to_vec();
        vm.call2("proxy_on_context_create", ROOT_ID as i32, 0);
        let started = vm.call_ii_i("proxy_on_vm_start", ROOT_ID as i32, 0);
        let size = config.len() as i32;
        let configured = vm.call_ii_i("proxy_on_configure", ROOT_ID as i32, size);
        if started != 0 && configured != 0 { Ok(vm) } else { Err(vm) }
    }
}

pub struct Vm {
    store: Store<HostState>,
    instance: Instance,
    next_context: u32,
    sent_before_body: Option<Vec<(String, Vec<u8>)>>,
    /// What became of finished requests, for `poll`.
    finished: HashMap<u32, Outcome>,
}

/// What became of a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The filter let it go upstream with these headers.
    Forwarded { headers: Vec<(String, Vec<u8>)>, body: Vec<u8> },
    /// The filter answered itself.
    Local(LocalReply),
    /// The filter paused it (waiting for an HTTP call or the shared store).
    Paused { context: u32 },
}

impl Outcome {
    pub fn status(&self) -> u32 {
        match self {
            Outcome::Forwarded { .. } => 200,
            Outcome::Local(r) => r.status,
            Outcome::Paused { .. } => 0,
        }
    }

    pub fn is_forwarded(&self) -> bool {
        matches!(self, Outcome::Forwarded { .. })
    }

    /// A header of the local reply.
    pub fn reply_header(&self, name: &str) -> Option<String> {
        match self {
            Outcome::Local(r) => r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    pub fn reply_json(&self) -> serde_json::Value {
        match self {
            Outcome::Local(r) => serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        }
    }

    /// A header as it goes upstream (only for a forwarded request).
    pub fn upstream(&self, name: &str) -> Option<String> {
        match self {
            Outcome::Forwarded { headers, .. } => {
                headers.iter().find(|(k, _)| k == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            }
            _ => None,
        }
    }

    /// The body as it goes upstream.
    pub fn upstream_body(&self) -> Option<String> {
        match self {
            Outcome::Forwarded { body, .. } => Some(String::from_utf8_lossy(body).into_owned()),
            _ => None,
        }
    }

    pub fn upstream_count(&self, name: &str) -> usize {
        match self {
            Outcome::Forwarded { headers, .. } => headers.iter().filter(|(k, _)| k == name).count(),
            _ => 0,
        }
    }
}

/// A request to run through the filter.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub headers: Vec<(String, Vec<u8>)>,
    pub route_name: Option<String>,
    pub metadata: Vec<(String, String)>,
    /// If forwarded, the upstream answers with this status (runs the response phase).
    pub upstream_status: Option<u16>,
    pub body: Option<Vec<u8>>,
    /// Host properties of the request (path parts joined by NUL).
    pub properties: Vec<(String, Vec<u8>)>,
}

impl Request {
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn new(method: &str, path: &str) -> Request {
        Request {
            headers: vec![
                (":method".into(), method.as_bytes().to_vec()),
                (":path".into(), path.as_bytes().to_vec()),
                (":authority".into(), b"api.test".to_vec()),
                (":scheme".into(), b"http".to_vec()),
            ],
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn scheme(mut self, scheme: &str) -> Request {
        self.headers.retain(|(k, _)| k != ":scheme");
        self.header(":scheme", scheme)
    }

    pub fn authority(mut self, host: &str) -> Request {
        self.headers.retain(|(k, _)| k != ":authority");
        self.header(":authority", host)
    }

    /// A request body (sent in one piece after the headers).
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Request {
        self.body = Some(body.as_ref().to_vec());
        self
    }

    pub fn upstream_answers(mut self, status: u16) -> Request {
        self.upstream_status = Some(status);
        self
    }

    pub fn route_name(mut self, name: &str) -> Request {
        self.route_name = Some(name.into());
        self
    }

    /// The client certificate's SHA-256 as Envoy gives it (hex), for a TLS connection.
    pub fn client_certificate_sha256(mut self, hex: &str) -> Request {
        self.properties.push(("connection\0sha256_peer_certificate_digest".into(), hex.as_bytes().to_vec()));
        self
    }

    /// `filter_metadata.<namespace>.<key>` on the route.
    pub fn metadata(mut self, namespace: &str, key: &str, value: &str) -> Request {
        self.metadata.push((format!("{namespace}\0{key}"), value.into()));
        self
    }
}

impl Vm {
    pub fn state(&self) -> &HostState {
        self.store.data()
    }

    /// The size of the VM's linear memory, in bytes (it only grows).
    pub fn memory_bytes(&mut self) -> usize {
        match self.instance.get_memory(&mut self.store, "memory") {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }

    /// The VM's linear memory, to read or change between callbacks.
    pub fn memory_mut(&mut self) -> &mut [u8] {
        match self.instance.get_memory(&mut self.store, "memory") {
            Some(m) => m.data_mut(&mut self.store),
            None => &mut [],
        }
    }

    pub fn logs(&self) -> &[(u32, String)] {
        &self.store.data().logs
    }

    /// Every log line joined, for `contains` checks.
    pub fn log_text(&self) -> String {
        self.logs().iter().map(|(l, m)| format!("[{l}] {m}\n")).collect()
    }

    pub fn calls(&self) -> &[HttpCall] {
        &self.store.data().calls
    }

    pub fn metric(&self, name: &str) -> Option<i64> {
        self.store.data().metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    fn trap_check<T>(&self, r: wasmtime::Result<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("the VM trapped: {e:?}\n--- VM log ---\n{}", self.log_text()),
        }
    }

    fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(&mut self, name: &str) -> TypedFunc<P, R> {
        self.instance
            .get_typed_func::<P, R>(&mut self.store, name)
            .unwrap_or_else(|e| panic!("export {name}: {e}"))
    }

    fn call2(&mut self, name: &str, a: i32, b: i32) {
        let f = self.func::<(i32, i32), ()>(name);
        let r = f.call(&mut self.store, (a, b));
        self.trap_check(r)
    }

    fn call1(&mut self, name: &str, a: i32) {
        let f = self.func::<i32, ()>(name);
        let r = f.call(&mut self.store, a);
        self.trap_check(r)
    }

    fn call_ii_i(&mut self, name: &str, a: i32, b: i32) -> i32 {
        self.store.data_mut().effective_context = a as u32;
        let f = self.func::<(i32, i32), i32>(name);
        let r = f.call(&mut self.store, (a, b));
        self.trap_check(r)
    }

    /// Calls an allocating export (`proxy_on_memory_allocate`, or `malloc` as the proxy-wasm
    /// test framework does) for `size` bytes; the pointer it returns.
    pub fn allocate_through(&mut self, export: &str, size: i32) -> i32 {
        let f = self.func::<i32, i32>(export);
        let r = f.call(&mut self.store, size);
        self.trap_check(r)
    }

    /// Records every host call from now on (see `HostState::trace`).
    pub fn start_trace(&mut self) {
        self.store.data_mut().trace = Some(Vec::new());
        self.store.data_mut().fuel_at = Some(Vec::new());
    }

    /// Records the functions a build instrumented by tools/hot_functions.py enters from now on.
    pub fn start_cover(&mut self) {
        self.store.data_mut().entered = Some(Vec::new());
    }

    /// The functions entered since `start_cover`, each once, in the order first entered.
    pub fn take_cover(&mut self) -> Vec<u32> {
        let mut seen = std::collections::HashSet::new();
        self.take_entries().into_iter().filter(|f| seen.insert(*f)).collect()
    }

    /// Every function entry since `start_cover`, in order (a function as often as it was
    /// entered).
    pub fn take_entries(&mut self) -> Vec<u32> {
        self.store.data_mut().entered.take().unwrap_or_default()
    }

    /// The host calls recorded since `start_trace`, as (callback, call); tracing stops.
    pub fn take_fuel_marks(&mut self) -> Vec<u64> {
        self.store.data_mut().fuel_at.take().unwrap_or_default()
    }

    pub fn take_trace(&mut self) -> Vec<(&'static str, String)> {
        self.store.data_mut().trace.take().unwrap_or_default()
    }

    /// A property the filter set during the last request (Envoy: filter state `wasm.<name>`).
    pub fn property_set(&self, name: &str) -> Option<String> {
        self.store.data().properties.get(name).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Runs the request's headers through the filter.
    /// Wasm operators executed since the VM started (with OAUTH_FILTER_FUEL set; else 0).
    pub fn fuel_used(&self) -> u64 {
        self.store.get_fuel().map_or(0, |left| u64::MAX - left)
    }

    pub fn send(&mut self, req: Request) -> Outcome {
        let ctx = self.next_context;
        self.next_context += 1;
        self.sent_before_body = None;
        {
            let s = self.store.data_mut();
            s.streams.insert(ctx, crate::state::Stream { request_headers: req.headers.clone(), ..Default::default() });
            s.properties.clear();
            if let Some(name) = &req.route_name {
                s.properties.insert("xds\0route_name".into(), name.as_bytes().to_vec());
            }
            for (path, value) in &req.metadata {
                s.properties.insert(format!("xds\0route_metadata\0filter_metadata\0{path}"), value.as_bytes().to_vec());
            }
            for (path, value) in &req.properties {
                s.properties.insert(path.clone(), value.clone());
            }
            s.effective_context = ctx;
        }
        self.store.data_mut().callback = "context_create";
        self.call2("proxy_on_context_create", ctx as i32, ROOT_ID as i32);
        self.store.data_mut().callback = "request_headers";
        let n = req.headers.len() as i32;
        let f = self.func::<(i32, i32, i32), i32>("proxy_on_request_headers");
        let eos = i32::from(req.body.is_none());
        let r = f.call(&mut self.store, (ctx as i32, n, eos));
        let mut action = self.trap_check(r);
        self.deliver_queues();
        if let Some(body) = &req.body {
            let replied = self.store.data().streams.get(&ctx).is_some_and(|s| s.local_reply.is_some());
            // As a plain Istio WasmPlugin loads the filter (no `allow_on_headers_stop_iteration`):
            // a pause in the headers holds the body back, and on_request_body is not called.
            // A filter that holds an endpoint request for its body ticks fast meanwhile and
            // lets it go on (continue_stream) when the body does not come: Envoy then sends the
            // headers on and hands the buffered body to the filter.
            if !replied && action == 1 && self.store.data().tick_period_ms > 0 && self.store.data().tick_period_ms <= 10 {
                for _ in 0..10 {
                    let period = u64::from(self.store.data().tick_period_ms.max(1));
                    self.store.data().clock.advance_millis(period);
                    self.tick();
                    self.store.data_mut().effective_context = ctx;
                    if self.store.data().streams.get(&ctx).is_some_and(|st| st.continued) {
                        action = 0;
                        self.store.data_mut().stream().continued = false;
                        break;
                    }
                }
            }
            let replied = self.store.data().streams.get(&ctx).is_some_and(|s| s.local_reply.is_some());
            if action == 0 && !replied {
                let s = self.store.data_mut();
                s.effective_context = ctx;
                let sent = s.stream().request_headers.clone();
                s.stream().sent_headers = Some(sent.clone());
                self.sent_before_body = Some(sent);
            }
            if !replied && action == 0 {
                {
                    let s = self.store.data_mut();
                    s.effective_context = ctx;
                    s.stream().request_body = body.clone();
                }
                self.store.data_mut().callback = "request_body";
                let f = self.func::<(i32, i32, i32), i32>("proxy_on_request_body");
                let r = f.call(&mut self.store, (ctx as i32, body.len() as i32, 1));
                let body_action = self.trap_check(r);
                self.deliver_queues();
                // Headers paused for the body: the request goes on when the body goes on.
                action = body_action;
            }
        }
        let outcome = self.outcome(ctx, action == 0);
        if let (Outcome::Forwarded { .. }, Some(status)) = (&outcome, req.upstream_status) {
            {
                let s = self.store.data_mut();
                s.effective_context = ctx;
                s.stream().response_headers = vec![(":status".into(), status.to_string().into_bytes())];
            }
            self.store.data_mut().callback = "response_headers";
            let f = self.func::<(i32, i32, i32), i32>("proxy_on_response_headers");
            let r = f.call(&mut self.store, (ctx as i32, 1, 1));
            self.trap_check(r);
        }
        if !matches!(outcome, Outcome::Paused { .. }) {
            self.finish(ctx);
        }
        outcome
    }

    fn outcome(&mut self, ctx: u32, continued: bool) -> Outcome {
        if let Some(done) = self.finished.get(&ctx) {
            return done.clone();
        }
        let Some(s) = self.store.data().streams.get(&ctx) else { return Outcome::Paused { context: ctx } };
        if let Some(reply) = &s.local_reply {
            return Outcome::Local(reply.clone());
        }
        if continued || s.continued {
            let headers = s.sent_headers.clone().unwrap_or_else(|| s.request_headers.clone());
            return Outcome::Forwarded { headers, body: s.request_body.clone() };
        }
        Outcome::Paused { context: ctx }
    }

    fn finish(&mut self, ctx: u32) {
        let outcome = self.outcome(ctx, false);
        self.finished.insert(ctx, outcome);
        self.store.data_mut().streams.remove(&ctx);
        self.store.data_mut().callback = "done";
        let f = self.func::<i32, i32>("proxy_on_done");
        let r = f.call(&mut self.store, ctx as i32);
        self.trap_check(r);
        self.store.data_mut().callback = "log";
        self.call1("proxy_on_log", ctx as i32);
        self.store.data_mut().callback = "delete";
        self.call1("proxy_on_delete", ctx as i32);
        self.store.data_mut().callback = "";
    }

    /// Answers the HTTP call `token` and returns what became of the request that made it
    /// (for a call made by the root context, the outcome is `Paused { context: ROOT_ID }`).
    pub fn answer(&mut self, token: u32, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Outcome {
        let Some(call) = self.calls().iter().find(|c| c.token == token).cloned() else {
            panic!("no HTTP call with token {token}")
        };
        let mut all: Vec<(String, String)> = vec![(":status".into(), status.to_string())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let n = all.len() as i32;
        {
            let s = self.store.data_mut();
            s.call_answer = Some((all, body.to_vec()));
            s.effective_context = call.context_id;
        }
        self.store.data_mut().answered.push(token);
        let f = self.func::<(i32, i32, i32, i32, i32), ()>("proxy_on_http_call_response");
        let r = f.call(&mut self.store, (call.context_id as i32, token as i32, n, body.len() as i32, 0));
        self.store.data_mut().call_answer = None;
        self.trap_check(r);
        let outcome = self.outcome(call.context_id, false);
        if call.context_id != ROOT_ID && !matches!(outcome, Outcome::Paused { .. }) {
            self.finish(call.context_id);
        }
        outcome
    }

    /// The call failed without an answer (reset, timeout): Envoy reports 0 headers, no body.
    pub fn fail_call(&mut self, token: u32) -> Outcome {
        let Some(call) = self.calls().iter().find(|c| c.token == token).cloned() else {
            panic!("no HTTP call with token {token}")
        };
        {
            let s = self.store.data_mut();
            s.call_answer = None;
            s.effective_context = call.context_id;
        }
        self.store.data_mut().answered.push(token);
        let f = self.func::<(i32, i32, i32, i32, i32), ()>("proxy_on_http_call_response");
        let r = f.call(&mut self.store, (call.context_id as i32, token as i32, 0, 0, 0));
        self.trap_check(r);
        let outcome = self.outcome(call.context_id, false);
        if call.context_id != ROOT_ID && !matches!(outcome, Outcome::Paused { .. }) {
            self.finish(call.context_id);
        }
        outcome
    }

    /// Makes the host refuse HTTP calls to `cluster`, as Envoy does for an unknown cluster.
    pub fn refuse_cluster(&mut self, cluster: &str) {
        self.store.data_mut().unknown_clusters.push(cluster.to_string());
    }

    /// As Envoy posts a shared queue's readiness to the worker that registered it: after the
    /// callback that enqueued, this VM's root context gets `on_queue_ready` for each of its
    /// queues that holds messages.
    fn deliver_queues(&mut self) {
        let me = self.store.data().vm_index;
        let ready: Vec<(u32, u32)> = {
            let Ok(s) = self.store.data().shared.lock() else { return };
            s.queue_owner
                .iter()
                .filter(|(id, (vm, _))| *vm == me && s.queue_items.get(id).is_some_and(|q| !q.is_empty()))
                .map(|(id, (_, ctx))| (*id, *ctx))
                .collect()
        };
        for (id, ctx) in ready {
            self.store.data_mut().effective_context = ctx;
            self.store.data_mut().callback = "queue_ready";
            self.call2("proxy_on_queue_ready", ctx as i32, id as i32);
        }
    }

    /// The headers the last request sent upstream when its headers callback let them go on
    /// before its body (None if it did not): what reached the route's cluster whatever the
    /// filter then answered from the body.
    pub fn headers_sent_before_body(&self) -> Option<Vec<(String, String)>> {
        self.sent_before_body
            .as_ref()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect())
    }

    /// The client of the paused request `context` goes away: Envoy ends the stream and cancels
    /// every HTTP call that stream's context made (never answered).
    pub fn abort(&mut self, context: u32) {
        let cancelled: Vec<u32> = self.calls().iter().filter(|c| c.context_id == context).map(|c| c.token).collect();
        self.store.data_mut().answered.extend(cancelled);
        self.finish(context);
    }

    /// The request trailers of the paused request `context` (an HTTP/2 request with a body
    /// and trailers): whether the filter lets them go on (Envoy then resumes the stream).
    pub fn trailers(&mut self, context: u32) -> bool {
        self.store.data_mut().effective_context = context;
        let f = self.func::<(i32, i32), i32>("proxy_on_request_trailers");
        let r = f.call(&mut self.store, (context as i32, 1));
        self.trap_check(r) == 0
    }

    /// One timer tick of the root context.
    pub fn tick(&mut self) {
        self.store.data_mut().effective_context = ROOT_ID;
        self.store.data_mut().callback = "tick";
        self.call1("proxy_on_tick", ROOT_ID as i32);
    }

    /// The host ends the root context (Envoy replacing the configuration or stopping):
    /// whether the filter is done at once.
    pub fn done(&mut self) -> bool {
        self.store.data_mut().effective_context = ROOT_ID;
        self.store.data_mut().callback = "done";
        let f = self.func::<i32, i32>("proxy_on_done");
        let r = f.call(&mut self.store, ROOT_ID as i32);
        self.trap_check(r) != 0
    }

    /// The paused request `context`: what became of it since (finished when no longer paused).
    pub fn poll(&mut self, context: u32) -> Outcome {
        let outcome = self.outcome(context, false);
        if !matches!(outcome, Outcome::Paused { .. }) && !self.finished.contains_key(&context) {
            self.finish(context);
        }
        outcome
    }

    /// The HTTP calls not answered yet.
    pub fn pending_calls(&self) -> Vec<HttpCall> {
        let answered = &self.store.data().answered;
        self.calls().iter().filter(|c| !answered.contains(&c.token)).cloned().collect()
    }
}
