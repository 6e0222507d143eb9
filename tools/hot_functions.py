#!/usr/bin/env python3
"""Writes tools/hot-functions.txt, the functions `make build` puts first in the .wasm
(tools/order_functions.py): those the hit paths run through (a repeated token, the
introspection hit, the cached client-credentials token, the public route), each path's by time
spent. Only those: with a first-seen token's functions listed after them, the hit paths
measured no faster than with no order at all (BENCHMARKS.md).

How: the built filter with its names (target/.../oauth_filter.wasm.named, which `make build`
keeps) runs each path many times on wasmtime (test-harness/examples/wasm_work.rs, SPIN), under
`perf record`; wasmtime's perf map names the functions the samples fell in. Needs perf; run it
after `make build` when the request path changed (a stale list costs speed, never correctness).

Usage: tools/hot_functions.py [--requests 200000]"""
import argparse
import collections
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMED = ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm.named"
EXAMPLE = ROOT / "target" / "measure" / "examples" / "wasm_work"
OUT = ROOT / "tools" / "hot-functions.txt"
sys.path.insert(0, str(ROOT / "tools"))
from order_functions import key  # noqa: E402

# Each hit path, as wasm_work's SPIN runs it.
PATHS = [
    ("HS256 repeated", {"SPIN_ALG": "HS256", "SPIN_CACHED": "1"}),
    ("RS256 repeated", {"SPIN_ALG": "RS256", "SPIN_CACHED": "1"}),
    ("introspection hit", {"SPIN_PATH": "introspection"}),
    ("client credentials (cached token)", {"SPIN_PATH": "client-credentials"}),
    ("public route", {"SPIN_PATH": "public"}),
]


def profile(env, requests, tmp):
    """The module's functions the samples of one path fell in, with their counts."""
    data = tmp / "perf.data"
    run_env = dict(os.environ, OAUTH_FILTER_PERFMAP="1", OAUTH_FILTER_WASM=str(NAMED), SPIN=str(requests), **env)
    subprocess.run(["perf", "record", "-q", "-F", "20000", "-o", str(data), "--", str(EXAMPLE)], env=run_env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run(["perf", "report", "-i", str(data), "--sort", "dso,sym", "--stdio", "-F", "overhead,dso,sym"],
                         capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    for line in out.splitlines():
        if "[JIT]" not in line or "[.]" not in line:
            continue
        pct, name = line.split()[0].rstrip("%"), line.split("[.]", 1)[1].strip()
        # wasmtime's own code (trampolines, builtins) is not the module's.
        if "trampoline" in name or name.startswith(("wasmtime_", "signatures[", "wasm[")):
            continue
        counts[key(name)] += float(pct)
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200000)
    a = ap.parse_args()
    if not NAMED.exists():
        raise SystemExit(f"{NAMED} is missing: run make build first")
    subprocess.run(["cargo", "build", "-q", "--profile", "measure", "-p", "test-harness", "--example", "wasm_work"], cwd=ROOT, check=True)
    lines = ["# The functions `make build` puts first in the .wasm (tools/order_functions.py), written by",
             "# tools/hot_functions.py: each hit path's functions by time spent."]
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for label, env in PATHS:
            counts = profile(env, a.requests, pathlib.Path(tmp))
            new = [n for n, _ in counts.most_common() if n not in seen]
            seen.update(new)
            lines.append(f"# {label}: {len(new)} more")
            lines += new
            print(f"{label}: {len(counts)} functions, {len(new)} not listed before", flush=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(seen)} functions")


if __name__ == "__main__":
    main()
