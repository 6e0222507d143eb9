"""Prints a demo access token for `make run`: HS256, signed with the demo server's key from
filters/demo.json, valid for an hour. Usage: demo_token.py [subject] [roles,...]"""
import json
import pathlib
import sys
import time

import jwt

ROOT = pathlib.Path(__file__).resolve().parent.parent


def demo_token(sub="demo-user", roles=("reader",), lifetime=3600):
    config = json.loads((ROOT / "filters" / "demo.json").read_text())
    setting = config["oauth_servers"]["demo"]["token_strategy"]["settings"][0]
    now = int(time.time())
    issuer = config["token_issuer"]["issuer"]  # the demo server trusts this issuer only
    claims = {"iss": issuer, "sub": sub, "iat": now, "exp": now + lifetime, "scope": "demo:read",
              "realm_access": {"roles": list(roles)}}
    return jwt.encode(claims, setting["key"], algorithm=setting["alg"])


if __name__ == "__main__":
    sub = sys.argv[1] if len(sys.argv) > 1 else "demo-user"
    roles = sys.argv[2].split(",") if len(sys.argv) > 2 else ["reader"]
    print(demo_token(sub, roles))
