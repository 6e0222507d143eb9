"""Configurations that cannot rot: every bootstrap validates in Envoy, rendered files match
their templates and filters/, and the Istio manifest carries the same plugin configuration."""
import json
import pathlib
import subprocess

import pytest

from envoy import ENVOY, ROOT

BOOTSTRAPS = sorted((ROOT / "envoy-config").glob("*.yaml"))


@pytest.mark.parametrize("bootstrap", BOOTSTRAPS, ids=lambda p: p.name)
def test_bootstrap_validates(bootstrap):
    r = subprocess.run([ENVOY, "--mode", "validate", "-c", str(bootstrap), "--log-level", "warn"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rendered_files_are_up_to_date():
    r = subprocess.run(["python3", "envoy-config/render.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_istio_manifest_carries_the_demo_configuration():
    text = (ROOT / "envoy-config" / "istio" / "demo.yaml").read_text()
    line = next(l for l in text.splitlines() if l.strip().startswith("pluginConfig:"))
    plugin_config = json.loads(line.split(":", 1)[1])
    assert plugin_config == json.loads((ROOT / "filters" / "demo.json").read_text())
    for field in ("phase: AUTHN", "failStrategy: FAIL_CLOSE", "kind: WasmPlugin"):
        assert field in text
