import http.client
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from echo import serve  # noqa: E402
from envoy import Envoy  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
KEYS = ROOT / "test-harness" / "fixtures" / "keys"


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def upstream(self, name):
        """A header as the echo upstream received it (None if absent)."""
        values = [v for k, v in self.json()["headers"] if k == name.lower()]
        return values[0] if values else None

    def upstream_all(self, name):
        return [v for k, v in self.json()["headers"] if k == name.lower()]


def call(port, path, headers=None, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


# The ways a filter that reads request bodies is loaded: with Envoy's
# `allow_on_headers_stop_iteration` (our bootstraps) and without it (a plain Istio WasmPlugin,
# Envoy before 1.35, any bootstrap written without it).
LOADINGS = [pytest.param(True, id="stop-iteration"), pytest.param(False, id="plain-wasmplugin")]


@pytest.fixture(autouse=True)
def no_leftover_idp():
    """Whatever a test did, no OpenID provider it started outlives it."""
    import idp
    before = set(idp._LIVE)
    yield
    for proc in idp._LIVE - before:
        idp._kill(proc)


@pytest.fixture
def start_envoy(tmp_path):
    """start_envoy(bootstrap, echo_port) → an Envoy with an echo upstream on its cluster port."""
    started = []

    def start(bootstrap, echo_port, concurrency=2, fixed_ports=None, upstream=serve, stop_iteration=True):
        envoy = Envoy(bootstrap, tmp_path, concurrency=concurrency, fixed_ports=fixed_ports, stop_iteration=stop_iteration)
        envoy.echo = upstream(envoy.port(echo_port))
        started.append(envoy)
        return envoy

    yield start
    for e in started:
        e.stop()
        e.echo.shutdown()
    for e in started:
        assert_no_secrets(e.logs(), e.log_path.name)


# Secrets of the test configurations, and every token the tests minted or obtained: none may
# appear in any Envoy log (the filter logs reasons, never credentials).
SECRETS = ["hs-secret-for-tests", "gateway-secret", "gateway-post-secret", "demo-secret", "rsa-secret", "ec-secret",
           "ed-secret", "legacy-secret-0123456789", "jwks-oct-secret", "Z2F0ZXdheTpnYXRld2F5LXNlY3JldA==", "PRIVATE KEY"]


def assert_no_secrets(text, where):
    from tokens import MINTED
    for secret in SECRETS + MINTED:
        assert secret not in text, f"{where} holds a secret or token ({secret[:12]}…)"


def pytest_configure(config):
    # Test keys are short on purpose in places; PyJWT's advice about it is noise here.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")
