"""The request lifecycle under attack, in a real Envoy (--concurrency 2), with and without
`allow_on_headers_stop_iteration` (and, through `make test-compat`, on the oldest Envoy too).

The matrix:
- every wait on the IdP (an introspection miss, the first JWKS fetch, an unknown kid's
  refetch, OIDC discovery, a client-credentials token for the upstream) × HTTP/1.1 and HTTP/2,
  headers only, with a body, with a body and trailers: a request with a bad token and spoofed
  identity headers (dashed and underscored) never reaches the upstream (the echo upstream
  records every request whose headers arrive) and its client gets the decision; a request let
  through reaches it once, after the decision, without the spoofed headers;
- the IdP resets every connection: the decision is 503, nothing reaches the upstream;
- a client gives up mid-wait: the others waiting for the same answer get their decision
  (never a 503 caused by another request's abort), with one IdP call for all;
- every endpoint the filter answers (the issuer's token and introspection endpoints, a Janus
  front's token endpoint; the admin API in e2e/test_seeds.py): with the option nothing reaches
  any upstream, without it the headers that go on carry no credential; trailers are refused;
- a flood of random opaque tokens leaves good cached tokens passing.
"""
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
INTROSPECTION_DELAY = 1.5
JWKS_DELAY = 0.6
ISSUER = "/.well-known/otoroshi/oauth"


class SlowIdp(BaseHTTPRequestHandler):
    """An IdP that takes its time. Introspection (POST): after 1.5 s, active only for the token
    `good`. Client credentials (POST …/token): a token after 0.6 s. Discovery and JWKS (GET):
    after 0.6 s. With `server.reset` set, every call is answered by closing the connection."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        self.server.calls += 1
        self.server.paths.append(self.path)
        self.server.tokens.append(body.split("token=")[1].split("&")[0] if "token=" in body else "")
        if self._reset():
            return
        if self.path.endswith("/token"):
            time.sleep(JWKS_DELAY)
            return self._send(json.dumps({"access_token": "cc-token", "token_type": "Bearer", "expires_in": 60}).encode())
        time.sleep(INTROSPECTION_DELAY)
        active = "token=good&" in body + "&"
        out = json.dumps({"active": active, "sub": "idp-user", "client_id": "gateway", "scope": "orders:read",
                          "exp": int(time.time()) + 60}).encode()
        self._send(out)

    def do_GET(self):
        self.server.calls += 1
        self.server.paths.append(self.path)
        if self._reset():
            return
        time.sleep(JWKS_DELAY)
        if self.path.endswith("openid-configuration"):
            return self._send(json.dumps({"issuer": "http://idp.test", "jwks_uri": "http://idp.test/jwks"}).encode())
        self._send((ROOT_KEYS / "jwks.json").read_bytes())

    def _reset(self):
        if not self.server.reset:
            return False
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.connection.close()
        return True

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
    server.paths = []
    server.tokens = []
    server.reset = False
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def bad_jwt(kid="auto"):
    token = mint("RS256", kid=kid, claims={"aud": "urn:orders"}, headers={"typ": "at+jwt"})
    head, body, sig = token.split(".")
    return f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"


class Wait:
    """One path on which a request waits for the IdP: its bootstrap, listener and echo ports,
    the request's path and token, what to do first, and the decision (status) it gets."""

    def __init__(self, bootstrap, listener, echo, path, token, status, warm=None):
        self.bootstrap, self.listener, self.echo = bootstrap, listener, echo
        self.path, self.token, self.status, self.warm = path, token, status, warm

    def headers(self):
        h = {"x-credential-sub": "admin", "x_credential_sub": "admin"}
        if self.token:
            h["authorization"] = f"Bearer {self.token()}"
        return h


def warm_keys(port, idp):
    """The keys are fetched (a good token passes), then the refetch cooldown (2 s) passes: the
    next unknown kid refetches."""
    good = mint("RS256", claims={"aud": "urn:orders", "iss": "http://idp.test", "scope": "orders:read"}, headers={"typ": "at+jwt"})
    deadline = time.time() + 5
    while call(port, "/orders", {"authorization": f"Bearer {good}"}).status != 200:
        assert time.time() < deadline, "the keys never came"
        time.sleep(0.1)
    time.sleep(2.1)


