#!/usr/bin/env python3
"""Two builds of the filter on one path, in Envoy: each repeat starts both proxies afresh, warms
them, then loads them at the same moment (tools/bench.py's run_together), so whatever the
machine does meanwhile falls on both. Prints, per path, B − A in µs of Envoy CPU per request:
median [min–max] of the repeats. A build against a copy of itself shows the method's noise.

  .venv/bin/python tools/bench_ab.py A.wasm B.wasm [--paths 'RS256 first-seen,HS256 repeated']
                                     [--repeats 11] [--seconds 4] [--concurrency 1] [--spread-out | --split] [--each]
                                     [--settings-b '{"verified_cache_size": 0}']
                                     [--config-a JSON] [--config-b JSON]

B may be the same build as A with other settings: --settings-b is merged into B's token
strategy settings (a JWT path's), so a setting's price is measured the same way. --config-a
and --config-b replace a side's whole plugin configuration (e.g. `tools/noop-filter`'s
synthetic code: BENCHMARKS.md, "What a branch costs in Envoy"), given as JSON or as @file: a
twin's recording (target/twins/<path>.twin, a string configuration) is read whole from its
file.

Paths: '<alg> repeated', '<alg> first-seen' (its 4 000 kept tokens cycled), 'public'."""
import argparse
import itertools
import json
import pathlib
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

BASE_IDS = itertools.count(7000)


def with_settings(cfg, settings):
    """`cfg` with `settings` merged into each JWT server's settings (a copy)."""
    cfg = json.loads(json.dumps(cfg))
    for server in cfg.get("oauth_servers", {}).values():
        server["token_strategy"]["settings"].update(settings)
    return cfg


def config(arg):
    """A --config-a/-b value: JSON, or @path: that file's text (a twin's recording) as it is."""
    if arg.startswith("@"):
        return pathlib.Path(arg[1:]).read_text()
    return json.loads(arg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--paths", default="RS256 first-seen")
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--each", action="store_true", help="also print every repeat's B − A")
    placement = ap.add_mutually_exclusive_group()
    placement.add_argument("--spread-out", action="store_true", help="at --concurrency 2, leave the proxies' threads on both cores")
    placement.add_argument("--split", action="store_true", help="at --concurrency 2, one worker of each proxy on each core (bench.py's --placement split)")
    ap.add_argument("--settings-b", default="{}", help="JSON merged into B's JWT settings")
    ap.add_argument("--config-a", help="A's whole plugin configuration (JSON)")
    ap.add_argument("--config-b", help="B's whole plugin configuration (JSON)")
    args = ap.parse_args()
    if args.spread_out:
        bench.PLACEMENT = "spread"
    elif args.split:
        bench.PLACEMENT = "split"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-ab-"))
    idp = ThreadingHTTPServer(("127.0.0.1", bench.free_port()), bench.Idp)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    for path in [p.strip() for p in args.paths.split(",")]:
        cfg, kw = bench.jwt_config(), {}
        if path == "public":
            cfg = bench.PUBLIC_CONFIG
        else:
            alg, mode = path.split()
            tokens = bench.tokens_for(alg, 4000)
            if mode == "repeated":
                kw = {"header": tokens["repeated"]}
            else:
                kw = {"script": bench.fresh_script(tmp, alg, tokens["fresh"])}
        cfg_a = config(args.config_a) if args.config_a else cfg
        cfg_b = config(args.config_b) if args.config_b else with_settings(cfg, json.loads(args.settings_b))
        proxies = [bench.Proxy(name, bench.wasm_filter(c, wasm), args.concurrency, tmp, idp.server_address[1], next(BASE_IDS))
                   for name, wasm, c in (("a", args.a, cfg_a), ("b", args.b, cfg_b))]
        diffs = []
        try:
            for _ in range(args.repeats):
                for p in proxies:
                    p.restart(next(BASE_IDS))
                    bench.run_wrk(p, 1, **kw)
                ra, rb = bench.run_together((proxies[0], kw), (proxies[1], kw), args.seconds)
                if ra["errors"] or rb["errors"]:
                    raise SystemExit(f"{path}: refused requests (a {ra['errors']}, b {rb['errors']})")
                diffs.append(rb["cpu_us"] - ra["cpu_us"])
        finally:
            for p in proxies:
                p.stop()
        print(f"{path}: b − a {bench.spread(diffs, 2)} µs per request ({args.repeats} × {args.seconds} s, conc {args.concurrency})", flush=True)
        if args.each:
            print(f"  each repeat (a pair of proxies started afresh): {' '.join(f'{d:.2f}' for d in diffs)}", flush=True)


if __name__ == "__main__":
    main()
