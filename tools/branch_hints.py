#!/usr/bin/env python3
"""Branch hints for V8: which way each `if` and `br_if` of the request path goes, written into
the .wasm's `metadata.code.branch_hint` section (WebAssembly 3.0's branch hinting, which V8
reads since 13.7: Envoy 1.40's V8 is 14.6). TurboFan lays the likely side out as the fall-through
and moves the unlikely one out of the way.

Why: between two requests Envoy's own work evicts the branch predictor's state, so each
distinct branch a request runs costs about 10 ns more in Envoy than in a warm loop, and a
branch predicted the wrong way costs most (BENCHMARKS.md, "What a branch costs in Envoy").
Measured with two builds loaded together (11 × 4 s, conc 1, µs per request, hinted −
unhinted): first-seen RS256 −4.65 [−7.79–−0.38], first-seen HS256 −4.12 [−5.45–−1.90], RS256
repeated −1.83 [−2.91–−0.59].

  tools/branch_hints.py record            the directions the benchmarked paths take, from the
                                          built filter (after `make build`), into
                                          tools/branch-hints.txt
  tools/branch_hints.py apply IN OUT [HINTS]   IN (wasm-opt's output, with names) with the
                                          hints of HINTS (default tools/branch-hints.txt): what
                                          `make build` runs

`record` instruments the module through Binaryen's text form, as tools/hot_functions.py does:
a call to `cover.enter(i)` before each `if` and `br_if` that stands as a statement, at the
start of each `then` and `else`, and after each such `br_if` that has a statement after it.
test-harness/examples/wasm_work.rs (COVER=<path>, COVER_ALL=1) runs one more request of each
path after its first ones; a site gets the direction most of its runs took, summed over the
paths. A `br_if` that ends its block (whose direction the markers cannot tell) gets none.

The hints file names each function as Rust mangles it without the hash (as hot-functions.txt
does) with a fingerprint of its text: a function whose code changed since `record` gets no
hints, so a stale file costs speed, never correctness (a hint never changes what the code
does). Run `record` after `make build` when the request path changed; e2e/test_make_targets.py
fails when more than a tenth of the hinted functions went stale."""
import collections
import hashlib
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from hot_functions import COVER_IMPORT, EXAMPLE, NAMED, cover_call, covered, through_text  # noqa: E402
from order_functions import key  # noqa: E402

HINTS = ROOT / "tools" / "branch-hints.txt"
# The paths `make bench` measures, as wasm_work's COVER names them (first-seen EdDSA, whose
# signature is curve arithmetic in the VM, would record millions of entries).
PATHS = ["public", "client-credentials", "introspection", "HS256", "RS256", "ES256", "ES384", "EdDSA",
         "first:HS256", "first:RS256", "first:ES256", "first:ES384"]
STATEMENT_PARENTS = ("(block", "(loop", "(then", "(else", "(func")
HINTABLE = ("(if", "(br_if")
HASH = re.compile(r"17h[0-9a-f]{16}E")


def functions(lines):
    """(name, first line, last line) of each function in Binaryen's text."""
    out, start = [], None
    for i, line in enumerate(lines):
        if line.startswith(" (func $"):
            start = i
        elif start is not None and line == " )":
            out.append((lines[start].split(" ")[2].lstrip("$"), start, i))
            start = None
    return out


def fingerprint(lines, start, end):
    text = "\n".join(lines[start:end + 1])
    return hashlib.sha256(HASH.sub("", text).encode()).hexdigest()[:16]


def parts(line):
    text = line.lstrip(" ")
    return len(line) - len(text), text, text.split(" ")[0].rstrip(")")


def closing(lines, i):
    """The line that closes the node opened on line i."""
    indent, text, _ = parts(lines[i])
    if text.count("(") <= text.count(")"):
        return i
    return next(j for j in range(i + 1, len(lines)) if lines[j] == " " * indent + ")")


def sites(lines, start, end):
    """Each `if`/`br_if` of one function, in text order: (line, kind, parent is a statement list)."""
    out, stack = [], []
    for i in range(start + 1, end):
        indent, text, op = parts(lines[i])
        if text == ")":
            if stack:
                stack.pop()
            continue
        if op in HINTABLE:
            out.append((i, op, (stack[-1] if stack else "(func") in STATEMENT_PARENTS))
        if text.count("(") > text.count(")"):
            stack.append(op)
    return out


