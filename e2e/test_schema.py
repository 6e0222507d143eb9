"""The JSON Schema of the plugin configuration (schema/oauth-filter.schema.json, draft
2020-12), under a third-party validator (PyPI jsonschema): every ready configuration in
filters/ and every whole configuration in the README and docs/ is valid, and each configuration
the core refuses for its shape (an unknown or missing field, a wrong type, a value outside a
list or a range, two fields that exclude each other) is refused by the schema too. What a
schema cannot see (keys, regexes, names that must exist) is left to `make check`."""
import json
import os
import re
import subprocess
import tempfile

import pytest
from jsonschema import Draft202012Validator

from conftest import ROOT

SCHEMA = json.loads((ROOT / "schema" / "oauth-filter.schema.json").read_text())
TOP_LEVEL = set(SCHEMA["properties"])
# The core's reasons that are about shape.
SHAPE = re.compile(r"unknown field|invalid type|missing field|unknown variant|one of|not both|exactly one of|at most one"
                   r"|required with|must be between (?!1 ms)|at most \d|must be at least 1 second|must not be empty|must list at least"
                   r"|not an http\(s\) URL|64 hex digits|must start with|milliseconds, between")


def validator():
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("path", sorted((ROOT / "filters").glob("*.json")), ids=lambda p: p.name)
def test_every_ready_configuration_is_valid(path):
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(json.loads(path.read_text()))]
    assert not errors, errors


def test_every_whole_configuration_in_the_docs_is_valid():
    pages = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    seen, errors = 0, []
    for page in pages:
        for block in re.findall(r"```json\n(.*?)\n```", page.read_text(), re.S):
            try:
                value = json.loads(block)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and value and set(value) <= TOP_LEVEL and "policies" in value:
                seen += 1
                errors += [f"{page.name}: {list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(value)]
    assert seen >= 4 and not errors, (seen, errors)


def test_the_core_s_shape_errors_are_refused_by_the_schema_too():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cases.json")
        subprocess.run(["cargo", "test", "-q", "-p", "oauth-filter-core", "--test", "config_errors", "every_configuration_error"],
                       cwd=ROOT, env={**os.environ, "OAUTH_FILTER_ERROR_CASES": out}, check=True, capture_output=True)
        cases = json.load(open(out))
    v = validator()
    shape = [c for c in cases if SHAPE.search(c["reason"])]
    accepted = [f"{c['path']}: {c['reason']}" for c in shape if v.is_valid(c["config"])]
    assert len(shape) >= 40 and not accepted, accepted


def test_the_schema_is_what_tools_schema_py_writes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("schema_source", ROOT / "tools" / "schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.schema == SCHEMA, "run `python3 tools/schema.py` after editing it"


def test_the_rendered_manifests_configurations_are_valid():
    """With their secrets named as environment variables ({"env": NAME})."""
    import yaml
    manifests = sorted((ROOT / "envoy-config" / "istio").glob("*.yaml")) + sorted((ROOT / "envoy-config" / "envoy-gateway").glob("*.yaml"))
    errors = []
    for m in manifests:
        doc = yaml.safe_load(m.read_text())
        config = doc["spec"].get("pluginConfig") or doc["spec"]["wasm"][0]["config"]
        errors += [f"{m.name}: {list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(config)]
    assert len(manifests) >= 20 and not errors, errors
