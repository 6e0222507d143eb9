"""Faults under load in a real Envoy (--concurrency 2): the introspection endpoint flaps —
answering, failing with 500, sending garbage, answering too late, closing the connection
mid-answer — while 8 clients send good and bad tokens. Only the documented statuses come
back, no request with a bad token ever reaches the upstream, and good tokens pass again once
the endpoint recovers."""
import concurrent.futures
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import call
from envoy import free_port

LISTENER, ECHO, IDP = 10003, 10103, 10200
MODES = ["ok", "500", "garbage", "slow", "reset"]


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
            out = json.dumps({"active": active, "sub": "user", "scope": "orders:read", "exp": int(time.time()) + 60}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

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
        deadline = time.time() + 6
        i = 0
        while time.time() < deadline:
            kind = "good" if (i + n) % 2 == 0 else "bad"
            started = time.time()
            r = call(envoy.port(LISTENER), "/orders", {"authorization": f"Bearer {kind}-{n}-{i % 5}"})
            statuses.append((kind, r.status, time.time() - started))
            i += 1
        return statuses

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
