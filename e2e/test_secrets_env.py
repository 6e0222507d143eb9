"""Secrets outside the manifest, in a real Envoy: the issuer's private keys and its clients'
secrets (and the Janus front's) come from environment variables that Envoy hands to the VM
(`vm_config.environment_variables.host_env_keys`, what Istio's `vmConfig.env` with
`valueFrom: HOST` and Envoy Gateway's `env.hostKeys` configure); the configuration names them
only. A variable the VM lacks refuses the configuration, naming the field, never a value."""
import json
import re
import sys

import pytest
import yaml

from conftest import ROOT, assert_no_secrets, call
from echo import serve
from envoy import Envoy
from idp import Idp

sys.path.insert(0, str(ROOT / "envoy-config"))
import render  # noqa: E402

LISTENER, ECHO, IDP = 10005, 10105, 10200
PREFIX = "/.well-known/otoroshi/oauth"


def bootstrap(tmp_path, names):
    """e2e-issuer.yaml carrying the Istio manifest's pluginConfig (secrets as {"env": NAME}),
    with the VM given the host's variables `names`."""
    manifest = yaml.safe_load((ROOT / "envoy-config" / "istio" / "e2e-issuer.yaml").read_text())
    config = manifest["spec"]["pluginConfig"]
    text = (ROOT / "envoy-config" / "e2e-issuer.yaml").read_text()
    text, n = re.subn(r'(\n\s*)value: ".*"\n', lambda m: f'{m.group(1)}value: {json.dumps(json.dumps(config))}\n', text, count=1)
    assert n == 1
    runtime = "runtime: envoy.wasm.runtime.v8"
    indent = re.search(r"\n(\s*)" + re.escape(runtime), text).group(1)
    keys = ", ".join(names)
    text = text.replace(runtime, f"{runtime}\n{indent}environment_variables: {{host_env_keys: [{keys}]}}", 1)
    assert "PRIVATE KEY" not in text and "rsa-secret" not in text
    path = tmp_path / "e2e-issuer-env.yaml"
    path.write_text(text)
    return path


def env_of_the_profile():
    _, env = render.secrets_from_env(json.loads((ROOT / "filters" / "e2e-issuer.json").read_text()))
    assert len(env) >= 5, env
    return env


def test_secrets_from_the_environment_serve(tmp_path):
    env = env_of_the_profile()
    idp = Idp(tmp_path, "k1")
    envoy = Envoy(str(bootstrap(tmp_path, env)), tmp_path, fixed_ports={IDP: idp.port}, env=env)
    echo = serve(envoy.port(ECHO))
    try:
        port = envoy.port(LISTENER)
        for client, secret in [("rsa-client", "rsa-secret"), ("ed-client", "ed-secret")]:
            body = json.dumps({"grant_type": "client_credentials", "client_id": client, "client_secret": secret})
            r = call(port, f"{PREFIX}/token", {"content-type": "application/json"}, method="POST", body=body)
            assert r.status == 200, r.body  # the client's secret and the signing key, from the environment
            token = r.json()["access_token"]
            assert call(port, "/api/orders", {"authorization": f"Bearer {token}"}).status == 200
        body = json.dumps({"grant_type": "client_credentials", "client_id": "rsa-client", "client_secret": "wrong"})
        assert call(port, f"{PREFIX}/token", {"content-type": "application/json"}, method="POST", body=body).status == 401
    finally:
        echo.shutdown()
        envoy.stop()
        idp.stop()
    logs = envoy.logs()
    assert_no_secrets(logs, "envoy")
    assert not [v for v in env.values() if v.strip() in logs]


def test_a_variable_the_vm_lacks_refuses_the_configuration(tmp_path):
    env = env_of_the_profile()
    missing = next(n for n in env if "ISSUER_KEY" in n)
    given = {k: v for k, v in env.items() if k != missing}
    with pytest.raises(RuntimeError) as refused:
        Envoy(str(bootstrap(tmp_path, env)), tmp_path, env=given)
    log = str(refused.value)
    assert f"`{missing}` is not set" in log and "token_issuer.key_pairs." in log, log[-2000:]
    assert not [v for v in env.values() if v.strip() in log]
