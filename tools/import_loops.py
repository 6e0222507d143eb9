#!/usr/bin/env python3
"""Finds import loops between the files of a Rust crate: an edge A → B when file A names a
path into file B's module (`crate::x::y`, `super::z`, `use` lists included); a loop is a strongly
connected set of two or more files. A `mod` declaration is containment, not an edge, and a
`pub use` in a mod.rs is seen through (the edge goes to the file that defines the name).
Usage: tools/import_loops.py SRC_DIR [SRC_DIR…]; prints each loop, exits 1 when there is one."""
import pathlib
import re
import sys


def modules(src: pathlib.Path):
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("lib", "main") and len(parts) == 1:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        out[tuple(parts)] = f
    return out


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def paths_in(text, here):
    """Every module path the file names, absolute (a tuple of segments)."""
    found = []
    # `use` trees: expand one level of braces.
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        tree = re.sub(r"\s+", "", m.group(1))
        head, _, rest = tree.partition("{")
        if rest:
            for item in rest.rstrip("}").split(","):
                found.append(head + item)
        else:
            found.append(tree)
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        found.append(m.group(1))
    out = []
    for p in found:
        segs = [s for s in re.split(r"::", p.split(" as ")[0]) if s and s not in ("{", "}")]
        if not segs:
            continue
        if segs[0] == "crate":
            base, segs = [], segs[1:]
        elif segs[0] in ("super", "self"):
            base = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
        else:
            continue
        out.append(tuple(base + [re.sub(r"\W", "", s) for s in segs]))
    return out


def resolve(path, mods):
    for n in range(len(path), -1, -1):
        if path[:n] in mods:
            return path[:n], path[n:]
    return None, None


def main():
    loops = 0
    for d in sys.argv[1:]:
        src = pathlib.Path(d)
        mods = modules(src)
        edges = {m: set() for m in mods}
        for m, f in mods.items():
            here = m if f.name in ("mod.rs", "lib.rs", "main.rs") else m[:-1]
            own = m
            for p in paths_in(strip(f.read_text()), here if f.name not in ("mod.rs", "lib.rs") else m):
                target, rest = resolve(p, mods)
                if target is None or target == own:
                    continue
                if len(target) < len(own) and own[:len(target)] == target and not rest:
                    continue
                edges[own].add(target)
        # Tarjan's strongly connected components.
        index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
        sys.setrecursionlimit(10000)

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)

        for v in edges:
            if v not in index:
                visit(v)
        for comp in comps:
            loops += 1
            names = sorted("::".join(c) or "lib" for c in comp)
            print(f"{d}: a loop of {len(comp)} files: {', '.join(names)}")
    sys.exit(1 if loops else 0)


if __name__ == "__main__":
    main()
