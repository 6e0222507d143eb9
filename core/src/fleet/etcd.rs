//! etcd v3 through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`,
//! `/v3/auth/authenticate`): each call as the path and JSON body to send, and each answer
//! read into what the caller needs. Pure: the adapter makes the calls with
//! `dispatch_http_call` to the store's Envoy cluster.
//!
//! The gateway maps etcd's protocol buffers to JSON: keys and values are base64 (`bytes`),
//! 64-bit numbers are strings, and a field at its default value is left out (so a failed
//! transaction has no `succeeded`, a key's `version` of 0 no `version`). The answers in the
//! tests are the shapes etcd 3.4 (Debian's `etcd-server`) gives.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// A call to make: POST `path` with `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub path: &'static str,
    pub body: String,
}

/// One key of a range answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The store's revision at which this key was last written.
    pub mod_revision: u64,
}

/// A range answer: the keys and the store's revision when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Range {
    pub revision: u64,
    pub kvs: Vec<Kv>,
}

/// Why an answer is not what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// Not JSON, or not the shape the call answers with.
    Garbled,
    /// etcd's own error (`{"error", "code"}`), e.g. an expired auth token (code 16).
    Refused { code: u64 },
}

/// The end of the range of every key that starts with `prefix` (etcd's `range_end`): the
/// prefix with its last byte below 0xff increased, the bytes after it dropped.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff (or empty): to the end of the key space.
    vec![0]
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Every key under `prefix`, with the store's revision.
pub fn range_prefix(prefix: &[u8]) -> Call {
    Call { path: "/v3/kv/range", body: json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))}).to_string() }
}

/// A failed comparison reads the key back, so the writer learns what is there now (and at
/// which revision) without a second call.
fn read_back(key: &[u8]) -> Value {
    json!({"request_range": {"key": b64(key)}})
}

/// Writes `value` at `key` only if the key was last written at `mod_revision` (0: only if it
/// does not exist): two replicas writing at once cannot both win, so no write is lost.
pub fn put_if_revision(key: &[u8], value: &[u8], mod_revision: u64) -> Call {
    let compare = if mod_revision == 0 {
        json!({"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
    } else {
        json!({"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string()})
    };
    Call {
        path: "/v3/kv/txn",
        body: json!({"compare": [compare], "success": [{"request_put": {"key": b64(key), "value": b64(value)}}], "failure": [read_back(key)]}).to_string(),
    }
}

/// Deletes `key` only if it was last written at `mod_revision`.
pub fn delete_if_revision(key: &[u8], mod_revision: u64) -> Call {
    let compare = json!({"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string()});
    Call {
        path: "/v3/kv/txn",
        body: json!({"compare": [compare], "success": [{"request_delete_range": {"key": b64(key)}}], "failure": [read_back(key)]}).to_string(),
    }
}

/// Creates `key` under `lease` only if it does not exist: the first use of a DPoP proof's
/// `jti` on any replica wins; the lease removes it when the proof's window is over.
pub fn create_with_lease(key: &[u8], lease: i64) -> Call {
    let compare = json!({"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"});
    let put = json!({"request_put": {"key": b64(key), "value": "", "lease": lease.to_string()}});
    Call { path: "/v3/kv/txn", body: json!({"compare": [compare], "success": [put]}).to_string() }
}

/// A lease of `ttl` seconds.
pub fn lease_grant(ttl: u64) -> Call {
    Call { path: "/v3/lease/grant", body: json!({"TTL": ttl.to_string()}).to_string() }
}

/// A token for a user (etcd's own authentication); sent as the `Authorization` header of the
/// calls after it.
pub fn authenticate(name: &str, password: &str) -> Call {
    Call { path: "/v3/auth/authenticate", body: json!({"name": name, "password": password}).to_string() }
}

fn parse(body: &[u8]) -> Result<Value, Failed> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Failed::Garbled)?;
    if !v.is_object() {
        return Err(Failed::Garbled);
    }
    if v.get("error").is_some() || (v.get("message").is_some() && v.get("header").is_none()) {
        return Err(Failed::Refused { code: v.get("code").and_then(Value::as_u64).unwrap_or(0) });
    }
    Ok(v)
}

/// A 64-bit number as the gateway writes it (a string; absent at 0).
fn number(v: Option<&Value>) -> Result<u64, Failed> {
    match v {
        None => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| Failed::Garbled),
        Some(Value::Number(n)) => n.as_u64().ok_or(Failed::Garbled),
        Some(_) => Err(Failed::Garbled),
    }
}

fn bytes(v: Option<&Value>) -> Result<Vec<u8>, Failed> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => STANDARD.decode(s).map_err(|_| Failed::Garbled),
        Some(_) => Err(Failed::Garbled),
    }
}

/// A range answer.
pub fn read_range(body: &[u8]) -> Result<Range, Failed> {
    let v = parse(body)?;
    let revision = number(v.pointer("/header/revision"))?;
    let mut kvs = Vec::new();
    for kv in v.get("kvs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        kvs.push(Kv { key: bytes(kv.get("key"))?, value: bytes(kv.get("value"))?, mod_revision: number(kv.get("mod_revision"))? });
    }
    Ok(Range { revision, kvs })
}

/// A transaction's answer: whether its comparison held (its writes were made), and the store's
/// revision after it.
pub fn read_txn(body: &[u8]) -> Result<(bool, u64), Failed> {
    let v = parse(body)?;
    let succeeded = match v.get("succeeded") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Failed::Garbled),
    };
    Ok((succeeded, number(v.pointer("/header/revision"))?))
}

