//! Where in a JSON text a parse error happened, as a path (`a.b[0].c`): serde_json gives the
//! line and column, a short scan of the text up to there gives the keys and indices. (A path
//! tracking deserializer would do it too, at the cost of a copy of every visitor in the .wasm.)

/// One open container while scanning: an object and the key being read, or an array and the
/// index of the element being read.
enum Frame {
    Object(Option<String>),
    Array(usize),
}

/// The path of the value being read at `line` and `column` (1-based, as serde_json counts
/// them: bytes) of `text`; "(root)" at the top.
pub fn at(text: &[u8], line: usize, column: usize) -> String {
    let mut start = 0;
    for _ in 1..line {
        match text.get(start..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            Some(n) => start += n + 1,
            None => break,
        }
    }
    path(text, (start + column).min(text.len()))
}

fn path(text: &[u8], end: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut want_key = false;
    let mut i = 0;
    while i < end {
        match text.get(i).copied().unwrap_or(b' ') {
            b'{' => {
                stack.push(Frame::Object(None));
                want_key = true;
            }
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(key)) => {
                    *key = None;
                    want_key = true;
                }
                None => {}
            },
            b':' => want_key = false,
            b'"' => {
                let close = string_end(text, i);
                if want_key {
                    if let Some(Frame::Object(key)) = stack.last_mut() {
                        let raw = text.get(i..=close.min(text.len().saturating_sub(1))).unwrap_or_default();
                        *key = Some(serde_json::from_slice::<String>(raw).unwrap_or_default());
                    }
                }
                i = close;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => out.push_str(&format!("[{n}]")),
        }
    }
    if out.is_empty() {
        "(root)".into()
    } else {
        out
    }
}

/// The index of the quote that closes the string opened at `open`.
fn string_end(text: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while let Some(&b) = text.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_path<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        let e = serde_json::from_str::<T>(text).expect_err("an error");
        at(text.as_bytes(), e.line(), e.column())
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        list: Vec<Inner>,
        #[serde(default)]
        map: std::collections::BTreeMap<String, Inner>,
    }

    #[test]
    fn names_keys_and_indices() {
        assert_eq!(error_path::<Outer>(r#"{"list": [{"n": 1}, {"n": "x"}]}"#), "list[1].n");
        assert_eq!(error_path::<Outer>("{\n  \"list\": [],\n  \"map\": {\"a.b\": {\"n\": 1, \"zz\": 2}}\n}"), "map.a.b.zz");
        assert_eq!(error_path::<Outer>(r#"{"list": [{"n": 1}, {}]}"#), "list[1]");
        assert_eq!(error_path::<Outer>(r#"{"list": [], "x\"y": 1}"#), "x\"y");
        assert_eq!(error_path::<Outer>(r#"{"map": {}}"#), "(root)");
        assert_eq!(error_path::<Outer>(r#"[1]"#), "[0]", "serde reads the first element before it refuses the list");
        assert_eq!(error_path::<Outer>(r#"{"list": [{"n": 1}], "map": {"k": {"n": [1, 2]}}}"#), "map.k.n");
    }
}
