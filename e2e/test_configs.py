"""Configurations that cannot rot: every bootstrap validates in Envoy, rendered files match
their templates and filters/, and the Istio and Envoy Gateway manifests carry the same plugin
configuration, its secrets named as environment variables rather than written there."""
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


def resolved(config, env):
    """`config` with each {"env": NAME} replaced by env[NAME], as the filter reads it."""
    if isinstance(config, dict):
        if set(config) == {"env"} and isinstance(config["env"], str):
            return env[config["env"]]
        return {k: resolved(v, env) for k, v in config.items()}
    if isinstance(config, list):
        return [resolved(v, env) for v in config]
    return config


def carries_its_profile(manifest, config, declared):
    """The manifest's configuration is its profile with every secret read from a variable the
    manifest declares, and no secret of the profile is written in the manifest."""
    import sys
    sys.path.insert(0, str(ROOT / "envoy-config"))
    import render
    profile = json.loads((ROOT / "filters" / f"{manifest.stem}.json").read_text())
    _, env = render.secrets_from_env(profile)
    assert set(declared) == set(env), (declared, env)
    assert resolved(config, env) == profile
    text = manifest.read_text()
    assert "PRIVATE KEY" not in text and not [v for v in env.values() if v in text]


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
    # pluginConfig is the profile's filter configuration, which core/tests/filters.rs compiles,
    # with its secrets read from the proxy's environment (vmConfig.env, from the host).
    declared = [e["name"] for e in spec.get("vmConfig", {}).get("env", []) if e.get("valueFrom") == "HOST"]
    carries_its_profile(manifest, spec["pluginConfig"], declared)


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


EG_POLICIES = sorted((ROOT / "envoy-config" / "envoy-gateway").glob("*.yaml"))
EG_SCHEMA = ROOT / "envoy-config" / "envoy-gateway" / "envoyextensionpolicy.schema.json"


def test_every_filter_profile_has_an_envoy_gateway_policy():
    profiles = {p.stem for p in (ROOT / "filters").glob("*.json")}
    assert profiles and profiles == {m.stem for m in EG_POLICIES}


@pytest.mark.parametrize("policy", EG_POLICIES, ids=lambda p: p.name)
def test_envoy_gateway_policy_fits_the_crd_schema_and_carries_its_profile(policy):
    import jsonschema
    import yaml
    doc = yaml.safe_load(policy.read_text())
    jsonschema.validate(doc, json.loads(EG_SCHEMA.read_text()))
    [wasm] = doc["spec"]["wasm"]
    assert wasm["failOpen"] is False and wasm["rootID"] == "oauth_filter"
    assert wasm["code"]["type"] == "Image" and len(wasm["code"]["image"]["sha256"]) == 64
    # `config` is the profile's filter configuration, which core/tests/filters.rs compiles,
    # with its secrets read from the proxy's environment (env.hostKeys).
    carries_its_profile(policy, wasm["config"], wasm.get("env", {}).get("hostKeys", []))


def test_the_envoy_gateway_schema_refuses_what_its_crd_refuses():
    import jsonschema
    import yaml
    schema = json.loads(EG_SCHEMA.read_text())
    doc = yaml.safe_load(EG_POLICIES[0].read_text())

    def broken(change):
        d = json.loads(json.dumps(doc))
        change(d["spec"])
        return d

    cases = [
        lambda s: s["wasm"][0]["code"].update(type="OCI"),
        lambda s: s["wasm"][0]["code"]["image"].update(sha256="sha256:abc"),
        lambda s: s["wasm"][0]["code"].pop("image"),
        lambda s: s["wasm"][0]["code"].update(http={"url": "https://x/y.wasm"}),
        lambda s: s["targetRefs"][0].update(kind="Service"),
        lambda s: s.pop("targetRefs"),
        lambda s: s["wasm"][0].update(runtime="v8"),
    ]
    for change in cases:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken(change), schema)
