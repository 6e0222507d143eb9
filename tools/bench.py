#!/usr/bin/env python3
"""`make bench`: extra Envoy CPU per request, requests/s, p50 and p99 for Envoy with no auth
filter (the ceiling), an empty Wasm filter (the floor of any Wasm filter), Envoy's native
jwt_authn (with and without its jwt_cache_config) and this filter, side by side in one run, on
127.0.0.1 with wrk. Envoy answers with a direct response, so the upstream is not the
bottleneck, and once proxying to an upstream. Then the in-process numbers (per-token cost on
wasmtime and natively, the VM's memory) from test-harness/examples/verify_cost.rs, and the
.wasm's size. Prints Markdown; with --write, also rewrites the results section of
BENCHMARKS.md.
Usage: tools/bench.py [--seconds 3] [--concurrency 1,2] [--algs HS256,RS256,ES256,EdDSA] [--write]"""
import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
from envoy import ENVOY, free_port  # noqa: E402
from tokens import mint  # noqa: E402

KEYS = ROOT / "test-harness" / "fixtures" / "keys"
ALGS = ["HS256", "RS256", "ES256", "EdDSA"]
TICK = os.sysconf("SC_CLK_TCK")


def jwks_with_hs():
    jwks = json.loads((KEYS / "jwks.json").read_text())
    import base64
    jwks["keys"].append({"kty": "oct", "kid": "hs", "alg": "HS256",
                         "k": base64.urlsafe_b64encode(b"hs-secret-for-tests").decode().rstrip("=")})
    return jwks


def token(alg, i=0):
    claims = {"n": i, "exp": int(time.time()) + 7200}
    if alg == "HS256":
        return mint("HS256", claims, key=b"hs-secret-for-tests", kid="hs", lifetime=7200)
    return mint(alg, claims, lifetime=7200)


def listener(port, filters, direct=True):
    route = "direct_response: {status: 200, body: {inline_string: ok}}" if direct else "route: {cluster: upstream}"
    return f"""
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: /}}
                {route}
          http_filters:
{filters}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"""


NOOP = ROOT / "target" / "noop" / "wasm32-wasip1" / "release" / "noop_filter.wasm"


def build_noop():
    subprocess.run(["cargo", "build", "-q", "--release", "--target", "wasm32-wasip1", "--manifest-path",
                    str(ROOT / "tools" / "noop-filter" / "Cargo.toml"), "--target-dir", str(ROOT / "target" / "noop")],
                   check=True)


