"""A protected upstream: it accepts a request only with a Bearer JWT that the real OpenID
provider signed for it (checked against the provider's JWKS with PyJWT), and counts what it
accepted and refused."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt


def serve(port: int, idp_port: int, audience="urn:orders", issuer="http://idp.test") -> ThreadingHTTPServer:
    jwks = jwt.PyJWKClient(f"http://127.0.0.1:{idp_port}/jwks", cache_keys=True)

    class Protected(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self):
            auth = self.headers.get("authorization") or ""
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            try:
                key = jwks.get_signing_key_from_jwt(token)
                claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer)
                status, body = 200, {"client_id": claims.get("client_id"), "scope": claims.get("scope")}
                self.server.accepted += 1
            except Exception as e:  # any failure: refused
                status, body = 401, {"error": type(e).__name__}
                self.server.refused += 1
            out = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Protected)
    server.accepted = server.refused = 0
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