def instrument(lines):
    """The module's text with markers, and for each function (name, fingerprint, its sites
    with their markers: {"before", "after", "then", "else"} as found)."""
    before, after = collections.defaultdict(list), collections.defaultdict(list)
    marks = iter(range(1 << 30))
    table = []
    for name, start, end in functions(lines):
        found = []
        by_line = {}
        for line, op, statement in sites(lines, start, end):
            ids = {}
            if statement:
                ids["before"] = next(marks)
                before[line].append(ids["before"])
                if op == "(br_if":
                    stop = closing(lines, line)
                    indent, _, _ = parts(lines[line])
                    nindent, ntext, _ = parts(lines[stop + 1])
                    if nindent == indent and ntext != ")":
                        ids["after"] = next(marks)
                        after[stop].append(ids["after"])
            found.append((op, ids))
            by_line[line] = ids
        # The arms of each `if`: the `then`/`else` lines one level below it.
        for line, op, _ in sites(lines, start, end):
            if op != "(if":
                continue
            indent, _, _ = parts(lines[line])
            for j in range(line + 1, closing(lines, line)):
                jindent, jtext, jop = parts(lines[j])
                if jindent == indent + 1 and jop in ("(then", "(else") and jtext.count("(") > jtext.count(")"):
                    arm = jop.lstrip("(")
                    by_line[line][arm] = next(marks)
                    after[j].append(by_line[line][arm])
        table.append((name, fingerprint(lines, start, end), found))
    imported = max(i for i, line in enumerate(lines) if line.startswith(" (import "))
    out = []
    for i, line in enumerate(lines):
        indent = " " * parts(line)[0]
        out += [cover_call(len(indent), m) for m in before.get(i, [])]
        out.append(line)
        if i == imported:
            out.append(COVER_IMPORT)
        # After an arm's opening line its first statement, one level in; after a `br_if`'s
        # closing line the statement that follows it, at its level.
        inner = " " if parts(line)[2] in ("(then", "(else") else ""
        out += [cover_call(len(indent + inner), m) for m in after.get(i, [])]
    return "\n".join(out), table


def direction(op, ids, counts):
    """'1' (taken: a `br_if` branches, an `if` runs its `then`), '0', or '.' (not run, or not known)."""
    if op == "(br_if" and "after" in ids:
        runs = counts[ids["before"]]
        return "." if not runs else "1" if (runs - counts[ids["after"]]) * 2 > runs else "0"
    if op == "(if" and "before" in ids:
        runs = counts[ids["before"]]
        return "." if not runs else "1" if counts[ids.get("then", -1)] * 2 > runs else "0"
    if op == "(if":
        then, other = counts[ids.get("then", -1)], counts[ids.get("else", -1)]
        return "." if not then + other else "1" if then > other else "0"
    return "."


def record(named=NAMED, example=EXAMPLE, paths=PATHS, out=HINTS):
    if not pathlib.Path(named).exists():
        raise SystemExit(f"{named} is missing: run make build first")
    if example == EXAMPLE:
        subprocess.run(["cargo", "build", "-q", "--profile", "measure", "-p", "test-harness", "--example", "wasm_work"],
                       cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        wasm = pathlib.Path(tmp) / "marked.wasm"
        table = through_text(named, wasm, lambda wat: instrument(wat.split("\n")))
        counts = collections.Counter()
        for path in paths:
            counts.update(covered(example, wasm, path, every=True))
    lines = ["# Branch hints `make build` writes into the .wasm (tools/branch_hints.py record): per function",
             "# that a benchmarked path runs, its name without Rust's hash, a fingerprint of its text, and",
             "# one character per `if`/`br_if` in text order: 1 taken, 0 not, . no hint."]
    hinted = 0
    for name, fp, found in table:
        hints = "".join(direction(op, ids, counts) for op, ids in found)
        if hints.strip("."):
            lines.append(f"{key(name)} {fp} {hints}")
            hinted += len(hints) - hints.count(".")
    pathlib.Path(out).write_text("\n".join(lines) + "\n")
    print(f"{out}: {hinted} hints in {len(lines) - 3} functions")


def read(path):
    """{(name without hash, fingerprint): hints}."""
    table = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, fp, hints = line.split()
            table[(name, fp)] = hints
    return table


def annotate(lines, table):
    """The module's text with each listed function's hints; and how many listed entries were
    found (the others are stale)."""
    hint_at, used = {}, set()
    for name, start, end in functions(lines):
        entry = (key(name), fingerprint(lines, start, end))
        hints = table.get(entry)
        if hints is None:
            continue
        found = sites(lines, start, end)
        if len(found) != len(hints):
            continue
        used.add(entry)
        for (line, _, _), h in zip(found, hints):
            if h != ".":
                hint_at[line] = h
    out = []
    for i, line in enumerate(lines):
        if i in hint_at:
            out.append(f'{" " * parts(line)[0]}(@metadata.code.branch_hint "\\0{hint_at[i]}")')
        out.append(line)
    return "\n".join(out), len(used)


def apply(src, dst, hints=HINTS):
    table = read(hints)
    used = through_text(src, dst, lambda wat: annotate(wat.split("\n"), table), "-g")
    print(f"{dst}: hints for {used} of {len(table)} listed functions")
    return used, len(table)


if __name__ == "__main__":
    if sys.argv[1:2] == ["record"]:
        record()
    elif sys.argv[1:2] == ["apply"] and len(sys.argv) in (4, 5):
        apply(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)