WAITS = {
    "introspection": Wait("e2e-introspection.yaml", 10003, 10103, "/orders", lambda: "random-opaque-token", 401),
    "first-jwks": Wait("e2e-faults.yaml", 10008, 10108, "/orders", bad_jwt, 401),
    "unknown-kid": Wait("e2e-oidc.yaml", 10002, 10102, "/orders", lambda: bad_jwt(kid="unknown-kid"), 401, warm=warm_keys),
    "discovery": Wait("e2e-oidc.yaml", 10002, 10102, "/orders", bad_jwt, 401),
    # A public route whose upstream token (client credentials) is fetched first: let through
    # once it is there, with it, and without the spoofed headers.
    "client-credentials": Wait("e2e-faults.yaml", 10008, 10108, "/cc/x", None, 200),
}
# What each wait answers when the IdP resets every connection.
RESET_STATUS = {"introspection": 503, "first-jwks": 503, "unknown-kid": 503, "discovery": 503, "client-credentials": 503}


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


def send(proto, shape, port, headers, path="/orders"):
    body = b'{"order": 1}' if shape != "headers" else None
    if proto == "h1":
        return h1(port, path, headers, body)
    trailers = {"x-t": "1"} if shape == "trailers" else None
    answer = h2client.request(port, path, headers, method="POST" if body else "GET", body=body, trailers=trailers)
    return answer.status


def start(start_envoy, wait, idp, stop_iteration):
    envoy = start_envoy(wait.bootstrap, wait.echo, fixed_ports={IDP: idp.server_address[1]}, stop_iteration=stop_iteration)
    port = envoy.port(wait.listener)
    if wait.warm:
        wait.warm(port, idp)
    envoy.echo.seen.clear()
    envoy.echo.seen_headers.clear()
    return envoy, port


def assert_decided(envoy, wait, status, expected):
    """The client got the decision; nothing reached the upstream before it: a refused request
    never, a request let through once, after the decision, without the spoofed headers."""
    assert status == expected, f"the decision comes back to the client: {status}"
    if expected != 200:
        assert envoy.echo.seen == [], f"nothing reached the upstream: {envoy.echo.seen}"
        return
    assert len(envoy.echo.seen) == 1, envoy.echo.seen
    got = envoy.echo.seen_headers[0]
    assert got.get("authorization") == "Bearer cc-token", got
    assert "x-credential-sub" not in got and "x_credential_sub" not in got, got


# Every shape for the two waits of every protected request; the body shapes that carry the
# risk (a body, a body and trailers) for the others.
CELLS = [pytest.param(w, proto, shape, id=f"{sid}-{w}") for w in WAITS for (proto, shape), sid in
         [((p.values[0], p.values[1]), p.id) for p in SHAPES]
         if w in ("introspection", "first-jwks") or shape == "trailers" or (shape == "body" and w != "unknown-kid")]


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("wait,proto,shape", CELLS)
def test_a_waiting_request_never_reaches_the_upstream_before_the_decision(start_envoy, slow_idp, proto, shape, wait, stop_iteration):
    w = WAITS[wait]
    envoy, port = start(start_envoy, w, slow_idp, stop_iteration)
    calls = slow_idp.calls
    started = time.time()
    status = send(proto, shape, port, w.headers(), w.path)
    if wait in ("introspection", "unknown-kid"):
        assert slow_idp.calls > calls and time.time() - started >= JWKS_DELAY, "the request did wait on the IdP"
    # Keys, discovery and the upstream token are fetched from the start, on the root's ticks:
    # the first request usually finds the fetch under way (0.6 s), sometimes done.
    assert_decided(envoy, w, status, w.status)


