"""Each seed system's configuration as its documentation writes it, in a real Envoy at
--concurrency 2 (filters/seed-*.json): Janus's admin API taking Janus's example server, a
KrakenD backend's extra_config, a Kong plugin entry, Otoroshi's Client Credential Service."""
import base64
import json
import time

import jwt
import pytest

import protected
from conftest import LOADINGS, SECRETS, call
from idp import Idp
from tokens import MINTED

SECRETS += ["janus-admin-secret", "rotated-secret-0123", "my-app-secret", "my-secret"]
IDP = 10200
# Every worker picks a change up on its tick (200 ms).
PICKUP = 0.6


def minted(token):
    MINTED.append(token)
    return token


# --- Janus (seed 000): the admin API, then the server in use -----------------------------

# Janus's examples/front-proxy-auth/auth/auth.json, as the seed's step 1 posts it.
AUTH_JSON = {
    "name": "local",
    "oauth_endpoints": {
        "token": {
            "preserve_host": False,
            "listen_path": "/auth/token",
            "upstreams": {"balancing": "roundrobin", "targets": [{"target": "http://auth-service:8080/token"}]},
            "strip_path": True,
            "append_path": False,
            "enable_load_balancing": False,
            "methods": ["GET", "POST"],
        }
    },
    "token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "secret"}]},
}


def hs256(key, sub="alice"):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about Janus's short example key
        return minted(jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, key, algorithm="HS256"))


