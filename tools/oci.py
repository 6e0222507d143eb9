#!/usr/bin/env python3
"""Pushes the .wasm to an OCI registry in the two layouts Istio reads, and pulls it back.

  oci.py push REGISTRY REPO TAG [--user USER:PASS] [--insecure]
      REPO:TAG         the Wasm OCI artifact: config application/vnd.module.wasm.config.v1+json,
                       one layer application/vnd.module.wasm.content.layer.v1+wasm (the module)
      REPO:TAG-compat  the "compat" image: one tar+gzip layer holding plugin.wasm
  oci.py pull REGISTRY REPO TAG OUT [--user USER:PASS]   the module of REPO:TAG into OUT

Prints each manifest's digest (the `sha256` for Istio) as `REPO:TAG sha256:…`. With
`--manifests DIR`, push also writes DIR/istio/<profile>.yaml (a WasmPlugin) and
DIR/envoy-gateway/<profile>.yaml (an EnvoyExtensionPolicy) for every profile in filters/, with
the pushed image and its digest filled in. Standard library only; the registry API is the OCI
distribution spec (HTTP Basic when --user is given).
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import pathlib
import sys
import tarfile
import urllib.error
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
    def __init__(self, base: str, user: str | None):
        self.base = base if base.startswith("http") else "http://" + base
        self.auth = "Basic " + base64.b64encode(user.encode()).decode() if user else None

    def request(self, method, path_or_url, data=None, headers=None):
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        return urllib.request.urlopen(req, timeout=30)

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
    p.add_argument("--user")
    p.add_argument("--wasm", default=str(WASM))
    p.add_argument("--manifests", help="push: write ready WasmPlugin and EnvoyExtensionPolicy manifests here")
    a = p.parse_args()
    reg = Registry(a.registry, a.user)
    if a.action == "push":
        pushed = push(reg, a.repo, a.tag, pathlib.Path(a.wasm).read_bytes())
        for ref, d in pushed.items():
            print(f"{ref} {d}")
        if a.manifests:
            write_manifests(pathlib.Path(a.manifests), f"{a.registry}/{a.repo}:{a.tag}", pushed[f"{a.repo}:{a.tag}"])
    else:
        blob, d = pull(reg, a.repo, a.tag)
        pathlib.Path(a.out or "plugin.wasm").write_bytes(blob)
        print(f"{a.repo}:{a.tag} {d}")


if __name__ == "__main__":
    sys.exit(main())
