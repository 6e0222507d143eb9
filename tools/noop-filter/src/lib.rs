//! The cheapest proxy-wasm HTTP filter there is: a context per request and nothing else. Its
//! cost in `make bench` is what any Wasm filter pays in Envoy before doing any work.
//!
//! With a configuration `{"op": "<kind>", "n": N}` it also makes N host calls of one kind on
//! every request's headers, so `make bench` can put a price on each kind of call (the extra
//! CPU per request over the empty filter, divided by N). The calls go straight to the ABI,
//! as the filter's own `src/host.rs` makes them.

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
}

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(Noop::default()));
}}

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
}

#[derive(Clone, Copy, Default)]
struct Noop {
    op: Op,
    n: u32,
    metric: u32,
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
            Op::Nothing => {}
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

impl Context for Noop {}

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
            _ => Op::Nothing,
        };
        self.n = field("n").and_then(|n| n.parse().ok()).unwrap_or(0);
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
        Some(Box::new(*self))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _n: usize, _end: bool) -> Action {
        if self.op != Op::Nothing {
            for _ in 0..self.n {
                call(self.op, self.metric);
            }
        }
        Action::Continue
    }
}
