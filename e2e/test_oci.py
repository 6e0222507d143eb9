"""`make oci`'s push against a real registry (Debian's docker-registry) on 127.0.0.1, with and
without authentication: both layouts pushed, pulled back, digests and bytes compared."""
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from envoy import ROOT, free_port

sys.path.insert(0, str(ROOT / "tools"))
import oci  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(REGISTRY_BIN is None, reason="docker-registry is not installed (.ci/run installs it)")


@pytest.fixture(params=["open", "htpasswd"])
def registry(request, tmp_path):
    port = free_port()
    config = {"version": 0.1, "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
              "http": {"addr": f"127.0.0.1:{port}"}, "log": {"level": "error"}}
    user = None
    if request.param == "htpasswd":
        subprocess.run(["htpasswd", "-Bbc", str(tmp_path / "htpasswd"), "ci", "ci-password"], check=True, capture_output=True)
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(tmp_path / "htpasswd")}}
        user = "ci:ci-password"
    (tmp_path / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(tmp_path / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # 401 without credentials: up
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}", user
    proc.terminate()
    proc.wait(10)


def test_push_and_pull_both_layouts(registry, tmp_path):
    address, user = registry
    wasm = oci.WASM.read_bytes()
    cmd = [sys.executable, str(ROOT / "tools" / "oci.py"), "push", address, "oauth-filter", "0.1.0", "--manifests", str(tmp_path)]
    if user:
        cmd += ["--user", user]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("\n")
    pushed = dict(line.split(" ") for line in out if line and not line.startswith("manifests "))
    assert set(pushed) == {"oauth-filter:0.1.0", "oauth-filter:0.1.0-compat"}
    check_manifests(tmp_path, f"{address}/oauth-filter:0.1.0", pushed["oauth-filter:0.1.0"])
    reg = oci.Registry(address, user)
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
    address, user = registry
    if not user:
        pytest.skip("open registry")
    with pytest.raises(urllib.error.HTTPError) as e:
        oci.push(oci.Registry(address, None), "oauth-filter", "x", b"\0asm")
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError):
        oci.push(oci.Registry(address, "ci:wrong"), "oauth-filter", "x", b"\0asm")


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
