#!/usr/bin/env python3
"""Adds an export named `malloc` to a .wasm, for the function `proxy_on_memory_allocate`.

The proxy-wasm test framework (github.com/proxy-wasm/test-framework) hands memory to a module
through an export named `malloc`; the Rust SDK exports its allocator only as
`proxy_on_memory_allocate` (ABI 0.2). The same function under both names serves both. It
cannot be done in Rust: a `malloc` symbol would collide with wasi-libc's, which std's own
allocator calls. Usage: tools/export_malloc.py IN.wasm [OUT.wasm] (in place without OUT)."""
import sys


def leb(data, at):
    """An unsigned LEB128 at `at`: (value, next offset)."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def uleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_malloc(wasm):
    assert wasm[:8] == b"\0asm\x01\0\0\0", "not a wasm module"
    at = 8
    while at < len(wasm):
        sid, body = wasm[at], at + 1
        size, start = leb(wasm, body)
        end = start + size
        if sid == 7:  # the export section
            count, p = leb(wasm, start)
            exports = {}
            for _ in range(count):
                n, p = leb(wasm, p)
                name = wasm[p:p + n].decode()
                kind = wasm[p + n]
                index, p = leb(wasm, p + n + 1)
                exports[name] = (kind, index)
            if "malloc" in exports:
                return wasm
            kind, index = exports["proxy_on_memory_allocate"]
            assert kind == 0, "proxy_on_memory_allocate is not a function"
            entries = wasm[leb(wasm, start)[1]:end] + uleb(6) + b"malloc" + bytes([0]) + uleb(index)
            payload = uleb(count + 1) + entries
            return wasm[:at] + bytes([7]) + uleb(len(payload)) + payload + wasm[end:]
        at = end
    raise SystemExit("no export section")


if __name__ == "__main__":
    src = sys.argv[1]
    dst = sys.argv[2] if len(sys.argv) > 2 else src
    data = open(src, "rb").read()
    open(dst, "wb").write(with_malloc(data))
