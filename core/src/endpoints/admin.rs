//! Janus's admin API for OAuth servers (`/oauth/servers`): which operation a request asks
//! for, and what it does to the stored servers. The store is one JSON document in shared
//! data, read and written by the adapter; validating a change means compiling the whole
//! configuration with it, which the caller passes in. No I/O here.

use crate::config::error::ConfigError;
use crate::{LocalResponse, Request};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Where the admin API is served and who may use it.
#[derive(Debug)]
pub struct AdminApi {
    /// Hosts it is served on (a regex, whole host); None = any.
    pub domain: Option<regex_lite::Regex>,
    /// Before `/oauth/servers`.
    pub prefix: String,
    /// The policy an admin request must pass.
    pub policy: usize,
}

/// One admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    List,
    Get(String),
    Create,
    Update(String),
    Delete(String),
    /// A method the path does not take: 405 with these methods in `Allow`.
    NotAllowed(&'static str),
}

impl Op {
    /// Whether the operation reads the request body.
    pub fn needs_body(&self) -> bool {
        matches!(self, Op::Create | Op::Update(_))
    }

    /// Whether the operation changes the store.
    pub fn writes(&self) -> bool {
        matches!(self, Op::Create | Op::Update(_) | Op::Delete(_))
    }
}

impl AdminApi {
    /// The operation this request asks for, if it is an admin request.
    pub fn op(&self, req: &Request) -> Option<Op> {
        let rest = req.path().strip_prefix(self.prefix.as_str())?.strip_prefix("/oauth/servers")?;
        if self.domain.as_ref().is_some_and(|re| !re.is_match(&req.host())) {
            return None;
        }
        let name = match rest {
            "" | "/" => None,
            r => Some(r.strip_prefix('/')?),
        };
        Some(match (req.method(), name) {
            ("GET", None) => Op::List,
            ("POST", None) => Op::Create,
            (_, None) => Op::NotAllowed("GET, POST"),
            ("GET", Some(n)) => Op::Get(n.to_string()),
            ("PUT", Some(n)) => Op::Update(n.to_string()),
            ("DELETE", Some(n)) => Op::Delete(n.to_string()),
            (_, Some(_)) => Op::NotAllowed("GET, PUT, DELETE"),
        })
    }
}

/// The servers added through the API, by name, as they were given (Janus's JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Store {
    pub servers: BTreeMap<String, Value>,
}

impl Store {
    pub fn decode(bytes: &[u8]) -> Store {
        let servers = serde_json::from_slice::<BTreeMap<String, Value>>(bytes).unwrap_or_default();
        Store { servers }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.servers).unwrap_or_default()
    }
}

/// What an operation did: the answer, and the store to write when it changed.
#[derive(Debug)]
pub struct Outcome<C> {
    pub response: LocalResponse,
    pub store: Option<Store>,
    /// The configuration compiled with the new store (so this worker uses it at once).
    pub compiled: Option<C>,
}

fn janus_error(status: u32, message: &str) -> LocalResponse {
    LocalResponse::json(status, Vec::new(), &json!({ "error": message }))
}

fn empty(status: u32) -> LocalResponse {
    LocalResponse { status, headers: Vec::new(), body: String::new() }
}

const NOT_FOUND: &str = "oauth server not found";

/// A body over the limit the filter reads.
pub fn too_large() -> LocalResponse {
    janus_error(413, "the body is too large")
}

/// The store could not be written (contention or a host refusal): nothing changed.
pub fn unavailable() -> LocalResponse {
    let mut r = janus_error(503, "the change could not be stored; try again");
    r.headers.push(("retry-after".into(), "1".into()));
    r
}

