"""The `make` targets the README names exist in the Makefile (with the help text `make`
users read), the import-loop check finds none, and every file ARCHITECTURE.md names exists."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import ROOT


def test_every_make_target_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text()
    para = readme.split("Other `make` targets:")[1].split("\n\n")[0]
    while re.search(r"\([^()]*\)", para):
        para = re.sub(r"\([^()]*\)", "", para)  # what a target does, in parentheses
    named = {n.split()[0] for n in re.findall(r"`([^`]+)`", para)}
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    assert named and named <= targets, named - targets


def test_the_source_has_no_import_loops():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "import_loops.py"), str(ROOT / "core" / "src"), str(ROOT / "src")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_every_file_architecture_md_names_exists():
    """ARCHITECTURE.md's files and folders, found from the repository's root, src, core/src or a
    folder below it (where the text names a module by its file); SECURITY.md's paths from the root."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([\w./-]+(?:\.rs|\.py|/))`", text))
    missing = []
    for name in named:
        places = [ROOT / name, ROOT / "src" / name, ROOT / "core" / "src" / name, ROOT / "core" / "src" / "config" / "compile" / name]
        places += [d / name for d in (ROOT / "core" / "src").rglob("*") if d.is_dir()]
        if not any(p.exists() for p in places):
            missing.append(name)
    assert len(named) > 30 and not missing, missing
    security = set(re.findall(r"`((?:core|src|test-harness|e2e)/[\w./-]+\.(?:rs|py))`", (ROOT / "SECURITY.md").read_text()))
    gone = sorted(p for p in security if not (ROOT / p).exists())
    assert len(security) > 10 and not gone, gone


def test_make_help_lists_every_documented_target():
    run = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True)
    listed = {line.split()[0] for line in run.stdout.splitlines() if line.strip()}
    documented = set(re.findall(r"^([\w-]+):[^#\n]*## ", (ROOT / "Makefile").read_text(), re.M))
    assert documented and listed == documented, documented ^ listed
    assert {"build", "test", "check", "oci", "help"} <= listed


