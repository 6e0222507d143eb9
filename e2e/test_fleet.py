"""The fleet store in real Envoy: two Envoy processes (two replicas of a gateway, --concurrency 2
each, loaded as a plain Istio WasmPlugin loads the filter) share one etcd (Debian's etcd-server,
with auth on: the filter logs in as a user that may touch its prefix only). The Janus admin
API's servers written on one replica serve on the other; a DPoP proof used on one is refused on
the other; etcd stopped and started again mid-run; 200 admin writes at once across both."""
import concurrent.futures
import json
import time
import warnings

import jwt
import pytest

from conftest import ROOT, SECRETS, call
from etcd import ROOT_PASSWORD, Etcd
from idp import Idp
from test_sender_constrained import dpop_client
from tokens import MINTED

LISTENER, ECHO, IDP, ETCD = 10020, 10120, 10200, 10320
PREFIX = "/oauth-filter-e2e/"
ETCD_USER, ETCD_PASSWORD = "gateway", "etcd-gateway-secret-for-tests"
SECRETS += [ETCD_PASSWORD, ROOT_PASSWORD, "janus-admin-secret", "fleet-key-0123456789"]
# store.etcd.poll_interval in filters/e2e-fleet.json, and a worker's tick (200 ms) twice.
POLL = 1.0
PICKUP = POLL + 0.4
# What a proof's URL names: the gateway's one public name, as behind a load balancer.
PUBLIC = "gateway.example"