/// Runs `op` against `store`. `is_static` says whether a name belongs to the declarative
/// configuration (never shadowed, never changed here); `compile` validates a new store by
/// compiling the whole configuration with it.
pub fn apply<C>(
    op: &Op,
    store: &Store,
    body: &[u8],
    is_static: impl Fn(&str) -> bool,
    compile: impl Fn(&Store) -> Result<C, ConfigError>,
) -> Outcome<C> {
    let answer = |response| Outcome { response, store: None, compiled: None };
    let mut next = store.clone();
    let response = match op {
        Op::List => return answer(LocalResponse::json(200, Vec::new(), &Value::Array(store.servers.values().cloned().collect()))),
        Op::Get(name) => {
            return answer(match store.servers.get(name) {
                Some(s) => LocalResponse::json(200, Vec::new(), s),
                None => janus_error(404, NOT_FOUND),
            })
        }
        Op::NotAllowed(allow) => {
            let mut r = janus_error(405, "method not allowed");
            r.headers.push(("allow".into(), (*allow).into()));
            return answer(r);
        }
        Op::Create => {
            let server = match parse(body) {
                Ok(s) => s,
                Err(r) => return answer(r),
            };
            let name = match server.get("name").and_then(Value::as_str) {
                Some(n) if valid_name(n) => n.to_string(),
                _ => return answer(janus_error(400, "name: required (letters, digits, '-', '_', '.')")),
            };
            if is_static(&name) || store.servers.contains_key(&name) {
                return answer(janus_error(409, "oauth server name is already registered"));
            }
            next.servers.insert(name, Value::Object(server));
            empty(201)
        }
        Op::Update(name) => {
            if is_static(name) {
                return answer(janus_error(409, "oauth server is part of the declarative configuration"));
            }
            let Some(Value::Object(current)) = store.servers.get(name) else { return answer(janus_error(404, NOT_FOUND)) };
            let changes = match parse(body) {
                Ok(s) => s,
                Err(r) => return answer(r),
            };
            let mut merged = current.clone();
            merge(&mut merged, changes);
            if merged.get("name").and_then(Value::as_str) != Some(name.as_str()) {
                return answer(janus_error(400, "name: must stay the name in the path"));
            }
            next.servers.insert(name.clone(), Value::Object(merged));
            empty(200)
        }
        Op::Delete(name) => {
            if is_static(name) {
                return answer(janus_error(409, "oauth server is part of the declarative configuration"));
            }
            if next.servers.remove(name).is_none() {
                return answer(janus_error(404, NOT_FOUND));
            }
            empty(204)
        }
    };
    match compile(&next) {
        Ok(c) => Outcome { response, store: Some(next), compiled: Some(c) },
        // Names the field and the reason, never a value; nothing changes.
        Err(e) => answer(janus_error(400, &e.to_string())),
    }
}

fn parse(body: &[u8]) -> Result<Map<String, Value>, LocalResponse> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(janus_error(400, "the body must be a JSON object")),
    }
}

/// A name that is safe in a path, a JSON path and a log line; not `.` or `..`, which clients
/// and proxies that normalise dot segments would never send as `/oauth/servers/{name}`.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 128 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) && n != "." && n != ".."
}

