"""Hot reconfiguration: a new plugin configuration reaches a running Envoy through its watched
listener file, without a restart; a request in flight during the change completes; a
configuration the filter refuses is rejected and the previous one keeps serving."""
import json
import os
import pathlib
import sys
import threading
import time

from conftest import call
from echo import serve
from envoy import Envoy, ROOT, free_port
from tokens import mint

sys.path.insert(0, str(ROOT / "envoy-config"))
import render  # noqa: E402

PUBLIC = {"policies": {"open": {"public": True}}, "default_policy": "open"}
GUARDED = {"oauth_servers": {"s": {"token_strategy": {"name": "jwt", "settings": {"secret": "hs-secret-for-tests"}}}},
           "policies": {"api": {"oauth_server": "s", "realm": "v2"}}, "default_policy": "api"}
REFUSED = {"policies": {"api": {"oauth_server": "no-such-server"}}, "default_policy": "api"}


def write_atomically(path: pathlib.Path, text: str):
    tmp = path.with_name(".lds.yaml.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a rename in the watched folder: Envoy reloads the file


def until(fn, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return False


def test_new_configuration_without_restart(tmp_path):
    folder = tmp_path / "dynamic"
    folder.mkdir()
    listener = free_port()
    lds = folder / "lds.yaml"
    lds.write_text(render.render_lds_config(PUBLIC, listener))
    boot = (ROOT / "envoy-config" / "dynamic" / "bootstrap.yaml").read_text()
    boot = boot.replace("envoy-config/dynamic/lds.yaml", str(lds)).replace("path: envoy-config/dynamic}", f"path: {folder}}}")
    (tmp_path / "bootstrap.yaml").write_text(boot)
    envoy = Envoy(str(tmp_path / "bootstrap.yaml"), tmp_path)
    echo = serve(envoy.port(10106))
    try:
        assert until(lambda: call(listener, "/x").status == 200), "the public configuration serves"
        # A slow request in flight while the configuration changes.
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=call(listener, "/slow?sleep=2")))
        t.start()
        time.sleep(0.3)
        write_atomically(lds, render.render_lds_config(GUARDED, listener))
        assert until(lambda: call(listener, "/x").status == 401), "the new configuration applies"
        assert call(listener, "/x").header("www-authenticate") == 'Bearer realm="v2"'
        assert call(listener, "/x", {"authorization": f"Bearer {mint('HS256', kid=None)}"}).status == 200
        t.join(10)
        assert slow["r"].status == 200, "the in-flight request completed"
        # A configuration the filter refuses: rejected, the previous one serves on.
        rejected = lambda: envoy.stats().get("listener_manager.lds.update_rejected", 0) >= 1
        write_atomically(lds, render.render_lds_config(REFUSED, listener))
        assert until(rejected), "the update is rejected"
        assert "unknown oauth server" in envoy.logs()
        assert call(listener, "/x").status == 401
        assert call(listener, "/x", {"authorization": f"Bearer {mint('HS256', kid=None)}"}).status == 200
    finally:
        envoy.stop()
        echo.shutdown()
