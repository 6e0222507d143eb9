//! The built artifact itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn the_wasm_is_at_most_two_mib() {
    let path = format!("{}/../target/wasm32-wasip1/release/oauth_filter.wasm", env!("CARGO_MANIFEST_DIR"));
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 2 << 20, "{path} is {size} bytes (build it with `make build`, which runs wasm-opt)");
}

/// The proxy-wasm test framework hands memory to the module through an export named `malloc`
/// (the SDK exports `proxy_on_memory_allocate`); `make build` exports the SDK's under both names.
#[test]
fn malloc_is_exported_as_the_sdks_allocator() {
    use test_harness::{Host, Request};
    let host = Host::new();
    let Ok(mut vm) = host.vm(r#"{"policies": {"p": {"public": true}}, "default_policy": "p"}"#) else { panic!("not configured") };
    let (a, b) = (vm.allocate_through("malloc", 40), vm.allocate_through("proxy_on_memory_allocate", 40));
    assert!(a > 0 && b > 0 && a != b, "{a} {b}");
    for size in [1, 16, 100, 5000, 100_000] {
        assert!(vm.allocate_through("malloc", size) > 0, "{size}");
    }
    assert!(vm.send(Request::get("/")).is_forwarded());
}
