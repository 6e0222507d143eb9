#!/usr/bin/env python3
"""Writes tools/hot-functions.txt, the functions `make build` puts first in the .wasm
(tools/order_functions.py): those one hit of each hit path enters (a repeated token, the
introspection hit, the cached client-credentials token, the public route), each path's in the
order first entered; then those a first-seen token enters beyond them (RS256, ES256, ES384,
HS256), so that the code a first-seen token runs lies next to the hits' and not among the cold
rest. Loaded together with the hit paths' list alone, that order measured a first-seen token
about 0.7 µs cheaper and the hits no dearer (BENCHMARKS.md, the fifteenth session); until then
a first-seen token's functions were left out, as the fourth session had found the hits no
faster with them listed (a list taken from `perf` samples then, configuration code and all).

How: the built filter with its names (target/.../oauth_filter.wasm.named, which `make build`
keeps) is instrumented so that each function calls `cover.enter(its index)` first, through
Binaryen's text form; test-harness/examples/wasm_work.rs (COVER=<path>) lets that path's first
requests through, then records the functions one more request enters. Until the eighth
session of 2026-12-03 the list came from `perf` samples of many requests, which also caught
the VM's configuration (its JWK and PEM parsers, a 127 KB function among them) and put that
code among the hit paths'.

Run it after `make build` when the request path changed (a stale list costs speed, never
correctness). Usage: tools/hot_functions.py"""
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMED = ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm.named"
EXAMPLE = ROOT / "target" / "measure" / "examples" / "wasm_work"
OUT = ROOT / "tools" / "hot-functions.txt"
sys.path.insert(0, str(ROOT / "tools"))
from order_functions import BIN, FEATURES, key  # noqa: E402

# Each hit path, then each first-seen path, as wasm_work's COVER names it.
PATHS = [
    ("HS256 repeated", "HS256"),
    ("RS256 repeated", "RS256"),
    ("ES256 repeated", "ES256"),
    ("introspection hit", "introspection"),
    ("client credentials (cached token)", "client-credentials"),
    ("public route", "public"),
    ("first-seen RS256", "first:RS256"),
    ("first-seen ES256", "first:ES256"),
    ("first-seen ES384", "first:ES384"),
    ("first-seen HS256", "first:HS256"),
]


COVER_IMPORT = ' (import "cover" "enter" (func $__cover_enter (param i32)))'


def cover_call(indent, index):
    """The line reporting marker `index` to the harness, at `indent` spaces."""
    return " " * indent + f"(call $__cover_enter (i32.const {index}))"


def through_text(src, dst, edit, *flags):
    """`src` built again as `dst` through Binaryen's text form, `edit(text)` returning the new
    text and what else it found (returned)."""
    with tempfile.TemporaryDirectory() as tmp:
        wat = pathlib.Path(tmp) / "module.wat"
        subprocess.run([str(BIN / "wasm-dis"), str(src), "-o", str(wat)], check=True)
        text, found = edit(wat.read_text())
        wat.write_text(text)
        subprocess.run([str(BIN / "wasm-as"), *FEATURES, *flags, str(wat), "-o", str(dst)], check=True)
    return found


def covered(example, wasm, path, every=False):
    """The markers one more request of `path` reports (wasm_work COVER=); with `every`, each
    time it passes one (COVER_ALL=1), else each once, in the order first passed."""
    env = {"PATH": "/usr/bin:/bin", "COVER": path, "OAUTH_FILTER_WASM": str(wasm), **({"COVER_ALL": "1"} if every else {})}
    out = subprocess.run([str(example)], env=env, capture_output=True, text=True, check=True).stdout
    return [int(n) for n in out.split()]


def instrument(wat):
    """The module's text with a call to `cover.enter(i)` opening the i-th defined function,
    and the names by index. Binaryen prints each module field on a line of its own at one
    space's indent, a function's locals on the lines after its first."""
    lines, out, names = wat.split("\n"), [], []
    imported = max(i for i, line in enumerate(lines) if line.startswith(" (import "))
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if i == imported:
            out.append(COVER_IMPORT)
        if line.startswith(" (func $"):
            while i + 1 < len(lines) and lines[i + 1].startswith("  (local "):
                i += 1
                out.append(lines[i])
            out.append(cover_call(2, len(names)))
            names.append(line.split(" ")[2].lstrip("$"))
        i += 1
    return "\n".join(out), names


def instrumented(named, tmp):
    """`named` built again with its functions calling `cover.enter`: the module's path, and
    the functions' names by index."""
    wasm = pathlib.Path(tmp) / "covered.wasm"
    return wasm, through_text(named, wasm, instrument)


def entered(example, wasm, names, path):
    """The functions (names without Rust's hash) one hit of `path` enters, in order."""
    return [key(names[n]) for n in covered(example, wasm, path)]


def main():
    if not NAMED.exists():
        raise SystemExit(f"{NAMED} is missing: run make build first")
    subprocess.run(["cargo", "build", "-q", "--profile", "measure", "-p", "test-harness", "--example", "wasm_work"], cwd=ROOT, check=True)
    lines = ["# The functions `make build` puts first in the .wasm (tools/order_functions.py), written by",
             "# tools/hot_functions.py: those one hit of each hit path enters, then those a first-seen",
             "# token enters beyond them, each path's in the order first entered."]
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        wasm, names = instrumented(NAMED, tmp)
        for label, path in PATHS:
            these = entered(EXAMPLE, wasm, names, path)
            new = [n for n in dict.fromkeys(these) if n not in seen]
            seen.update(new)
            lines.append(f"# {label}: {len(these)} functions, {len(new)} more")
            lines += new
            print(f"{label}: {len(these)} functions, {len(new)} not listed before", flush=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(seen)} functions")


if __name__ == "__main__":
    main()
