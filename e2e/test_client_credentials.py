"""Client credentials in a real Envoy (--concurrency 2): the filter fetches tokens from a real
OAuth2 server (npm oidc-provider; Basic and body client authentication) and sends them to an
upstream that verifies them against that server; the server sees one token request per client
however many requests and workers there are."""
import concurrent.futures

import pytest

import protected
from conftest import call
from idp import Idp

LISTENER, UPSTREAM, IDP = 10004, 10104, 10200


@pytest.fixture
def setup(start_envoy, tmp_path):
    idp = Idp(tmp_path, "k1")
    envoy = start_envoy("e2e-client-credentials.yaml", UPSTREAM, fixed_ports={IDP: idp.port},
                        upstream=lambda port: protected.serve(port, idp.port))
    yield idp, envoy
    idp.stop()


def get(envoy, path, headers=None):
    return call(envoy.port(LISTENER), path, headers or {})


def test_tokens_are_fetched_once_and_accepted_upstream(setup):
    idp, envoy = setup
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        basic = list(pool.map(lambda _: get(envoy, "/orders"), range(20)))
        body = list(pool.map(lambda _: get(envoy, "/body/orders"), range(20)))
    assert [r.status for r in basic + body] == [200] * 40, [r.body for r in basic + body if r.status != 200][:3]
    assert {r.json()["client_id"] for r in basic} == {"gateway"}
    assert {r.json()["client_id"] for r in body} == {"gateway-post"}
    assert body[0].json()["scope"] == "orders:read orders:write"
    # One token request per client (three policies: Basic, body, private_key_jwt) for both workers.
    assert idp.requests("/token") == 3, "one token request per client for both workers"
    fetches = "wasmcustom.oauth_filter.client_credentials.fetches"
    assert envoy.stats_once(lambda s: s.get(fetches) == 3)[fetches] == 3
    assert envoy.echo.refused == 0


def test_the_clients_own_authorization_never_reaches_the_upstream(setup):
    idp, envoy = setup
    r = get(envoy, "/orders", {"authorization": "Bearer the-clients-own-token"})
    assert r.status == 200
    assert r.json()["client_id"] == "gateway"
    assert "gateway-secret" not in envoy.logs()


def test_an_unreachable_token_endpoint_means_503(start_envoy):
    envoy = start_envoy("e2e-client-credentials.yaml", UPSTREAM)
    r = get(envoy, "/orders")
    assert r.status == 503
    assert r.json()["error"] == "temporarily_unavailable"
    assert envoy.echo.count == 0


def test_private_key_jwt_client_authentication_at_the_token_endpoint(setup):
    """The client `gateway-jwt` has no secret at the provider, only its public key: the filter
    signs a client assertion (RFC 7523) for each token request."""
    idp, envoy = setup
    rs = [get(envoy, "/assertion/orders") for _ in range(6)]
    assert [r.status for r in rs] == [200] * 6, rs[0].body
    assert {r.json()["client_id"] for r in rs} == {"gateway-jwt"}
    assert idp.answered("/token", 200) == 3, "each client's one token request (the assertion's too) succeeded"
    assert idp.answered("/token", 401) == 0