def test_a_missing_prerequisite_is_named_with_its_install_line(tmp_path):
    """With nothing on PATH, each need is named with the line that installs it; exit 1."""
    run = subprocess.run(["/bin/bash", str(ROOT / "tools" / "prereq.sh"), "wrk", "curl", "python", "node"],
                         capture_output=True, text=True, env={"PATH": str(tmp_path)})
    assert run.returncode == 1
    for line in ["missing: wrk — install it with: sudo apt-get install wrk",
                 "missing: curl — install it with: sudo apt-get install curl",
                 "missing: python3 — install it with: sudo apt-get install python3 python3-venv",
                 "missing: Node.js and npm — install it with: sudo apt-get install nodejs npm"]:
        assert line in run.stderr, run.stderr
    ok = subprocess.run(["/bin/bash", str(ROOT / "tools" / "prereq.sh"), "python"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.xdist_group("load")  # seconds of wasm-dis and wasm-as: not beside the load tests
def test_the_build_puts_the_functions_of_the_hit_paths_first(tmp_path):
    """`make build` orders the .wasm's functions by tools/hot-functions.txt: the shipped module is
    the optimized one (kept with its names as .named) with its branch hints
    (tools/branch-hints.txt), the listed functions first, and no other change; the list still
    names the functions the build has."""
    sys.path.insert(0, str(ROOT / "tools"))
    import order_functions
    release = ROOT / "target" / "wasm32-wasip1" / "release"
    named, hot = release / "oauth_filter.wasm.named", ROOT / "tools" / "hot-functions.txt"
    wat = tmp_path / "named.wat"
    subprocess.run([str(order_functions.BIN / "wasm-dis"), str(named), "-o", str(wat)], check=True)
    text = wat.read_text()
    listed = order_functions.listed(hot)
    ordered, placed, total = order_functions.reorder(text, listed)
    funcs = lambda t: re.findall(r"^ \(func (\S+)", t, re.M)
    before, after = funcs(text), funcs(ordered)
    assert sorted(before) == sorted(after) and total == len(before) > 1000
    assert all(order_functions.key(n.lstrip("$")) in listed for n in after[:placed])
    assert not any(order_functions.key(n.lstrip("$")) in listed for n in after[placed:])
    have = {order_functions.key(n.lstrip("$")) for n in before}
    stale = [n for n in listed if n not in have]
    assert len(stale) <= len(listed) // 10, f"run tools/hot_functions.py: {stale[:5]}"
    # The shipped .wasm is exactly the hinted module in that order.
    hinted, out = tmp_path / "hinted.wasm", tmp_path / "ordered.wasm"
    subprocess.run([sys.executable, str(ROOT / "tools" / "branch_hints.py"), "apply", str(named), str(hinted)], check=True)
    subprocess.run([sys.executable, str(ROOT / "tools" / "order_functions.py"), str(hinted), str(hot), str(out)], check=True)
    subprocess.run([sys.executable, str(ROOT / "tools" / "export_malloc.py"), str(out)], check=True)
    assert out.read_bytes() == (release / "oauth_filter.wasm").read_bytes()


@pytest.mark.xdist_group("load")  # seconds of wasm-dis and wasm-as: not beside the load tests
def test_the_build_hints_the_branches_the_request_path_runs(tmp_path):
    """tools/branch-hints.txt still fits the build (a tenth of its functions stale at most: `run
    tools/branch_hints.py record`), and the shipped .wasm carries the hints section V8 reads. A
    hint lands on its own instruction, and a function whose text changed gets none."""
    sys.path.insert(0, str(ROOT / "tools"))
    import branch_hints
    release = ROOT / "target" / "wasm32-wasip1" / "release"
    used, listed = branch_hints.apply(release / "oauth_filter.wasm.named", tmp_path / "hinted.wasm")
    assert listed > 50 and used >= listed - listed // 10, "run tools/branch_hints.py record"
    assert b"\x19metadata.code.branch_hint" in (release / "oauth_filter.wasm").read_bytes()
    wat = """(module
 (import "env" "f" (func $f (param i32)))
 (func $g (param $0 i32)
  (block $b
   (br_if $b
    (local.get $0)
   )
   (if
    (local.get $0)
    (then
     (call $f
      (i32.const 1)
     )
    )
   )
  )
 )
)"""
    lines = wat.split("\n")
    (name, start, end), = branch_hints.functions(lines)
    fp = branch_hints.fingerprint(lines, start, end)
    text, used = branch_hints.annotate(lines, {("g", fp): "01"})
    assert used == 1 and [l.strip() for l in text.split("\n")][4:9] == [
        '(@metadata.code.branch_hint "\\00")', "(br_if $b", "(local.get $0)", ")", '(@metadata.code.branch_hint "\\01")']
    text, used = branch_hints.annotate(lines, {("g", "0" * 16): "01"})
    assert used == 0 and "branch_hint" not in text


@pytest.mark.xdist_group("load")  # seconds of wasm-dis and wasm-as: not beside the load tests
def test_branch_sites_counts_what_a_request_runs():
    """tools/branch_sites.py: a first-seen token runs through more distinct branches than the
    public route, one table row per path."""
    ex = ROOT / "target" / "debug" / "examples" / "wasm_work"
    subprocess.run(["cargo", "build", "-q", "-p", "test-harness", "--example", "wasm_work"], cwd=ROOT, check=True)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "branch_sites.py"), "--example", str(ex), "public", "first:RS256"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    rows = {r[0]: r for r in ([c.strip() for c in line.strip("|").split("|")] for line in run.stdout.splitlines()[2:4])}
    assert set(rows) == {"public", "first:RS256"}, run.stdout
    assert 100 < int(rows["public"][1]) < int(rows["first:RS256"][1]), run.stdout


@pytest.mark.xdist_group("load")  # seconds of wasm-dis and wasm-as: not beside the load tests
def test_a_hit_runs_through_the_listed_functions_and_not_the_cold_rest(tmp_path):
    """The request path's cold rest stays out of line in the built module (the Makefile's
    NO_INLINE: wasm-opt would put each back into its only caller), and a repeated HS256 token
    enters only functions tools/hot-functions.txt lists: the decision, never its cold rest
    (the module instrumented by tools/hot_functions.py, on the wasmtime harness)."""
    import fnmatch
    sys.path.insert(0, str(ROOT / "tools"))
    import hot_functions
    import order_functions
    named = ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm.named"
    patterns = re.search(r"^NO_INLINE := (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    subprocess.run(["cargo", "build", "-q", "-p", "test-harness", "--example", "wasm_work"], cwd=ROOT, check=True)
    wasm, names = hot_functions.instrumented(named, tmp_path)
    for pattern in patterns:
        assert fnmatch.filter(names, pattern), f"{pattern} was inlined"
    entered = hot_functions.entered(ROOT / "target" / "debug" / "examples" / "wasm_work", wasm, names, "HS256")
    assert any("6decide9decide_in" in n for n in entered), entered
    assert not [n for n in entered if any(fnmatch.fnmatch(n, p) for p in patterns)], entered
    listed = set(order_functions.listed(ROOT / "tools" / "hot-functions.txt"))
    assert not [n for n in entered if n not in listed], "run tools/hot_functions.py"


@pytest.mark.xdist_group("load")  # a release build of the twin and seconds of V8: not beside the load tests
def test_bench_v8_hosts_the_filter_and_its_twin_in_node(tmp_path):
    """`make bench-v8`'s host (tools/v8_work.mjs): the built filter and each path's twin,
    recorded from it on the wasmtime harness, run in Node's V8; every request is let through
    and both set the same headers (the script stops otherwise), one row per path."""
    sys.path.insert(0, str(ROOT / "tools"))
    import bench
    bench.build_noop()
    subprocess.run(["cargo", "build", "-q", "-p", "test-harness", "--example", "twins"], cwd=ROOT, check=True)
    jwt = bench.jwt_config()
    token = bench.token("HS256")
    rs256 = bench.token("RS256")
    scenarios = [{"name": "public", "config": bench.PUBLIC_CONFIG, "warm": [], "token": None},
                 {"name": "repeated-HS256", "config": jwt, "warm": [token], "token": token},
                 {"name": "repeated-RS256", "config": jwt, "warm": [rs256], "token": rs256}]
    (tmp_path / "scenarios.json").write_text(json.dumps({"now": int(time.time()), "scenarios": scenarios}))
    subprocess.run([str(ROOT / "target" / "debug" / "examples" / "twins"), str(tmp_path / "scenarios.json"), str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "public", "repeated-HS256", "repeated-RS256"], cwd=ROOT,
                         capture_output=True, text=True,
                         env={**os.environ, "TWINS": str(tmp_path), "ROUNDS": "3", "PER_ROUND": "300", "LOG_LEVEL": "2", "HOST_WORK": "1"})
    assert run.returncode == 0, run.stderr
    rows = [line.split(" | ")[0].strip("| ") for line in run.stdout.splitlines()[2:]]
    assert rows == ["public", "repeated-HS256", "repeated-RS256"], run.stdout
    # Node's `verify_signature` passed the filter's probe: RSA and ECDSA go to the host, as in
    # Envoy (each VM logs the algorithms its host checks); with HOST_WORK=1 each later call also
    # checks a real RSA signature, and a failed check would fail the RS256 token's first request.
    crypto = [line for line in run.stderr.splitlines() if line.startswith("host crypto:")]
    assert crypto and all({"RS256", "ES256", "ES384"} <= set(line.split()) for line in crypto), run.stderr
    # tools/noop-filter's synthetic code, each side given its own configuration: built with
    # the `synthetic` feature it runs, without it the configuration is refused.
    bench.build_noop(synthetic=True)
    env = {**os.environ, "TWINS": str(tmp_path), "ROUNDS": "3", "PER_ROUND": "300", "FILTER": str(bench.NOOP_SYNTHETIC),
           "AGAINST": str(bench.NOOP_SYNTHETIC), "FILTER_CONFIG": '{"op": "branches", "n": 1}', "AGAINST_CONFIG": "{}"}
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "public"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.splitlines()[2].startswith("| public |"), run.stderr
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "public"], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "FILTER": str(bench.NOOP)})
    assert run.returncode != 0 and "configuration refused" in run.stderr, run.stderr
    # A twin's recording with a `synthetic` line: that code runs at that point of the replay
    # (the synthetic build); the build without it refuses the recording.
    twin = (tmp_path / "repeated-HS256.twin").read_text()
    env = {**env, "FILTER_CONFIG": twin + "request_headers synthetic 01000000\n", "AGAINST_CONFIG": twin}
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "repeated-HS256"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.splitlines()[2].startswith("| repeated-HS256 |"), run.stderr
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "repeated-HS256"], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "FILTER": str(bench.NOOP)})
    assert run.returncode != 0 and "configuration refused" in run.stderr, run.stderr
    # An `away` line, in any build of the twin: it stays that long (2 ms here) at that point,
    # reading the host's clock (Node's has whole milliseconds, so at least 1 ms more a request).
    env = {**os.environ, "TWINS": str(tmp_path), "ROUNDS": "3", "PER_ROUND": "50", "FILTER": str(bench.NOOP),
           "AGAINST": str(bench.NOOP), "FILTER_CONFIG": twin + "request_headers away 80841e00\n", "AGAINST_CONFIG": twin}
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "repeated-HS256"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    own = int(run.stdout.splitlines()[2].split("|")[4].split()[0])
    assert 900_000 < own < 20_000_000, run.stdout
    # `AWAY`: one row per length the host keeps the core at a signature check, each after the
    # first with its difference from the first, round by round; a configuration given as
    # `@path` is that file's text (the control: a twin against a copy of itself).
    env = {**os.environ, "TWINS": str(tmp_path), "ROUNDS": "2", "PER_ROUND": "50", "AWAY": "0,50",
           "FILTER": str(bench.NOOP), "FILTER_CONFIG": f"@{tmp_path / 'repeated-RS256.twin'}"}
    run = subprocess.run(["node", str(ROOT / "tools" / "v8_work.mjs"), "repeated-RS256"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in run.stdout.splitlines()[2:]]
    assert [r[0] for r in rows] == ["repeated-RS256, host away 0 µs", "repeated-RS256, host away 50 µs"], run.stdout
    assert rows[0][4] == "" and rows[1][4].endswith("]"), run.stdout


@pytest.mark.xdist_group("load")  # two proxies under wrk: not beside the load tests
def test_bench_ab_compares_two_builds_loaded_together():
    """tools/bench_ab.py, the build against itself: one line per path, b − a with its spread."""
    wasm = str(ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm")
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_ab.py"), wasm, wasm, "--paths", "public,HS256 repeated",
                          "--repeats", "1", "--seconds", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["public", "HS256 repeated"], run.stdout
    assert all("b − a" in line and "µs per request" in line for line in lines), run.stdout
    # Each side with a configuration of its own: tools/noop-filter's synthetic branches on B.
    sys.path.insert(0, str(ROOT / "tools"))
    import bench
    bench.build_noop(synthetic=True)
    noop = str(bench.NOOP_SYNTHETIC)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_ab.py"), noop, noop, "--paths", "public", "--config-a", "{}",
                          "--config-b", '{"op": "branches", "n": 1}', "--repeats", "1", "--seconds", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("public: b − a"), run.stderr
