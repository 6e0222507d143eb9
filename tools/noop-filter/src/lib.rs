//! The cheapest proxy-wasm HTTP filter there is: a context per request and nothing else. Its
//! cost in `make bench` is what any Wasm filter pays in Envoy before doing any work.
//!
//! With a configuration `{"op": "<kind>", "n": N}` it also makes N host calls of one kind on
//! every request's headers, so `make bench` can put a price on each kind of call (the extra
//! CPU per request over the empty filter, divided by N). The calls go straight to the ABI,
//! as the filter's own `src/host.rs` makes them.
//!
//! Built with the `synthetic` feature, with `{"op": "branches", "n": N}` or
//! `{"op": "straight", "n": N}` it runs N × 500 statements of synthetic code on every
//! request's headers instead (build.rs writes them, each with its
//! own constants): `branches` an `if` per statement, whose direction is the same on every
//! request, `straight` the same arithmetic with no test. Against the empty filter in Envoy
//! and in V8 alone, they price what a request pays for each distinct branch it runs in Envoy
//! (BENCHMARKS.md, "What a branch costs in Envoy").
//!
//! With a configuration that is a host-call recording instead (lines `callback op hexargs…`,
//! as `test-harness/examples/twins.rs` writes them from the built filter on one request), it
//! is that path's *twin*: it makes exactly those calls, in that order, with those arguments, in
//! the same callbacks, and nothing else. Filter − twin is the price of the filter's own logic;
//! twin − empty filter is the price of the host calls the filter chose to make. Built with
//! `synthetic`, a recording may also hold `<callback> synthetic NN` lines (NN: chunks, a
//! little-endian hex word, as the other numbers): that much synthetic `branches` code runs at
//! that point, so the same code is priced before or after a host call. Any build takes
//! `<callback> away NN` lines (NN: nanoseconds, a little-endian hex word): the filter stays
//! that long at that point, reading the host's clock until it has passed, so a host call can be
//! made to last longer by as much in a twin as in a filter built to do the same.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use std::ptr::null_mut;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(map: u32, k: *const u8, ks: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(map: u32, k: *const u8, ks: usize, v: *const u8, vs: usize) -> u32;
    fn proxy_remove_header_map_value(map: u32, k: *const u8, ks: usize) -> u32;
    fn proxy_get_property(path: *const u8, ps: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_shared_data(k: *const u8, ks: usize, data: *mut *mut u8, size: *mut usize, cas: *mut u32) -> u32;
    fn proxy_set_shared_data(k: *const u8, ks: usize, v: *const u8, vs: usize, cas: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_add_header_map_value(map: u32, k: *const u8, ks: usize, v: *const u8, vs: usize) -> u32;
    fn proxy_set_property(path: *const u8, ps: usize, data: *const u8, size: usize) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_log(level: u32, msg: *const u8, size: usize) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(Noop::default()));
}}

/// Where the synthetic code stores (so no statement can be dropped).
#[cfg(feature = "synthetic")]
static mut SINK: u64 = 0;

#[cfg(feature = "synthetic")]
mod synthetic {
    use super::SINK;
    pub const BUILT: bool = true;
    include!(concat!(env!("OUT_DIR"), "/synthetic.rs"));
}

/// Built without the `synthetic` feature (as `make bench`'s floor and twins are): no such code,
/// and a configuration asking for it is refused.
#[cfg(not(feature = "synthetic"))]
mod synthetic {
    pub const BUILT: bool = false;
    pub fn branches(_n: u32, _flags: u64, acc: u64) -> u64 {
        acc
    }
    pub fn straight(_n: u32, _flags: u64, acc: u64) -> u64 {
        acc
    }
}

/// A value the compiler cannot see: each synthetic `if` goes the same way on every request.
fn flags() -> u64 {
    std::hint::black_box(0x9E37_79B9_7F4A_7C15)
}

#[derive(Clone, Copy, Default, PartialEq)]
enum Op {
    #[default]
    Nothing,
    HeaderMap,
    Header,
    Replace,
    Remove,
    Property,
    Counter,
    SharedGet,
    Time,
    Branches,
    Straight,
}

#[derive(Clone, Default)]
struct Noop {
    op: Op,
    n: u32,
    metric: u32,
    twin: std::rc::Rc<Twin>,
}

