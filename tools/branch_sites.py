#!/usr/bin/env python3
"""The distinct branch sites one request of a path runs through: what a request pays for in
Envoy beyond V8's warm speed (BENCHMARKS.md, "What a branch costs in Envoy"), where the
operators per request (`wasm_work`) count what V8 runs quickly as much as what it runs slowly.

How: the built filter with its names (target/.../oauth_filter.wasm.named, which `make build`
keeps) is instrumented through Binaryen's text form, as tools/hot_functions.py does for
functions, but at every block: a call to `cover.enter(i)` opens each function, block, loop,
`then` and `else`, and follows each block, loop and `if` that yields no value (where control
joins again). test-harness/examples/wasm_work.rs (COVER=<path>, COVER_ALL=1) lets the path's
first requests through, then records the regions one more request enters. A region counts
its instructions once, however often it runs; the branch sites are the `if`, `br_if` and
`br_table` instructions (conditional), the calls, loops, `br` and `return` among them.

Binaryen prints one instruction per line, at one space's indent per level, each closing
parenthesis of a node spanning lines on a line of its own; a region is the lines from its
marker to the next marker at its level or above. A region is counted whole once entered
(a `br_if` that leaves it early still counts the lines after it).

  tools/branch_sites.py [--top N] [--beyond PATH] [--show NAME] [path …]   (paths as wasm_work's COVER: HS256, RS256, ES256,
                                              introspection, client-credentials, public,
                                              first:RS256, first:HS256, …; default: all these)"""
import argparse
import collections
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from hot_functions import COVER_IMPORT, EXAMPLE, NAMED, cover_call, covered, through_text  # noqa: E402
from order_functions import key  # noqa: E402

PATHS = ["public", "client-credentials", "introspection", "HS256", "RS256", "ES256",
         "first:HS256", "first:RS256", "first:ES256"]
OPENS_REGION = ("(block", "(loop", "(then", "(else")
CONDITIONAL = ("(br_if", "(if", "(br_table")
BRANCH_SITES = CONDITIONAL + ("(br", "(call", "(call_indirect", "(return", "(loop")


class Region:
    def __init__(self, function):
        self.function = function
        self.instructions = 0
        self.sites = collections.Counter()
        self.lines = []


def instrument(wat):
    """The module's text with the markers, and (its regions by marker index, its functions' names)."""
    lines = wat.split("\n")
    imported = max(i for i, line in enumerate(lines) if line.startswith(" (import "))
    out, regions, names = [], [], []
    open_nodes, current = [], []  # nodes spanning lines: (indent, yields nothing); regions: (indent, index)

    def marker(indent):
        regions.append(Region(len(names) - 1))
        out.append(cover_call(indent, len(regions) - 1))
        return len(regions) - 1

    in_function, i = False, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if i == imported:
            out.append(COVER_IMPORT)
        elif line.startswith(" (func $"):
            names.append(line.split(" ")[2].lstrip("$"))
            while i + 1 < len(lines) and lines[i + 1].startswith("  (local "):
                i += 1
                out.append(lines[i])
            in_function, open_nodes, current = True, [], [(1, marker(2))]
        elif in_function and line == " )":
            in_function = False
        elif in_function:
            text = line.lstrip(" ")
            indent = len(line) - len(text)
            if text == ")":
                yields_nothing = open_nodes.pop()[1] if open_nodes else False
                while len(current) > 1 and current[-1][0] > indent:
                    current.pop()
                if yields_nothing:
                    # Control joins here: the rest of the enclosing region is a region of its own.
                    if current[-1][0] >= indent and len(current) > 1:
                        current.pop()
                    current.append((indent, marker(indent)))
            else:
                while len(current) > 1 and current[-1][0] > indent:
                    current.pop()
                region = regions[current[-1][1]]
                region.instructions += 1
                region.lines.append(line)
                op = text.split(" ")[0].rstrip(")")
                if op in BRANCH_SITES:
                    region.sites[op] += 1
                if text.count("(") > text.count(")"):
                    open_nodes.append((indent, op in ("(block", "(loop", "(if") and "(result" not in text))
                    if text.startswith(OPENS_REGION):
                        current.append((indent + 1, marker(indent + 1)))
        i += 1
    return "\n".join(out), (regions, names)


