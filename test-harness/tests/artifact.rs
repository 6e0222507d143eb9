//! The built artifact itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn the_wasm_is_at_most_two_mib() {
    let path = format!("{}/../target/wasm32-wasip1/release/oauth_filter.wasm", env!("CARGO_MANIFEST_DIR"));
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 2 << 20, "{path} is {size} bytes (build it with `make build`, which runs wasm-opt)");
}
