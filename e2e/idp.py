"""Runs the real OpenID provider (npm oidc-provider, e2e/idp/server.mjs) on 127.0.0.1."""
import atexit
import base64
import json
import pathlib
import subprocess
import time
import urllib.request

from envoy import free_port

IDP_DIR = pathlib.Path(__file__).resolve().parent / "idp"
ISSUER = "http://idp.test"


# Every provider process started here, so that whatever happened to a test (a failed start,
# a failed assertion, an interrupted run) none outlives the test session.
_LIVE = set()


@atexit.register
def _kill_all():
    for proc in list(_LIVE):
        _kill(proc)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    _LIVE.discard(proc)


# Started by hand the provider is listening in about 0.5 s. Twice in fresh-clone CI runs a start
# hung instead (the process alive, its main thread blocked on a futex, never listening): such a
# start is detected within START_SECONDS, killed and made again, up to ATTEMPTS times.
START_SECONDS = 6
ATTEMPTS = 4


class Idp:
    def __init__(self, tmp: pathlib.Path, kids="k1", port=None):
        self.port = port or free_port()
        self.log_path = tmp / f"idp-{self.port}-{kids}.log"
        self.proc = None
        failures = []
        for attempt in range(1, ATTEMPTS + 1):
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(["node", "server.mjs", str(self.port), ISSUER, kids], cwd=IDP_DIR,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            _LIVE.add(self.proc)
            if self._ready(time.time() + START_SECONDS):
                if failures:
                    print(f"IdP on port {self.port} started at attempt {attempt}; before: {failures}")
                return
            failures.append(self._diagnose())
            _kill(self.proc)
            self.log.close()
        raise RuntimeError(f"IdP did not start in {ATTEMPTS} attempts: {failures}")

    def _ready(self, deadline):
        while "READY" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _diagnose(self):
        """What a failed start looked like: exit code or the threads' kernel wait channels, and
        the last lines the provider printed (it prints STAGE lines as it starts)."""
        state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else "hung"
        if state == "hung":
            try:
                tasks = pathlib.Path(f"/proc/{self.proc.pid}/task")
                state += " " + ",".join(sorted({(t / "wchan").read_text() for t in tasks.iterdir()}))
            except OSError:
                pass
        tail = self.log_path.read_text().strip().splitlines()[-3:]
        return f"{state}: {' | '.join(tail)}"

    def requests(self, path):
        """How many requests the IdP received for `path`."""
        self.log.flush()
        return sum(1 for l in self.log_path.read_text().splitlines() if l.startswith("REQ ") and l.split()[2] == path)

    def answered(self, path, status):
        """How many requests for `path` the IdP answered with `status`."""
        self.log.flush()
        return sum(1 for l in self.log_path.read_text().splitlines()
                   if l.startswith("ANSWERED ") and l.split()[2] == path and l.split()[3] == str(status))

    def token(self, scope="orders:read", client=("gateway", "gateway-secret"), resource="urn:orders"):
        body = f"grant_type=client_credentials&scope={scope}&resource={resource}".encode()
        auth = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/token", data=body, method="POST",
                                     headers={"authorization": f"Basic {auth}",
                                              "content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            token = json.load(r)["access_token"]
        from tokens import MINTED
        MINTED.append(token)
        return token

    def revoke(self, token, client=("gateway", "gateway-secret")):
        """RFC 7009 revocation at the provider."""
        auth = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/token/revocation",
                                     data=f"token={token}".encode(), method="POST",
                                     headers={"authorization": f"Basic {auth}",
                                              "content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _kill(self.proc)
        self.log.close()
