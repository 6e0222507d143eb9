//! One scenario table for both hosts: `policies.json` holds configurations and, for each, the
//! requests sent and what must come of them (status, upstream headers, the refusal's challenge
//! and body). `core/tests/scenarios.rs` runs it through the native core and
//! `test-harness/tests/scenarios.rs` through the built .wasm; each host only says how it sends
//! a request and what it saw.
//!
//! In the table: a key `"@fixture:<file>"` is that fixture's text; `{token}` in a header value
//! or the path is the case's token, minted with the test keys at `common::NOW` (`"token":
//! {"alg", "claims", "exp"}` with `exp` relative to NOW; `{"forge": {"header", "payload",
//! "sig"}}` for a token with any header; or a literal string).

#![allow(dead_code)]

use super::common::{claims, fixture, forge, sign, NOW};
use serde_json::{Map, Value};

pub struct Group {
    pub name: String,
    pub config: String,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    pub method: String,
    pub path: String,
    /// In the order sent (names lower-case); the same name may come twice.
    pub headers: Vec<(String, String)>,
    pub route_name: Option<String>,
    /// `:authority` (default `api.test`).
    pub authority: String,
    pub expect: Value,
}

/// What a host saw of one request.
pub struct Seen {
    pub status: u32,
    /// The request's headers as they go upstream (when forwarded).
    pub upstream: Vec<(String, String)>,
    pub reply_headers: Vec<(String, String)>,
    pub body: String,
}

pub fn groups() -> Vec<Group> {
    // Beside this file, whichever crate includes it.
    let table: Value = serde_json::from_str(include_str!("policies.json")).unwrap();
    table["groups"].as_array().unwrap().iter().map(group).collect()
}

fn group(g: &Value) -> Group {
    let config = fixtures(g["config"].clone());
    let cases = g["cases"].as_array().unwrap().iter().map(case).collect();
    Group { name: g["name"].as_str().unwrap().into(), config: config.to_string(), cases }
}

fn fixtures(v: Value) -> Value {
    match v {
        Value::String(s) => match s.strip_prefix("@fixture:") {
            Some(f) => Value::String(fixture(f)),
            None => Value::String(s),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(fixtures).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, fixtures(v))).collect()),
        other => other,
    }
}

fn case(c: &Value) -> Case {
    let token = match &c["token"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        spec if spec.get("forge").is_some() => {
            let f = &spec["forge"];
            forge(f["header"].clone(), f["payload"].clone(), f["sig"].as_str().unwrap_or(""))
        }
        spec => {
            let mut cl = claims(spec.get("claims").cloned().unwrap_or(Value::Object(Map::new())));
            if let Some(exp) = spec.get("exp").and_then(Value::as_i64) {
                cl.expires_at = Some(jwt_simple::prelude::UnixTimeStamp::from_secs(NOW.saturating_add_signed(exp)));
            }
            sign(spec["alg"].as_str().unwrap_or("HS256"), None, cl)
        }
    };
    let fill = |s: &str| s.replace("{token}", &token);
    let req = &c["request"];
    let headers = req["headers"].as_array().map_or(Vec::new(), |list| {
        list.iter().map(|p| (p[0].as_str().unwrap().to_ascii_lowercase(), fill(p[1].as_str().unwrap()))).collect()
    });
    Case {
        name: c["name"].as_str().unwrap().into(),
        method: req["method"].as_str().unwrap_or("GET").into(),
        path: fill(req["path"].as_str().unwrap_or("/")),
        headers,
        route_name: req["route_name"].as_str().map(String::from),
        authority: req["authority"].as_str().unwrap_or("api.test").into(),
        expect: c["expect"].clone(),
    }
}

/// Every way `seen` differs from what the case expects.
pub fn check(group: &str, case: &Case, seen: &Seen) -> Vec<String> {
    let mut wrong = Vec::new();
    let at = format!("{group} / {}", case.name);
    let e = &case.expect;
    let want = e["status"].as_u64().unwrap_or(200) as u32;
    if seen.status != want {
        wrong.push(format!("{at}: status {} (want {want}); body {}", seen.status, seen.body));
        return wrong;
    }
    let upstream = |name: &str| seen.upstream.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    for (name, v) in e["upstream"].as_object().into_iter().flatten() {
        let got = upstream(name);
        if got != [v.as_str().unwrap().to_string()] {
            wrong.push(format!("{at}: upstream {name} = {got:?}, want {v}"));
        }
    }
    for name in e["absent"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        if !upstream(name).is_empty() {
            wrong.push(format!("{at}: upstream {name} should be gone"));
        }
    }
    let challenge = seen.reply_headers.iter().find(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone()).unwrap_or_default();
    // "~text": the challenge holds `text`; else it is exactly the string.
    if let Some(want) = e["challenge"].as_str() {
        let fits = match want.strip_prefix('~') {
            Some(part) => challenge.contains(part),
            None => challenge == want,
        };
        if !fits {
            wrong.push(format!("{at}: challenge `{challenge}`, want `{want}`"));
        }
    }
    if let Some(body) = e.get("body") {
        let got: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        let fits = match (body, &got) {
            (Value::Object(want), Value::Object(got)) => want.iter().all(|(k, v)| got.get(k) == Some(v)),
            _ => false,
        };
        if !fits {
            wrong.push(format!("{at}: body {got}, want {body}"));
        }
    }
    wrong
}