/// Janus decodes a PUT body onto the stored server: objects merge, anything else replaces.
fn merge(into: &mut Map<String, Value>, changes: Map<String, Value>) {
    for (k, v) in changes {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn api() -> AdminApi {
        AdminApi { domain: None, prefix: String::new(), policy: 0 }
    }

    fn req(method: &str, path: &str) -> Request {
        let pairs = [(":method", method), (":path", path), (":authority", "admin.test")];
        Request { headers: pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(), ..Default::default() }
    }

    fn run(op: Op, store: &Store, body: &str) -> Outcome<()> {
        apply(&op, store, body.as_bytes(), |n| n == "static", |s| {
            if s.servers.values().any(|v| v.get("token_strategy").is_none()) {
                Err(ConfigError::new("oauth_servers.x.token_strategy", "required"))
            } else {
                Ok(())
            }
        })
    }

    #[test]
    fn routes_janus_paths_and_methods() {
        let a = api();
        assert_eq!(a.op(&req("GET", "/oauth/servers")), Some(Op::List));
        assert_eq!(a.op(&req("POST", "/oauth/servers")), Some(Op::Create));
        assert_eq!(a.op(&req("GET", "/oauth/servers/local")), Some(Op::Get("local".into())));
        assert_eq!(a.op(&req("PUT", "/oauth/servers/local")), Some(Op::Update("local".into())));
        assert_eq!(a.op(&req("DELETE", "/oauth/servers/local?x=1")), Some(Op::Delete("local".into())));
        assert_eq!(a.op(&req("PATCH", "/oauth/servers/local")), Some(Op::NotAllowed("GET, PUT, DELETE")));
        assert_eq!(a.op(&req("GET", "/oauth/serversx")), None);
        assert_eq!(a.op(&req("GET", "/apis")), None);
        let scoped = AdminApi { domain: Some(regex_lite::Regex::new("^admin\\.test$").unwrap()), prefix: "/admin".into(), policy: 0 };
        assert_eq!(scoped.op(&req("GET", "/admin/oauth/servers")), Some(Op::List));
        assert_eq!(scoped.op(&req("GET", "/oauth/servers")), None);
    }

    #[test]
    fn create_get_update_delete_with_janus_status_codes() {
        let s0 = Store::default();
        let created = run(Op::Create, &s0, r#"{"name": "local", "token_strategy": {"name": "jwt"}, "secrets": {"a": "1"}}"#);
        assert_eq!(created.response.status, 201);
        let s1 = created.store.unwrap();
        assert_eq!(run(Op::Create, &s1, r#"{"name": "local", "token_strategy": {}}"#).response.status, 409);
        assert_eq!(run(Op::Create, &s1, r#"{"name": "static", "token_strategy": {}}"#).response.status, 409, "never shadows");
        let list = run(Op::List, &s1, "");
        assert_eq!((list.response.status, list.store.is_none()), (200, true));
        assert!(list.response.body.starts_with("[{") && list.response.body.contains("\"local\""));
        assert_eq!(run(Op::Get("local".into()), &s1, "").response.status, 200);
        assert_eq!(run(Op::Get("ghost".into()), &s1, "").response.body, r#"{"error":"oauth server not found"}"#);
        let updated = run(Op::Update("local".into()), &s1, r#"{"secrets": {"b": "2"}}"#);
        assert_eq!(updated.response.status, 200);
        let s2 = updated.store.unwrap();
        assert_eq!(s2.servers["local"]["secrets"], json!({"a": "1", "b": "2"}), "objects merge as Janus decodes onto the stored server");
        assert_eq!(run(Op::Update("local".into()), &s2, r#"{"name": "other"}"#).response.status, 400);
        assert_eq!(run(Op::Update("static".into()), &s2, "{}").response.status, 409);
        assert_eq!(run(Op::Delete("ghost".into()), &s2, "").response.status, 404);
        let deleted = run(Op::Delete("local".into()), &s2, "");
        assert_eq!((deleted.response.status, deleted.store.unwrap().servers.len()), (204, 0));
    }

    #[test]
    fn a_server_that_does_not_compile_changes_nothing_and_names_the_field() {
        let out = run(Op::Create, &Store::default(), r#"{"name": "bad", "secrets": {"k": "v"}}"#);
        assert_eq!(out.response.status, 400);
        assert!(out.store.is_none());
        assert!(out.response.body.contains("oauth_servers.x.token_strategy"), "{}", out.response.body);
        for body in ["", "[]", r#"{"token_strategy": {}}"#, r#"{"name": "a/b"}"#, r#"{"name": "."}"#, r#"{"name": ".."}"#] {
            assert_eq!(run(Op::Create, &Store::default(), body).response.status, 400, "{body}");
        }
    }

    #[test]
    fn the_store_round_trips() {
        let mut s = Store::default();
        s.servers.insert("a".into(), json!({"name": "a"}));
        assert_eq!(Store::decode(&s.encode()), s);
        assert_eq!(Store::decode(b"garbage"), Store::default());
    }
}
