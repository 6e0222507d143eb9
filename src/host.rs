//! The host calls the filter makes, over the raw proxy-wasm ABI. The SDK's own wrappers panic
//! on a status they did not expect, or on a non-UTF-8 header value; these return what the
//! host said and never panic.

use oauth_core::decision::request::Headers;
use std::ptr::null_mut;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(map: u32, k: *const u8, ks: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(map: u32, k: *const u8, ks: usize, v: *const u8, vs: usize) -> u32;
    fn proxy_remove_header_map_value(map: u32, k: *const u8, ks: usize) -> u32;
    fn proxy_get_property(path: *const u8, ps: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_property(path: *const u8, ps: usize, data: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_get_shared_data(k: *const u8, ks: usize, data: *mut *mut u8, size: *mut usize, cas: *mut u32) -> u32;
    fn proxy_set_shared_data(k: *const u8, ks: usize, v: *const u8, vs: usize, cas: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_register_shared_queue(name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_enqueue_shared_queue(id: u32, data: *const u8, size: usize) -> u32;
    fn proxy_dequeue_shared_queue(id: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(kind: u32, start: usize, size: usize, data: *const u8, len: usize) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

const OK: u32 = 0;
const CAS_MISMATCH: u32 = 8;
const REQUEST_HEADERS: u32 = 0;
const CALL_RESPONSE_HEADERS: u32 = 6;
const RESPONSE_HEADERS: u32 = 2;
const CALL_RESPONSE_BODY: u32 = 4;
const PLUGIN_CONFIGURATION: u32 = 7;
const REQUEST_BODY: u32 = 0;

/// Takes ownership of a host-allocated buffer (allocated through `proxy_on_memory_allocate`).
fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        return Vec::new();
    }
    // SAFETY: the host filled `data` with `size` bytes it allocated through the SDK's
    // `proxy_on_memory_allocate`, which hands out a boxed slice of exactly `size` bytes.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

/// The request headers, values as bytes; empty if the host refuses.
pub fn request_headers() -> Headers {
    header_map(REQUEST_HEADERS)
}

/// The upstream's response status (0 if unknown): one header read, not the whole map.
pub fn response_status() -> u32 {
    let (mut data, mut size, name) = (null_mut(), 0usize, ":status");
    // SAFETY: pointer and length come from a live string; the out-pointers are valid for writes.
    let status = unsafe { proxy_get_header_map_value(RESPONSE_HEADERS, name.as_ptr(), name.len(), &mut data, &mut size) };
    let bytes = take(data, size);
    if status != OK {
        return 0;
    }
    std::str::from_utf8(&bytes).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The status of the HTTP call answer being delivered (0 when there is none: reset, timeout),
/// and how long it asks not to be called again (`Retry-After` on a 429 or 503), in one read.
pub fn call_response_head() -> (u32, Option<u64>) {
    let headers = header_map(CALL_RESPONSE_HEADERS);
    let find = |name: &str| headers.first(name).and_then(|v| std::str::from_utf8(v).ok());
    let status = find(":status").and_then(|v| v.parse().ok()).unwrap_or(0);
    (status, oauth_core::idp::lease::retry_after(status, find("retry-after")))
}

/// The body of the HTTP call answer being delivered, at most `max` bytes.
pub fn call_response_body(size: usize, max: usize) -> Vec<u8> {
    buffer(CALL_RESPONSE_BODY, size.min(max)).unwrap_or_default()
}

fn header_map(map: u32) -> Headers {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: the out-pointers are valid for writes for the duration of the call.
    let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
    let bytes = take(data, size);
    if status != OK {
        return Headers::default();
    }
    Headers::from_wire(bytes).unwrap_or_default()
}

pub fn set_request_header(name: &str, value: &str) -> bool {
    // SAFETY: pointers and lengths come from live slices.
    unsafe {
        proxy_replace_header_map_value(REQUEST_HEADERS, name.as_ptr(), name.len(), value.as_ptr(), value.len())
            == OK
    }
}

pub fn remove_request_header(name: &str) -> bool {
    // SAFETY: pointer and length come from a live slice.
    unsafe { proxy_remove_header_map_value(REQUEST_HEADERS, name.as_ptr(), name.len()) == OK }
}

/// A property by path (e.g. ["xds", "route_name"]); None when absent or refused.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    let joined = path.join("\0");
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: as above.
    let status = unsafe { proxy_get_property(joined.as_ptr(), joined.len(), &mut data, &mut size) };
    let bytes = take(data, size);
    (status == OK && !bytes.is_empty()).then_some(bytes)
}

/// Sets a property: in Envoy, filter state `wasm.<name>` for the rest of the request (later
/// filters, access logs). False when the host refuses.
pub fn set_property(name: &str, value: &str) -> bool {
    // SAFETY: pointers and lengths come from live slices.
    unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) == OK }
}

/// A property that is a UTF-8 string.
pub fn property_string(path: &[&str]) -> Option<String> {
    property(path).and_then(|b| String::from_utf8(b).ok())
}

pub fn plugin_configuration() -> Option<Vec<u8>> {
    buffer(PLUGIN_CONFIGURATION, usize::MAX)
}

fn buffer(kind: u32, max: usize) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: as above.
    let status = unsafe { proxy_get_buffer_bytes(kind, 0, max, &mut data, &mut size) };
    let bytes = take(data, size);
    (status == OK).then_some(bytes)
}

/// The request body buffered so far (at most `max` bytes).
pub fn request_body(size: usize, max: usize) -> Vec<u8> {
    buffer(REQUEST_BODY, size.min(max)).unwrap_or_default()
}

/// Replaces the whole buffered request body of `old_size` bytes.
pub fn set_request_body(old_size: usize, body: &[u8]) -> bool {
    // SAFETY: pointer and length come from a live slice.
    unsafe { proxy_set_buffer_bytes(REQUEST_BODY, 0, old_size, body.as_ptr(), body.len()) == OK }
}

/// A shared-data value and its CAS token; None when absent.
pub fn get_shared(key: &str) -> Option<(Vec<u8>, u32)> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    // SAFETY: as above.
    let status = unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    let bytes = take(data, size);
    (status == OK).then_some((bytes, cas))
}

#[derive(Debug, PartialEq, Eq)]
pub enum SetShared {
    Done,
    CasMismatch,
    Failed,
}

/// Writes a shared-data value; `cas` 0 writes unconditionally.
pub fn set_shared(key: &str, value: &[u8], cas: u32) -> SetShared {
    // SAFETY: pointers and lengths come from live slices.
    match unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) } {
        OK => SetShared::Done,
        CAS_MISMATCH => SetShared::CasMismatch,
        _ => SetShared::Failed,
    }
}