/// A recorded path: the calls of each callback.
#[derive(Default)]
struct Twin {
    context_create: Vec<Call>,
    request_headers: Vec<Call>,
    response_headers: Vec<Call>,
    done: Vec<Call>,
    log: Vec<Call>,
    /// Other recorded arguments of the path's foreign call (`variant foreign NAME ARGS` lines),
    /// one per token of the set the filter is measured with. Each request replays the next one,
    /// so the host's check sees as many distinct signatures as it does under the filter.
    variants: Vec<Vec<u8>>,
}

enum Call {
    HeaderMap(u32),
    Header(u32, Vec<u8>),
    Replace(u32, Vec<u8>, Vec<u8>),
    Add(u32, Vec<u8>, Vec<u8>),
    Remove(u32, Vec<u8>),
    Property(Vec<u8>),
    SetProperty(Vec<u8>, Vec<u8>),
    SharedGet(Vec<u8>),
    SharedSet(Vec<u8>, Vec<u8>),
    MetricInc(u32, i64),
    MetricRecord(u32, u64),
    Time,
    Log(u32, Vec<u8>),
    LogLevel,
    Foreign(Vec<u8>, Vec<u8>),
    Buffer(u32),
    WasiClock,
    WasiRandom(usize),
    /// Not a host call: a `synthetic NN` line (see the module's doc).
    Synthetic(u32),
    /// Not a host call of the filter's: an `away NN` line (see the module's doc).
    Away(u64),
}

fn unhex(word: &str) -> Option<Vec<u8>> {
    if word == "-" {
        return Some(Vec::new());
    }
    (0..word.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(word.get(i..i + 2)?, 16).ok())
        .collect()
}

fn word_u32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(w)
}

fn word_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

/// Parses a recording; defines its metrics and seeds its shared-data keys (values of the
/// recorded sizes), so each call finds what it found in the filter. None names nothing: a
/// call the twin cannot replay refuses the configuration (a twin that skipped calls would
/// flatter the filter).
fn parse_twin(text: &str) -> Option<Twin> {
    let mut twin = Twin::default();
    let mut metrics: Vec<(Vec<u8>, u32)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (callback, op) = (words.next()?, words.next()?);
        let args: Vec<Vec<u8>> = words.map(unhex).collect::<Option<_>>()?;
        let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
        let mut metric = |name: Vec<u8>| -> u32 {
            if let Some((_, id)) = metrics.iter().find(|(n, _)| *n == name) {
                return *id;
            }
            let mut id = 0;
            // SAFETY: pointer and length come from a live slice; the out-pointer is valid.
            unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) };
            metrics.push((name, id));
            id
        };
        let call = match op {
            "header_map" => Call::HeaderMap(word_u32(&arg(0))),
            "header" => Call::Header(word_u32(&arg(0)), arg(1)),
            "replace" => Call::Replace(word_u32(&arg(0)), arg(1), arg(2)),
            "add" => Call::Add(word_u32(&arg(0)), arg(1), arg(2)),
            "remove" => Call::Remove(word_u32(&arg(0)), arg(1)),
            "property" => Call::Property(arg(0)),
            "set_property" => Call::SetProperty(arg(0), arg(1)),
            "shared_get" => {
                let (key, size) = (arg(0), word_u32(&arg(1)) as usize);
                if size > 0 {
                    let value = vec![b'v'; size];
                    // SAFETY: as above.
                    unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), 0) };
                }
                Call::SharedGet(key)
            }
            "shared_set" => Call::SharedSet(arg(0), arg(1)),
            "metric_inc" => Call::MetricInc(metric(arg(0)), word_u64(&arg(1)) as i64),
            "metric_record" => Call::MetricRecord(metric(arg(0)), word_u64(&arg(1))),
            "time" => Call::Time,
            "log" => Call::Log(word_u32(&arg(0)), arg(1)),
            "log_level" => Call::LogLevel,
            "foreign" => Call::Foreign(arg(0), arg(1)),
            "buffer" => Call::Buffer(word_u32(&arg(0))),
            "wasi_clock" => Call::WasiClock,
            "wasi_random" => Call::WasiRandom(word_u32(&arg(0)) as usize),
            "synthetic" if synthetic::BUILT => Call::Synthetic(word_u32(&arg(0))),
            "away" => Call::Away(word_u64(&arg(0))),
            _ => return None,
        };
        if let ("variant", Call::Foreign(_, args)) = (callback, &call) {
            twin.variants.push(args.clone());
            continue;
        }
        match callback {
            "context_create" => twin.context_create.push(call),
            "request_headers" => twin.request_headers.push(call),
            "response_headers" => twin.response_headers.push(call),
            "done" => twin.done.push(call),
            "log" => twin.log.push(call),
            _ => return None,
        }
    }
    Some(twin)
}

