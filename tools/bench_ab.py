#!/usr/bin/env python3
"""Two builds of the filter on one path, in Envoy: each repeat starts both proxies afresh, warms
them, then loads them at the same moment (tools/bench.py's run_together), so whatever the
machine does meanwhile falls on both. Prints, per path, B − A in µs of Envoy CPU per request:
median [min–max] of the repeats. A build against a copy of itself shows the method's noise.

  .venv/bin/python tools/bench_ab.py A.wasm B.wasm [--paths 'RS256 first-seen,HS256 repeated']
                                     [--repeats 11] [--seconds 4] [--concurrency 1] [--spread-out]

Paths: '<alg> repeated', '<alg> first-seen' (its 4 000 kept tokens cycled), 'public'."""
import argparse
import itertools
import pathlib
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

BASE_IDS = itertools.count(7000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--paths", default="RS256 first-seen")
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--spread-out", action="store_true", help="at --concurrency 2, leave the proxies' threads on both cores")
    args = ap.parse_args()
    bench.TOGETHER_ON_ONE_CORE = not args.spread_out
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
        proxies = [bench.Proxy(name, bench.wasm_filter(cfg, wasm), args.concurrency, tmp, idp.server_address[1], next(BASE_IDS))
                   for name, wasm in (("a", args.a), ("b", args.b))]
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


if __name__ == "__main__":
    main()
