//! Request bodies of OAuth endpoints: form (`application/x-www-form-urlencoded`) or JSON, and
//! client authentication by HTTP Basic (RFC 6749 §2.3.1).

use crate::common::codec::{percent_decode, query_pairs};
use crate::Request;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// The parameters of a body; JSON values that are not strings are skipped. None when the body
/// is neither a form nor a JSON object, or names a parameter twice (RFC 6749 §3.1: never more
/// than once; names compared as `same_name` does, as one server or another may read them).
pub fn params(req: &Request, body: &[u8]) -> Option<Vec<(String, String)>> {
    let ctype = req.header("content-type").unwrap_or("").to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    let mut out: Vec<(String, String)> = Vec::new();
    if ctype.starts_with("application/json") || (ctype.is_empty() && text.trim_start().starts_with('{')) {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else { return None };
        for (k, v) in map {
            if let Value::String(s) = v {
                out.push((k, s));
            }
        }
    } else {
        out = decoded_pairs(text.trim())?;
    }
    (!repeats(&out, &[])).then_some(out)
}

/// The request's query parameters, decoded; None on a bad escape.
pub fn query_params(req: &Request) -> Option<Vec<(String, String)>> {
    decoded_pairs(req.path_and_query().split_once('?').map_or("", |(_, q)| q))
}

/// `a=b&c=d` decoded, every pair kept (repeats too); None on a bad escape.
fn decoded_pairs(text: &str) -> Option<Vec<(String, String)>> {
    query_pairs(text).map(|(k, v)| Some((percent_decode(k)?, percent_decode(v)?))).collect()
}

/// Whether two parameters of `a` and `b` together share a name.
pub fn repeats(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let all: Vec<&str> = a.iter().chain(b).map(|(k, _)| k.as_str()).collect();
    all.iter().enumerate().any(|(i, k)| all.iter().skip(i + 1).any(|o| same_name(k, o)))
}

/// Parameter names that some server may take for the same: equal but for case, and `-` for `_`.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| {
        let norm = |c: u8| if c == b'-' { b'_' } else { c.to_ascii_lowercase() };
        norm(x) == norm(y)
    })
}

pub fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Client id and secret from `Authorization: Basic` (each form-decoded), if present.
pub fn basic(req: &Request) -> Option<(String, String)> {
    let value = req.header("authorization")?.trim();
    let (scheme, creds) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(creds.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id)?, percent_decode(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ctype: &str, auth: Option<&str>) -> Request {
        let mut headers = vec![("content-type".to_string(), ctype.as_bytes().to_vec())];
        if let Some(a) = auth {
            headers.push(("authorization".into(), a.as_bytes().to_vec()));
        }
        Request { headers: headers.into(), ..Default::default() }
    }

    #[test]
    fn forms_json_and_basic() {
        let p = params(&req("application/x-www-form-urlencoded", None), b"grant_type=client_credentials&scope=a+b&x=%41").unwrap();
        assert_eq!(get(&p, "scope"), Some("a b"));
        assert_eq!(get(&p, "x"), Some("A"));
        let p = params(&req("application/json", None), br#"{"client_id":"my-id","n":5}"#).unwrap();
        assert_eq!(get(&p, "client_id"), Some("my-id"));
        assert_eq!(get(&p, "n"), None);
        assert!(params(&req("application/json", None), b"[1]").is_none());
        assert!(params(&req("", None), &[0xff]).is_none());
        let r = req("", Some("Basic bXklMjBpZDpzM2NyM3Q="));
        assert_eq!(basic(&r), Some(("my id".into(), "s3cr3t".into())));
        assert_eq!(basic(&req("", Some("Bearer x"))), None);
        assert_eq!(basic(&req("", Some("Basic !!!"))), None);
    }
}