/// A revision-compared write's answer: whether it was made, the store's revision after it,
/// and (when it was not) the key as it is now (None: absent).
pub fn read_write(body: &[u8]) -> Result<(bool, u64, Option<Kv>), Failed> {
    let v = parse(body)?;
    let (succeeded, revision) = (v.get("succeeded").and_then(Value::as_bool).unwrap_or(false), number(v.pointer("/header/revision"))?);
    if succeeded {
        return Ok((true, revision, None));
    }
    let kv = match v.pointer("/responses/0/response_range/kvs/0") {
        Some(kv) => Some(Kv { key: bytes(kv.get("key"))?, value: bytes(kv.get("value"))?, mod_revision: number(kv.get("mod_revision"))? }),
        None => None,
    };
    Ok((false, revision, kv))
}

/// A lease grant's answer: the lease's id.
pub fn read_lease(body: &[u8]) -> Result<i64, Failed> {
    let v = parse(body)?;
    let id = match v.get("ID") {
        Some(Value::String(s)) => s.parse().map_err(|_| Failed::Garbled)?,
        Some(Value::Number(n)) => n.as_i64().ok_or(Failed::Garbled)?,
        _ => return Err(Failed::Garbled),
    };
    if id == 0 {
        return Err(Failed::Garbled);
    }
    Ok(id)
}

/// An authentication answer: the token.
pub fn read_token(body: &[u8]) -> Result<String, Failed> {
    match parse(body)?.get("token") {
        Some(Value::String(t)) if !t.is_empty() && !t.chars().any(char::is_control) => Ok(t.clone()),
        _ => Err(Failed::Garbled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(c: &Call) -> Value {
        serde_json::from_str(&c.body).unwrap()
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"oauth/servers/"), b"oauth/servers0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn calls_are_etcd_json() {
        let r = range_prefix(b"p/");
        assert_eq!((r.path, body(&r)), ("/v3/kv/range", json!({"key": "cC8=", "range_end": "cDA="})));
        let t = body(&put_if_revision(b"k", b"v", 7));
        assert_eq!(t["compare"][0], json!({"key": "aw==", "target": "MOD", "result": "EQUAL", "mod_revision": "7"}));
        assert_eq!(t["success"][0], json!({"request_put": {"key": "aw==", "value": "dg=="}}));
        let t = body(&put_if_revision(b"k", b"v", 0));
        assert_eq!(t["compare"][0]["target"], "CREATE");
        let d = body(&delete_if_revision(b"k", 3));
        assert_eq!(d["success"][0], json!({"request_delete_range": {"key": "aw=="}}));
        let c = body(&create_with_lease(b"j", 694_000));
        assert_eq!(c["success"][0]["request_put"]["lease"], "694000");
        assert_eq!(body(&lease_grant(300)), json!({"TTL": "300"}));
        assert_eq!(body(&authenticate("gw", "pw")), json!({"name": "gw", "password": "pw"}));
    }

    #[test]
    fn answers_are_read() {
        let range = br#"{"header":{"revision":"12"},"kvs":[{"key":"cC9h","create_revision":"3","mod_revision":"9","version":"2","value":"e30="}],"count":"1"}"#;
        assert_eq!(read_range(range), Ok(Range { revision: 12, kvs: vec![Kv { key: b"p/a".to_vec(), value: b"{}".to_vec(), mod_revision: 9 }] }));
        assert_eq!(read_range(br#"{"header":{"revision":"5"}}"#), Ok(Range { revision: 5, kvs: vec![] }));
        assert_eq!(read_txn(br#"{"header":{"revision":"13"},"succeeded":true,"responses":[{"response_put":{}}]}"#), Ok((true, 13)));
        // A failed comparison: `succeeded` left out at its default.
        assert_eq!(read_txn(br#"{"header":{"revision":"13"}}"#), Ok((false, 13)));
        let lost = br#"{"header":{"revision":"14"},"responses":[{"response_range":{"header":{"revision":"14"},"kvs":[{"key":"aw==","mod_revision":"11","value":"dg=="}],"count":"1"}}]}"#;
        assert_eq!(read_write(lost), Ok((false, 14, Some(Kv { key: b"k".to_vec(), value: b"v".to_vec(), mod_revision: 11 }))));
        assert_eq!(read_write(br#"{"header":{"revision":"14"},"responses":[{"response_range":{"header":{"revision":"14"}}}]}"#), Ok((false, 14, None)));
        assert_eq!(read_write(br#"{"header":{"revision":"15"},"succeeded":true,"responses":[{"response_put":{}}]}"#), Ok((true, 15, None)));
        assert_eq!(read_lease(br#"{"header":{},"ID":"7587862072907366925","TTL":"300"}"#), Ok(7_587_862_072_907_366_925));
        assert_eq!(read_token(br#"{"header":{},"token":"abc.def"}"#), Ok("abc.def".into()));
        assert_eq!(read_range(br#"{"error":"etcdserver: invalid auth token","code":16,"message":"etcdserver: invalid auth token"}"#), Err(Failed::Refused { code: 16 }));
        for garbled in [&b"nope"[..], b"[]", br#"{"header":{"revision":"x"}}"#, br#"{"header":{},"kvs":[{"key":"***"}]}"#] {
            assert_eq!(read_range(garbled), Err(Failed::Garbled), "{}", String::from_utf8_lossy(garbled));
        }
        assert_eq!(read_lease(br#"{"header":{}}"#), Err(Failed::Garbled));
        assert_eq!(read_token(br#"{"token":"a\nb"}"#), Err(Failed::Garbled));
    }
}