def instrumented(named, tmp):
    """`named` built again with its markers: the module's path, its regions, its names."""
    wasm = pathlib.Path(tmp) / "blocks.wasm"
    regions, names = through_text(named, wasm, instrument)
    return wasm, regions, names


def count(example, wasm, regions, path):
    """What one request of `path` runs: {"conditional", "sites" (by kind), "instructions",
    "functions", "by_function" ({name: (conditional sites, instructions)})}."""
    entered = set(covered(example, wasm, path, every=True))
    sites, by_function = collections.Counter(), collections.defaultdict(lambda: [0, 0])
    for r in entered:
        region = regions[r]
        sites.update(region.sites)
        by_function[region.function][0] += sum(region.sites[k] for k in CONDITIONAL)
        by_function[region.function][1] += region.instructions
    return {"conditional": sum(sites[k] for k in CONDITIONAL), "sites": sites, "entered": entered,
            "instructions": sum(v[1] for v in by_function.values()), "functions": len(by_function),
            "by_function": by_function}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", default=PATHS)
    ap.add_argument("--top", type=int, default=0, help="also each path's N functions with the most conditional sites")
    ap.add_argument("--beyond", metavar="PATH", help="also each path's sites beyond those one request of PATH runs, "
                    "by function (what a cut on that path can take out; e.g. --beyond RS256 first:RS256)")
    ap.add_argument("--show", metavar="NAME", help="also the branch sites and calls, in order, of the regions each path "
                    "enters in the functions whose name holds NAME (beyond --beyond's path when given)")
    ap.add_argument("--example", default=str(EXAMPLE), help="the built wasm_work example")
    args = ap.parse_args()
    if not NAMED.exists():
        raise SystemExit(f"{NAMED} is missing: run make build first")
    if args.example == str(EXAMPLE):
        subprocess.run(["cargo", "build", "-q", "--profile", "measure", "-p", "test-harness", "--example", "wasm_work"],
                       cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        wasm, regions, names = instrumented(NAMED, tmp)
        print("| path | branch sites | conditional (`if`, `br_if`, `br_table`) | calls | loops | instructions | functions |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        tops, entered = [], {}
        for path in args.paths:
            c = count(args.example, wasm, regions, path)
            entered[path] = c["entered"]
            s = c["sites"]
            print(f"| {path} | {sum(s.values())} | {c['conditional']} | {s['(call']  + s['(call_indirect']} | {s['(loop']} "
                  f"| {c['instructions']} | {c['functions']} |", flush=True)
            ranked = sorted(c["by_function"].items(), key=lambda kv: -kv[1][0])[:args.top]
            tops += [f"{path}: {n} conditional, {ins} instructions: {key(names[f])}" for f, (n, ins) in ranked]
        if tops:
            print("\n" + "\n".join(tops))
        seen = set()
        if args.beyond:
            seen = entered.get(args.beyond) or count(args.example, wasm, regions, args.beyond)["entered"]
            print("\n" + "\n".join(beyond(regions, names, entered, args.beyond, seen)))
        if args.show:
            for path, regions_entered in entered.items():
                print(f"\n{path}: the regions entered in functions named *{args.show}*" + (f" beyond {args.beyond}" if seen else ""))
                for r in sorted(regions_entered - seen):
                    if args.show in names[regions[r].function]:
                        for line in regions[r].lines:
                            if line.lstrip(" ").split(" ")[0].rstrip(")") in BRANCH_SITES:
                                print(f"  {r}: {line.strip()[:160]}")


def beyond(regions, names, entered, base, seen):
    """For each path (its regions `entered`), those that one request of `base` (`seen`) does
    not enter, summed by function: all branch sites, the conditional ones, instructions; most
    sites first."""
    out = []
    for path, regions_entered in entered.items():
        sites, instructions = collections.defaultdict(collections.Counter), collections.Counter()
        for r in regions_entered - seen:
            sites[regions[r].function].update(regions[r].sites)
            instructions[regions[r].function] += regions[r].instructions
        out.append(f"{path} beyond {base}: {sum(sum(c.values()) for c in sites.values())} branch sites in {len(sites)} functions")
        for f, c in sorted(sites.items(), key=lambda kv: -sum(kv[1].values())):
            conditional = sum(c[k] for k in CONDITIONAL)
            out.append(f"  {sum(c.values())} sites ({conditional} conditional, {instructions[f]} instructions): {key(names[f])}")
    return out


if __name__ == "__main__":
    main()
