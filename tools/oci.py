#!/usr/bin/env python3
"""Pushes the .wasm to an OCI registry in the two layouts Istio reads, and pulls it back.

  oci.py push REGISTRY REPO TAG [--user USER:PASS] [--ca-file PEM] [--insecure]
      REPO:TAG         the Wasm OCI artifact: config application/vnd.module.wasm.config.v1+json,
                       one layer application/vnd.module.wasm.content.layer.v1+wasm (the module)
      REPO:TAG-compat  the "compat" image: one tar+gzip layer holding plugin.wasm
  oci.py pull REGISTRY REPO TAG OUT [same options]   the module of REPO:TAG into OUT

Prints each manifest's digest (the `sha256` for Istio) as `REPO:TAG sha256:…`. With
`--manifests DIR`, push also writes DIR/istio/<profile>.yaml (a WasmPlugin) and
DIR/envoy-gateway/<profile>.yaml (an EnvoyExtensionPolicy) for every profile in filters/, with
the pushed image and its digest filled in.

The registry API is the OCI distribution spec, over HTTPS (`--ca-file` trusts a private CA;
`--insecure` speaks plain HTTP, for a registry on localhost). Authentication follows the
registry's challenge: `WWW-Authenticate: Basic` gets `--user`; `WWW-Authenticate: Bearer
realm=…,service=…,scope=…` (Docker Hub, GHCR, Harbor, GitLab, a distribution registry with token
auth) gets a token from the realm, with `--user` as Basic credentials there (anonymous without),
and the request is made again with it. Standard library only.
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import pathlib
import sys
import re
import ssl
import tarfile
import urllib.error
import urllib.parse
import urllib.request

WASM = pathlib.Path(__file__).resolve().parent.parent / "target" / "wasm32-wasip1" / "release" / "oauth_filter.wasm"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, base: str, user: str | None, insecure: bool = False, ca_file: str | None = None):
        scheme = "http://" if insecure else "https://"
        self.base = base if re.match(r"^https?://", base) else scheme + base
        self.basic = "Basic " + base64.b64encode(user.encode()).decode() if user else None
        self.context = ssl.create_default_context(cafile=ca_file) if self.base.startswith("https") else None
        self.auth = None  # the Authorization the registry accepted last (Basic, or a Bearer token)

    def open(self, method, url, data=None, headers=None, auth=None):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = auth
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        return urllib.request.urlopen(req, timeout=30, context=self.context if url.startswith("https") else None)

    def request(self, method, path_or_url, data=None, headers=None):
        """The request, with the credentials the registry's challenge asks for: made once more
        after a 401 that says how to authenticate."""
        url = path_or_url if re.match(r"^https?://", path_or_url) else self.base + path_or_url
        try:
            return self.open(method, url, data, headers, self.auth)
        except urllib.error.HTTPError as e:
            challenge = e.headers.get("WWW-Authenticate", "") if e.code == 401 else ""
            auth = self.answer(challenge)
            if not auth or auth == self.auth:
                raise
        self.auth = auth
        return self.open(method, url, data, headers, auth)

    def answer(self, challenge: str) -> str | None:
        """The Authorization for a `WWW-Authenticate` challenge; None when there is none to give."""
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            return self.basic
        if scheme.lower() != "bearer":
            return None
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", None)
        if not realm or not realm.startswith(("https://", "http://")):
            return None
        if realm.startswith("http://") and self.base.startswith("https://"):
            raise SystemExit(f"the registry's token realm is plain HTTP ({realm}): refusing to send credentials there")
        query = urllib.parse.urlencode({k: v for k, v in fields.items() if k in ("service", "scope")})
        try:
            with self.open("GET", f"{realm}?{query}" if query else realm, auth=self.basic) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            raise SystemExit(f"the registry's token endpoint refused: {e.code}") from None
        token = answer.get("token") or answer.get("access_token")
        return f"Bearer {token}" if token else None

    def push_blob(self, repo, data: bytes) -> str:
        d = digest(data)
        try:
            self.request("HEAD", f"/v2/{repo}/blobs/{d}").close()
            return d  # already there
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        with self.request("POST", f"/v2/{repo}/blobs/uploads/") as r:
            location = r.headers["Location"]
        if not location.startswith("http"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={d}", data=data,
                     headers={"Content-Type": "application/octet-stream"}).close()
        return d

    def push_manifest(self, repo, tag, manifest: dict) -> str:
        body = json.dumps(manifest, separators=(",", ":")).encode()
        self.request("PUT", f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": OCI_MANIFEST}).close()
        return digest(body)

    def get(self, path, accept=None) -> bytes:
        with self.request("GET", path, headers={"Accept": accept} if accept else None) as r:
            return r.read()


def manifest(config_type, config: bytes, layer_type, layer: bytes, annotations=None) -> dict:
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": config_type, "digest": digest(config), "size": len(config)},
         "layers": [{"mediaType": layer_type, "digest": digest(layer), "size": len(layer),
                     "annotations": {"org.opencontainers.image.title": "plugin.wasm"}}]}
    if annotations:
        m["annotations"] = annotations
    return m


def compat_layer(wasm: bytes) -> tuple[bytes, bytes]:
    """(tar.gz with plugin.wasm, the uncompressed tar), reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mtime, info.mode = len(wasm), 0, 0o644
        tar.addfile(info, io.BytesIO(wasm))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def push(reg: Registry, repo, tag, wasm: bytes) -> dict:
    out = {}
    config = json.dumps({"created": "1970-01-01T00:00:00Z", "type": "envoy_proxy", "abiVersions": ["v0.2.1"]}).encode()
    reg.push_blob(repo, config)
    reg.push_blob(repo, wasm)
    out[f"{repo}:{tag}"] = reg.push_manifest(repo, tag, manifest(WASM_CONFIG, config, WASM_LAYER, wasm))
    layer, tar_bytes = compat_layer(wasm)
    image_config = json.dumps({"architecture": "wasm", "os": "wasip1",
                               "rootfs": {"type": "layers", "diff_ids": [digest(tar_bytes)]}}).encode()
    reg.push_blob(repo, image_config)
    reg.push_blob(repo, layer)
    out[f"{repo}:{tag}-compat"] = reg.push_manifest(repo, f"{tag}-compat", manifest(IMAGE_CONFIG, image_config, TAR_GZIP, layer))
    return out


