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

/// wasm-opt puts a function with one caller into it whatever its size unless told not to
/// (the Makefile's `ONE_CALLER_MAX`); the configuration's compile had become one function of
/// 128 KB, and V8's compile of it kept about 9 MiB of every Envoy process (BENCHMARKS.md, the
/// twenty-third session). The largest function now is a table builder of 52 KB.
#[test]
fn no_function_is_as_large_as_a_merged_configuration_compile() {
    let path = format!("{}/../target/wasm32-wasip1/release/oauth_filter.wasm", env!("CARGO_MANIFEST_DIR"));
    let wasm = std::fs::read(&path).unwrap();
    let largest = function_sizes(&wasm).into_iter().max().unwrap();
    assert!(largest <= 64 << 10, "a function of {largest} bytes in {path}");
}

/// The body size of each function in the code section.
fn function_sizes(wasm: &[u8]) -> Vec<usize> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|payload| match payload.unwrap() {
            wasmparser::Payload::CodeSectionEntry(body) => Some(body.range().len()),
            _ => None,
        })
        .collect()
}
