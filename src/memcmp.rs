//! `memcmp` for the .wasm, a word at a time (`oauth_core::common::bytes::compare`): wasi-libc's
//! compares one byte per turn of its loop, and every slice or string `==` of the filter calls
//! it (header names, configured names, keys). Defined here, the linker takes it before
//! wasi-libc's. Not inlined: one copy, not one per comparison.

/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes (C's contract).
#[cfg(target_arch = "wasm32")]
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    // SAFETY: n > 0 readable bytes at each (the caller's contract), so neither is null.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, n), std::slice::from_raw_parts(b, n)) };
    oauth_core::common::bytes::compare(a, b)
}