SERVER = {"name": "local", "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "fleet-key-0123456789"}]}}


def hs256(sub="alice"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, "fleet-key-0123456789", algorithm="HS256")
    MINTED.append(token)
    return token


def until(check, seconds, step=0.1):
    """Seconds it took `check` to hold (None if it never did within `seconds`)."""
    start = time.time()
    while time.time() - start < seconds:
        if check():
            return time.time() - start
        time.sleep(step)
    return None


class Replica:
    def __init__(self, envoy):
        self.envoy, self.port = envoy, envoy.port(LISTENER)

    def admin(self, method, path, body=None, token=None):
        headers = {"host": "janus-admin", "content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return call(self.port, path, headers, method=method, body=None if body is None else json.dumps(body))

    def statuses(self, token, n=8):
        # Fresh connections: both workers serve some of them.
        return {call(self.port, "/example", {"authorization": f"Bearer {token}"}).status for _ in range(n)}

    def orders(self, token, proof):
        return call(self.port, "/orders/1", {"host": PUBLIC, "authorization": f"DPoP {token}", "dpop": proof})

    def denied(self, reason, then=None):
        """How many requests were refused for `reason`: every count made so far, or, given
        `then`, as soon as it reads that many."""
        name = f"wasmcustom.oauth_filter.denied.{reason}"
        stats = self.envoy.stats_settled() if then is None else self.envoy.stats_once(lambda s: s.get(name, 0) == then)
        return stats.get(name, 0)


@pytest.fixture
def fleet(start_envoy, tmp_path):
    etcd = Etcd(tmp_path)
    etcd.enable_auth(ETCD_USER, ETCD_PASSWORD, PREFIX)
    idp = Idp(tmp_path, "k1")
    try:
        fixed = {IDP: idp.port, ETCD: etcd.port}
        a = Replica(start_envoy("e2e-fleet.yaml", ECHO, fixed_ports=fixed, stop_iteration=False))
        b = Replica(start_envoy("e2e-fleet.yaml", ECHO, fixed_ports=fixed, stop_iteration=False))
        r = call(a.port, "/.well-known/otoroshi/oauth/token", {"content-type": "application/json"}, method="POST",
                 body=json.dumps({"grant_type": "client_credentials", "client_id": "admin", "client_secret": "janus-admin-secret", "scope": "admin"}))
        assert r.status == 200, r.body
        admin_token = r.json()["access_token"]
        MINTED.append(admin_token)
        # Each replica has read the (empty) servers: an unknown server is a 401, no longer a 503.
        for replica in (a, b):
            assert until(lambda: replica.statuses(hs256(), 2) == {401}, 10) is not None
        yield etcd, idp, a, b, admin_token
    finally:
        idp.stop()
        etcd.stop()


def test_a_server_written_on_one_replica_serves_on_the_other_and_its_delete_too(fleet, start_envoy):
    etcd, idp, a, b, admin = fleet
    token = hs256()
    assert a.admin("POST", "/oauth/servers", SERVER, admin).status == 201
    assert etcd.keys(PREFIX + "servers/") == [PREFIX + "servers/local"]
    # The replica that wrote it: its other worker on its next tick.
    assert until(lambda: a.statuses(token) == {200}, 0.6) is not None
    took = until(lambda: b.statuses(token) == {200}, 3 * PICKUP)
    assert took is not None and took <= PICKUP + 0.5, f"the other replica within a poll interval ({took})"
    r = b.admin("GET", "/oauth/servers", token=admin)
    assert r.status == 200 and r.json() == [SERVER]
    # Janus's status codes hold across replicas: B knows A's server.
    assert b.admin("POST", "/oauth/servers", SERVER, admin).status == 409
    assert b.admin("DELETE", "/oauth/servers/gateway-admins", token=admin).status == 409, "static servers stay"
    # A replica that starts later loads the servers before it serves them: 503 until its
    # first read (never a 401 for a server that exists), then 200.
    c = Replica(start_envoy("e2e-fleet.yaml", ECHO, fixed_ports={IDP: idp.port, ETCD: etcd.port}, stop_iteration=False))
    seen = set()
    assert until(lambda: seen.update(c.statuses(token, 2)) or seen >= {200}, 10) is not None
    assert seen <= {503, 200}, seen

    assert b.admin("DELETE", "/oauth/servers/local", token=admin).status == 204
    assert until(lambda: b.statuses(token) == {401}, 0.6) is not None
    took = until(lambda: a.statuses(token) == {401}, 3 * PICKUP)
    assert took is not None and took <= PICKUP + 0.5, f"A refuses the deleted server's tokens within a poll interval ({took})"
    assert a.admin("GET", "/oauth/servers/local", token=admin).status == 404
    assert etcd.keys(PREFIX + "servers/") == []
    for replica in (a, b):
        assert "etcd-gateway-secret" not in replica.envoy.logs()


def test_a_dpop_proof_used_on_one_replica_is_refused_on_the_other(fleet):
    etcd, idp, a, b, _ = fleet
    url = f"http://{PUBLIC}/orders/1"
    got = dpop_client(idp, "ES256", *[f"GET {url}"] * 4)
    token, (p1, p2, p3, p4) = got["token"], got["proofs"]
    r = a.orders(token, p1)
    assert r.status == 200, (r.headers, r.body)
    before = b.denied("dpop_replay")
    r = b.orders(token, p1)
    assert r.status == 401 and 'error="invalid_dpop_proof"' in r.header("www-authenticate")
    assert b.denied("dpop_replay", then=before + 1) == before + 1, "refused as a replay, by the fleet store"
    assert a.orders(token, p1).status == 401, "and on the first replica, by its own store (no call)"
    assert b.orders(token, p2).status == 200
    assert a.orders(token, p2).status == 401
    # Two replicas at once with one proof: one of them lets it through.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda r: r.orders(token, p3).status, [a, b, a, b]))
    assert statuses == [200, 401, 401, 401], statuses
    # The proofs are in etcd by their hash (never their jti), under a lease.
    keys = etcd.keys(PREFIX + "dpop/oidc/")
    assert len(keys) == 3 and all(len(k.rsplit("/", 1)[1]) > 40 for k in keys), keys
    lease = etcd.ctl("lease", "list", user=etcd.auth)
    assert lease.startswith("found ") and not lease.startswith("found 0 "), lease
    assert a.orders(token, p4).status == 200


def test_etcd_stopped_then_started_again(fleet):
    etcd, idp, a, b, admin = fleet
    token = hs256()
    assert a.admin("POST", "/oauth/servers", SERVER, admin).status == 201
    assert until(lambda: b.statuses(token) == {200}, 3 * PICKUP) is not None
    url = f"http://{PUBLIC}/orders/1"
    got = dpop_client(idp, "ES256", *[f"GET {url}"] * 40)
    dpop, proofs = got["token"], iter(got["proofs"])
    assert a.orders(dpop, next(proofs)).status == 200

    etcd.stop()
    # A DPoP request that needs the store: 503 (fail closed), on both replicas.
    for replica in (a, b):
        r = replica.orders(dpop, next(proofs))
        assert r.status == 503, (r.status, r.body)
        assert "error=" not in (r.header("www-authenticate") or "")
    # Admin writes: 503 with Retry-After; nothing changes.
    r = b.admin("POST", "/oauth/servers", dict(SERVER, name="other"), admin)
    assert r.status == 503 and r.header("retry-after") == "1", (r.status, r.body)
    # Servers already loaded keep serving, past several poll intervals.
    time.sleep(3 * POLL)
    assert a.statuses(token) == {200} and b.statuses(token) == {200}
    assert a.admin("GET", "/oauth/servers", token=admin).json() == [SERVER]

    etcd.start()
    # Recovery: the poll logs in again (etcd forgot its tokens) after its backoff (at most 30 s).
    for replica in (a, b):
        assert until(lambda: replica.orders(dpop, next(proofs)).status == 200, 40, step=0.5) is not None, replica.envoy.logs()[-3000:]
    assert until(lambda: b.admin("POST", "/oauth/servers", dict(SERVER, name="other"), admin).status == 201, 10, step=0.5) is not None
    assert until(lambda: a.admin("GET", "/oauth/servers/other", token=admin).status == 200, 3 * PICKUP) is not None
    stats = a.envoy.stats_once(lambda s: s.get("wasmcustom.oauth_filter.store.failures", 0) >= 1
                               and s.get("wasmcustom.oauth_filter.denied.store_unavailable", 0) >= 1)
    assert stats.get("wasmcustom.oauth_filter.store.failures", 0) >= 1
    assert stats.get("wasmcustom.oauth_filter.denied.store_unavailable", 0) >= 1


@pytest.mark.xdist_group("load")  # counts writes made within etcd's timeout (see test_faults.py)
def test_two_hundred_admin_writes_at_once_across_both_replicas_lose_nothing(fleet):
    etcd, _, a, b, admin = fleet
    # Janus keeps client secrets for a server whose token endpoint the gateway fronts.
    endpoint = {"token": {"listen_path": "/shared/token", "upstreams": {"targets": [{"target": "http://auth-service:8080/token"}]}}}
    shared = {"name": "shared", "token_strategy": SERVER["token_strategy"], "oauth_endpoints": endpoint, "secrets": {"first": "s"}}
    assert a.admin("POST", "/oauth/servers", shared, admin).status == 201
    assert until(lambda: b.admin("GET", "/oauth/servers/shared", token=admin).status == 200, 3 * PICKUP) is not None

    # 160 new servers and 40 changes of one server (each adds a client secret), alternating
    # replicas, 16 at a time.
    def write(i):
        replica = (a, b)[i % 2]
        if i % 5 == 0:
            r = replica.admin("PUT", "/oauth/servers/shared", {"secrets": {f"client-{i}": f"s{i}"}}, admin)
            return ("put", i, r.status)
        r = replica.admin("POST", "/oauth/servers", dict(SERVER, name=f"s{i}"), admin)
        return ("post", i, r.status)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(write, range(200)))
    statuses = {s for _, _, s in results}
    assert statuses <= {200, 201, 503}, results
    posted = {f"s{i}" for kind, i, s in results if kind == "post" and s == 201}
    put = {f"client-{i}" for kind, i, s in results if kind == "put" and s == 200}
    # New servers never conflict; on this shared 2-core machine an etcd commit may still take
    # longer than the store's timeout (1 s), and that write is answered 503.
    assert len(posted) >= 150, ("new servers", [r for r in results if r[0] == "post" and r[2] != 201])
    assert put, "changes of one server: at least one is made"

    def complete(replica):
        r = replica.admin("GET", "/oauth/servers", token=admin)
        servers = {s["name"]: s for s in r.json()}
        return posted <= set(servers) and put <= set(servers["shared"].get("secrets", {}))

    def missing(replica):
        servers = {s["name"]: s for s in replica.admin("GET", "/oauth/servers", token=admin).json()}
        return posted - set(servers), put - set(servers.get("shared", {}).get("secrets", {}))

    # Every acknowledged write, visible on both replicas (nothing lost is the point here, not
    # how soon: a poll that timed out during the burst backs off, 1, 2, 4 … s).
    for replica in (a, b):
        assert until(lambda: complete(replica), 20, step=0.5) is not None, (missing(replica), replica.envoy.logs()[-2000:])
    assert len(etcd.keys(PREFIX + "servers/")) >= 1 + len(posted)
    print(f"admin writes at once: {len(posted)} servers created, {len(put)} of 40 changes of one server made "
          f"({sum(1 for k, _, s in results if k == 'put' and s == 503)} answered 503 after losing {4} races)")


# --- The lifecycle of a request waiting for the store ----------------------------------------
# Rows of the lifecycle matrix (e2e/test_lifecycle.py) for the two waits the store adds: a DPoP
# request whose proof is recorded, and an admin write. etcd answers through a relay that holds
# each call 0.5 s, so the requests really wait.

STORE_DELAY = 0.5
SHAPES = [("h1", "headers"), ("h1", "body"), ("h2", "headers"), ("h2", "body"), ("h2", "trailers")]


def proof_key(proof, jkt):
    """Where the filter records a proof in etcd: the key's thumbprint's start and the SHA-256
    of thumbprint and jti (never the jti itself)."""
    import base64
    import hashlib
    payload = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
    digest = hashlib.sha256(f"{jkt}\n{payload['jti']}".encode()).digest()
    return f"{PREFIX}dpop/oidc/{jkt[:8]}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


@pytest.fixture(scope="module")
def store_behind_a_slow_link(tmp_path_factory):
    """One etcd (behind a relay that delays each answer) and one IdP for every test of the
    slow store: each test starts its own Envoy, and leaves etcd as it found it (its proofs
    under their own keys, its servers deleted)."""
    from etcd import SlowRelay
    tmp = tmp_path_factory.mktemp("slow-store")
    etcd = Etcd(tmp)
    etcd.enable_auth(ETCD_USER, ETCD_PASSWORD, PREFIX)
    relay = SlowRelay(etcd.port, STORE_DELAY)
    idp = Idp(tmp, "k1")
    try:
        yield etcd, relay, idp
    finally:
        relay.close()
        idp.stop()
        etcd.stop()


@pytest.fixture
def slow_store(store_behind_a_slow_link, start_envoy, tmp_path):
    etcd, relay, idp = store_behind_a_slow_link
    # The store's timeout is 3 s here, not 1 s: with the relay's 0.5 s, an etcd commit slowed
    # by the other tests' load must not turn a wait into a 503 (a fresh-clone CI run had two).
    bootstrap = tmp_path / "e2e-fleet-slow.yaml"
    text = (ROOT / "envoy-config" / "e2e-fleet.yaml").read_text()
    one_second = '\\"timeout\\":\\"1s\\",\\"poll_interval\\"'
    assert one_second in text
    bootstrap.write_text(text.replace(one_second, one_second.replace("1s", "3s")))

    def start(stop_iteration):
        envoy = start_envoy(str(bootstrap), ECHO, fixed_ports={IDP: idp.port, ETCD: relay.port}, stop_iteration=stop_iteration)
        replica = Replica(envoy)
        assert until(lambda: replica.statuses(hs256(), 2) == {401}, 15) is not None, "the servers are read"
        return replica

    yield etcd, idp, start


def send(replica, proto, shape, headers):
    body = b'{"order": 1}' if shape != "headers" else None
    method = "POST" if body else "GET"
    if proto == "h1":
        return call(replica.port, "/orders/1", {"host": PUBLIC, **headers}, method=method, body=body).status
    import h2client
    trailers = {"x-t": "1"} if shape == "trailers" else None
    return h2client.request(replica.port, "/orders/1", headers, method=method, body=body, trailers=trailers, authority=PUBLIC).status


@pytest.mark.parametrize("stop_iteration", [True, False], ids=["stop-iteration", "plain-wasmplugin"])
@pytest.mark.parametrize("proto,shape", SHAPES, ids=[f"{p}-{s}" for p, s in SHAPES])
def test_a_request_waiting_for_the_store_never_reaches_the_upstream_before_the_decision(slow_store, proto, shape, stop_iteration):
    etcd, idp, start = slow_store
    replica = start(stop_iteration)
    method = "POST" if shape != "headers" else "GET"
    got = dpop_client(idp, "ES256", *[f"{method} http://{PUBLIC}/orders/1"] * 2)
    token, (used_elsewhere, fresh) = got["token"], got["proofs"]
    # Another replica recorded this proof: only etcd knows.
    etcd.ctl("put", proof_key(used_elsewhere, got["jkt"]), "", user=etcd.auth)
    spoofed = {"x-credential-sub": "admin", "x_credential_sub": "admin"}
    replica.envoy.echo.seen.clear()
    replica.envoy.echo.seen_headers.clear()
    started = time.time()
    status = send(replica, proto, shape, {"authorization": f"DPoP {token}", "dpop": used_elsewhere, **spoofed})
    assert status == 401 and time.time() - started >= STORE_DELAY, "refused after waiting for the store"
    assert replica.envoy.echo.seen == [], "nothing reached the upstream"
    status = send(replica, proto, shape, {"authorization": f"DPoP {token}", "dpop": fresh, **spoofed})
    assert status == 200
    assert len(replica.envoy.echo.seen) == 1, replica.envoy.echo.seen
    got = replica.envoy.echo.seen_headers[0]
    assert got.get("x-credential-sub") != "admin" and "x_credential_sub" not in got, got


def test_a_client_that_gives_up_while_its_proof_is_recorded_takes_nothing_with_it(slow_store):
    etcd, idp, start = slow_store
    replica = start(False)
    got = dpop_client(idp, "ES256", *[f"GET http://{PUBLIC}/orders/1"] * 3)
    token, (p1, p2, p3) = got["token"], got["proofs"]
    import socket
    s = socket.create_connection(("127.0.0.1", replica.port))
    s.sendall(f"GET /orders/1 HTTP/1.1\r\nhost: {PUBLIC}\r\nauthorization: DPoP {token}\r\ndpop: {p1}\r\n\r\n".encode())
    time.sleep(STORE_DELAY / 5)
    s.close()
    assert replica.orders(token, p2).status == 200, "the next request is decided"
    # The call outlived the request that asked for it: the proof is recorded.
    assert until(lambda: proof_key(p1, got["jkt"]) in etcd.keys(PREFIX + "dpop/"), 5) is not None
    assert replica.orders(token, p1).status == 401
    assert replica.envoy.echo.seen_headers and len(replica.envoy.echo.seen) == 1
    assert replica.orders(token, p3).status == 200


@pytest.mark.parametrize("stop_iteration", [True, False], ids=["stop-iteration", "plain-wasmplugin"])
@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_an_admin_write_waiting_for_the_store_sends_nothing_upstream(slow_store, proto, stop_iteration):
    etcd, _, start = slow_store
    replica = start(stop_iteration)
    r = call(replica.port, "/.well-known/otoroshi/oauth/token", {"content-type": "application/json"}, method="POST",
             body=json.dumps({"grant_type": "client_credentials", "client_id": "admin", "client_secret": "janus-admin-secret", "scope": "admin"}))
    admin = r.json()["access_token"]
    MINTED.append(admin)
    headers = {"content-type": "application/json", "authorization": f"Bearer {admin}", "x-credential-sub": "admin"}
    replica.envoy.echo.seen.clear()
    replica.envoy.echo.seen_headers.clear()
    body = json.dumps(SERVER).encode()
    started = time.time()
    if proto == "h1":
        posted = call(replica.port, "/oauth/servers", {"host": "janus-admin", **headers}, method="POST", body=body).status
        deleted = call(replica.port, "/oauth/servers/local", {"host": "janus-admin", **headers}, method="DELETE").status
    else:
        import h2client
        posted = h2client.request(replica.port, "/oauth/servers", headers, method="POST", body=body, authority="janus-admin").status
        deleted = h2client.request(replica.port, "/oauth/servers/local", headers, method="DELETE", authority="janus-admin").status
    assert (posted, deleted) == (201, 204)
    assert time.time() - started >= 2 * STORE_DELAY, "each waited for etcd"
    if stop_iteration:
        assert replica.envoy.echo.seen == [], replica.envoy.echo.seen
    # Without the host's option the POST's headers went on (to have its body read), never with
    # the admin's credential nor a spoofed header; the DELETE, paused in its headers, never.
    assert all(p.startswith("/oauth/servers") and "/local" not in p for _, p in replica.envoy.echo.seen)
    assert not [h for h in replica.envoy.echo.seen_headers if admin in json.dumps(h) or "x-credential-sub" in h]
    assert etcd.keys(PREFIX + "servers/") == []


# --- mTLS: the store's cluster presents a client certificate ---------------------------------

def test_etcd_with_client_certificates_through_the_clusters_tls(start_envoy, tmp_path):
    """etcd asks for client certificates (--client-cert-auth, auth off): the filter reaches it
    through an Envoy cluster with a client certificate and needs no password; a cluster without
    one gets no answer (503, never a pass)."""
    from test_sender_constrained import make_certificates
    from envoy import ROOT
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certificates(certs)
    etcd = Etcd(tmp_path, tls=certs)
    idp = Idp(tmp_path, "k1")
    try:
        config = json.loads((ROOT / "filters" / "e2e-fleet.json").read_text())
        for field in ("username", "password"):
            config["store"]["etcd"].pop(field)
        rendered = (ROOT / "envoy-config" / "e2e-fleet.yaml").read_text()
        original = json.dumps(json.dumps(json.loads((ROOT / "filters" / "e2e-fleet.json").read_text()), separators=(",", ":")))
        assert original in rendered
        text = rendered.replace(original, json.dumps(json.dumps(config, separators=(",", ":"))))

        def tls(with_certificate):
            cert = (f", tls_certificates: [{{certificate_chain: {{filename: {certs}/client.pem}}, "
                    f"private_key: {{filename: {certs}/client.key}}}}]") if with_certificate else ""
            return ("    transport_socket:\n      name: envoy.transport_sockets.tls\n      typed_config:\n"
                    "        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
                    f"        common_tls_context: {{validation_context: {{trusted_ca: {{filename: {certs}/ca.pem}}}}{cert}}}\n")

        # The etcd cluster is the bootstrap's last: its TLS settings follow it.
        assert text.rstrip().endswith("port_value: 10320}}}}]}]")
        replicas = []
        for with_certificate in (True, False):
            bootstrap = tmp_path / f"fleet-tls-{with_certificate}.yaml"
            bootstrap.write_text(text.rstrip("\n") + "\n" + tls(with_certificate))
            replicas.append(Replica(start_envoy(str(bootstrap), ECHO, fixed_ports={IDP: idp.port, ETCD: etcd.port})))
        good, bare = replicas
        url = f"http://{PUBLIC}/orders/1"
        got = dpop_client(idp, "ES256", *[f"GET {url}"] * 2)
        token, (p1, p2) = got["token"], got["proofs"]
        assert until(lambda: good.statuses(hs256(), 2) == {401}, 15) is not None, "the servers are read over mTLS"
        r = good.orders(token, p1)
        assert r.status == 200, (r.status, r.body)
        assert bare.orders(token, p2).status == 503, "no client certificate: etcd refuses the handshake"
        assert good.orders(token, p2).status == 200
        assert len(etcd.keys(PREFIX + "dpop/")) == 2
    finally:
        idp.stop()
        etcd.stop()
