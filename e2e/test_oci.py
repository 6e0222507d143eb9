"""`make oci`'s push against a real registry (Debian's docker-registry) on 127.0.0.1: open and
with htpasswd (Basic) over plain HTTP (`--insecure`), and over HTTPS with token authentication
(the registry's `WWW-Authenticate: Bearer realm=…` challenge, a token from the realm, which this
test serves, as Docker Hub, GHCR or Harbor do): both layouts pushed, pulled back, digests and
bytes compared."""
import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import pathlib
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from envoy import ROOT, free_port

sys.path.insert(0, str(ROOT / "tools"))
import oci  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(REGISTRY_BIN is None, reason="docker-registry is not installed (.ci/run installs it)")
SERVICE, ISSUER = "test-registry", "test-token-issuer"


def tls_material(tmp_path):
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "registry.pem", tmp_path / "registry.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key, cert_path, key_path


def token_server(cert, key, cert_path, key_path):
    """The registry's token realm: Basic ci:ci-password gets a JWT for the scope asked, signed
    with the key whose certificate the registry trusts (x5c), as distribution's token auth wants."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            asked.append(query)
            expected = "Basic " + base64.b64encode(b"ci:ci-password").decode()
            if self.headers.get("Authorization") != expected or query.get("service") != [SERVICE]:
                self.send_response(401)
                self.end_headers()
                return
            access = []
            for scope in query.get("scope", []):
                kind, name, actions = scope.split(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            token = jwt.encode({"iss": ISSUER, "sub": "ci", "aud": SERVICE, "iat": now, "nbf": now - 10, "exp": now + 300,
                                "jti": base64.b64encode(str(time.time_ns()).encode()).decode(), "access": access},
                               key, algorithm="RS256",
                               headers={"x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]})
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, asked


@pytest.fixture(params=["open", "htpasswd", "token"])
def registry(request, tmp_path):
    """(address, user, options for oci.Registry, the token requests asked or None)."""
    port = free_port()
    config = {"version": 0.1, "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
              "http": {"addr": f"127.0.0.1:{port}"}, "log": {"level": "error"}}
    user, options, asked, realm = None, {"insecure": True}, None, None
    if request.param == "htpasswd":
        subprocess.run(["htpasswd", "-Bbc", str(tmp_path / "htpasswd"), "ci", "ci-password"], check=True, capture_output=True)
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(tmp_path / "htpasswd")}}
        user = "ci:ci-password"
    if request.param == "token":
        cert, key, cert_path, key_path = tls_material(tmp_path)
        realm, asked = token_server(cert, key, cert_path, key_path)
        config["http"]["tls"] = {"certificate": str(cert_path), "key": str(key_path)}
        config["auth"] = {"token": {"realm": f"https://127.0.0.1:{realm.server_address[1]}/token", "service": SERVICE,
                                    "issuer": ISSUER, "rootcertbundle": str(cert_path)}}
        user, options = "ci:ci-password", {"ca_file": str(cert_path)}
    (tmp_path / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(tmp_path / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheme = "https" if request.param == "token" else "http"
    context = ssl.create_default_context(cafile=options.get("ca_file")) if scheme == "https" else None
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/v2/", timeout=1, context=context)
            break
        except urllib.error.HTTPError:
            break  # 401 without credentials: up
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}", user, options, asked
    proc.terminate()
    proc.wait(10)
    if realm:
        realm.shutdown()


def flags(options):
    return (["--insecure"] if options.get("insecure") else []) + (["--ca-file", options["ca_file"]] if options.get("ca_file") else [])


def test_push_and_pull_both_layouts(registry, tmp_path):
    address, user, options, asked = registry
    wasm = oci.WASM.read_bytes()
    cmd = [sys.executable, str(ROOT / "tools" / "oci.py"), "push", address, "oauth-filter", "0.1.0", "--manifests", str(tmp_path)]
    cmd += flags(options) + (["--user", user] if user else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout.split("\n")
    pushed = dict(line.split(" ") for line in out if line and not line.startswith("manifests "))
    assert set(pushed) == {"oauth-filter:0.1.0", "oauth-filter:0.1.0-compat"}
    check_manifests(tmp_path, f"{address}/oauth-filter:0.1.0", pushed["oauth-filter:0.1.0"])
    if asked is not None:  # the token flow was taken, for the repository's push and pull
        # The registry names the actions in either order (it writes them from a Go map).
        scopes = {(s.rsplit(":", 1)[0], frozenset(s.rsplit(":", 1)[1].split(","))) for q in asked for s in q.get("scope", [])}
        assert ("repository:oauth-filter", frozenset({"pull", "push"})) in scopes, asked
    reg = oci.Registry(address, user, **options)
    for tag in ["0.1.0", "0.1.0-compat"]:
        blob, manifest_digest = oci.pull(reg, "oauth-filter", tag)
        assert manifest_digest == pushed[f"oauth-filter:{tag}"]
        assert hashlib.sha256(blob).digest() == hashlib.sha256(wasm).digest() and blob == wasm
    m = json.loads(reg.get("/v2/oauth-filter/manifests/0.1.0", accept=oci.OCI_MANIFEST))
    assert m["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json"
    assert [l["mediaType"] for l in m["layers"]] == ["application/vnd.module.wasm.content.layer.v1+wasm"]
    c = json.loads(reg.get("/v2/oauth-filter/manifests/0.1.0-compat", accept=oci.OCI_MANIFEST))
    assert len(c["layers"]) == 1


def test_credentials_are_required_when_configured(registry):
    address, user, options, _ = registry
    if not user:
        pytest.skip("open registry")
    with pytest.raises((urllib.error.HTTPError, SystemExit)) as e:
        oci.push(oci.Registry(address, None, **options), "oauth-filter", "x", b"\0asm")
    assert getattr(e.value, "code", None) == 401 or "refused: 401" in str(e.value)
    with pytest.raises((urllib.error.HTTPError, SystemExit)):
        oci.push(oci.Registry(address, "ci:wrong", **options), "oauth-filter", "x", b"\0asm")


def test_https_is_the_default_and_checks_the_certificate(registry):
    """Without --insecure the registry is spoken to over HTTPS; a certificate nobody vouches for
    is refused."""
    address, user, options, _ = registry
    if options.get("insecure"):
        with pytest.raises(urllib.error.URLError):  # HTTPS to a plain-HTTP registry
            oci.push(oci.Registry(address, user), "oauth-filter", "x", b"\0asm")
    else:
        with pytest.raises(urllib.error.URLError) as e:
            oci.push(oci.Registry(address, user), "oauth-filter", "x", b"\0asm")
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value)


def check_manifests(out, image, digest):
    """The manifests push wrote: every profile's, valid against its schema, pointing at the image
    just pushed with its digest, and otherwise the committed manifest."""
    import jsonschema
    import yaml
    hexdigest = digest.removeprefix("sha256:")
    for kind, schema in [("istio", "wasmplugin.schema.json"), ("envoy-gateway", "envoyextensionpolicy.schema.json")]:
        committed = sorted((ROOT / "envoy-config" / kind).glob("*.yaml"))
        assert {p.name for p in committed} == {p.name for p in (out / kind).glob("*.yaml")}
        for path in committed:
            doc = yaml.safe_load((out / kind / path.name).read_text())
            jsonschema.validate(doc, json.loads((ROOT / "envoy-config" / kind / schema).read_text()))
            if kind == "istio":
                assert (doc["spec"]["url"], doc["spec"]["sha256"]) == (f"oci://{image}", hexdigest)
                doc["spec"]["url"], doc["spec"]["sha256"] = None, None
            else:
                source = doc["spec"]["wasm"][0]["code"]["image"]
                assert (source["url"], source["sha256"]) == (image, hexdigest)
                source["url"], source["sha256"] = None, None
            original = yaml.safe_load(path.read_text())
            if kind == "istio":
                original["spec"]["url"], original["spec"]["sha256"] = None, None
            else:
                original["spec"]["wasm"][0]["code"]["image"]["url"] = None
                original["spec"]["wasm"][0]["code"]["image"]["sha256"] = None
            assert doc == original