# How the filter is loaded does not change what an IdP's reset or a client's departure does:
# one loading each (the shapes above run both).
@pytest.mark.parametrize("wait", list(WAITS))
def test_an_idp_that_resets_the_connection(start_envoy, slow_idp, wait, stop_iteration=True):
    w = WAITS[wait]
    envoy, port = start(start_envoy, w, slow_idp, stop_iteration)
    slow_idp.reset = True
    status = send("h2", "trailers", port, w.headers(), w.path)
    assert_decided(envoy, w, status, RESET_STATUS[wait])


@pytest.mark.parametrize("wait", [w for w in WAITS if w != "introspection"])
def test_a_client_that_gives_up_leaves_the_others_their_decision(start_envoy, slow_idp, wait, stop_iteration=False):
    w = WAITS[wait]
    envoy, port = start(start_envoy, w, slow_idp, stop_iteration)
    headers = w.headers()
    quitter = threading.Thread(target=h1_abort, args=(port, w.path, headers, 0.2))
    quitter.start()
    time.sleep(0.05)
    results = []
    stayers = [threading.Thread(target=lambda: results.append(h1(port, w.path, headers))) for _ in range(3)]
    for t in stayers:
        t.start()
    for t in stayers + [quitter]:
        t.join(15)
    assert results == [w.status] * 3, results
    seen = envoy.echo.seen_headers
    assert len(seen) == (3 if w.status == 200 else 0), envoy.echo.seen
    assert all("x-credential-sub" not in h and "x_credential_sub" not in h for h in seen)


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_a_client_that_gives_up_takes_nothing_with_it(start_envoy, slow_idp, proto, stop_iteration):
    w = WAITS["introspection"]
    envoy, port = start(start_envoy, w, slow_idp, stop_iteration)
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


@pytest.mark.xdist_group("load")  # a flood of requests (see test_faults.py)
def test_cached_tokens_keep_passing_during_a_flood_of_random_ones(start_envoy, slow_idp):
    """A load test: 16 clients send random opaque tokens for 3 s (each costs an IdP call, or a
    503 once a worker has max_calls_in_flight out) while a client with a good token keeps
    asking: every good request passes, and the good token was introspected only when its
    cached answer expired (the profile's ttl is 2 s), never because a random token took it."""
    import concurrent.futures
    import uuid
    envoy, port = start(start_envoy, WAITS["introspection"], slow_idp, True)
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


# --- Endpoints the filter answers ------------------------------------------------------------

def basic(client, secret):
    import base64
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


FORM = "application/x-www-form-urlencoded"
# path, headers, body, the answer (trailers: 400 for all).
ENDPOINTS = {
    "issuer-token": (f"{ISSUER}/token", {"authorization": basic("rsa-client", "rsa-secret"), "content-type": FORM},
                     b"grant_type=client_credentials", 200),
    "issuer-introspect": (f"{ISSUER}/token/introspect", {"authorization": basic("rsa-client", "rsa-secret"), "content-type": FORM},
                          b"token=not-one-of-ours", 200),
    # A grant type the Janus front refuses on its body.
    "janus-token": ("/auth/token", {"authorization": basic("gateway", ""), "content-type": FORM}, b"grant_type=password&username=u", 400),
}


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("proto,trailers", [("h1", False), ("h2", False), ("h2", True)], ids=["h1-body", "h2-body", "h2-body-trailers"])
def test_an_endpoint_the_filter_answers_sends_nothing_upstream(start_envoy, slow_idp, endpoint, proto, trailers, stop_iteration):
    """The issuer's endpoints and a Janus front's token endpoint read the body and answer from
    it. With the host's option nothing reaches the route's cluster (the echo upstream; the
    OAuth server behind /auth/token); without it the headers go on to have the body read,
    without the client's credentials at the issuer. Trailers are refused (400)."""
    envoy = start_envoy("e2e-issuer.yaml", 10105, fixed_ports={IDP: slow_idp.server_address[1]}, stop_iteration=stop_iteration)
    port = envoy.port(10005)
    path, headers, body, expected = ENDPOINTS[endpoint]
    headers = dict(headers, **{"x-credential-sub": "admin", "cookie": "session=s"})
    if proto == "h1":
        status = call(port, path, headers, method="POST", body=body).status
    else:
        status = h2client.request(port, path, headers, method="POST", body=body, trailers={"x-t": "1"} if trailers else None).status
    assert status == (400 if trailers else expected), status
    reached = envoy.echo.seen_headers
    if stop_iteration:
        # The IdP sees only the key fetches the configuration makes from the start (the Janus
        # server's discovery, on the first tick), never the request.
        proxied = [p for p in slow_idp.paths if not p.endswith(("/openid-configuration", "/jwks"))]
        assert reached == [] and proxied == [], f"nothing reached any upstream: {envoy.echo.seen} {slow_idp.paths}"
    elif endpoint.startswith("issuer"):
        assert all(not {"authorization", "cookie", "x-credential-sub"} & set(h) for h in reached), reached


