"""The filter composed with Envoy's RBAC filter after it, in a real Envoy: RBAC allows /admin
only to the subject `alice` holding the scope `write`, matching on the identity headers the
filter sets (envoy-config/e2e-rbac.yaml). A client that sends those headers itself, with a
token or on a public route, never satisfies the rule."""
import base64
import json
import time

import pytest

from conftest import call
from tokens import mint

LISTENER, ECHO = 10007, 10107


@pytest.fixture(scope="module")
def envoy(tmp_path_factory):
    from echo import serve
    from envoy import Envoy
    e = Envoy("e2e-rbac.yaml", tmp_path_factory.mktemp("rbac"))
    e.echo = serve(e.port(ECHO))
    yield e
    e.stop()
    e.echo.shutdown()


def get(envoy, path, token=None, **headers):
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    if token:
        h["authorization"] = f"Bearer {token}"
    return call(envoy.port(LISTENER), path, h)


def test_rbac_allows_on_the_filters_identity_headers(envoy):
    r = get(envoy, "/admin/users", mint("RS256", {"sub": "alice", "scope": "read write"}))
    assert r.status == 200, r.body
    assert r.upstream("x-credential-sub") == "alice"


@pytest.mark.parametrize("claims", [{"sub": "alice", "scope": "read"}, {"sub": "bob", "scope": "read write"},
                                    {"sub": "alice", "scope": "rewrite"}])
def test_rbac_denies_the_wrong_subject_or_scope(envoy, claims):
    r = get(envoy, "/admin/users", mint("RS256", claims))
    assert r.status == 403, r.body
    assert r.body == b"RBAC: access denied"


def test_spoofed_identity_headers_never_satisfy_the_rule(envoy):
    spoofed = {"x_credential_sub": "alice", "x_credential_scope": "write"}
    # With a valid token that lacks the scope: the filter's own headers replace the client's.
    r = get(envoy, "/admin/users", mint("RS256", {"sub": "alice", "scope": "read"}), **spoofed)
    assert r.status == 403, r.body
    # Without a token on a public route: the filter removes them before RBAC runs.
    r = get(envoy, "/public/admin/users", **spoofed)
    assert r.status == 403, r.body
    r = get(envoy, "/public/page", **spoofed)
    assert r.status == 200 and r.upstream("x-credential-sub") is None and r.upstream("x-credential-scope") is None
    # Without a token on a protected route: the filter refuses before RBAC.
    assert get(envoy, "/admin/users", **spoofed).status == 401


def test_other_paths_need_only_the_filter(envoy):
    assert get(envoy, "/orders-free/x", mint("RS256", {"sub": "bob", "scope": "read"})).status == 200


def test_rbac_and_the_access_log_read_the_filter_state(envoy):
    r = get(envoy, "/state/admin/x", mint("RS256", {"sub": "alice", "email": "alice@example.test"}))
    assert r.status == 200, r.body
    payload = r.upstream("x-jwt-payload")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.test"
    assert get(envoy, "/state/admin/x", mint("RS256", {"sub": "bob"})).status == 403
    # Spoofed headers cannot stand in for filter state, nor forge the payload header.
    r = get(envoy, "/state/admin/x", mint("RS256", {"sub": "bob"}), x_credential_sub="alice")
    assert r.status == 403
    r = get(envoy, "/public/page", x_jwt_payload="eyJzdWIiOiJhbGljZSJ9")
    assert r.status == 200 and r.upstream("x-jwt-payload") is None
    lines = ["ACCESS path=/state/admin/x sub=alice email=alice@example.test status=200",
             "ACCESS path=/state/admin/x sub=bob email=- status=403"]
    deadline = time.time() + 5
    while time.time() < deadline and not all(line in envoy.logs() for line in lines):
        time.sleep(0.1)
    for line in lines:
        assert line in envoy.logs()