@pytest.mark.parametrize("stop_iteration", LOADINGS)
def test_janus_admin_api_adds_updates_and_deletes_a_server_used_by_both_workers(start_envoy, stop_iteration):
    envoy = start_envoy("seed-janus.yaml", 10110, stop_iteration=stop_iteration)
    port = envoy.port(10010)

    def admin(method, path, body=None, token=None):
        headers = {"host": "janus-admin", "content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return call(port, path, headers, method=method, body=None if body is None else json.dumps(body))

    def api_statuses(token, n=16):
        # Fresh connections: both workers serve some of them.
        return {call(port, "/example", {"authorization": f"Bearer {token}"}).status for _ in range(n)}

    # Janus logs in for an admin JWT; here the filter's own token endpoint issues it.
    r = call(port, "/.well-known/otoroshi/oauth/token", {"content-type": "application/json"}, method="POST",
             body=json.dumps({"grant_type": "client_credentials", "client_id": "admin", "client_secret": "janus-admin-secret", "scope": "admin"}))
    assert r.status == 200, r.body
    admin_token = minted(r.json()["access_token"])
    assert admin("GET", "/oauth/servers").status == 401
    old = hs256("secret")
    assert api_statuses(old) == {401}, "no server `local` yet"

    # Step 1: add the server; step 2: it is listed.
    r = admin("POST", "/oauth/servers", AUTH_JSON, admin_token)
    assert r.status == 201, r.body
    r = admin("GET", "/oauth/servers", token=admin_token)
    assert r.status == 200 and r.json() == [AUTH_JSON]
    time.sleep(PICKUP)
    assert api_statuses(old) == {200}, "every worker uses the new server"
    # Step 3: a request through the server's token endpoint goes to the OAuth server.
    r = call(port, "/auth/token?grant_type=client_credentials", {"authorization": "Basic WW91ckJhc2ljVG9rZW4="})
    assert r.status == 200 and r.json()["path"] == "/token?grant_type=client_credentials"

    # New keys and a client secret: the old token is refused everywhere.
    update = {"token_strategy": {"name": "jwt", "settings": [{"alg": "HS256", "key": "rotated-secret-0123"}]},
              "secrets": {"my-app": "my-app-secret"}}
    assert admin("PUT", "/oauth/servers/local", update, admin_token).status == 200
    time.sleep(PICKUP)
    new = hs256("rotated-secret-0123")
    assert api_statuses(old) == {401}
    assert api_statuses(new) == {200}
    r = call(port, "/auth/token?grant_type=client_credentials", {"authorization": "Basic " + base64.b64encode(b"my-app:").decode()})
    assert r.upstream("authorization") == "Basic " + base64.b64encode(b"my-app:my-app-secret").decode()

    # A server that does not compile: 400 naming the field, nothing changes.
    bad = dict(AUTH_JSON, name="broken", token_strategy={"name": "jwt", "settings": [{"alg": "HS999", "key": "k"}]})
    r = admin("POST", "/oauth/servers", bad, admin_token)
    assert r.status == 400 and "oauth_servers.broken.token_strategy.settings[0].alg" in r.json()["error"], r.body
    assert admin("POST", "/oauth/servers", AUTH_JSON, admin_token).status == 409
    assert admin("DELETE", "/oauth/servers/gateway-admins", token=admin_token).status == 409, "static servers stay"

    assert admin("DELETE", "/oauth/servers/local", token=admin_token).status == 204
    time.sleep(PICKUP)
    assert api_statuses(new) == {401}
    assert admin("GET", "/oauth/servers/local", token=admin_token).status == 404
    # With the host's option, the admin API's and the issuer's requests never reached the
    # route's cluster; without it, a POST or PUT went on (to have its body read) without the
    # admin's credential.
    answered = [p for _, p in envoy.echo.seen if p.startswith(("/oauth/servers", "/.well-known/otoroshi"))]
    if stop_iteration:
        assert answered == [], answered
    assert not [h for h in envoy.echo.seen_headers if admin_token in json.dumps(h)]


# --- KrakenD (seed 001): the Auth0 example's extra_config ----------------------------------

def test_krakend_extra_config_fetches_a_token_with_credentials_in_the_body(start_envoy, tmp_path):
    idp = Idp(tmp_path, "k1")
    try:
        envoy = start_envoy("seed-krakend.yaml", 10111, fixed_ports={IDP: idp.port},
                            upstream=lambda p: protected.serve(p, idp.port))
        rs = [call(envoy.port(10011), "/endpoint") for _ in range(10)]
        assert [r.status for r in rs] == [200] * 10, rs[0].body
        assert {r.json()["client_id"] for r in rs} == {"gateway-post"}, "client_secret_post: the body alone carried them"
        assert idp.requests("/token") == 1, "one token for both workers"
        assert idp.answered("/token", 200) == 1
    finally:
        idp.stop()


# --- Kong (seed 003): the oauth2-introspection plugin entry --------------------------------

def test_kong_plugin_entry_introspects_on_its_route(start_envoy, tmp_path):
    idp = Idp(tmp_path, "k1")
    try:
        envoy = start_envoy("seed-kong.yaml", 10112, fixed_ports={IDP: idp.port})
        port = envoy.port(10012)
        token = idp.token("orders:read", resource="urn:opaque")
        r = call(port, "/orders/7", {"authorization": f"Bearer {token}"})
        assert r.status == 200, r.body
        assert r.upstream("x-credential-client-id") == "gateway"
        assert r.upstream("x-consumer-username") == "gateway-app" and r.upstream("x-consumer-id") == "gateway-app"
        assert r.upstream("authorization") is None, "hide_credentials"
        assert call(port, "/orders/7").status == 401
        assert call(port, "/orders/7", method="OPTIONS").status == 200, "run_on_preflight: false"
        assert call(port, "/elsewhere").status == 200, "the plugin is on orders-route only"
        assert idp.requests("/token/introspection") == 1
    finally:
        idp.stop()


# --- Otoroshi (seed 002): the tutorial, step by step ----------------------------------------

def test_otoroshi_client_credential_service_tutorial(start_envoy):
    envoy = start_envoy("seed-otoroshi.yaml", 10113)
    port = envoy.port(10013)
    r = call(port, "/.well-known/otoroshi/oauth/jwks.json", {"host": "oauth.oto.tools:8080"})
    assert r.status == 200 and r.json()["keys"][0]["kid"] == "otoroshi-jwt-signing"
    r = call(port, "/", {"host": "foo.oto.tools:8080"})
    assert r.status == 401 and list(r.json()) == ["Otoroshi-Error"]
    r = call(port, "/.well-known/otoroshi/oauth/token", {"host": "oauth.oto.tools:8080", "content-type": "application/json"},
             method="POST", body=json.dumps({"grant_type": "client_credentials", "client_id": "my-id", "client_secret": "my-secret"}))
    assert r.status == 200, r.body
    grant = r.json()
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 3600
    token = minted(grant["access_token"])
    # Checked by a third-party library against the served JWKS.
    jwks = call(port, "/.well-known/otoroshi/oauth/jwks.json", {"host": "oauth.oto.tools"}).json()
    key = jwt.PyJWK(jwks["keys"][0])
    assert jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})["sub"] == "my-id"
    r = call(port, "/", {"host": "foo.oto.tools:8080", "authorization": f"Bearer {token}"})
    assert r.status == 200 and r.upstream("authorization") == f"Bearer {token}"
    assert call(port, "/.well-known/otoroshi/oauth/token", {"host": "foo.oto.tools"}, method="POST", body="{}").status != 200, \
        "the endpoints are on the configured domain only"
