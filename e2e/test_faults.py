"""Faults under load in a real Envoy (--concurrency 2): the IdP's endpoints flap — answering,
failing with 500, sending garbage, answering too late, closing the connection mid-answer —
while clients send good and bad tokens: the introspection endpoint under 8 Python clients, the
JWKS and token endpoints under wrk. Only the documented statuses come back, nothing that
should be refused reaches the upstream (counted there), and everything passes again once the
endpoints recover."""
import concurrent.futures
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import call
from envoy import free_port

# Tests whose assertions count requests made in a set time run one at a time, on one xdist
# worker (`--dist loadgroup`): two of them at once on two cores starve each other.
pytestmark = pytest.mark.xdist_group("load")

LISTENER, ECHO, IDP = 10003, 10103, 10200
MODES = ["ok", "500", "garbage", "slow", "reset"]


def answer(active):
    """An introspection answer for a token that is (or is not) active for a minute."""
    return json.dumps({"active": active, "sub": "user", "scope": "orders:read", "exp": int(time.time()) + 60}).encode()


def send_json(handler, status, out, extra=()):
    handler.send_response(status)
    for k, v in extra:
        handler.send_header(k, v)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(out)))
    handler.end_headers()
    handler.wfile.write(out)


class Flapping(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        mode = self.server.mode()
        self.server.calls += 1
        if mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"active\": tr")
            self.connection.close()
            return
        if mode == "slow":
            time.sleep(3.5)  # beyond the profile's 3 s timeout
        if mode == "500":
            status, out = 500, b"{}"
        elif mode == "garbage":
            status, out = 200, b"<html>not json"
        else:
            status = 200
            active = "token=good" in body
            out = answer(active)
        send_json(self, status, out)

    def log_message(self, *a):
        pass


def test_flapping_introspection_endpoint_under_load(start_envoy, tmp_path):
    port = free_port()
    idp = ThreadingHTTPServer(("127.0.0.1", port), Flapping)
    idp.daemon_threads = True
    idp.handle_error = lambda *a: None  # resets and timeouts break pipes on purpose
    idp.calls = 0
    state = {"flapping": True, "start": time.time()}
    idp.mode = lambda: MODES[int((time.time() - state["start"]) / 0.4) % len(MODES)] if state["flapping"] else "ok"
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    envoy = start_envoy("e2e-introspection.yaml", ECHO, fixed_ports={IDP: port})

    def client(n):
        statuses = []
        deadline, cap = time.time() + 6, time.time() + 15
        i = 0
        # At least 15 requests per client, whatever the phase: a client that meets two slow
        # windows spends 6 s waiting on timeouts (fresh-clone CI once counted 92 requests in all).
        while time.time() < cap and (time.time() < deadline or i < 15):
            kind = "good" if (i + n) % 2 == 0 else "bad"
            started = time.time()
            r = call(envoy.port(LISTENER), "/orders", {"authorization": f"Bearer {kind}-{n}-{i % 5}"})
            statuses.append((kind, r.status, time.time() - started))
            i += 1
        return statuses

    state["start"] = time.time()  # the flapping cycle starts with the clients, not with Envoy
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = [s for part in pool.map(client, range(8)) for s in part]
    assert len(results) > 100
    assert {status for _, status, _ in results} <= {200, 401, 503}, "only documented statuses"
    assert not [r for r in results if r[0] == "bad" and r[1] == 200], "a bad token passed"
    assert not [a for a in envoy.echo.authorizations if "bad-" in a], "a bad token reached the upstream"
    assert max(t for _, _, t in results) < 6, "latency stays bounded (timeout 3 s + 1 s of waiting at most)"
    assert {s for _, s, _ in results} & {503}, "the faults were felt"
    # Recovery: once the endpoint answers again, good tokens pass.
    state["flapping"] = False
    time.sleep(1.5)
    assert call(envoy.port(LISTENER), "/orders", {"authorization": "Bearer good-recovered"}).status == 200
    assert call(envoy.port(LISTENER), "/orders", {"authorization": "Bearer bad-recovered"}).status == 401
    idp.shutdown()


