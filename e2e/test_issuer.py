"""The filter as token issuer and as Janus front, in a real Envoy: a client gets a token from
the filter, calls a protected route with it, introspects it, and checks it with PyJWT against
the filter's JWKS; a Janus-style OAuth server (npm oidc-provider behind /auth/token) gets the
client's secret added, and a forbidden grant type never reaches it."""
import base64
import json

import jwt
import pytest

from conftest import LOADINGS, call
from idp import Idp

LISTENER, ECHO, IDP = 10005, 10105, 10200
PREFIX = "/.well-known/otoroshi/oauth"


@pytest.fixture(params=LOADINGS)
def setup(start_envoy, tmp_path, request):
    idp = Idp(tmp_path, "k1")
    envoy = start_envoy("e2e-issuer.yaml", ECHO, fixed_ports={IDP: idp.port}, stop_iteration=request.param)
    yield idp, envoy, request.param
    idp.stop()


def post(envoy, path, body, headers=None, ctype="application/json"):
    h = {"content-type": ctype}
    h.update(headers or {})
    return call(envoy.port(LISTENER), path, h, method="POST", body=body)


def issue(envoy, client, secret):
    r = post(envoy, f"{PREFIX}/token", json.dumps({"grant_type": "client_credentials", "client_id": client, "client_secret": secret}))
    assert r.status == 200, r.body
    answer = r.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 600
    return answer["access_token"]


def basic(client, secret):
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


def test_issued_tokens_work_introspect_and_verify_against_the_jwks(setup):
    _, envoy, _ = setup
    port = envoy.port(LISTENER)
    jwks = call(port, f"{PREFIX}/jwks.json").json()
    assert {k["kty"] for k in jwks["keys"]} == {"RSA", "EC", "OKP"}
    assert not any("d" in k for k in jwks["keys"])
    keyset = jwt.PyJWKSet.from_dict(jwks)
    for client, secret, alg in [("rsa-client", "rsa-secret", "RS256"), ("ec-client", "ec-secret", "ES256"), ("ed-client", "ed-secret", "EdDSA")]:
        token = issue(envoy, client, secret)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == alg
        key = next(k for k in keyset.keys if k.key_id == header["kid"])
        claims = jwt.decode(token, key.key, algorithms=[alg], issuer="https://gateway.e2e")
        assert claims["sub"] == client
        r = call(port, "/api/orders", {"authorization": f"Bearer {token}"})
        assert r.status == 200, r.body
        assert r.upstream("x-credential-sub") == client
        r = post(envoy, f"{PREFIX}/token/introspect", f"token={token}", {"authorization": basic(client, secret)},
                 ctype="application/x-www-form-urlencoded")
        assert r.json()["active"] is True and r.json()["sub"] == client


def test_issued_tokens_are_counted(setup):
    _, envoy, _ = setup
    for _ in range(3):
        issue(envoy, "rsa-client", "rsa-secret")
    issued = "wasmcustom.oauth_filter.tokens_issued"
    assert envoy.stats_once(lambda s: s.get(issued) == 3)[issued] == 3


def test_issuer_errors(setup):
    _, envoy, stop_iteration = setup
    r = post(envoy, f"{PREFIX}/token", json.dumps({"grant_type": "client_credentials", "client_id": "rsa-client", "client_secret": "wrong"}))
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    assert r.header("www-authenticate").startswith("Basic")
    r = post(envoy, f"{PREFIX}/token", json.dumps({"grant_type": "client_credentials", "client_id": "ec-client", "client_secret": "ec-secret", "scope": "write"}))
    assert r.status == 400 and r.json()["error"] == "invalid_scope"
    assert "rsa-secret" not in envoy.logs()
    r = post(envoy, f"{PREFIX}/token/introspect", "token=x", {"authorization": basic("rsa-client", "rsa-secret"),
             "cookie": "session=s"}, ctype="application/x-www-form-urlencoded")
    assert r.status == 200 and r.json() == {"active": False}
    # Nothing a client sends to the issuer reaches the route's cluster (the echo upstream) with
    # the host's option; without it, the headers that go on carry no credential. (Whether they
    # reach the cluster at all is a race with the answer from the body: fresh-clone CI once saw
    # none, so the test asks only what arrives.)
    if stop_iteration:
        assert envoy.echo.seen == [], envoy.echo.seen
    else:
        for h in envoy.echo.seen_headers:
            assert not {"authorization", "cookie", "dpop"} & set(h), h


def test_janus_front_adds_secrets_and_refuses_forbidden_grants(setup):
    idp, envoy, _ = setup
    form = "application/x-www-form-urlencoded"
    body = "grant_type=client_credentials&scope=orders%3Aread&resource=urn%3Aorders"
    r = post(envoy, "/auth/token", body, {"authorization": basic("gateway", "")}, ctype=form)
    assert r.status == 200, r.body
    token = r.json()["access_token"]
    r = call(envoy.port(LISTENER), "/idp-api/x", {"authorization": f"Bearer {token}"})
    assert r.status == 200, r.body
    assert r.upstream("x-credential-client-id") == "gateway"
    r = post(envoy, "/auth/token", body + "&client_id=gateway-post", ctype=form)
    assert r.status == 200, r.body
    before, issued = idp.requests("/token"), idp.answered("/token", 200)
    r = post(envoy, "/auth/token", "grant_type=password&username=u&password=p", {"authorization": basic("gateway", "")}, ctype=form)
    assert r.status == 400 and r.json()["error"] == "unsupported_grant_type"
    r = post(envoy, "/auth/token", body, {"authorization": basic("stranger", "")}, ctype=form)
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    assert idp.answered("/token", 200) == issued, "a refused request gets no token"
    # With the host's option the headers are held until the body is decided: a grant refused
    # on its body never reaches the OAuth server. Without it (a plain WasmPlugin) Envoy holds
    # the body back with the headers, so they go on to have the body read: that grant was begun
    # at the OAuth server and cut off. One refused on its headers never reached it.
    _, _, stop_iteration = setup
    assert idp.requests("/token") == before if stop_iteration else idp.requests("/token") <= before + 1