# --- Request shapes --------------------------------------------------------------------------

def raw_h1(port, head):
    """Sends raw request lines (duplicate headers kept) and returns the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode())
        return int(s.recv(65536).split(b" ", 2)[1])


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_two_authorization_headers_are_400_and_a_token_with_a_line_feed_is_refused(start_envoy, slow_idp, proto):
    w = WAITS["introspection"]
    envoy, port = start(start_envoy, w, slow_idp, True)
    if proto == "h1":
        status = raw_h1(port, "GET /orders HTTP/1.1\r\nhost: api.test\r\nauthorization: Bearer good\r\n"
                              "authorization: Bearer other\r\nconnection: close\r\n\r\n")
    else:
        sock_headers = [("authorization", "Bearer good"), ("authorization", "Bearer other")]
        status = h2client.request(port, "/orders", {}, extra_headers=sock_headers).status
    assert status == 400, status
    # A query token that percent-decodes to a line feed never reaches the IdP's call.
    assert call(port, "/orders?access_token=good%0D%0AX-Evil:%201", {}).status == 401
    assert slow_idp.calls == 0 and envoy.echo.seen == [], (slow_idp.calls, envoy.echo.seen)


@pytest.mark.parametrize("stop_iteration", LOADINGS)
@pytest.mark.parametrize("proto,trailers", [("h1", False), ("h2", False), ("h2", True)], ids=["h1-body", "h2-body", "h2-body-trailers"])
def test_the_admin_api_sends_nothing_upstream(start_envoy, proto, trailers, stop_iteration):
    """Janus's admin API (filters/seed-janus.json) answers a POST from its body: with the host's
    option nothing reaches the route's cluster, without it the headers go on without the
    admin's token; trailers are refused (400) and nothing is stored."""
    envoy = start_envoy("seed-janus.yaml", 10110, stop_iteration=stop_iteration)
    port = envoy.port(10010)
    r = call(port, f"{ISSUER}/token", {"content-type": "application/json"}, method="POST",
             body=json.dumps({"grant_type": "client_credentials", "client_id": "admin", "client_secret": "janus-admin-secret", "scope": "admin"}))
    assert r.status == 200, r.body
    token = r.json()["access_token"]
    from tokens import MINTED
    MINTED.append(token)
    server = json.dumps({"name": "local", "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "secret"}]}}).encode()
    headers = {"host": "janus-admin", "content-type": "application/json", "authorization": f"Bearer {token}", "x-credential-sub": "admin"}
    envoy.echo.seen.clear()
    envoy.echo.seen_headers.clear()
    if proto == "h1":
        status = call(port, "/oauth/servers", headers, method="POST", body=server).status
    else:
        h = {k: v for k, v in headers.items() if k != "host"}
        status = h2client.request(port, "/oauth/servers", h, method="POST", body=server, trailers={"x-t": "1"} if trailers else None,
                                  authority="janus-admin").status
    assert status == (400 if trailers else 201), status
    if stop_iteration:
        assert envoy.echo.seen == [], envoy.echo.seen
    assert not [h for h in envoy.echo.seen_headers if token in json.dumps(h) or "x-credential-sub" in h]
    listed = call(port, "/oauth/servers", {"host": "janus-admin", "authorization": f"Bearer {token}"}).json()
    assert [s["name"] for s in listed] == ([] if trailers else ["local"])