/// Makes `context_id` the target of the following calls (to act on a paused request).
pub fn set_effective_context(context_id: u32) -> bool {
    // SAFETY: no pointers.
    unsafe { proxy_set_effective_context(context_id) == OK }
}

/// Registers a shared queue whose readiness is delivered to this VM's root context.
pub fn register_queue(name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: `name` is valid for its length; the host writes one u32 to `id`.
    (unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) } == OK).then_some(id)
}

/// Puts a message on a queue: its owner's root context gets `on_queue_ready` soon after.
pub fn enqueue(id: u32, message: &[u8]) -> bool {
    // SAFETY: `message` is valid for its length.
    unsafe { proxy_enqueue_shared_queue(id, message.as_ptr(), message.len()) == OK }
}

/// Empties a queue (its messages are only wake-ups).
pub fn drain_queue(id: u32) {
    for _ in 0..1024 {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: the host writes a buffer it allocated and its size, or nothing.
        let status = unsafe { proxy_dequeue_shared_queue(id, &mut data, &mut size) };
        drop(take(data, size));
        if status != OK {
            return;
        }
    }
}

/// Lets the current (paused) request go on upstream.
pub fn resume_request() -> bool {
    // SAFETY: no pointers.
    unsafe { proxy_continue_stream(0) == OK }
}

pub fn set_tick_period_ms(ms: u32) -> bool {
    // SAFETY: no pointers.
    unsafe { proxy_set_tick_period_milliseconds(ms) == OK }
}

/// The host's clock, in seconds since the epoch (0 if the host refuses, which makes every
/// token with an `iat` look issued in the future: refused, never accepted).
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

pub fn now_millis() -> u64 {
    now_nanos() / 1_000_000
}

pub fn now_nanos() -> u64 {
    let mut nanos = 0u64;
    // SAFETY: as above.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    if status == OK { nanos } else { 0 }
}

/// Calls a host foreign function; its answer, or None for any status other than Ok (a host
/// without the function answers NotFound).
pub fn call_foreign(name: &str, args: &[u8]) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: pointers and lengths come from live slices; the answer is taken as above.
    let status = unsafe { proxy_call_foreign_function(name.as_ptr(), name.len(), args.as_ptr(), args.len(), &mut data, &mut size) };
    let bytes = take(data, size);
    (status == OK).then_some(bytes)
}

pub fn send_local_response(status: u32, headers: &[(String, String)], body: &str, details: &str) -> bool {
    let pairs = oauth_core::decision::request::serialize_pairs(headers);
    // SAFETY: pointers and lengths come from live slices.
    unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            pairs.as_ptr(),
            pairs.len(),
            -1,
        ) == OK
    }
}

/// Dispatches a call the core built; the call's token, or the host's refusal.
pub fn dispatch(call: &oauth_core::common::url::HttpCall) -> Result<u32, proxy_wasm::types::Status> {
    let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let timeout = std::time::Duration::from_millis(call.timeout_ms);
    proxy_wasm::hostcalls::dispatch_http_call(&call.cluster, headers, call.body.as_deref(), vec![], timeout)
}
