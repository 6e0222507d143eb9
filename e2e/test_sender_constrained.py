"""Sender-constrained tokens in a real Envoy at --concurrency 2. DPoP: npm oidc-provider issues
a DPoP-bound token to a client made of the npm `dpop` package, whose proofs the filter checks
(Envoy's BoringSSL checks their signatures). Certificate-bound tokens: a TLS listener that asks
for client certificates, certificates made with openssl here, tokens minted with PyJWT."""
import base64
import hashlib
import json
import pathlib
import ssl
import subprocess
import http.client

import pytest

from conftest import call
from idp import IDP_DIR, Idp
from tokens import MINTED, mint

LISTENER, ECHO, IDP = 10002, 10102, 10200


def dpop_client(idp, alg, *requests):
    out = subprocess.run(["node", "dpop-client.mjs", str(idp.port), alg, *requests], cwd=IDP_DIR,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    MINTED.append(got["token"])
    return got


@pytest.mark.parametrize("alg", ["ES256"])  # what oidc-provider takes for DPoP by default
def test_a_dpop_bound_token_passes_with_its_proof_once(start_envoy, tmp_path, alg):
    idp = Idp(tmp_path, "k1")
    try:
        envoy = start_envoy("e2e-oidc.yaml", ECHO, fixed_ports={IDP: idp.port})
        port = envoy.port(LISTENER)
        url = f"http://127.0.0.1:{port}/orders/1"
        got = dpop_client(idp, alg, f"GET {url}", f"GET {url}", f"POST {url}")
        assert got["token_type"] == "DPoP"
        token, (p1, p2, p_post) = got["token"], got["proofs"]

        def send(proof, scheme="DPoP", method="GET"):
            headers = {"authorization": f"{scheme} {token}"}
            if proof:
                headers["dpop"] = proof
            return call(port, "/orders/1", headers, method=method)

        r = send(p1)
        assert r.status == 200, (r.headers, r.body)
        assert r.upstream("x-credential-client-id") == "gateway" or r.upstream("authorization") == f"DPoP {token}"
        # The same proof again, whichever worker takes it: a replay.
        for _ in range(4):
            r = send(p1)
            assert r.status == 401
            assert r.header("www-authenticate").startswith('DPoP algs="ES256 ES384 RS256 PS256 EdDSA", error="invalid_dpop_proof"')
        assert send(p2).status == 200, "a fresh proof"
        assert send(p_post).status == 401, "a proof for another method"
        assert send(got["foreign"]).status == 401, "a proof by another key"
        assert send(None).status == 401, "no proof"
        r = send(None, scheme="Bearer")
        assert r.status == 401 and 'error="invalid_token"' in r.header("www-authenticate"), "a bound token as a bearer token"
    finally:
        idp.stop()


# --- certificate-bound tokens (RFC 8705) over a TLS listener asking for client certificates --

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(d: pathlib.Path):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=e2e test CA", cwd=d)
    for name in ["server", "client", "other"]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if name == "server" else "extendedKeyUsage=clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def x5t(pem: pathlib.Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(pem.read_text())
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def downstream_tls(certs: pathlib.Path) -> str:
    """A listener filter chain's `transport_socket` (YAML, as the first key of a list item at
    four spaces): TLS with the server certificate, requiring a client certificate of the CA."""
    return (
        "transport_socket:\n"
        "        name: envoy.transport_sockets.tls\n"
        "        typed_config:\n"
        '          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n'
        "          require_client_certificate: true\n"
        "          common_tls_context:\n"
        f"            tls_certificates: [{{certificate_chain: {{filename: {certs}/server.pem}}, private_key: {{filename: {certs}/server.key}}}}]\n"
        f"            validation_context: {{trusted_ca: {{filename: {certs}/ca.pem}}}}\n")


def certificates(tmp: pathlib.Path) -> pathlib.Path:
    certs = tmp / "certs"
    certs.mkdir()
    make_certificates(certs)
    return certs


def tls_bootstrap(tmp: pathlib.Path, certs: pathlib.Path) -> pathlib.Path:
    """e2e-jwt.yaml with its listener behind TLS that requires a client certificate."""
    root = pathlib.Path(__file__).resolve().parent.parent
    text = (root / "envoy-config" / "e2e-jwt.yaml").read_text()
    tls = "    filter_chains:\n    - " + downstream_tls(certs) + "      filters:"
    marker = "    filter_chains:\n    - filters:"
    assert marker in text
    text = text.replace(marker, tls, 1)
    path = tmp / "e2e-jwt-mtls.yaml"
    path.write_text(text)
    return path


def test_a_certificate_bound_token_needs_that_client_certificate(start_envoy, tmp_path):
    certs = certificates(tmp_path)
    envoy = start_envoy(str(tls_bootstrap(tmp_path, certs)), 10101)
    port = envoy.port(10001)

    def get(token, cert):
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            conn.request("GET", "/api/items", headers={"authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    bound = mint("ES256", {"cnf": {"x5t#S256": x5t(certs / "client.pem")}})
    assert get(bound, "client")[0] == 200
    status, body = get(bound, "other")
    assert status == 401 and json.loads(body)["error_description"] == "the access token is bound to another client certificate"
    assert get(mint("ES256"), "other")[0] == 200, "an unbound token: certificate_bound is optional"


# --- mTLS client authentication to the IdP: an Envoy cluster with a client certificate -----

def mtls_idp_bootstrap(tmp: pathlib.Path, certs: pathlib.Path) -> pathlib.Path:
    """e2e-client-credentials.yaml whose `idp` cluster speaks TLS with a client certificate to
    a listener (port 10300) that requires one before it proxies to the OAuth server."""
    root = pathlib.Path(__file__).resolve().parent.parent
    text = (root / "envoy-config" / "e2e-client-credentials.yaml").read_text()
    plain = """  - name: idp
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: idp
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 10200}}}}]}]"""
    assert plain in text
    mtls = f"""  - name: idp
    type: STATIC
    connect_timeout: 1s
    # The filter's calls to the IdP authenticate with this client certificate (mTLS).
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          tls_certificates: [{{certificate_chain: {{filename: {certs}/client.pem}}, private_key: {{filename: {certs}/client.key}}}}]
          validation_context: {{trusted_ca: {{filename: {certs}/ca.pem}}}}
    load_assignment:
      cluster_name: idp
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 10300}}}}}}}}]}}]
  - name: idp-plain
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: idp-plain
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 10200}}}}}}}}]}}]"""
    front = f"""  listeners:
  - name: idp-front
    address: {{socket_address: {{address: 127.0.0.1, port_value: 10300}}}}
    filter_chains:
    - {downstream_tls(certs)}      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: idp_front
          route_config:
            virtual_hosts: [{{name: all, domains: ["*"], routes: [{{match: {{prefix: /}}, route: {{cluster: idp-plain}}}}]}}]
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""
    text = text.replace(plain, mtls).replace("  listeners:\n", front, 1)
    path = tmp / "e2e-client-credentials-mtls.yaml"
    path.write_text(text)
    return path


def test_the_filter_authenticates_to_the_idp_with_a_client_certificate(start_envoy, tmp_path):
    import protected
    certs = certificates(tmp_path)
    idp = Idp(tmp_path, "k1")
    try:
        envoy = start_envoy(str(mtls_idp_bootstrap(tmp_path, certs)), 10104, fixed_ports={IDP: idp.port},
                            upstream=lambda port: protected.serve(port, idp.port))
        r = call(envoy.port(10004), "/orders")
        assert r.status == 200, r.body
        assert r.json()["client_id"] == "gateway"
        stats = envoy.stats()
        assert stats["listener.127.0.0.1_{}.ssl.handshake".format(envoy.port(10300))] >= 1
        assert stats.get("listener.127.0.0.1_{}.ssl.no_certificate".format(envoy.port(10300)), 0) == 0
    finally:
        idp.stop()
