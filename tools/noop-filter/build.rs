//! Writes the synthetic code the `branches` and `straight` configurations run (see lib.rs):
//! CHUNKS functions of SITES statements each, every statement with its own constants, so that
//! no two are the same code. `branches`: each statement is an `if` on one bit of a value the
//! compiler cannot see (the same bit every request), one arm storing. `straight`: the same
//! multiply, xor and store with no test.

use std::fmt::Write;

const CHUNKS: usize = 4;
const SITES: usize = 500;

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_SYNTHETIC").is_none() {
        return Ok(());
    }
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        // xorshift64*: constants that differ from statement to statement, the same every build.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = String::from("// Written by build.rs.\n");
    let store = "core::ptr::write_volatile(core::ptr::addr_of_mut!(SINK), acc)";
    for (kind, branchy) in [("branches", true), ("straight", false)] {
        for c in 0..CHUNKS {
            let _ = writeln!(out, "#[inline(never)]\nfn {kind}_{c}(flags: u64, mut acc: u64) -> u64 {{\n    let _ = flags;");
            for _ in 0..SITES {
                let (m, x, y, r, bit) = (next() | 1, next(), next(), next() % 62 + 1, next() % 64);
                if branchy {
                    let _ = writeln!(out, "    if (flags >> {bit}) & 1 != 0 {{ acc = acc.wrapping_mul({m}) ^ {x}; unsafe {{ {store} }}; }} else {{ acc = acc.rotate_left({r}) ^ {y}; }}");
                } else {
                    let _ = writeln!(out, "    acc = acc.wrapping_mul({m}) ^ {x}; unsafe {{ {store} }};");
                }
            }
            let _ = writeln!(out, "    acc\n}}");
        }
        let _ = writeln!(out, "/// The first `n` (at most {CHUNKS}) chunks of {SITES} `{kind}` statements.\npub fn {kind}(n: u32, flags: u64, mut acc: u64) -> u64 {{");
        for c in 0..CHUNKS {
            let _ = writeln!(out, "    if n > {c} {{ acc = {kind}_{c}(flags, acc); }}");
        }
        let _ = writeln!(out, "    acc\n}}");
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("synthetic.rs");
    std::fs::write(path, out)
}
