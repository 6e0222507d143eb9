#!/usr/bin/env python3
"""The fleet store's price, for `make bench` (or alone: `tools/bench_fleet.py --write`): the
latency a client sees for a DPoP request with a new proof and for an admin write (a POST and a
DELETE of a server), through one Envoy (--concurrency 2) with filters/e2e-fleet.json against
Debian's etcd (auth on) on 127.0.0.1, and through the same Envoy and configuration without
`store`, measured in the same run, alternately. Prints Markdown; with --write, rewrites the
`fleet` section of BENCHMARKS.md."""
import argparse
import datetime
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
from conftest import call  # noqa: E402
from echo import serve  # noqa: E402
from envoy import Envoy  # noqa: E402
from etcd import Etcd  # noqa: E402
from idp import Idp  # noqa: E402
from test_fleet import ECHO, ETCD, ETCD_PASSWORD, ETCD_USER, IDP, LISTENER, PREFIX, PUBLIC, SERVER  # noqa: E402
from test_sender_constrained import dpop_client  # noqa: E402


def bootstrap(tmp, with_store):
    config = json.loads((ROOT / "filters" / "e2e-fleet.json").read_text())
    rendered = (ROOT / "envoy-config" / "e2e-fleet.yaml").read_text()
    original = json.dumps(json.dumps(config, separators=(",", ":")))
    if not with_store:
        config.pop("store")
    path = tmp / f"fleet-{'store' if with_store else 'local'}.yaml"
    path.write_text(rendered.replace(original, json.dumps(json.dumps(config, separators=(",", ":")))))
    return str(path)


def ms(values):
    values = sorted(values)
    return statistics.median(values) * 1000, values[int(len(values) * 0.9)] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200, help="DPoP requests per configuration")
    ap.add_argument("--writes", type=int, default=50, help="admin POST + DELETE pairs per configuration")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    etcd = Etcd(tmp)
    etcd.enable_auth(ETCD_USER, ETCD_PASSWORD, PREFIX)
    idp = Idp(tmp, "k1")
    envoys = {}
    try:
        for name, with_store in [("store", True), ("per proxy", False)]:
            envoy = Envoy(bootstrap(tmp, with_store), tmp, concurrency=2, fixed_ports={IDP: idp.port, ETCD: etcd.port})
            envoy.echo = serve(envoy.port(ECHO))
            envoys[name] = envoy
        url = f"http://{PUBLIC}/orders/1"
        got = dpop_client(idp, "ES256", *[f"GET {url}"] * (2 * a.requests + 4))
        token, proofs = got["token"], iter(got["proofs"])
        r = call(envoys["per proxy"].port(LISTENER), "/.well-known/otoroshi/oauth/token", {"content-type": "application/json"},
                 method="POST", body=json.dumps({"grant_type": "client_credentials", "client_id": "admin",
                                                 "client_secret": "janus-admin-secret", "scope": "admin"}))
        admin = r.json()["access_token"]
        time.sleep(1.5)  # the store's first poll
        dpop = {name: [] for name in envoys}
        writes = {name: [] for name in envoys}
        for name, envoy in envoys.items():  # warm: keys fetched, lease granted
            assert call(envoy.port(LISTENER), "/orders/1", {"host": PUBLIC, "authorization": f"DPoP {token}", "dpop": next(proofs)}).status == 200
        for _ in range(a.requests):
            for name, envoy in envoys.items():
                headers = {"host": PUBLIC, "authorization": f"DPoP {token}", "dpop": next(proofs)}
                started = time.perf_counter()
                status = call(envoy.port(LISTENER), "/orders/1", headers).status
                dpop[name].append(time.perf_counter() - started)
                assert status == 200, status
        admin_headers = {"host": "janus-admin", "content-type": "application/json", "authorization": f"Bearer {admin}"}
        for i in range(a.writes):
            for name, envoy in envoys.items():
                started = time.perf_counter()
                posted = call(envoy.port(LISTENER), "/oauth/servers", admin_headers, method="POST", body=json.dumps(SERVER)).status
                deleted = call(envoy.port(LISTENER), "/oauth/servers/local", admin_headers, method="DELETE").status
                writes[name].append((time.perf_counter() - started) / 2)
                assert (posted, deleted) == (201, 204), (name, posted, deleted)
    finally:
        for envoy in envoys.values():
            envoy.stop()
            envoy.echo.shutdown()
        idp.stop()
        etcd.stop()
    rows = ["| request | per proxy: median / p90 ms | with `store.etcd`: median / p90 ms | added (median) |", "| --- | --- | --- | --- |"]
    for label, data in [("DPoP request, new proof (`GET`, ES256)", dpop), ("admin write (`POST` or `DELETE`)", writes)]:
        (lm, l9), (sm, s9) = ms(data["per proxy"]), ms(data["store"])
        rows.append(f"| {label} | {lm:.2f} / {l9:.2f} | {sm:.2f} / {s9:.2f} | +{sm - lm:.2f} ms |")
    table = "\n".join(rows)
    table += (f"\n\n{a.requests} DPoP requests and {a.writes} POST + DELETE pairs per configuration, one at a time, the two"
              " configurations alternating; latency as the client sees it (Python's http.client, a new connection each).")
    print(table)
    if a.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        start, end = "<!-- fleet:start -->", "<!-- fleet:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        intro = f"Run on {datetime.date.today().isoformat()}, {os.cpu_count()} cores, by `make bench` (or alone: `tools/bench_fleet.py --write`)."
        path.write_text(head + f"{start}\n{intro}\n\n{table}\n{end}" + tail)


if __name__ == "__main__":
    main()
