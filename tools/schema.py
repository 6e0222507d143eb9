#!/usr/bin/env python3
"""Writes schema/oauth-filter.schema.json, the JSON Schema (draft 2020-12) of the plugin
configuration, from the definitions below: edit them here, then run `python3 tools/schema.py`.
Each definition follows a struct of core/src/config/raw.rs (plus the seed names that
core/src/config/seeds/ rewrites); e2e/test_schema.py checks the file is this output."""
import json
S = {"type": "string"}
B = {"type": "boolean"}
N = {"type": "integer", "minimum": 0}
STRS = {"type": "array", "items": S}
ANY = {}
def opt(s):
    """An Option field: null is accepted as unset."""
    if set(s) <= {"type", "minimum", "maximum", "items", "enum", "pattern", "description"} and isinstance(s.get("type"), str) and "enum" not in s:
        d = dict(s); d["type"] = [s["type"], "null"]; return d
    return {"anyOf": [s, {"type": "null"}]}
def ref(n): return {"$ref": f"#/$defs/{n}"}
def obj(props, required=(), desc=None, **kw):
    o = {"type": "object", "properties": props, "additionalProperties": False}
    if required: o["required"] = list(required)
    if desc: o["description"] = desc
    o.update(kw)
    return o
URL = {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
NE = {"type": "string", "minLength": 1}
def rng(lo=None, hi=None):
    d = {"type": "integer", "minimum": 0 if lo is None else lo}
    if hi is not None: d["maximum"] = hi
    return d
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
defs = {}
defs["duration"] = {"description": "\"500ms\", \"10s\", \"10m\", \"24h\", or a number of seconds",
                    "anyOf": [{"type": "string", "pattern": "^\\s*[0-9]+\\s*(ms|s|m|h)?\\s*$"}, N]}
defs["secret"] = {"description": "a secret, never logged: written inline, or {\"env\": NAME}, an environment variable of the VM",
                  "anyOf": [{"type": "string"},
                            obj({"env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}, ["env"])]}
defs["alg"] = {"enum": ALGS}
defs["keyPair"] = obj({"alg": {"enum": ["RS256", "ES256", "EdDSA"]}, "private_key": ref("secret"), "kid": opt(S)},
                      ["alg", "private_key"], "a key pair: PKCS#8 PEM private key")
defs["keySetting"] = obj({"alg": ref("alg"), "key": {**ref("secret"), "minLength": 1}, "kid": opt(S)}, ["alg", "key"],
                         "a Janus settings entry: HMAC secret for HS*, PEM public key otherwise")
defs["jwtSettings"] = {"description": "inline keys: a Janus list, the legacy {secret}, or a JWKS",
                       "anyOf": [{"type": "array", "items": ref("keySetting")},
                                 obj({"secret": {**ref("secret"), "minLength": 1}}, ["secret"]),
                                 {"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "object"}}}, "required": ["keys"]},
                                 {"type": "null"}]}
defs["httpUri"] = obj({"uri": URL, "cluster": S, "timeout": opt(ref("duration"))}, ["uri", "cluster"])
defs["discovery"] = obj({"issuer": URL, "cluster": S, "timeout": opt(ref("duration"))}, ["issuer", "cluster"])
binding = {"dpop": opt({"enum": ["disabled", "optional", "required"]}), "dpop_algs": opt({"type": "array", "items": ref("alg")}),
           "dpop_max_age": opt(N), "dpop_replay_slots": opt(N), "certificate_bound": opt({"enum": ["optional", "required"]})}
jwt = {"name": {"const": "jwt"}, "settings": ref("jwtSettings"), "leeway": opt(N),
       "allowed_algorithms": opt({"type": "array", "items": ref("alg")}), "issuers": opt(STRS), "audiences": opt(STRS),
       "required_claims": opt(STRS), "max_token_bytes": opt(rng(64, 1048576)), "jwks_uri": opt(ref("httpUri")), "discovery": opt(ref("discovery")),
       "cache_duration": opt(ref("duration")), "refetch_cooldown": opt(ref("duration")), "max_stale": opt(ref("duration")),
       "max_wait": opt(ref("duration")), "max_jwks_bytes": opt(rng(256, 8388608)), "require_typ": opt(NE), "verified_cache_size": opt(rng(0, 1000000)),
       "trust_token_issuer": B, "max_lifetime": opt(rng(1)), "subjects": {"not": {"type": "array", "maxItems": 0}}, "require_expiration": opt(B)}
jwt.update(binding)
intro = {"name": {"const": "introspection"}, "settings": opt(ref("introspection")), "leeway": opt(N), "audiences": opt(STRS)}
intro.update(binding)
defs["jwtStrategy"] = {**obj(jwt, ["name"], "token_strategy name: jwt (Janus)"), "not": {"required": ["jwks_uri", "discovery"]}}
defs["introspectionStrategy"] = obj(intro, ["name"], "token_strategy name: introspection (Janus, with Kong's settings)")
defs["tokenStrategy"] = {"type": "object", "required": ["name"], "properties": {"name": {"enum": ["jwt", "introspection"]}},
                         "if": {"properties": {"name": {"const": "introspection"}}},
                         "then": ref("introspectionStrategy"), "else": ref("jwtStrategy")}
nul = lambda s: {"anyOf": [s, {"type": "null"}]}
intro_settings = {"introspection_url": opt(URL), "cluster": opt(S), "use_auth_header": nul(B), "auth_header_type": nul(S),
                  "use_custom_header": nul(B), "header_name": nul(S), "use_body": nul(B), "param_name": nul(S),
                  "authorization_value": opt(ref("secret")), "token_type_hint": opt(S), "ttl": opt(N), "negative_ttl": opt(N),
                  "max_calls_in_flight": opt(rng(1, 100000)), "max_retry_after": opt(rng(0, 3600)), "timeout": opt(rng(1, 60000)), "keepalive": opt(N),
                  "introspect_request": B, "custom_introspection_headers": {"type": "object", "additionalProperties": ref("secret")},
                  "client_id": opt(S), "client_assertion_key": opt(ref("keyPair")), "cache_slots": opt(rng(1, 1000000)),
                  "max_answer_bytes": opt(N), "max_wait": opt(ref("duration"))}
defs["introspection"] = obj(intro_settings, (), "the oauth2-introspection plugin's parameters (timeout and keepalive in milliseconds)")
kong_policy = ["hide_credentials", "anonymous", "run_on_preflight", "consumer_by", "custom_claims_forward"]
defs["kongConfig"] = {"type": "object", "description": "Kong's oauth2-introspection plugin config ({} for an empty list and null for unset accepted)",
                      "propertyNames": {"enum": sorted(list(intro_settings) + kong_policy)},
                      "properties": {"introspection_url": opt(URL)}}
defs["proxy"] = obj({"listen_path": {"type": "string", "pattern": "^/"}, "upstreams": ANY, "strip_path": opt(B), "append_path": opt(B), "preserve_host": opt(B),
                     "methods": opt(STRS), "hosts": opt(STRS), "insecure_skip_verify": opt(B), "forwarding_timeouts": ANY,
                     "enable_load_balancing": opt(B)}, ["listen_path"], "a Janus proxy definition")
defs["accessRule"] = {**obj({"predicate": S, "when": {"type": "object"}, "action": {"enum": ["allow", "deny"]}}, ["action"]),
                      "oneOf": [{"required": ["predicate"]}, {"required": ["when"]}]}
defs["tokenSource"] = {**obj({"header": S, "prefix": S, "query": S, "cookie": S}),
                       "oneOf": [{"required": ["header"]}, {"required": ["query"]}, {"required": ["cookie"]}],
                       "dependentRequired": {"prefix": ["header"]}}
defs["server"] = obj({"name": opt(S), "token_strategy": ref("tokenStrategy"),
                      "oauth_endpoints": opt(obj({k: opt(ref("proxy")) for k in ["authorize", "token", "introspection", "introspect", "revoke"]})),
                      "oauth_client_endpoints": opt(obj({k: opt(ref("proxy")) for k in ["create", "remove"]})),
                      "allowed_access_types": nul(STRS), "allowed_authorize_types": nul(STRS), "auth_login_redirect": nul(S),
                      "session_cookie": opt(S), "secrets": nul({"type": "object", "additionalProperties": ref("secret")}),
                      "access_rules": nul({"type": "array", "items": ref("accessRule")}), "cors_meta": ANY, "rate_limit": ANY,
                      "token_sources": opt({"type": "array", "items": ref("tokenSource"), "minItems": 1})}, ["token_strategy"], "an OAuth server (Janus)")
cc = {"client_id": NE, "client_secret": opt(ref("secret")), "client_assertion_key": opt(ref("keyPair")), "token_url": URL,
      "cluster": opt(S), "scopes": opt({"anyOf": [S, STRS]}), "endpoint_params": {"type": "object", "additionalProperties": {"type": "array", "items": ref("secret")}},
      "auth_style": opt({"enum": ["basic", "body", "private_key_jwt"]}), "headers": {"type": "object", "additionalProperties": S},
      "replace_authorization": opt(B), "default_expires_in": opt(rng(1)), "refresh_fraction": opt({"type": "number", "minimum": 0.05, "maximum": 0.95}),
      "timeout": opt(ref("duration")), "max_wait": opt(ref("duration")), "retry_on_401": B, "is_disabled": B}
defs["clientCredentials"] = obj(cc, ["client_id", "token_url"], "KrakenD's client credentials, with the Envoy cluster")
kong_entry = ["name", "config", "enabled", "route", "service", "consumer", "protocols", "tags", "id", "instance_name"]
policy = {"oauth_server": opt(S), "oauth_servers": opt(STRS), "requires": opt({"enum": ["any", "all"]}), "public": B,
          "required_scopes": STRS, "anonymous": opt(S), "run_on_preflight": opt(B), "consumer_by": opt({"enum": ["username", "client_id"]}),
          "upstream_client_credentials": opt(ref("clientCredentials")), "hide_credentials": B, "realm": opt(S),
          "token_sources": opt({"type": "array", "items": ref("tokenSource"), "minItems": 1}),
          "claim_to_headers": {"type": "array", "items": obj({"header_name": NE, "claim_name": NE}, ["header_name", "claim_name"])},
          "custom_claims_forward": STRS, "access_rules": {"type": "array", "items": ref("accessRule")},
          "required_roles": opt(obj({"claim": NE, "any_of": {"type": "array", "items": NE, "minItems": 1}, "claim_is_path": opt(B)}, ["claim", "any_of"])),
          "required_scopes_match": opt({"enum": ["all", "any"]}), "pass_anonymous": opt({"enum": ["missing", "missing_or_failed"]}),
          "filter_state": B, "filter_state_claims": STRS, "forward_payload_header": opt(S),
          "upstream_headers": {"type": "array", "items": obj({"name": S, "value": S}, ["name", "value"])},
          "error_body_field": opt(NE),
          # seed names, rewritten into the native ones before the configuration is read
          "github.com/devopsfaith/krakend-oauth2-clientcredentials": ref("clientCredentials"),
          "auth/client-credentials": ref("clientCredentials"),
          "github.com/devopsfaith/krakend-martian": {"type": "object"}, "modifier/martian": {"type": "object"},
          "roles": {"type": "array", "items": NE, "minItems": 1}, "roles_key": NE, "roles_key_is_nested": B, "scopes_matcher": {"enum": ["all", "any"]},
          "allow_missing": B, "allow_missing_or_failed": B, "error_format": {"enum": ["oauth", "otoroshi"]},
          "name": {"const": "oauth2-introspection"}, "config": ref("kongConfig"), "enabled": B, "route": opt(S),
          "service": ANY, "consumer": ANY, "protocols": ANY, "tags": ANY, "id": ANY, "instance_name": ANY}
defs["policy"] = {**obj(policy, (), "a policy: what a request must carry and what goes upstream"),
                  "if": {"anyOf": [{"required": ["name"]}, {"required": ["config"]}]},
                  "then": {"required": ["name", "config"]},
                  "else": {"not": {"anyOf": [{"required": [f]} for f in kong_entry[2:]]}},
                  "allOf": [{"not": {"required": ["oauth_server", "oauth_servers"]}},
                            {"not": {"required": ["pass_anonymous", "allow_missing"]}},
                            {"not": {"required": ["pass_anonymous", "allow_missing_or_failed"]}}],
                  "dependentRequired": {"roles": ["roles_key"], "roles_key": ["roles"]}}
defs["route"] = {**obj({"route_name": opt(S), "host": opt(S), "path_prefix": opt(S), "path_exact": opt(S), "path_regex": opt(S),
                     "methods": opt(STRS), "policy": S}, ["policy"]),
                 "not": {"anyOf": [{"required": ["path_prefix", "path_exact"]}, {"required": ["path_prefix", "path_regex"]},
                                   {"required": ["path_exact", "path_regex"]}]}}
defs["consumer"] = obj({"id": opt(S), "custom_id": opt(S), "username": opt(S)})
client = {"client_id": NE, "client_secret": ref("secret"), "client_secret_sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "scopes": STRS,
          "key_pair": opt(S), "jwt-sign-keypair": opt(S)}
issuer = {"domain": opt(S), "prefix": opt({"type": "string", "pattern": "^/"}), "expiration": opt(rng(1000, 31536000000)), "secure": opt(B), "trust_forwarded_proto": B, "issuer": opt(S),
          "audience": opt(S), "default_key_pair": S, "defaultKeyPair": S,
          "key_pairs": {"type": "object", "additionalProperties": ref("keyPair")},
          "clients": {"type": "array", "items": {**obj(client, ["client_id"]), "oneOf": [{"required": ["client_secret"]}, {"required": ["client_secret_sha256"]}]}}}
defs["issuer"] = {**obj(issuer, ["key_pairs", "clients"], "the token issuer (Otoroshi's Client Credential Service; expiration in milliseconds)"),
                  "oneOf": [{"required": ["default_key_pair"]}, {"required": ["defaultKeyPair"]}]}
defs["etcd"] = {**obj({"cluster": NE, "authority": opt(S), "prefix": opt({"type": "string", "pattern": "/$"}),
                      "timeout": opt(ref("duration")), "poll_interval": opt(ref("duration")), "username": opt(NE), "password": opt(ref("secret"))},
                     ["cluster"], "etcd v3 through its JSON gateway, reached through an Envoy cluster"),
               "dependentRequired": {"username": ["password"], "password": ["username"]}}
defs["store"] = obj({"etcd": ref("etcd")}, ["etcd"], "state shared by every replica: the admin API's servers, DPoP proofs seen")
defs["admin"] = obj({"policy": S, "domain": opt(S), "prefix": opt({"type": "string", "pattern": "^/(.*[^/])?$"})}, ["policy"], "Janus's admin API for OAuth servers")
schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "oauth-filter plugin configuration",
    "description": "The JSON configuration of the oauth-filter proxy-wasm plugin (Envoy's configuration, Istio's pluginConfig, Envoy Gateway's config). Shape only: `make check` also checks what a schema cannot (keys, regexes, names that must exist).",
    **obj({"oauth_servers": {"type": "object", "additionalProperties": ref("server")},
           "policies": {"type": "object", "additionalProperties": ref("policy")},
           "routes": {"type": "array", "items": ref("route")},
           "default_policy": opt(S), "route_metadata_namespace": opt(NE),
           "consumers": {"type": "array", "items": ref("consumer")},
           "token_issuer": opt(ref("issuer")), "ClientCredentialService": ref("issuer"),
           "log_level": opt({"enum": ["trace", "debug", "info", "warn", "error", "critical"]}),
           "host_crypto": opt(B), "admin_api": opt(ref("admin")), "store": opt(ref("store"))}),
    "$defs": defs,
}
OUT = __import__("pathlib").Path(__file__).resolve().parent.parent / "schema" / "oauth-filter.schema.json"

if __name__ == "__main__":
    OUT.write_text(json.dumps(schema, indent=1) + "\n")
