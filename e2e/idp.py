"""Runs the real OpenID provider (npm oidc-provider, e2e/idp/server.mjs) on 127.0.0.1."""
import base64
import json
import pathlib
import subprocess
import time
import urllib.request

from envoy import free_port

IDP_DIR = pathlib.Path(__file__).resolve().parent / "idp"
ISSUER = "http://idp.test"


class Idp:
    def __init__(self, tmp: pathlib.Path, kids="k1", port=None):
        self.port = port or free_port()
        self.log_path = tmp / f"idp-{self.port}-{kids}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["node", "server.mjs", str(self.port), ISSUER, kids], cwd=IDP_DIR,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while "READY" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("IdP did not start:\n" + self.log_path.read_text())
            time.sleep(0.05)

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
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