thread_local! {
    static NEXT_VARIANT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The foreign call's arguments for this request: the next variant, if the twin has any.
fn foreign_args<'a>(recorded: &'a [u8], variants: &'a [Vec<u8>]) -> &'a [u8] {
    if variants.is_empty() {
        return recorded;
    }
    let i = NEXT_VARIANT.with(|n| {
        let i = n.get();
        n.set(if i + 1 >= variants.len() { 0 } else { i + 1 });
        i
    });
    variants.get(i).map_or(recorded, |v| v.as_slice())
}

fn replay(calls: &[Call], variants: &[Vec<u8>]) {
    for c in calls {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: pointers and lengths come from live slices; out-pointers are valid for writes.
        unsafe {
            match c {
                Call::HeaderMap(map) => {
                    proxy_get_header_map_pairs(*map, &mut data, &mut size);
                }
                Call::Header(map, k) => {
                    proxy_get_header_map_value(*map, k.as_ptr(), k.len(), &mut data, &mut size);
                }
                Call::Replace(map, k, v) => {
                    proxy_replace_header_map_value(*map, k.as_ptr(), k.len(), v.as_ptr(), v.len());
                }
                Call::Add(map, k, v) => {
                    proxy_add_header_map_value(*map, k.as_ptr(), k.len(), v.as_ptr(), v.len());
                }
                Call::Remove(map, k) => {
                    proxy_remove_header_map_value(*map, k.as_ptr(), k.len());
                }
                Call::Property(p) => {
                    proxy_get_property(p.as_ptr(), p.len(), &mut data, &mut size);
                }
                Call::SetProperty(p, v) => {
                    proxy_set_property(p.as_ptr(), p.len(), v.as_ptr(), v.len());
                }
                Call::SharedGet(k) => {
                    let mut cas = 0u32;
                    proxy_get_shared_data(k.as_ptr(), k.len(), &mut data, &mut size, &mut cas);
                }
                Call::SharedSet(k, v) => {
                    proxy_set_shared_data(k.as_ptr(), k.len(), v.as_ptr(), v.len(), 0);
                }
                Call::MetricInc(id, by) => {
                    proxy_increment_metric(*id, *by);
                }
                Call::MetricRecord(id, v) => {
                    proxy_record_metric(*id, *v);
                }
                Call::Time => {
                    let mut t = 0u64;
                    proxy_get_current_time_nanoseconds(&mut t);
                }
                Call::Log(level, m) => {
                    proxy_log(*level, m.as_ptr(), m.len());
                }
                Call::LogLevel => {
                    let mut l = 0u32;
                    proxy_get_log_level(&mut l);
                }
                Call::Foreign(name, args) => {
                    let args = foreign_args(args, variants);
                    proxy_call_foreign_function(name.as_ptr(), name.len(), args.as_ptr(), args.len(), &mut data, &mut size);
                }
                Call::Buffer(kind) => {
                    proxy_get_buffer_bytes(*kind, 0, usize::MAX, &mut data, &mut size);
                }
                Call::WasiClock => {
                    let mut t = 0u64;
                    clock_time_get(0, 1, &mut t);
                }
                Call::WasiRandom(n) => {
                    let mut buf = vec![0u8; *n];
                    random_get(buf.as_mut_ptr(), buf.len());
                }
                Call::Synthetic(n) => {
                    std::hint::black_box(synthetic::branches(*n, flags(), 0));
                }
                Call::Away(ns) => {
                    let mut t = 0u64;
                    proxy_get_current_time_nanoseconds(&mut t);
                    let end = t.saturating_add(*ns);
                    // Bounded: a clock that did not move would otherwise hold the worker for ever
                    // (a read of it takes well over 10 ns).
                    for _ in 0..*ns / 10 {
                        if t >= end {
                            break;
                        }
                        proxy_get_current_time_nanoseconds(&mut t);
                    }
                }
            }
        }
        free(data, size);
    }
}

/// Frees a host-allocated answer (allocated through the SDK's `proxy_on_memory_allocate`).
fn free(data: *mut u8, size: usize) {
    if !data.is_null() && size > 0 {
        // SAFETY: the host filled `data` with `size` bytes allocated by the SDK as a boxed slice.
        drop(unsafe { Vec::from_raw_parts(data, size, size) });
    }
}

fn call(op: Op, metric: u32) {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: pointers and lengths come from live slices; out-pointers are valid for writes.
    unsafe {
        match op {
            Op::Nothing | Op::Branches | Op::Straight => {}
            Op::HeaderMap => {
                proxy_get_header_map_pairs(0, &mut data, &mut size);
            }
            Op::Header => {
                let k = ":path";
                proxy_get_header_map_value(0, k.as_ptr(), k.len(), &mut data, &mut size);
            }
            Op::Replace => {
                let (k, v) = ("x-bench", "value");
                proxy_replace_header_map_value(0, k.as_ptr(), k.len(), v.as_ptr(), v.len());
            }
            Op::Remove => {
                let k = "x-bench";
                proxy_remove_header_map_value(0, k.as_ptr(), k.len());
            }
            Op::Property => {
                let p = "xds\0route_name";
                proxy_get_property(p.as_ptr(), p.len(), &mut data, &mut size);
            }
            Op::Counter => {
                proxy_increment_metric(metric, 1);
            }
            Op::SharedGet => {
                let (k, mut cas) = ("bench/key", 0u32);
                proxy_get_shared_data(k.as_ptr(), k.len(), &mut data, &mut size, &mut cas);
            }
            Op::Time => {
                let mut t = 0u64;
                proxy_get_current_time_nanoseconds(&mut t);
            }
        }
    }
    free(data, size);
}

impl Context for Noop {
    fn on_done(&mut self) -> bool {
        replay(&self.twin.done, &self.twin.variants);
        true
    }
}

impl RootContext for Noop {
    fn on_configure(&mut self, _size: usize) -> bool {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: as in `call`.
        unsafe { proxy_get_buffer_bytes(7, 0, usize::MAX, &mut data, &mut size) };
        let text = if data.is_null() || size == 0 {
            String::new()
        } else {
            // SAFETY: as in `free`.
            String::from_utf8(unsafe { Vec::from_raw_parts(data, size, size) }).unwrap_or_default()
        };
        if !text.trim_start().starts_with('{') && !text.trim().is_empty() {
            return match parse_twin(&text) {
                Some(twin) => {
                    self.twin = std::rc::Rc::new(twin);
                    true
                }
                None => false,
            };
        }
        let field = |name: &str| {
            let at = text.find(&format!("\"{name}\""))? + name.len() + 2;
            let rest = text.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            Some(rest.get(..end)?.trim().trim_matches('"').to_string())
        };
        self.op = match field("op").as_deref() {
            Some("header_map") => Op::HeaderMap,
            Some("header") => Op::Header,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            Some("property") => Op::Property,
            Some("counter") => Op::Counter,
            Some("shared_get") => Op::SharedGet,
            Some("time") => Op::Time,
            Some("branches") => Op::Branches,
            Some("straight") => Op::Straight,
            _ => Op::Nothing,
        };
        self.n = field("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        if matches!(self.op, Op::Branches | Op::Straight) && !synthetic::BUILT {
            return false;
        }
        let name = "bench.counter";
        // SAFETY: as in `call`.
        unsafe {
            proxy_define_metric(0, name.as_ptr(), name.len(), &mut self.metric);
            let (k, v) = ("bench/key", "a shared value of a few dozen bytes, as a cache slot");
            proxy_set_shared_data(k.as_ptr(), k.len(), v.as_ptr(), v.len(), 0);
        }
        true
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        replay(&self.twin.context_create, &self.twin.variants);
        Some(Box::new(self.clone()))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _n: usize, _end: bool) -> Action {
        if self.op == Op::Branches {
            std::hint::black_box(synthetic::branches(self.n, flags(), u64::from(self.metric)));
        } else if self.op == Op::Straight {
            std::hint::black_box(synthetic::straight(self.n, flags(), u64::from(self.metric)));
        } else if self.op != Op::Nothing {
            for _ in 0..self.n {
                call(self.op, self.metric);
            }
        }
        replay(&self.twin.request_headers, &self.twin.variants);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, _end: bool) -> Action {
        replay(&self.twin.response_headers, &self.twin.variants);
        Action::Continue
    }

    fn on_log(&mut self) {
        replay(&self.twin.log, &self.twin.variants);
    }
}
