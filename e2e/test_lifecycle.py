"""The request lifecycle under attack, in a real Envoy (--concurrency 2), with and without
`allow_on_headers_stop_iteration`: while the filter waits on a slow IdP (an introspection miss,
the first JWKS fetch), a request over HTTP/1.1 or HTTP/2 — headers only, with a body, with a
body and trailers — carrying a bad token and a spoofed identity header never reaches the
upstream (the echo upstream records every request whose headers arrive), and its client gets
the decision. A client that gives up mid-wait takes nothing with it: the others waiting for
the same answer get it, and it is cached for the next ones."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import h2client
from conftest import LOADINGS, call
from envoy import free_port
from tokens import mint

ROOT_KEYS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-harness" / "fixtures" / "keys"
IDP = 10200
# Bootstrap, listener, echo port, and what a refused request's status is.
WAITS = {
    "introspection": ("e2e-introspection.yaml", 10003, 10103),
    "first-jwks": ("e2e-faults.yaml", 10008, 10108),
}
INTROSPECTION_DELAY = 1.5
JWKS_DELAY = 0.6


class SlowIdp(BaseHTTPRequestHandler):
    """Introspection (POST): after 1.5 s, active only for the token `good`. JWKS (GET): the
    fixture keys after 0.6 s."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        self.server.calls += 1
        self.server.tokens.append(body.split("token=")[1].split("&")[0] if "token=" in body else "")
        time.sleep(INTROSPECTION_DELAY)
        active = "token=good&" in body + "&"
        out = json.dumps({"active": active, "sub": "idp-user", "client_id": "gateway", "scope": "orders:read",
                          "exp": int(time.time()) + 60}).encode()
        self._send(out)

    def do_GET(self):
        self.server.calls += 1
        time.sleep(JWKS_DELAY)
        self._send((ROOT_KEYS / "jwks.json").read_bytes())

    def _send(self, out):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.fixture
def slow_idp():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), SlowIdp)
    server.calls = 0
    server.tokens = []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def bad_token(wait):
    if wait == "introspection":
        return "random-opaque-token"
    token = mint("RS256")
    head, body, sig = token.split(".")
    return f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"


def h1(port, path, headers, body=None):
    method = "POST" if body is not None else "GET"
    return call(port, path, headers, method=method, body=body).status


def h1_abort(port, path, headers, after):
    """An HTTP/1.1 client that sends its request and closes the connection `after` seconds."""
    s = socket.create_connection(("127.0.0.1", port))
    lines = [f"GET {path} HTTP/1.1", "host: api.test"] + [f"{k}: {v}" for k, v in headers.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    time.sleep(after)
    s.close()


SHAPES = [
    pytest.param("h1", "headers", id="h1-headers"),
    pytest.param("h1", "body", id="h1-body"),
    pytest.param("h2", "headers", id="h2-headers"),
    pytest.param("h2", "body", id="h2-body"),
    pytest.param("h2", "trailers", id="h2-body-trailers"),
]


def send(proto, shape, port, headers):
    body = b'{"order": 1}' if shape != "headers" else None
    if proto == "h1":
        return h1(port, "/orders", headers, body)
    trailers = {"x-t": "1"} if shape == "trailers" else None
    answer = h2client.request(port, "/orders", headers, method="POST" if body else "GET", body=body, trailers=trailers)
    return answer.status


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("wait", list(WAITS))
@pytest.mark.parametrize("proto,shape", SHAPES)
def test_a_waiting_request_never_reaches_the_upstream_before_the_decision(start_envoy, slow_idp, proto, shape, wait, stop_iteration):
    bootstrap, listener, echo = WAITS[wait]
    envoy = start_envoy(bootstrap, echo, fixed_ports={IDP: slow_idp.server_address[1]}, stop_iteration=stop_iteration)
    headers = {"authorization": f"Bearer {bad_token(wait)}", "x-credential-sub": "admin", "x_credential_sub": "admin"}
    status = send(proto, shape, envoy.port(listener), headers)
    assert status == 401, f"the decision comes back to the client: {status}"
    assert envoy.echo.seen == [], f"nothing reached the upstream: {envoy.echo.seen}"
    assert slow_idp.calls >= 1, "the request did wait on the IdP"


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_a_client_that_gives_up_takes_nothing_with_it(start_envoy, slow_idp, proto, stop_iteration):
    bootstrap, listener, echo = WAITS["introspection"]
    envoy = start_envoy(bootstrap, echo, fixed_ports={IDP: slow_idp.server_address[1]}, stop_iteration=stop_iteration)
    port = envoy.port(listener)
    headers = {"authorization": "Bearer good"}
    if proto == "h1":
        quitter = threading.Thread(target=h1_abort, args=(port, "/orders", headers, 0.3))
    else:
        quitter = threading.Thread(target=h2client.request, args=(port, "/orders", headers), kwargs={"abort_after": 0.3})
    quitter.start()
    time.sleep(0.1)  # the quitter's request made the call; these wait for its answer
    results = []

    def stay():
        r = call(port, "/orders", headers)
        results.append((r.status, r.upstream("x-credential-sub") if r.status == 200 else None))

    stayers = [threading.Thread(target=stay) for _ in range(4)]
    for t in stayers:
        t.start()
    for t in stayers + [quitter]:
        t.join(15)
    assert results == [(200, "idp-user")] * 4, f"every waiter gets the IdP's answer, never a 503: {results}"
    assert slow_idp.calls == 1, "one call for all of them"
    # The answer is cached: the next requests pass at once, with no new call.
    started = time.time()
    r = call(port, "/orders", headers)
    assert r.status == 200 and time.time() - started < 1.0
    assert slow_idp.calls == 1


def test_cached_tokens_keep_passing_during_a_flood_of_random_ones(start_envoy, slow_idp):
    """A load test: 16 clients send random opaque tokens for 3 s (each costs an IdP call, or a
    503 once a worker has max_calls_in_flight out) while a client with a good token keeps
    asking: every good request passes, and the good token was introspected only when its
    cached answer expired (the profile's ttl is 2 s), never because a random token took it."""
    import concurrent.futures
    import uuid
    bootstrap, listener, echo = WAITS["introspection"]
    envoy = start_envoy(bootstrap, echo, fixed_ports={IDP: slow_idp.server_address[1]})
    port = envoy.port(listener)
    assert call(port, "/orders", {"authorization": "Bearer good"}).status == 200
    started = time.time()
    stop = started + 3
    flood_statuses = []

    def flood():
        while time.time() < stop:
            flood_statuses.append(call(port, "/orders", {"authorization": f"Bearer {uuid.uuid4().hex}"}).status)

    good = []
    with concurrent.futures.ThreadPoolExecutor(17) as pool:
        floods = [pool.submit(flood) for _ in range(16)]
        while time.time() < stop:
            good.append(call(port, "/orders", {"authorization": "Bearer good"}).status)
            time.sleep(0.02)
        for f in floods:
            f.result()
    assert good and set(good) == {200}, f"every good request passed: {sorted(set(good))}"
    assert set(flood_statuses) <= {401, 503}, sorted(set(flood_statuses))
    elapsed = time.time() - started
    assert slow_idp.tokens.count("good") <= 2 + int(elapsed // 2), "the good token's answer stayed cached until its ttl"
    assert envoy.echo.seen.count(("GET", "/orders")) == len(good) + 1, "only the good requests reached the upstream"
