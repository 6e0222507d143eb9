"""The .wasm loaded from an HTTP `remote` source with `sha256`, as Envoy offers: it serves
requests when the digest matches; a wrong digest is refused and the filter never runs."""
import functools
import hashlib
import http.server
import threading

from conftest import call
from envoy import Envoy, ROOT, free_port
from tokens import mint

WASM = ROOT / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm"
LISTENER, ECHO = 10001, 10101


def serve_wasm():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WASM.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def remote_bootstrap(tmp_path, port, sha256):
    """e2e-jwt.yaml with the module fetched from 127.0.0.1:port instead of read from disk."""
    text = (ROOT / "envoy-config" / "e2e-jwt.yaml").read_text()
    local = "code: {local: {filename: target/wasm32-wasip1/release/oauth_filter.wasm}}"
    assert local in text
    remote = ("code: {remote: {http_uri: {uri: 'http://127.0.0.1:%d/oauth_filter.wasm', cluster: wasm_server, timeout: 5s}, "
              "sha256: '%s', retry_policy: {num_retries: 1}}}" % (port, sha256))
    text = text.replace(local, remote)
    text += ("  - name: wasm_server\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n"
             "      cluster_name: wasm_server\n      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: "
             "{address: 127.0.0.1, port_value: %d}}}}]}]\n" % port)
    path = tmp_path / f"remote-{sha256[:8]}.yaml"
    path.write_text(text)
    return path


def test_remote_wasm_with_the_right_sha256_serves(tmp_path):
    server = serve_wasm()
    digest = hashlib.sha256(WASM.read_bytes()).hexdigest()
    port = server.server_address[1]
    path = remote_bootstrap(tmp_path, port, digest)
    envoy = Envoy(str(path), tmp_path, fixed_ports={port: port})
    try:
        from echo import serve
        echo = serve(envoy.port(ECHO))
        assert call(envoy.port(LISTENER), "/api/x").status == 401
        r = call(envoy.port(LISTENER), "/api/x", {"authorization": f"Bearer {mint('ES256')}"})
        assert r.status == 200
        echo.shutdown()
    finally:
        envoy.stop()
        server.shutdown()


def test_a_wrong_sha256_is_refused(tmp_path):
    server = serve_wasm()
    port = server.server_address[1]
    path = remote_bootstrap(tmp_path, port, "0" * 64)
    try:
        try:
            envoy = Envoy(str(path), tmp_path, fixed_ports={port: port})
        except RuntimeError as e:  # Envoy refused to start: the module was not accepted
            assert "sha256" in str(e).lower() or "wasm" in str(e).lower(), str(e)[-2000:]
            return
        try:
            r = call(envoy.port(LISTENER), "/api/x", {"authorization": f"Bearer {mint('ES256')}"})
            assert r.status == 503, "a module that failed its digest must not let traffic through"
            assert "failed to load" in envoy.logs()
        finally:
            envoy.stop()
    finally:
        server.shutdown()
