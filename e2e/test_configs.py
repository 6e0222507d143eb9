"""Configurations that cannot rot: every bootstrap validates in Envoy, rendered files match
their templates and filters/, and the Istio manifest carries the same plugin configuration."""
import json
import pathlib
import subprocess

import pytest

from envoy import ENVOY, ROOT

BOOTSTRAPS = sorted((ROOT / "envoy-config").glob("*.yaml")) + [ROOT / "envoy-config" / "dynamic" / "bootstrap.yaml"]


@pytest.mark.parametrize("bootstrap", BOOTSTRAPS, ids=lambda p: p.name)
def test_bootstrap_validates(bootstrap):
    r = subprocess.run([ENVOY, "--mode", "validate", "-c", str(bootstrap), "--log-level", "warn"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rendered_files_are_up_to_date():
    r = subprocess.run(["python3", "envoy-config/render.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


MANIFESTS = sorted((ROOT / "envoy-config" / "istio").glob("*.yaml"))


def test_every_filter_profile_has_an_istio_manifest():
    profiles = {p.stem for p in (ROOT / "filters").glob("*.json")}
    assert profiles and profiles == {m.stem for m in MANIFESTS}


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_istio_manifest_fits_the_wasmplugin_schema_and_carries_its_profile(manifest):
    import jsonschema
    import yaml
    schema = json.loads((ROOT / "envoy-config" / "istio" / "wasmplugin.schema.json").read_text())
    doc = yaml.safe_load(manifest.read_text())
    jsonschema.validate(doc, schema)
    spec = doc["spec"]
    assert spec["phase"] == "AUTHN" and spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["url"].startswith("oci://") and len(spec["sha256"]) == 64
    # pluginConfig is the profile's filter configuration, which core/tests/filters.rs compiles.
    assert spec["pluginConfig"] == json.loads((ROOT / "filters" / f"{manifest.stem}.json").read_text())


def test_the_schema_refuses_what_istio_refuses():
    import jsonschema
    import yaml
    schema = json.loads((ROOT / "envoy-config" / "istio" / "wasmplugin.schema.json").read_text())
    doc = yaml.safe_load(MANIFESTS[0].read_text())
    for field, bad in [("phase", "BEFORE_AUTHN"), ("failStrategy", "FAIL_SOMETIMES"), ("sha256", "xyz"), ("imagePullPolicy", "Never"),
                       ("unknownField", 1)]:
        broken = json.loads(json.dumps(doc))
        broken["spec"][field] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
