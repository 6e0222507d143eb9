"""The README's demo, as written there: `make run`, a token from `make token`, and the curl lines."""
import re
import subprocess

from conftest import ROOT
from demo_token import demo_token


def readme_curls():
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- demo:start -->")[1].split("<!-- demo:end -->")[0]
    return [l.strip() for l in block.splitlines() if l.strip().startswith("curl ")]


def test_readme_demo(start_envoy):
    envoy = start_envoy("demo.yaml", 10100)
    port = envoy.port(10000)
    token = demo_token()
    curls = readme_curls()
    assert len(curls) == 3
    outputs = []
    for line in curls:
        cmd = line.replace("127.0.0.1:10000", f"127.0.0.1:{port}").replace("$TOKEN", token)
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30)
        outputs.append(r.stdout)
    valid, bad, public = outputs
    assert valid.startswith("HTTP/1.1 200"), valid
    assert '"x-credential-sub", "demo-user"' in valid
    assert '"x-user-roles", "reader"' in valid
    assert bad.startswith("HTTP/1.1 401"), bad
    assert re.search(r'www-authenticate: Bearer realm="demo", error="invalid_token"', bad, re.I), bad
    assert public.startswith("HTTP/1.1 200"), public