def pull(reg: Registry, repo, tag) -> tuple[bytes, str]:
    """The module of repo:tag (either layout) and the manifest digest."""
    body = reg.get(f"/v2/{repo}/manifests/{tag}", accept=OCI_MANIFEST)
    m = json.loads(body)
    layer = m["layers"][0]
    blob = reg.get(f"/v2/{repo}/blobs/{layer['digest']}")
    if digest(blob) != layer["digest"]:
        raise SystemExit("layer digest mismatch")
    if layer["mediaType"] == TAR_GZIP:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            member = tar.extractfile("plugin.wasm")
            blob = member.read() if member else b""
    return blob, digest(body)


def write_manifests(out: pathlib.Path, image: str, digest_: str):
    """Every profile's WasmPlugin and EnvoyExtensionPolicy, pointing at the pushed image."""
    sys.path.insert(0, str(WASM.parents[3] / "envoy-config"))
    import render
    placeholder = "0" * 64
    for profile in sorted((WASM.parents[3] / "filters").glob("*.json")):
        for kind, text, url in [("istio", render.render_istio(profile.stem), f"oci://{image}"),
                                ("envoy-gateway", render.render_envoy_gateway(profile.stem), image)]:
            lines = []
            for line in text.splitlines():
                key = line.strip().split(":", 1)[0]
                if key == "url":
                    line = line[: line.index("url:")] + f"url: {url}"
                elif key == "sha256":
                    line = line.replace(placeholder, digest_.removeprefix("sha256:"))
                lines.append(line)
            (out / kind).mkdir(parents=True, exist_ok=True)
            (out / kind / f"{profile.stem}.yaml").write_text("\n".join(lines) + "\n")
    print(f"manifests with {image} and its digest: {out}/istio/, {out}/envoy-gateway/")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["push", "pull"])
    p.add_argument("registry")
    p.add_argument("repo")
    p.add_argument("tag")
    p.add_argument("out", nargs="?")
    p.add_argument("--user", help="USER:PASS for the registry (Basic) or its token endpoint")
    p.add_argument("--insecure", action="store_true", help="plain HTTP (a registry on localhost)")
    p.add_argument("--ca-file", help="a PEM bundle to trust for the registry's HTTPS")
    p.add_argument("--wasm", default=str(WASM))
    p.add_argument("--manifests", help="push: write ready WasmPlugin and EnvoyExtensionPolicy manifests here")
    a = p.parse_args()
    # `ghcr.io/org` is the host ghcr.io and the repository org/REPO.
    host, _, namespace = a.registry.removeprefix("https://").removeprefix("http://").partition("/")
    scheme = a.registry[: len(a.registry) - len(a.registry.removeprefix("https://").removeprefix("http://"))]
    reg = Registry(scheme + host, a.user, insecure=a.insecure, ca_file=a.ca_file)
    repo = f"{namespace.strip('/')}/{a.repo}" if namespace.strip("/") else a.repo
    if a.action == "push":
        pushed = push(reg, repo, a.tag, pathlib.Path(a.wasm).read_bytes())
        for ref, d in pushed.items():
            print(f"{ref} {d}")
        if a.manifests:
            write_manifests(pathlib.Path(a.manifests), f"{host}/{repo}:{a.tag}", pushed[f"{repo}:{a.tag}"])
    else:
        blob, d = pull(reg, repo, a.tag)
        pathlib.Path(a.out or "plugin.wasm").write_bytes(blob)
        print(f"{repo}:{a.tag} {d}")


if __name__ == "__main__":
    sys.exit(main())