# The JWKS and token endpoints flap the same way while wrk drives the load.
WRK_LISTENER, WRK_ECHO = 10008, 10108
WRK_SCRIPT = """
local entries = {}
for line in io.lines("%s") do
  local path, auth = line:match("^(%%S+)\\t(%%S+)$")
  entries[#entries + 1] = {path = path, auth = auth}
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
local i = 0
counts = {}
function request()
  i = i + 1
  local e = entries[(i %% #entries) + 1]
  local headers = {}
  if e.auth ~= "-" then headers["authorization"] = "Bearer " .. e.auth end
  return wrk.format("GET", e.path, headers)
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do io.write(string.format("status %%d %%d\\n", status, n)) end
  end
  io.write(string.format("max_latency_us %%d\\n", latency.max))
  local e = summary.errors
  io.write(string.format("errors %%d\\n", e.connect + e.read + e.write + e.timeout))
end
"""


class FlappingIdp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _fault(self):
        mode = self.server.mode()
        if mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"keys\": [{\"kty\"")
            self.connection.close()
            return True
        if mode == "slow":
            time.sleep(1.5)  # beyond the 1 s timeouts of the profile
        if mode in ("500", "garbage"):
            self._send(500 if mode == "500" else 200, b"<html>not json" if mode == "garbage" else b"{}")
            return True
        return False

    def _send(self, status, out):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        self.server.calls["jwks"] += 1
        if not self._fault():
            self._send(200, json.dumps(self.server.jwks).encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.calls["token"] += 1
        if not self._fault():
            with self.server.lock:
                n = len(self.server.expiry)
                self.server.expiry[f"cc-{n}"] = time.time() + 2
            self._send(200, json.dumps({"access_token": f"cc-{n}", "token_type": "Bearer", "expires_in": 2}).encode())

    def log_message(self, *a):
        pass


class Recorder(BaseHTTPRequestHandler):
    """The upstream: records (arrival time, path, authorization) of everything let through."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append((time.time(), self.path, self.headers.get("authorization") or ""))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def recording_upstream(port):
    server = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    server.daemon_threads = True
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_flapping_jwks_and_token_endpoints_under_wrk(start_envoy, tmp_path):
    import pathlib
    import subprocess

    from tokens import KEYS, mint

    jwks = json.loads((pathlib.Path(KEYS) / "jwks.json").read_text())
    port = free_port()
    idp = ThreadingHTTPServer(("127.0.0.1", port), FlappingIdp)
    idp.daemon_threads = True
    idp.handle_error = lambda *a: None
    idp.jwks = {"keys": [k for k in jwks["keys"] if k["kid"] == "rsa"]}
    idp.calls, idp.expiry, idp.lock = {"jwks": 0, "token": 0}, {}, threading.Lock()
    state = {"flapping": False, "start": time.time()}
    idp.mode = lambda: MODES[int((time.time() - state["start"]) / 0.4) % len(MODES)] if state["flapping"] else "ok"
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    envoy = start_envoy("e2e-faults.yaml", WRK_ECHO, fixed_ports={10200: port}, upstream=recording_upstream)
    url = f"http://127.0.0.1:{envoy.port(WRK_LISTENER)}"

    good = [mint("RS256", {"jti": f"good-{i}"}) for i in range(10)]
    forged = [mint("RS256", {"jti": f"forged-{i}"}, key=(pathlib.Path(KEYS) / "rsa2.key").read_text(), kid="rsa")
              for i in range(5)]
    unknown_kid = [mint("ES256", {"jti": f"unknown-{i}"}) for i in range(5)]  # kid ec256: not served
    # Keys and an upstream token are in before the faults start.
    assert call(envoy.port(WRK_LISTENER), "/api", {"authorization": f"Bearer {good[0]}"}).status == 200
    assert call(envoy.port(WRK_LISTENER), "/cc/warm").status == 200

    entries = tmp_path / "entries.tsv"
    rows = [("/api/x", t) for t in good] + [("/api/x", t) for t in forged] + [("/api/x", t) for t in unknown_kid]
    rows += [("/cc/x", "-")] * 10
    entries.write_text("".join(f"{p}\t{a}\n" for p, a in rows))
    script = tmp_path / "flap.lua"
    script.write_text(WRK_SCRIPT % entries)
    state["flapping"], state["start"] = True, time.time()
    out = subprocess.run(["wrk", "-t2", "-c8", "-d8s", "--timeout", "10s", "-s", str(script), url],
                         capture_output=True, text=True, timeout=60).stdout
    state["flapping"] = False
    statuses = {}
    for status, n in re.findall(r"^status (\d+) (\d+)$", out, re.M):
        statuses[int(status)] = statuses.get(int(status), 0) + int(n)
    print("statuses", statuses, "idp calls", idp.calls)
    assert sum(statuses.values()) > 200, out
    assert set(statuses) <= {200, 401, 503}, f"only documented statuses: {statuses}"
    assert statuses.get(503), f"the faults were felt: {statuses}"
    assert statuses.get(200) and statuses.get(401), statuses
    assert int(re.search(r"^errors (\d+)$", out, re.M).group(1)) == 0, out
    assert int(re.search(r"^max_latency_us (\d+)$", out, re.M).group(1)) < 5_000_000, "timeout 1 s + max_wait 2 s"
    assert idp.calls["jwks"] > 3 and idp.calls["token"] > 3, idp.calls

    # Counted at the upstream: nothing unverifiable got through, and no expired upstream token.
    seen = list(envoy.echo.seen)
    api = [auth for _, path, auth in seen if path.startswith("/api")]
    assert api and all(a.removeprefix("Bearer ") in good for a in api), "only good tokens reach the upstream"
    cc = [(t, auth.removeprefix("Bearer ")) for t, path, auth in seen if path.startswith("/cc")]
    assert cc and all(tok in idp.expiry for _, tok in cc), "every /cc request carries a token the IdP issued"
    late = [(t - idp.expiry[tok], tok) for t, tok in cc if t > idp.expiry[tok] + 0.5]
    assert not late, f"expired upstream tokens were sent: {late[:3]}"

    # Recovery: once the endpoints answer again (after the backoff), everything works again.
    deadline = time.time() + 40
    while time.time() < deadline:
        a = call(envoy.port(WRK_LISTENER), "/api", {"authorization": f"Bearer {good[1]}"}).status
        c = call(envoy.port(WRK_LISTENER), "/cc/again").status
        # A new connection may reach the other worker, whose keys come on its own next fetch.
        f = call(envoy.port(WRK_LISTENER), "/api", {"authorization": f"Bearer {forged[0]}"}).status
        if (a, c, f) == (200, 200, 401):
            break
        time.sleep(0.5)
    assert (a, c, f) == (200, 200, 401)
    idp.shutdown()


class TooMany(BaseHTTPRequestHandler):
    """An introspection endpoint that asks for a pause (429, Retry-After) until told not to."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.calls += 1
        if self.server.limited:
            status, out, extra = 429, b"{}", [("retry-after", "2")]
        else:
            status, extra = 200, []
            out = answer(True)
        send_json(self, status, out, extra)

    def log_message(self, *a):
        pass


def test_a_429_with_retry_after_pauses_introspection_on_both_workers(start_envoy):
    port = free_port()
    idp = ThreadingHTTPServer(("127.0.0.1", port), TooMany)
    idp.daemon_threads, idp.calls, idp.limited = True, 0, True
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    envoy = start_envoy("e2e-introspection.yaml", ECHO, fixed_ports={IDP: port})
    started = time.time()
    statuses = [call(envoy.port(LISTENER), "/orders", {"authorization": f"Bearer token-{i}"}).status for i in range(12)]
    assert time.time() - started < 1.8, "the test ran inside the pause"
    assert statuses == [503] * 12
    assert idp.calls == 1, "one call, then none until Retry-After, on either worker"
    idp.limited = False
    time.sleep(2.2 - (time.time() - started))
    assert call(envoy.port(LISTENER), "/orders", {"authorization": "Bearer token-after"}).status == 200
    assert idp.calls == 2
    idp.shutdown()


def test_an_introspection_call_that_cannot_connect_is_made_once_more(start_envoy):
    envoy = start_envoy("e2e-introspection.yaml", ECHO, fixed_ports={IDP: free_port()})  # nothing listens there
    r = call(envoy.port(LISTENER), "/orders", {"authorization": "Bearer token-1"})
    assert r.status == 503
    stats = envoy.stats_once(lambda s: s.get("wasmcustom.oauth_filter.introspection.calls") == 2)
    assert stats["cluster.idp.upstream_cx_connect_fail"] == 2, "the call and its one retry"
    assert stats["wasmcustom.oauth_filter.introspection.calls"] == 2
