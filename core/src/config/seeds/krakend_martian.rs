//! KrakenD's martian block (`github.com/devopsfaith/krakend-martian`, `modifier/martian`) as
//! KrakenD writes it: a `header.Modifier`, or a `fifo.Group` of them. Request-scoped ones set a
//! header on the request that goes upstream; response-scoped ones are not applied (a notice
//! says so). Any other modifier is refused, naming its path.

use super::super::compile::check::{self, err, Res};
use serde_json::Value;

pub fn headers(path: &str, v: &Value, notices: &mut Vec<String>) -> Res<Vec<(String, String)>> {
    let mut out = Vec::new();
    modifier(path, v, &mut out, notices, 0)?;
    Ok(out)
}

fn modifier(path: &str, v: &Value, out: &mut Vec<(String, String)>, notices: &mut Vec<String>, depth: usize) -> Res<()> {
    let Some((kind, body)) = v.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
        return err(path, "must be an object with one modifier (header.Modifier or fifo.Group)");
    };
    let at = format!("{path}.{kind}");
    match kind.as_str() {
        "fifo.Group" if depth < 4 => {
            let Some(list) = body.get("modifiers").and_then(Value::as_array) else { return err(format!("{at}.modifiers"), "required: a list") };
            for (i, m) in list.iter().enumerate() {
                modifier(&format!("{at}.modifiers[{i}]"), m, out, notices, depth + 1)?;
            }
            Ok(())
        }
        "header.Modifier" => {
            let text = |f: &str| body.get(f).and_then(Value::as_str).map(String::from);
            let (Some(name), Some(value)) = (text("name"), text("value")) else { return err(at, "needs `name` and `value` strings") };
            let name = check::header_name(&format!("{at}.name"), &name.to_ascii_lowercase())?;
            check::no_control(format!("{at}.value"), &value)?;
            let scopes: Vec<&str> = body.get("scope").and_then(Value::as_array).map_or(vec!["request"], |a| a.iter().filter_map(Value::as_str).collect());
            if scopes.contains(&"request") {
                out.push((name, value));
            }
            if scopes.contains(&"response") {
                notices.push(format!("{at}: response-scoped modifiers are not applied by the filter"));
            }
            Ok(())
        }
        _ => err(at, "unsupported martian modifier (header.Modifier and fifo.Group are)"),
    }
}
