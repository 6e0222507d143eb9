"""The README's demo, as written there: `make run`, a token from the filter's own token
endpoint, and the curl lines; and `make token`'s HS256 demo token."""
import re
import subprocess

import pytest

from conftest import LOADINGS, ROOT, call
from demo_token import demo_token


def readme_demo():
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- demo:start -->")[1].split("<!-- demo:end -->")[0]
    lines = [l for l in block.splitlines() if not l.startswith("```")]
    statements, current = [], ""
    for line in lines:
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


@pytest.mark.parametrize("stop_iteration", LOADINGS)
def test_readme_demo(start_envoy, stop_iteration):
    envoy = start_envoy("demo.yaml", 10100, stop_iteration=stop_iteration)
    port = envoy.port(10000)
    statements = readme_demo()
    assert statements[0].startswith("TOKEN=$(curl")
    curls = statements[1:]
    assert len(curls) == 3
    fix = lambda s: s.replace("127.0.0.1:10000", f"127.0.0.1:{port}")
    script = fix(statements[0]) + "\n" + "\n".join(f"{fix(c)}; echo; echo ----" for c in curls)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    valid, bad, public = r.stdout.split("----")[:3]
    valid, bad, public = valid.strip(), bad.strip(), public.strip()
    assert valid.startswith("HTTP/1.1 200"), valid + r.stderr
    assert '"x-credential-sub", "demo-client"' in valid
    assert '"x-credential-scope", "demo:read"' in valid
    assert bad.startswith("HTTP/1.1 401"), bad
    assert re.search(r'www-authenticate: Bearer realm="demo", error="invalid_token", '
                     r'error_description="the access token is malformed"', bad, re.I), bad
    assert public.startswith("HTTP/1.1 200"), public
    # `make token`'s HS256 token works too, with its roles mapped to a header.
    r = call(port, "/api/hello", {"authorization": f"Bearer {demo_token()}"})
    assert r.status == 200
    assert r.upstream("x-user-roles") == "reader"
