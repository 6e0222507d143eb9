"""Tokens minted with PyJWT, an implementation independent of the filter's."""
import pathlib
import time

import jwt

KEYS = pathlib.Path(__file__).resolve().parent.parent / "test-harness" / "fixtures" / "keys"
PRIVATE = {"RS256": "rsa.key", "RS384": "rsa.key", "RS512": "rsa.key", "PS256": "rsa.key", "ES256": "ec256.key", "ES384": "ec384.key", "EdDSA": "ed25519.key"}
KIDS = {"rsa.key": "rsa", "ec256.key": "ec256", "ec384.key": "ec384", "ed25519.key": "ed25519"}


# Every token minted here; e2e/conftest.py checks that none reaches an Envoy log.
MINTED = []


def mint(alg, claims=None, key=None, kid="auto", lifetime=600, headers=None):
    now = int(time.time())
    body = {"sub": "alice", "iat": now, "exp": now + lifetime, "scope": "read write"}
    body.update(claims or {})
    extra = dict(headers or {})
    if key is None:
        if alg.startswith("HS"):
            key = "hs-secret-for-tests"
        else:
            name = PRIVATE[alg]
            key = (KEYS / name).read_text()
            if kid == "auto":
                kid = KIDS[name]
    if kid not in (None, "auto"):
        extra["kid"] = kid
    token = jwt.encode(body, key, algorithm=alg, headers=extra or None)
    MINTED.append(token)
    return token