def wasm_filter(config, wasm=ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm"):
    return f"""          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                root_id: oauth_filter
                failure_policy: FAIL_RELOAD
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: {wasm}}}}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {json.dumps(json.dumps(config))}"""


def jwt_authn(cache):
    cache_cfg = "\n                  jwt_cache_config: {jwt_cache_size: 1000}" if cache else ""
    return f"""          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                p:
                  local_jwks: {{inline_string: {json.dumps(json.dumps(jwks_with_hs()))}}}
                  forward: true{cache_cfg}
              rules:
              - match: {{prefix: /}}
                requires: {{provider_name: p}}"""


def bootstrap(admin, port, filters, idp_port, upstream_port=None):
    direct = upstream_port is None
    upstream = "" if direct else f"""
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream_port}}}}}}}}}]}}]"""
    return f"""admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:{listener(port, filters, direct)}
  clusters:{upstream}
  - name: idp
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: idp
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {idp_port}}}}}}}}}]}}]
"""


class Idp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = (json.dumps({"active": True, "sub": "bench", "exp": int(time.time()) + 7200})
                if "introspect" in self.path else
                json.dumps({"access_token": "upstream-token", "token_type": "Bearer", "expires_in": 7200})).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Proxy:
    def __init__(self, name, filters, concurrency, tmp, idp_port, base_id, upstream_port=None, core=1):
        self.name, self.admin, self.port = name, free_port(), free_port()
        path = tmp / f"{name}-{concurrency}.yaml"
        path.write_text(bootstrap(self.admin, self.port, filters, idp_port, upstream_port))
        # At --concurrency 1 Envoy gets core 1 and wrk core 0, so they do not steal each other's time.
        pin = ["taskset", "-c", str(core)] if concurrency == 1 and (os.cpu_count() or 1) >= 2 else []
        self.pinned = bool(pin)
        self.proc = subprocess.Popen(pin + [ENVOY, "-c", str(path), "--concurrency", str(concurrency), "--base-id", str(base_id),
                                      "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import urllib.request
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not start")

    def cpu(self):
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/", {["authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1]})
end
"""


def run_wrk(proxy, seconds, header=None, script=None):
    cmd = (["taskset", "-c", "0"] if proxy.pinned else []) + ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{proxy.port}/"]
    at = cmd.index("wrk") + 1
    if header:
        cmd[at:at] = ["-H", f"authorization: Bearer {header}"]
    if script:
        cmd[at:at] = ["-s", str(script)]
    before = proxy.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    cpu = proxy.cpu() - before
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50", "?"), "p99": lat.get("99", "?"), "cpu_us": cpu / max(total, 1) * 1e6,
            "errors": int(non2xx.group(1)) if non2xx else 0, "n": total}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--concurrency", default="1,2")
    ap.add_argument("--fresh", type=int, default=4000, help="distinct tokens per algorithm for first-seen runs")
    ap.add_argument("--algs", default=",".join(ALGS), help="JWT algorithms to measure")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    algs = a.algs.split(",")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    idp = ThreadingHTTPServer(("127.0.0.1", free_port()), Idp)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    idp_port = idp.server_address[1]
    import warnings
    warnings.filterwarnings("ignore")
    print("minting tokens…", file=sys.stderr)
    repeated = {alg: token(alg) for alg in algs}
    scripts = {}
    for alg in algs:
        f = tmp / f"{alg}.tokens"
        f.write_text("\n".join(token(alg, i) for i in range(a.fresh)) + "\n")
        s = tmp / f"{alg}.lua"
        s.write_text(LUA % f)
        scripts[alg] = s
    jwt_cfg = {"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": jwks_with_hs()}}},
               "policies": {"p": {"oauth_server": "s"}}, "default_policy": "p"}
    intro_cfg = {"oauth_servers": {"i": {"token_strategy": {"name": "introspection", "settings": {
        "introspection_url": "http://idp/introspect", "cluster": "idp", "ttl": 3600}}}},
        "policies": {"p": {"oauth_server": "i"}}, "default_policy": "p"}
    cc_cfg = {"policies": {"p": {"public": True, "upstream_client_credentials": {
        "client_id": "bench", "client_secret": "bench-secret", "token_url": "http://idp/token", "cluster": "idp"}}},
        "default_policy": "p"}
    public_cfg = {"policies": {"p": {"public": True}}, "default_policy": "p"}
    build_noop()
    proxies = [("no filter", ""), ("empty wasm filter", wasm_filter({}, NOOP)), ("oauth-filter public", wasm_filter(public_cfg)),
               ("jwt_authn", jwt_authn(False)), ("jwt_authn+cache", jwt_authn(True)),
               ("oauth-filter", wasm_filter(jwt_cfg)), ("oauth-filter introspection", wasm_filter(intro_cfg)),
               ("oauth-filter client credentials", wasm_filter(cc_cfg))]
    rows = []
    base_id = 5100
    for conc in [int(c) for c in a.concurrency.split(",")]:
        running = {}
        for name, filters in proxies:
            base_id += 1
            running[name] = Proxy(name.replace(" ", "_").replace("+", "_"), filters, conc, tmp, idp_port, base_id)
        try:
            # warm up (and fill the introspection cache / fetch the upstream token)
            for p in running.values():
                run_wrk(p, 1, header=repeated[algs[0]])
            ceiling = run_wrk(running["no filter"], a.seconds)
            rows.append(("no filter", "-", "-", conc, ceiling))
            rows.append(("empty wasm filter (same SDK, V8)", "-", "-", conc, run_wrk(running["empty wasm filter"], a.seconds)))
            rows.append(("oauth-filter", "public route (no token)", "-", conc, run_wrk(running["oauth-filter public"], a.seconds)))
            for label, proxy in [("introspection (cache hit)", "oauth-filter introspection"),
                                 ("client credentials (cached token)", "oauth-filter client credentials")]:
                rows.append(("oauth-filter", label, "-", conc, run_wrk(running[proxy], a.seconds, header="opaque-token")))
            for alg in algs:
                for mode in ["repeated", "first-seen"]:
                    for name in ["jwt_authn", "jwt_authn+cache", "oauth-filter"]:
                        kw = {"header": repeated[alg]} if mode == "repeated" else {"script": scripts[alg]}
                        rows.append((name, alg, mode, conc, run_wrk(running[name], a.seconds, **kw)))
            # Once proxying: the same filters in front of an upstream (another Envoy answering
            # directly, on wrk's core), for RS256, the common case.
            base_id += 1
            upstream = Proxy("upstream", "", 1, tmp, idp_port, base_id, core=0)
            running["upstream"] = upstream
            for name, filters in [("no filter", ""), ("jwt_authn+cache", jwt_authn(True)), ("oauth-filter", wasm_filter(jwt_cfg))]:
                base_id += 1
                label = f"{name} (proxying)"
                running[label] = Proxy(label.replace(" ", "_").replace("+", "_").replace("(", "").replace(")", ""), filters,
                                       conc, tmp, idp_port, base_id, upstream_port=upstream.port)
            alg = "RS256" if "RS256" in algs else algs[0]
            for p in [running[f"{n} (proxying)"] for n in ["no filter", "jwt_authn+cache", "oauth-filter"]]:
                run_wrk(p, 1, header=repeated[alg])
            rows.append(("no filter (proxying)", "-", "-", conc, run_wrk(running["no filter (proxying)"], a.seconds)))
            for mode in ["repeated", "first-seen"]:
                for name in ["jwt_authn+cache (proxying)", "oauth-filter (proxying)"]:
                    kw = {"header": repeated[alg]} if mode == "repeated" else {"script": scripts[alg]}
                    rows.append((name, alg, mode, conc, run_wrk(running[name], a.seconds, **kw)))
        finally:
            for p in running.values():
                p.stop()
    table = render(rows)
    print("building the in-process measurements…", file=sys.stderr)
    measured = subprocess.run(["cargo", "run", "-q", "--profile", "measure", "-p", "test-harness", "--example", "verify_cost"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    wasm = ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm"
    size = wasm.stat().st_size
    table += (f"\n\nIn-process, one first-seen token (`test-harness/examples/verify_cost.rs`, wasmtime 48 "
              f"with Cranelift; native = the core compiled for this machine):\n\n{measured.strip()}\n\n"
              f"`oauth_filter.wasm`: {size} bytes ({size / 1048576:.3f} MiB).")
    print(table)
    if a.write:
        write(table, a)


def render(rows):
    ceilings = {(c, n.endswith("(proxying)")): r["cpu_us"] for n, _, _, c, r in rows if n.startswith("no filter")}
    native = {(alg, mode, c, n.endswith("(proxying)")): r["cpu_us"] for n, alg, mode, c, r in rows if n.startswith("jwt_authn+cache")}
    out = ["| proxy | token | mode | conc | req/s | p50 | p99 | Envoy CPU µs/req | × no filter CPU | extra µs vs no filter | × jwt_authn+cache extra | non-2xx |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, alg, mode, conc, r in rows:
        proxying = name.endswith("(proxying)")
        ceiling = ceilings.get((conc, proxying), 0)
        extra = r["cpu_us"] - ceiling
        n_extra = native.get((alg, mode, conc, proxying), None)
        ratio = f"{extra / (n_extra - ceiling):.2f}" if n_extra is not None and not name.startswith("no filter") and n_extra - ceiling > 0.5 else "-"
        of_ceiling = f"{r['cpu_us'] / ceiling:.2f}" if ceiling > 0 else "-"
        out.append(f"| {name} | {alg} | {mode} | {conc} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['cpu_us']:.1f} | "
                   f"{of_ceiling} | {extra:.1f} | {ratio} | {r['errors']} |")
    return "\n".join(out)


def write(table, a):
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    head, _, _ = text.partition("<!-- results:start -->")
    _, _, tail = text.partition("<!-- results:end -->")
    when = datetime.date.today().isoformat()
    result = (f"<!-- results:start -->\nRun on {when}, {os.cpu_count()} cores, command "
              f"`tools/bench.py --seconds {a.seconds} --concurrency {a.concurrency} --write` (via `make bench`).\n\n"
              f"{table}\n<!-- results:end -->")
    path.write_text(head + result + tail)


if __name__ == "__main__":
    main()
