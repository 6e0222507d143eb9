"""An echo upstream: answers every request with a JSON picture of what it received
(method, path, header pairs), so tests see exactly what the filter let through."""
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Without this, kept-alive connections wait on Nagle's algorithm (~40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self):
        # Every request whose headers arrived, before its body is read: what reached the upstream.
        self.server.seen.append((self.command, self.path))
        self.server.seen_headers.append({k.lower(): v for k, v in self.headers.items()})
        if "sleep=" in self.path:  # a slow upstream, for requests in flight
            import time
            time.sleep(float(self.path.split("sleep=")[1].split("&")[0]))
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.count += 1
        self.server.authorizations.append(self.headers.get("authorization") or "")
        out = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


def serve(port: int) -> ThreadingHTTPServer:
    """Starts the echo server on 127.0.0.1:port in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Echo)
    server.count = 0
    server.seen = []
    server.seen_headers = []
    server.authorizations = []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 10100
    server = ThreadingHTTPServer(("127.0.0.1", port), Echo)
    server.count = 0
    server.authorizations = []
    print(f"echo upstream on 127.0.0.1:{port}", flush=True)
    server.serve_forever()
