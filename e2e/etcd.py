"""Runs Debian's etcd (package etcd-server, with etcdctl from etcd-client) on 127.0.0.1 for the
fleet-store tests: one member, its data in the test's directory, so a stop and a start keep the
servers and leases written before (as a restarted etcd member does)."""
import atexit
import os
import pathlib
import subprocess
import time
import urllib.request

from envoy import free_port

ETCD = os.environ.get("ETCD_BIN", "etcd")
ETCDCTL = os.environ.get("ETCDCTL_BIN", "etcdctl")
ROOT_PASSWORD = "etcd-root-secret-for-tests"

_LIVE = set()


@atexit.register
def _kill_all():
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()


class Etcd:
    def __init__(self, tmp: pathlib.Path, tls: pathlib.Path = None):
        """`tls`: a directory with ca.pem, server.pem/key and client.pem/key (clients must show a
        certificate the CA signed)."""
        self.tls = tls
        self.port, self.peer = free_port(), free_port()
        self.dir = tmp / f"etcd-{self.port}"
        self.log_path = tmp / f"etcd-{self.port}.log"
        self.proc = None
        self.auth = None
        self.start()

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _tls_args(self, server):
        if not self.tls:
            return []
        if server:
            return ["--cert-file", str(self.tls / "server.pem"), "--key-file", str(self.tls / "server.key"),
                    "--client-cert-auth", "--trusted-ca-file", str(self.tls / "ca.pem")]
        return ["--cacert", str(self.tls / "ca.pem"), "--cert", str(self.tls / "client.pem"), "--key", str(self.tls / "client.key")]

    def _healthy(self):
        import ssl
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
            context.load_cert_chain(str(self.tls / "client.pem"), str(self.tls / "client.key"))
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1, context=context) as r:
                return r.status == 200
        except OSError:
            return False

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "e2e", "--data-dir", str(self.dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-cluster", f"e2e=http://127.0.0.1:{self.peer}",
             "--log-level", "warn", *self._tls_args(True)],
            stdout=self.log, stderr=subprocess.STDOUT)
        _LIVE.add(self.proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited:\n" + self.log_path.read_text()[-3000:])
            if self._healthy():
                return
            time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy:\n" + self.log_path.read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        _LIVE.discard(self.proc)
        self.log.close()

    def ctl(self, *args, user=None):
        cmd = [ETCDCTL, "--endpoints", self.url, *self._tls_args(False), *args]
        if user:
            cmd[1:1] = ["--user", user]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
        assert out.returncode == 0, (args, out.stderr)
        return out.stdout

    def enable_auth(self, user, password, prefix):
        """A user that may read and write `prefix` only, and auth on (root holds the rest)."""
        self.ctl("user", "add", f"root:{ROOT_PASSWORD}")
        self.ctl("user", "add", f"{user}:{password}")
        self.ctl("role", "add", "gateway")
        self.ctl("role", "grant-permission", "gateway", "--prefix=true", "readwrite", prefix)
        self.ctl("user", "grant-role", user, "gateway")
        self.ctl("auth", "enable")
        self.auth = f"root:{ROOT_PASSWORD}"

    def keys(self, prefix):
        out = self.ctl("get", "--prefix", "--keys-only", prefix, user=self.auth)
        return [line for line in out.splitlines() if line]


class SlowRelay:
    """A TCP relay in front of etcd that holds each chunk a client sends for `delay` seconds: a
    slow store, so that a request really waits for its answer."""

    def __init__(self, target_port, delay):
        import socket
        import threading
        self.target, self.delay = target_port, delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = free_port()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, self.delay), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, 0), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, delay):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.sock.close()
