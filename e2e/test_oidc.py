"""Keys from a real OpenID provider (npm oidc-provider) through OIDC discovery, in a real Envoy
at --concurrency 2: tokens it issues pass, scopes are enforced, and after it rotates its
signing key the new tokens pass once the filter has refetched the JWKS, once for all workers."""
import base64
import json
import time

import pytest

from conftest import call
from idp import Idp

LISTENER, ECHO, IDP = 10002, 10102, 10200


class Setup:
    pass


@pytest.fixture
def setup(start_envoy, tmp_path):
    s = Setup()
    s.tmp = tmp_path
    s.idp = Idp(tmp_path, "k1")
    s.envoy = start_envoy("e2e-oidc.yaml", ECHO, fixed_ports={IDP: s.idp.port})
    yield s
    s.idp.stop()


def get(envoy, token, method="GET", path="/orders/1"):
    return call(envoy.port(LISTENER), path, {"authorization": f"Bearer {token}"}, method=method)


def kid(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def until(fn, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(0.1)
    return fn()


def test_tokens_from_the_provider_pass_and_scopes_are_enforced(setup):
    idp, envoy = setup.idp, setup.envoy
    token = idp.token("orders:read")
    r = get(envoy, token)  # may wait for the first fetch, never 401 for it
    assert r.status == 200, r.body
    assert r.upstream("x-credential-client-id") == "gateway"
    assert r.upstream("x-credential-scope") == "orders:read"
    assert r.upstream("x-credential-iss") == "http://idp.test"
    r = get(envoy, token, method="POST")
    assert r.status == 403
    assert r.header("www-authenticate") == ('Bearer realm="orders", error="insufficient_scope", '
                                            'error_description="the token lacks a required scope", scope="orders:write"')
    assert get(envoy, idp.token("orders:read orders:write"), method="POST").status == 200
    assert idp.requests("/.well-known/openid-configuration") == 1
    assert idp.requests("/jwks") == 1
    fetches = "wasmcustom.oauth_filter.jwks.fetches"
    assert envoy.stats_once(lambda s: s.get(fetches) == 1)[fetches] == 1


def test_key_rotation_is_picked_up_by_refetch(setup):
    envoy = setup.envoy
    old = setup.idp.token()
    assert kid(old) == "k1"
    assert get(envoy, old).status == 200
    setup.idp.stop()
    setup.idp = Idp(setup.tmp, "k2", port=setup.idp.port)  # the provider rotates: only k2 now
    new = setup.idp.token()
    assert kid(new) == "k2"
    r = get(envoy, new)  # unknown kid → one refetch → accepted
    assert r.status == 200, r.body
    assert setup.idp.requests("/jwks") == 1, "one refetch for both workers"
    # k1 is gone from the JWKS now: after the cooldown, the old token is refused.
    time.sleep(2.1)
    assert until(lambda: get(envoy, old).status == 401)


def test_an_unreachable_provider_means_503_not_401(start_envoy, tmp_path):
    envoy = start_envoy("e2e-oidc.yaml", ECHO)  # nothing listens on the idp cluster's port
    started = time.time()
    r = get(envoy, "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.e30.c2ln")
    assert r.status == 503
    assert r.json()["error"] == "temporarily_unavailable"
    assert time.time() - started < 8
